"""What every venue module produces: normalized events, and a book that follows the
venue's own sync rules and counts what happened (METRICS.md "Book health")."""

from __future__ import annotations

import functools
import math
import zlib
from collections import deque

import orjson

from cobflow.book import L2Book, Level
from cobflow.events import BookDelta, BookHealth, BookSnapshot, MalformedFrame, Precision, TextLevel


def levels(raw: object, what: str) -> list[Level]:
    """`[["price", "size"], ...]` -> [(price, size)]; rejects what no book may hold."""
    if not isinstance(raw, list):
        raise MalformedFrame(f"{what}: expected a list of [price, size], got {type(raw).__name__}")
    try:
        out = [(float(lv[0]), float(lv[1])) for lv in raw]
    except (TypeError, ValueError, IndexError, KeyError) as exc:
        raise MalformedFrame(f"{what}: bad price level ({exc})") from None
    check_levels(out, what)
    return out


def text_levels(raw: object, what: str) -> tuple[list[Level], list[TextLevel]]:
    """Like `levels`, also keeping the strings as printed (for checksums)."""
    out = levels(raw, what)
    text = [(lv[0], lv[1]) for lv in raw]  # type: ignore[union-attr]
    for p, q in text:
        if type(p) is not str or type(q) is not str:  # a checksum is over the strings as sent
            raise MalformedFrame(f"{what}: price and size must be strings, got {p!r}, {q!r}")
    return out, text


_INF = math.inf


def check_levels(out: list[Level], what: str) -> None:
    for p, q in out:
        if not (0 < p < _INF and 0 <= q < _INF):  # also false for NaN
            raise MalformedFrame(f"{what}: invalid level price={p} size={q}")


def positive_trade(price: float, size: float) -> None:
    if not (math.isfinite(price) and math.isfinite(size)) or price <= 0 or size <= 0:
        raise MalformedFrame(f"trade with price={price} size={size}")


# Quote assets, longest first, to split venue symbols without a separator ("NKNUSDT").
_QUOTES = sorted(
    "USDT USDC FDUSD BUSD TUSD USDP USDD HUSD DAI BTC ETH BNB HT TRX EUR GBP TRY AUD BRL RUB UAH "
    "NGN ZAR IDRT BIDR PLN RON ARS JPY MXN COP CZK CHF CAD USD XRP DOGE DOT".split(),
    key=len,
    reverse=True,
)


@functools.lru_cache(maxsize=4096)
def split_concatenated(venue_symbol: str) -> str:
    """BTCUSDT -> BTC-USDT. An unknown quote keeps the venue's spelling, upper case. The
    longest known quote wins, except where it would leave US dollars as the base, which no
    venue lists: USDTUSD is USDT-USD (a rate market), not USD-TUSD."""
    s = venue_symbol.upper()
    for quote in _QUOTES:
        if s.endswith(quote) and len(s) > len(quote) and s[: -len(quote)] != "USD":
            return f"{s[: -len(quote)]}-{quote}"
    return s


