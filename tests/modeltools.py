"""Checkpoints for tests: untrained (seeded) cnn and dqn, saved as `cobflow train` saves them."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import torch

from cobflow.metrics.vectors import LAYOUT
from cobflow.models.checkpoints import CheckpointStore
from cobflow.models.cnn import CnnModel
from cobflow.models.dataset import LabelSpec
from cobflow.models.dqn import DqnModel
from cobflow.models.train import Normalised


def seeded_checkpoints(root: Path, spec: LabelSpec | None = None, seed: int = 3,
                       symbols: list[str] | None = None) -> Path:
    """A cnn and a dqn of seeded weights (`symbols`: the ones their metadata says they were
    trained on)."""
    spec = spec or LabelSpec()
    torch.manual_seed(seed)
    cnn = Normalised(CnnModel(spec.window_s, 300 // spec.heatmap_pool_s))
    meta = {"layout": LAYOUT, "label_spec": asdict(spec), "metric_name": "val_directional_accuracy"}
    if symbols is not None:
        meta["symbols"] = symbols
    CheckpointStore(root, "cnn").save(cnn.state_dict(), meta, 0.5)
    CheckpointStore(root, "dqn").save(DqnModel().state_dict(), {**meta, "metric_name": "val_mean_reward_bps"}, 0.0)
    return root
