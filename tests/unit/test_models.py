"""The models learn a planted signal and find none in noise; their checkpoints keep the top
k across restarts and refuse what they must; labels look only forward and the split keeps
its embargo."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from cobflow.config import load_settings, load_symbols
from cobflow.metrics.vectors import LayoutMismatch
from cobflow.models.checkpoints import CheckpointError, CheckpointStore
from cobflow.models.dataset import DOWN, UP, LabelSpec, load_series, make_samples, walk_forward
from cobflow.models.promotion import independent
from cobflow.models.train import TrainConfig, cnn_outputs, directional_accuracy, train_cnn

E2E = Path(__file__).resolve().parent.parent / "data" / "cob_e2e.yaml"
LEARN = Path(__file__).resolve().parent.parent / "data" / "learn_two_venues.yaml"
SPEC = LabelSpec()


@functools.lru_cache(maxsize=8)
def hour(seed: int, alpha: float, trend_scale: float, root: str, signal: str = "touch", hours: int = 1,
         symbols: Path = E2E) -> Path:
    """Simulated hours of 2 symbols x 5 venues through `cobflow compute` (features included)."""
    from cobflow.app.compute import compute
    from cobflow.connectors.simulator import SimConfig
    from cobflow.connectors.simulator.to_file import simulate_to_file

    folder = Path(root) / f"hour-{seed}-{alpha:g}-{trend_scale:g}-{signal}-{hours}-{symbols.stem}"
    capture = folder.with_suffix(".jsonl")
    simulate_to_file(load_symbols(symbols), SimConfig(seed=seed, duration_s=3600 * hours, alpha=alpha,
                                                      trend_scale=trend_scale, signal=signal), capture)
    compute(load_settings(symbols_file=symbols), capture, folder, progress=False)
    capture.unlink()
    return folder


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("hours"))


def out_of_sample(train_folder: Path, test_folder: Path) -> tuple[float, float]:
    """Train on one hour (its own walk-forward validation), evaluate on another hour; the
    accuracy on every moved label of the other hour, and printed beside it the accuracy on
    its independent labels (one per symbol per horizon) and how many there are."""
    model, metrics = train_cnn(make_samples(load_series(train_folder), SPEC, stride=2), TrainConfig(epochs=6))
    test = make_samples(load_series(test_folder), SPEC, stride=2)
    probs, _, _ = cnn_outputs(model, test)
    acc = directional_accuracy(probs, test.direction)
    ind = independent(test.seconds, test.symbols, test.direction, SPEC.horizon_s)
    moved = int(((test.direction == UP) | (test.direction == DOWN)).sum())
    print(f"\n{test_folder.name}: out of sample {acc:.3f} on {moved} moved labels; {len(ind)} independent "
          f"labels, on which {directional_accuracy(probs[ind], test.direction[ind]):.3f}")
    return acc, metrics["val_directional_accuracy"]


# Out of sample, on seeds and symbols (SOL, XRP) no other test uses; a planted signal is
# `--alpha` (the latent trend shows in the book), `--trend-scale 0` is a driftless walk.
def test_the_cnn_learns_the_planted_signal_out_of_sample(root):
    """The signal it was designed with: the aggressor mix and the sizes at the touch."""
    acc, _ = out_of_sample(hour(41, 1.0, 1.0, root, symbols=LEARN), hour(42, 1.0, 1.0, root, symbols=LEARN))
    assert acc >= 0.60


def test_the_cnn_learns_a_second_planted_signal_nobody_tuned_it_on(root):
    """Imbalance deeper in the book (`--signal depth`): the touch and the trades are as
    without a signal; only the sizes of the levels added away from the touch lean."""
    acc, _ = out_of_sample(hour(43, 1.0, 1.0, root, "depth", symbols=LEARN),
                           hour(44, 1.0, 1.0, root, "depth", symbols=LEARN))
    assert acc >= 0.60


def test_on_a_market_with_nothing_to_predict_it_stays_at_chance(root):
    """A driftless random walk (`--trend-scale 0`): accuracy above chance would be a leak."""
    acc, _ = out_of_sample(hour(45, 0.0, 0.0, root, symbols=LEARN), hour(46, 0.0, 0.0, root, symbols=LEARN))
    assert acc <= 0.55


def test_labels_come_from_after_s_and_features_from_before(root):
    """Changing every mid after S changes S's label only; the sample's inputs stay."""
    series = load_series(hour(13, 1.0, 1.0, root, hours=2))
    a = make_samples(series, SPEC, stride=30)
    s = series[0]
    cut = int(s.seconds[len(s.seconds) // 2])
    s.mid[s.seconds > cut] *= 1.5  # the market after S jumps 50%
    b = make_samples(series, SPEC, stride=30)
    i = int(np.flatnonzero((np.array(a.symbols) == s.symbol) & (a.seconds <= cut))[-1])
    wa, ha = a.inputs(np.array([i]))
    wb, hb = b.inputs(np.array([i]))
    assert (wa == wb).all() and (ha == hb).all()
    later = (np.array(a.symbols) == s.symbol) & (a.seconds + SPEC.horizon_s > cut) & (a.seconds <= cut)
    assert later.any() and (b.direction[later] == UP).all()
    assert np.allclose(b.ret_bps[later] - a.ret_bps[later], np.log(1.5) * 1e4, atol=1e-6)
    before = (np.array(a.symbols) == s.symbol) & (a.seconds + SPEC.horizon_s <= cut)
    assert before.any() and np.array_equal(a.ret_bps[before], b.ret_bps[before])


def test_the_walk_forward_split_keeps_an_embargo_of_the_horizon(root):
    samples = make_samples(load_series(hour(13, 1.0, 1.0, root, hours=2)), SPEC, stride=2)
    train, valid = walk_forward(samples, SPEC.horizon_s)
    assert samples.seconds[train].max() + SPEC.horizon_s < samples.seconds[valid].min()
    assert set(train).isdisjoint(valid)


# -- checkpoints -----------------------------------------------------------------------------------
def tiny_state(value: float) -> dict[str, torch.Tensor]:
    return {"w": torch.full((3,), value)}


def meta(layout: str = "v1") -> dict:
    return {"layout": layout, "metric_name": "m"}


def test_the_top_k_are_kept_pruned_and_survive_a_restart(tmp_path):
    store = CheckpointStore(tmp_path, "cnn", keep=3)
    for m in (0.51, 0.70, 0.55, 0.62, 0.40, 0.66):
        store.save(tiny_state(m), meta(), m)
    assert [e.metric for e in store.entries] == [0.70, 0.66, 0.62]
    files = sorted(p.name for p in (tmp_path / "cnn").iterdir())
    assert len([f for f in files if f.endswith(".pt")]) == 3 and len([f for f in files if f.endswith(".json")]) == 4
    again = CheckpointStore(tmp_path, "cnn", keep=3)  # a restart reads the same index
    assert [e.metric for e in again.entries] == [0.70, 0.66, 0.62]
    state, m = again.load()
    assert float(state["w"][0]) == pytest.approx(0.70) and m["metric"] == 0.70
    assert again.save(tiny_state(0.1), meta(), 0.1) is None  # not good enough


def test_a_crash_leaves_nothing_behind_after_the_next_start(tmp_path):
    store = CheckpointStore(tmp_path, "cnn", keep=2)
    store.save(tiny_state(1), meta(), 0.6)
    folder = tmp_path / "cnn"
    (folder / "cnn-orphan.pt").write_bytes(b"half written")  # saved, never indexed
    gone = store.entries[0].name
    index = json.loads((folder / "index.json").read_text())
    index["checkpoints"].append({"name": "cnn-lost", "metric": 0.9, "meta": meta()})  # indexed, file lost
    (folder / "index.json").write_text(json.dumps(index))
    again = CheckpointStore(tmp_path, "cnn", keep=2)
    assert [e.name for e in again.entries] == [gone]
    assert not (folder / "cnn-orphan.pt").exists()


def test_another_feature_layout_is_refused_with_what_to_do(tmp_path):
    store = CheckpointStore(tmp_path, "cnn")
    store.save(tiny_state(1), meta(layout="v0"), 0.6)
    with pytest.raises(LayoutMismatch, match=r"layout 'v0'.*retrain"):
        store.load()


def test_a_corrupted_checkpoint_is_refused_with_a_clear_error(tmp_path):
    store = CheckpointStore(tmp_path, "cnn")
    entry = store.save(tiny_state(1), meta(), 0.6)
    assert entry is not None
    (tmp_path / "cnn" / f"{entry.name}.pt").write_bytes(b"\x00garbage" * 10)
    with pytest.raises(CheckpointError, match=r"not a readable checkpoint.*delete it or train again"):
        store.load()


def test_a_checkpoint_with_pickled_objects_is_refused(tmp_path):
    """weights_only=True: a file holding an arbitrary object (here a Path) is not loaded."""
    store = CheckpointStore(tmp_path, "cnn")
    entry = store.save(tiny_state(1), meta(), 0.6)
    assert entry is not None

    torch.save({"state_dict": tiny_state(1), "meta": {**meta(), "x": Path("/etc")}}, tmp_path / "cnn" / f"{entry.name}.pt")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        store.load()


# -- the learner (issue 34) on stored rows ----------------------------------------------------------
def learner(models: Path, folder: Path, **learn):
    from cobflow.app.learn import FolderSource, Learner

    settings = load_settings(symbols_file=E2E, models={"dir": str(models), "learn": {
        "retrain_every_s": 600, "train_window_s": 3000, "holdout_s": 900, "min_labels": 20, "epochs": 4,
        "dqn": False, **learn}})
    return Learner(settings, FolderSource(folder))


def cut_copy(folder: Path, until_s: int, out: Path) -> Path:
    """The rows of a compute folder as they stood at `until_s` (pivots confirmed by then)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from cobflow.stored import read_table

    for name in ("features", "cob_summary", "cob_buckets", "pivots"):
        t = read_table(folder, name)
        keep = pc.less(pc.cast(t["ts"], "int64"), (until_s + 1) * 10**9)
        if name == "pivots":
            keep = pc.and_(keep, pc.less(pc.cast(t["confirmed_ts"], "int64"), (until_s + 1) * 10**9))
        (out / name).mkdir(parents=True)
        pq.write_table(t.filter(keep), out / name / "part-0.parquet")
    return out


