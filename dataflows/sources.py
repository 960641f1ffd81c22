"""Bytewax sources: a capture file (`cobflow compute`: one partition, read in batches,
resumable at a message index; in a cluster of processes, read once per process for its own
symbols) and the raw.<venue> Kafka topics read in step."""

from __future__ import annotations

import itertools
import sys
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bytewax.inputs import DynamicSource, FixedPartitionedSource, StatefulSourcePartition, StatelessSourcePartition
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from cobflow import native
from cobflow.capture import CaptureError, capture_extent, read_capture
from cobflow.config import SymbolsConfig
from cobflow.consumer_lag import LagMeter
from cobflow.deadletter import DeadLetter
from cobflow.kafka_io import client_config, from_record, unreadable_record
from cobflow.operators.cob import route_by_symbol
from cobflow.progress import Progress
from cobflow.raw import RawMessage
from cobflow.shards import worker_of
from cobflow.tables import TableRow


class _CapturePartition(StatefulSourcePartition[RawMessage | DeadLetter, int]):
    def __init__(self, path: Path, batch_size: int, resume: int | None, progress: bool | str, strict: bool,
                 keep: tuple[list[tuple[str, str]], list[str]] | None = None) -> None:
        self.batch_size = batch_size
        self.offset = resume or 0
        if progress:
            total, unit = capture_extent(path)
            self.bar: Progress | None = Progress(progress if isinstance(progress, str) else "compute", total,
                                                  unit)
        else:
            self.bar = None
        self.first_ts: int | None = None
        self.started = time.monotonic()
        self.it = itertools.islice(read_capture(path, self.bar, None if strict else self._unreadable, keep),
                                   self.offset, None)

    @staticmethod
    def _unreadable(err: CaptureError, line: bytes, last_ts: int) -> DeadLetter:
        """A line that is no raw message: a dead letter (stage `read`) in its place, at the
        time of the message before it, naming the file and line and keeping the text."""
        text = line.decode("utf-8", "replace").rstrip("\r\n")
        return DeadLetter("read", str(err), RawMessage(last_ts, "unknown", "ws", "", None, text))

    def next_batch(self) -> list[RawMessage | DeadLetter]:
        batch = list(itertools.islice(self.it, self.batch_size))
        if batch and self.bar is not None:  # the market's pace: seconds of it per wall second
            first, last = (x.raw.ts_recv if type(x) is DeadLetter else x.ts_recv for x in (batch[0], batch[-1]))
            self.first_ts = first if self.first_ts is None else self.first_ts
            wall = time.monotonic() - self.started
            if wall > 0:
                self.bar.note(f"{(last - self.first_ts) / 1e9 / wall:,.0f} market s/s")
        if not batch:
            if self.bar is not None:
                self.bar.finish()
                self.bar = None
            raise StopIteration
        self.offset += len(batch)
        return batch

    def snapshot(self) -> int:
        return self.offset


class CaptureSource(FixedPartitionedSource[RawMessage | DeadLetter, int]):
    """`progress`: a progress line on stderr (how much of the file is read, rate, eta; a
    string: its label, else "compute"). A line that is no raw message is a dead letter
    (stage `read`), or with `strict` the end of the run (CaptureError, naming the file and
    line)."""

    def __init__(self, path: Path | str, batch_size: int = 1000, progress: bool | str = False,
                 strict: bool = False) -> None:
        self.path = Path(path)
        self.batch_size = batch_size
        self.progress = progress
        self.strict = strict

    def list_parts(self) -> list[str]:
        return [self.path.name]

    def build_part(self, step_id: str, for_part: str, resume_state: int | None) -> _CapturePartition:
        return _CapturePartition(self.path, self.batch_size, resume_state, self.progress, self.strict)


