"""METRICS.md "Quote conversion" on a crafted input, every number worked out by hand: a
USDT market's prices times the USDT-USD mid at the end of the same second (the last known
mid when that second has none), left out until a rate is known; a fixed rate; what the
configuration refuses; the execution step's books and fills in the symbol's quote."""

from __future__ import annotations

import orjson
import pytest

from cobflow.config import ConfigError, SymbolsConfig, load_symbols
from cobflow.execution.fills import BookTops
from cobflow.operators.cob import new_cob_state
from cobflow.raw import RawMessage
from cobflow.records import CobSecond
from tests.rowtools import add, flush, run_cob

S = 1_000_000_000
T0 = 2_000


def symbols(quote) -> SymbolsConfig:
    spec = {"bucket": 1, "venues": {"binance": "AAA-USDT", "bybit": "AAA-USD"}}
    if quote is not None:
        spec["quote"] = quote
    return SymbolsConfig.model_validate({"symbols": {"AAA-USD": spec}})


def binance_snapshot(t, market, last, bids, asks):
    return RawMessage(round(t * S), "binance", "rest", "snapshot", market,
                      orjson.dumps({"lastUpdateId": last, "bids": bids, "asks": asks}).decode())


def binance_diff(t, market, first, last, b=(), a=()):
    d = {"e": "depthUpdate", "E": 1, "s": market.replace("-", ""), "U": first, "u": last, "b": list(b), "a": list(a)}
    return RawMessage(round(t * S), "binance", "ws", "depth@100ms", market, orjson.dumps(d).decode())


def bybit(t, kind, u, b=(), a=()):
    d = {"topic": "orderbook.50.AAAUSD", "type": kind, "ts": 1,
         "data": {"s": "AAAUSD", "b": list(b), "a": list(a), "u": u, "seq": u}}
    return RawMessage(round(t * S), "bybit", "ws", "orderbook.50", "AAA-USD", orjson.dumps(d).decode())


RATE = {"USDT": {"market": "binance:USDT-USD"}}
MARKET = [
    # binance AAA-USDT: bid 100.6 x 2, ask 100.8 x 1 (in USDT); bybit AAA-USD: bid 100.0 x 3, ask 100.3 x 4
    binance_snapshot(T0 + 0.1, "AAA-USDT", 10, [["100.6", "2"]], [["100.8", "1"]]),
    bybit(T0 + 0.2, "snapshot", 5, b=[["100.0", "3"]], a=[["100.3", "4"]]),
    # the rate: USDT-USD bid 0.995, ask 0.997 (mid 0.996) from T0+0.3
    binance_snapshot(T0 + 0.3, "USDT-USD", 50, [["0.995", "1000"]], [["0.997", "1000"]]),
    # second T0+1: the rate moves to 0.997 / 0.999 (mid 0.998) at +1.5; a book change at +1.2
    binance_diff(T0 + 1.2, "AAA-USDT", 11, 11, b=[["100.7", "1"]]),
    binance_diff(T0 + 1.5, "USDT-USD", 51, 51, b=[["0.995", "0"], ["0.997", "500"]], a=[["0.997", "0"], ["0.999", "9"]]),
    # second T0+2: no rate message (the last known, 0.998); bybit moves
    bybit(T0 + 2.4, "delta", 6, b=[["100.1", "1"]]),
    # second T0+3: the rate's book empties its bid side: no mid that second, still 0.998
    binance_diff(T0 + 3.1, "USDT-USD", 52, 52, b=[["0.997", "0"]]),
    bybit(T0 + 4.5, "delta", 7, a=[["100.4", "1"]]),
]


def summary(rows, second):
    [row] = [r.columns for r in rows if r.table == "cob_summary" and r.ts == second * S]
    return row


@pytest.fixture(scope="module")
def converted():
    rows, dead = run_cob(MARKET, symbols(RATE), features=False)
    assert not dead
    return rows


