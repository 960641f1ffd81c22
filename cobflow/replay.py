"""A capture file into the raw.<venue> Kafka topics (`cobflow replay`, the demo, Kafka-mode
backtests), refusing a topic whose time retention would delete what it publishes."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from cobflow.capture import read_capture
from cobflow.config import Settings
from cobflow.kafka_io import delete_topics, ensure_topics, publish, time_ranges, time_retention_ms
from cobflow.progress import Progress


class ReplayError(RuntimeError):
    pass


def replay(settings: Settings, path: Path, speed: float | None, reset: bool, append: bool = False) -> int:
    """Publish the capture at `speed` times its recorded pace (None: as fast as possible);
    `reset` deletes and recreates the topics first. A topic that already holds records in
    the capture's time range (the same capture replayed twice, say) is refused unless
    `reset` or `append`. Returns the messages published."""
    # Two streaming passes (venues and count, then publish): a long recording never sits in memory.
    total = 0
    spans: dict[str, tuple[int, int]] = {}  # venue -> (first, last) ts_recv
    for m in read_capture(path):
        total += 1
        lo, hi = spans.get(m.exchange, (m.ts_recv, m.ts_recv))
        spans[m.exchange] = (min(lo, m.ts_recv), max(hi, m.ts_recv))
    oldest = min((lo for lo, _ in spans.values()), default=None)
    topics = sorted(settings.kafka.raw_topic(v) for v in spans)
    if reset:
        delete_topics(settings.kafka, [*topics, settings.kafka.dlq()])
    ensure_topics(settings.kafka, [*topics, settings.kafka.dlq()])
    if not reset and not append:
        check_overlap(settings, spans, path)
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


def check_overlap(settings: Settings, spans: dict[str, tuple[int, int]], path: Path) -> None:
    """The capture's time range per venue against what its topic already holds: records of
    the same seconds twice would be merged by the flows into wrong books and bars."""
    topic_of = {v: settings.kafka.raw_topic(v) for v in spans}
    held = time_ranges(settings.kafka, list(topic_of.values()))
    clashes = []
    for venue, (lo, hi) in sorted(spans.items()):
        have = held.get(topic_of[venue])
        if have is not None and lo // 1_000_000 <= have[1] and hi // 1_000_000 >= have[0]:
            clashes.append(f"{topic_of[venue]} holds {_iso(have[0])} .. {_iso(have[1])}")
    if clashes:
        raise ReplayError(f"{path} overlaps what the topics already hold ({'; '.join(clashes)}): replay with "
                          "--reset (the topics made anew) or --append (added beside them anyway)")


def _iso(ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z"
