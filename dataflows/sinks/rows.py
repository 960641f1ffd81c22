"""The one place where records become storage rows: each table's row made from the record
that holds its values (cobflow.records), for every sink (QuestDB, Parquet) and for the
tests that read rows.

A stage hands on `Seconds` of records and dead letters; `rows_and_dead` turns a batch of
them into the rows of every table and the dead letters, which the flow's ends split and
write. Rows of a second keep the order the tables were written in before (per table it is
time order).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

import numpy as np

from cobflow.deadletter import DeadLetter
from cobflow.execution.live import Balance, ExecutionReport, GatewayEvent, OrderIntent, Reconciliation
from cobflow.metrics.signals import Signal
from cobflow.metrics.trades import Bar
from cobflow.metrics.vectors import LAYOUT
from cobflow.models.output import DIRECTIONS
from cobflow.records import (
    CobSecond,
    DecisionRecord,
    EquityRecord,
    FeatureSecond,
    FillRecord,
    ModelEvent,
    OpenBars,
    OrderRecord,
    Outcome,
    PositionRecord,
    RiskEventRecord,
    Seconds,
    StrategyMade,
    VenueSecond,
)
from cobflow.strategy import ModelOutput
from cobflow.tables import (
    BOOK_HEALTH,
    COB_BUCKETS,
    COB_SUMMARY,
    DATA_QUALITY,
    DECISIONS,
    EQUITY,
    FEATURES,
    FILLS,
    IMBALANCE_MA,
    INDICATORS,
    LIVE_ORDERS,
    MODEL_EVENTS,
    MODEL_OUTPUTS,
    OHLCV,
    ORDER_FLOW,
    ORDERS,
    PIVOTS,
    POSITIONS,
    PREDICTION_OUTCOMES,
    RECONCILIATION,
    RISK_EVENTS,
    SIGNALS,
    TOP_OF_BOOK,
    VENUE_BALANCES,
    AnyRow,
    TableRow,
    TableRows,
)

NS = 1_000_000_000


def signal_row(symbol: str, ts: int, sig: Signal) -> TableRow:
    return TableRow(SIGNALS.name, ts, {"symbol": symbol, "kind": sig.kind}, {
        "direction": sig.direction, "strength": sig.strength, "value": sig.value, "threshold": sig.threshold,
        "detail": sig.detail})


def bars_rows(symbol: str, bars: Iterable[Bar]) -> list[AnyRow]:
    """ohlcv: the bars as one block."""
    bars = list(bars)
    if not bars:
        return []
    return [TableRows(OHLCV.name, [b.start_s * NS for b in bars],
                      {"symbol": symbol, "venue": [b.venue for b in bars],
                       "timeframe": [b.timeframe for b in bars]},
                      {"open": [b.open for b in bars], "high": [b.high for b in bars],
                       "low": [b.low for b in bars], "close": [b.close for b in bars],
                       "volume": [b.volume for b in bars], "buy_volume": [b.buy_volume for b in bars],
                       "sell_volume": [b.sell_volume for b in bars], "trades": [b.trades for b in bars],
                       "vwap": [b.vwap for b in bars]})]


Keep = frozenset[str] | None  # the tables whose rows are made (None: every table)


def cob_rows(c: CobSecond, keep: Keep = None) -> list[AnyRow]:
    """data_quality, ohlcv, order_flow, book_health, cob_summary, the arbitrage signal,
    cob_buckets and imbalance_ma of one second (those `keep` names)."""
    ts, q = c.s * NS, c.quality
    tags = {"symbol": c.symbol}
    k = _keeps(keep)
    rows: list[AnyRow] = []
    if k(DATA_QUALITY.name):
        rows.append(TableRow(DATA_QUALITY.name, ts, dict(tags), {
            "completeness": q.completeness, "freshness": q.freshness, "quality": q.quality,
            "synced": q.synced, "fresh": q.fresh, "configured": q.configured}))
    if k(OHLCV.name):
        rows.extend(bars_rows(c.symbol, c.bars))
    if c.flows and k(ORDER_FLOW.name):
        rows.append(TableRows(ORDER_FLOW.name, ts, {"symbol": c.symbol, "venue": [f.venue for f in c.flows]},
                              {"aggressive_buy_ratio": [f.aggressive_buy_ratio for f in c.flows],
                               "cvd": [f.cvd for f in c.flows]}))
    h = c.health
    if h is not None and k(BOOK_HEALTH.name):
        rows.append(TableRows(BOOK_HEALTH.name, ts, {"venue": list(h.venues), "market": list(h.markets)},
                              {"synced": list(h.synced), **h.counts}))
    if c.summary is not None and k(COB_SUMMARY.name):
        rows.append(TableRow(COB_SUMMARY.name, ts, dict(tags), dict(c.summary)))
    if k(SIGNALS.name):
        rows.extend(signal_row(c.symbol, ts, sig) for sig in c.signals)
    if c.buckets is not None and k(COB_BUCKETS.name):
        rows.append(TableRows(COB_BUCKETS.name, ts, tags, c.buckets))
    if c.imbalance_ma is not None and k(IMBALANCE_MA.name):
        rows.append(TableRows(IMBALANCE_MA.name, ts, tags, c.imbalance_ma))
    return rows


def feature_rows(f: FeatureSecond, keep: Keep = None, cob: bool = True) -> list[AnyRow]:
    """The second's COB rows (`cob`), then its indicators, pivots and features rows (those
    `keep` names)."""
    rows = cob_rows(f.cob, keep) if cob else []
    symbol = f.cob.symbol
    k = _keeps(keep)
    for ind in f.indicators if k(INDICATORS.name) else ():
        rows.append(TableRow(INDICATORS.name, ind.start_s * NS, {"symbol": symbol, "timeframe": ind.timeframe},
                             dict(ind.values)))
    for tp in f.pivots if k(PIVOTS.name) else ():
        p = tp.pivot
        rows.append(TableRow(PIVOTS.name, p.start_ns, {"symbol": symbol, "timeframe": tp.timeframe, "kind": p.kind},
                             {"level": p.level, "price": p.price, "confirmed_ts": p.confirmed_ns}))
    v = f.vectors
    if v is not None and k(FEATURES.name):
        q = v.quality
        rows.append(TableRow(FEATURES.name, f.cob.s * NS, {"symbol": symbol, "layout": LAYOUT}, {
            "quality": q.quality, "completeness": q.completeness, "freshness": q.freshness,
            "cnn": v.cnn, "rl": v.rl}))
    return rows


def model_row(symbol: str, ts: int, m: ModelOutput) -> TableRow:
    """A model_outputs row: an action model's (the dqn) or a direction model's."""
    tags = {"symbol": symbol, "model_type": m.kind, "model_name": m.name}
    if m.kind == "dqn":
        return TableRow(MODEL_OUTPUTS.name, ts, tags, {
            "confidence": m.confidence, "action": m.action, "action_confidence": m.confidence, "direction": None,
            "direction_confidence": None, "probabilities": np.asarray(m.probabilities, np.float64),
            "pivots": np.zeros(0)})
    k = m.direction + 1 if m.direction is not None else int(np.argmax(m.probabilities))
    pivots = np.zeros(0) if m.pivots is None else np.asarray(m.pivots).reshape(-1).astype(np.float64)
    return TableRow(MODEL_OUTPUTS.name, ts, tags, {
        "confidence": m.confidence, "action": None, "action_confidence": None, "direction": DIRECTIONS[k],
        "direction_confidence": m.confidence, "probabilities": np.asarray(m.probabilities, np.float64),
        "pivots": pivots})


def outcome_row(symbol: str, o: Outcome) -> TableRow:
    return TableRow(PREDICTION_OUTCOMES.name, o.second * NS, {"symbol": symbol, "source": o.source}, {
        "direction": o.direction, "confidence": o.confidence, "horizon_s": o.horizon_s,
        "realized_return_bps": o.realized_return_bps, "hit": o.hit, "rolling_accuracy": o.rolling_accuracy})


def made_rows(m: StrategyMade, keep: Keep = None) -> list[AnyRow]:
    """signals, prediction_outcomes and model_outputs of one second of the strategy step
    (those `keep` names)."""
    ts, k = m.s * NS, _keeps(keep)
    rows: list[AnyRow] = [signal_row(m.symbol, ts, sig) for sig in m.signals] if k(SIGNALS.name) else []
    if k(PREDICTION_OUTCOMES.name):
        rows.extend(outcome_row(m.symbol, o) for o in m.outcomes)
    if k(MODEL_OUTPUTS.name):
        rows.extend(model_row(m.symbol, ts, x) for x in m.models)
    if k(MODEL_EVENTS.name):
        rows.extend(model_event_row(e) for e in m.events)
    return rows


def model_event_row(e: ModelEvent) -> TableRow:
    return TableRow(MODEL_EVENTS.name, e.s * NS, {"kind": e.kind, "event": e.event, "source": e.source}, {
        "checkpoint": e.checkpoint, "running": e.running, "reason": e.reason, "challenger_score": e.challenger_score,
        "champion_score": e.champion_score, "labels": e.labels, "p_value": e.p_value})


def venue_rows(v: VenueSecond) -> list[AnyRow]:
    """book_health (and top_of_book where synced) of one venue market's second."""
    ts, tags = v.s * NS, {"venue": v.venue, "market": v.market}
    rows: list[AnyRow] = [TableRow(BOOK_HEALTH.name, ts, tags, dict(v.health))]
    t = v.top
    if t is not None:
        rows.append(TableRow(TOP_OF_BOOK.name, ts, tags, {
            "best_bid": t.best_bid, "best_bid_qty": t.best_bid_qty, "best_ask": t.best_ask,
            "best_ask_qty": t.best_ask_qty, "mid": t.mid}))
    return rows


