"""Dead letters out of a flow: whole, into the `dlq` topic (Kafka mode, exactly once for
`read_committed` readers), or as JSON Lines beside the Parquet tables (file mode)."""

from __future__ import annotations

import os
import sys
import time

from bytewax.outputs import DynamicSink, FixedPartitionedSink, StatefulSinkPartition, StatelessSinkPartition

from cobflow.config import KafkaSettings
from cobflow.deadletter import DeadLetter
from cobflow.kafka_io import client_config


def dlq_record(letter: DeadLetter) -> tuple[bytes | None, bytes, list[tuple[str, str | bytes | None]]]:
    """A dead letter as its `dlq` record: keyed by the market, the raw message's headers and
    `id`, the same for the same dead letter however often a resumed flow makes it."""
    key = letter.raw.symbol.encode() if letter.raw.symbol else None
    value = letter.to_json()
    return key, value, [*letter.kafka_headers(), ("id", letter.id().encode())]


class _DlqPartition(StatefulSinkPartition[DeadLetter, None]):
    """A transactional producer: what a flow writes between two snapshots is committed at
    the second one. After a crash, the restarted flow's producer (same transactional id)
    aborts what the dead one left open, and the flow makes those dead letters again from its
    last snapshot: a `read_committed` consumer (librdkafka's default) sees each once."""

    def __init__(self, kafka: KafkaSettings, transactional_id: str) -> None:
        from confluent_kafka import Producer

        self.topic = kafka.dlq()
        self.producer = Producer(client_config({"bootstrap.servers": kafka.servers, "transactional.id": transactional_id,
                                                "linger.ms": 20, "transaction.timeout.ms": 120_000}))
        self.producer.init_transactions(30)
        self.producer.begin_transaction()

    def write_batch(self, items: list[DeadLetter]) -> None:
        for letter in items:
            key, value, headers = dlq_record(letter)
            self.producer.produce(self.topic, value, key, headers=headers)
            self.producer.poll(0)

    def snapshot(self) -> None:
        self._commit()  # with the flow's snapshot of this epoch
        self.producer.begin_transaction()
        return None

    def _commit(self) -> None:
        """Commit, waiting out a broker that is away (a retriable error may be retried)."""
        from confluent_kafka import KafkaException

        away = None
        while True:
            try:
                self.producer.commit_transaction(60)
            except KafkaException as exc:
                if not exc.args[0].retriable():
                    raise
                if away is None:
                    away = time.monotonic()
                    print(f"cobflow: the dlq commit waits for Kafka ({exc.args[0].str()})", file=sys.stderr,
                          flush=True)
                time.sleep(1.0)
                continue
            return

    def close(self) -> None:
        self._commit()


class DlqSink(FixedPartitionedSink[DeadLetter, None]):
    """The `dlq` topic, exactly once for `read_committed` readers (see _DlqPartition). One
    partition of the sink (its items keyed `dlq`), one transactional id per flow and topic."""

    def __init__(self, kafka: KafkaSettings, flow: str) -> None:
        self.kafka = kafka
        self.transactional_id = f"cobflow-{flow}-{kafka.dlq()}"

    def list_parts(self) -> list[str]:
        return [DLQ_PART]

    def build_part(self, step_id: str, for_part: str, resume_state: None) -> _DlqPartition:
        return _DlqPartition(self.kafka, self.transactional_id)


DLQ_PART = "dlq"


def for_dlq(letter: DeadLetter) -> tuple[str, DeadLetter]:
    return DLQ_PART, letter


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
