"""What a venue's simulated connection emits: frames in the venue's own wire format.

Each venue module defines `SimWire(SimWireBase)` next to its parser, so the format it writes
and the format it reads are quoted in one place.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

from cobflow.connectors.simulator.book import Change, MarketSpec, SimBook


@dataclass(slots=True)
class Frame:
    market: str | None  # canonical market, None for connection-level frames
    kind: str  # "ws" or "rest"
    channel: str
    payload: str | bytes  # bytes: a binary frame (HTX's gzip)


@dataclass(frozen=True, slots=True)
class SimTrade:
    side: str  # the taker's
    tick: int
    size: float
    trade_id: int


@dataclass(frozen=True, slots=True)
class WireProfile:
    """How a venue quotes: tick = 10 ** (floor(log10(price)) - tick_digits)."""

    tick_digits: int
    size_decimals: int
    max_levels: int


def dumps(obj: object) -> str:
    return orjson.dumps(obj).decode()


_ISO_SECOND: dict[int, str] = {}


def iso(t_ns: int) -> str:
    """RFC 3339 with nanoseconds, as Coinbase prints its times."""
    second = t_ns // 1_000_000_000
    head = _ISO_SECOND.get(second)
    if head is None:
        if len(_ISO_SECOND) > 10_000:
            _ISO_SECOND.clear()
        head = _ISO_SECOND[second] = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{head}.{t_ns % 1_000_000_000:09d}Z"


class SimWireBase:
    """One simulated connection carrying all of a venue's markets."""

    venue = ""
    profile = WireProfile(tick_digits=6, size_decimals=8, max_levels=50)
    out_of_band_snapshot = False  # the venue's snapshot is a separate request (REST / req)

    def __init__(self, specs: dict[str, MarketSpec], rng: random.Random) -> None:
        self.specs = specs
        self.rng = rng
        self._tokens: dict[tuple[str, int, float], str] = {}

    def level_text(self, spec: MarketSpec, tick: int, size: float) -> str:
        """One level as the venue's checksum prints it (checksummed venues define it)."""
        raise NotImplementedError(f"{type(self).__name__} has no checksum")

    def checksum_token(self, spec: MarketSpec, tick: int, size: float) -> str:
        """`level_text`, cached: the same levels recur in every checksum."""
        key = (spec.market, tick, size)
        tok = self._tokens.get(key)
        if tok is None:
            if len(self._tokens) > 200_000:
                self._tokens.clear()
            tok = self._tokens[key] = self.level_text(spec, tick, size)
        return tok

    @staticmethod
    def wire_symbol(market: str) -> str:
        return market

    def open(self, t_ns: int) -> list[Frame]:
        """Frames the connection receives before any market data."""
        return []

    def subscribed(self, t_ns: int, market: str, book: SimBook) -> list[Frame]:
        """Frames right after subscribing to a market (usually its snapshot)."""
        return []

    def snapshot(self, t_ns: int, market: str, book: SimBook) -> list[Frame]:
        """The out-of-band snapshot, for venues that need one."""
        return []

    def update(self, t_ns: int, market: str, book: SimBook, changes: list[Change]) -> list[Frame]:
        raise NotImplementedError

    def trades(self, t_ns: int, market: str, trades: list[SimTrade]) -> list[Frame]:
        raise NotImplementedError
