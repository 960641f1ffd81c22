"""OKX v5 public websocket: `books` (snapshot, then updates with checksum and seqId), `trades`.

Wire formats (OKX API v5 docs, "Order book channel", "Trades channel"):

    books   {"arg":{"channel":"books","instId":"BTC-USDT"},"action":"snapshot"|"update",
             "data":[{"asks":[["41006.8","0.60038921","0","1"]],
                      "bids":[["41006.3","0.30178218","0","2"]],
                      "ts":"1629966436396","checksum":-1208584718,
                      "prevSeqId":-1,"seqId":123456}]}
    books5  {"arg":{"channel":"books5","instId":"BTC-USDT"},"data":[{"asks":..,"bids":..,"ts":..}]}
    trades  {"arg":{"channel":"trades","instId":"BTC-USDT"},
             "data":[{"instId":"BTC-USDT","tradeId":"130639474","px":"42219.9",
                      "sz":"0.12060306","side":"buy","ts":"1630048897897"}]}

Levels are [price, size, deprecated, orders]; size "0" removes the level. A trade's `side`
is the taker's. `books5` frames are whole top-5 books (each one a snapshot).

Checksum: CRC32, as a signed 32-bit integer, of "bid1px:bid1sz:ask1px:ask1sz:bid2px:..." over
the best 25 levels of each side, with the strings exactly as sent; where one side has fewer
levels the other's continue alone. Sequence: an update's prevSeqId is the previous frame's
seqId (snapshots carry -1). Recordings from before OKX added seqId (2022) carry only checksums.
"""

from __future__ import annotations

from cobflow.connectors.base import (
    BookSyncBase,
    Level,
    decode_json,
    frame_parser,
    interleaved_checksum,
    positive_trade,
    text_levels,
)
from cobflow.connectors.live import LiveSpec
from cobflow.connectors.simulator.wire import Frame, SimWireBase, WireProfile, dumps
from cobflow.events import BookDelta, BookSnapshot, Event, MalformedFrame, TextLevel, Trade
from cobflow.raw import RawMessage

VENUE = "okx"
CRYPTOFEED = ("OKX",)  # its name in cryptofeed recordings' file names
WS_URL = "wss://ws.okx.com:8443/ws/v5/public"
CHECKSUM_LEVELS = 25
BOOK_CHANNELS = ("books", "books-l2-tbt", "books50-l2-tbt")
SNAPSHOT_CHANNELS = ("books5", "bbo-tbt")


def canonical_symbol(inst_id: str) -> str:
    """OKX instrument ids are already BASE-QUOTE (derivatives keep their suffix)."""
    return inst_id.upper()


def venue_symbol(market: str) -> str:
    """The market as the venue prints it: already BASE-QUOTE."""
    return market


def _int(value: object) -> int | None:
    return None if value is None else int(value)  # type: ignore[arg-type]


@frame_parser
def parse(raw: RawMessage, d: object) -> list[Event]:
    if not isinstance(d, dict) or "arg" not in d or "data" not in d:
        return []  # subscribe acks, errors, pongs
    channel = d["arg"]["channel"]
    market = canonical_symbol(d["arg"]["instId"])
    out: list[Event] = []
    if channel in BOOK_CHANNELS or channel in SNAPSHOT_CHANNELS:
        action = d.get("action", "snapshot")
        if action not in ("snapshot", "update"):
            raise MalformedFrame(f"unknown books action {action!r}")
        for item in d["data"]:
            bids, bid_text = text_levels(item["bids"], "bids")
            asks, ask_text = text_levels(item["asks"], "asks")
            checksum = _int(item.get("checksum"))
            seq = _int(item.get("seqId"))
            if action == "snapshot" or channel in SNAPSHOT_CHANNELS:
                out.append(BookSnapshot(VENUE, market, raw.ts_recv, bids, asks, seq=seq,
                                        checksum=checksum, text=(bid_text, ask_text)))
            else:
                out.append(BookDelta(VENUE, market, raw.ts_recv, bids, asks, seq=seq,
                                     prev_seq=_int(item.get("prevSeqId")), checksum=checksum,
                                     text=(bid_text, ask_text)))
    elif channel == "trades":
        for t in d["data"]:
            price, size = float(t["px"]), float(t["sz"])
            positive_trade(price, size)
            side = t["side"]
            if side not in ("buy", "sell"):
                raise MalformedFrame(f"trade side {side!r}")
            out.append(Trade(VENUE, canonical_symbol(t["instId"]), raw.ts_recv, price, size, side,
                             str(t["tradeId"]), int(t["ts"]) * 1_000_000))
    return out


