"""The Kafka section (`COBFLOW_KAFKA__*`): where the raw topics and the dlq live."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class KafkaSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    host: str = "127.0.0.1"
    port: int = Field(9092, ge=1, le=65535)
    controller_port: int = Field(9093, ge=1, le=65535)
    bootstrap_servers: str | None = Field(
        None, description="an external cluster; default is the local server host:port"
    )
    topic_prefix: str = Field("", description="prepended to every topic name (isolates tests)")
    partitions: int = Field(3, ge=1)
    dlq_topic: str = "dlq"
    retention_bytes: int = Field(
        1 << 30, ge=-1,
        description="per partition of the topics cobflow creates (-1: no limit). They keep records "
                    "by size, never by age: a record's timestamp is its ts_recv, and Kafka would "
                    "delete a replayed capture older than its time retention as soon as it arrived",
    )

    @property
    def servers(self) -> str:
        return self.bootstrap_servers or f"{self.host}:{self.port}"

    def raw_topic(self, venue: str) -> str:
        return f"{self.topic_prefix}raw.{venue}"

    def dlq(self) -> str:
        return f"{self.topic_prefix}{self.dlq_topic}"

    def orders_topic(self, run: str) -> str:
        """The order intents a run's account sends its gateway."""
        return f"{self.topic_prefix}orders.{run}"

    def reports_topic(self, run: str) -> str:
        """What the run's gateway learned from the venues: execution reports, reconciliation
        differences, kill-switch actions."""
        return f"{self.topic_prefix}reports.{run}"

    def venue_of_topic(self, topic: str) -> str:
        prefix = f"{self.topic_prefix}raw."
        if not topic.startswith(prefix):
            raise ValueError(f"topic {topic!r} is not a raw topic (expected {prefix}<venue>)")
        return topic[len(prefix):]
