"""A Bytewax sink writing table rows to Parquet: a folder per table, a file per worker, the
same column names and types as the QuestDB tables (`cobflow compute`). Blocks of rows
(`TableRows`) go in as the arrays they hold."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from bytewax.outputs import DynamicSink, StatelessSinkPartition

from cobflow.stored import read_table  # noqa: F401 - read where the files are written
from cobflow.tables import AnyRow, Table, TableRow, TableRows

ROW_GROUP_ROWS = 16_384  # rows held per table before they are written as one row group
ROW_GROUP_SPAN_NS = 600 * 1_000_000_000  # ... or rows spanning this much time (10 min of market)
_TYPES = {"DOUBLE": pa.float64(), "INT": pa.int32(), "LONG": pa.int64(), "BOOLEAN": pa.bool_(),
          "TIMESTAMP": pa.timestamp("ns", tz="UTC"), "DOUBLE[]": pa.list_(pa.float64()), "VARCHAR": pa.string()}
_DTYPES = {"DOUBLE": np.float64, "INT": np.int32, "LONG": np.int64, "BOOLEAN": np.bool_, "TIMESTAMP": np.int64}


def arrow_schema(table: Table) -> pa.Schema:
    fields = [pa.field("ts", pa.timestamp("ns", tz="UTC"), nullable=False)]
    fields += [pa.field(s, pa.string()) for s in table.symbols]
    fields += [pa.field(c, _TYPES[t]) for c, t in table.columns]
    return pa.schema(fields)


class _ParquetPartition(StatelessSinkPartition[AnyRow]):
    def __init__(self, out: Path, tables: dict[str, Table], worker: int) -> None:
        self.out, self.tables, self.worker = out, tables, worker
        self.writers: dict[str, pq.ParquetWriter] = {}
        # rows held per table until they make a row group, converted to Arrow only then:
        # one conversion per row group, not one per batch of a few seconds
        self.pending: dict[str, list[AnyRow]] = {}
        self.pending_rows: dict[str, int] = {}
        self.pending_since: dict[str, int] = {}  # ts of the first row held per table
        self.schemas = {name: arrow_schema(t) for name, t in tables.items()}
        for name, _table in tables.items():  # every table gets a file, even an empty one
            self._writer(name)

    def _writer(self, name: str) -> pq.ParquetWriter:
        w = self.writers.get(name)
        if w is None:
            folder = self.out / name
            folder.mkdir(parents=True, exist_ok=True)
            table = self.tables[name]
            # dictionary-encoding thousands of feature vectors costs 15x the write and saves nothing
            dictionary = list(table.symbols) if any(t == "DOUBLE[]" for _, t in table.columns) else True
            w = self.writers[name] = pq.ParquetWriter(folder / f"part-{self.worker}.parquet", arrow_schema(table),
                                                      use_dictionary=dictionary)
        return w

    def write_batch(self, items: list[AnyRow]) -> None:
        by_table: dict[str, list] = {}
        for row in items:
            by_table.setdefault(row.table, []).append(row)
        for name, rows in by_table.items():
            self.pending.setdefault(name, []).extend(rows)
            self.pending_rows[name] = self.pending_rows.get(name, 0) + sum(
                1 if type(r) is TableRow else len(r) for r in rows)
            since = self.pending_since.setdefault(name, _first_ts(rows[0]))
            # a table of a few rows per second would take hours to fill a row group: memory
            # grows all that time, so a row group also closes after 10 minutes of market
            if self.pending_rows[name] >= ROW_GROUP_ROWS or _last_ts(rows[-1]) - since >= ROW_GROUP_SPAN_NS:
                self._flush(name)

    def _from_rows(self, name: str, rows: list[TableRow]) -> pa.Table:
        table = self.tables[name]
        cols: dict[str, list] = {"ts": [r.ts for r in rows]}
        for s in table.symbols:
            cols[s] = [r.symbols.get(s) for r in rows]
        for c, t in table.columns:
            cols[c] = [r.columns.get(c) for r in rows]
            if t == "DOUBLE[]":
                cols[c] = _list_array(cols[c])
        return pa.table(cols, schema=self.schemas[name])

    def _from_blocks(self, name: str, blocks: list[TableRows]) -> pa.Table:
        """The blocks' columns end to end, one array per column (NaN, None in a DOUBLE: null)."""
        table = self.tables[name]
        counts = [len(b) for b in blocks]
        cols: dict[str, object] = {"ts": _joined([b.ts if not isinstance(b.ts, int) else [b.ts] * n
                                                  for b, n in zip(blocks, counts)], np.int64)}
        for s in table.symbols:
            values: list = []
            for b, n in zip(blocks, counts):
                tag = b.symbols.get(s)
                values.extend(tag if isinstance(tag, list) else [tag] * n)
            cols[s] = values
        for c, t in table.columns:
            if t == "DOUBLE[]":  # a list column: one array per row
                cols[c] = _list_array([x for b in blocks for x in b.columns[c]])
                continue
            cols[c] = pa.array(_joined([b.columns[c] for b in blocks], _DTYPES[t]), type=_TYPES[t],
                               from_pandas=t == "DOUBLE")
        return pa.table(cols, schema=self.schemas[name])

    def _flush(self, name: str) -> None:
        """One row group from the rows held for this table: a file of many tiny row groups
        is slow to read, and the writer keeps every row group's metadata in memory."""
        pending = self.pending.pop(name, [])
        self.pending_rows.pop(name, None)
        self.pending_since.pop(name, None)
        pieces = []
        for is_block, run in itertools.groupby(pending, key=lambda r: type(r) is TableRows):
            run = list(run)
            pieces.append(self._from_blocks(name, run) if is_block else self._from_rows(name, run))
        if pieces:
            self._writer(name).write_table(pa.concat_tables(pieces), row_group_size=ROW_GROUP_ROWS * 2)

    def close(self) -> None:
        for name in list(self.pending):
            self._flush(name)
        for w in self.writers.values():
            w.close()


