"""Faults a deployment meets, on the real servers: QuestDB killed (kill -9) under a running
flow and started again, and the flow killed with kill -9 after a snapshot and resumed.
Every row equals `cobflow compute` on the same messages, no key twice, every dead letter
once in the dlq topic, and an outage is two lines in the flow's log, not a crash."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from cobflow.app.services.manager import Kafka, QuestDB, _pid_alive
from cobflow.capture import read_capture, write_capture
from cobflow.dataflows.sinks.parquet import read_table
from cobflow.qdb import query, wait_for_wal
from tests.integration.helpers import cobflow
from tests.integration.test_compose_commands import TESTED_COMMANDS, local, start, stop, wait_for

pytestmark = pytest.mark.integration
CONFIG = Path(__file__).resolve().parent.parent / "data" / "cob_e2e.yaml"
S = 1_000_000_000


def _count(settings, table: str) -> int:
    try:
        return query(settings.questdb, f"SELECT count() n FROM {settings.questdb.table(table)}")[0]["n"]
    except RuntimeError:
        return 0


@pytest.fixture(scope="module")
def market(tmp_path_factory) -> tuple[Path, Path]:
    """25 minutes of market and `cobflow compute`'s rows of it: both faults' capture and reference."""
    folder = tmp_path_factory.mktemp("faults")
    capture, reference = folder / "sim.jsonl", folder / "reference"
    env = {**os.environ, "COBFLOW_SYMBOLS_FILE": str(CONFIG)}
    cobflow(env, "--config", str(CONFIG), "simulate", "--duration", "1500", "--seed", "41", "--out", str(capture))
    cobflow(env, "--config", str(CONFIG), "compute", "--input", str(capture), "--output", str(reference))
    return capture, reference


@pytest.mark.parametrize("server", ["questdb", "kafka"])
def test_a_server_killed_and_restarted_mid_run_loses_and_duplicates_nothing(namespace, tmp_path, server, market):
    """25 minutes of market in the topics, the COB flow reading them (to their end, as a
    replay or a Kafka backtest does); QuestDB (or Kafka) killed once the first rows are in,
    started again 8 s later. The flow waits for it and goes on: every row of every table
    equals `cobflow compute` on the same capture."""
    from cobflow.tables import COB_TABLES, FEATURE_TABLES, TABLES

    settings, env = namespace
    env["COBFLOW_SYMBOLS_FILE"] = str(CONFIG)
    capture, reference = market
    cobflow(env, "replay", str(capture))
    log = tmp_path / "flow.log"
    victim = QuestDB(settings) if server == "questdb" else Kafka(settings)
    with open(log, "ab") as out:
        flow = start(local(["cobflow", "run", "cob"]), env, out)
        try:
            wait_for(lambda: _count(settings, "cob_summary") > 0, 120, "the first rows", log)
            pid = victim.pid()
            assert pid is not None
            os.kill(pid, signal.SIGKILL)  # the server dies under the running flow
            while _pid_alive(pid):
                time.sleep(0.1)
            time.sleep(8)
            assert flow.poll() is None, log.read_text()[-3000:]  # still there, waiting for it
            assert victim.start()
            assert flow.wait(300) == 0, log.read_text()[-3000:]  # and then to the end of the topics
        finally:
            if flow.poll() is None:
                stop(flow)
    text = log.read_text()
    assert "Traceback" not in text and "panicked" not in text, text[-3000:]
    if server == "questdb":  # (librdkafka reconnects to a restarted broker without a word)
        assert text.count("is away (") == 1 and text.count("QuestDB is back after") == 1, text[-3000:]
    names = [t.name for t in (*COB_TABLES, *FEATURE_TABLES) if t.name != "signals"]
    wait_for_wal(settings.questdb, [settings.questdb.table(n) for n in names])
    for name in names:
        t = TABLES[name]
        keys = list(t.dedup_keys)
        cols = ["ts", *t.symbols, *(c for c, _ in t.columns)]
        select = ", ".join(f'"{c}"' if c == "offset" else c for c in cols)
        got = query(settings.questdb, f"SELECT {select} FROM {settings.questdb.table(name)}")
        want = read_table(reference, name).to_pylist()
        got_keys, want_keys = [_key(r, keys) for r in got], [_key(r, keys) for r in want]
        assert len(set(got_keys)) == len(got), f"{name}: a key twice"
        assert sorted(got_keys) == sorted(want_keys), f"{name}: rows lost or added"
        got_by = dict(zip(got_keys, got))
        for k, r in zip(want_keys, want):
            for c in cols:
                assert _same(_norm(got_by[k][c]), _norm(r[c])), (name, c, k)


def _key(row: dict, keys: list[str]) -> tuple:
    return tuple(_norm(row[k]) for k in keys)


def _norm(v):
    from tests.integration.test_cob_e2e import norm

    return norm(v)


def _same(a, b) -> bool:
    from tests.integration.test_cob_e2e import same

    return same(a, b)


def test_kill_9_after_a_snapshot_and_resume_every_dead_letter_once_in_the_dlq(namespace, tmp_path):
    """Malformed frames in the feed, the follow-mode flow killed with kill -9 after a
    snapshot, then resumed from its recovery store: the dlq topic (read_committed, as any
    consumer reads it by default) holds each dead letter once, with a stable id, and the
    dead_letters table agrees (it had 1,375 records for 1,232 dead letters)."""
    from dataclasses import replace

    from tests.integration.helpers import consume_all

    settings, env = namespace
    env["COBFLOW_SYMBOLS_FILE"] = str(CONFIG)
    capture = tmp_path / "sim.jsonl"
    cobflow(env, "--config", str(CONFIG), "simulate", "--duration", "60", "--seed", "43", "--out", str(capture))
    msgs = list(read_capture(capture))
    bad = 0
    for i, m in enumerate(msgs):  # one binance frame in 40 unreadable: a parse dead letter each
        if m.exchange == "binance" and m.kind == "ws" and i % 40 == 0:
            msgs[i] = replace(m, payload="{not json " + str(i))
            bad += 1
    t0 = msgs[0].ts_recv // S * S
    halves = [tmp_path / "a.jsonl", tmp_path / "b.jsonl"]
    write_capture(halves[0], [m for m in msgs if m.ts_recv < t0 + 30 * S])
    write_capture(halves[1], [m for m in msgs if m.ts_recv >= t0 + 30 * S])
    recovery, log = tmp_path / "recovery", tmp_path / "flow.log"
    with open(log, "ab") as out:
        cobflow(env, "replay", str(halves[0]))
        flow = start(local(TESTED_COMMANDS["cob"], recovery), env, out)
        try:
            wait_for(lambda: _count(settings, "cob_summary") >= 2 * 25, 120, "the first half's rows", log)
            time.sleep(7)  # past a snapshot (every 5 s)
        finally:
            os.killpg(flow.pid, signal.SIGKILL)  # no goodbye: whatever was not snapshotted is redone
            flow.wait()
        cobflow(env, "replay", str(halves[1]))
        flow = start(local(TESTED_COMMANDS["cob"], recovery), env, out)
        try:
            wait_for(lambda: _count(settings, "cob_summary") >= 2 * 59, 120, "the second half's rows", log)
            time.sleep(4)
        finally:
            stop(flow)
    dlq = consume_all(settings.kafka, settings.kafka.dlq())
    ids = [dict(m.headers())["id"] for m in dlq]
    stages = [json.loads(m.value())["stage"] for m in dlq]
    assert len(ids) == len(set(ids)), f"{len(ids) - len(set(ids))} dead letters twice in the dlq topic"
    assert stages.count("parse") == bad  # each damaged frame; the gaps they leave are `sync` ones
    wait_for_wal(settings.questdb, [settings.questdb.table("dead_letters")])
    rows = query(settings.questdb, f"SELECT count() n FROM {settings.questdb.table('dead_letters')}")[0]["n"]
    assert rows == len(ids)
