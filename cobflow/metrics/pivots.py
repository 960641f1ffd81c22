"""Williams market structure, 5 levels (FEATURES.md "Pivots").

Level 1 (strength k): bar i is a pivot high when its high is above every other bar's within
k bars of it, a low likewise with lows; equal values make no pivot, and a bar can be both.
A bar with fewer than k bars before it in the series (the first k bars) is no pivot. Bar i
is confirmed when bar i + k closes, at the end of that bar's window.

Level L+1: among the level-L highs in time order, h_m is a level-(L+1) high when its price
is above both its neighbours h_(m-1) and h_(m+1) (so the first level-L high never is one);
it is confirmed with h_(m+1), at h_(m+1)'s confirmation time. Lows likewise, below.

A pivot is reported once, when it is confirmed, and never revised: later bars cannot change
it (its right neighbours are all closed by then).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

LEVELS = 5


@dataclass(frozen=True, slots=True)
class Pivot:
    start_ns: int  # the pivot bar's window start
    kind: str  # "high" or "low"
    level: int  # 1..LEVELS
    price: float
    confirmed_ns: int  # the end of the window of the bar whose close confirmed it


class PivotTracker:
    """The pivots of one (symbol, timeframe), fed closed bars in time order."""

    def __init__(self, strength: int = 2, levels: int = LEVELS) -> None:
        if strength < 1:
            raise ValueError(f"pivot strength must be at least 1, got {strength}")
        self.k = strength
        self.levels = levels
        # the last 2k+1 bars: (start_ns, end_ns, high, low)
        self.window: deque[tuple[int, int, float, float]] = deque(maxlen=2 * strength + 1)
        self.seen = 0  # bars fed so far
        # per kind and level: the last two confirmed pivots (h_(m-1), h_m), awaiting h_(m+1)
        self.recent: dict[tuple[str, int], deque[Pivot]] = {
            (kind, level): deque(maxlen=2) for kind in ("high", "low") for level in range(1, levels + 1)}

    def add(self, start_ns: int, end_ns: int, high: float, low: float) -> list[Pivot]:
        """A closed bar; the pivots its close confirms, lowest level first (highs before lows)."""
        self.window.append((start_ns, end_ns, high, low))
        self.seen += 1
        i = self.seen - 1 - self.k  # the bar this close confirms or rules out
        if i < self.k:  # fewer than k bars before it: no pivot
            return []
        bars = list(self.window)  # 2k + 1 bars, bar i in the middle
        start, _, h, lo = bars[self.k]
        others = bars[:self.k] + bars[self.k + 1:]
        out: list[Pivot] = []
        if all(h > b[2] for b in others):
            self._confirm(Pivot(start, "high", 1, h, end_ns), out)
        if all(lo < b[3] for b in others):
            self._confirm(Pivot(start, "low", 1, lo, end_ns), out)
        out.sort(key=lambda p: (p.level, p.kind))
        return out

    def _confirm(self, p: Pivot, out: list[Pivot]) -> None:
        """Report p and climb: p is h_(m+1) for the level-L pivot before it."""
        out.append(p)
        if p.level == self.levels:
            return
        recent = self.recent[(p.kind, p.level)]
        if len(recent) == 2:
            before, middle = recent
            higher = middle.price > before.price and middle.price > p.price
            lower = middle.price < before.price and middle.price < p.price
            if (higher if p.kind == "high" else lower):
                self._confirm(Pivot(middle.start_ns, p.kind, p.level + 1, middle.price, p.confirmed_ns), out)
        recent.append(p)
