"""Moving averages over the seconds that have a row (METRICS.md "Imbalance moving averages")."""

from __future__ import annotations

from bisect import bisect_left
from collections import deque

import numpy as np

WINDOWS = (1, 5, 15, 60)


class SecondsAverage:
    """ma_N(S) = mean of the values of the seconds in [S-N+1, S] that have a row.

    Values may be scalars or arrays (the imbalance of offsets -5..5, each relative to its
    own second's center); a second without a row is simply absent, not a zero.
    """

    def __init__(self, windows: tuple[int, ...] = WINDOWS) -> None:
        self.windows = windows
        self._seconds: deque[tuple[int, np.ndarray]] = deque()

    def add(self, second: int, value) -> dict[int, np.ndarray]:  # type: ignore[no-untyped-def]
        """Record second S's value (seconds in increasing order); return {N: ma_N(S)}."""
        if self._seconds and second <= self._seconds[-1][0]:
            raise ValueError(f"second {second} is not after {self._seconds[-1][0]}")
        self._seconds.append((second, np.asarray(value, dtype=np.float64)))
        horizon = second - max(self.windows) + 1
        while self._seconds[0][0] < horizon:
            self._seconds.popleft()
        # the seconds' values stacked once; each window is a run of the last rows, and its
        # mean is their sum over the count, as np.mean computes it (bit for bit), without its
        # Python overhead four times a second
        stack = np.array([v for _, v in self._seconds])
        seconds = [s for s, _ in self._seconds]
        k = len(seconds)
        out = {}
        for n in self.windows:
            i = bisect_left(seconds, second - n + 1)
            out[n] = np.add.reduce(stack[i:], axis=0) / (k - i)
        return out
