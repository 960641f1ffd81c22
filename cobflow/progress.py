"""Progress bars on stderr for long jobs (replay, record, simulate, compute), drawn by tqdm.

The jobs report how far they are as a running total (`bar(done)`), the way their readers
count (messages published, MB of a file read, seconds of market simulated); `Progress`
turns that into tqdm's increments. Off a terminal (CI logs, pipes) tqdm still prints, at a
slower pace, so a long job never looks stuck.
"""

from __future__ import annotations

import sys
from types import TracebackType

from tqdm import tqdm


class Progress:
    """A tqdm bar fed running totals: share done, rate, elapsed time and eta when the
    total is known, the count and rate otherwise."""

    def __init__(self, what: str, total: float | None = None, unit: str = "messages",
                 every_s: float = 0.2) -> None:
        self.done = 0.0
        if not total:
            shape = "{desc}: {n:,.0f}{unit} ({rate_fmt}, {elapsed}){postfix}"
        else:  # small totals (MB of a file, seconds of market) with a decimal, counts scaled (12.3k)
            done = "{n:,.1f}/{total:,.1f}" if total < 1000 else "{n_fmt}/{total_fmt}"
            shape = ("{desc} {percentage:3.0f}%|{bar:24}| " + done
                     + "{unit} ({rate_fmt}, {elapsed}, eta {remaining}){postfix}")
        self._bar = tqdm(total=total, desc=what, unit=f" {unit}", unit_scale=bool(total and total >= 1000),
                         mininterval=every_s if sys.stderr.isatty() else 10.0, file=sys.stderr,
                         dynamic_ncols=True, leave=True, smoothing=0.1, bar_format=shape)

    def __call__(self, done: float, force: bool = False) -> None:
        step = done - self.done
        self.done = done
        if step:
            self._bar.update(step)
        if force:
            self._bar.refresh()

    def note(self, text: str) -> None:
        """Text after the counts (a loss, a metric)."""
        self._bar.set_postfix_str(text, refresh=False)

    def finish(self) -> None:
        self._bar.close()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.finish()
