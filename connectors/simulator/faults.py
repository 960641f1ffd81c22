"""Faults injected into a simulated feed, so the dead-letter path and book recovery can be
seen working (the demo) and tested: a frame cut short in transit is malformed, and the
venue's next delta then does not connect to the book."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator

from cobflow.raw import RawMessage

NS = 1_000_000_000


def truncate_frames(messages: Iterable[RawMessage], venue: str, every_s: float,
                    first_s: float = 10.0) -> Iterator[RawMessage]:
    """Cut one websocket text frame of `venue` in half every `every_s` seconds of market
    time, starting `first_s` after the first message. Everything else passes unchanged."""
    due: int | None = None
    for msg in messages:
        if due is None:
            due = msg.ts_recv + int(first_s * NS)
        if (msg.ts_recv >= due and msg.exchange == venue and msg.kind == "ws"
                and msg.encoding is None and len(msg.payload) > 2):
            msg = dataclasses.replace(msg, payload=msg.payload[: len(msg.payload) // 2])
            due += int(every_s * NS)
        yield msg
