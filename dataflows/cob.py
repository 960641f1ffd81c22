"""The consolidated-order-book dataflow: raw messages -> venue books -> one consolidated book
per symbol -> cob_summary, cob_buckets, imbalance_ma, ohlcv, order_flow, book_health,
data_quality -> features of each second: indicators, pivots, features (FEATURES.md).

One flow, two ends, built by factories with explicit arguments:
  python -m bytewax.run "cobflow.dataflows.cob:kafka_flow()"                 raw.<venue> -> QuestDB (+ dlq)
  python -m bytewax.run "cobflow.dataflows.cob:file_flow('in.jsonl.gz', 'out/')"  capture -> Parquet
`cobflow run cob` and `cobflow compute` start exactly these.
"""

from __future__ import annotations

from pathlib import Path

import bytewax.operators as op
from bytewax.dataflow import Dataflow, Stream, operator

from cobflow.config import Settings, SymbolsConfig, load_settings, load_symbols
from cobflow.dataflows.ends import file_input, kafka_input, parquet_output, questdb_output
from cobflow.dataflows.latency import LatencyLog
from cobflow.dataflows.sinks.rows import keeping
from cobflow.dataflows.split import RowsAndDeadLetters, split_rows
from cobflow.operators.cob import cob_books
from cobflow.operators.features import Stored
from cobflow.raw import RawMessage
from cobflow.tables import COB_TABLES, FEATURE_TABLES, INDICATORS, PIVOTS, Table


@operator
def cob(step_id: str, raw: Stream[RawMessage], symbols: SymbolsConfig,
        idle_timeout: float | None = None, features: bool = True, lateness: float | None = None,
        keep: frozenset[str] | None = None, routed: bool = False) -> RowsAndDeadLetters:
    """Raw messages -> rows of the COB tables (with `features`, of the feature tables), and
    dead letters. `keep`: the rows of these tables only (None: all). `routed`: `raw` comes
    keyed by symbol (`file_input` in a cluster)."""
    seconds = cob_books("cob_books", raw, symbols, idle_timeout, features, lateness, stored_of(keep), routed)
    return split_rows("split", op.flat_map_batch("rows", seconds, keeping(keep)))


def stored_of(keep: frozenset[str] | None) -> Stored:
    """What the features step's tables `keep` stores."""
    return Stored(keep is None or INDICATORS.name in keep, keep is None or PIVOTS.name in keep)


def kept(tables: list[Table], keep: frozenset[str] | None) -> list[Table]:
    return [t for t in tables if keep is None or t.name in keep]


def tables(features: bool = True) -> list[Table]:
    return [*COB_TABLES, *FEATURE_TABLES] if features else list(COB_TABLES)


def kafka_flow(settings: Settings | None = None, tail: bool | None = None, features: bool = True) -> Dataflow:
    """raw.<venue> topics of the symbols file's venues -> QuestDB and the dlq topic.
    `tail` (default: `COBFLOW_FLOW__TAIL`): keep reading, closing a silent market's second
    after the idle timeout, instead of stopping at the end of the topics. `features`: the
    feature tables too (FEATURES.md)."""
    settings = settings or load_settings()
    tail = settings.flow.tail if tail is None else tail
    symbols = load_symbols(settings.symbols_file)
    flow = Dataflow("cob")
    raw, lag, unread = kafka_input(flow, settings, symbols.venues(), tail)
    keep = keep_of(settings)
    rows, dead = cob("cob", raw, symbols, settings.flow.idle_timeout_s if tail else None, features,
                     settings.flow.lateness_s if tail else None, keep)
    if settings.flow.latency_log is not None:
        op.inspect("latency_log", rows, LatencyLog(settings.flow.latency_log))
    questdb_output(settings, kept(tables(features), keep), rows, dead, lag, unread, "cob")
    return flow


def file_flow(input: str | Path, output: str | Path, symbols_file: str | Path | None = None,
              progress: bool | str = False, settings: Settings | None = None, features: bool = True) -> Dataflow:
    """A capture file -> one Parquet folder per table under `output`, dead letters in
    `output/dead_letters.jsonl`. `symbols_file` defaults to the settings' one."""
    settings = settings or load_settings()
    symbols = load_symbols(symbols_file or settings.symbols_file)
    flow = Dataflow("cob")
    raw, unread, routed = file_input(flow, input, settings.flow.batch_size, progress, settings.flow.strict, symbols,
                                     settings.flow.processes)
    keep = keep_of(settings)
    rows, dead = cob("cob", raw, symbols, features=features, keep=keep, routed=routed)
    parquet_output(output, kept(tables(features), keep), rows, dead, unread)
    return flow


def keep_of(settings: Settings) -> frozenset[str] | None:
    return None if settings.flow.tables is None else frozenset(settings.flow.tables)
