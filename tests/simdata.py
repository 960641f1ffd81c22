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


@functools.lru_cache(maxsize=8)
def sim(seconds: float = 20.0, seed: int = 7, resnapshot_s: float | None = None,
        venues: tuple[str, ...] | None = None, alpha: float = 0.0,
        basis_bps: float | None = None) -> tuple[RawMessage, ...]:
    cfg = SimConfig(seed=seed, duration_s=seconds, resnapshot_s=resnapshot_s, alpha=alpha, basis_bps=basis_bps)
    return tuple(simulate(load_symbols(ALL_VENUES), cfg, list(venues) if venues else None))
