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
from cobflow.metrics.vectors import CNN_SIZE, RL_SIZE
from cobflow.models.checkpoints import CheckpointStore
from cobflow.models.dataset import LabelSpec
from cobflow.models.kinds import ModelKind
from cobflow.models.loading import load_cnn, load_dqn
from cobflow.models.output import SlotOutput
from cobflow.models.registry import kind_class
from cobflow.models.train import PIVOT_SCALE, Normalised
from cobflow.strategy import ModelOutput


@dataclass
class KindModel:
    """The best checkpoint of a kind that runs alone in the flow."""

    kind: ModelKind
    model: nn.Module
    name: str  # its checkpoint


def load_kinds(root: Path, kinds: tuple[str, ...]) -> list[KindModel]:
    """The configured kinds (module:Class) that have a checkpoint under root, best first."""
    out = []
    for spec in kinds:
        kind = kind_class(spec)()
        store = CheckpointStore(root, kind.name)
        if store.best() is None:
            continue
        state, meta = store.load()
        model = kind.load(state, meta)
        model.eval()
        entry = store.best()
        assert entry is not None
        out.append(KindModel(kind, model, entry.name))
    return out


class ModelRunner:
    """The best cnn (and, if trained, the best dqn on top of it) of a checkpoint folder, and
    the best checkpoint of each configured kind that runs alone."""

    def __init__(self, root: Path, symbols: list[str], kinds: tuple[str, ...] = (),
                 spec: LabelSpec | None = None) -> None:
        torch.set_num_threads(1)
        self.symbols = sorted(symbols)
        self.slot = {s: i for i, s in enumerate(self.symbols)}
        self.cnn: Normalised | None = None
        self.cnn_name = ""
        self.spec = spec or LabelSpec()
        if self.has_cnn(root):
            self.cnn, cnn_entry, self.spec = load_cnn(CheckpointStore(root, "cnn"))
            self.cnn_name = cnn_entry.name
        self.dqn: nn.Module | None = None
        self.dqn_name = ""
        if self.cnn is not None and (Path(root) / "dqn" / "index.json").exists() \
                and CheckpointStore(root, "dqn").best() is not None:
            self.dqn, dqn_entry = load_dqn(CheckpointStore(root, "dqn"))
            self.dqn_name = dqn_entry.name
        self.kinds = load_kinds(root, kinds)
        self.errors: list[tuple[str, BaseException]] = []  # (kind, error) of rounds not yet reported

    def take_errors(self) -> list[tuple[str, BaseException]]:
        """The errors of the user's kinds since the last call."""
        out, self.errors = self.errors, []
        return out

    @staticmethod
    def has_cnn(root: Path) -> bool:
        return (Path(root) / "cnn" / "index.json").exists() and CheckpointStore(root, "cnn").best() is not None

    @staticmethod
    def available(root: Path, kinds: tuple[str, ...] = ()) -> bool:
        return ModelRunner.has_cnn(root) or any(
            CheckpointStore(root, kind_class(k).name).best() is not None for k in kinds
            if (Path(root) / kind_class(k).name / "index.json").exists())

    @torch.inference_mode()
    def run(self, inputs: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, float]],
            seconds: dict[str, int] | None = None) -> dict[str, SlotOutput]:
        """symbol -> (window (T, 220), heatmap (2, rows, 41), rl (30,), position) for one round
        (`seconds`, each symbol's second, is for the scheduled runner)."""
        n, spec = len(self.symbols), self.spec
        win = np.zeros((n, spec.window_s, CNN_SIZE), np.float32)
        heat = np.zeros((n, 2, 300 // spec.heatmap_pool_s, 41), np.float32)
        rl = np.zeros((n, RL_SIZE), np.float32)
        pos = np.zeros((n, 1), np.float32)
        for sym, (w, h, r, p) in inputs.items():
            i = self.slot[sym]
            win[i], heat[i], rl[i], pos[i, 0] = w, h, r, p
        extra: dict[str, list[ModelOutput]] = {sym: [] for sym in inputs}
        for k in self.kinds:  # one batched call per kind, as the cnn's
            try:
                probs_k = np.asarray(k.kind.predict(k.model, win, heat, rl, pos[:, 0]), np.float64)
                if probs_k.shape != (n, 3) or not np.isfinite(probs_k).all():
                    raise ValueError(f"predict returned {probs_k.shape} values, not ({n}, 3) finite probabilities")
            except Exception as e:  # a user's kind costs its own outputs of the round, never the flow
                self.errors.append((type(k.kind).__name__, e))
                continue
            for sym in inputs:
                p_k = probs_k[self.slot[sym]]
                j = int(np.argmax(p_k))
                extra[sym].append(ModelOutput(k.kind.name, k.name, float(p_k[j]), p_k, direction=j - 1))
        if self.cnn is None:
            return {sym: SlotOutput(None, None, None, extra=tuple(extra[sym])) for sym in inputs}
        logits, piv, hidden = self.cnn(torch.from_numpy(win), torch.from_numpy(heat))
        probs = torch.softmax(logits, dim=1)
        q = None
        if self.dqn is not None:
            state = torch.cat([torch.from_numpy(rl), probs, piv, hidden, torch.from_numpy(pos)], dim=1)
            q = self.dqn(state).numpy()
        pivots = (piv.view(n, LEVELS, 2) * PIVOT_SCALE).numpy()
        probs_np = probs.numpy()
        return {sym: SlotOutput(probs_np[self.slot[sym]], pivots[self.slot[sym]],
                                None if q is None else q[self.slot[sym]], self.cnn_name, self.dqn_name,
                                tuple(extra[sym]))
                for sym in inputs}


SCHEDULE = "schedule.json"


class ScheduledRunner:
    """Walk-forward: each window of seconds [from_s, to_s) served by the checkpoints trained
    for it (`schedule.json` in the models folder: [{"from_s", "to_s", "dir"}]); seconds in no
    window get no model outputs."""

    def __init__(self, root: Path, symbols: list[str], kinds: tuple[str, ...] = (),
                 spec: LabelSpec | None = None) -> None:
        windows = json.loads((Path(root) / SCHEDULE).read_text())
        self.windows = [(int(w["from_s"]), int(w["to_s"]), ModelRunner(Path(root) / w["dir"], symbols, kinds, spec))
                        for w in windows]
        if not self.windows:
            raise ValueError(f"{root}/{SCHEDULE}: no windows")
        self.spec: LabelSpec = self.windows[0][2].spec

    def take_errors(self) -> list[tuple[str, BaseException]]:
        """The errors of the user's kinds in every window since the last call."""
        return [e for _, _, runner in self.windows for e in runner.take_errors()]

    def run(self, inputs: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, float]],
            seconds: dict[str, int] | None = None) -> dict[str, SlotOutput]:
        out: dict[str, SlotOutput] = {}
        for a, b, runner in self.windows:
            part = {sym: x for sym, x in inputs.items() if seconds is not None and a <= seconds[sym] < b}
            if part:
                out.update(runner.run(part))
        return out


def load_runner(root: Path | None, symbols: list[str], kinds: tuple[str, ...] = (),
                spec: LabelSpec | None = None) -> ModelRunner | ScheduledRunner | None:
    """The models of a checkpoints folder (a walk-forward schedule if it has one), or None.
    `spec`: the label spec where no cnn checkpoint gives one."""
    if root is None:
        return None
    if (Path(root) / SCHEDULE).is_file():
        return ScheduledRunner(root, symbols, kinds, spec)
    return ModelRunner(root, symbols, kinds, spec) if ModelRunner.available(root, kinds) else None

