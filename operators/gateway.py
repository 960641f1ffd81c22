"""The gateway's logic: carry out order intents at the venues and say what happened, without
ever placing an order twice. A plain object (the `cobflow trade` process drives it between
its Kafka input and output); clients, clock and sleep are given, so tests drive it against a
local imitation of a venue and faults happen on cue.

The rules (after Nautilus' order state machine and reconciliation, freqtrade's never-retried
`create_order`, hummingbot's lost-order tracking):
- An intent whose client id the ledger knows is done already: nothing is sent.
- When recovering (intents read again after a crash) an unknown client id is first queried
  at the venue; only a "no such order" answer lets it be placed.
- A placement is never repeated after an uncertain outcome (a timeout, a 5xx): the order is
  `unknown` and queried by its client id, at once and then at each poll (every second) until
  the venue answers; `max_misses` "no such order" answers in a row make it `rejected` (it
  never reached the venue). The orders behind it are not held up. A 429 is repeated
  after its Retry-After (the venue did nothing), at most `max_rate_waits` times.
- A duplicate client id means the venue has it: the order is queried and adopted.
- Reconciliation: the venue is the truth. Every order the ledger holds open is queried; every
  open order of the run at the venue that the ledger lacks is adopted; balances are compared
  with the ledger's expectation (the balances at start plus every fill and fee since). Each
  difference is a `Reconciliation` record.
- Halt: every open order of the run on every venue is cancelled; with `flatten`, each
  symbol's net position from the run's fills is closed with a market order.
"""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent import futures
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Protocol, TypeVar

from cobflow.connectors.trading.client import (
    Duplicate,
    NotFound,
    RateLimited,
    Rejected,
    Uncertain,
    VenueOrder,
    VenueProblem,
)
from cobflow.execution.live import (
    OPEN,
    TERMINAL,
    Balance,
    ExecutionReport,
    GatewayEvent,
    OrderIntent,
    Reconciliation,
    client_order_id,
    run_tag,
    transition,
)

log = logging.getLogger("cobflow.gateway")
T = TypeVar("T")
Record = ExecutionReport | Reconciliation | Balance | GatewayEvent


class OrderClient(Protocol):
    venue: str

    def place(self, intent: OrderIntent) -> VenueOrder: ...
    def validate(self, intent: OrderIntent) -> None: ...
    def query(self, market: str, client_id: str) -> VenueOrder: ...
    def cancel(self, market: str, client_id: str) -> VenueOrder: ...
    def open_orders(self, market: str) -> list[VenueOrder]: ...
    def balances(self) -> dict[str, float]: ...
    def fees_of(self, market: str, venue_order_id: str) -> tuple[float, dict[str, float]]: ...
    def base_quote(self, market: str) -> tuple[str, str]: ...
    def is_contract(self, market: str) -> bool: ...
    def position(self, market: str) -> float: ...


@dataclass
class LiveOrder:
    intent: OrderIntent
    status: str = "new"
    filled: float = 0.0
    notional: float = 0.0
    fee: float = 0.0
    fees: dict[str, float] | None = field(default_factory=dict)  # per asset; None: not read yet
    venue_order_id: str | None = None
    sent_ns: int | None = None
    acked_ns: int | None = None
    misses: int = 0
    reason: str = ""


