"""The models as the flow runs them: the best checkpoint of each kind, loaded at start, one
batched forward pass per round of seconds.

A batch always has one slot per configured symbol (zeros where a symbol has no second in
the round): the matrix shapes never change, so a symbol's outputs are the same bits whichever
other symbols are in the batch, in any mode and with any number of workers.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from cobflow.metrics.pivots import LEVELS
from cobflow.metrics.vectors import CNN_SIZE, RL_SIZE
from cobflow.models.checkpoints import CheckpointError, CheckpointStore, Entry
from cobflow.models.dataset import LabelSpec
from cobflow.models.kinds import ModelKind
from cobflow.models.loading import load_cnn, load_dqn
from cobflow.models.output import SlotOutput
from cobflow.models.registry import kind_class
from cobflow.models.train import PIVOT_SCALE, Normalised
from cobflow.records import ModelEvent
from cobflow.strategy import ModelOutput


@dataclass
class KindModel:
    """The running checkpoint of a kind that runs alone in the flow."""

    kind: ModelKind
    model: nn.Module
    name: str  # its checkpoint


def _store(root: Path, kind: str) -> CheckpointStore | None:
    """A kind's checkpoints, read only (a learner may be writing beside the flow); None: none."""
    if not (Path(root) / kind / "index.json").exists():
        return None
    store = CheckpointStore(root, kind, read_only=True)
    return store if store.entries else None


def _runs(root: Path, kind: str) -> bool:
    """A kind has a checkpoint to run (one is kept, and not every one withheld)."""
    store = _store(root, kind)
    return store is not None and store.champion() is not None


def _wanted(store: CheckpointStore, pinned: Mapping[str, str] | None) -> Entry | None:
    """The pinned checkpoint (a resumed flow's) if it is still there, else the champion."""
    name = (pinned or {}).get(store.kind)
    return (store.entry(name) if name else None) or store.champion()


def load_kind(root: Path, spec: str, pinned: Mapping[str, str] | None = None) -> KindModel | None:
    kind = kind_class(spec)()
    store = _store(root, kind.name)
    entry = _wanted(store, pinned) if store is not None else None
    if store is None or entry is None:
        return None
    state, meta = store.load(entry)
    model = kind.load(state, meta)
    model.eval()
    return KindModel(kind, model, entry.name)


def load_kinds(root: Path, kinds: tuple[str, ...], pinned: Mapping[str, str] | None = None) -> list[KindModel]:
    """The configured kinds (module:Class) that have a checkpoint under root."""
    return [k for k in (load_kind(root, spec, pinned) for spec in kinds) if k is not None]


