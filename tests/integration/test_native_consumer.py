"""The native core's Kafka consumer on the real broker: the Kafka source reads the same items
through it as through confluent-kafka's consumer (odd records included), and a partition
paused at its end and resumed is fetched from the offset expected (librdkafka 2.12's batch
call moves the position past the end-of-partition event; the consumer's resume seeks)."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import OFFSET_BEGINNING, TopicPartition

from cobflow import native
from cobflow.kafka_io import ensure_topics, producer, publish
from cobflow.tables import TableRow
from tests.integration.test_kafka_source import S, messages, read_all

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not native.available(), reason="the native core is not built")]


def test_the_source_reads_the_same_items_through_either_consumer(namespace, monkeypatch):
    settings, _ = namespace
    topics = {settings.kafka.raw_topic(v): v for v in ("binance", "kraken")}
    ensure_topics(settings.kafka, list(topics))
    publish(settings.kafka, messages("binance", 400, S // 10, ["A", "B", "C"]) + messages("kraken", 40, S, ["A", "B"]))
    p = producer(settings.kafka)
    odd = [  # (key, value, headers): each a case of the reader's rules
        (None, b'{"no":"key"}', [("ts_recv", str(20 * S).encode())]),
        (b"A", None, [("ts_recv", str(21 * S).encode()), ("kind", None)]),  # no value; a header without one
        (b"A", b"\xff\xfe", [("ts_recv", str(22 * S).encode())]),  # not UTF-8: replaced, in Python
        (b"A", b"\x1f\x8b", [("ts_recv", str(23 * S).encode()), ("encoding", b"base64-gzip")]),
        (b"A", b"{}", [("ts_recv", b" 24000000000")]),  # int() takes it; the native reader leaves it
        (b"A", b"{}", [("ts_recv", b"later")]),  # a dead letter
        (b"\xff", b"{}", [("ts_recv", str(25 * S).encode())]),  # a key that is not UTF-8
        (b"B", b"{}", [("ts_recv", str(26 * S).encode()), ("ts_recv", None), ("channel", b"trades")]),
    ]
    for key, value, headers in odd:
        p.produce(settings.kafka.raw_topic("kraken"), key=key, value=value, headers=headers)
    p.flush(10)

    def items(out: list) -> list:
        return sorted(repr(x) for x in out if not isinstance(x, TableRow))

    natively = items(read_all(settings, topics, 64, 5.0))
    monkeypatch.setattr(native, "kafka_consumer", lambda config, venue_of: None)
    by_confluent = items(read_all(settings, topics, 64, 5.0))
    assert natively == by_confluent
    assert len(natively) == 400 + 40 + len(odd)
    assert sum("DeadLetter" in x for x in natively) == 2  # "later", and the key that is not UTF-8


def fetch_all(consumer, until: float) -> list:
    """(offset or None, error code or None) of each record fetched until `until`."""
    got = []
    while time.monotonic() < until:
        if consumer.fetch(100, 0.1):
            while (r := consumer.take()) is not None:
                got.append((r.offset(), None if r.error() is None else r.error().code()))
    return got


def test_a_partition_paused_at_its_end_resumes_at_the_offset_expected(namespace):
    settings, _ = namespace
    topic = settings.kafka.raw_topic("okx")
    ensure_topics(settings.kafka, [topic], partitions=1)
    publish(settings.kafka, messages("okx", 5, S, ["A"]))
    c = native.kafka_consumer({"bootstrap.servers": settings.kafka.servers, "group.id": "cobflow-test",
                               "enable.partition.eof": "true", "enable.auto.commit": "false"}, {topic: "okx"})
    try:
        code, reason, parts = c.partitions(15.0)
        assert code == 0 and parts[topic] == [0], reason
        c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        first = fetch_all(c, time.monotonic() + 3)
        assert [o for o, e in first if e is None] == [0, 1, 2, 3, 4]
        assert any(e is not None for _, e in first)  # the end-of-partition event, read by the batch call
        c.pause([TopicPartition(topic, 0)])
        publish(settings.kafka, messages("okx", 2, S, ["A"]))  # offsets 5 and 6
        c.resume([TopicPartition(topic, 0, 5)])
        after = [o for o, e in fetch_all(c, time.monotonic() + 3) if e is None]
        assert after == [5, 6]  # without the seek: [6] (fetched from the end + 1)
        low, high = c.get_watermark_offsets(TopicPartition(topic, 0), cached=True)
        assert high == 7
    finally:
        c.close()
