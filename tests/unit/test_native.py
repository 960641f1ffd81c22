"""The native venue books (Rust, cobflow._native) against the Python connectors, the
reference: frame by frame, the same dead letters (stage and reason), trades, health
counters and book, level by level, on recorded traffic and on simulated traffic with
faults (cut frames, dropped deltas, a changed size); the exchanges' own OKX checksums all
verify; and a consolidated flow gives the same rows with the native core on and off."""

from __future__ import annotations

import base64
import copy
import gzip
import json
import pickle
import shutil
import zlib
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cobflow import native
from cobflow.capture import CaptureError, read_capture, write_capture
from cobflow.config import load_symbols, parse_bucket
from cobflow.connectors import get_venue
from cobflow.connectors.bitfinex import js_number
from cobflow.connectors.cryptofeed import import_cryptofeed
from cobflow.connectors.simulator.faults import truncate_frames
from cobflow.dataflows.sinks.rows import rows_of
from cobflow.execution.fills import venue_levels
from cobflow.metrics.cob import ConvertedBook, consolidate
from cobflow.metrics.signals import executable
from cobflow.metrics.trades import BarBuilder
from cobflow.operators.books import native_venue_book
from cobflow.operators.cob import CobState
from cobflow.operators.parse import apply_to_book, market_key, parse_batch
from cobflow.raw import RawMessage
from cobflow.tables import as_rows
from tests.simdata import ALL_VENUES, BEFORE_38, sim

#: The venues the native core keeps books of, by its own word; each must have a connector.
NATIVE_VENUES = native.venues()


@pytest.fixture(scope="module", autouse=True)
def built(request):
    if not native.available():
        if shutil.which("cargo"):
            pytest.fail("cobflow._native is not built although cargo is installed: "
                        "reinstall (make install) and read pip's build output")
        pytest.skip("no Rust toolchain: the native core is not built")


def python_step(sync, raw: RawMessage, key: str):
    """What CobState's Python path does with one frame of this market."""
    trades, dead = [], []
    for k, item in parse_batch([raw]):
        assert k == key, f"a frame with envelope symbol {raw.symbol} parsed as {k}"
        t, d = apply_to_book(sync, item)
        trades += t
        dead += d
    return trades, dead


def book_state(sync) -> tuple:
    """Each side's prices, sizes and checksum tokens (none kept: [])."""
    if isinstance(sync, native.NativeVenueBook):
        return tuple((p, q, t or []) for p, q, t in sync.core.levels())
    side = lambda s: (list(s.prices), [s.sizes[p] for p in s.prices], s.tokens or [])  # noqa: E731
    return side(sync.book.bids), side(sync.book.asks)


def assert_same_frame_by_frame(msgs: list[RawMessage], venue: str, market: str) -> dict:
    key = market_key(venue, market)
    ref = get_venue(venue).BookSync()
    nb = native_venue_book(venue, market)
    assert nb is not None
    frames = [m for m in msgs if m.exchange == venue and m.symbol == market]
    assert frames, f"no frames of {venue} {market}"
    for i, raw in enumerate(frames):
        t_ref, d_ref = python_step(ref, raw, key)
        t_nat, d_nat = nb.apply([raw])
        where = f"{venue} {market} frame {i}: {raw.payload[:120]}"
        assert [(d.stage, d.reason, d.raw) for d in d_nat] == [(d.stage, d.reason, d.raw) for d in d_ref], where
        assert [(t.price, t.size, t.side) for _, t in t_nat] == [(t.price, t.size, t.side) for t in t_ref], where
        assert nb.synced == ref.synced, where
        assert nb.health.as_dict() == ref.health.as_dict(), where
        assert book_state(nb) == book_state(ref), where
    return ref.health.as_dict()


