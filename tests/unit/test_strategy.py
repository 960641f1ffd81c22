"""Rule signals on crafted inputs worked out by hand; batched inference equal to one symbol
at a time; the flow with models giving the same rows on one worker and two; decisions and
outcomes that say what they are."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cobflow.config import SymbolsConfig
from cobflow.metrics.signals import ImbalanceCross, LiquidityAnomaly, arbitrage, executable
from cobflow.models.dataset import LabelSpec
from cobflow.models.runtime import ModelRunner
from cobflow.operators.strategy import StrategyOptions
from tests.modeltools import seeded_checkpoints
from tests.rowtools import plain_sorted, run_cob
from tests.simdata import sim


def test_the_imbalance_signal_fires_where_the_average_crosses_a_threshold():
    cross = ImbalanceCross(0.3)
    got = [cross.second(v) for v in (0.1, 0.25, 0.35, 0.4, 0.2, -0.29, -0.31, -0.5, None, 0.31)]
    fired = [(i, s.direction, s.value) for i, s in enumerate(got) if s is not None]
    # the crossings only; None is no value: -0.5 then 0.31 crosses +0.3
    assert fired == [(2, 1, 0.35), (6, -1, -0.31), (9, 1, 0.31)]


def test_a_liquidity_anomaly_is_a_robust_z_score_against_the_last_ten_minutes():
    a = LiquidityAnomaly(window_s=600, z=4.0)
    for s in range(60):
        assert a.second(s, 100.0 if s % 2 else 102.0) is None  # median 101, MAD 1
    sig = a.second(60, 110.0)
    assert sig is not None and sig.value == pytest.approx(9 / 1.4826) and sig.direction == 0
    assert a.second(61, 104.0) is None  # z = 3 / 1.4826 = 2.0
    # ten minutes later the old seconds are gone from the window: 60 values of 110-ish now
    b = LiquidityAnomaly(window_s=600, z=4.0)
    for s in range(40):
        b.second(s, 100.0)
    assert b.second(700, 500.0) is None  # everything before 100 s has left the window: too few seconds


@given(st.lists(st.one_of(st.integers(0, 6).map(float), st.floats(0, 1e6, allow_nan=False)), min_size=1,
                max_size=80))
@settings(max_examples=300, deadline=None)
def test_the_sorted_window_gives_numpys_median_and_mad_bit_for_bit(values):
    from cobflow.metrics.signals import median_and_mad

    a = np.array(values)
    median = float(np.median(a))
    assert median_and_mad(sorted(values)) == (median, float(np.median(np.abs(a - median))))


@given(st.lists(st.tuples(st.integers(1, 40), st.integers(0, 4).map(float)), min_size=40, max_size=400))
@settings(max_examples=60, deadline=None)
def test_the_anomaly_z_is_numpys_as_seconds_come_and_go(steps):
    """Against the window's np.median and MAD recomputed every second (repeats and gaps)."""
    a, s, window = LiquidityAnomaly(window_s=60, z=0.5), 0, []
    for gap, total in steps:
        s += gap
        window = [(t, v) for t, v in window if t > s - 60]
        got = a.second(s, total * 10 + gap)
        want = None
        if len(window) >= 30:
            v = np.array([x for _, x in window])
            med = float(np.median(v))
            mad = float(np.median(np.abs(v - med))) * 1.4826
            z = (total * 10 + gap - med) / mad if mad > 0 else 0.0
            want = z if mad > 0 and abs(z) >= 0.5 else None
        assert (got.value if got is not None else None) == want
        window.append((s, total * 10 + gap))


class Book:
    def __init__(self, bids, asks):
        self.bids, self.asks = sorted(bids), sorted(asks)

    def arrays(self):
        bp, bq = (np.array([p for p, _ in self.bids]), np.array([q for _, q in self.bids]))
        ap, aq = (np.array([p for p, _ in self.asks]), np.array([q for _, q in self.asks]))
        return bp, bq, ap, aq


