"""Live websocket clients: one connection per venue carrying the configured markets.

What a venue module adds is a `Live(LiveSpec)`: its URL, subscribe messages, keep-alive,
answers to the venue's own pings, and how it gets a snapshot (REST, a websocket request, or
a resubscription). The client here does the rest, the same way for every venue:

- frames are stamped with `ts_recv` on arrival and handed to the sink as raw messages;
- every frame also goes through the venue's book builder (`BookChecker`): on a sequence gap
  or a checksum failure the client asks for a fresh snapshot, so downstream books resync;
- dropped connections reconnect with exponential backoff and jitter, and connections are
  renewed before the venue's connection limit (Binance closes them after 24 h);
- a venue that cannot be reached (a name that does not resolve, a refused connection) is
  said once, in those words; after `connect_attempts` failed connects in a row the client
  gives up (`stats.gave_up`) instead of retrying for ever;
- REST snapshot requests are spaced to respect the venue's rate limits.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import random
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field

from cobflow.connectors import get_venue
from cobflow.connectors.verify import BookChecker
from cobflow.raw import RawMessage

log = logging.getLogger("cobflow.live")


class LiveSpec:
    """A venue's live protocol; the defaults suit a venue that needs nothing special."""

    url: str = ""
    rest_url: str = ""
    snapshot_via: str | None = None  # "rest", "ws" (a request on the socket), or None (resubscribe)
    keepalive_s: float | None = None
    max_connection_s: float | None = None  # renew the connection before the venue closes it
    min_rest_interval_s: float = 1.0  # between two REST snapshot requests

    def __init__(self, markets: list[str]) -> None:
        self.markets = markets

    def subscribe(self) -> list[str]:
        raise NotImplementedError

    def keepalive(self) -> str | None:
        return None

    def reply(self, text: str) -> str | None:
        """An answer the venue expects to one of its frames (application-level pings)."""
        return None

    def connection_sequence(self, text: str) -> int | None:
        """The per-connection message count some venues stamp on every frame (Coinbase's
        sequence_num, Bitfinex's SEQ_ALL); a skipped number means frames were lost."""
        return None

    def rest_snapshot_url(self, market: str) -> str:
        raise NotImplementedError

    def ws_snapshot_request(self, market: str) -> str:
        raise NotImplementedError


@dataclass
class ClientStats:
    connections: int = 0
    frames: int = 0
    snapshot_requests: int = 0
    resyncs_requested: int = 0
    sequence_breaks: int = 0  # a connection-wide sequence number skipped
    disconnects: list[str] = field(default_factory=list)  # connections lost after they were made
    failed_connects: int = 0  # attempts that never connected
    gave_up: str | None = None  # why the client stopped trying (connect_attempts failures in a row)


