"""Binance spot: `<symbol>@depth@100ms` diffs seeded by the REST depth snapshot, `aggTrade`.

Wire formats (Binance spot API docs, "Diff. Depth Stream", "Aggregate Trade Streams",
"Order Book" REST endpoint):

    depthUpdate   {"e":"depthUpdate","E":1672515782136,"s":"BNBBTC","U":157,"u":160,
                   "b":[["0.0024","10"]],"a":[["0.0026","100"]]}
    aggTrade      {"e":"aggTrade","E":1672515782136,"s":"BNBBTC","a":12345,"p":"0.001",
                   "q":"100","f":100,"l":105,"T":1672515782136,"m":true,"M":true}
    GET /api/v3/depth?symbol=BNBBTC&limit=1000
                  {"lastUpdateId":1027024,"bids":[["4.00000000","431.00000000"]],"asks":[...]}

Combined streams wrap each event: {"stream":"bnbbtc@depth@100ms","data":{...}}.
Sizes are absolute; size 0 removes the level. `m` true means the buyer was the maker,
so the taker sold.

Sync rules ("How to manage a local order book correctly"): buffer diffs, fetch a
snapshot, drop diffs with u <= lastUpdateId; the first applied diff has
U <= lastUpdateId+1 <= u; afterwards each U equals the previous u + 1. Anything else is
a gap: the book is unsynced until a new snapshot.
"""

from __future__ import annotations

from collections import deque
from urllib.parse import parse_qs, urlsplit

import orjson

from cobflow.raw import RawMessage
from connectors.base import (
    BookDelta,
    BookSnapshot,
    BookSyncBase,
    Event,
    MalformedFrame,
    Trade,
    levels,
)

VENUE = "binance"

# Quote assets, longest first, to split "NKNUSDT" into NKN-USDT.
_QUOTES = sorted(
    "USDT USDC FDUSD BUSD TUSD USDP DAI BTC ETH BNB EUR GBP TRY AUD BRL RUB UAH NGN ZAR "
    "IDRT BIDR PLN RON ARS JPY MXN COP CZK USD XRP TRX DOGE DOT".split(),
    key=len,
    reverse=True,
)


def canonical_symbol(venue_symbol: str) -> str:
    """BTCUSDT -> BTC-USDT. An unknown quote keeps the venue's spelling, upper case."""
    s = venue_symbol.upper()
    for quote in _QUOTES:
        if s.endswith(quote) and len(s) > len(quote):
            return f"{s[: -len(quote)]}-{quote}"
    return s


def venue_symbol(market: str) -> str:
    """BTC-USDT -> BTCUSDT (what the REST API and the stream names take, lower case for streams)."""
    return market.replace("-", "").upper()


def _ns_from_ms(ms: object) -> int | None:
    return int(ms) * 1_000_000 if isinstance(ms, int) else None


def parse(raw: RawMessage) -> list[Event]:
    try:
        d = orjson.loads(raw.payload)
    except orjson.JSONDecodeError as exc:
        raise MalformedFrame(f"not JSON: {exc}") from None
    if not isinstance(d, dict):
        raise MalformedFrame(f"expected a JSON object, got {type(d).__name__}")
    try:
        if raw.kind == "rest":
            if raw.channel != "snapshot":
                return []
            if not raw.symbol:
                raise MalformedFrame("REST snapshot without a symbol")
            return [
                BookSnapshot(
                    VENUE,
                    raw.symbol,
                    raw.ts_recv,
                    levels(d["bids"], "bids"),
                    levels(d["asks"], "asks"),
                    seq=int(d["lastUpdateId"]),
                )
            ]
        if "data" in d and "stream" in d:
            d = d["data"]
            if not isinstance(d, dict):
                raise MalformedFrame("combined-stream 'data' is not an object")
        etype = d.get("e")
        if etype == "depthUpdate":
            return [
                BookDelta(
                    VENUE,
                    canonical_symbol(d["s"]),
                    raw.ts_recv,
                    levels(d["b"], "b"),
                    levels(d["a"], "a"),
                    first_seq=int(d["U"]),
                    last_seq=int(d["u"]),
                )
            ]
        if etype in ("aggTrade", "trade"):
            price, size = float(d["p"]), float(d["q"])
            if price <= 0 or size <= 0:
                raise MalformedFrame(f"trade with price={price} size={size}")
            return [
                Trade(
                    VENUE,
                    canonical_symbol(d["s"]),
                    raw.ts_recv,
                    price,
                    size,
                    "sell" if d["m"] else "buy",
                    str(d["a"] if etype == "aggTrade" else d["t"]),
                    _ns_from_ms(d.get("T")),
                )
            ]
    except KeyError as exc:
        raise MalformedFrame(f"missing field {exc.args[0]!r}") from None
    except (TypeError, ValueError) as exc:
        raise MalformedFrame(f"bad field value: {exc}") from None
    # bookTicker, kline, subscription results: not book or trade data.
    return []


