"""`cobflow backtest`: the strategy dataflow on a capture (file mode, no servers), then
EXECUTION.md's metrics of its paper account beside two baselines, a report.json that pins
what went in (the input's hash, the configuration, the checkpoints, the code version), and
pictures. A backtest is not a second implementation: the fills are the flow's."""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cobflow.app.compute import compute
from cobflow.app.report.data import ParquetSource, ReportSource
from cobflow.config import Settings, load_symbols
from cobflow.execution.metrics import (
    FORMULAS,
    HOLD_RUN,
    ORDER_FORMULAS,
    Fill,
    RoundTrip,
    backtest_metrics,
    buy_and_hold,
    no_trades,
    order_metrics,
    round_trips,
)
from cobflow.provenance import code_version, sha256

if TYPE_CHECKING:
    from cobflow.operators.strategies import Run

REPORT = "report.json"
#: what report.json and the pictures read: a backtest writes these (`--tables report`, the
#: default) and no other table's rows are made (`--tables all`: every table of the flow)
REPORT_TABLES = ("cob_summary", "pivots", "decisions", "orders", "fills", "positions", "equity", "risk_events")
TABLE_SETS: dict[str, tuple[str, ...] | None] = {"report": REPORT_TABLES, "all": None}
BASELINE = {"COBFLOW_TRADING__BASELINE": "true"}  # the flow runs the buy-and-hold baseline too
NS = 1_000_000_000


class BacktestError(RuntimeError):
    pass


@dataclass
class Backtest:
    out: Path
    report: dict[str, Any]
    trips: list[RoundTrip]
    seconds: float  # wall time of the flow
    source: ReportSource  # where its tables are (Parquet, or QuestDB for a Kafka run)
    processes: int = 1  # the flow's processes (`-w N` of a capture's backtest: `processes_for`)


def checkpoints(root: Path) -> list[dict[str, Any]]:
    """The checkpoint of each kind the flow loads (its champion: the promoted one, else the
    best), with its metric and data range."""
    from cobflow.models.checkpoints import CheckpointStore, list_checkpoints

    out = []
    for kind in dict.fromkeys(k for k, _ in list_checkpoints(root)):
        e = CheckpointStore(root, kind, read_only=True).champion()
        if e is None:
            continue
        out.append({"kind": kind, "name": e.name, "metric": e.metric, "metric_name": e.meta.get("metric_name"),
                    "data_from": e.meta.get("data_from"), "data_to": e.meta.get("data_to"),
                    "layout": e.meta.get("layout"), "symbols": e.meta.get("symbols")})
    return out


def untrained(settings: Settings, models_dir: Path | None = None) -> list[str]:
    """One line per checkpoint the strategy hears that was trained on none of, or not all
    of, the symbols configured now (a model of BTC and ETH run on SOL)."""
    heard = strategy_of(settings).models()
    configured = set(load_symbols(settings.symbols_file).symbols)
    out = []
    for c in checkpoints(models_dir or settings.models.dir):
        trained = c.get("symbols")
        if (heard is not None and c["kind"] not in heard) or trained is None:
            continue
        missing = sorted(configured - set(trained))
        if missing:
            out.append(f"{c['kind']} {c['name']} was trained on {', '.join(trained) or 'no symbol'}, "
                       f"not on {', '.join(missing)}")
    return out


def fills_of(src: ReportSource, run: str = "paper") -> list[Fill]:
    f = src.load("fills", {"run": run}, None, None)
    order = np.lexsort((f["slice"].astype(np.int64), f["order_id"].astype(str), f["ts"]))  # walk order
    sign = np.where(f["side"].astype(str) == "buy", 1.0, -1.0)
    return [Fill(int(f["ts"][i]), str(f["symbol"][i]), float(sign[i] * f["qty"][i]), float(f["price"][i]),
                 float(f["fee"][i])) for i in order]


def orders_of(src: ReportSource, run: str = "paper") -> dict[str, Any]:
    """The orders part of a run's report: fills and fees by liquidity, the limit orders'
    fill ratio and queue wait (`cobflow.execution.metrics.order_metrics`)."""
    f = src.load("fills", {"run": run}, None, None)
    n = len(f["ts"])
    liquidity = f["liquidity"].astype(object) if "liquidity" in f else np.full(n, "taker", dtype=object)
    liquidity = np.where(pd_null(liquidity), "taker", liquidity)
    wait = f["wait_s"].astype(object) if "wait_s" in f else np.full(n, None, dtype=object)
    wait = np.where(pd_null(wait), 0.0, wait).astype(np.float64)
    o = src.load("orders", {"run": run}, None, None)
    limit_qty = limit_filled = np.zeros(0)
    if len(o["ts"]) and "type" in o:
        last: dict[str, tuple[float, float]] = {}
        for i in np.argsort(o["ts"], kind="stable"):  # each limit order's final row
            if o["type"][i] == "limit":
                last[str(o["order_id"][i])] = (float(o["qty"][i]), float(o["filled"][i]))
        limit_qty = np.array([q for q, _ in last.values()])
        limit_filled = np.array([x for _, x in last.values()])
    return order_metrics(liquidity, f["fee"].astype(np.float64), f["qty"].astype(np.float64), wait, limit_qty,
                         limit_filled)


