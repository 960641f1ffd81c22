"""Simulated traffic (2 symbols x 5 venues) through Kafka -> `bytewax.run dataflows.cob:flow`
-> QuestDB, compared row for row with `cobflow compute` on the same capture."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from cobflow.qdb import query, wait_for_wal
from cobflow.sinks.parquet import read_table
from cobflow.tables import COB_TABLES
from tests.integration.helpers import cobflow, run

pytestmark = pytest.mark.integration
CONFIG = Path(__file__).resolve().parent.parent / "data" / "cob_e2e.yaml"


def norm(v):
    if hasattr(v, "timestamp"):
        return round(v.timestamp() * 1e9)
    if isinstance(v, str) and v.endswith("Z") and "T" in v:
        from datetime import datetime
        d = datetime.fromisoformat(v.replace("Z", "+00:00"))
        return round(d.timestamp()) * 1_000_000_000 + d.microsecond * 1000
    return v


def same(a, b) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            return a is b
        return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)
    return a == b


def test_kafka_questdb_and_compute_agree_row_for_row(namespace, tmp_path):
    settings, env = namespace
    capture = tmp_path / "sim.jsonl.gz"
    cobflow(env, "--config", str(CONFIG), "simulate", "--duration", "40", "--seed", "17", "--out", str(capture))
    cobflow(env, "--config", str(CONFIG), "replay", str(capture))
    cobflow(env, "--config", str(CONFIG), "run", "cob")
    out = tmp_path / "parquet"
    printed = cobflow(env, "--config", str(CONFIG), "compute", "--input", str(capture), "--output", str(out))
    assert "cob_buckets" in printed
    names = [settings.questdb.table(t.name) for t in COB_TABLES]
    wait_for_wal(settings.questdb, names)
    for t in COB_TABLES:
        keys = ["ts", *t.symbols] + (["offset"] if any(c == "offset" for c, _ in t.columns) else [])
        cols = ["ts", *t.symbols, *(c for c, _ in t.columns)]
        order = ", ".join(f'"{k}"' if k == "offset" else k for k in keys)
        select = ", ".join(f'"{c}"' if c == "offset" else c for c in cols)
        q = query(settings.questdb, f"select {select} from {settings.questdb.table(t.name)} order by {order}")
        p = read_table(out, t.name).to_pylist()
        p.sort(key=lambda r: tuple(norm(r[k]) for k in keys))
        assert len(q) == len(p) > 0, t.name
        for qr, pr in zip(q, p):
            for c in cols:
                assert same(norm(qr[c]), norm(pr[c])), (t.name, c, qr, pr)
    # every second of both symbols is there: 40 s of market, 41 buckets each
    n = query(settings.questdb, f"select count() n from {settings.questdb.table('cob_buckets')}")[0]["n"]
    assert n == 41 * len(query(settings.questdb, f"select ts from {settings.questdb.table('cob_summary')} "
                                                 f"where mid is not null"))
