"""Features of one symbol from its seconds (FEATURES.md): indicators of the closed ALL
bars, pivots, and the cnn / rl vectors with their quality.

`FeatureState` reads `CobSecond` records, never messages: the flow hands it the records the
consolidated book just made, and `cobflow features` hands it the same records read back from
Parquet or QuestDB (`cobflow.app.recompute.stored_seconds`), so both give the same
values. Bars are used once closed, when `start + timeframe <= S + 1`.

`features` wraps it in a Bytewax stateful step keyed by symbol, like `cob_books`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import bytewax.operators as op
import numpy as np
from bytewax.dataflow import Stream, operator
from bytewax.operators import StatefulBatchLogic

from cobflow.config import FeatureSpec, SymbolsConfig
from cobflow.metrics.indicators import IndicatorSeries, InvalidBar
from cobflow.metrics.pivots import PivotTracker
from cobflow.metrics.trades import TIMEFRAMES, Bar
from cobflow.metrics.vectors import BUCKET_ROWS, FeatureVectors, SecondInput
from cobflow.operators.state import snapshot, unstamp
from cobflow.records import CobSecond, FeatureSecond, IndicatorBar, Seconds, TimeframePivot, Vectors

NS = 1_000_000_000
PIVOT_LEVEL_IN_VECTORS = 2


@dataclass(frozen=True)
class Stored:
    """Which of the step's outputs the flow writes (its --tables): one nobody stores is
    computed only as far as the vectors read it."""

    indicators: bool = True
    pivots: bool = True


ALL_STORED = Stored()


class FeatureState:
    """One symbol: an indicator series per timeframe, a pivot tracker per pivot timeframe,
    and the vectors' trailing windows."""

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

    def add(self, sec: CobSecond) -> FeatureSecond:
        """A second of the consolidated book, in time order -> it, with what it makes here."""
        s = sec.s
        indicators: list[IndicatorBar] = []
        pivots: list[TimeframePivot] = []
        bar_1s = None
        for bar in sorted(sec.all_bars(), key=lambda b: (b.start_s, TIMEFRAMES[b.timeframe])):
            if bar.start_s + TIMEFRAMES[bar.timeframe] > s + 1:
                continue  # still open (not in the series)
            self._bar(bar, indicators, pivots)
            if bar.timeframe == "1s" and bar.start_s == s:
                bar_1s = (bar.volume, bar.buy_volume, bar.sell_volume)
        vectors = None
        if sec.summary is not None:
            x = SecondInput(s, sec.summary, _bucket_arrays(sec.buckets), sec.all_flow(), bar_1s, self.latest_1s,
                            self.close_1s, self.pivot_price.get("high"), self.pivot_price.get("low"))
            cnn, rl = self.vectors.second(x)
            vectors = Vectors(sec.quality, cnn, rl)
        return FeatureSecond(sec, tuple(indicators), tuple(pivots), vectors)

    def _bar(self, bar: Bar, indicators: list[IndicatorBar], pivots: list[TimeframePivot]) -> None:
        series = self.indicators.get(bar.timeframe)
        if series is not None:
            try:
                values = series.add(bar)
            except InvalidBar:
                self.invalid_bars += 1  # counted, never fed: the handles stay in step
                return
            indicators.append(IndicatorBar(bar.timeframe, bar.start_s, dict(values)))
            if bar.timeframe == "1s":
                self.latest_1s, self.close_1s = values, bar.close
        tracker = self.pivots.get(bar.timeframe)
        if tracker is not None:
            start = bar.start_s * NS
            made = tracker.add(start, start + TIMEFRAMES[bar.timeframe] * NS, bar.high, bar.low)
            pivots.extend(TimeframePivot(bar.timeframe, p) for p in made)
            if bar.timeframe == "1s":
                for p in made:
                    if p.level == PIVOT_LEVEL_IN_VECTORS:
                        self.pivot_price[p.kind] = p.price


def _bucket_arrays(columns: Mapping[str, Any] | None) -> np.ndarray | None:
    """cob_buckets columns -> (6, 41), rows as BUCKET_ROWS (a null is NaN)."""
    if columns is None:
        return None
    return np.array([np.asarray(columns[k], dtype=np.float64) for k in BUCKET_ROWS])


def new_feature_state(symbols: SymbolsConfig, symbol: str, stored: Stored = ALL_STORED) -> FeatureState:
    """The symbol's features. Where the flow does not store the indicators (or the pivots),
    only the 1s series the vectors read are kept (FEATURES.md: the vectors read the latest
    closed 1s bar's indicators and the 1s pivots), so what is stored has the same values."""
    spec = symbols.symbols[symbol]
    fs = spec.features
    if not stored.indicators:
        fs = fs.model_copy(update={"indicator_timeframes": tuple(t for t in fs.indicator_timeframes if t == "1s")})
    if not stored.pivots:
        fs = fs.model_copy(update={"pivot_timeframes": tuple(t for t in fs.pivot_timeframes if t == "1s")})
    return FeatureState(symbol, fs, len(spec.venues))


class FeatureLogic(StatefulBatchLogic):
    """The step's values are Seconds of one symbol's CobSecond records (and dead letters);
    they leave as Seconds of FeatureSecond records (the bars still open at the end of a
    finite input pass as they are). The symbol is read from the first second (a stateful
    step is not told its key)."""

    def __init__(self, state: FeatureState | None, symbols: SymbolsConfig, stored: Stored = ALL_STORED) -> None:
        self.state = state
        self.symbols = symbols
        self.stored = stored

    def on_batch(self, values: list[Seconds]) -> tuple[list, bool]:
        out = []
        for batch in values:
            made: list[FeatureSecond] = []
            for sec in batch.records:
                st = self.state
                if st is None:
                    st = self.state = new_feature_state(self.symbols, sec.symbol, self.stored)
                made.append(st.add(sec))
            out.append(Seconds(made, batch.dead, batch.open_bars))
        return out, StatefulBatchLogic.RETAIN

    def snapshot(self) -> tuple[int, FeatureState] | None:
        return snapshot(self.state)


@operator
def features(step_id: str, up: Stream[tuple[str, Seconds[CobSecond]]], symbols: SymbolsConfig,
             stored: Stored = ALL_STORED) -> Stream[tuple[str, Seconds[FeatureSecond]]]:
    """Keyed Seconds of CobSecond records -> the same with FeatureSecond records. `stored`:
    which of its outputs the flow writes (see `new_feature_state`)."""
    return op.stateful_batch("features", up, lambda resume: FeatureLogic(unstamp(resume, step_id), symbols, stored))
