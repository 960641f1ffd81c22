"""Paper execution in both modes on the same capture: the strategy flow reading Kafka and
writing QuestDB gives the orders, fills, positions, equity and risk events that the file
flow writes to Parquet, on one worker and on two; a replay of the same input adds no rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from cobflow.dataflows.sinks.parquet import read_table
from cobflow.qdb import query, wait_for_wal
from cobflow.tables import EXECUTION_TABLES, FLOW_TABLES, TABLES
from tests.integration.helpers import cobflow
from tests.integration.test_cob_e2e import norm
from tests.integration.test_features_kafka import assert_same_rows
from tests.modeltools import seeded_checkpoints
from tests.unit.test_strategy import SPEC

pytestmark = pytest.mark.integration
CONFIG = Path(__file__).resolve().parent.parent / "data" / "cob_e2e.yaml"
COMPARED = ("decisions", *(t.name for t in EXECUTION_TABLES))


def run_in(cwd: Path, env: dict, *args: str) -> str:
    """`cobflow ARGS` in folder cwd (no symbols.yaml there), stdout and stderr together."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "cobflow", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout + proc.stderr


def keyed(rows: list[dict], table: str) -> list[dict]:
    keys = TABLES[table].dedup_keys
    return sorted(rows, key=lambda r: tuple(norm(r[k]) for k in keys))


def test_kafka_and_file_modes_and_two_workers_give_the_same_account(namespace, tmp_path):
    settings, env = namespace
    env["COBFLOW_MODELS__DIR"] = str(seeded_checkpoints(tmp_path / "models", SPEC))
    env["COBFLOW_TRADING__MIN_ORDER_NOTIONAL"] = "0"  # an order nearly every second: much to compare
    capture = tmp_path / "sim.jsonl"
    cobflow(env, "--config", str(CONFIG), "simulate", "--duration", "90", "--seed", "61", "--alpha", "1",
            "--out", str(capture))
    cobflow(env, "--config", str(CONFIG), "replay", str(capture))
    cobflow(env, "--config", str(CONFIG), "run", "strategy")
    wait_for_wal(settings.questdb, [settings.questdb.table(t.name) for t in FLOW_TABLES])
    files = {}
    for workers in ("1", "2"):
        out = tmp_path / f"pq{workers}"
        cobflow(env, "--config", str(CONFIG), "compute", "--strategy", "--input", str(capture), "--output", str(out),
                "-w", workers)
        files[workers] = out
    in_questdb = {t: keyed(query(settings.questdb, f"select * from {settings.questdb.table(t)}"), t)
                  for t in COMPARED}
    assert len(in_questdb["fills"]) > 20 and len(in_questdb["equity"]) >= 89
    # the run recorded its symbols file, and `report --run` draws with it (no --config given)
    [recorded] = query(settings.questdb, f"select * from {settings.questdb.table('runs')}")
    assert recorded["run"] == "paper" and recorded["symbols_yaml"] == CONFIG.read_text()
    bare = {k: v for k, v in env.items() if k != "COBFLOW_SYMBOLS_FILE"}
    printed = run_in(tmp_path, bare, "report", "--symbol", "ETH-USD", "--run", "paper", "--out", "rep")
    assert "symbols: the file run 'paper' recorded" in printed
    assert (tmp_path / "rep" / "symbols.yaml").read_text() == CONFIG.read_text()
    assert (tmp_path / "rep" / "ETH-USD-trading.png").is_file()
    for workers, out in files.items():
        for t in COMPARED:
            assert_same_rows(in_questdb[t], keyed(read_table(out, t).to_pylist(), t), t, f"-w {workers}: {t}")
    # the same input again through the Kafka flow: the dedup keys keep one row each
    cobflow(env, "--config", str(CONFIG), "run", "strategy")
    wait_for_wal(settings.questdb, [settings.questdb.table(t.name) for t in EXECUTION_TABLES])
    for t in COMPARED:
        n = query(settings.questdb, f"select count() n from {settings.questdb.table(t)}")[0]["n"]
        assert n == len(in_questdb[t]), t


