"""Limit, stop and cancel orders on the simulated venue, worked out by hand from EXECUTION.md
"Limit, stop and cancel orders": every expected queue, fill, fee and state below follows
from the spec's rules on the crafted books and trades, not from the code's output."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from cobflow.execution.fills import BookTops, VenueLevels
from cobflow.execution.orders import Cancel, Limit, Market, PowerProbQueue, Stop, VenueTrades
from cobflow.execution.risk import RiskLimits
from cobflow.operators.execution import ExecutionOptions, ExecutionState
from cobflow.strategy import Context, Intent, Strategy, StrategySecond
from tests.rowtools import add, flush

NS = 1_000_000_000
LIMITS = RiskLimits(risk_per_trade=0.001, stop_loss_pct=0.5, max_order_notional=25_000.0,
                    max_position_notional=20_000.0, max_orders_per_minute=60, max_drawdown_pct=0.5,
                    daily_loss_pct=0.5, min_quality=0.5)
P = 99.9  # the price the resting buys rest at: venue a's best bid
TAKER, MAKER = 10.0, 2.0


class Scripted(Strategy):
    """Sends the order requests each crafted second carries."""

    def on_second(self, ctx: Context) -> Intent | None:
        return Intent.hold("test").with_orders(*ctx.features.get("orders", ()))


def opts(maker=MAKER, queue=None, ticks=None, limits=LIMITS, route="all", **kw) -> ExecutionOptions:
    o = ExecutionOptions("paper", 100_000.0, limits, 0.0, {"X": True}, {"X": route}, {"a": TAKER, "b": TAKER},
                         maker_fee_bps={"a": maker, "b": maker}, ticks=ticks or {}, **kw)
    return o if queue is None else replace(o, queue=queue)


def state(o: ExecutionOptions | None = None) -> ExecutionState:
    return ExecutionState(["X"], o or opts(), {"X": Scripted("X", None)})


def book(bid=(P, 3.0), ask=(100.1, 3.0), more_bids=((99.8, 10.0),), more_asks=((100.2, 10.0),)) -> VenueLevels:
    bids = [bid, *more_bids] if bid else list(more_bids)
    asks = [ask, *more_asks] if ask else list(more_asks)
    return VenueLevels(np.array([p for p, _ in bids]), np.array([q for _, q in bids]),
                       np.array([p for p, _ in asks]), np.array([q for _, q in asks]))


def trades(*ts: tuple[float, float, int]) -> VenueTrades:
    return VenueTrades(np.array([p for p, _, _ in ts], float), np.array([q for _, q, _ in ts], float),
                       np.array([s for _, _, s in ts], np.int8))


SELL, BUY = -1, 1  # the taker's side


def sec(s: int, orders=(), lv: VenueLevels | None = None, tr: VenueTrades | None = None, mid=100.0,
        rates=None) -> StrategySecond:
    tops = BookTops("X", s, {"a": lv or book()}, rates or {}, {"a": tr} if tr is not None else {})
    return StrategySecond("X", s, 1.0, mid, {"mid": mid}, {"orders": tuple(orders)}, tops=tops)


def run(items, st: ExecutionState | None = None) -> list:
    st = st or state()
    return add(st, items) + flush(st)


def of(rows, table):
    return [r for r in rows if r.table == table]


def fills(rows):
    return [(r.ts // NS, r.columns["qty"], r.columns["price"], r.columns["liquidity"]) for r in of(rows, "fills")]


def states(rows, oid=None):
    return [(r.ts // NS, r.columns["status"], r.columns["filled"]) for r in of(rows, "orders")
            if oid is None or r.columns["order_id"] == oid]


def buy_at_p(qty=2.0, **kw):
    return Limit("buy", qty, P, client_id="b", **kw)


# -- the queue: risk-averse -------------------------------------------------------------------

def test_a_buy_behind_three_fills_nothing_nothing_then_one_and_a_half():
    rows = run([sec(10, [buy_at_p()]), sec(11),
                sec(12, tr=trades((P, 1.0, SELL))), sec(13, tr=trades((P, 1.5, SELL))),
                sec(14, tr=trades((P, 2.0, SELL)))])
    # ahead 3.0 at arrival (end of 11); 1.0 -> 2.0 ahead; 1.5 -> 0.5 ahead; 2.0 -> 1.5 past the queue
    assert fills(rows) == [(14, 1.5, P, "maker")]
    assert states(rows) == [(10, "new", 0.0), (11, "open", 0.0), (14, "partially_filled", 1.5)]
    [f] = of(rows, "fills")
    assert f.columns["fee"] == pytest.approx(1.5 * P * MAKER / 1e4)
    assert f.columns["wait_s"] == 3.0  # from its arrival second 11 to 14


def test_taker_buys_and_trades_at_other_prices_do_not_move_the_queue():
    rows = run([sec(10, [buy_at_p()]), sec(11),
                sec(12, tr=trades((P, 5.0, BUY), (100.1, 4.0, BUY), (99.95, 1.0, SELL)))])
    assert fills(rows) == []


def test_a_trade_through_the_price_fills_the_order_whole_at_its_price():
    rows = run([sec(10, [buy_at_p()]), sec(11), sec(12, tr=trades((99.8, 0.1, SELL)))])
    assert fills(rows) == [(12, 2.0, P, "maker")]
    assert states(rows)[-1] == (12, "filled", 2.0)


def test_the_best_ask_below_the_price_at_a_seconds_end_fills_whole():
    rows = run([sec(10, [buy_at_p()]), sec(11), sec(12, lv=book(bid=(99.8, 1.0), ask=(99.85, 1.0),
                                                               more_bids=(), more_asks=()))])
    assert fills(rows) == [(12, 2.0, P, "maker")]


def test_size_shrinking_at_the_price_without_trades_is_no_progress():
    shrunk = book(bid=(P, 0.5))
    items = [sec(10, [buy_at_p()]), sec(11), sec(12, lv=shrunk), sec(13, lv=shrunk, tr=trades((P, 1.0, SELL)))]
    assert fills(run(items)) == []  # 3.0 ahead, 1.0 traded: 2.0 still ahead
    # the probabilistic model (optimistic) takes the 2.5 that left from the front: front 3,
    # back 0 -> p_front = 1 -> ahead min(3 - 2.5, 0.5) = 0.5; the 1.0 traded then fills 0.5
    assert fills(run(items, state(opts(queue=PowerProbQueue())))) == [(13, 0.5, P, "maker")]


def test_power_prob_takes_cancels_from_the_front_by_the_cubes_of_front_and_back():
    q = PowerProbQueue()
    # front 2, back 6 (level 8 -> 4 with 1 traded: 3 left without a trade)
    p_front = 2 ** 3 / (2 ** 3 + 6 ** 3)
    assert q.depth(2.0, 8.0, 4.0, 1.0) == pytest.approx(2.0 - p_front * 3.0)
    assert q.depth(2.0, 8.0, 9.0, 0.0) == 2.0  # the level grew: behind it


# -- arrival -------------------------------------------------------------------------------

def test_a_post_only_order_that_would_cross_at_arrival_is_rejected():
    rows = run([sec(10, [Limit("buy", 2.0, 100.0, post_only=True, client_id="p")]),
                sec(11, lv=book(ask=(100.0, 1.0)))])
    assert fills(rows) == []
    assert states(rows) == [(10, "new", 0.0), (11, "rejected", 0.0)]
    assert of(rows, "orders")[-1].columns["reason"] == "would_cross"


def test_a_crossing_limit_takes_up_to_its_price_and_rests_the_rest():
    lv = VenueLevels(np.array([P]), np.array([3.0]), np.array([100.1, 100.2, 100.3]), np.array([2.0, 1.0, 10.0]))
    after = VenueLevels(np.array([P]), np.array([3.0]), np.array([100.3]), np.array([10.0]))  # what it took is gone
    rows = run([sec(10, [Limit("buy", 5.0, 100.2, client_id="x")]), sec(11, lv=lv),
                sec(12, lv=after, tr=trades((100.2, 1.0, SELL)))])
    # takes 2 @ 100.1 and 1 @ 100.2 (taker); 2 rest at 100.2, a new level (nothing ahead):
    # the taker sell of 1.0 at 100.2 then fills 1.0 (maker)
    assert fills(rows) == [(11, 2.0, 100.1, "taker"), (11, 1.0, 100.2, "taker"), (12, 1.0, 100.2, "maker")]
    fees = [r.columns["fee"] for r in of(rows, "fills")]
    assert fees == pytest.approx([2 * 100.1 * TAKER / 1e4, 100.2 * TAKER / 1e4, 100.2 * MAKER / 1e4])
    assert states(rows) == [(10, "new", 0.0), (11, "partially_filled", 3.0), (12, "partially_filled", 4.0)]


def test_the_venue_is_the_best_bid_of_the_deciding_second_and_the_order_rests_there():
    books = {"a": book(bid=(99.8, 1.0), more_bids=()), "b": book(bid=(P, 1.0), more_bids=())}
    s10 = replace(sec(10, [buy_at_p()]), tops=BookTops("X", 10, books))
    rows = run([s10, replace(sec(11), tops=BookTops("X", 11, books)),
                replace(sec(12), tops=BookTops("X", 12, books, {}, {"a": trades((99.0, 5.0, SELL))}))])
    assert of(rows, "orders")[0].columns["venue"] == "b"
    assert fills(rows) == []  # a trade through on venue a is not venue b's


# -- cancel, expiry, stop ------------------------------------------------------------------

def test_a_cancel_takes_effect_after_the_fills_of_the_next_second():
    rows = run([sec(10, [buy_at_p()]), sec(11, lv=book(bid=None)), sec(12, [Cancel("b")]),
                sec(13, lv=book(bid=None), tr=trades((P, 1.0, SELL))), sec(14, tr=trades((99.0, 9.0, SELL)))])
    # nothing ahead (no bid at P at its arrival); the cancel of 12 acts at the end of 13, after
    # 13's fill of 1.0; the trade through at 14 finds it cancelled
    assert fills(rows) == [(13, 1.0, P, "maker")]
    assert states(rows)[-1] == (13, "cancelled", 1.0)


def test_an_order_expires_at_the_end_of_its_arrival_second_plus_n_after_that_seconds_fills():
    rows = run([sec(10, [buy_at_p(expire_after_s=2)]), sec(11, lv=book(bid=None)), sec(12),
                sec(13, tr=trades((P, 0.5, SELL))), sec(14, tr=trades((99.0, 9.0, SELL)))])
    assert fills(rows) == [(13, 0.5, P, "maker")]
    assert states(rows)[-1] == (13, "expired", 0.5)


def test_a_stop_triggered_by_a_trade_fills_by_the_next_second_rule():
    bid_then = book(bid=(99.3, 1.0), more_bids=((99.2, 5.0),))
    rows = run([sec(10, [Stop("sell", 2.0, 99.5, client_id="s")]), sec(11),
                sec(12, tr=trades((99.6, 1.0, SELL))), sec(13, tr=trades((99.4, 1.0, SELL))),
                sec(14, lv=bid_then)])
    # triggered at the end of 13 (last trade 99.4 <= 99.5): a market sell decided at 13, walking
    # venue a's bids at the end of 14: 1 @ 99.3, 1 @ 99.2, taker fees
    assert fills(rows) == [(14, 1.0, 99.3, "taker"), (14, 1.0, 99.2, "taker")]
    assert [r.columns["fee"] for r in of(rows, "fills")] == pytest.approx([99.3e-3, 99.2e-3])
    assert [(t, st) for t, st, _ in states(rows)] == [(10, "new"), (11, "open"), (13, "open"), (14, "filled")]
    assert of(rows, "orders")[2].columns["reason"] == "triggered"


def test_a_stop_on_the_mid_triggers_on_the_mid():
    rows = run([sec(10, [Stop("buy", 1.0, 100.5, trigger="mid", client_id="s")]), sec(11),
                sec(12, tr=trades((101.0, 1.0, BUY)), mid=100.4), sec(13, mid=100.5), sec(14)])
    assert fills(rows) == [(14, 1.0, 100.1, "taker")]


def test_a_negative_maker_fee_is_a_rebate_the_account_earns():
    rows = run([sec(10, [buy_at_p()]), sec(11), sec(12, tr=trades((99.0, 1.0, SELL)))], state(opts(maker=-1.0)))
    [f] = of(rows, "fills")
    assert f.columns["fee"] == pytest.approx(-2 * P * 1e-4)
    cash = [r.columns["cash"] for r in of(rows, "equity")][-1]
    assert cash == pytest.approx(100_000 - 2 * P + 2 * P * 1e-4)


def test_a_market_order_request_walks_the_next_seconds_books():
    rows = run([sec(10, [Market("buy", 4.0)]), sec(11)])
    assert fills(rows) == [(11, 3.0, 100.1, "taker"), (11, 1.0, 100.2, "taker")]
    assert states(rows) == [(10, "new", 0.0), (11, "filled", 4.0)]


def test_a_converted_venue_rests_at_the_venue_price_and_fills_at_the_rate_of_the_fill_second():
    def conv(s, orders=(), tr=None, rate=2.0):  # the book in the symbol's quote: venue prices x rate
        lv = VenueLevels(np.array([P * rate]), np.array([3.0]), np.array([100.1 * rate]), np.array([3.0]))
        return replace(sec(s, orders, mid=100 * rate),
                       tops=BookTops("X", s, {"a": lv}, {"a": rate}, {"a": tr} if tr is not None else {}))
    rows = run([conv(10, [Limit("buy", 1.0, P * 2.0, client_id="c")]), conv(11),
                conv(12, tr=trades((P, 4.0, SELL)), rate=2.5)])
    [f] = of(rows, "fills")
    assert (f.columns["qty"], f.columns["rate"]) == (1.0, 2.5)
    assert f.columns["price"] == pytest.approx(P * 2.5)


# -- risk and bad orders ---------------------------------------------------------------------

def test_a_limit_order_is_checked_at_its_full_quantity_and_resting_counts_as_filled():
    rows = run([sec(10, [Limit("buy", 300.0, P, client_id="big")]),
                sec(11, [Limit("buy", 150.0, 99.0, client_id="more")])])
    # 300 x mid 100 = 30,000 > max order 25,000 -> 250, then > max position 20,000 -> 200;
    # at 11, 200 rest: the position counted is 200, so nothing more fits
    events = [(r.ts // NS, r.symbols["rule"], r.columns["action"], r.columns["qty_after"]) for r in of(rows, "risk_events")]
    assert events == [(10, "max_order_notional", "clipped", 250.0), (10, "max_position_notional", "clipped", 200.0),
                      (11, "max_position_notional", "refused", 0.0)]
    big = [r for r in of(rows, "orders") if r.columns["client_id"] == "big"]
    assert big[0].columns["qty"] == 200.0
    more = [r for r in of(rows, "orders") if r.columns["client_id"] == "more"]
    assert [(r.columns["status"], r.columns["reason"]) for r in more] == [("rejected", "max_position_notional")]


@pytest.mark.parametrize("request_, reason", [
    (Limit("buy", 0.0, P), "bad_order: qty 0.0 is not a finite number > 0"),
    (Limit("buy", math.nan, P), "bad_order: qty nan is not a finite number > 0"),
    (Limit("buy", 1.0, 99.95, client_id="t"), "off_tick: price 99.95 is not a multiple of a's tick 0.1"),
    (Limit("buy", 1.0, 100.1, post_only=True), "post_only_would_cross: buy at 100.1, a's best ask 100.1"),
    (Cancel("nobody"), "unknown_order: no working order 'nobody' to cancel"),
    (Stop("sell", 1.0, None), "bad_order: a stop order needs a stop_price"),
    ("buy 1", "bad_order: str is not an order request (Market, Limit, Stop or Cancel)"),
])
def test_a_bad_order_is_refused_with_its_reason_and_the_flow_goes_on(request_, reason):
    st = state(opts(ticks={"X": {"a": 0.1}}))
    rows = run([sec(10, [request_, buy_at_p()]), sec(11), sec(12, tr=trades((99.0, 1.0, SELL)))], st)
    [event] = of(rows, "risk_events")
    assert (event.symbols["rule"], event.columns["action"], event.columns["detail"]) == ("order", "refused", reason)
    rejected = [r for r in of(rows, "orders") if r.columns["status"] == "rejected"]
    assert [r.columns["reason"] for r in rejected] == ([] if isinstance(request_, (Cancel, str)) else [reason])
    for r in rejected:  # a refused order's NaN never reaches a sink
        assert all(v is None or not isinstance(v, float) or math.isfinite(v) for v in r.columns.values()), r
    assert fills(rows) == [(12, 2.0, P, "maker")]  # the good order beside it works


def test_the_kill_switch_cancels_every_resting_order_with_a_row_each():
    st = state()
    rows = add(st, [sec(10, [buy_at_p(), Limit("sell", 1.0, 100.1, client_id="s")]), sec(11)])
    st.commands.append("halt")
    rows += add(st, [sec(12, tr=trades((99.0, 9.0, SELL)))]) + flush(st)
    cancels = [(r.ts // NS, r.symbols["rule"], r.columns["action"], r.columns["detail"]) for r in of(rows, "risk_events")
               if r.columns["action"] == "cancelled"]
    assert cancels == [(12, "halted", "cancelled", "order X:10:b"), (12, "halted", "cancelled", "order X:10:s")]
    assert fills(rows) == []  # cancelled before the trades of 12: the halt comes first
    assert {r.columns["status"] for r in of(rows, "orders") if r.ts == 12 * NS} == {"cancelled"}


def test_a_duplicate_client_id_never_doubles_an_order():
    rows = run([sec(10, [buy_at_p()]), sec(11, [buy_at_p()]), sec(12, tr=trades((99.0, 9.0, SELL)))])
    assert fills(rows) == [(12, 2.0, P, "maker")]
    [event] = of(rows, "risk_events")
    assert event.columns["detail"] == "duplicate_client_id: 'b' is working"


# -- the maker strategy in a backtest ------------------------------------------------------------

def test_cobflow_backtest_strategy_maker_reports_maker_and_taker_fills(tmp_path):
    """The built-in maker strategy on a simulated capture: its report counts fills by
    liquidity, and each count and fee sum is the fills table's own."""
    import json
    import os
    import subprocess
    import sys

    from cobflow.capture import write_capture
    from cobflow.config import load_symbols
    from cobflow.connectors.simulator import SimConfig, simulate
    from tests.modeltools import seeded_checkpoints
    from tests.unit.test_backtest_metrics import CONFIG, rows_of
    from tests.unit.test_strategy import SPEC

    capture = tmp_path / "sim.jsonl"
    write_capture(capture, simulate(load_symbols(CONFIG), SimConfig(seed=8, duration_s=300, alpha=1.0)))
    models = seeded_checkpoints(tmp_path / "models", SPEC)
    env = {k: v for k, v in os.environ.items() if not k.startswith("COBFLOW_")}
    env |= {"COBFLOW_TRADING__MIN_ORDER_NOTIONAL": "0", "COBFLOW_TRADING__MAX_ORDERS_PER_MINUTE": "60"}
    out = tmp_path / "maker"
    proc = subprocess.run([sys.executable, "-m", "cobflow", "--config", str(CONFIG), "backtest", "--input",
                           str(capture), "--out", str(out), "--models", str(models), "--strategy", "maker", "--json"],
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    report = json.loads((out / "report.json").read_text())
    assert json.loads(proc.stdout) == report  # --json: the report, whole, nothing else on stdout
    fills = [f for f in rows_of(out, "fills") if f["run"] == "paper"]
    maker = [f for f in fills if f["liquidity"] == "maker"]
    assert maker and len(maker) < len(fills)
    o = report["orders"]
    assert (o["maker_fills"], o["taker_fills"]) == (len(maker), len(fills) - len(maker))
    assert o["maker_fees"] == pytest.approx(sum(f["fee"] for f in maker))
    assert all(f["fee"] == pytest.approx(f["qty"] * f["price"] * 2e-4) for f in maker)  # default maker 2 bps
    limits = {}
    for r in sorted(rows_of(out, "orders"), key=lambda r: r["ts"]):
        if r["run"] == "paper" and r["type"] == "limit":
            limits[r["order_id"]] = r
    assert o["limit_orders"] == len(limits)
    assert o["limit_fill_ratio"] == pytest.approx(sum(r["filled"] for r in limits.values())
                                                  / sum(r["qty"] for r in limits.values()))
    assert o["queue_wait_s"] == pytest.approx(sum(f["qty"] * f["wait_s"] for f in maker) / sum(f["qty"] for f in maker))
    from cobflow.app.backtest import summary_table

    table = summary_table(report).splitlines()
    printed = {line.split()[0]: line.split()[1] for line in table[table.index("") + 2:]}
    assert printed["maker_fills"] == f"{len(maker):,}" and printed["limit_orders"] == f"{len(limits):,}"
    assert printed["limit_fill_ratio"] == f"{o['limit_fill_ratio'] * 100:.2f}%"


def test_the_docs_order_strategy_runs_as_written(tmp_path, monkeypatch):
    """docs/strategies.md's "Orders beyond the market order" code, saved as a user's module:
    it joins the bid post-only with a stop below, and re-quotes when the bid moves up."""
    from pathlib import Path

    from cobflow.operators.strategies import strategy_class

    doc = (Path(__file__).resolve().parents[2] / "docs" / "strategies.md").read_text()
    section = doc[doc.index("### Orders beyond the market order"):]
    code = section[section.index("```python\n") + 10:section.index("```\n", section.index("```python\n"))]
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "join.py").write_text(code)
    monkeypatch.syspath_prepend(str(tmp_path))
    cls = strategy_class("mine.join:Join")
    st = ExecutionState(["X"], opts(), {"X": cls("X", cls.Params())})
    up = book(bid=(100.0, 1.0), ask=(100.2, 1.0))
    rows = run([sec(10), sec(11), sec(12, lv=up), sec(13, lv=up), sec(14, lv=up)], st)
    # at mid 100: target = 100000 x 0.001 / (0.5 x 100) = 2 units; joins the bid 99.9 at 10
    orders = [(r.ts // NS, r.columns["client_id"], r.columns["type"], r.columns["status"], r.columns["price"])
              for r in of(rows, "orders")]
    assert orders[:4] == [(10, "join", "limit", "new", P), (10, "stop", "stop", "new", None),
                          (11, "join", "limit", "open", P), (11, "stop", "stop", "open", None)]
    # the bid moved up to 100.0 at 12: the cancel asked at 12 acts at the end of 13, before
    # 13's decision, which joins the new bid (the stop still works: not sent twice)
    assert orders[4:] == [(13, "join", "limit", "cancelled", P), (13, "join", "limit", "new", 100.0),
                          (14, "join", "limit", "open", 100.0)]
    assert not of(rows, "risk_events")
    assert {r.columns["qty"] for r in of(rows, "orders") if r.columns["client_id"] == "join"} == {2.0}


def test_trading_status_shows_the_working_orders_and_json_gives_the_status_whole(tmp_path, capsys):
    import json

    from cobflow.app.cli import main
    from cobflow.execution.control import read_status
    from cobflow.operators.execution import ExecutionLogic
    from cobflow.operators.strategies import Run
    from tests.unit.test_execution import CONFIG

    o = opts()
    logic = ExecutionLogic(None, CONFIG, o, tmp_path, [Run("paper", "test", {"X": (Scripted, None)})])
    logic.on_batch([("paper", [sec(10, [Limit("buy", 2.0, P, client_id="b")]), sec(11)])])
    logic.on_eof()
    env = ["--control-dir", str(tmp_path)]
    assert main(["trading", "status", *env]) == 0
    printed = capsys.readouterr().out
    assert "X:10:b" in printed and "limit" in printed and "99.9000" in printed and "open" in printed
    assert main(["trading", "status", "--json", *env]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got == {**read_status(tmp_path), "waiting": []}
    assert got["orders"] == [{"order_id": "X:10:b", "symbol": "X", "type": "limit", "side": "buy", "price": P,
                              "stop_price": None, "qty": 2.0, "filled": 0.0, "status": "open", "venue": "a",
                              "client_id": "b"}]


# -- the built-in maker strategy, second by second -----------------------------------------------

def test_the_maker_joins_the_touch_requotes_when_it_moves_away_and_crosses_after_max_wait():
    from cobflow.metrics.signals import Signal
    from cobflow.operators.strategies import Maker

    up = Signal("imbalance_cross", 1, 1.0, 1.0, 0.5)

    def call(s, lv=None, tr=None):  # a rule signal calling BUY every second
        return replace(sec(s, lv=lv, tr=tr), signals=(up,))

    params = Maker.Params(threshold=0.2, smoothing_s=1, requote_ticks=2, max_wait_s=6)
    st = ExecutionState(["X"], opts(ticks={"X": {"a": 0.1}}), {"X": Maker("X", params)})
    moved = book(bid=(100.2, 1.0), ask=(100.4, 1.0), more_asks=((100.5, 9.0),))  # the bid 3 ticks above 99.9
    rows = run([call(10), call(11), call(12, lv=book(bid=(100.0, 1.0))), call(13, lv=moved), call(14, lv=moved),
                call(15, lv=moved), call(16, lv=moved), call(17, lv=moved), call(18, lv=moved)], st)
    # target 2 units (mid 100); at 10: post-only buy of 2 at the best bid 99.9; at 12 the bid
    # is one tick up (kept); at 13 three ticks (cancel, done at the end of 14); at 14 it is
    # gone before the decision: a new one at 100.2; at 16 it has waited 6 s since 10: cancel
    # (done at the end of 17); at 17 the rest crosses with a market order, filled at 18 from
    # the asks (1 @ 100.4, 1 @ 100.5); every other second's call is recorded, nothing sent
    orders = [(r.ts // NS, r.columns["type"], r.columns["status"], r.columns["price"]) for r in of(rows, "orders")
              if r.ts // NS <= 18 and r.columns["decision_ts"] // NS < 18]
    assert orders == [(10, "limit", "new", P), (11, "limit", "open", P), (14, "limit", "cancelled", P),
                      (14, "limit", "new", 100.2), (15, "limit", "open", 100.2), (17, "limit", "cancelled", 100.2),
                      (17, "market", "new", None), (18, "market", "filled", None)]
    assert fills(rows) == [(18, 1.0, 100.4, "taker"), (18, 1.0, 100.5, "taker")]


def test_maker_fees_may_be_negative_and_bad_values_name_their_key():
    from cobflow.config import SymbolsConfig, TradingSettings

    base = {"symbols": {"X": {"bucket": 1, "venues": {"binance": "X-USDT"}}}}
    cfg = SymbolsConfig.model_validate({**base, "maker_fee_bps": {"binance": -0.5}})
    assert (cfg.maker_bps("binance"), cfg.maker_bps("okx"), cfg.fee_bps("binance")) == (-0.5, 2.0, 10.0)
    with pytest.raises(ValueError, match="binance: expected a maker fee in bps between -10000 and 10000"):
        SymbolsConfig.model_validate({**base, "maker_fee_bps": {"binance": -1e4}})
    with pytest.raises(ValueError, match="binance: expected a fee in bps between 0 and 10000, got -1.0"):
        SymbolsConfig.model_validate({**base, "taker_fee_bps": {"binance": -1.0}})
    with pytest.raises(ValueError, match="trading.tick_size.okx: not one of this symbol's venues"):
        SymbolsConfig.model_validate({"symbols": {"X": {"bucket": 1, "venues": {"binance": "X-USDT"},
                                                        "trading": {"tick_size": {"okx": 0.1}}}}})
    with pytest.raises(ValueError, match="expected risk_averse or power_prob, got 'fifo'"):
        TradingSettings(queue_model="fifo")


def test_two_orders_of_the_account_at_one_price_never_fill_from_the_same_trade_twice():
    rows = run([sec(10, [Limit("buy", 1.0, P, client_id="first")]), sec(11, [Limit("buy", 1.0, P, client_id="second")],
                                                                        lv=book(bid=None)),
                sec(12, lv=book(bid=None)), sec(13, lv=book(bid=None), tr=trades((P, 1.5, SELL)))])
    # nothing of the venue's ahead of either; the second arrives behind the first's 1.0, so the
    # 1.5 sold at P fills the first whole and the second by 0.5
    got = [(r.columns["order_id"], r.columns["qty"]) for r in of(rows, "fills")]
    assert got == [("X:10:first", 1.0), ("X:11:second", 0.5)]


# -- shadow and live: the same orders, also as intents for the gateway ----------------------------

def _intents_and_rows(mode_opts: ExecutionOptions, items) -> tuple[list, list]:
    from cobflow.dataflows.sinks.rows import rows_of
    from cobflow.execution.live import OrderIntent

    st = state(mode_opts)
    made = list(st.add(items).records) + list(st.flush().records)
    return [r for r in made if isinstance(r, OrderIntent)], rows_of(made)


def test_shadow_decides_the_paper_orders_and_sends_each_as_an_intent_with_its_own_client_id():
    from cobflow.execution.live import client_order_id

    script = [sec(10, [buy_at_p(qty=2.0), Stop("sell", 2.0, 99.5, client_id="s")]), sec(11),
              sec(12, [Cancel("b")]), sec(13, tr=trades((99.4, 1.0, SELL))), sec(14), sec(15)]
    paper_intents, paper_rows = _intents_and_rows(opts(), script)
    shadow = opts(venue_orders=True, run="shadow-1", live_routes={"X": ("a", "X")})
    shadow_intents, shadow_rows = _intents_and_rows(shadow, script)
    assert paper_intents == []
    # the same orders, fills and equity: only the run tag differs
    assert [(r.table, r.ts, {k: v for k, v in r.columns.items() if k != "run"}) for r in paper_rows] == \
           [(r.table, r.ts, {k: v for k, v in r.columns.items() if k != "run"}) for r in shadow_rows]
    got = [(i.action, i.decided_s, i.side, i.type, i.qty, i.price, i.client_id, i.venue, i.market)
           for i in shadow_intents]
    cid = client_order_id
    assert got == [
        ("place", 10, "buy", "limit", 2.0, P, cid("shadow-1", "X", 10, 0), "a", "X"),  # the resting buy
        ("cancel", 12, "", "market", 0.0, None, cid("shadow-1", "X", 10, 0), "a", "X"),  # its cancel, when decided
        ("place", 13, "sell", "market", 2.0, None, cid("shadow-1", "X", 13, 0), "a", "X"),  # the stop, triggered
    ]
    # a replay makes the same ids (a resend the gateway recognises)
    again, _ = _intents_and_rows(shadow, script)
    assert [i.client_id for i in again] == [i.client_id for i in shadow_intents]


def test_a_drawdown_halt_in_live_mode_cancels_the_venue_orders_and_closes_the_position_there():
    from cobflow.execution.live import client_order_id

    limits = replace(LIMITS, max_drawdown_pct=0.001)
    live = opts(venue_orders=True, run="live-1", live_routes={"X": ("a", "X")}, limits=limits)
    script = [sec(10, [Market("buy", 50.0)]), sec(11, [Limit("sell", 2.0, 110.0, client_id="s")]), sec(12),
              sec(13, lv=book(bid=(89.9, 100.0), ask=(90.1, 100.0)), mid=90.0), sec(14, mid=90.0)]
    intents, rows = _intents_and_rows(live, script)
    halt = [r for r in rows if r.table == "risk_events" and r.columns["action"] != "refused"]
    assert halt and {r.symbols["rule"] for r in halt} >= {"max_drawdown_pct"}  # rule 7, equity marked at 90
    t = min(r.ts // NS for r in halt)
    at_halt = [(i.action, i.side, i.type, i.qty, i.client_id) for i in intents if i.decided_s == t]
    resting = client_order_id("live-1", "X", 11, 0)
    held = [r.columns["position"] for r in rows if r.table == "positions" and r.ts // NS == t - 1][0]
    assert held > 0
    # the resting sell is cancelled at the venue and what is held is sold there, both decided at t
    assert ("cancel", "", "market", 0.0, resting) in at_halt
    assert ("place", "sell", "market", held, client_order_id("live-1", "X", t, 0)) in at_halt


# -- live mode: the venues' reports fill the orders sent ---------------------------------------------

def _report(i, status, filled=0.0, notional=0.0, fee=0.0, **kw):
    from cobflow.execution.live import ExecutionReport

    return ExecutionReport(run=i.run, client_id=i.client_id, symbol=i.symbol, venue=i.venue, status=status,
                           side=i.side, type=i.type, qty=i.qty, price=i.price, filled=filled, notional=notional,
                           fee=fee, **kw)


def _live_state() -> ExecutionState:
    return state(opts(venue_orders=True, live_fills=True, run="live-1", live_routes={"X": ("a", "X")}))


def _step(st: ExecutionState, items) -> tuple[list, list]:
    from cobflow.dataflows.sinks.rows import rows_of
    from cobflow.execution.live import OrderIntent

    made = list(st.add(list(items)).records)
    return [r for r in made if isinstance(r, OrderIntent)], rows_of(made)


def test_live_mode_books_the_venues_fill_not_the_simulated_one():
    st = _live_state()
    [buy], _ = _step(st, [sec(10, [Market("buy", 2.0)])])
    assert (buy.action, buy.side, buy.type, buy.qty) == ("place", "buy", "market", 2.0)
    _, rows = _step(st, [sec(11)])  # paper would fill it now at 100.1 (venue a's ask): live waits for the venue
    assert of(rows, "fills") == [] and st.account.position("X") == 0.0
    st.take_reports([_report(buy, "filled", 2.0, 2 * 100.3, 0.2)])
    _, rows = _step(st, [sec(12)])
    assert fills(rows) == [(12, 2.0, pytest.approx(100.3), "taker")]
    assert [r.columns["fee"] for r in of(rows, "fills")] == [pytest.approx(0.2)]
    [order] = of(rows, "orders")
    assert (order.columns["status"], order.columns["filled"]) == ("filled", 2.0)
    [eq] = of(rows, "equity")  # cash 100,000 - 200.6 - 0.2, and 2 held at the mid 100
    assert eq.columns["equity"] == pytest.approx(100_000 - 200.6 - 0.2 + 2 * 100.0)


def test_live_mode_a_resting_order_takes_the_venues_fills_and_its_cancel():
    st = _live_state()
    [place], _ = _step(st, [sec(10, [buy_at_p(qty=2.0)])])
    through = book(bid=(99.0, 5.0), ask=(99.5, 5.0))  # paper: the ask through P fills it whole
    _, rows = _step(st, [sec(11, lv=through, tr=trades((99.0, 9.0, SELL)))])
    assert of(rows, "fills") == []
    st.take_reports([_report(place, "open"), _report(place, "partially_filled", 1.0, P, 0.02)])
    cancels, rows = _step(st, [sec(12, [Cancel("b")])])
    assert fills(rows) == [(12, 1.0, pytest.approx(P), "maker")]
    assert [(c.action, c.client_id) for c in cancels] == [("cancel", place.client_id)]
    assert states(rows)[-1] == (12, "partially_filled", 1.0)
    st.take_reports([_report(place, "cancelled", 1.0, P, 0.02, reason="cancel")])
    _, rows = _step(st, [sec(13)])
    assert states(rows) == [(13, "cancelled", 1.0)] and st.account.position("X") == pytest.approx(1.0)


def test_live_mode_counts_what_the_venue_still_owes_and_sends_again_after_a_reject():
    from dataclasses import replace as copy

    from cobflow.strategy import Intent as Call

    class Buyer(Strategy):
        def on_second(self, ctx: Context) -> Call | None:
            return Call("BUY", 1.0, 1.0, None, "test")

    o = opts(venue_orders=True, live_fills=True, run="live-1", live_routes={"X": ("a", "X")})
    st = ExecutionState(["X"], copy(o, limits=copy(LIMITS, risk_per_trade=0.01), min_order_notional=50.0),
                        {"X": Buyer("X", None)})
    [first], _ = _step(st, [sec(10)])
    again, _ = _step(st, [sec(11)])  # still at the venue, unanswered: the target is met by it
    assert again == []
    st.take_reports([_report(first, "rejected", reason="insufficient balance")])
    [second_try], rows = _step(st, [sec(12)])  # the reject is booked; the target is still missed: sent again
    assert of(rows, "orders")[0].columns["status"] == "rejected"
    assert second_try.qty == pytest.approx(first.qty) and second_try.client_id != first.client_id
    st.take_reports([_report(second_try, "filled", second_try.qty, second_try.qty * 100.1, 0.1)])
    after, rows = _step(st, [sec(13)])
    assert after == [] and st.account.position("X") == pytest.approx(second_try.qty)


def test_live_mode_a_report_is_booked_no_earlier_than_the_second_it_was_learned():
    st, cut = _live_state(), _live_state()
    [buy], _ = _step(st, [sec(10, [Market("buy", 2.0)])])
    _step(cut, [sec(10, [Market("buy", 2.0)])])
    st.take_reports([_report(buy, "filled", 2.0, 2 * 100.3, 0.2, ts_ns=20 * NS)])  # learned at second 20
    # seconds 11..19 are the same with the report and without it (cut): nothing from its future
    for s in range(11, 20):
        with_it, without = _step(st, [sec(s)])[1], _step(cut, [sec(s)])[1]
        assert [(r.table, r.ts, r.columns) for r in with_it] == [(r.table, r.ts, r.columns) for r in without]
    _, rows = _step(st, [sec(20)])
    assert fills(rows) == [(20, 2.0, pytest.approx(100.3), "taker")]
