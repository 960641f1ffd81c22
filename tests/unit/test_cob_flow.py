"""The COB dataflow on a small crafted input, every number worked out by hand (METRICS.md),
run by Bytewax's test runner exactly as the flow is built; and the properties that
a second's row uses nothing received at or after its end, and any worker count agrees."""

from __future__ import annotations

import orjson
import pytest

from cobflow.config import SymbolsConfig
from cobflow.raw import RawMessage
from tests.rowtools import plain_sorted, run_cob

S = 1_000_000_000
T0 = 1_000
SYMBOLS = SymbolsConfig.model_validate(
    {"symbols": {"TEST-USD": {"bucket": 1, "venues": {"binance": "AAA-USDT", "bybit": "AAA-USDT"}}}})


def at(seconds: float) -> int:
    return round(seconds * S)


def binance_snapshot(t, last, bids, asks):
    return RawMessage(at(t), "binance", "rest", "snapshot", "AAA-USDT",
                      orjson.dumps({"lastUpdateId": last, "bids": bids, "asks": asks}).decode())


def binance_diff(t, first, last, b=(), a=()):
    d = {"e": "depthUpdate", "E": 1, "s": "AAAUSDT", "U": first, "u": last, "b": list(b), "a": list(a)}
    return RawMessage(at(t), "binance", "ws", "depth@100ms", "AAA-USDT", orjson.dumps(d).decode())


def bybit(t, kind, u, b=(), a=()):
    d = {"topic": "orderbook.50.AAAUSDT", "type": kind, "ts": 1,
         "data": {"s": "AAAUSDT", "b": list(b), "a": list(a), "u": u, "seq": u}}
    return RawMessage(at(t), "bybit", "ws", "orderbook.50", "AAA-USDT", orjson.dumps(d).decode())


def bybit_trade(t, side, price, size):
    d = {"topic": "publicTrade.AAAUSDT", "type": "snapshot", "ts": 1, "data": [
        {"T": 1, "s": "AAAUSDT", "S": side, "v": str(size), "p": str(price), "L": "PlusTick", "i": "x", "BT": False}]}
    return RawMessage(at(t), "bybit", "ws", "publicTrade", "AAA-USDT", orjson.dumps(d).decode())


CRAFTED = [
    binance_snapshot(T0 + 0.1, 10, [["100", "1"]], [["101", "2"]]),
    bybit(T0 + 0.2, "snapshot", 5, b=[["100.5", "3"]], a=[["101.5", "1"]]),
    binance_diff(T0 + 0.7, 11, 11, b=[["100.2", "1"]]),
    bybit(T0 + 1.3, "delta", 6, a=[["100.8", "2"]]),
    binance_diff(T0 + 1.5, 13, 13, b=[["99", "9"]]),  # U=13 after u=11: a gap, binance leaves the book
    bybit_trade(T0 + 1.6, "Buy", 100.8, 0.5),
    bybit(T0 + 2.2, "delta", 7, b=[["100.5", "0"]]),  # bybit's bid side empties
]


def run(messages, workers: int = 1, symbols: SymbolsConfig = SYMBOLS):
    """The flow as built, via Bytewax's test runner; the blocks of rows compared row by row."""
    return run_cob(messages, symbols, workers)


