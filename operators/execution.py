"""Paper execution: decisions become orders, orders fill against the venue books of the
next second, one account marks its positions and the risk manager watches it (EXECUTION.md).

`ExecutionState` is plain Python. It reads one `StrategySecond` per symbol and second (what
the signals-and-models step saw of it, and the top levels of its synced venue books) and
works through the seconds of every symbol in time order, because the account is one:
equity, drawdown and sizing read every symbol's position. A second is worked once every
symbol has delivered it (file mode: exactly; live mode: a symbol silent for `wait_s` of
data time is not waited for). Each second T, in this order:

1. orders created at T (decided at T-1) walk the books of T (`cobflow.execution.fills`);
2. every position is marked at its mid (the last known one), one `equity` row, a
   `positions` row per symbol with a position or a fill;
3. rules 7 and 8 on the account (close everything, halt), rule 6 per symbol (a stop exit);
4. each symbol's strategy (`cobflow.strategy`) is asked for its call on T, with its
   position and the account; the calls are sized and pass rules 1-5
   (`cobflow.execution.risk`); what passes is created at T+1. The `decisions` row is
   written here, with the risk rule that refused it as its reason. A strategy that raises
   costs its symbol-second a HOLD (`strategy_error`) and a dead letter.

What it makes are records of its run (`cobflow.records`: DecisionRecord, OrderRecord,
FillRecord, PositionRecord, EquityRecord, RiskEventRecord), each a row of its table once the
sinks write it. The operator runs under one key per run (one account each) on one worker;
its records do not depend on how the symbols' seconds interleave, so both modes and any
number of workers give the same.
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import bytewax.operators as op
from bytewax.dataflow import Stream, operator
from bytewax.operators import StatefulBatchLogic

from cobflow.config import SymbolsConfig, TradingSettings
from cobflow.execution.account import Account
from cobflow.execution.control import COMMANDS_FILE, read_commands, write_status
from cobflow.execution.fills import (
    BookTops,
    BookWalk,
    FeeModel,
    FillModel,
    LatencyModel,
    NextSecond,
    Slice,
    TakerFee,
    VenueLevels,
)
from cobflow.execution.live import TERMINAL as TERMINAL_LIVE
from cobflow.execution.live import ExecutionReport, OrderIntent, client_order_id, live_route
from cobflow.execution.metrics import HOLD_RUN
from cobflow.execution.orders import (
    QUEUE_MODELS,
    Cancel,
    Limit,
    Market,
    OrderRequest,
    OrderView,
    QueueModel,
    RiskAverse,
    Stop,
    WorkingOrder,
    best_venue,
    crosses,
    crossing_levels,
    off_tick,
    request_problem,
    resting_fill,
    size_at,
    to_tick,
)
from cobflow.execution.risk import (
    ACCOUNT_RULES,
    DAY_S,
    AccountClose,
    OrderCheck,
    RiskEvent,
    RiskLimits,
    RiskRule,
    StopLoss,
    apply_rules,
    drawdown,
    pre_trade_rules,
    reducing_part,
    target_qty,
)
from cobflow.operators.state import snapshot, unstamp
from cobflow.operators.strategies import Run, risk_rules
from cobflow.records import (
    DecisionRecord,
    EquityRecord,
    FillRecord,
    OrderRecord,
    PositionRecord,
    RiskEventRecord,
    Seconds,
)
from cobflow.strategy import AccountView, Context, Intent, Strategy, StrategySecond, strategy_dead_letter

NS = 1_000_000_000
Made = DecisionRecord | OrderRecord | FillRecord | PositionRecord | EquityRecord | RiskEventRecord | OrderIntent
REQUESTS = (Market, Limit, Stop)
KEY = "account"
ACCOUNT = "account"  # the symbol tag of the account's own risk events


@dataclass(frozen=True)
class ExecutionOptions:
    mode: str
    initial_cash: float
    limits: RiskLimits
    min_order_notional: float
    shorting: dict[str, bool]
    route: dict[str, str]
    fee_bps: dict[str, float]  # venue -> taker fee
    wait_s: int | None = None  # live: seconds of data time a silent symbol is waited for
    trade_from: int | None = None  # epoch second: before it the account does not exist yet
    trade_until: int | None = None  # epoch second: from it on, decisions only
    run: str = "paper"  # the `run` tag of every row (RUN_TABLES)
    rules: tuple[RiskRule, ...] = ()  # the pre-trade rules in order (empty: rules 1-5 of the limits)
    fill_model: FillModel = field(default_factory=BookWalk)
    fee_model: FeeModel | None = None  # None: the venues' taker fees (fee_bps)
    latency: LatencyModel = field(default_factory=NextSecond)
    baseline: bool = False  # also run the buy-and-hold baseline (rows of run `<run>.buy_and_hold`)
    maker_fee_bps: dict[str, float] = field(default_factory=dict)  # venue -> maker fee (default 2)
    queue: QueueModel = field(default_factory=RiskAverse)  # how resting limit orders move up their queue
    ticks: dict[str, dict[str, float]] = field(default_factory=dict)  # symbol -> venue -> price tick
    venue_orders: bool = False  # shadow/live: every order decided is also an OrderIntent for the gateway
    live_routes: dict[str, tuple[str, str]] = field(default_factory=dict)  # symbol -> (venue, market) of its intents
    live_fills: bool = False  # live: the venues' reports fill the orders sent, nothing is simulated for them

    def __post_init__(self) -> None:
        if self.fee_model is None:
            object.__setattr__(self, "fee_model", TakerFee(self.fee_bps, maker_bps=self.maker_fee_bps))

    @staticmethod
    def of(trading: TradingSettings, symbols: SymbolsConfig, wait_s: int | None = None) -> ExecutionOptions:
        t = trading
        limits = RiskLimits.of(t)
        return ExecutionOptions(
            t.mode, t.initial_cash, limits, t.min_order_notional,
            {s: spec.trading.shorting for s, spec in symbols.symbols.items()},
            {s: spec.trading.route for s, spec in symbols.symbols.items()},
            {v: symbols.fee_bps(v) for v in symbols.venues()}, wait_s, t.trade_from_s,
            t.trade_until_s, t.run_id, pre_trade_rules(limits, risk_rules(t.risk_rules, limits)),
            baseline=t.baseline, maker_fee_bps={v: symbols.maker_bps(v) for v in symbols.venues()},
            queue=QUEUE_MODELS[t.queue_model](),
            ticks={s: dict(spec.trading.tick_size) for s, spec in symbols.symbols.items() if spec.trading.tick_size},
            venue_orders=t.venue_orders(), live_fills=t.mode == "live",
            live_routes={s: live_route(s, dict(spec.venues), spec.trading.route, t.live_venue, spec.trading.instrument)
                         for s, spec in symbols.symbols.items()})


def _number(v: object) -> float | None:
    """A strategy's number as a row may hold it: a finite float, else None (a refused order's
    NaN or text never reaches a sink)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return None
    return float(v)


