"""Bybit v5 public websocket: `orderbook.<depth>.<symbol>` snapshot/delta with update ids,
`publicTrade`; and the v1 `orderBookL2_25` / `trade` frames of older recordings.

Wire formats (Bybit v5 docs, "Orderbook", "Trade"; the retired v1 "realtime_public" API):

  v5  {"topic":"orderbook.50.BTCUSDT","type":"snapshot"|"delta","ts":1672304484978,
       "data":{"s":"BTCUSDT","b":[["16493.50","0.006"]],"a":[["16611.00","0.029"]],
               "u":18521288,"seq":7961638724},"cts":1672304484976}
      {"topic":"publicTrade.BTCUSDT","type":"snapshot","ts":1672304486868,
       "data":[{"T":1672304486865,"s":"BTCUSDT","S":"Buy","v":"0.001","p":"16578.50",
                "L":"PlusTick","i":"20f43950-d8dd-5b31-9112-a178eb6023af","BT":false}]}
  v1  {"topic":"orderBookL2_25.BTCUSDT","type":"snapshot","data":{"order_book":[{"price":"1053.05",
       "symbol":"BCHUSDT","id":"10530500","side":"Buy","size":2.63}]},"cross_seq":"864132712",...}
      {"topic":"orderBookL2_25.BTCUSDT","type":"delta","data":{"delete":[{"price":..,"side":..}],
       "update":[{"price":..,"side":..,"size":..}],"insert":[...]},"cross_seq":"...",...}
      {"topic":"trade.BTCUSDT","data":[{"symbol":"BTCUSDT","side":"Buy","size":0.14,
       "price":"1053.90","trade_time_ms":"1618677785116","trade_id":"..."}]}

Sizes are absolute; 0 (v5) or a `delete` entry (v1) removes the level. A trade's side is the
taker's. Sync (v5): a snapshot (also any frame with u = 1, sent after a Bybit restart) resets
the book; each delta's u is the previous u + 1. v1 deltas carry only cross_seq, which may
not go backwards.
"""

from __future__ import annotations

from cobflow.connectors.base import (
    BookSyncBase,
    check_levels,
    decode_json,
    frame_parser,
    levels,
    positive_trade,
    split_concatenated,
)
from cobflow.connectors.live import LiveSpec
from cobflow.connectors.simulator.wire import Frame, SimWireBase, WireProfile, dumps
from cobflow.events import BookDelta, BookSnapshot, Event, MalformedFrame, Trade
from cobflow.raw import RawMessage

VENUE = "bybit"
CRYPTOFEED = ("BYBIT",)  # its name in cryptofeed recordings' file names
WS_URL = "wss://stream.bybit.com/v5/public/spot"
canonical_symbol = split_concatenated


def venue_symbol(market: str) -> str:
    return market.replace("-", "").upper()


def _side(side: str) -> str:
    s = {"Buy": "buy", "Sell": "sell"}.get(side)
    if s is None:
        raise MalformedFrame(f"side {side!r}")
    return s


def _v1_levels(entries: list, deleting: bool) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    bids, asks = [], []
    for e in entries:
        level = (float(e["price"]), 0.0 if deleting else float(e["size"]))
        (bids if _side(e["side"]) == "buy" else asks).append(level)
    check_levels(bids, "bids")
    check_levels(asks, "asks")
    return bids, asks


def _parse_v1_book(raw: RawMessage, d: dict, market: str, depth: int | None) -> list[Event]:
    seq = int(d["cross_seq"])
    data = d["data"]
    if d["type"] == "snapshot":
        entries = data["order_book"] if isinstance(data, dict) else data
        bids, asks = _v1_levels(entries, False)
        return [BookSnapshot(VENUE, market, raw.ts_recv, bids, asks, seq=seq, depth=depth)]
    if d["type"] == "delta":
        bids, asks = _v1_levels(data.get("delete", []), True)
        for key in ("update", "insert"):
            b, a = _v1_levels(data.get(key, []), False)
            bids += b
            asks += a
        return [BookDelta(VENUE, market, raw.ts_recv, bids, asks, seq=seq)]
    raise MalformedFrame(f"unknown book type {d['type']!r}")


