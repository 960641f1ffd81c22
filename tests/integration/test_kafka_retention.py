"""Records in Kafka carry their ts_recv as timestamp, and Kafka deletes records older than a
topic's retention.ms by that timestamp. A capture replayed for a backtest is usually older
than the default 7 days: the topics cobflow makes keep records by size, never by age, and a
replay into a topic that would delete them is refused. (The test services check retention
every 5 s, so a deleting topic deletes within the test.)"""

from __future__ import annotations

import time

import pytest
from confluent_kafka.admin import ConfigResource, NewTopic

from cobflow.cli import ReplayError, replay
from cobflow.capture import write_capture
from cobflow.kafka_io import admin, ensure_topics, publish
from cobflow.raw import RawMessage
from tests.integration.helpers import consume_all

pytestmark = pytest.mark.integration
DAY_NS = 86_400 * 1_000_000_000


def old_messages(n: int) -> list[RawMessage]:
    t0 = time.time_ns() - 30 * DAY_NS  # a month ago
    return [RawMessage(t0 + i * 1_000_000, "binance", "ws", "test", "BTC-USDT", f'{{"i":{i}}}') for i in range(n)]


def topic_configs(settings, topic: str) -> dict[str, str]:
    res = ConfigResource(ConfigResource.Type.TOPIC, topic)
    client = admin(settings.kafka)  # kept until the answer is in: a dropped client cancels it
    return {k: v.value for k, v in client.describe_configs([res])[res].result().items()}


def test_a_month_old_capture_survives_the_retention_check(namespace):
    settings, _ = namespace
    topic = settings.kafka.raw_topic("binance")
    ensure_topics(settings.kafka, [topic])
    cfg = topic_configs(settings, topic)
    assert cfg["retention.ms"] == "-1" and cfg["retention.bytes"] == str(settings.kafka.retention_bytes)
    publish(settings.kafka, old_messages(500))
    time.sleep(12)  # two retention checks or more
    assert len(consume_all(settings.kafka, topic)) == 500


def test_a_topic_that_deletes_by_age_does_delete_and_a_replay_into_it_is_refused(namespace, tmp_path):
    settings, _ = namespace
    topic = settings.kafka.raw_topic("binance")
    week = str(7 * 86_400_000)  # Kafka's default retention, as a topic made elsewhere may have
    client = admin(settings.kafka)
    client.create_topics([NewTopic(topic, 3, 1, config={"retention.ms": week})])[topic].result()
    publish(settings.kafka, old_messages(500))
    time.sleep(12)
    assert len(consume_all(settings.kafka, topic)) == 0  # what the size-kept topics above prevent
    capture = tmp_path / "old.jsonl"
    write_capture(capture, old_messages(10))
    with pytest.raises(ReplayError, match=rf"30\.0 days old.*{topic} \(retention.ms={week}\).*--reset"):
        replay(settings, capture, None, reset=False)
    assert replay(settings, capture, None, reset=True) == 10  # made again, kept by size
    time.sleep(12)
    assert len(consume_all(settings.kafka, topic)) == 10
