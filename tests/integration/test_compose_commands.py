"""The commands docker-compose.yml runs in the application containers, run here exactly as
listed (test_compose_file.py checks the lists are the same), against the real servers:
the endless real-time simulator feeding the COB flow in follow mode with a recovery store,
and the live connectors publishing into Kafka."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from cobflow.qdb import query
from tests.integration.helpers import consume_all

pytestmark = pytest.mark.integration

TESTED_COMMANDS = {
    "simulator": ["cobflow", "simulate", "--duration", "0", "--start", "now", "--speed", "1", "--seed", "1",
                  "--alpha", "1"],
    "live": ["cobflow", "live"],
    "cob": ["cobflow", "run", "cob", "--follow", "--recovery", "/var/lib/cobflow/recovery"],
    "strategy": ["cobflow", "run", "strategy", "--follow", "--recovery", "/var/lib/cobflow/recovery", "--train-if-none"],
    "learner": ["cobflow", "learn"],
}
CONTAINER_RECOVERY = "/var/lib/cobflow/recovery"


def local(argv: list[str], recovery=None, extra: tuple[str, ...] = ()) -> list[str]:
    """The container's argv with this interpreter's cobflow and a local recovery folder."""
    assert argv[0] == "cobflow"
    args = [str(recovery) if a == CONTAINER_RECOVERY else a for a in argv[1:]]
    return [sys.executable, "-m", "cobflow", *args, *extra]


def start(argv: list[str], env: dict, log) -> subprocess.Popen:
    return subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def stop(proc: subprocess.Popen) -> int:
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C to the process group, as `docker stop` signals
    try:
        return proc.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        return proc.wait(10)


def latest(settings) -> dict[str, tuple[int, int]]:
    """symbol -> (row count, last ts in epoch seconds) of cob_summary."""
    table = settings.questdb.table("cob_summary")
    try:
        rows = query(settings.questdb, f"SELECT symbol, count() n, max(ts) t FROM {table}")
    except RuntimeError:
        return {}  # not created yet
    from tests.integration.helpers import second
    return {r["symbol"]: (r["n"], second(r["t"])) for r in rows}


def wait_for(cond, timeout: float, what: str, log_path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}; log:\n{log_path.read_text()[-3000:]}")


def test_compose_simulator_and_cob_flow_fill_questdb_live_and_resume_after_a_restart(namespace, tmp_path):
    settings, env = namespace
    recovery = tmp_path / "recovery"
    log = tmp_path / "log.txt"
    with open(log, "ab") as out:
        sim = start(local(TESTED_COMMANDS["simulator"]), env, out)
        flow = start(local(TESTED_COMMANDS["cob"], recovery), env, out)
        try:
            # rows for both symbols of symbols.yaml, stamped with the wall clock: a live market
            wait_for(lambda: all(latest(settings).get(s, (0, 0))[0] >= 5 for s in ("BTC-USD", "ETH-USD")),
                     120, "5 live seconds of each symbol", log)
            now = time.time()
            assert all(abs(now - t) < 30 for _, t in latest(settings).values()), latest(settings)
            assert stop(flow) in (0, 130, -signal.SIGINT)
            before = latest(settings)
            time.sleep(3)  # the market goes on while the flow is down
            flow = start(local(TESTED_COMMANDS["cob"], recovery), env, out)
            # resumed from its recovery store: it carries on from where it stopped
            wait_for(lambda: all(latest(settings)[s][1] >= before[s][1] + 3 for s in before), 90,
                     "rows after the restart", log)
        finally:
            stop(flow)
            stop(sim)
    text = log.read_text()
    assert "Traceback" not in text, text[-3000:]
    dead = query(settings.questdb, f"SELECT count() n FROM {settings.questdb.table('dead_letters')}")[0]["n"]
    assert dead == 0  # the simulator's feed is clean; a restart must not break any book


def test_compose_live_command_publishes_the_venue_frames_to_kafka(namespace, tmp_path, captures):
    from cobflow.connectors.cryptofeed import import_cryptofeed
    from tests.venue_server import RecordedVenue

    settings, env = namespace
    msgs = import_cryptofeed([captures / "KRAKEN.ws.50.0"])
    server = RecordedVenue(msgs)
    url = server.serve_in_background()
    cfg = tmp_path / "symbols.yaml"
    cfg.write_text("symbols:\n  XMR-USD:\n    bucket: 1\n    venues: {kraken: XMR/USD}\n")
    argv = local(TESTED_COMMANDS["live"], extra=("--duration", "4", "--url", f"kraken={url}"))
    proc = subprocess.run(argv, env={**env, "COBFLOW_SYMBOLS_FILE": str(cfg)}, capture_output=True, text=True,
                          timeout=90)
    assert proc.returncode == 0, proc.stderr
    got = consume_all(settings.kafka, settings.kafka.raw_topic("kraken"))
    served = [m.payload for m in msgs if m.kind == "ws"]
    assert sorted(m.value().decode() for m in got) == sorted(served)


def test_questdb_healthcheck_command_answers_healthy_on_a_real_questdb(services):
    """The compose healthcheck, run against this QuestDB's health port (the image's 9003)."""
    import yaml

    from cobflow.config import PROJECT_ROOT

    check = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())["services"]["questdb"]["healthcheck"]
    assert check["test"][0] == "CMD" and any("9003" in a for a in check["test"])
    here = [a.replace("9003", str(services.questdb.min_http_port)) for a in check["test"][1:]]  # this QuestDB's
    assert subprocess.run(here, timeout=10).returncode == 0
    broken = [a.replace("9003", "9") for a in check["test"][1:]]  # nothing listens there: unhealthy
    assert subprocess.run(broken, timeout=10, capture_output=True).returncode != 0


def test_compose_strategy_flow_trades_on_paper_beside_the_cob_flow_and_keeps_its_halt(namespace, tmp_path):
    """The strategy container's command next to the simulator and the COB flow: paper fills
    and equity in QuestDB from a live market; `cobflow trading halt` reaches the running flow,
    and the halt holds after a restart from the recovery store until `resume`."""
    from cobflow.execution.control import read_status
    from tests.modeltools import seeded_checkpoints
    from tests.unit.test_strategy import SPEC

    settings, env = namespace
    control = tmp_path / "trading"
    env = {**env, "COBFLOW_FLOW__COB_TABLES": "false", "COBFLOW_TRADING__CONTROL_DIR": str(control),
           "COBFLOW_MODELS__DIR": str(seeded_checkpoints(tmp_path / "models", SPEC)),  # --train-if-none: trained
           "COBFLOW_TRADING__MIN_ORDER_NOTIONAL": "0"}
    log = tmp_path / "log.txt"
    q = settings.questdb

    def count(table: str, where: str = "") -> int:
        try:
            return query(q, f"SELECT count() n FROM {q.table(table)} {where}")[0]["n"]
        except RuntimeError:
            return 0

    def trading(*args: str) -> str:
        proc = subprocess.run(local(["cobflow", "trading", *args]), env=env, capture_output=True, text=True,
                              timeout=240)  # a loaded machine starts Python slowly
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    with open(log, "ab") as out:
        procs = [start(local(TESTED_COMMANDS["simulator"]), env, out),
                 start(local(TESTED_COMMANDS["cob"], tmp_path / "cob-recovery"), env, out)]
        flow = start(local(TESTED_COMMANDS["strategy"], tmp_path / "strategy-recovery"), env, out)
        try:
            wait_for(lambda: count("equity") >= 10 and count("fills") >= 1, 180, "paper fills and equity", log)
            assert "using the models in" in log.read_text()
            trading("halt")
            wait_for(lambda: (read_status(control) or {}).get("halted") is True, 180, "the halt applied", log)
            wait_for(lambda: count("risk_events", "WHERE rule = 'halted' AND action = 'halted'") == 1, 180,
                     "the halt's risk event", log)
            time.sleep(6)  # a snapshot of the recovery store after it (every 5 s)
            assert stop(flow) in (0, 130, -signal.SIGINT)
            (control / "status.json").unlink()
            flow = start(local(TESTED_COMMANDS["strategy"], tmp_path / "strategy-recovery"), env, out)
            wait_for(lambda: read_status(control) is not None, 120, "the restarted flow's status", log)
            assert read_status(control)["halted"] is True and read_status(control)["halted_by"] == "operator"
            assert "HALTED by operator" in trading("status")
            trading("resume")
            wait_for(lambda: (read_status(control) or {}).get("halted") is False, 180, "the resume applied", log)
        finally:
            stop(flow)
            for p in procs:
                stop(p)
    text = log.read_text()
    assert "Traceback" not in text, text[-3000:]
    assert count("risk_events", "WHERE rule = 'halted' AND action = 'halted'") == 1  # applied once, not again
