"""Position sizing and the risk rules of EXECUTION.md, in its order.

Rules 1-5 are checked before every order (`check_order`); 6-8 at the close of each second
(`stop_crossed`, `drawdown`, `daily_loss`). An order is split into the part that only
reduces the position and the rest: rules 1-5 never touch the reducing part, so a reducing
order always passes and a flip through zero can be cut back to a close.
"""

from __future__ import annotations

from dataclasses import dataclass

from cobflow.config import TradingSettings
from cobflow.execution.account import sign


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


def check_order(qty: float, position: float, mid: float, quality: float, halted: bool,
                orders_last_minute: int, limits: RiskLimits) -> tuple[float, list[RiskEvent]]:
    """Rules 1-5 on an order of signed `qty`: what may be sent, and a row for each rule that
    refused or clipped it (with the values compared)."""
    events: list[RiskEvent] = []
    red = reducing_part(position, qty)

    def cut(rule: str, new: float, value: float, threshold: float, detail: str) -> float:
        events.append(RiskEvent(rule, value, threshold, "refused" if new == 0 else "clipped", qty_now, new, detail))
        return new

    qty_now = qty
    if halted and qty_now != red:  # 1
        qty_now = cut("halted", red, 1.0, 0.0, "trading is halted: only reducing orders pass")
    if qty_now != red and quality < limits.min_quality:  # 2
        qty_now = cut("data_quality", red, quality, limits.min_quality, "quality below min_quality: no new exposure")
    if qty_now != red and abs(qty_now) * mid > limits.max_order_notional:  # 3
        allowed = max(limits.max_order_notional / mid, abs(red))
        qty_now = cut("max_order_notional", sign(qty_now) * allowed, abs(qty_now) * mid, limits.max_order_notional,
                      "order notional above the limit")
    after = position + qty_now
    if qty_now != red and abs(after) * mid > limits.max_position_notional:  # 4
        allowed_after = sign(after) * limits.max_position_notional / mid
        new = allowed_after - position
        if abs(new) < abs(red) or sign(new) != sign(qty_now):
            new = red
        qty_now = cut("max_position_notional", new, abs(after) * mid, limits.max_position_notional,
                      "position notional after the order above the limit")
    if qty_now != red and orders_last_minute >= limits.max_orders_per_minute:  # 5
        qty_now = cut("max_orders_per_minute", red, float(orders_last_minute), float(limits.max_orders_per_minute),
                      "orders of the last 60 s of decisions")
    return qty_now, events


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
