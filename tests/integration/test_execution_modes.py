"""Paper execution in both modes on the same capture: the strategy flow reading Kafka and
writing QuestDB gives the orders, fills, positions, equity and risk events that the file
flow writes to Parquet, on one worker and on two; a replay of the same input adds no rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from cobflow.qdb import query, wait_for_wal
from cobflow.sinks.parquet import read_table
from cobflow.tables import EXECUTION_TABLES, FLOW_TABLES, TABLES
from tests.integration.helpers import cobflow
from tests.integration.test_cob_e2e import norm
from tests.integration.test_features_kafka import assert_same_rows
from tests.modeltools import seeded_checkpoints
from tests.unit.test_strategy import SPEC

pytestmark = pytest.mark.integration
CONFIG = Path(__file__).resolve().parent.parent / "data" / "cob_e2e.yaml"
COMPARED = ("decisions", *(t.name for t in EXECUTION_TABLES))


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
    for workers, out in files.items():
        for t in COMPARED:
            assert_same_rows(in_questdb[t], keyed(read_table(out, t).to_pylist(), t), t, f"-w {workers}: {t}")
    # the same input again through the Kafka flow: the dedup keys keep one row each
    cobflow(env, "--config", str(CONFIG), "run", "strategy")
    wait_for_wal(settings.questdb, [settings.questdb.table(t.name) for t in EXECUTION_TABLES])
    for t in COMPARED:
        n = query(settings.questdb, f"select count() n from {settings.questdb.table(t)}")[0]["n"]
        assert n == len(in_questdb[t]), t


def test_a_backtest_of_the_raw_topics_equals_the_backtest_of_the_capture(namespace, tmp_path):
    """`cobflow backtest --from --to` (the raw.* topics of a period) and `--input` (the capture
    that was replayed into them) give the same fills and metrics."""
    import json

    settings, env = namespace
    env["COBFLOW_TRADING__MIN_ORDER_NOTIONAL"] = "0"
    models = str(seeded_checkpoints(tmp_path / "models", SPEC))
    capture = tmp_path / "sim.jsonl"
    cobflow(env, "--config", str(CONFIG), "simulate", "--duration", "60", "--seed", "62", "--alpha", "1",
            "--out", str(capture))
    cobflow(env, "--config", str(CONFIG), "replay", str(capture))
    a, b = tmp_path / "a", tmp_path / "b"
    cobflow(env, "--config", str(CONFIG), "backtest", "--input", str(capture), "--out", str(a), "--models", models,
            "-q")
    printed = cobflow(env, "--config", str(CONFIG), "backtest", "--from", "2026-01-01T00:00:00Z", "--to",
                      "2026-01-01T01:00:00Z", "--out", str(b), "--models", models, "-q")
    assert "from Kafka into" in printed
    ra, rb = (json.loads((d / "report.json").read_text()) for d in (a, b))
    assert ra["metrics"] == rb["metrics"] and ra["metrics"]["fills"] > 0
    assert_same_rows(keyed(read_table(a, "fills").to_pylist(), "fills"),
                     keyed(read_table(b, "fills").to_pylist(), "fills"), "fills")
