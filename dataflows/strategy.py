"""The COB flow with its features, the strategy step after them (signals, model outputs
(PyTorch), decisions, prediction outcomes: cobflow.operators.strategy) and paper execution (orders,
fills, positions, equity, risk events: cobflow.operators.execution). The book step hands execution
the top levels of each synced venue book every second (never stored). A flow of its own so
that the COB flow never loads torch; a backtest is this flow on a capture:
  python -m bytewax.run "cobflow.dataflows.strategy:kafka_flow()"                 raw.<venue> -> QuestDB
  python -m bytewax.run "cobflow.dataflows.strategy:file_flow('in.jsonl', 'out/')"  capture -> Parquet
`cobflow run strategy` and `cobflow compute --strategy` start exactly these.
"""

from __future__ import annotations

import math
from pathlib import Path

import bytewax.operators as op
from bytewax.dataflow import Dataflow, Stream, operator
from bytewax.outputs import DynamicSink

from cobflow.config import Settings, SymbolsConfig, TradingSettings, load_settings, load_symbols
from cobflow.dataflows.cob import keep_of, kept, stored_of
from cobflow.dataflows.ends import file_input, kafka_input, parquet_output, questdb_output, reports_input
from cobflow.dataflows.sinks.intents import IntentSink, intents_of
from cobflow.dataflows.sinks.rows import keeping
from cobflow.dataflows.split import RowsAndDeadLetters, split_rows
from cobflow.execution.live import ExecutionReport
from cobflow.models.dataset import LabelSpec
from cobflow.operators.cob import cob_keyed, unkey
from cobflow.operators.execution import ExecutionOptions, execution
from cobflow.operators.strategies import models_wanted
from cobflow.operators.strategies import runs as strategy_runs
from cobflow.operators.strategy import StrategyOptions, StrategyState, signal_classes, strategy
from cobflow.raw import RawMessage
from cobflow.records import Seconds, StrategyBatch
from cobflow.strategy import StrategySecond
from cobflow.tables import FLOW_TABLES, GATEWAY_TABLES

GATEWAY_ONLY = [t for t in GATEWAY_TABLES if t not in FLOW_TABLES]


@operator
def cob_and_strategy(step_id: str, raw: Stream[RawMessage], symbols: SymbolsConfig, options: StrategyOptions,
                     trading: TradingSettings, idle_timeout: float | None = None,
                     control_dir: Path | None = None, cob_rows: bool = True,
                     strategy_rows: bool = True, lateness: float | None = None,
                     keep: frozenset[str] | None = None, intents: DynamicSink | None = None,
                     reports: Stream[list[ExecutionReport]] | None = None, workers: int = 1,
                     routed: bool = False, processes: int = 1) -> RowsAndDeadLetters:
    """Raw messages -> rows of every table of the flow (FLOW_TABLES), and dead letters.
    `cob_rows=False`: the strategy's and execution's rows only (beside a COB flow that writes
    the COB and feature tables and the dead letters from the same input). `strategy_rows=False`
    too: the decisions and the account's rows only (RUN_TABLES: a backtest's run), and the
    dead letters of the flow's plug-ins. `keep`: the rows of these tables only (None: all).
    `intents`: where the account's order intents go (shadow and live modes: the orders topic);
    `reports` (live mode): the venues' execution reports, which fill the orders sent.
    `workers`, `processes`: the cluster's workers in all and its processes (the strategy step's
    shards; rows do not depend on them).
    `routed`: `raw` comes keyed by symbol (`file_input` in a cluster)."""
    runs = strategy_runs(symbols, options.heard.name, trading.run_id)  # every plug-in checked before anything runs
    StrategyState(symbols, options.spec, None, signal_classes(options.signals))
    keyed = cob_keyed("cob_books", raw, symbols, idle_timeout, True, trading.book_notional(), lateness,
                      stored_of(keep), routed)
    decided = strategy("strategy", keyed, symbols, options, models=models_wanted(runs) != (), workers=workers,
                       processes=processes)
    wait_s = max(2, math.ceil(3 * idle_timeout)) if idle_timeout else None
    executed = execution("execution", op.map("to_accounts", decided, _seconds), symbols,
                         ExecutionOptions.of(trading, symbols, wait_s), control_dir, runs, reports)
    if intents is not None:
        op.output("intents_out", op.flat_map("intents", executed, intents_of), intents)
    made = op.map("made", decided, _made)
    if not strategy_rows:
        made = op.map("made_dead_letters", made, _dead_only)
    out = op.merge("with_made", op.flat_map_batch("account_rows", executed, keeping(keep)),
                   op.flat_map_batch("made_rows", made, keeping(keep)))
    if cob_rows:
        out = op.merge("with_cob", op.flat_map_batch("cob_rows", unkey("unkey", keyed), keeping(keep)), out)
    return split_rows("split", out)


