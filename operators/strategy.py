"""Rule signals, models and their outcomes, once a second per symbol: what every strategy
reads. The decisions are the strategies' (`cobflow.strategy`, made in the account's step,
`cobflow.operators.execution`, where each strategy sees its position).

`StrategyState` reads `FeatureSecond` records of whole seconds and makes, per symbol-second
(a `StrategyMade` record, stored as rows by the sinks):
- signals: the imbalance cross and the liquidity anomaly (the arbitrage signal is made
  where the venue books are, in `CobState`, and read here);
- model outputs: the best cnn (and dqn) of the checkpoint folder, on seconds whose quality
  passes `min_quality`, in one batched forward pass per round (`cobflow.models.runtime`),
  only when a strategy of the flow reads models;
- outcomes: each prediction scored once its horizon has passed; each source's rolling hit
  rate goes to the strategies with the second;
and hands the account one `StrategySecond` per symbol and second.

It runs one shard per process of the flow (`strategy` below; one key for all symbols in one
process): a shard holds the symbols whose books its process holds (`cobflow.shards`), so
their seconds never cross between processes, and runs the models over its symbols in one
batch.
The batch keeps a slot for every configured symbol (`cobflow.models.runtime`), so a symbol's
outputs are the same bits in any shard; everything kept is per symbol, so the rows do not
depend on how seconds of different symbols interleave nor on how many shards there are (the
Kafka mode, the file mode, any number of workers and processes). In a live cluster each
shard swaps in a promoted checkpoint at its own look at the folder and stores its own swap
(the same swap in the same second is one row: model_events' dedup keys).
"""

from __future__ import annotations

import importlib
import math
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bytewax.operators as op
import numpy as np
from bytewax.dataflow import Stream, operator
from bytewax.operators import StatefulBatchLogic

from cobflow.config import PluginSpec, StrategySettings, SymbolsConfig
from cobflow.deadletter import DeadLetter
from cobflow.execution.fills import BookTops
from cobflow.metrics.signals import SOURCES, Signal, SignalSource, signal_problem
from cobflow.metrics.vectors import CNN_SIZE
from cobflow.models.dataset import LabelSpec, heatmap_rows
from cobflow.models.output import ACTIONS, RUNTIME, Runner, SlotOutput
from cobflow.operators.state import snapshot, unstamp
from cobflow.plugins import load_class, validate_params
from cobflow.records import FeatureSecond, ModelEvent, Outcome, Seconds, StrategyBatch, StrategyMade
from cobflow.shards import shards
from cobflow.strategy import ModelOutput, StrategySecond, plugin_dead_letter

NS = 1_000_000_000
KEY = "strategy"
ROLLING = 100  # outcomes in a source's hit rate
PRIOR_OUTCOMES = 20  # below this many, a source weighs 0.5
HEAT_S = 300  # the heatmap's seconds (FEATURES.md)


@dataclass(frozen=True)
class StrategyOptions:
    """The strategy step's settings."""

    spec: LabelSpec
    models_dir: Path | None  # None: no models, signals and decisions only
    heard: StrategySettings = StrategySettings()  # the strategies of the flow (their names)
    kinds: tuple[str, ...] = ()  # the user's model kinds that run beside cnn and dqn (module:Class)
    signals: tuple[PluginSpec, ...] = ()  # the user's signal sources after the built-ins
    watch: bool = False  # swap in checkpoints the learner promotes (a live flow; a backtest's models are fixed)


@dataclass
class Pending:
    second: int
    source: str
    direction: int
    confidence: float
    mid: float