def test_arbitrage_walks_the_books_for_the_size_net_of_both_taker_fees():
    a = Book(bids=[(100.5, 1.0), (100.4, 1.0)], asks=[(100.9, 1.0)])
    b = Book(bids=[(99.0, 1.0)], asks=[(100.0, 0.5), (100.1, 1.0)])
    mid = 100.25
    sig = arbitrage({"a": a, "b": b}, 1.0, {"a": 10.0, "b": 10.0}, mid)
    # sell 1 into a's bid at 100.5; buy 1 from b: 0.5 at 100.0 and 0.5 at 100.1 = 100.05
    want = (100.5 * (1 - 0.001) - 100.05 * (1 + 0.001)) / mid * 1e4
    assert sig is not None and sig.value == pytest.approx(want) and sig.detail == "sell a, buy b"
    # 30 bps of fees on each side eat the 45 bps edge
    assert arbitrage({"a": a, "b": b}, 1.0, {"a": 30.0, "b": 30.0}, mid) is None
    # 2.5 units: a's bids hold only 2
    assert executable(*a.arrays()[:2], 2.5, sell=True) is None
    assert executable(*b.arrays()[2:], 1.5, sell=False) == pytest.approx((0.5 * 100.0 + 1.0 * 100.1) / 1.5)


SYMBOLS = SymbolsConfig.model_validate({"symbols": {
    "BTC-USD": {"bucket": 10, "venues": {"binance": "BTC-USDT", "kraken": "BTC-USD", "okx": "BTC-USDT"}},
    "ETH-USD": {"bucket": "2bps", "venues": {"coinbase": "ETH-USD", "bybit": "ETH-USDT"}}}})
SPEC = LabelSpec(window_s=20, horizon_s=10)


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    return seeded_checkpoints(tmp_path_factory.mktemp("models"), SPEC)


def test_batched_inference_gives_each_symbol_what_it_gets_alone(models_dir):
    runner = ModelRunner(models_dir, ["BTC-USD", "ETH-USD"])
    rng = np.random.default_rng(4)

    def inputs():
        return (rng.normal(size=(20, 220)).astype(np.float32), rng.random((2, 60, 41)).astype(np.float32),
                rng.normal(size=30).astype(np.float32), 1.0)

    a, b = inputs(), inputs()
    both = runner.run({"BTC-USD": a, "ETH-USD": b})
    alone = {**runner.run({"BTC-USD": a}), **runner.run({"ETH-USD": b})}
    for sym in both:
        assert np.array_equal(both[sym].direction_probs, alone[sym].direction_probs)
        assert np.array_equal(both[sym].q, alone[sym].q) and np.array_equal(both[sym].pivots, alone[sym].pivots)
    assert not np.array_equal(both["BTC-USD"].direction_probs, both["ETH-USD"].direction_probs)


@pytest.fixture(scope="module")
def flow_rows(models_dir):
    msgs = sim(90.0, seed=44, venues=("binance", "kraken", "okx", "coinbase", "bybit"))
    opts = StrategyOptions(SPEC, models_dir)
    one, _ = run_cob(msgs, SYMBOLS, strategy=opts)
    two, _ = run_cob(msgs, SYMBOLS, workers=2, strategy=opts)
    return one, two


def test_the_flow_with_models_gives_the_same_rows_on_one_and_two_workers(flow_rows):
    one, two = flow_rows
    tables = {r.table for r in one}
    assert {"model_outputs", "decisions", "prediction_outcomes"} <= tables
    assert plain_sorted(one) == plain_sorted(two)


def test_one_decision_per_features_row_and_every_hold_says_why(flow_rows):
    one, _ = flow_rows
    feats = {(r.symbols["symbol"], r.ts) for r in one if r.table == "features"}
    decisions = [r for r in one if r.table == "decisions"]
    assert {(r.symbols["symbol"], r.ts) for r in decisions} == feats and len(decisions) == len(feats)
    assert {r.columns["action"] for r in decisions} <= {"BUY", "SELL", "HOLD"}
    refusals = {"halted", "data_quality", "max_order_notional", "max_position_notional", "max_orders_per_minute",
                "stop_loss", "max_drawdown_pct", "daily_loss_pct", "at_target", "min_order_notional", "no_mid"}
    for r in decisions:  # a BUY or SELL has a reason when execution refused or clipped it
        reason = r.columns["reason"]
        if r.columns["action"] == "HOLD":
            assert reason
        else:
            assert reason is None or set(reason.split(",")) <= refusals, reason
    outputs = [r for r in one if r.table == "model_outputs"]
    first = min(r.ts for r in one if r.table == "features") // 1_000_000_000
    # the cnn runs once it has its 20 s window, on every second after that
    assert min(r.ts for r in outputs) // 1_000_000_000 - first == SPEC.window_s - 1
    assert {r.symbols["model_type"] for r in outputs} == {"cnn", "dqn"}


