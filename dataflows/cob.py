"""The consolidated-order-book dataflow: raw messages -> venue books -> one consolidated book
per symbol -> cob_summary, cob_buckets, imbalance_ma, ohlcv, order_flow, book_health.

Two ways to run the same flow:
  python -m bytewax.run dataflows.cob:flow        Kafka raw.<venue> -> QuestDB (+ dlq topic)
  cobflow compute --input CAPTURE --output DIR    a capture file -> Parquet (no servers)
"""

from __future__ import annotations

import os

import bytewax.operators as op
from bytewax.dataflow import Dataflow, Stream, operator
from bytewax.outputs import DynamicSink, StatelessSinkPartition
from cobflow.config import Settings, SymbolsConfig, load_settings, load_symbols
from cobflow.deadletter import DeadLetter
from cobflow.raw import RawMessage
from cobflow.tables import COB_TABLES, TableRow
from operators.cob import cob_books
from operators.parse import parse_raw


@operator
def cob(step_id: str, raw: Stream[RawMessage], symbols: SymbolsConfig,
        idle_timeout: float | None = None) -> tuple[Stream[TableRow], Stream[DeadLetter]]:
    """Raw messages -> (rows of the COB tables, dead letters)."""
    parsed = parse_raw("parse", raw)
    out = cob_books("cob_books", parsed, symbols, idle_timeout)
    b = op.branch("split", out, lambda x: isinstance(x, TableRow))
    return b.trues, b.falses


class _DeadLetterPartition(StatelessSinkPartition[DeadLetter]):
    def __init__(self, path: str) -> None:
        self.f = open(path, "ab")

    def write_batch(self, items: list[DeadLetter]) -> None:
        self.f.write(b"".join(d.to_json() + b"\n" for d in items))

    def close(self) -> None:
        self.f.close()


class _DeadLetterFile(DynamicSink[DeadLetter]):
    """Dead letters of `cobflow compute` as JSON Lines beside the Parquet tables."""

    def __init__(self, path: str) -> None:
        self.path = path

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _DeadLetterPartition:
        base, ext = os.path.splitext(self.path)
        return _DeadLetterPartition(f"{base}-{worker_index}{ext}" if worker_count > 1 else self.path)


def build_flow(settings: Settings | None = None) -> Dataflow:
    """Kafka -> QuestDB, or (COBFLOW_COMPUTE_INPUT/OUTPUT set by `cobflow compute`) file -> Parquet."""
    settings = settings or load_settings()
    symbols = load_symbols(settings.symbols_file)
    flow = Dataflow("cob")
    compute_in = os.environ.get("COBFLOW_COMPUTE_INPUT")
    if compute_in:
        from cobflow.sinks.parquet import ParquetSink
        from cobflow.sources import CaptureSource

        raw = op.input("capture", flow, CaptureSource(compute_in, settings.flow.batch_size))
        rows, dead = cob("cob", raw, symbols)
        op.output("parquet", rows, ParquetSink(os.environ["COBFLOW_COMPUTE_OUTPUT"], list(COB_TABLES)))
        op.output("dead_letters", dead, _DeadLetterFile(
            os.path.join(os.environ["COBFLOW_COMPUTE_OUTPUT"], "dead_letters.jsonl")))
        return flow

    from bytewax.connectors.kafka import KafkaSink, KafkaSinkMessage, KafkaSource

    from cobflow.kafka_io import ensure_topics, from_record
    from cobflow.sinks.questdb import QuestDBSink

    venues = symbols.venues()
    topics = [settings.kafka.raw_topic(v) for v in venues]
    ensure_topics(settings.kafka, [*topics, settings.kafka.dlq()])
    records = op.input("kafka", flow, KafkaSource([settings.kafka.servers], topics, tail=settings.flow.tail,
                                                  batch_size=settings.flow.batch_size))
    kafka = settings.kafka

    def to_raw(msg) -> RawMessage:  # type: ignore[no-untyped-def]
        return from_record(kafka.venue_of_topic(msg.topic), msg.key, msg.value, msg.headers)

    raw = op.map("raw", records, to_raw)
    idle = settings.flow.idle_timeout_s if settings.flow.tail else None
    rows, dead = cob("cob", raw, symbols, idle)
    op.output("questdb", rows, QuestDBSink(settings.questdb, list(COB_TABLES)))
    op.output("dlq", op.map("dlq_message", dead, lambda d: KafkaSinkMessage(
        d.raw.symbol.encode() if d.raw.symbol else None, d.to_json(), headers=d.kafka_headers())),
        KafkaSink([settings.kafka.servers], settings.kafka.dlq()))
    return flow


def __getattr__(name: str) -> Dataflow:
    if name == "flow":  # `python -m bytewax.run dataflows.cob:flow` builds it from the settings
        return build_flow()
    raise AttributeError(name)