@dataclass
class SymbolStrategy:
    symbol: str
    spec: LabelSpec
    min_quality: float
    sources: list[SignalSource]  # the rule signals asked each second, in order
    first: int | None = None
    # rings, one slot per second: the last T cnn vectors, the last 300 s of bucket quantities
    vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, CNN_SIZE), np.float32))
    vector_at: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    books: np.ndarray = field(default_factory=lambda: np.zeros((HEAT_S, 2, 41)))
    book_at: np.ndarray = field(default_factory=lambda: np.full(HEAT_S, -1, np.int64))
    pending: deque = field(default_factory=deque)
    hits: dict[str, deque] = field(default_factory=dict)
    hit_count: dict[str, int] = field(default_factory=dict)  # source -> hits in its window
    position: float = 0.0  # the dqn's own position, from its actions

    def __post_init__(self) -> None:
        t = self.spec.window_s
        self.vectors = np.zeros((t, CNN_SIZE), np.float32)
        self.vector_at = np.full(t, -1, np.int64)

    def remember(self, s: int, cnn: np.ndarray, bid: np.ndarray, ask: np.ndarray) -> None:
        self.first = s if self.first is None else self.first
        i = s % len(self.vector_at)
        self.vectors[i], self.vector_at[i] = cnn, s
        j = s % HEAT_S
        self.books[j, 0], self.books[j, 1], self.book_at[j] = bid, ask, s

    def model_inputs(self, s: int, rl: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float] | None:
        """As `cobflow.models.dataset` builds a sample at s: T seconds of vectors, the pooled heatmap
        (a second without a row is zeros, as on the training grid)."""
        t = self.spec.window_s
        if self.first is None or s - self.first < t - 1:
            return None
        seconds = np.arange(s - t + 1, s + 1)
        slots = seconds % t
        win = np.where((self.vector_at[slots] == seconds)[:, None], self.vectors[slots], 0).astype(np.float32)
        seconds = np.arange(s - HEAT_S + 1, s + 1)
        slots = seconds % HEAT_S
        held = (self.book_at[slots] == seconds)[:, None]
        bid = np.where(held, self.books[slots, 0], 0.0)
        ask = np.where(held, self.books[slots, 1], 0.0)
        heat = heatmap_rows(bid, ask, HEAT_S - 1, self.spec.heatmap_pool_s).astype(np.float32)
        return win, heat, rl.astype(np.float32), self.position

    def hit_rate(self, source: str) -> float:
        h = self.hits.get(source)
        return 0.5 if h is None or len(h) < PRIOR_OUTCOMES else self.hit_count[source] / len(h)

    def hit_rates(self) -> dict[str, float]:
        """Every source's hit rate now (a copy: the strategies read it later)."""
        return {src: self.hit_rate(src) for src in self.hits}

    def outcomes(self, s: int, mid: float) -> list[Outcome]:
        out: list[Outcome] = []
        h = self.spec.horizon_s
        while self.pending and self.pending[0].second + h <= s:
            p = self.pending.popleft()
            ret = math.log(mid / p.mid) * 1e4
            hit = abs(ret) <= self.spec.dead_zone_bps if p.direction == 0 else p.direction * ret > 0
            hits = self.hits.setdefault(p.source, deque(maxlen=ROLLING))
            # the count of hits in the window, kept as it slides: count / n is np.mean's value
            # exactly (a sum of zeros and ones is exact), at a fraction of its cost
            count = self.hit_count.get(p.source, 0) - (int(hits[0]) if len(hits) == ROLLING else 0) + int(hit)
            self.hit_count[p.source] = count
            hits.append(1.0 if hit else 0.0)
            out.append(Outcome(p.second, p.source, p.direction, p.confidence, h, ret, hit, count / len(hits)))
        return out


@dataclass
class Second:
    """What the strategy reads of one symbol's second."""

    symbol: str
    s: int
    quality: float = 0.0
    summary: Mapping[str, Any] | None = None
    buckets: Mapping[str, Any] | None = None
    features: dict | None = None
    signals: list[Signal] = field(default_factory=list)
    tops: BookTops | None = None
    made: list[Signal] = field(default_factory=list)  # the signals of this step's sources
    outcomes: list[Outcome] = field(default_factory=list)


def second_of(f: FeatureSecond) -> Second:
    """The strategy's view of a FeatureSecond (`features`: the features columns users read)."""
    c, v = f.cob, f.vectors
    features = None if v is None else {"quality": v.quality.quality, "completeness": v.quality.completeness,
                                       "freshness": v.quality.freshness, "cnn": v.cnn, "rl": v.rl}
    return Second(c.symbol, c.s, c.quality.quality, c.summary, c.buckets, features, list(c.signals), c.tops)


def signal_sources(symbol: str, strategy: Any, extra: tuple[tuple[type[SignalSource], dict], ...]) -> list[SignalSource]:
    """The symbol's signal sources: the built-ins with its `strategy:` settings, then the user's."""
    out: list[SignalSource] = []
    for cls in SOURCES:
        out.append(cls(symbol, cls.Params.model_validate(cls.defaults(strategy))))
    for cls, params in extra:
        out.append(cls(symbol, validate_params(cls, {**cls.defaults(strategy), **params},
                                               f"signal source {cls.__name__}")))
    return out


