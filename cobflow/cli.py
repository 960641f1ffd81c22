"""The `cobflow` command."""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import time
from pathlib import Path

from cobflow.config import PROJECT_ROOT, ConfigError, Settings, load_settings

NS = 1_000_000_000

SAMPLES = Path(__file__).resolve().parent / "samples"
DEMO_SAMPLE = SAMPLES / "binance-2021-10-12.jsonl.gz"
FLOWS = {"top-of-book": "dataflows.top_of_book:flow", "cob": "dataflows.cob:flow"}


def _err(msg: str) -> int:
    print(f"cobflow: error: {msg}", file=sys.stderr)
    return 2


# -- services --------------------------------------------------------------------------
def cmd_services(args: argparse.Namespace, settings: Settings) -> int:
    from cobflow.services import Services

    services = Services(settings)
    if args.action == "up":
        services.up()
    elif args.action == "down":
        services.down(wipe=args.wipe)
    for st in services.status():
        print(st.line())
    if args.action == "up":
        return 0 if all(st.healthy for st in services.status()) else 1
    return 0


# -- captures --------------------------------------------------------------------------
def cmd_import_capture(args: argparse.Namespace, settings: Settings) -> int:
    from cobflow.capture import write_capture
    from cobflow.cryptofeed_import import import_cryptofeed

    messages = import_cryptofeed(args.src)
    n = write_capture(args.dst, messages)
    venues = sorted({m.exchange for m in messages})
    print(f"wrote {n} raw messages ({', '.join(venues)}) to {args.dst}")
    return 0


def _read_messages(path: Path, fmt: str):
    """A capture file (CAPTURE.md), or a cryptofeed recording (by --format or its name)."""
    from cobflow.capture import read_capture
    from cobflow.cryptofeed_import import read_cryptofeed

    if fmt == "cryptofeed" or (fmt == "auto" and not str(path).lower().endswith((".jsonl", ".gz", ".parquet", ".ndjson"))):
        return read_cryptofeed(path)
    return read_capture(path)


def cmd_books_verify(args: argparse.Namespace, settings: Settings) -> int:
    import itertools

    from cobflow.verify import format_report, verify

    dead: list = []
    messages = itertools.chain.from_iterable(
        _read_messages(p, args.format) for p in args.files) if len(args.files) == 1 else _merged(args.files, args.format)
    result = verify(messages, dead)
    print(format_report(result))
    if args.dead_letters:
        args.dead_letters.parent.mkdir(parents=True, exist_ok=True)
        with open(args.dead_letters, "wb") as f:
            for d in dead:
                f.write(d.to_json() + b"\n")
        print(f"{len(dead)} dead letters written to {args.dead_letters}")
    return 0 if result.ok else 1


def _merged(paths: list[Path], fmt: str):
    import heapq

    return heapq.merge(*(_read_messages(p, fmt) for p in paths), key=lambda m: m.ts_recv)


def cmd_simulate(args: argparse.Namespace, settings: Settings) -> int:
    from cobflow.config import load_symbols
    from cobflow.progress import Progress
    from cobflow.simulator import SimConfig, simulate
    from cobflow.simulator.to_file import simulate_to_file

    symbols = load_symbols(settings.symbols_file)
    if args.duration < 0 or (args.duration == 0 and args.out):
        return _err("--duration: a positive number of seconds (0 = forever is for Kafka output only)")
    duration = args.duration or math.inf
    cfg = SimConfig(seed=args.seed, duration_s=duration, rate_scale=args.rate_scale)
    if args.start is not None:
        cfg.start_ns = _parse_time(args.start)
    pairs = ", ".join(f"{v} {m}" for spec in symbols.symbols.values() for v, m in spec.venues.items())
    span = "an endless market" if math.isinf(duration) else f"{duration:g} s"
    print(f"simulating {span} of {pairs} (seed {args.seed})", file=sys.stderr)
    start = time.perf_counter()
    if args.out:
        bar = Progress("simulate", args.duration, "s of market time")
        n = simulate_to_file(symbols, cfg, args.out, workers=args.workers, progress=bar)
        bar(args.duration, force=True)
        bar.finish()
        el = time.perf_counter() - start
        print(f"wrote {n:,} raw messages to {args.out} in {el:.1f} s ({n / el:,.0f} messages/s)")
        return 0
    from cobflow.kafka_io import ensure_topics, publish

    venues = sorted({v for spec in symbols.symbols.values() for v in spec.venues})
    ensure_topics(settings.kafka, [*(settings.kafka.raw_topic(v) for v in venues), settings.kafka.dlq()])
    speed = None if args.speed in ("max", "0") else float(args.speed)
    bar = Progress("simulate -> kafka")
    n = publish(settings.kafka, simulate(symbols, cfg), speed, bar)
    bar.finish()
    print(f"published {n:,} raw messages to {', '.join(settings.kafka.raw_topic(v) for v in venues)}")
    return 0


