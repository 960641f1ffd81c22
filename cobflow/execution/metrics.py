"""Backtest metrics (EXECUTION.md "Backtest metrics"), from a run's per-second equity series
and its fills, and the two baselines every report prints beside them.

Pure functions of arrays: the backtest command reads the run's Parquet (or QuestDB) into
them, the tests feed them crafted series.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

MINUTES_PER_YEAR = 525_600
NS = 1_000_000_000
MIN_RETURNS = 30  # Sharpe and Sortino are null on fewer one-minute returns
HOLD_RUN = ".buy_and_hold"  # the run tag of a run's buy-and-hold baseline: <run>.buy_and_hold

#: name -> formula, in the order reports print them
FORMULAS = {
    "total_return": "E_last / E_first - 1",
    "sharpe": "mean(r) / std(r, ddof=1) x sqrt(525600), r = one-minute returns of E (null when std is 0 or "
              "under 30 returns)",
    "sortino": "mean(r) / sqrt(mean(min(r, 0)^2)) x sqrt(525600) (null when no r < 0 or under 30 returns)",
    "returns": "the number of one-minute returns r",
    "max_drawdown": "max over seconds of (running peak of E - E) / running peak of E",
    "fees": "sum of fill fees",
    "turnover": "sum of |fill notional| / initial_cash",
    "fills": "fill rows",
    "round_trips": "trips from flat back to flat (a fill through 0 ends one and opens the next, pro rata)",
    "hit_rate": "round trips with realized PnL net of their fees > 0 / round trips",
    "exposure": "seconds with a non-zero position / seconds in the run",
}


@dataclass(frozen=True, slots=True)
class Fill:
    ts: int  # ns
    symbol: str
    qty: float  # signed: > 0 buys
    price: float
    fee: float


@dataclass(frozen=True, slots=True)
class RoundTrip:
    symbol: str
    opened: int  # ns of its first fill
    closed: int  # ns of the fill that took it back to flat
    side: str  # long or short: the sign of its first fill
    fills: int  # fills it has a part of
    max_qty: float  # the largest absolute position on the way
    pnl: float  # realized, before fees
    fees: float

    @property
    def net(self) -> float:
        return self.pnl - self.fees


def minute_returns(ts: np.ndarray, equity: np.ndarray) -> np.ndarray:
    """r = E_m / E_(m-1) - 1 over E at each UTC minute's last second in the series."""
    if len(ts) == 0:
        return np.zeros(0)
    minute = ts // (60 * NS)
    last = np.flatnonzero(np.append(minute[1:] != minute[:-1], True))  # the last row of each minute
    e = equity[last]
    return e[1:] / e[:-1] - 1


def sharpe(r: np.ndarray) -> float | None:
    if len(r) < MIN_RETURNS:
        return None
    sd = float(np.std(r, ddof=1))
    return None if sd == 0 else float(np.mean(r)) / sd * math.sqrt(MINUTES_PER_YEAR)


def sortino(r: np.ndarray) -> float | None:
    if len(r) < MIN_RETURNS or not np.any(r < 0):
        return None
    return float(np.mean(r)) / math.sqrt(float(np.mean(np.minimum(r, 0.0) ** 2))) * math.sqrt(MINUTES_PER_YEAR)


def max_drawdown(equity: np.ndarray) -> float:
    if len(equity) == 0:
        return 0.0
    peak = np.maximum.accumulate(equity)
    return float(np.max((peak - equity) / peak))


def round_trips(fills: Iterable[Fill]) -> list[RoundTrip]:
    """Trips from flat back to flat, per symbol, fills in time order (as given within a
    second). A fill that goes through zero ends one trip and opens the next, its quantity
    and fee split pro rata; a trip still open at the end is not one."""
    out: list[RoundTrip] = []
    state: dict[str, dict] = {}
    for f in fills:
        st = state.get(f.symbol)
        parts: list[tuple[float, float]] = []  # (qty, fee) of this fill per trip it touches
        pos = 0.0 if st is None else st["pos"]
        if pos != 0 and np.sign(f.qty) != np.sign(pos) and abs(f.qty) > abs(pos):
            close = -pos
            parts = [(close, f.fee * abs(close) / abs(f.qty)), (f.qty - close, f.fee * abs(f.qty - close) / abs(f.qty))]
        else:
            parts = [(f.qty, f.fee)]
        for q, fee in parts:
            st = state.get(f.symbol)
            if st is None or st["pos"] == 0:
                st = state[f.symbol] = {"pos": 0.0, "opened": f.ts, "cash": 0.0, "fees": 0.0, "fills": 0,
                                        "max": 0.0, "side": "long" if q > 0 else "short"}
            st["pos"] += q
            st["cash"] -= q * f.price
            st["fees"] += fee
            st["fills"] += 1
            st["max"] = max(st["max"], abs(st["pos"]))
            if abs(st["pos"]) <= 1e-12 * max(abs(q), 1.0):
                out.append(RoundTrip(f.symbol, st["opened"], f.ts, st["side"], st["fills"], st["max"], st["cash"],
                                     st["fees"]))
                st["pos"] = 0.0
    return out


