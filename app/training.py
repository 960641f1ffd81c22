"""`cobflow train` and `cobflow models list`: stored rows -> samples -> a trained model ->
the kind's top-k checkpoints, with a progress bar per epoch."""

from __future__ import annotations

import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cobflow.app.recompute import export_questdb
from cobflow.config import Settings
from cobflow.metrics.vectors import LAYOUT
from cobflow.models.checkpoints import CheckpointStore, Entry
from cobflow.models.dataset import LabelSpec, Samples, load_series, make_samples
from cobflow.models.registry import KINDS, kind_class
from cobflow.models.train import TrainConfig
from cobflow.progress import Progress
from cobflow.provenance import code_version


@dataclass
class TrainResult:
    kind: str
    metrics: dict
    kept: Entry | None
    seconds: float
    metric_name: str = "val_directional_accuracy"


def label_spec(settings: Settings) -> LabelSpec:
    m = settings.models
    return LabelSpec(window_s=m.window_s, horizon_s=m.horizon_s, dead_zone_bps=m.dead_zone_bps)


def train(settings: Settings, kind: str, input: Path | None, since: int | None, until: int | None,
          out: Path | None, config: TrainConfig, stride: int = 2, progress: bool = True) -> TrainResult:
    start = time.perf_counter()
    root = out or settings.models.dir
    spec = label_spec(settings)
    with tempfile.TemporaryDirectory() as tmp:
        folder = input
        if folder is None:  # the rows in QuestDB, exported once
            folder = Path(tmp)
            export_questdb(settings.questdb, ("features", "cob_summary", "cob_buckets", "pivots"), since, until, folder)
        samples = make_samples(load_series(folder), spec, stride=stride)
    model_kind = kind_class(kind, settings.models.kinds)()
    name = model_kind.name
    bar = Progress(f"train {name}", total=config.epochs, unit=" epochs") if progress else None
    metric_name = model_kind.metric_name

    def report(epoch: int, loss: float, metric: float) -> None:
        if bar is not None:
            bar.note(f"loss {loss:.4f}, {metric_name} {metric:.4f}")
            bar(epoch)

    model, metrics, extra = model_kind.train(samples, config, report, root)
    if name not in KINDS:
        extra = {**extra, "kind_class": f"{type(model_kind).__module__}:{type(model_kind).__qualname__}"}
    if bar is not None:
        bar.finish()
    meta = checkpoint_meta(metric_name, spec, config, samples, metrics, **extra)
    value = metrics[metric_name]
    store = CheckpointStore(root, name, settings.models.keep)
    kept = store.save(model.state_dict(), meta, float(value) if value == value else float("-inf"))
    return TrainResult(name, metrics, kept, time.perf_counter() - start, metric_name)


def checkpoint_meta(metric_name: str, spec: LabelSpec, config: TrainConfig, samples: Samples | None,
                    metrics: dict, **extra: Any) -> dict[str, Any]:
    """What a checkpoint keeps about itself (`cobflow train`'s and the learner's): its
    metric, feature layout, code version, label spec, config, symbols and data range."""
    meta: dict[str, Any] = {"metric_name": metric_name, "layout": LAYOUT, "code_version": code_version(),
                            "created": datetime.now(UTC).isoformat(timespec="seconds"), "label_spec": asdict(spec),
                            "train_config": asdict(config)}
    if samples is not None:
        meta.update({"symbols": sorted(set(samples.symbols)), "data_from": iso(int(samples.seconds.min())),
                     "data_to": iso(int(samples.seconds.max()))})
    return {**meta, "metrics": metrics, **extra}


def iso(second: int) -> str:
    return datetime.fromtimestamp(second, UTC).isoformat().replace("+00:00", "Z")

