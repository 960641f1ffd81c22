"""The native core (`cobflow._native`, Rust, native/). Venue books: a second's frames of one
market are parsed and applied in one call, with no Python object per level or frame; the
buckets of the consolidated book over native books; OHLCV bars; the capture-line reader;
and the Kafka source's consumer (librdkafka in the core, records into raw messages).

The Python connectors stay the reference and the fallback. The native parsers read only the
frames a feed sends all day (book diffs, snapshots on the socket, trades); any other frame
(REST snapshots, control frames, old formats, anything malformed) stops the native loop and
goes through the venue's Python `parse`, whose events are then applied to the native book.
Tests hold the two cores equal, frame by frame, on the recorded fixtures and the simulator.

`COBFLOW_NATIVE=0` turns the native core off; so does a build without a Rust toolchain.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from cobflow.config import load_settings
from cobflow.deadletter import DeadLetter
from cobflow.events import BookDelta, BookHealth, BookSnapshot, Precision, Trade
from cobflow.execution.fills import MIN_LEVELS, VenueLevels
from cobflow.metrics.trades import TIMEFRAMES, Bar, BarBuilder
from cobflow.raw import RawMessage
from cobflow.tables import Table, TableRows
from cobflow.venues import VENUES

try:
    from cobflow import _native
except ImportError:  # built without Rust: the Python connectors do all the work
    _native = None

#: CAPTURE.md encodings of the frames a venue's native parser reads (others: plain text).
_ENCODING = {"htx": "base64-gzip"}

Item = RawMessage | object  # a raw frame, or what the fallback parser made of one (Parsed | DeadLetter)

#: The venue's Python parser over a batch of raw frames, as `operators.parse.parse_batch`:
#: (market key, parsed frame or dead letter) pairs. The core's caller hands it in.
Fallback = Callable[[list[RawMessage]], Sequence[tuple[str, Any]]]


I64 = 2**63  # the core's sequence numbers and checksums are i64


def available() -> bool:
    """The extension is built (a Rust toolchain was there at install time)."""
    return _native is not None


def enabled() -> bool:
    """Built, and not turned off by `COBFLOW_NATIVE=0` (`Settings.native`)."""
    return _native is not None and load_settings().native


def venues() -> tuple[str, ...]:
    """The venues whose books the native core keeps (its own list, `_native.VENUES`)."""
    return tuple(_native.VENUES) if _native is not None else ()


def line_reader(keep: tuple[list[tuple[str, str]], list[str]] | None = None):  # type: ignore[no-untyped-def]
    """The capture-line reader of the native core (`read_capture` hands it chunks of JSON
    Lines), or None where Python reads every line. `keep`: only the frames of these (venue,
    market) pairs, and those without a market of these venues, become messages."""
    if not enabled():
        return None
    reader = _native.LineReader(object.__new__, RawMessage, sorted(VENUES))  # type: ignore[union-attr]
    if keep is not None:
        reader.keep_only(*keep)
    return reader


def kafka_consumer(config: dict[str, str] | None, venue_of: dict[str, str]):  # type: ignore[no-untyped-def]
    """The Kafka source's consumer in the native core (librdkafka fetching the raw.<venue>
    topics, `venue_of`: topic -> venue, records read into raw messages with no Python object
    per record but the message; `config`: librdkafka's settings, None: records come by `put`
    only), or None where confluent-kafka's consumer and Python read every record."""
    if not enabled():
        return None
    from confluent_kafka import KafkaError

    return _native.KafkaConsumer(config, object.__new__, RawMessage, venue_of, KafkaError)  # type: ignore[union-attr]


def line_writer(full_name: str, table: Table):  # type: ignore[no-untyped-def]
    """The native core's line-protocol writer of a table (`_native.IlpTable`: rows and
    blocks of rows -> ILP bytes, as the QuestDB client's `Buffer.row` writes them), or None
    where the client must write it: the core is off or not built, or a column has a type the
    writer does not take (arrays: it refuses them when made)."""
    if not enabled():
        return None
    try:
        return _native.IlpTable(full_name, list(table.columns), TableRows)  # type: ignore[union-attr]
    except ValueError:
        return None


