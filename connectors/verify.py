"""Run raw messages through the venue parsers and book builders and count what happened.

`cobflow books verify FILE` prints the counts per venue and market; the live clients use the
same `BookChecker` to notice a lost book and ask the venue for a fresh snapshot.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from cobflow.connectors import get_venue
from cobflow.connectors.base import BookSyncBase
from cobflow.deadletter import DeadLetter
from cobflow.events import BookDelta, BookSnapshot, MalformedFrame, Precision, Trade
from cobflow.raw import RawMessage

CONTROL = "-"  # frames that belong to no market (subscription acks, heartbeats)


@dataclass
class MarketCounts:
    venue: str
    market: str
    frames: int = 0
    snapshots: int = 0
    deltas: int = 0
    trades: int = 0
    gaps: int = 0
    checksum_checks: int = 0
    checksum_failures: int = 0
    resyncs: int = 0
    malformed: int = 0
    crossed: int = 0  # frames after which the synced book had best bid >= best ask
    synced: bool | None = None  # at the end; None for markets without a book
    problems: list[str] = field(default_factory=list)

    COLUMNS = ("frames", "snapshots", "deltas", "trades", "gaps", "checksum_checks",
               "checksum_failures", "resyncs", "malformed", "crossed")

    @property
    def failed(self) -> bool:
        return bool(self.gaps or self.checksum_failures or self.malformed or self.crossed)


class BookChecker:
    """Books for every venue market seen, fed one raw message at a time."""

    def __init__(self, keep_problems: int = 5) -> None:
        self.books: dict[tuple[str, str], BookSyncBase] = {}
        self.counts: dict[tuple[str, str], MarketCounts] = {}
        self.keep_problems = keep_problems
        self._parsers: dict = {}
        self._book_types: dict = {}

    def _count(self, venue: str, market: str) -> MarketCounts:
        c = self.counts.get((venue, market))
        if c is None:
            c = self.counts[(venue, market)] = MarketCounts(venue, market)
        return c

    def _note(self, c: MarketCounts, problem: DeadLetter) -> DeadLetter:
        if len(c.problems) < self.keep_problems:
            c.problems.append(f"{problem.stage}: {problem.reason}")
        return problem

    def book(self, venue: str, market: str) -> BookSyncBase:
        b = self.books.get((venue, market))
        if b is None:
            if venue not in self._book_types:
                self._book_types[venue] = get_venue(venue).BookSync
            b = self.books[(venue, market)] = self._book_types[venue]()
        return b

    def feed(self, raw: RawMessage) -> list[DeadLetter]:
        """Apply one raw message; return what went wrong (malformed frame, gap, checksum)."""
        parse = self._parsers.get(raw.exchange)
        if parse is None:
            parse = self._parsers[raw.exchange] = get_venue(raw.exchange).parse
        try:
            events = parse(raw)
        except MalformedFrame as exc:
            c = self._count(raw.exchange, raw.symbol or CONTROL)
            c.frames += 1
            c.malformed += 1
            return [self._note(c, DeadLetter("parse", str(exc), raw))]
        markets = {e.market for e in events} or {raw.symbol or CONTROL}
        for m in markets:
            self._count(raw.exchange, m).frames += 1
        problems: list[DeadLetter] = []
        for e in events:
            c = self._count(e.venue, e.market)
            if isinstance(e, Trade):
                c.trades += 1
                continue
            book = self.book(e.venue, e.market)
            if isinstance(e, BookSnapshot):
                c.snapshots += 1
            elif isinstance(e, BookDelta):
                c.deltas += 1
            reason = book.apply(e)
            if reason is not None:
                problems.append(self._note(c, DeadLetter("sync", reason, raw)))
            elif book.synced and not isinstance(e, Precision) and book.book.crossed():
                c.crossed += 1
                self._note(c, DeadLetter("sync", "book crossed", raw))
        return problems

    def report(self) -> list[MarketCounts]:
        for (venue, market), book in self.books.items():
            c = self._count(venue, market)
            h = book.health
            c.gaps, c.checksum_checks, c.checksum_failures = h.gaps, h.checksum_checks, h.checksum_failures
            c.resyncs = h.resyncs
            c.malformed = max(c.malformed, h.malformed)
            c.synced = book.synced
        return sorted(self.counts.values(), key=lambda c: (c.venue, c.market == CONTROL, c.market))


@dataclass
class VerifyResult:
    markets: list[MarketCounts]
    messages: int
    seconds: float

    @property
    def ok(self) -> bool:
        return not any(c.failed for c in self.markets)


def verify(messages: Iterable[RawMessage], dead_letters: list[DeadLetter] | None = None) -> VerifyResult:
    """Feed every message; the dead letters (what failed, why, the frame) go to `dead_letters`."""
    checker = BookChecker()
    n = 0
    start = time.perf_counter()
    for raw in messages:
        problems = checker.feed(raw)
        if problems and dead_letters is not None:
            dead_letters.extend(problems)
        n += 1
    return VerifyResult(checker.report(), n, time.perf_counter() - start)


def format_report(result: VerifyResult) -> str:
    head = ("venue", "market", *MarketCounts.COLUMNS, "synced")
    rows = [head]
    for c in result.markets:
        synced = "-" if c.synced is None else ("yes" if c.synced else "NO")
        rows.append((c.venue, c.market, *(str(getattr(c, k)) for k in MarketCounts.COLUMNS), synced))
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(v.rjust(w) if i > 1 else v.ljust(w) for i, (v, w) in enumerate(zip(r, widths)))
             for r in rows]
    for c in result.markets:
        for p in c.problems:
            lines.append(f"  {c.venue} {c.market}: {p}")
    rate = result.messages / result.seconds if result.seconds > 0 else float("inf")
    failed = sum(c.failed for c in result.markets)
    verdict = "OK" if result.ok else f"FAILED ({failed} market(s) with gaps, checksum failures or malformed frames)"
    lines.append(f"{result.messages} messages parsed and applied in {result.seconds:.2f}s "
                 f"({rate:,.0f} msg/s): {verdict}")
    return "\n".join(lines)