def _seconds(b: StrategyBatch) -> list[StrategySecond]:
    return list(b.seconds)


def _made(b: StrategyBatch) -> Seconds:
    return b.made


def _dead_only(s: Seconds) -> Seconds:
    return Seconds((), s.dead)


def strategy_options(settings: Settings, watch: bool = False) -> StrategyOptions:
    """The models of COBFLOW_MODELS__DIR if any are trained (their own label spec then);
    `watch` (a flow following Kafka): checkpoints promoted meanwhile are swapped in."""
    m = settings.models
    return StrategyOptions(LabelSpec(window_s=m.window_s, horizon_s=m.horizon_s, dead_zone_bps=m.dead_zone_bps),
                           m.dir, settings.strategy, m.kinds, settings.strategy.signals, watch)


def kafka_flow(settings: Settings | None = None, tail: bool | None = None) -> Dataflow:
    settings = settings or load_settings()
    tail = settings.flow.tail if tail is None else tail
    symbols = load_symbols(settings.symbols_file)
    flow = Dataflow("strategy")
    raw, lag, unread = kafka_input(flow, settings, symbols.venues(), tail)
    keep = keep_of(settings)
    rows, dead = cob_and_strategy("cob", raw, symbols, strategy_options(settings, watch=tail), settings.trading,
                                  settings.flow.idle_timeout_s if tail else None,
                                  settings.trading.control_dir if tail else None, settings.flow.cob_tables,
                                  settings.flow.strategy_tables, settings.flow.lateness_s if tail else None, keep,
                                  IntentSink(settings.kafka, settings.trading.run_id)
                                  if settings.trading.venue_orders() else None,
                                  reports_input(flow, settings, tail) if settings.trading.mode == "live" else None,
                                  settings.flow.workers, processes=settings.flow.processes)
    # the gateway's tables too (empty until `cobflow trade` writes them): the Trading dashboard
    # reads them in every mode
    questdb_output(settings, [*kept(list(FLOW_TABLES), keep), *GATEWAY_ONLY], rows, dead, lag, unread, "strategy",
                   dead_letters=settings.flow.cob_tables)  # beside the COB flow, it reports them
    return flow


def file_flow(input: str | Path, output: str | Path, symbols_file: str | Path | None = None,
              progress: bool | str = False, settings: Settings | None = None) -> Dataflow:
    settings = settings or load_settings()
    symbols = load_symbols(symbols_file or settings.symbols_file)
    flow = Dataflow("strategy")
    raw, unread, routed = file_input(flow, input, settings.flow.batch_size, progress, settings.flow.strict, symbols,
                                     settings.flow.processes)
    keep = keep_of(settings)
    rows, dead = cob_and_strategy("cob", raw, symbols, strategy_options(settings), settings.trading, keep=keep,
                                  workers=settings.flow.workers, routed=routed, processes=settings.flow.processes)
    parquet_output(output, kept(list(FLOW_TABLES), keep), rows, dead, unread)
    return flow
