"""A checkpoint of a built-in kind as a module ready to run: the cnn with its frozen input
statistics, the dqn."""

from __future__ import annotations

from torch import nn

from cobflow.models.checkpoints import CheckpointStore, Entry
from cobflow.models.cnn import CnnModel
from cobflow.models.dataset import LabelSpec
from cobflow.models.dqn import DqnModel
from cobflow.models.train import Normalised


def load_cnn(store: CheckpointStore) -> tuple[Normalised, Entry, LabelSpec]:
    state, meta = store.load()
    spec = LabelSpec(**meta["label_spec"])
    cnn = CnnModel(window_s=spec.window_s, heat_rows=300 // spec.heatmap_pool_s)
    model = Normalised(cnn)
    model.load_state_dict(state)
    model.eval()
    entry = store.best()
    assert entry is not None
    return model, entry, spec


def load_dqn(store: CheckpointStore) -> tuple[nn.Module, Entry]:
    state, _ = store.load()
    model = DqnModel()
    model.load_state_dict(state)
    model.eval()
    entry = store.best()
    assert entry is not None
    return model, entry
