"""Which book keeps a venue market: the native core's where it reads the venue and the
market's wire name reads back as the market, else the venue connector's Python book."""

from __future__ import annotations

from cobflow.connectors import get_venue
from cobflow.connectors.base import BookSyncBase
from cobflow.native import NativeVenueBook, native_book
from cobflow.operators.parse import parse_batch


def native_venue_book(venue: str, market: str) -> NativeVenueBook | None:
    """The native core's book of this market (frames it leaves alone go through
    `parse_batch`), or None where the Python book must serve."""
    module = get_venue(venue)
    wire = module.venue_symbol(market)
    if module.canonical_symbol(wire) != market:
        return None
    return native_book(venue, market, wire, parse_batch)


def venue_book(venue: str, market: str) -> BookSyncBase | NativeVenueBook:
    return native_venue_book(venue, market) or get_venue(venue).BookSync()