def test_usdt_prices_are_times_the_rate_markets_mid_of_the_same_second(converted):
    s = summary(converted, T0)
    # binance in USD at 0.996: bid 100.6 x 0.996 = 100.1976, ask 100.8 x 0.996 = 100.3968
    assert s["venues"] == 2
    assert s["best_bid"] == pytest.approx(100.6 * 0.996) and s["best_ask"] == 100.3
    assert s["crossed"] is False and s["spread_bps"] == pytest.approx((100.3 - 100.1976) / ((100.3 + 100.1976) / 2) * 1e4)
    assert s["microprice"] == pytest.approx((100.1976 * 4 + 100.3 * 2) / 6)  # sizes unchanged: 2 bid, 4 ask
    assert s["rate"] == pytest.approx(0.996) and s["rates"] == "USDT=0.996 binance:USDT-USD"
    [b0] = [r.columns for r in converted if r.table == "cob_buckets" and r.ts == T0 * S and r.columns["offset"] == 0]
    # bucket [100, 101) (mid 100.2488): bybit's bid and ask, binance's both, converted
    assert b0["price"] == 100.0 and b0["bid_qty"] == 5.0 and b0["ask_qty"] == 5.0
    assert b0["bid_notional"] == pytest.approx(100.6 * 0.996 * 2 + 100.0 * 3)
    assert b0["ask_notional"] == pytest.approx(100.8 * 0.996 * 1 + 100.3 * 4)


def test_the_rate_is_the_one_at_the_end_of_the_second_then_the_last_known(converted):
    s1 = summary(converted, T0 + 1)  # the rate of +1.5 (0.998) for the whole second, binance bid now 100.7
    assert s1["rate"] == pytest.approx(0.998) and s1["best_bid"] == pytest.approx(100.7 * 0.998)
    s2 = summary(converted, T0 + 2)  # no rate message: still 0.998
    assert s2["rate"] == pytest.approx(0.998) and s2["best_bid"] == pytest.approx(100.7 * 0.998)
    s3 = summary(converted, T0 + 3)  # the rate book has no bid: no mid, the last known
    assert s3["rate"] == pytest.approx(0.998) and s3["venues"] == 2


def test_without_a_rate_yet_the_market_is_left_out_as_if_unsynced():
    late = [m for m in MARKET if m.symbol != "USDT-USD"] + [
        binance_snapshot(T0 + 1.3, "USDT-USD", 50, [["0.995", "1000"]], [["0.997", "1000"]])]
    late.sort(key=lambda m: m.ts_recv)
    rows, _ = run_cob(late, symbols(RATE), features=False)
    s = summary(rows, T0)
    assert s["venues"] == 1 and (s["best_bid"], s["best_ask"]) == (100.0, 100.3)  # bybit alone
    assert s["rate"] is None and s["rates"] is None
    [q] = [r.columns for r in rows if r.table == "data_quality" and r.ts == T0 * S]
    assert (q["synced"], q["configured"]) == (1, 2)
    assert summary(rows, T0 + 1)["venues"] == 2


def test_a_rate_message_at_or_after_the_seconds_end_is_not_used():
    moved = [m for m in MARKET if not (m.symbol == "USDT-USD" and m.ts_recv >= (T0 + 1) * S)]
    moved.append(binance_diff(T0 + 1.0, "USDT-USD", 51, 51, b=[["0.995", "0"], ["0.5", "1"]]))  # at T0 + 1s exactly
    moved.sort(key=lambda m: m.ts_recv)
    rows, _ = run_cob(moved, symbols(RATE), features=False)
    assert summary(rows, T0)["rate"] == pytest.approx(0.996)
    assert summary(rows, T0 + 1)["rate"] == pytest.approx((0.5 + 0.997) / 2)


def test_a_fixed_rate_and_no_conversion():
    rows, _ = run_cob(MARKET, symbols({"USDT": 0.5}), features=False)
    s = summary(rows, T0)
    assert (s["best_bid"], s["best_ask"]) == (100.0, 100.8 * 0.5)  # binance at half: a cross
    assert s["crossed"] is True and s["rate"] == 0.5 and s["rates"] == "USDT=0.5 fixed"
    rows, _ = run_cob(MARKET, symbols(None), features=False)
    s = summary(rows, T0)  # as quoted (and the rate market is not read at all)
    assert (s["best_bid"], s["best_ask"], s["crossed"]) == (100.6, 100.3, True)
    assert s["rate"] is None and s["rates"] is None


