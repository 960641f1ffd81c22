"""A Bytewax sink writing table rows to Parquet: a folder per table, a file per worker, the
same column names and types as the QuestDB tables (`cobflow compute`). Blocks of rows
(`TableRows`) go in as the arrays they hold."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import pyarrow as pa
import pyarrow.parquet as pq

from bytewax.outputs import DynamicSink, StatelessSinkPartition
from cobflow.tables import Table, TableRow, TableRows

ROW_GROUP_ROWS = 16_384  # rows held per table before they are written as one row group
ROW_GROUP_SPAN_NS = 600 * 1_000_000_000  # ... or rows spanning this much time (10 min of market)
COMPACT_PIECES = 64  # converted batches held per table before they are merged into one
_TYPES = {"DOUBLE": pa.float64(), "INT": pa.int32(), "LONG": pa.int64(), "BOOLEAN": pa.bool_()}
_DTYPES = {"DOUBLE": np.float64, "INT": np.int32, "LONG": np.int64, "BOOLEAN": np.bool_}


def arrow_schema(table: Table) -> pa.Schema:
    fields = [pa.field("ts", pa.timestamp("ns", tz="UTC"), nullable=False)]
    fields += [pa.field(s, pa.string()) for s in table.symbols]
    fields += [pa.field(c, _TYPES[t]) for c, t in table.columns]
    return pa.schema(fields)


class _ParquetPartition(StatelessSinkPartition[TableRow]):
    def __init__(self, out: Path, tables: dict[str, Table], worker: int) -> None:
        self.out, self.tables, self.worker = out, tables, worker
        self.writers: dict[str, pq.ParquetWriter] = {}
        self.pending: dict[str, list[pa.Table]] = {}  # converted batches not yet written
        self.pending_rows: dict[str, int] = {}
        self.pending_since: dict[str, int] = {}  # ts of the first row held per table
        self.schemas = {name: arrow_schema(t) for name, t in tables.items()}
        for name, table in tables.items():  # every table gets a file, even an empty one
            self._writer(name)

    def _writer(self, name: str) -> pq.ParquetWriter:
        w = self.writers.get(name)
        if w is None:
            folder = self.out / name
            folder.mkdir(parents=True, exist_ok=True)
            w = self.writers[name] = pq.ParquetWriter(folder / f"part-{self.worker}.parquet",
                                                      arrow_schema(self.tables[name]))
        return w

    def write_batch(self, items: list[TableRow | TableRows]) -> None:
        by_table: dict[str, list] = {}
        for row in items:
            by_table.setdefault(row.table, []).append(row)
        for name, rows in by_table.items():
            rows_one_by_one = [r for r in rows if type(r) is TableRow]
            blocks = [r for r in rows if type(r) is TableRows]
            if rows_one_by_one:
                self._hold(name, self._from_rows(name, rows_one_by_one))
            if blocks:
                self._hold(name, self._from_blocks(name, blocks))

    def _from_rows(self, name: str, rows: list[TableRow]) -> pa.Table:
        table = self.tables[name]
        cols: dict[str, list] = {"ts": [r.ts for r in rows]}
        for s in table.symbols:
            cols[s] = [r.symbols.get(s) for r in rows]
        for c, _ in table.columns:
            cols[c] = [r.columns.get(c) for r in rows]
        return pa.table(cols, schema=self.schemas[name])

    def _from_blocks(self, name: str, blocks: list[TableRows]) -> pa.Table:
        """The blocks' arrays end to end: no Python value per row (NaN, None in a DOUBLE: null)."""
        table = self.tables[name]
        counts = [len(b) for b in blocks]
        cols: dict[str, object] = {"ts": np.concatenate([
            np.full(n, b.ts, dtype=np.int64) if isinstance(b.ts, int) else np.asarray(b.ts, dtype=np.int64)
            for b, n in zip(blocks, counts)])}
        for s in table.symbols:
            values: list = []
            for b, n in zip(blocks, counts):
                tag = b.symbols.get(s)
                values.extend(tag if isinstance(tag, list) else [tag] * n)
            cols[s] = values
        for c, t in table.columns:
            values = np.concatenate([np.asarray(b.columns[c], dtype=_DTYPES[t]) for b in blocks])
            cols[c] = pa.array(values, type=_TYPES[t], from_pandas=t == "DOUBLE")
        return pa.table(cols, schema=self.schemas[name])

    def _hold(self, name: str, piece: pa.Table) -> None:
        pending = self.pending.setdefault(name, [])
        pending.append(piece)
        self.pending_rows[name] = self.pending_rows.get(name, 0) + piece.num_rows
        ts = piece.column("ts")
        since = self.pending_since.setdefault(name, ts[0].value)
        # a table of a few rows per second would take hours to fill a row group: memory
        # grows all that time, so a row group also closes after 10 minutes of market
        if self.pending_rows[name] >= ROW_GROUP_ROWS or ts[-1].value - since >= ROW_GROUP_SPAN_NS:
            self._flush(name)
        elif len(pending) >= COMPACT_PIECES:  # many small pieces cost more than their data
            self.pending[name] = [pa.concat_tables(pending).combine_chunks()]

    def _flush(self, name: str) -> None:
        """One row group from the batches held for this table: a file of many tiny row groups
        is slow to read, and the writer keeps every row group's metadata in memory."""
        pending = self.pending.pop(name, [])
        self.pending_rows.pop(name, None)
        self.pending_since.pop(name, None)
        if pending:
            self._writer(name).write_table(pa.concat_tables(pending), row_group_size=ROW_GROUP_ROWS * 2)

    def close(self) -> None:
        for name in list(self.pending):
            self._flush(name)
        for w in self.writers.values():
            w.close()


class ParquetSink(DynamicSink[TableRow]):
    def __init__(self, out: Path | str, tables: list[Table]) -> None:
        self.out = Path(out)
        self.tables = {t.name: t for t in tables}

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _ParquetPartition:
        return _ParquetPartition(self.out, self.tables, worker_index)


def read_table(out: Path | str, name: str) -> pa.Table:
    """All workers' files of one table."""
    folder = Path(out) / name
    return pa.concat_tables([pq.read_table(f) for f in sorted(folder.glob("*.parquet"))])
