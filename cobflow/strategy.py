"""The Strategy API: what a user writes to trade their own idea on consolidated books, the
same code in backtests, paper and live.

A strategy is a class with one method, called once per symbol and second that has a
features row, in time order, after the second's fills and marks (EXECUTION.md's order):

    from cobflow.strategy import Context, Intent, Strategy

    class Momentum(Strategy):
        class Params(Strategy.Params):
            lookback: int = 5

        def on_second(self, ctx: Context) -> Intent | None:
            ret = ctx.features["ret_5_bps"]  ...
            return Intent.buy(0.8, "up") if ... else Intent.hold("flat")

It is selected by `module:Class` (or a built-in's name: combined, models, cnn, rules) with
`cobflow backtest --strategy`, `cobflow run strategy --strategy`, `COBFLOW_STRATEGY__NAME`,
or per symbol in symbols.yaml (`strategy: {use: mypkg.momentum:Momentum, params: {...}}`).

One instance serves one symbol of one run: state kept on `self` is that symbol's, and it is
part of the account's recovery state (it must pickle), so a resumed flow goes on with it.
An `Intent` BUY targets the long position the risk settings size (EXECUTION.md), SELL the
short one (flat where the symbol does not short), HOLD keeps the position; the risk rules
then pass, clip or refuse it. An intent may instead carry orders (`Intent.buy().with_orders(
Limit("buy", 0.1, 65000.0, post_only=True, client_id="a"))`: `Market`, `Limit`, `Stop`,
`Cancel` of `cobflow.execution.orders`): then its action is only recorded, and each order
passes the risk rules and works on the simulated venue (EXECUTION.md "Limit, stop and
cancel orders"); `ctx.orders` shows the symbol's working orders, `ctx.target(action)` the
position the sizing rule gives. A strategy that raises costs that symbol-second a HOLD with
reason `strategy_error` and a dead letter with the exception's line; the flow goes on.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import orjson

from cobflow.config import PluginError
from cobflow.deadletter import DeadLetter
from cobflow.execution.fills import BookTops
from cobflow.execution.orders import Cancel, Limit, Market, OrderRequest, OrderView, Stop, request_problem
from cobflow.metrics.signals import Signal
from cobflow.metrics.vectors import CNN_LAYOUT
from cobflow.plugins import PluginParams, SymbolPlugin
from cobflow.raw import RawMessage

__all__ = ["AccountView", "Cancel", "Context", "Intent", "Limit", "Market", "ModelOutput", "OrderView", "PluginError",
           "Stop", "Strategy", "StrategySecond"]
ACTIONS = ("BUY", "SELL", "HOLD")
CNN_INDEX = {name: i for i, (name, _) in enumerate(CNN_LAYOUT)}


@dataclass(frozen=True, slots=True)
class ModelOutput:
    """One model's call on one symbol-second (a `model_outputs` row, typed)."""

    kind: str  # the model kind: "cnn", "dqn", or a plug-in kind
    name: str  # its checkpoint
    confidence: float
    probabilities: np.ndarray  # as the model gave them (cnn: down, flat, up; dqn: BUY, SELL, HOLD)
    direction: int | None = None  # -1, 0, +1 (a direction model)
    action: str | None = None  # BUY, SELL or HOLD (an action model)
    pivots: np.ndarray | None = None  # the cnn's pivot head (stored with its output)


@dataclass(frozen=True, slots=True)
class StrategySecond:
    """What the signals-and-models step hands the account of one symbol's second S: the COB
    summary, the features, the rule signals and model outputs of S, each source's recent hit
    rate, and the top levels of the synced venue books (for the fills of S)."""

    symbol: str
    s: int  # epoch second
    quality: float
    mid: float | None
    cob: Mapping[str, Any] | None  # the cob_summary columns of S
    features: Mapping[str, Any] | None  # the features columns of S (None: no decision at S)
    signals: tuple[Signal, ...] = ()
    models: tuple[ModelOutput, ...] = ()
    hit_rates: Mapping[str, float] = field(default_factory=dict)  # source -> rolling hit rate
    tops: BookTops | None = None


@dataclass(frozen=True, slots=True)
class AccountView:
    """The run's account at the decision (after the fills and marks of S)."""

    equity: float
    cash: float
    peak: float
    halted: bool
    positions: Mapping[str, float]  # symbol -> signed quantity

    @property
    def drawdown(self) -> float:
        return 0.0 if self.peak <= 0 else max(0.0, (self.peak - self.equity) / self.peak)


