"""Simulated traffic (2 symbols x 5 venues) through Kafka -> `bytewax.run "cobflow.dataflows.cob:kafka_flow()"`
-> QuestDB, compared row for row with `cobflow compute` on the same capture: the COB tables
and the feature tables (indicators, pivots, features), also across a resume from the
recovery store in the middle of the indicators' warm-up."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from cobflow.dataflows.sinks.parquet import read_table
from cobflow.models.dataset import LabelSpec
from cobflow.qdb import query, wait_for_wal
from cobflow.tables import FLOW_TABLES
from tests.integration.helpers import cobflow
from tests.modeltools import seeded_checkpoints

pytestmark = pytest.mark.integration
CONFIG = Path(__file__).resolve().parent.parent / "data" / "cob_e2e.yaml"
SPEC = LabelSpec(window_s=10, horizon_s=10)  # 40 s of market: models run from the 10th second


def norm(v):
    if hasattr(v, "timestamp"):
        return round(v.timestamp() * 1e9)
    if isinstance(v, str) and v.endswith("Z") and "T" in v:
        from datetime import datetime
        d = datetime.fromisoformat(v.replace("Z", "+00:00"))
        return round(d.timestamp()) * 1_000_000_000 + d.microsecond * 1000
    return v


def same(a, b) -> bool:
    if isinstance(a, list) or isinstance(b, list):  # a feature vector (DOUBLE[] / Parquet list)
        return a is not None and b is not None and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            return a is b
        return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)
    return a == b


@pytest.mark.parametrize("scale", [[], ["--processes", "2"]], ids=["one-worker", "two-process-cluster"])
def test_kafka_questdb_and_compute_agree_row_for_row(namespace, tmp_path, scale):
    """One worker, and a Bytewax cluster of two processes (each reads some of the raw topics
    and hands messages to the process that owns their symbol): the rows of `compute`."""
    settings, env = namespace
    env["COBFLOW_MODELS__DIR"] = str(seeded_checkpoints(tmp_path / "models", SPEC))  # the models run too
    capture = tmp_path / "sim.jsonl.gz"
    cobflow(env, "--config", str(CONFIG), "simulate", "--duration", "40", "--seed", "17", "--out", str(capture))
    cobflow(env, "--config", str(CONFIG), "replay", str(capture))
    printed = cobflow(env, "--config", str(CONFIG), "run", "strategy", *scale)
    if scale:
        assert printed.count("-i 0 -a") == 1 and printed.count("-i 1 -a") == 1, printed
    assert_questdb_equals_compute(settings, env, capture, tmp_path)


def test_a_two_process_cluster_gives_the_rows_of_compute_on_twenty_symbols(namespace, tmp_path):
    """20 symbols x 5 venues through Kafka into a Bytewax cluster of two processes (addresses
    on this machine, as across machines): the strategy step runs a shard on each, beside the
    books of its symbols; every table equals `cobflow compute` on the same capture."""
    from cobflow.connectors.simulator.universe import symbols_yaml

    settings, env = namespace
    env["COBFLOW_MODELS__DIR"] = str(seeded_checkpoints(tmp_path / "models", SPEC))
    config = tmp_path / "twenty.yaml"
    config.write_text(symbols_yaml(20))
    capture = tmp_path / "twenty.jsonl"
    cobflow(env, "--config", str(config), "simulate", "--duration", "20", "--seed", "29", "--out", str(capture))
    cobflow(env, "--config", str(config), "replay", str(capture))
    printed = cobflow(env, "--config", str(config), "run", "strategy", "--processes", "2")
    assert printed.count("-i 0 -a") == 1 and printed.count("-i 1 -a") == 1, printed
    assert_questdb_equals_compute(settings, env, capture, tmp_path, config)


def test_two_workers_stopped_and_resumed_from_recovery_give_the_same_rows(namespace, tmp_path):
    """Half the capture, stop, the other half, resume from the Bytewax recovery store: with
    two workers, the rows equal one pass over the whole capture (`cobflow compute`)."""
    from cobflow.capture import read_capture, write_capture

    settings, env = namespace
    env["COBFLOW_MODELS__DIR"] = str(seeded_checkpoints(tmp_path / "models", SPEC))
    capture = tmp_path / "sim.jsonl.gz"
    cobflow(env, "--config", str(CONFIG), "simulate", "--duration", "40", "--seed", "23", "--out", str(capture))
    msgs = list(read_capture(capture))
    split = (msgs[0].ts_recv // 1_000_000_000 + 20) * 1_000_000_000  # a second boundary
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    write_capture(first, [m for m in msgs if m.ts_recv < split])
    write_capture(second, [m for m in msgs if m.ts_recv >= split])
    recovery = tmp_path / "recovery"
    cobflow(env, "--config", str(CONFIG), "replay", str(first))
    cobflow(env, "--config", str(CONFIG), "run", "strategy", "-w", "2", "--recovery", str(recovery))
    # The first half is deleted from Kafka: only a flow that resumes its state (books, moving
    # windows, open bars, CVD) can still produce the rows of one pass over everything.
    delete_all_records(settings)
    cobflow(env, "--config", str(CONFIG), "replay", str(second))
    cobflow(env, "--config", str(CONFIG), "run", "strategy", "-w", "2", "--recovery", str(recovery))
    assert_questdb_equals_compute(settings, env, capture, tmp_path)


def delete_all_records(settings) -> None:
    from confluent_kafka import TopicPartition

    from cobflow.kafka_io import admin

    client = admin(settings.kafka)
    md = client.list_topics(timeout=10)
    parts = [TopicPartition(t, p, -1) for t in md.topics if t.startswith(settings.kafka.raw_topic(""))
             for p in md.topics[t].partitions]  # offset -1: up to the high watermark
    for fut in client.delete_records(parts).values():
        fut.result(timeout=30)


def assert_questdb_equals_compute(settings, env, capture, tmp_path, config=CONFIG):
    out = tmp_path / "parquet"
    printed = cobflow(env, "--config", str(config), "compute", "--strategy", "--input", str(capture),
                      "--output", str(out))
    assert "cob_buckets" in printed
    names = [settings.questdb.table(t.name) for t in FLOW_TABLES]
    wait_for_wal(settings.questdb, names)
    for t in FLOW_TABLES:  # the COB tables and the feature tables
        keys = list(t.dedup_keys)
        cols = ["ts", *t.symbols, *(c for c, _ in t.columns)]
        order = ", ".join(f'"{k}"' if k == "offset" else k for k in keys)
        select = ", ".join(f'"{c}"' if c == "offset" else c for c in cols)
        q = query(settings.questdb, f"select {select} from {settings.questdb.table(t.name)} order by {order}")
        p = read_table(out, t.name).to_pylist()
        p.sort(key=lambda r: tuple(norm(r[k]) for k in keys))
        # signals may not fire; model_events are swaps, and a run that does not follow Kafka never swaps
        assert len(q) == len(p) and (len(p) > 0 or t.name in ("signals", "model_events")), t.name
        for qr, pr in zip(q, p):
            for c in cols:
                assert same(norm(qr[c]), norm(pr[c])), (t.name, c, qr, pr)
    # every second of every symbol with a mid has its 41 bucket rows
    n = query(settings.questdb, f"select count() n from {settings.questdb.table('cob_buckets')}")[0]["n"]
    assert n == 41 * len(query(settings.questdb, f"select ts from {settings.questdb.table('cob_summary')} "
                                                 f"where mid is not null"))