def table(rows, name):
    return {(tuple(sorted(r.symbols.items())), r.ts // S, r.columns.get("offset")): r.columns
            for r in rows if r.table == name}


@pytest.fixture(scope="module")
def crafted():
    return run(CRAFTED)


def summary(rows, second):
    [row] = [r.columns for r in rows if r.table == "cob_summary" and r.ts == second * S]
    return row


def bucket(rows, second, offset):
    [row] = [r.columns for r in rows if r.table == "cob_buckets" and r.ts == second * S
             and r.columns["offset"] == offset]
    return row


def test_second_with_two_venues(crafted):
    rows, _ = crafted
    s = summary(rows, T0)
    # binance bids 100:1 100.2:1, asks 101:2; bybit bids 100.5:3, asks 101.5:1
    assert s["venues"] == 2 and s["best_bid"] == 100.5 and s["best_ask"] == 101.0
    assert s["mid"] == 100.75 and s["spread_bps"] == pytest.approx(0.5 / 100.75 * 1e4)
    assert s["microprice"] == pytest.approx((100.5 * 2 + 101 * 3) / 5)
    assert (s["bid_qty_total"], s["ask_qty_total"], s["liquidity_imbalance"]) == (5.0, 3.0, 0.25)
    b0, b1 = bucket(rows, T0, 0), bucket(rows, T0, 1)
    assert (b0["price"], b0["bid_qty"], b0["ask_qty"], b0["imbalance"], b0["venues"]) == (100.0, 5.0, 0.0, 1.0, 2)
    assert b0["bid_vwap"] == pytest.approx((100 + 100.2 + 100.5 * 3) / 5) and b0["ask_vwap"] is None
    assert (b1["ask_qty"], b1["imbalance"], b1["venues"]) == (3.0, -1.0, 2)
    assert len([r for r in rows if r.table == "cob_buckets" and r.ts == T0 * S]) == 41


def test_a_venue_going_unsynced_mid_window_leaves_the_book(crafted):
    rows, dlq = crafted
    s = summary(rows, T0 + 1)
    assert s["venues"] == 1  # binance lost its book at +1.5; bybit alone
    assert (s["best_bid"], s["best_ask"], s["mid"]) == (100.5, 100.8, 100.65)
    assert bucket(rows, T0 + 1, 0)["imbalance"] == pytest.approx(0.2)  # bid 3, ask 2
    assert s["liquidity_imbalance"] == 0.0 and s["li_ma_5"] == pytest.approx(0.125)  # mean(0.25, 0)
    health = table(rows, "book_health")
    b = health[((("market", "AAA-USDT"), ("venue", "binance")), T0 + 1, None)]
    assert b["gaps"] == 1 and b["synced"] is False
    assert [d.stage for d in dlq] == ["sync"] and "sequence gap" in dlq[0].reason
    ma = table(rows, "imbalance_ma")[((("symbol", "TEST-USD"),), T0 + 1, 0)]
    assert ma["ma_1"] == pytest.approx(0.2) and ma["ma_5"] == pytest.approx(0.6)  # mean(1.0, 0.2)


def test_one_empty_side_gives_a_summary_without_buckets(crafted):
    rows, _ = crafted
    s = summary(rows, T0 + 2)
    assert s["venues"] == 1 and s["best_bid"] is None and s["best_ask"] == 100.8 and s["mid"] is None
    assert not [r for r in rows if r.table == "cob_buckets" and r.ts == (T0 + 2) * S]


def test_trades_make_bars_and_order_flow(crafted):
    rows, _ = crafted
    bars = table(rows, "ohlcv")
    for venue in ("bybit", "ALL"):
        key = ((("symbol", "TEST-USD"), ("timeframe", "1s"), ("venue", venue)), T0 + 1, None)
        b = bars[key]
        assert (b["open"], b["close"], b["volume"], b["buy_volume"], b["trades"], b["vwap"]) == \
               (100.8, 100.8, 0.5, 0.5, 1, 100.8)
    minute = (T0 + 1) - (T0 + 1) % 60
    assert ((("symbol", "TEST-USD"), ("timeframe", "1m"), ("venue", "ALL")), minute, None) in bars
    flow = table(rows, "order_flow")
    f = flow[((("symbol", "TEST-USD"), ("venue", "ALL")), T0 + 1, None)]
    assert f == {"aggressive_buy_ratio": 1.0, "cvd": 0.5}


def test_no_row_uses_a_message_received_at_or_after_its_seconds_end():
    """Changing everything received from T0+1 on leaves the rows of second T0 as they were."""
    base, _ = run(CRAFTED)
    later = [m for m in CRAFTED if m.ts_recv < at(T0 + 1)] + [
        bybit(T0 + 1.0, "delta", 6, b=[["100.9", "50"]]),  # exactly at the end of T0: belongs to T0+1
        bybit_trade(T0 + 1.0, "Sell", 100.9, 7.0),
    ]
    shifted, _ = run(later)
    first = lambda rows: sorted((r.table, tuple(sorted(r.symbols.items())), r.columns.get("offset"), str(r.columns))  # noqa: E731
                                for r in rows if r.ts == T0 * S and r.table != "ohlcv")
    # summary, buckets, averages, two venues' health, data quality, the feature vectors
    assert len(first(base)) == 1 + 41 + 11 + 2 + 1 + 1
    assert first(base) == first(shifted)
    assert summary(shifted, T0 + 1)["best_bid"] == 100.9


def test_two_workers_give_the_rows_of_one():
    from tests.simdata import sim

    msgs = list(sim(15.0, seed=21))
    symbols = SymbolsConfig.model_validate({"symbols": {
        "BTC-USD": {"bucket": 10, "venues": {"binance": "BTC-USDT", "kraken": "BTC-USD", "okx": "BTC-USDT"}},
        "ETH-USD": {"bucket": "2bps", "venues": {"coinbase": "ETH-USD", "bybit": "ETH-USDT", "htx": "ETH-USDT"}},
    }})
    one, _ = run(msgs, 1, symbols)
    two, _ = run(msgs, 2, symbols)
    assert len(one) > 1000
    assert {r.table for r in one} >= {"features", "indicators", "data_quality"}
    assert plain_sorted(one) == plain_sorted(two)


def kraken(t, symbol, d):
    return RawMessage(at(t), "kraken", "ws", d.get("channel", "x") if isinstance(d, dict) else "x", symbol,
                      d if isinstance(d, str) else orjson.dumps(d).decode())


def kraken_book(t, pair, checksum):
    return kraken(t, pair.replace("/", "-"), {"channel": "book", "type": "snapshot", "data": [
        {"symbol": pair, "bids": [{"price": 100.5, "qty": 1.25}], "asks": [{"price": 101.0, "qty": 2.0}],
         "checksum": checksum}]})


@pytest.mark.parametrize("workers", [1, 2])
def test_a_frame_without_a_market_reaches_every_symbol_of_its_venue_and_dies_once(workers):
    import zlib

    symbols = SymbolsConfig.model_validate({"symbols": {
        "AAA-USD": {"bucket": 1, "venues": {"kraken": "AAA-USD"}},
        "BBB-USD": {"bucket": 1, "venues": {"kraken": "BBB-USD"}},
    }})
    instrument = {"channel": "instrument", "type": "snapshot", "data": {"assets": [], "pairs": [
        {"symbol": "AAA/USD", "price_precision": 2, "qty_precision": 3},
        {"symbol": "BBB/USD", "price_precision": 3, "qty_precision": 4}]}}
    # Kraken's checksum: asks then bids, each price and qty with the pair's decimals, '.'
    # dropped, leading zeros stripped. The snapshots print 1 and 2 decimals: only the
    # instrument frame (no symbol: it names both pairs) gives the decimals that verify.
    crc = lambda s: zlib.crc32(s.encode())  # noqa: E731
    msgs = [
        kraken(T0 + 0.1, None, instrument),
        kraken(T0 + 0.2, None, "{not json"),  # no market: one dead letter, not one per symbol
        kraken(T0 + 0.3, "ZZZ-USD", "{not json"),  # a market no symbol follows: not read
        kraken_book(T0 + 0.4, "AAA/USD", crc("10100" "2000" "10050" "1250")),  # 101.00 2.000 100.50 1.250
        kraken_book(T0 + 0.5, "BBB/USD", crc("101000" "20000" "100500" "12500")),  # 3 and 4 decimals
    ]
    rows, dlq = run(msgs, workers, symbols)
    assert [d.reason for d in dlq] == [dlq[0].reason] and "not JSON" in dlq[0].reason
    health = {r.symbols["market"]: r.columns for r in rows if r.table == "book_health"}
    assert health["AAA-USD"]["checksum_checks"] == 1 and health["BBB-USD"]["checksum_checks"] == 1
    assert health["AAA-USD"]["checksum_failures"] == 0 and health["BBB-USD"]["checksum_failures"] == 0
    assert health["AAA-USD"]["synced"] and health["BBB-USD"]["synced"]
    assert health["AAA-USD"]["malformed"] + health["BBB-USD"]["malformed"] == 1


def test_a_recovery_store_of_another_state_layout_is_refused_with_what_to_do():
    from cobflow.operators.cob import CobLogic, new_cob_state
    from cobflow.operators.state import STATE_LAYOUT, StaleRecoveryState, unstamp

    logic = CobLogic(None, SYMBOLS, None)
    logic.on_batch([("TEST-USD", CRAFTED[:3])])
    stored = logic.snapshot()
    resumed = unstamp(stored, "cob")  # this version's own store: resumed as it was
    assert resumed.feeds["binance"].sync.book.best_bid() == logic.state.feeds["binance"].sync.book.best_bid()
    old = new_cob_state(SYMBOLS, "TEST-USD")  # what cobflow before the stamp stored: the bare state
    for stale in (old, (STATE_LAYOUT + 1, old)):
        with pytest.raises(StaleRecoveryState, match=r"new, empty --recovery directory"):
            unstamp(stale, "cob")


def binance_trade(t, price, size, buyer_is_maker=False):
    d = {"e": "aggTrade", "E": 1, "s": "AAAUSDT", "a": 7, "p": str(price), "q": str(size), "f": 1, "l": 1,
         "T": 1, "m": buyer_is_maker, "M": True}
    return RawMessage(at(t), "binance", "ws", "aggTrade", "AAA-USDT", orjson.dumps(d).decode())


@pytest.mark.parametrize("bybit_first", [True, False])
@pytest.mark.parametrize("native_core", ["1", "0"])
def test_trades_of_two_venues_at_one_ts_recv_are_ordered_by_venue_id(bybit_first, native_core, monkeypatch):
    """cobflow.venues: ties on ts_recv across venues go by venue id as text (binance before
    bybit), whatever order they arrived in, with the native core on or off: the ALL bar opens
    at binance's price and closes at bybit's. By hand: open 100, close 102, volume 3."""
    monkeypatch.setenv("COBFLOW_NATIVE", native_core)
    same = T0 + 0.5
    trades = [binance_trade(same, 100, 1), bybit_trade(same, "Buy", 102, 2)]
    messages = [*CRAFTED[:2], *(reversed(trades) if bybit_first else trades),
                binance_diff(T0 + 1.2, 11, 11), bybit(T0 + 1.3, "delta", 6)]
    rows, _ = run(messages)
    bar = table(rows, "ohlcv")[((("symbol", "TEST-USD"), ("timeframe", "1s"), ("venue", "ALL")), T0, None)]
    assert (bar["open"], bar["close"], bar["high"], bar["low"], bar["volume"]) == (100.0, 102.0, 102.0, 100.0, 3.0)


def test_live_lateness_lets_a_quiet_venue_stop_holding_its_symbols_second():
    """FlowSettings.lateness_s, live: a venue more than the lateness behind the symbol's
    newest message no longer holds its second open; within it, it does; without a lateness
    the idle timeout (2 s) decides; outside live mode neither applies."""
    from cobflow.operators.cob import CobLogic, new_cob_state

    def watermark(binance: float, bybit: float, **kw) -> int | None:
        logic = CobLogic(new_cob_state(SYMBOLS, "TEST-USD"), SYMBOLS, **kw)
        logic.state.feeds["binance"].last_ts, logic.state.feeds["bybit"].last_ts = at(binance), at(bybit)
        return logic.state.watermark(logic.hold_ns)

    # binance last spoke at .5, bybit at 1.4: second T0 closes once the watermark passes T0 + 1
    assert watermark(T0 + 0.5, T0 + 1.4, idle_timeout=2.0) == at(T0 + 0.5)  # binance holds it (0.9 s < 2 s)
    assert watermark(T0 + 0.5, T0 + 1.4, idle_timeout=2.0, lateness=0.25) == at(T0 + 1.4)  # 0.9 s > 0.25 s
    assert watermark(T0 + 1.2, T0 + 1.4, idle_timeout=2.0, lateness=0.25) == at(T0 + 1.2)  # within: it holds
    assert watermark(T0 + 0.5, T0 + 1.4, idle_timeout=None, lateness=0.25) == at(T0 + 0.5)  # file mode: exact


def test_silence_closes_the_open_seconds_once_then_the_step_sleeps_until_a_message():
    """Live mode: after the idle timeout the newest message closes what it allows (on_notify);
    then nothing more can close without a message, so the step asks not to be woken again
    (a wake-up time in the past made Bytewax call it in a loop: half a core for nothing);
    the next message arms it again."""
    from cobflow.operators.cob import CobLogic, new_cob_state

    logic = CobLogic(new_cob_state(SYMBOLS, "TEST-USD"), SYMBOLS, idle_timeout=2.0)
    assert logic.notify_at() is None  # nothing has come: nothing to close
    logic.on_batch([("TEST-USD", CRAFTED[:3])])  # seconds T0 (both venues' books) .. T0 + 0.7
    armed = logic.notify_at()
    assert armed is not None
    out, _ = logic.on_notify()
    closed = [sec.s for item in out for sec in item.records]
    assert closed == []  # the newest message is at T0 + 0.7: second T0 is not over by the data's clock
    assert logic.notify_at() is None
    logic.on_batch([("TEST-USD", CRAFTED[3:4])])  # bybit at T0 + 1.3: the venue binance holds T0 open
    assert logic.notify_at() is not None
    out, _ = logic.on_notify()  # silence: the newest message (T0 + 1.3) closes second T0
    assert [sec.s for item in out for sec in item.records] == [T0]
    assert logic.notify_at() is None
    out, _ = logic.on_notify()  # woken anyway (another key's timer): nothing new, nothing twice
    assert out == []
