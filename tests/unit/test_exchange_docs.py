"""Each current venue format against the exchange's own word: the example frames and worked
checksums the venues publish in their documentation (tests/fixtures/exchange_docs, each file
cited by page in its README) go through the Python connector and the native book, which must
agree with each other and with the numbers the page prints.

Our simulator writes the frames most other tests read; a misreading shared by the parser and
the simulator would pass those. These frames were written by the exchanges."""

from __future__ import annotations

import base64
import gzip
import json
import zlib
from pathlib import Path

import pytest

from cobflow.connectors import get_venue
from cobflow.operators.parse import market_key
from cobflow.raw import RawMessage
from tests.unit.test_native import book_state, native_venue_book, python_step

DOCS = Path(__file__).resolve().parents[1] / "fixtures" / "exchange_docs"
T0 = 1_700_000_000_000_000_000


def frame(venue: str, channel: str, market: str, name: str, text: str | None = None, i: int = 0) -> RawMessage:
    """The page's frame as a raw message, as our live client would record it (HTX: gzip)."""
    text = (DOCS / name).read_text() if text is None else text
    if venue == "htx":
        return RawMessage(T0 + i, venue, "ws", channel, market,
                          base64.b64encode(gzip.compress(text.encode())).decode(), "base64-gzip")
    return RawMessage(T0 + i, venue, "ws", channel, market, text)


def both(venue: str, market: str, frames: list[RawMessage]):
    """The Python book and the native book after the frames: they must agree frame by frame."""
    ref = get_venue(venue).BookSync()
    nb = native_venue_book(venue, market)
    assert nb is not None, f"the native core keeps no {venue} book"
    reasons = []
    for raw in frames:
        _, dead = python_step(ref, raw, market_key(venue, market))
        _, dead_native = nb.apply([raw])
        assert [(d.stage, d.reason) for d in dead_native] == [(d.stage, d.reason) for d in dead], raw.payload[:80]
        assert nb.health.as_dict() == ref.health.as_dict() and nb.synced == ref.synced
        assert book_state(nb) == book_state(ref)
        reasons += [f"{d.stage}: {d.reason}" for d in dead]
    return ref, reasons


def best(ref) -> tuple:
    b, a = ref.book.bids.levels(1), ref.book.asks.levels(1)
    return (b[0] if b else None), (a[0] if a else None)


def signed(crc: int) -> int:
    return crc - (1 << 32) if crc >= 1 << 31 else crc


# -- Kraken ------------------------------------------------------------------------------------
def test_kraken_v2_the_guides_snapshot_verifies_its_checksum_with_the_printed_decimals():
    """docs.kraken.com "Book checksum (WebSocket v2)": the BTC/USD snapshot, checksum
    3310070434; the guide's step: price "45285.2" -> "452852", qty "0.00100000" -> "100000"."""
    ref, reasons = both("kraken", "BTC-USD", [frame("kraken", "book", "BTC-USD", "kraken-v2-book-snapshot.json")])
    assert reasons == [] and ref.synced
    assert ref.health.checksum_checks == 1 and ref.health.checksum_failures == 0
    assert best(ref) == ((45283.5, 0.1), (45285.2, 0.001))
    assert len(ref.book.bids) == len(ref.book.asks) == 10


def test_kraken_v2_one_digit_changed_in_the_guides_snapshot_fails_its_checksum():
    text = (DOCS / "kraken-v2-book-snapshot.json").read_text().replace("1.54571953", "1.54571954")
    ref, reasons = both("kraken", "BTC-USD", [frame("kraken", "book", "BTC-USD", "", text)])
    assert ref.health.checksum_failures == 1 and not ref.synced
    assert len(reasons) == 1 and "checksum" in reasons[0]


