"""Raw messages in Kafka (CAPTURE.md "In Kafka"): topics, publishing, reading back."""

from __future__ import annotations

import base64
import logging
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from cobflow.config import KafkaSettings, load_settings
from cobflow.deadletter import DeadLetter
from cobflow.raw import TS_MAX, RawMessage
from cobflow.venues import VENUES


class KafkaIOError(RuntimeError):
    pass


LIBRDKAFKA_LOG = "librdkafka.log"


def librdkafka_logger() -> logging.Logger:
    """Where librdkafka's own lines go (`%4|...|GETPID|...` while a broker starts, a refused
    connection): the file <services home>/logs/librdkafka.log, not the terminal, where they
    would land inside a progress bar. What goes wrong is raised by the calls themselves."""
    log = logging.getLogger("cobflow.librdkafka")
    if not log.handlers:
        handler: logging.Handler
        try:
            folder = Path(load_settings().services.home) / "logs"
            folder.mkdir(parents=True, exist_ok=True)
            handler = logging.FileHandler(folder / LIBRDKAFKA_LOG)
        except OSError:  # a home that cannot be written: the lines go to stderr, as librdkafka's own would
            handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
    return log


def client_config(config: dict[str, Any]) -> dict[str, Any]:
    """A confluent-kafka client's configuration with librdkafka's lines sent to its log file."""
    return {**config, "logger": librdkafka_logger()}


def admin(settings: KafkaSettings) -> AdminClient:
    return AdminClient(client_config({"bootstrap.servers": settings.servers, "log_level": 3}))


def _wait(futures: dict, action: str, ignore: str | None = None) -> None:
    """Wait for every AdminClient future; the first real failure names its topic."""
    for topic, fut in futures.items():
        try:
            fut.result()
        except KafkaException as exc:
            if ignore is None or ignore not in str(exc):
                raise KafkaIOError(f"cannot {action} topic {topic}: {exc}") from None


def topic_config(settings: KafkaSettings) -> dict[str, str]:
    """Kept by size, not by age: record timestamps are ts_recv (see KafkaSettings.retention_bytes)."""
    return {"retention.ms": "-1", "retention.bytes": str(settings.retention_bytes)}


#: a topic that is a record to keep (the orders and reports of a run): never trimmed
KEEP_ALL = {"retention.ms": "-1", "retention.bytes": "-1"}


def ensure_topics(settings: KafkaSettings, topics: Sequence[str], partitions: int | None = None,
                  config: dict[str, str] | None = None) -> None:
    client = admin(settings)
    existing = set(client.list_topics(timeout=15).topics)
    new = [
        NewTopic(t, num_partitions=partitions or settings.partitions, replication_factor=1,
                 config={**topic_config(settings), **(config or {})})
        for t in topics
        if t not in existing
    ]
    if new:
        _wait(client.create_topics(new, operation_timeout=30), "create", ignore="TOPIC_ALREADY_EXISTS")


def topic_configs(settings: KafkaSettings, topics: Sequence[str]) -> dict[str, dict[str, str | None]]:
    """The configuration of each of these topics that exists."""
    client = admin(settings)  # kept until the answers are in: a dropped client cancels them
    existing = set(client.list_topics(timeout=15).topics)
    resources = [ConfigResource(ConfigResource.Type.TOPIC, t) for t in topics if t in existing]
    if not resources:
        return {}
    return {res.name: {k: v.value for k, v in fut.result().items()}
            for res, fut in client.describe_configs(resources).items()}


def time_retention_ms(settings: KafkaSettings, topics: Sequence[str]) -> dict[str, int]:
    """retention.ms of each existing topic that deletes records by age (-1 is left out)."""
    out: dict[str, int] = {}
    for topic, cfg in topic_configs(settings, topics).items():
        ms = cfg.get("retention.ms")
        if ms is not None and int(ms) >= 0:
            out[topic] = int(ms)
    return out


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


_TEXTS: dict[bytes, str] = {}  # header values and keys seen (kinds, channels, markets): decoded once


def _text(b: bytes) -> str:
    t = _TEXTS.get(b)
    if t is None:
        t = b.decode()  # not UTF-8: UnicodeDecodeError, a ValueError (the record is unreadable)
        if len(_TEXTS) < 4096:
            _TEXTS[b] = t
    return t


