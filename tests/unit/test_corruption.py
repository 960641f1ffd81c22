"""Corrupted input is detected, counted, dead-lettered with its reason, and the book resyncs
from the next snapshot; nothing crashes."""

from __future__ import annotations

import base64
import gzip
import re
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cobflow.connectors import get_venue
from cobflow.connectors.cryptofeed import import_cryptofeed
from cobflow.connectors.verify import BookChecker, verify
from cobflow.events import BookDelta, BookSnapshot
from cobflow.raw import RawMessage
from tests.simdata import VENUES, sim


def events_of(raw: RawMessage):
    try:
        return get_venue(raw.exchange).parse(raw)
    except Exception:
        return []


def is_delta(raw: RawMessage, venue: str, market: str) -> bool:
    evs = events_of(raw)
    return raw.exchange == venue and any(isinstance(e, BookDelta) and e.market == market and (e.bids or e.asks)
                                         for e in evs)


def is_snapshot(raw: RawMessage, venue: str, market: str) -> bool:
    return raw.exchange == venue and any(isinstance(e, BookSnapshot) and e.market == market for e in events_of(raw))


def run(msgs):
    dead: list = []
    result = verify(msgs, dead)
    return result, dead


def market(result, venue, mkt):
    return next(m for m in result.markets if m.venue == venue and m.market == mkt)


def with_text(raw: RawMessage, text: str) -> RawMessage:
    if raw.encoding == "base64-gzip":
        return replace(raw, payload=base64.b64encode(gzip.compress(text.encode())).decode())
    return replace(raw, payload=text)


# -- a dropped delta -------------------------------------------------------------------------
@pytest.mark.parametrize("venue", ["binance", "htx", "okx", "bybit", "kraken", "bitfinex"])
def test_a_dropped_delta_is_detected_and_the_book_resyncs_at_the_next_snapshot(venue):
    """Sequence numbers (binance, htx, okx, bybit) catch it at once; checksums (kraken,
    bitfinex) catch it when the lost level is among the levels they cover."""
    msgs = list(sim(30.0, seed=11, resnapshot_s=10.0))
    mkt = "BTC-USDT" if venue in ("binance", "htx", "okx", "bybit") else "BTC-USD"
    if venue == "kraken":  # its checksum covers the best 10 levels only: drop one of those
        i = first_delta_at_the_top(msgs, venue, market=mkt, after=next(
            j for j, m in enumerate(msgs) if m.ts_recv - msgs[0].ts_recv > 2e9))
    else:  # sequence numbers see any delta; Bitfinex's checksum covers all 25 levels it keeps
        i = next(j for j, m in enumerate(msgs) if is_delta(m, venue, mkt) and m.ts_recv - msgs[0].ts_recv > 2e9)
    corrupt = msgs[:i] + msgs[i + 1:]
    result, dead = run(corrupt)
    m = market(result, venue, mkt)
    assert m.gaps + m.checksum_failures >= 1, m
    assert m.resyncs >= 1 and m.synced, m  # the periodic snapshot brought it back
    assert any(d.stage == "sync" and ("gap" in d.reason or "checksum" in d.reason) for d in dead)
    others = [x for x in result.markets if (x.venue, x.market) != (venue, mkt)]
    assert not any(x.failed for x in others)  # one market's loss does not touch the others


# -- a flipped size ----------------------------------------------------------------------------
FIRST_PRICE = re.compile(r'\["([0-9.]+)","[0-9.]+"|"price":([0-9.e-]+)')


def first_delta_at_the_top(msgs, venue: str, after: int, market: str | None = None) -> int:
    """A checksummed delta whose first level is among the levels the checksum covers
    (Kraken covers only the best 10: a size changed deeper down is invisible to it)."""
    checker = BookChecker()
    for i, raw in enumerate(msgs):
        if i > after and raw.exchange == venue and raw.symbol and market in (None, raw.symbol):
            evs = [e for e in events_of(raw) if isinstance(e, BookDelta) and e.checksum is not None]
            book = checker.books.get((venue, raw.symbol))
            if evs and book is not None and book.synced:
                m = FIRST_PRICE.search(raw.payload_text())
                price = float(m[1] or m[2])
                side = book.book.bids if any(p == price for p, _ in evs[0].bids) else book.book.asks
                top = side.top(10)
                if price in top:
                    return i
        checker.feed(raw)
    raise AssertionError("no delta at the top of the book")


def flip_first_size(raw: RawMessage) -> RawMessage:
    text = raw.payload_text()
    if raw.exchange == "kraken" and text.startswith("["):  # v1 strings: ["price","volume","ts"]
        new = re.sub(r'\["([0-9.]+)","([0-9.]+)"', lambda m: f'["{m[1]}","{float(m[2]) + 1:.8f}"', text, count=1)
    elif raw.exchange == "kraken":
        new = re.sub(r'"qty":([0-9.e-]+)', lambda m: f'"qty":{float(m[1]) + 1}', text, count=1)
    else:  # okx: ["price","size","0","n"]
        new = re.sub(r'\["([0-9.]+)","([0-9.]+)","0"', lambda m: f'["{m[1]}","{float(m[2]) + 1}","0"', text, count=1)
    assert new != text
    return with_text(raw, new)


