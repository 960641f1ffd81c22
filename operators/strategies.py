"""The built-in strategies, on the same API as a user's (`cobflow.strategy`), the choice of
each run's strategies from the settings, and the user's risk rules.

- `combined`: every source (the models and the rule signals), weighted by its recent hit
  rate; a model's vote is its score averaged over the symbol's `smoothing_s`, a dqn HOLD
  abstains; BUY or SELL when |score| reaches the symbol's `decision_threshold`.
- `models`: the same over the cnn and the dqn only; `cnn`: the cnn only; `rules`: the rule
  signals only (it runs no model).
- `maker`: combined's calls worked with post-only limit orders at the touch (maker fees),
  crossing with a market order only after `max_wait_s`.

A run is one account with one strategy instance per symbol. Several runs side by side
(`--strategy combined,mypkg.x:Mine`) each get their own account and `run` tag.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import Field

from cobflow.config import MODEL_SOURCES, PluginError, PluginSpec, SymbolsConfig
from cobflow.execution.risk import RiskLimits, RiskRule
from cobflow.plugins import load_class, validate_params
from cobflow.strategy import Cancel, Context, Intent, Limit, Market, Strategy

DQN_SIGN = {"BUY": 1, "SELL": -1, "HOLD": 0}


class Combined(Strategy):
    """Every source the symbol's second has, weighted by its hit rate (docs/strategies.md)."""

    class Params(Strategy.Params):
        threshold: float = Field(0.2, gt=0, le=1, description="|combined score| needed to BUY or SELL")
        smoothing_s: int = Field(30, ge=1, le=3600, description="seconds a model's vote is averaged over")

    #: None: every source; else the sources heard
    hears: ClassVar[tuple[str, ...] | None] = None
    #: True: every source but these
    hears_all_but_models: ClassVar[bool] = False

    def __init__(self, symbol: str, params: Any) -> None:
        super().__init__(symbol, params)
        self.averages: dict[str, float] = {}  # source -> its vote's exponential average

    @classmethod
    def defaults(cls, symbol_strategy: Any) -> dict[str, Any]:
        return {"threshold": symbol_strategy.decision_threshold, "smoothing_s": symbol_strategy.smoothing_s}

    @classmethod
    def listens_to(cls, source: str) -> bool:
        if cls.hears_all_but_models:
            return source not in MODEL_SOURCES
        return cls.hears is None or source in cls.hears

    def smoothed(self, source: str, score: float) -> float:
        """The exponential average over `smoothing_s` seconds (alpha 2 / (n + 1)) of a
        model's per-second score; the first second's score starts it."""
        before = self.averages.get(source)
        now = score if before is None else before + 2.0 / (self.params.smoothing_s + 1) * (score - before)
        self.averages[source] = now
        return now

    def votes(self, ctx: Context) -> list[tuple[str, float]]:
        """(source, signed score in [-1, 1]): the models first, then the rule signals."""
        votes: list[tuple[str, float]] = []
        for m in ctx.models:
            if m.kind == "cnn":
                p = m.probabilities
                votes.append(("cnn", self.smoothed("cnn", float(p[2] - p[0]))))
            elif m.kind == "dqn":
                sign = DQN_SIGN[m.action or "HOLD"]
                dqn = self.smoothed("dqn", sign * m.confidence)
                if sign:  # HOLD keeps the position: no call on the direction (its average still decays)
                    votes.append(("dqn", dqn))
        for sig in ctx.signals:
            if sig.direction:
                votes.append((sig.kind, sig.direction * sig.strength))
        return [v for v in votes if self.listens_to(v[0])]

    def on_second(self, ctx: Context) -> Intent | None:
        votes = self.votes(ctx)
        if ctx.quality < ctx.min_quality:
            return Intent("HOLD", 0.0, 0.0, f"data_quality {ctx.quality:.2f} < {ctx.min_quality:g}", "combiner")
        if not votes:
            return Intent("HOLD", 0.0, 0.0, "no_signal", "combiner")
        weights = [ctx.hit_rate(src) for src, _ in votes]
        total = sum(weights)
        score = sum(w * v for w, (_, v) in zip(weights, votes)) / total if total > 0 else 0.0
        source = votes[0][0] if len(votes) == 1 else "combiner"
        threshold = self.params.threshold
        if abs(score) < threshold:
            return Intent("HOLD", abs(score), score, f"below_threshold {abs(score):.3f} < {threshold:g}", source)
        return Intent("BUY" if score > 0 else "SELL", min(1.0, abs(score)), score, None, source)


