"""A Bytewax sink writing table rows (and blocks of them, row by row) to QuestDB with the
official client, one flush per batch."""

from __future__ import annotations

from bytewax.outputs import DynamicSink, StatelessSinkPartition
from questdb import Sender, TimestampNanos

from cobflow.config import QuestDBSettings
from cobflow.qdb import ensure_tables
from cobflow.tables import AnyRow, Table, as_rows


class _QuestDBPartition(StatelessSinkPartition[AnyRow]):
    def __init__(self, settings: QuestDBSettings, tables: list[Table]) -> None:
        self._prefix = settings.table_prefix
        # TIMESTAMP columns (other than ts) travel as ns integers in the rows
        self._timestamps = {t.name: [c for c, kind in t.columns if kind == "TIMESTAMP"] for t in tables}
        # auto-flush off: each Bytewax batch is one HTTP request, committed as a whole.
        self._sender = Sender.from_conf(settings.ilp_conf + "auto_flush=off;")
        self._sender.establish()

    def write_batch(self, items: list[AnyRow]) -> None:
        sender = self._sender
        prefix, timestamps = self._prefix, self._timestamps
        for row in as_rows(items):  # a None column is left out of the row (QuestDB stores null)
            for c in timestamps.get(row.table, ()):
                v = row.columns.get(c)
                if v is not None:
                    row.columns[c] = TimestampNanos(int(v))
            sender.row(prefix + row.table, symbols=row.symbols, columns=row.columns, at=TimestampNanos(row.ts))
        sender.flush()

    def close(self) -> None:
        self._sender.close()


class QuestDBSink(DynamicSink[AnyRow]):
    """Creates its tables by explicit DDL (dedup keys, WAL) before the first row."""

    def __init__(self, settings: QuestDBSettings, tables: list[Table]) -> None:
        self._settings = settings
        self._tables = tables

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _QuestDBPartition:
        if worker_index == 0:
            ensure_tables(self._settings, self._tables)
        return _QuestDBPartition(self._settings, self._tables)