# -- the account's records: every row tagged with its run ---------------------------------


def decision_row(d: DecisionRecord) -> TableRow:
    return TableRow(DECISIONS.name, d.s * NS, {"symbol": d.symbol, "source": d.source, "run": d.run}, {
        "action": d.action, "confidence": d.confidence, "score": d.score, "reason": d.reason, "models": d.models})


def fill_row(f: FillRecord) -> TableRow:
    return TableRow(FILLS.name, f.s * NS, {"symbol": f.symbol, "venue": f.venue, "run": f.run}, {
        "side": f.side, "qty": f.qty, "price": f.price, "fee": f.fee, "rate": f.rate, "order_id": f.order_id,
        "decision_ts": f.decision_s * NS, "slice": f.slice, "liquidity": f.liquidity, "wait_s": f.wait_s})


def order_row(o: OrderRecord) -> TableRow:
    return TableRow(ORDERS.name, o.s * NS, {"symbol": o.symbol, "run": o.run}, {
        "order_id": o.order_id, "decision_ts": o.decision_s * NS, "reason": o.reason, "route": o.route,
        "side": o.side, "qty": o.qty, "filled": o.filled, "avg_price": o.notional / o.filled if o.filled > 0 else None,
        "fee": o.fees, "status": o.status, "type": o.type, "price": o.price, "stop_price": o.stop_price,
        "venue": o.venue, "client_id": o.client_id})


