"""Model kinds by name: what `cobflow train KIND` trains and the flow runs. A kind is a
`cobflow.models.kinds.ModelKind`; the built-ins are here, a user's is `module:Class` (on the
command line, or in COBFLOW_MODELS__KINDS for the flow)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from cobflow.config import PluginError
from cobflow.models.checkpoints import CheckpointStore
from cobflow.models.dataset import Samples
from cobflow.models.kinds import EpochReport, ModelKind
from cobflow.models.loading import load_cnn
from cobflow.models.train import TrainConfig, train_cnn, train_dqn
from cobflow.plugins import load_class


class Cnn(ModelKind):
    """The cnn: T seconds of `cnn` vectors and the heatmap -> direction and pivots."""

    name = "cnn"
    metric_name = "val_directional_accuracy"
    runs_alone = False

    def train(self, samples: Samples, config: TrainConfig, report: EpochReport | None,
              models_dir: Path) -> tuple[nn.Module, dict[str, Any], dict[str, Any]]:
        model, metrics = train_cnn(samples, config, report)
        return model, metrics, {}


class Dqn(ModelKind):
    """The dqn on top of the best cnn of the models folder (fitted Q iteration)."""

    name = "dqn"
    metric_name = "val_mean_reward_bps"
    runs_alone = False

    def train(self, samples: Samples, config: TrainConfig, report: EpochReport | None,
              models_dir: Path) -> tuple[nn.Module, dict[str, Any], dict[str, Any]]:
        cnn, cnn_entry, _ = load_cnn(CheckpointStore(models_dir, "cnn"))
        model, metrics = train_dqn(samples, cnn, config, report)
        return model, metrics, {"cnn_checkpoint": cnn_entry.name}


KINDS: dict[str, type[ModelKind]] = {"cnn": Cnn, "dqn": Dqn}


def kind_class(name: str, configured: tuple[str, ...] = ()) -> type[ModelKind]:
    """A built-in's name, a configured kind's name, or module:Class -> the kind."""
    if name in KINDS:
        return KINDS[name]
    for spec in configured:
        cls = load_class(spec, ModelKind, "model kind")
        if cls.name == name:
            return cls
    if ":" not in name:
        known = [*KINDS, *(load_class(s, ModelKind, "model kind").name for s in configured)]
        raise PluginError(f"model kind {name!r}: not one of {', '.join(known)} and not module:Class")
    cls = load_class(name, ModelKind, "model kind")
    if not cls.name or not cls.name.isidentifier():
        raise PluginError(f"model kind {name!r}: its `name` must be a plain word (its checkpoint folder)")
    return cls