@frame_parser
def parse(raw: RawMessage, d: object) -> list[Event]:
    if not isinstance(d, dict):
        raise MalformedFrame(f"expected a JSON object, got {type(d).__name__}")
    topic = d.get("topic")
    if not isinstance(topic, str):
        return []  # subscription results, pongs
    name, _, rest = topic.partition(".")
    if name == "orderbook":
        depth_text, _, symbol = rest.partition(".")
        data = d["data"]
        market = canonical_symbol(data["s"])
        bids, asks = levels(data["b"], "b"), levels(data["a"], "a")
        u = int(data["u"])
        if d["type"] == "snapshot" or u == 1:
            return [BookSnapshot(VENUE, market, raw.ts_recv, bids, asks, seq=u, depth=int(depth_text))]
        if d["type"] == "delta":
            return [BookDelta(VENUE, market, raw.ts_recv, bids, asks, seq=u, prev_seq=u - 1)]
        raise MalformedFrame(f"unknown orderbook type {d['type']!r}")
    if name == "publicTrade":
        out: list[Event] = []
        for t in d["data"]:
            price, size = float(t["p"]), float(t["v"])
            positive_trade(price, size)
            out.append(Trade(VENUE, canonical_symbol(t["s"]), raw.ts_recv, price, size, _side(t["S"]),
                             str(t["i"]), int(t["T"]) * 1_000_000))
        return out
    if name.startswith("orderBookL2_"):
        return _parse_v1_book(raw, d, canonical_symbol(rest), int(name.rsplit("_", 1)[1]))
    if name == "orderBook_200":
        return _parse_v1_book(raw, d, canonical_symbol(rest.split(".")[-1]), 200)
    if name == "trade":
        out = []
        for t in d["data"]:
            price, size = float(t["price"]), float(t["size"])
            positive_trade(price, size)
            out.append(Trade(VENUE, canonical_symbol(t["symbol"]), raw.ts_recv, price, size,
                             _side(t["side"]), str(t["trade_id"]), int(t["trade_time_ms"]) * 1_000_000))
        return out
    return []


class BybitBook(BookSyncBase):
    """v5: u + 1 chains; v1: cross_seq never goes back. Books are kept at the topic's depth."""

    def breaks_sequence(self, delta: BookDelta) -> str | None:
        if self.seq is None or delta.seq is None:
            return None
        if delta.prev_seq is not None:
            if delta.prev_seq != self.seq:
                return f"expected u={self.seq + 1}, got u={delta.seq}"
        elif delta.seq < self.seq:
            return f"cross_seq went back from {self.seq} to {delta.seq}"
        return None


BookSync = BybitBook


def describe_frame(kind: str, url: str | None, text: str, state: dict) -> tuple[str, str | None]:
    d = decode_json(text)
    if isinstance(d, dict) and isinstance(d.get("topic"), str):
        name, _, rest = d["topic"].partition(".")
        return name, canonical_symbol(rest.split(".")[-1])
    return "control", None


# -- simulated feed ----------------------------------------------------------------------


class SimWire(SimWireBase):
    """v5 spot `orderbook.50` with update ids, `publicTrade`."""

    venue = VENUE
    profile = WireProfile(tick_digits=6, size_decimals=6, max_levels=50)

    wire_symbol = staticmethod(venue_symbol)

    def __init__(self, specs, rng) -> None:  # type: ignore[no-untyped-def]
        super().__init__(specs, rng)
        self.u = {m: rng.randrange(10**6, 10**8) for m in specs}
        self.cross = {m: rng.randrange(10**9, 10**10) for m in specs}

    def _book(self, t_ns, market, kind, bids, asks):  # type: ignore[no-untyped-def]
        spec = self.specs[market]
        self.u[market] += 1
        self.cross[market] += 1 + self.rng.getrandbits(5)
        data = {"s": spec.wire_symbol,
                "b": [[spec.price_text(t), spec.size_text(s)] for t, s in bids],
                "a": [[spec.price_text(t), spec.size_text(s)] for t, s in asks],
                "u": self.u[market], "seq": self.cross[market]}
        msg = {"topic": f"orderbook.50.{spec.wire_symbol}", "type": kind, "ts": t_ns // 1_000_000, "data": data,
               "cts": t_ns // 1_000_000}
        return [Frame(market, "ws", "orderbook.50", dumps(msg))]

    def subscribed(self, t_ns, market, book):  # type: ignore[no-untyped-def]
        return self._book(t_ns, market, "snapshot", book.sorted_bids(), book.sorted_asks())

    def update(self, t_ns, market, book, changes):  # type: ignore[no-untyped-def]
        return self._book(t_ns, market, "delta", [(t, s) for side, t, s in changes if side == "bid"],
                          [(t, s) for side, t, s in changes if side == "ask"])

    def trades(self, t_ns, market, trades):  # type: ignore[no-untyped-def]
        spec = self.specs[market]
        data = [{"T": t_ns // 1_000_000, "s": spec.wire_symbol, "S": "Buy" if tr.side == "buy" else "Sell",
                 "v": spec.size_text(tr.size), "p": spec.price_text(tr.tick), "L": "ZeroPlusTick",
                 "i": str(tr.trade_id), "BT": False} for tr in trades]
        msg = {"topic": f"publicTrade.{spec.wire_symbol}", "type": "snapshot", "ts": t_ns // 1_000_000, "data": data}
        return [Frame(market, "ws", "publicTrade", dumps(msg))]


# -- live --------------------------------------------------------------------------------


class Live(LiveSpec):
    """orderbook.50 + publicTrade; {"op":"ping"} every 20 s as Bybit asks."""

    url = WS_URL
    keepalive_s = 20.0

    def subscribe(self) -> list[str]:
        args = [f"{t}.{venue_symbol(m)}" for m in self.markets for t in ("orderbook.50", "publicTrade")]
        return [dumps({"op": "subscribe", "args": args})]

    def keepalive(self) -> str:
        return '{"op":"ping"}'
