"""`cobflow demo` (`make demo`): the whole path on simulated data or a capture."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cobflow.config import Settings

from cobflow.app.cli.common import Subparsers, command, err


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from cobflow.app.demo import DemoError, DemoOptions, run_demo  # torch: only when run

    opts = DemoOptions(input=Path(args.input) if args.input else None, duration=args.duration, seed=args.seed,
                       save=args.save, report=args.report, backtest=args.backtest, faults_every=args.faults_every,
                       alpha=args.alpha)
    try:
        run_demo(settings, opts)
    except DemoError as exc:
        return err(str(exc))
    return 0


def add_commands(sub: Subparsers) -> None:
    s = command(sub, "demo", "the whole path on simulated data: servers, Kafka, COB dataflow, QuestDB", cmd_demo)
    s.add_argument("--input", help="replay this capture file instead of simulating")
    s.add_argument("--duration", type=float, default=180.0, help="seconds of simulated market (default 180)")
    s.add_argument("--seed", type=int, default=1, help="the simulated market's seed (default 1)")
    s.add_argument("--save", type=Path, help="where to keep the simulated capture (default: under the services home)")
    s.add_argument("--report", type=Path, metavar="DIR", help="where to write the PNG report "
                   "(default: demo/report under the services home)")
    s.add_argument("--backtest", type=Path, metavar="DIR", help="where the closing backtest goes "
                   "(default: demo/backtest under the services home)")
    s.add_argument("--alpha", type=float, default=1.0,
                   help="the simulated market's planted signal (default 1: the models have something to learn)")
    s.add_argument("--faults-every", type=float, default=30.0, metavar="SECONDS",
                   help="cut one frame short this often, to show the dead-letter path (0: none; default 30)")
