"""Raw messages in Kafka (CAPTURE.md "In Kafka"): topics, publishing, reading back."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterable, Sequence

from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from cobflow.config import KafkaSettings
from cobflow.raw import RawMessage


class KafkaIOError(RuntimeError):
    pass


def admin(settings: KafkaSettings) -> AdminClient:
    return AdminClient({"bootstrap.servers": settings.servers, "log_level": 3})


def _wait(futures: dict, action: str, ignore: str | None = None) -> None:
    """Wait for every AdminClient future; the first real failure names its topic."""
    for topic, fut in futures.items():
        try:
            fut.result()
        except KafkaException as exc:
            if ignore is None or ignore not in str(exc):
                raise KafkaIOError(f"cannot {action} topic {topic}: {exc}") from None


def ensure_topics(settings: KafkaSettings, topics: Sequence[str], partitions: int | None = None) -> None:
    client = admin(settings)
    existing = set(client.list_topics(timeout=15).topics)
    new = [
        NewTopic(t, num_partitions=partitions or settings.partitions, replication_factor=1)
        for t in topics
        if t not in existing
    ]
    if new:
        _wait(client.create_topics(new, operation_timeout=30), "create", ignore="TOPIC_ALREADY_EXISTS")


def delete_topics(settings: KafkaSettings, topics: Sequence[str]) -> None:
    client = admin(settings)
    existing = set(client.list_topics(timeout=15).topics)
    doomed = [t for t in topics if t in existing]
    if not doomed:
        return
    _wait(client.delete_topics(doomed, operation_timeout=30), "delete")
    # Deletion completes asynchronously; wait until the names are free again.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if not set(doomed) & set(client.list_topics(timeout=15).topics):
            return
        time.sleep(0.2)
    raise KafkaIOError(f"topics still present 30 s after deletion: {doomed}")


def to_record(msg: RawMessage) -> tuple[bytes | None, bytes, list[tuple[str, bytes]], int]:
    """(key, value, headers, timestamp ms) of one raw message."""
    headers = [
        ("ts_recv", str(msg.ts_recv).encode()),
        ("kind", msg.kind.encode()),
        ("channel", msg.channel.encode()),
    ]
    if msg.encoding is not None:
        headers.append(("encoding", msg.encoding.encode()))
    key = msg.symbol.encode() if msg.symbol is not None else None
    return key, msg.payload_bytes(), headers, msg.ts_recv // 1_000_000


def from_record(
    venue: str, key: bytes | None, value: bytes | None, headers: Iterable[tuple[str, bytes]] | None
) -> RawMessage:
    h = {k: v.decode() for k, v in (headers or [])}
    try:
        ts_recv = int(h["ts_recv"])
    except (KeyError, ValueError):
        raise ValueError("record has no valid ts_recv header") from None
    encoding = h.get("encoding")
    raw = value or b""
    payload = base64.b64encode(raw).decode() if encoding else raw.decode("utf-8", "replace")
    return RawMessage(
        ts_recv,
        venue,
        h.get("kind", "ws"),
        h.get("channel", ""),
        key.decode() if key is not None else None,
        payload,
        encoding,
    )


def producer(settings: KafkaSettings) -> Producer:
    return Producer(
        {
            "bootstrap.servers": settings.servers,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 20,
            "compression.type": "lz4",
        }
    )


def publish(
    settings: KafkaSettings,
    messages: Iterable[RawMessage],
    speed: float | None = None,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Publish raw messages to `raw.<exchange>`. speed None: as fast as possible; 1.0: as
    recorded; 10: ten times faster. Raises if any message was not acknowledged."""
    p = producer(settings)
    failures: list[str] = []

    def on_delivery(err, _msg) -> None:
        if err is not None:
            failures.append(str(err))

    n = 0
    start_wall = start_ts = None
    for msg in messages:
        if speed:
            if start_wall is None:
                start_wall, start_ts = time.monotonic(), msg.ts_recv
            due = start_wall + (msg.ts_recv - start_ts) / 1e9 / speed
            delay = due - time.monotonic()
            if delay > 0:
                p.poll(0)
                time.sleep(delay)
        key, value, headers, ts_ms = to_record(msg)
        while True:
            try:
                p.produce(
                    settings.raw_topic(msg.exchange), value, key,
                    headers=headers, timestamp=ts_ms, on_delivery=on_delivery,
                )
                break
            except BufferError:
                p.poll(0.1)
        n += 1
        if n % 1000 == 0:
            p.poll(0)
            if progress:
                progress(n)
    remaining = p.flush(60)
    if remaining:
        raise KafkaIOError(f"{remaining} messages still unacknowledged after 60 s")
    if failures:
        raise KafkaIOError(f"{len(failures)} messages failed: {failures[0]}")
    if progress:
        progress(n)
    return n