@dataclass(frozen=True, slots=True)
class Context:
    """Everything a strategy may read for one symbol's second S; nothing after S."""

    second: StrategySecond
    position: float  # this symbol's signed position
    account: AccountView
    min_quality: float  # FEATURES.md: below it no new exposure is taken
    long_target: float = 0.0  # EXECUTION.md's sizing at this second's equity and mid (base units, >= 0)
    shorting: bool = True  # False: SELL means flat for this symbol
    orders: tuple[OrderView, ...] = ()  # the symbol's working orders (limit, stop) of this run
    min_order_notional: float = 0.0  # an order worth less is not sent
    ticks: Mapping[str, float] = field(default_factory=dict)  # venue -> price tick (trading.tick_size)

    def target(self, action: str) -> float:
        """The signed position an action aims at: BUY the sized long, SELL the sized short
        (0 where the symbol does not short), HOLD the position now."""
        if action == "BUY":
            return self.long_target
        if action == "SELL":
            return -self.long_target if self.shorting else 0.0
        return self.position

    def best(self, side: str) -> float | None:
        """The best price on `side` ("buy": the highest bid, "sell": the lowest ask) over the
        synced venue books at the end of S, in the symbol's quote (None: no book)."""
        tops = self.second.tops
        if tops is None:
            return None
        prices = [float(lv.bid_prices[0]) if side == "buy" else float(lv.ask_prices[0])
                  for lv in tops.venues.values() if len(lv.bid_prices if side == "buy" else lv.ask_prices)]
        if not prices:
            return None
        return max(prices) if side == "buy" else min(prices)

    @property
    def symbol(self) -> str:
        return self.second.symbol

    @property
    def s(self) -> int:
        return self.second.s

    @property
    def quality(self) -> float:
        return self.second.quality

    @property
    def mid(self) -> float | None:
        return self.second.mid

    @property
    def cob(self) -> Mapping[str, Any]:
        return self.second.cob or {}

    @property
    def features(self) -> Mapping[str, Any]:
        return self.second.features or {}

    @property
    def signals(self) -> tuple[Signal, ...]:
        return self.second.signals

    @property
    def models(self) -> tuple[ModelOutput, ...]:
        return self.second.models

    def hit_rate(self, source: str) -> float:
        """The source's rolling hit rate (0.5 while it has fewer than 20 scored calls)."""
        return self.second.hit_rates.get(source, 0.5)

    def feature(self, name: str) -> float:
        """One named value of the second's `cnn` feature vector (FEATURES.md's layout, e.g.
        `ret_5_bps`, `rsi`, `bb_pctb`, `pivot_high_dist_bps`, `bid_0_share`)."""
        i = CNN_INDEX.get(name)
        if i is None:
            raise KeyError(f"no feature {name!r} in the cnn vector (names: cobflow.metrics.vectors.CNN_LAYOUT)")
        return float(self.features["cnn"][i])


@dataclass(frozen=True, slots=True)
class Intent:
    """A strategy's call for one symbol-second (the `decisions` row)."""

    action: str  # BUY, SELL or HOLD
    confidence: float = 1.0  # in [0, 1]
    score: float = 0.0
    reason: str | None = None
    source: str | None = None  # the decisions row's `source` tag (default: the strategy's name)
    #: None: BUY and SELL are worked by a market order to the target. A tuple (empty too): the
    #: action is only recorded and these orders are sent instead (Market, Limit, Stop, Cancel)
    orders: tuple[OrderRequest, ...] | None = None

    def with_orders(self, *orders: OrderRequest) -> Intent:
        """This call, worked by these orders instead of a market order to the target; with
        none, the call is recorded and nothing is sent (its orders already work)."""
        return Intent(self.action, self.confidence, self.score, self.reason, self.source, tuple(orders))

    @classmethod
    def buy(cls, confidence: float = 1.0, reason: str | None = None, score: float | None = None) -> Intent:
        return cls("BUY", confidence, confidence if score is None else score, reason)

    @classmethod
    def sell(cls, confidence: float = 1.0, reason: str | None = None, score: float | None = None) -> Intent:
        return cls("SELL", confidence, -confidence if score is None else score, reason)

    @classmethod
    def hold(cls, reason: str = "hold") -> Intent:
        return cls("HOLD", 0.0, 0.0, reason)

    def problem(self) -> str | None:
        """Why this intent cannot be used (None: it can)."""
        if self.action not in ACTIONS:
            return f"action {self.action!r} is not one of {', '.join(ACTIONS)}"
        for name in ("confidence", "score"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not math.isfinite(v):
                return f"{name} {v!r} is not a finite number"
        if not 0.0 <= self.confidence <= 1.0:
            return f"confidence {self.confidence!r} is outside [0, 1]"
        if self.orders is not None and not isinstance(self.orders, tuple):
            return f"orders {type(self.orders).__name__} is not a tuple or None"
        return None

    def order_problems(self) -> list[tuple[OrderRequest, str]]:
        """The orders that cannot be sent as they are, and why (refused one by one)."""
        return [(o, p) for o in self.orders or () if (p := request_problem(o)) is not None]


class Strategy(SymbolPlugin):
    """The base of every strategy, the built-ins' too. Subclass it, set `Params` to a pydantic
    model of your parameters (a subclass of `Strategy.Params`, validated at start, one line
    naming a bad key), and write `on_second`. `self.symbol` and `self.params` are set before
    the first call."""

    class Params(PluginParams):
        pass

    #: the model kinds whose outputs it reads (None: every trained kind; () none): the flow
    #: runs no model that no strategy of the flow reads
    models: ClassVar[tuple[str, ...] | None] = None

    def on_second(self, ctx: Context) -> Intent | None:
        """The call for ctx's second (None: HOLD with reason `no_signal`).

        Args:
            ctx: the symbol's second S (COB, features, signals, model outputs), its position
                and the run's account, after the fills of S.
        Returns:
            An `Intent`, or None.
        """
        raise NotImplementedError


def plugin_dead_letter(where: str, call: str, symbol: str, s: int, error: BaseException,
                       stage: str = "strategy") -> DeadLetter:
    """The dead letter of a plug-in that raised on a symbol's second: the exception's one
    line, and the symbol and second it was called for."""
    line = " ".join(str(error).split()) or type(error).__name__
    reason = f"{where}: {call} raised {type(error).__name__}: {line}"[:1000]
    payload = orjson.dumps({"symbol": symbol, "second": s}).decode()
    return DeadLetter(stage, reason, RawMessage(s * 1_000_000_000, "cobflow", stage, where, symbol, payload))


def strategy_dead_letter(run: str, strategy: str, second: StrategySecond, error: BaseException) -> DeadLetter:
    """The dead letter of a strategy that raised on a second (stage `strategy`)."""
    return plugin_dead_letter(f"run {run}", f"{strategy}.on_second", second.symbol, second.s, error)
