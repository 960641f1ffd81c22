"""`cobflow backtest --walk-forward`: train on a window, test on the one after it with the
best checkpoint of that training, roll forward by the test window, and report every fold
and the test windows together (one account, trading from the first test window on).

No test window overlaps the data its models were trained on: a fold's training data ends at
`train_to`, the labels of its last samples reach at most `train_to` (their future is cut
there too), and its test window starts an embargo of the label horizon later.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from cobflow.app.backtest import (
    REPORT,
    BacktestError,
    checkpoints,
    pictures,
    processes_for,
    run_backtest,
    run_metrics,
)
from cobflow.app.compute import compute
from cobflow.app.report.data import ParquetSource
from cobflow.app.training import train
from cobflow.capture import read_capture
from cobflow.config import Settings
from cobflow.dataflows.sinks.parquet import read_table
from cobflow.models.runtime import SCHEDULE
from cobflow.models.train import TrainConfig
from cobflow.progress import Progress

TRAINING_TABLES = ("features", "cob_summary", "cob_buckets", "pivots")  # what `cobflow train` reads

NS = 1_000_000_000


@dataclass(frozen=True)
class Fold:
    index: int
    train_from: int  # ns, inclusive
    train_to: int  # ns, exclusive
    test_from: int
    test_to: int


def make_folds(first_ns: int, end_ns: int, train_s: float, test_s: float, embargo_s: float) -> list[Fold]:
    """Folds of [first, end): train [a, a + train), test [a + train + embargo, ... + test),
    a moving on by the test window; only whole test windows."""
    train, test, embargo = int(train_s * NS), int(test_s * NS), int(embargo_s * NS)
    out: list[Fold] = []
    k = 0
    while True:
        a = first_ns + k * test
        f = Fold(k, a, a + train, a + train + embargo, a + train + embargo + test)
        if f.test_to > end_ns:
            return out
        out.append(f)
        k += 1


def _extent(path: Path) -> tuple[int, int]:
    first = last = None
    for m in read_capture(path):
        first = m.ts_recv if first is None else min(first, m.ts_recv)
        last = m.ts_recv if last is None else max(last, m.ts_recv)
    if first is None or last is None:
        raise BacktestError(f"{path}: no messages")
    return first, last + 1


def training_rows(rows: Path, out: Path, start: int, end: int) -> None:
    """The stored rows a fold may train on: seconds in [start, end), and only the pivots
    confirmed before `end` (a later confirmation is the future)."""
    for table in TRAINING_TABLES:
        t = read_table(rows, table)
        ts = pc.cast(t["ts"], pa.int64())
        keep = pc.and_(pc.greater_equal(ts, start), pc.less(ts, end))
        if table == "pivots":
            keep = pc.and_(keep, pc.less(pc.cast(t["confirmed_ts"], pa.int64()), end))
        (out / table).mkdir(parents=True, exist_ok=True)
        pq.write_table(t.filter(keep), out / table / "part-0.parquet")


def _slice(report_dir: Path, fold: Fold, initial_cash: float, run: str) -> dict[str, Any]:
    """The metrics of one fold's test window, from the one continuous account."""
    return run_metrics(ParquetSource(report_dir), run, initial_cash, fold.test_from, fold.test_to)[0]


def walk_forward(settings: Settings, input: Path, out: Path, train_s: float, test_s: float,
                 config: TrainConfig | None = None, workers: int = 1, progress: bool = True) -> dict[str, Any]:
    """Rows of the whole capture once (COB and features: nothing in them looks ahead), a
    cnn and a dqn trained per fold on its window's rows, then one strategy flow over the
    capture in which each fold's test window is served by its fold's checkpoints and the
    account trades from the first test window to the end of the last."""
    if not input.is_file():
        raise BacktestError(f"{input}: no such capture file")
    embargo = float(settings.models.horizon_s)
    first, end = _extent(input)
    folds = make_folds(first // NS * NS, end, int(train_s), int(test_s), embargo)  # whole seconds, as the flow's
    if not folds:
        raise BacktestError(f"{input} holds {(end - first) / NS:,.0f} s of market: too short for one fold of "
                            f"{train_s:g} s of training, a {embargo:g} s embargo and {test_s:g} s of test")
    out.mkdir(parents=True, exist_ok=True)
    config = config or TrainConfig()
    bar = Progress("walk-forward", total=len(folds) + 2, unit=" steps") if progress else None
    every = settings.model_copy(update={"flow": settings.flow.model_copy(update={"tables": None})})
    compute(every, input, out / "rows", 1, processes_for(every, workers), progress=False)  # the training rows: every table
    if bar is not None:
        bar(1)
    models = out / "models"
    schedule: list[dict[str, Any]] = []
    for f in folds:
        rows = out / f"fold-{f.index}" / "train-rows"
        training_rows(out / "rows", rows, f.train_from, f.train_to)
        for kind in ("cnn", "dqn"):
            train(settings, kind, rows, None, None, models / f"fold-{f.index}", config, progress=False)
        schedule.append({"from_s": f.test_from // NS, "to_s": f.test_to // NS, "dir": f"fold-{f.index}"})
        if bar is not None:
            bar(f.index + 2)
    (models / SCHEDULE).write_text(json.dumps(schedule, indent=1) + "\n")
    window = {"COBFLOW_TRADING__TRADE_FROM_S": str(folds[0].test_from // NS),
              "COBFLOW_TRADING__TRADE_UNTIL_S": str(folds[-1].test_to // NS)}
    os.environ.update(window)  # the flow runs as a subprocess with this environment
    trading = settings.trading.model_copy(update={"trade_from_s": folds[0].test_from // NS,
                                                  "trade_until_s": folds[-1].test_to // NS})
    settings = settings.model_copy(update={"trading": trading})
    bt = run_backtest(settings, input, out / "backtest", workers, progress=False, models_dir=models)
    pictures(settings, bt)
    if bar is not None:
        bar(len(folds) + 2)
        bar.finish()
    cash = settings.trading.initial_cash
    done = []
    for f, w in zip(folds, schedule):
        cps = checkpoints(models / w["dir"])
        done.append({**asdict(f), "metrics": _slice(out / "backtest", f, cash, settings.trading.run_id), "checkpoints": cps})
    report = {**bt.report, "walk_forward": {"train_s": train_s, "test_s": test_s, "embargo_s": embargo,
                                            "train_config": asdict(config), "folds": done}}
    (out / REPORT).write_text(json.dumps(report, indent=1, sort_keys=True) + "\n")
    return report
