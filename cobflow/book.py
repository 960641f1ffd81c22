"""An L2 order book whose best bid and ask are always at hand.

Each side is a dict (price -> size) plus the list of its prices kept sorted with `bisect`:
a size change is one dict store, a new or removed price one C-level insort/delete, and the
best price is the list's end. Nothing ever scans the book for its best price, and no level
goes through a Python-level container (this is the hottest loop of every flow).

A side can also carry one token per level, aligned with its prices: the level as the venue's
checksum prints it. A checksum of the best n levels is then a slice and a join in C, instead
of formatting n levels in Python on every frame.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Callable, Iterable, Iterator, Sequence

import numpy as np

Level = tuple[float, float]  # (price, size)


class BookSide:
    """One side: `sizes` by price and `prices` ascending. Bids are best at the end.

    `tokens` is None, or a list aligned with `prices` (see the module's docstring); a side
    built with tokens must be given one per level on every `apply`.
    """

    __slots__ = ("sizes", "prices", "is_bid", "tokens")

    def __init__(self, is_bid: bool, levels: Iterable[Level] = (), tokens: Iterable[object] | None = None) -> None:
        self.is_bid = is_bid
        if tokens is None:
            self.sizes: dict[float, float] = {p: q for p, q in levels if q > 0}
            self.prices: list[float] = sorted(self.sizes)
            self.tokens: list[object] | None = None
            return
        by_price = {lv[0]: (lv[1], t) for lv, t in zip(levels, tokens, strict=True) if lv[1] > 0}
        self.prices = sorted(by_price)
        self.sizes = {p: by_price[p][0] for p in self.prices}
        self.tokens = [by_price[p][1] for p in self.prices]

    def apply(self, levels: Iterable[Level], tokens: Iterable[object] | None = None) -> None:
        """Set each level's absolute size; size 0 removes the level."""
        if self.tokens is not None:
            self._apply_tokens(levels, tokens)
            return
        sizes, prices = self.sizes, self.prices
        for price, size in levels:
            if size > 0:
                if price not in sizes:
                    insort(prices, price)
                sizes[price] = size
            elif price in sizes:
                del sizes[price]
                del prices[bisect_left(prices, price)]

    def _apply_tokens(self, levels: Iterable[Level], tokens: Iterable[object] | None) -> None:
        if tokens is None:
            raise ValueError("this book side keeps a token per level: apply() needs them")
        sizes, prices, toks = self.sizes, self.prices, self.tokens
        for (price, size), token in zip(levels, tokens, strict=True):
            if size > 0:
                i = bisect_left(prices, price)
                if price in sizes:
                    toks[i] = token  # type: ignore[index]
                else:
                    prices.insert(i, price)
                    toks.insert(i, token)  # type: ignore[union-attr]
                sizes[price] = size
            elif price in sizes:
                del sizes[price]
                i = bisect_left(prices, price)
                del prices[i]
                del toks[i]  # type: ignore[union-attr]

    def clear(self) -> None:
        self.sizes.clear()
        self.prices.clear()
        if self.tokens is not None:
            self.tokens.clear()

    def top_tokens(self, n: int) -> list[object]:
        """The tokens of the best n levels, best first."""
        t = self.tokens
        if t is None:
            raise ValueError("this book side keeps no tokens")
        return t[:-n - 1:-1] if self.is_bid else t[:n]

    def retokenize(self, token: Callable[[float, float], object]) -> None:
        """Recompute every level's token (the venue changed how it prints levels)."""
        sizes = self.sizes
        self.tokens = [token(p, sizes[p]) for p in self.prices]

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

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(prices ascending, their sizes) as float64 arrays, without a Python-level loop."""
        n = len(self.prices)
        return (np.fromiter(self.prices, dtype=np.float64, count=n),
                np.fromiter(map(self.sizes.__getitem__, self.prices), dtype=np.float64, count=n))

    def pop_worst(self) -> float:
        i = 0 if self.is_bid else -1
        price = self.prices.pop(i)
        del self.sizes[price]
        if self.tokens is not None:
            del self.tokens[i]
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

    def load(self, bids: Iterable[Level], asks: Iterable[Level],
             bid_tokens: Iterable[object] | None = None, ask_tokens: Iterable[object] | None = None) -> None:
        """Replace the whole book (a snapshot); zero sizes are not stored."""
        self.bids = BookSide(True, bids, bid_tokens)
        self.asks = BookSide(False, asks, ask_tokens)

    def apply(self, bids: Sequence[Level], asks: Sequence[Level],
              bid_tokens: Sequence[object] | None = None, ask_tokens: Sequence[object] | None = None) -> None:
        """Set each level's absolute size; size 0 removes the level."""
        if bids:
            self.bids.apply(bids, bid_tokens)
        if asks:
            self.asks.apply(asks, ask_tokens)

    def best_bid(self) -> Level | None:
        p = self.bids.prices
        return (p[-1], self.bids.sizes[p[-1]]) if p else None

    def best_ask(self) -> Level | None:
        p = self.asks.prices
        return (p[0], self.asks.sizes[p[0]]) if p else None

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """bid prices, bid sizes, ask prices, ask sizes; prices ascending (consolidation)."""
        return (*self.bids.arrays(), *self.asks.arrays())

    def crossed(self) -> bool:
        b, a = self.bids.prices, self.asks.prices
        return bool(b and a and b[-1] >= a[0])

    def __len__(self) -> int:
        return len(self.bids) + len(self.asks)
