"""The normalized events every venue parser produces (the contract beside `RawMessage`):
book snapshots and deltas, trades, instrument precision, and a book's health counters
(METRICS.md "Book health"). A frame that cannot be understood raises `MalformedFrame`."""

from __future__ import annotations

from dataclasses import dataclass, fields

from cobflow.book import Level

TextLevel = tuple[str, str]  # (price, size) exactly as the venue printed them: checksums need them


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
    checksum: int | None = None  # the venue's checksum of the book after this frame
    text: tuple[list[TextLevel], list[TextLevel]] | None = None  # (bids, asks) as printed
    depth: int | None = None  # levels per side the venue maintains (books are cut to it)


@dataclass(slots=True)
class BookDelta:
    venue: str
    market: str
    ts_recv: int
    bids: list[Level]
    asks: list[Level]
    seq: int | None = None  # the venue's sequence number after this delta
    prev_seq: int | None = None  # the sequence number the delta continues from
    checksum: int | None = None
    text: tuple[list[TextLevel], list[TextLevel]] | None = None


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


@dataclass(slots=True)
class Precision:
    """Decimal places of an instrument's prices and sizes (Kraken v2 checksums need them)."""

    venue: str
    market: str
    ts_recv: int
    price: int
    size: int
    inferred: bool = False  # guessed from the decimals printed; an instrument frame overrides it


Event = BookSnapshot | BookDelta | Trade | Precision


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
        return {name: getattr(self, name) for name in _HEALTH_FIELDS}


_HEALTH_FIELDS = tuple(f.name for f in fields(BookHealth))
