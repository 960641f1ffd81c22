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


class BarBuilder:
    """Bars for every venue and ALL, per timeframe; a bar is final once its window is past.

    Feed trades in ts_recv order; `close(until_s)` returns the bars whose windows end at or
    before `until_s` (the watermark), oldest first. Windows without trades have no bar.
    """

    def __init__(self, timeframes: tuple[str, ...] = tuple(TIMEFRAMES)) -> None:
        self.timeframes = timeframes
        self.open_bars: dict[tuple[str, str], Bar] = {}

    def add(self, ts_recv: int, venue: str, price: float, size: float, side: str) -> list[Bar]:
        """Add a trade; return bars it closed (a trade in a later window closes the earlier one).
        The trade is the bar's close (the last by ts_recv, arrival order on ties)."""
        return self.add_many([(ts_recv, venue, price, size, side)])

    def add_many(self, trades: list[tuple[int, str, float, float, str]]) -> list[Bar]:
        """Add trades (ts_recv, venue, price, size, side) in order; return the bars they
        closed, in the order one-by-one `add` calls close them. A run of trades in the same
        second looks each of its bars up once and adds its trades to it in order: the same
        arithmetic, trade by trade, as `add`."""
        closed: list[Bar] = []
        i, n = 0, len(trades)
        while i < n:
            second = trades[i][0] // NS
            j = i + 1
            while j < n and trades[j][0] // NS == second:
                j += 1
            run = trades[i:j]
            by_venue: dict[str, list] = {}  # in order of first appearance, as add() meets them
            for t in run:
                by_venue.setdefault(t[1], []).append(t)
            venues = iter(by_venue.items())
            first, first_run = next(venues)
            for tf in self.timeframes:  # the first trade meets its venue's bar, then ALL's, per timeframe
                _add_trades(self._bar(first, tf, second, first_run[0][2], closed), first_run)
                _add_trades(self._bar(ALL, tf, second, run[0][2], closed), run)
            for v, v_run in venues:
                for tf in self.timeframes:
                    _add_trades(self._bar(v, tf, second, v_run[0][2], closed), v_run)
            i = j
        return closed

    def _bar(self, venue: str, tf: str, second: int, price: float, closed: list[Bar]) -> Bar:
        """The open bar of (venue, tf) for this second's window, closing an older one."""
        start = second - second % TIMEFRAMES[tf]
        bar = self.open_bars.get((venue, tf))
        if bar is not None and bar.start_s != start:
            closed.append(bar)
            bar = None
        if bar is None:
            bar = self.open_bars[(venue, tf)] = Bar(start, venue, tf, price, price, price, price)
        return bar

    def open_now(self) -> list[Bar]:
        """Copies of the bars still open (the end of a finite input shows them; they stay
        open, so a resumed flow completes them and the final row replaces this one)."""
        return [replace(b) for b in sorted(self.open_bars.values(), key=lambda b: (b.start_s, b.timeframe, b.venue))]

    def close(self, until_s: int) -> list[Bar]:
        out = [b for b in self.open_bars.values() if b.start_s + TIMEFRAMES[b.timeframe] <= until_s]
        for b in out:
            del self.open_bars[(b.venue, b.timeframe)]
        return sorted(out, key=lambda b: (b.start_s, b.timeframe, b.venue))


def _add_trades(bar: Bar, run: list[tuple[int, str, float, float, str]]) -> None:
    """`Bar.add` for each trade of the run, in order, without a call per trade."""
    high, low, volume, buy, sell, notional = bar.high, bar.low, bar.volume, bar.buy_volume, bar.sell_volume, bar.notional
    for _, _, price, size, side in run:
        high = max(high, price)
        low = min(low, price)
        volume += size
        if side == "buy":
            buy += size
        else:
            sell += size
        notional += price * size
    bar.high, bar.low, bar.close, bar.volume = high, low, run[-1][2], volume
    bar.buy_volume, bar.sell_volume, bar.notional, bar.trades = buy, sell, notional, bar.trades + len(run)


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
