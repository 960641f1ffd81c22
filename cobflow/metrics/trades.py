"""OHLCV bars and order flow from trades (METRICS.md "Trades and OHLCV")."""

from __future__ import annotations

from dataclasses import dataclass, replace

NS = 1_000_000_000
TIMEFRAMES = {"1s": 1, "1m": 60, "1h": 3600, "1d": 86400}
ALL = "ALL"


@dataclass(slots=True)
class Bar:
    start_s: int  # window start, aligned to the Unix epoch
    venue: str  # a venue id or ALL
    timeframe: str
    open: float
    high: float
    low: float
    close: float
    volume: float = 0.0
    buy_volume: float = 0.0
    sell_volume: float = 0.0
    trades: int = 0
    notional: float = 0.0

    @property
    def vwap(self) -> float:
        return self.notional / self.volume

    def add(self, price: float, size: float, side: str) -> None:
        self.high = max(self.high, price)
        self.low = min(self.low, price)
        self.close = price  # the last trade by ts_recv (arrival order on ties)
        self.volume += size
        if side == "buy":
            self.buy_volume += size
        else:
            self.sell_volume += size
        self.trades += 1
        self.notional += price * size


class BarBuilder:
    """Bars for every venue and ALL, per timeframe; a bar is final once its window is past.

    Feed trades in ts_recv order; `close(until_s)` returns the bars whose windows end at or
    before `until_s` (the watermark), oldest first. Windows without trades have no bar.
    """

    def __init__(self, timeframes: tuple[str, ...] = tuple(TIMEFRAMES)) -> None:
        self.timeframes = timeframes
        self.open_bars: dict[tuple[str, str], Bar] = {}

    def add(self, ts_recv: int, venue: str, price: float, size: float, side: str) -> list[Bar]:
        """Add a trade; return bars it closed (a trade in a later window closes the earlier one)."""
        closed: list[Bar] = []
        second = ts_recv // NS
        for tf in self.timeframes:
            width = TIMEFRAMES[tf]
            start = second - second % width
            for v in (venue, ALL):
                bar = self.open_bars.get((v, tf))
                if bar is not None and bar.start_s != start:
                    closed.append(bar)
                    bar = None
                if bar is None:
                    bar = self.open_bars[(v, tf)] = Bar(start, v, tf, price, price, price, price)
                bar.add(price, size, side)
        return closed

    def open_now(self) -> list[Bar]:
        """Copies of the bars still open (the end of a finite input shows them; they stay
        open, so a resumed flow completes them and the final row replaces this one)."""
        return [replace(b) for b in sorted(self.open_bars.values(), key=lambda b: (b.start_s, b.timeframe, b.venue))]

    def close(self, until_s: int) -> list[Bar]:
        out = [b for b in self.open_bars.values() if b.start_s + TIMEFRAMES[b.timeframe] <= until_s]
        for b in out:
            del self.open_bars[(b.venue, b.timeframe)]
        return sorted(out, key=lambda b: (b.start_s, b.timeframe, b.venue))


@dataclass(slots=True)
class FlowSecond:
    second: int
    venue: str
    aggressive_buy_ratio: float | None  # buy_volume / volume, None when no volume
    cvd: float  # running sum of buy - sell volume since the stream began


class OrderFlow:
    """Per second and venue (and ALL): the aggressive-buy ratio and the cumulative volume delta."""

    def __init__(self) -> None:
        self.cvd: dict[str, float] = {}

    def second(self, second: int, bars_1s: list[Bar]) -> list[FlowSecond]:
        """From that second's 1s bars; a venue without trades keeps its cvd and has no row."""
        out = []
        for bar in bars_1s:
            cvd = self.cvd.get(bar.venue, 0.0) + bar.buy_volume - bar.sell_volume
            self.cvd[bar.venue] = cvd
            ratio = bar.buy_volume / bar.volume if bar.volume > 0 else None
            out.append(FlowSecond(second, bar.venue, ratio, cvd))
        return out
