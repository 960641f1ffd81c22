"""Data quality per symbol and second (FEATURES.md "Data quality")."""

from __future__ import annotations

STALE_AFTER_S = 5.0
MIN_QUALITY = 0.5


def data_quality(synced: int, fresh: int, configured: int) -> tuple[float, float, float]:
    """(completeness, freshness, quality): synced venues and venues heard from within the
    stale window, each over the venues configured for the symbol."""
    completeness = synced / configured
    freshness = fresh / configured
    return completeness, freshness, completeness * freshness


def passes(quality: float, min_quality: float = MIN_QUALITY) -> bool:
    """The gate: no model runs and no new exposure is taken below `min_quality`."""
    return quality >= min_quality
