"""The next-second fill model (EXECUTION.md "Orders and fills").

A market order decided at second S walks the venue books as they stand at the end of S+1:
the merged levels of every synced venue (`route: all`), best price first and, at equal
prices, venues in alphabetical order; or one venue's levels (`route: <venue>`). Each level
gives min(remaining, its size); what the books cannot fill is left unfilled (`partial`).
Fees are a separate model: each slice pays its notional x the venue's taker fee.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

ALL_VENUES = "all"


@dataclass(frozen=True, slots=True)
class VenueLevels:
    """The best levels of one synced venue book, best first on each side."""

    bid_prices: np.ndarray  # descending
    bid_sizes: np.ndarray
    ask_prices: np.ndarray  # ascending
    ask_sizes: np.ndarray


@dataclass(frozen=True, slots=True)
class BookTops:
    """What execution needs of one symbol's second: the top levels of each venue book that is
    synced at the end of second `s` (every event with ts_recv < s + 1s applied). Handed from
    the book step to the execution step and never stored in a table."""

    symbol: str
    s: int
    venues: dict[str, VenueLevels]  # prices in the symbol's quote
    rates: dict[str, float] = field(default_factory=dict)  # venue -> the rate its prices were converted at
    #: venue -> its trades of second `s` (venue prices, unconverted), for resting orders
    trades: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Slice:
    venue: str
    price: float
    qty: float  # > 0: the side is the order's
    liquidity: str = "taker"  # taker, or maker (a resting limit order's fill)


def _cover(prices: np.ndarray, sizes: np.ndarray, notional: float) -> int:
    """How many of these best-first levels an order of `notional` can reach."""
    if len(prices) == 0:
        return 0
    reach = np.cumsum(prices * sizes)
    return min(len(prices), int(np.searchsorted(reach, notional, side="left")) + 1)


#: levels each side hands execution at least, however few a market order needs: a resting
#: limit order's queue is known only at a price among the levels seen
MIN_LEVELS = 20


def venue_levels(bp_asc: np.ndarray, bq: np.ndarray, ap_asc: np.ndarray, aq: np.ndarray,
                 notional: float) -> VenueLevels:
    """A book's arrays (prices ascending, as `arrays()` gives them) cut to the levels worth
    `notional` on each side, best first, and to no fewer than `MIN_LEVELS`."""
    bp, bq = bp_asc[::-1], bq[::-1]
    nb = max(_cover(bp, bq, notional), min(len(bp), MIN_LEVELS))
    na = max(_cover(ap_asc, aq, notional), min(len(ap_asc), MIN_LEVELS))
    return VenueLevels(bp[:nb].copy(), bq[:nb].copy(), ap_asc[:na].copy(), aq[:na].copy())


def walk(books: dict[str, VenueLevels], qty: float, route: str = ALL_VENUES) -> list[Slice]:
    """Fill a market order of signed `qty` (> 0 buys from the asks, < 0 sells into the bids)
    against these books; the slices in the order the walk takes them."""
    if qty == 0:
        return []
    buy = qty > 0
    levels: list[tuple[float, str, float]] = []  # (sort price, venue, size)
    for venue in sorted(books):
        if route != ALL_VENUES and venue != route:
            continue
        lv = books[venue]
        prices, sizes = (lv.ask_prices, lv.ask_sizes) if buy else (lv.bid_prices, lv.bid_sizes)
        levels.extend((float(p), venue, float(q)) for p, q in zip(prices, sizes) if q > 0)
    # best first: lowest ask / highest bid; at equal prices the venue's name decides
    levels.sort(key=(lambda x: (x[0], x[1])) if buy else (lambda x: (-x[0], x[1])))
    remaining = abs(qty)
    out: list[Slice] = []
    for price, venue, size in levels:
        if remaining <= 0:
            break
        take = remaining if size >= remaining else size
        out.append(Slice(venue, price, take))
        remaining -= take
    return out


def slice_fee(s: Slice, fee_bps: float) -> float:
    """EXECUTION.md: notional x the venue's fee (taker or maker) / 1e4."""
    return s.price * s.qty * fee_bps / 1e4


# -- the models as objects: fill, fee and latency, separate (as hftbacktest keeps them) ---------

class FillModel:
    """How a market order fills against the books of its arrival second."""

    def fill(self, books: dict[str, VenueLevels], qty: float, route: str = ALL_VENUES) -> list[Slice]:
        """The slices of a market order, in the order taken.

        Args:
            books: venue -> its best levels at the end of the arrival second (prices in the
                symbol's quote: a converted market's are already converted).
            qty: signed size in base units (> 0 buys from the asks, < 0 sells into the bids).
            route: `all` (the merged books) or one venue.

        Returns:
            The slices taken, each a venue, a price and a positive size; what the books
            cannot fill is left out (the order is then `partial` or `unfilled`).
        """
        raise NotImplementedError


class BookWalk(FillModel):
    """EXECUTION.md's walk of the synced venue books (the default)."""

    def fill(self, books: dict[str, VenueLevels], qty: float, route: str = ALL_VENUES) -> list[Slice]:
        return walk(books, qty, route)


class FeeModel:
    """What a slice pays (negative: a rebate)."""

    def fee(self, s: Slice) -> float:
        """Args:
            s: one slice of an order's fill (venue, price, size).

        Returns:
            The fee in the symbol's quote, >= 0 paid, < 0 a rebate.
        """
        raise NotImplementedError


class TakerFee(FeeModel):
    """EXECUTION.md: notional x the venue's `taker_fee_bps` / 1e4 (default 10 bps); a maker
    fill pays the venue's `maker_fee_bps` (default 2; negative: a rebate)."""

    def __init__(self, bps: dict[str, float], default_bps: float = 10.0, maker_bps: dict[str, float] | None = None,
                 maker_default_bps: float = 2.0) -> None:
        self.bps = dict(bps)
        self.default_bps = default_bps
        self.maker_bps = dict(maker_bps or {})
        self.maker_default_bps = maker_default_bps

    def fee(self, s: Slice) -> float:
        if s.liquidity == "maker":
            return slice_fee(s, self.maker_bps.get(s.venue, self.maker_default_bps))
        return slice_fee(s, self.bps.get(s.venue, self.default_bps))


class LatencyModel:
    """When an order decided at second S reaches the venue: the second whose closing books
    it fills against."""

    def arrival(self, decision_s: int) -> int:
        """Args:
            decision_s: the epoch second S of the decision.

        Returns:
            The epoch second (> S: nothing of later seconds was known at S) whose closing
            books the order fills against.
        """
        raise NotImplementedError


class NextSecond(LatencyModel):
    """EXECUTION.md's next-second rule: created at S + 1s, filled by the books at the end of
    S + 1 (nothing of S + 1 was known at the decision)."""

    def arrival(self, decision_s: int) -> int:
        return decision_s + 1
