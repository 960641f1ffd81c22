"""Orders at a real venue: what the account asks the gateway to do (`OrderIntent`), what the
gateway learns from the venue (`ExecutionReport`), the order's client id, and the state
machine they share with paper orders (EXECUTION.md) plus `unknown` and `shadow`.

- `unknown`: the venue may have the order but has not said so (a timeout after sending, a
  5xx): nothing is sent for it again until a query by its client id answers.
- `shadow`: built and validated at the venue (Binance's test-order endpoint), never placed.

Client ids are made from the run, the symbol, the decision second and a sequence, so the same
decision always makes the same id: an intent sent again after a crash is recognised (a query
by client id finds the first one) and never becomes a second order. They are letters and
digits only, 24 characters: every venue accepts them (OKX: 1-32 alphanumerics; Binance and
Bybit: 36 characters of a wider set). The first eight (`cf` + the run's tag) name the run, so
a venue's open orders of a run are found by prefix.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import orjson

TERMINAL = frozenset({"filled", "cancelled", "rejected", "expired", "shadow"})
OPEN = frozenset({"open", "partially_filled"})
#: every legal move of a live order (an illegal one is a bug: `transition` raises)
TRANSITIONS: dict[str, frozenset[str]] = {
    "new": frozenset({"open", "partially_filled", "filled", "cancelled", "rejected", "expired", "unknown",
                      "shadow"}),
    "unknown": frozenset({"unknown", "open", "partially_filled", "filled", "cancelled", "rejected", "expired"}),
    "open": frozenset({"open", "partially_filled", "filled", "cancelled", "expired", "unknown"}),
    "partially_filled": frozenset({"partially_filled", "filled", "cancelled", "expired", "unknown"}),
    **{s: frozenset() for s in TERMINAL},
}


class IllegalTransition(ValueError):
    pass


def transition(old: str, new: str) -> str:
    if new not in TRANSITIONS.get(old, frozenset()):
        raise IllegalTransition(f"an order cannot go from {old} to {new}")
    return new


def live_route(symbol: str, venues: dict[str, str], route: str, live_venue: str,
               instrument: str = "spot") -> tuple[str, str]:
    """(venue, market) where a symbol's venue orders go: its `trading.route` if it names a
    venue, else `trading.live_venue`; the market is the symbol's market there as ccxt spells it
    (BASE/QUOTE: `binance: BTC-USDT` -> BTC/USDT; a linear perpetual BASE/QUOTE:QUOTE), the
    symbol itself where it lists none."""
    venue = route if route != "all" else live_venue
    market = venues.get(venue, symbol)
    for sep in ("-", "_", ":"):
        market = market.replace(sep, "/")
    if instrument == "perpetual":
        market = f"{market}:{market.rsplit('/', 1)[-1]}"
    return venue, market


def run_tag(run: str) -> str:
    """`cf` and six hex digits of the run's name: the prefix of its client ids."""
    return "cf" + hashlib.sha256(run.encode()).hexdigest()[:6]


def client_order_id(run: str, symbol: str, second: int, seq: int) -> str:
    """The id of the seq-th order the run decides for symbol at second (deterministic)."""
    if not 0 <= seq < 100:
        raise ValueError(f"order sequence {seq} out of 0..99")
    if not 0 <= second < 10**10:
        raise ValueError(f"decision second {second} out of range")
    return f"{run_tag(run)}{hashlib.sha256(symbol.encode()).hexdigest()[:4]}{second:010d}{seq:02d}"


