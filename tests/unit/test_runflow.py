"""How flows are started: a recovery store used by one flow at a time, and no flow process
left running when the command that started it is killed (kill -9 included)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from cobflow.app.runflow import LOCK, RecoveryInUse, lock_recovery

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_a_recovery_store_is_locked_by_one_flow_at_a_time(tmp_path):
    fd = lock_recovery(tmp_path / "rec")
    with pytest.raises(RecoveryInUse, match=rf"rec is in use by another flow \(pid {os.getpid()}\); stop that flow"):
        lock_recovery(tmp_path / "rec")
    os.close(fd)
    os.close(lock_recovery(tmp_path / "rec"))  # free again


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


def _cmdline(pid: int) -> str:
    try:
        return open(f"/proc/{pid}/cmdline").read()
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = open(f"/proc/{pid}/stat").read().split()[2] if os.path.exists(f"/proc/{pid}/stat") else "X"
    return state != "Z"


def test_kill_9_of_the_starter_ends_the_flow_and_frees_its_recovery_store(tmp_path):
    rec = tmp_path / "rec"
    starter = subprocess.Popen([sys.executable, "-c", (
        "import sys; from pathlib import Path; from cobflow.app.runflow import run_flow; "
        f"sys.exit(run_flow('tests.idleflow:flow()', recovery=Path({str(rec)!r})))")],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": ROOT}, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        kids: list[int] = []
        while not kids and time.monotonic() < deadline:  # (the recovery store's set-up runs first)
            time.sleep(0.2)
            kids = [k for k in _children(starter.pid) if "runflow" in _cmdline(k)]
        assert kids, "the flow did not start"
        time.sleep(2)  # the flow is up and holds the store
        with pytest.raises(RecoveryInUse):
            lock_recovery(rec)
        os.kill(starter.pid, signal.SIGKILL)
        starter.wait()
        deadline = time.monotonic() + 30
        while any(_alive(k) for k in kids) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(_alive(k) for k in kids), "the flow outlived the command that started it"
        os.close(lock_recovery(rec))  # and its store is free
        assert (rec / LOCK).exists()
    finally:
        if starter.poll() is None:
            starter.kill()


def test_a_flow_without_a_recovery_store_keeps_no_snapshots_one_with_a_store_does():
    from cobflow.app.runflow import mark_recovery

    env: dict[str, str] = {}
    mark_recovery(["bytewax.run", "cobflow.dataflows.cob:kafka_flow()", "-w", "1", "-s", "1"], env)
    assert env == {"COBFLOW_FLOW__RECOVERY": "false"}
    for store in (["-r", "/tmp/store"], ["--recovery-directory", "/tmp/store"]):
        env = {}
        mark_recovery(["bytewax.run", "cobflow.dataflows.cob:kafka_flow()", *store, "-s", "5"], env)
        assert env == {}  # the default, true: the sinks wait and the steps copy
    env = {"COBFLOW_FLOW__RECOVERY": "true"}
    mark_recovery(["bytewax.run", "x:y()"], env)
    assert env == {"COBFLOW_FLOW__RECOVERY": "true"}  # set by the user: kept


def test_a_flow_knows_its_workers_in_all_and_its_processes_from_its_command_line():
    from cobflow.app.runflow import flow_commands, mark_workers

    cases = [(["-w", "2"], {}, "2", "1"), (["-w", "2", "-i", "1", "-a", "h1:2101;h2:2101;h3:2101"], {}, "6", "3"),
             (["--workers-per-process", "3", "--addresses", "127.0.0.1:1"], {}, "3", "1"), ([], {}, "1", "1"),
             ([], {"BYTEWAX_WORKERS_PER_PROCESS": "2", "BYTEWAX_ADDRESSES": "a:1;b:1"}, "4", "2"),
             (["-w", "2"], {"COBFLOW_FLOW__WORKERS": "5", "COBFLOW_FLOW__PROCESSES": "5"}, "5", "5")]  # the user's
    for args, env, workers, processes in cases:
        env = dict(env)
        mark_workers(["bytewax.run", "x:y()", *args], env)
        assert (env["COBFLOW_FLOW__WORKERS"], env["COBFLOW_FLOW__PROCESSES"]) == (workers, processes), (args, env)
    for cmd in flow_commands("x:y()", 2, processes=3):  # what `cobflow run --processes 3 -w 2` starts
        env = {}
        mark_workers(["bytewax.run", *cmd[3:]], env)
        assert (env["COBFLOW_FLOW__WORKERS"], env["COBFLOW_FLOW__PROCESSES"]) == ("6", "3")


def test_a_steps_snapshot_is_a_copy_with_a_store_and_nothing_without(monkeypatch):
    from cobflow.operators import state

    for kept, expected in (("true", True), ("false", False)):
        monkeypatch.setenv("COBFLOW_FLOW__RECOVERY", kept)
        state._kept.cache_clear()
        live = {"book": [1, 2]}
        snap = state.snapshot(live)
        if expected:
            live["book"].append(3)  # the flow goes on changing its state ...
            assert snap == (state.STATE_LAYOUT, {"book": [1, 2]})  # ... the snapshot does not change
        else:
            assert snap is None
    state._kept.cache_clear()
