"""What every venue module produces: normalized events, and a book that follows the
venue's own sync rules and counts what happened (METRICS.md "Book health")."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, fields

from cobflow.book import L2Book, Level


class MalformedFrame(ValueError):
    """The frame cannot be understood; the message is the reason sent to the dead-letter topic."""


@dataclass(slots=True)
class BookSnapshot:
    venue: str
    market: str
    ts_recv: int
    bids: list[Level]
    asks: list[Level]
    seq: int | None = None  # the venue's sequence number the snapshot is at


@dataclass(slots=True)
class BookDelta:
    venue: str
    market: str
    ts_recv: int
    bids: list[Level]
    asks: list[Level]
    first_seq: int | None = None
    last_seq: int | None = None


@dataclass(slots=True)
class Trade:
    venue: str
    market: str
    ts_recv: int
    price: float
    size: float
    side: str  # "buy" when the taker bought
    trade_id: str | None = None
    ts_exchange: int | None = None  # ns


Event = BookSnapshot | BookDelta | Trade


def levels(raw: object, what: str) -> list[Level]:
    """`[["price", "size"], ...]` -> [(price, size)]; rejects what no book may hold."""
    if not isinstance(raw, list):
        raise MalformedFrame(f"{what}: expected a list of [price, size], got {type(raw).__name__}")
    try:
        out = [(float(p), float(q)) for p, q, *_ in raw]
    except (TypeError, ValueError) as exc:
        raise MalformedFrame(f"{what}: bad price level ({exc})") from None
    for p, q in out:
        if not (math.isfinite(p) and math.isfinite(q)) or p <= 0 or q < 0:
            raise MalformedFrame(f"{what}: invalid level price={p} size={q}")
    return out


@dataclass(slots=True)
class BookHealth:
    snapshots: int = 0
    updates: int = 0
    gaps: int = 0
    checksum_checks: int = 0
    checksum_failures: int = 0
    resyncs: int = 0
    malformed: int = 0

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


class BookSyncBase(ABC):
    """One venue market's book and the venue's rules for keeping it in sync."""

    def __init__(self) -> None:
        self.book = L2Book()
        self.synced = False
        self.health = BookHealth()
        self._lost = False  # synced once, then lost: the next snapshot is a resync

    @abstractmethod
    def apply(self, event: BookSnapshot | BookDelta) -> str | None:
        """Apply one event; return the reason when it broke the sync, else None."""

    def _mark_synced(self) -> None:
        if self._lost:
            self.health.resyncs += 1
            self._lost = False
        self.synced = True
        self.health.snapshots += 1

    def _mark_lost(self) -> None:
        self.synced = False
        self._lost = True
        self.book.clear()
