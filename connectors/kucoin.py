"""KuCoin spot: `/market/level2` increments seeded by the REST level-2 snapshot, `/market/match`.

Wire formats (KuCoin API docs, "Level2 Market Data", "Match Execution Data", "Get Full
Order Book (aggregated)"):

    {"type":"message","topic":"/market/level2:BTC-USDT","subject":"trade.l2update",
     "data":{"sequenceStart":1545896669105,"sequenceEnd":1545896669106,"symbol":"BTC-USDT",
             "changes":{"asks":[["6","1","1545896669105"]],"bids":[["4","1","1545896669106"]]}}}
    {"type":"message","topic":"/market/match:BTC-USDT","subject":"trade.l3match",
     "data":{"sequence":"1545896669145","symbol":"BTC-USDT","side":"buy","size":"0.01022222",
             "price":"0.08200000","tradeId":"5c24c5da03aa673885cd67aa","time":"1545913818099033203"}}
    GET /api/v3/market/orderbook/level2?symbol=BTC-USDT
        {"code":"200000","data":{"sequence":"3262786978","time":1550653727731,
                                 "bids":[["6500.12","0.45054140"]],"asks":[["6500.16","0.57753524"]]}}

Changes are [price, size, sequence]; size 0 removes the level; a price of "0" carries only
a sequence number (nothing to apply). A match's `side` is the taker's.

Sync rules: buffer the increments, fetch the snapshot, skip increments already in it
(sequenceEnd <= its sequence); the first applied one straddles it; afterwards each
sequenceStart is the previous sequenceEnd + 1. Recordings only: this venue has no live
client or simulated feed yet.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from cobflow.connectors.base import RestSnapshotBook, check_levels, decode_json, frame_parser, positive_trade, rest_snapshot
from cobflow.events import BookDelta, Event, MalformedFrame, Trade
from cobflow.raw import RawMessage

VENUE = "kucoin"
CRYPTOFEED = ("KUCOIN",)  # its name in cryptofeed recordings' file names


def canonical_symbol(symbol: str) -> str:
    return symbol.upper()


def venue_symbol(market: str) -> str:
    """The market as the venue prints it: already BASE-QUOTE."""
    return market


def _changes(raw: object, what: str) -> list[tuple[float, float]]:
    if not isinstance(raw, list):
        raise MalformedFrame(f"{what}: expected a list of [price, size, sequence]")
    out = [(float(p), float(q)) for p, q, *_ in raw if p != "0"]
    check_levels(out, what)
    return out


@frame_parser
def parse(raw: RawMessage, d: object) -> list[Event]:
    if not isinstance(d, dict):
        raise MalformedFrame(f"expected a JSON object, got {type(d).__name__}")
    if raw.kind == "rest":
        return rest_snapshot(VENUE, raw, d["data"], "sequence")
    subject = d.get("subject")
    if subject == "trade.l2update":
        data = d["data"]
        ch = data["changes"]
        return [BookDelta(VENUE, canonical_symbol(data["symbol"]), raw.ts_recv, _changes(ch["bids"], "bids"),
                          _changes(ch["asks"], "asks"), seq=int(data["sequenceEnd"]),
                          prev_seq=int(data["sequenceStart"]) - 1)]
    if subject == "trade.l3match":
        data = d["data"]
        price, size = float(data["price"]), float(data["size"])
        positive_trade(price, size)
        if data["side"] not in ("buy", "sell"):
            raise MalformedFrame(f"match side {data['side']!r}")
        return [Trade(VENUE, canonical_symbol(data["symbol"]), raw.ts_recv, price, size, data["side"],
                      str(data.get("tradeId")), int(data["time"]))]
    return []  # ticker, candles, welcome, ack, pong


class KucoinBook(RestSnapshotBook):
    """KuCoin's level2 rules: sequenceStart - 1 as prev_seq, sequenceEnd as seq."""

    first_name, last_name = "sequenceStart", "sequenceEnd"


BookSync = KucoinBook


def describe_frame(kind: str, url: str | None, text: str, state: dict) -> tuple[str, str | None]:
    if kind == "rest":
        parts = urlsplit(url or "")
        symbol = parse_qs(parts.query).get("symbol", [None])[0]
        channel = "snapshot" if "orderbook/level2" in parts.path else parts.path.rsplit("/", 1)[-1]
        return channel, canonical_symbol(symbol) if symbol else None
    d = decode_json(text)
    if isinstance(d, dict) and isinstance(d.get("topic"), str):
        name, _, symbol = d["topic"].partition(":")
        symbol = symbol.split("_")[0]  # candles topics add the interval: BTC-USDT_1min
        return name.rsplit("/", 1)[-1], canonical_symbol(symbol) if symbol and "," not in symbol else None
    return "control", None