def test_kraken_v1_the_guides_book_and_update_verify_974947235():
    """docs.kraken.com "Book checksum (WebSocket v1)": the guide's book (10 asks 0.05005..0.05050,
    10 bids 0.05000..0.04950, 0.00000500 each) and its example update, checksum "974947235":
    the update's four levels are all outside the best ten, so the checksum is the book's."""
    frames = [frame("kraken", "book", "BTC-USD", "kraken-v1-book-snapshot.json"),
              frame("kraken", "book", "BTC-USD", "kraken-v1-book-update.json", i=1)]
    ref, reasons = both("kraken", "BTC-USD", frames)
    assert reasons == [] and ref.synced
    assert ref.health.checksum_checks == 1 and ref.health.checksum_failures == 0
    assert best(ref) == ((0.05, 0.000005), (0.05005, 0.000005))
    assert len(ref.book.bids) == len(ref.book.asks) == 12  # book-1000: nothing cut
    # the guide's algorithm by hand: "0.05005" -> "5005", "0.00000500" -> "500"
    by_hand = "".join(f"{p}500" for p in range(5005, 5051, 5)) + "".join(
        f"{p}500" for p in (5000, 4995, 4990, 4980, 4975, 4970, 4965, 4960, 4955, 4950))
    assert zlib.crc32(by_hand.encode()) == 974947235


# -- OKX ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("name,check_string,printed", [
    # okx.com/docs-v5 "Order book channel", Checksum, example 1 (sides aligned) and example 2
    # (fewer bids than asks); the values are the ones OKX's v3 guide printed for the same books
    ("okx-checksum-example-1.json", "3366.1:7:3366.8:9:3366:6:3368:8", -1881014294),
    ("okx-checksum-example-2.json", "3366.1:7:3366.8:9:3368:8:3372:8", 831078360),
])
def test_okx_the_checksum_sections_examples_verify(name, check_string, printed):
    assert signed(zlib.crc32(check_string.encode())) == printed  # the page agrees with itself
    levels = json.loads((DOCS / name).read_text())
    envelope = {"arg": {"channel": "books", "instId": "BTC-USDT"}, "action": "snapshot",
                "data": [{**levels, "ts": "1597026383085", "checksum": printed, "prevSeqId": -1, "seqId": 1}]}
    ref, reasons = both("okx", "BTC-USDT", [frame("okx", "books", "BTC-USDT", "", json.dumps(envelope))])
    assert reasons == [] and ref.synced
    assert ref.health.checksum_checks == 1 and ref.health.checksum_failures == 0
    # the same levels in the other order of the string (all bids, then all asks) do not verify
    wrong = "3366.1:7:3366:6:3366.8:9:3368:8" if "3366:6" in check_string else "3366.1:7:3372:8:3368:8:3366.8:9"
    envelope["data"][0]["checksum"] = signed(zlib.crc32(wrong.encode()))
    ref, _ = both("okx", "BTC-USDT", [frame("okx", "books", "BTC-USDT", "", json.dumps(envelope))])
    assert ref.health.checksum_failures == 1 and not ref.synced


def okx_push(name: str, checksum: int | None = None, **seq) -> str:
    d = json.loads((DOCS / name).read_text())
    d["data"][0].update(seq)
    if checksum is not None:
        d["data"][0]["checksum"] = checksum
    return json.dumps(d)


OKX_PUSH_CHECK = ":".join(f"{b}:{a}" for b, a in zip(
    ["8476.97:256", "8475.55:101", "8475.54:100", "8475.3:1", "8447.32:6", "8447.02:246", "8446.83:24", "8446:95"],
    ["8476.98:415", "8477:7", "8477.34:85", "8477.56:1", "8505.84:8", "8506.37:85", "8506.49:2", "8506.96:100"]))


def test_okx_the_push_examples_checksum_is_a_placeholder_and_is_refused():
    """okx.com/docs-v5 "Order book channel", push data examples: a snapshot (prevSeqId -1,
    seqId 123456) and an update (prevSeqId 123456, seqId 123457), both with checksum
    -855196043. By the page's own checksum rule that book's checksum is -2102840145: the
    example's value is illustrative, and a book that took it would accept anything."""
    assert signed(zlib.crc32(OKX_PUSH_CHECK.encode())) == -2102840145
    ref, reasons = both("okx", "BTC-USDT", [frame("okx", "books", "BTC-USDT", "okx-books-snapshot.json")])
    assert ref.health.checksum_failures == 1 and not ref.synced and len(reasons) == 1


