"""A Bytewax sink writing table rows to QuestDB with the official client: one partition per
table, sent by a background thread in few large transactions (see _QuestDBPartition), all of
an epoch in QuestDB before its snapshot, riding through a QuestDB restart or stall.

Blocks of rows (`TableRows`: a second's buckets, its venues' health) are written straight
from their columns. The client's bulk paths were measured and left: its dataframe path
(pandas) costs ~1.5 ms a frame plus ~1 us a row against ~3 us a row here, so it pays only
from ~750 rows of one table in a batch (the flows' batches hold a few hundred), and pandas,
once installed, is imported by TA-Lib in every flow (+0.4 s start-up, +40 MB); its columnar
QWP path needs a newer server than QuestDB 9.3.4, the newest on Maven Central."""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

from bytewax.outputs import FixedPartitionedSink, StatefulSinkPartition
from questdb import QuestDBError, Sender, TimestampNanos

from cobflow.config import QuestDBSettings
from cobflow.qdb import ensure_tables
from cobflow.tables import AnyRow, Table, TableRow, TableRows

#: Waits between two tries while QuestDB is away (seconds): doubling, then every 10 s.
BACKOFF_S = (0.5, 1.0, 2.0, 4.0, 8.0, 10.0)
#: A table's rows go out once none came for QUIET_S, or once the oldest has waited
#: FLUSH_EVERY_S, and at every epoch's end; from FLUSH_ROWS rows on the flow waits for them.
QUIET_S = 0.2
FLUSH_EVERY_S = 1.0
FLUSH_ROWS = 100_000
_OUTAGE_WORDS = ("connection refused", "connection reset", "timed out", "timeout", "broken pipe", "io:",
                 "http-status=502", "http-status=503", "http-status=504", "unexpected eof")


def is_outage(exc: BaseException) -> bool:
    """QuestDB away (restarting, stalled, unreachable), as opposed to rows it refuses."""
    code = getattr(getattr(exc, "code", None), "name", "")
    if code in ("SocketError", "ConnectTimeout", "CouldNotResolveAddr", "HandshakeError", "ServerInternalError"):
        return True
    text = str(exc).lower()
    return any(w in text for w in _OUTAGE_WORDS)


class _QuestDBPartition(StatefulSinkPartition[AnyRow, None]):
    """One table's rows. The flow's thread puts them into a buffer; a sender thread sends it
    once no rows came for QUIET_S (a live flow's second goes at once), or its oldest row has
    waited FLUSH_EVERY_S (a backlog goes in few large transactions, while the flow goes on
    computing), and at the end of each epoch (`snapshot`), which returns only once every row
    written before it is in QuestDB. QuestDB spent more CPU on one small WAL transaction per
    batch (31 CPU s for the benchmark hour) than the flow spent computing; now 9.4."""

    def __init__(self, settings: QuestDBSettings, table: Table, barrier: bool = True) -> None:
        self._barrier = barrier
        self._prefix = settings.table_prefix
        self._url = settings.http_url
        # TIMESTAMP columns (other than ts) travel as ns integers in the rows
        self._table = settings.table_prefix + table.name
        self._stamped = [c for c, kind in table.columns if kind == "TIMESTAMP"]
        # auto-flush off: the sink decides when rows go, each flush one transaction. The
        # protocol version is pinned (arrays need 2) so a sender can be made while QuestDB
        # is away; the client's own retries (retry_timeout, 10 s) absorb short blips.
        self._conf = settings.ilp_conf + "auto_flush=off;protocol_version=2;"
        self._sender = Sender.from_conf(self._conf)
        self._sender.establish()
        self._buf = self._sender.new_buffer()
        self._spare = self._sender.new_buffer()  # the one being sent while rows go into the other
        self._pending = 0  # rows in self._buf
        self._first_at = self._last_at = 0.0  # monotonic time of its oldest and newest rows
        self._sending = False
        self._send_now = False  # an epoch ends: send whatever is there
        self._closed = False
        self._failure: BaseException | None = None
        self._cv = threading.Condition()
        self._thread = threading.Thread(target=self._sender_loop, daemon=True, name=f"questdb-{table.name}")
        self._thread.start()

    def write_batch(self, items: list[AnyRow]) -> None:
        with self._cv:
            self._raise_failure()
            while self._pending >= FLUSH_ROWS:  # QuestDB slow or away: the flow waits (back pressure)
                self._cv.wait()
                self._raise_failure()
            buf, before = self._buf, self._pending
            for x in items:  # in arrival order: the last row of a key wins (dedup upsert)
                if type(x) is TableRows:
                    self._block_rows(buf, x)
                    self._pending += len(x)
                    continue
                row: TableRow = x  # type: ignore[assignment]
                for c in self._stamped:  # a None column is left out (QuestDB stores null)
                    v = row.columns.get(c)
                    if v is not None:
                        row.columns[c] = TimestampNanos(int(v))
                buf.row(self._table, symbols=row.symbols, columns=row.columns, at=TimestampNanos(row.ts))
                self._pending += 1
            now = time.monotonic()
            if before == 0:
                self._first_at = now
            self._last_at = now
            self._cv.notify_all()

    def snapshot(self) -> None:
        """The epoch ends: every row written so far is in QuestDB before its snapshot is kept
        (a restart from that snapshot must not miss rows the flow had handed over). Without
        the barrier (no recovery store, so no snapshot is kept) the rows go by the timing rules
        alone and the flow does not wait."""
        if not self._barrier:
            with self._cv:
                self._raise_failure()
            return
        with self._cv:
            self._send_now = True
            self._cv.notify_all()
            while (self._pending or self._sending) and self._failure is None:
                self._cv.wait()
            self._send_now = False
            self._raise_failure()

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure

    def _sender_loop(self) -> None:
        while True:
            with self._cv:
                while True:
                    if self._failure is not None or (self._closed and not self._pending):
                        return
                    now = time.monotonic()
                    if self._pending and (self._send_now or self._closed or self._pending >= FLUSH_ROWS
                                          or now - self._last_at >= QUIET_S or now - self._first_at >= FLUSH_EVERY_S):
                        break
                    self._cv.wait(QUIET_S / 2 if self._pending else None)
                buf, self._buf, self._spare = self._buf, self._spare, self._buf
                self._pending = 0
                self._sending = True
                self._cv.notify_all()  # a flow waiting for room may go on
            try:  # outside the lock: the flow fills the other buffer meanwhile
                self._flush(buf)
                buf.clear()
            except BaseException as exc:  # noqa: BLE001 (raised again in the flow's thread)
                with self._cv:
                    self._failure = exc
            with self._cv:
                self._sending = False
                self._cv.notify_all()

    def _block_rows(self, buf: Any, b: TableRows) -> None:
        """A block row by row, straight from its columns: no TableRow in between (building
        those cost three times what the client's own row call costs)."""
        ts, tags, names, cols = b.expanded(shared_tags=True)  # the client only reads the tags
        for c in self._stamped:
            if c in b.columns:
                i = names.index(c)
                cols[i] = [None if v is None else TimestampNanos(int(v)) for v in cols[i]]
        row, table = buf.row, self._table
        for tag, at, vals in zip(tags, ts, zip(*cols)):
            row(table, symbols=tag, columns=dict(zip(names, vals)), at=TimestampNanos(at))

    def _flush(self, buf: Any) -> None:  # a questdb Buffer (not exported by the package)
        """Send the batch; while QuestDB is away, hold it (and so the flow: back pressure)
        and try again with backoff, one line when it goes and one when it is back. The
        batch is one transaction and every table has dedup keys, so a batch sent twice
        (committed, its answer lost) leaves no duplicate."""
        outage = _outages.setdefault(self._url, _Outage(self._url))
        away = False
        tries = 0
        while True:
            try:
                self._sender.flush(buf, clear=False)  # an explicit buffer survives a failed flush
            except QuestDBError as exc:
                if not is_outage(exc):
                    raise
                if not away:
                    away = True
                    outage.away(exc)
                time.sleep(BACKOFF_S[min(tries, len(BACKOFF_S) - 1)])
                tries += 1
                self._reconnect()
                continue
            if away:
                outage.back(tries)
            return

    def _reconnect(self) -> None:
        try:
            self._sender.close()
        except QuestDBError:
            pass
        self._sender = Sender.from_conf(self._conf)
        self._sender.establish()

    def close(self) -> None:
        with self._cv:
            self._closed = True
            self._cv.notify_all()
        self._thread.join()
        self._sender.close()
        self._raise_failure()


