"""The venue registry: every venue id of the raw-message contract (CAPTURE.md's `exchange`).

This is the one list. The connector modules are found by these ids (`connectors.<id>`),
the symbols file is checked against it, the native core says which of them it reads, and
the recordings importer and the tests loop over the connectors found here.

Ties: where messages of several venues share a `ts_recv` and their order matters (the
trades of a symbol's `ALL` bars, the simulator's output, `cobflow record`), they are
ordered by venue id as text, and a venue's own messages keep their arrival order. The
rule depends on the ids alone, never on the order of this or any list.
"""

from __future__ import annotations

VENUES: tuple[str, ...] = ("binance", "bitfinex", "bybit", "coinbase", "htx", "kraken", "kucoin", "okx")