def position_row(p: PositionRecord) -> TableRow:
    return TableRow(POSITIONS.name, p.s * NS, {"symbol": p.symbol, "run": p.run}, {
        "position": p.position, "avg_price": p.avg_price, "mid": p.mid, "unrealized": p.unrealized,
        "realized": p.realized, "fees": p.fees})


def equity_row(e: EquityRecord) -> TableRow:
    return TableRow(EQUITY.name, e.s * NS, {"run": e.run}, {
        "equity": e.equity, "cash": e.cash, "exposure": e.exposure, "peak": e.peak, "drawdown": e.drawdown,
        "halted": e.halted})


def risk_event_row(r: RiskEventRecord) -> TableRow:
    e = r.event
    return TableRow(RISK_EVENTS.name, r.s * NS, {"symbol": r.symbol, "rule": e.rule, "run": r.run}, {
        "action": e.action, "value": e.value, "threshold": e.threshold, "qty_before": e.qty_before,
        "qty_after": e.qty_after, "detail": e.detail})


def _ms(a: int | None, b: int | None) -> float | None:
    return (a - b) / 1e6 if a and b else None


def live_order_row(r: ExecutionReport) -> TableRow:
    return TableRow(LIVE_ORDERS.name, r.ts_ns, {"symbol": r.symbol, "venue": r.venue, "run": r.run}, {
        "client_id": r.client_id, "venue_order_id": r.venue_order_id, "status": r.status, "side": r.side,
        "type": r.type, "qty": r.qty, "price": r.price, "filled": r.filled, "avg_price": r.avg_price, "fee": r.fee,
        "reason": r.reason[:500], "decision_ts": r.decided_s * NS if r.decided_s else None,
        "sent_ms": _ms(r.sent_ns, r.decided_ns), "ack_ms": _ms(r.acked_ns, r.decided_ns)})


