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

from cobflow.raw import RawMessage
from connectors.base import (
    BookDelta,
    BookSnapshot,
    BookSyncBase,
    Event,
    MalformedFrame,
    Trade,
    decode_json,
    frame_parser,
    levels,
    positive_trade,
    split_concatenated,
)

VENUE = "htx"
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