class LiveClient:
    def __init__(
        self,
        venue: str,
        markets: list[str],
        sink: Callable[[RawMessage], None],
        *,
        url: str | None = None,
        rest_url: str | None = None,
        clock: Callable[[], int] = time.time_ns,
        backoff_base_s: float = 0.5,
        backoff_cap_s: float = 30.0,
        connect_attempts: int | None = 5,
        guard: bool = True,
        rng: random.Random | None = None,
    ) -> None:
        self.venue = venue
        self.module = get_venue(venue)
        self.spec: LiveSpec = self.module.Live(markets)
        if url:
            self.spec.url = url
        if rest_url:
            self.spec.rest_url = rest_url
        self.sink = sink
        self.clock = clock
        self.backoff_base_s, self.backoff_cap_s = backoff_base_s, backoff_cap_s
        self.connect_attempts = connect_attempts  # None: never give up
        self.checker = BookChecker() if guard else None
        self.rng = rng or random.Random()
        self.stats = ClientStats()
        self._last_ts = 0
        self._last_rest = 0.0
        self._describe_state: dict = {}
        self._pending_rest: set[str] = set()

    # -- frames -----------------------------------------------------------------------------
    def _now(self) -> int:
        ts = max(self.clock(), self._last_ts + 1)  # strictly increasing per connection
        self._last_ts = ts
        return ts

    def _emit(self, raw: RawMessage) -> list:
        self.sink(raw)
        self.stats.frames += 1
        return self.checker.feed(raw) if self.checker is not None else []

    def _to_raw(self, frame: str | bytes, ts: int) -> RawMessage:
        if isinstance(frame, bytes):
            payload, encoding = base64.b64encode(frame).decode(), (
                "base64-gzip" if frame[:2] == b"\x1f\x8b" else "base64")
            probe = RawMessage(ts, self.venue, "ws", "", None, payload, encoding)
            text = probe.payload_text()
        else:
            payload, encoding, text = frame, None, frame
        channel, symbol = self.module.describe_frame("ws", None, text, self._describe_state)
        return RawMessage(ts, self.venue, "ws", channel, symbol, payload, encoding)

    # -- snapshots --------------------------------------------------------------------------
    async def _rest_snapshot(self, market: str, attempts: int = 5) -> None:
        """Fetch until a snapshot connects to the buffered diffs (Binance: a snapshot older
        than the first buffered diff must be fetched again)."""
        for _ in range(attempts):
            wait = self._last_rest + self.spec.min_rest_interval_s - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            self._last_rest = time.monotonic()
            url = self.spec.rest_snapshot_url(market)
            self.stats.snapshot_requests += 1
            body = await asyncio.to_thread(_http_get, url)
            problems = self._emit(RawMessage(self._now(), self.venue, "rest", "snapshot", market, body))
            if not any(d.stage == "sync" for d in problems):
                return
            log.warning("%s %s: snapshot does not connect (%s); fetching again", self.venue, market,
                        problems[0].reason)
        log.error("%s %s: no snapshot connected after %d attempts", self.venue, market, attempts)

    async def _resync(self, ws, market: str) -> bool:  # type: ignore[no-untyped-def]
        """Ask for a fresh snapshot; False when only a new connection can give one."""
        self.stats.resyncs_requested += 1
        if self.spec.snapshot_via == "rest":
            if market not in self._pending_rest:  # one request at a time per market, in the background
                self._pending_rest.add(market)
                task = asyncio.create_task(self._rest_snapshot(market))
                task.add_done_callback(lambda _t: self._pending_rest.discard(market))
            return True
        if self.spec.snapshot_via == "ws":
            self.stats.snapshot_requests += 1
            await ws.send(self.spec.ws_snapshot_request(market))
            return True
        return False

    # -- the connection ---------------------------------------------------------------------
    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Stream until `stop` is set, reconnecting after any failure."""
        from websockets.asyncio.client import connect
        from websockets.exceptions import WebSocketException

        stop = stop or asyncio.Event()
        attempt = 0  # failures in a row since the last connection was made
        said: str | None = None  # the connect failure said last (said once, not each retry)
        while not stop.is_set():
            connected = False
            try:
                async with connect(self.spec.url, max_size=None, open_timeout=10, ping_interval=20,
                                   ping_timeout=20, close_timeout=2) as ws:
                    connected = True
                    self.stats.connections += 1
                    attempt, said = 0, None
                    log.info("%s: connected to %s", self.venue, self.spec.url)
                    await self._session(ws, stop)
            except (TimeoutError, OSError, WebSocketException) as exc:
                if connected:
                    self.stats.disconnects.append(f"{type(exc).__name__}: {exc}")
                    log.warning("%s: connection lost (%s)", self.venue, exc)
                else:
                    self.stats.failed_connects += 1
                    reason = connect_failure(self.spec.url, exc)
                    if reason != said:
                        log.warning("%s: %s", self.venue, reason)
                        said = reason
                    if self.connect_attempts is not None and attempt + 1 >= self.connect_attempts:
                        self.stats.gave_up = f"{reason}; gave up after {attempt + 1} failed connects in a row"
                        log.error("%s: %s", self.venue, self.stats.gave_up)
                        return
            if stop.is_set():
                break
            delay = min(self.backoff_cap_s, self.backoff_base_s * 2**attempt) * self.rng.uniform(0.5, 1.0)
            attempt += 1
            log.info("%s: reconnecting in %.2f s", self.venue, delay)
            try:
                await asyncio.wait_for(stop.wait(), delay)
            except TimeoutError:
                pass

    async def _session(self, ws, stop: asyncio.Event) -> None:  # type: ignore[no-untyped-def]
        spec = self.spec
        for text in spec.subscribe():
            await ws.send(text)
        started = time.monotonic()
        tasks = [asyncio.create_task(self._keepalive(ws))] if spec.keepalive_s else []
        if spec.snapshot_via in ("rest", "ws"):
            tasks.append(asyncio.create_task(self._initial_snapshots(ws)))
        stopper = asyncio.create_task(stop.wait())
        last_seq: int | None = None
        try:
            while True:
                recv = asyncio.create_task(ws.recv())
                done, _ = await asyncio.wait({recv, stopper}, return_when=asyncio.FIRST_COMPLETED)
                if stopper in done:
                    recv.cancel()
                    await ws.close()
                    return
                frame = recv.result()
                raw = self._to_raw(frame, self._now())
                seq = spec.connection_sequence(raw.payload_text()) if raw.encoding is None else None
                if seq is not None:
                    if last_seq is not None and seq != last_seq + 1:
                        log.warning("%s: connection sequence jumped from %d to %d; resubscribing",
                                    self.venue, last_seq, seq)
                        self.sink(raw)
                        self.stats.frames += 1
                        self.stats.sequence_breaks += 1
                        await ws.close()  # a new connection brings fresh snapshots of every book
                        return
                    last_seq = seq
                answer = spec.reply(raw.payload_text())
                if answer is not None:
                    await ws.send(answer)
                problems = self._emit(raw)
                lost = {d.raw.symbol or "" for d in problems if d.stage == "sync"}
                lost |= {m for d in problems if d.stage == "sync" for m in self._markets_of(d.raw)}
                for market in sorted(m for m in lost if m):
                    log.warning("%s %s: book lost (%s); asking for a snapshot", self.venue, market,
                                problems[0].reason)
                    if not await self._resync(ws, market):
                        await ws.close()  # resubscribing on a new connection brings fresh snapshots
                        return
                if spec.max_connection_s and time.monotonic() - started > spec.max_connection_s:
                    log.info("%s: renewing the connection before the venue's limit", self.venue)
                    await ws.close()
                    return
        finally:
            for t in (*tasks, stopper):
                t.cancel()

    def _markets_of(self, raw: RawMessage) -> set[str]:
        try:
            return {e.market for e in self.module.parse(raw)}
        except Exception:  # noqa: BLE001 - a malformed frame has no market
            return set()

    async def _initial_snapshots(self, ws) -> None:  # type: ignore[no-untyped-def]
        await asyncio.sleep(0.5)  # let the first diffs arrive and be buffered
        for market in self.spec.markets:
            if self.spec.snapshot_via == "rest":
                await self._rest_snapshot(market)
            else:
                self.stats.snapshot_requests += 1
                await ws.send(self.spec.ws_snapshot_request(market))

    async def _keepalive(self, ws) -> None:  # type: ignore[no-untyped-def]
        while True:
            await asyncio.sleep(self.spec.keepalive_s)
            text = self.spec.keepalive()
            if text is not None:
                await ws.send(text)


def connect_failure(url: str, exc: BaseException) -> str:
    """Why a connection could not be made, in the words a user acts on."""
    import socket
    from urllib.parse import urlsplit

    from websockets.exceptions import InvalidStatus

    parts = urlsplit(url)
    host = parts.hostname or url
    where = f"{host}:{parts.port}" if parts.port else host
    if isinstance(exc, socket.gaierror):
        return f"cannot reach {host}: the name does not resolve (no network?)"
    if isinstance(exc, ConnectionRefusedError):
        return f"cannot reach {where}: connection refused"
    if isinstance(exc, TimeoutError):
        return f"cannot reach {where}: no answer in 10 s"
    if isinstance(exc, InvalidStatus):
        return f"{where} refused the websocket: HTTP {exc.response.status_code}"
    return f"cannot connect to {where}: {' '.join(str(exc).split()) or type(exc).__name__}"


def _http_get(url: str) -> str:
    req = urllib.request.Request(url, headers={"User-Agent": "cobflow"})
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - the venue's https URL
        return resp.read().decode()


async def run_clients(clients: list[LiveClient], duration: float | None) -> None:
    """Run the clients together, for `duration` seconds or until cancelled (Ctrl-C)."""
    stop = asyncio.Event()
    tasks = [asyncio.create_task(c.run(stop)) for c in clients]
    try:  # until the duration ends, or every client has returned (given up)
        await asyncio.wait(tasks, timeout=duration or None, return_when=asyncio.ALL_COMPLETED)
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