def backtest_metrics(ts: np.ndarray, equity: np.ndarray, fills: Sequence[Fill], initial_cash: float,
                     seconds_exposed: int) -> dict[str, float | int | None]:
    """Every metric of EXECUTION.md's table, by its name. `ts`/`equity`: the `equity` rows in
    time order; `seconds_exposed`: seconds with a non-zero position (the `positions` rows)."""
    equity = np.asarray(equity, dtype=np.float64)
    r = minute_returns(np.asarray(ts, dtype=np.int64), equity)
    trips = round_trips(fills)
    return {
        "total_return": float(equity[-1] / equity[0] - 1) if len(equity) else 0.0,
        "sharpe": sharpe(r),
        "sortino": sortino(r),
        "returns": len(r),
        "max_drawdown": max_drawdown(equity),
        "fees": float(sum(f.fee for f in fills)),
        "turnover": float(sum(abs(f.qty * f.price) for f in fills) / initial_cash),
        "fills": len(fills),
        "round_trips": len(trips),
        "hit_rate": (sum(1 for t in trips if t.net > 0) / len(trips)) if trips else None,
        "exposure": seconds_exposed / len(equity) if len(equity) else 0.0,
    }


def no_trades(ts: np.ndarray, initial_cash: float) -> dict[str, float | int | None]:
    """The first baseline: cash kept, flat equity."""
    return backtest_metrics(ts, np.full(len(ts), initial_cash), [], initial_cash, 0)


def buy_and_hold(ts: np.ndarray, equity: np.ndarray, fills: Sequence[Fill], initial_cash: float
                 ) -> dict[str, float | int | None]:
    """The second baseline, from its rows (the flow's run `<run>.buy_and_hold`: each symbol's
    target bought at its first second with a book by the next-second rule, held, marked at
    the mids the account is marked at): its equity each second and its fills. Its position
    is non-zero from its first fill on."""
    ts = np.asarray(ts, dtype=np.int64)
    first = min((f.ts for f in fills), default=None)
    exposed = 0 if first is None else int(np.sum(ts >= first))
    return backtest_metrics(ts, np.asarray(equity, dtype=np.float64), list(fills), initial_cash, exposed)


#: name -> what it counts, for the orders part of a report (issue 32: limit orders)
ORDER_FORMULAS = {
    "maker_fills": "fill rows of resting limit orders (liquidity maker)",
    "taker_fills": "fill rows that took liquidity (market orders, crossing limit orders)",
    "maker_fees": "sum of maker fills' fees (negative: rebates)",
    "taker_fees": "sum of taker fills' fees",
    "limit_orders": "limit orders sent (rejected ones included)",
    "limit_fill_ratio": "filled qty / qty over the limit orders sent (null: none)",
    "queue_wait_s": "mean over maker fills, weighted by qty, of seconds from arrival to fill (null: none)",
}


def order_metrics(liquidity: np.ndarray, fees: np.ndarray, qty: np.ndarray, wait_s: np.ndarray,
                  limit_qty: np.ndarray, limit_filled: np.ndarray) -> dict[str, float | int | None]:
    """The orders part of a report: fills and fees by liquidity, the fill ratio of limit
    orders (each order's final qty and filled), and the average queue wait of maker fills."""
    maker = liquidity == "maker"
    wq = qty[maker].astype(np.float64)
    waits = wait_s[maker].astype(np.float64)
    sent = float(limit_qty.sum()) if len(limit_qty) else 0.0
    return {
        "maker_fills": int(maker.sum()),
        "taker_fills": int((~maker).sum()),
        "maker_fees": float(fees[maker].sum()),
        "taker_fees": float(fees[~maker].sum()),
        "limit_orders": len(limit_qty),
        "limit_fill_ratio": float(limit_filled.sum()) / sent if sent > 0 else None,
        "queue_wait_s": float((wq * waits).sum() / wq.sum()) if len(wq) and wq.sum() > 0 else None,
    }