@pytest.mark.parametrize("venue,files", [
    ("binance", ["BINANCE.ws.1.0", "BINANCE.http.0.0"]),
    ("bitfinex", ["BITFINEX.ws.11.0"]),
    ("bybit", ["BYBIT.ws.25.0"]),
    ("coinbase", ["COINBASE.ws.28.0"]),
    ("htx", ["HUOBI.ws.44.0"]),
    ("kraken", ["KRAKEN.ws.50.0"]),
    ("okx", ["OKX.ws.1.0"]),
])
def test_recorded_frames_give_the_same_books_as_the_python_connectors(captures, venue, files):
    msgs = import_cryptofeed([captures / f for f in files])
    markets = sorted({m.symbol for m in msgs if m.exchange == venue and m.symbol})
    health = [assert_same_frame_by_frame(msgs, venue, m) for m in markets]
    # the HTX recording is of depth.step0: whole books, each a snapshot (read by Python)
    assert sum(h["snapshots" if venue == "htx" else "updates"] for h in health) > (250 if venue == "htx" else 100)
    if venue in ("kraken", "okx"):  # the exchange's own checksums, all verified by the native book
        assert sum(h["checksum_checks"] for h in health) > 100
        assert sum(h["checksum_failures"] for h in health) == 0


def edit_text(m: RawMessage, change) -> RawMessage:
    """The frame with its text changed (HTX's gzip frames are unpacked and packed again)."""
    if m.encoding == "base64-gzip":
        return replace(m, payload=base64.b64encode(gzip.compress(change(m.payload_text()).encode())).decode())
    return replace(m, payload=change(m.payload))


