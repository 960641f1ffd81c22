"""A Bytewax sink writing table rows to QuestDB with the official client, one flush per
batch, riding through a QuestDB restart or stall.

Blocks of rows (`TableRows`: a second's buckets, its venues' health) are written straight
from their columns. The client's bulk paths were measured and left: its dataframe path
(pandas) costs ~1.5 ms a frame plus ~1 us a row against ~3 us a row here, so it pays only
from ~750 rows of one table in a batch (the flows' batches hold a few hundred), and pandas,
once installed, is imported by TA-Lib in every flow (+0.4 s start-up, +40 MB); its columnar
QWP path needs a newer server than QuestDB 9.3.4, the newest on Maven Central."""

from __future__ import annotations

import sys
import time
from typing import Any

from bytewax.outputs import DynamicSink, StatelessSinkPartition
from questdb import QuestDBError, Sender, TimestampNanos

from cobflow.config import QuestDBSettings
from cobflow.qdb import ensure_tables
from cobflow.tables import AnyRow, Table, TableRow, TableRows, python_values

#: Waits between two tries while QuestDB is away (seconds): doubling, then every 10 s.
BACKOFF_S = (0.5, 1.0, 2.0, 4.0, 8.0, 10.0)
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
        self._types = {t.name: dict(t.columns) for t in tables}
        # auto-flush off: each Bytewax batch is one HTTP request, committed as a whole. The
        # protocol version is pinned (arrays need 2) so a sender can be made while QuestDB
        # is away; the client's own retries (retry_timeout, 10 s) absorb short blips.
        self._conf = settings.ilp_conf + "auto_flush=off;protocol_version=2;"
        self._sender = Sender.from_conf(self._conf)
        self._sender.establish()

    def write_batch(self, items: list[AnyRow]) -> None:
        buf = self._sender.new_buffer()
        prefix, timestamps = self._prefix, self._timestamps
        for x in items:  # in arrival order: the last row of a key wins (dedup upsert)
            if type(x) is TableRows:
                self._block_rows(buf, x)
                continue
            row: TableRow = x  # type: ignore[assignment]
            for c in timestamps.get(row.table, ()):  # a None column is left out (QuestDB stores null)
                v = row.columns.get(c)
                if v is not None:
                    row.columns[c] = TimestampNanos(int(v))
            buf.row(prefix + row.table, symbols=row.symbols, columns=row.columns, at=TimestampNanos(row.ts))
        self._flush(buf)

    def _block_rows(self, buf: Any, b: TableRows) -> None:
        """A block row by row, straight from its columns: no TableRow in between (building
        those cost three times what the client's own row call costs)."""
        table, n, types = self._prefix + b.table, len(b), self._types[b.table]
        names = list(b.columns)
        cols = [python_values(v, types[c]) for c, v in b.columns.items()]  # nulls as None: left out
        for i, c in enumerate(names):
            if types[c] == "TIMESTAMP":
                cols[i] = [None if v is None else TimestampNanos(int(v)) for v in cols[i]]
        stamps = [TimestampNanos(b.ts)] * n if isinstance(b.ts, int) else [TimestampNanos(int(t)) for t in b.ts]
        if all(isinstance(v, str) for v in b.symbols.values()):
            tags = [dict(b.symbols)] * n  # one dict for every row (the client only reads it)
        else:
            per = {k: v if isinstance(v, list) else [v] * n for k, v in b.symbols.items()}
            tags = [dict(zip(per, vs)) for vs in zip(*per.values())]
        row = buf.row
        for tag, at, vals in zip(tags, stamps, zip(*cols)):
            row(table, symbols=tag, columns=dict(zip(names, vals)), at=at)

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
