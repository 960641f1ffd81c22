"""Orders beyond the market order: limit, post-only, stop and cancel on the simulated venue
(docs/contracts/EXECUTION.md "Limit, stop and cancel orders").

What a strategy asks for is a request (`Market`, `Limit`, `Stop`, `Cancel`); the account
turns each into a `WorkingOrder` that lives on one venue and goes through the states
`new` -> `open` -> `partially_filled` -> `filled`, or `cancelled`, `rejected`, `expired`.

A resting limit order fills only as the recorded market allows, second by second:

- it starts behind `ahead` = the venue's size at exactly its price when it starts resting;
- trades on its venue whose taker is on the other side *at* its price first reduce `ahead`,
  what exceeds it fills the order; a trade *through* its price, or the other side's best
  price through it at the second's end, fills it whole;
- every fill is at its price, `liquidity` = maker.

How `ahead` moves is a `QueueModel` object: `RiskAverse` (the contract's rule, the default:
only trades at the price move it) or `PowerProbQueue` (hftbacktest's probabilistic model:
size that leaves the level without a trade is taken from the front with the probability
front^n / (front^n + back^n); optimistic, for comparison).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from cobflow.execution.fills import VenueLevels

SIDES = ("buy", "sell")
TRIGGERS = ("trade", "mid")
#: the states of EXECUTION.md; `partial` and `unfilled` are the next-second market order's
OPEN_STATES = ("new", "open", "partially_filled")
END_STATES = ("filled", "cancelled", "rejected", "expired")


def _finite_positive(name: str, v: object) -> str | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
        return f"{name} {v!r} is not a finite number > 0"
    return None


@dataclass(frozen=True, slots=True)
class Market:
    """A market order of `qty` (> 0) on `side`: walks the books at the next second's end."""

    side: str
    qty: float
    client_id: str | None = None
    type: ClassVar[str] = "market"

    def problem(self) -> str | None:
        if self.side not in SIDES:
            return f"side {self.side!r} is not buy or sell"
        return _finite_positive("qty", self.qty)


@dataclass(frozen=True, slots=True)
class Limit:
    """A limit order: `qty` (> 0) on `side` at `price` (the symbol's quote); `post_only` is
    rejected rather than take liquidity; `expire_after_s` = n cancels it at the end of its
    arrival second + n (None: good till cancelled)."""

    side: str
    qty: float
    price: float
    post_only: bool = False
    expire_after_s: int | None = None
    client_id: str | None = None
    type: ClassVar[str] = "limit"

    def problem(self) -> str | None:
        if self.side not in SIDES:
            return f"side {self.side!r} is not buy or sell"
        bad = _finite_positive("qty", self.qty) or _finite_positive("price", self.price)
        if bad:
            return bad
        e = self.expire_after_s
        if e is not None and (isinstance(e, bool) or not isinstance(e, int) or e < 1):
            return f"expire_after_s {e!r} is not a whole number of seconds >= 1"
        return None


@dataclass(frozen=True, slots=True)
class Stop:
    """A stop order: once its venue's last trade (`trigger="mid"`: the symbol's mid) reaches
    `stop_price` (buy: >=, sell: <=) at a second's end, a market order of `qty` decided then."""

    side: str
    qty: float
    stop_price: float | None
    trigger: str = "trade"
    client_id: str | None = None
    type: ClassVar[str] = "stop"

    def problem(self) -> str | None:
        if self.side not in SIDES:
            return f"side {self.side!r} is not buy or sell"
        if self.stop_price is None:
            return "a stop order needs a stop_price"
        if self.trigger not in TRIGGERS:
            return f"trigger {self.trigger!r} is not trade or mid"
        return _finite_positive("qty", self.qty) or _finite_positive("stop_price", self.stop_price)


@dataclass(frozen=True, slots=True)
class Cancel:
    """Cancel the strategy's working order `client_id`: takes effect at the end of the next
    second (its fills of that second still count)."""

    client_id: str
    type: ClassVar[str] = "cancel"

    def problem(self) -> str | None:
        return None if isinstance(self.client_id, str) and self.client_id else \
            f"client_id {self.client_id!r} is not a non-empty string"


OrderRequest = Market | Limit | Stop | Cancel
REQUEST_TYPES = (Market, Limit, Stop, Cancel)


def request_problem(req: object) -> str | None:
    """Why a strategy's order request cannot be used (None: it can)."""
    if not isinstance(req, REQUEST_TYPES):
        return f"{type(req).__name__} is not an order request (Market, Limit, Stop or Cancel)"
    return req.problem()


def off_tick(price: float, tick: float) -> bool:
    """A price that is no whole number of ticks (to 1e-9 of a tick)."""
    n = price / tick
    return abs(n - round(n)) > 1e-9 * max(1.0, abs(n))


