"""Indicators of one symbol's closed ALL bars in one timeframe (FEATURES.md "Indicators"),
computed by TA-Lib's stream handles: O(1) per bar and bit-identical to its batch functions.

A handle cannot be pickled (it points into the C library), so the state kept in the recovery
store is the series itself; a resumed flow opens the handles again on it and carries on with
the values of one uninterrupted run. A bar TA-Lib would reject (not finite, high below low)
is refused before any handle sees it: a rejected update could leave one handle a bar ahead
of the others.

The series is not kept forever (it would grow 2.8 MB a day per symbol, copied into every
snapshot): once it holds COMPACT_AT bars, all but the last KEEP are dropped and the handles
opened again on the rest, at the same bar in every run, so a resumed flow still writes the
values of one uninterrupted run, bit for bit. OBV is the sum of the whole history: it is kept
as its running value (TA-Lib's own recurrence, exact). The recursive ones (EMA, RSI, ATR,
MACD) forget their start geometrically ((25/27)^5000 is below 1e-160): reopened on KEEP bars
they give TA-Lib's full-history values bit for bit (measured); SMA and BBANDS keep a running
sum in TA-Lib, whose rounding differs from the full history's in the last digits (within
FEATURES.md's 1e-9).
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass
from typing import Any

import numpy as np
import talib
from talib import stream

from cobflow.metrics.trades import Bar


@dataclass(frozen=True)
class Indicator:
    function: str  # TA-Lib's name
    inputs: tuple[str, ...]  # series names, in TA-Lib's argument order
    params: tuple[tuple[str, Any], ...]
    columns: tuple[str, ...]  # the table's columns, in TA-Lib's output order


#: The table `indicators`, column for column (FEATURES.md).
INDICATORS = (
    Indicator("SMA", ("close",), (("timeperiod", 20),), ("sma_20",)),
    Indicator("EMA", ("close",), (("timeperiod", 12),), ("ema_12",)),
    Indicator("EMA", ("close",), (("timeperiod", 26),), ("ema_26",)),
    Indicator("RSI", ("close",), (("timeperiod", 14),), ("rsi_14",)),
    Indicator("MACD", ("close",), (("fastperiod", 12), ("slowperiod", 26), ("signalperiod", 9)),
              ("macd", "macd_signal", "macd_hist")),
    Indicator("BBANDS", ("close",), (("timeperiod", 20), ("nbdevup", 2), ("nbdevdn", 2), ("matype", 0)),
              ("bb_upper", "bb_middle", "bb_lower")),
    Indicator("ATR", ("high", "low", "close"), (("timeperiod", 14),), ("atr_14",)),
    Indicator("OBV", ("close", "volume"), (), ("obv",)),
)
COLUMNS = tuple(c for ind in INDICATORS for c in ind.columns)
SERIES = ("high", "low", "close", "volume")
_ARGS = tuple(tuple(SERIES.index(name) for name in ind.inputs) for ind in INDICATORS)
_OBV = next(i for i, ind in enumerate(INDICATORS) if ind.function == "OBV")  # kept as its running value
KEEP, COMPACT_AT = 5_000, 10_000  # bars kept of a series once it reaches COMPACT_AT


class InvalidBar(ValueError):
    """A bar no indicator may see; the message says which value is wrong."""


def check_bar(bar: Bar) -> None:
    values = {"open": bar.open, "high": bar.high, "low": bar.low, "close": bar.close, "volume": bar.volume}
    for name, v in values.items():
        if not math.isfinite(v):
            raise InvalidBar(f"{bar.timeframe} bar at {bar.start_s}: {name} is {v}")
    if bar.volume < 0:
        raise InvalidBar(f"{bar.timeframe} bar at {bar.start_s}: negative volume {bar.volume}")
    if not bar.low <= min(bar.open, bar.close) <= max(bar.open, bar.close) <= bar.high:
        raise InvalidBar(f"{bar.timeframe} bar at {bar.start_s}: open/close outside [low {bar.low}, high {bar.high}]")


class IndicatorSeries:
    """The closed bars of one (symbol, timeframe) since the input began, and a handle per
    indicator once it has history enough to open (until then, TA-Lib's batch value on the
    short history: NaN, exactly where the batch function returns NaN)."""

    def __init__(self) -> None:
        self.series = {name: array("d") for name in SERIES}
        self.handles: list[Any] = [None] * len(INDICATORS)  # OBV's stays None
        self.obv: float | None = None  # OBV's running value, and the close it compares with
        self.prev_close = math.nan

    def __len__(self) -> int:
        """Bars kept (at most COMPACT_AT - 1)."""
        return len(self.series["close"])

    def add(self, bar: Bar) -> dict[str, float | None]:
        """The bar's values (None where TA-Lib gives NaN); InvalidBar leaves everything as it was."""
        check_bar(bar)
        point = (bar.high, bar.low, bar.close, bar.volume)  # SERIES' order
        for a, v in zip(self.series.values(), point):
            a.append(v)
        values: list = []
        for i, handle in enumerate(self.handles):
            out: Any
            if i == _OBV:
                out = self._obv(bar.close, bar.volume)
            elif handle is None:
                out = self._open(i)
            else:
                out = handle.update(*[point[j] for j in _ARGS[i]])
            if type(out) is tuple:
                values.extend(out)
            else:
                values.append(out)
        if len(self) >= COMPACT_AT:
            self._compact()
        return {c: None if v != v else float(v) for c, v in zip(COLUMNS, values)}

    def _obv(self, close: float, volume: float) -> float:
        """TA-Lib's OBV recurrence: the first volume, then + or - each volume as the close rises or falls."""
        if self.obv is None:
            self.obv = volume
        elif close > self.prev_close:
            self.obv += volume
        elif close < self.prev_close:
            self.obv -= volume
        self.prev_close = close
        return self.obv

    def _compact(self) -> None:
        """All but the last KEEP bars dropped; the handles opened again on those."""
        self.series = {name: a[-KEEP:] for name, a in self.series.items()}
        for i in range(len(INDICATORS)):
            if i != _OBV:
                self._open(i)

    def _open(self, i: int) -> tuple:
        """Open indicator i's handle on the whole series if it has history enough; its
        value at the last bar either way."""
        ind = INDICATORS[i]
        history = [np.frombuffer(self.series[name], dtype=np.float64) for name in ind.inputs]
        try:
            self.handles[i] = handle = getattr(stream, ind.function)(*history, **dict(ind.params))
        except talib.InsufficientHistory:
            batch = getattr(talib, ind.function)(*history, **dict(ind.params))
            return tuple(b[-1] for b in batch) if isinstance(batch, tuple) else (batch[-1],)
        value = handle.value
        return value if isinstance(value, tuple) else (value,)

    # the recovery store keeps the series and OBV's running value; handles are opened again from them
    def __getstate__(self) -> dict:
        return {"series": {name: bytes(a) for name, a in self.series.items()}, "obv": (self.obv, self.prev_close)}

    def __setstate__(self, state: dict) -> None:
        self.series = {}
        for name, data in state["series"].items():
            a = array("d")
            a.frombytes(data)
            self.series[name] = a
        self.handles = [None] * len(INDICATORS)
        if "obv" in state:
            self.obv, self.prev_close = state["obv"]
        else:  # a store written before compaction: the whole series, OBV's value read off it
            self.obv, self.prev_close = None, math.nan
            for close, volume in zip(self.series["close"], self.series["volume"]):
                self._obv(close, volume)
        if len(self):
            for i in range(len(INDICATORS)):
                if i != _OBV:
                    self._open(i)

    def __deepcopy__(self, memo: dict) -> IndicatorSeries:
        """A copy with copied handles (the Bytewax snapshot pickles it: `__getstate__`)."""
        other = IndicatorSeries.__new__(IndicatorSeries)
        other.series = {name: array("d", a) for name, a in self.series.items()}
        other.handles = [None if h is None else h.copy() for h in self.handles]
        other.obv, other.prev_close = self.obv, self.prev_close
        return other