class ModelRunner:
    """The champion cnn (and the dqn on top of it, if trained) of a checkpoint folder, and
    the champion of each configured kind that runs alone (`CheckpointStore.champion`).

    `pinned` (kind -> checkpoint): what a resumed flow ran, loaded instead of the champion
    while it is still in the folder (a backtest resumed runs what it ran). `watch`: `refresh`
    swaps in the champion when it is not what runs (the flow calls it between rounds: at a
    second boundary; the first call compares at once); one that cannot be loaded or does not
    fit (another label spec) is refused and the running one kept."""

    WATCH_EVERY_S = 0.5  # wall seconds between looks at the folder

    def __init__(self, root: Path, symbols: list[str], kinds: tuple[str, ...] = (),
                 spec: LabelSpec | None = None, pinned: Mapping[str, str] | None = None,
                 watch: bool = False) -> None:
        torch.set_num_threads(1)
        self.root = Path(root)
        self.symbols = sorted(symbols)
        self.slot = {s: i for i, s in enumerate(self.symbols)}
        self.cnn: Normalised | None = None
        self.cnn_name = ""
        self.spec = spec or LabelSpec()
        store = _store(root, "cnn")
        want = _wanted(store, pinned) if store is not None else None
        if store is not None and want is not None:
            self.cnn, cnn_entry, self.spec = load_cnn(store, want)
            self.cnn_name = cnn_entry.name
        self.dqn: nn.Module | None = None
        self.dqn_name = ""
        store = _store(root, "dqn")
        if self.cnn is not None and store is not None:
            name = (pinned or {}).get("dqn")
            entry = (store.entry(name) if name else None) or _dqn_for(store, self.cnn_name) or store.champion()
            if entry is not None:
                self.dqn, dqn_entry = load_dqn(store, entry)
                self.dqn_name = dqn_entry.name
        self.kind_specs = kinds
        self.kinds = load_kinds(root, kinds, pinned)
        self.errors: list[tuple[str, BaseException]] = []  # (kind, error) of rounds not yet reported
        self.watch = watch
        self._looked = time.monotonic() - self.WATCH_EVERY_S
        # watching, the first round compares what runs with the champion: a resumed flow runs
        # the checkpoints it ran (pinned) only until then, and one that cannot load the
        # champion keeps them (a swap_refused row) instead of failing to start
        self._stamps = None if watch else self._folder_stamps()
        self._refused: set[tuple[str, str]] = set()  # (kind, checkpoint) refused once: not tried again

    def names(self) -> dict[str, str]:
        """kind -> the checkpoint running (what a resumed flow runs again)."""
        out = {"cnn": self.cnn_name, "dqn": self.dqn_name, **{k.kind.name: k.name for k in self.kinds}}
        return {k: v for k, v in out.items() if v}

    def take_errors(self) -> list[tuple[str, BaseException]]:
        """The errors of the user's kinds since the last call."""
        out, self.errors = self.errors, []
        return out

    # -- the hot swap -----------------------------------------------------------------------
    def _kind_names(self) -> list[str]:
        return ["cnn", "dqn", *(kind_class(k).name for k in self.kind_specs)]

    def _folder_stamps(self) -> tuple:
        out: list[int | None] = []
        for kind in self._kind_names():
            for f in ("champion.json", "index.json"):
                try:
                    out.append((self.root / kind / f).stat().st_mtime_ns)
                except OSError:
                    out.append(None)
        return tuple(out)

    def refresh(self, s: int) -> list[ModelEvent]:
        """Swap in each kind's new champion (at second `s`, between two rounds): the events."""
        if not self.watch:
            return []
        now = time.monotonic()
        if now - self._looked < self.WATCH_EVERY_S:
            return []
        self._looked = now
        stamps = self._folder_stamps()
        if stamps == self._stamps:
            return []
        self._stamps = stamps
        events: list[ModelEvent] = []

        def readable(kind: str, running: str) -> CheckpointStore | None:
            """The kind's store, or None with a row when its index cannot be read (being
            edited by hand, damaged): the running checkpoint stays, the flow goes on."""
            try:
                return _store(self.root, kind)
            except CheckpointError as e:
                events.append(ModelEvent(s, kind, "swap_refused", "", running, str(e)))
                return None

        store = readable("cnn", self.cnn_name)
        want = store.champion() if store is not None else None
        if store is not None and want is not None and want.name != self.cnn_name \
                and ("cnn", want.name) not in self._refused:
            try:
                cnn, entry, spec = load_cnn(store, want)
                if spec != self.spec:
                    raise CheckpointError(f"{want.name}: its label spec {spec} is not the running one's {self.spec} "
                                          "(the flow's windows are built for that); restart the flow to change it")
                events.append(ModelEvent(s, "cnn", "swapped", entry.name, self.cnn_name, "promoted"))
                self.cnn, self.cnn_name, self.spec = cnn, entry.name, spec
            except CheckpointError as e:
                self._refused.add(("cnn", want.name))
                events.append(ModelEvent(s, "cnn", "swap_refused", want.name, self.cnn_name, str(e)))
        dqn_store = readable("dqn", self.dqn_name)
        if self.cnn is not None and dqn_store is not None:
            want = _dqn_for(dqn_store, self.cnn_name)
            if want is not None and want.name != self.dqn_name and ("dqn", want.name) not in self._refused:
                try:
                    self.dqn, entry = load_dqn(dqn_store, want)
                    events.append(ModelEvent(s, "dqn", "swapped", entry.name, self.dqn_name,
                                             f"on cnn {self.cnn_name}"))
                    self.dqn_name = entry.name
                except CheckpointError as e:
                    self._refused.add(("dqn", want.name))
                    events.append(ModelEvent(s, "dqn", "swap_refused", want.name, self.dqn_name, str(e)))
        for i, k in enumerate(self.kinds):
            store = readable(k.kind.name, k.name)
            want = store.champion() if store is not None else None
            if store is None or want is None or want.name == k.name or (k.kind.name, want.name) in self._refused:
                continue
            try:
                state, meta = store.load(want)
                try:
                    model = k.kind.load(state, meta)
                except Exception as exc:  # noqa: BLE001 - a user's kind: whatever its load raises
                    raise CheckpointError(f"{want.name}: {type(k.kind).__name__}.load raised "
                                          f"{type(exc).__name__}: {exc}") from None
                model.eval()
                events.append(ModelEvent(s, k.kind.name, "swapped", want.name, k.name, "promoted"))
                self.kinds[i] = KindModel(k.kind, model, want.name)
            except CheckpointError as e:
                self._refused.add((k.kind.name, want.name))
                events.append(ModelEvent(s, k.kind.name, "swap_refused", want.name, k.name, str(e)))
        return events

    @staticmethod
    def has_cnn(root: Path) -> bool:
        return _runs(root, "cnn")

    @staticmethod
    def available(root: Path, kinds: tuple[str, ...] = ()) -> bool:
        return ModelRunner.has_cnn(root) or any(_runs(root, kind_class(k).name) for k in kinds)

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

    def refresh(self, s: int) -> list[ModelEvent]:
        """A walk-forward schedule is fixed: nothing to swap."""
        return []

    def names(self) -> dict[str, str]:
        return {}

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


def _dqn_for(store: CheckpointStore, cnn_name: str) -> Entry | None:
    """The dqn to run on this cnn: the champion if it was trained on it (or says not on
    which), else the best trained on it; None: none is."""
    champion = store.champion()
    if champion is not None and champion.meta.get("cnn_checkpoint") in (None, cnn_name):
        return champion
    return next((e for e in store.entries if e.meta.get("cnn_checkpoint") == cnn_name), None)


def load_runner(root: Path | None, symbols: list[str], kinds: tuple[str, ...] = (),
                spec: LabelSpec | None = None, pinned: Mapping[str, str] | None = None,
                watch: bool = False) -> ModelRunner | ScheduledRunner | None:
    """The models of a checkpoints folder (a walk-forward schedule if it has one), or None.
    `spec`: the label spec where no cnn checkpoint gives one; `pinned` and `watch`: see
    ModelRunner."""
    if root is None:
        return None
    if (Path(root) / SCHEDULE).is_file():
        return ScheduledRunner(root, symbols, kinds, spec)
    # watching, a folder with no checkpoint yet is run too: the learner's first promotion is swapped in
    return ModelRunner(root, symbols, kinds, spec, pinned, watch) \
        if watch or ModelRunner.available(root, kinds) else None