class Models(Combined):
    """The cnn and the dqn only."""

    hears = MODEL_SOURCES


class Cnn(Combined):
    """The cnn only."""

    hears = ("cnn",)
    models = ("cnn",)


class Rules(Combined):
    """The rule signals only (imbalance crosses, arbitrage): it runs no model."""

    hears_all_but_models = True
    models = ()


class Maker(Combined):
    """combined's calls, worked passively: the position it aims at is approached with one
    post-only limit order at its side's best price (the highest bid for a buy), re-quoted
    when the touch moves away by more than `requote_ticks` of its venue's tick (where
    `trading.tick_size` names it), else by more than `requote_bps`; after `max_wait_s` seconds of
    working a target the rest crosses with a market order. A cancel acts at the end of the
    next second, before that second's call: a new order is sent only once the old one has
    left `ctx.orders`, never two at once."""

    class Params(Combined.Params):
        requote_ticks: int = Field(2, ge=1, le=10_000, description="re-quote when the touch moves away by more "
                                   "ticks of the order's venue (trading.tick_size)")
        requote_bps: float = Field(2.0, gt=0, le=1000, description="the same in bps, where the venue's tick is "
                                   "not configured")
        max_wait_s: int = Field(30, ge=1, le=86_400, description="seconds a target is worked passively before the "
                                "rest crosses with a market order")
        min_fraction: float = Field(0.02, ge=0, lt=1, description="a difference from the target smaller than this "
                                    "fraction of it is not worked (the target moves with equity every second)")

    def __init__(self, symbol: str, params: Any) -> None:
        super().__init__(symbol, params)
        self.goal: float | None = None  # the position worked toward
        self.since: int | None = None  # the second the work toward it began
        self.working: str | None = None  # the client id of its working order
        self.side: str | None = None  # the side worked since `since`
        self.count = 0

    def on_second(self, ctx: Context) -> Intent | None:
        call = super().on_second(ctx)
        assert call is not None
        if call.action in ("BUY", "SELL"):
            goal = ctx.target(call.action)
            self.goal = goal
        mine = {o.client_id: o for o in ctx.orders}
        order = mine.get(self.working) if self.working is not None else None
        if order is None:
            self.working = None
        mid = ctx.mid
        if self.goal is None or mid is None:
            return call.with_orders()  # nothing to work: never a market order to the target
        need = self.goal - ctx.position
        if abs(need) * mid <= max(ctx.min_order_notional, 1e-9 * mid) or \
                abs(need) <= self.params.min_fraction * abs(self.goal):  # at the target
            self.since = None
            return call.with_orders(*([Cancel(order.client_id)] if order is not None and order.client_id else []))
        side = "buy" if need > 0 else "sell"
        if self.since is None or side != self.side:  # the work toward this side begins now
            self.since, self.side = ctx.s, side
        waited = ctx.s - self.since >= self.params.max_wait_s
        if order is not None:
            touch = ctx.best(side)
            tick = ctx.ticks.get(order.venue or "")
            moved = None if touch is None or order.price is None else \
                (touch - order.price if side == "buy" else order.price - touch)
            away = moved is not None and order.price is not None and (
                moved > self.params.requote_ticks * tick * (1 + 1e-9) if tick is not None
                else moved / order.price * 1e4 > self.params.requote_bps)
            if order.side != side or waited or away:
                return call.with_orders(Cancel(order.client_id or ""))
            return call.with_orders()
        if waited:
            return call.with_orders(Market(side, abs(need)))
        price = ctx.best(side)
        if price is None:
            return call.with_orders()
        self.count += 1
        self.working = f"mk{self.count}"
        return call.with_orders(Limit(side, abs(need), price, post_only=True, client_id=self.working))


