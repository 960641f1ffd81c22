"""Kraken v2 checksums by hand (Kraken's docs, "Spot Websockets v2: book checksum"): each of
the best 10 asks then the best 10 bids, price and quantity printed with the pair's decimals,
'.' removed and leading zeros stripped, concatenated, CRC32."""

from __future__ import annotations

import zlib

from cobflow.connectors.kraken import KrakenBook
from cobflow.events import BookDelta, BookSnapshot, Precision

M = "BTC-USD"


def crc(text: str) -> int:
    return zlib.crc32(text.encode())


def test_a_precision_change_mid_stream_prints_every_level_anew():
    book = KrakenBook()
    assert book.apply(Precision("kraken", M, 1, 1, 2, inferred=True)) is None
    # bid 100.5 x 1.25 -> "1005" "125"; ask 101.0 x 2.00 -> "1010" "200"
    snap = BookSnapshot("kraken", M, 2, [(100.5, 1.25)], [(101.0, 2.0)], checksum=crc("1010200" + "1005125"))
    assert book.apply(snap) is None and book.synced
    # the instrument channel now says 2 price and 3 size decimals: the untouched ask is
    # printed "101.00" x "2.000" -> "10100" "2000"; the bid 100.50 x 0.500 -> "10050" "500"
    assert book.apply(Precision("kraken", M, 3, 2, 3)) is None
    delta = BookDelta("kraken", M, 4, [(100.5, 0.5)], [], checksum=crc("101002000" + "10050500"))
    assert book.apply(delta) is None
    assert book.health.checksum_checks == 2 and book.health.checksum_failures == 0


def test_the_old_printing_no_longer_verifies_after_the_change():
    book = KrakenBook()
    book.apply(Precision("kraken", M, 1, 1, 2, inferred=True))
    book.apply(BookSnapshot("kraken", M, 2, [(100.5, 1.25)], [(101.0, 2.0)], checksum=crc("1010200" + "1005125")))
    book.apply(Precision("kraken", M, 3, 2, 3))
    reason = book.apply(BookDelta("kraken", M, 4, [(100.5, 0.5)], [], checksum=crc("1010200" + "100550")))
    assert reason is not None and "checksum mismatch" in reason and not book.synced
