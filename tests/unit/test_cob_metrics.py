"""METRICS.md's consolidated book, buckets and moving averages on small books worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cobflow.book import L2Book
from cobflow.metrics.cob import BucketSize, consolidate
from cobflow.metrics.moving import WINDOWS, SecondsAverage


def book(bids: dict, asks: dict) -> L2Book:
    b = L2Book()
    b.load(bids.items(), asks.items())
    return b


def at(arr, offset):  # value of bucket offset k (-20..20)
    return arr[offset + 20]


def test_two_venues_buckets_and_a_price_exactly_on_a_bucket_edge():
    a = book({99990.0: 1.0, 99985.0: 2.0}, {100010.0: 1.5, 100020.0: 1.0})
    b = book({100000.0: 0.5}, {100005.0: 2.0})
    s = consolidate({"a": a, "b": b}, BucketSize(step=10))
    assert (s.best_bid, s.best_ask, s.venues) == (100000.0, 100005.0, 2)
    assert s.mid == 100002.5
    assert s.spread_bps == pytest.approx(5 / 100002.5 * 1e4)
    # bid 0.5 at the best bid, ask 2 at the best ask: (100000*2 + 100005*0.5) / 2.5
    assert s.microprice == pytest.approx(100001.0)
    assert not s.crossed
    assert s.center == 10000  # floor(100002.5 / 10)
    assert at(s.price, 0) == 100000.0 and at(s.price, -20) == 99800.0 and at(s.price, 20) == 100200.0
    # 100000 is the lower edge of bucket 10000: offset 0, not -1
    assert at(s.bid_qty, 0) == 0.5 and at(s.ask_qty, 0) == 2.0
    assert at(s.bid_qty, -1) == 1.0 and at(s.bid_qty, -2) == 2.0  # 99990 -> 9999, 99985 -> 9998
    assert at(s.ask_qty, 1) == 1.5 and at(s.ask_qty, 2) == 1.0
    imb = s.imbalance()
    assert at(imb, 0) == pytest.approx(-0.6)  # (0.5 - 2) / 2.5
    assert at(imb, -1) == 1.0 and at(imb, 1) == -1.0 and at(imb, 5) == 0.0  # empty bucket: 0
    assert at(s.bid_notional, 0) == 50000.0 and at(s.ask_notional, 0) == 200010.0
    assert at(s.vwap("bid"), 0) == 100000.0 and at(s.vwap("ask"), 0) == 100005.0
    assert math.isnan(at(s.vwap("bid"), 1))  # no bid quantity: null
    assert at(s.bucket_venues, 0) == 1 and at(s.bucket_venues, -1) == 1 and at(s.bucket_venues, 7) == 0
    assert (s.bid_qty_total, s.ask_qty_total) == (3.5, 4.5)
    assert s.liquidity_imbalance == pytest.approx(-0.125)


def test_bps_buckets_follow_the_mid():
    s = consolidate({"a": book({1999.5: 1.0, 1998.0: 2.0}, {2000.5: 4.0})}, BucketSize(bps=5))
    assert s.mid == 2000.0 and s.bucket_size == 1.0  # 2000 * 5 / 1e4
    assert s.center == 2000
    assert at(s.bid_qty, -1) == 1.0 and at(s.bid_qty, -2) == 2.0 and at(s.ask_qty, 0) == 4.0
    assert at(s.price, 3) == 2003.0


def test_levels_outside_the_41_buckets_are_left_out_of_buckets_and_totals():
    s = consolidate({"a": book({100.0: 1.0, 79.0: 5.0}, {101.0: 1.0, 121.0: 7.0, 120.9: 2.0})}, BucketSize(step=1))
    # mid 100.5 -> center 100; offsets -20..20 cover 80..120.999
    assert s.bid_qty_total == 1.0 and s.ask_qty_total == 3.0
    assert at(s.ask_qty, 20) == 2.0


def test_one_empty_side_has_no_mid_and_no_buckets():
    s = consolidate({"a": book({100.0: 1.0}, {})}, BucketSize(step=1))
    assert s.best_bid == 100.0 and s.best_ask is None and s.mid is None and s.price is None
    assert consolidate({}, BucketSize(step=1)) is None


def test_venues_that_cross():
    a = book({101.0: 1.0}, {102.0: 1.0})
    b = book({100.0: 1.0}, {100.5: 2.0})
    s = consolidate({"a": a, "b": b}, BucketSize(step=1))
    assert (s.best_bid, s.best_ask) == (101.0, 100.5)
    assert s.crossed and s.spread_bps == pytest.approx(-0.5 / 100.75 * 1e4)
    assert s.microprice == pytest.approx((101 * 2 + 100.5 * 1) / 3)


def test_moving_averages_over_seconds_with_missing_rows():
    ma = SecondsAverage()
    assert ma.add(10, 0.5)[5] == 0.5
    assert ma.add(11, -0.5)[5] == 0.0
    r = ma.add(13, 1.0)  # second 12 has no row: it is not a zero
    assert r[1] == 1.0 and r[5] == pytest.approx(1 / 3) and r[15] == pytest.approx(1 / 3)
    r = ma.add(16, 0.0)  # [12, 16] holds 13 and 16
    assert r[5] == pytest.approx(0.5) and r[60] == pytest.approx(0.25)
    r = ma.add(80, np.array([1.0, -1.0]))  # everything older than 21 has left ma_60
    assert list(r[60]) == [1.0, -1.0]
    with pytest.raises(ValueError):
        ma.add(80, 0.0)


prices = st.floats(50.0, 150.0, allow_nan=False).map(lambda x: round(x, 2))
sizes = st.floats(0.001, 10.0, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.dictionaries(prices, sizes, max_size=30), st.dictionaries(prices, sizes, max_size=30)),
                min_size=1, max_size=4),
       st.sampled_from([BucketSize(step=1), BucketSize(step=0.5), BucketSize(bps=10)]))
def test_bucket_quantities_sum_to_the_book_inside_the_buckets_and_imbalance_is_bounded(venues, bucket):
    books = {f"v{i}": book(b, a) for i, (b, a) in enumerate(venues)}
    s = consolidate(books, bucket)
    if s is None or s.mid is None:
        return
    b = s.bucket_size
    lo, hi = (s.center - 20) * b, (s.center + 21) * b
    inside = lambda side: sum(q for bk in books.values() for p, q in getattr(bk, side).items()  # noqa: E731
                              if s.center - 20 <= math.floor(p / b) <= s.center + 20)
    assert s.bid_qty_total == pytest.approx(inside("bids"))
    assert s.ask_qty_total == pytest.approx(inside("asks"))
    assert np.all(np.abs(s.imbalance()) <= 1.0) and -1.0 <= s.liquidity_imbalance <= 1.0
    assert np.all(s.bucket_venues <= len(books))
    assert lo <= s.mid < hi


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 40), st.lists(st.floats(-1, 1), min_size=3, max_size=3)), max_size=400))
def test_moving_averages_are_the_means_of_the_windows_values_to_the_bit(steps):
    """Against the definition: ma_N(S) is np.mean of the values of the seconds in [S-N+1, S]."""
    ma, second, held = SecondsAverage(), 0, []
    for gap, value in steps:
        second += gap
        held.append((second, np.array(value)))
        got = ma.add(second, value)
        for n in WINDOWS:
            want = np.mean([v for s, v in held if s >= second - n + 1], axis=0)
            assert got[n].tobytes() == want.tobytes()