def from_record(
    venue: str, key: bytes | None, value: bytes | None, headers: Iterable[tuple[str, bytes]] | None
) -> RawMessage:
    """The raw message of one raw.<venue> record (ValueError: it holds none). Run once per
    record read, so written for speed: header values and keys come from a few distinct
    values and are decoded once each."""
    ts = kind = channel = encoding = None
    for k, v in headers or ():
        if v is None:  # a header without a value: as if it were not there
            continue
        if k == "ts_recv":
            ts = v
        elif k == "kind":
            kind = v
        elif k == "channel":
            channel = v
        elif k == "encoding":
            encoding = v
    try:
        ts_recv = int(_text(ts))  # type: ignore[arg-type]
    except (AttributeError, ValueError):  # no ts_recv header (None), or not an integer
        raise ValueError("record has no valid ts_recv header") from None
    if not 0 <= ts_recv <= TS_MAX:  # CAPTURE.md: ns since the epoch, an i64
        raise ValueError(f"record's ts_recv header {ts_recv} is outside 0..2^63-1 ns")
    raw = value or b""
    enc = _text(encoding) if encoding is not None else None
    return RawMessage(
        ts_recv,
        venue,
        _text(kind) if kind is not None else "ws",
        _text(channel) if channel is not None else "",
        _text(key) if key is not None else None,
        base64.b64encode(raw).decode() if enc else raw.decode("utf-8", "replace"),
        enc,
    )


def unreadable_record(venue: str, msg: Any, reason: str) -> DeadLetter:
    """A raw.<venue> record that is no raw message, as a dead letter (stage `read`) that
    says where it is: its time is the record's Kafka timestamp, its payload what it holds."""
    _kind, ms = msg.timestamp()
    ts = min(max(int(ms), 0) * 1_000_000, TS_MAX)
    key, value = msg.key(), msg.value() or b""
    raw = RawMessage(ts, venue, "ws", "", key.decode("utf-8", "replace") if key is not None else None,
                     value.decode("utf-8", "replace"), None)
    return DeadLetter("read", f"{msg.topic()}[{msg.partition()}]@{msg.offset()}: {reason}", raw)


def producer(settings: KafkaSettings) -> Producer:
    return Producer(client_config({
        "bootstrap.servers": settings.servers,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 20,
        "compression.type": "lz4",
    }))


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
    try:
        n = _produce_all(p, settings, messages, speed, progress, on_delivery)
    except KeyboardInterrupt:
        p.flush(10)  # stopped (Ctrl-C, docker stop): what was produced is still delivered
        raise
    remaining = p.flush(60)
    if remaining:
        raise KafkaIOError(f"{remaining} messages still unacknowledged after 60 s")
    if failures:
        raise KafkaIOError(f"{len(failures)} messages failed: {failures[0]}")
    if progress:
        progress(n)
    return n


def _produce_all(p, settings: KafkaSettings, messages: Iterable[RawMessage], speed: float | None,  # type: ignore[no-untyped-def]
                 progress: Callable[[int], None] | None, on_delivery) -> int:
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
    return n