class _Outage:
    """One line when QuestDB goes away and one when it is back, however many of the sink's
    tables (each its own sender) are waiting for it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.lock = threading.Lock()
        self.waiting = 0
        self.since: float | None = None
        self.tries = 0

    def away(self, exc: BaseException) -> None:
        with self.lock:
            self.waiting += 1
            if self.since is None:
                self.since = time.monotonic()
                print(f"cobflow: QuestDB at {self.url} is away ({' '.join(str(exc).split())[:200]}); holding the "
                      "rows, the flow waits and retries", file=sys.stderr, flush=True)

    def back(self, tries: int) -> None:
        with self.lock:
            self.waiting -= 1
            self.tries = max(self.tries, tries)
            if self.waiting == 0 and self.since is not None:
                print(f"cobflow: QuestDB is back after {time.monotonic() - self.since:.1f} s ({self.tries} retries); "
                      "the rows held are written", file=sys.stderr, flush=True)
                self.since, self.tries = None, 0


_outages: dict[str, _Outage] = {}  # QuestDB URL -> its outage (the partitions of a process share it)


class QuestDBSink(FixedPartitionedSink[AnyRow, None]):
    """One partition per table (items keyed by table name, `by_table`). The first partition
    built creates every table by explicit DDL (dedup keys, WAL) before its first row.
    `barrier`: each epoch's snapshot waits until the epoch's rows are in QuestDB (needed with
    a recovery store, `FlowSettings.recovery`)."""

    def __init__(self, settings: QuestDBSettings, tables: list[Table], barrier: bool = True) -> None:
        self._settings = settings
        self._barrier = barrier
        self._tables = {t.name: t for t in tables}
        self._parts = sorted(self._tables)
        self._index = {name: i for i, name in enumerate(self._parts)}
        self._ensured = False

    def list_parts(self) -> list[str]:
        return self._parts

    def part_fn(self, item_key: str) -> int:
        return self._index[item_key]

    def build_part(self, step_id: str, for_part: str, resume_state: None) -> _QuestDBPartition:
        if not self._ensured:  # every table of the flow, rows or not (readers query them all)
            ensure_tables(self._settings, list(self._tables.values()))
            self._ensured = True
        return _QuestDBPartition(self._settings, self._tables[for_part], self._barrier)


def by_table(batch: list[AnyRow]) -> list[tuple[str, AnyRow]]:
    """Rows keyed by their table, the sink's partition (`op.flat_map_batch`: once a batch)."""
    return [(row.table, row) for row in batch]
