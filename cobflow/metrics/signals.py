"""Rule signals per symbol and second (the `signals` table).

- `imbalance`: the whole-book liquidity imbalance average `li_ma_N` crossing +threshold
  (direction +1: bids outweigh asks) or -threshold (-1), at the second it crosses.
- `arbitrage`: one venue's executable bid above another's executable ask for the configured
  size, net of both taker fees: edge = (bid x (1 - fee_a) - ask x (1 + fee_b)) / mid x 1e4
  bps > 0, from the synced venue books (sizes walked level by level, best first).
- `liquidity_anomaly`: robust z-score of the book's total liquidity (bid_qty_total +
  ask_qty_total over the 41 buckets) against the seconds of the trailing 10 minutes before
  S: (x - median) / (1.4826 x MAD); a signal when |z| >= its threshold (no direction).

The per-second ones are `SignalSource`s (below), the plug-in point for a user's signals.
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from cobflow import native
from cobflow.plugins import PluginParams, SymbolPlugin


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


def _executable_both(book: Any, qty: float) -> tuple[float | None, float | None]:
    bp, bq, ap, aq = book.arrays()
    return executable(bp, bq, qty, sell=True), executable(ap, aq, qty, sell=False)


def arbitrage(books: dict, qty: float, fee_bps: dict[str, float], mid: float) -> Signal | None:
    """The best cross-venue edge for `qty` (books: venue -> book with `arrays()`), if positive."""
    bids, asks = {}, {}
    prices = native.executable_prices(list(books.values()), qty) or [_executable_both(b, qty) for b in books.values()]
    for venue, (b, a) in zip(books, prices):
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
    """The robust z-score of the second's total book quantity against the last `window_s`
    seconds: (total - median) / (1.4826 * MAD), MAD the median absolute deviation.

    The window is kept sorted (`ordered`), so the median is read off it and the MAD is the
    middle of two sorted runs of deviations (below and above the median), found by bisection:
    O(log n) a second instead of two O(n) medians, the same values as numpy's bit for bit
    (tests/unit/test_strategy.py holds it against np.median)."""

    def __init__(self, window_s: int = 600, z: float = 4.0) -> None:
        self.window_s, self.z = window_s, z
        self.history: deque[tuple[int, float]] = deque()
        self.ordered: list[float] = []

    def second(self, s: int, total: float) -> Signal | None:
        h = self.history
        ordered = self._ordered()
        while h and h[0][0] <= s - self.window_s:
            _, old = h.popleft()
            del ordered[bisect_left(ordered, old)]
        out = None
        if len(h) >= 30:
            median, mad = median_and_mad(ordered)
            mad *= 1.4826
            if mad > 0:
                z = (total - median) / mad
                if abs(z) >= self.z:
                    out = Signal("liquidity_anomaly", 0, min(1.0, abs(z) / (2 * self.z)), z, self.z,
                                 "more liquidity than usual" if z > 0 else "liquidity drained")
        h.append((s, total))
        insort(ordered, total)
        return out

    def _ordered(self) -> list[float]:
        """The window sorted (a state stored before it was kept: made from the history)."""
        ordered: list[float] | None = getattr(self, "ordered", None)
        if ordered is None or len(ordered) != len(self.history):
            ordered = self.ordered = sorted(v for _, v in self.history)
        return ordered


def median_and_mad(v: list[float]) -> tuple[float, float]:
    """numpy's median of sorted values and the median of their absolute deviations from it
    (the mean of the two middle values where there is an even number), without sorting."""
    n = len(v)
    m = n // 2
    median = v[m] if n % 2 else (v[m - 1] + v[m]) / 2
    split = bisect_left(v, median)  # below: v < median, deviation median - v; the rest v - median

    def below(j: int) -> float:  # the j-th smallest deviation of those below (ascending)
        return median - v[split - 1 - j]

    def above(j: int) -> float:
        return v[split + j] - median

    if n % 2:
        return median, _kth(below, split, above, n - split, m)
    return median, (_kth(below, split, above, n - split, m - 1) + _kth(below, split, above, n - split, m)) / 2


def _kth(a: Callable[[int], float], na: int, b: Callable[[int], float], nb: int, k: int) -> float:
    """The k-th smallest (0-based) of two ascending runs a[0..na) and b[0..nb)."""
    lo, hi = max(0, k + 1 - nb), min(k + 1, na)
    while lo < hi:  # i: how many of the k + 1 smallest come from a
        i = (lo + hi) // 2
        if a(i) < b(k - i):  # a[i] is among them: take more from a
            lo = i + 1
        else:
            hi = i
    i = lo
    from_a = a(i - 1) if i > 0 else -math.inf
    from_b = b(k - i) if k - i >= 0 else -math.inf
    return max(from_a, from_b)


class SignalSource(SymbolPlugin):
    """A rule signal of one symbol, asked once a second (after the second's COB and features
    rows, before the models and strategies): a `Signal` when it fires, else None. The
    built-ins are `imbalance` and `liquidity_anomaly` (arbitrage is made where the venue
    books are); a user's is `module:Class` in `COBFLOW_STRATEGY__SIGNALS`, asked after them.
    Its signals are `signals` rows, scored as predictions (their hit rate), and votes of the
    combined strategy when they have a direction. State on `self` is kept across restarts."""

    kind: ClassVar[str] = ""

    class Params(PluginParams):
        pass

    def on_second(self, s: int, cob: Mapping[str, Any], features: Mapping[str, Any] | None) -> Signal | None:
        """Args:
            s: the epoch second.
            cob: its cob_summary columns.
            features: its features columns (None: the second has none).
        Returns:
            A Signal (kind = this source's kind) or None.
        """
        raise NotImplementedError


class Imbalance(SignalSource):
    """The whole-book imbalance average crossing +-threshold."""

    kind = "imbalance"

    class Params(SignalSource.Params):
        average: str = Field("li_ma_15", pattern=r"^li_ma_(1|5|15|60)$")
        threshold: float = Field(0.3, gt=0, lt=1)

    def __init__(self, symbol: str, params: Any) -> None:
        super().__init__(symbol, params)
        self.cross = ImbalanceCross(params.threshold)

    @classmethod
    def defaults(cls, symbol_strategy: Any) -> dict[str, Any]:
        return {"average": symbol_strategy.imbalance_average, "threshold": symbol_strategy.imbalance_threshold}

    def on_second(self, s: int, cob: Mapping[str, Any], features: Mapping[str, Any] | None) -> Signal | None:
        return self.cross.second(cob.get(self.params.average))


class Anomaly(SignalSource):
    """The book's total liquidity far from its trailing 10 minutes (no direction)."""

    kind = "liquidity_anomaly"

    class Params(SignalSource.Params):
        z: float = Field(4.0, gt=0)

    def __init__(self, symbol: str, params: Any) -> None:
        super().__init__(symbol, params)
        self.anomaly = LiquidityAnomaly(z=params.z)

    @classmethod
    def defaults(cls, symbol_strategy: Any) -> dict[str, Any]:
        return {"z": symbol_strategy.anomaly_z}

    def on_second(self, s: int, cob: Mapping[str, Any], features: Mapping[str, Any] | None) -> Signal | None:
        return self.anomaly.second(s, (cob.get("bid_qty_total") or 0.0) + (cob.get("ask_qty_total") or 0.0))


def signal_problem(sig: object) -> str | None:
    """Why a source's return cannot be a signal row and a vote (None: it can)."""
    if not isinstance(sig, Signal):
        return f"returned {type(sig).__name__}, not a Signal or None"
    if sig.direction not in (-1, 0, 1):
        return f"direction {sig.direction!r} is not -1, 0 or 1"
    if not isinstance(sig.strength, (int, float)) or not 0.0 <= sig.strength <= 1.0:
        return f"strength {sig.strength!r} is not in [0, 1]"
    for name in ("value", "threshold"):
        v = getattr(sig, name)
        if not isinstance(v, (int, float)) or v != v or v in (float("inf"), float("-inf")):
            return f"{name} {v!r} is not a finite number"
    return None


#: the per-second rule signals, in the order they are asked
SOURCES: tuple[type[SignalSource], ...] = (Imbalance, Anomaly)
