"""EXECUTION.md's backtest metrics on crafted equity series and fills, every number worked
out by hand from the table's formulas; then `cobflow backtest` end to end on a capture."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cobflow.execution.metrics import Fill, backtest_metrics, buy_and_hold, no_trades, round_trips

NS = 1_000_000_000
T0 = 28_333_334 * 60  # a UTC minute's first second
CONFIG = Path(__file__).resolve().parent.parent / "data" / "cob_e2e.yaml"


def three_minutes():
    """180 seconds; E at the minutes' last seconds: 100, 102, 100.98; a dip to 95 at second 30
    after a peak of 101 at second 20."""
    ts = (T0 + np.arange(180)) * NS
    e = np.full(180, 100.0)
    e[20] = 101.0
    e[30] = 95.0
    e[60:120] = 102.0
    e[120:] = 100.98
    e[0] = 99.0
    return ts, e


def test_every_metric_of_the_table_by_hand():
    ts, e = three_minutes()
    fills = [Fill(ts[10], "X", 2.0, 100.0, 0.2), Fill(ts[70], "X", -1.0, 101.0, 0.1),
             Fill(ts[80], "X", -3.0, 99.0, 0.3), Fill(ts[150], "X", 2.0, 98.0, 0.2)]
    m = backtest_metrics(ts, e, fills, 1_000.0, 140)
    assert m["total_return"] == pytest.approx(100.98 / 99.0 - 1)
    # E at 59, 119, 179: two one-minute returns, too few for Sharpe and Sortino (under 30)
    assert (m["returns"], m["sharpe"], m["sortino"]) == (2, None, None)
    # the first row (99) is a peak too: 101 at 20 is the running peak when 95 comes at 30
    assert m["max_drawdown"] == pytest.approx((101 - 95) / 101)
    assert m["fees"] == pytest.approx(0.8)
    assert m["turnover"] == pytest.approx((200 + 101 + 297 + 196) / 1_000.0)
    assert (m["fills"], m["round_trips"]) == (4, 2)
    # trip 1 (long): -200 + 101 + 99 (1 of the 3 sold at 99) = 0, fees 0.2 + 0.1 + 0.1: net -0.4
    # trip 2 (short 2 at 99, bought back at 98): +2, fees 0.2 + 0.2: net +1.6
    assert m["hit_rate"] == 0.5
    assert m["exposure"] == pytest.approx(140 / 180)


def test_sharpe_and_sortino_need_thirty_one_minute_returns():
    """31 minutes of E: 30 returns, worked out with `statistics`; one minute less: null."""
    import statistics

    minutes = 31
    ts = (T0 + np.arange(minutes * 60)) * NS
    ends = [100.0 * (1 + 0.001 * ((i * 7) % 5 - 2)) for i in range(minutes)]  # E at each minute's last second
    e = np.repeat(ends, 60)
    e[::60] = 50.0  # a minute's other seconds do not enter r
    r = [ends[i] / ends[i - 1] - 1 for i in range(1, minutes)]
    m = backtest_metrics(ts, e, [], 100.0, 0)
    assert m["returns"] == 30
    assert m["sharpe"] == pytest.approx(statistics.mean(r) / statistics.stdev(r) * math.sqrt(525_600))
    down = math.sqrt(sum(min(x, 0.0) ** 2 for x in r) / len(r))
    assert m["sortino"] == pytest.approx(statistics.mean(r) / down * math.sqrt(525_600))
    short = backtest_metrics(ts[60:], e[60:], [], 100.0, 0)
    assert (short["returns"], short["sharpe"], short["sortino"]) == (29, None, None)


def test_a_flip_through_zero_splits_its_quantity_and_fee_pro_rata():
    fills = [Fill(1, "X", 2.0, 100.0, 0.2), Fill(2, "X", -3.0, 99.0, 0.3), Fill(3, "X", 1.0, 98.0, 0.1),
             Fill(4, "Y", -1.0, 10.0, 0.01)]  # Y never closes: not a trip
    trips = round_trips(fills)
    assert [(t.symbol, t.side, t.opened, t.closed, t.fills) for t in trips] == [("X", "long", 1, 2, 2),
                                                                             ("X", "short", 2, 3, 2)]
    assert trips[0].pnl == pytest.approx(-200 + 2 * 99) and trips[0].fees == pytest.approx(0.2 + 0.2)
    assert trips[1].pnl == pytest.approx(99 - 98) and trips[1].fees == pytest.approx(0.1 + 0.1)
    assert trips[0].max_qty == 2.0 and trips[1].max_qty == 1.0


def test_a_flat_series_has_null_sharpe_and_sortino():
    ts = (T0 + np.arange(300)) * NS
    m = no_trades(ts, 5_000.0)
    assert m == {"total_return": 0.0, "sharpe": None, "sortino": None, "returns": 4, "max_drawdown": 0.0,
                 "fees": 0.0, "turnover": 0.0, "fills": 0, "round_trips": 0, "hit_rate": None, "exposure": 0.0}
    hour = (T0 + np.arange(3600)) * NS
    rising = backtest_metrics(hour, 100.0 + np.arange(3600) * 0.01, [], 100.0, 0)
    assert rising["sortino"] is None and rising["sharpe"] is not None  # no r < 0; r not constant
    flat = backtest_metrics(hour, np.full(3600, 7.0), [], 7.0, 0)
    assert (flat["returns"], flat["sharpe"]) == (59, None)  # std 0


def test_buy_and_hold_is_its_equity_and_fills_with_a_position_from_its_first_fill():
    ts = (T0 + np.arange(120)) * NS
    equity = np.full(120, 1_000.0)
    equity[11:] = 1_000.0 - 0.5 + 3 * np.linspace(0.0, 2.0, 109)  # bought at second 11, marked up after
    fills = [Fill(ts[11], "X", 2.0, 105.7, 0.2), Fill(ts[11], "X", 1.0, 105.9, 0.3)]  # two slices at second 11
    m = buy_and_hold(ts, equity, fills, 1_000.0)
    assert m["total_return"] == pytest.approx(equity[-1] / 1_000.0 - 1)
    assert (m["fills"], m["fees"], m["turnover"]) == (2, pytest.approx(0.5), pytest.approx((2 * 105.7 + 105.9) / 1e3))
    assert m["exposure"] == pytest.approx(109 / 120)  # seconds 11 to 119
    assert m["max_drawdown"] == pytest.approx(0.5 / 1_000)
    assert buy_and_hold(ts, np.full(120, 1_000.0), [], 1_000.0)["exposure"] == 0.0  # nothing filled: cash


def rows_of(folder: Path, table: str) -> list[dict]:
    """A stored table's rows, timestamps as ns."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from cobflow.dataflows.sinks.parquet import read_table

    t = read_table(folder, table)
    return pa.table({n: pc.cast(t[n], pa.int64()) if pa.types.is_timestamp(t[n].type) else t[n]
                     for n in t.column_names}).to_pylist()


