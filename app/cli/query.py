"""Looking at what landed: `cobflow sql` (QuestDB) and `cobflow report` (PNG files)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cobflow.config import Settings

from cobflow.app.cli.common import Subparsers, command, err, symbols_of


def cmd_sql(args: argparse.Namespace, settings: Settings) -> int:
    from cobflow.qdb import format_rows, query

    rows = query(settings.questdb, args.query)
    if args.format == "json":  # every digit, one JSON array: for scripts
        import json

        print(json.dumps(rows))
    elif args.format == "csv":
        import csv

        writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]) if rows else [], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    else:
        print(format_rows(rows))
    return 0


def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    from cobflow.app.report import make_report
    from cobflow.app.report.data import ParquetSource, QuestDBSource, ReportSource
    from cobflow.config import load_symbols
    from cobflow.times import parse_time

    if args.run and args.parquet:
        return err("--run reads a run in QuestDB; with --parquet the folder's own symbols file is read")
    settings = symbols_of(args.parquet, args, settings)
    if args.run and getattr(args, "config", None) is None and "COBFLOW_SYMBOLS_FILE" not in os.environ:
        recorded = run_symbols(settings, args.run, args.out)
        if recorded is None:
            return err(f"run {args.run!r} recorded no symbols file in QuestDB's runs table; give one with --config")
        settings = recorded
    symbols = load_symbols(settings.symbols_file)
    if args.symbol not in symbols.symbols:
        return err(f"symbol {args.symbol!r} is not in {settings.symbols_file} (it has "
                   f"{', '.join(symbols.symbols)}); another symbols file: --config FILE")
    src: ReportSource = ParquetSource(args.parquet) if args.parquet else QuestDBSource(settings.questdb)
    start = parse_time(args.start) if args.start else None
    end = parse_time(args.end) if args.end else None
    where = f"{args.parquet}" if args.parquet else f"QuestDB at {settings.questdb.http_url}"
    print(f"rendering {args.symbol} from {where} into {args.out}/", file=sys.stderr)
    for path in make_report(src, symbols, args.symbol, start, end, args.out, args.timeframe, args.run or "paper"):
        print(path)
    return 0


def run_symbols(settings: Settings, run: str, out: Path) -> Settings | None:
    """The settings with the symbols file QuestDB's `runs` table recorded for `run` (written
    into OUT/symbols.yaml, beside the pictures); None when it has none."""
    from cobflow.app.runs import symbols_of_run
    from cobflow.config import SYMBOLS_FILE
    from cobflow.qdb import QuestDBError

    try:
        text = symbols_of_run(settings, run)
    except QuestDBError:
        return None
    if text is None:
        return None
    out.mkdir(parents=True, exist_ok=True)
    (out / SYMBOLS_FILE).write_text(text)
    print(f"symbols: the file run {run!r} recorded (copied to {out / SYMBOLS_FILE})", file=sys.stderr)
    return settings.model_copy(update={"symbols_file": out / SYMBOLS_FILE})


def add_commands(sub: Subparsers) -> None:
    s = command(sub, "sql", "run a SQL query on QuestDB and print the rows", cmd_sql)
    s.add_argument("query", help="a QuestDB SQL query, quoted: \"select * from cob_summary limit 5\"")
    s.add_argument("--format", choices=["table", "json", "csv"], default="table",
                   help="table: aligned, floats rounded per column (default); json, csv: every digit, for scripts")

    s = command(sub, "report", "PNG images of the dashboards' views (from QuestDB or compute's Parquet)", cmd_report)
    s.add_argument("--symbol", required=True, help="a symbol of the symbols file, e.g. BTC-USD")
    s.add_argument("--from", dest="start", help="ISO 8601, ns or 'now' (default: the symbol's first row)")
    s.add_argument("--to", dest="end", help="ISO 8601, ns or 'now' (default: after the symbol's last row)")
    s.add_argument("--out", "--output", type=Path, required=True, help="folder for the PNG files")
    s.add_argument("--parquet", type=Path, metavar="DIR", help="read `cobflow compute --out DIR` instead of QuestDB")
    s.add_argument("--run", help="the account run to draw (default paper); from QuestDB, with the symbols file "
                                 "that run recorded (its runs row) unless --config")
    s.add_argument("--timeframe", choices=["1s", "1m", "1h", "1d"],
                   help="candle size (default: the longest giving at least 20 bars)")