def _parse_time(text: str) -> int:
    """ISO 8601 (UTC unless it says otherwise), integer ns since the epoch, or `now` -> ns."""
    from datetime import datetime, timezone

    if text == "now":
        return time.time_ns()
    if text.isdigit():
        return int(text)
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return int(dt.timestamp()) * 1_000_000_000 + dt.microsecond * 1000


def cmd_live(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio
    import logging

    from cobflow.config import load_symbols
    from connectors.live import LiveClient
    from connectors.sinks import FileRawSink, KafkaRawSink

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    symbols = load_symbols(settings.symbols_file)
    markets: dict[str, list[str]] = {}
    for spec in symbols.symbols.values():
        for venue, market in spec.venues.items():
            if not args.venues or venue in args.venues:
                markets.setdefault(venue, []).append(market)
    if not markets:
        return _err(f"no configured markets for venues {args.venues}")
    urls = dict(u.split("=", 1) for u in args.url or [])
    rest_urls = dict(u.split("=", 1) for u in args.rest_url or [])
    sinks: list = []
    if not args.no_kafka:
        from cobflow.kafka_io import ensure_topics

        ensure_topics(settings.kafka, [settings.kafka.raw_topic(v) for v in markets])
        sinks.append(KafkaRawSink(settings.kafka))
    if args.out:
        sinks.append(FileRawSink(args.out))
    if not sinks:
        return _err("nowhere to write: drop --no-kafka or give --out FILE")

    def sink(raw) -> None:  # type: ignore[no-untyped-def]
        for s in sinks:
            s(raw)

    clients = [LiveClient(v, ms, sink, url=urls.get(v), rest_url=rest_urls.get(v)) for v, ms in markets.items()]
    for c in clients:
        print(f"{c.venue}: {', '.join(c.spec.markets)} from {c.spec.url}", file=sys.stderr)

    async def main() -> None:
        stop = asyncio.Event()
        tasks = [asyncio.create_task(c.run(stop)) for c in clients]
        try:
            if args.duration:
                await asyncio.sleep(args.duration)
            else:
                await asyncio.Event().wait()
        finally:
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
    finally:
        for s in sinks:
            s.close()
    for c in clients:
        print(f"{c.venue}: {c.stats.frames} frames, {c.stats.connections} connection(s), "
              f"{c.stats.resyncs_requested} resync(s) requested")
    return 0


def cmd_record(args: argparse.Namespace, settings: Settings) -> int:
    from cobflow.capture import write_capture
    from cobflow.kafka_io import record
    from cobflow.progress import Progress

    start = _parse_time(args.start) if args.start else None
    end = _parse_time(args.end) if args.end else None
    bar = Progress("record")
    messages = record(settings.kafka, args.venues, start, end, bar)
    bar.finish()
    n = write_capture(args.out, messages)
    venues = sorted({m.exchange for m in messages})
    print(f"recorded {n:,} raw messages ({', '.join(venues) or 'none'}) to {args.out}")
    return 0


def replay(settings: Settings, path: Path, speed: float | None, reset: bool) -> int:
    from cobflow.capture import read_capture
    from cobflow.kafka_io import delete_topics, ensure_topics, publish
    from cobflow.progress import Progress

    # Two streaming passes (venues and count, then publish): a long recording never sits in memory.
    total, venues, oldest = 0, set(), None
    for m in read_capture(path):
        total += 1
        venues.add(m.exchange)
        oldest = m.ts_recv if oldest is None else min(oldest, m.ts_recv)
    topics = sorted(settings.kafka.raw_topic(v) for v in venues)
    if reset:
        delete_topics(settings.kafka, [*topics, settings.kafka.dlq()])
    ensure_topics(settings.kafka, [*topics, settings.kafka.dlq()])
    if oldest is not None:
        check_retention(settings, topics, oldest)
    pace = "as fast as possible" if not speed else f"at {speed:g}x recorded speed"
    print(f"replaying {total} messages from {path} into {', '.join(topics)} {pace}", file=sys.stderr)
    bar = Progress("replay", total)
    n = publish(settings.kafka, read_capture(path), speed, bar)
    bar.finish()
    return n


class ReplayError(RuntimeError):
    pass


def check_retention(settings: Settings, topics: list[str], oldest_ns: int) -> None:
    """Kafka deletes records older than a topic's retention.ms by their timestamp (ts_recv):
    refuse to replay what would vanish, rather than lose it quietly."""
    from cobflow.kafka_io import time_retention_ms

    age_ms = time.time() * 1000 - oldest_ns / 1e6
    doomed = {t: ms for t, ms in time_retention_ms(settings.kafka, topics).items() if ms < age_ms}
    if doomed:
        names = ", ".join(f"{t} (retention.ms={ms})" for t, ms in sorted(doomed.items()))
        raise ReplayError(
            f"the capture's oldest message is {age_ms / 86_400_000:.1f} days old, and Kafka deletes records "
            f"older than their topic's retention: {names}. Replay with --reset (the topics are made again, "
            f"kept by size, not age), or set retention.ms=-1 on them.")


def cmd_replay(args: argparse.Namespace, settings: Settings) -> int:
    speed = None if args.speed in ("max", "0") else float(args.speed)
    n = replay(settings, Path(args.file), speed, args.reset)
    print(f"published {n} messages")
    return 0


def positive_int(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


# -- dataflows -------------------------------------------------------------------------
def flow_commands(name: str, workers: int, recovery: Path | None = None, processes: int = 1,
                  epoch_s: float = 1.0) -> list[list[str]]:
    """The command line of each process of a flow: `python -m bytewax.run FLOW` (through
    cobflow.runflow, which stops quietly on Ctrl-C/SIGTERM); with `processes` > 1, a Bytewax
    cluster of that many processes on this machine. With a recovery store, an epoch is a
    snapshot every 5 s; without one, an epoch lasts `epoch_s`."""
    cmd = [sys.executable, "-m", "cobflow.runflow", FLOWS[name], "-w", str(workers)]
    if recovery is not None:
        if not any(recovery.glob("*.sqlite3")):  # first run: create the recovery partitions
            recovery.mkdir(parents=True, exist_ok=True)
            subprocess.run([sys.executable, "-m", "bytewax.recovery", str(recovery), str(workers * processes)],
                           check=True)
        cmd += ["-r", str(recovery), "-s", "5", "-b", "0"]
    else:  # no recovery: the epoch only paces the inputs (see FlowSettings.epoch_s)
        cmd += ["-s", f"{epoch_s:g}"]
    if processes == 1:
        return [cmd]
    addresses = ";".join(f"127.0.0.1:{port}" for port in free_ports(processes))
    return [[*cmd, "-i", str(i), "-a", addresses] for i in range(processes)]


def run_flow(name: str, workers: int, env: dict[str, str] | None = None, recovery: Path | None = None,
             processes: int = 1, epoch_s: float = 1.0) -> int:
    cmds = flow_commands(name, workers, recovery, processes, epoch_s)
    for c in cmds:
        print(f"running: python -m bytewax.run {' '.join(c[3:])}", file=sys.stderr)
    procs = [subprocess.Popen(c, env={**os.environ, **(env or {})}) for c in cmds]
    try:
        return _wait_all(procs)
    except KeyboardInterrupt:  # Ctrl-C (the flow got it too) or SIGTERM (pass it on)
        return _stop_all(procs)


def free_ports(n: int) -> list[int]:
    import socket

    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _wait_all(procs: list[subprocess.Popen]) -> int:
    """The first failure stops the rest of the cluster (it cannot finish without it)."""
    rc = 0
    pending = list(procs)
    while pending:
        for p in list(pending):
            code = p.poll()
            if code is None:
                continue
            pending.remove(p)
            if code != 0 and rc == 0:
                rc = code
                for other in pending:
                    other.terminate()
        time.sleep(0.05)
    return rc


def _stop_all(procs: list[subprocess.Popen]) -> int:
    import signal

    deadline = time.monotonic() + 2
    for p in procs:
        try:
            p.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.send_signal(signal.SIGINT)
    for p in procs:
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    return max(p.returncode for p in procs)


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from dataflows.top_of_book import venues_to_read

    venues_to_read(settings)  # a configuration error is reported here, in one line
    env = {"COBFLOW_FLOW__TAIL": "true"} if args.follow else {}
    return run_flow(args.flow, args.workers, env, args.recovery, args.processes, settings.flow.epoch_s)


def cmd_compute(args: argparse.Namespace, settings: Settings) -> int:
    import shutil

    from cobflow.capture import CaptureError, capture_format
    from cobflow.config import load_symbols
    from cobflow.tables import COB_TABLES

    load_symbols(settings.symbols_file)  # a configuration error is reported here, in one line
    if not args.input.exists():
        raise CaptureError(f"{args.input}: no such capture file")
    capture_format(args.input)
    out = args.output
    for t in COB_TABLES:  # a rerun replaces the tables, never appends to them
        shutil.rmtree(out / t.name, ignore_errors=True)
    for old in out.glob("dead_letters*.jsonl") if out.exists() else []:
        old.unlink()
    out.mkdir(parents=True, exist_ok=True)
    env = {"COBFLOW_COMPUTE_INPUT": str(args.input.resolve()), "COBFLOW_COMPUTE_OUTPUT": str(out.resolve()),
           "COBFLOW_COMPUTE_PROGRESS": "1"}
    start = time.perf_counter()
    rc = run_flow("cob", args.workers, env, processes=args.processes, epoch_s=settings.flow.epoch_s)
    if rc != 0:
        return _err(f"the dataflow failed (exit {rc})")
    import pyarrow.parquet as pq

    print(f"computed in {time.perf_counter() - start:.1f} s; tables in {out}/:")
    for t in COB_TABLES:
        n = sum(pq.ParquetFile(f).metadata.num_rows for f in (out / t.name).glob("*.parquet"))
        print(f"  {t.name:14s} {n:>9,} rows")
    dead = sum(1 for f in out.glob("dead_letters*.jsonl") for _ in open(f, "rb"))
    print(f"  dead letters   {dead:>9,} (dead_letters*.jsonl)")
    return 0


def cmd_sql(args: argparse.Namespace, settings: Settings) -> int:
    from cobflow.qdb import query

    rows = query(settings.questdb, args.query)
    _print_table(rows)
    return 0


def _print_table(rows: list[dict]) -> None:
    if not rows:
        print("(no rows)")
        return
    cols = list(rows[0])
    cells = [[("" if r[c] is None else str(r[c])) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    print("  ".join(c.ljust(w) for c, w in zip(cols, widths)))
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)))


# -- dashboards ------------------------------------------------------------------------
def cmd_dashboards(args: argparse.Namespace, settings: Settings) -> int:
    from cobflow.dashboards import DASHBOARD_DIR, DATASOURCE_FILE, PROVIDER_FILE
    from cobflow.dashboards.files import stale_dashboards, write_dashboards

    if args.dashboards_action == "build":
        if args.check:
            stale = stale_dashboards()
            if stale:
                return _err(f"out of date with cobflow/dashboards/definitions.py: {', '.join(stale)} "
                            f"(run: cobflow dashboards build)")
            print(f"{DASHBOARD_DIR}: up to date")
            return 0
        for path in write_dashboards():
            print(f"wrote {path}")
        return 0
    if args.dashboards_action == "validate":
        from cobflow.dashboards.validate import check_provisioning, format_report, validate, with_table_prefix
        from cobflow.qdb import query

        prefix = settings.questdb.table_prefix
        problems = check_provisioning(DATASOURCE_FILE, PROVIDER_FILE)
        problems += [f"{name}: out of date with definitions.py (cobflow dashboards build)"
                     for name in stale_dashboards(args.dir)] if args.dir == DASHBOARD_DIR else []
        report = validate(args.dir, lambda sql: query(settings.questdb, with_table_prefix(sql, prefix)),
                          args.start, args.end)
        report.problems = problems + report.problems
        span = f"{args.start} to {args.end or 'now'}" if args.start else "each dashboard's default time range"
        print(f"dashboards in {args.dir}, against QuestDB at {settings.questdb.http_url}, over {span}:")
        print(format_report(report))
        return 0 if report.ok else 1
    from cobflow.dashboards.push import push

    credential: str | tuple[str, str] = args.token or tuple(args.basic_auth.split(":", 1))  # type: ignore[assignment]
    q = settings.questdb
    address = args.questdb_address or f"{q.host}:{q.pg_port}"
    for line in push(args.url, credential, address, args.questdb_user, args.questdb_password, q.table_prefix):
        print(line)
    return 0


def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    from cobflow.config import load_symbols
    from cobflow.report import make_report
    from cobflow.report.data import ParquetSource, QuestDBSource

    symbols = load_symbols(settings.symbols_file)
    src = ParquetSource(args.parquet) if args.parquet else QuestDBSource(settings.questdb)
    start = _parse_time(args.start) if args.start else None
    end = _parse_time(args.end) if args.end else None
    where = f"{args.parquet}" if args.parquet else f"QuestDB at {settings.questdb.http_url}"
    print(f"rendering {args.symbol} from {where} into {args.out}/", file=sys.stderr)
    for path in make_report(src, symbols, args.symbol, start, end, args.out, args.timeframe):
        print(path)
    return 0


# -- demo ------------------------------------------------------------------------------
def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from cobflow.config import load_symbols
    from cobflow.qdb import query, wait_for_wal
    from cobflow.services import Services
    from cobflow.tables import COB_TABLES, PIPELINE_TABLES

    symbols = load_symbols(settings.symbols_file)
    span: tuple[int | None, int | None] = (None, None)  # the report's range: this run's market
    print("1/5 starting Kafka and QuestDB (first run fetches them from Maven Central)")
    Services(settings).up()
    if args.input:
        print(f"2/5 replaying {args.input} into Kafka (topics are recreated so the demo is repeatable)")
        replay(settings, Path(args.input), None, reset=True)
    else:
        from cobflow.capture import write_capture
        from cobflow.simulator import SimConfig, simulate
        from cobflow.simulator.faults import truncate_frames

        capture = args.save or settings.services.home / "demo" / "simulated.jsonl.gz"
        pairs = ", ".join(f"{v} {m}" for spec in symbols.symbols.values() for v, m in spec.venues.items())
        # The market ends now, so Grafana's and the report's default "last 15 minutes" show it.
        start = (time.time_ns() // NS - int(args.duration)) * NS
        cfg = SimConfig(seed=args.seed, duration_s=args.duration, start_ns=start, resnapshot_s=30.0)
        span = (start, start + int(args.duration * NS))
        messages = simulate(symbols, cfg)
        note = ""
        if args.faults_every > 0:
            victim = sorted(symbols.venues())[0]
            messages = truncate_frames(messages, victim, args.faults_every)
            note = f"; one {victim} frame in {args.faults_every:g} s is cut short (dead letters, resyncs)"
        print(f"2/5 simulating the last {args.duration:g} s of {pairs} into {capture}{note}, then into Kafka")
        write_capture(capture, messages)
        replay(settings, capture, None, reset=True)
    print("3/5 running the dataflow: python -m bytewax.run dataflows.cob:flow")
    rc = run_flow("cob", 1, epoch_s=settings.flow.epoch_s)
    if rc != 0:
        return _err(f"the dataflow failed (exit {rc})")
    names = [settings.questdb.table(t.name) for t in (*COB_TABLES, *PIPELINE_TABLES)]
    wait_for_wal(settings.questdb, names)
    print("4/5 what landed in QuestDB:")
    for name in names:
        n = query(settings.questdb, f"select count() n from {name}")[0]["n"]
        print(f"  {name}: {n} rows")
    summary = settings.questdb.table("cob_summary")
    print(f"\nthe last second of each symbol ({summary}):")
    _print_table(
        query(
            settings.questdb,
            f"select ts, symbol, venues, best_bid, best_ask, mid, microprice, spread_bps, "
            f"liquidity_imbalance, li_ma_5, li_ma_60 from {summary} latest on ts partition by symbol order by symbol",
        )
    )
    from cobflow.report import make_report
    from cobflow.report.data import QuestDBSource

    report_dir = args.report or settings.services.home / "demo" / "report"
    print(f"\n5/5 the dashboards' views as PNG images ({report_dir}/):")
    for symbol in symbols.symbols:
        for path in make_report(QuestDBSource(settings.questdb), symbols, symbol, *span, report_dir):
            print(f"  {path}")
    q = settings.questdb
    print(
        f"\nLook at it:\n"
        f"  QuestDB web console:  http://127.0.0.1:{q.http_port}\n"
        f"  from the shell:       cobflow sql \"select * from {settings.questdb.table('cob_buckets')} limit 41\"\n"
        f"  PostgreSQL wire:      psql -h 127.0.0.1 -p {q.pg_port} -U admin -d qdb   (password: quest)\n"
        f"  stop the servers:     cobflow services down"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cobflow",
        description="Consolidated order books from exchange feeds: Kafka -> Bytewax -> QuestDB.",
        epilog="Settings come from COBFLOW_* environment variables (e.g. COBFLOW_KAFKA__PORT); see README.md.",
    )
    p.add_argument(
        "--config", type=Path, metavar="SYMBOLS_YAML",
        help="symbols and venues file (default: symbols.yaml at the repo root; env COBFLOW_SYMBOLS_FILE)",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("services", help="fetch, start, stop local Kafka and QuestDB (no Docker)")
    s.add_argument("action", choices=["up", "down", "status"], help="start / stop / show the servers")
    s.add_argument("--wipe", action="store_true", help="with down: also delete their data and logs")
    s.set_defaults(func=cmd_services)

    s = sub.add_parser("import-capture", help="convert recordings into a capture file (CAPTURE.md)")
    s.add_argument("--format", choices=["cryptofeed"], required=True, help="the recordings' format")
    s.add_argument("src", nargs="+", type=Path, help="recording files, merged by receive time")
    s.add_argument("dst", type=Path, help="output: .jsonl, .jsonl.gz or .parquet")
    s.set_defaults(func=cmd_import_capture)

    s = sub.add_parser("books", help="check captures against the venues' sync rules and checksums")
    bsub = s.add_subparsers(dest="books_action", required=True, metavar="ACTION")
    v = bsub.add_parser("verify", help="parse and apply every frame; print counts per venue and market")
    v.add_argument("files", nargs="+", type=Path, help="capture files (or cryptofeed recordings), merged by ts_recv")
    v.add_argument("--format", choices=["auto", "capture", "cryptofeed"], default="auto",
                   help="auto: .jsonl/.jsonl.gz/.parquet are captures, anything else a cryptofeed recording")
    v.add_argument("--dead-letters", type=Path, metavar="JSONL",
                   help="write every malformed frame, gap and checksum failure, with its reason, here")
    v.set_defaults(func=cmd_books_verify)

    s = sub.add_parser("simulate", help="a seeded multi-venue market in each venue's wire format")
    s.add_argument("--duration", type=float, default=60.0,
                   help="seconds of market time (default 60; 0 = forever, into Kafka)")
    s.add_argument("--seed", type=int, default=1)
    s.add_argument("--out", type=Path, help="capture file to write (.jsonl, .jsonl.gz, .parquet); default: Kafka")
    s.add_argument("--speed", default="1", help="to Kafka: 1 = real time (default), 10 = 10x, 'max'")
    s.add_argument("--start", help="market time of the first message (ISO 8601, ns or 'now'; default 2026-01-01Z)")
    s.add_argument("--rate-scale", type=float, default=1.0, help="multiply update and trade rates (load tests)")
    s.add_argument("--workers", type=positive_int, default=2, help="to a file: processes simulating venues in parallel")
    s.set_defaults(func=cmd_simulate)

    s = sub.add_parser("live", help="connect to the venues' websockets; raw messages -> Kafka and/or a file")
    s.add_argument("--venues", nargs="+", help="only these venues (default: every venue in the symbols file)")
    s.add_argument("--out", type=Path, help="also write a capture file (.jsonl or .jsonl.gz)")
    s.add_argument("--no-kafka", action="store_true", help="do not publish to Kafka (needs --out)")
    s.add_argument("--duration", type=float, help="stop after this many seconds (default: run until Ctrl-C)")
    s.add_argument("--url", action="append", metavar="VENUE=URL", help="another websocket URL for a venue")
    s.add_argument("--rest-url", action="append", metavar="VENUE=URL", help="another REST snapshot URL")
    s.set_defaults(func=cmd_live)

    s = sub.add_parser("record", help="Kafka raw.<venue> topics -> a capture file")
    s.add_argument("--out", type=Path, required=True, help=".jsonl, .jsonl.gz or .parquet")
    s.add_argument("--from", dest="start", help="first ts_recv to keep (ISO 8601 or ns)")
    s.add_argument("--to", dest="end", help="ts_recv to stop before (ISO 8601 or ns)")
    s.add_argument("--venues", nargs="+", help="only these venues (default: every raw.<venue> topic)")
    s.set_defaults(func=cmd_record)

    s = sub.add_parser("replay", help="publish a capture file into the raw.<venue> Kafka topics")
    s.add_argument("file", help="capture file (.jsonl, .jsonl.gz, .parquet)")
    s.add_argument("--speed", default="max", help="'max' (default), 1 = as recorded, 10 = 10x faster")
    s.add_argument("--reset", action="store_true", help="delete and recreate the topics first")
    s.set_defaults(func=cmd_replay)

    s = sub.add_parser("run", help="run a dataflow (python -m bytewax.run ...)")
    s.add_argument("flow", choices=sorted(FLOWS), help="which dataflow")
    s.add_argument("-w", "--workers", type=positive_int, default=1, help="Bytewax worker threads (per process)")
    s.add_argument("--processes", type=positive_int, default=1, metavar="N",
                   help="a Bytewax cluster of N processes on this machine (default 1)")
    s.add_argument("--follow", action="store_true", help="keep reading new messages (live mode)")
    s.add_argument("--recovery", type=Path, metavar="DIR",
                   help="Bytewax recovery store: a restarted flow resumes where it stopped (created if empty)")
    s.set_defaults(func=cmd_run)

    s = sub.add_parser("compute", help="the COB dataflow on a capture file, into Parquet (no servers)")
    s.add_argument("--input", type=Path, required=True, help="capture file (.jsonl, .jsonl.gz, .parquet)")
    s.add_argument("--output", type=Path, required=True, help="folder: one Parquet folder per table")
    s.add_argument("-w", "--workers", type=positive_int, default=1, help="Bytewax worker threads (per process)")
    s.add_argument("--processes", type=positive_int, default=1, metavar="N",
                   help="a Bytewax cluster of N processes on this machine (default 1)")
    s.set_defaults(func=cmd_compute)

    s = sub.add_parser("sql", help="run a SQL query on QuestDB and print the rows")
    s.add_argument("query")
    s.set_defaults(func=cmd_sql)

    s = sub.add_parser("dashboards", help="Grafana dashboards: build the JSON, validate against QuestDB, push")
    dsub = s.add_subparsers(dest="dashboards_action", required=True, metavar="ACTION")
    b = dsub.add_parser("build", help="write grafana/dashboards/*.json from cobflow/dashboards/definitions.py")
    b.add_argument("--check", action="store_true", help="only check that the files are up to date")
    v = dsub.add_parser("validate", help="check the dashboard files and run every panel's SQL on QuestDB")
    v.add_argument("--dir", type=Path, default=PROJECT_ROOT / "grafana" / "dashboards", help="dashboard JSON folder")
    v.add_argument("--from", dest="start", help="time range start: now-1h, ISO 8601, epoch ms "
                                                "(default: each dashboard's own range)")
    v.add_argument("--to", dest="end", help="time range end (default: now)")
    pu = dsub.add_parser("push", help="create or update the datasource and dashboards in a running Grafana")
    pu.add_argument("--url", required=True, help="Grafana's URL, e.g. http://localhost:3000")
    auth = pu.add_mutually_exclusive_group(required=True)
    auth.add_argument("--token", help="a service-account token (Editor or Admin)")
    auth.add_argument("--basic-auth", metavar="USER:PASSWORD", help="a Grafana user instead of a token")
    pu.add_argument("--questdb-address", help="QuestDB's PostgreSQL wire as Grafana reaches it "
                                              "(default: COBFLOW_QUESTDB__HOST:PG_PORT)")
    pu.add_argument("--questdb-user", default="admin")
    pu.add_argument("--questdb-password", default="quest")
    s.set_defaults(func=cmd_dashboards)

    s = sub.add_parser("report", help="PNG images of the dashboards' views (from QuestDB or compute's Parquet)")
    s.add_argument("--symbol", required=True, help="a symbol of the symbols file, e.g. BTC-USD")
    s.add_argument("--from", dest="start", help="ISO 8601, ns or 'now' (default: the symbol's first row)")
    s.add_argument("--to", dest="end", help="ISO 8601, ns or 'now' (default: after the symbol's last row)")
    s.add_argument("--out", type=Path, required=True, help="folder for the PNG files")
    s.add_argument("--parquet", type=Path, metavar="DIR", help="read `cobflow compute --output DIR` instead of QuestDB")
    s.add_argument("--timeframe", choices=["1s", "1m", "1h", "1d"],
                   help="candle size (default: the longest giving at least 20 bars)")
    s.set_defaults(func=cmd_report)

    s = sub.add_parser("demo", help="the whole path on simulated data: servers, Kafka, COB dataflow, QuestDB")
    s.add_argument("--input", help="replay this capture file instead of simulating")
    s.add_argument("--duration", type=float, default=120.0, help="seconds of simulated market (default 120)")
    s.add_argument("--seed", type=int, default=1)
    s.add_argument("--save", type=Path, help="where to keep the simulated capture (default: under the services home)")
    s.add_argument("--report", type=Path, metavar="DIR", help="where to write the PNG report "
                   "(default: demo/report under the services home)")
    s.add_argument("--faults-every", type=float, default=30.0, metavar="SECONDS",
                   help="cut one frame short this often, to show the dead-letter path (0: none; default 30)")
    s.set_defaults(func=cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    import signal

    # `docker stop` sends SIGTERM: stop as on Ctrl-C (producers flush, flows stop cleanly).
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    args = build_parser().parse_args(argv)
    if args.config is not None:
        # Through the environment, so dataflows started as subprocesses read the same file.
        os.environ["COBFLOW_SYMBOLS_FILE"] = str(args.config.resolve())
    try:
        settings = load_settings()
        return args.func(args, settings)
    except ConfigError as exc:
        return _err(str(exc))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a clear one-line reason; COBFLOW_DEBUG=1 for the traceback
        if os.environ.get("COBFLOW_DEBUG"):
            raise
        return _err(f"{type(exc).__name__}: {exc}")
