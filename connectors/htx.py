"""HTX (formerly Huobi) spot websocket: gzip-compressed frames; market-by-price `mbp`
increments with seqNum/prevSeqNum plus their snapshots, `trade.detail`; and the full-depth
`depth.step0` refreshes of older recordings.

Wire formats (HTX spot API docs, "Market By Price (incremental update)", "Trade Detail",
"Market Depth"); every frame is gzip-compressed JSON:

    {"ch":"market.btcusdt.mbp.150","ts":1573199608679,
     "tick":{"seqNum":100020146795,"prevSeqNum":100020146794,
             "bids":[[618.37,71.594]],"asks":[[621.5,0]]}}
    {"id":"1","rep":"market.btcusdt.mbp.150","status":"ok",
     "data":{"seqNum":100020142010,"bids":[[618.37,71.594]],"asks":[[619.2,0.001]]}}   (req reply)
    {"ch":"market.btcusdt.mbp.refresh.20","ts":..,"tick":{"seqNum":..,"bids":..,"asks":..}}
    {"ch":"market.btcusdt.trade.detail","ts":..,"tick":{"id":..,"ts":..,"data":[{"id":..,
     "ts":1630994963173,"tradeId":102523573486,"amount":0.006754,"price":52648.62,
     "direction":"buy"}]}}
    {"ch":"market.btcusdt.depth.step0","ts":..,"tick":{"bids":..,"asks":..,"version":..,"ts":..}}
    {"ping":1492420473027}      (answered with {"pong":...}; not market data)

Increments are absolute sizes, 0 deletes. Sync (mbp): keep the increments, request a
snapshot, skip increments with seqNum <= the snapshot's, then each prevSeqNum must equal the
last seqNum. `direction` is the taker's side. A depth.step0 frame is a whole book.
"""

from __future__ import annotations

import zlib

from cobflow.connectors.base import BookSyncBase, decode_json, frame_parser, levels, positive_trade, split_concatenated
from cobflow.connectors.live import LiveSpec
from cobflow.connectors.simulator.wire import Frame, SimWireBase, WireProfile, dumps
from cobflow.events import BookDelta, BookSnapshot, Event, MalformedFrame, Trade
from cobflow.raw import RawMessage

VENUE = "htx"
CRYPTOFEED = ("HUOBI", "HTX")  # its names in cryptofeed recordings' file names
WS_URL = "wss://api.huobi.pro/feed"  # mbp increments are served on /feed
canonical_symbol = split_concatenated


def venue_symbol(market: str) -> str:
    return market.replace("-", "").lower()


def _market(ch: str) -> str:
    parts = ch.split(".")
    if len(parts) < 3 or parts[0] != "market":
        raise MalformedFrame(f"unknown channel {ch!r}")
    return canonical_symbol(parts[1])


@frame_parser
def parse(raw: RawMessage, d: object) -> list[Event]:
    if not isinstance(d, dict):
        raise MalformedFrame(f"expected a JSON object, got {type(d).__name__}")
    if "rep" in d and ".mbp." in d["rep"]:
        if d.get("status") != "ok":
            raise MalformedFrame(f"snapshot request failed: {d.get('err-msg', d.get('status'))}")
        data = d["data"]
        return [BookSnapshot(VENUE, _market(d["rep"]), raw.ts_recv, levels(data["bids"], "bids"),
                             levels(data["asks"], "asks"), seq=int(data["seqNum"]))]
    ch = d.get("ch")
    if not isinstance(ch, str):
        return []  # ping, sub acks
    tick = d["tick"]
    market = _market(ch)
    if ".mbp.refresh." in ch:
        return [BookSnapshot(VENUE, market, raw.ts_recv, levels(tick.get("bids", []), "bids"),
                             levels(tick.get("asks", []), "asks"), seq=int(tick["seqNum"]))]
    if ".mbp." in ch:
        return [BookDelta(VENUE, market, raw.ts_recv, levels(tick.get("bids", []), "bids"),
                          levels(tick.get("asks", []), "asks"), seq=int(tick["seqNum"]),
                          prev_seq=int(tick["prevSeqNum"]))]
    if ".depth." in ch:
        return [BookSnapshot(VENUE, market, raw.ts_recv, levels(tick["bids"], "bids"),
                             levels(tick["asks"], "asks"), seq=int(tick["version"]))]
    if ch.endswith(".trade.detail"):
        out: list[Event] = []
        for t in tick["data"]:
            price, size = float(t["price"]), float(t["amount"])
            positive_trade(price, size)
            if t["direction"] not in ("buy", "sell"):
                raise MalformedFrame(f"trade direction {t['direction']!r}")
            out.append(Trade(VENUE, market, raw.ts_recv, price, size, t["direction"],
                             str(t.get("tradeId", t.get("id"))), int(t["ts"]) * 1_000_000))
        return out
    return []  # kline, bbo, ticker


