"""The venue registry: every venue id of the raw-message contract (CAPTURE.md's `exchange`).

This is the one list. The connector modules are found by these ids (`connectors.<id>`),
the symbols file is checked against it, the native core says which of them it reads, and
the recordings importer and the tests loop over the connectors found here.

Ties: where messages of several venues share a `ts_recv`, every part of cobflow orders
them by venue id as text (`venue_key`), and a venue's own messages keep their arrival
order. The rule depends on the ids alone, never on the order of a list.
"""

from __future__ import annotations

VENUES: tuple[str, ...] = ("binance", "bitfinex", "bybit", "coinbase", "htx", "kraken", "kucoin", "okx")


def venue_key(venue: str) -> str:
    """The tie-break key of a venue among messages with the same `ts_recv`: its id."""
    return venue
