"""The two ends every Kafka-fed dataflow shares: raw.<venue> topics in; QuestDB rows, the
dlq topic, dead_letters and consumer_lag rows out."""

from __future__ import annotations

import bytewax.operators as op
from bytewax.connectors.kafka import KafkaSink, KafkaSinkMessage
from bytewax.dataflow import Dataflow, Stream
from cobflow.config import Settings
from cobflow.deadletter import DeadLetter
from cobflow.kafka_io import ensure_topics
from cobflow.raw import RawMessage
from cobflow.sinks.questdb import QuestDBSink
from cobflow.sources import RawTopicsSource
from cobflow.tables import PIPELINE_TABLES, Table, TableRow
from operators.split import split_rows


def kafka_input(flow: Dataflow, settings: Settings, venues: list[str]) -> tuple[Stream[RawMessage], Stream[TableRow]]:
    """Raw messages of these venues' topics (read in step on ts_recv), and the flow's
    consumer_lag rows."""
    kafka = settings.kafka
    topics = {kafka.raw_topic(v): v for v in venues}
    # A venue with no data yet is not an error: its topic is created empty and read as it fills.
    ensure_topics(kafka, [*topics, kafka.dlq()])
    items = op.input("kafka", flow, RawTopicsSource(kafka.servers, topics, tail=settings.flow.tail,
                                                    batch_size=settings.flow.batch_size,
                                                    max_skew_s=settings.flow.max_skew_s))
    lag, raw = split_rows("lag_or_raw", items)
    return raw, lag


def _to_dlq(letter: DeadLetter) -> KafkaSinkMessage:
    key = letter.raw.symbol.encode() if letter.raw.symbol else None
    return KafkaSinkMessage(key, letter.to_json(), headers=letter.kafka_headers())


def questdb_output(settings: Settings, tables: list[Table], rows: Stream[TableRow],
                   dead: Stream[DeadLetter], lag: Stream[TableRow]) -> None:
    """Rows, dead-letter rows and lag rows into QuestDB; dead letters (whole) into dlq."""
    dead_rows = op.map("dead_letter_row", dead, DeadLetter.row)
    everything = op.merge("all_rows", rows, dead_rows, lag)
    op.output("questdb", everything, QuestDBSink(settings.questdb, [*tables, *PIPELINE_TABLES]))
    op.output("dlq", op.map("dlq_message", dead, _to_dlq), KafkaSink([settings.kafka.servers], settings.kafka.dlq()))
