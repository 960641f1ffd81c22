"""The Strategy API (cobflow.strategy): the built-ins on it decide, order, fill and account
byte for byte as the fixed pipeline did before it (tests/golden); strategies written only
against the public API run from outside the package, side by side with their own accounts;
a strategy that raises costs its own second; a bad `module:Class` or parameter is refused
at start in one line."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cobflow.config import StrategySettings, SymbolsConfig, TradingSettings
from cobflow.operators.strategies import runs
from cobflow.operators.strategy import StrategyOptions
from cobflow.strategy import Context, Intent, PluginError, Strategy
from tests.golden import strategies as golden
from tests.modeltools import seeded_checkpoints
from tests.rowtools import run_cob
from tests.simdata import sim
from tests.unit.test_strategy import SPEC, SYMBOLS

ROOT = Path(__file__).resolve().parents[2]
NS = 1_000_000_000
TRADING = TradingSettings(min_order_notional=0.0, max_orders_per_minute=60)
REVERSION = "examples.strategies.imbalance_reversion:ImbalanceReversion"
BREAKOUT = "examples.strategies.pivot_breakout:PivotBreakout"


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return seeded_checkpoints(tmp_path_factory.mktemp("models"), SPEC)


@pytest.fixture(scope="module")
def market():
    return sim(150.0, seed=71, venues=("binance", "kraken", "okx", "coinbase", "bybit"), alpha=1.0)


def flow(messages, name: str | None, models_dir=None, symbols: SymbolsConfig = SYMBOLS):
    rows, dead = run_cob(messages, symbols, strategy=StrategyOptions(SPEC, models_dir, StrategySettings(name=name)),
                         trading=TRADING)
    return rows, dead


def of(rows, table: str, run: str | None = None):
    return [r for r in rows if r.table == table and (run is None or r.symbols.get("run") == run)]


# -- the built-ins, byte for byte as before ---------------------------------------------------

@pytest.mark.parametrize("name", golden.STRATEGIES)
def test_the_built_ins_give_the_rows_of_the_fixed_pipeline(name, tmp_path):
    """Digests written by the code before the API (tests/golden/strategies.py says how, and
    which hold on which CPU): the decisions, orders, fills, positions, equity and risk events
    are the same bytes."""
    expected = golden.expected(name)
    got = golden.run(name, seeded_checkpoints(tmp_path, SPEC), golden.market())
    if name == "rules":
        # it reads no model, so none runs now (the fixed pipeline ran both for nothing): no
        # model rows, and the rule signals' outcomes alone are left of the outcomes
        assert got.pop("model_outputs").startswith("0:") and got.pop("prediction_outcomes") == expected["rule_outcomes"]
        expected = {k: v for k, v in expected.items() if k not in ("model_outputs", "prediction_outcomes")}
    assert got == expected


# -- a user's strategies, from outside the package --------------------------------------------

def test_the_imbalance_example_decides_by_its_rule_from_outside_the_package(market):
    rows, dead = flow(market, REVERSION)
    assert not dead
    lean = {(r.symbols["symbol"], r.ts): r.columns["li_ma_5"] for r in of(rows, "cob_summary")}
    quality = {(r.symbols["symbol"], r.ts): r.columns["quality"] for r in of(rows, "data_quality")}
    decisions = of(rows, "decisions")
    assert len(decisions) > 200
    calls = 0
    for d in decisions:
        key = (d.symbols["symbol"], d.ts)
        x = lean[key]
        if quality[key] < 0.5:
            want = "HOLD"
        elif x is None or math.isnan(x):
            want = "HOLD"
        else:
            want = "SELL" if x >= 0.25 else "BUY" if x <= -0.25 else "HOLD"
        assert d.columns["action"] == want or d.columns["reason"] not in (None, "no_signal"), (key, x, d.columns)
        assert d.symbols["source"] == "imbalancereversion"
        calls += want != "HOLD"
    assert calls > 5 and of(rows, "fills") and not of(rows, "model_outputs")


def test_two_strategies_side_by_side_keep_separate_accounts_each_as_alone(market):
    both, _ = flow(market, f"{REVERSION},{BREAKOUT}")
    runs_seen = {r.symbols.get("run") for r in of(both, "equity")}
    assert runs_seen == {"paper-imbalancereversion", "paper-pivotbreakout"}
    for name, run in ((REVERSION, "paper-imbalancereversion"), (BREAKOUT, "paper-pivotbreakout")):
        alone, _ = flow(market, name)
        for table in ("decisions", "orders", "fills", "positions", "equity", "risk_events"):
            mine = sorted((r.ts, sorted(r.symbols.items()), sorted(r.columns.items()))
                          for r in of(both, table, run))
            ref = sorted((r.ts, sorted({**r.symbols, "run": run}.items()), sorted(r.columns.items()))
                         for r in of(alone, table, "paper"))
            assert mine == ref, (name, table)
    # the signals-and-models rows once, not once per run
    assert len(of(both, "signals")) == len(of(flow(market, REVERSION)[0], "signals"))


class Raising(Strategy):
    """Raises on every fifth second; buys on the others."""

    models = ()

    def on_second(self, ctx: Context) -> Intent | None:
        if ctx.s % 5 == 0:
            raise RuntimeError(f"boom at {ctx.s}\nsecond line")
        return Intent.buy(0.5, "always")


class Wrong(Strategy):
    models = ()

    def on_second(self, ctx: Context) -> Intent | None:
        return Intent("BUY", float("nan")) if ctx.s % 2 else "BUY"  # type: ignore[return-value]


def test_a_strategy_that_raises_costs_its_second_a_hold_and_a_dead_letter(market):
    rows, dead = flow(market, "tests.unit.test_strategy_api:Raising")
    decisions = of(rows, "decisions")
    raised = [d for d in decisions if (d.ts // NS) % 5 == 0]
    others = [d for d in decisions if (d.ts // NS) % 5 != 0]
    assert raised and all(d.columns["action"] == "HOLD" and d.columns["reason"] == "strategy_error" for d in raised)
    assert others and all(d.columns["action"] == "BUY" for d in others)
    assert len(dead) == len(raised)
    for d in dead:
        assert d.stage == "strategy" and "\n" not in d.reason
        assert d.reason.startswith("run paper: Raising.on_second raised RuntimeError: boom at ")
        assert d.reason.endswith("second line")
    assert of(rows, "fills")  # the flow went on: the other seconds traded


def test_an_intent_that_is_not_one_is_a_strategy_error(market):
    rows, dead = flow(market[:4000], "tests.unit.test_strategy_api:Wrong")
    reasons = {d.columns["reason"] for d in of(rows, "decisions")}
    assert reasons == {"strategy_error"}
    assert any("confidence nan is not a finite number" in d.reason for d in dead)
    assert any("returned str, not an Intent or None" in d.reason for d in dead)


# -- refused at start, in one line ------------------------------------------------------------

class NotAStrategy:
    pass


@pytest.mark.parametrize("name, message", [
    ("nosuchpkg.mod:X", "strategy 'nosuchpkg.mod:X': cannot import nosuchpkg.mod (ModuleNotFoundError: "
                        "No module named 'nosuchpkg')"),
    ("tests.unit.test_strategy_api:Nope", "strategy 'tests.unit.test_strategy_api:Nope': "
                                          "tests.unit.test_strategy_api has no Nope"),
    ("tests.unit.test_strategy_api:NotAStrategy", "NotAStrategy is not a Strategy"),
])
def test_a_plug_in_that_cannot_be_used_is_refused_in_one_line(name, message):
    with pytest.raises(PluginError) as e:
        runs(SYMBOLS, name)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_bad_parameters_name_their_key_and_the_symbol():
    cfg = SymbolsConfig.model_validate({"symbols": {"BTC-USD": {
        "bucket": 10, "venues": {"binance": "BTC-USDT"},
        "strategy": {"use": REVERSION, "params": {"enter": 2.0}}}}})
    with pytest.raises(PluginError, match=r"of BTC-USD: parameter enter: Input should be less than 1$"):
        runs(cfg, None)
    cfg = SymbolsConfig.model_validate({"symbols": {"BTC-USD": {
        "bucket": 10, "venues": {"binance": "BTC-USDT"},
        "strategy": {"use": REVERSION, "params": {"entr": 0.1}}}}})
    with pytest.raises(PluginError, match="parameter entr: Extra inputs are not permitted"):
        runs(cfg, None)
    [run] = runs(SymbolsConfig.model_validate({"symbols": {"BTC-USD": {
        "bucket": 10, "venues": {"binance": "BTC-USDT"},
        "strategy": {"use": REVERSION, "params": {"enter": 0.4}}}}}), None)
    assert run.classes["BTC-USD"][1].enter == 0.4 and run.models() == ()
    with pytest.raises(ValueError, match="a strategy is named twice"):
        runs(SYMBOLS, "rules,rules")


def test_the_command_line_refuses_a_bad_strategy_before_it_runs(tmp_path):
    capture = tmp_path / "none.jsonl"
    capture.write_text("")
    env = {k: v for k, v in os.environ.items() if k not in ("COBFLOW_SYMBOLS_FILE", "COBFLOW_STRATEGY__NAME")}
    out = subprocess.run([sys.executable, "-m", "cobflow", "backtest", "--input", str(capture), "--out",
                          str(tmp_path / "bt"), "--strategy", "nosuchpkg.mod:X"], capture_output=True, text=True,
                         cwd=ROOT, timeout=120, env=env)
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot import nosuchpkg.mod" in lines[0] and "Traceback" not in out.stderr
    assert not (tmp_path / "bt" / "report.json").exists()


def test_the_docs_strategy_runs_as_written(market, tmp_path, monkeypatch):
    """docs/strategies.md's "Write your own strategy" code, saved as mystrats/lean.py beside the user,
    selected by module:Class: it decides by its rule."""
    readme = (ROOT / "docs" / "strategies.md").read_text()
    section = readme[readme.index("## Write your own strategy"):]
    code = section[section.index("```python\n") + 10:section.index("```\n", section.index("```python\n"))]
    (tmp_path / "mystrats").mkdir()
    (tmp_path / "mystrats" / "lean.py").write_text(code)
    monkeypatch.syspath_prepend(str(tmp_path))
    rows, dead = flow(market, "mystrats.lean:Lean")
    assert not dead
    lean = {(r.symbols["symbol"], r.ts): r.columns["li_ma_5"] for r in of(rows, "cob_summary")}
    calls = [(d.columns["action"], lean[(d.symbols["symbol"], d.ts)]) for d in of(rows, "decisions")
             if d.columns["action"] != "HOLD"]
    assert calls and all((a == "BUY") == (x <= -0.25) and (a == "SELL") == (x >= 0.25) for a, x in calls)
    assert {d.symbols["source"] for d in of(rows, "decisions")} == {"lean"}
