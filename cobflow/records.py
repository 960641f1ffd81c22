"""The typed records the stages of a flow hand each other, one symbol-second at a time:

    raw messages -> CobSecond -> FeatureSecond -> StrategySecond (+ StrategyMade) -> the account
    the account -> DecisionRecord, OrderRecord, FillRecord, PositionRecord, EquityRecord,
                   RiskEventRecord (each tagged with its run)

`CobSecond` is what the consolidated book made of a second (METRICS.md), `FeatureSecond` adds
what the features step made of it (FEATURES.md), `StrategyMade` what the signals-and-models
step made (signals, model outputs, scored predictions), and `cobflow.strategy.StrategySecond`
is what a strategy reads. A stage reads the fields of the record before it, never a table:
storage rows are made from these records in one place, the sinks'
(`cobflow.dataflows.sinks.rows`), and a stage's output is a `Seconds` of its records and the
dead letters it made.

Frozen dataclasses: a record is never changed once handed on (the arrays and mappings in it
are not copied; no stage writes to them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np

from cobflow.deadletter import DeadLetter
from cobflow.execution.fills import BookTops
from cobflow.execution.risk import RiskEvent
from cobflow.metrics.pivots import Pivot
from cobflow.metrics.signals import Signal
from cobflow.metrics.trades import ALL, Bar, FlowSecond
from cobflow.strategy import ModelOutput, StrategySecond

R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class Seconds(Generic[R]):
    """What a keyed stage hands on for a batch: records of whole seconds, and the dead letters
    they made (input that could not be read, a plug-in that raised)."""

    records: Sequence[R] = ()
    dead: Sequence[DeadLetter] = ()
    open_bars: Sequence[OpenBars] = ()  # at the end of a finite input: the bars still open (stored only)

    def __bool__(self) -> bool:
        return bool(self.records) or bool(self.dead) or bool(self.open_bars)


@dataclass(frozen=True, slots=True)
class VenueTop:
    best_bid: float | None
    best_bid_qty: float | None
    best_ask: float | None
    best_ask_qty: float | None
    mid: float | None


@dataclass(frozen=True, slots=True)
class VenueSecond:
    """One venue market's book at the end of a second (the top-of-book flow): its health
    counters with `synced`, and its top of book (None: not synced)."""

    venue: str
    market: str
    s: int
    health: Mapping[str, Any]
    top: VenueTop | None


@dataclass(frozen=True, slots=True)
class Quality:
    """FEATURES.md "Data quality" of a second (the data_quality row)."""

    completeness: float
    freshness: float
    quality: float
    synced: int
    fresh: int
    configured: int


@dataclass(frozen=True, slots=True)
class VenueHealth:
    """book_health of the venues heard from at the end of a second, one entry per venue."""

    venues: tuple[str, ...]
    markets: tuple[str, ...]
    synced: tuple[bool, ...]
    counts: Mapping[str, list]  # each health counter, one value per venue


@dataclass(frozen=True, slots=True)
class CobSecond:
    """One symbol's second as the consolidated book closed it (METRICS.md).

    `summary` holds cob_summary's values by column name (None: no venue synced, no book);
    `buckets` the 41 buckets' arrays (offset, price, bid_qty, ...) and `imbalance_ma` the
    moving averages' arrays, None where the book had no mid. `bars` are the bars (every venue
    and ALL, every timeframe) that closed at this second's end, `flows` its order flow per
    venue, `signals` the arbitrage signal if any, `tops` the venue books' levels execution
    walks (None when no account listens)."""

    symbol: str
    s: int  # epoch second
    quality: Quality
    bars: tuple[Bar, ...] = ()
    flows: tuple[FlowSecond, ...] = ()
    health: VenueHealth | None = None
    summary: Mapping[str, Any] | None = None
    buckets: Mapping[str, np.ndarray] | None = None
    imbalance_ma: Mapping[str, np.ndarray] | None = None
    signals: tuple[Signal, ...] = ()
    tops: BookTops | None = None

    def all_bars(self) -> list[Bar]:
        """The consolidated (ALL) bars that closed with this second."""
        return [b for b in self.bars if b.venue == ALL]

    def all_flow(self) -> float | None:
        """The ALL aggressive-buy ratio of this second (None: no trades)."""
        for f in self.flows:
            if f.venue == ALL:
                return f.aggressive_buy_ratio
        return None


@dataclass(frozen=True, slots=True)
class OpenBars:
    """The bars still open at the end of a finite input (stored, never fed to indicators:
    a resume completes them)."""

    symbol: str
    bars: tuple[Bar, ...]


@dataclass(frozen=True, slots=True)
class IndicatorBar:
    """The indicators of one closed bar of a timeframe (FEATURES.md)."""

    timeframe: str
    start_s: int
    values: Mapping[str, float | None]


@dataclass(frozen=True, slots=True)
class TimeframePivot:
    timeframe: str
    pivot: Pivot


@dataclass(frozen=True, slots=True)
class Vectors:
    """The cnn and rl feature vectors of a second, with its quality (the features row)."""

    quality: Quality
    cnn: np.ndarray
    rl: np.ndarray


@dataclass(frozen=True, slots=True)
class FeatureSecond:
    """A CobSecond with what the features step made of it: the indicators of the bars that
    closed with it, the pivots they confirmed, and the vectors (None: no book this second)."""

    cob: CobSecond
    indicators: tuple[IndicatorBar, ...] = ()
    pivots: tuple[TimeframePivot, ...] = ()
    vectors: Vectors | None = None

    @property
    def symbol(self) -> str:
        return self.cob.symbol

    @property
    def s(self) -> int:
        return self.cob.s


@dataclass(frozen=True, slots=True)
class Outcome:
    """A prediction scored once its horizon passed (prediction_outcomes)."""

    second: int  # the prediction's second
    source: str
    direction: int
    confidence: float
    horizon_s: int
    realized_return_bps: float
    hit: bool
    rolling_accuracy: float


@dataclass(frozen=True, slots=True)
class ModelEvent:
    """What happened to a model kind's running checkpoint (model_events): the learner's
    promotion or refusal of a challenger (with both scores and the test's p-value), a drift
    trigger, the flow's swap to a promoted checkpoint or its refusal of one it cannot run."""

    s: int  # the second it happened at (the flow's second; the learner's data clock)
    kind: str
    event: str  # promoted | refused | drift | retrain | swapped | swap_refused
    checkpoint: str  # the challenger, or the checkpoint swapped to
    running: str  # the checkpoint that ran before
    reason: str
    source: str = "flow"  # flow | learner
    challenger_score: float | None = None
    champion_score: float | None = None
    labels: int | None = None  # the independent labels the scores rest on
    p_value: float | None = None


@dataclass(frozen=True, slots=True)
class StrategyMade:
    """What the signals-and-models step made of one symbol's second, to be stored: the
    signals of its sources (the arbitrage signal is the CobSecond's), the model outputs, and
    the predictions of earlier seconds scored at this one."""

    symbol: str
    s: int
    signals: tuple[Signal, ...] = ()
    models: tuple[ModelOutput, ...] = ()
    outcomes: tuple[Outcome, ...] = ()
    events: tuple[ModelEvent, ...] = ()  # the models swapped (or refused) at this second

    def __bool__(self) -> bool:
        return bool(self.signals) or bool(self.models) or bool(self.outcomes) or bool(self.events)


@dataclass(frozen=True, slots=True)
class StrategyBatch:
    """What the signals-and-models step hands on for a batch: a StrategySecond per symbol-
    second for the accounts, and what it made to be stored (with its plug-ins' dead letters)."""

    seconds: Sequence[StrategySecond]
    made: Seconds[StrategyMade]


# -- what an account makes (EXECUTION.md), each of its run --------------------------------


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """A strategy's call on a symbol's second, with the reason it was (not) acted on."""

    run: str
    symbol: str
    s: int
    source: str
    action: str
    confidence: float
    score: float
    reason: str | None
    models: str | None = None  # the checkpoints it heard, kind:name comma-separated (None: no model ran)


@dataclass(frozen=True, slots=True)
class FillRecord:
    """One fill: a slice of a market order's walk, or a resting order's fill of a second."""

    run: str
    symbol: str
    venue: str
    s: int  # the second it filled at
    side: str
    qty: float
    price: float
    fee: float
    rate: float | None  # the quote conversion's rate (None: as quoted)
    order_id: str
    decision_s: int
    slice: int
    liquidity: str = "taker"
    wait_s: float | None = None


@dataclass(frozen=True, slots=True)
class OrderRecord:
    """An order's state at a second: a market order's at its fill, a working order's each
    second its state or filled quantity changed."""

    run: str
    symbol: str
    s: int
    order_id: str
    decision_s: int
    reason: str
    route: str
    side: str
    qty: float
    filled: float
    notional: float  # of the filled quantity (avg_price = notional / filled)
    fees: float
    status: str
    type: str = "market"
    price: float | None = None
    stop_price: float | None = None
    venue: str | None = None
    client_id: str | None = None


@dataclass(frozen=True, slots=True)
class PositionRecord:
    run: str
    symbol: str
    s: int
    position: float
    avg_price: float | None
    mid: float | None
    unrealized: float
    realized: float
    fees: float


@dataclass(frozen=True, slots=True)
class EquityRecord:
    run: str
    s: int
    equity: float
    cash: float
    exposure: float
    peak: float
    drawdown: float
    halted: bool


@dataclass(frozen=True, slots=True)
class RiskEventRecord:
    run: str
    symbol: str  # or "account" for the account's own rules
    s: int
    event: RiskEvent
