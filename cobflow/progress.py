"""A one-line progress bar on stderr for long jobs (replay, record, simulate, compute)."""

from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, what: str, total: float | None = None, unit: str = "messages", every_s: float = 0.2,
                 rate_unit: str = "/s") -> None:
        self.what, self.total, self.unit, self.every, self.rate_unit = what, total, unit, every_s, rate_unit
        self.start = time.monotonic()
        self._last = 0.0
        self.done = 0.0

    def __call__(self, done: float, force: bool = False) -> None:
        self.done = done
        now = time.monotonic()
        if not force and now - self._last < self.every:
            return
        self._last = now
        elapsed = now - self.start
        rate = done / elapsed if elapsed > 0 else 0.0
        if self.total:
            frac = min(done / self.total, 1.0)
            bar = "#" * int(frac * 24) + "." * (24 - int(frac * 24))
            eta = (self.total - done) / rate if rate > 0 else 0.0
            f = ",.1f" if self.total < 100 else ",.0f"  # a small file in MB
            line = (f"{self.what} [{bar}] {frac * 100:3.0f}% {done:{f}}/{self.total:{f}} {self.unit} "
                    f"({rate:,.0f}{self.rate_unit}, {elapsed:,.1f}s, eta {eta:,.0f}s)")
        else:
            line = f"{self.what}: {done:,.0f} {self.unit} ({rate:,.0f}{self.rate_unit}, {elapsed:,.1f}s)"
        print(f"\r{line}\033[K", end="", file=sys.stderr, flush=True)

    def finish(self) -> None:
        self(self.done, force=True)
        print(file=sys.stderr)
