"""Indicators (FEATURES.md "Indicators") against TA-Lib's batch functions on the flow's own
bars, column for column and warm-up included; a resume from a pickled snapshot (what the
Bytewax recovery store keeps) in the middle of the series; bars TA-Lib must never see."""

from __future__ import annotations

import functools
import math
import pickle

import numpy as np
import pytest
import talib
from talib import stream

from cobflow.config import SymbolsConfig
from cobflow.metrics.indicators import IndicatorSeries, InvalidBar
from cobflow.metrics.trades import TIMEFRAMES, Bar
from tests.rowtools import run_cob
from tests.simdata import sim

S = 1_000_000_000
SYMBOLS = SymbolsConfig.model_validate({"symbols": {
    "BTC-USD": {"bucket": 10, "venues": {"binance": "BTC-USDT", "coinbase": "BTC-USD"}}}})


@functools.lru_cache(maxsize=1)
def flow_rows():
    """40 minutes of two venues: 1m bars enough for MACD's 34-bar warm-up."""
    rows, _ = run_cob(sim(2400.0, seed=11, venues=("binance", "coinbase")), SYMBOLS)
    return rows


def reference(bars: list[dict]) -> dict[str, np.ndarray]:
    """TA-Lib's batch functions on the bars, as FEATURES.md's table lists them."""
    c = np.array([b["close"] for b in bars])
    h = np.array([b["high"] for b in bars])
    lo = np.array([b["low"] for b in bars])
    v = np.array([b["volume"] for b in bars])
    macd, signal, hist = talib.MACD(c, 12, 26, 9)
    upper, middle, lower = talib.BBANDS(c, 20, 2, 2, 0)
    return {"sma_20": talib.SMA(c, 20), "ema_12": talib.EMA(c, 12), "ema_26": talib.EMA(c, 26),
            "rsi_14": talib.RSI(c, 14), "macd": macd, "macd_signal": signal, "macd_hist": hist,
            "bb_upper": upper, "bb_middle": middle, "bb_lower": lower, "atr_14": talib.ATR(h, lo, c, 14),
            "obv": talib.OBV(c, v)}


FIRST_VALUE = {"sma_20": 19, "ema_12": 11, "ema_26": 25, "rsi_14": 14, "macd": 33, "macd_signal": 33,
               "macd_hist": 33, "bb_upper": 19, "bb_middle": 19, "bb_lower": 19, "atr_14": 14, "obv": 0}


def close_enough(got, want) -> bool:
    return math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-12)