def test_a_backtest_of_the_raw_topics_lands_in_questdb_under_its_run_and_equals_the_capture_run(namespace,
                                                                                                 tmp_path):
    """`cobflow backtest --from --to`: the raw.* topics of the period through the strategy flow
    in Kafka mode into QuestDB under its run id, beside other runs; the same fills and metrics
    as `--input` on the capture that was replayed into those topics."""
    import json

    settings, env = namespace
    env["COBFLOW_TRADING__MIN_ORDER_NOTIONAL"] = "0"
    models = str(seeded_checkpoints(tmp_path / "models", SPEC))
    capture = tmp_path / "sim.jsonl"
    cobflow(env, "--config", str(CONFIG), "simulate", "--duration", "60", "--seed", "62", "--alpha", "1",
            "--out", str(capture))
    cobflow(env, "--config", str(CONFIG), "replay", str(capture))
    a = tmp_path / "a"
    cobflow(env, "--config", str(CONFIG), "backtest", "--input", str(capture), "--out", str(a), "--models", models,
            "-q")
    ra = json.loads((a / "report.json").read_text())
    span = ("--from", "2026-01-01T00:00:00Z", "--to", "2026-01-01T01:00:00Z")
    for run in ("bt-one", "bt-two"):
        printed = cobflow(env, "--config", str(CONFIG), "backtest", *span, "--run-id", run, "--out",
                          str(tmp_path / run), "--models", models, "-q")
        assert f"run '{run}' is in QuestDB" in printed
        rb = json.loads((tmp_path / run / "report.json").read_text())
        assert rb["run"] == run and ra["metrics"] == rb["metrics"] and ra["metrics"]["fills"] > 0
    q = settings.questdb
    runs = query(q, f"select run, count() n from {q.table('equity')} order by run")
    n = ra["period"]["seconds"]  # each run and its buy-and-hold baseline, one equity row a second
    assert [(r["run"], r["n"]) for r in runs] == [("bt-one", n), ("bt-one.buy_and_hold", n), ("bt-two", n),
                                                  ("bt-two.buy_and_hold", n)]
    assert rb["baselines"] == ra["baselines"] and ra["baselines"]["buy_and_hold"]["fills"] > 0
    for run, mine in (("bt-one", "paper"), ("bt-one.buy_and_hold", "paper.buy_and_hold")):
        in_questdb = query(q, f"select * from {q.table('fills')} where run = '{run}'")
        in_file = [{**r, "run": run} for r in read_table(a, "fills").to_pylist() if r["run"] == mine]
        assert_same_rows(keyed(in_questdb, "fills"), keyed(in_file, "fills"), "fills")
    recorded = query(q, f"select run, symbols_yaml, code_version from {q.table('runs')} order by ts")
    assert [r["run"] for r in recorded] == ["bt-one", "bt-two"]
    assert all(r["symbols_yaml"] == CONFIG.read_text() and r["code_version"].startswith("cobflow ") for r in recorded)
    # only the run's own rows: nothing in the COB flow's tables, nor the strategy's outputs
    for table in ("cob_summary", "features", "model_outputs", "signals"):
        assert query(q, f"select count() n from {q.table(table)}")[0]["n"] == 0, table


def test_the_example_strategies_side_by_side_give_the_same_fills_from_kafka_and_from_a_file(namespace, tmp_path):
    """Two strategies written only against the public API, from outside the package, each its
    own account: Kafka -> QuestDB and the capture -> Parquet give the same rows."""
    settings, env = namespace
    names = ("examples.strategies.imbalance_reversion:ImbalanceReversion,"
             "examples.strategies.pivot_breakout:PivotBreakout")
    env["COBFLOW_TRADING__MIN_ORDER_NOTIONAL"] = "0"
    capture = tmp_path / "sim.jsonl"
    cobflow(env, "--config", str(CONFIG), "simulate", "--duration", "120", "--seed", "62", "--alpha", "1",
            "--out", str(capture))
    cobflow(env, "--config", str(CONFIG), "replay", str(capture))
    cobflow(env, "--config", str(CONFIG), "run", "strategy", "--strategy", names)
    wait_for_wal(settings.questdb, [settings.questdb.table(t.name) for t in FLOW_TABLES])
    out = tmp_path / "pq"
    cobflow(env, "--config", str(CONFIG), "compute", "--strategy", names, "--input", str(capture), "--output", str(out))
    in_questdb = {t: keyed(query(settings.questdb, f"select * from {settings.questdb.table(t)}"), t)
                  for t in COMPARED}
    assert {r["run"] for r in in_questdb["equity"]} == {"paper-imbalancereversion", "paper-pivotbreakout"}
    assert {r["run"] for r in in_questdb["fills"]} == {"paper-imbalancereversion", "paper-pivotbreakout"}
    assert not query(settings.questdb, f"select count() n from {settings.questdb.table('model_outputs')}")[0]["n"]
    for t in COMPARED:
        assert_same_rows(in_questdb[t], keyed(read_table(out, t).to_pylist(), t), t, t)


