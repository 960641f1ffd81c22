"""Moving averages over the seconds that have a row (METRICS.md "Imbalance moving averages")."""

from __future__ import annotations

from bisect import bisect_left

import numpy as np

WINDOWS = (1, 5, 15, 60)


class SecondsAverage:
    """ma_N(S) = mean of the values of the seconds in [S-N+1, S] that have a row.

    Values may be scalars or arrays (the imbalance of offsets -5..5, each relative to its
    own second's center); a second without a row is simply absent, not a zero. The values
    are held as rows of one buffer: a window is a run of its last rows.
    """

    def __init__(self, windows: tuple[int, ...] = WINDOWS) -> None:
        self.windows = windows
        self._seconds: list[int] = []  # the second of each buffer row, increasing
        self._rows: np.ndarray | None = None  # the values, one row per second
        self._first = 0  # rows before it are older than the longest window

    def add(self, second: int, value) -> dict[int, np.ndarray]:  # type: ignore[no-untyped-def]
        """Record second S's value (seconds in increasing order); return {N: ma_N(S)}."""
        seconds = self._seconds
        if seconds and second <= seconds[-1]:
            raise ValueError(f"second {second} is not after {seconds[-1]}")
        value = np.asarray(value, dtype=np.float64)
        horizon = second - max(self.windows) + 1
        while self._first < len(seconds) and seconds[self._first] < horizon:
            self._first += 1
        if self._rows is None or value.shape != self._rows.shape[1:]:
            if self._first < len(seconds):
                raise ValueError(f"a value of shape {value.shape} among values of shape {self._rows.shape[1:]}")
            self._rows = np.empty((4 * max(self.windows), *value.shape))
            seconds.clear()
            self._first = 0
        if len(seconds) == len(self._rows):  # full: drop the old rows, or grow
            held = len(seconds) - self._first
            if held * 2 > len(self._rows):
                self._rows = np.concatenate([self._rows, np.empty_like(self._rows)])
            self._rows[:held] = self._rows[self._first:len(seconds)]
            del seconds[:self._first]
            self._first = 0
        self._rows[len(seconds)] = value
        seconds.append(second)
        # each window's mean is its rows' sum over their count, as np.mean computes it (bit
        # for bit, rows of the same layout), without its Python overhead four times a second
        end, out = len(seconds), {}
        for n in self.windows:
            i = bisect_left(seconds, second - n + 1, self._first)
            out[n] = np.add.reduce(self._rows[i:end], axis=0) / (end - i)
        return out
