"""A checkpoint of a built-in kind as a module ready to run: the cnn with its frozen input
statistics, the dqn."""

from __future__ import annotations

from torch import nn

from cobflow.models.checkpoints import CheckpointError, CheckpointStore, Entry
from cobflow.models.cnn import CnnModel
from cobflow.models.dataset import LabelSpec
from cobflow.models.dqn import DqnModel
from cobflow.models.train import Normalised


def _entry(store: CheckpointStore, entry: Entry | None) -> Entry:
    entry = entry or store.champion()
    if entry is None:
        raise CheckpointError(f"{store.folder}: no {store.kind} checkpoint; train one: cobflow train {store.kind}")
    return entry


def load_cnn(store: CheckpointStore, entry: Entry | None = None) -> tuple[Normalised, Entry, LabelSpec]:
    """The cnn of `entry` (default: the champion), its checkpoint and its label spec."""
    entry = _entry(store, entry)
    state, meta = store.load(entry)
    try:
        spec = LabelSpec(**meta["label_spec"])
        model = Normalised(CnnModel(window_s=spec.window_s, heat_rows=300 // spec.heatmap_pool_s))
        model.load_state_dict(state)
    except (KeyError, TypeError, RuntimeError) as exc:
        raise CheckpointError(f"{store.folder}/{entry.name}.pt: not a cnn of this code "
                              f"({str(exc).splitlines()[0][:160]})") from None
    model.eval()
    return model, entry, spec


def load_dqn(store: CheckpointStore, entry: Entry | None = None) -> tuple[nn.Module, Entry]:
    entry = _entry(store, entry)
    state, _ = store.load(entry)
    model = DqnModel()
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise CheckpointError(f"{store.folder}/{entry.name}.pt: not a dqn of this code "
                              f"({str(exc).splitlines()[0][:160]})") from None
    model.eval()
    return model, entry
