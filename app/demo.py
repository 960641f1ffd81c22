"""`make demo` / `cobflow demo`: the whole path on simulated data (or a capture): servers,
Kafka, the COB dataflow, QuestDB, and the dashboards' views as PNG files."""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from cobflow.app.backtest import pictures, run_backtest, summary_table
from cobflow.app.compute import compute
from cobflow.app.report import make_report
from cobflow.app.report.data import QuestDBSource
from cobflow.app.runflow import kafka_flow, run_flow
from cobflow.app.services import Services
from cobflow.app.training import train
from cobflow.capture import write_capture
from cobflow.config import Settings, load_symbols
from cobflow.connectors.simulator import SimConfig, simulate
from cobflow.connectors.simulator.faults import truncate_frames
from cobflow.connectors.simulator.to_file import simulate_to_file
from cobflow.models.runtime import ModelRunner
from cobflow.models.train import TrainConfig
from cobflow.qdb import format_rows, query, wait_for_wal
from cobflow.replay import replay
from cobflow.tables import FLOW_TABLES, PIPELINE_TABLES
from cobflow.times import NS


class DemoError(RuntimeError):
    pass


@dataclass
class DemoOptions:
    input: Path | None = None  # replay this capture instead of simulating
    duration: float = 180.0
    seed: int = 1
    save: Path | None = None  # where the simulated capture is kept
    report: Path | None = None  # where the PNG files go
    faults_every: float = 30.0  # cut one frame short this often (0: none)
    alpha: float = 1.0  # the simulated market's planted signal (the models learn it)
    train_s: float = 1200.0  # market simulated to train the models on when none are trained
    backtest: Path | None = None  # where the closing backtest goes


def ensure_models(settings: Settings, opts: DemoOptions) -> str:
    """The checkpoints of COBFLOW_MODELS__DIR; when there are none, small models trained on a
    simulated market with the same planted signal (another seed)."""
    root = settings.models.dir
    if ModelRunner.available(root):
        return f"using the models in {root} (cobflow models list)"
    symbols = load_symbols(settings.symbols_file)
    with tempfile.TemporaryDirectory() as tmp:
        capture = Path(tmp) / "train.jsonl"
        simulate_to_file(symbols, SimConfig(seed=opts.seed + 1000, duration_s=opts.train_s, alpha=opts.alpha),
                         capture)
        compute(settings, capture, Path(tmp) / "rows", progress=False)
        for kind, epochs in (("cnn", 4), ("dqn", 2)):
            r = train(settings, kind, Path(tmp) / "rows", None, None, None, TrainConfig(epochs=epochs), progress=False)
            metric = r.metric_name
            print(f"     {kind}: {metric} {r.metrics[metric]:.3f} in {r.seconds:.0f} s")
    return f"trained a cnn and a dqn into {root} on {opts.train_s:g} s of simulated market"


def print_account(settings: Settings) -> None:
    """The paper account the strategy flow kept (EXECUTION.md): equity, fills, positions."""
    t = settings.questdb.table
    print(f"\nthe paper account ({t('equity')}, {t('fills')}, {t('positions')}; orders and risk_events beside "
          f"them):")
    print(format_rows(query(
        settings.questdb,
        f"select first(equity) equity_start, last(equity) equity_end, min(equity) equity_low, "
        f"max(drawdown) max_drawdown, sum(case when halted then 1 else 0 end) halted_seconds from {t('equity')}")))
    print(format_rows(query(
        settings.questdb,
        f"select symbol, venue, side, coalesce(liquidity, 'taker') liquidity, count() fills, sum(qty) qty, "
        f"sum(qty * price) notional, sum(fee) fees from {t('fills')} order by 1, 2, 3, 4")))
    print(format_rows(query(
        settings.questdb,
        f"select ts, symbol, position, avg_price, mid, unrealized, realized, fees from {t('positions')} "
        f"latest on ts partition by symbol order by symbol")))


