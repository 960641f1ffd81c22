"""Dataflows: `cobflow run` (Kafka -> QuestDB) and `cobflow compute` (capture -> Parquet)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from cobflow.app.runflow import FLOWS

if TYPE_CHECKING:
    from cobflow.config import Settings

from cobflow.app.cli.common import Subparsers, command, err, positive_int, with_strategy


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from cobflow.app.runflow import kafka_flow, run_flow
    from cobflow.dataflows.top_of_book import venues_to_read

    venues_to_read(settings)  # a configuration error is reported here, in one line
    if args.flow == "strategy":
        settings = with_strategy(args.strategy, settings)
    elif args.strategy is not None:
        return err("--strategy is for the strategy flow")
    if args.train_if_none:
        if args.flow != "strategy":
            return err("--train-if-none is for the strategy flow")
        from cobflow.app.demo import DemoOptions, ensure_models

        print(f"cobflow: models: {ensure_models(settings, DemoOptions())}", flush=True)
        if "torch" in sys.modules and "--train-if-none" in sys.argv[1:]:
            # it trained: this process waits on the flow for weeks, so it starts afresh without
            # torch's memory (the same PID, as a container's first process must keep)
            again = [a for a in sys.argv[1:] if a != "--train-if-none"]
            os.execv(sys.executable, [sys.executable, "-m", "cobflow", *again])
    if args.flow == "strategy":  # the symbols file of the account's run, for `report --run`
        from cobflow.app.runs import record_run

        record_run(settings, settings.trading.run_id, settings.strategy.name)
    return run_flow(kafka_flow(args.flow, tail=args.follow), args.workers, recovery=args.recovery,
                    processes=args.processes, epoch_s=settings.flow.epoch_s)


def cmd_compute(args: argparse.Namespace, settings: Settings) -> int:
    from cobflow.app.compute import ComputeError, compute

    if args.strict:  # the flow runs as a subprocess with this environment
        os.environ["COBFLOW_FLOW__STRICT"] = "1"
    if args.strategy:
        settings = with_strategy(None if args.strategy is True else args.strategy, settings)
    try:
        result = compute(settings, args.input, args.output, args.workers, args.processes, strategy=bool(args.strategy))
    except ComputeError as exc:
        return err(str(exc))
    print(f"computed in {result.seconds:.1f} s; tables in {args.output}/:")
    for name, n in result.rows.items():
        print(f"  {name:19s} {n:>9,} rows")
    print(f"  dead letters   {result.dead_letters:>9,} (dead_letters*.jsonl)")
    if result.unreadable:
        print(f"  of which {len(result.unreadable):,} capture lines are no raw messages (stage read), first: "
              f"{result.unreadable[0]}")
    return 0


def _workers(p: argparse.ArgumentParser) -> None:
    p.add_argument("-w", "--workers", type=positive_int, default=1, help="Bytewax worker threads (per process)")
    p.add_argument("--processes", type=positive_int, default=1, metavar="N",
                   help="a Bytewax cluster of N processes on this machine (default 1)")


def add_commands(sub: Subparsers) -> None:
    s = command(sub, "run", "run a dataflow (python -m bytewax.run ...)", cmd_run)
    s.add_argument("flow", choices=sorted(FLOWS), help="which dataflow")
    _workers(s)
    s.add_argument("--follow", action="store_true", help="keep reading new messages (live mode)")
    s.add_argument("--recovery", type=Path, metavar="DIR",
                   help="Bytewax recovery store: a restarted flow resumes where it stopped (created if empty)")
    s.add_argument("--strategy", metavar="NAME",
                   help="strategy flow: a built-in's name or module:Class, comma separated for several side by "
                        "side (each its own account and run tag); default: each symbol's strategy.use, else combined")
    s.add_argument("--train-if-none", action="store_true",
                   help="strategy: when COBFLOW_MODELS__DIR has no checkpoints, first train small ones on 20 "
                        "simulated minutes (as make demo does)")

    s = command(sub, "compute", "the COB dataflow on a capture file, into Parquet (no servers)", cmd_compute)
    s.add_argument("--input", type=Path, required=True, help="capture file (.jsonl, .jsonl.gz, .parquet)")
    s.add_argument("--out", "--output", dest="output", type=Path, required=True,
                   help="folder: one Parquet folder per table")
    s.add_argument("--strategy", nargs="?", const=True, default=None, metavar="NAME",
                   help="the strategy flow: signals, models (COBFLOW_MODELS__DIR), decisions, outcomes, the paper "
                        "account too; NAME: a built-in's name or module:Class (as `cobflow run strategy --strategy`)")
    s.add_argument("--strict", action="store_true",
                   help="stop at the first capture line that is no raw message (default: a dead letter, and go on)")
    _workers(s)

