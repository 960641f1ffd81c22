"""Dead letters out of a flow: whole, into the `dlq` topic (Kafka mode), or as JSON Lines
beside the Parquet tables (file mode)."""

from __future__ import annotations

import os

from bytewax.connectors.kafka import KafkaSink, KafkaSinkMessage
from bytewax.outputs import DynamicSink, StatelessSinkPartition

from cobflow.config import KafkaSettings
from cobflow.deadletter import DeadLetter


def dlq_message(letter: DeadLetter) -> KafkaSinkMessage:
    """A dead letter as its `dlq` record: keyed by the market, the raw message's headers."""
    key = letter.raw.symbol.encode() if letter.raw.symbol else None
    return KafkaSinkMessage(key, letter.to_json(), headers=letter.kafka_headers())


def dlq_sink(kafka: KafkaSettings) -> KafkaSink:
    """The `dlq` topic; its items are `dlq_message`s."""
    return KafkaSink([kafka.servers], kafka.dlq())


class _DeadLetterPartition(StatelessSinkPartition[DeadLetter]):
    def __init__(self, path: str) -> None:
        self.f = open(path, "ab")

    def write_batch(self, items: list[DeadLetter]) -> None:
        self.f.write(b"".join(d.to_json() + b"\n" for d in items))

    def close(self) -> None:
        self.f.close()


class DeadLetterFile(DynamicSink[DeadLetter]):
    """JSON Lines, one file per worker (`name-<worker>.jsonl` when there are several)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _DeadLetterPartition:
        base, ext = os.path.splitext(self.path)
        return _DeadLetterPartition(f"{base}-{worker_index}{ext}" if worker_count > 1 else self.path)
