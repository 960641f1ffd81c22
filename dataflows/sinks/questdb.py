"""A Bytewax sink writing table rows to QuestDB: one partition per table, all sent by one
background thread in few large transactions (`_Sender`), all of an epoch in QuestDB before
its snapshot where a recovery store needs it, riding through a QuestDB restart or stall.

A table's rows become line protocol (ILP over HTTP, protocol version 2) in one of two ways:
- `_NativeLines`: the native core writes a batch of rows and blocks of rows (`TableRows`:
  a second's buckets, its venues' health) in one call, the blocks straight from their
  column arrays, byte for byte what the client's `Buffer.row` writes for the same rows; the
  bytes are POSTed to QuestDB's /write (the endpoint the client uses). The sink's share of
  the Kafka flow's thread fell from 17% to 5-6% (py-spy, the benchmark hour's 516k rows: the
  client path cost ~3.5 us a row there, a dict and a call per row).
- `_ClientLines`: the official client, row by row: tables with array columns (features,
  model outputs: sparse, a row per symbol and second), and every table where the native
  core is off (`COBFLOW_NATIVE=0`, or a build without Rust).
The client's bulk paths were measured and left: its dataframe path needs pandas and costs
~1.5 ms a frame plus ~1 us a row (the flows' batches hold a few hundred rows of a table);
its columnar QWP path needs a newer server than QuestDB 9.3.4, the newest on Maven Central."""

from __future__ import annotations

import http.client
import json
import sys
import threading
import time
from typing import Any

from bytewax.outputs import FixedPartitionedSink, StatefulSinkPartition
from questdb import QuestDBError as ClientError
from questdb import Sender, TimestampNanos

from cobflow import native
from cobflow.config import QuestDBSettings
from cobflow.qdb import QuestDBError, ensure_tables
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


class QuestDBAway(ConnectionError):
    """QuestDB did not answer a write (not running, restarting, stalled, or a 5xx)."""


class RowsRefused(QuestDBError):
    """QuestDB answered a write with an error about the rows (HTTP 4xx): nothing of the
    request was committed, and sending it again would not help."""


def is_outage(exc: BaseException) -> bool:
    """QuestDB away (restarting, stalled, unreachable), as opposed to rows it refuses."""
    if isinstance(exc, QuestDBAway):
        return True
    if isinstance(exc, RowsRefused):
        return False
    code = getattr(getattr(exc, "code", None), "name", "")
    if code in ("SocketError", "ConnectTimeout", "CouldNotResolveAddr", "HandshakeError", "ServerInternalError"):
        return True
    text = str(exc).lower()
    return any(w in text for w in _OUTAGE_WORDS)


class _ClientLines:
    """A table's rows through the official client, one `Buffer.row` call a row (blocks
    expanded). Two buffers: the flow fills one while the other is sent."""

    def __init__(self, settings: QuestDBSettings, table: Table) -> None:
        self._table = settings.table_prefix + table.name
        # TIMESTAMP columns (other than ts) travel as ns integers in the rows
        self._stamped = [c for c, kind in table.columns if kind == "TIMESTAMP"]
        # auto-flush off: the sink decides when rows go, each flush one transaction. The
        # protocol version is pinned (arrays need 2) so a sender can be made while QuestDB
        # is away; the client's own retries (retry_timeout, 10 s) absorb short blips.
        self._conf = settings.ilp_conf + "auto_flush=off;protocol_version=2;"
        self._sender = Sender.from_conf(self._conf)
        self._sender.establish()
        self._buf = self._sender.new_buffer()
        self._spare = self._sender.new_buffer()  # the one being sent while rows go into the other

    def add(self, items: list[AnyRow]) -> int:
        buf, n = self._buf, 0
        for x in items:  # in arrival order: the last row of a key wins (dedup upsert)
            if type(x) is TableRows:
                self._block_rows(buf, x)
                n += len(x)
                continue
            row: TableRow = x  # type: ignore[assignment]
            for c in self._stamped:  # a None column is left out (QuestDB stores null)
                v = row.columns.get(c)
                if v is not None:
                    row.columns[c] = TimestampNanos(int(v))
            buf.row(self._table, symbols=row.symbols, columns=row.columns, at=TimestampNanos(row.ts))
            n += 1
        return n

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

    def take(self) -> Any:  # a questdb Buffer (not exported by the package)
        buf, self._buf, self._spare = self._buf, self._spare, self._buf
        return buf

    def send(self, buf: Any) -> None:
        self._sender.flush(buf, clear=False)  # an explicit buffer survives a failed flush

    def sent(self, buf: Any) -> None:
        buf.clear()

    def reconnect(self) -> None:
        try:
            self._sender.close()
        except ClientError:
            pass
        self._sender = Sender.from_conf(self._conf)
        self._sender.establish()

    def close(self) -> None:
        self._sender.close()