def test_the_learner_promotes_what_it_learned_never_scoring_it_on_its_own_training_seconds(root, tmp_path):
    # two hours: 80 minutes to train on, the last 40 held out (a quarter hour of a market is
    # a handful of its trends: too few to judge a model by, whatever the label count says)
    folder = hour(13, 1.0, 1.0, root, hours=2)
    first = learner(tmp_path / "models", folder, dqn=True, train_window_s=7200, holdout_s=2400)
    now = first.source.latest()
    events = first.retrain(now)
    [cnn] = [e for e in events if e.kind == "cnn"]
    assert cnn.event == "promoted" and cnn.source == "learner" and cnn.running == ""
    assert cnn.labels >= 20 and cnn.p_value < 0.05 and cnn.champion_score == 0.5 and cnn.challenger_score > 0.6
    print(f"\nheld out: accuracy {cnn.challenger_score:.3f} on {cnn.labels} independent labels, p {cnn.p_value:.2g}")
    store = CheckpointStore(tmp_path / "models", "cnn")
    assert store.champion().name == cnn.checkpoint
    # its training rows end a horizon before the held-out seconds begin
    [r] = first.history
    assert r.train_to_s + SPEC.horizon_s < r.holdout_from_s == now - 2400
    meta = store.champion().meta
    assert meta["data_to"] < meta["holdout_from"] and meta["holdout_labels"] == cnn.labels
    [dqn] = [e for e in events if e.kind == "dqn"]
    assert dqn.event == "promoted" and CheckpointStore(tmp_path / "models", "dqn").champion().meta[
        "cnn_checkpoint"] == cnn.checkpoint
    # the same rows and seed train the same model: a challenger equal to the champion is refused
    [again] = [e for e in first.retrain(now) if e.kind == "cnn"]
    assert again.event == "refused" and again.p_value == 1.0 and again.running == cnn.checkpoint
    assert CheckpointStore(tmp_path / "models", "cnn").champion().name == cnn.checkpoint
    # nothing from after its clock: the rows after `now - 300` cut off, the same verdict and weights
    cut = now - 300
    a = learner(tmp_path / "a", folder, train_window_s=7200, holdout_s=2400)
    b = learner(tmp_path / "b", cut_copy(folder, cut, tmp_path / "cut"), train_window_s=7200, holdout_s=2400)
    [ea], [eb] = a.retrain(cut), b.retrain(cut)
    assert (ea.event, ea.challenger_score, ea.labels, ea.p_value) == (eb.event, eb.challenger_score, eb.labels,
                                                                      eb.p_value)
    sa, _ = CheckpointStore(tmp_path / "a", "cnn").load(CheckpointStore(tmp_path / "a", "cnn").entries[0])
    sb, _ = CheckpointStore(tmp_path / "b", "cnn").load(CheckpointStore(tmp_path / "b", "cnn").entries[0])
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_on_a_market_with_nothing_to_predict_the_learner_promotes_nothing(root, tmp_path):
    lrn = learner(tmp_path, hour(45, 0.0, 0.0, root, symbols=LEARN), holdout_s=1800)
    [e] = lrn.retrain(lrn.source.latest())
    assert e.event == "refused" and e.p_value >= 0.05 and "does not beat a coin" in e.reason
    store = CheckpointStore(tmp_path, "cnn")
    # the refused challenger is kept for the record, and withheld: no flow runs it as "the best"
    assert store.entries and store.champion_name() is None and store.champion() is None