def bar_builder() -> BarBuilder | NativeBarBuilder:
    """OHLCV bars kept by the native core, or by the Python reference where it is off."""
    return NativeBarBuilder() if enabled() else BarBuilder()


class NativeBarBuilder:
    """`BarBuilder`'s face over the native bars: the bars stay in Rust while open, and only
    closed ones (or copies of open ones) become `Bar` objects."""

    def __init__(self, timeframes: tuple[str, ...] = tuple(TIMEFRAMES)) -> None:
        self.timeframes = timeframes
        self.core = _native.NativeBars([(tf, TIMEFRAMES[tf]) for tf in timeframes])  # type: ignore[union-attr]

    def add(self, ts_recv: int, venue: str, price: float, size: float, side: str) -> list[Bar]:
        return self.add_many([(ts_recv, venue, price, size, side)])

    def add_many(self, trades: list[tuple[int, str, float, float, str]]) -> list[Bar]:
        return [Bar(*b) for b in self.core.add_many(trades)]

    def close(self, until_s: int) -> list[Bar]:
        return [Bar(*b) for b in self.core.close(until_s)]

    def open_now(self) -> list[Bar]:
        return [Bar(*b) for b in self.core.open_now()]


def native_book(venue: str, market: str, wire: str, fallback: Fallback) -> NativeVenueBook | None:
    """A native book for this market, or None where the Python one must serve (the core is
    off or not built, or the venue has no native parser). `wire` is the market as the
    venue's frames print it; `fallback` parses the frames the core leaves alone."""
    if not enabled() or venue not in venues():
        return None
    return NativeVenueBook(venue, market, wire, fallback)


def _f64(buf: bytes) -> np.ndarray:
    return np.frombuffer(buf, dtype=np.float64)


def bucket_books(books: Sequence[object], b: float, center: int) -> tuple | None:
    """`consolidate`'s buckets of these books in one native call, the same bits as its numpy
    code gives: (bid qty, bid notional, ask qty, ask notional, venues, bid total, ask total).
    A book seen in another quote (`ConvertedBook`) is bucketed at its rate in the same call.
    None unless every book is a native one."""
    found = _cores(books)
    if found is None:
        return None
    cores, scales = found
    bq, bn, aq, an, venues, bt, at = _native.bucket_books(cores, b, center, scales)  # type: ignore[union-attr]
    return _f64(bq), _f64(bn), _f64(aq), _f64(an), np.frombuffer(venues, dtype=np.int64), bt, at


def executable_prices(books: Sequence[object], qty: float) -> list[tuple[float | None, float | None]] | None:
    """`signals.executable` of every book in one native call, the same bits as its numpy
    code gives: (selling `qty` into its bids, buying it from its asks) per book, None where a
    side is not that deep. None unless every book is a native one."""
    found = _cores(books)
    if found is None:
        return None
    return _native.executable_prices(found[0], qty, found[1])  # type: ignore[union-attr]


def book_levels(books: Sequence[object], notional: float) -> list[VenueLevels] | None:
    """`fills.venue_levels` of every book in one native call, the same bits as its numpy code
    gives (the levels worth `notional` on each side, best first, at least `MIN_LEVELS`).
    None unless every book is a native one."""
    found = _cores(books)
    if found is None:
        return None
    return [VenueLevels(_f64(bp), _f64(bq), _f64(ap), _f64(aq))
            for bp, bq, ap, aq in _native.book_levels(found[0], notional, found[1], MIN_LEVELS)]  # type: ignore[union-attr]


def _cores(books: Sequence[object]) -> tuple[list[Any], list[float]] | None:
    """Each book's native core and the rate its prices are seen at (a `ConvertedBook`,
    cobflow.metrics.cob, is a book and its rate); None unless every book is native."""
    cores, scales = [], []
    for x in books:
        book, rate = (x.book, x.rate) if hasattr(x, "rate") else (x, 1.0)  # type: ignore[attr-defined]
        if type(book) is not NativeVenueBook:
            return None
        cores.append(book.core)
        scales.append(rate)
    return (cores, scales) if cores else None