def reconciliation_row(r: Reconciliation) -> TableRow:
    return TableRow(RECONCILIATION.name, r.ts_ns, {"venue": r.venue, "what": r.what, "run": r.run}, {
        "item": r.key, "ours": r.ours, "venue_says": r.venue_says, "action": r.action})


def balance_row(b: Balance) -> TableRow:
    return TableRow(VENUE_BALANCES.name, b.ts_ns, {"venue": b.venue, "asset": b.asset, "run": b.run},
                    {"total": b.total})


def gateway_event_rows(e: GatewayEvent, keep: Keep) -> list[AnyRow]:
    """A kill-switch action or a refusal of the gateway: a risk_events row (the operator's
    commands themselves are the gateway's bookkeeping, not rows)."""
    if e.rule == "command" or not _keeps(keep)(RISK_EVENTS.name):
        return []
    return [TableRow(RISK_EVENTS.name, e.ts_ns, {"symbol": e.symbol or "account", "rule": e.rule, "run": e.run}, {
        "action": e.action, "value": None, "threshold": None, "qty_before": None, "qty_after": None,
        "detail": f"{e.venue}: {e.detail}"[:500] if e.venue else e.detail[:500]})]


def _keeps(keep: Keep) -> Callable[[str], bool]:
    """`keep` as a test of a table's name."""
    return _every if keep is None else keep.__contains__


def _every(_: str) -> bool:
    return True

#: records of one table each: (its table, its row)
_ONE: dict[type, tuple[str, Callable[[Any], TableRow]]] = {
    DecisionRecord: (DECISIONS.name, decision_row),
    FillRecord: (FILLS.name, fill_row),
    OrderRecord: (ORDERS.name, order_row),
    PositionRecord: (POSITIONS.name, position_row),
    EquityRecord: (EQUITY.name, equity_row),
    RiskEventRecord: (RISK_EVENTS.name, risk_event_row),
    ExecutionReport: (LIVE_ORDERS.name, live_order_row),
    Reconciliation: (RECONCILIATION.name, reconciliation_row),
    Balance: (VENUE_BALANCES.name, balance_row),
}
#: records of several tables: their rows of the kept ones
_MANY: dict[type, Callable[[Any, Keep], list[AnyRow]]] = {
    CobSecond: cob_rows,
    FeatureSecond: feature_rows,
    OpenBars: lambda o, keep: bars_rows(o.symbol, o.bars) if _keeps(keep)(OHLCV.name) else [],
    StrategyMade: made_rows,
    VenueSecond: lambda v, keep: [r for r in venue_rows(v) if _keeps(keep)(r.table)],
    OrderIntent: lambda i, keep: [],  # not a row: the orders topic's (the gateway reports what became of it)
    GatewayEvent: gateway_event_rows,
}


def rows_of(records: Iterable[Any], keep: Keep = None) -> list[AnyRow]:
    """The rows of these records (of any stage), in their order; `keep`: of these tables only
    (the others are never made)."""
    out: list[AnyRow] = []
    k = _keeps(keep)
    for r in records:
        one = _ONE.get(type(r))
        if one is None:
            out.extend(_MANY[type(r)](r, keep))
        elif k(one[0]):
            out.append(one[1](r))
    return out


def rows_and_dead(batch: list[Seconds], keep: Keep = None) -> list[AnyRow | DeadLetter]:
    """A batch of Seconds -> their rows and dead letters (split by the flow's ends).
    `keep`: the rows of these tables only (None: all)."""
    out: list[AnyRow | DeadLetter] = []
    for item in batch:
        out.extend(rows_of(item.records, keep))
        out.extend(rows_of(item.open_bars, keep))
        out.extend(item.dead)
    return out


def keeping(keep: frozenset[str] | None) -> Callable[[list[Seconds]], list[AnyRow | DeadLetter]]:
    """`rows_and_dead` of these tables, as a flow step's function."""
    return partial(rows_and_dead, keep=keep)
