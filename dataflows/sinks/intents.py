"""Order intents out of the strategy flow, into the run's orders topic, for `cobflow trade`.

At least once, on purpose: a batch is flushed to Kafka when written (no wait for the epoch's
snapshot, which would add up to an epoch to every order's way to the venue). A flow resumed
from its last snapshot decides the seconds after it again, making the same intents with the
same client ids; the gateway recognises them (its ledger, then a query by client id at the
venue) and never places one twice."""

from __future__ import annotations

from bytewax.outputs import DynamicSink, StatelessSinkPartition

from cobflow.config import KafkaSettings
from cobflow.execution.live import OrderIntent, dumps
from cobflow.kafka_io import KEEP_ALL, ensure_topics, producer


class _IntentPartition(StatelessSinkPartition[OrderIntent]):
    def __init__(self, kafka: KafkaSettings, topic: str) -> None:
        self.topic = topic
        self.producer = producer(kafka)

    def write_batch(self, items: list[OrderIntent]) -> None:
        for i in items:
            self.producer.produce(self.topic, dumps(i), i.client_id.encode())
        if items:
            self.producer.flush(30)

    def close(self) -> None:
        self.producer.flush(30)


class IntentSink(DynamicSink[OrderIntent]):
    def __init__(self, kafka: KafkaSettings, run: str) -> None:
        self.kafka, self.topic = kafka, kafka.orders_topic(run)
        ensure_topics(kafka, [self.topic], partitions=1, config=KEEP_ALL)

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _IntentPartition:
        return _IntentPartition(self.kafka, self.topic)


def intents_of(made: object) -> list[OrderIntent]:
    """The intents among an account's records (a Seconds of them)."""
    return [r for r in getattr(made, "records", ()) if isinstance(r, OrderIntent)]
