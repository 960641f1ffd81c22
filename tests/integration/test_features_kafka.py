"""The features in Kafka mode: nothing known at a second S moves when every message after it
is deleted or changed (the flow reading Kafka, writing QuestDB), and `cobflow features`
recomputes them from the rows in QuestDB, value for value."""

from __future__ import annotations

from pathlib import Path

import pytest

from cobflow.capture import read_capture, write_capture
from cobflow.dataflows.sinks.parquet import read_table
from cobflow.metrics.trades import TIMEFRAMES
from cobflow.qdb import query, wait_for_wal
from cobflow.tables import FEATURE_TABLES, FLOW_TABLES, TABLES
from tests.integration.helpers import cobflow
from tests.integration.test_cob_e2e import norm, same

pytestmark = pytest.mark.integration
CONFIG = Path(__file__).resolve().parent.parent / "data" / "cob_e2e.yaml"
S = 1_000_000_000
KNOWN = ("features", "data_quality", "indicators", "pivots")


def known_at(rows: list[dict], table: str, s: int) -> list[dict]:
    """The rows of a table a reader may use at second s (FEATURES.md's rule)."""
    if table in ("features", "data_quality"):
        keep = [r for r in rows if norm(r["ts"]) // S <= s]
    elif table == "indicators":
        keep = [r for r in rows if norm(r["ts"]) // S + TIMEFRAMES[r["timeframe"]] <= s + 1]
    else:
        keep = [r for r in rows if norm(r["confirmed_ts"]) <= (s + 1) * S]
    keys = TABLES[table].dedup_keys
    return sorted(keep, key=lambda r: tuple(norm(r[k]) for k in keys))


def assert_same_rows(a: list[dict], b: list[dict], table: str, what: str = "") -> None:
    assert len(a) == len(b) > 0, (what or table, len(a), len(b))
    cols = ["ts", *TABLES[table].symbols, *(c for c, _ in TABLES[table].columns)]
    for x, y in zip(a, b):
        for c in cols:
            assert same(norm(x[c]), norm(y[c])), (what or table, c, x, y)


def simulated_into_questdb(settings, env, tmp_path, seconds: int, seed: int) -> None:
    """A simulated market replayed into Kafka and through `cobflow run cob` into QuestDB."""
    capture = tmp_path / "sim.jsonl"
    cobflow(env, "--config", str(CONFIG), "simulate", "--duration", str(seconds), "--seed", str(seed),
            "--out", str(capture))
    cobflow(env, "--config", str(CONFIG), "replay", str(capture))
    cobflow(env, "--config", str(CONFIG), "run", "cob")
    wait_for_wal(settings.questdb, [settings.questdb.table(t.name) for t in FLOW_TABLES])


def questdb_rows(settings, table: str) -> list[dict]:
    return query(settings.questdb, f"select * from {settings.questdb.table(table)}")


def test_kafka_mode_changes_nothing_known_at_s_when_the_input_after_it_is_cut_or_changed(namespace, tmp_path):
    settings, env = namespace
    full, other = tmp_path / "full.jsonl", tmp_path / "other.jsonl"
    cobflow(env, "--config", str(CONFIG), "simulate", "--duration", "50", "--seed", "41", "--out", str(full))
    cobflow(env, "--config", str(CONFIG), "simulate", "--duration", "50", "--seed", "42", "--out", str(other))
    msgs = list(read_capture(full))
    s = msgs[0].ts_recv // S + 37
    end = (s + 1) * S
    reference = tmp_path / "reference"
    cobflow(env, "--config", str(CONFIG), "compute", "--input", str(full), "--output", str(reference))
    want = {t: known_at(read_table(reference, t).to_pylist(), t, s) for t in KNOWN}
    variants = {"cut": [m for m in msgs if m.ts_recv < end],
                "changed": [m for m in msgs if m.ts_recv < end] + [m for m in read_capture(other) if m.ts_recv >= end]}
    for name, variant in variants.items():
        capture = tmp_path / f"{name}.jsonl"
        write_capture(capture, sorted(variant, key=lambda m: m.ts_recv))
        cobflow(env, "--config", str(CONFIG), "replay", str(capture), "--reset")
        for t in FLOW_TABLES:  # a clean slate: the previous variant's rows are not this one's
            query(settings.questdb, f"drop table if exists {settings.questdb.table(t.name)}")
        cobflow(env, "--config", str(CONFIG), "run", "cob")
        wait_for_wal(settings.questdb, [settings.questdb.table(t) for t in KNOWN])
        for t in KNOWN:
            assert_same_rows(known_at(questdb_rows(settings, t), t, s), want[t], t, f"{name}: {t}")


def test_cobflow_features_from_questdb_gives_the_flows_values(namespace, tmp_path):
    settings, env = namespace
    simulated_into_questdb(settings, env, tmp_path, 45, 43)
    out = tmp_path / "recomputed"
    printed = cobflow(env, "--config", str(CONFIG), "features", "--output", str(out), "--quiet")
    assert "seconds read" in printed
    for t in FEATURE_TABLES:
        keys = t.dedup_keys
        flow = sorted(questdb_rows(settings, t.name), key=lambda r: tuple(norm(r[k]) for k in keys))
        again = sorted(read_table(out, t.name).to_pylist(), key=lambda r: tuple(norm(r[k]) for k in keys))
        assert_same_rows(flow, again, t.name)


def test_cobflow_train_reads_its_samples_from_questdb(namespace, tmp_path):
    """`cobflow train cnn|dqn --from --to`: the rows in QuestDB, exported once, trained on."""
    settings, env = namespace
    env.update({"COBFLOW_MODELS__WINDOW_S": "10", "COBFLOW_MODELS__HORIZON_S": "5"})  # 60 s of market is enough
    simulated_into_questdb(settings, env, tmp_path, 60, 45)
    models = tmp_path / "models"
    span = ("--from", "2026-01-01T00:00:00Z", "--to", "2026-01-01T00:01:00Z")
    for kind in ("cnn", "dqn"):
        printed = cobflow(env, "--config", str(CONFIG), "train", kind, *span, "--out", str(models), "--epochs", "1",
                          "--stride", "1", "-q")
        assert f"trained {kind}" in printed and "kept as" in printed, printed
    listed = cobflow(env, "models", "list", "--dir", str(models))
    lines = [line.split() for line in listed.splitlines()[1:] if "the champion:" not in line]
    assert [(w[0], w[1], w[2], w[-1]) for w in lines] == [("*", "cnn", "1", "v1"), ("*", "dqn", "1", "v1")], listed
    # the training rows came through QuestDB's Parquet export: the same rows as its JSON answer
    from cobflow.app.recompute import _arrow, _exported

    for name in ("features", "cob_summary", "cob_buckets", "pivots"):
        streamed = _exported(settings.questdb, name, "")
        answered = _arrow(name, query(settings.questdb, f"SELECT * FROM {settings.questdb.table(name)} ORDER BY ts"))
        assert streamed.num_rows == answered.num_rows > 0, name
        key = [(c, "ascending") for c in ("ts", *TABLES[name].symbols)] + (
            [("offset", "ascending")] if name == "cob_buckets" else []) + (
            [("level", "ascending")] if name == "pivots" else [])
        assert streamed.sort_by(key).equals(answered.sort_by(key)), name
