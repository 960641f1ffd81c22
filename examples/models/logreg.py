"""A third model kind, small: multinomial logistic regression of the direction over the
horizon on the last second's `cnn` vector (220 values), in torch.

Made for few independent labels: inputs standardised with statistics frozen from the
training split (kept in the checkpoint), L2 regularisation (weight decay), and early
stopping on the walk-forward validation split (the best epoch's weights are kept). The
metrics say how many independent labels the validation rests on (validation span /
horizon). Written against the public API only (`cobflow.models.kinds`):

    cobflow train examples.models.logreg:LogReg --input DIR           # top-k checkpoints in COBFLOW_MODELS__DIR/logreg
    COBFLOW_MODELS__KINDS='["examples.models.logreg:LogReg"]' cobflow backtest ...   # runs it in the flow
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from cobflow.metrics.vectors import CNN_SIZE
from cobflow.models.dataset import Samples, walk_forward
from cobflow.models.kinds import EpochReport, ModelKind
from cobflow.models.train import TrainConfig, directional_accuracy


class Linear(nn.Module):
    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(CNN_SIZE))
        self.register_buffer("std", torch.ones(CNN_SIZE))
        self.linear = nn.Linear(CNN_SIZE, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear((x - self.mean) / self.std)


class LogReg(ModelKind):
    name = "logreg"
    metric_name = "val_directional_accuracy"
    weight_decay = 1e-2

    def train(self, samples: Samples, config: TrainConfig, report: EpochReport | None,
              models_dir: Path) -> tuple[nn.Module, dict[str, Any], dict[str, Any]]:
        torch.manual_seed(config.seed)
        horizon = samples.spec.horizon_s
        train, valid = walk_forward(samples, horizon, config.validation_share)
        train = train[samples.direction[train] >= 0]
        x_train = torch.from_numpy(samples.inputs(train)[0][:, -1, :])
        y_train = torch.from_numpy(samples.direction[train])
        x_valid = torch.from_numpy(samples.inputs(valid)[0][:, -1, :])
        model = Linear()
        model.mean.copy_(x_train.mean(dim=0))
        model.std.copy_(torch.clamp(x_train.std(dim=0), min=1e-6))
        counts = np.bincount(samples.direction[train], minlength=3).astype(float)
        ce = nn.CrossEntropyLoss(weight=torch.tensor(counts.sum() / np.maximum(counts, 1) / 3, dtype=torch.float32))
        opt = torch.optim.Adam(model.parameters(), lr=config.lr * 10, weight_decay=self.weight_decay)
        best: tuple[float, dict] | None = None
        loss_value = math.nan
        for epoch in range(1, config.epochs + 1):
            model.train()
            order = torch.randperm(len(train))
            for k in range(0, len(order), config.batch):
                idx = order[k:k + config.batch]
                loss = ce(model(x_train[idx]), y_train[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                loss_value = float(loss.detach())
            with torch.no_grad():
                probs = torch.softmax(model(x_valid), dim=1).numpy()
            acc = directional_accuracy(probs, samples.direction[valid])
            if report is not None:
                report(epoch, loss_value, acc)
            if best is None or (acc == acc and not acc <= best[0]):  # early stopping: keep the best epoch
                best = (acc, copy.deepcopy(model.state_dict()))
        assert best is not None
        model.load_state_dict(best[1])
        span = int(samples.seconds[valid].max() - samples.seconds[valid].min()) + 1
        metrics = {"train_loss": loss_value, "val_directional_accuracy": best[0],
                   "samples_train": int(len(train)), "samples_valid": int(len(valid)),
                   "independent_labels_valid": max(1, span // horizon)}
        return model, metrics, {}

    def load(self, state: dict[str, Any], meta: dict[str, Any]) -> nn.Module:
        model = Linear()
        model.load_state_dict(state)
        return model

    @torch.inference_mode()
    def predict(self, model: nn.Module, windows: np.ndarray, heat: np.ndarray, rl: np.ndarray,
                position: np.ndarray) -> np.ndarray:
        return torch.softmax(model(torch.from_numpy(windows[:, -1, :])), dim=1).numpy()
