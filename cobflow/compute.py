"""`cobflow compute`: the COB dataflow (with `strategy`, the strategy flow) on a capture
file, into Parquet, with no servers."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from cobflow.capture import CaptureError, capture_format
from cobflow.config import Settings, load_symbols
from cobflow.runflow import file_flow, run_flow
from cobflow.tables import COB_TABLES, FEATURE_TABLES, FLOW_TABLES


class ComputeError(RuntimeError):
    pass


@dataclass
class ComputeResult:
    seconds: float
    rows: dict[str, int]  # per table
    dead_letters: int


def compute(settings: Settings, input: Path, output: Path, workers: int = 1, processes: int = 1,
            progress: bool = True, strategy: bool = False) -> ComputeResult:
    """Run the file flow over `input` into `output` (its tables replaced, never appended to)."""
    load_symbols(settings.symbols_file)  # a configuration error is reported here, in one line
    if not input.exists():
        raise CaptureError(f"{input}: no such capture file")
    capture_format(input)
    for t in FLOW_TABLES:
        shutil.rmtree(output / t.name, ignore_errors=True)
    for old in output.glob("dead_letters*.jsonl") if output.exists() else []:
        old.unlink()
    output.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    locator = file_flow(input.resolve(), output.resolve(), settings.symbols_file, progress, strategy=strategy)
    rc = run_flow(locator, workers, processes=processes, epoch_s=settings.flow.epoch_s)
    if rc != 0:
        raise ComputeError(f"the dataflow failed (exit {rc})")
    tables = FLOW_TABLES if strategy else (*COB_TABLES, *FEATURE_TABLES)
    rows = {t.name: sum(pq.ParquetFile(f).metadata.num_rows for f in (output / t.name).glob("*.parquet"))
            for t in tables}
    dead = sum(1 for f in output.glob("dead_letters*.jsonl") for _ in open(f, "rb"))
    return ComputeResult(time.perf_counter() - start, rows, dead)