def fill_record(s: int, symbol: str, venue: str, run: str, side: str, qty: float, price: float, fee: float,
                rate: float | None, order_id: str, decision_s: int, slice_no: int, liquidity: str = "taker",
                wait_s: float | None = None) -> FillRecord:
    """One fill (a slice of a walk, or a resting order's fill of a second)."""
    return FillRecord(run, symbol, venue, s, side, qty, price, fee, rate, order_id, decision_s, slice_no, liquidity,
                      wait_s)


@dataclass
class Track:
    """Live mode: an order at a venue as its reports said so far (cumulative)."""

    order_id: str
    symbol: str
    side: str
    qty: float
    decision_s: int
    reason: str
    route: str
    working: bool  # a strategy's order (in `working`), else a market order of the target or a rule
    filled: float = 0.0
    notional: float = 0.0
    fee: float = 0.0
    slices: int = 0

    def remaining(self) -> float:
        return (self.qty - self.filled) * (1 if self.side == "buy" else -1)


@dataclass
class Order:
    order_id: str
    symbol: str
    decision_s: int  # created and filled at decision_s + 1
    qty: float  # signed
    reason: str  # decision, stop_loss, max_drawdown_pct, daily_loss_pct
    route: str


@dataclass
class ExecutionState:
    symbols: list[str]
    options: ExecutionOptions
    strategies: dict[str, Strategy] = field(default_factory=dict)  # symbol -> its strategy of this run
    min_quality: dict[str, float] = field(default_factory=dict)  # symbol -> features.min_quality
    label: str = "strategy"  # the decisions' source tag where a strategy names none
    account: Account = field(init=False)
    queues: dict[str, deque] = field(init=False)
    seen: dict[str, int] = field(default_factory=dict)  # the newest second of each symbol
    done: int | None = None  # the last second worked
    pending: dict[str, Order] = field(default_factory=dict)
    recent: dict[str, deque] = field(default_factory=dict)  # decision seconds of the orders sent
    peak: float = 0.0
    day: int | None = None
    day_start: float = 0.0
    last_equity: float = 0.0
    halted: str | None = None  # the rule (or "operator") that halted trading
    halted_until: int | None = None  # daily_loss_pct: the next UTC day's first second
    commands: deque = field(default_factory=deque)  # operator commands waiting for a second
    commands_applied: int = 0
    dead: list = field(default_factory=list)  # dead letters of strategies that raised, not yet sent
    hold_decided: set[str] = field(default_factory=set)  # symbols the buy-and-hold baseline has decided
    hold_orders: dict[str, Order] = field(default_factory=dict)  # its orders waiting for their second
    hold: Account | None = None  # its account (made with the options' baseline)
    hold_peak: float = 0.0
    working: dict[str, WorkingOrder] = field(default_factory=dict)  # order id -> a strategy's limit/stop/market order
    touched: dict[str, WorkingOrder] = field(default_factory=dict)  # orders whose state changed this second
    last_trade: dict[tuple[str, str], float] = field(default_factory=dict)  # (symbol, venue) -> last trade price
    sent: dict[str, str] = field(default_factory=dict)  # order id -> the client id of its venue order
    tracks: dict[str, Track] = field(default_factory=dict)  # live: client id -> its order at the venue
    reports_in: list = field(default_factory=list)  # live: the venues' reports not applied yet
    cancels_sent: set[str] = field(default_factory=set)  # order ids whose venue order was asked to cancel

    def __post_init__(self) -> None:
        self.account = Account(self.options.initial_cash)
        self.hold = Account(self.options.initial_cash) if self.options.baseline else None
        self.hold_peak = self.options.initial_cash
        self.queues = {s: deque() for s in self.symbols}
        self.peak = self.day_start = self.last_equity = self.options.initial_cash

    # -- input -----------------------------------------------------------------------
    def add(self, items: list[StrategySecond]) -> Seconds[Made]:
        """Seconds of any symbols (each symbol's in time order) -> the records of every second
        they make workable, each of the run (and the dead letters of strategies)."""
        return self._tagged(self._add(items))

    def flush(self) -> Seconds[Made]:
        """The end of the input: every second still queued."""
        if self.options.mode == "off":
            return Seconds()
        return self._tagged(self._work(None))  # no limit

    def _tagged(self, made: list[Made]) -> Seconds[Made]:
        """What the seconds made, with the dead letters of strategies that raised in them."""
        dead, self.dead = self.dead, []
        return Seconds(made, dead)

    def _add(self, items: list[StrategySecond]) -> list[Made]:
        if self.options.mode == "off":
            return [d for it in items if (d := self._decision(it, self.last_equity)) is not None]
        out: list[Made] = []
        for it in items:
            if self.done is not None and it.s <= self.done:  # live mode: after it was not waited for
                out.append(self._event(it.s, it.symbol, RiskEvent("late_second", float(self.done - it.s), 0.0,
                                                                  "skipped", detail="second arrived after the "
                                                                  "account had moved on")))
                decision = self._decision(it, self.last_equity)
                if decision is not None:
                    out.append(self._with_reason(decision, "late_second"))
                continue
            self.queues.setdefault(it.symbol, deque()).append(it)
            self.seen[it.symbol] = it.s
        limit = self._limit()
        if limit is not None:
            out.extend(self._work(limit))
        return out

    def _limit(self) -> int | None:
        """The newest second every symbol waited for has delivered (None: nothing workable)."""
        if not self.seen:
            return None
        if self.options.wait_s is None:
            if len(self.seen) < len(self.queues):
                return None
            return min(self.seen.values())
        newest = max(self.seen.values())
        return min(s for s in self.seen.values() if newest - s <= self.options.wait_s)

    def _work(self, limit: int | None) -> list[Made]:
        """Work every queued second <= limit (None: all), oldest first."""
        out: list[Made] = []
        while True:
            heads = [q[0].s for q in self.queues.values() if q]
            if not heads:
                break
            t = min(heads)
            if limit is not None and t > limit:
                break
            items = {sym: q.popleft() for sym, q in sorted(self.queues.items()) if q and q[0].s == t}
            out.extend(self._second(t, items))
            self.done = t
        return out

    # -- one second --------------------------------------------------------------------
    def _second(self, t: int, items: dict[str, StrategySecond]) -> list[Made]:
        o = self.options
        if (o.trade_from is not None and t < o.trade_from) or (o.trade_until is not None and t >= o.trade_until):
            return [d for it in items.values() if (d := self._decision(it, self.last_equity)) is not None]
        out: list[Made] = []
        out.extend(self._new_day(t))
        out.extend(self._apply_commands(t))
        filled = self._venue_fills(t, out) if o.live_fills else set()  # live: what the venues reported
        filled |= self._fill_due(self.pending, t, items, out)  # 1. the orders of t-1 (or older: a gap)
        filled |= self._work_orders(t, items, out)  # 1b. limit, stop and strategies' market orders
        if o.baseline:
            out.extend(self._buy_and_hold(t, items))
        acct = self.account
        for sym, it in items.items():  # 2. marks
            if it.mid is not None and it.mid > 0:
                acct.mids[sym] = it.mid
        equity = acct.equity()
        self.peak = max(self.peak, equity)
        for sym in sorted(acct.holdings):
            h = acct.holdings[sym]
            if h.position != 0 or sym in filled:
                mid = acct.mids.get(sym)
                out.append(PositionRecord(o.run, sym, t, h.position, h.avg_price if h.position != 0 else None, mid,
                                          h.unrealized(mid), h.realized, h.fees))
        out.extend(self._account_rules(t, equity))  # 3.
        for sym in sorted(items):
            out.extend(self._stop_loss(t, items[sym]))
        for sym in sorted(items):  # 4.
            it = items[sym]
            call = self._call(it, equity)
            if call is not None:
                out.extend(self._decide(t, it, call[0], equity, call[1]))
        if o.venue_orders:
            out.extend(self._intents(t, items))
        out.extend(self._order_rows(t))
        dd = drawdown(self.peak, equity)
        out.append(EquityRecord(o.run, t, equity, acct.cash, acct.gross_exposure(), self.peak, dd,
                                self.halted is not None))
        if self.hold is not None:  # the baseline's equity, marked at the same mids
            self.hold.mids.update(acct.mids)
            held = self.hold.equity()
            self.hold_peak = max(self.hold_peak, held)
            out.append(EquityRecord(o.run + HOLD_RUN, t, held, self.hold.cash, self.hold.gross_exposure(),
                                    self.hold_peak, drawdown(self.hold_peak, held), False))
        self.last_equity = equity
        return out

    def _new_day(self, t: int) -> list[Made]:
        day = t // DAY_S
        if self.day is None:
            self.day = day
            return []
        if day == self.day:
            return []
        self.day, self.day_start = day, self.last_equity
        if self.halted == "daily_loss_pct" and self.halted_until is not None and t >= self.halted_until:
            self.halted, self.halted_until = None, None
            return [self._event(t, ACCOUNT, RiskEvent("daily_loss_pct", 0.0, 0.0, "resumed",
                                                      detail="a new UTC day"))]
        return []

    def _apply_commands(self, t: int) -> list[Made]:
        out: list[Made] = []
        while self.commands:
            cmd = self.commands.popleft()
            if cmd == "halt":
                self.halted, self.halted_until = "operator", None
                out.append(self._event(t, ACCOUNT, RiskEvent("halted", 1.0, 0.0, "halted", detail="operator halt")))
                out.extend(self._cancel_all(t, "halted"))
            elif cmd == "resume":
                was = self.halted
                self.halted, self.halted_until = None, None
                self.peak = self.last_equity  # a resumed drawdown is measured from here
                out.append(self._event(t, ACCOUNT, RiskEvent("halted", 0.0, 0.0, "resumed",
                                                             detail=f"operator resume (was {was or 'running'})")))
        return out

    def _buy_and_hold(self, t: int, items: dict[str, StrategySecond]) -> list[Made]:
        """EXECUTION.md's buy-and-hold baseline, beside the account and independent of it and
        of the strategy: at each symbol's first worked second with a mid, BUY of the target
        size at the initial equity, filled by the same fill, fee and latency models, then held
        (its fills, orders and equity are rows of run `<run>.buy_and_hold`)."""
        out: list[Made] = []
        if self.hold is None:  # a state kept from before the baseline was turned on
            self.hold = Account(self.options.initial_cash)
        self._fill_due(self.hold_orders, t, items, out, self.options.run + HOLD_RUN)
        for sym in sorted(items):
            mid = items[sym].mid
            if sym in self.hold_decided or mid is None or mid <= 0:
                continue
            self.hold_decided.add(sym)
            qty = target_qty(self.options.initial_cash, mid, self.options.limits)
            if qty > 0:
                self.hold_orders[sym] = Order(f"{sym}:{t}:buy_and_hold", sym, t, qty, "buy_and_hold",
                                              self.options.route.get(sym, "all"))
        return out

    def _fill_due(self, orders: dict[str, Order], t: int, items: dict[str, StrategySecond], out: list[Made],
                  baseline: str | None = None) -> set[str]:
        """Fill the orders (symbol -> order) whose arrival is t or past (a gap left them
        behind: no books, unfilled), into `out`; the symbols filled."""
        filled: set[str] = set()
        for sym in sorted(orders):
            order = orders[sym]
            arrival = self.options.latency.arrival(order.decision_s)
            if arrival > t:
                continue
            del orders[sym]
            item = items.get(sym) if arrival == t else None
            out.extend(self._fill(order, item.tops if item is not None else None, baseline))
            filled.add(sym)
        return filled

    def _fill(self, order: Order, tops: BookTops | None, baseline: str | None = None) -> list[Made]:
        """The order's slices and its `orders` row; `baseline`: that run's, into the baseline's
        account."""
        t = self.options.latency.arrival(order.decision_s)
        out: list[Made] = []
        books = tops.venues if tops is not None else {}
        rates = tops.rates if tops is not None else {}
        slices = self.options.fill_model.fill(books, order.qty, order.route)
        fee_model = self.options.fee_model
        assert fee_model is not None
        side, s = ("buy", 1) if order.qty > 0 else ("sell", -1)
        filled = notional = fees = 0.0
        run = self.options.run if baseline is None else baseline
        account = self.account if baseline is None else self.hold
        assert account is not None
        for i, sl in enumerate(slices):
            fee = fee_model.fee(sl)
            account.fill(order.symbol, s * sl.qty, sl.price, fee)
            filled += sl.qty
            notional += sl.qty * sl.price
            fees += fee
            out.append(fill_record(t, order.symbol, sl.venue, run, side, sl.qty, sl.price, fee,
                                   rates.get(sl.venue), order.order_id, order.decision_s, i))
        want = abs(order.qty)
        status = "filled" if filled >= want * (1 - 1e-9) else "partial" if filled > 0 else "unfilled"
        out.append(OrderRecord(run, order.symbol, t, order.order_id, order.decision_s, order.reason, order.route, side,
                               want, filled, notional, fees, status))
        return out

    def _close_all(self, t: int, rule: str) -> None:
        for sym in sorted(self.account.holdings):
            pos = self.account.holdings[sym].position + self._in_flight(sym)
            if abs(pos) > 1e-12:
                self.pending[sym] = Order(f"{sym}:{t}:{rule}", sym, t, -pos, rule, self.options.route.get(sym, "all"))

    def _account_rules(self, t: int, equity: float) -> list[Made]:
        """Rules 7 and 8 on equity(t), in order (a halt by 7 leaves 8 nothing to do)."""
        out: list[Made] = []
        for cls in ACCOUNT_RULES:
            rule = cls(self.options.limits)
            event = rule.breach(AccountClose(t, equity, self.peak, self.day_start, self.halted))
            if event is not None:
                self._close_all(t, rule.name)
                self.halted, self.halted_until = rule.name, rule.halted_until(t)
                out.append(self._event(t, ACCOUNT, event))
                out.extend(self._cancel_all(t, rule.name))
        return out

    def _decision(self, it: StrategySecond, equity: float) -> DecisionRecord | None:
        """The symbol's strategy's call on its second, as its `decisions` row (None: the
        second has no features, so no call)."""
        call = self._call(it, equity)
        return None if call is None else call[0]

    def _call(self, it: StrategySecond, equity: float) -> tuple[DecisionRecord, Intent] | None:
        """The symbol's strategy's call on its second: its `decisions` row and the intent
        (None: the second has no features, so no call)."""
        if it.features is None:
            return None
        sym = it.symbol
        strat = self.strategies.get(sym)
        acct = self.account
        intent: Intent | None
        if strat is None:
            intent = Intent("HOLD", 0.0, 0.0, "no_strategy")
        else:
            view = AccountView(equity, acct.cash, self.peak, self.halted is not None,
                               {s: h.position for s, h in acct.holdings.items()})
            o = self.options
            mid = it.mid
            long_target = target_qty(equity, mid, o.limits) if mid is not None and mid > 0 else 0.0
            mine = tuple(OrderView.of(w) for w in self.working.values() if w.symbol == sym and w.open)
            ctx = Context(it, acct.position(sym), view, self.min_quality.get(sym, 0.5), long_target,
                          o.shorting.get(sym, True), mine, o.min_order_notional, o.ticks.get(sym, {}))
            try:
                intent = strat.on_second(ctx)
                problem = None if intent is None else intent.problem() if isinstance(intent, Intent) \
                    else f"returned {type(intent).__name__}, not an Intent or None"
                if problem:
                    raise ValueError(problem)
            except Exception as e:  # a user's plug-in costs its own second, never the flow
                self.dead.append(strategy_dead_letter(self.options.run, type(strat).__name__, it, e))
                intent = Intent("HOLD", 0.0, 0.0, "strategy_error")
        if intent is None:
            intent = Intent("HOLD", 0.0, 0.0, "no_signal")
        heard = ",".join(f"{m.kind}:{m.name}" for m in it.models) or None
        return DecisionRecord(self.options.run, sym, it.s, intent.source or self.label, intent.action,
                              intent.confidence, intent.score, intent.reason, heard), intent

    def _stop_loss(self, t: int, it: StrategySecond) -> list[Made]:
        """Rule 6: a stop exit for an open position whose mid crossed its stop price."""
        sym = it.symbol
        h = self.account.holdings.get(sym)
        if h is None or h.position == 0 or sym in self.pending or it.mid is None or self._in_flight(sym):
            return []
        event = StopLoss(self.options.limits).exit(h.position, h.avg_price, it.mid)
        if event is None:
            return []
        self.pending[sym] = Order(f"{sym}:{t}:stop_loss", sym, t, -h.position, "stop_loss",
                                  self.options.route.get(sym, "all"))
        return [self._event(t, sym, event)]

    def _decide(self, t: int, it: StrategySecond, row: DecisionRecord, equity: float,
                intent: Intent | None = None) -> list[Made]:
        sym = it.symbol
        action = row.action
        pending = self.pending.get(sym)
        if pending is not None and pending.decision_s == t:  # a rule's exit or close this second: cancels only
            orders = intent.orders if intent is not None and intent.orders is not None else ()
            kept: list[Made] = [self._with_reason(row, pending.reason)] if action != "HOLD" or orders else [row]
            for req in orders:
                if isinstance(req, Cancel):
                    kept.extend(self._request(t, it, req, equity))
            return kept
        if intent is not None and intent.orders is not None:  # orders instead of the target
            placed: list[Made] = [row]
            for req in intent.orders:
                placed.extend(self._request(t, it, req, equity))
            return placed
        if action == "HOLD":
            return [row]
        mid = it.mid
        if mid is None or mid <= 0:
            return [self._with_reason(row, "no_mid")]
        target = target_qty(equity, mid, self.options.limits)
        if action == "SELL":
            target = -target if self.options.shorting.get(sym, True) else 0.0
        pos = self.account.position(sym) + self._in_flight(sym)  # live: what the venues still owe counts
        qty = target - pos
        if abs(qty) * mid <= max(self.options.min_order_notional, 1e-9 * max(equity, 1.0)):
            return [self._with_reason(row, "at_target")]
        recent = self.recent.setdefault(sym, deque())
        while recent and recent[0] <= t - 60:
            recent.popleft()
        order = OrderCheck(sym, t, qty, reducing_part(pos, qty), pos, mid, it.quality, self.halted is not None,
                           len(recent), equity, it)
        sent, events = apply_rules(order, self.options.rules or pre_trade_rules(self.options.limits))
        out: list[Made] = [self._event(t, sym, e) for e in events]
        if sent == 0:
            out.append(self._with_reason(row, events[-1].rule))
            return out
        if abs(sent) * mid < self.options.min_order_notional:
            out.append(self._with_reason(row, "min_order_notional"))
            return out
        self.pending[sym] = Order(f"{sym}:{t}:decision", sym, t, sent, "decision", self.options.route.get(sym, "all"))
        recent.append(t)
        out.append(self._with_reason(row, ",".join(e.rule for e in events)) if events else row)
        return out

    # -- orders beyond the market order (EXECUTION.md "Limit, stop and cancel orders") -----------
    def _refuse(self, t: int, sym: str, req: OrderRequest, reason: str, order_id: str | None = None) -> list[Made]:
        """A request that is not sent: a `risk_events` row (rule `order`) naming why, and an
        `orders` row (rejected) for an order."""
        out: list[Made] = [self._event(t, sym, RiskEvent("order", 0.0, 0.0, "refused", detail=reason[:500]))]
        if not isinstance(req, Cancel):
            side = req.side if req.side in ("buy", "sell") else "buy"
            client = req.client_id if isinstance(req.client_id, str) else None
            o = WorkingOrder(order_id or self._order_id(sym, t, client), sym, req.type, side,
                             _number(req.qty) or 0.0, t, client_id=client, status="rejected", note=reason,
                             price=_number(getattr(req, "price", None)),
                             stop_price=_number(getattr(req, "stop_price", None)))
            self.touched[o.order_id] = o
        return out

    def _order_id(self, sym: str, t: int, client_id: str | None) -> str:
        if client_id:
            return f"{sym}:{t}:{client_id}"
        n = sum(1 for k in self.touched if k.startswith(f"{sym}:{t}:o"))
        return f"{sym}:{t}:o{n}"

    def _request(self, t: int, it: StrategySecond, req: OrderRequest, equity: float) -> list[Made]:
        """One order request of a strategy at its decision second t: checked, sized by the
        risk rules (a limit order's full quantity; resting quantity counts as filled), and made
        a working order (created at t+1), or refused with its reason."""
        sym = it.symbol
        problem = request_problem(req)
        if problem:
            return self._refuse(t, sym, req, f"bad_order: {problem}") if isinstance(req, REQUESTS) else \
                [self._event(t, sym, RiskEvent("order", 0.0, 0.0, "refused", detail=f"bad_order: {problem}"[:500]))]
        mine = {w.client_id: w for w in self.working.values() if w.symbol == sym and w.open and w.client_id}
        if isinstance(req, Cancel):
            target = mine.get(req.client_id)
            if target is None:
                return self._refuse(t, sym, req, f"unknown_order: no working order {req.client_id!r} to cancel")
            if target.cancel_at is None:
                target.cancel_at = self.options.latency.arrival(t)
            return []
        if req.client_id and req.client_id in mine:
            return self._refuse(t, sym, req, f"duplicate_client_id: {req.client_id!r} is working",
                                order_id=f"{sym}:{t}:{req.client_id}:dup")
        mid = it.mid
        if mid is None or mid <= 0:
            return self._refuse(t, sym, req, "no_mid")
        o = self.options
        route = o.route.get(sym, "all")
        venue: str | None = None
        books = it.tops.venues if it.tops is not None else {}
        if not isinstance(req, Market):
            venue = route if route != "all" else best_venue(books, req.side)
            if venue is None:
                return self._refuse(t, sym, req, "no_book: no synced venue book to rest the order on")
        if isinstance(req, Limit):
            tick = o.ticks.get(sym, {}).get(venue or "")
            converted = it.tops is not None and venue in it.tops.rates
            if tick is not None and not converted and off_tick(req.price, tick):
                return self._refuse(t, sym, req, f"off_tick: price {req.price!r} is not a multiple of {venue}'s "
                                                 f"tick {tick:g}")
            lv = books.get(venue or "")
            if req.post_only and lv is not None:
                other = lv.ask_prices if req.side == "buy" else lv.bid_prices
                if len(other) and (req.price >= other[0] if req.side == "buy" else req.price <= other[0]):
                    return self._refuse(t, sym, req, f"post_only_would_cross: {req.side} at {req.price!r}, "
                                                     f"{venue}'s best {'ask' if req.side == 'buy' else 'bid'} "
                                                     f"{float(other[0])!r}")
        sign = 1 if req.side == "buy" else -1
        pos = self.account.position(sym)
        resting = sum(w.sign * w.remaining for w in self.working.values()
                      if w.symbol == sym and w.open and w.type == "limit")
        eff = pos + resting  # resting quantity counts toward the position limits as if filled
        qty = sign * float(req.qty)
        recent = self.recent.setdefault(sym, deque())
        while recent and recent[0] <= t - 60:
            recent.popleft()
        check = OrderCheck(sym, t, qty, reducing_part(eff, qty), eff, mid, it.quality, self.halted is not None,
                           len(recent), equity, it)
        sent, events = apply_rules(check, o.rules or pre_trade_rules(o.limits))
        out: list[Made] = [self._event(t, sym, e) for e in events]
        order_id = self._order_id(sym, t, req.client_id)
        if sent == 0:
            return out + self._refuse(t, sym, req, events[-1].rule, order_id)[1:]
        if abs(sent) * mid < o.min_order_notional:
            return out + self._refuse(t, sym, req, "min_order_notional", order_id)[1:]
        recent.append(t)
        w = WorkingOrder(order_id, sym, req.type, req.side, abs(sent), t, "decision", req.client_id, route=route,
                         venue=venue)
        if isinstance(req, Limit):
            w.price, w.post_only, w.expire_after_s = float(req.price), req.post_only, req.expire_after_s
        elif isinstance(req, Stop):
            w.stop_price, w.trigger = float(req.stop_price or 0.0), req.trigger
        if events:
            w.note = ",".join(e.rule for e in events)
        self.working[order_id] = w
        self.touched[order_id] = w
        return out

    def _work_orders(self, t: int, items: dict[str, StrategySecond], out: list[Made]) -> set[str]:
        """Second t on the simulated venue, for every working order in the order it was made:
        resting limit orders fill by the trades of t and the book at its end, stops trigger,
        orders due at t arrive (a market order walks; a limit order takes what it crosses
        and rests the rest), then cancels and expiries due at t. The symbols filled."""
        filled: set[str] = set()
        for sym, it in items.items():  # the venues' last trades, for stops
            if it.tops is not None:
                for venue, tr in it.tops.trades.items():
                    if len(tr.prices):
                        self.last_trade[(sym, venue)] = float(tr.prices[-1])
        for o in list(self.working.values()):
            if not o.open:
                continue
            if o.at_venue:  # live: the venue fills it; only its expiry is ours to ask for
                if o.expire_after_s is not None and o.cancel_at is None and \
                        t >= self.options.latency.arrival(o.decision_s) + o.expire_after_s:
                    o.cancel_at, o.note = t, f"expire_after_s {o.expire_after_s}"
                continue
            item = items.get(o.symbol)
            tops = item.tops if item is not None else None
            before = (o.status, o.filled)
            arrival = self.options.latency.arrival(o.decision_s)
            if o.triggered_s is not None:
                arrival = self.options.latency.arrival(o.triggered_s)
            if o.type == "market" or o.triggered_s is not None:
                if arrival <= t:  # a market order (a triggered stop's too) walks the books of its arrival
                    self._walk(o, t, tops if arrival == t else None, out)
            elif o.arrival_s is None:
                if arrival <= t:  # a gap left it behind: it arrives now, later than allowed, never earlier
                    self._arrive(o, t, tops, out)
            elif o.type == "limit" and o.arrival_s < t:
                self._rest(o, t, tops, out)
            elif o.type == "stop" and o.arrival_s < t and self._triggered(o, item):
                o.note, o.triggered_s = "triggered", t  # a market order decided at t
            if o.open and o.cancel_at is not None and o.cancel_at <= t:
                o.status = "cancelled"
                o.note = o.note if o.note and o.note != "triggered" else "cancel"
            if o.open and o.expire_after_s is not None and o.arrival_s is not None \
                    and t >= o.arrival_s + o.expire_after_s:
                o.status, o.note = "expired", f"expire_after_s {o.expire_after_s}"
            if (o.status, o.filled) != before or o.triggered_s == t:
                self.touched[o.order_id] = o
            if o.filled != before[1]:
                filled.add(o.symbol)
        return filled

    def _levels(self, o: WorkingOrder, tops: BookTops | None) -> tuple[VenueLevels | None, float]:
        """The order's venue's levels at the end of the second in venue prices, and the rate
        they convert at (1: as quoted)."""
        if tops is None or o.venue is None:
            return None, 1.0
        lv = tops.venues.get(o.venue)
        rate = tops.rates.get(o.venue)
        if lv is None or rate is None:
            return lv, 1.0
        return VenueLevels(lv.bid_prices / rate, lv.bid_sizes, lv.ask_prices / rate, lv.ask_sizes), rate

    def _book(self, o: WorkingOrder, t: int, venue: str, price: float, qty: float, liquidity: str,
              rate: float | None, out: list[Made], slice_no: int) -> None:
        """One fill of a working order: the account, the order and a `fills` row."""
        fee_model = self.options.fee_model
        assert fee_model is not None
        sl = Slice(venue, price, qty, liquidity)
        fee = fee_model.fee(sl)
        self.account.fill(o.symbol, o.sign * qty, price, fee)
        o.add_fill(qty, price, fee)
        out.append(fill_record(t, o.symbol, venue, self.options.run, o.side, qty, price, fee, rate, o.order_id,
                               o.decision_s, slice_no, liquidity,
                               float(t - o.arrival_s) if liquidity == "maker" and o.arrival_s is not None else None))

    def _walk(self, o: WorkingOrder, t: int, tops: BookTops | None, out: list[Made]) -> None:
        """A market order (or a triggered stop, on its venue) at its arrival second."""
        books = tops.venues if tops is not None else {}
        rates = tops.rates if tops is not None else {}
        route = o.venue if o.type == "stop" and o.venue else o.route
        for i, sl in enumerate(self.options.fill_model.fill(books, o.sign * o.remaining, route)):
            self._book(o, t, sl.venue, sl.price, sl.qty, "taker", rates.get(sl.venue), out, i)
        if o.arrival_s is None:
            o.arrival_s = t
        if o.status != "filled":
            if o.type == "market":
                o.status = "partial" if o.filled > 0 else "unfilled"
            else:
                o.status, o.note = "cancelled", "unfilled: the books could not fill the rest"
        elif o.type == "market":
            o.status = "filled"

    def _arrive(self, o: WorkingOrder, t: int, tops: BookTops | None, out: list[Made]) -> None:
        """A limit or stop order reaches its venue at the end of second t."""
        o.arrival_s = t
        if o.type == "stop":
            o.status = "open"
            return
        levels, rate = self._levels(o, tops)
        if levels is None:
            o.status, o.note = "rejected", "no_book: its venue's book is not synced"
            return
        assert o.price is not None
        tick = self.options.ticks.get(o.symbol, {}).get(o.venue or "")
        o.venue_price = to_tick(o.price / rate, tick, o.side) if rate != 1.0 else o.price
        if crosses(o, levels):
            if o.post_only:
                o.status, o.note = "rejected", "would_cross"
                return
            quoted = tops.rates.get(o.venue or "") if tops is not None else None
            for i, (price, size) in enumerate(crossing_levels(o, levels)):
                take = min(o.remaining, size)
                if take <= 0:
                    break
                self._book(o, t, o.venue or "", price * rate, take, "taker", quoted, out, i)
        if o.status == "filled":
            return
        o.status = "partially_filled" if o.filled > 0 else "open"
        o.level_size = size_at(levels, o.side, o.venue_price)
        # behind the venue's size at its price, and behind the account's own orders resting
        # there already: one trade never fills two of them with the same quantity
        # (orders are worked in the order they were made: one with an arrival is ahead of o)
        p = o.venue_price
        mine = sum(w.remaining for w in self.working.values()
                   if w is not o and w.open and w.type == "limit" and w.venue_price is not None
                   and w.arrival_s is not None and (w.symbol, w.venue, w.side) == (o.symbol, o.venue, o.side)
                   and abs(w.venue_price - p) <= 1e-12 * abs(p))
        o.ahead = self.options.queue.start(o.level_size) + mine

    def _rest(self, o: WorkingOrder, t: int, tops: BookTops | None, out: list[Made]) -> None:
        """A resting limit order through second t: its trades, then its book at the end."""
        levels, rate = self._levels(o, tops)
        trades = tops.trades.get(o.venue or "") if tops is not None else None
        qty = resting_fill(o, trades, levels, self.options.queue)
        if qty > 0:
            assert o.venue_price is not None
            quoted = tops.rates.get(o.venue or "") if tops is not None else None
            self._book(o, t, o.venue or "", o.venue_price * rate, qty, "maker", quoted, out, 0)

    def _triggered(self, o: WorkingOrder, item: StrategySecond | None) -> bool:
        """A stop whose trigger (its venue's last trade, or the symbol's mid) reached its
        stop price at the end of this second."""
        assert o.stop_price is not None
        if o.trigger == "mid":
            price = item.mid if item is not None else None
        else:
            last = self.last_trade.get((o.symbol, o.venue or ""))
            rate = item.tops.rates.get(o.venue or "") if item is not None and item.tops is not None else None
            price = None if last is None else last * (rate or 1.0)
        if price is None:
            return False
        return price >= o.stop_price if o.side == "buy" else price <= o.stop_price

    def _cancel_all(self, t: int, rule: str) -> list[Made]:
        """The kill switch: every working order is cancelled at once, a `risk_events` row each."""
        out: list[Made] = []
        for o in self.working.values():
            if o.open:
                o.status, o.note = "cancelled", rule
                self.touched[o.order_id] = o
                out.append(self._event(t, o.symbol, RiskEvent(rule, o.remaining, 0.0, "cancelled", o.remaining, 0.0,
                                                              f"order {o.order_id}")))
        return out

    def _intents(self, t: int, items: dict[str, StrategySecond]) -> list[Made]:
        """Shadow and live modes: the orders decided at t as intents for the gateway (market
        orders of the target and of the risk rules, strategies' market and limit orders, stops
        as they trigger), and cancels of venue orders the account cancelled or let expire.
        Client ids from the run, symbol, second and a sequence: the same on a replay. A limit
        price goes in the venue's quote (a converted market's: / the rate of t, to its tick)."""
        out: list[Made] = []
        seq: dict[str, int] = {}
        run = self.options.run

        def where(sym: str) -> tuple[str, str]:
            return self.options.live_routes.get(sym) or (self.options.route.get(sym, "all"), sym.replace("-", "/"))

        def intent(sym: str, oid: str, **kw: Any) -> OrderIntent:
            n = seq.get(sym, 0)
            seq[sym] = n + 1
            cid = client_order_id(run, sym, t, n)
            self.sent[oid] = cid
            venue, market = where(sym)
            return OrderIntent(run=run, client_id=cid, symbol=sym, venue=venue, market=market, action="place",
                               decided_s=t, decided_ns=time.time_ns(), **kw)

        live = self.options.live_fills
        for sym in sorted(self.pending):
            p = self.pending[sym]
            if p.decision_s == t and p.order_id not in self.sent:
                side = "buy" if p.qty > 0 else "sell"
                made = intent(sym, p.order_id, side=side, type="market", qty=abs(p.qty), reason=p.reason)
                out.append(made)
                if live:  # the venue fills it: not the simulated next second
                    self.tracks[made.client_id] = Track(p.order_id, sym, side, abs(p.qty), t, p.reason, p.route, False)
                    del self.pending[sym]
        for oid, w in self.working.items():
            if oid not in self.sent and w.status != "rejected" and (
                    (w.type in ("market", "limit") and w.decision_s == t) or (w.type == "stop" and w.triggered_s == t)):
                limit = w.type == "limit"
                price = None
                if limit and w.price is not None:
                    venue = where(w.symbol)[0]
                    it = items.get(w.symbol)
                    rate = it.tops.rates.get(venue) if it is not None and it.tops is not None else None
                    price = to_tick(w.price / rate, self.options.ticks.get(w.symbol, {}).get(venue), w.side) \
                        if rate else w.price
                made = intent(w.symbol, oid, side=w.side, type="limit" if limit else "market",
                              qty=w.remaining if w.type == "stop" else w.qty, price=price, post_only=w.post_only,
                              reason=w.note or w.reason)
                out.append(made)
                if live:
                    w.at_venue = True
                    self.tracks[made.client_id] = Track(oid, w.symbol, w.side, made.qty, t, w.reason, w.route, True)
            elif oid in self.sent and oid not in self.cancels_sent and (
                    w.cancel_at is not None or w.status in ("cancelled", "expired")):
                self.cancels_sent.add(oid)
                venue, market = where(w.symbol)
                out.append(OrderIntent(run=run, client_id=self.sent[oid], symbol=w.symbol, venue=venue,
                                       market=market, action="cancel", decided_s=t, decided_ns=time.time_ns(),
                                       reason=w.note or "cancel"))
        kept = set(self.working) | {p.order_id for p in self.pending.values()} | \
            {tr.order_id for tr in self.tracks.values()}
        self.sent = {k: v for k, v in self.sent.items() if k in kept}
        self.cancels_sent &= kept
        return out

    def take_reports(self, reports: list[ExecutionReport]) -> None:
        """Live mode: the venues' reports of this run, applied at the next second worked."""
        self.reports_in.extend(r for r in reports if r.run == self.options.run)

    def _in_flight(self, sym: str) -> float:
        """Live mode: the signed quantity the symbol's market orders at the venues still owe."""
        return sum(tr.remaining() for tr in self.tracks.values() if tr.symbol == sym and not tr.working)

    def _venue_fills(self, t: int, out: list[Made]) -> set[str]:
        """Live mode: each report due by t (learned at t or before) makes its new fill a fill of
        second t at its average price (the
        venue's fee in the quote), into the account; a strategy's order takes the venue's state;
        a market order's `orders` row is written when it is final. An order of the run the
        account never sent (the gateway's flatten) is booked the same way. The symbols filled."""
        filled: set[str] = set()
        # a report counts from the second the gateway learned it on, never earlier (a flow that
        # replays older market data waits for it; an account reads no fill before its time)
        due = [r for r in self.reports_in if r.ts_ns // NS <= t]
        if not due:
            return filled
        self.reports_in = [r for r in self.reports_in if r.ts_ns // NS > t]
        run = self.options.run
        for r in due:
            tr = self.tracks.get(r.client_id)
            if tr is None:
                if r.status in TERMINAL_LIVE and r.filled <= 0:
                    continue
                tr = self.tracks[r.client_id] = Track(f"{r.symbol}:{r.decided_s}:{r.client_id}", r.symbol, r.side,
                                                      r.qty, r.decided_s, r.reason or "venue", r.venue, False)
            delta = r.filled - tr.filled
            if delta > 1e-12:
                price = (r.notional - tr.notional) / delta
                fee = r.fee - tr.fee
                sign = 1 if tr.side == "buy" else -1
                self.account.fill(tr.symbol, sign * delta, price, fee)
                out.append(fill_record(t, tr.symbol, r.venue, run, tr.side, delta, price, fee, None, tr.order_id,
                                       tr.decision_s, tr.slices, "maker" if r.type == "limit" else "taker"))
                tr.slices += 1
                tr.filled, tr.notional, tr.fee = r.filled, r.notional, r.fee
                filled.add(tr.symbol)
            w = self.working.get(tr.order_id) if tr.working else None
            if w is not None:
                w.filled, w.notional, w.fees = tr.filled, tr.notional, tr.fee
                if r.status in ("open", "partially_filled", "filled", "cancelled", "rejected", "expired"):
                    if r.status in ("cancelled", "rejected", "expired") and r.reason:
                        w.note = r.reason[:200]
                    w.status = r.status
                self.touched[w.order_id] = w
            if r.status in TERMINAL_LIVE:
                if not tr.working:
                    status = "filled" if tr.filled >= tr.qty * (1 - 1e-9) else "partial" if tr.filled > 0 else \
                        ("rejected" if r.status == "rejected" else "unfilled")
                    out.append(OrderRecord(run, tr.symbol, t, tr.order_id, tr.decision_s,
                                           r.reason[:200] if r.status == "rejected" else tr.reason, tr.route, tr.side,
                                           tr.qty, tr.filled, tr.notional, tr.fee, status, venue=r.venue,
                                           client_id=r.client_id))  # the venue order's client id
                del self.tracks[r.client_id]
        return filled

    def _order_rows(self, t: int) -> list[Made]:
        """One `orders` row per order whose state or filled quantity changed at t; the ended
        ones leave the book."""
        out: list[Made] = []
        for oid, o in self.touched.items():
            out.append(OrderRecord(self.options.run, o.symbol, t, oid, o.decision_s, o.note or o.reason, o.route,
                                   o.side, o.qty, o.filled, o.notional, o.fees, o.status, o.type, o.price,
                                   o.stop_price, o.venue, o.client_id))
            if not o.open:
                self.working.pop(oid, None)
        self.touched.clear()
        return out

    @staticmethod
    def _with_reason(row: DecisionRecord, reason: str) -> DecisionRecord:
        return replace(row, reason=reason)

    def _event(self, t: int, symbol: str, e: RiskEvent) -> RiskEventRecord:
        return RiskEventRecord(self.options.run, symbol, t, e)

    # -- the operator's view -------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        acct = self.account
        return {
            "mode": self.options.mode, "run": self.options.run, "second": self.done, "halted": self.halted is not None,
            "halted_by": self.halted, "halted_until": self.halted_until, "equity": self.last_equity,
            "cash": acct.cash, "peak": self.peak, "commands_applied": self.commands_applied,
            "positions": {s: {"position": h.position, "avg_price": h.avg_price, "mid": acct.mids.get(s),
                              "realized": h.realized, "fees": h.fees}
                          for s, h in sorted(acct.holdings.items()) if h.position != 0 or h.fees},
            "orders": [{"order_id": o.order_id, "symbol": o.symbol, "type": o.type, "side": o.side,
                        "price": o.price, "stop_price": o.stop_price, "qty": o.qty, "filled": o.filled,
                        "status": o.status, "venue": o.venue, "client_id": o.client_id}
                       for o in self.working.values() if o.open],
        }


class ExecutionLogic(StatefulBatchLogic):
    """The thin Bytewax face of `ExecutionState`; with a control folder (the live flow) it
    takes `cobflow trading halt|resume` commands and writes the status that
    `cobflow trading status` prints."""

    def __init__(self, state: ExecutionState | None, symbols: SymbolsConfig, options: ExecutionOptions,
                 control_dir: Path | None, runs: list[Run] | None = None) -> None:
        self.symbols = symbols
        self.options = options
        self.runs = {r.run: r for r in runs or [Run(options.run, "strategy", {})]}
        self.control_root = control_dir
        self.control_dir: Path | None = None
        self.commands_mtime: float | None = None
        self.status_at = 0.0
        self.state: ExecutionState = None  # type: ignore[assignment]  # made for its run's key at the first batch
        if state is not None:
            self._start(state.options.run, state)

    def _start(self, run: str, state: ExecutionState | None = None) -> None:
        """This key's account: the stored one (its strategies' state too) or a new one."""
        options = replace(self.options, run=run)  # a restart reads the limits configured now
        if state is None:
            r = self.runs.get(run) or Run(run, "strategy", {})
            state = ExecutionState(list(self.symbols.symbols), options, r.instances(),
                                   {s: spec.features.min_quality for s, spec in self.symbols.symbols.items()}, r.tag)
        state.options = options
        self.state = state
        root = self.control_root
        self.control_dir = root if root is None or len(self.runs) == 1 else root / run

    def _poll(self) -> None:
        if self.control_dir is None:
            return
        try:
            mtime = (self.control_dir / COMMANDS_FILE).stat().st_mtime
        except FileNotFoundError:
            return
        if mtime == self.commands_mtime:
            return
        self.commands_mtime = mtime
        st = self.state
        for cmd in read_commands(self.control_dir):
            if cmd["seq"] > st.commands_applied:
                st.commands.append(cmd["command"])
                st.commands_applied = cmd["seq"]

    def _report(self, force: bool = False) -> None:
        now = time.monotonic()
        if self.control_dir is not None and (force or now - self.status_at >= 1.0):
            self.status_at = now
            write_status(self.control_dir, self.state.status())

    def on_batch(self, values: list[tuple[str, list]]) -> tuple[list, bool]:
        if self.state is None:
            self._start(values[0][0])
        self._poll()
        items = [x for _, batch in values for x in batch]
        if self.state.options.live_fills:  # live: what the venues said, applied when due
            self.state.take_reports([x for x in items if isinstance(x, ExecutionReport)])
            items = [x for x in items if not isinstance(x, ExecutionReport)]
        out = self.state.add(items)
        self._report()
        return ([out] if out else []), StatefulBatchLogic.RETAIN

    def on_eof(self) -> tuple[list, bool]:
        if self.state is None:
            return [], StatefulBatchLogic.RETAIN
        out = self.state.flush()
        self._report(force=True)
        return ([out] if out else []), StatefulBatchLogic.RETAIN

    def snapshot(self) -> tuple[int, ExecutionState] | None:
        return None if self.state is None else snapshot(self.state)


def _unkey(batch: list[tuple[str, Seconds[Made]]]) -> list[Seconds[Made]]:
    return [x for _, x in batch]


@operator
def execution(step_id: str, up: Stream[list[StrategySecond]], symbols: SymbolsConfig, options: ExecutionOptions,
              control_dir: Path | None = None, runs: list[Run] | None = None,
              reports: Stream[list[ExecutionReport]] | None = None) -> Stream[Seconds[Made]]:
    """Lists of StrategySecond records -> each run's decisions, orders, fills, positions,
    equity and risk events, and its strategies' dead letters (one key per run: see above).
    `reports` (live mode): the venues' execution reports, to the account of their run."""
    all_runs = runs or [Run(options.run, "strategy", {})]
    keys = [r.run for r in all_runs]

    def to_accounts(batch: list[list[StrategySecond]]) -> list[tuple[str, tuple[str, list[StrategySecond]]]]:
        return [(k, (k, items)) for items in batch if items for k in keys]

    keyed = op.flat_map_batch("to_account", up, to_accounts)
    if reports is not None:
        def by_run(batch: list[list[ExecutionReport]]) -> list[tuple[str, tuple[str, list]]]:
            return [(r.run, (r.run, [r])) for rs in batch for r in rs if r.run in keys]

        keyed = op.merge("with_reports", keyed, op.flat_map_batch("reports_to_account", reports, by_run))
    out = op.stateful_batch("execution", keyed, lambda resume: ExecutionLogic(unstamp(resume, step_id), symbols,
                                                                              options, control_dir, all_runs))
    return op.flat_map_batch("unkey", out, _unkey)