class StrategyState:
    def __init__(self, symbols: SymbolsConfig, spec: LabelSpec, models: Runner | None,
                 sources: tuple[tuple[type[SignalSource], dict], ...] = ()) -> None:
        """`sources`: the user's signal sources after the built-ins, (class, params) each."""
        self.spec = spec
        self.models = models
        self.running: dict[str, str] = models.names() if models is not None else {}  # kind -> checkpoint
        self.symbols = {
            name: SymbolStrategy(name, spec, s.features.min_quality, signal_sources(name, s.strategy, sources))
            for name, s in symbols.symbols.items()}

    def add(self, records: list[FeatureSecond]) -> tuple[list[StrategySecond], list[StrategyMade], list[DeadLetter]]:
        """Seconds of any symbols (each symbol's in time order) -> what a strategy reads of
        each, what this step made of each (to store), and the dead letters of plug-ins."""
        seconds = [second_of(f) for f in records]
        views: list[StrategySecond] = []
        made: list[StrategyMade] = []
        dead: list[DeadLetter] = []
        # rounds: the k-th second of each symbol in this batch go through the models together
        queues: dict[str, list[Second]] = {}
        for sec in seconds:
            queues.setdefault(sec.symbol, []).append(sec)
        while queues:
            round_ = {sym: q.pop(0) for sym, q in queues.items()}
            queues = {sym: q for sym, q in queues.items() if q}
            events = self._swap(min(sec.s for sec in round_.values())) if self.models is not None else ()
            inputs = {}
            for sym, sec in round_.items():
                dead.extend(self._before(self.symbols[sym], sec))
                x = self._model_input(self.symbols[sym], sec)
                if x is not None:
                    inputs[sym] = x
            results = self.models.run(inputs, {sym: round_[sym].s for sym in inputs}) \
                if self.models is not None and inputs else {}
            if self.models is not None and inputs:
                for kind, e in self.models.take_errors():  # a dead letter per symbol-second it cost
                    dead.extend(plugin_dead_letter("models", f"{kind}.predict", sym, round_[sym].s, e, "model")
                                for sym in sorted(inputs))
            for sym in sorted(round_):
                sec = round_[sym]
                calls, view = self._after(self.symbols[sym], sec, results.get(sym))
                views.append(view)
                m = StrategyMade(sym, sec.s, tuple(sec.made), calls, tuple(sec.outcomes), events)
                events = ()  # stored once, with the round's first symbol
                if m:
                    made.append(m)
        return views, made, dead

    def _swap(self, s: int) -> tuple[ModelEvent, ...]:
        """Checkpoints promoted since the last round, swapped in before this one (at a second
        boundary; the choice is recovery state)."""
        assert self.models is not None
        events = tuple(self.models.refresh(s))
        if events:
            self.running = self.models.names()
        return events

    def _before(self, st: SymbolStrategy, sec: Second) -> list[DeadLetter]:
        """The second's signals and outcomes (on `sec`); dead letters of a user's source that raised."""
        dead: list[DeadLetter] = []
        summ = sec.summary
        if summ is None:
            return dead
        for source in st.sources:
            try:
                sig = source.on_second(sec.s, summ, sec.features)
                problem = None if sig is None else signal_problem(sig)
                if problem:
                    raise ValueError(problem)
            except Exception as e:  # a user's source costs its own signal of the second, never the flow
                if type(source) in SOURCES:
                    raise
                dead.append(plugin_dead_letter("signals", f"{type(source).__name__}.on_second", st.symbol, sec.s, e,
                                               "signal"))
                sig = None
            if sig is not None:
                sec.signals.append(sig)
                sec.made.append(sig)
        mid = summ.get("mid")
        if mid is not None and mid > 0:
            sec.outcomes.extend(st.outcomes(sec.s, mid))
        if sec.features is not None and sec.buckets is not None:
            st.remember(sec.s, np.asarray(sec.features["cnn"], np.float32),
                        np.asarray(sec.buckets["bid_qty"], np.float64), np.asarray(sec.buckets["ask_qty"], np.float64))
        return dead

    def _model_input(self, st: SymbolStrategy, sec: Second) -> tuple | None:
        if self.models is None or sec.features is None or sec.buckets is None or sec.quality < st.min_quality:
            return None
        return st.model_inputs(sec.s, np.asarray(sec.features["rl"], np.float64))

    def _after(self, st: SymbolStrategy, sec: Second, result: SlotOutput | None) -> tuple[tuple[ModelOutput, ...],
                                                                                        StrategySecond]:
        """The model outputs of the second and what a strategy reads of it (without features:
        its mid and books alone, for the account's fills and marks)."""
        mid = (sec.summary or {}).get("mid")
        if sec.features is None:
            return (), StrategySecond(sec.symbol, sec.s, sec.quality, mid, sec.summary, None, tops=sec.tops)
        calls: list[ModelOutput] = []
        predictions: list[tuple[str, int, float]] = []
        if result is not None and self.models is not None and result.direction_probs is not None:
            p = result.direction_probs
            k = int(np.argmax(p))
            calls.append(ModelOutput("cnn", result.cnn_name, float(p[k]), p, direction=k - 1,
                                     pivots=np.asarray(result.pivots)))
            predictions.append(("cnn", k - 1, float(p[k])))
            if result.q is not None:
                q = result.q.astype(np.float64)
                soft = np.exp(q - q.max())
                soft /= soft.sum()
                a = int(np.argmax(q))
                calls.append(ModelOutput("dqn", result.dqn_name, float(soft[a]), soft, action=ACTIONS[a]))
                sign = {0: 1, 1: -1, 2: 0}[a]
                if sign:  # a dqn HOLD makes no call on the direction
                    predictions.append(("dqn", sign, float(soft[a])))
                st.position = {0: 1.0, 1: -1.0}.get(a, st.position)
        for m in result.extra if result is not None and self.models is not None else ():
            k = m.direction + 1 if m.direction is not None else int(np.argmax(m.probabilities))
            calls.append(m)
            predictions.append((m.kind, k - 1, m.confidence))
        for sig in sec.signals:
            if sig.direction:
                predictions.append((sig.kind, sig.direction, sig.strength))
        if mid is not None and mid > 0:
            st.pending.extend(Pending(sec.s, src, d, c, mid) for src, d, c in predictions)
        return tuple(calls), StrategySecond(sec.symbol, sec.s, sec.quality, mid, sec.summary, sec.features,
                                            tuple(sec.signals), tuple(calls), st.hit_rates(), sec.tops)


