"""Williams pivots (FEATURES.md "Pivots"): small series worked out by hand, and a property
test against a plain reference written from the spec's words on random series."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from cobflow.metrics.pivots import LEVELS, PivotTracker

S = 1_000_000_000


def feed(highs, lows=None, k=2, step_s=1):
    """Bars i = 0.. of `step_s` seconds each -> {(kind, level, bar index): (price, confirmed bar index, emitted at)}."""
    lows = lows if lows is not None else [h - 1 for h in highs]
    t = PivotTracker(k)
    out = {}
    for i, (h, lo) in enumerate(zip(highs, lows)):
        for p in t.add(i * step_s * S, (i + 1) * step_s * S, h, lo):
            key = (p.kind, p.level, p.start_ns // (step_s * S))
            assert key not in out, f"{key} reported twice"
            out[key] = (p.price, p.confirmed_ns // (step_s * S) - 1, i)
    return out


def test_a_clear_high_is_confirmed_when_the_kth_bar_after_it_closes():
    got = feed([1, 2, 5, 3, 2, 1])
    assert got[("high", 1, 2)] == (5, 4, 4)  # bar 2, confirmed by bar 4's close at the end of bar 4
    assert not any(k[1] == 1 and k[0] == "high" and k[2] != 2 for k in got)


def test_the_confirmation_time_is_the_end_of_bar_i_plus_k_window_on_one_minute_bars():
    t = PivotTracker(2)
    out = []
    for i, h in enumerate([1, 2, 5, 3, 2]):
        out += t.add(i * 60 * S, (i + 1) * 60 * S, h, h - 1)
    high = [p for p in out if p.kind == "high"]
    assert [(p.start_ns, p.confirmed_ns, p.price) for p in high] == [(120 * S, 300 * S, 5)]


def test_equal_highs_make_no_pivot():
    got = feed([1, 2, 5, 5, 2, 1, 0])
    assert not [k for k in got if k[0] == "high"]


def test_a_bar_can_be_both_a_high_and_a_low():
    # bar 2: the highest high and the lowest low of its neighbourhood (an outside bar)
    highs = [5, 6, 9, 6, 5]
    lows = [3, 2, 0, 2, 3]
    got = feed(highs, lows)
    assert got[("high", 1, 2)][0] == 9 and got[("low", 1, 2)][0] == 0


def test_a_bar_with_fewer_than_k_bars_before_it_is_no_pivot():
    # bar 0 is above bars 1 and 2, bar 1 above 0..3: neither has k = 2 bars on its left
    got = feed([9, 5, 4, 6, 2, 1, 0], lows=[5, 1, 2, 3, 1.5, 0.5, -1])
    assert ("high", 1, 0) not in got and ("low", 1, 1) not in got
    # bar 3 (6) is above 2 bars either side, 5 and 4 before it and 2 and 1 after: a pivot
    got = feed([9, 5, 4, 6, 2, 1, 0])
    assert list(got) == [("high", 1, 3)]
    # k = 1: bar 0 never is one, bar 1 can be
    got = feed([9, 10, 4, 3], lows=[1, 0, 2, 3], k=1)
    assert set(got) == {("high", 1, 1), ("low", 1, 1)}


def test_level_two_and_three_from_a_hand_drawn_series():
    # level-1 highs (k=1) at bars 1, 3, 5, 7, 9, 11, 13 with prices 5, 7, 6, 9, 8, 10, 4
    highs = [1, 5, 1, 7, 1, 6, 1, 9, 1, 8, 1, 10, 1, 4, 1]
    lows = [0.1] + [0.5] * (len(highs) - 1)  # the lows out of the way: one low at the start, then equal
    got = feed(highs, lows, k=1)
    l1 = sorted(k[2] for k in got if k[:2] == ("high", 1))
    assert l1 == [1, 3, 5, 7, 9, 11, 13]
    # level 2: above both level-1 neighbours: 7 (bar 3), 9 (bar 7), 10 (bar 11)
    l2 = {k[2]: v for k, v in got.items() if k[:2] == ("high", 2)}
    assert sorted(l2) == [3, 7, 11]
    # bar 3 is confirmed with the next level-1 high (bar 5, confirmed when bar 6 closes)
    assert l2[3] == (7, 6, 6)
    assert l2[11] == (10, 14, 14)
    # level 3 among 7, 9, 10: 9 is below 10, and 10 has no right neighbour yet
    assert not [k for k in got if k[:2] == ("high", 3)]
    # two more level-1 highs: 5 at bar 15 (above 4 and 2: level 2), 2 at bar 17
    highs2 = highs + [5, 1, 2, 1]
    got2 = feed(highs2, [0.1] + [0.5] * (len(highs2) - 1), k=1)
    l2b = {k[2]: v for k, v in got2.items() if k[:2] == ("high", 2)}
    assert sorted(l2b) == [3, 7, 11, 15]
    assert l2b[15] == (5, 18, 18)  # with bar 17, confirmed when bar 18 closes
    l3 = {k[2]: v for k, v in got2.items() if k[:2] == ("high", 3)}
    assert l3 == {11: (10, 18, 18)}  # 10 is above 9 and 5: confirmed with bar 15's level 2


def test_nothing_is_reported_before_its_confirmation_and_later_bars_never_revise_it():
    highs = [1, 3, 2, 5, 1, 4, 2, 6, 1]
    got = feed(highs, k=2)
    for (_, _, i), (_, confirmed, emitted) in got.items():
        assert emitted == confirmed >= i + 2


# -- the reference: the spec's sentences, as directly as Python says them ----------------
def reference(highs, lows, k):
    n = len(highs)
    result = {}
    series = {}
    for kind, values, better in (("high", highs, lambda a, b: a > b), ("low", lows, lambda a, b: a < b)):
        level1 = []
        for i in range(k, n - k):  # k bars before it, confirmed only once bar i + k has closed
            others = [j for j in range(i - k, i + k + 1) if j != i]
            if all(better(values[i], values[j]) for j in others):
                level1.append((i, values[i], i + k))
        series[(kind, 1)] = level1
        for level in range(1, LEVELS):
            lower = series[(kind, level)]
            upper = []
            for m in range(1, len(lower) - 1):
                if better(lower[m][1], lower[m - 1][1]) and better(lower[m][1], lower[m + 1][1]):
                    upper.append((lower[m][0], lower[m][1], lower[m + 1][2]))
            series[(kind, level + 1)] = upper
        for level in range(1, LEVELS + 1):
            for i, price, confirmed in series[(kind, level)]:
                result[(kind, level, i)] = (price, confirmed)
    return result


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 12), min_size=1, max_size=120), st.integers(1, 4), st.randoms())
def test_the_tracker_equals_the_reference_on_random_series(highs, k, rnd):
    lows = [h - rnd.randint(0, 3) for h in highs]  # ties on purpose: small integer prices
    got = {key: (v[0], v[1]) for key, v in feed(highs, lows, k=k).items()}
    assert got == reference(highs, lows, k)
