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

The operator runs under one key per run (one account each) on one worker; its rows do not
depend on how the symbols' seconds interleave, so both modes and any number of workers give
the same.
"""

from __future__ import annotations

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
from cobflow.execution.fills import BookTops, BookWalk, FeeModel, FillModel, LatencyModel, NextSecond, TakerFee
from cobflow.execution.metrics import HOLD_RUN
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
from cobflow.strategy import AccountView, Context, Intent, Strategy, StrategySecond, strategy_dead_letter
from cobflow.tables import DECISIONS, EQUITY, FILLS, ORDERS, POSITIONS, RISK_EVENTS, AnyRow, TableRow

NS = 1_000_000_000
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

    def __post_init__(self) -> None:
        if self.fee_model is None:
            object.__setattr__(self, "fee_model", TakerFee(self.fee_bps))

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
            baseline=t.baseline)


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

    def __post_init__(self) -> None:
        self.account = Account(self.options.initial_cash)
        self.hold = Account(self.options.initial_cash) if self.options.baseline else None
        self.hold_peak = self.options.initial_cash
        self.queues = {s: deque() for s in self.symbols}
        self.peak = self.day_start = self.last_equity = self.options.initial_cash

    # -- input -----------------------------------------------------------------------
    def add(self, items: list[StrategySecond]) -> list:
        """Seconds of any symbols (each symbol's in time order) -> the rows of every second
        they make workable, each tagged with the run (and the dead letters of strategies)."""
        return self._tagged(self._add(items))

    def flush(self) -> list:
        """The end of the input: every second still queued."""
        if self.options.mode == "off":
            return []
        return self._tagged(self._work(None))  # no limit

    def _tagged(self, rows: list[AnyRow]) -> list:
        run = self.options.run
        for r in rows:
            if "run" not in r.symbols:  # the baseline's rows carry their own
                r.symbols = {**r.symbols, "run": run}  # type: ignore[dict-item]
        dead, self.dead = self.dead, []
        return [*rows, *dead]

    def _add(self, items: list[StrategySecond]) -> list[AnyRow]:
        if self.options.mode == "off":
            return [d for it in items if (d := self._decision(it, self.last_equity)) is not None]
        out: list[AnyRow] = []
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

    def _work(self, limit: int | None) -> list[AnyRow]:
        """Work every queued second <= limit (None: all), oldest first."""
        out: list[AnyRow] = []
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
    def _second(self, t: int, items: dict[str, StrategySecond]) -> list[AnyRow]:
        o = self.options
        if (o.trade_from is not None and t < o.trade_from) or (o.trade_until is not None and t >= o.trade_until):
            return [d for it in items.values() if (d := self._decision(it, self.last_equity)) is not None]
        out: list[AnyRow] = []
        out.extend(self._new_day(t))
        out.extend(self._apply_commands(t))
        filled = self._fill_due(self.pending, t, items, out)  # 1. the orders of t-1 (or older: a gap)
        if o.baseline:
            out.extend(self._buy_and_hold(t, items))
        acct = self.account
        for sym, it in items.items():  # 2. marks
            if it.mid is not None and it.mid > 0:
                acct.mids[sym] = it.mid
        equity = acct.equity()
        self.peak = max(self.peak, equity)
        ts = t * NS
        for sym in sorted(acct.holdings):
            h = acct.holdings[sym]
            if h.position != 0 or sym in filled:
                mid = acct.mids.get(sym)
                out.append(TableRow(POSITIONS.name, ts, {"symbol": sym}, {
                    "position": h.position, "avg_price": h.avg_price if h.position != 0 else None, "mid": mid,
                    "unrealized": h.unrealized(mid), "realized": h.realized, "fees": h.fees}))
        out.extend(self._account_rules(t, equity))  # 3.
        for sym in sorted(items):
            out.extend(self._stop_loss(t, items[sym]))
        for sym in sorted(items):  # 4.
            it = items[sym]
            decision = self._decision(it, equity)
            if decision is not None:
                out.extend(self._decide(t, it, decision, equity))
        dd = drawdown(self.peak, equity)
        out.append(TableRow(EQUITY.name, ts, {}, {"equity": equity, "cash": acct.cash,
                                                  "exposure": acct.gross_exposure(), "peak": self.peak,
                                                  "drawdown": dd, "halted": self.halted is not None}))
        if self.hold is not None:  # the baseline's equity, marked at the same mids
            self.hold.mids.update(acct.mids)
            held = self.hold.equity()
            self.hold_peak = max(self.hold_peak, held)
            out.append(TableRow(EQUITY.name, ts, {"run": self.options.run + HOLD_RUN}, {
                "equity": held, "cash": self.hold.cash, "exposure": self.hold.gross_exposure(),
                "peak": self.hold_peak, "drawdown": drawdown(self.hold_peak, held), "halted": False}))
        self.last_equity = equity
        return out

    def _new_day(self, t: int) -> list[AnyRow]:
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

    def _apply_commands(self, t: int) -> list[AnyRow]:
        out: list[AnyRow] = []
        while self.commands:
            cmd = self.commands.popleft()
            if cmd == "halt":
                self.halted, self.halted_until = "operator", None
                out.append(self._event(t, ACCOUNT, RiskEvent("halted", 1.0, 0.0, "halted", detail="operator halt")))
            elif cmd == "resume":
                was = self.halted
                self.halted, self.halted_until = None, None
                self.peak = self.last_equity  # a resumed drawdown is measured from here
                out.append(self._event(t, ACCOUNT, RiskEvent("halted", 0.0, 0.0, "resumed",
                                                             detail=f"operator resume (was {was or 'running'})")))
        return out

    def _buy_and_hold(self, t: int, items: dict[str, StrategySecond]) -> list[AnyRow]:
        """EXECUTION.md's buy-and-hold baseline, beside the account and independent of it and
        of the strategy: at each symbol's first worked second with a mid, BUY of the target
        size at the initial equity, filled by the same fill, fee and latency models, then held
        (its fills, orders and equity are rows of run `<run>.buy_and_hold`)."""
        out: list[AnyRow] = []
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

    def _fill_due(self, orders: dict[str, Order], t: int, items: dict[str, StrategySecond], out: list[AnyRow],
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

    def _fill(self, order: Order, tops: BookTops | None, baseline: str | None = None) -> list[AnyRow]:
        """The order's slices and its `orders` row; `baseline`: that run's, into the baseline's
        account."""
        t = self.options.latency.arrival(order.decision_s)
        ts, out = t * NS, list[AnyRow]()
        books = tops.venues if tops is not None else {}
        rates = tops.rates if tops is not None else {}
        slices = self.options.fill_model.fill(books, order.qty, order.route)
        fee_model = self.options.fee_model
        assert fee_model is not None
        side, s = ("buy", 1) if order.qty > 0 else ("sell", -1)
        filled = notional = fees = 0.0
        tag = {} if baseline is None else {"run": baseline}
        account = self.account if baseline is None else self.hold
        assert account is not None
        for i, sl in enumerate(slices):
            fee = fee_model.fee(sl)
            account.fill(order.symbol, s * sl.qty, sl.price, fee)
            filled += sl.qty
            notional += sl.qty * sl.price
            fees += fee
            out.append(TableRow(FILLS.name, ts, {"symbol": order.symbol, "venue": sl.venue, **tag}, {
                "side": side, "qty": sl.qty, "price": sl.price, "fee": fee, "rate": rates.get(sl.venue),
                "order_id": order.order_id, "decision_ts": order.decision_s * NS, "slice": i}))
        want = abs(order.qty)
        status = "filled" if filled >= want * (1 - 1e-9) else "partial" if filled > 0 else "unfilled"
        out.append(TableRow(ORDERS.name, ts, {"symbol": order.symbol, **tag}, {
            "order_id": order.order_id, "decision_ts": order.decision_s * NS, "reason": order.reason,
            "route": order.route, "side": side, "qty": want, "filled": filled,
            "avg_price": notional / filled if filled > 0 else None, "fee": fees, "status": status}))
        return out

    def _close_all(self, t: int, rule: str) -> None:
        for sym in sorted(self.account.holdings):
            pos = self.account.holdings[sym].position
            if pos != 0:
                self.pending[sym] = Order(f"{sym}:{t}:{rule}", sym, t, -pos, rule, self.options.route.get(sym, "all"))

    def _account_rules(self, t: int, equity: float) -> list[AnyRow]:
        """Rules 7 and 8 on equity(t), in order (a halt by 7 leaves 8 nothing to do)."""
        out: list[AnyRow] = []
        for cls in ACCOUNT_RULES:
            rule = cls(self.options.limits)
            event = rule.breach(AccountClose(t, equity, self.peak, self.day_start, self.halted))
            if event is not None:
                self._close_all(t, rule.name)
                self.halted, self.halted_until = rule.name, rule.halted_until(t)
                out.append(self._event(t, ACCOUNT, event))
        return out

    def _decision(self, it: StrategySecond, equity: float) -> TableRow | None:
        """The symbol's strategy's call on its second, as its `decisions` row (None: the
        second has no features, so no call)."""
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
            try:
                intent = strat.on_second(Context(it, acct.position(sym), view, self.min_quality.get(sym, 0.5)))
                problem = None if intent is None else intent.problem() if isinstance(intent, Intent) \
                    else f"returned {type(intent).__name__}, not an Intent or None"
                if problem:
                    raise ValueError(problem)
            except Exception as e:  # a user's plug-in costs its own second, never the flow
                self.dead.append(strategy_dead_letter(self.options.run, type(strat).__name__, it, e))
                intent = Intent("HOLD", 0.0, 0.0, "strategy_error")
        if intent is None:
            intent = Intent("HOLD", 0.0, 0.0, "no_signal")
        return TableRow(DECISIONS.name, it.s * NS, {"symbol": sym, "source": intent.source or self.label}, {
            "action": intent.action, "confidence": intent.confidence, "score": intent.score, "reason": intent.reason})

    def _stop_loss(self, t: int, it: StrategySecond) -> list[AnyRow]:
        """Rule 6: a stop exit for an open position whose mid crossed its stop price."""
        sym = it.symbol
        h = self.account.holdings.get(sym)
        if h is None or h.position == 0 or sym in self.pending or it.mid is None:
            return []
        event = StopLoss(self.options.limits).exit(h.position, h.avg_price, it.mid)
        if event is None:
            return []
        self.pending[sym] = Order(f"{sym}:{t}:stop_loss", sym, t, -h.position, "stop_loss",
                                  self.options.route.get(sym, "all"))
        return [self._event(t, sym, event)]

    def _decide(self, t: int, it: StrategySecond, row: TableRow, equity: float) -> list[AnyRow]:
        sym = it.symbol
        action = row.columns["action"]
        pending = self.pending.get(sym)
        if pending is not None and pending.decision_s == t:  # a rule's exit or close this second
            return [self._with_reason(row, pending.reason)] if action != "HOLD" else [row]
        if action == "HOLD":
            return [row]
        mid = it.mid
        if mid is None or mid <= 0:
            return [self._with_reason(row, "no_mid")]
        target = target_qty(equity, mid, self.options.limits)
        if action == "SELL":
            target = -target if self.options.shorting.get(sym, True) else 0.0
        pos = self.account.position(sym)
        qty = target - pos
        if abs(qty) * mid <= max(self.options.min_order_notional, 1e-9 * max(equity, 1.0)):
            return [self._with_reason(row, "at_target")]
        recent = self.recent.setdefault(sym, deque())
        while recent and recent[0] <= t - 60:
            recent.popleft()
        order = OrderCheck(sym, t, qty, reducing_part(pos, qty), pos, mid, it.quality, self.halted is not None,
                           len(recent), equity, it)
        sent, events = apply_rules(order, self.options.rules or pre_trade_rules(self.options.limits))
        out: list[AnyRow] = [self._event(t, sym, e) for e in events]
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

    @staticmethod
    def _with_reason(row: TableRow, reason: str) -> TableRow:
        return replace(row, columns={**row.columns, "reason": reason})

    @staticmethod
    def _event(t: int, symbol: str, e: RiskEvent) -> TableRow:
        return TableRow(RISK_EVENTS.name, t * NS, {"symbol": symbol, "rule": e.rule}, {
            "action": e.action, "value": e.value, "threshold": e.threshold, "qty_before": e.qty_before,
            "qty_after": e.qty_after, "detail": e.detail})

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
        items: list[StrategySecond] = []
        rest: list = []
        for _, batch in values:
            for x in batch:
                (items if type(x) is StrategySecond else rest).append(x)
        rest.extend(self.state.add(items))
        self._report()
        return ([rest] if rest else []), StatefulBatchLogic.RETAIN

    def on_eof(self) -> tuple[list, bool]:
        if self.state is None:
            return [], StatefulBatchLogic.RETAIN
        out = self.state.flush()
        self._report(force=True)
        return ([out] if out else []), StatefulBatchLogic.RETAIN

    def snapshot(self) -> tuple[int, ExecutionState] | None:
        return None if self.state is None else snapshot(self.state)


def _unkey(batch: list[tuple[str, list]]) -> list:
    return [x for _, xs in batch for x in xs]


@operator
def execution(step_id: str, up: Stream, symbols: SymbolsConfig, options: ExecutionOptions,
              control_dir: Path | None = None, runs: list[Run] | None = None) -> Stream:
    """Lists of the step's rows and StrategySecond items -> those rows, and each run's
    decisions, orders, fills, positions, equity and risk events (one key per run: see
    above). The rows of the signals-and-models step pass through the first run's key only."""
    all_runs = runs or [Run(options.run, "strategy", {})]
    keys = [r.run for r in all_runs]

    def to_accounts(batch: list[list]) -> list[tuple[str, tuple[str, list]]]:
        out: list[tuple[str, tuple[str, list]]] = []
        for items in batch:
            if not items:
                continue
            out.append((keys[0], (keys[0], items)))
            if len(keys) > 1:
                records = [x for x in items if type(x) is StrategySecond]
                out.extend((k, (k, records)) for k in keys[1:] if records)
        return out

    keyed = op.flat_map_batch("to_account", up, to_accounts)
    out = op.stateful_batch("execution", keyed, lambda resume: ExecutionLogic(unstamp(resume, step_id), symbols,
                                                                              options, control_dir, all_runs))
    return op.flat_map_batch("unkey", out, _unkey)
