"""Paper execution worked out by hand (EXECUTION.md): fills on crafted books, the account,
each risk rule on a crafted sequence, the halt kept across a restart, and the operator's
control channel. Every expected number below is computed from the spec's formulas on the
crafted values, not read from the code."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from cobflow.config import SymbolsConfig, TradingSettings
from cobflow.execution.account import Account
from cobflow.execution.control import COMMANDS_FILE, read_commands
from cobflow.execution.fills import BookTops, VenueLevels, slice_fee, venue_levels, walk
from cobflow.execution.risk import RiskLimits, check_order
from cobflow.operators.cob import CobState
from cobflow.operators.execution import ExecutionLogic, ExecutionOptions
from cobflow.operators.execution import ExecutionState as Account_
from cobflow.operators.state import unstamp
from cobflow.operators.strategies import Run
from cobflow.records import CobSecond
from cobflow.strategy import Context, Intent, Strategy, StrategySecond
from tests.rowtools import account_rows, add, flush
from tests.unit.test_cob_flow import CRAFTED, T0
from tests.unit.test_cob_flow import SYMBOLS as CRAFTED_SYMBOLS

NS = 1_000_000_000
DAY = 86_400
LIMITS = RiskLimits(risk_per_trade=0.001, stop_loss_pct=0.01, max_order_notional=25_000.0,
                    max_position_notional=20_000.0, max_orders_per_minute=3, max_drawdown_pct=0.05,
                    daily_loss_pct=0.03, min_quality=0.5)
# at mid 100: target = 100000 x 0.001 / (0.01 x 100) = 100 units (10,000 notional)


def options(limits: RiskLimits = LIMITS, fees=None, route=None, shorting=None, min_notional=0.0, cash=100_000.0):
    return ExecutionOptions("paper", cash, limits, min_notional, shorting or {"X": True, "Y": True},
                            route or {"X": "all", "Y": "all"}, fees or {"a": 10.0, "b": 2.0})


def levels(bids=(), asks=()) -> VenueLevels:
    return VenueLevels(np.array([p for p, _ in bids], float), np.array([q for _, q in bids], float),
                       np.array([p for p, _ in asks], float), np.array([q for _, q in asks], float))


def deep(mid: float | None) -> dict[str, VenueLevels]:
    """Venue `a` quoting mid -+ 0.1, deeper than any order here (100 at mid 100 without one)."""
    m = 100.0 if mid is None else mid
    return {"a": levels([(round(m - 0.1, 6), 1000)], [(round(m + 0.1, 6), 1000)])}


class Scripted(Strategy):
    """The test's decisions: the action each crafted second carries."""

    def on_second(self, ctx: Context) -> Intent | None:
        return Intent(ctx.features["action"], 1.0, 1.0, None, "test")


def ExecutionState(symbols, opts):  # the account of these symbols, each deciding as scripted
    return Account_(symbols, opts, {s: Scripted(s, None) for s in symbols})


def second(sym, s, mid, action=None, quality=1.0, books=None):
    """Symbol sym's second s; with an action, the scripted strategy decides it (no action: no
    features, so no decision, as a second without a features row)."""
    return StrategySecond(sym, s, quality, mid, {"mid": mid}, None if action is None else {"action": action},
                          tops=BookTops(sym, s, deep(mid) if books is None else books))


CONFIG = SymbolsConfig.model_validate({"symbols": {s: {"bucket": 1, "venues": {"binance": f"{s}-USDT"}}
                                                   for s in ("X",)}})
RUN = [Run("paper", "test", {"X": (Scripted, None)})]


def run(state: ExecutionState, items) -> list:
    return add(state, items) + flush(state)


def of(rows, table):
    return [r for r in rows if r.table == table]


# -- the fill model ----------------------------------------------------------------------------