def test_okx_the_push_examples_seqid_chain_is_followed():
    """The page's seqId/prevSeqId chain (with the checksum its rule gives): the update whose
    prevSeqId is the snapshot's seqId applies; one that skips a seqId is a gap."""
    good = signed(zlib.crc32(OKX_PUSH_CHECK.encode()))
    snap = frame("okx", "books", "BTC-USDT", "", okx_push("okx-books-snapshot.json", good))
    update = frame("okx", "books", "BTC-USDT", "", okx_push("okx-books-update.json", good), i=1)
    ref, reasons = both("okx", "BTC-USDT", [snap, update])
    assert reasons == [] and ref.synced and ref.seq == 123457
    assert ref.health.checksum_checks == 2 and ref.health.updates == 1
    assert best(ref) == ((8476.97, 256.0), (8476.98, 415.0))
    skipped = frame("okx", "books", "BTC-USDT", "",
                    okx_push("okx-books-update.json", good, prevSeqId=123457, seqId=123459), i=1)
    ref, reasons = both("okx", "BTC-USDT", [snap, skipped])
    assert ref.health.gaps == 1 and not ref.synced and "123456" in reasons[0]


# -- Bybit, Coinbase, HTX: no checksums; the page's frames read as the page says -----------------
def test_bybit_v5_the_pages_snapshot_reads_with_its_update_id():
    """bybit-exchange.github.io/docs/v5/websocket/public/orderbook, response example."""
    ref, reasons = both("bybit", "BTC-USDT", [frame("bybit", "orderbook.50", "BTC-USDT", "bybit-orderbook-snapshot.json")])
    assert reasons == [] and ref.synced and ref.seq == 18521288  # u, not the cross sequence seq
    assert best(ref) == ((16493.5, 0.006), (16611.0, 0.029))
    assert ref.book.bids.levels() == [(16493.5, 0.006), (16493.0, 0.1)]
    assert ref.book.asks.levels() == [(16611.0, 0.029), (16612.0, 0.213)]


def test_coinbase_advanced_trade_the_pages_level2_snapshot_reads():
    """docs.cdp.coinbase.com Advanced Trade WebSocket channels, "Level2 channel" example."""
    ref, reasons = both("coinbase", "BTC-USD", [frame("coinbase", "level2", "BTC-USD", "coinbase-level2-snapshot.json")])
    assert reasons == [] and ref.synced
    assert ref.book.bids.levels() == [(21921.73, 0.06317902), (21921.3, 0.02)]
    assert ref.book.asks.levels() == []


def test_htx_the_pages_mbp_snapshot_reads_and_its_increment_is_a_gap_after_it():
    """htx.com spot API "Market By Price (incremental update)": the `req` reply (seqNum
    100020142010) and the increment example (seqNum 100020146795, prevSeqNum 100020146794).
    The page's rule: after the snapshot each prevSeqNum must equal the last seqNum, so this
    increment after that snapshot is a gap; after a snapshot at 100020146794 it applies."""
    snap = frame("htx", "mbp.150", "BTC-USDT", "htx-mbp-snapshot-reply.json")
    inc = frame("htx", "mbp.150", "BTC-USDT", "htx-mbp-increment.json", i=1)
    ref, reasons = both("htx", "BTC-USDT", [snap])
    assert reasons == [] and ref.synced and ref.seq == 100020142010
    assert best(ref) == ((618.37, 71.594), (650.59, 14.909733438479636))
    ref, reasons = both("htx", "BTC-USDT", [snap, inc])
    assert ref.health.gaps == 1 and not ref.synced and reasons
    at = (DOCS / "htx-mbp-snapshot-reply.json").read_text().replace("100020142010", "100020146794")
    ref, reasons = both("htx", "BTC-USDT", [frame("htx", "mbp.150", "BTC-USDT", "", at), inc])
    assert reasons == [] and ref.synced and ref.seq == 100020146795
    assert ref.book.asks.levels() == [(645.14, 26.755973959140651643), (650.59, 14.909733438479636)]
