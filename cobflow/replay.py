"""A capture file into the raw.<venue> Kafka topics (`cobflow replay`, the demo, Kafka-mode
backtests), refusing a topic whose time retention would delete what it publishes."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from cobflow.capture import read_capture
from cobflow.config import Settings
from cobflow.kafka_io import delete_topics, ensure_topics, publish, time_retention_ms
from cobflow.progress import Progress


class ReplayError(RuntimeError):
    pass


def replay(settings: Settings, path: Path, speed: float | None, reset: bool) -> int:
    """Publish the capture at `speed` times its recorded pace (None: as fast as possible);
    `reset` deletes and recreates the topics first. Returns the messages published."""
    # Two streaming passes (venues and count, then publish): a long recording never sits in memory.
    total, venues, oldest = 0, set(), None
    for m in read_capture(path):
        total += 1
        venues.add(m.exchange)
        oldest = m.ts_recv if oldest is None else min(oldest, m.ts_recv)
    topics = sorted(settings.kafka.raw_topic(v) for v in venues)
    if reset:
        delete_topics(settings.kafka, [*topics, settings.kafka.dlq()])
    ensure_topics(settings.kafka, [*topics, settings.kafka.dlq()])
    if oldest is not None:
        check_retention(settings, topics, oldest)
    pace = "as fast as possible" if not speed else f"at {speed:g}x recorded speed"
    print(f"replaying {total} messages from {path} into {', '.join(topics)} {pace}", file=sys.stderr)
    with Progress("replay", total) as bar:
        return publish(settings.kafka, read_capture(path), speed, bar)


def check_retention(settings: Settings, topics: list[str], oldest_ns: int) -> None:
    """Kafka deletes records older than a topic's retention.ms by their timestamp (ts_recv):
    refuse to replay what would vanish, rather than lose it quietly."""
    age_ms = time.time() * 1000 - oldest_ns / 1e6
    doomed = {t: ms for t, ms in time_retention_ms(settings.kafka, topics).items() if ms < age_ms}
    if doomed:
        names = ", ".join(f"{t} (retention.ms={ms})" for t, ms in sorted(doomed.items()))
        raise ReplayError(
            f"the capture's oldest message is {age_ms / 86_400_000:.1f} days old, and Kafka deletes records "
            f"older than their topic's retention: {names}. Replay with --reset (the topics are made again, "
            f"kept by size, not age), or set retention.ms=-1 on them.")
