"""The simulator's own venue book: integer price ticks -> sizes, and the strings a venue prints."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class MarketSpec:
    """How one venue quotes one market: its tick, decimals and symbol on the wire."""

    venue: str
    market: str  # canonical BASE-QUOTE
    wire_symbol: str  # the venue's own spelling
    tick_size: float
    price_decimals: int
    size_decimals: int
    max_levels: int  # per side, as the venue's feed depth
    # Formatting dominates the simulator's time (checksums print the top levels on every
    # update), and the same ticks and sizes come back all the time: remember them.
    _texts: dict = field(default_factory=dict, compare=False, repr=False)
    _sizes: dict = field(default_factory=dict, compare=False, repr=False)

    _prices: dict = field(default_factory=dict, compare=False, repr=False)

    def price(self, tick: int) -> float:
        p = self._prices.get(tick)
        if p is None:
            if len(self._prices) > 200_000:
                self._prices.clear()
            p = self._prices[tick] = round(tick * self.tick_size, self.price_decimals)
        return p

    def price_text(self, tick: int) -> str:
        text = self._texts.get(tick)
        if text is None:
            if len(self._texts) > 200_000:
                self._texts.clear()
            text = self._texts[tick] = f"{tick * self.tick_size:.{self.price_decimals}f}"
        return text

    def size_text(self, size: float) -> str:
        text = self._sizes.get(size)
        if text is None:
            if len(self._sizes) > 200_000:
                self._sizes.clear()
            text = self._sizes[size] = f"{size:.{self.size_decimals}f}"
        return text


Change = tuple[str, int, float]  # ("bid"|"ask", tick, new size; 0 removes)


class SimBook:
    """Plain dicts: the simulator knows its touch, so only checksums and snapshots sort."""

    __slots__ = ("spec", "bids", "asks")

    def __init__(self, spec: MarketSpec) -> None:
        self.spec = spec
        self.bids: dict[int, float] = {}
        self.asks: dict[int, float] = {}

    def side(self, side: str) -> dict[int, float]:
        return self.bids if side == "bid" else self.asks

    def top_bids(self, n: int) -> list[tuple[int, float]]:
        bids = self.bids
        return [(t, bids[t]) for t in sorted(bids, reverse=True)[:n]]

    def top_asks(self, n: int) -> list[tuple[int, float]]:
        asks = self.asks
        return [(t, asks[t]) for t in sorted(asks)[:n]]

    def sorted_bids(self) -> list[tuple[int, float]]:
        return self.top_bids(len(self.bids))

    def sorted_asks(self) -> list[tuple[int, float]]:
        return self.top_asks(len(self.asks))
