"""Models that keep learning (issue 34), the parts that need no trained model: the champion
pointer of the checkpoint store, the champion/challenger test worked by hand, and the hot
swap in the strategy flow (a promoted checkpoint runs from the next second, every second
keeps exactly one decision, a damaged or incompatible checkpoint is refused and the running
one kept, a restart keeps the model it ran)."""

from __future__ import annotations

import math
import pickle
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cobflow.config import PluginSpec, StrategySettings, TradingSettings
from cobflow.metrics.signals import SignalSource
from cobflow.metrics.vectors import LAYOUT
from cobflow.models.checkpoints import CheckpointError, CheckpointStore
from cobflow.models.cnn import CnnModel
from cobflow.models.dataset import DOWN, UP, LabelSpec
from cobflow.models.promotion import binomial_tail, challenge, independent
from cobflow.models.runtime import ModelRunner
from cobflow.models.train import Normalised
from cobflow.operators.state import unstamp
from cobflow.operators.strategy import StrategyLogic, StrategyOptions
from cobflow.plugins import PluginParams
from tests.modeltools import seeded_checkpoints
from tests.rowtools import run_cob
from tests.simdata import sim
from tests.unit.test_strategy import SPEC, SYMBOLS

VENUES = ("binance", "kraken", "okx", "coinbase", "bybit")


def cnn_checkpoint(root: Path, seed: int, metric: float, spec: LabelSpec = SPEC) -> str:
    """A seeded cnn saved into root's cnn store; its name."""
    torch.manual_seed(seed)
    model = Normalised(CnnModel(spec.window_s, 300 // spec.heatmap_pool_s))
    meta = {"layout": LAYOUT, "label_spec": asdict(spec), "metric_name": "val_directional_accuracy"}
    entry = CheckpointStore(root, "cnn").save(model.state_dict(), meta, metric)
    assert entry is not None
    return entry.name


# -- the champion pointer -----------------------------------------------------------------


def test_the_champion_is_the_promoted_checkpoint_else_the_best_and_is_never_pruned(tmp_path):
    a = cnn_checkpoint(tmp_path, 1, 0.50)
    b = cnn_checkpoint(tmp_path, 2, 0.60)
    store = CheckpointStore(tmp_path, "cnn", keep=2)
    assert store.champion().name == b  # nothing promoted: the best
    store.promote(a, "test")
    assert CheckpointStore(tmp_path, "cnn", keep=2).champion().name == a
    for metric in (0.7, 0.8, 0.9):  # better ones push the others out, never the champion
        store.save(Normalised(CnnModel(SPEC.window_s, 60)).state_dict(), {"layout": LAYOUT}, metric)
    names = [e.name for e in CheckpointStore(tmp_path, "cnn", keep=2).entries]
    assert a in names and len(names) == 2 and (tmp_path / "cnn" / f"{a}.pt").exists()
    assert not (tmp_path / "cnn" / f"{b}.pt").exists()
    with pytest.raises(CheckpointError, match="no checkpoint cnn-nope"):
        store.promote("cnn-nope")


def test_a_forced_save_is_kept_whatever_its_rank(tmp_path):
    store = CheckpointStore(tmp_path, "cnn", keep=1)
    cnn_checkpoint(tmp_path, 1, 0.9)
    store = CheckpointStore(tmp_path, "cnn", keep=1)
    state = Normalised(CnnModel(SPEC.window_s, 60)).state_dict()
    assert store.save(state, {"layout": LAYOUT}, 0.1) is None
    kept = store.save(state, {"layout": LAYOUT}, 0.1, force=True)
    assert kept is not None and [e.name for e in store.entries] == [kept.name]


def test_a_reader_repairs_nothing_and_the_writer_removes_half_written_files(tmp_path):
    name = cnn_checkpoint(tmp_path, 1, 0.5)
    folder = tmp_path / "cnn"
    (folder / "cnn-20260101T000000-000000001.pt.tmp").write_bytes(b"half")  # a writer's file on its way
    (folder / "cnn-20260101T000000-000000002.pt").write_bytes(b"not yet indexed")
    CheckpointStore(tmp_path, "cnn", read_only=True)
    assert len(list(folder.glob("*.pt*"))) == 3  # the flow beside the learner touches nothing
    CheckpointStore(tmp_path, "cnn")
    assert sorted(p.name for p in folder.glob("*.pt*")) == [f"{name}.pt"]


# -- the test -----------------------------------------------------------------------------


def test_the_binomial_tail_is_exact():
    assert binomial_tail(8, 10) == pytest.approx((45 + 10 + 1) / 1024, rel=1e-12)
    assert binomial_tail(0, 5) == 1.0 and binomial_tail(6, 5) == 0.0
    assert binomial_tail(3, 3) == pytest.approx(1 / 8)


def test_independent_labels_are_one_moved_label_per_symbol_per_horizon():
    seconds = np.array([0, 2, 4, 10, 12, 0, 3, 19, 21])
    symbols = ["A"] * 5 + ["B"] * 4
    direction = np.array([1, UP, DOWN, UP, UP, DOWN, UP, 1, UP])  # 1 = flat: never a label here
    # A: window 0 -> the first moved (s=2), window 1 -> s=10; B: window 0 -> s=0, window 1: flat only, window 2 -> 21
    assert independent(seconds, symbols, direction, 10).tolist() == [1, 3, 5, 8]


def probs(up: np.ndarray) -> np.ndarray:
    return np.where(up[:, None], [[0.2, 0.1, 0.7]], [[0.7, 0.1, 0.2]])


def test_a_challenger_on_noise_is_refused_and_one_on_the_signal_promoted():
    rng = np.random.default_rng(5)
    n = 200
    truth = rng.random(n) < 0.5
    direction = np.where(truth, UP, DOWN)
    coin = rng.random(n) < 0.5  # a champion (or challenger) that learned nothing
    skilled = np.where(rng.random(n) < 0.7, truth, ~truth)  # right 70% of the time
    refused = challenge(probs(coin), probs(skilled), direction)
    assert not refused.promote and refused.challenger_score < refused.champion_score
    promoted = challenge(probs(skilled), probs(coin), direction)
    # worked by hand: b = skilled right and coin wrong, c = the reverse; p = P(Bin(b + c, 1/2) >= b)
    b = int(((skilled == truth) & (coin != truth)).sum())
    c = int(((coin == truth) & (skilled != truth)).sum())
    assert promoted.promote and promoted.labels == n
    assert promoted.p_value == pytest.approx(sum(math.comb(b + c, j) for j in range(b, b + c + 1)) / 2 ** (b + c))
    assert promoted.challenger_score == pytest.approx(np.mean(skilled == truth))
    # no champion: against a coin, right k of n
    alone = challenge(probs(skilled), None, direction)
    k = int((skilled == truth).sum())
    assert alone.promote and alone.p_value == pytest.approx(sum(math.comb(n, j) for j in range(k, n + 1)) / 2 ** n)
    # too few independent labels: refused whatever the scores
    few = challenge(probs(truth[:10]), None, direction[:10])
    assert not few.promote and "fewer than 30" in few.reason and few.challenger_score == 1.0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=80))