@pytest.mark.parametrize("timeframe", ["1s", "1m"])
def test_every_column_equals_talib_on_the_flows_own_closed_bars(timeframe):
    rows = flow_rows()
    last = max(r.ts for r in rows if r.table == "data_quality") // S
    bars = sorted(({"ts": r.ts, **r.columns} for r in rows if r.table == "ohlcv" and r.symbols["venue"] == "ALL"
                   and r.symbols["timeframe"] == timeframe), key=lambda b: b["ts"])
    closed = [b for b in bars if b["ts"] // S + TIMEFRAMES[timeframe] <= last + 1]
    assert len(closed) >= 35
    got = sorted((r for r in rows if r.table == "indicators" and r.symbols["timeframe"] == timeframe),
                 key=lambda r: r.ts)
    assert [r.ts for r in got] == [b["ts"] for b in closed]  # one row per closed bar, none for the open one
    for col, want in reference(closed).items():
        values = [r.columns[col] for r in got]
        nulls = [v is None for v in values]
        assert nulls == list(np.isnan(want)), col  # null exactly where TA-Lib gives NaN
        assert nulls.index(False) == FIRST_VALUE[col], col
        bad = [(i, v, w) for i, (v, w) in enumerate(zip(values, want)) if v is not None and not close_enough(v, w)]
        assert not bad, (col, bad[:3])


def test_bars_of_1h_and_1d_still_open_at_the_end_have_no_row():
    rows = flow_rows()
    assert not [r for r in rows if r.table == "indicators" and r.symbols["timeframe"] in ("1h", "1d")]


def bars(n: int, seed: int = 3) -> list[Bar]:
    rng = np.random.default_rng(seed)
    close = 100 + np.cumsum(rng.normal(size=n))
    out = []
    for i, c in enumerate(close):
        o = c + rng.normal() * 0.3
        out.append(Bar(i, "ALL", "1s", o, max(o, c) + rng.random(), min(o, c) - rng.random(), c,
                       float(rng.random() * 5)))
    return out


def run_series(series: IndicatorSeries, bs: list[Bar]) -> list[dict]:
    return [series.add(b) for b in bs]


def test_a_handle_cannot_be_pickled_so_the_series_is_kept_and_a_resume_is_exact():
    with pytest.raises(TypeError, match="cannot pickle"):
        pickle.dumps(stream.SMA(np.arange(30.0), timeperiod=20))
    bs = bars(300)
    whole = run_series(IndicatorSeries(), bs)
    for cut in (5, 30, 150):  # before, just after and well after every warm-up
        first = IndicatorSeries()
        head = run_series(first, bs[:cut])
        resumed = pickle.loads(pickle.dumps(first))  # what the recovery store holds
        assert [h is None for h in resumed.handles] == [h is None for h in first.handles]  # reopened
        assert head + run_series(resumed, bs[cut:]) == whole  # bit for bit, not just close


@pytest.mark.parametrize("field,value", [("close", math.nan), ("high", math.inf), ("volume", -1.0),
                                         ("low", 1e9)])
def test_a_bar_talib_would_reject_is_refused_and_leaves_every_handle_as_it_was(field, value):
    bs = bars(80)
    clean = IndicatorSeries()
    want = run_series(clean, bs)
    s = IndicatorSeries()
    run_series(s, bs[:50])
    bad = Bar(**{**{k: getattr(bs[50], k) for k in Bar.__slots__}, field: value})
    with pytest.raises(InvalidBar, match=field if field != "low" else "outside"):
        s.add(bad)
    assert len(s) == 50
    assert run_series(s, bs[50:]) == want[50:]


def test_a_long_series_is_compacted_and_stays_within_the_spec_of_the_whole_history():
    """Past COMPACT_AT bars the series keeps its last KEEP (memory and snapshots flat over
    weeks); every value still equals TA-Lib on the whole history (FEATURES.md: 1e-9
    relative), the recursive ones and OBV bit for bit, nulls where TA-Lib has NaN."""
    from cobflow.metrics.indicators import COLUMNS, COMPACT_AT, KEEP

    bs = bars(2 * COMPACT_AT + 3_000, seed=8)
    s = IndicatorSeries()
    got = []
    sizes = []
    for b in bs:
        got.append(s.add(b))
        assert len(s) < COMPACT_AT
        sizes.append(len(s))
    assert min(sizes[COMPACT_AT:]) == KEEP  # compacted (twice), never below KEEP
    want = reference([{"close": b.close, "high": b.high, "low": b.low, "volume": b.volume} for b in bs])
    for col in COLUMNS:
        values = [g[col] for g in got]
        assert [v is None for v in values] == list(np.isnan(want[col])), col
        bad = [(i, v, w) for i, (v, w) in enumerate(zip(values, want[col])) if v is not None and not close_enough(v, w)]
        assert not bad, (col, bad[:3])
    for col in ("ema_12", "ema_26", "rsi_14", "macd", "macd_signal", "macd_hist", "atr_14", "obv"):
        assert [g[col] for g in got[COMPACT_AT:]] == list(want[col][COMPACT_AT:]), col  # exact after compaction
    assert len(pickle.dumps(s)) < 32 * COMPACT_AT + 1_000  # what a snapshot copies: bounded, not a day's


def test_a_resume_across_a_compaction_writes_the_values_of_one_uninterrupted_run():
    from cobflow.metrics.indicators import COMPACT_AT

    bs = bars(COMPACT_AT + 6_000, seed=9)
    whole = run_series(IndicatorSeries(), bs)
    for cut in (COMPACT_AT - 1, COMPACT_AT, COMPACT_AT + 1, COMPACT_AT + 4_000):  # around and after it
        first = IndicatorSeries()
        head = run_series(first, bs[:cut])
        resumed = pickle.loads(pickle.dumps(first))  # what the recovery store holds
        assert head + run_series(resumed, bs[cut:]) == whole, cut  # bit for bit


def test_a_snapshot_from_before_compaction_resumes_with_obv_read_off_its_series():
    bs = bars(400, seed=10)
    whole = run_series(IndicatorSeries(), bs)
    first = IndicatorSeries()
    head = run_series(first, bs[:250])
    old = first.__getstate__()
    del old["obv"]  # what cobflow stored before: the whole series alone
    resumed = IndicatorSeries.__new__(IndicatorSeries)
    resumed.__setstate__(old)
    assert head + run_series(resumed, bs[250:]) == whole
