"""Features of one symbol from the rows of its seconds (FEATURES.md): indicators of the
closed ALL bars, pivots, and the cnn / rl vectors with their quality.

`FeatureState` reads rows, never messages: the flow hands it the rows the consolidated book
just made, and `cobflow features` hands it the same rows read back from Parquet or QuestDB,
so both give the same values. A second's rows open with its data_quality row (CobState
writes that first); bars in them are used once closed, when `start + timeframe <= S + 1`
(the bars still open at the end of a finite input, which the flow also writes, are not).

`features` wraps it in a Bytewax stateful step keyed by symbol, like `cob_books`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import bytewax.operators as op
import numpy as np
from bytewax.dataflow import Stream, operator
from bytewax.operators import StatefulBatchLogic

from cobflow.config import FeatureSpec, SymbolsConfig
from cobflow.metrics.indicators import IndicatorSeries, InvalidBar
from cobflow.metrics.pivots import Pivot, PivotTracker
from cobflow.metrics.trades import ALL, TIMEFRAMES, Bar
from cobflow.metrics.vectors import BUCKET_ROWS, LAYOUT, FeatureVectors, SecondInput
from cobflow.operators.state import snapshot, unstamp
from cobflow.tables import (
    COB_BUCKETS,
    COB_SUMMARY,
    DATA_QUALITY,
    FEATURES,
    INDICATORS,
    OHLCV,
    ORDER_FLOW,
    PIVOTS,
    AnyRow,
    TableRow,
)

NS = 1_000_000_000
PIVOT_LEVEL_IN_VECTORS = 2


class FeatureState:
    """One symbol: an indicator series per timeframe, a pivot tracker per pivot timeframe,
    the vectors' trailing windows, and the second being read."""

    def __init__(self, symbol: str, spec: FeatureSpec, configured: int) -> None:
        self.symbol = symbol
        self.spec = spec
        self.indicators = {tf: IndicatorSeries() for tf in spec.indicator_timeframes}
        self.pivots = {tf: PivotTracker(spec.pivot_strength) for tf in spec.pivot_timeframes}
        self.vectors = FeatureVectors(configured)
        self.latest_1s: dict[str, float | None] = {}
        self.close_1s: float | None = None
        self.pivot_price: dict[str, float] = {}  # kind -> latest confirmed level-2 1s pivot
        self.invalid_bars = 0
        self.current: int | None = None  # the second whose rows are being read
        self.pending: dict = {}

    def add(self, rows: Iterable) -> list[AnyRow]:
        """Rows of whole seconds, in the flow's order -> the feature rows they make."""
        out: list[AnyRow] = []
        for row in rows:
            name = getattr(row, "table", None)
            if name == DATA_QUALITY.name:
                out.extend(self.finish())
                self.current = row.ts // NS
                self.pending = {"quality": row.columns, "bars": [], "summary": None, "buckets": None, "flow": None}
            elif self.current is None or not self.pending:
                continue  # not inside a second: the bars a finite input's end shows still open
            elif name == OHLCV.name:
                self.pending["bars"].extend(_all_bars(row))
            elif name == COB_SUMMARY.name:
                self.pending["summary"] = row.columns
            elif name == COB_BUCKETS.name:
                self.pending["buckets"] = row.columns
            elif name == ORDER_FLOW.name:
                self.pending["flow"] = _all_flow(row)
        return out

    def finish(self) -> list[AnyRow]:
        """The rows of the second read so far (called at the next second's first row, and
        at the end of each batch of whole seconds)."""
        if self.current is None or not self.pending:
            return []
        s, p = self.current, self.pending
        self.pending = {}
        out: list[AnyRow] = []
        bar_1s = None
        for bar in sorted(p["bars"], key=lambda b: (b.start_s, TIMEFRAMES[b.timeframe])):
            if bar.start_s + TIMEFRAMES[bar.timeframe] > s + 1:
                continue  # still open: the end of a finite input shows it, it is not in the series
            out.extend(self._bar(bar))
            if bar.timeframe == "1s" and bar.start_s == s:
                bar_1s = (bar.volume, bar.buy_volume, bar.sell_volume)
        q = p["quality"]
        if p["summary"] is not None:
            x = SecondInput(s, p["summary"], _bucket_arrays(p["buckets"]), p["flow"], bar_1s, self.latest_1s,
                            self.close_1s, self.pivot_price.get("high"), self.pivot_price.get("low"))
            cnn, rl = self.vectors.second(x)
            out.append(TableRow(FEATURES.name, s * NS, {"symbol": self.symbol, "layout": LAYOUT}, {
                "quality": q["quality"], "completeness": q["completeness"], "freshness": q["freshness"],
                "cnn": cnn, "rl": rl}))
        return out

    def _bar(self, bar: Bar) -> list[AnyRow]:
        out: list[AnyRow] = []
        tags = {"symbol": self.symbol, "timeframe": bar.timeframe}
        series = self.indicators.get(bar.timeframe)
        if series is not None:
            try:
                values = series.add(bar)
            except InvalidBar:
                self.invalid_bars += 1  # counted, never fed: the handles stay in step
                return out
            out.append(TableRow(INDICATORS.name, bar.start_s * NS, tags, dict(values)))
            if bar.timeframe == "1s":
                self.latest_1s, self.close_1s = values, bar.close
        tracker = self.pivots.get(bar.timeframe)
        if tracker is not None:
            start = bar.start_s * NS
            pivots = tracker.add(start, start + TIMEFRAMES[bar.timeframe] * NS, bar.high, bar.low)
            out.extend(_pivot_row(self.symbol, bar.timeframe, p) for p in pivots)
            if bar.timeframe == "1s":
                for p in pivots:
                    if p.level == PIVOT_LEVEL_IN_VECTORS:
                        self.pivot_price[p.kind] = p.price
        return out