def test_a_challenger_equal_to_the_champion_is_never_promoted(calls):
    up = np.array([a for a, _ in calls])
    direction = np.where(np.array([b for _, b in calls]), UP, DOWN)
    v = challenge(probs(up), probs(up), direction, min_labels=1)
    assert not v.promote and v.p_value == 1.0 and 0.0 <= v.challenger_score <= 1.0


# -- the hot swap in the flow --------------------------------------------------------------


class Promoter(SignalSource):
    """A rule signal that, at second `at_s`, promotes a checkpoint: the learner's promotion at
    a known second of the flow's data (it never fires a signal)."""

    kind = "promoter"

    class Params(PluginParams):
        at_s: int
        dir: str
        checkpoint: str

    def on_second(self, s, cob, features):
        if s == self.params.at_s:
            CheckpointStore(Path(self.params.dir), self.params.checkpoint.rsplit("-", 2)[0]).promote(
                self.params.checkpoint, "test")
        return None


def run_with_promotion(models: Path, checkpoint: str, at_s: int, monkeypatch) -> tuple[list, list]:
    monkeypatch.setattr(ModelRunner, "WATCH_EVERY_S", 0.0)  # look before every round
    opts = StrategyOptions(SPEC, models, StrategySettings(name="combined"),
                           signals=(PluginSpec(use="tests.unit.test_learner:Promoter",
                                               params={"at_s": at_s, "dir": str(models), "checkpoint": checkpoint}),),
                           watch=True)
    return run_cob(sim(100.0, seed=93, venues=VENUES, alpha=1.0), SYMBOLS, strategy=opts,
                   trading=TradingSettings(min_order_notional=0.0))


START = 1_767_225_600  # the simulator's first second


