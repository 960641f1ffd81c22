"""Kraken spot websocket: v2 `book` (with CRC32 checksum) and `trade`; also the v1 `book`
and `trade` frames of older recordings, with their checksums.

Wire formats (Kraken docs, "WebSocket API v2: Book", "Trade", "Instrument"; "WebSocket API
v1: book", "How to calculate the checksum"):

  v2  {"channel":"book","type":"snapshot"|"update","data":[{"symbol":"BTC/USD",
        "bids":[{"price":45283.5,"qty":0.10000000}],"asks":[{"price":45285.2,"qty":0.00100000}],
        "checksum":3310070434,"timestamp":"2022-12-25T19:28:52.109Z"}]}
      {"channel":"trade","type":"update","data":[{"symbol":"BTC/USD","side":"sell",
        "price":45283.4,"qty":0.5,"ord_type":"market","trade_id":4665906,"timestamp":"..."}]}
      {"channel":"instrument","type":"snapshot","data":{"pairs":[{"symbol":"BTC/USD",
        "price_precision":1,"qty_precision":8,...}],"assets":[...]}}
  v1  [1234,{"as":[["5541.30000","2.50700000","1534614248.123678"]],"bs":[...]},"book-10","XBT/USD"]
      [1234,{"a":[["5541.30000","2.50700000","1534614248.456738"]],"c":"974942666"},"book-10","XBT/USD"]
      [1234,{"a":[...]},{"b":[...],"c":"..."},"book-10","XBT/USD"]   (both sides in one frame)
      [0,[["5541.20000","0.15850568","1534614057.321597","s","l",""]],"trade","XBT/USD"]

Sizes are absolute; 0 removes the level; a 4th element "r" marks a republished level. The
book is kept at the subscribed depth (v1: "book-<depth>"; v2: the smallest valid depth that
holds the snapshot) by cutting the worst levels after each update.

Checksum: the best 10 asks (lowest first) then the best 10 bids (highest first); for each,
price then size, with the decimal point and leading zeros removed; CRC32 of the concatenation,
unsigned. v1 uses the strings as sent; v2 formats the numbers with the pair's precision
(instrument channel, or else the most decimals seen in the snapshot).
"""

from __future__ import annotations

import re
from decimal import Decimal

import orjson

from cobflow.connectors.base import (
    BookSyncBase,
    Level,
    check_levels,
    crc32,
    decode_json,
    frame_parser,
    positive_trade,
    text_levels,
)
from cobflow.connectors.live import LiveSpec
from cobflow.connectors.simulator.wire import Frame, SimWireBase, WireProfile, dumps, iso
from cobflow.events import BookDelta, BookSnapshot, Event, MalformedFrame, Precision, TextLevel, Trade
from cobflow.raw import RawMessage

VENUE = "kraken"
CRYPTOFEED = ("KRAKEN",)  # its name in cryptofeed recordings' file names
WS_URL = "wss://ws.kraken.com/v2"
CHECKSUM_LEVELS = 10
DEPTHS = (10, 25, 100, 500, 1000)
_ALIASES = {"XBT": "BTC", "XDG": "DOGE"}


def canonical_symbol(pair: str) -> str:
    """XBT/USD -> BTC-USD (Kraken's legacy asset codes mapped to the common ones)."""
    base, _, quote = pair.upper().partition("/")
    return f"{_ALIASES.get(base, base)}-{_ALIASES.get(quote, quote)}"


def venue_symbol(market: str) -> str:
    """BTC-USD -> BTC/USD (the v2 API's spelling)."""
    return market.replace("-", "/")


def checksum_digits(text: str) -> str:
    return text.replace(".", "").lstrip("0")


def level_token(price_text: str, size_text: str) -> str:
    return checksum_digits(price_text) + checksum_digits(size_text)


def tokens_checksum(bid_tokens: list[str], ask_tokens: list[str]) -> int:
    """Kraken's checksum from the best levels' tokens (best first): the asks, then the bids."""
    return crc32("".join(ask_tokens) + "".join(bid_tokens))


def depth_for(n_levels: int) -> int:
    return next((d for d in DEPTHS if d >= n_levels), DEPTHS[-1])


# -- v2 ------------------------------------------------------------------------------------
_PRICE_RE = re.compile(r'"price":\s*([-0-9.eE+]+)')
_QTY_RE = re.compile(r'"qty":\s*([-0-9.eE+]+)')


def _decimals(literals: list[str]) -> int:
    return max((max(0, -Decimal(x).as_tuple().exponent) for x in literals), default=0)


def _v2_levels(raw: object, what: str) -> list[tuple[float, float]]:
    if not isinstance(raw, list):
        raise MalformedFrame(f"{what}: expected a list of {{price, qty}}")
    out = [(float(x["price"]), float(x["qty"])) for x in raw]
    check_levels(out, what)
    return out