def faulty(msgs: list[RawMessage], venue: str) -> list[RawMessage]:
    """Cut frames; of the venue's frames every 97th dropped, every 83rd sent twice, and
    every 89th's first size changed (a checksum the book cannot match). HTX's gzip frames
    are cut both ways: every 71st's base64 (bad gzip), every 73rd's JSON inside the gzip."""
    out, n = [], 0
    q = "" if venue in ("bitfinex", "htx", "kraken") else '"'  # they print numbers unquoted
    for m in truncate_frames(msgs, venue, every_s=3.0, first_s=2.0):
        if m.exchange == venue and m.kind == "ws":
            n += 1
            if n % 97 == 0:
                continue
            if n % 89 == 0:
                m = edit_text(m, lambda text: text.replace(q + "0.", q + "1.", 1))
            if m.encoding is not None and n % 71 == 0:
                m = replace(m, payload=m.payload[: len(m.payload) // 2])
            if m.encoding is not None and n % 73 == 0:
                m = edit_text(m, lambda text: text[: len(text) // 2])
            if n % 83 == 0:
                out.append(m)
        out.append(m)
    return out


@pytest.mark.parametrize("venue", NATIVE_VENUES)
def test_simulated_frames_with_faults_give_the_same_books_and_dead_letters(venue):
    # the market the faults were placed on (which frames' first "0." is a size that counts in
    # the checksum depends on the prices' text): venue bases of +-3 bps, as before they were
    # kept within the spreads
    msgs = faulty(list(sim(40.0, seed=5, resnapshot_s=8.0, venues=(venue,), **BEFORE_38)), venue)
    markets = sorted({m.symbol for m in msgs if m.symbol})
    health = [assert_same_frame_by_frame(msgs, venue, m) for m in markets]
    # the faults were seen: parse failures, and gaps or checksum failures, then resyncs
    assert sum(h["malformed"] for h in health) > 0
    assert sum(h["gaps"] + h["checksum_failures"] for h in health) > 0
    assert sum(h["resyncs"] for h in health) > 0
    if venue in ("bitfinex", "kraken", "okx"):  # the changed sizes were caught by the venue's checksum
        assert sum(h["checksum_failures"] for h in health) > 0


def test_one_call_per_second_equals_one_call_per_frame_and_survives_pickling():
    msgs = [m for m in faulty(list(sim(30.0, seed=3, resnapshot_s=6.0, venues=("okx",))), "okx")
            if m.symbol == "BTC-USDT"]
    one = native_venue_book("okx", "BTC-USDT")
    per_frame = [one.apply([m]) for m in msgs]
    half = len(msgs) // 2
    batched = native_venue_book("okx", "BTC-USDT")
    t1, d1 = batched.apply(msgs[:half])
    restored = pickle.loads(pickle.dumps(copy.deepcopy(batched)))
    t2, d2 = restored.apply(msgs[half:])
    assert [(t.price, t.size, t.side) for _, t in t1 + t2] == \
        [(t.price, t.size, t.side) for tr, _ in per_frame for _, t in tr]
    assert [(d.reason, d.raw) for d in d1 + d2] == [(d.reason, d.raw) for _, dl in per_frame for d in dl]
    assert [i for i, _ in t1] == [i for i, (tr, _) in enumerate(per_frame[:half]) for _ in tr]
    assert restored.core.levels() == one.core.levels()
    assert restored.health.as_dict() == one.health.as_dict()


def cob_rows(msgs: list[RawMessage], monkeypatch, on: bool) -> list:
    monkeypatch.setenv("COBFLOW_NATIVE", "1" if on else "0")
    symbols = load_symbols(ALL_VENUES)
    spec = symbols.symbols["BTC-USD"]
    st = CobState("BTC-USD", spec.venues, spec.bucket, frozenset(spec.venues))
    assert {v for v, f in st.feeds.items() if f.native} == (set(NATIVE_VENUES) & set(spec.venues) if on else set())
    out = []
    for i in range(0, len(msgs), 500):
        st.add_raw([m for m in msgs[i:i + 500] if m.symbol in (None, *spec.venues.values())])
        rows, dead = st.close(st.watermark())
        out += as_rows(rows_of(rows)) + dead
    rows, dead = st.close(None, final=True)
    return out + as_rows(rows_of(rows)) + dead + as_rows(rows_of(st.open_bars()))


def test_the_consolidated_rows_are_the_same_with_the_native_core_on_and_off(monkeypatch):
    msgs = list(sim(60.0, seed=9, resnapshot_s=3.0))  # frequent snapshots: books resync soon
    for venue in NATIVE_VENUES:
        msgs = faulty(msgs, venue)
    # every 40th frame without its envelope symbol: parsed in Python, then queued (in
    # arrival order) among the raw frames of a native book
    msgs = [replace(m, symbol=None) if i % 40 == 0 and m.exchange in NATIVE_VENUES else m
            for i, m in enumerate(msgs)]
    on, off = cob_rows(msgs, monkeypatch, True), cob_rows(msgs, monkeypatch, False)
    assert len(on) > 60 * 60
    assert sum(1 for r in on if getattr(r, "table", None) == "cob_summary") >= 50  # most seconds consolidated
    assert on == off


def test_a_frame_about_another_market_than_its_envelope_says_is_a_dead_letter():
    frames = [m for m in sim(5.0, seed=2, venues=("okx",)) if m.symbol == "BTC-USDT" and m.channel == "books"]
    wrong = replace(frames[1], symbol="ETH-USDT")
    nb = native_venue_book("okx", "ETH-USDT")
    trades, dead = nb.apply([wrong])
    assert trades == [] and [(d.stage, d.reason, d.raw) for d in dead] == [
        ("parse", "the frame is about BTC-USDT, its envelope says ETH-USDT", wrong)]
    assert nb.health.as_dict()["updates"] == 0 and not nb.synced


@pytest.mark.parametrize("venue", NATIVE_VENUES)
def test_the_native_parsers_read_a_feeds_everyday_frames_themselves(venue):
    """Parity alone would also hold if every frame fell back to Python: on clean simulated
    traffic only the snapshots asked for (Binance's REST call, HTX's `req` reply) may be left
    to the Python parser."""
    msgs = [m for m in sim(20.0, seed=5, venues=(venue,)) if m.symbol]
    for market in sorted({m.symbol for m in msgs}):
        frames = [m for m in msgs if m.symbol == market]
        left = [m for m in frames if m.kind != "ws" or m.payload_text().startswith('{"id"')]
        nb = native_venue_book(venue, market)
        payloads = [m.payload if m.kind == "ws" else None for m in frames]
        i, stops = 0, []
        while i < len(payloads):
            stop, _, _ = nb.core.feed(payloads, i)
            stops += [stop] if stop < len(payloads) else []
            i = stop + 1
        assert len(frames) > 200
        assert [frames[j] for j in stops] == left, f"{venue} {market}: frames left to Python"


@given(st.floats(allow_nan=False, allow_infinity=False)
       | st.sampled_from([1e-6, 9.999999999999999e-7, 1e21, 9.999999999999999e20, 1e-4, 1e16, 5e-324,
                         562949953421312.2]))  # a tie between two shortest prints: the even one
@settings(max_examples=2000, deadline=None)
def test_the_native_core_prints_numbers_as_the_python_reference_does(x):
    """Bitfinex's checksum tokens: the same text from both cores, for any float."""
    assert native._native._js_number(x) == js_number(x)


def kraken_frame(ts: int, channel: str, body: str) -> RawMessage:
    return RawMessage(ts, "kraken", "ws", channel, "BTC-USD", body)


@pytest.mark.parametrize("instrument_says,verifies", [((2, 3), True), ((1, 2), False)])
def test_a_kraken_precision_change_mid_stream_prints_the_native_books_levels_anew(instrument_says, verifies):
    """By hand (Kraken v2 checksum: best asks then bids, decimals as the pair prints them,
    '.' and leading zeros removed, CRC32): the snapshot prints 1 price and 2 size decimals,
    then the instrument channel says 2 and 3, and the untouched ask is printed anew."""
    crc = lambda text: zlib.crc32(text.encode())  # noqa: E731
    snap = kraken_frame(1, "book", '{"channel":"book","type":"snapshot","data":[{"symbol":"BTC/USD",'
                        '"bids":[{"price":100.5,"qty":1.25}],"asks":[{"price":101.0,"qty":2.00}],'
                        f'"checksum":{crc("1010200" + "1005125")}}}]}}')
    price, size = instrument_says
    instrument = kraken_frame(2, "instrument", '{"channel":"instrument","type":"snapshot","data":{"pairs":'
                              f'[{{"symbol":"BTC/USD","price_precision":{price},"qty_precision":{size}}}]}}}}')
    # asks 101.00 x 2.000 -> "10100" "2000"; bids 100.50 x 0.500 -> "10050" "500"
    update = kraken_frame(3, "book", '{"channel":"book","type":"update","data":[{"symbol":"BTC/USD",'
                          f'"bids":[{{"price":100.5,"qty":0.5}}],"asks":[],"checksum":{crc("101002000" + "10050500")}}}]}}')
    nb = native_venue_book("kraken", "BTC-USD")
    _, dead = nb.apply([snap])
    assert dead == [] and nb.synced
    parsed = [item for _, item in parse_batch([instrument])]  # no envelope symbol: parsed upstream
    _, dead = nb.apply(parsed + [update])
    assert nb.health.checksum_checks == 2
    if verifies:
        assert dead == [] and nb.synced and nb.health.checksum_failures == 0
    else:
        assert [d.reason.split(":")[0] for d in dead] == ["checksum mismatch"] and not nb.synced


@pytest.mark.parametrize(("bucket", "rate"), [("10", None), ("2bps", None), ("0.5", None), ("10", 0.99973),
                                              ("2bps", 1.000217)])
def test_native_books_consolidate_to_the_same_bits_as_the_numpy_buckets(bucket, rate):
    """Every second of 20 s of simulated traffic on seven venues: `consolidate` over the
    native books (one native call) and over the Python books (numpy) agree exactly; with a
    quote rate, the USDT books converted (ConvertedBook) in the native call and in numpy."""
    msgs = [m for m in sim(20.0, seed=6) if m.symbol in (None, "BTC-USDT", "BTC-USD", "BTC/USD")]
    markets = {v: m for v, m in load_symbols(ALL_VENUES).symbols["BTC-USD"].venues.items()}
    nat = {v: native_venue_book(v, m) for v, m in markets.items()}
    ref = {v: get_venue(v).BookSync() for v in markets}
    size = parse_bucket(bucket)
    compared, second = 0, None
    for raw in msgs:
        if raw.symbol != markets.get(raw.exchange):
            continue
        s = raw.ts_recv // 1_000_000_000
        if s != second and second is not None:
            books_n = {v: b for v, b in nat.items() if b.synced}
            books_p = {v: b.book for v, b in ref.items() if b.synced}
            if rate is not None:
                books_n = {v: ConvertedBook(b, rate) if markets[v].endswith("USDT") else b for v, b in books_n.items()}
                books_p = {v: ConvertedBook(b, rate) if markets[v].endswith("USDT") else b for v, b in books_p.items()}
                assert native.bucket_books(list(books_n.values()), 10.0, 6500) is not None  # the native call
            assert books_n.keys() == books_p.keys()
            a, b = consolidate(books_n, size), consolidate(books_p, size)
            if a is not None and a.mid is not None:
                for f in ("bid_qty", "ask_qty", "bid_notional", "ask_notional", "bucket_venues"):
                    assert getattr(a, f).tobytes() == getattr(b, f).tobytes(), (second, f)
                assert (a.bid_qty_total, a.ask_qty_total, a.microprice) == (b.bid_qty_total, b.ask_qty_total, b.microprice)
                compared += 1
        second = s
        nat[raw.exchange].apply([raw])
        python_step(ref[raw.exchange], raw, market_key(raw.exchange, raw.symbol))
    assert compared >= 15


_sizes = st.sampled_from([1e-8, 0.001, 0.3, 1.0, 2.5, 123.456, 0.1 + 0.2])
_side = st.lists(st.tuples(st.integers(1, 3000), _sizes), max_size=300, unique_by=lambda lv: lv[0])


@settings(max_examples=300, deadline=None)
@given(bids=_side, asks=_side, qty=st.sampled_from([1e-9, 0.001, 0.7, 1.0, 5.0, 77.7, 1e4]),
       rate=st.sampled_from([None, 0.9987, 1.0003]))
def test_native_executable_prices_are_the_numpy_walk_to_the_bit(bids, asks, qty, rate):
    """The arbitrage signal's walk (signals.executable, numpy) and the native one agree bit
    for bit: books up to 300 levels a side (the pairwise sum's blocks of 8 and 128), sizes
    whose running totals round, quote conversion."""
    book = native_venue_book("binance", "BTC-USDT")
    book.core.apply_event(True, [(50_000 - 0.5 * t, q) for t, q in bids], [(50_000 + 0.5 * t, q) for t, q in asks],
                          1, None, None, None, None)
    seen = book if rate is None else ConvertedBook(book, rate)
    bp, bq, ap, aq = seen.arrays()
    want = (executable(bp, bq, qty, sell=True), executable(ap, aq, qty, sell=False))
    assert native.executable_prices([seen], qty) == [want]


@settings(max_examples=300, deadline=None)
@given(bids=_side, asks=_side, notional=st.sampled_from([0.0, 1.0, 5e4, 1e5 + 0.1, 3e6, 1e12]),
       rate=st.sampled_from([None, 0.9987, 1.0003]))
def test_native_book_levels_are_the_numpy_cut_to_the_bit(bids, asks, notional, rate):
    """What execution is handed of a book each second (fills.venue_levels, numpy): the levels
    worth `notional` on each side, best first, at least MIN_LEVELS; the native cut gives the
    same arrays bit for bit, with quote conversion."""
    book = native_venue_book("binance", "BTC-USDT")
    book.core.apply_event(True, [(50_000 - 0.5 * t, q) for t, q in bids], [(50_000 + 0.5 * t, q) for t, q in asks],
                          1, None, None, None, None)
    seen = book if rate is None else ConvertedBook(book, rate)
    want = venue_levels(*seen.arrays(), notional)
    (got,) = native.book_levels([seen], notional)
    for f in ("bid_prices", "bid_sizes", "ask_prices", "ask_sizes"):
        assert getattr(got, f).tobytes() == getattr(want, f).tobytes(), f


def test_native_executable_prices_by_hand():
    book = native_venue_book("binance", "BTC-USDT")
    book.core.apply_event(True, [(100.4, 1.0), (100.5, 1.0)], [(100.0, 0.5), (100.1, 1.0)], 1, None, None, None, None)
    # selling 1.5: 1 at 100.5, 0.5 at 100.4; buying 1.5: 0.5 at 100.0, 1 at 100.1; 2.5: too deep for both
    assert native.executable_prices([book], 1.5) == [(pytest.approx((100.5 + 0.5 * 100.4) / 1.5),
                                                      pytest.approx((0.5 * 100.0 + 100.1) / 1.5))]
    assert native.executable_prices([book], 2.5) == [(None, None)]
    assert native.executable_prices([book, object()], 1.0) is None  # not every book native: numpy's walk


def read_both(path, monkeypatch) -> tuple:
    """read_capture's messages (or its error) with the native line reader, then without."""
    out = []
    for on in ("1", "0"):
        monkeypatch.setenv("COBFLOW_NATIVE", on)
        try:
            out.append([m.to_dict() for m in read_capture(path)])
        except CaptureError as exc:
            out.append(f"error: {exc}")
    return tuple(out)


def test_the_native_line_reader_reads_a_capture_as_python_does(tmp_path, monkeypatch):
    msgs = list(sim(20.0, seed=4))  # every venue; HTX's frames base64-gzip
    for name in ("c.jsonl", "c.jsonl.gz"):
        write_capture(tmp_path / name, msgs)
        native_read, python_read = read_both(tmp_path / name, monkeypatch)
        assert native_read == python_read == [m.to_dict() for m in msgs]


def test_the_native_line_reader_keeps_only_the_markets_asked_and_their_venues_frames_without_one(tmp_path):
    """A cluster process's share of a capture: the frames of its (venue, market) pairs and its
    venues' frames without a market, in file order, the same messages as Python's read of them."""
    if native.line_reader() is None:
        pytest.skip("the native core is not built")
    msgs = list(sim(20.0, seed=4))
    write_capture(tmp_path / "c.jsonl", msgs)
    pairs = sorted({(m.exchange, m.symbol) for m in msgs if m.symbol is not None})
    assert len(pairs) > 4
    for keep_pairs, keep_venues in ((pairs[::2], ["binance", "okx"]), (pairs[1:2], []), ([], ["kraken"])):
        wanted = [m.to_dict() for m in msgs if (m.exchange, m.symbol) in set(keep_pairs)
                  or (m.symbol is None and m.exchange in keep_venues)]
        got = [m.to_dict() for m in read_capture(tmp_path / "c.jsonl", keep=([*keep_pairs], keep_venues))]
        assert got == wanted
        assert len(got) < len(msgs) and (got or not keep_pairs)


_GOOD = {"ts_recv": 5, "exchange": "okx", "kind": "ws", "channel": "books", "symbol": "BTC-USDT", "payload": "{}"}
_line_field = st.sampled_from(list(_GOOD) + ["encoding", "other"])
_line_value = st.one_of(st.none(), st.booleans(), st.integers(-3, 2**64 + 3), st.floats(allow_nan=False),
                        st.text(max_size=8), st.sampled_from(["binance", "htx", "rest", "ws", "base64", "base64-gzip"]))
_ESCAPES = ['\\"', "\\\\", "\\/", "\\b", "\\f", "\\n", "\\r", "\\t", "\\u00e9", "\\ud83d\\ude00", "\\ud83d",
            "\\ude00", "\\ud83dx", "\\u12", "\\x", "\x01", "é", "\\u0000"]


def _line(d: dict, escapes: list[str], compact: bool) -> str:
    """A capture line; `escapes` spliced into its payload string as raw JSON text."""
    text = json.dumps({**_GOOD, **d}, separators=(",", ":") if compact else (", ", ": "), ensure_ascii=False)
    return text.replace('"payload":"', '"payload":"' + "".join(escapes), 1) if compact else text


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(
    st.builds(_line, st.dictionaries(_line_field, _line_value), st.lists(st.sampled_from(_ESCAPES), max_size=4),
              st.booleans()),
    st.sampled_from(["", "   ", "\t", "{", "[]", "null", '{"ts_recv": 1}', json.dumps(_GOOD) + "\r",
                     json.dumps(_GOOD).replace('"ts_recv": 5', '"ts_recv": 5, "ts_recv": 6'),
                     json.dumps(_GOOD).replace('"ts_recv": 5', '"ts_recv": 05')]),
), max_size=8), st.booleans())
def test_the_native_line_reader_takes_and_refuses_the_lines_python_does(tmp_path_factory, lines, final_newline):
    """Any line, in the layout `cobflow capture` writes or not: the same message, or the
    same error naming the same line and rule."""
    path = tmp_path_factory.mktemp("lines") / "c.jsonl"
    path.write_bytes(("\n".join(lines) + ("\n" if final_newline else "")).encode("utf-8", "surrogatepass"))
    with pytest.MonkeyPatch.context() as mp:
        native_read, python_read = read_both(path, mp)
    assert native_read == python_read


@pytest.mark.parametrize("escape", _ESCAPES)
def test_the_native_line_reader_unescapes_each_payload_escape_as_python_does(tmp_path, monkeypatch, escape):
    """Each escape (and a raw control character, and lone surrogates) alone in a payload, in
    the layout the native reader scans itself: the same message, or the same error."""
    path = tmp_path / "c.jsonl"
    path.write_text(_line({}, [escape], True) + "\n" + _line({"encoding": None}, [escape, escape], True) + "\n")
    native_read, python_read = read_both(path, monkeypatch)
    assert native_read == python_read


_bar_trade = st.tuples(st.integers(0, 400), st.sampled_from(["binance", "okx", "kraken"]),
                       st.floats(1, 1e5, allow_nan=False), st.floats(1e-8, 50, allow_nan=False),
                       st.sampled_from(["buy", "sell"]))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.lists(_bar_trade, max_size=10), st.integers(0, 3)), max_size=8),
       st.sampled_from([("1s", "1m", "1h", "1d"), ("1s",), ("1m", "1s")]))
def test_native_bars_are_the_python_bars_to_the_bit(batches, timeframes):
    """The same trades (seconds may repeat or go back) give the same closed bars, in the same
    order, bit for bit, from `add_many`, `close` and `open_now`; a pickled copy goes on alike."""
    ref, nat = BarBuilder(timeframes), native.NativeBarBuilder(timeframes)
    t0, until = 1_767_225_600 * 1_000_000_000, 1_767_225_600
    for k, (batch, step) in enumerate(batches):
        trades = [(t0 + ms * 10_000_000, v, p, q, side) for ms, v, p, q, side in batch]
        assert nat.add_many(trades) == ref.add_many(trades)
        until += step
        assert nat.close(until) == ref.close(until)
        assert nat.open_now() == ref.open_now()
        if k == 3:
            nat = pickle.loads(pickle.dumps(copy.deepcopy(nat)))
