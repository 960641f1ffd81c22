"""One second of the consolidated book (METRICS.md "Consolidated book", "Price buckets").

The venue books are bucketed whole with numpy once per second; nothing here walks a book in
Python level by level.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from cobflow import native
from cobflow.config import Bucket

OFFSETS = np.arange(-20, 21)  # the 41 buckets around the mid's bucket
N_BUCKETS = len(OFFSETS)


BucketSize = Bucket  # an absolute step or basis points of the mid (symbols.yaml `bucket`)


class VenueBook(Protocol):
    """What consolidation reads of a venue book: `L2Book`, or a native book (cobflow.native)."""

    def best_bid(self) -> tuple[float, float] | None: ...

    def best_ask(self) -> tuple[float, float] | None: ...

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """bid prices, bid sizes, ask prices, ask sizes; prices ascending (the order numpy
        sums them in, so that every kind of book gives the same bits)."""
        ...


class ConvertedBook:
    """A venue book seen in another quote currency (METRICS.md "Quote conversion"): every
    price times `rate`, sizes unchanged. Read-only, made afresh each second."""

    __slots__ = ("book", "rate")

    def __init__(self, book: VenueBook, rate: float) -> None:
        self.book, self.rate = book, rate

    def best_bid(self) -> tuple[float, float] | None:
        top = self.book.best_bid()
        return None if top is None else (top[0] * self.rate, top[1])

    def best_ask(self) -> tuple[float, float] | None:
        top = self.book.best_ask()
        return None if top is None else (top[0] * self.rate, top[1])

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        bp, bq, ap, aq = self.book.arrays()
        return bp * self.rate, bq, ap * self.rate, aq


@dataclass(slots=True)
class CobSecond:
    """The consolidated book's numbers for one second of one symbol."""

    venues: int
    best_bid: float | None
    best_ask: float | None
    mid: float | None
    microprice: float | None
    spread_bps: float | None
    crossed: bool
    bid_qty_total: float
    ask_qty_total: float
    liquidity_imbalance: float
    bucket_size: float | None = None
    center: int | None = None  # floor(mid / b)
    # per bucket, offsets -20..20 (absent when the mid is undefined: one side empty)
    price: np.ndarray | None = None
    bid_qty: np.ndarray | None = None
    ask_qty: np.ndarray | None = None
    bid_notional: np.ndarray | None = None
    ask_notional: np.ndarray | None = None
    bucket_venues: np.ndarray | None = None

    def imbalance(self) -> np.ndarray:
        """(bid - ask) / (bid + ask) per bucket, 0 where both are 0."""
        total = self.bid_qty + self.ask_qty
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.where(total > 0, (self.bid_qty - self.ask_qty) / total, 0.0)
        return out

    def vwap(self, side: str) -> np.ndarray:
        """notional / qty per bucket, NaN (stored as null) where the quantity is 0."""
        qty = self.bid_qty if side == "bid" else self.ask_qty
        notional = self.bid_notional if side == "bid" else self.ask_notional
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(qty > 0, notional / qty, np.nan)


def _imbalance(bid: float, ask: float) -> float:
    total = bid + ask
    return (bid - ask) / total if total > 0 else 0.0


def _bucket(books: list[VenueBook], b: float, center: int) -> tuple:
    """Each side's size and notional per bucket, the venues holding size there, the totals."""
    # all venues' levels of a side in one array: a few numpy calls per side, not per venue
    arrays = [book.arrays() for book in books]
    present = np.zeros((len(arrays), N_BUCKETS), dtype=bool)  # venue x bucket
    sums = []
    for col in (0, 2):  # bids, asks
        counts = [len(a[col]) for a in arrays]
        prices = np.concatenate([a[col] for a in arrays])
        sizes = np.concatenate([a[col + 1] for a in arrays])
        venue = np.repeat(np.arange(len(arrays)), counts)
        k = np.floor(prices / b).astype(np.int64) - center + 20
        inside = (k >= 0) & (k < N_BUCKETS)
        k, p, q, venue = k[inside], prices[inside], sizes[inside], venue[inside]
        sums.append((np.bincount(k, weights=q, minlength=N_BUCKETS),
                     np.bincount(k, weights=p * q, minlength=N_BUCKETS)))
        held = q > 0
        present[venue[held], k[held]] = True
    (bid_qty, bid_notional), (ask_qty, ask_notional) = sums
    return (bid_qty, bid_notional, ask_qty, ask_notional, present.sum(axis=0),
            float(bid_qty.sum()), float(ask_qty.sum()))


def consolidate(books: Mapping[str, VenueBook], bucket: BucketSize) -> CobSecond | None:
    """The consolidated book of the synced venue books given; None when there are none."""
    books = {v: b for v, b in books.items() if b is not None}
    if not books:
        return None
    tops = [(b.best_bid(), b.best_ask()) for b in books.values()]
    best_bids = [bid[0] for bid, _ in tops if bid]
    best_asks = [ask[0] for _, ask in tops if ask]
    best_bid = max(best_bids) if best_bids else None
    best_ask = min(best_asks) if best_asks else None
    if best_bid is None or best_ask is None:
        return CobSecond(len(books), best_bid, best_ask, None, None, None, False, 0.0, 0.0, 0.0)
    mid = (best_bid + best_ask) / 2
    spread_bps = (best_ask - best_bid) / mid * 1e4
    # a venue holds the consolidated best price only at its own best
    bid_at_best = sum(bid[1] if bid and bid[0] == best_bid else 0.0 for bid, _ in tops)
    ask_at_best = sum(ask[1] if ask and ask[0] == best_ask else 0.0 for _, ask in tops)
    microprice = (best_bid * ask_at_best + best_ask * bid_at_best) / (bid_at_best + ask_at_best)

    b = bucket.size(mid)
    center = math.floor(mid / b)
    venue_books = list(books.values())
    # native books are bucketed in one native call, to the same bits as the numpy code
    bid_qty, bid_notional, ask_qty, ask_notional, venues, bt, at = (
        native.bucket_books(venue_books, b, center) or _bucket(venue_books, b, center))
    return CobSecond(
        venues=len(books), best_bid=best_bid, best_ask=best_ask, mid=mid, microprice=microprice,
        spread_bps=spread_bps, crossed=best_ask < best_bid, bid_qty_total=bt, ask_qty_total=at,
        liquidity_imbalance=_imbalance(bt, at), bucket_size=b, center=center,
        price=(center + OFFSETS) * b, bid_qty=bid_qty, ask_qty=ask_qty, bid_notional=bid_notional,
        ask_notional=ask_notional, bucket_venues=venues,
    )
