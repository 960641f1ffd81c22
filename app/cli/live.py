"""`cobflow live`: the venues' websockets -> raw.<venue> topics and/or a capture file."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cobflow.config import Settings

from cobflow.app.cli.common import Subparsers, command, err


def cmd_live(args: argparse.Namespace, settings: Settings) -> int:
    from cobflow.config import load_symbols
    from cobflow.connectors.live import LiveClient, run_clients
    from cobflow.dataflows.sinks.raw import FileRawSink, KafkaRawSink
    from cobflow.kafka_io import ensure_topics
    from cobflow.raw import RawMessage
    from cobflow.venues import recording_only

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    symbols = load_symbols(settings.symbols_file)
    # each symbol's markets and the rate markets its quote conversion reads
    markets = {v: ms for v, ms in symbols.markets().items() if not args.venues or v in args.venues}
    if not markets:
        return err(f"no configured markets for venues {args.venues}")
    problem = recording_only(set(markets), "live")
    if problem:
        return err(problem)
    urls = dict(u.split("=", 1) for u in args.url or [])
    rest_urls = dict(u.split("=", 1) for u in args.rest_url or [])
    sinks: list[KafkaRawSink | FileRawSink] = []
    if not args.no_kafka:
        ensure_topics(settings.kafka, [settings.kafka.raw_topic(v) for v in markets])
        sinks.append(KafkaRawSink(settings.kafka))
    if args.out:
        sinks.append(FileRawSink(args.out))
    if not sinks:
        return err("nowhere to write: drop --no-kafka or give --out FILE")

    def sink(raw: RawMessage) -> None:
        for s in sinks:
            s(raw)

    clients = [LiveClient(v, ms, sink, url=urls.get(v), rest_url=rest_urls.get(v),
                          connect_attempts=args.connect_attempts or None) for v, ms in markets.items()]
    for c in clients:
        print(f"{c.venue}: {', '.join(c.spec.markets)} from {c.spec.url}", file=sys.stderr)
    try:
        asyncio.run(run_clients(clients, args.duration))
    except KeyboardInterrupt:
        pass
    finally:
        for s in sinks:
            s.close()
    silent = []
    for c in clients:
        print(f"{c.venue}: {c.stats.frames:,} frames, {c.stats.connections} connection(s), "
              f"{c.stats.resyncs_requested} resync(s) requested"
              + (f"; {c.stats.gave_up}" if c.stats.gave_up else ""))
        if c.stats.frames == 0:
            silent.append(c.venue)
    if silent:
        if args.out and len(silent) == len(clients):  # an empty file is no recording: leave none
            args.out.unlink(missing_ok=True)
        return err(f"no frame from {', '.join(silent)}: nothing of "
                   f"{'it' if len(silent) == 1 else 'them'} was recorded")
    return 0


def add_commands(sub: Subparsers) -> None:
    s = command(sub, "live", "connect to the venues' websockets; raw messages -> Kafka and/or a file", cmd_live)
    s.add_argument("--venues", nargs="+", help="only these venues (default: every venue in the symbols file)")
    s.add_argument("--out", "--output", type=Path, help="also write a capture file (.jsonl or .jsonl.gz)")
    s.add_argument("--no-kafka", action="store_true", help="do not publish to Kafka (needs --out)")
    s.add_argument("--duration", type=float, help="stop after this many seconds (default: run until Ctrl-C)")
    s.add_argument("--connect-attempts", type=int, default=5, metavar="N",
                   help="failed connects in a row after which a venue gives up (default 5; 0: never)")
    s.add_argument("--url", action="append", metavar="VENUE=URL", help="another websocket URL for a venue")
    s.add_argument("--rest-url", action="append", metavar="VENUE=URL", help="another REST snapshot URL")
