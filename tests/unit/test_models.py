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
from cobflow.models.dataset import UP, LabelSpec, load_series, make_samples, walk_forward
from cobflow.models.train import TrainConfig, cnn_outputs, directional_accuracy, train_cnn

E2E = Path(__file__).resolve().parent.parent / "data" / "cob_e2e.yaml"
SPEC = LabelSpec()


@functools.lru_cache(maxsize=4)
def hour(seed: int, alpha: float, trend_scale: float, root: str) -> Path:
    """One simulated hour of 2 symbols x 5 venues through `cobflow compute` (features included)."""
    from cobflow.app.compute import compute
    from cobflow.connectors.simulator import SimConfig
    from cobflow.connectors.simulator.to_file import simulate_to_file

    folder = Path(root) / f"hour-{seed}-{alpha:g}-{trend_scale:g}"
    capture = folder.with_suffix(".jsonl")
    simulate_to_file(load_symbols(E2E), SimConfig(seed=seed, duration_s=3600, alpha=alpha, trend_scale=trend_scale),
                     capture)
    compute(load_settings(symbols_file=E2E), capture, folder, progress=False)
    capture.unlink()
    return folder


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("hours"))


def out_of_sample(train_folder: Path, test_folder: Path) -> tuple[float, float]:
    """Train on one hour (its own walk-forward validation), evaluate on another hour."""
    model, metrics = train_cnn(make_samples(load_series(train_folder), SPEC, stride=2), TrainConfig(epochs=6))
    test = make_samples(load_series(test_folder), SPEC, stride=2)
    probs, _, _ = cnn_outputs(model, test)
    return directional_accuracy(probs, test.direction), metrics["val_directional_accuracy"]


def test_the_cnn_learns_the_planted_signal_out_of_sample(root):
    acc, _ = out_of_sample(hour(11, 1.0, 1.0, root), hour(12, 1.0, 1.0, root))
    assert acc >= 0.60


def test_on_a_market_with_nothing_to_predict_it_stays_at_chance(root):
    """A driftless random walk (`--trend-scale 0`): accuracy above chance would be a leak."""
    acc, _ = out_of_sample(hour(11, 0.0, 0.0, root), hour(12, 0.0, 0.0, root))
    assert acc <= 0.55


def test_labels_come_from_after_s_and_features_from_before(root):
    """Changing every mid after S changes S's label only; the sample's inputs stay."""
    series = load_series(hour(11, 1.0, 1.0, root))
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
    samples = make_samples(load_series(hour(11, 1.0, 1.0, root)), SPEC, stride=2)
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
