"""Bitfinex checksums by hand (Bitfinex API v2 docs, "Checksums"): the signed CRC32 of
"bid1price:bid1amount:ask1price:ask1amount:..." over the best 25 levels, asks with their
negative amounts, each number printed as JavaScript's Number.prototype.toString prints it
(ECMA-262 Number::toString: plain decimal for 1e-6 <= |x| < 1e21, exponent form outside)."""

from __future__ import annotations

import zlib

import pytest

from cobflow.connectors.base import signed32
from cobflow.connectors.bitfinex import BitfinexBook, js_number
from cobflow.events import BookDelta, BookSnapshot

M = "BTC-USD"


@pytest.mark.parametrize("x,js", [
    (0.0, "0"), (-0.0, "0"), (5.0, "5"), (100.0, "100"), (-0.5, "-0.5"), (7254.7, "7254.7"),
    (0.0001, "0.0001"), (0.00001, "0.00001"), (0.000015, "0.000015"), (0.000001, "0.000001"),
    (1e-7, "1e-7"), (-3.3e-8, "-3.3e-8"), (1e16, "10000000000000000"),
    (123456789012345680000.0, "123456789012345680000"), (1e21, "1e+21"), (1.5e22, "1.5e+22"),
])
def test_numbers_print_as_javascript_prints_them(x, js):
    assert js_number(x) == js


def crc(text: str) -> int:
    return signed32(zlib.crc32(text.encode()))


def test_a_book_with_a_tiny_amount_verifies_the_javascript_printing():
    book = BitfinexBook()
    # JavaScript prints 0.00001 as "0.00001" (Python's repr says "1e-05")
    snap = BookSnapshot("bitfinex", M, 1, [(7254.7, 3.3)], [(7254.8, 0.00001)], seq=10)
    assert book.apply(snap) is None and book.synced
    ok = BookDelta("bitfinex", M, 2, [], [], seq=11, checksum=crc("7254.7:3.3:7254.8:-0.00001"))
    assert book.apply(ok) is None
    bad = BookDelta("bitfinex", M, 3, [], [], seq=12, checksum=crc("7254.7:3.3:7254.8:-1e-5"))
    assert "checksum mismatch" in book.apply(bad)
    assert book.health.checksum_checks == 2 and book.health.checksum_failures == 1