def watermarks(c: Any, tp: Any, wait_s: float = 30.0) -> tuple[int, int]:
    """A partition's (low, high) offsets, waiting out a topic just made (no leader yet, or not
    in this client's metadata yet)."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return c.get_watermark_offsets(tp, timeout=15)
        except KafkaException as exc:
            text = str(exc).lower()
            young = "leader" in text or "unknown partition" in text or "unknown topic" in text
            if not exc.args[0].retriable() and not young or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def time_ranges(settings: KafkaSettings, topics: Sequence[str]) -> dict[str, tuple[int, int]]:
    """(earliest, latest) record timestamp in ms (ts_recv // 1e6) of each topic that holds
    records, from the first and last record of each partition."""
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer(client_config({"bootstrap.servers": settings.servers, "group.id": f"cobflow-ranges-{time.time_ns()}",
                                "enable.auto.commit": False, "enable.partition.eof": False}))
    out: dict[str, tuple[int, int]] = {}
    try:
        md = c.list_topics(timeout=15)
        wanted: list[TopicPartition] = []
        for t in topics:
            for p in md.topics[t].partitions if t in md.topics else ():
                low, high = watermarks(c, TopicPartition(t, p))
                if high > low:
                    wanted += [TopicPartition(t, p, low), TopicPartition(t, p, high - 1)]
        for tp in wanted:  # one record at a time: a seek, a poll
            c.assign([tp])
            msg = c.poll(15)
            if msg is None or msg.error():
                raise KafkaIOError(f"reading {tp.topic}[{tp.partition}]@{tp.offset}: "
                                   f"{msg.error() if msg is not None else 'no record in 15 s'}")
            ms = msg.timestamp()[1]
            lo, hi = out.get(tp.topic, (ms, ms))
            out[tp.topic] = (min(lo, ms), max(hi, ms))
    finally:
        c.close()
    return out


def record(
    settings: KafkaSettings,
    venues: Sequence[str] | None = None,
    start_ns: int | None = None,
    end_ns: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[RawMessage]:
    """The raw messages in the `raw.<venue>` topics (all venues, or `venues`) with
    start_ns <= ts_recv < end_ns, in ts_recv order: what was there when recording began.

    Ties on ts_recv are ordered by venue id (cobflow.venues), then topic/partition/offset order.
    """
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer(client_config({
        "bootstrap.servers": settings.servers,
        "group.id": f"cobflow-record-{time.time_ns()}",
        "enable.auto.commit": False,
        "enable.partition.eof": False,
    }))
    try:
        md = c.list_topics(timeout=15)
        topics = []
        for name in sorted(md.topics):
            if not name.startswith(settings.raw_topic("")):
                continue
            venue = settings.venue_of_topic(name)
            if venue in VENUES and (venues is None or venue in venues):
                topics.append((name, venue))
        if not topics:
            raise KafkaIOError(f"no raw.<venue> topics (prefix {settings.topic_prefix!r}) on {settings.servers}")
        todo: dict[tuple[str, int], int] = {}  # (topic, partition) -> offset to stop at
        starts: list[TopicPartition] = []
        for name, _ in topics:
            for p in md.topics[name].partitions:
                low, high = c.get_watermark_offsets(TopicPartition(name, p), timeout=15)
                if high <= low:
                    continue
                todo[(name, p)] = high
                starts.append(TopicPartition(name, p, low))
        if start_ns is not None and starts:
            # The record timestamp is ts_recv in ms: seek to the first record at or after it.
            asked = [TopicPartition(tp.topic, tp.partition, start_ns // 1_000_000) for tp in starts]
            found = c.offsets_for_times(asked, timeout=15)
            starts = [TopicPartition(f.topic, f.partition, f.offset if f.offset >= 0 else todo[(f.topic, f.partition)])
                      for f in found]
            starts = [s for s in starts if s.offset < todo[(s.topic, s.partition)]]
            todo = {(s.topic, s.partition): todo[(s.topic, s.partition)] for s in starts}
        venue_of = dict(topics)
        keyed: list[tuple[int, str, str, int, int, RawMessage]] = []
        unreadable: list[str] = []
        if starts:
            c.assign(starts)
        n = 0
        while todo:
            for msg in c.consume(1000, timeout=1.0):
                if msg.error():
                    raise KafkaIOError(f"consume failed: {msg.error()}")
                tp = (msg.topic(), msg.partition())
                end = todo.get(tp)
                if end is None or msg.offset() >= end:
                    continue
                if msg.offset() + 1 >= end:
                    del todo[tp]
                venue = venue_of[msg.topic()]
                try:
                    raw = from_record(venue, msg.key(), msg.value(), msg.headers())
                except ValueError as exc:  # what the flow dead-letters (stage read), a recording leaves out
                    unreadable.append(unreadable_record(venue, msg, str(exc)).reason)
                    continue
                n += 1
                if progress and n % 1000 == 0:
                    progress(n)
                if (start_ns is not None and raw.ts_recv < start_ns) or (end_ns is not None and raw.ts_recv >= end_ns):
                    continue
                keyed.append((raw.ts_recv, venue, msg.topic(), msg.partition(), msg.offset(), raw))
        keyed.sort(key=lambda k: k[:5])
        if progress:
            progress(n)
        if unreadable:
            print(f"left out {len(unreadable):,} records that are no raw messages (first: {unreadable[0]})",
                  file=sys.stderr)
        return [k[5] for k in keyed]
    finally:
        c.close()
