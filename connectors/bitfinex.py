"""Bitfinex v2 public websocket: `book` (P0, raw price levels) and `trades`.

Wire formats (Bitfinex API v2 docs, "Books", "Trades", "Configuration"), with the
connection configured for sequence numbers (`conf` flag SEQ_ALL = 65536), which appends a
sequence number to every frame, and optionally checksums (OB_CHECKSUM = 131072):

    {"event":"subscribed","channel":"book","chanId":232955,"symbol":"tBTCUSD",
     "prec":"P0","freq":"F0","len":"25","pair":"BTCUSD"}
    [232955,[[7254.7,3,3.3],[7254.8,1,-0.5]],12]       book snapshot: [price, count, amount]
    [232955,[7254.7,0,1],13]                            update; count 0 deletes (amount 1 bids, -1 asks)
    [232955,"cs",-1566224542,14]                        checksum of the book
    [232959,"te",[401597395,1574694478808,0.005,7245.3],15]   trade: [id, ms, amount, price]
    [232955,"hb",16]                                    heartbeat

An amount > 0 is a bid (a buy trade), < 0 an ask (a sell trade, the taker sold). Frames
carry only the channel id: the connector, which saw the subscription, sets the raw message's
symbol. Trade snapshots and `tu` frames (which repeat `te`) are skipped.

Checksum: CRC32 (signed 32-bit) of "bid1price:bid1amount:ask1price:ask1amount:..." over the
best 25 levels per side, asks with their negative amounts, numbers printed as JavaScript does.
Sequence: SEQ_ALL numbers count every frame of a connection; a market's frames can only be
checked to increase (the live client checks the connection's count strictly).
"""

from __future__ import annotations

import orjson

from cobflow.connectors.base import (
    BookSyncBase,
    Level,
    check_levels,
    decode_json,
    frame_parser,
    interleaved_checksum,
    positive_trade,
)
from cobflow.connectors.live import LiveSpec
from cobflow.connectors.simulator.wire import Frame, SimWireBase, WireProfile, dumps
from cobflow.events import BookDelta, BookSnapshot, Event, MalformedFrame, TextLevel, Trade
from cobflow.raw import RawMessage

VENUE = "bitfinex"
CRYPTOFEED = ("BITFINEX",)  # its name in cryptofeed recordings' file names
WS_URL = "wss://api-pub.bitfinex.com/ws/2"
CHECKSUM_LEVELS = 25
_INF = float("inf")


def canonical_symbol(symbol: str) -> str:
    """tBTCUSD -> BTC-USD, tTESTBTC:TESTUSD -> TESTBTC-TESTUSD."""
    s = symbol[1:] if symbol[:1] in ("t", "f") else symbol
    if ":" in s:
        base, quote = s.split(":", 1)
    else:
        base, quote = s[:-3], s[-3:]
    return f"{base}-{quote}".upper()


def venue_symbol(market: str) -> str:
    base, quote = market.split("-")
    return f"t{base}:{quote}" if len(base) > 3 or len(quote) > 3 else f"t{base}{quote}"


def js_number(x: float) -> str:
    """A float printed as JavaScript's Number.prototype.toString prints it (what Bitfinex
    checksums): the shortest digits that read back as x (as repr), in plain decimal for
    1e-6 <= |x| < 1e21 and as d.ddde+n / d.ddde-n outside that range (ECMA-262 Number::toString)."""
    ax = abs(x)
    if 1e-4 <= ax < 1e16:  # repr prints these without an exponent too: the everyday case
        return str(int(x)) if x == int(x) else repr(x)
    if x == 0:
        return "0"  # also -0
    if ax != ax or ax == _INF:
        return "NaN" if ax != ax else ("Infinity" if x > 0 else "-Infinity")
    mant, _, exp = repr(ax).partition("e")
    whole, _, frac = mant.partition(".")
    digits = whole + frac
    n = len(whole) + int(exp or 0)  # x = 0.DIGITS * 10**n
    stripped = digits.lstrip("0")
    n -= len(digits) - len(stripped)
    digits = stripped.rstrip("0")
    k, sign = len(digits), "-" if x < 0 else ""
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * -n + digits
    e = n - 1
    mantissa = digits if k == 1 else digits[0] + "." + digits[1:]
    return f"{sign}{mantissa}e{'+' if e > 0 else '-'}{abs(e)}"


