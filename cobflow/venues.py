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

#: Venues cobflow reads from recordings only (`import-capture`, `books verify`, `compute`):
#: they have no live client and no simulated feed yet.
RECORDING_ONLY: frozenset[str] = frozenset({"kucoin"})


def recording_only(venues: list[str] | set[str], command: str) -> str | None:
    """The one-line refusal of `command` (live, simulate) for the venues among `venues` that
    exist only as recordings, or None."""
    only = sorted(set(venues) & RECORDING_ONLY)
    if not only:
        return None
    hint = " or name the others with --venues" if command == "live" else ""
    return (f"{', '.join(only)}: recordings only (import-capture, books verify, compute), no {command} feed yet; "
            f"leave {'it' if len(only) == 1 else 'them'} out of the symbols file{hint}")