@dataclass(frozen=True, slots=True)
class OrderIntent:
    """An order the account decided (or a cancel of one), for the gateway to carry out."""

    run: str
    client_id: str
    symbol: str  # cobflow's name (BTC-USDT)
    venue: str
    market: str  # the venue client's name of the market (ccxt's unified symbol: BTC/USDT)
    action: str  # place | cancel
    side: str = ""  # buy | sell
    type: str = "market"  # market | limit
    qty: float = 0.0
    price: float | None = None
    post_only: bool = False
    tif: str = "GTC"  # GTC | IOC (limit orders)
    reduce_only: bool = False  # a perpetual's order that may only shrink the position (the kill switch's)
    decided_s: int = 0  # the market second of the decision
    decided_ns: int = 0  # wall clock when the account decided it (latency)
    reason: str = ""  # the decision's reason, or why it is cancelled (halt, stop...)

    def problem(self) -> str | None:
        if self.action not in ("place", "cancel"):
            return f"action {self.action!r} is not place or cancel"
        if self.action == "cancel":
            return None
        if self.side not in ("buy", "sell"):
            return f"side {self.side!r} is not buy or sell"
        if self.type not in ("market", "limit"):
            return f"type {self.type!r} is not market or limit"
        if not self.qty > 0:
            return f"quantity {self.qty!r} is not > 0"
        if self.type == "limit" and not (self.price is not None and self.price > 0):
            return f"a limit order needs a price > 0, got {self.price!r}"
        if self.tif not in ("GTC", "IOC"):
            return f"time in force {self.tif!r} is not GTC or IOC"
        return None


@dataclass(frozen=True, slots=True)
class ExecutionReport:
    """What the venue says of an order: its state, cumulative fill, fees, and when.
    `filled`, `notional` and `fee` are cumulative: a fill is the difference between two reports."""

    run: str
    client_id: str
    symbol: str
    venue: str
    status: str
    side: str
    type: str
    qty: float
    price: float | None
    filled: float = 0.0
    notional: float = 0.0  # quote value of the filled quantity (avg price = notional / filled)
    fee: float = 0.0  # in the quote currency
    venue_order_id: str | None = None
    reason: str = ""
    decided_s: int = 0
    decided_ns: int = 0
    sent_ns: int | None = None
    acked_ns: int | None = None  # the venue's first answer
    ts_ns: int = 0  # when the gateway learned this
    fee_assets: dict[str, float] = field(default_factory=dict)  # the fees as charged, per asset (cumulative)

    @property
    def avg_price(self) -> float | None:
        return self.notional / self.filled if self.filled > 0 else None


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """One difference between what the gateway had and what the venue says (the venue wins)."""

    run: str
    venue: str
    ts_ns: int
    what: str  # order | balance
    key: str  # the client id or the asset
    ours: str
    venue_says: str
    action: str


@dataclass(frozen=True, slots=True)
class Balance:
    """A venue's balance of one asset (free + locked) at a reconciliation."""

    run: str
    venue: str
    ts_ns: int
    asset: str
    total: float


@dataclass(frozen=True, slots=True)
class GatewayEvent:
    """A kill-switch action or a refusal of the gateway's own (a risk_events row)."""

    run: str
    venue: str
    symbol: str
    ts_ns: int
    rule: str  # halted | flatten | gateway
    action: str
    detail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


Record = OrderIntent | ExecutionReport | Reconciliation | Balance | GatewayEvent
_KINDS: dict[str, type] = {c.__name__: c for c in (OrderIntent, ExecutionReport, Reconciliation, Balance,
                                                    GatewayEvent)}


def dumps(record: Record) -> bytes:
    """A record as a Kafka value: JSON tagged with its kind."""
    return orjson.dumps({"kind": type(record).__name__, **asdict(record)})


def loads(data: bytes) -> Record:
    """The record of a Kafka value; a ValueError says what is wrong (a dead letter's reason)."""
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError as e:
        raise ValueError(f"not JSON: {e}") from None
    if not isinstance(obj, dict) or obj.get("kind") not in _KINDS:
        raise ValueError("not a tagged order record (kind: OrderIntent, ExecutionReport, ...)")
    cls = _KINDS[obj.pop("kind")]
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(obj) - names)
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown field(s) {', '.join(unknown)}")
    try:
        return cls(**obj)
    except TypeError as e:
        raise ValueError(f"{cls.__name__}: {e}") from None
