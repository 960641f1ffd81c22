"""OHLCV bars and order flow on trades worked out by hand (METRICS.md)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cobflow.metrics.trades import ALL, TIMEFRAMES, Bar, BarBuilder, OrderFlow

S = 1_700_000_000  # a second aligned to the minute? 1_700_000_000 % 60 == 20
NS = 1_000_000_000


def test_bars_ties_empty_windows_and_all_venues():
    bb = BarBuilder(("1s", "1m"))
    # second S: a buys 1 @ 10, b sells 2 @ 12, a sells 1 @ 10 at the same ns as the first (arrival order)
    bb.add(S * NS + 5, "a", 10.0, 1.0, "buy")
    bb.add(S * NS + 5, "b", 12.0, 2.0, "sell")
    bb.add(S * NS + 5, "a", 9.0, 1.0, "sell")
    # nothing at S+1; S+2: a buys 3 @ 11
    closed = bb.add((S + 2) * NS, "a", 11.0, 3.0, "buy")
    closed += bb.close(S + 2)  # the watermark at S+2 closes b's bar, which no later trade touched
    one_s = {(b.venue, b.start_s): b for b in closed if b.timeframe == "1s"}
    a, all_ = one_s[("a", S)], one_s[(ALL, S)]
    assert (a.open, a.high, a.low, a.close, a.volume, a.trades) == (10.0, 10.0, 9.0, 9.0, 2.0, 2)
    assert (a.buy_volume, a.sell_volume, a.vwap) == (1.0, 1.0, 9.5)
    assert (all_.open, all_.high, all_.low, all_.close) == (10.0, 12.0, 9.0, 9.0)
    assert all_.volume == 4.0 and all_.trades == 3 and all_.vwap == pytest.approx((10 + 24 + 9) / 4)
    assert ("b", S) in one_s and not any(start == S + 1 for _, start in one_s)  # no bar without trades
    # the minute bar is still open; closing at the minute's end gives it, aligned to the epoch
    minute = S - S % 60
    bars = bb.close(minute + 60)
    m_all = next(b for b in bars if b.venue == ALL and b.timeframe == "1m")
    assert m_all.start_s == minute and m_all.volume == 7.0 and m_all.close == 11.0 and m_all.high == 12.0


def test_cvd_runs_across_windows_and_ratio_is_null_without_volume():
    bb, flow = BarBuilder(("1s",)), OrderFlow()
    bb.add(S * NS, "a", 10.0, 3.0, "buy")
    bb.add(S * NS + 1, "a", 10.0, 1.0, "sell")
    closed = bb.add((S + 1) * NS, "a", 10.0, 2.0, "sell")
    rows = {r.venue: r for r in flow.second(S, [b for b in closed if b.start_s == S])}
    assert rows["a"].aggressive_buy_ratio == 0.75 and rows["a"].cvd == 2.0
    rows = {r.venue: r for r in flow.second(S + 1, bb.close(S + 2))}
    assert rows["a"].aggressive_buy_ratio == 0.0 and rows["a"].cvd == 0.0 and rows[ALL].cvd == 0.0


_trade = st.tuples(st.integers(0, 200), st.sampled_from(["binance", "okx", "kraken"]),
                   st.floats(1, 1e5, allow_nan=False), st.floats(1e-8, 50, allow_nan=False),
                   st.sampled_from(["buy", "sell"]))


def reference_add(bb: BarBuilder, ts: int, venue: str, price: float, size: float, side: str) -> list[Bar]:
    """METRICS.md's bars, one trade at a time: the trade closes the bars of earlier windows
    (its venue's, then ALL's, per timeframe) and is added to the bars of its own."""
    closed = []
    second = ts // NS
    for tf in bb.timeframes:
        start = second - second % TIMEFRAMES[tf]
        for v in (venue, ALL):
            bar = bb.open_bars.get((v, tf))
            if bar is not None and bar.start_s != start:
                closed.append(bar)
                bar = None
            if bar is None:
                bar = bb.open_bars[(v, tf)] = Bar(start, v, tf, price, price, price, price)
            bar.high, bar.low, bar.close = max(bar.high, price), min(bar.low, price), price
            bar.volume += size
            bar.buy_volume += size if side == "buy" else 0.0
            bar.sell_volume += size if side == "sell" else 0.0
            bar.trades += 1
            bar.notional += price * size
    return closed


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(_trade, max_size=12), max_size=6))
def test_trades_added_in_runs_make_the_bars_of_trades_added_one_by_one(batches):
    """`add_many` (a run of a second's trades per bar) closes the same bars, in the same
    order, with the same bits as the trades added one by one; seconds may repeat or go back."""
    ref, many = BarBuilder(), BarBuilder()
    t0 = S * NS
    for batch in batches:
        trades = [(t0 + ms * 10_000_000, v, p, q, side) for ms, v, p, q, side in batch]
        closed_ref = [b for t in trades for b in reference_add(ref, *t)]
        assert many.add_many(trades) == closed_ref
    assert many.open_now() == ref.open_now()