class OkxBook(BookSyncBase):
    """Snapshot, then updates that continue seqId (when present) and match the checksum."""

    tokenized = True
    checksum_levels = CHECKSUM_LEVELS
    tokens_checksum = staticmethod(interleaved_checksum)

    def level_tokens(self, levels_: list[Level], text: list[TextLevel] | None, is_bid: bool) -> list[object]:
        if text is None:
            raise RuntimeError("OKX levels without their text: parse() keeps it for the checksum")
        return [f"{p}:{q}" for p, q in text]

    def breaks_sequence(self, delta: BookDelta) -> str | None:
        if delta.prev_seq is None or self.seq is None:
            return None
        if delta.prev_seq != self.seq:
            return f"expected prevSeqId={self.seq}, got prevSeqId={delta.prev_seq} seqId={delta.seq}"
        return None



BookSync = OkxBook


def describe_frame(kind: str, url: str | None, text: str, state: dict) -> tuple[str, str | None]:
    d = decode_json(text)
    if isinstance(d, dict) and isinstance(d.get("arg"), dict):
        arg = d["arg"]
        inst = arg.get("instId")
        return str(arg.get("channel", "unknown")), canonical_symbol(inst) if inst else None
    return "control", None


# -- simulated feed ----------------------------------------------------------------------


class SimWire(SimWireBase):
    """`books` with seqId/prevSeqId and checksums, `trades`."""

    venue = VENUE
    profile = WireProfile(tick_digits=5, size_decimals=8, max_levels=60)

    def __init__(self, specs, rng) -> None:  # type: ignore[no-untyped-def]
        super().__init__(specs, rng)
        self.seq = {m: rng.randrange(10**9, 10**10) for m in specs}

    def level_text(self, spec, tick: int, size: float) -> str:  # type: ignore[no-untyped-def]
        return f"{spec.price_text(tick)}:{spec.size_text(size)}"

    def _book(self, t_ns, market, book, action, changes):  # type: ignore[no-untyped-def]
        spec = self.specs[market]
        prev = -1 if action == "snapshot" else self.seq[market]
        self.seq[market] += 1 + self.rng.getrandbits(2)
        if action == "snapshot":
            bids, asks = book.sorted_bids(), book.sorted_asks()
        else:
            bids = [(t, s) for side, t, s in changes if side == "bid"]
            asks = [(t, s) for side, t, s in changes if side == "ask"]
        tok = self.checksum_token
        bids_t = [tok(spec, t, s) for t, s in book.top_bids(CHECKSUM_LEVELS)]
        asks_t = [tok(spec, t, s) for t, s in book.top_asks(CHECKSUM_LEVELS)]
        item = {
            "asks": [[spec.price_text(t), spec.size_text(s), "0", str(1 + self.rng.getrandbits(3) if s else 0)]
                     for t, s in asks],
            "bids": [[spec.price_text(t), spec.size_text(s), "0", str(1 + self.rng.getrandbits(3) if s else 0)]
                     for t, s in bids],
            "ts": str(t_ns // 1_000_000), "checksum": interleaved_checksum(bids_t, asks_t),
            "prevSeqId": prev, "seqId": self.seq[market],
        }
        msg = {"arg": {"channel": "books", "instId": market}, "action": action, "data": [item]}
        return [Frame(market, "ws", "books", dumps(msg))]

    def subscribed(self, t_ns, market, book):  # type: ignore[no-untyped-def]
        return self._book(t_ns, market, book, "snapshot", [])

    def update(self, t_ns, market, book, changes):  # type: ignore[no-untyped-def]
        return self._book(t_ns, market, book, "update", changes)

    def trades(self, t_ns, market, trades):  # type: ignore[no-untyped-def]
        spec = self.specs[market]
        data = [{"instId": market, "tradeId": str(tr.trade_id), "px": spec.price_text(tr.tick),
                 "sz": spec.size_text(tr.size), "side": tr.side, "ts": str(t_ns // 1_000_000)} for tr in trades]
        return [Frame(market, "ws", "trades", dumps({"arg": {"channel": "trades", "instId": market}, "data": data}))]


# -- live --------------------------------------------------------------------------------


class Live(LiveSpec):
    """books + trades; OKX drops connections silent for 30 s: "ping" every 25 s."""

    url = WS_URL
    keepalive_s = 25.0

    def subscribe(self) -> list[str]:
        args = [{"channel": ch, "instId": m} for m in self.markets for ch in ("books", "trades")]
        return [dumps({"op": "subscribe", "args": args})]

    def keepalive(self) -> str:
        return "ping"