def pd_null(a: np.ndarray) -> np.ndarray:
    """Nulls of an object column (None or NaN)."""
    return np.array([x is None or (isinstance(x, float) and math.isnan(x)) for x in a], dtype=bool)


def run_metrics(src: ReportSource, run: str, initial_cash: float, start: int | None = None, end: int | None = None
                ) -> tuple[dict[str, Any], np.ndarray, np.ndarray, list[Fill]]:
    """EXECUTION.md's metrics of a run's rows in [start, end): (metrics, equity ts, equity, fills)."""
    e = src.load("equity", {"run": run}, start, end)
    p = src.load("positions", {"run": run}, start, end)
    fills = [f for f in fills_of(src, run) if (start is None or f.ts >= start) and (end is None or f.ts < end)]
    ts, equity = e["ts"], e["equity"].astype(np.float64)
    exposed = len(np.unique(p["ts"][p["position"].astype(np.float64) != 0])) if len(p["ts"]) else 0
    return backtest_metrics(ts, equity, fills, initial_cash, exposed), ts, equity, fills


def metrics_of(src: ReportSource, settings: Settings, run: str = "paper") -> tuple[dict[str, Any], list[RoundTrip]]:
    """The run's metrics and the baselines', from the tables the flow wrote (Parquet or QuestDB)."""
    t = settings.trading
    mine, ts, equity, fills = run_metrics(src, run, t.initial_cash)
    if len(ts) == 0:
        raise BacktestError(f"run {run!r} wrote no equity rows: no second was traded (is COBFLOW_TRADING__MODE "
                            "off, or --from/--to outside the input?)")
    he = src.load("equity", {"run": run + HOLD_RUN}, None, None)
    hold = buy_and_hold(he["ts"], he["equity"].astype(np.float64), fills_of(src, run + HOLD_RUN), t.initial_cash)
    report = {"metrics": mine, "baselines": {"no_trades": no_trades(ts, t.initial_cash), "buy_and_hold": hold},
              "orders": orders_of(src, run), "formulas": FORMULAS, "order_formulas": ORDER_FORMULAS,
              "period": {"from_ns": int(ts[0]), "to_ns": int(ts[-1]) + NS, "seconds": len(ts)},
              "equity": {"first": float(equity[0]), "last": float(equity[-1])}}
    return report, round_trips(fills)


def run_backtest(settings: Settings, input: Path, out: Path, workers: int = 1, progress: bool = True,
                 models_dir: Path | None = None) -> Backtest:
    """The strategy flow over `input` into `out`, then its report (report.json, PNGs)."""
    if not input.is_file():
        raise BacktestError(f"{input}: no such capture file")
    if models_dir is not None:
        if not models_dir.is_dir():
            raise BacktestError(f"{models_dir}: no such models folder")
        os.environ["COBFLOW_MODELS__DIR"] = str(models_dir.resolve())  # the flow runs as a subprocess
        settings = settings.model_copy(update={"models": settings.models.model_copy(update={"dir": models_dir})})
    if settings.trading.mode != "paper":
        raise BacktestError("COBFLOW_TRADING__MODE is off: a backtest needs paper execution")
    label = f"backtest ({strategy_of(settings).label})" if progress else False
    processes = processes_for(settings, workers)
    result = compute(settings, input, out, 1, processes, progress=label, strategy=True, env=BASELINE)
    bt = finish(settings, ParquetSource(out), out, input, result.seconds)
    bt.processes = processes
    return bt


def processes_for(settings: Settings, workers: int) -> int:
    """A capture's flow with `workers` workers runs as that many processes of one worker each,
    at most one per symbol: a process's threads share its interpreter lock (6 hours of 2
    symbols x 5 venues: two threads 150.9 s, two processes 131.6 s, one worker 122.1 s;
    bench/results/backtest-21600s.json), while processes split the symbols, each reading the
    capture for its own (the rows are one process's: tests/unit/test_shards.py)."""
    return max(1, min(workers, len(load_symbols(settings.symbols_file).symbols)))


