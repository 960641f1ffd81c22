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

from cobflow.raw import RawMessage
from connectors.base import (
    BookDelta,
    BookSnapshot,
    BookSyncBase,
    Event,
    MalformedFrame,
    Trade,
    check_levels,
    crc32,
    decode_json,
    frame_parser,
    positive_trade,
    signed32,
)

VENUE = "bitfinex"
WS_URL = "wss://api-pub.bitfinex.com/ws/2"
CHECKSUM_LEVELS = 25


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
    """A float printed as JavaScript's Number.toString prints it (what Bitfinex checksums)."""
    if x == int(x) and abs(x) < 1e21:
        return str(int(x))
    r = repr(x)
    if "e" in r:
        mant, exp = r.split("e")
        return f"{mant}e{'+' if int(exp) > 0 else '-'}{abs(int(exp))}"
    return r


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


def book_checksum(bids: list[tuple[float, float]], asks: list[tuple[float, float]]) -> int:
    parts: list[str] = []
    for i in range(CHECKSUM_LEVELS):
        if i < len(bids):
            parts += [js_number(bids[i][0]), js_number(bids[i][1])]
        if i < len(asks):
            parts += [js_number(asks[i][0]), js_number(-asks[i][1])]
    return signed32(crc32(":".join(parts)))


class BitfinexBook(BookSyncBase):
    """Snapshot, then updates whose sequence numbers increase; `cs` frames are checked."""

    def breaks_sequence(self, delta: BookDelta) -> str | None:
        if delta.seq is not None and self.seq is not None and delta.seq <= self.seq:
            return f"sequence went from {self.seq} to {delta.seq}"
        return None

    def checksum(self) -> int:
        bids, asks = self.book.bids, self.book.asks
        nb, na = min(CHECKSUM_LEVELS, len(bids)), min(CHECKSUM_LEVELS, len(asks))
        return book_checksum([bids.peekitem(-1 - i) for i in range(nb)], [asks.peekitem(i) for i in range(na)])


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
