"""Simulated markets to a capture file, venues simulated in parallel processes.

Every venue's random streams are seeded by name, so simulating venues apart and merging
their frames by (ts_recv, venue) gives the same file, byte for byte, as one process would.
"""

from __future__ import annotations

import heapq
import multiprocessing as mp
import os
import queue
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from cobflow.capture import capture_format, encode_line, read_capture, write_capture, write_lines
from cobflow.config import SymbolsConfig
from cobflow.connectors.simulator.engine import NS, SimConfig, simulate

_TS_START = len(b'{"ts_recv":')
_EXCHANGE = len(b',"exchange":"')


def _line_key(line: bytes) -> tuple[int, bytes]:
    comma = line.index(b",", _TS_START)
    start = comma + _EXCHANGE
    return int(line[_TS_START:comma]), line[start:line.index(b'"', start)]  # ties: by venue id (cobflow.venues)


#: CPU seconds one market of a venue costs per 1000 s of market time (measured here, to
#: balance the workers: checksummed and gzipped venues cost more per message).
_COST = {"binance": 0.57, "coinbase": 0.84, "kraken": 0.59, "bitfinex": 0.51, "htx": 0.51, "okx": 0.58,
         "bybit": 0.59}


def _weight(venue: str) -> float:
    return _COST.get(venue, 0.7)


def _groups(symbols: SymbolsConfig, workers: int) -> list[list[str]]:
    """Venues split into `workers` groups of about equal cost (exact for two groups)."""
    load: dict[str, float] = {}
    for venue, markets in symbols.markets().items():
        load[venue] = load.get(venue, 0.0) + _weight(venue) * len(markets)
    venues = sorted(load, key=lambda v: -load[v])
    workers = max(1, min(workers, len(venues)))
    if workers == 2 and len(venues) <= 16:
        total = sum(load.values())
        best = min(range(1 << (len(venues) - 1)),  # the first venue stays in group 0
                   key=lambda mask: abs(total - 2 * sum(load[v] for i, v in enumerate(venues[1:])
                                                        if mask >> i & 1)))
        two = [[venues[0]] + [v for i, v in enumerate(venues[1:]) if not best >> i & 1],
               [v for i, v in enumerate(venues[1:]) if best >> i & 1]]
        return [g for g in two if g]
    bins: list[tuple[float, list[str]]] = [(0.0, []) for _ in range(workers)]
    for venue in venues:
        bins.sort(key=lambda b: b[0])
        total, members = bins[0]
        bins[0] = (total + load[venue], members + [venue])
    return [members for _, members in bins if members]


_BATCH = 2048  # lines per pipe message


def _worker(symbols: SymbolsConfig, cfg: SimConfig, venues: list[str], conn, done) -> None:  # type: ignore[no-untyped-def]
    batch: list[bytes] = []
    for _i, m in enumerate(simulate(symbols, cfg, venues)):
        batch.append(encode_line(m))
        if len(batch) >= _BATCH:
            conn.send_bytes(b"".join(batch))
            batch.clear()
            done.value = (m.ts_recv - cfg.start_ns) / NS
    if batch:
        conn.send_bytes(b"".join(batch))
    conn.send_bytes(b"")  # the end
    conn.close()
    done.value = cfg.duration_s


def _drain(conn, q: queue.SimpleQueue) -> None:  # type: ignore[no-untyped-def]
    """A thread per worker empties its pipe at once, so no worker waits on the merge."""
    try:
        while True:
            data = conn.recv_bytes()
            q.put(data)
            if not data:
                return
    except EOFError:
        q.put(None)


def _lines(q: queue.SimpleQueue) -> Iterator[bytes]:
    while True:
        data = q.get()
        if data is None:
            raise RuntimeError("a simulator process died; see the messages above")
        if not data:
            return
        yield from data.splitlines(keepends=True)


def simulate_to_file(
    symbols: SymbolsConfig,
    cfg: SimConfig,
    path: Path | str,
    workers: int = 2,
    progress: Callable[[float], None] | None = None,
) -> int:
    """Write the simulated capture to `path` (.jsonl, .jsonl.gz, .parquet); return the count.

    Venue groups are simulated in worker processes and merged here by (ts_recv, venue) as
    their frames arrive, so merging and writing overlap with the simulation.
    """
    path = Path(path)
    fmt = capture_format(path)
    groups = _groups(symbols, workers)
    if len(groups) <= 1:
        return write_capture(path, simulate(symbols, cfg))
    ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
    dones = [ctx.Value("d", 0.0) for _ in groups]
    pipes = [ctx.Pipe(duplex=False) for _ in groups]
    procs = [ctx.Process(target=_worker, args=(symbols, cfg, g, send, d), daemon=True)
             for g, (_, send), d in zip(groups, pipes, dones)]
    for p in procs:
        p.start()
    for _, send in pipes:
        send.close()  # the workers hold the write ends
    queues = [queue.SimpleQueue() for _ in groups]
    threads = [threading.Thread(target=_drain, args=(recv, q), daemon=True) for (recv, _), q in zip(pipes, queues)]
    for t in threads:
        t.start()

    def merged() -> Iterator[bytes]:
        for i, line in enumerate(heapq.merge(*(_lines(q) for q in queues), key=_line_key)):
            if progress is not None and not i & 0x3FFF:
                progress(min(d.value for d in dones))
            yield line

    try:
        if fmt == "parquet":
            with tempfile.TemporaryDirectory(prefix="cobflow-sim-") as tmp:
                tmp_jsonl = os.path.join(tmp, "merged.jsonl")
                write_lines(tmp_jsonl, merged())
                n = write_capture(path, read_capture(tmp_jsonl))
        else:
            n = write_lines(path, merged())
    finally:
        for p in procs:
            p.join(timeout=5)
    failed = [p.exitcode for p in procs if p.exitcode != 0]
    if failed:
        raise RuntimeError(f"a simulator process failed (exit {failed[0]})")
    return n