class HtxBook(BookSyncBase):
    """mbp rules: increments buffered until the requested snapshot, then prevSeqNum chains."""

    buffer_before_snapshot = True

    def contained(self, delta: BookDelta) -> bool:
        return delta.seq is not None and self.seq is not None and delta.seq <= self.seq

    def breaks_sequence(self, delta: BookDelta) -> str | None:
        if delta.prev_seq != self.seq:
            return f"expected prevSeqNum={self.seq}, got prevSeqNum={delta.prev_seq} seqNum={delta.seq}"
        return None


BookSync = HtxBook


def describe_frame(kind: str, url: str | None, text: str, state: dict) -> tuple[str, str | None]:
    d = decode_json(text)
    if isinstance(d, dict):
        ch = d.get("ch") or d.get("rep")
        if isinstance(ch, str) and ch.startswith("market."):
            parts = ch.split(".")
            channel = ".".join(parts[2:4]) if len(parts) > 3 else parts[2]
            return channel, canonical_symbol(parts[1])
    return "control", None


# -- simulated feed ----------------------------------------------------------------------



def _gzip(text: str) -> bytes:
    return zlib.compress(text.encode(), 1, wbits=31)


class SimWire(SimWireBase):
    """gzip frames: `mbp.150` increments, the `req` snapshot reply, `trade.detail`."""

    venue = VENUE
    profile = WireProfile(tick_digits=6, size_decimals=6, max_levels=150)
    out_of_band_snapshot = True

    wire_symbol = staticmethod(venue_symbol)

    def __init__(self, specs, rng) -> None:  # type: ignore[no-untyped-def]
        super().__init__(specs, rng)
        self.seq = {m: rng.randrange(10**10, 10**11) for m in specs}
        self.req_id = 0

    def _levels(self, spec, levels):  # type: ignore[no-untyped-def]
        return [[spec.price(t), round(s, spec.size_decimals)] for t, s in levels]

    def update(self, t_ns, market, book, changes):  # type: ignore[no-untyped-def]
        spec = self.specs[market]
        prev = self.seq[market]
        self.seq[market] = prev + 1 + self.rng.getrandbits(2)
        tick = {"seqNum": self.seq[market], "prevSeqNum": prev,
                "bids": self._levels(spec, [(t, s) for side, t, s in changes if side == "bid"]),
                "asks": self._levels(spec, [(t, s) for side, t, s in changes if side == "ask"])}
        msg = {"ch": f"market.{spec.wire_symbol}.mbp.150", "ts": t_ns // 1_000_000, "tick": tick}
        return [Frame(market, "ws", "mbp.150", _gzip(dumps(msg)))]

    def snapshot(self, t_ns, market, book):  # type: ignore[no-untyped-def]
        spec = self.specs[market]
        self.req_id += 1
        msg = {"id": str(self.req_id), "rep": f"market.{spec.wire_symbol}.mbp.150", "status": "ok",
               "data": {"seqNum": self.seq[market], "bids": self._levels(spec, book.sorted_bids()),
                        "asks": self._levels(spec, book.sorted_asks())}}
        return [Frame(market, "ws", "mbp.150", _gzip(dumps(msg)))]

    def trades(self, t_ns, market, trades):  # type: ignore[no-untyped-def]
        spec = self.specs[market]
        ms = t_ns // 1_000_000
        data = [{"id": tr.trade_id, "ts": ms, "tradeId": tr.trade_id, "amount": round(tr.size, spec.size_decimals),
                 "price": spec.price(tr.tick), "direction": tr.side} for tr in trades]
        msg = {"ch": f"market.{spec.wire_symbol}.trade.detail", "ts": ms,
               "tick": {"id": trades[0].trade_id, "ts": ms, "data": data}}
        return [Frame(market, "ws", "trade.detail", _gzip(dumps(msg)))]


# -- live --------------------------------------------------------------------------------


class Live(LiveSpec):
    """mbp.150 + trade.detail; the mbp snapshot is a `req` on the socket; pings answered."""

    url = WS_URL
    snapshot_via = "ws"

    def subscribe(self) -> list[str]:
        out = []
        for i, m in enumerate(self.markets):
            out.append(dumps({"sub": f"market.{venue_symbol(m)}.mbp.150", "id": f"mbp{i}"}))
            out.append(dumps({"sub": f"market.{venue_symbol(m)}.trade.detail", "id": f"trade{i}"}))
        return out

    def reply(self, text: str) -> str | None:
        if text.startswith('{"ping"'):
            d = decode_json(text)
            if isinstance(d, dict) and "ping" in d:
                return dumps({"pong": d["ping"]})
        return None

    def ws_snapshot_request(self, market: str) -> str:
        return dumps({"req": f"market.{venue_symbol(market)}.mbp.150", "id": f"snap-{market}"})
