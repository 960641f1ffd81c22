"""The two ends every dataflow shares, in its two modes:

- Kafka mode: the raw.<venue> topics in (read in step on ts_recv, with the flow's
  consumer_lag rows); rows, dead_letters and consumer_lag into QuestDB, dead letters whole
  into the dlq topic; in live trading, the run's execution reports in as well.
- file mode: a capture file in; one Parquet folder per table and the dead letters as JSON
  Lines out.
"""

from __future__ import annotations

import os
from pathlib import Path

import bytewax.operators as op
from bytewax.dataflow import Dataflow, Stream

from cobflow.config import Settings, SymbolsConfig
from cobflow.dataflows.sinks.deadletters import DeadLetterFile, DlqSink, for_dlq
from cobflow.dataflows.sinks.parquet import ParquetSink
from cobflow.dataflows.sinks.questdb import QuestDBSink, by_table
from cobflow.dataflows.sources import CaptureSource, LocalCaptureSource, RawTopicsSource
from cobflow.dataflows.split import split_dead_letters, split_rows
from cobflow.deadletter import DeadLetter
from cobflow.execution.live import ExecutionReport, loads
from cobflow.kafka_io import KEEP_ALL, ensure_topics
from cobflow.plugins import PLUGIN_STAGES
from cobflow.raw import RawMessage
from cobflow.tables import PIPELINE_TABLES, AnyRow, Table, TableRow

DEAD_LETTERS_FILE = "dead_letters.jsonl"


def kafka_input(flow: Dataflow, settings: Settings, venues: list[str],
                tail: bool) -> tuple[Stream[RawMessage], Stream[TableRow], Stream[DeadLetter]]:
    """Raw messages of these venues' topics (read in step on ts_recv), the flow's
    consumer_lag rows, and the records that are no raw messages as dead letters (stage
    `read`). `tail`: keep reading new messages (live) instead of stopping at the end."""
    kafka = settings.kafka
    topics = {kafka.raw_topic(v): v for v in venues}
    # A venue with no data yet is not an error: its topic is created empty and read as it fills.
    ensure_topics(kafka, [*topics, kafka.dlq()])
    items = op.input("kafka", flow, RawTopicsSource(kafka.servers, topics, tail=tail,
                                                    batch_size=settings.flow.batch_size,
                                                    max_skew_s=settings.flow.max_skew_s))
    lag, read = split_rows("lag_or_raw", items)
    unread, raw = split_dead_letters("unread_or_raw", read)
    return raw, lag, unread


def reports_input(flow: Dataflow, settings: Settings, tail: bool) -> Stream[list[ExecutionReport]]:
    """Live mode: the run's execution reports (the gateway's reports topic, read committed,
    from its start: a flow resumed from a snapshot goes on from its offset), a list a batch."""
    from bytewax.connectors.kafka import KafkaSource, KafkaSourceMessage
    from confluent_kafka import OFFSET_BEGINNING

    kafka = settings.kafka
    topic = kafka.reports_topic(settings.trading.run_id)
    ensure_topics(kafka, [topic], partitions=1, config=KEEP_ALL)
    msgs = op.input("reports_in", flow, KafkaSource([kafka.servers], [topic], tail=tail,
                                                    starting_offset=OFFSET_BEGINNING, raise_on_errors=False,
                                                    add_config={"isolation.level": "read_committed"}))

    def reports(batch: list) -> list[list[ExecutionReport]]:
        out = []
        for m in batch:
            if isinstance(m, KafkaSourceMessage) and m.value:
                try:
                    r = loads(m.value)
                except ValueError:
                    continue  # only the gateway writes this topic: a record of another version
                if isinstance(r, ExecutionReport):
                    out.append(r)
        return [out] if out else []

    return op.flat_map_batch("reports", msgs, reports)


def questdb_output(settings: Settings, tables: list[Table], rows: Stream[AnyRow],
                   dead: Stream[DeadLetter], lag: Stream[TableRow], unread: Stream[DeadLetter],
                   flow: str, dead_letters: bool = True) -> None:
    """Rows, dead-letter rows and lag rows into QuestDB; dead letters (whole) into dlq.
    `unread`: the input's own dead letters (kafka_input's third stream). `flow`: the flow's
    name (its dlq producer's transactional id). `dead_letters=False`: only the dead letters
    of its own plug-ins (strategies, rule signals), not those of the input and the books (a
    flow beside the COB flow, which reports the same ones)."""
    dead = op.merge("all_dead_letters", dead, unread)
    if not dead_letters:
        dead = op.filter("own_dead_letters", dead, _own)
    dead_rows = op.map("dead_letter_row", dead, DeadLetter.row)
    everything = op.merge("all_rows", rows, dead_rows, lag)
    op.output("questdb", op.flat_map_batch("by_table", everything, by_table),
              QuestDBSink(settings.questdb, [*tables, *PIPELINE_TABLES], settings.flow.recovery))
    op.output("dlq", op.map("for_dlq", dead, for_dlq), DlqSink(settings.kafka, flow))


def _own(d: DeadLetter) -> bool:
    return d.stage in PLUGIN_STAGES


def file_input(flow: Dataflow, path: str | Path, batch_size: int, progress: bool | str,
               strict: bool = False, symbols: SymbolsConfig | None = None,
               processes: int = 1) -> tuple[Stream[RawMessage], Stream[DeadLetter], bool]:
    """A capture file's raw messages (CAPTURE.md), and its lines that are none as dead
    letters (stage `read`; `strict`: the first one ends the run). `progress`: a progress bar
    on stderr. With `symbols` and a cluster of several processes, each process reads the
    file for its own symbols (LocalCaptureSource): the messages come already routed to their
    symbol (the third value, True; `cob_keyed`'s `routed`)."""
    if symbols is not None and processes > 1:
        items = op.input("capture", flow, LocalCaptureSource(path, symbols, processes, batch_size, progress, strict))
        unread, keyed = split_dead_letters("unread_or_routed", items)
        return keyed, unread, True
    items = op.input("capture", flow, CaptureSource(path, batch_size, progress, strict))
    unread, raw = split_dead_letters("unread_or_raw", items)
    return raw, unread, False


def parquet_output(output: str | Path, tables: list[Table], rows: Stream[AnyRow],
                   dead: Stream[DeadLetter], unread: Stream[DeadLetter]) -> None:
    """One Parquet folder per table under `output`, and the dead letters beside them (the
    flow's and the input's own, `unread`)."""
    dead = op.merge("all_dead_letters", dead, unread)
    op.output("parquet", rows, ParquetSink(str(output), tables))
    op.output("dead_letters", dead, DeadLetterFile(os.path.join(output, DEAD_LETTERS_FILE)))
