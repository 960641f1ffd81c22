"""Local Apache Kafka (KRaft) and QuestDB servers, fetched from Maven Central, no Docker."""

from cobflow.app.services.manager import ServiceError, Services

__all__ = ["ServiceError", "Services"]
