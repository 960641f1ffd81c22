"""record(replay(f)) == f on real Kafka: every venue's recorded frames, binary HTX frames
included, and the simulator straight into Kafka equals the simulator into a file."""

from __future__ import annotations

import pytest

from cobflow.capture import read_capture, write_capture
from cobflow.connectors.cryptofeed import import_cryptofeed
from tests.integration.helpers import cobflow, consume_all
from tests.simdata import ALL_VENUES

pytestmark = pytest.mark.integration

FIXTURES = ["BINANCE.ws.1.0", "BINANCE.http.0.0", "COINBASE.ws.28.0", "KRAKEN.ws.50.0", "BITFINEX.ws.11.0",
            "HUOBI.ws.44.0", "OKX.ws.1.0", "BYBIT.ws.25.0"]


def test_record_of_replay_is_the_capture(namespace, captures, tmp_path):
    settings, env = namespace
    original = tmp_path / "all.jsonl"
    write_capture(original, import_cryptofeed([captures / f for f in FIXTURES]))
    out = cobflow(env, "replay", str(original))
    assert "replay 100%|" in out  # the progress bar got to the end
    back = tmp_path / "back.jsonl"
    cobflow(env, "record", "--out", str(back))
    assert back.read_bytes() == original.read_bytes()
    assert len(list(read_capture(back))) == 20343


def test_record_a_time_range_and_some_venues(namespace, captures, tmp_path):
    settings, env = namespace
    msgs = import_cryptofeed([captures / "KRAKEN.ws.50.0", captures / "OKX.ws.1.0"])
    original = tmp_path / "two.jsonl.gz"
    write_capture(original, msgs)
    cobflow(env, "replay", str(original))
    kraken = [m for m in msgs if m.exchange == "kraken"]
    start, end = kraken[100].ts_recv, kraken[200].ts_recv
    part = tmp_path / "part.parquet"
    cobflow(env, "record", "--out", str(part), "--venues", "kraken", "--from", str(start), "--to", str(end))
    assert list(read_capture(part)) == kraken[100:200]


def test_simulate_into_kafka_equals_simulate_into_a_file(namespace, tmp_path):
    settings, env = namespace
    file = tmp_path / "sim.jsonl"
    cobflow(env, "--config", str(ALL_VENUES), "simulate", "--duration", "10", "--seed", "4", "--out", str(file))
    cobflow(env, "--config", str(ALL_VENUES), "simulate", "--duration", "10", "--seed", "4", "--speed", "max")
    back = tmp_path / "back.jsonl"
    cobflow(env, "record", "--out", str(back))
    assert back.read_bytes() == file.read_bytes()
    out = cobflow(env, "books", "verify", str(back))
    assert out.rstrip().endswith(": OK")


def test_replaying_the_same_capture_twice_is_refused_without_reset_or_append(namespace, tmp_path):
    """Twice the same seconds in a topic would be merged by the flows into wrong books and
    bars (43 rows changed, silently). A later capture is added without a word; an
    overlapping one needs --reset or --append."""
    import subprocess
    import sys

    from cobflow.kafka_io import time_ranges
    from cobflow.raw import RawMessage

    settings, env = namespace
    first, later = tmp_path / "first.jsonl", tmp_path / "later.jsonl"
    s = 1_000_000_000
    write_capture(first, [RawMessage(1_700_000_000 * s + i * s, "okx", "ws", "books", "BTC-USDT", "{}")
                          for i in range(10)])
    write_capture(later, [RawMessage(1_700_000_100 * s + i * s, "okx", "ws", "books", "BTC-USDT", "{}")
                          for i in range(10)])
    cobflow(env, "replay", str(first))
    cobflow(env, "replay", str(later))  # after what the topic holds: no overlap
    topic = settings.kafka.raw_topic("okx")
    assert time_ranges(settings.kafka, [topic]) == {topic: (1_700_000_000_000, 1_700_000_109_000)}
    again = subprocess.run([sys.executable, "-m", "cobflow", "replay", str(first)], env=env, capture_output=True,
                           text=True)
    assert again.returncode != 0 and len(again.stderr.strip().splitlines()) == 1, again.stderr
    assert (f"{first} overlaps what the topics already hold ({topic} holds 2023-11-14T22:13:20.000Z .. "
            "2023-11-14T22:15:09.000Z): replay with --reset") in again.stderr
    assert len(consume_all(settings.kafka, topic)) == 20  # nothing published by the refused replay
    cobflow(env, "replay", str(first), "--append")
    assert len(consume_all(settings.kafka, topic)) == 30
    cobflow(env, "replay", str(first), "--reset")
    assert len(consume_all(settings.kafka, topic)) == 10