class BookSyncBase:
    """One venue market's book and the venue's rules for keeping it in sync.

    The default rules, which venues refine by overriding the hooks:
      - a snapshot replaces the book and (re)syncs it;
      - a delta before the first snapshot is waited out (buffered when the venue's snapshot
        comes out of band, e.g. a REST call, so that the diffs after it can be applied);
      - a delta already contained in the snapshot is skipped (`contained`);
      - a delta must continue the sequence (`breaks_sequence`) or the book is lost;
      - a checksum, when the frame carries one, must match the book after the frame.
    A lost book is cleared and stays unsynced until the next snapshot.
    """

    #: Deltas that arrive before the snapshot are kept and replayed onto it.
    buffer_before_snapshot = False
    MAX_PENDING = 10_000

    def __init__(self) -> None:
        self.book = L2Book()
        self.synced = False
        self.health = BookHealth()
        self.seq: int | None = None
        self.depth: int | None = None
        self.precision: tuple[int, int] | None = None  # (price, size) decimals, where needed
        self._precision_known = False  # from the venue's instrument data, not inferred
        self._lost = False  # synced once, then lost: the next snapshot is a resync
        self._pending: deque[BookDelta] = deque(maxlen=self.MAX_PENDING)

    def health_counts(self) -> dict[str, int]:
        """The book-health counters (METRICS.md) as a dict."""
        return self.health.as_dict()

    # -- the rules -----------------------------------------------------------------------
    def apply(self, event: BookSnapshot | BookDelta | Precision) -> str | None:
        """Apply one event; return the reason when it broke the sync, else None."""
        if isinstance(event, BookSnapshot):
            return self._snapshot(event)
        if isinstance(event, Precision):
            if not event.inferred or not self._precision_known:
                changed = self.precision != (event.price, event.size)
                self.precision = (event.price, event.size)
                self._precision_known = not event.inferred
                if changed:
                    self.after_precision()
            return None
        return self._delta(event)

    def _snapshot(self, snap: BookSnapshot) -> str | None:
        if snap.depth is not None:
            self.depth = snap.depth
        self.book.load(*self._book_args(snap))
        self.seq = snap.seq
        self._mark_synced()
        self.after_snapshot(snap)
        if snap.checksum is not None:
            reason = self._verify(snap.checksum)
            if reason is not None:
                return f"snapshot: {reason}"
        pending, self._pending = list(self._pending), deque(maxlen=self.MAX_PENDING)
        for delta in pending:
            reason = self._delta(delta)
            if reason is not None:
                return f"buffered deltas do not connect to the snapshot at seq={snap.seq}: {reason}"
        return None

    def _delta(self, delta: BookDelta) -> str | None:
        if not self.synced:
            if self.buffer_before_snapshot:
                self._pending.append(delta)
            return None
        if self.contained(delta):
            return None
        reason = self.breaks_sequence(delta)
        if reason is not None:
            self._mark_lost()
            self.health.gaps += 1
            return f"sequence gap: {reason}"
        self.book.apply(*self._book_args(delta))
        if self.depth is not None:
            self.truncate(self.depth)
        if delta.seq is not None:
            self.seq = delta.seq
        self.health.updates += 1
        self.after_delta(delta)
        if delta.checksum is not None:
            return self._verify(delta.checksum)
        return None

    def _book_args(self, event: BookSnapshot | BookDelta) -> tuple:
        """A frame's levels for `L2Book.load`/`apply`, with their checksum tokens when the
        venue's checksum needs them (`tokenized`)."""
        if not self.tokenized:
            return event.bids, event.asks
        text = event.text or (None, None)
        return (event.bids, event.asks, self.level_tokens(event.bids, text[0], True),
                self.level_tokens(event.asks, text[1], False))

    def _verify(self, expected: int) -> str | None:
        self.health.checksum_checks += 1
        got = self.checksum()
        if got == expected:
            return None
        self.health.checksum_failures += 1
        self._mark_lost()
        return f"checksum mismatch: the venue says {expected}, our book gives {got}"

    # -- hooks ---------------------------------------------------------------------------
    def contained(self, delta: BookDelta) -> bool:
        """The snapshot already includes this delta (it is older than the snapshot)."""
        return False

    def breaks_sequence(self, delta: BookDelta) -> str | None:
        """Why this delta does not continue the book's sequence, or None when it does."""
        if delta.prev_seq is not None and self.seq is not None and delta.prev_seq != self.seq:
            return f"expected prev_seq={self.seq}, got prev_seq={delta.prev_seq} seq={delta.seq}"
        return None

    def checksum(self) -> int:
        n = self.checksum_levels
        return self.tokens_checksum(self.book.bids.top_tokens(n), self.book.asks.top_tokens(n))  # type: ignore[arg-type]

    #: The venue's checksum is computed from each level as the venue prints it: the book keeps
    #: one token per level (`level_tokens`), and `checksum` hands the tokens of the best
    #: `checksum_levels` of each side to `tokens_checksum`.
    tokenized = False
    checksum_levels = 0

    def tokens_checksum(self, bid_tokens: list[str], ask_tokens: list[str]) -> int:
        raise NotImplementedError(f"{type(self).__name__} has no checksum")

    def level_tokens(self, levels_: list[Level], text: list[TextLevel] | None, is_bid: bool) -> list[object]:
        """Each level's checksum token (`text`: the levels as printed, when the frame has them)."""
        raise NotImplementedError(f"{type(self).__name__} keeps no level tokens")

    def after_precision(self) -> None:
        """The instrument's decimals changed (venues whose checksum prints levels with them)."""

    def after_snapshot(self, snap: BookSnapshot) -> None:
        pass

    def after_delta(self, delta: BookDelta) -> None:
        pass

    def truncate(self, depth: int) -> None:
        """Keep `depth` levels per side (venues that maintain a fixed-depth book)."""
        bids, asks = self.book.bids, self.book.asks
        while len(bids) > depth:
            bids.pop_worst()
        while len(asks) > depth:
            asks.pop_worst()

    # -- state changes -------------------------------------------------------------------
    def _mark_synced(self) -> None:
        if self._lost:
            self.health.resyncs += 1
            self._lost = False
        self.synced = True
        self.health.snapshots += 1

    def _mark_lost(self) -> None:
        self.synced = False
        self._lost = True
        self.seq = None
        self.book.clear()


