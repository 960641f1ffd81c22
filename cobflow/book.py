"""An L2 order book whose best bid and ask are always at hand.

Each side is a dict (price -> size) plus the list of its prices kept sorted with `bisect`:
a size change is one dict store, a new or removed price one C-level insort/delete, and the
best price is the list's end. Nothing ever scans the book for its best price, and no level
goes through a Python-level container (this is the hottest loop of every flow).
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterable, Iterator

Level = tuple[float, float]  # (price, size)


class BookSide:
    """One side: `sizes` by price and `prices` ascending. Bids are best at the end."""

    __slots__ = ("sizes", "prices", "is_bid")

    def __init__(self, is_bid: bool, levels: Iterable[Level] = ()) -> None:
        self.is_bid = is_bid
        self.sizes: dict[float, float] = {p: q for p, q in levels if q > 0}
        self.prices: list[float] = sorted(self.sizes)

    def apply(self, levels: Iterable[Level]) -> None:
        """Set each level's absolute size; size 0 removes the level."""
        sizes, prices = self.sizes, self.prices
        for price, size in levels:
            if size > 0:
                if price not in sizes:
                    insort(prices, price)
                sizes[price] = size
            elif price in sizes:
                del sizes[price]
                del prices[bisect_left(prices, price)]

    def clear(self) -> None:
        self.sizes.clear()
        self.prices.clear()

    def best(self) -> float | None:
        p = self.prices
        return (p[-1] if self.is_bid else p[0]) if p else None

    def top(self, n: int) -> list[float]:
        """The best n prices, best first."""
        p = self.prices
        return p[:-n - 1:-1] if self.is_bid else p[:n]

    def levels(self, n: int | None = None) -> list[Level]:
        """The best n levels (all by default), best first."""
        sizes = self.sizes
        return [(p, sizes[p]) for p in self.top(len(self.prices) if n is None else n)]

    def pop_worst(self) -> float:
        price = self.prices.pop(0 if self.is_bid else -1)
        del self.sizes[price]
        return price

    # a read-only mapping: price -> size (iteration order is not price order; use top/levels)
    def __len__(self) -> int:
        return len(self.prices)

    def __bool__(self) -> bool:
        return bool(self.prices)

    def __contains__(self, price: object) -> bool:
        return price in self.sizes

    def __getitem__(self, price: float) -> float:
        return self.sizes[price]

    def __iter__(self) -> Iterator[float]:
        return iter(self.sizes)

    def get(self, price: float, default: float | None = None) -> float | None:
        return self.sizes.get(price, default)

    def keys(self):  # type: ignore[no-untyped-def]
        return self.sizes.keys()

    def values(self):  # type: ignore[no-untyped-def]
        return self.sizes.values()

    def items(self):  # type: ignore[no-untyped-def]
        return self.sizes.items()


class L2Book:
    __slots__ = ("bids", "asks")

    def __init__(self) -> None:
        self.bids = BookSide(True)
        self.asks = BookSide(False)

    def clear(self) -> None:
        self.bids.clear()
        self.asks.clear()

    def load(self, bids: Iterable[Level], asks: Iterable[Level]) -> None:
        """Replace the whole book (a snapshot); zero sizes are not stored."""
        self.bids = BookSide(True, bids)
        self.asks = BookSide(False, asks)

    def apply(self, bids: Iterable[Level], asks: Iterable[Level]) -> None:
        """Set each level's absolute size; size 0 removes the level."""
        if bids:
            self.bids.apply(bids)
        if asks:
            self.asks.apply(asks)

    def best_bid(self) -> Level | None:
        p = self.bids.prices
        return (p[-1], self.bids.sizes[p[-1]]) if p else None

    def best_ask(self) -> Level | None:
        p = self.asks.prices
        return (p[0], self.asks.sizes[p[0]]) if p else None

    def crossed(self) -> bool:
        b, a = self.bids.prices, self.asks.prices
        return bool(b and a and b[-1] >= a[0])

    def __len__(self) -> int:
        return len(self.bids) + len(self.asks)
