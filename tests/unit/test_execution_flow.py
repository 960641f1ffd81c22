"""Paper execution inside the strategy flow: nothing from the future (EXECUTION.md's
next-second model, shown by cutting or replacing the input after S+1 or after S), and one
worker or two give the same orders, fills, positions and equity."""

from __future__ import annotations

import pytest

from cobflow.config import TradingSettings
from cobflow.operators.strategy import StrategyOptions
from tests.modeltools import seeded_checkpoints
from tests.rowtools import plain, plain_sorted, run_cob
from tests.simdata import sim
from tests.unit.test_strategy import SPEC, SYMBOLS

S = 1_000_000_000
VENUES = ("binance", "kraken", "okx", "coinbase", "bybit")
# every difference from the target traded: an order nearly every second to look at
TRADING = TradingSettings(min_order_notional=0.0, max_orders_per_minute=60)
EXECUTION = ("orders", "fills", "positions", "equity", "risk_events")


def _market(tmp_path_factory, seconds: float, seed: int, strategy: str | None = None):
    """A simulated market, another from the same start, a runner of the strategy flow on
    messages, and its rows on the first market."""
    from cobflow.config import StrategySettings

    opts = StrategyOptions(SPEC, seeded_checkpoints(tmp_path_factory.mktemp("models"), SPEC),
                           StrategySettings(name=strategy))
    msgs = sim(seconds, seed=seed, venues=VENUES, alpha=1.0)
    other = sim(seconds, seed=seed + 1, venues=VENUES, alpha=1.0)

    def run(messages, workers=1):
        return run_cob(messages, SYMBOLS, workers=workers, strategy=opts, trading=TRADING)[0]

    return msgs, other, run, run(msgs)


@pytest.fixture(scope="module")
def market(tmp_path_factory):
    return _market(tmp_path_factory, 100.0, 51)


def decided_at(rows, s: int) -> list[tuple]:
    """What the account decided at s and before: decisions, the orders they make (qty and
    side; the fill is S+1's), risk events, and every fill, position and equity up to s."""
    out = []
    for r in rows:
        t = r.ts // S
        if r.table in ("decisions", "risk_events") and t <= s:
            out.append(plain(r))
        elif r.table == "orders" and r.columns["decision_ts"] // S <= s:
            out.append((r.table, r.symbols["symbol"], r.columns["order_id"], r.columns["side"], r.columns["qty"]))
        elif r.table in ("fills", "positions", "equity") and t <= s:
            out.append(plain(r))
    return sorted(out, key=repr)


def filled_for(rows, s: int) -> list[tuple]:
    """Every order, fill, position and equity row a decision at s (or before) makes: ts <= s+1."""
    return sorted((plain(r) for r in rows if r.table in EXECUTION and r.ts // S <= s + 1), key=repr)


def cuts(rows) -> list[int]:
    """Three decision seconds that sent orders on both symbols, spread over the run."""
    both = sorted({r.columns["decision_ts"] // S for r in rows if r.table == "orders"})
    picks = [both[len(both) // 5], both[len(both) // 2], both[-len(both) // 5]]
    assert len(set(picks)) == 3, both
    return picks


def test_a_fill_for_s_never_changes_when_the_messages_after_s_plus_1_change(market):
    msgs, other, run, full = market
    for s in cuts(full):
        end = (s + 2) * S  # every event with ts_recv < S + 2s is S+1's
        cut = run([m for m in msgs if m.ts_recv < end])
        changed = run([m for m in msgs if m.ts_recv < end] + [m for m in other if m.ts_recv >= end])
        want = filled_for(full, s)
        assert any(r[0] == "fills" and r[1] == (s + 1) * S for r in want)
        assert filled_for(cut, s) == want, s
        assert filled_for(changed, s) == want, s


def test_changing_anything_at_or_after_s_plus_1_never_changes_the_decision_at_s(market):
    msgs, other, run, full = market
    moved = 0
    for s in cuts(full):
        end = (s + 1) * S
        changed = run([m for m in msgs if m.ts_recv < end] + [m for m in other if m.ts_recv >= end])
        assert decided_at(changed, s) == decided_at(full, s), s
        # and the fill of s does read S+1: another market there fills at other prices
        moved += filled_for(changed, s) != filled_for(full, s)
    assert moved == 3


def test_one_worker_or_two_give_the_same_orders_fills_positions_and_equity(market):
    msgs, _, run, full = market
    two = run(msgs, workers=2)
    tables = {r.table for r in full}
    assert set(EXECUTION) - {"risk_events"} <= tables
    assert [r for r in plain_sorted(full) if r[0] in EXECUTION] == [r for r in plain_sorted(two) if r[0] in EXECUTION]
    # equity: one row per second of the run, cash + positions at their mids
    equity = [r for r in full if r.table == "equity"]
    assert len({r.ts for r in equity}) == len(equity) == len({r.ts for r in full if r.table == "data_quality"})


# -- resting orders (EXECUTION.md "Limit, stop and cancel orders"): the maker strategy -----------

@pytest.fixture(scope="module")
def maker_market(tmp_path_factory):
    return _market(tmp_path_factory, 150.0, 53, "maker")


def upto(rows, f: int) -> list[tuple]:
    """Every execution row (orders, fills, positions, equity, risk events) of seconds <= f."""
    return sorted((plain(r) for r in rows if r.table in EXECUTION and r.ts // S <= f), key=repr)


def test_a_resting_orders_fill_never_changes_when_the_messages_after_its_second_change(maker_market):
    """A maker fill at second F uses the trades of F and the book at F's end: cutting the input
    at F + 1s, or replacing everything from there with another market, changes no row of F
    or before."""
    msgs, other, run, full = maker_market
    maker = sorted({r.ts // S for r in full if r.table == "fills" and r.columns["liquidity"] == "maker"})
    assert len(maker) >= 3, maker
    for f in (maker[0], maker[len(maker) // 2], maker[-1]):
        end = (f + 1) * S
        kept = [m for m in msgs if m.ts_recv < end]
        want = upto(full, f)
        assert any(r[0] == "fills" and r[1] == f * S and ("liquidity", "maker") in r[-1] for r in want)
        assert upto(run(kept), f) == want, f
        assert upto(run(kept + [m for m in other if m.ts_recv >= end]), f) == want, f


def test_one_worker_or_two_give_the_same_resting_orders_and_fills(maker_market):
    msgs, _, run, full = maker_market
    two = run(msgs, workers=2)
    assert {r.columns["status"] for r in full if r.table == "orders"} >= {"new", "open", "filled"}
    assert [r for r in plain_sorted(full) if r[0] in EXECUTION] == [r for r in plain_sorted(two) if r[0] in EXECUTION]
