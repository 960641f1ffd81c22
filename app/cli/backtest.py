"""`cobflow backtest --input CAPTURE --out DIR` and `cobflow backtest compare DIR...`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from cobflow.names import STRATEGIES

if TYPE_CHECKING:
    from cobflow.config import Settings

from cobflow.app.cli.common import Subparsers, command, err, positive_int, with_strategy, with_tables


def _choices(args: argparse.Namespace, settings: Settings) -> Settings:
    """--strategy and --tables into the settings and the flow's environment (it runs as a
    subprocess)."""
    from cobflow.app.backtest import REPORT_TABLES, TABLE_SETS

    which = args.tables or ("all" if args.walk_forward else "report")
    if which not in TABLE_SETS:  # a list: written besides the report's own
        which = ",".join(dict.fromkeys([*REPORT_TABLES, *(t.strip() for t in which.split(","))]))
    return with_tables(which, with_strategy(args.strategy, settings), TABLE_SETS)


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


def cmd_compare(args: argparse.Namespace, settings: Settings) -> int:
    from cobflow.app.backtest import BacktestError, compare_table

    try:
        print(compare_table(args.dirs))
    except BacktestError as exc:
        return err(str(exc))
    return 0


def cmd_backtest(args: argparse.Namespace, settings: Settings) -> int:
    # the backtest's libraries (pyarrow, matplotlib, torch) only when one runs
    from cobflow.app.backtest import (
        BacktestError,
        kafka_backtest,
        pictures,
        run_backtest,
        summary_table,
        untrained,
    )
    from cobflow.app.compute import ComputeError

    try:
        if args.out is None:
            return err("a backtest needs --out DIR")
        settings = _choices(args, settings)
        models = _models(args)
        if not args.walk_forward:  # a walk-forward trains its own, on these symbols
            for line in untrained(settings, models):
                if args.strict:
                    return err(f"{line} (--strict)")
                print(f"warning: {line} (--strict refuses)", file=sys.stderr)
        if (args.since is None) != (args.until is None):
            return err("give both --from and --to (the period of the raw.* topics to replay)")
        if args.since is not None:
            if args.input is not None or args.walk_forward:
                return err("--from/--to backtests the raw.* topics of a period: no --input, no --walk-forward")
            if args.tables is not None:
                return err("--from/--to writes the run's own tables into QuestDB (decisions, orders, fills, "
                           "positions, equity, risk_events; the market's are the live flow's): --tables is for "
                           "--input backtests")
            from cobflow.times import parse_time

            bt = kafka_backtest(settings, parse_time(args.since), parse_time(args.until), args.out, args.workers,
                                progress=not args.quiet, models_dir=models, run_id=args.run_id)
            args.input = bt.report["input"]["path"]
        elif args.input is None:
            return err("a backtest needs --input CAPTURE (or --from T --to T: the raw.* topics of that period)")
        elif args.walk_forward:
            return _walk_forward(args, settings)
        else:
            bt = run_backtest(settings, args.input, args.out, args.workers, progress=not args.quiet and not args.json,
                              models_dir=models)
        paths = pictures(settings, bt)
    except (BacktestError, ComputeError) as exc:
        return err(str(exc))
    r = bt.report
    if args.json:
        return _json(r)
    ran = ", ".join(f"{c['kind']} {c['name']}" for c in r["checkpoints"]) or "none"
    print(f"backtest {r['run']} (strategy {r['strategy']}) of {args.input} ({r['period']['seconds']:,} s of market, "
          f"sha256 {r['input']['sha256'][:12]}) in {bt.seconds:.1f} s"
          f"{f' on {bt.processes} processes' if bt.processes > 1 else ''}; models: {ran}; code {r['code_version']}")
    print(summary_table(r))
    print(f"report: {args.out / 'report.json'}; tables: {args.out}/<table>/; pictures:")
    for p in paths:
        print(f"  {p}")
    return 0


def _json(report: dict) -> int:
    """report.json's content on stdout: every value at full precision, for scripts."""
    import json

    print(json.dumps(report, indent=1, sort_keys=True))
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
                     args.workers, progress=not args.quiet and not args.json)
    if args.json:
        return _json(r)
    folds = r["walk_forward"]["folds"]
    print(f"walk-forward (strategy {r['strategy']}) of {args.input}: {len(folds)} folds of {train_s:g} s training, "
          f"{r['walk_forward']['embargo_s']:g} s embargo, {test_s:g} s test")
    print(f"{'metric':13s} " + " ".join(f"{'fold ' + str(f['index']):>11s}" for f in folds) + f" {'all tests':>11s}"
          f" {'no trades':>11s} {'buy & hold':>11s}")
    base = r["baselines"]
    for name in FORMULAS:
        print(f"{name:13s} " + " ".join(f"{fmt(f['metrics'][name], name):>11s}" for f in folds)
              + f" {fmt(r['metrics'][name], name):>11s} {fmt(base['no_trades'][name], name):>11s}"
              f" {fmt(base['buy_and_hold'][name], name):>11s}")
    print(f"report: {args.out / 'report.json'}; the run (tables, pictures): {args.out / 'backtest'}/")
    return 0


