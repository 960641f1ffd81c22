"""Binance parser and sync rules, on frames written from Binance's documentation."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cobflow.book import L2Book
from cobflow.connectors import available_venues, get_venue
from cobflow.connectors.binance import BinanceBook, canonical_symbol, parse
from cobflow.events import BookDelta, BookSnapshot, MalformedFrame, Trade
from cobflow.raw import RawMessage


def ws(payload: dict | str, ts: int = 1) -> RawMessage:
    text = payload if isinstance(payload, str) else orjson.dumps(payload).decode()
    return RawMessage(ts, "binance", "ws", "depth@100ms", "BNB-BTC", text)


def snapshot(last: int, bids, asks, ts: int = 1) -> RawMessage:
    body = orjson.dumps({"lastUpdateId": last, "bids": bids, "asks": asks}).decode()
    return RawMessage(ts, "binance", "rest", "snapshot", "BNB-BTC", body)


DEPTH = {"e": "depthUpdate", "E": 1672515782136, "s": "BNBBTC", "U": 157, "u": 160,
         "b": [["0.0024", "10"]], "a": [["0.0026", "100"], ["0.0027", "0"]]}


def test_registry_finds_binance():
    assert "binance" in available_venues()
    assert get_venue("binance").VENUE == "binance"
    with pytest.raises(LookupError, match="unknown venue 'ftx'"):
        get_venue("ftx")


@pytest.mark.parametrize("venue_sym,canonical", [
    ("NKNUSDT", "NKN-USDT"), ("BLZETH", "BLZ-ETH"), ("LRCBTC", "LRC-BTC"),
    ("RUNEEUR", "RUNE-EUR"), ("BTCFDUSD", "BTC-FDUSD"), ("bnbbtc", "BNB-BTC"),
])
def test_canonical_symbol(venue_sym, canonical):
    assert canonical_symbol(venue_sym) == canonical


def test_depth_update_bare_and_combined():
    for payload in (DEPTH, {"stream": "bnbbtc@depth@100ms", "data": DEPTH}):
        [ev] = parse(ws(payload, ts=42))
        assert ev == BookDelta("binance", "BNB-BTC", 42, [(0.0024, 10.0)],
                               [(0.0026, 100.0), (0.0027, 0.0)], seq=160, prev_seq=156)


def test_rest_snapshot():
    [ev] = parse(snapshot(1027024, [["4.00000000", "431.00000000"]], [["4.00000200", "12.00000000"]]))
    assert ev == BookSnapshot("binance", "BNB-BTC", 1, [(4.0, 431.0)], [(4.000002, 12.0)], seq=1027024)


def test_agg_trade_aggressor_side():
    base = {"e": "aggTrade", "E": 1, "s": "BNBBTC", "a": 12345, "p": "0.001", "q": "100",
            "f": 100, "l": 105, "T": 1672515782136, "M": True}
    [sold] = parse(ws({**base, "m": True}))  # buyer was maker -> taker sold
    [bought] = parse(ws({**base, "m": False}))
    assert sold == Trade("binance", "BNB-BTC", 1, 0.001, 100.0, "sell", "12345", 1672515782136000000)
    assert bought.side == "buy"


def test_non_book_frames_are_ignored():
    assert parse(ws({"u": 400900217, "s": "BNBUSDT", "b": "25.35", "B": "31.2", "a": "25.36", "A": "40.6"})) == []
    assert parse(ws({"result": None, "id": 1})) == []


@pytest.mark.parametrize("payload,reason", [
    ('{"stream":"bnbbtc@depth@100ms","data":{"e":"depthUpd', "not JSON"),
    ({**DEPTH, "U": None}, "bad field value"),
    ({k: v for k, v in DEPTH.items() if k != "u"}, "missing field 'u'"),
    ({**DEPTH, "b": [["0.0024", "-1"]]}, "invalid level"),
    ({**DEPTH, "b": [["abc", "1"]]}, "bad price level"),
    ({**DEPTH, "a": "nope"}, "expected a list"),
    ("[1, 2]", "expected a JSON object"),
])
def test_malformed_frames_say_why(payload, reason):
    with pytest.raises(MalformedFrame, match=reason):
        parse(ws(payload))


def test_snapshot_without_symbol_is_malformed():
    raw = RawMessage(1, "binance", "rest", "snapshot", None, '{"lastUpdateId":1,"bids":[],"asks":[]}')
    with pytest.raises(MalformedFrame, match="without a symbol"):
        parse(raw)


# --- sync rules -----------------------------------------------------------------------

def delta(U, u, bids=(), asks=()):
    return BookDelta("binance", "BNB-BTC", 1, list(bids), list(asks), seq=u, prev_seq=U - 1)


def snap(last, bids=((10.0, 1.0),), asks=((11.0, 1.0),)):
    return BookSnapshot("binance", "BNB-BTC", 1, list(bids), list(asks), seq=last)


def test_diffs_already_in_the_snapshot_are_dropped_then_first_diff_straddles():
    b = BinanceBook()
    assert b.apply(snap(100)) is None and b.synced
    assert b.apply(delta(95, 100, bids=[(10.0, 99.0)])) is None  # u <= lastUpdateId: dropped
    assert b.book.best_bid() == (10.0, 1.0) and b.health.updates == 0
    assert b.apply(delta(99, 102, bids=[(10.5, 2.0)])) is None  # U <= 101 <= u
    assert b.apply(delta(103, 103, asks=[(11.0, 0.0), (12.0, 3.0)])) is None  # U == 102 + 1
    assert b.book.best_bid() == (10.5, 2.0)
    assert b.book.best_ask() == (12.0, 3.0)
    assert b.health.updates == 2 and b.health.gaps == 0 and b.synced


def test_gap_unsyncs_until_next_snapshot_then_counts_a_resync():
    b = BinanceBook()
    b.apply(snap(100))
    b.apply(delta(101, 101))
    reason = b.apply(delta(103, 104))  # 102 is missing
    assert reason == "sequence gap: expected U == 102, got U=103 u=104"
    assert not b.synced and len(b.book) == 0 and b.health.gaps == 1
    assert b.apply(delta(105, 105)) is None  # buffered while waiting for a snapshot
    assert not b.synced
    assert b.apply(snap(104, bids=[(9.0, 5.0)])) is None
    assert b.synced and b.health.resyncs == 1 and b.health.snapshots == 2
    assert b.health.updates == 2  # 101, and the buffered 105
    assert b.book.best_bid() == (9.0, 5.0)


def test_first_diff_after_snapshot_must_straddle():
    b = BinanceBook()
    b.apply(snap(100))
    assert b.apply(delta(103, 105)) == "sequence gap: expected U <= 101 <= u, got U=103 u=105"
    assert not b.synced


def test_diffs_received_before_the_snapshot_are_buffered_and_applied():
    b = BinanceBook()
    b.apply(delta(98, 99, bids=[(10.0, 7.0)]))  # will be inside the snapshot: dropped
    b.apply(delta(100, 101, bids=[(10.0, 8.0)]))  # straddles lastUpdateId + 1 = 101
    b.apply(delta(102, 102, asks=[(10.8, 4.0)]))
    assert not b.synced
    assert b.apply(snap(100)) is None
    assert b.synced and b.health.updates == 2
    assert b.book.best_bid() == (10.0, 8.0)
    assert b.book.best_ask() == (10.8, 4.0)


# --- properties -----------------------------------------------------------------------

prices = st.integers(1, 60).map(lambda i: i / 4)
sizes = st.sampled_from([0.0, 0.0, 0.5, 1.0, 2.5])
level_lists = st.lists(st.tuples(prices, sizes), max_size=8)


def naive_apply(side: dict[float, float], levels) -> None:
    """What an absolute-size L2 update means, written as plainly as possible."""
    for p, q in levels:
        if q > 0:
            side[p] = q
        else:
            side.pop(p, None)


@given(st.lists(st.tuples(level_lists, level_lists), max_size=30))
def test_l2book_best_levels_match_a_naive_scan_and_no_empty_levels_are_stored(updates):
    book, bids, asks = L2Book(), {}, {}
    for b, a in updates:
        book.apply(b, a)
        naive_apply(bids, b)
        naive_apply(asks, a)
        assert book.best_bid() == ((max(bids), bids[max(bids)]) if bids else None)
        assert book.best_ask() == ((min(asks), asks[min(asks)]) if asks else None)
        assert all(q > 0 for q in book.bids.values()) and all(q > 0 for q in book.asks.values())


@settings(max_examples=150)
@given(
    moves=st.lists(st.tuples(st.integers(-3, 3), level_lists, level_lists), min_size=1, max_size=40),
    snap_at=st.integers(0, 39),
    batch=st.lists(st.integers(1, 3), min_size=40, max_size=40),
)
def test_synced_book_equals_the_exchange_book_and_is_never_crossed(moves, snap_at, batch):
    """An exchange keeps an uncrossed book (bids below its mid, asks above) and publishes
    diffs with consecutive update ids, grouped 1-3 ids per event; the REST snapshot is
    taken at a random point while diffs keep streaming. After sync our book must equal
    the exchange's after every event, so it is never crossed."""
    ex_bids: dict[float, float] = {}
    ex_asks: dict[float, float] = {}
    mid, uid = 8.0, 1000
    ours = BinanceBook()
    snapshot_sent = False
    pending_events = []
    for i, (step, raw_bids, raw_asks) in enumerate(moves):
        mid = min(max(mid + step * 0.25, 2.0), 13.0)
        # Levels that would cross the new mid are removed, as a matching engine would.
        changes_b = [(p, 0.0) for p in ex_bids if p >= mid] + [(mid - p / 8, q) for p, q in raw_bids]
        changes_a = [(p, 0.0) for p in ex_asks if p <= mid] + [(mid + p / 8, q) for p, q in raw_asks]
        first = uid + 1
        uid += batch[i]
        naive_apply(ex_bids, changes_b)
        naive_apply(ex_asks, changes_a)
        pending_events.append(delta(first, uid, changes_b, changes_a))
        if i == snap_at or (i == len(moves) - 1 and not snapshot_sent):
            ours.apply(BookSnapshot("binance", "BNB-BTC", 1, list(ex_bids.items()), list(ex_asks.items()), seq=uid))
            snapshot_sent = True
        for ev in pending_events:
            assert ours.apply(ev) is None
        pending_events.clear()
        if ours.synced:
            assert dict(ours.book.bids) == ex_bids and dict(ours.book.asks) == ex_asks
            assert not ours.book.crossed()
    assert ours.synced and ours.health.gaps == 0