def strategy_of(settings: Settings) -> Run:
    """The run a backtest reports: its strategy and the model kinds it reads."""
    from cobflow.operators.strategies import runs

    all_runs = runs(load_symbols(settings.symbols_file), settings.strategy.name, settings.trading.run_id)
    return next((r for r in all_runs if r.run == settings.trading.run_id), all_runs[0])


def finish(settings: Settings, src: ReportSource, out: Path, input: Path, seconds: float,
           extra: dict[str, Any] | None = None) -> Backtest:
    """The report of a run that has written its tables: metrics, provenance, report.json."""
    run = settings.trading.run_id
    report, trips = metrics_of(src, settings, run)
    symbols = load_symbols(settings.symbols_file)
    strategy = strategy_of(settings)
    heard = strategy.models()  # None: every kind
    report = {
        **report, **(extra or {}), "run": run, "strategy": strategy.label,
        "input": {"path": str(input), "sha256": sha256(input), "bytes": input.stat().st_size},
        "config": {"symbols": symbols.model_dump(mode="json"),
                   "trading": settings.trading.model_dump(mode="json", exclude={"control_dir"}),
                   "models": settings.models.model_dump(mode="json", exclude={"dir"}),
                   "strategy": settings.strategy.model_dump(mode="json")},
        "checkpoints": [c for c in checkpoints(settings.models.dir) if heard is None or c["kind"] in heard],
        "code_version": code_version(),
        "round_trips": [{"symbol": t.symbol, "opened_ns": t.opened, "closed_ns": t.closed, "side": t.side,
                         "fills": t.fills, "max_qty": t.max_qty, "pnl": t.pnl, "fees": t.fees, "net": t.net}
                        for t in trips],
    }
    (out / REPORT).write_text(json.dumps(report, indent=1, sort_keys=True) + "\n")
    return Backtest(out, report, trips, seconds, src)


def kafka_backtest(settings: Settings, since: int, until: int, out: Path, workers: int = 1,
                   progress: bool = True, models_dir: Path | None = None, run_id: str | None = None) -> Backtest:
    """The raw.* topics of [since, until) through the strategy flow in Kafka mode into QuestDB
    under their own run id, beside the live account: recorded (into out/input.jsonl.gz, the
    same run in file mode), replayed into topics of the run's own prefix (deleted after),
    read by `kafka_flow` writing only the decisions and the account's tables."""
    from datetime import UTC, datetime

    from cobflow.app.report.data import QuestDBSource
    from cobflow.app.runflow import kafka_flow, run_flow
    from cobflow.app.runs import record_run
    from cobflow.capture import write_capture
    from cobflow.kafka_io import delete_topics, record
    from cobflow.progress import Progress
    from cobflow.qdb import wait_for_wal
    from cobflow.replay import replay
    from cobflow.tables import RUN_TABLES

    if until <= since:
        raise BacktestError("--to is not after --from")
    symbols = load_symbols(settings.symbols_file)
    run = run_id or f"backtest-{datetime.now(UTC):%Y%m%dT%H%M%S}"
    with Progress("record") as bar:
        messages = record(settings.kafka, symbols.venues(), since, until, bar)
    if not messages:
        raise BacktestError("no raw messages in the raw.* topics in that period")
    out.mkdir(parents=True, exist_ok=True)
    capture = out / "input.jsonl.gz"
    write_capture(capture, messages)
    prefix = f"{settings.kafka.topic_prefix}{run}."
    scoped = settings.model_copy(update={"kafka": settings.kafka.model_copy(update={"topic_prefix": prefix}),
                                         "trading": settings.trading.model_copy(update={"run_id": run})})
    env = {"COBFLOW_KAFKA__TOPIC_PREFIX": prefix, "COBFLOW_TRADING__RUN_ID": run, "COBFLOW_FLOW__COB_TABLES": "false",
           "COBFLOW_FLOW__STRATEGY_TABLES": "false", "COBFLOW_FLOW__TAIL": "false", **BASELINE}
    if models_dir is not None:
        env["COBFLOW_MODELS__DIR"] = str(models_dir.resolve())
    start = time.perf_counter()
    record_run(scoped, run, settings.strategy.name)  # the symbols file, for `report --run`
    try:
        replay(scoped, capture, None, reset=True)
        rc = run_flow(kafka_flow("strategy"), workers, env=env, epoch_s=settings.flow.epoch_s)
        if rc != 0:
            raise BacktestError(f"the strategy flow failed (exit {rc})")
        wait_for_wal(settings.questdb, [settings.questdb.table(t.name) for t in RUN_TABLES])
    finally:
        delete_topics(scoped.kafka, [scoped.kafka.raw_topic(v) for v in symbols.venues()] + [scoped.kafka.dlq()])
    print(f"recorded {len(messages):,} raw messages into {capture}; run {run!r} is in QuestDB "
          f"(Trading dashboard: run {run})")
    return finish(scoped, QuestDBSource(settings.questdb), out, capture, time.perf_counter() - start,
                  {"source": {"kafka_from_ns": since, "kafka_to_ns": until}})


