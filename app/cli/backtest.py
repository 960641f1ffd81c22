"""`cobflow backtest --input CAPTURE --out DIR` and `cobflow backtest compare DIR...`."""

from __future__ import annotations

import argparse
from pathlib import Path

from cobflow.app.cli.common import Subparsers, command, err, positive_int, with_strategy
from cobflow.config import STRATEGIES, Settings


def _choices(args: argparse.Namespace, settings: Settings) -> Settings:
    """--strategy into the settings and the flow's environment (it runs as a subprocess)."""
    return with_strategy(args.strategy, settings)


def _models(args: argparse.Namespace) -> Path | None:
    """--models DIR, or the --model checkpoint files pinned into OUT/models."""
    from cobflow.app.backtest import BacktestError

    if not args.model:
        return args.models
    if args.models is not None:
        raise BacktestError("give --models DIR (the best of each kind) or --model FILE.pt ..., not both")
    if args.walk_forward:
        raise BacktestError("--walk-forward trains its own checkpoints per fold: no --model")
    from cobflow.models.checkpoints import CheckpointError, pin  # torch: only when asked

    try:
        return pin(args.model, args.out / "models")
    except CheckpointError as exc:
        raise BacktestError(str(exc)) from None


def cmd_backtest(args: argparse.Namespace, settings: Settings) -> int:
    # the backtest's libraries (pyarrow, matplotlib, torch) only when one runs
    from cobflow.app.backtest import BacktestError, compare_table, kafka_backtest, pictures, run_backtest, summary_table
    from cobflow.app.compute import ComputeError

    try:
        if args.action == "compare":
            if len(args.dirs) < 1:
                return err("compare: give one or more backtest folders (cobflow backtest compare DIR1 DIR2)")
            print(compare_table(args.dirs))
            return 0
        if args.dirs:
            return err(f"unexpected {' '.join(map(str, args.dirs))!r} (did you mean: cobflow backtest compare ...?)")
        if args.out is None:
            return err("a backtest needs --out DIR")
        settings = _choices(args, settings)
        models = _models(args)
        if (args.since is None) != (args.until is None):
            return err("give both --from and --to (the period of the raw.* topics to replay)")
        if args.since is not None:
            if args.input is not None or args.walk_forward:
                return err("--from/--to backtests the raw.* topics of a period: no --input, no --walk-forward")
            from cobflow.times import parse_time

            bt = kafka_backtest(settings, parse_time(args.since), parse_time(args.until), args.out, args.workers,
                                progress=not args.quiet, models_dir=models, run_id=args.run_id)
            args.input = bt.report["input"]["path"]
        elif args.input is None:
            return err("a backtest needs --input CAPTURE (or --from T --to T: the raw.* topics of that period)")
        elif args.walk_forward:
            return _walk_forward(args, settings)
        else:
            bt = run_backtest(settings, args.input, args.out, args.workers, progress=not args.quiet,
                              models_dir=models)
        paths = pictures(settings, bt)
    except (BacktestError, ComputeError) as exc:
        return err(str(exc))
    r = bt.report
    ran = ", ".join(f"{c['kind']} {c['name']}" for c in r["checkpoints"]) or "none (rule signals only)"
    print(f"backtest {r['run']} ({settings.strategy.name}) of {args.input} ({r['period']['seconds']:,} s of market, "
          f"sha256 {r['input']['sha256'][:12]}) in {bt.seconds:.1f} s; models: {ran}; code {r['code_version']}")
    print(summary_table(r))
    print(f"report: {args.out / 'report.json'}; tables: {args.out}/<table>/; pictures:")
    for p in paths:
        print(f"  {p}")
    return 0


def _walk_forward(args: argparse.Namespace, settings: Settings) -> int:
    from cobflow.app.backtest import FORMULAS, fmt
    from cobflow.app.walkforward import walk_forward
    from cobflow.models.train import TrainConfig
    from cobflow.times import parse_duration

    try:
        train_s, test_s = parse_duration(args.train), parse_duration(args.test)
    except ValueError as exc:
        return err(str(exc))
    r = walk_forward(settings, args.input, args.out, train_s, test_s, TrainConfig(epochs=args.epochs),
                     args.workers, progress=not args.quiet)
    folds = r["walk_forward"]["folds"]
    print(f"walk-forward ({settings.strategy.name}) of {args.input}: {len(folds)} folds of {train_s:g} s training, "
          f"{r['walk_forward']['embargo_s']:g} s embargo, {test_s:g} s test")
    print(f"{'metric':13s} " + " ".join(f"{'fold ' + str(f['index']):>11s}" for f in folds) + f" {'all tests':>11s}"
          f" {'no trades':>11s} {'buy & hold':>11s}")
    base = r["baselines"]
    for name in FORMULAS:
        print(f"{name:13s} " + " ".join(f"{fmt(f['metrics'][name]):>11s}" for f in folds)
              + f" {fmt(r['metrics'][name]):>11s} {fmt(base['no_trades'][name]):>11s}"
              f" {fmt(base['buy_and_hold'][name]):>11s}")
    print(f"report: {args.out / 'report.json'}; the run (tables, pictures): {args.out / 'backtest'}/")
    return 0


def add_commands(sub: Subparsers) -> None:
    p = command(sub, "backtest", "the strategy flow on a capture: paper fills, EXECUTION.md metrics, baselines, "
                                 "pictures; or compare backtests", cmd_backtest)
    p.add_argument("action", nargs="?", choices=["compare"], help="compare: the metrics of backtest folders")
    p.add_argument("dirs", nargs="*", type=Path, help="compare: backtest folders")
    p.add_argument("--input", type=Path, help="capture file (.jsonl, .jsonl.gz, .parquet)")
    p.add_argument("--from", dest="since", metavar="T", help="instead of --input: the raw.* topics from T (ISO 8601)")
    p.add_argument("--to", dest="until", metavar="T", help="... to T (exclusive), through Kafka into QuestDB")
    p.add_argument("--run-id", help="--from/--to: the run's tag in QuestDB (default backtest-<UTC time>)")
    p.add_argument("--out", type=Path, help="folder: the tables as Parquet, report.json, pictures/")
    p.add_argument("--models", type=Path, metavar="DIR",
                   help="checkpoints folder to run (default COBFLOW_MODELS__DIR; the best of each kind is used)")
    p.add_argument("--model", nargs="+", type=Path, metavar="CHECKPOINT",
                   help="checkpoint files (<name>.pt, one per kind) to run instead of the best of --models")
    p.add_argument("--strategy", metavar="NAME",
                   help="a built-in (" + "; ".join(f"{k}: {v}" for k, v in STRATEGIES.items())
                   + ") or your module:Class (README \"Write your own strategy\"); default: each symbol's "
                   "strategy.use, else combined (or COBFLOW_STRATEGY__NAME)")
    p.add_argument("--walk-forward", action="store_true",
                   help="train on each --train window, test on the next --test window, roll forward")
    p.add_argument("--train", default="2h", help="walk-forward: training window (90s, 30m, 2h; default 2h)")
    p.add_argument("--test", default="30m", help="walk-forward: test window (default 30m)")
    p.add_argument("--epochs", type=positive_int, default=8, help="walk-forward: training epochs per model")
    p.add_argument("-w", "--workers", type=positive_int, default=1)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
