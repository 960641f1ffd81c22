"""The models as the flow runs them: the best checkpoint of each kind, loaded at start, one
batched forward pass per round of seconds.

A batch always has one slot per configured symbol (zeros where a symbol has no second in
the round): the matrix shapes never change, so a symbol's outputs are the same bits whichever
other symbols are in the batch, in any mode and with any number of workers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from cobflow.metrics.pivots import LEVELS
from cobflow.metrics.vectors import RL_SIZE
from cobflow.models.checkpoints import CheckpointStore, Entry
from cobflow.models.cnn import CnnModel
from cobflow.models.dataset import LabelSpec
from cobflow.models.registry import build
from cobflow.models.train import PIVOT_SCALE, Normalised


def load_cnn(store: CheckpointStore) -> tuple[Normalised, Entry, LabelSpec]:
    state, meta = store.load()
    spec = LabelSpec(**meta["label_spec"])
    cnn = build("cnn", window_s=spec.window_s, heat_rows=300 // spec.heatmap_pool_s)
    assert isinstance(cnn, CnnModel)
    model = Normalised(cnn)
    model.load_state_dict(state)
    model.eval()
    entry = store.best()
    assert entry is not None
    return model, entry, spec


def load_dqn(store: CheckpointStore) -> tuple[nn.Module, Entry]:
    state, _ = store.load()
    model = build("dqn")
    model.load_state_dict(state)
    model.eval()
    entry = store.best()
    assert entry is not None
    return model, entry


@dataclass
class SlotOutput:
    direction_probs: np.ndarray  # (3,) down, flat, up
    pivots: np.ndarray  # (LEVELS, 2): price offset bps, time offset s
    q: np.ndarray | None  # (3,) BUY, SELL, HOLD
    cnn_name: str = ""  # the checkpoints that made it
    dqn_name: str = ""


class ModelRunner:
    """The best cnn (and, if trained, the best dqn on top of it) of a checkpoint folder."""

    def __init__(self, root: Path, symbols: list[str]) -> None:
        torch.set_num_threads(1)
        self.symbols = sorted(symbols)
        self.slot = {s: i for i, s in enumerate(self.symbols)}
        self.cnn, cnn_entry, self.spec = load_cnn(CheckpointStore(root, "cnn"))
        self.cnn_name = cnn_entry.name
        self.dqn: nn.Module | None = None
        self.dqn_name = ""
        if (Path(root) / "dqn" / "index.json").exists() and CheckpointStore(root, "dqn").best() is not None:
            self.dqn, dqn_entry = load_dqn(CheckpointStore(root, "dqn"))
            self.dqn_name = dqn_entry.name

    @staticmethod
    def available(root: Path) -> bool:
        return (Path(root) / "cnn" / "index.json").exists() and CheckpointStore(root, "cnn").best() is not None

    @torch.inference_mode()
    def run(self, inputs: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, float]],
            seconds: dict[str, int] | None = None) -> dict[str, SlotOutput]:
        """symbol -> (window (T, 220), heatmap (2, rows, 41), rl (30,), position) for one round
        (`seconds`, each symbol's second, is for the scheduled runner)."""
        n, spec = len(self.symbols), self.spec
        win = np.zeros((n, spec.window_s, self.cnn.mean.shape[0]), np.float32)
        heat = np.zeros((n, 2, 300 // spec.heatmap_pool_s, 41), np.float32)
        rl = np.zeros((n, RL_SIZE), np.float32)
        pos = np.zeros((n, 1), np.float32)
        for sym, (w, h, r, p) in inputs.items():
            i = self.slot[sym]
            win[i], heat[i], rl[i], pos[i, 0] = w, h, r, p
        logits, piv, hidden = self.cnn(torch.from_numpy(win), torch.from_numpy(heat))
        probs = torch.softmax(logits, dim=1)
        q = None
        if self.dqn is not None:
            state = torch.cat([torch.from_numpy(rl), probs, piv, hidden, torch.from_numpy(pos)], dim=1)
            q = self.dqn(state).numpy()
        pivots = (piv.view(n, LEVELS, 2) * PIVOT_SCALE).numpy()
        probs_np = probs.numpy()
        return {sym: SlotOutput(probs_np[self.slot[sym]], pivots[self.slot[sym]],
                                None if q is None else q[self.slot[sym]], self.cnn_name, self.dqn_name)
                for sym in inputs}


SCHEDULE = "schedule.json"


class ScheduledRunner:
    """Walk-forward: each window of seconds [from_s, to_s) served by the checkpoints trained
    for it (`schedule.json` in the models folder: [{"from_s", "to_s", "dir"}]); seconds in no
    window get no model outputs."""

    def __init__(self, root: Path, symbols: list[str]) -> None:
        windows = json.loads((Path(root) / SCHEDULE).read_text())
        self.windows = [(int(w["from_s"]), int(w["to_s"]), ModelRunner(Path(root) / w["dir"], symbols))
                        for w in windows]
        if not self.windows:
            raise ValueError(f"{root}/{SCHEDULE}: no windows")
        self.spec = self.windows[0][2].spec

    def run(self, inputs: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, float]],
            seconds: dict[str, int] | None = None) -> dict[str, SlotOutput]:
        out: dict[str, SlotOutput] = {}
        for a, b, runner in self.windows:
            part = {sym: x for sym, x in inputs.items() if seconds is not None and a <= seconds[sym] < b}
            if part:
                out.update(runner.run(part))
        return out


def load_runner(root: Path | None, symbols: list[str]) -> ModelRunner | ScheduledRunner | None:
    """The models of a checkpoints folder (a walk-forward schedule if it has one), or None."""
    if root is None:
        return None
    if (Path(root) / SCHEDULE).is_file():
        return ScheduledRunner(root, symbols)
    return ModelRunner(root, symbols) if ModelRunner.available(root) else None