class RestSnapshotBook(BookSyncBase):
    """Diffs numbered first..last, seeded by a snapshot fetched over REST after subscribing
    (Binance U/u, KuCoin sequenceStart/End): diffs are buffered until the snapshot, those it
    already contains are skipped, the first applied one straddles it (first <= seq+1 <= last),
    and each later one starts right after the previous one."""

    buffer_before_snapshot = True
    first_name, last_name = "first", "last"  # the venue's names, for the reasons it gives

    def __init__(self) -> None:
        super().__init__()
        self._first = False  # the next applied diff is the first after the snapshot

    def contained(self, delta: BookDelta) -> bool:
        return delta.seq <= self.seq

    def breaks_sequence(self, delta: BookDelta) -> str | None:
        first, last, expected = delta.prev_seq + 1, delta.seq, self.seq + 1
        if (self._first and first <= expected <= last) or (not self._first and first == expected):
            return None
        f, l_ = self.first_name, self.last_name
        rule = f"{f} <= {expected} <= {l_}" if self._first else f"{f} == {expected}"
        return f"expected {rule}, got {f}={first} {l_}={last}"

    def after_snapshot(self, snap: BookSnapshot) -> None:
        self._first = True

    def after_delta(self, delta: BookDelta) -> None:
        self._first = False


def rest_snapshot(venue: str, raw, body: dict, seq_field: str) -> list:  # type: ignore[no-untyped-def]
    """A REST order-book snapshot (CAPTURE.md: kind rest, channel snapshot, symbol set)."""
    if raw.channel != "snapshot":
        return []
    if not raw.symbol:
        raise MalformedFrame("REST snapshot without a symbol")
    return [BookSnapshot(venue, raw.symbol, raw.ts_recv, levels(body["bids"], "bids"),
                         levels(body["asks"], "asks"), seq=int(body[seq_field]))]


# -- parsing helpers ---------------------------------------------------------------------
def frame_parser(fn):  # type: ignore[no-untyped-def]
    """Wrap a venue parser `fn(raw, decoded_json) -> events`: decode the frame (gunzip binary
    frames), and turn any field error into a MalformedFrame that names it."""

    @functools.wraps(fn)
    def parse(raw):  # type: ignore[no-untyped-def]
        try:
            d = orjson.loads(raw.payload if raw.encoding is None else raw.payload_text())
        except (orjson.JSONDecodeError, ValueError, OSError, EOFError) as exc:
            raise MalformedFrame(f"not JSON: {exc}") from None
        try:
            return fn(raw, d)
        except MalformedFrame:
            raise
        except KeyError as exc:
            raise MalformedFrame(f"missing field {exc.args[0]!r}") from None
        except (TypeError, ValueError, IndexError, AttributeError) as exc:
            raise MalformedFrame(f"bad field value: {type(exc).__name__}: {exc}") from None

    return parse


def interleave(bids: list, asks: list) -> list:
    """bid1, ask1, bid2, ask2, ... and then the longer side's rest (OKX, Bitfinex checksums)."""
    n = min(len(bids), len(asks))
    out = [None] * (2 * n)
    out[0::2] = bids[:n]  # slice assignments: no Python-level loop over the levels
    out[1::2] = asks[:n]
    return out + bids[n:] + asks[n:]


def interleaved_checksum(bid_tokens: list[str], ask_tokens: list[str]) -> int:
    """The signed CRC32 of "bid1:ask1:bid2:ask2:..." over the levels' tokens (OKX, Bitfinex)."""
    return signed32(crc32(":".join(interleave(bid_tokens, ask_tokens))))


def signed32(value: int) -> int:
    """An unsigned CRC32 as the signed 32-bit integer some venues print (OKX, Bitfinex)."""
    return value - (1 << 32) if value >= (1 << 31) else value


def crc32(text: str) -> int:
    return zlib.crc32(text.encode())


def decode_json(text: str) -> object | None:
    """For describers: the frame's JSON, or None when it is not JSON."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