def test_an_order_walks_three_levels_of_two_venues_each_slice_paying_its_venues_fee():
    st = ExecutionState(["X"], options())
    book = {"a": levels(asks=[(100.1, 40), (100.3, 100)]), "b": levels(asks=[(100.0, 30), (100.2, 50)])}
    rows = run(st, [second("X", 10, 100.0, "BUY"), second("X", 11, 100.5, books=book)])
    fills = of(rows, "fills")
    got = [(r.symbols["venue"], r.columns["qty"], r.columns["price"], r.columns["slice"]) for r in fills]
    assert got == [("b", 30, 100.0, 0), ("a", 40, 100.1, 1), ("b", 30, 100.2, 2)]
    assert [r.columns["fee"] for r in fills] == pytest.approx([30 * 100.0 * 2e-4, 40 * 100.1 * 1e-3, 30 * 100.2 * 2e-4])
    assert {r.ts for r in fills} == {11 * NS} and {r.columns["decision_ts"] for r in fills} == {10 * NS}
    [order] = of(rows, "orders")
    assert order.columns["status"] == "filled" and order.columns["filled"] == pytest.approx(100)
    assert order.columns["avg_price"] == pytest.approx((3000 + 4004 + 3006) / 100)
    fee = 0.6 + 4.004 + 0.6012
    assert order.columns["fee"] == pytest.approx(fee)
    equity = {r.ts // NS: r.columns["equity"] for r in of(rows, "equity")}
    # equity(10) has no fill yet; equity(11) = cash + 100 x mid(11)
    assert equity[10] == 100_000.0
    assert equity[11] == pytest.approx(100_000 - 10_010 - fee + 100 * 100.5)


def test_what_the_books_cannot_fill_is_reported_partial():
    st = ExecutionState(["X"], options())
    book = {"a": levels(asks=[(100.1, 25)]), "b": levels(asks=[(100.2, 35)])}
    rows = run(st, [second("X", 10, 100.0, "BUY"), second("X", 11, 100.0, books=book)])
    [order] = of(rows, "orders")
    assert (order.columns["status"], order.columns["qty"], order.columns["filled"]) == ("partial", 100, 60)
    [pos] = of(rows, "positions")
    assert pos.columns["position"] == 60
    rows = run(ExecutionState(["X"], options()), [second("X", 10, 100.0, "BUY"), second("X", 11, 100.0, books={})])
    assert [o.columns["status"] for o in of(rows, "orders")] == ["unfilled"] and not of(rows, "fills")


def test_equal_prices_on_two_venues_fill_in_alphabetical_order_and_a_route_keeps_to_its_venue():
    book = {"kraken": levels(bids=[(99.0, 70)]), "binance": levels(bids=[(99.0, 50), (98.0, 100)])}
    slices = walk(book, -100.0)
    assert [(s.venue, s.price, s.qty) for s in slices] == [("binance", 99.0, 50), ("kraken", 99.0, 50)]
    slices = walk(book, -100.0, route="binance")
    assert [(s.venue, s.price, s.qty) for s in slices] == [("binance", 99.0, 50), ("binance", 98.0, 50)]
    assert slice_fee(slices[1], 7.5) == pytest.approx(50 * 98.0 * 7.5 / 1e4)
    # the same through the account: route from the symbol's configuration
    st = ExecutionState(["X"], options(route={"X": "kraken"}, fees={"kraken": 5.0, "binance": 10.0}))
    rows = run(st, [second("X", 10, 100.0, "SELL"), second("X", 11, 99.5, books=book)])
    assert [(r.symbols["venue"], r.columns["qty"]) for r in of(rows, "fills")] == [("kraken", 70)]
    assert of(rows, "orders")[0].columns["status"] == "partial"


def test_a_venue_unsynced_at_the_end_of_s_plus_1_is_left_out_of_its_books():
    """The crafted COB input: binance leaves the book at T0+1.5 (a sequence gap), bybit stays."""
    spec = CRAFTED_SYMBOLS.symbols["TEST-USD"]
    st = CobState("TEST-USD", spec.venues, spec.bucket, book_notional=1e6)
    st.add_raw(list(CRAFTED))
    rows, _ = st.close(None, final=True)
    tops = {sec.s - T0: sec.tops for sec in rows if isinstance(sec, CobSecond) and sec.tops is not None}
    assert sorted(tops[0].venues) == ["binance", "bybit"] and sorted(tops[1].venues) == ["bybit"]
    # bybit at the end of T0+1: bid 100.5 x 3, asks 100.8 x 2 and 101.5 x 1 (its delta at T0+1.3)
    by = tops[1].venues["bybit"]
    assert by.ask_prices.tolist() == [100.8, 101.5] and by.ask_sizes.tolist() == [2, 1]
    # binance at T0: bids 100.2 over 100, best first
    assert tops[0].venues["binance"].bid_prices.tolist() == [100.2, 100.0]


def test_the_levels_handed_to_execution_cover_the_notional_asked_and_at_least_twenty():
    from cobflow.execution.fills import MIN_LEVELS

    assert MIN_LEVELS == 20
    bp, bq = np.arange(60.0, 100.0), np.ones(40)  # 40 levels of 1 a side: 60..99 and 101..140
    ap, aq = np.arange(101.0, 141.0), np.ones(40)
    lv = venue_levels(bp, bq, ap, aq, 150.0)  # a market order needs 2 levels (99 < 150 <= 99 + 98) ...
    assert lv.bid_prices.tolist() == list(range(99, 79, -1)) and lv.ask_prices.tolist() == list(range(101, 121))
    # ... resting orders keep 20; a larger notional takes what it needs (26 bids: 99..74)
    more = venue_levels(bp, bq, ap, aq, sum(range(74, 100)) - 1.0)
    assert more.bid_prices.tolist() == list(range(99, 73, -1))
    assert len(venue_levels(bp[:3], bq[:3], ap[:3], aq[:3], 1e9).ask_prices) == 3  # a thin book: what there is


# -- accounting ------------------------------------------------------------------------------

def test_a_long_a_partial_reduce_and_a_flip_through_zero_by_hand():
    acct = Account(10_000.0)
    assert acct.fill("X", 2.0, 100.0, 0.2) == 0.0
    assert acct.cash == pytest.approx(10_000 - 200 - 0.2)
    h = acct.holdings["X"]
    assert (h.position, h.avg_price) == (2.0, 100.0)
    acct.fill("X", 1.0, 106.0, 0.1)  # average cost: (2 x 100 + 1 x 106) / 3
    assert h.avg_price == pytest.approx(102.0)
    assert acct.fill("X", -1.0, 110.0, 0.11) == pytest.approx(8.0)  # (110 - 102) x 1
    assert (h.position, h.avg_price) == (2.0, pytest.approx(102.0))
    # sell 5 at 90: 2 close at a loss of (90 - 102) x 2, 3 open a short at 90
    assert acct.fill("X", -5.0, 90.0, 0.45) == pytest.approx(-24.0)
    assert (h.position, h.avg_price) == (-3.0, 90.0)
    assert h.realized == pytest.approx(8.0 - 24.0) and h.fees == pytest.approx(0.2 + 0.1 + 0.11 + 0.45)
    cash = 10_000 - 200.2 - 106.1 + 110 - 0.11 + 450 - 0.45
    assert acct.cash == pytest.approx(cash)
    acct.mids["X"] = 95.0
    assert acct.equity() == pytest.approx(cash - 3 * 95.0)
    assert h.unrealized(95.0) == pytest.approx((95.0 - 90.0) * -3)
    assert acct.fill("X", 3.0, 80.0, 0.0) == pytest.approx(30.0)  # (80 - 90) x 3 x -1
    assert (h.position, h.avg_price) == (0.0, 0.0)


def test_equity_marks_at_the_last_known_mid_on_a_second_without_one():
    st = ExecutionState(["X"], options())
    rows = run(st, [second("X", 10, 100.0, "BUY"), second("X", 11, 101.0), second("X", 12, None),
                    second("X", 13, 99.0)])
    eq = {r.ts // NS: r.columns["equity"] for r in of(rows, "equity")}
    [order] = of(rows, "orders")
    cash = 100_000 - 100 * 101.1 - 100 * 101.1 * 1e-3  # filled at 11's ask, 101.1
    assert eq[11] == pytest.approx(cash + 100 * 101.0)
    assert eq[12] == pytest.approx(cash + 100 * 101.0)  # no mid at 12: the last known one
    assert eq[13] == pytest.approx(cash + 100 * 99.0)
    pos = {r.ts // NS: r.columns for r in of(rows, "positions")}
    assert pos[12]["mid"] == 101.0 and pos[13]["unrealized"] == pytest.approx(100 * (99.0 - 101.1))
    assert order.columns["avg_price"] == 101.1


def test_equity_counts_every_symbol_and_waits_for_all_of_them():
    st = ExecutionState(["X", "Y"], options())
    out = add(st, [second("X", 10, 100.0, "BUY"), second("X", 11, 100.0), second("X", 12, 100.0)])
    assert out == []  # Y has delivered nothing: no second of the account can be worked yet
    y_book = {"a": levels([(49.9, 1000)], [(50.1, 1000)])}
    out = add(st, [second("Y", 10, 50.0, "SELL"), second("Y", 11, 51.0, books=y_book)])
    assert [r.ts // NS for r in of(out, "equity")] == [10, 11]
    [e11] = [r.columns for r in of(out, "equity") if r.ts == 11 * NS]
    # X: 100 bought at 100.1; Y: target at mid 50 is 200 units, sold at 49.9
    cash = 100_000 - 100 * 100.1 * 1.001 + 200 * 49.9 * 0.999
    assert e11["equity"] == pytest.approx(cash + 100 * 100.0 - 200 * 51.0)
    assert e11["exposure"] == pytest.approx(100 * 100.0 + 200 * 51.0)


# -- risk rules --------------------------------------------------------------------------------

def reasons(rows):
    return {r.ts // NS: r.columns["reason"] for r in of(rows, "decisions")}


def events(rows):
    return [(r.ts // NS, r.symbols["symbol"], r.symbols["rule"], r.columns["action"]) for r in of(rows, "risk_events")]


def test_rule_3_clips_an_order_to_max_order_notional_and_rule_4_the_position_after_it():
    lim = RiskLimits(0.001, 0.01, 4_000.0, 20_000.0, 3, 0.05, 0.03, 0.5)
    qty, ev = check_order(100.0, 0.0, 100.0, 1.0, False, 0, lim)
    assert qty == pytest.approx(40.0) and [(e.rule, e.action, e.value, e.threshold) for e in ev] == [
        ("max_order_notional", "clipped", 10_000.0, 4_000.0)]
    lim = RiskLimits(0.001, 0.01, 50_000.0, 12_000.0, 3, 0.05, 0.03, 0.5)
    qty, ev = check_order(50.0, 100.0, 100.0, 1.0, False, 0, lim)  # 150 x 100 > 12,000: to 120 units
    assert qty == pytest.approx(20.0) and ev[0].rule == "max_position_notional" and ev[0].value == 15_000.0
    # a reducing order is never cut by them, however large
    qty, ev = check_order(-150.0, 150.0, 100.0, 0.0, True, 99, lim)
    assert qty == -150.0 and ev == []
    # a flip is cut back to its close when the new side may not open
    qty, ev = check_order(-250.0, 150.0, 100.0, 0.2, False, 0, lim)
    assert qty == -150.0 and [e.rule for e in ev] == ["data_quality"]
    # through the flow: the first order of 100 units clipped to 40
    st = ExecutionState(["X"], options(limits=RiskLimits(0.001, 0.01, 4_000.0, 20_000.0, 3, 0.05, 0.03, 0.5)))
    rows = run(st, [second("X", 10, 100.0, "BUY"), second("X", 11, 100.0)])
    assert of(rows, "orders")[0].columns["qty"] == pytest.approx(40.0)
    assert reasons(rows)[10] == "max_order_notional" and events(rows) == [(10, "X", "max_order_notional", "clipped")]


def test_rule_2_low_quality_refuses_new_exposure_but_not_a_reduction():
    st = ExecutionState(["X"], options())
    rows = run(st, [second("X", 10, 100.0, "BUY"), second("X", 11, 100.0),
                    second("X", 12, 100.0, "SELL", quality=0.25), second("X", 13, 100.0)])
    # SELL at 12 would go from +100 to -100: the close passes, the new short does not
    assert events(rows) == [(12, "X", "data_quality", "clipped")]
    [ev] = of(rows, "risk_events")
    # the target at 12 is sized on equity(12) = 100000 - 100 x 100.1 x 1.001 + 100 x 100
    target = (100_000 - 100 * 100.1 * 1.001 + 100 * 100.0) * 0.001 / (0.01 * 100.0)
    assert (ev.columns["value"], ev.columns["threshold"], ev.columns["qty_after"]) == (0.25, 0.5, -100.0)
    assert ev.columns["qty_before"] == pytest.approx(-100 - target)
    assert of(rows, "positions")[-1].columns["position"] == 0.0


def test_rule_5_counts_the_orders_of_the_last_60_seconds_of_decisions():
    st = ExecutionState(["X"], options())
    seq = [second("X", s, 100.0, "BUY" if s % 2 == 0 else "SELL") for s in range(10, 15)]
    seq += [second("X", 75, 100.0, "BUY"), second("X", 76, 100.0)]
    rows = run(st, seq)
    # orders at 10, 11, 12 (3 = the limit); 13 and 14 may only reduce: 13 (SELL from long
    # +100) is cut to the close, 14 (BUY from flat) refused; at 75 none is within (15, 75]
    assert [o.columns["decision_ts"] // NS for o in of(rows, "orders")] == [10, 11, 12, 13, 75]
    assert [(t, rule, act) for t, _, rule, act in events(rows)] == [
        (13, "max_orders_per_minute", "clipped"), (14, "max_orders_per_minute", "refused")]
    assert reasons(rows)[14] == "max_orders_per_minute" and reasons(rows)[75] is None


def test_rule_6_a_crossed_stop_orders_a_market_exit_for_the_next_second():
    st = ExecutionState(["X"], options())
    rows = run(st, [second("X", 10, 100.0, "BUY"), second("X", 11, 100.0), second("X", 12, 99.2),
                    second("X", 13, 99.0, "BUY"), second("X", 14, 99.0)])
    # avg entry 100.1, stop 100.1 x 0.99 = 99.099: the mid 99.2 at 12 is above it, 99.0 at 13 below
    [ev] = of(rows, "risk_events")
    assert (ev.ts // NS, ev.symbols["rule"], ev.columns["action"]) == (13, "stop_loss", "exit")
    assert ev.columns["threshold"] == pytest.approx(100.1 * 0.99) and ev.columns["value"] == 99.0
    orders = of(rows, "orders")
    assert [(o.ts // NS, o.columns["reason"], o.columns["side"]) for o in orders] == [
        (11, "decision", "buy"), (14, "stop_loss", "sell")]
    assert reasons(rows)[13] == "stop_loss"  # the exit replaces the decision of that second


def test_rule_7_a_drawdown_breach_closes_everything_and_halts_until_resumed():
    # risk 0.25 with a far stop (50%): target at mid 100 = 100000 x 0.25 / (0.5 x 100) = 500
    lim = RiskLimits(0.25, 0.5, 50_000.0, 50_000.0, 10, 0.005, 0.5, 0.5)
    st = ExecutionState(["X"], options(limits=lim))
    rows = add(st, [second("X", 10, 100.0, "BUY"), second("X", 11, 100.0), second("X", 12, 99.0, "BUY"),
                   second("X", 13, 99.0, "BUY"), second("X", 14, 99.0)])
    # 500 bought at 100.1 (fee 50.05): equity(11) = 99,899.95 (0.1% under the start, the peak);
    # equity(12) at mid 99 = 99,399.95: a drawdown of 0.60005% >= 0.5%
    equity12 = 100_000 - 500 * 100.1 * 0.001 + 500 * (99.0 - 100.1)
    [ev] = [r for r in of(rows, "risk_events") if r.symbols["rule"] == "max_drawdown_pct"]
    assert ev.ts // NS == 12 and ev.columns["action"] == "close_all" and ev.symbols["symbol"] == "account"
    assert ev.columns["value"] == pytest.approx((100_000 - equity12) / 100_000)
    assert ev.columns["threshold"] == 0.005
    orders = of(rows, "orders")
    assert [(o.ts // NS, o.columns["reason"], o.columns["side"]) for o in orders] == [
        (11, "decision", "buy"), (13, "max_drawdown_pct", "sell")]
    assert reasons(rows)[12] == "max_drawdown_pct" and reasons(rows)[13] == "halted"
    eq = {r.ts // NS: r.columns for r in of(rows, "equity")}
    assert eq[11]["halted"] is False and eq[12]["halted"] is True and eq[14]["halted"] is True
    assert st.halted == "max_drawdown_pct"
    # an operator resumes: the next BUY goes through again
    st.commands.append("resume")
    rows = add(st, [second("X", 15, 99.0, "BUY"), second("X", 16, 99.0)])
    assert [r.columns["action"] for r in of(rows, "risk_events")] == ["resumed"]
    assert [o.columns["reason"] for o in of(rows, "orders")] == ["decision"]


def test_a_reducing_order_passes_while_halted():
    st = ExecutionState(["X"], options(shorting={"X": False}, min_notional=10.0))
    run(st, [second("X", 10, 100.0, "BUY"), second("X", 11, 100.0)])
    st.commands.append("halt")
    rows = add(st, [second("X", 12, 100.0, "BUY"), second("X", 13, 100.0, "SELL"), second("X", 14, 100.0)])
    # BUY at 12: within 10 of notional of the target (sized on equity(12)): no order; SELL
    # at 13 without shorting = flat: a reduction
    assert [(o.columns["reason"], o.columns["side"], o.columns["qty"]) for o in of(rows, "orders")] == [
        ("decision", "sell", 100.0)]
    assert events(rows)[0][2:] == ("halted", "halted")
    rows = add(st, [second("X", 15, 100.0, "BUY"), second("X", 16, 100.0)])
    assert reasons(rows)[15] == "halted" and not of(rows, "orders")


def test_rule_8_daily_loss_closes_everything_and_halts_until_the_next_utc_day():
    lim = RiskLimits(0.25, 0.5, 50_000.0, 50_000.0, 10, 0.9, 0.005, 0.5)
    st = ExecutionState(["X"], options(limits=lim))
    d0 = 20_000 * DAY  # a UTC midnight
    end = d0 + DAY - 5
    seq = [second("X", end, 100.0, "BUY"), second("X", end + 1, 100.0), second("X", end + 2, 99.0, "BUY"),
           second("X", end + 3, 99.0), second("X", end + 4, 99.0, "BUY"), second("X", d0 + DAY, 99.0, "BUY"),
           second("X", d0 + DAY + 1, 99.0)]
    rows = add(st, seq)
    ev = [(t - d0, rule, act) for t, _, rule, act in events(rows)]
    assert ev == [(DAY - 3, "daily_loss_pct", "close_all"), (DAY - 1, "halted", "refused"),
                  (DAY, "daily_loss_pct", "resumed")]
    assert reasons(rows)[end + 4] == "halted" and reasons(rows)[d0 + DAY] is None
    assert [o.columns["reason"] for o in of(rows, "orders")] == ["decision", "daily_loss_pct", "decision"]


def test_shorting_off_makes_sell_mean_flat():
    st = ExecutionState(["X"], options(shorting={"X": False}))
    rows = run(st, [second("X", 10, 100.0, "SELL"), second("X", 11, 100.0)])
    assert not of(rows, "orders") and reasons(rows)[10] == "at_target"


# -- the halt across a restart, and the operator's commands ------------------------------------

def test_the_halt_survives_a_restart_from_the_recovery_store(tmp_path):
    logic = ExecutionLogic(None, CONFIG, options(), tmp_path, RUN)
    (tmp_path / COMMANDS_FILE).write_text('{"seq": 1, "command": "halt"}\n')
    logic.on_batch([("paper", [second("X", 10, 100.0, "HOLD")])])
    assert logic.state.halted == "operator" and logic.state.commands_applied == 1
    stored = pickle.loads(pickle.dumps(logic.snapshot()))  # what Bytewax keeps in its store
    again = ExecutionLogic(unstamp(stored, "execution"), CONFIG, options(), tmp_path, RUN)
    assert again.state.halted == "operator"
    out = again.on_batch([("paper", [second("X", 11, 100.0, "BUY"), second("X", 12, 100.0)])])[0]
    rows = [r for made in out for r in account_rows(made)]
    assert reasons(rows)[11] == "halted" and not of(rows, "orders")
    assert [e[2:] for e in events(rows)] == [("halted", "refused")]  # the old command is not applied twice


def test_cobflow_trading_halt_resume_and_status(tmp_path, capsys):
    from cobflow.app.cli import main

    env = ["--control-dir", str(tmp_path)]
    assert main(["trading", "status", *env]) == 2
    assert "no strategy flow" in capsys.readouterr().err
    assert main(["trading", "halt", *env]) == 0
    assert main(["trading", "resume", *env]) == 0
    assert [c["command"] for c in read_commands(tmp_path)] == ["halt", "resume"]
    logic = ExecutionLogic(None, CONFIG, options(), tmp_path, RUN)
    (tmp_path / COMMANDS_FILE).write_text('{"seq": 1, "command": "halt"}\n')
    logic.on_batch([("paper", [second("X", 10, 100.0, "HOLD"), second("X", 11, 100.0)])])
    capsys.readouterr()
    assert main(["trading", "status", *env]) == 0
    printed = capsys.readouterr().out
    assert "HALTED" in printed and "operator" in printed and "equity" in printed


def test_unknown_modes_and_bad_limits_name_their_key():
    from cobflow.config import ConfigError, load_settings

    with pytest.raises(ConfigError, match="COBFLOW_TRADING__MODE: expected one of paper, off, shadow, live"):
        load_settings(trading={"mode": "real"})
    with pytest.raises(ConfigError, match="COBFLOW_TRADING__ENVIRONMENT: expected testnet or mainnet"):
        load_settings(trading={"environment": "prod"})
    assert load_settings(trading={"mode": "live"}).trading.environment == "testnet"
    with pytest.raises(ConfigError, match="COBFLOW_TRADING__STOP_LOSS_PCT"):
        load_settings(trading={"stop_loss_pct": 0})
    with pytest.raises(ValueError, match="trading.route 'okx' is not one of this symbol's venues"):
        SymbolsConfig.model_validate({"symbols": {"X": {"bucket": 1, "venues": {"binance": "X-USDT"},
                                                        "trading": {"route": "okx"}}}})
    assert TradingSettings().mode == "paper"


# -- fill, fee and latency as separate models --------------------------------------------------

def test_fill_fee_and_latency_are_separate_objects_the_account_asks():
    from dataclasses import replace

    from cobflow.execution.fills import BookWalk, FeeModel, NextSecond, Slice, TakerFee

    class HalfWalk(BookWalk):
        """Fills half of what the walk would (a stand-in for a user's fill model)."""

        def fill(self, books, qty, route="all"):
            return [Slice(s.venue, s.price, s.qty / 2) for s in super().fill(books, qty, route)]

    class Rebate(FeeModel):
        def fee(self, s):
            return -s.price * s.qty * 1e-4  # a 1 bps rebate

    default = options()
    assert isinstance(default.fill_model, BookWalk) and isinstance(default.latency, NextSecond)
    assert isinstance(default.fee_model, TakerFee) and default.fee_model.bps == {"a": 10.0, "b": 2.0}
    st = ExecutionState(["X"], replace(options(), fill_model=HalfWalk(), fee_model=Rebate()))
    rows = run(st, [second("X", 10, 100.0, "BUY"), second("X", 11, 100.0)])
    [fill] = of(rows, "fills")
    # the walk takes 100 at 100.1 from venue a (deep() quotes mid +- 0.1); half of it, paid a rebate
    assert fill.columns["qty"] == pytest.approx(50.0) and fill.columns["price"] == pytest.approx(100.1)
    assert fill.columns["fee"] == pytest.approx(-50.0 * 100.1 * 1e-4)
    [order] = of(rows, "orders")
    assert order.columns["status"] == "partial" and order.columns["filled"] == pytest.approx(50.0)


def test_the_buy_and_hold_baseline_walks_the_next_seconds_books_and_leaves_the_account_alone():
    """At each symbol's first second with a mid it decides BUY of the target at the initial
    equity (100 units at mid 100), filled at the next second like any order, as rows of run
    `paper.buy_and_hold`; the strategy holds, so the account has no fill and keeps its cash."""
    from dataclasses import replace

    st = ExecutionState(["X"], replace(options(), baseline=True))
    book = {"a": levels(asks=[(100.1, 40), (100.3, 100)]), "b": levels(asks=[(100.0, 30), (100.2, 50)])}
    rows = run(st, [second("X", 9, None), second("X", 10, 100.0, "HOLD"), second("X", 11, 100.5, "HOLD", books=book),
                    second("X", 12, 101.0, "HOLD")])
    fills = of(rows, "fills")
    assert {r.symbols["run"] for r in fills} == {"paper.buy_and_hold"}
    got = [(r.symbols["venue"], r.columns["qty"], r.columns["price"], r.ts // NS) for r in fills]
    assert got == [("b", 30, 100.0, 11), ("a", 40, 100.1, 11), ("b", 30, 100.2, 11)]
    assert [r.columns["fee"] for r in fills] == pytest.approx([30 * 100.0 * 2e-4, 40 * 100.1 * 1e-3, 30 * 100.2 * 2e-4])
    [order] = of(rows, "orders")
    assert (order.symbols["run"], order.columns["reason"], order.columns["decision_ts"]) == (
        "paper.buy_and_hold", "buy_and_hold", 10 * NS)
    assert of(rows, "positions") == []
    equity = {(r.symbols["run"], r.ts // NS): r.columns["equity"] for r in of(rows, "equity")}
    assert {e for (run, _), e in equity.items() if run == "paper"} == {100_000.0}  # the account: untouched
    # the baseline's own equity, marked at the account's mids: 100 units from second 11
    fee = 30 * 100.0 * 2e-4 + 40 * 100.1 * 1e-3 + 30 * 100.2 * 2e-4
    cash = 100_000 - (3000 + 4004 + 3006) - fee
    assert equity[("paper.buy_and_hold", 10)] == 100_000.0
    assert equity[("paper.buy_and_hold", 11)] == pytest.approx(cash + 100 * 100.5)
    assert equity[("paper.buy_and_hold", 12)] == pytest.approx(cash + 100 * 101.0)
    later = run(st, [second("X", 13, 120.0, "HOLD"), second("X", 14, 121.0, "HOLD")])
    assert of(later, "orders") == [] and of(later, "equity")  # decided once, then held
