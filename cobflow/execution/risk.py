"""Position sizing and the risk rules of EXECUTION.md, in its order.

Rules 1-5 are `RiskRule` objects checked before every order, in order (`apply_rules`),
with a user's rules after them; 6-8 act at the close of each second (`stop_crossed`,
`drawdown`, `daily_loss`, run by the account's step). An order is split into the part that only
reduces the position and the rest: rules 1-5 never touch the reducing part, so a reducing
order always passes and a flip through zero can be cut back to a close.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from cobflow.config import TradingSettings
from cobflow.execution.account import sign
from cobflow.plugins import PluginParams


@dataclass(frozen=True, slots=True)
class RiskLimits:
    risk_per_trade: float
    stop_loss_pct: float
    max_order_notional: float
    max_position_notional: float
    max_orders_per_minute: int
    max_drawdown_pct: float
    daily_loss_pct: float
    min_quality: float

    @staticmethod
    def of(t: TradingSettings) -> RiskLimits:
        return RiskLimits(t.risk_per_trade, t.stop_loss_pct, t.max_order_notional, t.max_position_notional,
                          t.max_orders_per_minute, t.max_drawdown_pct, t.daily_loss_pct, t.min_quality)


@dataclass(frozen=True, slots=True)
class RiskEvent:
    rule: str
    value: float  # what was compared ...
    threshold: float  # ... with this limit
    action: str  # refused, clipped, exit, close_all, halted, resumed
    qty_before: float = 0.0
    qty_after: float = 0.0
    detail: str = ""


def target_qty(equity: float, mid: float, limits: RiskLimits) -> float:
    """EXECUTION.md "Position sizing": min(equity x risk / (stop x mid), max position / mid)."""
    if equity <= 0:
        return 0.0
    return min(equity * limits.risk_per_trade / (limits.stop_loss_pct * mid), limits.max_position_notional / mid)


def reducing_part(position: float, qty: float) -> float:
    """The part of `qty` that takes the position toward zero, never past it."""
    if position == 0 or sign(qty) != -sign(position):
        return 0.0
    return sign(qty) * min(abs(qty), abs(position))


@dataclass(frozen=True, slots=True)
class OrderCheck:
    """What a pre-trade rule reads of an order about to be created (EXECUTION.md "Risk
    rules"): the order as the rules before it left it, and the account around it."""

    symbol: str
    t: int  # the decision's second
    qty: float  # signed, as the rules before this one left it
    reducing: float  # the part that only takes the position toward zero: no rule cuts below it
    position: float
    mid: float
    quality: float
    halted: bool
    orders_last_minute: int  # the symbol's orders of the last 60 s of decisions
    equity: float
    second: Any = None  # the symbol's StrategySecond (COB, features, signals) for rules that read more


@dataclass(frozen=True, slots=True)
class Cut:
    """A pre-trade rule's verdict: send `qty` (the reducing part refuses the new exposure),
    with the values compared and why."""

    qty: float
    value: float
    threshold: float
    detail: str


class RiskRule:
    """A pre-trade rule: `check` passes an order (None) or cuts it (a `Cut`). The built-ins
    are rules 1-5 of EXECUTION.md in its order; a user's rule (`module:Class` in
    `COBFLOW_TRADING__RISK_RULES`) runs after them on what they left. A rule is asked only
    while the order still adds exposure; it never cuts below the reducing part."""

    name: ClassVar[str] = ""

    class Params(PluginParams):
        pass

    def __init__(self, limits: RiskLimits, params: Any = None) -> None:
        self.limits = limits
        self.params = params

    def check(self, order: OrderCheck) -> Cut | None:
        """Args:
            order: the order and its account, as the rules before left it.
        Returns:
            None to pass it, or a Cut (qty = order.reducing refuses the new exposure).
        """
        raise NotImplementedError


class Halted(RiskRule):
    """1. After a kill switch nothing but reducing orders passes."""

    name = "halted"

    def check(self, order: OrderCheck) -> Cut | None:
        return Cut(order.reducing, 1.0, 0.0, "trading is halted: only reducing orders pass") if order.halted else None


class DataQuality(RiskRule):
    """2. Quality below min_quality refuses new exposure."""

    name = "data_quality"

    def check(self, order: OrderCheck) -> Cut | None:
        lim = self.limits.min_quality
        if order.quality < lim:
            return Cut(order.reducing, order.quality, lim, "quality below min_quality: no new exposure")
        return None


class MaxOrderNotional(RiskRule):
    """3. A larger order is clipped to max_order_notional."""

    name = "max_order_notional"

    def check(self, order: OrderCheck) -> Cut | None:
        lim, q, mid = self.limits.max_order_notional, order.qty, order.mid
        if abs(q) * mid <= lim:
            return None
        allowed = max(lim / mid, abs(order.reducing))
        return Cut(sign(q) * allowed, abs(q) * mid, lim, "order notional above the limit")


class MaxPositionNotional(RiskRule):
    """4. The position after the order is clipped to max_position_notional."""

    name = "max_position_notional"

    def check(self, order: OrderCheck) -> Cut | None:
        lim, mid = self.limits.max_position_notional, order.mid
        after = order.position + order.qty
        if abs(after) * mid <= lim:
            return None
        new = sign(after) * lim / mid - order.position
        if abs(new) < abs(order.reducing) or sign(new) != sign(order.qty):
            new = order.reducing
        return Cut(new, abs(after) * mid, lim, "position notional after the order above the limit")


class MaxOrdersPerMinute(RiskRule):
    """5. Counted over the last 60 s of decisions, per symbol."""

    name = "max_orders_per_minute"

    def check(self, order: OrderCheck) -> Cut | None:
        lim = self.limits.max_orders_per_minute
        if order.orders_last_minute >= lim:
            return Cut(order.reducing, float(order.orders_last_minute), float(lim),
                       "orders of the last 60 s of decisions")
        return None


#: rules 1-5 of EXECUTION.md, in its order (6-8 act at a second's close: StopLoss,
#: MaxDrawdown, DailyLoss below)
PRE_TRADE: tuple[type[RiskRule], ...] = (Halted, DataQuality, MaxOrderNotional, MaxPositionNotional,
                                         MaxOrdersPerMinute)


def pre_trade_rules(limits: RiskLimits, extra: tuple[RiskRule, ...] = ()) -> tuple[RiskRule, ...]:
    return (*(cls(limits) for cls in PRE_TRADE), *extra)


def apply_rules(order: OrderCheck, rules: tuple[RiskRule, ...]) -> tuple[float, list[RiskEvent]]:
    """The rules in order on an order: what may be sent, and a row for each rule that
    refused or clipped it. A rule that raises refuses the new exposure (its detail says so)."""
    events: list[RiskEvent] = []
    red = order.reducing
    qty_now = order.qty
    for rule in rules:
        if qty_now == red:  # nothing left that adds exposure
            break
        try:
            cut = rule.check(replace(order, qty=qty_now))
        except Exception as e:  # a user's rule costs its order, never the flow
            line = " ".join(str(e).split()) or type(e).__name__
            cut = Cut(red, 0.0, 0.0, f"{type(rule).__name__}.check raised {type(e).__name__}: {line}"[:500])
        if cut is None:
            continue
        new = cut.qty
        if not math.isfinite(new) or abs(new) > abs(qty_now) or (new != red and sign(new) != sign(qty_now)):
            new = red  # a cut never adds, never turns the order round: anything else refuses
        events.append(RiskEvent(rule.name or type(rule).__name__, cut.value, cut.threshold,
                                "refused" if new == 0 else "clipped", qty_now, new, cut.detail))
        qty_now = new
    return qty_now, events


def check_order(qty: float, position: float, mid: float, quality: float, halted: bool,
                orders_last_minute: int, limits: RiskLimits) -> tuple[float, list[RiskEvent]]:
    """Rules 1-5 on an order of signed `qty`: what may be sent, and a row for each rule that
    refused or clipped it (with the values compared)."""
    order = OrderCheck("", 0, qty, reducing_part(position, qty), position, mid, quality, halted,
                       orders_last_minute, 0.0)
    return apply_rules(order, pre_trade_rules(limits))


def stop_price(position: float, avg_price: float, stop_loss_pct: float) -> float:
    return avg_price * (1 - stop_loss_pct) if position > 0 else avg_price * (1 + stop_loss_pct)


def stop_crossed(position: float, avg_price: float, mid: float, stop_loss_pct: float) -> bool:
    """Rule 6: the mid has reached the stop price of an open position."""
    if position == 0:
        return False
    stop = stop_price(position, avg_price, stop_loss_pct)
    return mid <= stop if position > 0 else mid >= stop


def drawdown(peak: float, equity: float) -> float:
    """Rule 7's measure: (peak equity - equity) / peak equity."""
    return (peak - equity) / peak if peak > 0 else 0.0


def daily_loss(day_start: float, equity: float) -> float:
    """Rule 8's measure: how far equity is below its value at the start of the UTC day."""
    return (day_start - equity) / day_start if day_start > 0 else 0.0


# -- rules 6-8: at the close of each second ---------------------------------------------------

@dataclass(frozen=True, slots=True)
class AccountClose:
    """What an account rule reads at the close of second t."""

    t: int
    equity: float
    peak: float
    day_start: float  # equity at the start of t's UTC day
    halted: str | None  # the rule (or "operator") that halted trading, if any


class StopLoss:
    """6. An open position whose mid crossed its stop price is closed by a market order
    created at the next second."""

    name = "stop_loss"

    def __init__(self, limits: RiskLimits) -> None:
        self.limits = limits

    def exit(self, position: float, avg_price: float, mid: float) -> RiskEvent | None:
        pct = self.limits.stop_loss_pct
        if not stop_crossed(position, avg_price, mid, pct):
            return None
        return RiskEvent(self.name, mid, stop_price(position, avg_price, pct), "exit", position, 0.0,
                         f"avg entry {avg_price:.6g}, mid {mid:.6g}")


class AccountRule:
    """A rule on the whole account at a second's close: when `breach` returns an event,
    every position is closed and trading halts until `halted_until(t)` (None: until an
    operator resumes)."""

    name: ClassVar[str] = ""

    def __init__(self, limits: RiskLimits) -> None:
        self.limits = limits

    def breach(self, acct: AccountClose) -> RiskEvent | None:
        raise NotImplementedError

    def halted_until(self, t: int) -> int | None:
        return None


class MaxDrawdown(AccountRule):
    """7. (peak - equity) / peak reaching max_drawdown_pct closes all and halts until an
    operator resumes."""

    name = "max_drawdown_pct"

    def breach(self, acct: AccountClose) -> RiskEvent | None:
        dd, lim = drawdown(acct.peak, acct.equity), self.limits.max_drawdown_pct
        if dd < lim or acct.halted in (self.name, "operator"):
            return None
        return RiskEvent(self.name, dd, lim, "close_all",
                         detail=f"peak {acct.peak:.2f}, equity {acct.equity:.2f}: halted until an operator resumes")


DAY_S = 86_400


class DailyLoss(AccountRule):
    """8. Equity that far below its value at the start of the UTC day closes all and halts
    until the next UTC day."""

    name = "daily_loss_pct"

    def breach(self, acct: AccountClose) -> RiskEvent | None:
        loss, lim = daily_loss(acct.day_start, acct.equity), self.limits.daily_loss_pct
        if loss < lim or acct.halted is not None:
            return None
        return RiskEvent(self.name, loss, lim, "close_all", detail=f"day start {acct.day_start:.2f}, equity "
                                                                    f"{acct.equity:.2f}: halted until the next UTC day")

    def halted_until(self, t: int) -> int | None:
        return ((t // DAY_S) + 1) * DAY_S


#: EXECUTION.md's eight rules, in its order
RULES: tuple[type, ...] = (*PRE_TRADE, StopLoss, MaxDrawdown, DailyLoss)
ACCOUNT_RULES: tuple[type[AccountRule], ...] = (MaxDrawdown, DailyLoss)