def _pivot_row(symbol: str, timeframe: str, p: Pivot) -> TableRow:
    return TableRow(PIVOTS.name, p.start_ns, {"symbol": symbol, "timeframe": timeframe, "kind": p.kind},
                    {"level": p.level, "price": p.price, "confirmed_ts": p.confirmed_ns})


def _all_bars(row: AnyRow) -> list[Bar]:
    """The ALL bars of an ohlcv row or block (read from its columns: no row objects made)."""
    if isinstance(row, TableRow):
        return [_bar(row.ts, row.symbols, row.columns)] if row.symbols.get("venue") == ALL else []
    venues = row.symbols["venue"]
    picks = [i for i, v in enumerate(venues) if v == ALL] if isinstance(venues, list) else (
        list(range(len(row))) if venues == ALL else [])
    if not picks:
        return []
    ts, tfs, cols = row.ts, row.symbols["timeframe"], row.columns
    out = []
    for i in picks:
        t = ts if isinstance(ts, int) else int(ts[i])
        tf = tfs if isinstance(tfs, str) else tfs[i]
        out.append(_bar(t, {"timeframe": tf}, {k: v[i] for k, v in cols.items()}))
    return out


def _bar(ts: int, tags: Mapping[str, Any], c: Mapping[str, Any]) -> Bar:
    return Bar(ts // NS, ALL, tags["timeframe"], float(c["open"]), float(c["high"]), float(c["low"]),
               float(c["close"]), float(c["volume"]), float(c["buy_volume"]), float(c["sell_volume"]), int(c["trades"]))


def _all_flow(row: AnyRow) -> float | None:
    if isinstance(row, TableRow):
        ratio: Any = row.columns.get("aggressive_buy_ratio") if row.symbols.get("venue") == ALL else None
        return ratio
    venues = row.symbols["venue"]
    for i, v in enumerate(venues if isinstance(venues, list) else [venues] * len(row)):
        if v == ALL:
            r = row.columns["aggressive_buy_ratio"][i]
            return None if r is None or r != r else float(r)
    return None


def _bucket_arrays(columns: Mapping[str, Any] | None) -> np.ndarray | None:
    """cob_buckets columns -> (6, 41), rows as BUCKET_ROWS (a null is NaN)."""
    if columns is None:
        return None
    return np.array([np.asarray(columns[k], dtype=np.float64) for k in BUCKET_ROWS])


def new_feature_state(symbols: SymbolsConfig, symbol: str) -> FeatureState:
    spec = symbols.symbols[symbol]
    return FeatureState(symbol, spec.features, len(spec.venues))


class FeatureLogic(StatefulBatchLogic):
    """The step's values are lists of the rows (and dead letters) of whole seconds of one
    symbol; they pass on, with the feature rows after them. The symbol is read from the
    first data_quality row (a stateful step is not told its key)."""

    def __init__(self, state: FeatureState | None, symbols: SymbolsConfig) -> None:
        self.state = state
        self.symbols = symbols

    def on_batch(self, values: list[list]) -> tuple[list, bool]:
        out = []
        for items in values:
            st = self.state
            if st is None:
                symbol = next((r.symbols["symbol"] for r in items if getattr(r, "table", None) == DATA_QUALITY.name),
                              None)
                if symbol is None:
                    out.append(items)
                    continue
                st = self.state = new_feature_state(self.symbols, symbol)
            made = st.add(items)
            made.extend(st.finish())
            out.append(items + made if made else items)
        return out, StatefulBatchLogic.RETAIN

    def snapshot(self) -> tuple[int, FeatureState] | None:
        return snapshot(self.state)


@operator
def features(step_id: str, up: Stream, symbols: SymbolsConfig) -> Stream:
    """Keyed lists of the rows of whole seconds -> the same, with each second's feature rows."""
    return op.stateful_batch("features", up, lambda resume: FeatureLogic(unstamp(resume, step_id), symbols))

