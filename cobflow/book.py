"""An L2 order book whose best bid and ask are always at hand.

Prices are kept in sorted maps, so the best level is an O(1) peek after each O(log n)
update: nothing ever scans the book for its best price.
"""

from __future__ import annotations

from collections.abc import Iterable

from sortedcontainers import SortedDict

Level = tuple[float, float]  # (price, size)


class L2Book:
    __slots__ = ("bids", "asks")

    def __init__(self) -> None:
        self.bids: SortedDict = SortedDict()
        self.asks: SortedDict = SortedDict()

    def clear(self) -> None:
        self.bids.clear()
        self.asks.clear()

    def load(self, bids: Iterable[Level], asks: Iterable[Level]) -> None:
        """Replace the whole book (a snapshot); zero sizes are not stored."""
        self.bids = SortedDict((p, q) for p, q in bids if q > 0)
        self.asks = SortedDict((p, q) for p, q in asks if q > 0)

    @staticmethod
    def _apply(side: SortedDict, levels: Iterable[Level]) -> None:
        for price, size in levels:
            if size > 0:
                side[price] = size
            else:
                side.pop(price, None)

    def apply(self, bids: Iterable[Level], asks: Iterable[Level]) -> None:
        """Set each level's absolute size; size 0 removes the level."""
        self._apply(self.bids, bids)
        self._apply(self.asks, asks)

    def best_bid(self) -> Level | None:
        return self.bids.peekitem(-1) if self.bids else None

    def best_ask(self) -> Level | None:
        return self.asks.peekitem(0) if self.asks else None

    def crossed(self) -> bool:
        return bool(self.bids and self.asks and self.bids.peekitem(-1)[0] >= self.asks.peekitem(0)[0])

    def __len__(self) -> int:
        return len(self.bids) + len(self.asks)
