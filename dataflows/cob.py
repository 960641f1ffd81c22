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
from cobflow.tables import COB_TABLES
from operators.cob import cob_books
from operators.split import RowsAndDeadLetters, split_rows


@operator
def cob(step_id: str, raw: Stream[RawMessage], symbols: SymbolsConfig,
        idle_timeout: float | None = None) -> RowsAndDeadLetters:
    """Raw messages -> rows of the COB tables, and dead letters."""
    return split_rows("split", cob_books("cob_books", raw, symbols, idle_timeout))


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

        progress = os.environ.get("COBFLOW_COMPUTE_PROGRESS") == "1"  # set by `cobflow compute`
        raw = op.input("capture", flow, CaptureSource(compute_in, settings.flow.batch_size, progress))
        rows, dead = cob("cob", raw, symbols)
        op.output("parquet", rows, ParquetSink(os.environ["COBFLOW_COMPUTE_OUTPUT"], list(COB_TABLES)))
        op.output("dead_letters", dead, _DeadLetterFile(
            os.path.join(os.environ["COBFLOW_COMPUTE_OUTPUT"], "dead_letters.jsonl")))
        return flow

    from dataflows.kafka_ends import kafka_input, questdb_output

    raw, lag = kafka_input(flow, settings, symbols.venues())
    idle = settings.flow.idle_timeout_s if settings.flow.tail else None
    rows, dead = cob("cob", raw, symbols, idle)
    questdb_output(settings, list(COB_TABLES), rows, dead, lag)
    return flow


def __getattr__(name: str) -> Dataflow:
    if name == "flow":  # `python -m bytewax.run dataflows.cob:flow` builds it from the settings
        return build_flow()
    raise AttributeError(name)