def _parse_v2(raw: RawMessage, d: dict) -> list[Event]:
    channel, kind = d.get("channel"), d.get("type")
    out: list[Event] = []
    if channel == "book":
        for item in d["data"]:
            market = canonical_symbol(item["symbol"])
            bids, asks = _v2_levels(item["bids"], "bids"), _v2_levels(item["asks"], "asks")
            checksum = int(item["checksum"]) if "checksum" in item else None
            if kind == "snapshot":
                if len(d["data"]) == 1:  # the decimals as printed, should no instrument frame come
                    text = raw.payload_text()
                    out.append(Precision(VENUE, market, raw.ts_recv, _decimals(_PRICE_RE.findall(text)),
                                         _decimals(_QTY_RE.findall(text)), inferred=True))
                out.append(BookSnapshot(VENUE, market, raw.ts_recv, bids, asks, checksum=checksum,
                                        depth=depth_for(max(len(bids), len(asks)))))
            elif kind == "update":
                out.append(BookDelta(VENUE, market, raw.ts_recv, bids, asks, checksum=checksum))
            else:
                raise MalformedFrame(f"unknown book type {kind!r}")
    elif channel == "trade" and kind in ("update", "snapshot"):
        if kind == "snapshot":
            return []  # recent trades from before we subscribed: not received live
        for t in d["data"]:
            price, size = float(t["price"]), float(t["qty"])
            positive_trade(price, size)
            if t["side"] not in ("buy", "sell"):
                raise MalformedFrame(f"trade side {t['side']!r}")
            out.append(Trade(VENUE, canonical_symbol(t["symbol"]), raw.ts_recv, price, size,
                             t["side"], str(t.get("trade_id"))))
    elif channel == "instrument":
        for pair in d["data"].get("pairs", []):
            out.append(Precision(VENUE, canonical_symbol(pair["symbol"]), raw.ts_recv,
                                 int(pair["price_precision"]), int(pair["qty_precision"])))
    return out


# -- v1 ------------------------------------------------------------------------------------
def _parse_v1(raw: RawMessage, d: list) -> list[Event]:
    if len(d) < 4 or not isinstance(d[-2], str):
        raise MalformedFrame("v1 frame: expected [channelID, data..., channelName, pair]")
    name, market = d[-2], canonical_symbol(d[-1])
    if name.startswith("book"):
        parts = d[1:-2]
        if not parts or not all(isinstance(p, dict) for p in parts):
            raise MalformedFrame("v1 book frame without level objects")
        if "as" in parts[0] or "bs" in parts[0]:
            bids, bid_text = text_levels(parts[0].get("bs", []), "bs")
            asks, ask_text = text_levels(parts[0].get("as", []), "as")
            depth = int(name.split("-")[1]) if "-" in name else depth_for(max(len(bids), len(asks)))
            return [BookSnapshot(VENUE, market, raw.ts_recv, bids, asks,
                                 text=(bid_text, ask_text), depth=depth)]
        bids, bid_text, asks, ask_text, checksum = [], [], [], [], None
        for part in parts:
            if "a" in part:
                lv, tx = text_levels(part["a"], "a")
                asks += lv
                ask_text += tx
            if "b" in part:
                lv, tx = text_levels(part["b"], "b")
                bids += lv
                bid_text += tx
            if "c" in part:
                checksum = int(part["c"])
        return [BookDelta(VENUE, market, raw.ts_recv, bids, asks, checksum=checksum,
                          text=(bid_text, ask_text))]
    if name == "trade":
        out: list[Event] = []
        for t in d[1]:
            price, size = float(t[0]), float(t[1])
            positive_trade(price, size)
            side = {"b": "buy", "s": "sell"}.get(t[3])
            if side is None:
                raise MalformedFrame(f"trade side {t[3]!r}")
            out.append(Trade(VENUE, market, raw.ts_recv, price, size, side, None,
                             int(Decimal(t[2]) * 1_000_000_000)))
        return out
    return []  # ticker, spread, ohlc


@frame_parser
def parse(raw: RawMessage, d: object) -> list[Event]:
    if isinstance(d, list):
        return _parse_v1(raw, d)
    if isinstance(d, dict) and "channel" in d and "data" in d:
        return _parse_v2(raw, d)
    return []  # heartbeats, status, subscription acks


class KrakenBook(BookSyncBase):
    """Kraken has no sequence numbers: each update's checksum is the sync check."""

    tokenized = True
    checksum_levels = CHECKSUM_LEVELS
    tokens_checksum = staticmethod(tokens_checksum)

    def level_tokens(self, levels_: list[Level], text: list[TextLevel] | None, is_bid: bool) -> list[object]:
        if text is not None:  # v1: the strings as sent
            return [level_token(p, q) for p, q in text]
        if self.precision is None:
            raise RuntimeError("v2 book without precision: parse() emits one before each snapshot")
        fmt = self._format
        return [level_token(fmt(p, 0), fmt(q, 1)) if q > 0 else None for p, q in levels_]

    def _format(self, x: float, which: int) -> str:
        """x with the pair's price (0) or size (1) decimals."""
        return f"{x:.{self.precision[which]}f}"  # type: ignore[index]

    def after_precision(self) -> None:
        if self.synced:  # a v2 book's levels are printed anew
            for side in (self.book.bids, self.book.asks):
                side.retokenize(lambda p, q: level_token(self._format(p, 0), self._format(q, 1)))


