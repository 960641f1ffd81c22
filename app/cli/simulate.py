"""`cobflow simulate`: a seeded multi-venue market, into Kafka or a capture file."""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cobflow.config import Settings

from cobflow.app.cli.common import Subparsers, command, err, positive_int, speed


def cmd_simulate(args: argparse.Namespace, settings: Settings) -> int:
    from cobflow.config import load_symbols
    from cobflow.connectors.simulator import SimConfig, simulate
    from cobflow.connectors.simulator.to_file import simulate_to_file
    from cobflow.kafka_io import ensure_topics, publish
    from cobflow.progress import Progress
    from cobflow.times import parse_time
    from cobflow.venues import recording_only

    symbols = load_symbols(settings.symbols_file)
    problem = recording_only(symbols.venues(), "simulated")
    if problem:
        return err(problem)
    if args.duration < 0 or (args.duration == 0 and args.out):
        return err("--duration: a positive number of seconds (0 = forever is for Kafka output only)")
    duration = args.duration or math.inf
    cfg = SimConfig(seed=args.seed, duration_s=duration, rate_scale=args.rate_scale, alpha=args.alpha,
                    trend_scale=args.trend_scale, signal=args.signal, alpha_flip_s=args.flip_at,
                    trend_every_s=args.trend_every, lead_s=args.lead)
    if args.start is not None:
        cfg.start_ns = parse_time(args.start)
    pairs = ", ".join(f"{v} {m}" for v, ms in symbols.markets().items() for m in ms)
    span = "an endless market" if math.isinf(duration) else f"{duration:g} s"
    print(f"simulating {span} of {pairs} (seed {args.seed})", file=sys.stderr)
    start = time.perf_counter()
    if args.out:
        with Progress("simulate", args.duration, "s of market time") as bar:
            n = simulate_to_file(symbols, cfg, args.out, workers=args.workers, progress=bar)
            bar(args.duration, force=True)
        el = time.perf_counter() - start
        print(f"wrote {n:,} raw messages to {args.out} in {el:.1f} s ({n / el:,.0f} messages/s)")
        return 0
    venues = symbols.venues()
    ensure_topics(settings.kafka, [*(settings.kafka.raw_topic(v) for v in venues), settings.kafka.dlq()])
    with Progress("simulate -> kafka") as bar:
        n = publish(settings.kafka, simulate(symbols, cfg), speed(args.speed), bar)
    print(f"published {n:,} raw messages to {', '.join(settings.kafka.raw_topic(v) for v in venues)}")
    return 0


def add_commands(sub: Subparsers) -> None:
    s = command(sub, "simulate", "a seeded multi-venue market in each venue's wire format", cmd_simulate)
    s.add_argument("--duration", type=float, default=60.0,
                   help="seconds of market time (default 60; 0 = forever, into Kafka)")
    s.add_argument("--seed", type=int, default=1, help="the same seed and options give the same messages (default 1)")
    s.add_argument("--out", "--output", type=Path,
                   help="capture file to write (.jsonl, .jsonl.gz, .parquet); default: Kafka")
    s.add_argument("--speed", default="1", help="to Kafka: 1 = real time (default), 10 = 10x, 'max'")
    s.add_argument("--start", help="market time of the first message (ISO 8601, ns or 'now'; default 2026-01-01Z)")
    s.add_argument("--rate-scale", type=float, default=1.0, help="multiply update and trade rates (load tests)")
    s.add_argument("--alpha", type=float, default=0.0,
                   help="plant a learnable signal: the latent trend shows in the aggressor mix and the depth at "
                        "the touch, this strongly (0: none, the default market; 1: the tests' learnable market)")
    s.add_argument("--signal", choices=("touch", "depth"), default="touch",
                   help="where --alpha's signal shows: touch (aggressor mix and touch sizes, the default) or depth "
                        "(only the sizes added deeper in the book: a second signal, for models tuned on the first)")
    s.add_argument("--flip-at", type=float, default=None, metavar="SECONDS",
                   help="a regime change: the planted signal's sign reverses this many seconds in")
    s.add_argument("--trend-every", type=float, default=120.0, metavar="SECONDS",
                   help="a new latent trend every this many seconds on average (default 120)")
    s.add_argument("--lead", type=float, default=0.0, metavar="SECONDS",
                   help="the price follows the latent trend this many seconds late while the book shows it at once "
                        "(default 0): with short trends, the past returns then say little of the next ones, the "
                        "planted signal most")
    s.add_argument("--trend-scale", type=float, default=1.0,
                   help="size of the fair price's latent trends (default 1; 0: a driftless random walk whose "
                        "direction nothing can predict, the market the no-leak tests train on)")
    s.add_argument("--workers", type=positive_int, default=2, help="to a file: processes simulating venues in parallel")