BUILTINS: dict[str, type[Strategy]] = {"combined": Combined, "models": Models, "cnn": Cnn, "rules": Rules,
                                       "maker": Maker}


def strategy_class(name: str) -> type[Strategy]:
    """A built-in's name or `module:Class` -> the class (PluginError in one line)."""
    if name in BUILTINS:
        return BUILTINS[name]
    if ":" not in name:
        raise PluginError(f"strategy {name!r}: not a built-in ({', '.join(BUILTINS)}) and not module:Class")
    return load_class(name, Strategy, "strategy")


@dataclass(frozen=True)
class Run:
    """One account: its `run` tag and, per symbol, the strategy class and its parameters."""

    run: str
    label: str  # the strategy's name as given (a built-in's name or module:Class)
    classes: Mapping[str, tuple[type[Strategy], Any]]  # symbol -> (class, validated Params)

    @property
    def tag(self) -> str:
        """The decisions' `source` where a strategy names none: its short name."""
        return _label(self.label)

    def instances(self) -> dict[str, Strategy]:
        return {sym: cls(sym, params) for sym, (cls, params) in self.classes.items()}

    def models(self) -> tuple[str, ...] | None:
        """The model kinds any of its strategies read (None: all)."""
        wanted: set[str] = set()
        for cls, _ in self.classes.values():
            if cls.models is None:
                return None
            wanted.update(cls.models)
        return tuple(sorted(wanted))


def _label(name: str) -> str:
    return name if name in BUILTINS else name.rpartition(":")[2].rpartition(".")[2].lower()


def runs(symbols: SymbolsConfig, names: str | None, run_id: str = "paper") -> list[Run]:
    """The runs of a flow. `names` (the command line's or COBFLOW_STRATEGY__NAME, comma
    separated) names one strategy for every symbol per run; without it, each symbol's
    `strategy.use` (default: combined) in one run. Every class is loaded and every
    parameter validated here, before anything runs."""
    chosen = [n.strip() for n in names.split(",") if n.strip()] if names else []
    if len(set(chosen)) != len(chosen):
        raise PluginError(f"strategy {names!r}: a strategy is named twice")
    out: list[Run] = []
    names_or_none: list[str | None] = [*chosen] if chosen else [None]
    for name in names_or_none:
        classes: dict[str, tuple[type[Strategy], Any]] = {}
        for sym, spec in symbols.symbols.items():
            use = name or spec.strategy.use or "combined"
            cls = strategy_class(use)
            params = {**cls.defaults(spec.strategy), **(spec.strategy.params if use == spec.strategy.use else {})}
            classes[sym] = (cls, validate_params(cls, params, f"strategy {use!r} of {sym}"))
        label = name or ",".join(dict.fromkeys(spec.strategy.use or "combined" for spec in symbols.symbols.values()))
        run = run_id if len(chosen) <= 1 else f"{run_id}-{_label(name or label)}"
        out.append(Run(run, label, classes))
    return out


def risk_rules(specs: tuple[PluginSpec, ...], limits: RiskLimits) -> tuple[RiskRule, ...]:
    """The user's pre-trade rules (`COBFLOW_TRADING__RISK_RULES`), loaded and their
    parameters checked (PluginError in one line)."""
    out: list[RiskRule] = []
    for spec in specs:
        cls = load_class(spec.use, RiskRule, "risk rule")
        out.append(cls(limits, validate_params(cls, spec.params, f"risk rule {spec.use!r}")))
    return tuple(out)


def models_wanted(all_runs: list[Run]) -> tuple[str, ...] | None:
    """The model kinds any run reads (None: all)."""
    wanted: set[str] = set()
    for r in all_runs:
        m = r.models()
        if m is None:
            return None
        wanted.update(m)
    return tuple(sorted(wanted))
