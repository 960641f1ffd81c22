"""When each second's rows leave the consolidated book, in wall-clock time: the latency a
trader feels starts at a second's end and runs to the flow's decision on it, before any
database. `cobflow.config.FlowSettings.latency_log` turns it on (bench/cob.py does)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TextIO

from cobflow.tables import COB_SUMMARY, AnyRow


class LatencyLog:
    """An `op.inspect` callback: one line `symbol second_ns wall_ns` per cob_summary row."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.file: TextIO | None = None

    def __call__(self, _step_id: str, row: AnyRow) -> None:
        if row.table != COB_SUMMARY.name or type(row.ts) is not int:
            return
        if self.file is None:
            self.file = open(self.path, "a", buffering=1)  # noqa: SIM115 (the flow's lifetime)
        self.file.write(f"{row.symbols['symbol']} {row.ts} {time.time_ns()}\n")
