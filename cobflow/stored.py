"""Tables stored as Parquet folders (`cobflow compute`'s output, a backtest's): one folder per
table, one file per worker. Reading them is the core's (training reads them); writing them
is the Parquet sink's (`cobflow.dataflows.sinks.parquet`)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


def read_table(out: Path | str, name: str) -> pa.Table:
    """All workers' files of one table."""
    folder = Path(out) / name
    return pa.concat_tables([pq.read_table(f) for f in sorted(folder.glob("*.parquet"))])