class BinanceBook(BookSyncBase):
    """Binance's documented snapshot + diff rules."""

    MAX_PENDING = 10_000  # diffs buffered while waiting for a snapshot

    def __init__(self) -> None:
        super().__init__()
        self.last_update_id: int | None = None  # None: waiting for a snapshot
        self._first = False
        self._pending: deque[BookDelta] = deque(maxlen=self.MAX_PENDING)

    def apply(self, event: BookSnapshot | BookDelta) -> str | None:
        if isinstance(event, BookSnapshot):
            return self._snapshot(event)
        return self._delta(event)

    def _snapshot(self, snap: BookSnapshot) -> str | None:
        self.book.load(snap.bids, snap.asks)
        self.last_update_id = snap.seq
        self._first = True
        self._mark_synced()
        pending, self._pending = list(self._pending), deque(maxlen=self.MAX_PENDING)
        for delta in pending:
            reason = self._delta(delta)
            if reason is not None:
                return f"buffered diffs do not connect to snapshot lastUpdateId={snap.seq}: {reason}"
        return None

    def _delta(self, delta: BookDelta) -> str | None:
        if self.last_update_id is None:
            self._pending.append(delta)
            return None
        u, U = delta.last_seq, delta.first_seq  # noqa: N806 - Binance's names
        if u <= self.last_update_id:  # already contained in the snapshot
            return None
        expected = self.last_update_id + 1
        if self._first:
            ok = U <= expected <= u
        else:
            ok = U == expected
        if not ok:
            rule = "U <= {0} <= u" if self._first else "U == {0}"
            self._lose()
            return f"sequence gap: expected {rule.format(expected)}, got U={U} u={u}"
        self.book.apply(delta.bids, delta.asks)
        self.last_update_id = u
        self._first = False
        self.health.updates += 1
        return None

    def _lose(self) -> None:
        self._mark_lost()
        self.health.gaps += 1
        self.last_update_id = None


BookSync = BinanceBook  # what the registry builds for each market


def describe_frame(kind: str, url: str | None, text: str) -> tuple[str, str | None]:
    """(channel, canonical symbol) of a recorded frame, for `cobflow import-capture`."""
    if kind == "rest":
        parts = urlsplit(url or "")
        symbol = parse_qs(parts.query).get("symbol", [None])[0]
        channel = "snapshot" if parts.path.endswith("/depth") else parts.path.rsplit("/", 1)[-1]
        return channel, canonical_symbol(symbol) if symbol else None
    try:
        d = orjson.loads(text)
    except orjson.JSONDecodeError:
        return "unknown", None
    if isinstance(d, dict) and isinstance(d.get("stream"), str):
        name, _, channel = d["stream"].partition("@")
        return channel, canonical_symbol(name)
    if isinstance(d, dict) and "e" in d:
        return str(d["e"]), canonical_symbol(d["s"]) if isinstance(d.get("s"), str) else None
    return "control", None