def test_cobflow_backtest_writes_the_report_its_pictures_and_compares(tmp_path):
    """Twice on the same capture, writing the report's tables (the default) and every table
    with `-w 2` (two processes, a symbol each): byte-identical report.json and the same rows
    in what both wrote; `compare` prints both."""
    from cobflow.capture import write_capture
    from cobflow.config import load_symbols
    from cobflow.connectors.simulator import SimConfig, simulate
    from tests.modeltools import seeded_checkpoints
    from tests.unit.test_strategy import SPEC

    capture = tmp_path / "sim.jsonl"
    write_capture(capture, simulate(load_symbols(CONFIG), SimConfig(seed=8, duration_s=75, alpha=1.0)))
    models = seeded_checkpoints(tmp_path / "models", SPEC)
    env = {**os.environ, "COBFLOW_TRADING__MIN_ORDER_NOTIONAL": "0"}
    outs = []
    for name, tables in (("a", []), ("b", ["--tables", "all", "-w", "2"])):
        out = tmp_path / name
        proc = subprocess.run([sys.executable, "-m", "cobflow", "--config", str(CONFIG), "backtest", "--input",
                               str(capture), "--out", str(out), "--models", str(models), "-q", *tables],
                              capture_output=True, text=True, env=env)
        assert proc.returncode == 0, proc.stderr
        outs.append((out, proc.stdout))
    (a, printed), (b, printed_b) = outs
    assert " on 2 processes;" in printed_b and " processes;" not in printed
    assert (a / "report.json").read_bytes() == (b / "report.json").read_bytes()
    from cobflow.app.backtest import REPORT_TABLES
    from cobflow.tables import FLOW_TABLES

    written = {p.name for p in a.iterdir() if p.is_dir() and p.name != "pictures"}
    assert written == set(REPORT_TABLES) and {t.name for t in FLOW_TABLES} <= {p.name for p in b.iterdir()}
    for table in REPORT_TABLES:  # the rows nobody keeps are never made; the kept ones are the same
        assert sorted(map(repr, rows_of(a, table))) == sorted(map(repr, rows_of(b, table))), table
    report = json.loads((a / "report.json").read_text())
    assert set(report["metrics"]) == set(report["baselines"]["no_trades"]) == set(report["formulas"])
    minutes = {r["ts"] // (60 * NS) for r in rows_of(a, "equity") if r["run"] == "paper"}
    assert report["metrics"]["fills"] > 0 and report["metrics"]["returns"] == len(minutes) - 1
    assert report["metrics"]["sharpe"] is None and "returns" in report["formulas"]  # 75 s: under 30 returns
    # buy and hold: each symbol's BUY at its first second with a consolidated book, filled at
    # the next second from the consolidated best ask up (the walk), held to the end
    cob = rows_of(a, "cob_summary")
    orders = [o for o in rows_of(a, "orders") if o["run"] == "paper.buy_and_hold"]
    fills = [f for f in rows_of(a, "fills") if f["run"] == "paper.buy_and_hold"]
    assert sorted(o["symbol"] for o in orders) == ["BTC-USD", "ETH-USD"]
    for o in orders:
        first = min(r["ts"] for r in cob if r["symbol"] == o["symbol"] and r["mid"] is not None)
        assert o["decision_ts"] == first and o["status"] == "filled"
        ask = next(r["best_ask"] for r in cob if r["symbol"] == o["symbol"] and r["ts"] == first + NS)
        mine = sorted((f for f in fills if f["symbol"] == o["symbol"]), key=lambda f: f["slice"])
        assert mine[0]["price"] == ask and all(f["ts"] == first + NS for f in mine)
    assert report["baselines"]["buy_and_hold"]["fills"] == len(fills)
    held = [r for r in rows_of(a, "equity") if r["run"] == "paper.buy_and_hold"]
    assert len(held) == report["period"]["seconds"]
    assert held[-1]["equity"] / held[0]["equity"] - 1 == pytest.approx(report["baselines"]["buy_and_hold"]["total_return"])
    assert [c["kind"] for c in report["checkpoints"]] == ["cnn", "dqn"]
    assert report["config"]["trading"]["min_order_notional"] == 0.0 and len(report["input"]["sha256"]) == 64
    for name in ("total_return", "sharpe", "hit_rate", "exposure"):
        assert name in printed
    assert "E_last / E_first - 1" in printed
    pictures = sorted(p.name for p in (a / "pictures").glob("*.png"))
    trips = ["round-trips.png"] if report["metrics"]["round_trips"] else []  # no page without a trip
    assert pictures == ["BTC-USD-trading.png", "ETH-USD-trading.png", "equity.png", *trips]
    compared = subprocess.run([sys.executable, "-m", "cobflow", "backtest", "compare", str(a), str(b)],
                              capture_output=True, text=True)
    assert compared.returncode == 0, compared.stderr
    row = next(line.split() for line in compared.stdout.splitlines() if line.startswith("fills"))
    assert row[1] == row[2] == f"{report['metrics']['fills']:,}"
    # the baseline does not depend on the strategy
    other = tmp_path / "rules"
    base = [sys.executable, "-m", "cobflow", "--config", str(CONFIG), "backtest", "--input", str(capture), "--out",
            str(other), "--models", str(models), "--strategy", "rules", "-q"]
    refused = subprocess.run([*base, "--tables", "equity,nope"], capture_output=True, text=True, env=env)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1 and "--tables: unknown table 'nope'" in refused.stderr
    proc = subprocess.run(base, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    theirs = json.loads((other / "report.json").read_text())
    assert theirs["baselines"] == report["baselines"] and theirs["metrics"] != report["metrics"]


def test_workers_are_processes_of_one_worker_at_most_one_per_symbol(tmp_path):
    """`-w N` of a capture's backtest: N processes (threads of one process share its lock),
    never more than the symbols (a process without a symbol would only cost its start)."""
    from cobflow.app.backtest import processes_for
    from cobflow.config import load_settings

    two = load_settings(symbols_file=CONFIG)  # BTC-USD and ETH-USD
    one = tmp_path / "one.yaml"
    one.write_text("symbols:\n  BTC-USD:\n    bucket: 10\n    venues: {binance: BTC-USDT}\n")
    assert [processes_for(two, w) for w in (1, 2, 3, 8)] == [1, 2, 2, 2]
    assert [processes_for(load_settings(symbols_file=one), w) for w in (1, 2)] == [1, 1]


def test_backtest_runs_the_checkpoint_files_it_is_given_and_the_named_strategy(tmp_path):
    """`--model FILE.pt` pins that checkpoint (a cnn alone here: no dqn runs); `--strategy cnn`
    makes every decision the cnn's; both are in report.json. Two of a kind: a one-line error."""
    from cobflow.capture import write_capture
    from cobflow.config import load_symbols
    from cobflow.connectors.simulator import SimConfig, simulate
    from cobflow.dataflows.sinks.parquet import read_table
    from tests.modeltools import seeded_checkpoints
    from tests.unit.test_strategy import SPEC

    capture = tmp_path / "sim.jsonl"
    write_capture(capture, simulate(load_symbols(CONFIG), SimConfig(seed=9, duration_s=60, alpha=1.0)))
    cnn = next((seeded_checkpoints(tmp_path / "models", SPEC, seed=4) / "cnn").glob("*.pt"))
    other = next((seeded_checkpoints(tmp_path / "models2", SPEC, seed=5) / "cnn").glob("*.pt"))
    out = tmp_path / "bt"
    base = [sys.executable, "-m", "cobflow", "--config", str(CONFIG), "backtest", "--input", str(capture), "-q"]
    proc = subprocess.run([*base, "--out", str(out), "--model", str(cnn), "--strategy", "cnn",
                           "--tables", "model_outputs"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    report = json.loads((out / "report.json").read_text())
    assert [(c["kind"], c["name"]) for c in report["checkpoints"]] == [("cnn", cnn.stem)]
    assert report["config"]["strategy"] == {"name": "cnn", "signals": []}  # no signal sources of the user
    outputs = read_table(out, "model_outputs").to_pylist()
    assert outputs and {(o["model_type"], o["model_name"]) for o in outputs} == {("cnn", cnn.stem)}
    decided = [d for d in read_table(out, "decisions").to_pylist() if d["reason"] not in ("no_signal",)
               and not str(d["reason"]).startswith("data_quality")]
    assert decided and {d["source"] for d in decided} == {"cnn"}
    two = subprocess.run([*base, "--out", str(tmp_path / "bt2"), "--model", str(cnn), str(other)],
                         capture_output=True, text=True)
    assert two.returncode != 0 and len(two.stderr.strip().splitlines()) == 1
    assert "two cnn checkpoints given" in two.stderr


def test_a_checkpoint_trained_on_other_symbols_warns_and_strict_refuses(tmp_path):
    """Checkpoints of BTC-USD alone, run on BTC-USD and ETH-USD: one warning line per kind the
    strategy hears (none for `rules`); `--strict` refuses before anything runs."""
    from cobflow.app.backtest import untrained
    from cobflow.config import load_settings
    from tests.modeltools import seeded_checkpoints
    from tests.unit.test_strategy import SPEC

    models = seeded_checkpoints(tmp_path / "models", SPEC, symbols=["BTC-USD"])
    settings = load_settings().model_copy(update={"symbols_file": CONFIG})
    lines = untrained(settings, models)
    assert [x.split()[0] for x in lines] == ["cnn", "dqn"]
    assert all(x.endswith("was trained on BTC-USD, not on ETH-USD") for x in lines)
    rules = settings.model_copy(update={"strategy": settings.strategy.model_copy(update={"name": "rules"})})
    assert untrained(rules, models) == []
    both = seeded_checkpoints(tmp_path / "both", SPEC, symbols=["BTC-USD", "ETH-USD"])
    assert untrained(settings, both) == []
    env = {k: v for k, v in os.environ.items() if not k.startswith("COBFLOW_")}
    proc = subprocess.run([sys.executable, "-m", "cobflow", "--config", str(CONFIG), "backtest", "--input",
                           str(CONFIG), "--out", str(tmp_path / "bt"), "--models", str(models), "--strict"],
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert proc.stderr.startswith("cobflow: error: cnn ") and "(--strict)" in proc.stderr