def to_tick(price: float, tick: float | None, side: str) -> float:
    """A price on the tick, rounded away from the other side (a buy down, a sell up)."""
    if tick is None or not off_tick(price, tick):
        return price
    n = math.floor(price / tick) if side == "buy" else math.ceil(price / tick)
    decimals = max(0, -math.floor(math.log10(tick)) + 1)
    return round(n * tick, decimals + 6)


@dataclass
class WorkingOrder:
    """One order of the account on the simulated venue, from its decision to its end."""

    order_id: str
    symbol: str
    type: str  # market, limit, stop
    side: str
    qty: float  # > 0, as it passed the risk rules
    decision_s: int
    reason: str = "decision"  # why it was sent (decision, a stop's trigger, a risk rule)
    client_id: str | None = None
    price: float | None = None  # limit: in the symbol's quote
    stop_price: float | None = None
    trigger: str = "trade"
    post_only: bool = False
    expire_after_s: int | None = None
    venue: str | None = None  # where it rests (None: a market order on the symbol's route)
    route: str = "all"
    venue_price: float | None = None  # its price on the venue (converted markets: / the rate)
    arrival_s: int | None = None  # the second at whose end it reached the venue
    ahead: float = 0.0  # the queue in front of it (inf: unknown, behind the levels seen)
    level_size: float | None = None  # the venue's size at its price at the last second's end
    filled: float = 0.0
    notional: float = 0.0
    fees: float = 0.0
    status: str = "new"
    note: str | None = None  # why it ended or changed (would_cross, a rule, ...)
    cancel_at: int | None = None  # a cancel takes effect at this second's end
    triggered_s: int | None = None  # a stop: the second it triggered (a market order decided then)
    at_venue: bool = False  # live mode: sent to a real venue, whose reports fill it (not simulated here)

    @property
    def remaining(self) -> float:
        return max(0.0, self.qty - self.filled)

    @property
    def sign(self) -> int:
        return 1 if self.side == "buy" else -1

    @property
    def open(self) -> bool:
        return self.status in OPEN_STATES

    def add_fill(self, qty: float, price: float, fee: float) -> None:
        self.filled += qty
        self.notional += qty * price
        self.fees += fee
        done = self.filled >= self.qty * (1 - 1e-9)
        self.status = "filled" if done else "partially_filled"


@dataclass(frozen=True, slots=True)
class OrderView:
    """What a strategy sees of one of its working orders (`ctx.orders`)."""

    client_id: str | None
    order_id: str
    type: str
    side: str
    qty: float
    filled: float
    price: float | None
    status: str
    venue: str | None
    decision_s: int
    arrival_s: int | None

    @staticmethod
    def of(o: WorkingOrder) -> OrderView:
        return OrderView(o.client_id, o.order_id, o.type, o.side, o.qty, o.filled, o.price, o.status, o.venue,
                         o.decision_s, o.arrival_s)


# -- what the venue did in a second ------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class VenueTrades:
    """The trades of one venue in one second, in the venue's own prices: price, size, and
    the taker's side (+1 bought, -1 sold)."""

    prices: np.ndarray
    sizes: np.ndarray
    sides: np.ndarray  # int8


def size_at(levels: VenueLevels, side: str, price: float) -> float:
    """The venue's size at exactly `price` on `side` (0: a level between the ones seen; inf:
    beyond the levels seen, unknown)."""
    prices, sizes = (levels.bid_prices, levels.bid_sizes) if side == "buy" else (levels.ask_prices, levels.ask_sizes)
    if len(prices) == 0:
        return math.inf
    hit = np.flatnonzero(same_price(prices, price))
    if len(hit):
        return float(sizes[hit[0]])
    last = float(prices[-1])
    beyond = price < last if side == "buy" else price > last
    return math.inf if beyond else 0.0


class QueueModel:
    """How a resting limit order's place in its level's queue moves (hftbacktest's split of
    queue, fill, fee and latency models). Selected by `COBFLOW_TRADING__QUEUE_MODEL`."""

    name: ClassVar[str] = ""

    def start(self, level_size: float) -> float:
        """Args:
            level_size: the venue's size at exactly the order's price when it starts resting
                (0: a new level; inf: beyond the levels seen, unknown).

        Returns:
            The quantity ahead of the order.
        """
        return level_size

    def trade(self, ahead: float, qty: float) -> tuple[float, float]:
        """Takers on the other side traded `qty` at the order's price in a second.

        Args:
            ahead: the quantity ahead of the order before these trades.
            qty: what traded at its price.

        Returns:
            (ahead after, the quantity past the queue: what may fill the order).
        """
        if qty <= ahead:
            return ahead - qty, 0.0
        return 0.0, qty - ahead

    def depth(self, ahead: float, before: float | None, after: float, traded: float) -> float:
        """The level at the order's price went from `before` to `after` over a second in
        which `traded` traded at it.

        Args:
            ahead: the quantity ahead after the second's trades.
            before: the level's size at the previous second's end (None: not seen).
            after: its size at this second's end (inf: beyond the levels seen).
            traded: what traded at the price in the second.

        Returns:
            The quantity ahead now.
        """
        return ahead