def signal_classes(specs: tuple[PluginSpec, ...]) -> tuple[tuple[type[SignalSource], dict], ...]:
    """The user's signal sources (COBFLOW_STRATEGY__SIGNALS), loaded (PluginError in one line)."""
    return tuple((load_class(p.use, SignalSource, "signal source"), dict(p.params)) for p in specs)


class StrategyLogic(StatefulBatchLogic):
    def __init__(self, state: StrategyState | None, symbols: SymbolsConfig, options: StrategyOptions,
                 models: bool = True) -> None:
        runner = load_runner(options, list(symbols.symbols), state.running if state is not None else None) \
            if models else None
        if state is None:
            spec: LabelSpec = runner.spec if runner is not None else options.spec
            state = StrategyState(symbols, spec, runner,
                                  signal_classes(options.signals))
        else:
            state.models = runner  # modules are not kept in the store
            if runner is not None:
                state.running = runner.names()
        self.state = state

    def on_batch(self, values: list[tuple[str, list[FeatureSecond]]]) -> tuple[list, bool]:
        views, made, dead = self.state.add([r for _, batch in values for r in batch])
        if not views and not made and not dead:
            return [], StatefulBatchLogic.RETAIN
        return [StrategyBatch(views, Seconds(made, dead))], StatefulBatchLogic.RETAIN

    def snapshot(self) -> tuple[int, Any] | None:
        models, self.state.models = self.state.models, None  # modules are not kept in the store
        try:
            return snapshot(self.state)
        finally:
            self.state.models = models


def load_runner(options: StrategyOptions, symbols: list[str], pinned: dict[str, str] | None = None) -> Runner | None:
    """The models of the options' checkpoints folder (None: none trained); `pinned`: the
    checkpoints a resumed flow ran. Their runtime, and torch with it, is loaded by name here:
    a flow whose strategies read no model never imports torch (start-up and memory)."""
    runtime = importlib.import_module(RUNTIME)
    runner: Runner | None = runtime.load_runner(options.models_dir, symbols, options.kinds, options.spec,
                                                pinned, options.watch)
    return runner


def to_shards(symbols: SymbolsConfig, workers: int, processes: int
              ) -> Callable[[list[tuple[str, Seconds]]], list[tuple[str, tuple[str, list[FeatureSecond]]]]]:
    """Keyed seconds -> (shard key, (shard key, its seconds)), one item per shard per batch."""
    route = shards(symbols.symbols, KEY, workers, processes)

    def by_shard(batch: list[tuple[str, Seconds]]) -> list[tuple[str, tuple[str, list[FeatureSecond]]]]:
        out: dict[str, list[FeatureSecond]] = {}
        for symbol, x in batch:
            if x.records:
                out.setdefault(route.get(symbol, KEY), []).extend(x.records)
        return [(key, (key, records)) for key, records in out.items()]

    return by_shard


def _values(batch: list[tuple[str, StrategyBatch]]) -> list[StrategyBatch]:
    return [x for _, x in batch]


@operator
def strategy(step_id: str, up: Stream[tuple[str, Seconds]], symbols: SymbolsConfig, options: StrategyOptions,
             models: bool = True, workers: int = 1, processes: int = 1) -> Stream[StrategyBatch]:
    """Keyed Seconds of FeatureSecond records -> a StrategyBatch per batch and shard (a shard
    per process of a cluster of `workers` in `processes`: see above). `models=False`: no
    strategy reads models; none is loaded or run."""
    keyed = op.flat_map_batch("to_strategy", up, to_shards(symbols, workers, processes))
    out = op.stateful_batch("strategy", keyed, lambda resume: StrategyLogic(unstamp(resume, step_id), symbols,
                                                                            options, models))
    return op.flat_map_batch("unkey", out, _values)
