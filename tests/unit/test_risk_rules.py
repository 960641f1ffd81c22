"""Risk rules as objects (EXECUTION.md "Risk rules"): rules 1-5 in the spec's order as
`RiskRule`s, a user's rule added by `module:Class` after them, a rule that raises refusing
only its own order, a cut that would add exposure never taking effect."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import Field

from cobflow.config import PluginError, StrategySettings, TradingSettings
from cobflow.execution.risk import (
    PRE_TRADE,
    RULES,
    Cut,
    OrderCheck,
    RiskLimits,
    RiskRule,
    apply_rules,
    pre_trade_rules,
    reducing_part,
)
from cobflow.operators.strategies import risk_rules
from cobflow.operators.strategy import StrategyOptions
from cobflow.strategy import Context, Intent, Strategy, StrategySecond
from tests.rowtools import run_cob
from tests.simdata import sim
from tests.unit.test_strategy import SPEC, SYMBOLS

LIMITS = RiskLimits(0.001, 0.01, 25_000.0, 20_000.0, 3, 0.05, 0.03, 0.5)


class WideSpread(RiskRule):
    """No new exposure while the consolidated spread is wider than max_bps."""

    name = "wide_spread"

    class Params(RiskRule.Params):
        max_bps: float = Field(1.0, ge=-100, le=100)

    def check(self, order: OrderCheck) -> Cut | None:
        spread = (order.second.cob or {}).get("spread_bps")
        if spread is not None and spread > self.params.max_bps:
            return Cut(order.reducing, spread, self.params.max_bps, "consolidated spread too wide")
        return None


class Exploding(RiskRule):
    name = "exploding"

    def check(self, order: OrderCheck) -> Cut | None:
        raise ZeroDivisionError("no\nway")


class Adding(RiskRule):
    name = "adding"

    def check(self, order: OrderCheck) -> Cut | None:
        return Cut(order.qty * 3, 0.0, 0.0, "tries to add")


class AlwaysBuy(Strategy):
    models = ()

    def on_second(self, ctx: Context) -> Intent | None:
        return Intent.buy(1.0, "always") if ctx.s % 2 else Intent.sell(1.0, "always")


def order(qty: float, position: float = 0.0, **kw) -> OrderCheck:
    base = dict(symbol="X", t=10, qty=qty, reducing=reducing_part(position, qty), position=position, mid=100.0,
                quality=1.0, halted=False, orders_last_minute=0, equity=100_000.0)
    return OrderCheck(**{**base, **kw})


def test_the_eight_rules_are_objects_in_the_spec_order():
    assert [r.name for r in PRE_TRADE] == ["halted", "data_quality", "max_order_notional", "max_position_notional",
                                           "max_orders_per_minute"]
    assert [r.name for r in RULES] == [r.name for r in PRE_TRADE] + ["stop_loss", "max_drawdown_pct",
                                                                     "daily_loss_pct"]
    # halted and low quality: rule 1 refuses, rule 2 is not asked (nothing new is left)
    sent, events = apply_rules(order(50.0, halted=True, quality=0.1), pre_trade_rules(LIMITS))
    assert sent == 0.0 and [e.rule for e in events] == ["halted"]
    # a flip of 100 -> -300 at mid 100: order notional 40,000 > 25,000 is clipped to 250 (rule 3),
    # then the position after (-150, 15,000) is within 20,000: rule 4 passes
    sent, events = apply_rules(order(-400.0, position=100.0), pre_trade_rules(LIMITS))
    assert sent == pytest.approx(-250.0) and [(e.rule, e.action) for e in events] == [("max_order_notional",
                                                                                         "clipped")]


def test_a_rule_that_raises_refuses_its_order_and_a_cut_never_adds():
    sent, events = apply_rules(order(50.0, position=-20.0), (Exploding(LIMITS),))
    assert sent == 20.0  # the reducing part still passes
    assert events[0].action == "clipped" and "Exploding.check raised ZeroDivisionError: no way" in events[0].detail
    sent, events = apply_rules(order(50.0), (Adding(LIMITS),))
    assert sent == 0.0 and events[0].action == "refused"


def test_a_users_rule_by_module_and_class_runs_after_the_built_ins_in_the_flow():
    spec = "tests.unit.test_risk_rules:WideSpread"
    trading = TradingSettings(min_order_notional=0.0, max_orders_per_minute=60,
                              risk_rules=[{"use": spec, "params": {"max_bps": 1.25}}])
    opts = StrategyOptions(SPEC, None, StrategySettings(name="tests.unit.test_risk_rules:AlwaysBuy"))
    # USDT = USD in this market (usdt_bps=0): these symbols convert no quote, and the rule reads spreads
    rows, _ = run_cob(sim(90.0, seed=81, venues=("binance", "kraken", "okx", "coinbase", "bybit"), usdt_bps=0.0),
                      SYMBOLS, strategy=opts, trading=trading)
    spread = {(r.symbols["symbol"], r.ts): r.columns["spread_bps"] for r in rows if r.table == "cob_summary"}
    wide = [r for r in rows if r.table == "risk_events" and r.symbols["rule"] == "wide_spread"]
    # (this simulated market's spreads: BTC-USD 0.2 to 1.2 bps, ETH-USD 1.0 to 1.6 bps)
    assert wide, "the simulated market has seconds wider than 1.25 bps"
    for e in wide:
        assert e.columns["value"] == spread[(e.symbols["symbol"], e.ts)] > 1.25 and e.columns["threshold"] == 1.25
    refused = {(e.symbols["symbol"], e.ts) for e in wide if e.columns["action"] == "refused"}
    reasons = {(d.symbols["symbol"], d.ts): d.columns["reason"] for d in rows if d.table == "decisions"}
    assert refused and all(reasons[k] == "wide_spread" for k in refused)
    # an order decided on a wider second is only what reduces the position: a rule (this one,
    # or a built-in before it) clipped it to that
    events: dict = {}
    for e in rows:
        if e.table == "risk_events":
            events.setdefault((e.symbols["symbol"], e.ts), []).append(e)
    orders = [r for r in rows if r.table == "orders" and r.columns["reason"] == "decision"]
    assert orders and any(spread[(o.symbols["symbol"], o.columns["decision_ts"])] <= 1.25 for o in orders)
    for o in orders:
        key = (o.symbols["symbol"], o.columns["decision_ts"])
        if spread[key] > 1.25:
            *_, last = events[key]
            assert last.columns["action"] == "clipped" and o.columns["qty"] == pytest.approx(abs(last.columns["qty_after"]))


def test_a_bad_rule_is_refused_at_start_in_one_line():
    with pytest.raises(PluginError, match=r"risk rule 'tests.unit.test_risk_rules:AlwaysBuy': AlwaysBuy is not a "
                                          r"RiskRule"):
        risk_rules(TradingSettings(risk_rules=["tests.unit.test_risk_rules:AlwaysBuy"]).risk_rules, LIMITS)
    with pytest.raises(PluginError, match=r"parameter max_bps: Input should be less than or equal to 100$"):
        risk_rules(TradingSettings(risk_rules=[{"use": "tests.unit.test_risk_rules:WideSpread",
                                                "params": {"max_bps": 500}}]).risk_rules, LIMITS)
    assert [type(r).__name__ for r in risk_rules(TradingSettings(
        risk_rules=["tests.unit.test_risk_rules:WideSpread"]).risk_rules, LIMITS)] == ["WideSpread"]


def test_the_docs_risk_rule_runs_as_written(tmp_path, monkeypatch):
    """docs/strategies.md's "Add a risk rule" code, saved as a user's module and turned on by its
    setting: it refuses the new exposure of every second wider than its limit."""
    readme = (Path(__file__).resolve().parents[2] / "docs" / "strategies.md").read_text()
    section = readme[readme.index("## Add a risk rule"):]
    code = section[section.index("```python\n") + 10:section.index("```\n", section.index("```python\n"))]
    (tmp_path / "mystrats").mkdir()
    (tmp_path / "mystrats" / "rules.py").write_text(code)
    monkeypatch.syspath_prepend(str(tmp_path))
    [rule] = risk_rules(TradingSettings(risk_rules=[{"use": "mystrats.rules:WideSpread",
                                                     "params": {"max_bps": 3}}]).risk_rules, LIMITS)
    second = StrategySecond("X", 10, 1.0, 100.0, {"spread_bps": 4.0}, {})
    sent, events = apply_rules(order(50.0, second=second), (*pre_trade_rules(LIMITS), rule))
    assert sent == 0.0 and [(e.rule, e.value, e.threshold) for e in events] == [("wide_spread", 4.0, 3.0)]
    calm = StrategySecond("X", 10, 1.0, 100.0, {"spread_bps": 2.0}, {})
    assert apply_rules(order(50.0, second=calm), (*pre_trade_rules(LIMITS), rule)) == (50.0, [])