BookSync = KrakenBook


def describe_frame(kind: str, url: str | None, text: str, state: dict) -> tuple[str, str | None]:
    d = decode_json(text)
    if isinstance(d, list) and len(d) >= 4 and isinstance(d[-1], str) and isinstance(d[-2], str):
        return d[-2].split("-")[0], canonical_symbol(d[-1])
    if isinstance(d, dict) and "channel" in d:
        data = d.get("data")
        symbols = {x.get("symbol") for x in data if isinstance(x, dict)} if isinstance(data, list) else set()
        symbol = canonical_symbol(symbols.pop()) if len(symbols) == 1 and None not in symbols else None
        return str(d["channel"]), symbol
    return "control", None


# -- simulated feed ----------------------------------------------------------------------


class SimWire(SimWireBase):
    """v2: the instrument snapshot, `book` (depth 25) with checksums, `trade`."""

    venue = VENUE
    profile = WireProfile(tick_digits=5, size_decimals=8, max_levels=25)

    wire_symbol = staticmethod(venue_symbol)

    def _checksum(self, spec, book) -> int:  # type: ignore[no-untyped-def]
        tok = self.checksum_token
        return tokens_checksum([tok(spec, t, s) for t, s in book.top_bids(CHECKSUM_LEVELS)],
                               [tok(spec, t, s) for t, s in book.top_asks(CHECKSUM_LEVELS)])

    def level_text(self, spec, tick: int, size: float) -> str:  # type: ignore[no-untyped-def]
        return level_token(spec.price_text(tick), spec.size_text(size))

    def open(self, t_ns):  # type: ignore[no-untyped-def]
        pairs = [{"symbol": s.wire_symbol, "base": s.wire_symbol.split("/")[0], "quote": s.wire_symbol.split("/")[1],
                  "status": "online", "price_precision": s.price_decimals, "qty_precision": s.size_decimals,
                  "price_increment": s.tick_size} for s in self.specs.values()]
        msg = {"channel": "instrument", "type": "snapshot", "data": {"assets": [], "pairs": pairs}}
        return [Frame(None, "ws", "instrument", dumps(msg))]

    def _levels(self, spec, levels):  # type: ignore[no-untyped-def]
        return [{"price": spec.price(t), "qty": round(s, spec.size_decimals)} for t, s in levels]

    def subscribed(self, t_ns, market, book):  # type: ignore[no-untyped-def]
        spec = self.specs[market]
        item = {"symbol": spec.wire_symbol, "bids": self._levels(spec, book.sorted_bids()),
                "asks": self._levels(spec, book.sorted_asks()), "checksum": self._checksum(spec, book)}
        return [Frame(market, "ws", "book", dumps({"channel": "book", "type": "snapshot", "data": [item]}))]

    def update(self, t_ns, market, book, changes):  # type: ignore[no-untyped-def]
        spec = self.specs[market]
        item = {"symbol": spec.wire_symbol,
                "bids": self._levels(spec, [(t, s) for side, t, s in changes if side == "bid"]),
                "asks": self._levels(spec, [(t, s) for side, t, s in changes if side == "ask"]),
                "checksum": self._checksum(spec, book), "timestamp": iso(t_ns)}
        return [Frame(market, "ws", "book", dumps({"channel": "book", "type": "update", "data": [item]}))]

    def trades(self, t_ns, market, trades):  # type: ignore[no-untyped-def]
        spec = self.specs[market]
        data = [{"symbol": spec.wire_symbol, "side": tr.side, "price": spec.price(tr.tick),
                 "qty": round(tr.size, spec.size_decimals), "ord_type": "market", "trade_id": tr.trade_id,
                 "timestamp": iso(t_ns)} for tr in trades]
        return [Frame(market, "ws", "trade", dumps({"channel": "trade", "type": "update", "data": data}))]


# -- live --------------------------------------------------------------------------------


class Live(LiveSpec):
    """v2 instrument (for checksum precision), book depth 25, trade; ping every 30 s."""

    url = WS_URL
    keepalive_s = 30.0

    def subscribe(self) -> list[str]:
        symbols = [venue_symbol(m) for m in self.markets]
        return [orjson.dumps(x).decode() for x in (
            {"method": "subscribe", "params": {"channel": "instrument"}},
            {"method": "subscribe", "params": {"channel": "book", "symbol": symbols, "depth": 25}},
            {"method": "subscribe", "params": {"channel": "trade", "symbol": symbols}},
        )]

    def keepalive(self) -> str:
        return '{"method":"ping"}'
