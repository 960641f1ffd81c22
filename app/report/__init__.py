"""PNG reports of the dashboards' views, for where no Grafana runs: `cobflow report`."""

from __future__ import annotations

from pathlib import Path

from cobflow.app.report.data import ReportSource
from cobflow.app.report.render import TIMEFRAME_S, ReportSpec, render_all
from cobflow.config import SymbolsConfig

NS = 1_000_000_000


def choose_timeframe(span_ns: int) -> str:
    """The longest bar that still gives at least 20 bars."""
    best = "1s"
    for name, seconds in TIMEFRAME_S.items():
        if span_ns / NS / seconds >= 20:
            best = name
    return best


def make_report(src: ReportSource, symbols: SymbolsConfig, symbol: str, start: int | None, end: int | None,
                out: Path, timeframe: str | None = None, run: str = "paper") -> list[Path]:
    """Render the views of one symbol (render.VIEWS); without a range, the symbol's whole data."""
    if symbol not in symbols.symbols:
        raise ValueError(f"symbol {symbol!r} is not configured (configured: {', '.join(symbols.symbols)})")
    ts = src.load("cob_summary", {"symbol": symbol}, start, end)["ts"]
    if len(ts) == 0:
        raise ValueError(f"no cob_summary rows for {symbol} in that range: nothing to report")
    start = int(ts.min()) if start is None else start
    end = int(ts.max()) + NS if end is None else end
    spec = ReportSpec(symbol, dict(symbols.symbols[symbol].venues), start, end,
                      timeframe or choose_timeframe(end - start), run)
    return render_all(src, spec, out)
