"""The report's data, from QuestDB or from `cobflow compute`'s Parquet: the same columns,
as numpy arrays, `ts` in ns since the epoch."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cobflow.config import QuestDBSettings
from cobflow.tables import TABLES

Columns = dict[str, np.ndarray]


def _ns(iso: str) -> int:
    d = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return (int(d.timestamp()) * 1_000_000_000) + d.microsecond * 1000


class ReportSource(Protocol):
    def load(self, table: str, where: dict[str, str], start: int | None, end: int | None) -> Columns: ...

    def dead_letters(self, venues: set[str], start: int, end: int) -> int: ...


def _columns(table: str) -> list[str]:
    t = TABLES[table]
    return ["ts", *t.symbols, *(c for c, _ in t.columns)]


def _empty(table: str) -> Columns:
    out: Columns = {c: np.array([]) for c in _columns(table)}
    out["ts"] = np.array([], dtype=np.int64)
    return out


class QuestDBSource:
    def __init__(self, settings: QuestDBSettings) -> None:
        self.settings = settings

    def _query(self, sql: str) -> tuple[list[str], list[list]]:
        from cobflow.qdb import exec_sql

        body = exec_sql(self.settings, sql, timeout=120)
        return [c["name"] for c in body["columns"]], body["dataset"]

    def load(self, table: str, where: dict[str, str], start: int | None, end: int | None) -> Columns:
        cols = _columns(table)
        if not self._exists(table):
            return _empty(table)
        cond = [f"{k} = '{v}'" for k, v in where.items()]
        if start is not None:
            cond.append(f"ts >= {start // 1000}")  # timestamps compare in microseconds
        if end is not None:
            cond.append(f"ts < {end // 1000}")
        quoted = ", ".join(f'"{c}"' for c in cols)  # `offset` is an SQL keyword
        sql = (f"SELECT {quoted} FROM {self.settings.table(table)}"
               + (f" WHERE {' AND '.join(cond)}" if cond else "") + " ORDER BY ts LIMIT 2000000")
        names, rows = self._query(sql)
        out: Columns = {}
        for i, name in enumerate(names):
            values = [r[i] for r in rows]
            out[name] = np.array([_ns(v) for v in values], dtype=np.int64) if name == "ts" else np.array(values)
        return out

    def _exists(self, table: str) -> bool:
        _, rows = self._query(f"SELECT count() FROM tables() WHERE table_name = '{self.settings.table(table)}'")
        return bool(rows and rows[0][0])

    def dead_letters(self, venues: set[str], start: int, end: int) -> int:
        names = ", ".join(f"'{v}'" for v in sorted(venues))
        _, rows = self._query(f"SELECT count() FROM {self.settings.table('dead_letters')} "
                              f"WHERE venue IN ({names}) AND ts >= {start // 1000} AND ts < {end // 1000}")
        return int(rows[0][0])


class ParquetSource:
    """The folder `cobflow compute --out` wrote."""

    def __init__(self, folder: Path) -> None:
        if not (folder / "cob_summary").is_dir():
            raise FileNotFoundError(f"{folder}: no cob_summary/ folder (is it `cobflow compute`'s --output?)")
        self.folder = folder

    def load(self, table: str, where: dict[str, str], start: int | None, end: int | None) -> Columns:
        from cobflow.dataflows.sinks.parquet import read_table

        if not any((self.folder / table).glob("*.parquet")):
            return _empty(table)  # a table this run did not write (the COB flow has no trading)
        t = read_table(self.folder, table)
        ts = pc.cast(t["ts"], pa.int64())
        mask = pc.and_(pc.greater_equal(ts, start if start is not None else -(2**62)),
                       pc.less(ts, end if end is not None else 2**62))
        for k, v in where.items():
            mask = pc.and_(mask, pc.equal(t[k], v))
        t = t.filter(mask)
        t = t.take(pc.sort_indices(pc.cast(t["ts"], pa.int64())))
        out = {c: t[c].to_numpy(zero_copy_only=False) for c in t.column_names if c != "ts"}
        out["ts"] = pc.cast(t["ts"], pa.int64()).to_numpy()
        return out

    def dead_letters(self, venues: set[str], start: int, end: int) -> int:
        n = 0
        for f in self.folder.glob("dead_letters*.jsonl"):
            for line in f.open("rb"):
                msg = json.loads(line)["message"]
                n += msg["exchange"] in venues and start <= msg["ts_recv"] < end
        return n