def add_commands(sub: Subparsers) -> None:
    p = command(sub, "backtest", "the strategy flow on a capture: paper fills, EXECUTION.md metrics, baselines, "
                                 "pictures; or compare backtests", cmd_backtest)
    sp = p.add_subparsers(dest="action", metavar="compare", required=False,
                          help="cobflow backtest compare DIR DIR...: backtests side by side")
    c = command(sp, "compare", "the metrics, strategies, baselines and code versions of backtest folders",
                cmd_compare)
    c.add_argument("dirs", nargs="+", type=Path, metavar="DIR", help="`cobflow backtest --out` folders")
    p.add_argument("--input", type=Path, help="capture file (.jsonl, .jsonl.gz, .parquet)")
    p.add_argument("--from", dest="since", metavar="T", help="instead of --input: the raw.* topics from T (ISO 8601)")
    p.add_argument("--to", dest="until", metavar="T", help="... to T (exclusive), through Kafka into QuestDB")
    p.add_argument("--run-id", help="--from/--to: the run's tag in QuestDB (default backtest-<UTC time>)")
    p.add_argument("--out", "--output", type=Path, help="folder: the tables as Parquet, report.json, pictures/")
    p.add_argument("--models", type=Path, metavar="DIR",
                   help="checkpoints folder to run (default COBFLOW_MODELS__DIR; the best of each kind is used)")
    p.add_argument("--model", nargs="+", type=Path, metavar="CHECKPOINT",
                   help="checkpoint files (<name>.pt, one per kind) to run instead of the best of --models")
    p.add_argument("--strategy", metavar="NAME",
                   help="a built-in (" + "; ".join(f"{k}: {v}" for k, v in STRATEGIES.items())
                   + ") or your module:Class (docs/strategies.md); default: each symbol's "
                   "strategy.use, else combined (or COBFLOW_STRATEGY__NAME)")
    p.add_argument("--tables", metavar="WHICH",
                   help="the tables written to --out: report (the default: what report.json and the pictures read: "
                   "cob_summary, pivots and the run's decisions, orders, fills, positions, equity, risk_events), "
                   "all (every table of the strategy flow; the default of --walk-forward), or a comma-separated "
                   "list of tables written besides the report's (e.g. model_outputs,signals); the rows of the "
                   "others are never made")
    p.add_argument("--walk-forward", action="store_true",
                   help="train on each --train window, test on the next --test window, roll forward")
    p.add_argument("--train", default="2h", help="walk-forward: training window (90s, 30m, 2h; default 2h)")
    p.add_argument("--test", default="30m", help="walk-forward: test window (default 30m)")
    p.add_argument("--epochs", type=positive_int, default=8, help="walk-forward: training epochs per model")
    p.add_argument("--strict", action="store_true",
                   help="refuse checkpoints trained on other symbols than those configured (default: warn)")
    p.add_argument("-w", "--workers", type=positive_int, default=1,
                   help="a capture's backtest: N processes of one Bytewax worker each, at most one per symbol "
                   "(threads of one process share its interpreter lock); --from/--to: N worker threads (default 1)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the report (report.json) instead of the tables: "
                   "full precision, for scripts; no progress bar")
