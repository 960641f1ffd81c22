"""Times as users type them: ISO 8601 (UTC unless it says otherwise), integer ns since the
epoch, or `now`; durations (90s, 30m, 2h)."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

NS = 1_000_000_000


def parse_time(text: str) -> int:
    """ISO 8601, integer ns or `now` -> ns since the epoch."""
    if text == "now":
        return time.time_ns()
    if text.isdigit():
        return int(text)
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is not a time: use ISO 8601 (2026-01-01T00:00:00Z), ns since the epoch, "
                         f"or 'now'") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp()) * NS + dt.microsecond * 1000


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """`90`, `90s`, `30m`, `2h`, `1d` -> seconds."""
    m = _DURATION.match(text)
    if m is None or float(m.group(1)) <= 0:
        raise ValueError(f"expected a positive duration like 90s, 30m, 2h or 1d, got {text!r}")
    return float(m.group(1)) * _UNIT_S[m.group(2) or "s"]
