"""`cobflow services` on a second pair of servers (other ports, own data): idempotent up,
status with versions, cleanup after a crash, one server started, restarted, stopped alone,
nothing left behind by down."""

from __future__ import annotations

import os
import signal
import sys
import time

import pytest

from cobflow.app.services.manager import _pid_alive
from tests.integration.helpers import run

pytestmark = pytest.mark.integration


def test_up_twice_status_crash_and_down(services, tmp_path):
    home = tmp_path / "svc"
    (home / "cache").mkdir(parents=True)
    for d in (services.services.home / "cache").iterdir():  # reuse the fetched jars
        (home / "cache" / d.name).symlink_to(d)
    from cobflow.app.runflow import free_ports
    from tests.conftest import PORTS

    env = {**os.environ, "COBFLOW_SERVICES__HOME": str(home),
           **{f"COBFLOW_{name}": str(port) for name, port in zip(PORTS, free_ports(len(PORTS)))}}
    cli = [sys.executable, "-m", "cobflow", "services"]
    pid_files = [home / "run" / "kafka" / "pid", home / "run" / "questdb" / "pid"]
    try:
        out = run(env, *cli, "up")
        kv, qv = services.services.kafka_version, services.services.questdb_version
        assert f"kafka    {kv}" in out and f"questdb  {qv}" in out and out.count("healthy") >= 2
        pids = [int(p.read_text()) for p in pid_files]
        assert all(_pid_alive(p) for p in pids)

        out = run(env, *cli, "up")
        assert "already running" in out
        assert [int(p.read_text()) for p in pid_files] == pids  # no second server

        os.kill(pids[0], signal.SIGKILL)  # Kafka crashes
        while _pid_alive(pids[0]):
            time.sleep(0.1)
        out = run(env, *cli, "status")
        assert "kafka" in out and "stopped" in out

        # one server at a time: the other keeps its process
        out = run(env, *cli, "up", "kafka")
        assert out.startswith("kafka") and "questdb" not in out
        kafka = int(pid_files[0].read_text())
        assert _pid_alive(kafka) and kafka != pids[0] and int(pid_files[1].read_text()) == pids[1]
        run(env, *cli, "restart", "questdb")
        questdb = int(pid_files[1].read_text())
        assert questdb != pids[1] and not _pid_alive(pids[1]) and _pid_alive(questdb)
        assert int(pid_files[0].read_text()) == kafka
        run(env, *cli, "down", "kafka")
        assert not _pid_alive(kafka) and _pid_alive(questdb)
        assert "healthy" in run(env, *cli, "status", "questdb")
        pids = [kafka, questdb]

        run(env, *cli, "down")
        assert not any(_pid_alive(p) for p in pids)
        assert not any(p.exists() for p in pid_files)
        out = run(env, *cli, "status")
        assert out.count("stopped") == 2
    finally:
        run(env, *cli, "down")
