"""Simulated captures for tests, cached per (seconds, seed, resnapshot)."""

from __future__ import annotations

import functools
from pathlib import Path

from cobflow.config import load_symbols
from cobflow.raw import RawMessage
from cobflow.simulator import SimConfig, simulate

ALL_VENUES = Path(__file__).parent / "data" / "all_venues.yaml"
VENUES = ("binance", "coinbase", "kraken", "bitfinex", "htx", "okx", "bybit")


@functools.lru_cache(maxsize=8)
def sim(seconds: float = 20.0, seed: int = 7, resnapshot_s: float | None = None,
        venues: tuple[str, ...] | None = None) -> tuple[RawMessage, ...]:
    cfg = SimConfig(seed=seed, duration_s=seconds, resnapshot_s=resnapshot_s)
    return tuple(simulate(load_symbols(ALL_VENUES), cfg, list(venues) if venues else None))