@pytest.mark.parametrize("source", ["kraken-fixture", "okx-fixture", "kraken-sim", "okx-sim"])
def test_a_flipped_size_fails_the_checksum(captures, source):
    venue, kind = source.split("-")
    if kind == "fixture":
        msgs = import_cryptofeed([captures / ("KRAKEN.ws.50.0" if venue == "kraken" else "OKX.ws.1.0")])
    else:
        msgs = list(sim(20.0, seed=3))
    i = first_delta_at_the_top(msgs, venue, after=len(msgs) // 2)
    corrupt = list(msgs)
    corrupt[i] = flip_first_size(msgs[i])
    mkt = corrupt[i].symbol
    result, dead = run(corrupt)
    m = market(result, venue, mkt)
    assert m.checksum_failures == 1 and not m.synced
    [d] = [d for d in dead if d.raw == corrupt[i]]
    assert d.stage == "sync" and "checksum mismatch" in d.reason
    # a snapshot (the venue's answer to a resubscribe) brings the book back, and it checks again
    snap = next(x for x in msgs if is_snapshot(x, venue, mkt))
    tail = [replace(snap, ts_recv=msgs[-1].ts_recv + 1)]
    result2, _ = run(corrupt + tail)
    m2 = market(result2, venue, mkt)
    assert m2.synced and m2.resyncs == 1


# -- a wrong checksum --------------------------------------------------------------------------
@pytest.mark.parametrize("venue", ["kraken", "okx", "bitfinex"])
def test_a_wrong_checksum_is_a_failure_with_both_values_in_the_reason(venue):
    msgs = list(sim(10.0, seed=5))
    i = next(i for i, m in enumerate(msgs) if m.exchange == venue and m.ts_recv - msgs[0].ts_recv > 3e9 and
             any(isinstance(e, BookDelta) and e.checksum is not None for e in events_of(m)))
    text = msgs[i].payload_text()
    pattern = {"kraken": r'"checksum":(\d+)', "okx": r'"checksum":(-?\d+)', "bitfinex": r'"cs",(-?\d+)'}[venue]
    true = int(re.search(pattern, text)[1])
    bad = text.replace(str(true), str(true + 1), 1)
    corrupt = list(msgs)
    corrupt[i] = with_text(msgs[i], bad)
    result, dead = run(corrupt)
    m = market(result, venue, msgs[i].symbol)
    assert m.checksum_failures == 1
    [d] = dead
    assert f"the venue says {true + 1}, our book gives {true}" in d.reason


# -- truncated JSON ----------------------------------------------------------------------------
@pytest.mark.parametrize("venue", VENUES)
def test_truncated_json_is_malformed_dead_lettered_and_the_rest_flows(venue):
    msgs = list(sim(10.0, seed=2))
    i = next(i for i, m in enumerate(msgs) if m.exchange == venue and m.ts_recv - msgs[0].ts_recv > 3e9)
    text = msgs[i].payload_text()
    corrupt = list(msgs)
    corrupt[i] = with_text(msgs[i], text[: len(text) // 2])
    result, dead = run(corrupt)
    assert sum(m.malformed for m in result.markets if m.venue == venue) == 1
    parse_dead = [d for d in dead if d.stage == "parse"]
    assert len(parse_dead) == 1 and parse_dead[0].raw == corrupt[i]
    assert "not JSON" in parse_dead[0].reason
    # every other market of every other venue is untouched
    assert not any(m.failed for m in result.markets if m.venue != venue)


@pytest.mark.parametrize("venue", VENUES)
def test_valid_json_with_wrong_fields_is_malformed_with_the_field_named(venue):
    raw = RawMessage(1, venue, "ws", "x", "BTC-USD", '{"arg":{"channel":"books","instId":"BTC-USDT"},'
                     '"action":"update","data":[{"bids":[["abc","1"]]}]}')
    mangled = {
        "binance": '{"e":"depthUpdate","s":"BTCUSDT","U":1,"u":2,"b":[["1","x"]],"a":[]}',
        "coinbase": '{"type":"l2update","product_id":"BTC-USD","changes":[["up","1","1"]]}',
        "kraken": '[1,{"a":[["1.0"]]},"book-10","XBT/USD"]',
        "bitfinex": '[5,[1.0,"x",2],3]',
        "htx": '{"ch":"market.btcusdt.mbp.150","tick":{"seqNum":2,"bids":[]}}',
        "okx": raw.payload,
        "bybit": '{"topic":"orderbook.50.BTCUSDT","type":"delta","data":{"s":"BTCUSDT","b":[["1","-5"]],"a":[],"u":3}}',
    }[venue]
    raw = replace(raw, payload=mangled)
    if venue == "htx":
        raw = with_text(replace(raw, encoding="base64-gzip"), mangled)
    checker = BookChecker()
    [d] = checker.feed(raw)
    assert d.stage == "parse" and d.reason


@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_any_dropped_delta_breaks_the_sequence_where_the_venue_numbers_them(data):
    venue = data.draw(st.sampled_from(["binance", "htx", "okx", "bybit"]))
    msgs = [m for m in sim(8.0, seed=13) if m.exchange == venue]
    mkt = data.draw(st.sampled_from(["BTC-USDT", "ETH-USDT"]))
    idx = [i for i, m in enumerate(msgs) if is_delta(m, venue, mkt)]
    # after the snapshot has synced the book (Binance/HTX deltas before it are buffered)
    synced_at = next(i for i, m in enumerate(msgs) if is_snapshot(m, venue, mkt))
    idx = [i for i in idx if i > synced_at + 1][:-1]
    i = data.draw(st.sampled_from(idx))
    result, dead = run(msgs[:i] + msgs[i + 1:])
    m = market(result, venue, mkt)
    assert m.gaps == 1 and not m.synced
    assert [d.stage for d in dead] == ["sync"] and "sequence gap" in dead[0].reason
