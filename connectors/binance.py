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

from urllib.parse import parse_qs, urlsplit

import orjson

from cobflow.connectors.base import (
    RestSnapshotBook,
    decode_json,
    frame_parser,
    levels,
    positive_trade,
    rest_snapshot,
    split_concatenated,
)
from cobflow.connectors.live import LiveSpec
from cobflow.connectors.simulator.wire import Frame, SimWireBase, WireProfile, dumps
from cobflow.events import BookDelta, Event, MalformedFrame, Trade
from cobflow.raw import RawMessage

VENUE = "binance"
CRYPTOFEED = ("BINANCE",)  # its name in cryptofeed recordings' file names
WS_URL = "wss://stream.binance.com:9443/stream"
REST_URL = "https://api.binance.com/api/v3/depth"

canonical_symbol = split_concatenated


def venue_symbol(market: str) -> str:
    """BTC-USDT -> BTCUSDT (what the REST API and the stream names take, lower case for streams)."""
    return market.replace("-", "").upper()


def _ns_from_ms(ms: object) -> int | None:
    return int(ms) * 1_000_000 if isinstance(ms, int) else None


@frame_parser
def parse(raw: RawMessage, d: object) -> list[Event]:
    if not isinstance(d, dict):
        raise MalformedFrame(f"expected a JSON object, got {type(d).__name__}")
    if raw.kind == "rest":
        return rest_snapshot(VENUE, raw, d, "lastUpdateId")
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
                seq=int(d["u"]),
                prev_seq=int(d["U"]) - 1,
            )
        ]
    if etype in ("aggTrade", "trade"):
        price, size = float(d["p"]), float(d["q"])
        positive_trade(price, size)
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
    # bookTicker, kline, subscription results: not book or trade data.
    return []


class BinanceBook(RestSnapshotBook):
    """Binance's documented snapshot + diff rules, with U - 1 as prev_seq and u as seq."""

    first_name, last_name = "U", "u"


BookSync = BinanceBook  # what the registry builds for each market


def describe_frame(kind: str, url: str | None, text: str, state: dict) -> tuple[str, str | None]:
    """(channel, canonical symbol) of a recorded frame, for `cobflow import-capture`."""
    if kind == "rest":
        parts = urlsplit(url or "")
        symbol = parse_qs(parts.query).get("symbol", [None])[0]
        channel = "snapshot" if parts.path.endswith("/depth") else parts.path.rsplit("/", 1)[-1]
        return channel, canonical_symbol(symbol) if symbol else None
    d = decode_json(text)
    if d is None:
        return "unknown", None
    if isinstance(d, dict) and isinstance(d.get("stream"), str):
        name, _, channel = d["stream"].partition("@")
        return channel, canonical_symbol(name)
    if isinstance(d, dict) and "e" in d:
        return str(d["e"]), canonical_symbol(d["s"]) if isinstance(d.get("s"), str) else None
    return "control", None


# -- simulated feed ----------------------------------------------------------------------


class SimWire(SimWireBase):
    """Combined-stream depth diffs with U/u, aggTrade, and the REST snapshot."""

    venue = VENUE
    profile = WireProfile(tick_digits=6, size_decimals=5, max_levels=100)
    out_of_band_snapshot = True

    def __init__(self, specs, rng) -> None:  # type: ignore[no-untyped-def]
        super().__init__(specs, rng)
        self.update_id = {m: rng.randrange(10**9, 5 * 10**9) for m in specs}
        self.agg_id = {m: rng.randrange(10**8, 10**9) for m in specs}

    wire_symbol = staticmethod(venue_symbol)

    def _levels(self, spec, side_changes):  # type: ignore[no-untyped-def]
        return [[spec.price_text(t), spec.size_text(s)] for t, s in side_changes]

    def update(self, t_ns, market, book, changes):  # type: ignore[no-untyped-def]
        spec = self.specs[market]
        first = self.update_id[market] + 1
        last = first + self.rng.getrandbits(2)  # several engine updates per 100 ms diff
        self.update_id[market] = last
        data = {
            "e": "depthUpdate", "E": t_ns // 1_000_000, "s": spec.wire_symbol, "U": first, "u": last,
            "b": self._levels(spec, [(t, s) for side, t, s in changes if side == "bid"]),
            "a": self._levels(spec, [(t, s) for side, t, s in changes if side == "ask"]),
        }
        stream = f"{spec.wire_symbol.lower()}@depth@100ms"
        return [Frame(market, "ws", "depth@100ms", dumps({"stream": stream, "data": data}))]

    def snapshot(self, t_ns, market, book):  # type: ignore[no-untyped-def]
        spec = self.specs[market]
        body = {"lastUpdateId": self.update_id[market],
                "bids": self._levels(spec, book.sorted_bids()), "asks": self._levels(spec, book.sorted_asks())}
        return [Frame(market, "rest", "snapshot", dumps(body))]

    def trades(self, t_ns, market, trades):  # type: ignore[no-untyped-def]
        spec = self.specs[market]
        out = []
        for tr in trades:
            self.agg_id[market] += 1
            data = {"e": "aggTrade", "E": t_ns // 1_000_000, "s": spec.wire_symbol, "a": self.agg_id[market],
                    "p": spec.price_text(tr.tick), "q": spec.size_text(tr.size), "f": tr.trade_id,
                    "l": tr.trade_id, "T": t_ns // 1_000_000, "m": tr.side == "sell", "M": True}
            stream = f"{spec.wire_symbol.lower()}@aggTrade"
            out.append(Frame(market, "ws", "aggTrade", dumps({"stream": stream, "data": data})))
        return out


# -- live --------------------------------------------------------------------------------


class Live(LiveSpec):
    """Combined streams; REST snapshots (weight-limited); Binance closes connections at 24 h."""

    url = WS_URL
    rest_url = REST_URL
    snapshot_via = "rest"
    max_connection_s = 23.5 * 3600
    min_rest_interval_s = 0.5

    def subscribe(self) -> list[str]:
        streams = [f"{venue_symbol(m).lower()}@{s}" for m in self.markets for s in ("depth@100ms", "aggTrade")]
        return [orjson.dumps({"method": "SUBSCRIBE", "params": streams, "id": 1}).decode()]

    def rest_snapshot_url(self, market: str) -> str:
        return f"{self.rest_url}?symbol={venue_symbol(market)}&limit=1000"