def _first_ts(row: AnyRow) -> int:
    return row.ts if isinstance(row.ts, int) else int(row.ts[0])


def _last_ts(row: AnyRow) -> int:
    return row.ts if isinstance(row.ts, int) else int(row.ts[-1])


def _list_array(arrays: list) -> pa.ListArray:
    """One array per row -> a list<double> column, from one flat buffer (no per-value work)."""
    values = [np.asarray(a, dtype=np.float64) for a in arrays]
    offsets = np.zeros(len(values) + 1, dtype=np.int32)
    np.cumsum([len(v) for v in values], out=offsets[1:])
    flat = np.concatenate(values) if values else np.zeros(0)
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(flat))


def _joined(parts: list, dtype: type) -> np.ndarray:
    """Columns of several blocks as one array: lists joined first (one conversion), arrays
    concatenated."""
    if all(isinstance(p, list) for p in parts):
        return np.asarray(list(itertools.chain.from_iterable(parts)), dtype=dtype)
    return np.concatenate([np.asarray(p, dtype=dtype) for p in parts])


class ParquetSink(DynamicSink[AnyRow]):
    def __init__(self, out: Path | str, tables: list[Table]) -> None:
        self.out = Path(out)
        self.tables = {t.name: t for t in tables}

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _ParquetPartition:
        return _ParquetPartition(self.out, self.tables, worker_index)


def write_tables(out: Path | str, tables: list[Table], rows: list[AnyRow]) -> None:
    """Rows into one Parquet folder per table under `out` (replacing what was there), the
    way the flow's sink writes them (`cobflow features`)."""
    out = Path(out)
    for t in tables:
        for old in (out / t.name).glob("*.parquet"):
            old.unlink()
    part = _ParquetPartition(out, {t.name: t for t in tables}, 0)
    part.write_batch(rows)
    part.close()