class NativeVenueBook:
    """One venue market's book in the native core, with the face CobState reads of a
    `BookSyncBase` (`synced`, `health`, `book`) and of an `L2Book` (for consolidation)."""

    def __init__(self, venue: str, market: str, wire: str, fallback: Fallback) -> None:
        self.venue, self.market, self.wire = venue, market, wire
        self.fallback = fallback
        self.core = _native.NativeBook(venue, wire)  # type: ignore[union-attr]
        self.encoding = _ENCODING.get(venue)  # the frames the core reads are sent as

    # -- BookSyncBase's face -------------------------------------------------------------
    @property
    def synced(self) -> bool:
        return self.core.synced

    @property
    def health(self) -> BookHealth:
        return BookHealth(**self.core.health())

    def health_counts(self) -> dict[str, int]:
        """`health.as_dict()` straight from the core (once per second per book)."""
        return self.core.health()

    @property
    def book(self) -> NativeVenueBook:
        return self

    # -- L2Book's face (cobflow.metrics.cob.VenueBook) -----------------------------------
    def best_bid(self) -> tuple[float, float] | None:
        return self.core.best_bid()

    def best_ask(self) -> tuple[float, float] | None:
        return self.core.best_ask()

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        bp, bq, ap, aq = self.core.arrays()
        return _f64(bp), _f64(bq), _f64(ap), _f64(aq)

    # -- input ---------------------------------------------------------------------------
    def apply(self, items: Sequence[Item]) -> tuple[list[tuple[int, Trade]], list[DeadLetter]]:
        """Apply a second's items in order: raw frames (parsed natively where the core reads
        them), and frames the fallback parser already made into events or dead letters.
        Returns the trades, with the index of the item each came from, and the dead letters."""
        encoding = self.encoding
        payloads = [x.payload if type(x) is RawMessage and x.kind == "ws" and x.encoding == encoding else None
                    for x in items]
        trades: list[tuple[int, Trade]] = []
        dead: list[DeadLetter] = []
        venue, market, n, i = self.venue, self.market, len(items), 0
        while i < n:
            stop, got, reasons = self.core.feed(payloads, i)
            trades.extend((j, Trade(venue, market, items[j].ts_recv, p, q, "buy" if buy else "sell"))
                          for j, p, q, buy in got)
            dead.extend(DeadLetter("sync", reason, items[j]) for j, reason in reasons)
            if stop < n:
                self._apply_python(stop, items[stop], trades, dead)
            i = stop + 1
        return trades, dead

    def _apply_python(self, index: int, item: Item, trades: list, dead: list) -> None:
        """One item the native parser left alone: a raw frame is read by the venue's Python
        parser (the fallback, as for every other book), then applied like the others."""
        if isinstance(item, RawMessage):
            for _, parsed in self.fallback([item]):
                self._apply_python(index, parsed, trades, dead)
            return
        if isinstance(item, DeadLetter):
            self.core.count_malformed()
            dead.append(item)
            return
        raw = item.raw  # type: ignore[attr-defined]
        for e in item.events:  # type: ignore[attr-defined]
            if e.market != self.market:  # CAPTURE.md: a frame's envelope symbol is its market
                dead.append(DeadLetter("parse", f"the frame is about {e.market}, its envelope says {raw.symbol}", raw))
            elif isinstance(e, Trade):
                trades.append((index, e))
            elif isinstance(e, (BookSnapshot, BookDelta)):
                numbers = {"sequence number": e.seq, "previous sequence number": getattr(e, "prev_seq", None),
                           "checksum": e.checksum}
                wide = next((f"{name} {v} does not fit 64 bits" for name, v in numbers.items()
                             if v is not None and not -I64 <= v < I64), None)
                if wide is not None:  # the core keeps them as i64: a number that wide is no venue's
                    self.core.count_malformed()
                    dead.append(DeadLetter("parse", wide, raw))
                    continue
                reason = self.core.apply_event(
                    isinstance(e, BookSnapshot), e.bids, e.asks, e.seq, getattr(e, "prev_seq", None),
                    e.checksum, e.text, getattr(e, "depth", None))
                if reason is not None:
                    dead.append(DeadLetter("sync", reason, raw))
            elif isinstance(e, Precision):  # an instrument frame (Kraken): the pair's decimals
                self.core.set_precision(e.price, e.size, e.inferred)