def _book_levels(entries: list) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    bids, asks = [], []
    for price, count, amount in entries:
        price, count, amount = float(price), int(count), float(amount)
        if count > 0:
            (bids if amount > 0 else asks).append((price, abs(amount)))
        elif amount == 1:
            bids.append((price, 0.0))
        elif amount == -1:
            asks.append((price, 0.0))
        else:
            raise MalformedFrame(f"book entry with count 0 and amount {amount}")
    check_levels(bids, "bids")
    check_levels(asks, "asks")
    return bids, asks


@frame_parser
def parse(raw: RawMessage, d: object) -> list[Event]:
    if isinstance(d, dict):
        return []  # info, conf, subscribed, error events
    if not isinstance(d, list) or len(d) < 2:
        raise MalformedFrame("expected [chanId, ...]")
    body = d[1]
    if body == "hb":
        return []
    market = raw.symbol
    if not market:
        raise MalformedFrame("Bitfinex frames carry only a channel id: the raw message needs its symbol")
    seq = int(d[-1]) if len(d) >= 3 and isinstance(d[-1], int) else None
    if body == "cs":
        return [BookDelta(VENUE, market, raw.ts_recv, [], [], seq=seq, checksum=int(d[2]))]
    if body == "te":
        tid, ms, amount, price = d[2][:4]
        price, amount = float(price), float(amount)
        positive_trade(price, abs(amount))
        return [Trade(VENUE, market, raw.ts_recv, price, abs(amount), "buy" if amount > 0 else "sell",
                      str(tid), int(ms) * 1_000_000)]
    if body == "tu" or not isinstance(body, list):
        return []
    if body and isinstance(body[0], list):  # a snapshot: book levels (3 fields) or trades (4)
        if len(body[0]) == 3:
            bids, asks = _book_levels(body)
            return [BookSnapshot(VENUE, market, raw.ts_recv, bids, asks, seq=seq)]
        return []
    if not body:  # an empty book snapshot
        return [BookSnapshot(VENUE, market, raw.ts_recv, [], [], seq=seq)]
    if len(body) == 3:
        bids, asks = _book_levels([body])
        return [BookDelta(VENUE, market, raw.ts_recv, bids, asks, seq=seq)]
    return []  # ticker arrays


class BitfinexBook(BookSyncBase):
    """Snapshot, then updates whose sequence numbers increase; `cs` frames are checked."""

    def breaks_sequence(self, delta: BookDelta) -> str | None:
        if delta.seq is not None and self.seq is not None and delta.seq <= self.seq:
            return f"sequence went from {self.seq} to {delta.seq}"
        return None

    tokenized = True
    checksum_levels = CHECKSUM_LEVELS
    tokens_checksum = staticmethod(interleaved_checksum)

    def level_tokens(self, levels_: list[Level], text: list[TextLevel] | None, is_bid: bool) -> list[object]:
        js = js_number  # once per level update: the book keeps the tokens
        if is_bid:
            return [f"{js(p)}:{js(q)}" for p, q in levels_]
        return [f"{js(p)}:{js(-q)}" for p, q in levels_]



BookSync = BitfinexBook


def describe_frame(kind: str, url: str | None, text: str, state: dict) -> tuple[str, str | None]:
    """Channel ids are learnt from the `subscribed` events earlier in the same recording."""
    d = decode_json(text)
    if isinstance(d, dict):
        if d.get("event") == "subscribed":
            state[d["chanId"]] = (d["channel"], canonical_symbol(d["symbol"]))
        return "control", None
    if isinstance(d, list) and d:
        return state.get(d[0], ("unknown", None))
    return "unknown", None


# -- simulated feed ----------------------------------------------------------------------


