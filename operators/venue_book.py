"""One venue market's book, kept in sync and sampled once per second of `ts_recv`.

The state at second S is the book after every event with ts_recv < S+1s (METRICS.md). A
second closes when a later message arrives for this market, at the end of the input, or
(live) after `idle_timeout` seconds of silence. A message that arrives for a second
already closed is applied to the next one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import bytewax.operators as op
from bytewax.dataflow import Stream, operator
from bytewax.operators import StatefulBatchLogic

from cobflow.connectors import get_venue
from cobflow.connectors.base import BookSyncBase
from cobflow.deadletter import DeadLetter
from cobflow.operators.parse import Parsed, apply_to_book
from cobflow.operators.state import snapshot, unstamp
from cobflow.records import Seconds, VenueSecond, VenueTop

NS = 1_000_000_000
#: A silence longer than this (an outage, a replay spanning days) is not filled with
#: repeated rows: the book is stale, the next rows start when messages do.
MAX_FILL_SECONDS = 3600


@dataclass
class VenueBookState:
    venue: str
    market: str
    sync: BookSyncBase
    next_second: int | None = None  # the first second not yet emitted
    open: bool = False  # next_second has messages applied and is not emitted yet
    last_arrival: datetime | None = field(default=None, compare=False)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class VenueBookLogic(StatefulBatchLogic[Parsed | DeadLetter, Seconds[VenueSecond], VenueBookState]):
    def __init__(self, state: VenueBookState | None, idle_timeout: float | None) -> None:
        self.state = state
        self.idle_timeout = timedelta(seconds=idle_timeout) if idle_timeout else None

    def _init_state(self, item: Parsed | DeadLetter) -> VenueBookState:
        raw = item.raw
        market = item.events[0].market if isinstance(item, Parsed) else (raw.symbol or "*")
        return VenueBookState(raw.exchange, market, get_venue(raw.exchange).BookSync())

    def on_batch(self, values: list[Parsed | DeadLetter]) -> tuple[list, bool]:
        st = self.state
        if st is None:
            st = self.state = self._init_state(values[0])
        out: list[VenueSecond] = []
        dead: list[DeadLetter] = []
        sync = st.sync
        for item in values:
            second = item.raw.ts_recv // NS
            if st.next_second is None:
                st.next_second = second
            elif second > st.next_second:
                self._close_until(second, out)
            st.open = True
            dead.extend(apply_to_book(sync, item)[1])
        st.last_arrival = _utcnow()
        return _one(out, dead), StatefulBatchLogic.RETAIN

    def _close_until(self, second: int, out: list[VenueSecond]) -> None:
        """Emit every second from next_second up to (excluding) `second`."""
        st = self.state
        start = st.next_second
        end = min(second, start + MAX_FILL_SECONDS)
        for s in range(start, end):
            out.append(self._second(s))
        st.next_second = second
        st.open = False

    def _second(self, second: int) -> VenueSecond:
        st = self.state
        sync = st.sync
        health = sync.health.as_dict()
        health["synced"] = sync.synced
        top = None
        if sync.synced:
            bid = sync.book.best_bid()
            ask = sync.book.best_ask()
            top = VenueTop(bid[0] if bid else None, bid[1] if bid else None, ask[0] if ask else None,
                           ask[1] if ask else None, (bid[0] + ask[0]) / 2 if bid and ask else None)
        return VenueSecond(st.venue, st.market, second, health, top)

    def _close_open_second(self) -> list[Seconds[VenueSecond]]:
        out: list[VenueSecond] = []
        st = self.state
        if st is not None and st.open:
            self._close_until(st.next_second + 1, out)
        return _one(out, [])

    def on_eof(self) -> tuple[list, bool]:
        return self._close_open_second(), StatefulBatchLogic.RETAIN

    def on_notify(self) -> tuple[list, bool]:
        st = self.state
        if st is not None and st.last_arrival is not None and self.idle_timeout is not None:
            if _utcnow() - st.last_arrival >= self.idle_timeout:
                return self._close_open_second(), StatefulBatchLogic.RETAIN
        return [], StatefulBatchLogic.RETAIN

    def notify_at(self) -> datetime | None:
        st = self.state
        if self.idle_timeout is None or st is None or not st.open or st.last_arrival is None:
            return None
        return st.last_arrival + self.idle_timeout

    def snapshot(self) -> tuple[int, VenueBookState] | None:
        return snapshot(self.state)


def _one(seconds: list[VenueSecond], dead: list[DeadLetter]) -> list[Seconds[VenueSecond]]:
    return [Seconds(seconds, dead)] if seconds or dead else []


@operator
def venue_books(
    step_id: str,
    up: Stream[tuple[str, Parsed | DeadLetter]],
    idle_timeout: float | None = None,
) -> Stream[Seconds[VenueSecond]]:
    """Keep each venue market's book in sync; emit its top of book and health per second.

    `idle_timeout` (live mode) closes a silent market's open second after that many
    seconds of wall time; None closes seconds only on later messages and at the end.
    """
    keyed = op.stateful_batch(
        "book", up, lambda resume: VenueBookLogic(unstamp(resume, step_id), idle_timeout)
    )
    return op.map("unkey", keyed, lambda kv: kv[1])