def pictures(settings: Settings, bt: Backtest) -> list[Path]:
    """equity.png (with drawdown), <symbol>-trading.png (price with fills and pivots,
    position and PnL), round-trips.png."""
    from cobflow.app.report import choose_timeframe
    from cobflow.app.report.render import ReportSpec, equity_view, round_trips_view, trading

    symbols = load_symbols(settings.symbols_file)
    src, run = bt.source, bt.report["run"]
    period = bt.report["period"]
    start, end = period["from_ns"], period["to_ns"]
    folder = bt.out / "pictures"
    folder.mkdir(exist_ok=True)
    paths: list[Path | None] = [equity_view(src, start, end, folder / "equity.png",
                                            f"backtest {run}: the paper account", run)]
    for sym, spec in symbols.symbols.items():
        rs = ReportSpec(sym, dict(spec.venues), start, end, choose_timeframe(end - start), run)
        paths.append(trading(src, rs, folder / f"{sym.replace('/', '-')}-trading.png"))
    paths.append(round_trips_view(bt.trips, folder / "round-trips.png"))  # None without a trip
    return [p for p in paths if p is not None]


PERCENT = frozenset({"total_return", "max_drawdown", "hit_rate", "exposure", "limit_fill_ratio"})  # fractions, printed in %


def fmt(v: Any, name: str = "") -> str:
    """A metric as printed: fractions in percent, counts with thousands separators."""
    if v is None:
        return "null"
    if isinstance(v, int):
        return f"{v:,}"
    if name in PERCENT:
        return f"{v * 100:+.3f}%" if name == "total_return" else f"{v * 100:.2f}%"
    return f"{v:,.4f}" if abs(v) < 1e4 else f"{v:,.0f}"


def summary_table(report: dict[str, Any]) -> str:
    """The metrics beside the baselines, each with its formula (report.json keeps fractions),
    then the run's orders: fills and fees by liquidity, limit orders' fill ratio and queue wait."""
    run, base = report["metrics"], report["baselines"]
    lines = [f"{'metric':13s} {'this run':>12s} {'no trades':>12s} {'buy & hold':>12s}  formula"]
    for name, formula in FORMULAS.items():
        lines.append(f"{name:13s} {fmt(run[name], name):>12s} {fmt(base['no_trades'][name], name):>12s} "
                     f"{fmt(base['buy_and_hold'][name], name):>12s}  {formula}")
    orders = report.get("orders")
    if orders:
        lines.append("")
        lines.append(f"{'orders':16s} {'this run':>12s}  what")
        for name, what in ORDER_FORMULAS.items():
            lines.append(f"{name:16s} {fmt(orders.get(name), name):>12s}  {what}")
    return "\n".join(lines)


def compare_table(folders: list[Path]) -> str:
    """The metrics of several backtests side by side."""
    reports = []
    for f in folders:
        path = f / REPORT
        if not path.is_file():
            raise BacktestError(f"{f}: no {REPORT} (is it a `cobflow backtest --out` folder?)")
        reports.append(json.loads(path.read_text()))
    names = [f.name for f in folders]
    strategies = [str(r.get("strategy", "?")).rpartition(":")[2] for r in reports]  # module:Class -> Class
    width = max(12, *(len(n) for n in names), *(len(x) for x in strategies))
    label = 20
    lines = [f"{'':{label}s} " + " ".join(f"{n:>{width}s}" for n in names)]
    lines.append(f"{'strategy':{label}s} " + " ".join(f"{x:>{width}s}" for x in strategies))
    for name in FORMULAS:
        lines.append(f"{name:{label}s} " + " ".join(f"{fmt(r['metrics'].get(name), name):>{width}s}" for r in reports))
    for name in ORDER_FORMULAS:
        lines.append(f"{name:{label}s} " + " ".join(f"{fmt(r.get('orders', {}).get(name), name):>{width}s}"
                                                    for r in reports))
    for base, title in (("buy_and_hold", "buy & hold"), ("no_trades", "no trades")):
        for name in ("total_return", "max_drawdown"):
            lines.append(f"{title + ' ' + name.split('_')[-1]:{label}s} "
                         + " ".join(f"{fmt(r['baselines'][base][name], name):>{width}s}" for r in reports))
    lines.append(f"{'input sha256':{label}s} " + " ".join(f"{r['input']['sha256'][:12]:>{width}s}" for r in reports))
    lines.append("code versions:")
    lines.extend(f"  {n}: {r['code_version']}" for n, r in zip(names, reports))
    return "\n".join(lines)