class RiskAverse(QueueModel):
    """The contract's rule: only trades at the price move the queue; cancels and size
    changes never do (the default)."""

    name = "risk_averse"


@dataclass
class PowerProbQueue(QueueModel):
    """hftbacktest's probabilistic queue (its power function, n = 3): size that leaves the
    level without trading comes from in front of the order with the probability
    front^n / (front^n + back^n). Optimistic beside `RiskAverse`: it assumes cancels."""

    n: float = 3.0
    name: ClassVar[str] = "power_prob"

    def depth(self, ahead: float, before: float | None, after: float, traded: float) -> float:
        if before is None or not math.isfinite(ahead) or not math.isfinite(after):
            return ahead
        gone = before - after - traded  # size that left the level without a trade
        if gone <= 0:
            return min(ahead, after)
        front, back = ahead, max(0.0, before - ahead)
        f, b = front ** self.n, back ** self.n
        p_front = f / (f + b) if f + b > 0 else 1.0
        return max(0.0, min(ahead - p_front * gone, after))


QUEUE_MODELS: dict[str, type[QueueModel]] = {"risk_averse": RiskAverse, "power_prob": PowerProbQueue}


def same_price(prices: np.ndarray, price: float) -> np.ndarray:
    """Prices equal to `price` (to 1e-12 of it: a converted book's prices are a division away
    from the venue's own)."""
    return np.abs(prices - price) <= 1e-12 * abs(price)


def resting_fill(o: WorkingOrder, trades: VenueTrades | None, levels: VenueLevels | None,
                 queue: QueueModel) -> float:
    """The quantity a resting limit order fills in one second (trades of the second, then
    the venue's book at its end), moving its queue; its price is `o.venue_price`."""
    p = o.venue_price
    assert p is not None
    want = o.remaining
    if want <= 0:
        return 0.0
    buy = o.side == "buy"
    at = 0.0
    through = False
    if trades is not None and len(trades.prices):
        other = trades.sides == (-1 if buy else 1)  # takers on the other side
        px, qty = trades.prices[other], trades.sizes[other]
        same = same_price(px, p)
        at = float(qty[same].sum())
        through = bool(np.any(px[~same] < p)) if buy else bool(np.any(px[~same] > p))
    if through:
        return want
    fill = 0.0
    if at > 0:
        o.ahead, past = queue.trade(o.ahead, at)
        fill = min(want, past)
    if levels is not None:
        best = levels.ask_prices if buy else levels.bid_prices
        if len(best) and (best[0] < p if buy else best[0] > p):
            return want
        now = size_at(levels, o.side, p)
        o.ahead = queue.depth(o.ahead, o.level_size, now, at)
        o.level_size = now if math.isfinite(now) else None
    return fill


def crosses(o: WorkingOrder, levels: VenueLevels) -> bool:
    """An arriving limit order that would take liquidity (buy: p >= best ask)."""
    p = o.venue_price
    assert p is not None
    if o.side == "buy":
        return len(levels.ask_prices) > 0 and p >= levels.ask_prices[0]
    return len(levels.bid_prices) > 0 and p <= levels.bid_prices[0]


def crossing_levels(o: WorkingOrder, levels: VenueLevels) -> list[tuple[float, float]]:
    """The other side's levels at or better than the order's price (venue prices, best
    first): what a crossing limit order takes as a market order limited to its price."""
    p = o.venue_price
    assert p is not None
    if o.side == "buy":
        keep = levels.ask_prices <= p
        return list(zip(levels.ask_prices[keep].tolist(), levels.ask_sizes[keep].tolist()))
    keep = levels.bid_prices >= p
    return list(zip(levels.bid_prices[keep].tolist(), levels.bid_sizes[keep].tolist()))


def best_venue(books: dict[str, VenueLevels], side: str) -> str | None:
    """EXECUTION.md: the venue with the best price on the order's side (highest bid for a
    buy, lowest ask for a sell; ties alphabetical)."""
    best: tuple[float, str] | None = None
    for venue in sorted(books):
        lv = books[venue]
        prices = lv.bid_prices if side == "buy" else lv.ask_prices
        if not len(prices):
            continue
        key = -float(prices[0]) if side == "buy" else float(prices[0])
        if best is None or key < best[0]:
            best = (key, venue)
    return None if best is None else best[1]