def test_execution_walks_the_converted_books_and_fills_carry_the_rate():
    st = new_cob_state(symbols(RATE), "AAA-USD", book_notional=1e9)
    st.add_raw(MARKET)
    rows, _ = st.close(None, final=True)
    [tops] = [sec.tops for sec in rows if isinstance(sec, CobSecond) and sec.tops is not None and sec.s == T0]
    assert tops.rates == {"binance": pytest.approx(0.996)}
    assert list(tops.venues["binance"].ask_prices) == [pytest.approx(100.8 * 0.996)]
    assert list(tops.venues["bybit"].ask_prices) == [100.3]

    from tests.unit.test_execution import LIMITS, ExecutionState, of, options, second

    st = ExecutionState(["X"], options(limits=LIMITS, fees={"binance": 10.0, "bybit": 2.0}))
    book = {"binance": tops.venues["binance"], "bybit": tops.venues["bybit"]}
    out = add(st, [second("X", 10, 100.35, "BUY", books=book),
                  StrategySecondWithRates("X", 11, 100.35, book, tops.rates)]) + flush(st)
    fills = of(out, "fills")
    assert fills, out
    first = fills[0].columns  # the best ask: bybit's 100.3 < binance's 100.8 x 0.996 = 100.3968
    assert fills[0].symbols["venue"] == "bybit" and first["price"] == 100.3 and first["rate"] is None
    conv = [f for f in fills if f.symbols["venue"] == "binance"]
    assert conv and conv[0].columns["price"] == pytest.approx(100.8 * 0.996)
    assert conv[0].columns["rate"] == pytest.approx(0.996)
    assert conv[0].columns["fee"] == pytest.approx(conv[0].columns["qty"] * 100.8 * 0.996 * 10 / 1e4)


def StrategySecondWithRates(sym, s, mid, books, rates):  # noqa: N802 - a record maker
    from cobflow.strategy import StrategySecond
    return StrategySecond(sym, s, 1.0, mid, {"mid": mid}, None, tops=BookTops(sym, s, books, rates))


@pytest.mark.parametrize(("quote", "problem"), [
    ({"USDT": {"market": "binance:USD-USDT"}}, "the rate market must be USDT-USD (its mid: USD per USDT), got USD-USDT"),
    ({"USDC": 1.0}, "symbols.AAA-USD.quote.USDC: no venue market of AAA-USD quotes in USDC"),
    ({"USD": 1.0}, "symbols.AAA-USD.quote.USD: that is the symbol's own quote"),
    ({"USDT": 0}, "symbols.AAA-USD.quote.USDT.rate: Input should be greater than 0"),
    ({"USDT": {"market": "nowhere:USDT-USD"}}, "unknown venue 'nowhere'"),
    ({"USDT": {"market": "USDT-USD"}}, "expected <venue>:<market> like coinbase:USDT-USD"),
    ({"USDT": {"rate": 1.0, "market": "binance:USDT-USD"}}, "give either a fixed rate"),
])
def test_the_configuration_says_what_is_wrong_in_one_line(tmp_path, quote, problem):
    import yaml

    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"symbols": {"AAA-USD": {"bucket": 1, "venues": {"binance": "AAA-USDT"},
                                                            "quote": quote}}}))
    with pytest.raises(ConfigError) as err:
        load_symbols(path)
    assert problem in str(err.value) and "\n" not in str(err.value) and "(top level)" not in str(err.value)


