"""A real websocket server on 127.0.0.1 that plays a venue's recorded frames, for testing the
live clients: it can drop the connection mid-stream (frames sent during the outage are
lost, as on a real network) and silently lose single frames. REST snapshots are served on
the same port, built from the true book at the server's position in the recording."""

from __future__ import annotations

import asyncio
import http
from urllib.parse import parse_qs, urlsplit

import orjson
from websockets.asyncio.server import serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Response

from cobflow.connectors import get_venue
from cobflow.connectors.verify import BookChecker
from cobflow.events import BookDelta, BookSnapshot, MalformedFrame
from cobflow.raw import RawMessage


class RecordedVenue:
    def __init__(self, messages: list[RawMessage], drop_at: int | None = None, outage: int = 0,
                 lose: set[int] | None = None) -> None:
        self.ws_frames = [m for m in messages if m.kind == "ws"]
        self.rest = [m for m in messages if m.kind == "rest"]
        self.venue = messages[0].exchange
        self.drop_at, self.outage, self.lose = drop_at, outage, lose or set()
        self.pos = 0  # next recorded frame to play
        self.truth = BookChecker()  # the venue's true books at `pos`
        self.connections = 0
        self.subscriptions: list[str] = []
        self.finished = asyncio.Event()
        self.first_frame: dict[str, list] = {}  # market -> a recorded frame (Kraken v1 ids)
        self.port = 0
        self.text: dict[str, tuple[dict, dict]] = {}  # market -> Kraken v1 (bids, asks) as printed

    def _advance(self) -> RawMessage:
        raw = self.ws_frames[self.pos]
        self.pos += 1
        self.truth.feed(raw)
        if raw.symbol and raw.symbol not in self.first_frame and raw.payload.startswith("["):
            self.first_frame[raw.symbol] = orjson.loads(raw.payload)
        if self.venue == "kraken":
            self._keep_text(raw)
        return raw

    def _keep_text(self, raw: RawMessage) -> None:
        """Kraken v1 levels as printed (the book keeps only their checksum tokens)."""
        try:
            events = get_venue("kraken").parse(raw)
        except MalformedFrame:
            return
        for e in events:
            if isinstance(e, (BookSnapshot, BookDelta)) and e.text is not None:
                bids, asks = self.text.setdefault(e.market, ({}, {}))
                if isinstance(e, BookSnapshot):
                    bids.clear()
                    asks.clear()
                for side, levels, text in ((bids, e.bids, e.text[0]), (asks, e.asks, e.text[1])):
                    side.update((p, t) for (p, _), t in zip(levels, text))

    # -- snapshots built from the true book --------------------------------------------------
    def kraken_v1_snapshot(self, market: str) -> str:
        book = self.truth.books[("kraken", market)]
        chan, name, pair = self.first_frame[market][0], self.first_frame[market][-2], self.first_frame[market][-1]
        bid_text, ask_text = self.text[market]
        bids = [[*bid_text[p], "0.0"] for p, _ in book.book.bids.levels()]
        asks = [[*ask_text[p], "0.0"] for p, _ in book.book.asks.levels()]
        return orjson.dumps([chan, {"as": asks, "bs": bids}, name, pair]).decode()

    def binance_rest(self, market: str) -> str:
        book = self.truth.books.get(("binance", market))
        if book is None or not book.synced:  # before the recorded snapshot: serve the recorded one
            raw = next(m for m in self.rest if m.symbol == market)
            self.truth.feed(raw)
            return raw.payload
        return orjson.dumps({
            "lastUpdateId": book.seq,
            "bids": [[f"{p:.8f}", f"{q:.8f}"] for p, q in book.book.bids.levels()],
            "asks": [[f"{p:.8f}", f"{q:.8f}"] for p, q in book.book.asks.levels()],
        }).decode()

    # -- serving -----------------------------------------------------------------------------
    def _http(self, connection, request):  # type: ignore[no-untyped-def]
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return None
        parts = urlsplit(request.path)
        symbol = parse_qs(parts.query).get("symbol", [""])[0]
        market = get_venue("binance").canonical_symbol(symbol)
        body = self.binance_rest(market).encode()
        return Response(http.HTTPStatus.OK, "OK", Headers([("Content-Type", "application/json"),
                                                           ("Content-Length", str(len(body)))]), body)

    async def _handler(self, ws) -> None:  # type: ignore[no-untyped-def]
        self.connections += 1
        self.subscriptions.append(await ws.recv())
        if self.connections > 1:
            for _ in range(self.outage):  # what was sent while we were away is gone
                if self.pos < len(self.ws_frames):
                    self._advance()
            self.outage = 0
            if self.venue == "kraken":
                for (_venue, market), book in self.truth.books.items():
                    if book.synced:
                        await ws.send(self.kraken_v1_snapshot(market))
        while self.pos < len(self.ws_frames):
            if self.drop_at is not None and self.pos == self.drop_at:
                self.drop_at = None
                ws.transport.abort()  # no close frame: the network just went away
                return
            lost = self.pos in self.lose
            raw = self._advance()
            if lost:
                continue
            try:
                await ws.send(raw.payload_bytes() if raw.encoding else raw.payload)
            except ConnectionClosed:
                return  # the client left (to resubscribe): what it did not get is lost
            if self.pos % 10 == 0:
                await asyncio.sleep(0.002)  # a venue paces its feed; a client keeps up with it
        try:
            await asyncio.wait_for(ws.wait_closed(), 1.0)
            return  # the client left after the last frames: it will be back for snapshots
        except TimeoutError:
            self.finished.set()
        await ws.wait_closed()

    async def __aenter__(self) -> RecordedVenue:
        self._server = await serve(self._handler, "127.0.0.1", 0, process_request=self._http)
        await self._server.__aenter__()
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc) -> None:  # type: ignore[no-untyped-def]
        self._server.close()
        await self._server.wait_closed()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def serve_in_background(self, timeout: float = 60) -> str:
        """Serve from a thread (for a client in another process) until every frame is played
        or `timeout` passes; returns the websocket URL."""
        import threading

        ready = threading.Event()

        def run() -> None:
            async def main() -> None:
                async with self:
                    ready.set()
                    await asyncio.wait_for(self.finished.wait(), timeout)
            asyncio.run(main())

        threading.Thread(target=run, daemon=True).start()
        if not ready.wait(10):
            raise RuntimeError("the recorded venue server did not start within 10 s")
        return self.url