class Gateway:
    def __init__(self, run: str, mode: str, clients: Mapping[str, OrderClient],
                 markets: Mapping[tuple[str, str], str], clock: Callable[[], int] = time.time_ns,
                 sleep: Callable[[float], None] = time.sleep, max_misses: int = 3, max_rate_waits: int = 30,
                 senders: Mapping[str, list[OrderClient]] | None = None, max_age_s: float | None = None) -> None:
        if mode not in ("shadow", "live"):
            raise ValueError(f"the gateway runs in shadow or live mode, not {mode!r}")
        self.run, self.mode, self.clients = run, mode, clients
        self.markets = dict(markets)  # (venue, market) -> cobflow symbol
        self.clock, self.sleep = clock, sleep
        self.max_misses, self.max_rate_waits = max_misses, max_rate_waits
        self.orders: dict[str, LiveOrder] = {}
        # live: an intent decided longer ago than this (market second against the wall clock) is
        # not placed: a flow replaying old market data must not trade it at today's prices
        self.max_age_s = max_age_s
        self.balances: dict[str, dict[str, float]] = {}  # venue -> asset -> what the ledger expects
        self.perps: dict[tuple[str, str], tuple[float, float]] = {}  # (venue, perpetual) -> (position, avg entry)
        # senders (cobflow trade): each venue's placements on clients of their own, in threads, so a
        # hung request holds up only its own order; the state stays in the calling thread
        self.senders: dict[str, queue.Queue[OrderClient]] = {}
        for venue, cs in (senders or {}).items():
            self.senders[venue] = queue.Queue()
            for c in cs:
                self.senders[venue].put(c)
        n = sum(len(cs) for cs in (senders or {}).values())
        self.pool = futures.ThreadPoolExecutor(n, thread_name_prefix="cobflow-sender") if n else None
        self.inflight: dict[str, futures.Future[tuple[VenueOrder, int]]] = {}
        self.tag = run_tag(run)

    # --- state across restarts: the last report of each order ------------------------------
    def restore(self, reports: Iterable[ExecutionReport]) -> None:
        """Rebuild the ledger from the reports already written (the gateway's recovery)."""
        for r in reports:
            intent = OrderIntent(run=r.run, client_id=r.client_id, symbol=r.symbol, venue=r.venue,
                                 market=self._market(r.venue, r.symbol), action="place", side=r.side, type=r.type,
                                 qty=r.qty, price=r.price, decided_s=r.decided_s, decided_ns=r.decided_ns)
            fees = dict(r.fee_assets) if r.fee_assets or r.filled == 0 else None  # None: read again
            self.orders[r.client_id] = LiveOrder(intent, r.status, r.filled, r.notional, r.fee, fees,
                                                 r.venue_order_id, r.sent_ns, r.acked_ns, reason=r.reason)
        for o in sorted(self.orders.values(), key=lambda o: o.intent.decided_ns):  # perpetuals' entries again
            i = o.intent
            if o.filled > 0 and i.venue in self.clients and self.clients[i.venue].is_contract(i.market):
                self._perp_fill((i.venue, i.market), o.filled if i.side == "buy" else -o.filled, o.notional / o.filled)

    def _market(self, venue: str, symbol: str) -> str:
        for (v, market), sym in self.markets.items():
            if v == venue and sym == symbol:
                return market
        return symbol

    # --- intents ---------------------------------------------------------------------------
    def submit(self, intent: OrderIntent, recovering: bool = False) -> list[Record]:
        problem = intent.problem()
        if problem is None and intent.venue not in self.clients:
            problem = f"no order client for venue {intent.venue}"
        if intent.action == "cancel":
            return self._cancel_intent(intent, problem)
        if intent.client_id in self.orders:
            return []  # carried out already (an intent read again)
        o = LiveOrder(intent)
        self.orders[intent.client_id] = o
        stale = None
        if self.mode == "live" and self.max_age_s is not None:
            age = self.clock() / 1e9 - intent.decided_s
            if age > self.max_age_s:
                stale = (f"stale decision: second {intent.decided_s} is {age:.0f} s old (more than "
                         f"trading.max_decision_age_s {self.max_age_s:g}): not placed")
        if problem is None and stale is not None and not recovering:
            problem = stale
        if problem is not None:
            return [self._set(o, "rejected", reason=problem)]
        client = self.clients[intent.venue]
        if self.mode == "shadow":
            return [self._shadow(o, client)]
        if recovering:
            try:
                found = self._with_rate(lambda: client.query(intent.market, intent.client_id))
            except NotFound:
                found = None
            except Uncertain as e:
                return [self._set(o, "unknown", reason=f"recovering, query failed: {e}")]
            if found is not None:
                log.info("%s: found at %s after a restart, not sent again", intent.client_id, intent.venue)
                return self._adopt(o, found, client)
            if stale is not None:
                return [self._set(o, "rejected", reason=stale)]
        return self._place(o, client)

    def _shadow(self, o: LiveOrder, client: OrderClient) -> ExecutionReport:
        try:
            self._with_rate(lambda: client.validate(o.intent))
        except (Rejected, Duplicate) as e:
            return self._set(o, "rejected", reason=str(e))
        except (Uncertain, NotFound) as e:
            return self._set(o, "rejected", reason=f"not validated: {e}")
        return self._set(o, "shadow", reason="validated, not placed (shadow mode)")

    def _with_rate(self, call: Callable[[], T]) -> T:
        for _ in range(self.max_rate_waits):
            try:
                return call()
            except RateLimited as e:
                log.warning("rate limited: waiting %.1f s (%s)", e.retry_after_s, e)
                self.sleep(e.retry_after_s)
        return call()

    def _place(self, o: LiveOrder, client: OrderClient) -> list[Record]:
        o.sent_ns = self.clock()
        venue = o.intent.venue
        if self.pool is not None and venue in self.senders:
            # one of the venue's senders carries it: the orders behind it do not wait for its answer
            self.inflight[o.intent.client_id] = self.pool.submit(self._send, venue, o.intent)
            return [self._set(o, "unknown", reason="sent: waiting for the venue's answer")]
        try:
            got = self._with_rate(lambda: client.place(o.intent))
        except VenueProblem as e:
            return self._outcome(o, client, None, e)
        return self._outcome(o, client, got, None)

    def _send(self, venue: str, intent: OrderIntent) -> tuple[VenueOrder, int]:
        """A sender thread's work: the placement on a client of its own (429s waited out), and
        when the venue answered."""
        free = self.senders[venue]
        client = free.get()
        try:
            got = self._with_rate(lambda: client.place(intent))
            return got, self.clock()
        finally:
            free.put(client)

    def _outcome(self, o: LiveOrder, client: OrderClient, got: VenueOrder | None,
                 exc: VenueProblem | None, answered_ns: int | None = None) -> list[Record]:
        """What a placement's answer (or its failure) makes of the order."""
        if isinstance(exc, RateLimited):
            return [self._set(o, "rejected", reason=f"rate limited {self.max_rate_waits} times: {exc}")]
        if isinstance(exc, Rejected):
            o.acked_ns = self.clock()
            return [self._set(o, "rejected", reason=str(exc))]
        if isinstance(exc, Duplicate):
            log.info("%s: the venue has this client id already; querying it", o.intent.client_id)
            return [*self._set_list(o, "unknown", "duplicate client id: querying"), *self._resolve(o, client)]
        if exc is not None:  # Uncertain, NotFound: it may have happened
            log.warning("%s: no clear answer from %s (%s): querying by client id", o.intent.client_id,
                        o.intent.venue, exc)
            return [self._set(o, "unknown", reason=str(exc)), *self._resolve(o, client)]
        assert got is not None
        o.acked_ns = answered_ns or self.clock()
        if not got.complete:  # an acknowledgement only: the venue's state comes from a query
            o.venue_order_id = got.venue_order_id
            return [self._set(o, "open"), *self._requery(o, client)]
        return self._adopt(o, got, client)

    def collect(self, wait_s: float = 0.0) -> list[Record]:
        """The answers of the placements the senders finished (waiting up to wait_s for all)."""
        if not self.inflight:
            return []
        if wait_s > 0:
            futures.wait(list(self.inflight.values()), timeout=wait_s)
        out: list[Record] = []
        for cid, fut in list(self.inflight.items()):
            if not fut.done():
                continue
            del self.inflight[cid]
            o = self.orders[cid]
            try:
                got, answered_ns = fut.result()
            except VenueProblem as e:
                out += self._outcome(o, self.clients[o.intent.venue], None, e)
                continue
            out += self._outcome(o, self.clients[o.intent.venue], got, None, answered_ns)
        return out

    def _resolve(self, o: LiveOrder, client: OrderClient) -> list[Record]:
        """Ask the venue about an unknown order once (poll() asks again each second, so a slow
        venue never holds up the orders behind it): its state when the venue has it; after
        `max_misses` "no such order" answers in a row it never reached the venue: rejected."""
        if o.status != "unknown":
            return []
        try:
            got = self._with_rate(lambda: client.query(o.intent.market, o.intent.client_id))
        except NotFound:
            o.misses += 1
            if o.misses >= self.max_misses:
                return [self._set(o, "rejected", reason=f"not at {o.intent.venue} after {o.misses} queries: "
                                                        "never placed")]
            return []
        except (Uncertain, Rejected):
            return []  # still unknown: asked again at the next poll
        if o.acked_ns is None:
            o.acked_ns = self.clock()
        return self._adopt(o, got, client)

    def _adopt(self, o: LiveOrder, got: VenueOrder, client: OrderClient) -> list[Record]:
        """Take the venue's word for the order; a report when anything changed."""
        if got.filled > o.filled and got.fee is None and got.venue_order_id is not None:
            try:
                fee, fees = self._with_rate(partial(client.fees_of, o.intent.market, got.venue_order_id))
            except (Uncertain, NotFound, Rejected):
                fee, fees = o.fee, None  # read again at the next poll
            got = replace(got, fee=fee, fees=fees)
        changed = (got.status != o.status or got.filled != o.filled or (got.fee is not None and got.fee != o.fee))
        self._account(o, got)
        o.venue_order_id = got.venue_order_id or o.venue_order_id
        if got.fee is not None:
            o.fee = got.fee
        if got.fees is not None:
            o.fees = got.fees
        o.filled, o.notional = got.filled, got.notional
        return [self._set(o, got.status)] if changed else []

    def _account(self, o: LiveOrder, got: VenueOrder) -> None:
        """The ledger's expected balances move with the fill: on a spot market the base and the
        quote; on a perpetual the quote by the realized PnL (average-cost); the fees as charged."""
        client = self.clients[o.intent.venue]
        base, quote = client.base_quote(o.intent.market)
        sign = 1.0 if o.intent.side == "buy" else -1.0
        dq, dn = got.filled - o.filled, got.notional - o.notional
        realized = self._perp_fill((o.intent.venue, o.intent.market), sign * dq, dn / dq) \
            if dq > 0 and client.is_contract(o.intent.market) else None
        book = self.balances.get(o.intent.venue)
        if book is None:  # not reconciled yet: the first look at the venue starts the ledger
            return
        if realized is not None:
            book[quote] = book.get(quote, 0.0) + realized
        else:
            book[base] = book.get(base, 0.0) + sign * dq
            book[quote] = book.get(quote, 0.0) - sign * dn
        if got.fees is not None:  # fees not read yet are counted when they are
            for asset in set(got.fees) | set(o.fees or {}):
                book[asset] = book.get(asset, 0.0) - (got.fees.get(asset, 0.0) - (o.fees or {}).get(asset, 0.0))

    def _perp_fill(self, key: tuple[str, str], q: float, price: float) -> float:
        """A perpetual's position and average entry after a fill of signed q; the PnL it realized."""
        pos, avg = self.perps.get(key, (0.0, 0.0))
        realized = 0.0
        if pos == 0 or (pos > 0) == (q > 0):
            avg = (abs(pos) * avg + abs(q) * price) / (abs(pos) + abs(q))
            pos += q
        else:
            closed = min(abs(q), abs(pos))
            realized = (price - avg) * closed * (1 if pos > 0 else -1)
            pos += q
            if abs(pos) < 1e-12:
                pos, avg = 0.0, 0.0
            elif (pos > 0) == (q > 0):  # flipped through zero: the rest opens at the fill's price
                avg = price
        self.perps[key] = (pos, avg)
        return realized

    def _cancel_intent(self, intent: OrderIntent, problem: str | None) -> list[Record]:
        o = self.orders.get(intent.client_id)
        if o is None or problem is not None:
            why = problem or f"no order {intent.client_id} in the ledger"
            return [GatewayEvent(self.run, intent.venue, intent.symbol, self.clock(), "gateway", "cancel refused", why)]
        return self.cancel(o, intent.reason or "cancel")

    def cancel(self, o: LiveOrder, why: str) -> list[Record]:
        if o.status in TERMINAL or self.mode == "shadow":
            return []
        client = self.clients[o.intent.venue]
        try:
            got = self._with_rate(lambda: client.cancel(o.intent.market, o.intent.client_id))
        except (NotFound, Rejected):  # filled or gone meanwhile: the venue says what it is
            return self._requery(o, client)
        except Uncertain:
            return self._requery(o, client)
        assert got is not None
        out = self._adopt(o, got, client) if got.complete else self._requery(o, client)
        if out and o.status == "cancelled":
            out = [replace(r, reason=why) if isinstance(r, ExecutionReport) else r for r in out]
        return out

    def _requery(self, o: LiveOrder, client: OrderClient) -> list[Record]:
        try:
            got = self._with_rate(lambda: client.query(o.intent.market, o.intent.client_id))
        except (NotFound, Uncertain, Rejected):
            return []
        assert got is not None
        return self._adopt(o, got, client)

    # --- the periodic work -----------------------------------------------------------------
    def poll(self) -> list[Record]:
        """Ask the venue about every order not final yet (unknown ones first)."""
        out: list[Record] = self.collect()
        for o in sorted(self.orders.values(), key=lambda o: o.status != "unknown"):
            if o.status in TERMINAL or o.intent.client_id in self.inflight:  # its sender has not answered yet
                continue
            client = self.clients.get(o.intent.venue)
            if client is None:
                continue
            if o.status == "unknown":
                out += self._resolve(o, client)
            else:
                out += self._requery(o, client)
        return out

    def reconcile(self, balances: bool = True) -> list[Record]:
        """Compare with each venue (it wins): open orders both ways, then balances (the first
        look at them starts the ledger's: after a restart, once the intents read again are
        carried out, so their fills are not counted twice)."""
        out: list[Record] = []
        now = self.clock()
        for venue, client in self.clients.items():
            markets = sorted(m for (v, m) in self.markets if v == venue)
            theirs: dict[str, tuple[str, VenueOrder]] = {}  # client id -> (market, the venue's order)
            try:
                for m in markets:
                    theirs.update({v.client_id: (m, v) for v in self._with_rate(partial(client.open_orders, m))
                                   if v.client_id.startswith(self.tag)})
            except (Uncertain, Rejected, NotFound, RateLimited) as e:
                log.warning("reconciliation with %s skipped: %s", venue, e)
                continue
            for cid, o in self.orders.items():
                if o.intent.venue != venue or o.status in TERMINAL or cid in theirs:
                    continue
                before = o.status
                out += self._requery(o, client)
                out.append(Reconciliation(self.run, venue, now, "order", cid, before,
                                          f"not open ({o.status})", f"set to {o.status}"))
            for cid, (m, v) in theirs.items():
                known = self.orders.get(cid)
                if known is not None and known.status == v.status and known.filled == v.filled:
                    continue
                if known is None:
                    known = self.orders[cid] = LiveOrder(OrderIntent(
                        run=self.run, client_id=cid, symbol=self.markets[(venue, m)], venue=venue, market=m,
                        action="place", side=v.side, type=v.type or "limit", qty=v.qty, price=v.price),
                        status="unknown", reason="found open at the venue")
                    ours = "none"
                else:
                    ours = f"{known.status} filled {known.filled:g}"
                out += self._adopt(known, v, client)
                out.append(Reconciliation(self.run, venue, now, "order", cid, ours,
                                          f"{v.status} filled {v.filled:g}", "adopted the venue's state"))
            out += self._positions(venue, client, markets, now)
            if balances:
                out += self._balances(venue, client, now)
        for r in out:
            if isinstance(r, Reconciliation):
                log.warning("reconciliation %s %s %s: we had %s, the venue says %s; %s",
                            r.venue, r.what, r.key, r.ours, r.venue_says, r.action)
        return out

    def _positions(self, venue: str, client: OrderClient, markets: list[str], now: int) -> list[Record]:
        """A perpetual's position at the venue against the run's (its orders' fills)."""
        out: list[Record] = []
        ours = self.positions()
        for m in markets:
            if not client.is_contract(m):
                continue
            try:
                theirs = self._with_rate(partial(client.position, m))
            except (Uncertain, Rejected, NotFound, RateLimited) as e:
                log.warning("position of %s on %s not read: %s", m, venue, e)
                continue
            mine = ours.get((venue, self.markets[(venue, m)]), 0.0)
            if abs(mine - theirs) > 1e-9 * max(1.0, abs(theirs)):
                out.append(Reconciliation(self.run, venue, now, "position", m, f"{mine:.10g}", f"{theirs:.10g}",
                                          "reported: the venue holds another position than the run's fills make"))
        return out

    def _balances(self, venue: str, client: OrderClient, now: int) -> list[Record]:
        try:
            theirs = self._with_rate(client.balances)
        except (Uncertain, Rejected, NotFound, RateLimited) as e:
            log.warning("balances of %s not read: %s", venue, e)
            return []
        assert isinstance(theirs, dict)
        ours = self.balances.get(venue)
        self.balances[venue] = dict(theirs)
        out: list[Record] = [Balance(self.run, venue, now, a, v) for a, v in sorted(theirs.items())]
        if ours is None:  # the first look: the venue's balances are where the ledger starts
            log.info("%s balances: %s", venue, ", ".join(f"{a} {v:.10g}" for a, v in sorted(theirs.items())))
            return out
        for asset in sorted(set(ours) | set(theirs)):
            a, b = ours.get(asset, 0.0), theirs.get(asset, 0.0)
            if abs(a - b) > 1e-9 * max(1.0, abs(a), abs(b)):
                out.append(Reconciliation(self.run, venue, now, "balance", asset, f"{a:.10g}", f"{b:.10g}",
                                          "took the venue's balance"))
        return out

    def positions(self) -> dict[tuple[str, str], float]:
        """The run's position per (venue, symbol): its orders' net filled quantity, less the
        fees the venue took in the base asset (on a spot account a buy's fee is paid in what
        was bought: that much is not held)."""
        out: dict[tuple[str, str], float] = {}
        for o in self.orders.values():
            if o.filled:
                k = (o.intent.venue, o.intent.symbol)
                base = self.clients[o.intent.venue].base_quote(o.intent.market)[0] if o.fees else ""
                paid = (o.fees or {}).get(base, 0.0)
                out[k] = out.get(k, 0.0) + (o.filled if o.intent.side == "buy" else -o.filled) - paid
        return out

    def _owed(self) -> dict[tuple[str, str], float]:
        """The signed quantity of the run's market orders not final yet, per (venue, symbol)."""
        out: dict[tuple[str, str], float] = {}
        for o in self.orders.values():
            if o.status not in TERMINAL and o.intent.type == "market":
                k = (o.intent.venue, o.intent.symbol)
                left = o.intent.qty - o.filled
                out[k] = out.get(k, 0.0) + (left if o.intent.side == "buy" else -left)
        return out

    def halt(self, flatten: bool = False, why: str = "operator") -> list[Record]:
        """The kill switch: cancel every open order of the run on every venue (the ledger's and
        any the venue shows with the run's prefix); with flatten, close every position. The
        placements on their way are waited for first: an order that lands after its cancel
        would rest."""
        out: list[Record] = self.collect(wait_s=60.0)
        for venue, client in self.clients.items():
            for m in sorted(m for (v, m) in self.markets if v == venue):
                try:
                    theirs = self._with_rate(partial(client.open_orders, m))
                except (Uncertain, Rejected, NotFound, RateLimited) as e:
                    out.append(GatewayEvent(self.run, venue, self.markets[(venue, m)], self.clock(), "halted",
                                            "open orders not read", str(e)))
                    theirs = []
                for v in theirs:
                    if v.client_id.startswith(self.tag) and v.client_id not in self.orders:
                        self.orders[v.client_id] = LiveOrder(OrderIntent(
                            run=self.run, client_id=v.client_id, symbol=self.markets[(venue, m)], venue=venue,
                            market=m, action="place", side=v.side, type=v.type or "limit", qty=v.qty,
                            price=v.price), status="open", filled=v.filled, notional=v.notional)
        for o in list(self.orders.values()):
            if o.status in OPEN or o.status in ("new", "unknown"):
                reports = self.cancel(o, f"halt: {why}")
                out += reports
                out.append(GatewayEvent(self.run, o.intent.venue, o.intent.symbol, self.clock(), "halted",
                                        "cancel", f"{o.intent.client_id}: {o.status}"))
        if flatten:
            now_s = self.clock() // 1_000_000_000
            owed = self._owed()  # a close already on its way (a second halt) is not sent again
            for (venue, symbol), held in sorted(self.positions().items()):
                qty = held + owed.get((venue, symbol), 0.0)
                if abs(qty) < 1e-12:
                    continue
                market = self._market(venue, symbol)
                seq = 99
                while client_order_id(self.run, symbol, now_s, seq) in self.orders and seq > 90:
                    seq -= 1
                intent = OrderIntent(run=self.run, client_id=client_order_id(self.run, symbol, now_s, seq),
                                     symbol=symbol, venue=venue, market=market, action="place",
                                     side="sell" if qty > 0 else "buy", type="market", qty=abs(qty),
                                     decided_s=now_s, decided_ns=self.clock(), reason=f"flatten: {why}",
                                     reduce_only=self.clients[venue].is_contract(market))
                reports = self.submit(intent)
                out += reports
                out.append(GatewayEvent(self.run, venue, symbol, self.clock(), "flatten",
                                        f"{intent.side} {abs(qty):g} at market",
                                        "; ".join(f"{r.status}" for r in reports if isinstance(r, ExecutionReport))))
        return out

    # --- reports ---------------------------------------------------------------------------
    def _set(self, o: LiveOrder, status: str, reason: str | None = None) -> ExecutionReport:
        o.status = transition(o.status, status)
        if reason is not None:
            o.reason = reason
        i = o.intent
        return ExecutionReport(run=self.run, client_id=i.client_id, symbol=i.symbol, venue=i.venue, status=o.status,
                               side=i.side, type=i.type, qty=i.qty, price=i.price, filled=o.filled,
                               notional=o.notional, fee=o.fee, venue_order_id=o.venue_order_id,
                               reason=o.reason or i.reason, decided_s=i.decided_s, decided_ns=i.decided_ns,
                               sent_ns=o.sent_ns, acked_ns=o.acked_ns, ts_ns=self.clock(),
                               fee_assets=dict(o.fees or {}))

    def _set_list(self, o: LiveOrder, status: str, reason: str) -> list[Record]:
        return [self._set(o, status, reason)]
