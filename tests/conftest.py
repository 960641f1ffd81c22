"""Shared fixtures: where the recorded captures are, and the real Kafka and QuestDB servers."""

from __future__ import annotations

from pathlib import Path

import pytest

from cobflow.config import PROJECT_ROOT, Settings, load_settings

CAPTURES = PROJECT_ROOT / "tests" / "fixtures" / "captures"  # in the repo: every clone runs every test
SAMPLE = PROJECT_ROOT / "cobflow" / "samples" / "binance-2021-10-12.jsonl.gz"


def pytest_report_header(config):
    s = load_settings()
    return (
        f"cobflow servers for integration tests: Apache Kafka {s.services.kafka_version} (KRaft) "
        f"at 127.0.0.1:{s.kafka.port}, QuestDB {s.services.questdb_version} at "
        f"127.0.0.1:{s.questdb.http_port} (started by `cobflow services up` unless already running)"
    )


@pytest.fixture(scope="session")
def captures() -> Path:
    assert CAPTURES.is_dir(), f"the recorded captures are missing from {CAPTURES}"
    return CAPTURES


@pytest.fixture(scope="session")
def services(request) -> Settings:
    """Real servers: started if not running (a failure to start fails the tests, with the
    reason), stopped at the end if this session started them."""
    from cobflow.services import Services

    settings = load_settings()
    svc = Services(settings)
    started = svc.up()
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line(
                f"\n[cobflow] servers: {svc.versions()} "
                f"({'started: ' + ', '.join(started) if started else 'already running, reused'})"
            )
    yield settings
    svc.stop(started)


@pytest.fixture
def namespace(services: Settings):
    """A fresh namespace for one test: (settings, env)."""
    from cobflow.services.namespace import scratch_namespace

    with scratch_namespace(services) as ns:
        yield ns
