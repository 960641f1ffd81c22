"""`make demo`'s command, then the Grafana dashboards validated against what it loaded into
the real QuestDB, and its PNG report."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cobflow.app.dashboards import DASHBOARD_DIR
from cobflow.app.dashboards.model import MAY_BE_EMPTY
from cobflow.app.services.namespace import scratch_namespace
from cobflow.qdb import query
from tests.integration.helpers import cobflow
from tests.unit.test_report import png_size

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def demo(services, tmp_path_factory):
    """One demo run in its own topics and tables (removed afterwards)."""
    tmp = tmp_path_factory.mktemp("demo")
    capture = tmp / "simulated.jsonl.gz"
    with scratch_namespace(services) as (settings, env):
        env["COBFLOW_MODELS__DIR"] = str(tmp / "models")  # none yet: the demo trains them
        # 150 s: the models' 60 s window fills, and their first predictions reach their 60 s horizon
        out = cobflow(env, "demo", "--duration", "150", "--save", str(capture), "--report", str(tmp / "report"),
                      "--backtest", str(tmp / "backtest"))
        yield settings, env, tmp, capture, out


def test_demo_runs_the_whole_path_and_prints_what_landed(demo):
    """Simulated BTC-USD and ETH-USD (symbols.yaml) through Kafka and the COB flow into QuestDB;
    the same capture through `cobflow compute` gives the same counts."""
    settings, env, tmp, capture, out = demo
    assert capture.exists()
    assert "trained a cnn and a dqn into" in out and (tmp / "models" / "cnn" / "index.json").exists(), out
    computed = cobflow(env, "compute", "--strategy", "--input", str(capture), "--output", str(tmp / "pq"))
    for t in ("cob_summary", "cob_buckets", "imbalance_ma", "ohlcv", "order_flow", "book_health", "data_quality",
              "indicators", "pivots", "features", "model_outputs", "decisions", "prediction_outcomes",
              "orders", "fills", "positions", "equity", "risk_events"):
        n = int(next(line.split()[1].replace(",", "") for line in computed.splitlines() if line.split()[:1] == [t]))
        assert n > 0 and f"{settings.questdb.table(t)}: {n} rows" in out, (t, out)
    before_account = out.split("the paper account")[0]
    lines = [line for line in before_account.splitlines() if re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", line)]
    # the last second of each symbol, then its last 1s indicators (warm after 30 s: SMA 20, RSI 14) and quality
    assert [line.split()[1] for line in lines] == ["BTC-USD", "ETH-USD"] * 2, out
    assert all("null" not in line.split()[2:5] for line in lines[2:]), out
    # a frame cut short at 10 s (--faults-every 30): its dead letters are in QuestDB as in compute's file
    dead = [json.loads(line) for f in (tmp / "pq").glob("dead_letters*.jsonl") for line in f.open()]
    assert any(d["stage"] == "parse" for d in dead)
    assert f"{settings.questdb.table('dead_letters')}: {len(dead)} rows" in out
    # the paper account: fills on both symbols, and the equity of the run's last second
    assert "the paper account" in out and "equity_start" in out and "buy" in out, out
    # the flow measured its own lag, and ended caught up on every partition it read
    lag = query(settings.questdb, f"SELECT topic, kafka_partition, lag FROM {settings.questdb.table('consumer_lag')} "
                                  f"LATEST ON ts PARTITION BY topic, kafka_partition")
    assert lag and all(r["lag"] == 0 for r in lag), lag


def test_demo_writes_the_png_report_and_prints_the_paths(demo):
    *_, tmp, _capture, out = demo
    printed = [Path(line.strip()) for line in out.splitlines()
               if line.strip().endswith(".png") and "backtest" not in line]
    assert sorted(p.name for p in printed) == sorted(
        f"{s}-{v}.png" for s in ("BTC-USD", "ETH-USD")
        for v in ("heatmap", "imbalance", "candles", "health", "model-input", "trading"))
    for p in printed:
        assert p.parent == tmp / "report" and png_size(p) == (1600, 900) and p.stat().st_size > 20_000


def test_every_dashboard_panel_runs_on_questdb_and_returns_rows(demo):
    _settings, env, *_ = demo
    proc = subprocess.run([sys.executable, "-m", "cobflow", "dashboards", "validate"], env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    targets = [t for f in DASHBOARD_DIR.glob("*.json") for p in json.loads(f.read_text())["panels"]
               for t in p["targets"]]
    n = len(targets)
    # a query marked may-be-empty (the resting limit orders: the demo's strategy sends market
    # orders) ran without error; tests/integration/test_execution_modes.py sees it return rows
    may = sum(1 for t in targets if t.get(MAY_BE_EMPTY))
    empty = proc.stdout.count("(may be empty: ")
    assert empty <= may, proc.stdout
    done = f"{n} queries, all returned rows" if not empty else \
        f"{n} queries, all ran; {empty} returned no rows and may be empty"
    assert done in proc.stdout, proc.stdout


def test_validate_fails_on_a_broken_panel_with_questdbs_reason(demo, tmp_path):
    _settings, env, *_ = demo
    shutil.copytree(DASHBOARD_DIR, tmp_path / "d")
    f = tmp_path / "d" / "cobflow-market.json"
    f.write_text(f.read_text().replace("aggressive_buy_ratio", "aggresive_buy_ratio"))
    proc = subprocess.run([sys.executable, "-m", "cobflow", "dashboards", "validate", "--dir", str(tmp_path / "d")],
                          env=env, capture_output=True, text=True)
    assert proc.returncode == 1
    assert "Aggressive-buy ratio" in proc.stdout and "FAILED: Invalid column: aggresive_buy_ratio" in proc.stdout, \
        proc.stdout


def test_demo_ends_with_a_backtest_of_its_capture_that_matches_the_kafka_run(demo):
    """The closing backtest is the same flow on the same capture: its account is the one the
    Kafka run left in QuestDB."""
    settings, _env, tmp, _capture, out = demo
    report = json.loads((tmp / "backtest" / "report.json").read_text())
    assert "and a backtest" in out and str(tmp / "backtest" / "report.json") in out
    assert (tmp / "backtest" / "pictures" / "equity.png").exists()
    [row] = query(settings.questdb, f"SELECT count() n, last(equity) e FROM {settings.questdb.table('equity')}")
    assert report["period"]["seconds"] == row["n"] and report["equity"]["last"] == row["e"]
    fills = query(settings.questdb, f"SELECT count() n FROM {settings.questdb.table('fills')}")[0]["n"]
    assert report["metrics"]["fills"] == fills
