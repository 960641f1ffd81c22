"""Shared fixtures: where the recorded captures are, and the real Kafka and QuestDB servers."""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path

import pytest

from cobflow.config import PROJECT_ROOT, Settings, load_settings

SHARED = Path(os.environ.get("COBFLOW_SHARED_DIR", PROJECT_ROOT.parent / "shared"))
CAPTURES = SHARED / "fixtures" / "captures"
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
    if not CAPTURES.is_dir():
        pytest.skip(f"recorded captures not found at {CAPTURES} (set COBFLOW_SHARED_DIR)")
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


@contextlib.contextmanager
def fresh_namespace(services: Settings):
    """Fresh topic and table names (empty topics, no tables), removed afterwards.

    Yields (settings, env) where env carries the same namespace to subprocesses.
    """
    from cobflow.kafka_io import admin, delete_topics
    from cobflow.qdb import exec_sql, query

    tag = f"t{uuid.uuid4().hex[:10]}"
    settings = services.model_copy(
        update={
            "kafka": services.kafka.model_copy(update={"topic_prefix": f"{tag}."}),
            "questdb": services.questdb.model_copy(update={"table_prefix": f"{tag}_"}),
        }
    )
    env = {
        **os.environ,
        "COBFLOW_KAFKA__TOPIC_PREFIX": f"{tag}.",
        "COBFLOW_QUESTDB__TABLE_PREFIX": f"{tag}_",
        "COBFLOW_KAFKA__PORT": str(services.kafka.port),
        "COBFLOW_QUESTDB__HTTP_PORT": str(services.questdb.http_port),
    }
    try:
        yield settings, env
    finally:
        topics = [t for t in admin(settings.kafka).list_topics(timeout=10).topics if t.startswith(f"{tag}.")]
        delete_topics(settings.kafka, topics)
        for row in query(settings.questdb, "tables()"):
            if row["table_name"].startswith(f"{tag}_"):
                exec_sql(settings.questdb, f"DROP TABLE IF EXISTS {row['table_name']}")


@pytest.fixture
def namespace(services: Settings):
    """A fresh namespace for one test: (settings, env)."""
    with fresh_namespace(services) as ns:
        yield ns
