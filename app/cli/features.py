"""`cobflow features`: the feature tables again from stored rows, for training."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cobflow.config import Settings

from cobflow.app.cli.common import Subparsers, command, err, symbols_of


def cmd_features(args: argparse.Namespace, settings: Settings) -> int:
    import pyarrow.compute as pc

    from cobflow.app.recompute import RecomputeError, read_parquet, read_questdb, recompute
    from cobflow.config import load_symbols
    from cobflow.times import parse_time

    settings = symbols_of(args.input, args, settings)
    symbols = load_symbols(settings.symbols_file)
    since = parse_time(args.since) if args.since else None
    until = parse_time(args.until) if args.until else None
    if since is not None and until is not None and since >= until:
        return err(f"--from {args.since} is not before --to {args.until}")
    try:
        if args.input is not None:
            if not args.input.is_dir():
                return err(f"{args.input}: no such folder (give a `cobflow compute --out` folder)")
            tables = read_parquet(args.input)
            if until is not None:
                tables = {k: t.filter(pc.less(t["ts"].cast("int64"), until)) for k, t in tables.items()}
        else:
            tables = read_questdb(settings.questdb, until)
        result = recompute(tables, symbols, args.output, since_ns=since, progress=not args.quiet)
    except RecomputeError as exc:
        return err(str(exc))
    print(f"{result.seconds:,} seconds read; tables in {args.output}/:")
    for name, n in result.rows.items():
        print(f"  {name:12s} {n:>9,} rows")
    return 0


def add_commands(sub: Subparsers) -> None:
    s = command(sub, "features", "recompute indicators, pivots and feature vectors from stored rows (training)",
                cmd_features)
    s.add_argument("--input", type=Path, metavar="DIR",
                   help="a `cobflow compute` output folder (default: the tables in QuestDB)")
    s.add_argument("--from", dest="since", metavar="T",
                   help="keep rows from T on (ISO 8601, or ns since the epoch); the rows before still warm up "
                        "indicators and windows, as in the flow")
    s.add_argument("--to", dest="until", metavar="T", help="read rows before T only")
    s.add_argument("--out", "--output", dest="output", type=Path, required=True,
                   help="folder: indicators/, pivots/, features/ in Parquet")
    s.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