class SimWire(SimWireBase):
    """`book` P0 (one level per frame) with SEQ_ALL numbers and `cs` checksums, `trades` te."""

    venue = VENUE
    profile = WireProfile(tick_digits=4, size_decimals=8, max_levels=25)

    wire_symbol = staticmethod(venue_symbol)

    def __init__(self, specs, rng) -> None:  # type: ignore[no-untyped-def]
        super().__init__(specs, rng)
        self.seq = 0
        base = rng.randrange(10_000, 300_000)
        self.book_chan = {m: base + 2 * i for i, m in enumerate(specs)}
        self.trade_chan = {m: base + 2 * i + 1 for i, m in enumerate(specs)}

    def _next(self) -> int:
        self.seq += 1
        return self.seq

    def open(self, t_ns):  # type: ignore[no-untyped-def]
        frames = [Frame(None, "ws", "info", dumps({"event": "info", "version": 2, "platform": {"status": 1}})),
                  Frame(None, "ws", "conf", dumps({"event": "conf", "status": "OK", "flags": 65536 + 131072}))]
        for m, spec in self.specs.items():
            for channel, chan in (("book", self.book_chan[m]), ("trades", self.trade_chan[m])):
                ev = {"event": "subscribed", "channel": channel, "chanId": chan, "symbol": spec.wire_symbol,
                      "pair": spec.wire_symbol[1:]}
                if channel == "book":
                    ev.update(prec="P0", freq="F0", len="25")
                frames.append(Frame(None, "ws", "subscribed", dumps(ev)))
        return frames

    def _entry(self, spec, side, tick, size):  # type: ignore[no-untyped-def]
        if size > 0:
            amount = round(size, spec.size_decimals)
            return [spec.price(tick), 1 + self.rng.getrandbits(2), amount if side == "bid" else -amount]
        return [spec.price(tick), 0, 1 if side == "bid" else -1]

    def _checksum(self, spec, book) -> int:  # type: ignore[no-untyped-def]
        tok = self.checksum_token
        return interleaved_checksum([tok(spec, t, s) for t, s in book.top_bids(CHECKSUM_LEVELS)],
                                    [tok(spec, t, -s) for t, s in book.top_asks(CHECKSUM_LEVELS)])

    def level_text(self, spec, tick: int, amount: float) -> str:  # type: ignore[no-untyped-def]
        return f"{js_number(spec.price(tick))}:{js_number(amount)}"

    def subscribed(self, t_ns, market, book):  # type: ignore[no-untyped-def]
        spec = self.specs[market]
        entries = ([self._entry(spec, "bid", t, s) for t, s in book.sorted_bids()]
                   + [self._entry(spec, "ask", t, s) for t, s in book.sorted_asks()])
        chan = self.book_chan[market]
        return [Frame(market, "ws", "book", dumps([chan, entries, self._next()])),
                Frame(market, "ws", "book", dumps([chan, "cs", self._checksum(spec, book), self._next()]))]

    def update(self, t_ns, market, book, changes):  # type: ignore[no-untyped-def]
        spec = self.specs[market]
        chan = self.book_chan[market]
        frames = [Frame(market, "ws", "book", dumps([chan, self._entry(spec, side, t, s), self._next()]))
                  for side, t, s in changes]
        frames.append(Frame(market, "ws", "book", dumps([chan, "cs", self._checksum(spec, book), self._next()])))
        return frames

    def trades(self, t_ns, market, trades):  # type: ignore[no-untyped-def]
        spec = self.specs[market]
        chan = self.trade_chan[market]
        ms = t_ns // 1_000_000
        return [Frame(market, "ws", "trades", dumps(
            [chan, "te", [tr.trade_id, ms, round(tr.size if tr.side == "buy" else -tr.size, spec.size_decimals),
                          spec.price(tr.tick)], self._next()])) for tr in trades]


# -- live --------------------------------------------------------------------------------


class Live(LiveSpec):
    """conf SEQ_ALL + OB_CHECKSUM, then book P0 and trades per market; app-level ping."""

    url = WS_URL
    keepalive_s = 30.0

    def subscribe(self) -> list[str]:
        out = [orjson.dumps({"event": "conf", "flags": 65536 + 131072}).decode()]
        for m in self.markets:
            out.append(orjson.dumps({"event": "subscribe", "channel": "book", "symbol": venue_symbol(m),
                                     "prec": "P0", "freq": "F0", "len": "25"}).decode())
            out.append(orjson.dumps({"event": "subscribe", "channel": "trades", "symbol": venue_symbol(m)}).decode())
        return out

    def keepalive(self) -> str:
        return '{"event":"ping","cid":1}'

    def connection_sequence(self, text: str) -> int | None:
        if not text.startswith("["):
            return None  # events carry no sequence number
        d = decode_json(text)
        return d[-1] if isinstance(d, list) and len(d) >= 3 and isinstance(d[-1], int) else None
