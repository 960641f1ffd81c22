"""The L2 book's sides against a plain dict with the same updates: same levels, prices kept
in order, the best one at hand, top-n and the worst level as sorting would give them."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from cobflow.book import BookSide, L2Book

prices = st.sampled_from([round(100 + 0.5 * i, 1) for i in range(-20, 21)])  # levels recur
sizes = st.sampled_from([0.0, 0.0, 0.1, 1.0, 2.5])  # zeros remove levels
updates = st.lists(st.lists(st.tuples(prices, sizes), max_size=6), max_size=40)


def reference(batches: list[list[tuple[float, float]]]) -> dict[float, float]:
    d: dict[float, float] = {}
    for batch in batches:
        for p, q in batch:
            if q > 0:
                d[p] = q
            else:
                d.pop(p, None)
    return d


@given(updates, st.booleans(), st.integers(0, 45))
def test_a_side_holds_what_a_dict_holds_in_price_order(batches, is_bid, n):
    side = BookSide(is_bid)
    for batch in batches:
        side.apply(batch)
    want = reference(batches)
    assert dict(side.items()) == want and len(side) == len(want)
    assert side.prices == sorted(want)
    best_first = sorted(want, reverse=is_bid)
    assert side.best() == (best_first[0] if want else None)
    assert side.top(n) == best_first[:n]
    assert side.levels(n) == [(p, want[p]) for p in best_first[:n]]
    if want:
        assert side.pop_worst() == best_first[-1]
        assert side.prices == sorted(best_first[:-1]) and best_first[-1] not in side


@given(st.dictionaries(prices, sizes, max_size=30), updates)
def test_a_snapshot_load_then_updates_equal_the_dict(snapshot, batches):
    book = L2Book()
    book.apply([(99.0, 1.0)], [(101.0, 1.0)])  # replaced by the load
    levels = list(snapshot.items())
    book.load(levels, levels)
    for batch in batches:
        book.apply(batch, batch)
    want = reference([levels, *batches])
    assert dict(book.bids.items()) == want == dict(book.asks.items())
    assert book.best_bid() == ((max(want), want[max(want)]) if want else None)
    assert book.best_ask() == ((min(want), want[min(want)]) if want else None)
    assert book.crossed() == bool(want)  # the same prices on both sides always cross


def token_of(p: float, q: float) -> str:
    return f"{p}@{q}"  # a token that names its level, so a misaligned one shows


@given(st.dictionaries(prices, sizes, max_size=30), updates, st.booleans(), st.integers(0, 45))
def test_tokens_stay_aligned_with_their_levels(snapshot, batches, is_bid, n):
    levels = list(snapshot.items())
    side = BookSide(is_bid, levels, [token_of(p, q) for p, q in levels])
    for batch in batches:
        side.apply(batch, [token_of(p, q) for p, q in batch])
    want = reference([levels, *batches])
    best_first = sorted(want, reverse=is_bid)
    assert side.top_tokens(n) == [token_of(p, want[p]) for p in best_first[:n]]
    assert len(side.tokens) == len(side.prices)
    if want:
        side.pop_worst()
        assert side.top_tokens(45) == [token_of(p, want[p]) for p in best_first[:-1]]
    side.retokenize(lambda p, q: f"new {p}")
    assert side.top_tokens(45) == [f"new {p}" for p in sorted(side.sizes, reverse=is_bid)]


def test_a_tokenized_side_refuses_levels_without_tokens():
    side = BookSide(True, [(100.0, 1.0)], ["t"])
    try:
        side.apply([(101.0, 1.0)])
    except ValueError as exc:
        assert "token" in str(exc)
    else:
        raise AssertionError("a level without its token was accepted")