def test_a_rate_market_is_read_by_every_symbol_that_converts_with_it():
    cfg = SymbolsConfig.model_validate({"symbols": {
        "AAA-USD": {"bucket": 1, "venues": {"binance": "AAA-USDT"}, "quote": {"usdt": {"market": "kraken:usdt/usd"}}},
        "BBB-USD": {"bucket": 1, "venues": {"okx": "BBB-USDT", "kraken": "BBB/USD"},
                    "quote": {"USDT": {"market": "kraken:USDT-USD"}}}}})
    assert cfg.readers()[("kraken", "USDT-USD")] == ("AAA-USD", "BBB-USD")
    assert cfg.markets() == {"binance": ["AAA-USDT"], "kraken": ["USDT-USD", "BBB-USD"], "okx": ["BBB-USDT"]}
    assert cfg.venues() == ["binance", "kraken", "okx"]


def test_the_demo_and_compose_configuration_converts_usdt_with_coinbase():
    from cobflow.names import PROJECT_ROOT

    demo = load_symbols(PROJECT_ROOT / "symbols.yaml")
    for sym, spec in demo.symbols.items():
        assert spec.quote["USDT"].market == "coinbase:USDT-USD", sym


def test_a_concatenated_rate_market_splits_with_dollars_as_the_quote():
    from cobflow.connectors.base import split_concatenated

    assert split_concatenated("USDTUSD") == "USDT-USD"  # not USD-TUSD: no venue lists dollars as a base
    assert split_concatenated("TUSDUSDT") == "TUSD-USDT" and split_concatenated("BTCTUSD") == "BTC-TUSD"


def test_compute_says_when_a_rate_market_never_spoke(tmp_path):
    """A capture without the rate market, computed with conversion on: the USDT markets are
    left out (as the rule says) and compute warns in one line what to do."""
    import subprocess
    import sys

    import yaml

    from cobflow.capture import write_capture
    from cobflow.dataflows.sinks.parquet import read_table

    config = tmp_path / "s.yaml"
    config.write_text(yaml.safe_dump({"symbols": {"AAA-USD": {
        "bucket": 1, "venues": {"binance": "AAA-USDT", "bybit": "AAA-USD"}, "quote": RATE}}}))
    capture = tmp_path / "c.jsonl"
    write_capture(capture, [m for m in MARKET if m.symbol != "USDT-USD"])
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("COBFLOW_")}
    proc = subprocess.run([sys.executable, "-m", "cobflow", "--config", str(config), "compute", "--input",
                           str(capture), "--out", str(tmp_path / "out")], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    [warning] = [line for line in proc.stderr.splitlines() if "warning" in line]
    assert warning.startswith("cobflow: warning: AAA-USD: no rate from binance:USDT-USD in this input, so binance "
                              "AAA-USDT (quoted in USDT) were left out of every second")
    assert set(read_table(tmp_path / "out", "cob_summary")["venues"].to_pylist()) == {1}  # bybit alone
    write_capture(capture, MARKET)  # with the rate market: no warning
    proc = subprocess.run([sys.executable, "-m", "cobflow", "--config", str(config), "compute", "--input",
                           str(capture), "--out", str(tmp_path / "out")], capture_output=True, text=True, env=env)
    assert proc.returncode == 0 and "warning" not in proc.stderr, proc.stderr


def test_a_rate_market_read_by_two_symbols_reports_its_dead_letters_once():
    """Both symbols keep a book of binance USDT-USD; a sequence gap in it is one dead letter
    (from the first symbol that converts with it), not one per reader."""
    cfg = SymbolsConfig.model_validate({"symbols": {
        "AAA-USD": {"bucket": 1, "venues": {"binance": "AAA-USDT", "bybit": "AAA-USD"}, "quote": RATE},
        "BBB-USD": {"bucket": 1, "venues": {"okx": "BBB-USDT"}, "quote": RATE}}})
    gap = binance_diff(T0 + 2.5, "USDT-USD", 60, 60, b=[["0.996", "5"]])  # after u=51: 52..59 missing
    rows, dead = run_cob(sorted([*MARKET, gap], key=lambda m: m.ts_recv), cfg, features=False)
    assert [(d.stage, d.raw.symbol) for d in dead] == [("sync", "USDT-USD")], dead
    assert "sequence gap" in dead[0].reason
    assert summary(rows, T0 + 3)["rate"] == pytest.approx(0.998)  # the book lost: the last known rate