def test_a_promoted_cnn_runs_from_the_next_second_and_every_second_keeps_one_decision(tmp_path, monkeypatch):
    models = seeded_checkpoints(tmp_path / "models", SPEC)
    old = CheckpointStore(models, "cnn").champion().name
    new = cnn_checkpoint(models, 11, 0.1)  # kept, not the best: only a promotion runs it
    at = START + 60
    rows, dead = run_with_promotion(models, new, at, monkeypatch)
    assert not dead
    [event] = [r for r in rows if r.table == "model_events"]
    swap_s = event.ts // 10**9
    assert event.symbols == {"kind": "cnn", "event": "swapped", "source": "flow"}
    assert event.columns["checkpoint"] == new and event.columns["running"] == old
    # each symbol's seconds: the old cnn up to a second boundary, the new one from there on,
    # switching within two seconds of the promotion (symbols' seconds are not in lockstep)
    outs = [r for r in rows if r.table == "model_outputs" and r.symbols["model_type"] == "cnn"]
    for symbol in ("BTC-USD", "ETH-USD"):
        names = [r.symbols["model_name"] for r in sorted(outs, key=lambda r: r.ts) if r.symbols["symbol"] == symbol]
        first_new = min(r.ts // 10**9 for r in outs if r.symbols["symbol"] == symbol and r.symbols["model_name"] == new)
        k = names.index(new)
        assert set(names[:k]) == {old} and set(names[k:]) == {new} and k > 30
        assert swap_s <= first_new and at <= first_new <= at + 2
    decisions = [r for r in rows if r.table == "decisions"]
    keys = [(r.symbols["symbol"], r.ts) for r in decisions]
    features = {(r.symbols["symbol"], r.ts) for r in rows if r.table == "features"}
    assert len(keys) == len(set(keys)) and set(keys) == features  # none lost, none doubled
    heard = {r.columns["models"] for r in decisions if r.columns["models"]}
    assert any(f"cnn:{old}" in h for h in heard) and any(f"cnn:{new}" in h for h in heard)
    assert all(f"cnn:{new}" in r.columns["models"] for r in decisions
               if r.ts // 10**9 > at + 2 and r.columns["models"])


def test_a_damaged_or_incompatible_checkpoint_is_refused_and_the_running_one_kept(tmp_path, monkeypatch):
    models = seeded_checkpoints(tmp_path / "models", SPEC)
    old = CheckpointStore(models, "cnn").champion().name
    damaged = cnn_checkpoint(models, 12, 0.1)
    (models / "cnn" / f"{damaged}.pt").write_bytes(b"\x00" * 64)
    rows, dead = run_with_promotion(models, damaged, START + 50, monkeypatch)
    [event] = [r for r in rows if r.table == "model_events"]
    assert event.symbols["event"] == "swap_refused" and event.columns["checkpoint"] == damaged
    assert "not a readable checkpoint" in event.columns["reason"] and event.columns["running"] == old
    assert {r.symbols["model_name"] for r in rows if r.table == "model_outputs"
            and r.symbols["model_type"] == "cnn"} == {old}
    # another label spec: its windows are not the ones the flow builds
    CheckpointStore(models, "cnn").promote(old)
    other = cnn_checkpoint(models, 13, 0.1, LabelSpec(window_s=30, horizon_s=10))
    runner = ModelRunner(models, ["BTC-USD", "ETH-USD"], watch=True)
    runner.WATCH_EVERY_S = 0.0
    CheckpointStore(models, "cnn").promote(other)
    [event] = runner.refresh(START)
    assert event.event == "swap_refused" and "label spec" in event.reason and runner.cnn_name == old
    assert runner.refresh(START + 1) == []  # refused once, not tried again every second
    # an index that cannot be read (edited by hand, damaged): a row, the running one kept
    (models / "cnn" / "index.json").write_text("{not json")
    [event] = runner.refresh(START + 2)
    assert event.event == "swap_refused" and "not a checkpoint index" in event.reason and runner.cnn_name == old


def test_a_restarted_flow_runs_the_checkpoint_it_ran_and_a_watching_one_then_takes_the_champion(tmp_path):
    models = seeded_checkpoints(tmp_path / "models", SPEC)
    ran = CheckpointStore(models, "cnn").champion().name
    fixed = StrategyOptions(SPEC, models, StrategySettings(name="combined"))  # a backtest's: no watching
    logic = StrategyLogic(None, SYMBOLS, fixed)
    assert logic.state.running["cnn"] == ran
    stored = pickle.dumps(logic.snapshot())  # as the recovery store keeps it: each resume reads its own copy

    def snapshot():
        return pickle.loads(stored)

    better = cnn_checkpoint(models, 14, 0.99)  # `cobflow train` while the flow was down: now the best
    assert CheckpointStore(models, "cnn").champion().name == better
    again = StrategyLogic(unstamp(snapshot(), "strategy"), SYMBOLS, fixed)
    assert again.state.models.cnn_name == ran and again.state.running["cnn"] == ran
    assert again.state.models.refresh(START) == []  # resumed, a backtest runs what it ran
    # watching (a live flow), the resumed flow starts with what it ran, and its first round
    # swaps to the champion: what the folder says runs, with a row that says so
    watching = StrategyLogic(unstamp(snapshot(), "strategy"), SYMBOLS, replace(fixed, watch=True))
    assert watching.state.models.cnn_name == ran
    [event] = [e for e in watching.state._swap(START) if e.kind == "cnn"]
    assert (event.event, event.checkpoint, event.running) == ("swapped", better, ran)
    assert watching.state.running["cnn"] == better
    # the champion damaged while it was down: the resumed flow keeps what it ran, and starts
    (models / "cnn" / f"{better}.pt").write_bytes(b"\x00")
    damaged = StrategyLogic(unstamp(snapshot(), "strategy"), SYMBOLS, replace(fixed, watch=True))
    [event] = [e for e in damaged.state._swap(START) if e.kind == "cnn"]
    assert event.event == "swap_refused" and damaged.state.running["cnn"] == ran


def test_a_watching_flow_with_no_checkpoint_yet_takes_the_first_one_promoted(tmp_path):
    runner = ModelRunner(tmp_path, ["BTC-USD", "ETH-USD"], spec=SPEC, watch=True)
    runner.WATCH_EVERY_S = 0.0
    assert runner.cnn is None and runner.refresh(START) == []
    name = cnn_checkpoint(tmp_path, 15, 0.6)
    CheckpointStore(tmp_path, "cnn").withhold("refused")  # kept, not passed: nothing runs
    assert runner.refresh(START) == [] and runner.cnn is None
    assert not ModelRunner.available(tmp_path)
    CheckpointStore(tmp_path, "cnn").promote(name)
    [event] = runner.refresh(START + 1)
    assert event.event == "swapped" and runner.cnn_name == name and event.running == ""


# -- the commands ---------------------------------------------------------------------------


def test_models_promote_and_list_show_and_change_what_the_flow_runs(tmp_path, capsys, monkeypatch):
    from cobflow.app.cli import main

    monkeypatch.setenv("COBFLOW_MODELS__DIR", str(tmp_path))
    a = cnn_checkpoint(tmp_path, 1, 0.7)
    b = cnn_checkpoint(tmp_path, 2, 0.6)
    assert main(["models", "list"]) == 0
    marked = [line for line in capsys.readouterr().out.splitlines() if line.startswith("*")]
    assert len(marked) == 2 and a in marked[0]  # the best runs until something is promoted (and the legend)
    assert main(["models", "promote", b]) == 0
    assert "is the cnn champion" in capsys.readouterr().out
    assert CheckpointStore(tmp_path, "cnn").champion().name == b
    assert main(["models", "list"]) == 0
    assert [line for line in capsys.readouterr().out.splitlines() if line.startswith("* cnn")][0].split()[3] == b
    assert main(["models", "promote", "cnn-20200101T000000-000000000"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no checkpoint cnn-20200101T000000-000000000" in err[0]
    assert main(["models", "promote", "lstm-20200101T000000-000000000"]) == 2
    assert "no lstm checkpoints in" in capsys.readouterr().err


def test_learn_replay_refuses_a_folder_without_features_in_one_line(tmp_path, capsys):
    from cobflow.app.cli import main

    assert main(["learn", "--replay", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a `cobflow compute` output folder" in err[0]


# -- drift ------------------------------------------------------------------------------------


class Outcomes:
    """A row source with only scored outcomes (what drift reads)."""

    def __init__(self, rows):
        self.rows = rows

    def outcomes(self, source, since_s, until_s):
        return [r for r in self.rows if since_s <= r[1] <= until_s and source == "cnn"]


def test_drift_is_a_symbol_under_the_floor_on_every_outcome_for_the_whole_span(tmp_path):
    from cobflow.app.learn import Learner
    from cobflow.config import load_settings

    settings = load_settings(models={"dir": str(tmp_path), "horizon_s": 60,
                                     "learn": {"drift_floor": 0.5, "drift_for_s": 600}})
    now = START + 3600
    span = range(now - 660, now - 59, 10)  # outcomes of predictions made over the last 600 s (+ horizon)
    low = [("BTC-USD", s, 0.40) for s in span] + [("ETH-USD", s, 0.70) for s in span]
    lrn = Learner(settings, Outcomes(low))  # type: ignore[arg-type]
    why = lrn.drift(now)
    assert why is not None and "BTC-USD" in why and "600 s" in why and "0.400" in why
    assert lrn.drift(now + 300) is None  # at most one early retrain per span
    lrn.source = Outcomes(low + [(sym, s + 600, a) for sym, s, a in low])  # type: ignore[assignment]
    assert lrn.drift(now + 600) is not None  # still under the floor a span later: again
    # one outcome at the floor or above, or outcomes that do not cover the span: no drift
    once = [*low[:-1], ("BTC-USD", now - 60, 0.55)]
    assert Learner(settings, Outcomes(once)).drift(now) is None  # type: ignore[arg-type]
    late = [r for r in low if r[1] > now - 300]
    assert Learner(settings, Outcomes(late)).drift(now) is None  # type: ignore[arg-type]
