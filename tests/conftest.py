"""Shared fixtures: where the recorded captures are, and the real Kafka and QuestDB servers.

A test session runs servers of its own, on free ports and with their own data folder (the
jars are shared with `.cobflow/cache`), so it never depends on, or touches, a cobflow stack
the user runs (a second checkout's servers, `docker compose up`). The ports go into the
environment before any test reads its settings, so every command a test starts finds them.
`COBFLOW_TEST_REUSE_SERVICES=1` uses the configured servers instead (started if needed).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from cobflow.config import PROJECT_ROOT, Settings, load_settings

REUSE = os.environ.get("COBFLOW_TEST_REUSE_SERVICES", "").lower() in ("1", "true", "yes", "on")
PORTS = ("KAFKA__PORT", "KAFKA__CONTROLLER_PORT", "QUESTDB__HTTP_PORT", "QUESTDB__PG_PORT",
         "QUESTDB__ILP_TCP_PORT", "QUESTDB__MIN_HTTP_PORT")


def _own_servers() -> Path | None:
    """Free ports and a data folder of this session's own, into the environment."""
    if REUSE:
        return None
    from cobflow.app.runflow import free_ports

    cache = load_settings().services.home / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix="cobflow-test-services-"))
    (home / "cache").symlink_to(cache.resolve())
    os.environ["COBFLOW_SERVICES__HOME"] = str(home)
    os.environ.pop("COBFLOW_KAFKA__BOOTSTRAP_SERVERS", None)
    for name, port in zip(PORTS, free_ports(len(PORTS))):
        os.environ[f"COBFLOW_{name}"] = str(port)
    return home


SESSION_HOME = _own_servers()

CAPTURES = PROJECT_ROOT / "tests" / "fixtures" / "captures"  # in the repo: every clone runs every test
SAMPLE = PROJECT_ROOT / "cobflow" / "samples" / "binance-2021-10-12.jsonl.gz"


def pytest_report_header(config):
    s = load_settings()
    whose = "this session's own, on free ports" if SESSION_HOME is not None else "reused or started"
    return (
        f"cobflow servers for integration tests ({whose}): Apache Kafka {s.services.kafka_version} (KRaft) "
        f"at 127.0.0.1:{s.kafka.port}, QuestDB {s.services.questdb_version} at 127.0.0.1:{s.questdb.http_port}"
    )


@pytest.fixture(scope="session")
def captures() -> Path:
    assert CAPTURES.is_dir(), f"the recorded captures are missing from {CAPTURES}"
    return CAPTURES


@pytest.fixture(scope="session")
def services(request) -> Settings:
    """Real servers: started if not running (a failure to start fails the tests, with the
    reason), stopped at the end if this session started them."""
    from cobflow.app.services import Services

    settings = load_settings()
    svc = Services(settings)
    started = svc.up()
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            where = (f"this session's own, kafka {settings.kafka.servers}, questdb {settings.questdb.http_url}"
                     if SESSION_HOME is not None else "the configured ones")
            reporter.write_line(
                f"\n[cobflow] servers: {svc.versions()} ({where}; "
                f"{'started: ' + ', '.join(started) if started else 'already running, reused'})"
            )
    yield settings
    svc.stop(started)
    if SESSION_HOME is not None:
        shutil.rmtree(SESSION_HOME, ignore_errors=True)


@pytest.fixture
def namespace(services: Settings):
    """A fresh namespace for one test: (settings, env)."""
    from cobflow.app.services.namespace import scratch_namespace

    with scratch_namespace(services) as ns:
        yield ns
