"""Rule signals per symbol and second (the `signals` table).

- `imbalance`: the whole-book liquidity imbalance average `li_ma_N` crossing +threshold
  (direction +1: bids outweigh asks) or -threshold (-1), at the second it crosses.
- `arbitrage`: one venue's executable bid above another's executable ask for the configured
  size, net of both taker fees: edge = (bid x (1 - fee_a) - ask x (1 + fee_b)) / mid x 1e4
  bps > 0, from the synced venue books (sizes walked level by level, best first).
- `liquidity_anomaly`: robust z-score of the book's total liquidity (bid_qty_total +
  ask_qty_total over the 41 buckets) against the seconds of the trailing 10 minutes before
  S: (x - median) / (1.4826 x MAD); a signal when |z| >= its threshold (no direction).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Signal:
    kind: str
    direction: int  # +1 buy, -1 sell, 0 none
    strength: float  # in [0, 1]
    value: float  # what was compared
    threshold: float
    detail: str = ""


def executable(prices_asc: np.ndarray, sizes: np.ndarray, qty: float, sell: bool) -> float | None:
    """Average price of selling (into bids) or buying (from asks) `qty`, walking the best
    levels first; None when the book is not that deep."""
    p, q = (prices_asc[::-1], sizes[::-1]) if sell else (prices_asc, sizes)
    filled = np.minimum(np.cumsum(q), qty)
    take = np.diff(filled, prepend=0.0)
    if len(filled) == 0 or filled[-1] < qty * (1 - 1e-12):
        return None
    return float((take * p).sum() / qty)


def arbitrage(books: dict, qty: float, fee_bps: dict[str, float], mid: float) -> Signal | None:
    """The best cross-venue edge for `qty` (books: venue -> book with `arrays()`), if positive."""
    bids, asks = {}, {}
    for venue, book in books.items():
        bp, bq, ap, aq = book.arrays()
        b = executable(bp, bq, qty, sell=True)
        a = executable(ap, aq, qty, sell=False)
        if b is not None:
            bids[venue] = b * (1 - fee_bps.get(venue, 10.0) / 1e4)
        if a is not None:
            asks[venue] = a * (1 + fee_bps.get(venue, 10.0) / 1e4)
    best: tuple[float, str, str] | None = None
    for sell_at, b in sorted(bids.items()):
        for buy_at, a in sorted(asks.items()):
            if sell_at != buy_at:
                edge = (b - a) / mid * 1e4
                if edge > 0 and (best is None or edge > best[0]):
                    best = (edge, sell_at, buy_at)
    if best is None:
        return None
    return Signal("arbitrage", 0, min(1.0, best[0] / 10), best[0], 0.0, f"sell {best[1]}, buy {best[2]}")


class ImbalanceCross:
    def __init__(self, threshold: float = 0.3) -> None:
        self.threshold = threshold
        self.last: float | None = None

    def second(self, value: float | None) -> Signal | None:
        if value is None or value != value:
            return None
        before, self.last, t = self.last, value, self.threshold
        if before is None:
            return None
        if before < t <= value:
            return Signal("imbalance", 1, min(1.0, abs(value)), value, t)
        if before > -t >= value:
            return Signal("imbalance", -1, min(1.0, abs(value)), value, -t)
        return None


class LiquidityAnomaly:
    def __init__(self, window_s: int = 600, z: float = 4.0) -> None:
        self.window_s, self.z = window_s, z
        self.history: deque[tuple[int, float]] = deque()

    def second(self, s: int, total: float) -> Signal | None:
        h = self.history
        while h and h[0][0] <= s - self.window_s:
            h.popleft()
        out = None
        if len(h) >= 30:
            values = np.array([v for _, v in h])
            median = float(np.median(values))
            mad = float(np.median(np.abs(values - median))) * 1.4826
            if mad > 0:
                z = (total - median) / mad
                if abs(z) >= self.z:
                    out = Signal("liquidity_anomaly", 0, min(1.0, abs(z) / (2 * self.z)), z, self.z,
                                 "more liquidity than usual" if z > 0 else "liquidity drained")
        h.append((s, total))
        return out