def test_beside_the_cob_flow_the_strategy_flow_still_reports_its_plug_ins_dead_letters(namespace, tmp_path):
    """docker compose's strategy service writes only its own tables (COB_TABLES=false: the COB
    flow reports the input's dead letters); a strategy that raises still leaves its dead
    letters, one per refused second."""
    settings, env = namespace
    env["COBFLOW_FLOW__COB_TABLES"] = "false"
    capture = tmp_path / "sim.jsonl"
    cobflow(env, "--config", str(CONFIG), "simulate", "--duration", "40", "--seed", "63", "--out", str(capture))
    cobflow(env, "--config", str(CONFIG), "replay", str(capture))
    cobflow(env, "--config", str(CONFIG), "run", "strategy", "--strategy", "tests.unit.test_strategy_api:Raising")
    wait_for_wal(settings.questdb, [settings.questdb.table(t) for t in ("decisions", "dead_letters")])
    errors = query(settings.questdb, f"select count() n from {settings.questdb.table('decisions')} "
                                     "where reason = 'strategy_error'")[0]["n"]
    dead = query(settings.questdb, f"select stage, venue, reason from {settings.questdb.table('dead_letters')}")
    assert errors > 0 and len(dead) == errors
    assert {d["stage"] for d in dead} == {"strategy"} and {d["venue"] for d in dead} == {"cobflow"}
    assert all("Raising.on_second raised RuntimeError: boom at" in d["reason"] for d in dead)


def maker_from_kafka(settings, env: dict, tmp_path: Path) -> Path:
    """Two minutes of a simulated market replayed into Kafka, the strategy flow (maker: resting
    limit orders, an order a second allowed) reading it into QuestDB; the capture."""
    env["COBFLOW_MODELS__DIR"] = str(seeded_checkpoints(tmp_path / "models", SPEC))
    env["COBFLOW_TRADING__MIN_ORDER_NOTIONAL"] = "0"
    env["COBFLOW_TRADING__MAX_ORDERS_PER_MINUTE"] = "60"
    capture = tmp_path / "sim.jsonl"
    cobflow(env, "--config", str(CONFIG), "simulate", "--duration", "120", "--seed", "63", "--alpha", "1",
            "--out", str(capture))
    cobflow(env, "--config", str(CONFIG), "replay", str(capture))
    cobflow(env, "--config", str(CONFIG), "run", "strategy", "--strategy", "maker")
    wait_for_wal(settings.questdb, [settings.questdb.table(t.name) for t in FLOW_TABLES])
    return capture


def test_the_maker_strategy_rests_and_fills_the_same_from_kafka_and_from_files_on_one_and_two_workers(
        namespace, tmp_path):
    """Resting limit orders (EXECUTION.md "Limit, stop and cancel orders") in both modes: the
    same orders rows (every state change), maker and taker fills, positions and equity."""
    settings, env = namespace
    capture = maker_from_kafka(settings, env, tmp_path)
    in_questdb = {t: keyed(query(settings.questdb, f"select * from {settings.questdb.table(t)}"), t)
                  for t in COMPARED}
    liquidity = {r["liquidity"] for r in in_questdb["fills"]}
    assert "maker" in liquidity, liquidity  # resting orders filled (taker fills come with max_wait_s)
    assert {r["status"] for r in in_questdb["orders"]} >= {"new", "open", "filled"}
    for workers in ("1", "2"):
        out = tmp_path / f"pq{workers}"
        cobflow(env, "--config", str(CONFIG), "compute", "--strategy", "maker", "--input", str(capture),
                "--output", str(out), "-w", workers)
        for t in COMPARED:
            assert_same_rows(in_questdb[t], keyed(read_table(out, t).to_pylist(), t), t, f"-w {workers}: {t}")
    # the Trading dashboard's resting orders and fills by liquidity, on these rows in QuestDB
    from cobflow.app.dashboards import DASHBOARD_DIR
    from cobflow.app.dashboards.validate import Report, TimeRange, load_dashboards, validate_dashboard, with_table_prefix

    resting = [r for r in in_questdb["orders"] if r["type"] == "limit" and r["status"] == "open"]
    dash = load_dashboards(DASHBOARD_DIR)["cobflow-trading.json"]
    for v in dash["templating"]["list"]:
        if v["name"] == "symbol":
            v["current"] = {"value": resting[0]["symbol"]}
    ts = [norm(r["ts"]) // 1_000_000 for r in in_questdb["equity"]]  # ms
    span = TimeRange.parse(str(min(ts)), str(max(ts) + 1000), 0)
    report = Report()
    validate_dashboard("trading", dash, lambda sql: query(settings.questdb, with_table_prefix(
        sql, settings.questdb.table_prefix)), span, report)
    assert not report.problems, report.problems
    got = {(q.panel, q.ref): q for q in report.queries}
    fills_panel = next(k for k in got if k[0].startswith("Fills and resting orders"))[0]
    assert got[(fills_panel, "C")].rows and got[(fills_panel, "B")].rows, got
    fees = got[("Fees by venue and liquidity in range", "A")]
    assert fees.error is None and fees.rows, fees
