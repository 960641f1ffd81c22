"""Coinbase: the Advanced Trade websocket (`level2`, `market_trades`), and the legacy Exchange
feed (`level2` snapshot/l2update, `matches`) of older recordings.

Wire formats (Coinbase Advanced Trade docs, "WebSocket channels"; Exchange docs, legacy feed):

  Advanced Trade
    {"channel":"l2_data","client_id":"","timestamp":"2023-02-09T20:32:50.714964855Z",
     "sequence_num":0,"events":[{"type":"snapshot"|"update","product_id":"BTC-USD",
       "updates":[{"side":"bid"|"offer","event_time":"...","price_level":"21921.73",
                   "new_quantity":"0.06317902"}]}]}
    {"channel":"market_trades","client_id":"","timestamp":"...","sequence_num":0,
     "events":[{"type":"snapshot"|"update","trades":[{"trade_id":"000000000",
       "product_id":"ETH-USD","price":"1260.01","size":"0.3","side":"BUY","time":"..."}]}]}
  Legacy Exchange feed
    {"type":"snapshot","product_id":"BTC-USD","bids":[["10101.10","0.45054140"]],"asks":[...]}
    {"type":"l2update","product_id":"BTC-USD","changes":[["buy","10101.80000000","0.162567"]],
     "time":"..."}
    {"type":"match","trade_id":10,"sequence":50,"side":"sell","size":"5.23","price":"400.23",
     "product_id":"BTC-USD","time":"..."}

Quantities are absolute; 0 removes the level. In market_trades `side` is the taker's; in the
legacy `match` it is the maker's, so the taker did the opposite. Trade snapshots (Advanced
Trade `snapshot`, legacy `last_match`) are trades from before we subscribed and are skipped.

Sequence: Advanced Trade's `sequence_num` counts every message of one connection, across all
channels and products; a market's frames can only be checked to increase (the live client
checks the connection's count strictly and resubscribes on a gap). The legacy level2 feed
has no sequence at all.
"""

from __future__ import annotations

import orjson

from cobflow.connectors.base import BookSyncBase, check_levels, decode_json, frame_parser, levels, positive_trade
from cobflow.connectors.live import LiveSpec
from cobflow.connectors.simulator.wire import Frame, SimWireBase, WireProfile, dumps, iso
from cobflow.events import BookDelta, BookSnapshot, Event, MalformedFrame, Trade
from cobflow.raw import RawMessage

VENUE = "coinbase"
CRYPTOFEED = ("COINBASE",)  # its name in cryptofeed recordings' file names
WS_URL = "wss://advanced-trade-ws.coinbase.com"


def canonical_symbol(product_id: str) -> str:
    return product_id.upper()


def venue_symbol(market: str) -> str:
    """The market as the venue prints it: already BASE-QUOTE."""
    return market


def _updates(updates: list) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    bids, asks = [], []
    for u in updates:
        side = u["side"]
        level = (float(u["price_level"]), float(u["new_quantity"]))
        if side == "bid":
            bids.append(level)
        elif side in ("offer", "ask"):
            asks.append(level)
        else:
            raise MalformedFrame(f"level2 update side {side!r}")
    check_levels(bids, "bid updates")
    check_levels(asks, "offer updates")
    return bids, asks


def _advanced_trade(raw: RawMessage, d: dict) -> list[Event]:
    channel = d["channel"]
    seq = int(d["sequence_num"]) if "sequence_num" in d else None
    out: list[Event] = []
    if channel == "l2_data":
        for ev in d["events"]:
            market = canonical_symbol(ev["product_id"])
            bids, asks = _updates(ev["updates"])
            if ev["type"] == "snapshot":
                out.append(BookSnapshot(VENUE, market, raw.ts_recv, bids, asks, seq=seq))
            elif ev["type"] == "update":
                out.append(BookDelta(VENUE, market, raw.ts_recv, bids, asks, seq=seq))
            else:
                raise MalformedFrame(f"l2_data event type {ev['type']!r}")
    elif channel == "market_trades":
        for ev in d["events"]:
            if ev["type"] != "update":
                continue
            for t in ev["trades"]:
                price, size = float(t["price"]), float(t["size"])
                positive_trade(price, size)
                side = t["side"].lower()
                if side not in ("buy", "sell"):
                    raise MalformedFrame(f"trade side {t['side']!r}")
                out.append(Trade(VENUE, canonical_symbol(t["product_id"]), raw.ts_recv, price, size,
                                 side, str(t["trade_id"])))
    return out


def _legacy(raw: RawMessage, d: dict) -> list[Event]:
    kind = d["type"]
    if kind == "snapshot":
        return [BookSnapshot(VENUE, canonical_symbol(d["product_id"]), raw.ts_recv,
                             levels(d["bids"], "bids"), levels(d["asks"], "asks"))]
    if kind == "l2update":
        bids, asks = [], []
        for side, price, size in d["changes"]:
            level = (float(price), float(size))
            if side == "buy":
                bids.append(level)
            elif side == "sell":
                asks.append(level)
            else:
                raise MalformedFrame(f"l2update side {side!r}")
        check_levels(bids, "buy changes")
        check_levels(asks, "sell changes")
        return [BookDelta(VENUE, canonical_symbol(d["product_id"]), raw.ts_recv, bids, asks)]
    if kind == "match":
        price, size = float(d["price"]), float(d["size"])
        positive_trade(price, size)
        maker = d["side"]
        if maker not in ("buy", "sell"):
            raise MalformedFrame(f"match side {maker!r}")
        return [Trade(VENUE, canonical_symbol(d["product_id"]), raw.ts_recv, price, size,
                      "sell" if maker == "buy" else "buy", str(d["trade_id"]))]
    return []  # ticker, last_match, subscriptions, heartbeats


