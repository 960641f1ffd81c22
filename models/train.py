"""Training the model kinds from `cobflow.models.dataset` samples: deterministic (seeded, one
thread), walk-forward validated, a progress bar with the loss and the validation metric of
every epoch. The normalisation of the inputs is frozen from the training samples and kept in
the checkpoint (buffers of the model), never computed on what it is applied to."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from cobflow.metrics.vectors import CNN_SIZE
from cobflow.models.cnn import CnnModel
from cobflow.models.dataset import DOWN, UP, Samples, walk_forward
from cobflow.models.dqn import DqnModel
from cobflow.models.promotion import independent

PIVOT_SCALE = torch.tensor([10.0, 60.0])  # bps, seconds: the pivot targets brought near 1


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 8
    batch: int = 256
    lr: float = 1e-3
    seed: int = 7
    validation_share: float = 0.25
    pivot_weight: float = 0.1
    taker_fee_bps: float = 10.0  # dqn reward
    gamma: float = 0.9  # dqn
    weight_decay: float = 1e-3  # AdamW's: few independent labels make overfitting the default
    patience: int = 3  # cnn: stop after this many epochs without a better validation accuracy (the best kept)


EpochReport = Callable[[int, float, float], None]  # epoch, train loss, validation metric


class Normalised(nn.Module):
    """A model with its input statistics: (x - mean) / std of the training windows."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, model: CnnModel) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.zeros(CNN_SIZE))
        self.register_buffer("std", torch.ones(CNN_SIZE))

    def forward(self, windows: torch.Tensor, heat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.model((windows - self.mean) / self.std, heat)


def _seed(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)
    torch.set_num_threads(1)


def directional_accuracy(probs: np.ndarray, direction: np.ndarray) -> float:
    """Share of the samples that moved (up or down past the dead zone) whose more likely
    of up and down was right; NaN without such samples."""
    moved = (direction == UP) | (direction == DOWN)
    if not moved.any():
        return math.nan
    guess_up = probs[moved, UP] > probs[moved, DOWN]
    return float(np.mean(guess_up == (direction[moved] == UP)))


@torch.inference_mode()
def cnn_outputs(model: Normalised, samples: Samples, idx: np.ndarray | None = None,
                batch: int = 512) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(probabilities (n, 3), pivots (n, 10), hidden (n, 64)) of the samples."""
    model.eval()
    idx = np.arange(len(samples)) if idx is None else idx
    out: tuple[list, list, list] = ([], [], [])
    for k in range(0, len(idx), batch):
        win, heat = samples.inputs(idx[k:k + batch])
        logits, piv, hidden = model(torch.from_numpy(win), torch.from_numpy(heat))
        for o, v in zip(out, (torch.softmax(logits, dim=1), piv, hidden)):
            o.append(v.numpy())
    return tuple(np.concatenate(o) if o else np.zeros((0, 1)) for o in out)  # type: ignore[return-value]


def train_cnn(samples: Samples, config: TrainConfig = TrainConfig(),
              report: EpochReport | None = None) -> tuple[Normalised, dict]:
    """Early stopping on the walk-forward validation: the weights of the epoch with the best
    validation accuracy are returned, and training stops `patience` epochs after it. The
    metrics say how many independent labels (one moved label per symbol per horizon) that
    accuracy rests on, and its value on them."""
    _seed(config.seed)
    spec = samples.spec
    train, valid = walk_forward(samples, spec.horizon_s, config.validation_share)
    train = train[samples.direction[train] >= 0]
    if len(train) == 0:
        raise ValueError("no training sample has a label (the data is shorter than the horizon)")
    model = Normalised(CnnModel(spec.window_s, 300 // spec.heatmap_pool_s))
    win, _ = samples.inputs(train[:: max(1, len(train) // 2000)])
    flat = win.reshape(-1, win.shape[-1])
    model.mean.copy_(torch.from_numpy(flat.mean(axis=0)))
    model.std.copy_(torch.from_numpy(np.maximum(flat.std(axis=0), 1e-6)))
    counts = np.bincount(samples.direction[train], minlength=3).astype(float)
    weights = torch.tensor(counts.sum() / np.maximum(counts, 1) / 3, dtype=torch.float32)  # classes balanced
    ce = nn.CrossEntropyLoss(weight=weights)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    rng = np.random.default_rng(config.seed)
    metrics: dict = {}
    best: tuple[float, dict, dict] | None = None  # (accuracy, weights, metrics) of the best epoch
    for epoch in range(1, config.epochs + 1):
        model.train()
        order = rng.permutation(train)
        losses = []
        for k in range(0, len(order), config.batch):
            idx = order[k:k + config.batch]
            win, heat = samples.inputs(idx)
            logits, piv, _ = model(torch.from_numpy(win), torch.from_numpy(heat))
            loss = ce(logits, torch.from_numpy(samples.direction[idx]))
            mask = torch.from_numpy(samples.pivot_mask[idx])
            if mask.any():
                target = torch.from_numpy(samples.pivot_target[idx]).float() / PIVOT_SCALE
                err = (piv.view(-1, mask.shape[1], 2) - target) ** 2
                loss = loss + config.pivot_weight * err[mask].mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
        probs, _, _ = cnn_outputs(model, samples, valid)
        acc = directional_accuracy(probs, samples.direction[valid])
        metrics = {"train_loss": float(np.mean(losses)), "val_directional_accuracy": acc, "epoch": epoch}
        if report is not None:
            report(epoch, metrics["train_loss"], acc)
        if best is None or acc > best[0] or (math.isnan(best[0]) and not math.isnan(acc)):
            best = (acc, copy.deepcopy(model.state_dict()), {**metrics, "probs": probs})
        elif epoch - best[2]["epoch"] >= config.patience:
            break
    assert best is not None
    model.load_state_dict(best[1])
    probs = best[2].pop("probs")
    metrics = {**best[2], "best_epoch": best[2]["epoch"], "epochs_run": epoch}
    ind = independent(samples.seconds[valid], [samples.symbols[i] for i in valid], samples.direction[valid],
                      spec.horizon_s)
    metrics["val_independent_labels"] = int(len(ind))
    metrics["val_independent_accuracy"] = directional_accuracy(probs[ind], samples.direction[valid][ind]) \
        if len(ind) else math.nan
    metrics.update(_ranges(samples, train, valid))
    return model, metrics


def _ranges(samples: Samples, train: np.ndarray, valid: np.ndarray) -> dict:
    return {"train_from_s": int(samples.seconds[train].min()), "train_to_s": int(samples.seconds[train].max()),
            "valid_from_s": int(samples.seconds[valid].min()), "valid_to_s": int(samples.seconds[valid].max()),
            "samples_train": int(len(train)), "samples_valid": int(len(valid))}


# -- the dqn --------------------------------------------------------------------------------
POSITIONS = (-1.0, 0.0, 1.0)
TARGET = {0: 1.0, 1: -1.0}  # BUY, SELL -> the position; HOLD (2) keeps it


def dqn_states(samples: Samples, cnn: Normalised, idx: np.ndarray) -> np.ndarray:
    """The dqn's inputs without the position: rl, cnn probabilities, pivots, hidden."""
    probs, piv, hidden = cnn_outputs(cnn, samples, idx)
    return np.concatenate([samples.rl[idx], probs, piv, hidden], axis=1).astype(np.float32)


def _step(samples: Samples, i: int, j: int, position: float, action: int, fee_bps: float) -> tuple[float, float]:
    new = TARGET.get(action, position)
    ret = math.log(samples.mid[j] / samples.mid[i]) * 1e4
    return new, new * ret - fee_bps * abs(new - position)


def train_dqn(samples: Samples, cnn: Normalised, config: TrainConfig = TrainConfig(),
              report: EpochReport | None = None) -> tuple[DqnModel, dict]:
    """Fitted Q iteration over every (second, position) of the stored rows: the target of
    (s, p, a) is r + gamma x max Q_target(s', p'), the target network refreshed each epoch.
    Validation metric: the greedy policy's mean reward per step (bps), starting flat."""
    _seed(config.seed)
    nxt = _next_index(samples)
    train, valid = walk_forward(samples, samples.spec.horizon_s, config.validation_share)
    states = dqn_states(samples, cnn, np.arange(len(samples)))
    model, target = DqnModel(), DqnModel()
    target.load_state_dict(model.state_dict())
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    rng = np.random.default_rng(config.seed)
    pairs = np.array([(i, p) for i in train if nxt[i] >= 0 for p in range(3)])
    if len(pairs) == 0:
        raise ValueError("no consecutive samples to learn transitions from")
    metrics: dict = {}
    for epoch in range(1, config.epochs + 1):
        model.train()
        losses = []
        for _ in range(0, len(pairs), config.batch):
            batch = pairs[rng.integers(0, len(pairs), min(config.batch, len(pairs)))]
            x, y = _targets(samples, states, nxt, batch, target, config)
            q = model(torch.from_numpy(x))
            loss = ((q - torch.from_numpy(y)) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
            if len(losses) * config.batch >= len(pairs):
                break
        target.load_state_dict(model.state_dict())
        reward = greedy_reward(model, samples, states, nxt, valid, config.taker_fee_bps)
        metrics = {"train_loss": float(np.mean(losses)), "val_mean_reward_bps": reward, "epoch": epoch}
        if report is not None:
            report(epoch, metrics["train_loss"], reward)
    metrics.update(_ranges(samples, train, valid))
    return model, metrics


def _next_index(samples: Samples) -> np.ndarray:
    index = {(s, int(t)): i for i, (s, t) in enumerate(zip(samples.symbols, samples.seconds))}
    step = {}
    for s in set(samples.symbols):
        ts = np.sort(samples.seconds[np.array([x == s for x in samples.symbols])])
        step[s] = int(np.median(np.diff(ts))) if len(ts) > 1 else 1
    return np.array([index.get((s, int(t) + step[s]), -1) for s, t in zip(samples.symbols, samples.seconds)])


@torch.no_grad()
def _targets(samples: Samples, states: np.ndarray, nxt: np.ndarray, batch: np.ndarray, target: DqnModel,
             config: TrainConfig) -> tuple[np.ndarray, np.ndarray]:
    """Inputs (state, position) and the three actions' targets, for a batch of (sample, position index)."""
    i, j = batch[:, 0], nxt[batch[:, 0]]
    pos = np.array(POSITIONS)[batch[:, 1]]
    new = np.stack([np.ones_like(pos), -np.ones_like(pos), pos], axis=1)  # BUY, SELL, HOLD
    ret = np.log(samples.mid[j] / samples.mid[i]) * 1e4
    reward = new * ret[:, None] - config.taker_fee_bps * np.abs(new - pos[:, None])
    after = np.repeat(states[j], 3, axis=0)
    q_next = target(torch.from_numpy(np.concatenate([after, new.reshape(-1, 1)], axis=1).astype(np.float32)))
    y = reward + config.gamma * q_next.max(dim=1).values.numpy().reshape(-1, 3)
    x = np.concatenate([states[i], pos[:, None]], axis=1)
    return x.astype(np.float32), y.astype(np.float32)


@torch.inference_mode()
def greedy_reward(model: DqnModel, samples: Samples, states: np.ndarray, nxt: np.ndarray, idx: np.ndarray,
                  fee_bps: float) -> float:
    model.eval()
    total, steps = 0.0, 0
    position: dict[str, float] = {}
    for i in idx:
        j = nxt[i]
        if j < 0:
            continue
        pos = position.get(samples.symbols[i], 0.0)
        a = int(model(torch.from_numpy(np.append(states[i], pos).astype(np.float32))[None]).argmax())
        new, r = _step(samples, i, j, pos, a, fee_bps)
        position[samples.symbols[i]] = new
        total += r
        steps += 1
    return total / steps if steps else math.nan

