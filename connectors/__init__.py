"""Venue connectors, one module per venue, found by name: `connectors.<venue id>`.

A venue module defines:
  VENUE                 its id (CAPTURE.md), equal to the module name
  parse(raw)            RawMessage -> list of normalized events (raises MalformedFrame)
  BookSync              the venue's book with its sequence/checksum rules
  describe_frame(...)   channel and canonical symbol of a recorded frame (capture import)
  canonical_symbol(s)   the venue's spelling of a market -> BASE-QUOTE; venue_symbol the inverse
  CRYPTOFEED            the venue's name in cryptofeed recordings' file names
Adding a venue is adding one such module.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

from cobflow.venues import VENUES

_REQUIRED = ("VENUE", "parse", "BookSync", "describe_frame", "canonical_symbol", "venue_symbol")


class UnknownVenue(LookupError):
    pass


def available_venues() -> list[str]:
    """Venues that have a connector module here."""
    names = {m.name for m in pkgutil.iter_modules(__path__)}
    return [v for v in VENUES if v in names]


_LOADED: dict[str, ModuleType] = {}


def get_venue(venue: str) -> ModuleType:
    """The venue's connector module (checked once, then kept: parsers look it up per batch)."""
    module = _LOADED.get(venue)
    if module is None:
        module = _LOADED[venue] = _load(venue)
    return module


def _load(venue: str) -> ModuleType:
    if venue not in VENUES:
        raise UnknownVenue(f"unknown venue {venue!r}; known venues: {', '.join(VENUES)}")
    if venue not in available_venues():
        raise UnknownVenue(
            f"venue {venue!r} has no connector yet (available: {', '.join(available_venues())})"
        )
    module = importlib.import_module(f"{__name__}.{venue}")
    missing = [name for name in _REQUIRED if not hasattr(module, name)]
    if missing:
        raise UnknownVenue(f"connectors.{venue} lacks {', '.join(missing)}")
    return module