def test_outcomes_score_each_prediction_after_its_horizon_by_hand(flow_rows):
    one, _ = flow_rows
    mids = {(r.symbols["symbol"], r.ts // 1_000_000_000): r.columns["mid"] for r in one if r.table == "cob_summary"}
    outcomes = [r for r in one if r.table == "prediction_outcomes" and r.symbols["source"] == "cnn"]
    assert outcomes
    for r in outcomes[:50]:
        sym, s = r.symbols["symbol"], r.ts // 1_000_000_000
        later = min(t for (x, t) in mids if x == sym and t >= s + SPEC.horizon_s and mids[(x, t)] is not None)
        ret = math.log(mids[(sym, later)] / mids[(sym, s)]) * 1e4
        assert r.columns["realized_return_bps"] == pytest.approx(ret)
        d = r.columns["direction"]
        assert r.columns["hit"] == (abs(ret) <= SPEC.dead_zone_bps if d == 0 else d * ret > 0)


def test_importing_a_flow_or_the_command_loads_no_torch():
    """torch comes in only where a model runs (below: a flow whose strategies read models)."""
    import subprocess
    import sys

    probe = "import sys, {m}; print('torch' in sys.modules)"
    for module in ("cobflow.dataflows.cob", "cobflow.dataflows.strategy", "cobflow.app.cli", "cobflow.app.backtest"):
        out = subprocess.run([sys.executable, "-c", probe.format(m=module)], capture_output=True, text=True, check=True)
        assert out.stdout.strip() == "False", module


def _decide(state, sym: str, s: int, probs, q=None, quality: float = 1.0):
    """One second through the signals-and-models step with these model outputs, then the
    strategy's call on it (no flow, no torch)."""
    from cobflow.models.output import SlotOutput
    from cobflow.operators.strategy import Second
    from cobflow.strategy import AccountView, Context

    step, strat = state
    sec = Second(sym, s, quality, {"mid": 100.0}, None, {"cnn": [], "rl": []})
    _, record = step._after(step.symbols[sym], sec, SlotOutput(np.array(probs), np.zeros((5, 2)),
                                                               None if q is None else np.array(q)))
    intent = strat.on_second(Context(record, 0.0, AccountView(1e5, 1e5, 1e5, False, {}), 0.5))
    return {"action": intent.action, "score": intent.score, "confidence": intent.confidence,
            "reason": intent.reason, "source": intent.source}


def _state(smoothing_s: int, threshold: float = 0.2, name: str = "combined"):
    from cobflow.operators.strategies import runs
    from cobflow.operators.strategy import StrategyState

    cfg = SymbolsConfig.model_validate({"symbols": {"BTC-USD": {
        "bucket": 10, "venues": {"binance": "BTC-USDT"},
        "strategy": {"smoothing_s": smoothing_s, "decision_threshold": threshold}}}})
    [run] = runs(cfg, name)

    class NoModels:  # models present, never asked here (the test hands the outputs in)
        def names(self):
            return {}

    return StrategyState(cfg, SPEC, models=NoModels()), run.instances()["BTC-USD"]  # type: ignore[arg-type]


def test_a_models_vote_is_the_exponential_average_of_its_scores():
    # smoothing 3: alpha = 2 / (3 + 1) = 0.5. cnn scores p_up - p_down: 0.8, 0.0, 0.0, -0.8
    st = _state(3)
    scores = [_decide(st, "BTC-USD", s, p)["score"] for s, p in
              enumerate([(0.1, 0.0, 0.9), (0.5, 0.0, 0.5), (0.5, 0.0, 0.5), (0.9, 0.0, 0.1)])]
    assert scores == pytest.approx([0.8, 0.4, 0.2, -0.3])  # 0.8; 0.8/2; 0.4/2; 0.2 + (-0.8 - 0.2)/2
    # one cnn vote (weight 0.5 until 20 outcomes), so the combined score is its average
    acts = [_decide(_state(1), "BTC-USD", 0, p)["action"] for p in [(0.1, 0.0, 0.9)]]
    assert acts == ["BUY"]
    # unsmoothed, one second's -0.8 flips to SELL; with 3 s it stays short of the threshold
    st1, st3 = _state(1, 0.25), _state(3, 0.25)
    for s, p in enumerate([(0.1, 0.0, 0.9), (0.9, 0.0, 0.1)]):
        a1, a3 = _decide(st1, "BTC-USD", s, p), _decide(st3, "BTC-USD", s, p)
    assert a1["action"] == "SELL" and a3["action"] == "HOLD" and a3["score"] == pytest.approx(0.0)


def test_a_dqn_hold_abstains_and_the_strategy_name_picks_the_sources():
    # dqn HOLD (q argmax 2): only the cnn votes, so the score is the cnn's, not its half
    st = _state(1)
    d = _decide(st, "BTC-USD", 0, (0.2, 0.0, 0.8), q=(0.0, 0.0, 5.0))
    assert d["score"] == pytest.approx(0.6) and d["action"] == "BUY"
    # dqn SELL with softmax(q)[1] = e^2 / (2 + e^2): both vote at weight 0.5
    sell = math.exp(2) / (2 + math.exp(2))
    d = _decide(_state(1), "BTC-USD", 0, (0.2, 0.0, 0.8), q=(0.0, 2.0, 0.0))
    assert d["score"] == pytest.approx((0.6 - sell) / 2)
    # `cnn` hears the cnn alone, `rules` no model at all
    d = _decide(_state(1, name="cnn"), "BTC-USD", 0, (0.2, 0.0, 0.8), q=(0.0, 2.0, 0.0))
    assert d["score"] == pytest.approx(0.6) and d["source"] == "cnn"
    d = _decide(_state(1, name="rules"), "BTC-USD", 0, (0.2, 0.0, 0.8), q=(0.0, 2.0, 0.0))
    assert d["action"] == "HOLD" and d["reason"] == "no_signal"


def test_strategy_names_are_checked():
    from cobflow.config import StrategySettings
    from cobflow.operators.strategies import BUILTINS

    with pytest.raises(ValueError, match="unknown strategy 'momentum'; built-in: combined, models, cnn, rules, "
                                         "maker; yours: module:Class"):
        StrategySettings(name="momentum")
    heard = {n: [s for s in ("cnn", "dqn", "imbalance", "arbitrage") if BUILTINS[n].listens_to(s)]  # type: ignore[attr-defined]
             for n in ("combined", "models", "cnn", "rules", "maker")}
    assert heard == {"combined": ["cnn", "dqn", "imbalance", "arbitrage"], "models": ["cnn", "dqn"],
                     "cnn": ["cnn"], "rules": ["imbalance", "arbitrage"],
                     "maker": ["cnn", "dqn", "imbalance", "arbitrage"]}  # combined's calls, worked by limit orders
    assert StrategySettings(name="rules, mypkg.x:Mine").name == "rules,mypkg.x:Mine"


def test_a_flow_whose_strategies_read_no_model_never_imports_torch(tmp_path):
    """The rules strategy reads no model: its flow runs the whole capture without torch in
    the process (start-up and memory); the models strategy's loads it."""
    import subprocess
    import sys

    from cobflow.capture import write_capture

    capture = tmp_path / "in.jsonl"
    write_capture(capture, sim(20.0, seed=3))
    script = (
        "import sys\n"
        "from bytewax.testing import run_main\n"
        "from cobflow.config import load_settings\n"
        "from cobflow.dataflows.strategy import file_flow\n"
        "settings = load_settings(strategy={'name': sys.argv[3]}, models={'dir': sys.argv[4]})\n"
        "run_main(file_flow(sys.argv[1], sys.argv[2], 'tests/data/cob_e2e.yaml', settings=settings))\n"
        "print('torch' in sys.modules)\n")
    models = seeded_checkpoints(tmp_path / "models", LabelSpec(window_s=10, horizon_s=10))
    for name, loaded in (("rules", "False"), ("models", "True")):
        out = subprocess.run([sys.executable, "-c", script, str(capture), str(tmp_path / name), name, str(models)],
                             capture_output=True, text=True, timeout=300, cwd=Path(__file__).resolve().parents[2],
                             env={k: v for k, v in os.environ.items() if not k.startswith("COBFLOW_")})
        assert out.returncode == 0, out.stderr[-2000:]
        assert out.stdout.strip().splitlines()[-1] == loaded, name
