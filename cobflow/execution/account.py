"""One account in quote currency (EXECUTION.md "Accounting").

A fill of signed quantity q at price p with fee f: cash -= q x p + f, position += q. The
average entry price follows the average-cost method; reducing a position realizes
(exit price - avg entry) x reduced qty x sign of the position. Equity is cash plus every
position marked at its symbol's mid (the last known one when a second has none).
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: below this fraction of the quantity traded, what is left of a position is rounding
EPS = 1e-12


@dataclass
class Holding:
    position: float = 0.0
    avg_price: float = 0.0  # 0 while flat
    realized: float = 0.0  # cumulative, before fees
    fees: float = 0.0  # cumulative

    def unrealized(self, mid: float | None) -> float:
        return 0.0 if mid is None or self.position == 0 else (mid - self.avg_price) * self.position


def sign(x: float) -> int:
    return (x > 0) - (x < 0)


@dataclass
class Account:
    cash: float
    holdings: dict[str, Holding] = field(default_factory=dict)
    mids: dict[str, float] = field(default_factory=dict)  # the last known mid per symbol

    def holding(self, symbol: str) -> Holding:
        h = self.holdings.get(symbol)
        if h is None:
            h = self.holdings[symbol] = Holding()
        return h

    def position(self, symbol: str) -> float:
        h = self.holdings.get(symbol)
        return 0.0 if h is None else h.position

    def fill(self, symbol: str, q: float, p: float, fee: float) -> float:
        """Book a fill; returns the PnL it realized (before its fee)."""
        h = self.holding(symbol)
        self.cash -= q * p + fee
        h.fees += fee
        pos = h.position
        realized = 0.0
        if pos == 0 or sign(pos) == sign(q):
            new = pos + q
            h.avg_price = (abs(pos) * h.avg_price + abs(q) * p) / abs(new)
            h.position = new
            return realized
        closed = min(abs(q), abs(pos))
        realized = (p - h.avg_price) * closed * sign(pos)
        h.realized += realized
        new = pos + q
        if abs(new) <= EPS * max(abs(q), abs(pos)):
            h.position, h.avg_price = 0.0, 0.0
        elif sign(new) != sign(pos):  # through zero: the rest opens at this price
            h.position, h.avg_price = new, p
        else:
            h.position = new
        return realized

    def equity(self) -> float:
        return self.cash + sum(h.position * self.mids[s] for s, h in self.holdings.items()
                               if h.position != 0 and s in self.mids)

    def gross_exposure(self) -> float:
        return float(sum(abs(h.position) * self.mids[s] for s, h in self.holdings.items()
                         if h.position != 0 and s in self.mids))
