"""A Bytewax sink writing table rows to QuestDB with the official client, one flush per
batch, riding through a QuestDB restart or stall. Blocks of rows (`TableRows`: a second's
buckets, its venues' health) go in bulk through the client's dataframe path, one frame per
table per batch; single rows (and tables a batch has few rows of) go row by row."""

from __future__ import annotations

import sys
import time
from typing import Any

import numpy as np
import pandas as pd
from bytewax.outputs import DynamicSink, StatelessSinkPartition
from questdb import QuestDBError, Sender, TimestampNanos

from cobflow.config import QuestDBSettings
from cobflow.qdb import ensure_tables
from cobflow.tables import TABLES, AnyRow, Table, TableRow, TableRows

#: Waits between two tries while QuestDB is away (seconds): doubling, then every 10 s.
BACKOFF_S = (0.5, 1.0, 2.0, 4.0, 8.0, 10.0)
#: a table's blocks of rows go through the dataframe path from this many rows in a batch on
#: (building a frame costs about as much as writing 30 rows one by one)
DATAFRAME_MIN_ROWS = 32
_OUTAGE_WORDS = ("connection refused", "connection reset", "timed out", "timeout", "broken pipe", "io:",
                 "http-status=502", "http-status=503", "http-status=504", "unexpected eof")


def is_outage(exc: BaseException) -> bool:
    """QuestDB away (restarting, stalled, unreachable), as opposed to rows it refuses."""
    code = getattr(getattr(exc, "code", None), "name", "")
    if code in ("SocketError", "ConnectTimeout", "CouldNotResolveAddr", "HandshakeError", "ServerInternalError"):
        return True
    text = str(exc).lower()
    return any(w in text for w in _OUTAGE_WORDS)


class _QuestDBPartition(StatelessSinkPartition[AnyRow]):
    def __init__(self, settings: QuestDBSettings, tables: list[Table]) -> None:
        self._prefix = settings.table_prefix
        self._url = settings.http_url
        # TIMESTAMP columns (other than ts) travel as ns integers in the rows
        self._timestamps = {t.name: [c for c, kind in t.columns if kind == "TIMESTAMP"] for t in tables}
        self._arrays = {t.name for t in tables if any(kind == "DOUBLE[]" for _, kind in t.columns)}  # row path
        # auto-flush off: each Bytewax batch is one HTTP request, committed as a whole. The
        # protocol version is pinned (arrays need 2) so a sender can be made while QuestDB
        # is away; the client's own retries (retry_timeout, 10 s) absorb short blips.
        self._conf = settings.ilp_conf + "auto_flush=off;protocol_version=2;"
        self._sender = Sender.from_conf(self._conf)
        self._sender.establish()

    def write_batch(self, items: list[AnyRow]) -> None:
        buf = self._sender.new_buffer()
        blocks: dict[str, list[TableRows]] = {}
        rows: list[TableRow] = []
        single: set[str] = set()  # tables with single rows in this batch: all their rows in order
        for x in items:
            if type(x) is TableRows:
                blocks.setdefault(x.table, []).append(x)
            else:
                rows.append(x)  # type: ignore[arg-type]
                single.add(x.table)
        for table, group in blocks.items():
            if table in single or table in self._arrays or sum(map(len, group)) < DATAFRAME_MIN_ROWS:
                rows.extend(r for b in group for r in b.rows())
            else:
                buf.dataframe(self._frame(TABLES[table], group), table_name=self._prefix + table,
                              symbols=list(TABLES[table].symbols), at="ts")
        prefix, timestamps = self._prefix, self._timestamps
        for row in rows:  # a None column is left out of the row (QuestDB stores null)
            for c in timestamps.get(row.table, ()):
                v = row.columns.get(c)
                if v is not None:
                    row.columns[c] = TimestampNanos(int(v))
            buf.row(prefix + row.table, symbols=row.symbols, columns=row.columns, at=TimestampNanos(row.ts))
        self._flush(buf)

    @staticmethod
    def _frame(table: Table, group: list[TableRows]) -> pd.DataFrame:
        """One table's blocks as one frame: the columns concatenated as they are (a NaN in a
        DOUBLE column travels as NaN, which QuestDB stores as null, as the row path's None)."""
        sizes = [len(b) for b in group]
        ts = np.concatenate([np.full(n, b.ts, np.int64) if isinstance(b.ts, int) else np.asarray(b.ts, np.int64)
                             for b, n in zip(group, sizes)])
        data: dict[str, Any] = {"ts": ts.view("datetime64[ns]")}
        for tag in table.symbols:
            values: list = []
            for b, n in zip(group, sizes):
                v = b.symbols[tag]
                values.extend(v if isinstance(v, list) else [v] * n)
            data[tag] = pd.Categorical(values)
        for c, kind in table.columns:
            if c not in group[0].columns:
                continue
            parts = [b.columns[c] for b in group]
            if kind == "VARCHAR":
                data[c] = [None if x is None else str(x) for p in parts for x in p]
            elif kind == "DOUBLE":
                data[c] = np.concatenate([np.asarray(p, np.float64) for p in parts])
            elif kind == "BOOLEAN":
                data[c] = np.concatenate([np.asarray(p, bool) for p in parts])
            elif kind == "TIMESTAMP":
                data[c] = np.concatenate([np.asarray(p, np.int64) for p in parts]).view("datetime64[ns]")
            else:  # LONG, INT
                data[c] = np.concatenate([np.asarray(p, np.int64) for p in parts])
        return pd.DataFrame(data, copy=False)

    def _flush(self, buf: Any) -> None:  # a questdb Buffer (not exported by the package)
        """Send the batch; while QuestDB is away, hold it (and so the flow: back pressure)
        and try again with backoff, one line when it goes and one when it is back. The
        batch is one transaction and every table has dedup keys, so a batch sent twice
        (committed, its answer lost) leaves no duplicate."""
        down_since: float | None = None
        tries = 0
        while True:
            try:
                self._sender.flush(buf, clear=False)  # an explicit buffer survives a failed flush
            except QuestDBError as exc:
                if not is_outage(exc):
                    raise
                if down_since is None:
                    down_since = time.monotonic()
                    print(f"cobflow: QuestDB at {self._url} is away ({' '.join(str(exc).split())[:200]}); holding "
                          f"{len(buf):,} bytes of rows, the flow waits and retries", file=sys.stderr, flush=True)
                time.sleep(BACKOFF_S[min(tries, len(BACKOFF_S) - 1)])
                tries += 1
                self._reconnect()
                continue
            if down_since is not None:
                print(f"cobflow: QuestDB is back after {time.monotonic() - down_since:.1f} s ({tries} retries); "
                      "the rows held are written", file=sys.stderr, flush=True)
            return

    def _reconnect(self) -> None:
        try:
            self._sender.close()
        except QuestDBError:
            pass
        self._sender = Sender.from_conf(self._conf)
        self._sender.establish()

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
