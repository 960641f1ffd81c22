"""Looking at what landed: `cobflow sql` (QuestDB) and `cobflow report` (PNG files)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cobflow.config import Settings

from cobflow.app.cli.common import Subparsers, command, err, symbols_of


def cmd_sql(args: argparse.Namespace, settings: Settings) -> int:
    from cobflow.qdb import format_rows, query

    print(format_rows(query(settings.questdb, args.query)))
    return 0


def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    from cobflow.app.report import make_report
    from cobflow.app.report.data import ParquetSource, QuestDBSource, ReportSource
    from cobflow.config import load_symbols
    from cobflow.times import parse_time

    settings = symbols_of(args.parquet, args, settings)
    symbols = load_symbols(settings.symbols_file)
    if args.symbol not in symbols.symbols:
        return err(f"symbol {args.symbol!r} is not in {settings.symbols_file} (it has "
                   f"{', '.join(symbols.symbols)}); another symbols file: --config FILE")
    src: ReportSource = ParquetSource(args.parquet) if args.parquet else QuestDBSource(settings.questdb)
    start = parse_time(args.start) if args.start else None
    end = parse_time(args.end) if args.end else None
    where = f"{args.parquet}" if args.parquet else f"QuestDB at {settings.questdb.http_url}"
    print(f"rendering {args.symbol} from {where} into {args.out}/", file=sys.stderr)
    for path in make_report(src, symbols, args.symbol, start, end, args.out, args.timeframe):
        print(path)
    return 0


def add_commands(sub: Subparsers) -> None:
    s = command(sub, "sql", "run a SQL query on QuestDB and print the rows", cmd_sql)
    s.add_argument("query", help="a QuestDB SQL query, quoted: \"select * from cob_summary limit 5\"")

    s = command(sub, "report", "PNG images of the dashboards' views (from QuestDB or compute's Parquet)", cmd_report)
    s.add_argument("--symbol", required=True, help="a symbol of the symbols file, e.g. BTC-USD")
    s.add_argument("--from", dest="start", help="ISO 8601, ns or 'now' (default: the symbol's first row)")
    s.add_argument("--to", dest="end", help="ISO 8601, ns or 'now' (default: after the symbol's last row)")
    s.add_argument("--out", "--output", type=Path, required=True, help="folder for the PNG files")
    s.add_argument("--parquet", type=Path, metavar="DIR", help="read `cobflow compute --out DIR` instead of QuestDB")
    s.add_argument("--timeframe", choices=["1s", "1m", "1h", "1d"],
                   help="candle size (default: the longest giving at least 20 bars)")