class _NativeLines:
    """A table's rows written as line protocol by the native core, one call a batch, and
    POSTed to QuestDB's ILP endpoint on a kept-alive connection."""

    def __init__(self, settings: QuestDBSettings, table: Table, writer: Any) -> None:
        self._table = settings.table_prefix + table.name
        self._writer = writer  # cobflow._native.IlpTable
        self._host, self._port = settings.host, settings.http_port
        self._conn: http.client.HTTPConnection | None = None

    def add(self, items: list[AnyRow]) -> int:
        return self._writer.add(items)

    def take(self) -> bytes:
        return self._writer.take()

    def send(self, body: bytes) -> None:
        """One request, one transaction. A kept-alive connection that fails is tried once
        more on a new one (the server may have closed it meanwhile) before QuestDB counts as
        away; a request sent twice leaves no duplicate (every table has dedup keys)."""
        for attempt in (0, 1):
            fresh = self._conn is None
            try:
                status, answer = self._post(body)
                break
            except (OSError, http.client.HTTPException) as exc:
                if fresh or attempt:
                    raise QuestDBAway(f"QuestDB at {self._host}:{self._port}: {exc}") from None
        if status in (200, 204):
            return
        if status >= 500:
            raise QuestDBAway(f"QuestDB at {self._host}:{self._port}: http-status={status} {answer}")
        raise RowsRefused(f"QuestDB refused rows of {self._table} (HTTP {status}): {answer}")

    def _post(self, body: bytes) -> tuple[int, str]:
        if self._conn is None:
            self._conn = http.client.HTTPConnection(self._host, self._port, timeout=10)
        conn = self._conn
        try:
            if conn.sock is None:
                conn.connect()
            conn.sock.settimeout(10 + len(body) / 102_400)  # type: ignore[union-attr]  # the client's: 10 s + 100 kB/s
            conn.request("POST", "/write?precision=n", body=body)
            resp = conn.getresponse()
            text = resp.read()
        except BaseException:
            conn.close()
            self._conn = None
            raise
        if resp.will_close:
            conn.close()
            self._conn = None
        return resp.status, _message(text)

    def sent(self, body: bytes) -> None:
        pass

    def reconnect(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def close(self) -> None:
        self.reconnect()


def _message(answer: bytes) -> str:
    """QuestDB's error answer in one line (its JSON `message`, or the text)."""
    text = answer.decode("utf-8", "replace")
    try:
        text = str(json.loads(text).get("message", text))
    except (ValueError, AttributeError):
        pass
    return " ".join(text.split())[:500]


class _Sender:
    """The one thread that sends every table's rows of a sink (per process): each table's
    rows go once none came for QUIET_S (a live flow's second goes at once), or its oldest
    row has waited FLUSH_EVERY_S (a backlog goes in few large transactions while the flow
    goes on computing), or when an epoch ends or the flow closes. (An earlier session
    measured QuestDB spending more CPU on one small WAL transaction per batch than the flow
    spent computing.) One thread for all tables, not one each: every wake-up of a sender
    takes the GIL from the flow's thread; with 16 the Kafka run of the benchmark hour took
    9.1-9.3 s, with one 8.6-8.9 s."""

    def __init__(self) -> None:
        self.cv = threading.Condition()  # guards every partition's counters too
        self.parts: list[_QuestDBPartition] = []
        self.thread: threading.Thread | None = None

    def add(self, part: _QuestDBPartition) -> None:
        with self.cv:
            self.parts.append(part)
            if self.thread is None:
                self.thread = threading.Thread(target=self._loop, daemon=True, name="questdb-sender")
                self.thread.start()

    def remove(self, part: _QuestDBPartition) -> None:
        with self.cv:
            self.parts.remove(part)
            self.cv.notify_all()

    def _loop(self) -> None:
        cv = self.cv
        while True:
            with cv:
                while True:
                    if not self.parts:
                        self.thread = None  # under the lock: the next partition starts a new one
                        return
                    now = time.monotonic()
                    due = [p for p in self.parts if p._due(now)]
                    if due:
                        break
                    waits = [p._next_at() for p in self.parts if p._pending and p._failure is None]
                    cv.wait(min(waits) - now if waits else None)
                batches = [(p, p._take()) for p in due]
                cv.notify_all()  # a flow waiting for room may go on
            for p, batch in batches:  # outside the lock: the flow writes the next rows meanwhile
                failure = None
                try:
                    p._flush(batch)
                    p._lines.sent(batch)
                except BaseException as exc:  # noqa: BLE001 (raised again in the flow's thread)
                    failure = exc
                with cv:
                    p._failure = p._failure or failure
                    p._sending = False
                    cv.notify_all()


class _QuestDBPartition(StatefulSinkPartition[AnyRow, None]):
    """One table's rows: the flow's thread writes them (`_lines`), the sink's sender thread
    (`_Sender`) sends them; the end of each epoch (`snapshot`) returns only once every row
    written before it is in QuestDB."""

    def __init__(self, settings: QuestDBSettings, table: Table, sender: _Sender, barrier: bool = True) -> None:
        self._barrier = barrier
        self._url = settings.http_url
        writer = native.line_writer(settings.table_prefix + table.name, table)
        self._lines: _ClientLines | _NativeLines = (
            _ClientLines(settings, table) if writer is None else _NativeLines(settings, table, writer))
        self._pending = 0  # rows written since the last send
        self._first_at = self._last_at = 0.0  # monotonic time of its oldest and newest rows
        self._sending = False
        self._send_now = False  # an epoch ends: send whatever is there
        self._closed = False
        self._failure: BaseException | None = None
        self._sender = sender
        self._cv = sender.cv
        sender.add(self)

    def write_batch(self, items: list[AnyRow]) -> None:
        with self._cv:
            self._raise_failure()
            while self._pending >= FLUSH_ROWS:  # QuestDB slow or away: the flow waits (back pressure)
                self._cv.wait()
                self._raise_failure()
            before = self._pending
            self._pending += self._lines.add(items)  # in arrival order: the last row of a key wins (dedup upsert)
            now = time.monotonic()
            self._last_at = now
            if before == 0 and self._pending:
                self._first_at = now
                self._cv.notify_all()  # the sender starts this table's clocks
            elif self._pending >= FLUSH_ROWS:
                self._cv.notify_all()
            # else the sender wakes on its own clock: a wake-up per batch would take the GIL
            # from the flow's thread once per table and batch

    def _due(self, now: float) -> bool:
        """Rows to send now (the sender's lock held)."""
        if not self._pending or self._sending or self._failure is not None:
            return False
        return self._send_now or self._closed or self._pending >= FLUSH_ROWS or now >= self._next_at()

    def _next_at(self) -> float:
        return min(self._last_at + QUIET_S, self._first_at + FLUSH_EVERY_S)

    def _take(self) -> Any:
        """The rows written so far, to be sent (the sender's lock held)."""
        self._pending = 0
        self._sending = True
        return self._lines.take()

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
            self._wait_sent()
            self._send_now = False
            self._raise_failure()

    def _wait_sent(self) -> None:
        while (self._pending or self._sending) and self._failure is None:
            self._cv.wait()

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure

    def _flush(self, batch: Any) -> None:
        """Send the batch; while QuestDB is away, hold it (and so the flow: back pressure)
        and try again with backoff, one line when it goes and one when it is back. The
        batch is one transaction and every table has dedup keys, so a batch sent twice
        (committed, its answer lost) leaves no duplicate."""
        outage = _outages.setdefault(self._url, _Outage(self._url))
        away = False
        tries = 0
        while True:
            try:
                self._lines.send(batch)
            except (ClientError, QuestDBError, QuestDBAway) as exc:
                if not is_outage(exc):
                    raise
                if not away:
                    away = True
                    outage.away(exc)
                time.sleep(BACKOFF_S[min(tries, len(BACKOFF_S) - 1)])
                tries += 1
                self._lines.reconnect()
                continue
            if away:
                outage.back(tries)
            return

    def close(self) -> None:
        with self._cv:
            self._closed = True
            self._cv.notify_all()
            self._wait_sent()
        self._sender.remove(self)
        self._lines.close()
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
        self._sender = _Sender()

    def list_parts(self) -> list[str]:
        return self._parts

    def part_fn(self, item_key: str) -> int:
        return self._index[item_key]

    def build_part(self, step_id: str, for_part: str, resume_state: None) -> _QuestDBPartition:
        if not self._ensured:  # every table of the flow, rows or not (readers query them all)
            ensure_tables(self._settings, list(self._tables.values()))
            self._ensured = True
        return _QuestDBPartition(self._settings, self._tables[for_part], self._sender, self._barrier)


def by_table(batch: list[AnyRow]) -> list[tuple[str, AnyRow]]:
    """Rows keyed by their table, the sink's partition (`op.flat_map_batch`: once a batch)."""
    return [(row.table, row) for row in batch]


class RowWriter:
    """Rows of a process that is not a dataflow (the order gateway) into QuestDB, through the
    official client: one transaction a table a call. A failed call raises (the caller keeps
    the rows and tries again; the tables' dedup keys make a repeat harmless)."""

    def __init__(self, settings: QuestDBSettings, tables: list[Table]) -> None:
        ensure_tables(settings, tables)
        self.settings = settings
        self.tables = {t.name: t for t in tables}
        self.lines: dict[str, _ClientLines] = {}

    def write(self, rows: list[AnyRow]) -> None:
        by_table: dict[str, list[AnyRow]] = {}
        for r in rows:
            by_table.setdefault(r.table, []).append(r)
        for name, rs in by_table.items():
            lines = self.lines.get(name)
            if lines is None:
                lines = self.lines[name] = _ClientLines(self.settings, self.tables[name])
            lines.add(rs)
            buf = lines.take()
            try:
                lines.send(buf)
            finally:
                lines.sent(buf)  # sent or not: the caller holds the rows

    def close(self) -> None:
        for lines in self.lines.values():
            try:
                lines.close()
            except ClientError:
                pass
        self.lines.clear()