class _LocalCapturePartition(StatelessSourcePartition[Any]):
    """One process's read of the whole capture: the frames of the symbols its workers hold,
    grouped per symbol as the keyed step takes them, and (the first process alone) the lines
    that are no raw message."""

    def __init__(self, read: _CapturePartition | None, route: Callable[[list[RawMessage]], list], process: int
                 ) -> None:
        self.read, self.route, self.process = read, route, process

    def next_batch(self) -> list[Any]:
        if self.read is None:  # nothing to read here (see LocalCaptureSource.build)
            raise StopIteration
        batch = self.read.next_batch()  # StopIteration at the end
        unread = [x for x in batch if type(x) is DeadLetter]  # rare: the batch is routed whole otherwise
        if unread:
            batch = [x for x in batch if type(x) is not DeadLetter]
        return [*(unread if self.process == 0 else ()), *self.route(batch)]


class LocalCaptureSource(DynamicSource[Any]):
    """A capture read once in each process of a cluster, for the symbols whose books that
    process's workers hold (`cobflow.shards.worker_of`: where Bytewax routes a symbol's key;
    a process holds workers `process * per_process` onwards, as Timely numbers them): raw
    messages never cross between processes, where pickling them cost a third of the reading
    process's time. Items are (symbol, (symbol, [raw messages])) as
    `cobflow.operators.cob.route_by_symbol` makes them, and DeadLetters (stage `read`, from the
    first process). Were a symbol to land elsewhere, Bytewax would carry it there: only speed
    rests on the placement. No resume state: a file-mode flow keeps no recovery store."""

    def __init__(self, path: Path | str, symbols: SymbolsConfig, processes: int, batch_size: int = 1000,
                 progress: bool | str = False, strict: bool = False) -> None:
        self.path, self.symbols, self.processes = Path(path), symbols, processes
        self.batch_size, self.progress, self.strict = batch_size, progress, strict

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _LocalCapturePartition:
        per_process = max(1, worker_count // self.processes)
        process = worker_index // per_process
        mine = {s for s in self.symbols.symbols if worker_of(s, worker_count) // per_process == process}
        markets = [m for m, readers in self.symbols.readers().items() if mine.intersection(readers)]
        # a process's other workers, and a process that holds no symbol (but the first, which
        # reports the lines that are no raw message), read nothing
        idle = worker_index % per_process or (not mine and process != 0)
        read = None if idle else _CapturePartition(
            self.path, self.batch_size, None, self.progress if process == 0 else False, self.strict,
            (markets, sorted({venue for venue, _ in markets})))
        return _LocalCapturePartition(read, route_by_symbol(self.symbols, mine), process)


# -- Kafka --------------------------------------------------------------------------------
TopicPartitionKey = tuple[str, int]
HOLD_HIGH, HOLD_LOW = 8000, 2000  # records held back per partition: pause at, resume at
MAX_BATCH_WAIT_S = 0.05  # a batch is filled from what librdkafka has for at most this long
# A caught-up source is asked again after 20 ms, not 1 ms later as Bytewax would (half a core
# for nothing); it does not wait in librdkafka then, which would hold the worker while the
# steps after it have work. Once nothing has come for a second (they have none), it waits in
# librdkafka for the next record, at most 100 ms a call (a worker's loop idles at 2% of a core).
IDLE_WAIT, QUIET_AFTER_S, QUIET_WAIT_S = timedelta(seconds=0.02), 1.0, 0.1


Item = RawMessage | DeadLetter  # a record read, or one that cannot be (stage `read`)
_TRANSIENT = (KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN, KafkaError._TIMED_OUT,
              KafkaError._MSG_TIMED_OUT)


class _RawTopicsPartition(StatefulSourcePartition[RawMessage | DeadLetter | TableRow, dict[str, int]]):
    def __init__(self, servers: str, topics: dict[str, str], tail: bool, batch_size: int, skew_ns: int,
                 resume: dict[str, int] | None) -> None:
        self.venue_of = topics  # topic -> venue
        self.tail, self.batch_size, self.skew_ns = tail, batch_size, skew_ns
        config = {
            "bootstrap.servers": servers, "group.id": "cobflow-flow-unused", "enable.auto.commit": "false",
            "enable.partition.eof": "true", "auto.offset.reset": "earliest",
            "queued.max.messages.kbytes": "16384",  # read-ahead (all partitions): 16 MB
            # a resumed partition refills quickly; fetches of 128 kB per partition (a few
            # seconds of market) keep the topics' records interleaved in librdkafka's queue,
            # so fewer are held back (1 MB fetches: 40% of the batches came out empty)
            # (a fetch returns as soon as a byte is there: the wait only paces an idle broker's answers)
            "fetch.wait.max.ms": "100", "fetch.queue.backoff.ms": "10", "max.partition.fetch.bytes": "131072",
        }
        # the native core's consumer where it is on (records into raw messages with no
        # Python object per record between), else confluent-kafka's and Python reads all
        self.native = native.kafka_consumer(config, topics)
        self.consumer = self.native if self.native is not None else Consumer(client_config(config))
        partitions = self._partitions()
        resume = resume or {}
        self.fetched: dict[TopicPartitionKey, int | None] = {}  # next offset expected from Kafka
        self.held: dict[TopicPartitionKey, deque[tuple[int, int, Item]]] = {}  # (offset, ts_recv, item) not yet out
        assign = []
        for topic in topics:
            for part in sorted(partitions[topic]):
                at = resume.get(f"{topic}:{part}")
                self.fetched[(topic, part)] = at
                self.held[(topic, part)] = deque()
                assign.append(TopicPartition(topic, part, OFFSET_BEGINNING if at is None else at))
        self.consumer.assign(assign)
        self.emitted: dict[TopicPartitionKey, int] = {}  # next offset not yet emitted
        self.last_ts: dict[TopicPartitionKey, int] = {}  # ts_recv of the last record emitted
        self.at_eof: set[TopicPartitionKey] = set()
        self.paused: set[TopicPartitionKey] = set()
        self.lag = LagMeter(servers, known_end=self._fetched_end)
        self.done = False
        self.kafka_away: float | None = None  # since when the broker has been unreachable
        self.idle_since: float | None = None  # since when the batches have found nothing in librdkafka

    def next_batch(self) -> list[RawMessage | DeadLetter | TableRow]:
        """Up to `batch_size` records (and the lag rows): librdkafka is asked again while it
        has more and the batch is not full, so a backlog moves in full batches (every step
        after this one pays per batch) while a live feed's records go out as they come."""
        if self.done:
            raise StopIteration
        out: list[RawMessage | DeadLetter | TableRow] = []
        last_offset: dict[TopicPartitionKey, int] = {}
        deadline = time.monotonic() + MAX_BATCH_WAIT_S
        # quiet: the first fetch waits for one record (and returns as it comes)
        n, wait = (1, QUIET_WAIT_S) if self._quiet() else (self.batch_size, 0.001)
        fetched = False
        while True:
            floor = self._floor()
            self._drain(out, last_offset, floor)  # what waited for the others first, in order
            if len(out) >= self.batch_size or time.monotonic() > deadline:
                break
            if self.native is None:
                msgs = self.consumer.consume(n, wait)
                if not msgs:
                    break
                self._read(msgs, out, last_offset, floor)
            else:
                if not self.native.fetch(n, wait):
                    break
                self._read_native(out, last_offset, floor)
            fetched, n, wait = True, self.batch_size, 0.001
        if fetched or out:
            self.idle_since = None
        elif self.idle_since is None:
            self.idle_since = time.monotonic()
        self._align()
        if last_offset:
            out.extend(self.lag(last_offset))
        if not self.tail and len(self.at_eof) == len(self.fetched) and not any(self.held.values()):
            self.done = True  # everything that was there has been read
            final = {tp: n - 1 for tp, n in self.emitted.items() if n}
            if final:
                out.extend(self.lag(final, force=True))
        return out

    def _quiet(self) -> bool:
        return self.idle_since is not None and time.monotonic() - self.idle_since >= QUIET_AFTER_S

    def next_awake(self) -> datetime | None:
        if self.idle_since is None or self._quiet():
            return None  # busy: at once; quiet: next_batch waits in librdkafka
        return datetime.now(UTC) + IDLE_WAIT

    def _drain(self, out: list, last_offset: dict[TopicPartitionKey, int], floor: int | None) -> None:
        """Each partition's held records, oldest first, out while `_may_emit` lets them
        (the native core's `drain` where it is on: a backlog's records nearly all wait here,
        since a fetch of one partition covers more market time than the skew)."""
        if self.native is not None:
            self.native.drain(self.held, self.last_ts, self.emitted, last_offset, out, floor, self.skew_ns)
            return
        for tp, q in self.held.items():
            while q and self._may_emit(tp, q[0][1], floor):
                self._emit(out, last_offset, tp, *q.popleft())

    def _emit(self, out: list, last_offset: dict[TopicPartitionKey, int], tp: TopicPartitionKey, offset: int,
              ts: int, item: Item) -> None:
        out.append(item)
        self.emitted[tp] = offset + 1
        last_offset[tp] = offset
        if ts > self.last_ts.get(tp, -1):
            self.last_ts[tp] = ts

    def _read(self, msgs: list, out: list, last_offset: dict[TopicPartitionKey, int], floor: int | None) -> None:
        """Records from librdkafka -> raw messages, emitted or held back. Once per record:
        the checks are inlined (a method call per record costs a tenth of the reading)."""
        fetched, held, venue_of, at_eof, last_ts = self.fetched, self.held, self.venue_of, self.at_eof, self.last_ts
        emitted, skew = self.emitted, self.skew_ns
        limit = None if floor is None else floor + skew
        for msg in msgs:
            err = msg.error()
            if err is not None:
                self._error(msg, err)
                continue
            if self.kafka_away is not None:
                print(f"cobflow: Kafka is back after {time.monotonic() - self.kafka_away:.1f} s", file=sys.stderr,
                      flush=True)
                self.kafka_away = None
            tp = (msg.topic(), msg.partition())
            offset, expected = msg.offset(), fetched[tp]
            if expected is not None and offset != expected:
                if offset > expected:  # never skip a record: read again from the expected one
                    self.consumer.seek(TopicPartition(tp[0], tp[1], expected))
                continue  # (offset < expected: a record already read)
            fetched[tp] = offset + 1
            at_eof.discard(tp)
            item: Item
            q = held[tp]
            try:
                item = from_record(venue_of[tp[0]], msg.key(), msg.value(), msg.headers())
                ts = item.ts_recv
            except ValueError as exc:  # a poison pill: dead-lettered, never read again
                item = unreadable_record(venue_of[tp[0]], msg, str(exc))
                ts = q[-1][1] if q else last_ts.get(tp, -1)  # in its place, moving no clock
            if q or not (limit is None or ts <= limit or last_ts.get(tp, -1) <= floor):  # _may_emit
                q.append((offset, ts, item))
            else:  # _emit, inlined
                out.append(item)
                emitted[tp] = offset + 1
                last_offset[tp] = offset
                if ts > last_ts.get(tp, -1):
                    last_ts[tp] = ts

    def _read_native(self, out: list, last_offset: dict[TopicPartitionKey, int], floor: int | None) -> None:
        """`_read` of the records the native consumer fetched, by the native core, which
        stops at any record that is not an ordinary one (an error, an unexpected offset, an
        unreadable record) and hands it over: `_read` reads that one (and every record while
        Kafka counts as away, so that its return is told)."""
        limit = None if floor is None else floor + self.skew_ns
        consumer = self.native
        while True:
            if self.kafka_away is None:
                rec = consumer.read(self.fetched, self.held, self.last_ts, self.emitted,  # type: ignore[union-attr]
                                    last_offset, self.at_eof, out, limit, floor)
            else:
                rec = consumer.take()  # type: ignore[union-attr]
            if rec is None:
                return
            self._read([rec], out, last_offset, floor)

    def _partitions(self) -> dict[str, list[int]]:
        """Every topic's partitions (KafkaException when the broker does not answer in 15 s)."""
        if self.native is None:
            return {t: list(m.partitions) for t, m in self.consumer.list_topics(timeout=15).topics.items()}
        code, reason, partitions = self.native.partitions(15.0)
        if code:
            raise KafkaException(KafkaError(code, reason))
        return partitions

    def _error(self, msg, err) -> None:  # type: ignore[no-untyped-def]
        tp = (msg.topic(), msg.partition())
        if err.code() == KafkaError._PARTITION_EOF:
            self.at_eof.add(tp)
            return
        if err.retriable() or err.code() in _TRANSIENT:  # the broker away: librdkafka reconnects
            if self.kafka_away is None:
                self.kafka_away = time.monotonic()
                print(f"cobflow: Kafka is away ({err.str()}); the flow waits for it", file=sys.stderr, flush=True)
            return
        raise RuntimeError(f"reading Kafka topic {tp[0]!r} partition {tp[1]}: {err}")

    def _floor(self) -> int | None:
        """ts_recv of the slowest partition still being read or emptied (-1: one that has sent
        nothing yet). A partition at its end with records still held counts."""
        reading = [self.last_ts.get(tp, -1) for tp in self.fetched if tp not in self.at_eof or self.held[tp]]
        return min(reading) if reading else None

    def _may_emit(self, tp: TopicPartitionKey, ts: int, floor: int | None) -> bool:
        """Within `skew` of the slowest partition; the slowest itself always moves on."""
        return floor is None or ts <= floor + self.skew_ns or self.last_ts.get(tp, -1) <= floor

    def _align(self) -> None:
        """Stop fetching a partition that holds many records back; fetch it again once most
        of them are out.

        A second of a symbol closes only when all its venues have passed it, so a venue read
        ahead of the others (a backlog, a replay) waits in memory; emitting the topics within
        `skew` of each other (in ts_recv) keeps that bounded, and pausing a partition bounds
        what it holds here. Pausing drops what librdkafka has fetched ahead for it, so it is
        done with a wide margin (HOLD_HIGH/HOLD_LOW records), not at the first record held:
        that made the reader wait on re-fetches nine calls in ten (31k msg/s -> 245k without).
        """
        full = {tp for tp, q in self.held.items() if len(q) >= HOLD_HIGH}
        drained = {tp for tp in self.paused if len(self.held[tp]) <= HOLD_LOW}
        if full - self.paused:
            self.consumer.pause([TopicPartition(t, p) for t, p in full - self.paused])
        if drained:
            # with the offset expected next: the native consumer fetches from there (see its resume)
            self.consumer.resume([TopicPartition(t, p, at) if (at := self.fetched[(t, p)]) is not None
                                  else TopicPartition(t, p) for t, p in drained])
        self.paused = (self.paused | full) - drained

    def _fetched_end(self, topic: str, partition: int) -> int | None:
        """The partition's end offset as of its last fetch (librdkafka keeps it; no round trip)."""
        _low, high = self.consumer.get_watermark_offsets(TopicPartition(topic, partition), cached=True)
        return high if high >= 0 else None

    def snapshot(self) -> dict[str, int]:
        """Per partition, the first offset not emitted (held records are read again on resume)."""
        out = {}
        for (t, p), q in self.held.items():
            at = q[0][0] if q else self.emitted.get((t, p), self.fetched[(t, p)])
            if at is not None:
                out[f"{t}:{p}"] = at
        return out

    def close(self) -> None:
        self.consumer.close()


class RawTopicsSource(FixedPartitionedSource[RawMessage | DeadLetter | TableRow, dict[str, int]]):
    """The raw.<venue> topics as RawMessages, kept in step on ts_recv, and consumer_lag rows;
    a record that is no raw message (no valid ts_recv header) as a dead letter of stage `read`.

    One source partition reads every topic partition, so that it can hold the topics within
    `max_skew_s` of each other (the per-symbol work is spread over workers by the keyed steps
    after it). Offsets live in the recovery store, as with Bytewax's own Kafka source.
    """

    def __init__(self, servers: str, topics: dict[str, str], tail: bool, batch_size: int = 1000,
                 max_skew_s: float = 5.0) -> None:
        self.servers, self.topics, self.tail = servers, topics, tail
        self.batch_size, self.skew_ns = batch_size, int(max_skew_s * 1e9)

    def list_parts(self) -> list[str]:
        return ["raw"]

    def build_part(self, step_id: str, for_part: str, resume_state: dict[str, int] | None) -> _RawTopicsPartition:
        return _RawTopicsPartition(self.servers, self.topics, self.tail, self.batch_size, self.skew_ns, resume_state)