@frame_parser
def parse(raw: RawMessage, d: object) -> list[Event]:
    if not isinstance(d, dict):
        raise MalformedFrame(f"expected a JSON object, got {type(d).__name__}")
    if "channel" in d and "events" in d:
        return _advanced_trade(raw, d)
    if "type" in d:
        return _legacy(raw, d)
    return []


class CoinbaseBook(BookSyncBase):
    """A snapshot seeds the book; a market's sequence_num may only increase after it."""

    def breaks_sequence(self, delta: BookDelta) -> str | None:
        if delta.seq is not None and self.seq is not None and delta.seq <= self.seq:
            return f"sequence_num went from {self.seq} to {delta.seq}"
        return None


BookSync = CoinbaseBook


def describe_frame(kind: str, url: str | None, text: str, state: dict) -> tuple[str, str | None]:
    d = decode_json(text)
    if not isinstance(d, dict):
        return "unknown", None
    if "channel" in d:
        products = {e.get("product_id") for e in d.get("events", []) if isinstance(e, dict)}
        products |= {t.get("product_id") for e in d.get("events", []) if isinstance(e, dict)
                     for t in e.get("trades", []) if isinstance(t, dict)}
        products.discard(None)
        return str(d["channel"]), canonical_symbol(products.pop()) if len(products) == 1 else None
    channel = {"snapshot": "level2", "l2update": "level2", "match": "matches",
               "last_match": "matches"}.get(d.get("type"), str(d.get("type", "unknown")))
    pid = d.get("product_id")
    return channel, canonical_symbol(pid) if isinstance(pid, str) else None


# -- simulated feed ----------------------------------------------------------------------


class SimWire(SimWireBase):
    """Advanced Trade `l2_data` and `market_trades`, one sequence_num for the connection."""

    venue = VENUE
    profile = WireProfile(tick_digits=6, size_decimals=8, max_levels=80)

    def __init__(self, specs, rng) -> None:  # type: ignore[no-untyped-def]
        super().__init__(specs, rng)
        self.sequence_num = 0

    def _msg(self, t_ns, channel, events) -> str:  # type: ignore[no-untyped-def]
        msg = {"channel": channel, "client_id": "", "timestamp": iso(t_ns), "sequence_num": self.sequence_num,
               "events": events}
        self.sequence_num += 1
        return dumps(msg)

    def _updates(self, t_ns, spec, bids, asks):  # type: ignore[no-untyped-def]
        when = iso(t_ns)
        return ([{"side": "bid", "event_time": when, "price_level": spec.price_text(t),
                  "new_quantity": spec.size_text(s)} for t, s in bids]
                + [{"side": "offer", "event_time": when, "price_level": spec.price_text(t),
                    "new_quantity": spec.size_text(s)} for t, s in asks])

    def subscribed(self, t_ns, market, book):  # type: ignore[no-untyped-def]
        spec = self.specs[market]
        ev = {"type": "snapshot", "product_id": market,
              "updates": self._updates(t_ns, spec, book.sorted_bids(), book.sorted_asks())}
        return [Frame(market, "ws", "level2", self._msg(t_ns, "l2_data", [ev]))]

    def update(self, t_ns, market, book, changes):  # type: ignore[no-untyped-def]
        spec = self.specs[market]
        ev = {"type": "update", "product_id": market,
              "updates": self._updates(t_ns, spec, [(t, s) for side, t, s in changes if side == "bid"],
                                       [(t, s) for side, t, s in changes if side == "ask"])}
        return [Frame(market, "ws", "level2", self._msg(t_ns, "l2_data", [ev]))]

    def trades(self, t_ns, market, trades):  # type: ignore[no-untyped-def]
        spec = self.specs[market]
        ev = {"type": "update", "trades": [
            {"trade_id": str(tr.trade_id), "product_id": market, "price": spec.price_text(tr.tick),
             "size": spec.size_text(tr.size), "side": tr.side.upper(), "time": iso(t_ns)} for tr in trades]}
        return [Frame(market, "ws", "market_trades", self._msg(t_ns, "market_trades", [ev]))]


# -- live --------------------------------------------------------------------------------


class Live(LiveSpec):
    """level2 + market_trades + heartbeats (keeps quiet products' connections open)."""

    url = WS_URL

    def subscribe(self) -> list[str]:
        return [orjson.dumps({"type": "subscribe", "product_ids": self.markets, "channel": ch}).decode()
                for ch in ("level2", "market_trades", "heartbeats")]

    def connection_sequence(self, text: str) -> int | None:
        d = decode_json(text)
        return d.get("sequence_num") if isinstance(d, dict) and "channel" in d else None
