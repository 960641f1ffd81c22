"""Simulated captures for tests, cached per (seconds, seed, resnapshot)."""

from __future__ import annotations

import functools
from pathlib import Path

from cobflow.config import load_symbols
from cobflow.connectors import available_venues, get_venue
from cobflow.connectors.simulator import SimConfig, simulate
from cobflow.raw import RawMessage

ALL_VENUES = Path(__file__).parent / "data" / "all_venues.yaml"
#: The venues the simulator speaks (a connector with a `SimWire`), from the registry.
VENUES = tuple(v for v in available_venues() if hasattr(get_venue(v), "SimWire"))


#: The simulated market of before issue 38 (bases of +-3 bps whatever the spread, USDT = USD,
#: no wider spreads in bursts): for the pinned expectations written on it.
BEFORE_38 = {"basis_bps": 3.0, "usdt_bps": 0.0, "burst_spread": 1.0}


@functools.lru_cache(maxsize=8)
def sim(seconds: float = 20.0, seed: int = 7, resnapshot_s: float | None = None,
        venues: tuple[str, ...] | None = None, alpha: float = 0.0, basis_bps: float | None = None,
        usdt_bps: float = 3.0, burst_spread: float = 3.0) -> tuple[RawMessage, ...]:
    cfg = SimConfig(seed=seed, duration_s=seconds, resnapshot_s=resnapshot_s, alpha=alpha, basis_bps=basis_bps,
                    usdt_bps=usdt_bps, burst_spread=burst_spread)
    return tuple(simulate(load_symbols(ALL_VENUES), cfg, list(venues) if venues else None))