def test_learn_replay_serves_each_period_with_the_champion_of_its_start(root, tmp_path, monkeypatch, capsys):
    """`cobflow learn --replay DIR`: the learner on the folder's own clock, a retrain every
    half hour of data; each period is served by the champion of its start."""
    import re

    from cobflow.app.cli import main

    folder = hour(13, 1.0, 1.0, root, hours=2)
    for key, value in (("RETRAIN_EVERY_S", "1800"), ("TRAIN_WINDOW_S", "3600"), ("HOLDOUT_S", "1500"),
                       ("MIN_LABELS", "20"), ("EPOCHS", "3"), ("DQN", "false")):
        monkeypatch.setenv(f"COBFLOW_MODELS__LEARN__{key}", value)
    monkeypatch.setenv("COBFLOW_SYMBOLS_FILE", str(E2E))
    assert main(["learn", "--replay", str(folder), "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    verdicts = re.findall(r" cnn: (promoted|refused ) challenger ([0-9.]+) vs champion ([0-9.]+) on (\d+) independent",
                          out)
    periods = re.findall(r"served by (\S+): accuracy ([0-9.]+) \(the first champion, frozen: ([0-9.]+)\)", out)
    assert len(verdicts) == len(periods) == 2  # at 60 and 90 minutes of the two hours
    assert all(20 <= int(n) <= 50 for *_, n in verdicts)  # 1500 s held out: at most 25 windows x 2 symbols
    kept = {e.name for e in CheckpointStore(tmp_path, "cnn").entries}
    assert {name for name, _, _ in periods} <= kept
    assert verdicts[0][0] == "promoted"  # (two hours of the trending market: printed above when not)
    assert periods[0][1] == periods[0][2]  # the first period runs the first champion: served is frozen
    # the second period runs a new checkpoint exactly when the second verdict promoted one
    assert (periods[1][0] != periods[0][0]) == (verdicts[1][0] == "promoted")
    assert periods[1][0] != periods[0][0] or periods[1][1] == periods[1][2]  # the same model: the same accuracy


def test_a_regime_change_is_learned_back_while_the_frozen_model_fails(root, tmp_path):
    """The lead-lag market (the book shows the latent trend a minute before the price follows
    it, trends last 30 s: past returns say little, the planted signal most), its planted
    signal reversed at minute 40 of 90. The learner retrains every 10 simulated minutes on
    the last 30 (the last 10 held out), each period served by the champion of its start: the
    first model, frozen, falls below chance after the change; the learner's champion is back
    above 0.55 within three retrains after it."""
    from cobflow.app.compute import compute
    from cobflow.app.learn import FolderSource, Learner, replay
    from cobflow.connectors.simulator import SimConfig
    from cobflow.connectors.simulator.to_file import simulate_to_file

    folder = Path(root) / "regime"
    capture = folder.with_suffix(".jsonl")
    simulate_to_file(load_symbols(E2E), SimConfig(seed=31, duration_s=5400, alpha=2.0, alpha_flip_s=2400,
                                                  trend_every_s=30, lead_s=60), capture)
    compute(load_settings(symbols_file=E2E), capture, folder, progress=False)
    settings = load_settings(symbols_file=E2E, models={"dir": str(tmp_path), "learn": {
        "retrain_every_s": 600, "train_window_s": 1800, "holdout_s": 600, "min_labels": 15, "epochs": 8,
        "stride": 1, "dqn": False}})
    learner = Learner(settings, FolderSource(folder))
    start = 1_767_225_600
    periods = replay(learner, start + 1800, start + 5400)
    flip = start + 2400
    for p in periods:
        print(f"\n{(p.start_s - start) // 60:3d}-{(p.end_s - start) // 60} min: served {p.accuracy:.3f}, frozen "
              f"{p.frozen_accuracy:.3f} ({p.labels} moved labels, {p.independent} independent) by {p.champion}", end="")
    for r in learner.history:
        v = r.verdict
        print(f"\nretrain at {(r.now - start) // 60} min: {'promoted' if v.promote else 'refused'} "
              f"{v.challenger_score:.3f} vs {v.champion_score:.3f} on {v.labels} labels, p {v.p_value:.3g}", end="")
    after = [p for p in periods if p.start_s >= flip]
    assert len(after) == 5 and all(p.frozen_accuracy < 0.5 for p in after)  # the change breaks the frozen model
    served = [p.accuracy > 0.55 for p in after]
    retrains = [r for r in learner.history if r.now > flip]
    recovered = next(i for i, ok in enumerate(served) if ok)  # the period of after[i] starts at the i-th retrain
    print(f"\nback above 0.55 after {recovered} retrains after the change")
    assert 1 <= recovered <= 3 and all(served[recovered:])
    assert any(r.verdict.promote for r in retrains[:recovered])
    assert after[-1].champion != after[0].champion  # swapped, by promotion
