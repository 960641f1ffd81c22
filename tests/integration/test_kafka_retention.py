"""Records in Kafka carry their ts_recv as timestamp, and Kafka deletes records older than a
topic's retention.ms by that timestamp. A capture replayed for a backtest is usually older
than the default 7 days: the topics cobflow makes keep records by size, never by age, and a
replay into a topic that would delete them is refused. (The test services check retention
every 5 s, starting at once.)"""

from __future__ import annotations

import time

import pytest
from confluent_kafka.admin import NewTopic

from cobflow.capture import write_capture
from cobflow.kafka_io import admin, ensure_topics, publish, topic_configs
from cobflow.raw import RawMessage
from cobflow.replay import ReplayError, replay
from tests.integration.helpers import consume_all

pytestmark = pytest.mark.integration
DAY_NS = 86_400 * 1_000_000_000
WEEK_MS = str(7 * 86_400_000)  # Kafka's default retention, as a topic made elsewhere may have


def old_messages(n: int, venue: str = "binance") -> list[RawMessage]:
    t0 = time.time_ns() - 30 * DAY_NS  # a month ago
    return [RawMessage(t0 + i * 1_000_000, venue, "ws", "test", "BTC-USDT", f'{{"i":{i}}}') for i in range(n)]


def make_week_topic(settings, topic: str) -> None:
    client = admin(settings.kafka)
    client.create_topics([NewTopic(topic, 3, 1, config={"retention.ms": WEEK_MS})])[topic].result()


def test_a_month_old_capture_survives_where_a_week_topic_loses_it(namespace):
    settings, _ = namespace
    kept, control = settings.kafka.raw_topic("binance"), settings.kafka.raw_topic("kraken")
    ensure_topics(settings.kafka, [kept])
    cfg = topic_configs(settings.kafka, [kept])[kept]
    assert cfg["retention.ms"] == "-1" and cfg["retention.bytes"] == str(settings.kafka.retention_bytes)
    make_week_topic(settings, control)
    publish(settings.kafka, old_messages(500, "binance") + old_messages(500, "kraken"))
    deadline = time.monotonic() + 90
    while consume_all(settings.kafka, control):  # until a retention check has deleted them there
        assert time.monotonic() < deadline, "Kafka's retention never ran on the 7-day topic"
        time.sleep(2)
    assert len(consume_all(settings.kafka, kept)) == 500


def test_a_replay_into_a_topic_that_deletes_by_age_is_refused(namespace, tmp_path):
    settings, _ = namespace
    topic = settings.kafka.raw_topic("binance")
    make_week_topic(settings, topic)
    capture = tmp_path / "old.jsonl"
    write_capture(capture, old_messages(10))
    with pytest.raises(ReplayError, match=rf"30\.0 days old.*{topic} \(retention.ms={WEEK_MS}\).*--reset"):
        replay(settings, capture, None, reset=False)
    assert replay(settings, capture, None, reset=True) == 10  # made again, kept by size
    assert topic_configs(settings.kafka, [topic])[topic]["retention.ms"] == "-1"
    assert len(consume_all(settings.kafka, topic)) == 10
