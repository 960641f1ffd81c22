"""Rule signals as plug-ins (cobflow.metrics.signals.SignalSource): the built-ins keep their
rows (the golden digests of the built-in strategies cover `signals`), a user's source by
module:Class is asked every second after them with its own parameters, its signals are
rows, scored predictions and votes, and one that raises costs its own signal of the second
and a dead letter."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import Field

from cobflow.config import PluginError, PluginSpec, StrategySettings, TradingSettings
from cobflow.metrics.signals import SOURCES, Signal, SignalSource
from cobflow.operators.strategy import StrategyOptions, signal_classes
from tests.rowtools import run_cob
from tests.simdata import sim
from tests.unit.test_strategy import SPEC, SYMBOLS

VENUES = ("binance", "kraken", "okx", "coinbase", "bybit")


class MicroLean(SignalSource):
    """Up when the microprice sits above the mid by more than `bps`, down when below."""

    kind = "micro_lean"

    class Params(SignalSource.Params):
        bps: float = Field(0.05, gt=0)

    def on_second(self, s: int, cob: Any, features: Any) -> Signal | None:
        mid, micro = cob.get("mid"), cob.get("microprice")
        if not mid or micro is None:
            return None
        dev = (micro - mid) / mid * 1e4
        if abs(dev) < self.params.bps:
            return None
        return Signal(self.kind, 1 if dev > 0 else -1, min(1.0, abs(dev)), dev, self.params.bps)


class Flaky(SignalSource):
    kind = "flaky"

    def on_second(self, s: int, cob: Any, features: Any) -> Signal | None:
        if s % 7 == 0:
            raise KeyError("missing\ncolumn")
        return None


def flow(signals, strategy="rules"):
    opts = StrategyOptions(SPEC, None, StrategySettings(name=strategy), (), tuple(PluginSpec.model_validate(x)
                                                                                 for x in signals))
    return run_cob(sim(120.0, seed=93, venues=VENUES, alpha=1.0), SYMBOLS, strategy=opts,
                   trading=TradingSettings(min_order_notional=0.0))


def test_the_built_ins_are_sources_in_order():
    assert [c.kind for c in SOURCES] == ["imbalance", "liquidity_anomaly"]


def test_a_users_source_fires_by_its_rule_and_the_combined_strategy_hears_it():
    rows, dead = flow([{"use": "tests.unit.test_signal_sources:MicroLean", "params": {"bps": 0.1}}])
    assert not dead
    cob = {(r.symbols["symbol"], r.ts): r.columns for r in rows if r.table == "cob_summary"}
    mine = [r for r in rows if r.table == "signals" and r.symbols["kind"] == "micro_lean"]
    assert mine
    fired = set()
    for r in mine:
        c = cob[(r.symbols["symbol"], r.ts)]
        dev = (c["microprice"] - c["mid"]) / c["mid"] * 1e4
        assert abs(dev) >= 0.1 and r.columns["direction"] == (1 if dev > 0 else -1)
        assert r.columns["value"] == pytest.approx(dev)
        fired.add((r.symbols["symbol"], r.ts))
    # and every second past 0.1 bps with a features row fired
    quiet = [k for k, c in cob.items() if c["mid"] and abs((c["microprice"] - c["mid"]) / c["mid"] * 1e4) >= 0.1]
    assert set(quiet) == fired
    # scored as predictions, and heard: a decision whose only vote is it names it as the source
    assert any(r.table == "prediction_outcomes" and r.symbols["source"] == "micro_lean" for r in rows)
    assert any(r.table == "decisions" and r.symbols["source"] == "micro_lean" for r in rows)


def test_a_source_that_raises_costs_its_signal_and_a_dead_letter():
    rows, dead = flow(["tests.unit.test_signal_sources:Flaky"])
    mine = [d for d in dead if d.stage == "signal"]
    assert mine and all("Flaky.on_second raised KeyError" in d.reason and "\n" not in d.reason for d in mine)
    assert {int(d.raw.ts_recv // 1_000_000_000) % 7 for d in mine} == {0}
    assert sum(1 for r in rows if r.table == "decisions") > 100  # the flow went on


def test_a_bad_source_is_refused_in_one_line():
    with pytest.raises(PluginError, match="signal source 'tests.unit.test_signal_sources:nope'"):
        signal_classes((PluginSpec(use="tests.unit.test_signal_sources:nope"),))
    with pytest.raises(PluginError, match=r"parameter bps: Input should be greater than 0"):
        flow([{"use": "tests.unit.test_signal_sources:MicroLean", "params": {"bps": -1}}])


class NaNStrength(SignalSource):
    kind = "nan_strength"

    def on_second(self, s: int, cob: Any, features: Any) -> Signal | None:
        return Signal(self.kind, 1, float("nan"), 0.0, 0.0)


def test_a_signal_that_is_no_number_is_a_dead_letter_not_a_vote():
    rows, dead = flow(["tests.unit.test_signal_sources:NaNStrength"], strategy="combined")
    assert not [r for r in rows if r.table == "signals" and r.symbols["kind"] == "nan_strength"]
    assert [d for d in dead if d.stage == "signal" and "strength nan is not in [0, 1]" in d.reason]
    assert all(d.columns["score"] == d.columns["score"] for d in rows if d.table == "decisions")  # no NaN vote