def run_demo(settings: Settings, opts: DemoOptions) -> None:
    symbols = load_symbols(settings.symbols_file)
    span: tuple[int | None, int | None] = (None, None)  # the report's range: this run's market
    print("1/5 starting Kafka and QuestDB (first run fetches them from Maven Central)")
    Services(settings).up()
    print("    the models: " + ensure_models(settings, opts))
    if opts.input:
        print(f"2/5 replaying {opts.input} into Kafka (topics are recreated so the demo is repeatable)")
        replay(settings, opts.input, None, reset=True)
        capture = opts.input
    else:
        capture = opts.save or settings.services.home / "demo" / "simulated.jsonl.gz"
        pairs = ", ".join(f"{v} {m}" for v, ms in symbols.markets().items() for m in ms)
        # The market ends now, so Grafana's and the report's default "last 15 minutes" show it.
        start = (time.time_ns() // NS - int(opts.duration)) * NS
        cfg = SimConfig(seed=opts.seed, duration_s=opts.duration, start_ns=start, resnapshot_s=30.0, alpha=opts.alpha)
        span = (start, start + int(opts.duration * NS))
        messages = simulate(symbols, cfg)
        note = ""
        if opts.faults_every > 0:
            victim = sorted(symbols.venues())[0]
            messages = truncate_frames(messages, victim, opts.faults_every)
            note = f"; one {victim} frame in {opts.faults_every:g} s is cut short (dead letters, resyncs)"
        print(f"2/5 simulating the last {opts.duration:g} s of {pairs} into {capture}{note}, then into Kafka")
        write_capture(capture, messages)
        replay(settings, capture, None, reset=True)
    locator = kafka_flow("strategy")
    print(f'3/5 running the dataflow: python -m bytewax.run "{locator}"')
    rc = run_flow(locator, 1, epoch_s=settings.flow.epoch_s)
    if rc != 0:
        raise DemoError(f"the dataflow failed (exit {rc})")
    names = [settings.questdb.table(t.name) for t in (*FLOW_TABLES, *PIPELINE_TABLES)]
    wait_for_wal(settings.questdb, names)
    print("4/5 what landed in QuestDB:")
    for name in names:
        n = query(settings.questdb, f"select count() n from {name}")[0]["n"]
        print(f"  {name}: {n} rows")
    summary = settings.questdb.table("cob_summary")
    print(f"\nthe last second of each symbol ({summary}):")
    print(format_rows(query(
        settings.questdb,
        f"select ts, symbol, venues, best_bid, best_ask, mid, microprice, spread_bps, "
        f"liquidity_imbalance, li_ma_5, li_ma_60 from {summary} latest on ts partition by symbol order by symbol",
    )))
    indicators, quality = settings.questdb.table("indicators"), settings.questdb.table("data_quality")
    print(f"\nthe last 1s indicators and data quality of each symbol ({indicators}, {quality}):")
    print(format_rows(query(
        settings.questdb,
        f"select i.ts, i.symbol, i.sma_20, i.ema_12, i.rsi_14, i.macd, i.bb_upper, i.bb_lower, i.atr_14, q.quality "
        f"from (select * from {indicators} where timeframe = '1s' latest on ts partition by symbol) i "
        f"join (select * from {quality} latest on ts partition by symbol) q on symbol order by i.symbol",
    )))
    decisions = settings.questdb.table("decisions")
    print(f"\nwhat the strategy decided ({decisions}; model_outputs, signals and prediction_outcomes beside it):")
    print(format_rows(query(
        settings.questdb,
        f"select symbol, action, split_part(reason, ' ', 1) reason, count() n from {decisions} "
        f"group by symbol, action, reason order by symbol, n desc",
    )))
    print_account(settings)
    report_dir = opts.report or settings.services.home / "demo" / "report"
    print(f"\n5/5 the dashboards' views as PNG images ({report_dir}/):")
    for symbol in symbols.symbols:
        for path in make_report(QuestDBSource(settings.questdb), symbols, symbol, *span, report_dir):
            print(f"  {path}")
    backtest_dir = opts.backtest or settings.services.home / "demo" / "backtest"
    print(f"\nand a backtest: the same capture through the same strategy flow in file mode ({backtest_dir}/):")
    bt = run_backtest(settings, Path(capture), backtest_dir, progress=False)
    print(summary_table(bt.report))
    print(f"  report: {backtest_dir / 'report.json'}")
    for path in pictures(settings, bt):
        print(f"  {path}")
    q = settings.questdb
    print(
        f"\nLook at it:\n"
        f"  QuestDB web console:  http://127.0.0.1:{q.http_port}\n"
        f"  from the shell:       cobflow sql \"select * from {settings.questdb.table('cob_buckets')} limit 41\"\n"
        f"  PostgreSQL wire:      psql -h 127.0.0.1 -p {q.pg_port} -U admin -d qdb   (password: quest)\n"
        f"  stop the servers:     cobflow services down"
    )
