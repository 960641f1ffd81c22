"""Times as users type them: ISO 8601 (UTC unless it says otherwise), integer ns since the
epoch, or `now`."""

from __future__ import annotations

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
