"""A throw-away namespace on shared servers: fresh topic and table prefixes, removed after.

Tests and benchmarks run against the same Kafka and QuestDB a user may be running; their
topics and tables never meet the user's (or each other's).
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

from cobflow.config import Settings


@contextlib.contextmanager
def scratch_namespace(settings: Settings) -> Iterator[tuple[Settings, dict[str, str]]]:
    """Yields (settings, env): env carries the same namespace to subprocesses."""
    from cobflow.kafka_io import admin, delete_topics
    from cobflow.qdb import exec_sql, query

    tag = f"t{uuid.uuid4().hex[:10]}"
    scoped = settings.model_copy(
        update={
            "kafka": settings.kafka.model_copy(update={"topic_prefix": f"{tag}."}),
            "questdb": settings.questdb.model_copy(update={"table_prefix": f"{tag}_"}),
        }
    )
    env = {
        **os.environ,
        "COBFLOW_KAFKA__TOPIC_PREFIX": f"{tag}.",
        "COBFLOW_QUESTDB__TABLE_PREFIX": f"{tag}_",
        "COBFLOW_KAFKA__PORT": str(settings.kafka.port),
        "COBFLOW_QUESTDB__HTTP_PORT": str(settings.questdb.http_port),
    }
    try:
        yield scoped, env
    finally:
        topics = [t for t in admin(scoped.kafka).list_topics(timeout=10).topics if t.startswith(f"{tag}.")]
        delete_topics(scoped.kafka, topics)
        for row in query(scoped.questdb, "tables()"):
            if row["table_name"].startswith(f"{tag}_"):
                exec_sql(scoped.questdb, f"DROP TABLE IF EXISTS {row['table_name']}")
