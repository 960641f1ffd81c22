"""The top k checkpoints of each model kind, by its validation metric.

A folder per kind: `<name>.pt` (the state dict and plain metadata, loaded with
`weights_only=True`), `<name>.json` (the same metadata, for people and `cobflow models
list`), and `index.json`, the top k, best first, replaced atomically. Opening the store
repairs what a crash can leave: an entry whose file is gone is dropped, a file no entry
names is deleted (a checkpoint is written to a temporary name and renamed: it is whole or
absent).

The **champion** is what the flow runs: the checkpoint `champion.json` names (the learner's
promotion, `cobflow models promote`), else the best. It is never pruned while it runs.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cobflow.metrics.vectors import check_layout

if TYPE_CHECKING:
    import torch

INDEX = "index.json"
CHAMPION = "champion.json"


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used; the message says which file and why."""


@dataclass(frozen=True)
class Entry:
    name: str
    metric: float
    meta: dict[str, Any]


class CheckpointStore:
    def __init__(self, root: Path, kind: str, keep: int = 5, read_only: bool = False) -> None:
        """`read_only`: a reader beside a writer (the flow beside the learner) repairs
        nothing: what looks half-written to it may be a checkpoint on its way."""
        if keep < 1:
            raise ValueError(f"keep at least 1 checkpoint, not {keep}")
        self.folder = Path(root) / kind
        self.kind = kind
        self.keep = keep
        if not read_only:
            self.folder.mkdir(parents=True, exist_ok=True)
        self.entries = self._read_index()
        if not read_only:
            self._repair()

    # -- the index ------------------------------------------------------------------------
    def _read_index(self) -> list[Entry]:
        path = self.folder / INDEX
        if not path.exists():
            return []
        try:
            data = json.loads(path.read_text())
            return [Entry(e["name"], float(e["metric"]), e["meta"]) for e in data["checkpoints"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(f"{path}: not a checkpoint index ({exc}); move the folder aside to start anew") \
                from None

    def _write_index(self) -> None:
        write_atomic(self.folder / INDEX, json.dumps({"kind": self.kind, "keep": self.keep, "checkpoints": [
            {"name": e.name, "metric": e.metric, "meta": e.meta} for e in self.entries]}, indent=2))

    def _repair(self) -> None:
        kept = [e for e in self.entries if (self.folder / f"{e.name}.pt").exists()]
        names = {e.name for e in kept}
        for f in self.folder.iterdir():
            if f.suffix == ".tmp" or (f.suffix in (".pt", ".json") and f.name not in (INDEX, CHAMPION)
                                      and f.stem not in names):
                f.unlink()  # a checkpoint pruned or half-written before a crash
        if kept != self.entries:
            self.entries = kept
            self._write_index()

    # -- saving and loading ---------------------------------------------------------------
    def save(self, state_dict: dict[str, torch.Tensor], meta: dict[str, Any], metric: float,
             force: bool = False) -> Entry | None:
        """Keep this checkpoint if it is among the top k (higher metric is better), or
        whatever its rank with `force` (one about to be promoted); the one it pushes out is
        deleted (never the champion). None: not good enough to keep."""
        if not force and len(self.entries) >= self.keep and metric <= self.entries[-1].metric:
            return None
        name = f"{self.kind}-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{time.time_ns() % 10**9:09d}"
        meta = {**meta, "kind": self.kind, "metric": metric}
        import torch  # here: listing checkpoints (a backtest's report) loads no torch

        tmp = self.folder / f"{name}.pt.tmp"
        torch.save({"state_dict": state_dict, "meta": meta}, tmp)
        os.replace(tmp, self.folder / f"{name}.pt")
        write_atomic(self.folder / f"{name}.json", json.dumps(meta, indent=2))
        entry = Entry(name, metric, meta)
        ranked = sorted([*self.entries, entry], key=lambda e: -e.metric)
        protect = {self.champion_name(), name if force else None}
        ranked = [e for e in ranked if e.name in protect] + [e for e in ranked if e.name not in protect]
        n = max(self.keep, sum(e.name in protect for e in ranked))
        dropped, self.entries = ranked[n:], sorted(ranked[:n], key=lambda e: -e.metric)
        self._write_index()
        for e in dropped:
            for suffix in (".pt", ".json"):
                (self.folder / f"{e.name}{suffix}").unlink(missing_ok=True)
        return entry if entry in self.entries else None

    def best(self) -> Entry | None:
        return self.entries[0] if self.entries else None

    def entry(self, name: str) -> Entry | None:
        return next((e for e in self.entries if e.name == name), None)

    def _pointer(self) -> dict[str, Any] | None:
        """champion.json (None: none, or damaged)."""
        try:
            pointer = json.loads((self.folder / CHAMPION).read_text())
            return pointer if isinstance(pointer, dict) and "name" in pointer else None
        except (OSError, ValueError):
            return None

    def champion_name(self) -> str | None:
        """The name champion.json gives (None: no promotion yet, or none withheld)."""
        pointer = self._pointer()
        return None if pointer is None or pointer["name"] is None else str(pointer["name"])

    def champion(self) -> Entry | None:
        """What the flow runs: the promoted checkpoint if it is still here, else the best;
        None when the learner withheld every checkpoint (none passed its test yet)."""
        pointer = self._pointer()
        if pointer is not None and pointer["name"] is None:
            return None
        name = self.champion_name()
        return (self.entry(name) if name else None) or self.best()

    def withhold(self, reason: str) -> None:
        """No checkpoint runs (the learner refused the first challenger it judged)."""
        write_atomic(self.folder / CHAMPION, json.dumps({"name": None, "reason": reason,
                                                          "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}))

    def promote(self, name: str, reason: str = "") -> Entry:
        """Make `name` the champion (one atomic rename: a flow watching sees the old or the new)."""
        entry = self.entry(name)
        if entry is None:
            raise CheckpointError(f"{self.folder}: no checkpoint {name} (cobflow models list)")
        write_atomic(self.folder / CHAMPION, json.dumps({"name": name, "reason": reason,
                                                          "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}))
        return entry

    def load(self, entry: Entry | None = None) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """(state dict, metadata) of `entry` (default: the champion); another feature layout or
        an unreadable file is refused with what to do."""
        entry = entry or self.champion()
        if entry is None:
            raise CheckpointError(f"{self.folder}: no {self.kind} checkpoint; train one: cobflow train {self.kind}")
        path = self.folder / f"{entry.name}.pt"
        try:
            import torch

            data = torch.load(path, weights_only=True, map_location="cpu")
            state, meta = data["state_dict"], data["meta"]
        except Exception as exc:  # noqa: BLE001 - torch raises many kinds for a damaged file
            raise CheckpointError(f"{path}: not a readable checkpoint ({type(exc).__name__}: "
                                  f"{str(exc).splitlines()[0][:200]}); delete it or train again") from None
        check_layout(str(meta.get("layout")), f"checkpoint {path}")
        return state, meta


def write_atomic(path: Path, text: str) -> None:
    """`text` in `path`, whole or not at all (a temporary file renamed over it)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def list_checkpoints(root: Path) -> list[tuple[str, Entry]]:
    out = []
    for kind_dir in sorted(p for p in Path(root).iterdir() if p.is_dir()) if Path(root).is_dir() else []:
        if (kind_dir / INDEX).exists():
            out += [(kind_dir.name, e) for e in CheckpointStore(root, kind_dir.name, read_only=True).entries]
    return out


def pin(paths: list[Path], root: Path) -> Path:
    """A checkpoint folder at `root` holding exactly these checkpoint files (`<name>.pt`, at
    most one per kind), so a run loads them and not the best of a store."""
    by_kind: dict[str, Path] = {}
    for path in map(Path, paths):
        if path.suffix != ".pt" or not path.is_file():
            raise CheckpointError(f"{path}: no such checkpoint file (give a <name>.pt of a models folder)")
        try:
            import torch

            meta = torch.load(path, weights_only=True, map_location="cpu")["meta"]
            kind = str(meta["kind"])
        except Exception as exc:  # noqa: BLE001 - as in load
            raise CheckpointError(f"{path}: not a readable checkpoint ({type(exc).__name__})") from None
        if kind in by_kind:
            raise CheckpointError(f"two {kind} checkpoints given ({by_kind[kind].name}, {path.name}): one per kind")
        by_kind[kind] = path
        check_layout(str(meta.get("layout")), f"checkpoint {path}")
        folder = Path(root) / kind
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.iterdir():
            old.unlink()
        (folder / path.name).write_bytes(path.read_bytes())
        (folder / INDEX).write_text(json.dumps({"kind": kind, "keep": 1, "checkpoints": [
            {"name": path.stem, "metric": float(meta.get("metric", 0.0)), "meta": meta}]}, indent=2))
    return Path(root)
