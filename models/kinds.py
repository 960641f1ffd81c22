"""The ModelKind API: a model kind is how a model trains on samples of stored rows
(`cobflow train KIND`) and how the flow runs its best checkpoint once a second, in one
batched call over the symbols.

    from cobflow.models.kinds import ModelKind

    class MyKind(ModelKind):
        name = "mykind"                     # its checkpoint folder, its model_outputs model_type
        def train(self, samples, config, report, models_dir): ...  -> (module, metrics, extra meta)
        def load(self, state, meta): ...    -> the module, ready to predict
        def predict(self, model, windows, heat, rl, position): ...  -> (n, 3) down/flat/up probabilities

A kind is one module: `cobflow train mypkg.kinds:MyKind --input DIR` trains it (top-k
checkpoints by `metric_name`, with their metadata), and `COBFLOW_MODELS__KINDS` naming it
(module:Class) makes the strategy flow run it beside the built-ins; its outputs reach the
strategies as `ctx.models` (kind = its name). The built-ins cnn and dqn are kinds too
(their inference is one joint pass, `cobflow.models.runtime.ModelRunner`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from torch import nn

from cobflow.models.dataset import Samples
from cobflow.models.train import TrainConfig

EpochReport = Callable[[int, float, float], None]  # epoch, train loss, validation metric


class ModelKind:
    """The base of every model kind (the built-ins' too)."""

    name: ClassVar[str] = ""
    #: the validation metric the top-k checkpoints are ranked by (higher is better)
    metric_name: ClassVar[str] = "val_directional_accuracy"
    #: False: the flow runs it inside the joint cnn/dqn pass, not through `predict`
    runs_alone: ClassVar[bool] = True

    def train(self, samples: Samples, config: TrainConfig, report: EpochReport | None,
              models_dir: Path) -> tuple[nn.Module, dict[str, Any], dict[str, Any]]:
        """Train on samples (time-ordered; split them walk-forward, `walk_forward`).

        Args:
            samples: model inputs and labels of stored seconds.
            config: epochs, batch, learning rate, seed, validation share.
            report: called after each epoch with (epoch, train loss, validation metric).
            models_dir: the checkpoints folder (a kind that builds on another reads it there).
        Returns:
            (the module whose state dict is the checkpoint, metrics with `metric_name` in
            them, extra metadata kept with the checkpoint).
        """
        raise NotImplementedError

    def load(self, state: dict[str, Any], meta: dict[str, Any]) -> nn.Module:
        """The module of a checkpoint, ready to predict.

        Args:
            state: the state dict `train` returned (as saved in the checkpoint).
            meta: the checkpoint's metadata (the kind's extra metadata among it).

        Returns:
            The module in evaluation mode.
        """
        raise NotImplementedError

    def predict(self, model: nn.Module, windows: np.ndarray, heat: np.ndarray, rl: np.ndarray,
                position: np.ndarray) -> np.ndarray:
        """One batched call for a round of seconds, one row per symbol slot.

        Args:
            windows: (n, T, 220) the last T seconds of `cnn` vectors (float32).
            heat: (n, 2, rows, 41) the pooled 300 s heatmap.
            rl: (n, 30) the `rl` vectors.
            position: (n,) the dqn's own position (-1, 0, 1).
        Returns:
            (n, 3) probabilities of down, flat and up over the label horizon.
        """
        raise NotImplementedError
