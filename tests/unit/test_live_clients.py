"""Live clients against a real websocket server on 127.0.0.1 playing recorded exchange
traffic: subscribe, keep the books, survive a dropped connection and lost frames, resync."""

from __future__ import annotations

import asyncio
import random

import pytest

from cobflow.connectors import get_venue
from cobflow.connectors.cryptofeed import import_cryptofeed
from cobflow.connectors.live import LiveClient
from cobflow.connectors.verify import verify
from tests.venue_server import RecordedVenue


def all_synced(client: LiveClient) -> bool:
    books = [b for (_, m), b in client.checker.books.items()]
    return bool(books) and all(b.synced for b in books)


async def play(server: RecordedVenue, venue: str, markets: list[str], **kw):
    got = []
    async with server:
        client = LiveClient(venue, markets, got.append, url=server.url,
                            rest_url=f"http://127.0.0.1:{server.port}/api/v3/depth",
                            backoff_base_s=0.05, backoff_cap_s=0.2, rng=random.Random(1), **kw)
        stop = asyncio.Event()
        task = asyncio.create_task(client.run(stop))
        await asyncio.wait_for(server.finished.wait(), 30)
        await asyncio.sleep(0.5)  # let the client take in the last frames
        for _ in range(200):  # and fetch the snapshots it still needs
            if all_synced(client):
                break
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(task, 10)
    return client, got


def market(result, m):
    return next(x for x in result.markets if x.market == m)


def test_kraken_reconnects_after_a_dropped_connection_and_resyncs_after_a_lost_frame(captures):
    msgs = import_cryptofeed([captures / "KRAKEN.ws.50.0"])
    ws = [m for m in msgs if m.kind == "ws"]
    drop_at, outage = 1500, 40
    # a frame lost later on (no reconnect): an update at the top of XMR/USD's book
    lost = next(i for i in range(2500, len(ws)) if ws[i].symbol == "XMR-USD")
    server = RecordedVenue(msgs, drop_at=drop_at, outage=outage, lose={lost})
    client, got = asyncio.run(play(server, "kraken", ["XMR-USD", "SC-EUR"]))

    # what the client saw (the frames it stored), run through fresh books as downstream would
    result = verify(got)
    assert server.connections >= 2 and client.stats.connections == server.connections
    assert '"method":"subscribe"' in server.subscriptions[0]
    assert len(got) >= len(ws) - outage - 1
    for m in result.markets:
        if m.market != "-":
            assert m.synced, m  # every book is in sync at the end, checked by Kraken's checksums
    xmr = market(result, "XMR-USD")
    if xmr.checksum_failures:  # the lost frame changed the top 10: caught, then resynced
        assert xmr.resyncs == 1 and client.stats.resyncs_requested >= 1
    assert sum(m.checksum_checks for m in result.markets) > 3000
    assert all(a.ts_recv < b.ts_recv for a, b in zip(got, got[1:]))


def test_binance_gap_after_reconnect_is_resynced_from_a_fresh_rest_snapshot(captures):
    msgs = import_cryptofeed([captures / "BINANCE.ws.1.0", captures / "BINANCE.http.0.0"])
    ws = [m for m in msgs if m.kind == "ws"]
    server = RecordedVenue(msgs, drop_at=120, outage=30)
    client, got = asyncio.run(play(server, "binance", ["NKN-USDT", "BLZ-ETH", "LRC-BTC", "RUNE-EUR"]))
    result = verify(got)
    nkn = market(result, "NKN-USDT")
    lost_nkn = sum(1 for m in ws[120:150] if m.symbol == "NKN-USDT" and "depthUpdate" in m.payload)
    assert lost_nkn > 0
    assert server.connections == 2
    assert nkn.gaps == 1 and nkn.resyncs == 1 and nkn.synced  # the gap, then the fresh snapshot
    assert client.stats.snapshot_requests >= 5  # 4 at start + 1 after the gap
    rest = [m for m in got if m.kind == "rest"]
    assert all(m.channel == "snapshot" and m.symbol for m in rest)
    assert '"SUBSCRIBE"' in server.subscriptions[0] and "nknusdt@depth@100ms" in server.subscriptions[0]


@pytest.mark.parametrize("venue", ["binance", "coinbase", "kraken", "bitfinex", "htx", "okx", "bybit"])
def test_every_venue_has_a_live_client_with_subscriptions_for_its_markets(venue):
    module = get_venue(venue)
    market = "BTC-USDT" if venue in ("binance", "htx", "okx", "bybit") else "BTC-USD"
    spec = module.Live([market])
    assert spec.url.startswith("wss://")
    subs = spec.subscribe()
    wire = getattr(module, "venue_symbol", lambda m: m)(market)
    assert any(wire.lower() in s.lower() for s in subs), subs
    if spec.snapshot_via == "rest":
        assert spec.rest_snapshot_url(market).startswith("https://")


def test_cobflow_live_records_a_venue_to_a_capture_file(captures, tmp_path):
    """The command a user runs, against the local server instead of Kraken."""
    import subprocess
    import sys

    from cobflow.capture import read_capture

    msgs = import_cryptofeed([captures / "KRAKEN.ws.50.0"])
    server = RecordedVenue(msgs)
    out = tmp_path / "live.jsonl.gz"
    cfg = tmp_path / "symbols.yaml"
    cfg.write_text("symbols:\n  XMR-USD:\n    bucket: 1\n    venues: {kraken: XMR/USD}\n")
    url = server.serve_in_background()
    proc = subprocess.run(
        [sys.executable, "-m", "cobflow", "--config", str(cfg), "live", "--no-kafka", "--out", str(out),
         "--duration", "4", "--url", f"kraken={url}"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "kraken: XMR-USD from ws://127.0.0.1" in proc.stderr
    got = list(read_capture(out))
    assert len(got) == len([m for m in msgs if m.kind == "ws"])
    assert [m.payload for m in got] == [m.payload for m in msgs if m.kind == "ws"]
    assert verify(got).ok


@pytest.mark.parametrize("venue", ["coinbase", "bitfinex"])
def test_a_skipped_connection_sequence_number_makes_the_client_resubscribe(venue):
    """Coinbase and Bitfinex number every frame of a connection: one lost frame is a gap in
    every book on it, so the client starts a new connection (fresh snapshots)."""
    from tests.simdata import sim

    msgs = [m for m in sim(10.0, seed=3) if m.exchange == venue]
    lost = len(msgs) // 2
    server = RecordedVenue(msgs, lose={lost})
    markets = sorted({m.symbol for m in msgs if m.symbol})
    client, got = asyncio.run(play(server, venue, markets))
    assert client.stats.sequence_breaks == 1
    # (this server resumes without new snapshots, so a Bitfinex book the lost frame touched
    # also fails its next checksum and asks for one more connection)
    assert server.connections >= 2 and client.stats.connections == server.connections


def closed_port() -> int:
    """A port on 127.0.0.1 nobody listens on (bound, then let go)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("url, said", [
    ("ws://127.0.0.1:{port}/ws", "cannot reach 127.0.0.1:{port}: connection refused"),
    ("ws://nothing.invalid:{port}/ws", "cannot reach nothing.invalid: the name does not resolve (no network?)"),
])
def test_a_venue_that_cannot_be_reached_is_said_once_and_given_up(url, said, caplog):
    """No connection is ever made: no "connection lost" (there was none), the reason once in
    the words a user acts on, and after `connect_attempts` failures in a row the client ends."""
    port = closed_port()
    client = LiveClient("kraken", ["XMR-USD"], lambda raw: None, url=url.format(port=port),
                        backoff_base_s=0.01, backoff_cap_s=0.02, connect_attempts=4, rng=random.Random(1))
    with caplog.at_level("INFO", logger="cobflow.live"):
        asyncio.run(asyncio.wait_for(client.run(), 20))
    said = said.format(port=port)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings == [f"kraken: {said}"]
    assert not any("connection lost" in r.getMessage() for r in caplog.records)
    assert (client.stats.failed_connects, client.stats.connections, client.stats.disconnects) == (4, 0, [])
    assert client.stats.gave_up == f"{said}; gave up after 4 failed connects in a row"


def test_a_connection_lost_after_it_was_made_is_said_so_and_does_not_count_as_a_failed_connect(captures, caplog):
    msgs = import_cryptofeed([captures / "KRAKEN.ws.50.0"])
    server = RecordedVenue(msgs, drop_at=300)
    with caplog.at_level("INFO", logger="cobflow.live"):
        client, got = asyncio.run(play(server, "kraken", ["XMR-USD", "SC-EUR"], connect_attempts=1))
    assert client.stats.connections == 2 and len(client.stats.disconnects) == 1
    assert client.stats.failed_connects == 0 and client.stats.gave_up is None
    assert sum("connection lost" in r.getMessage() for r in caplog.records) == 1


def test_cobflow_live_exits_non_zero_when_a_venue_gave_nothing(tmp_path):
    """The command a script runs: a refused venue ends it (no --duration needed) with one line
    and exit 2, and says which venue recorded nothing."""
    import subprocess
    import sys

    port = closed_port()
    cfg = tmp_path / "symbols.yaml"
    cfg.write_text("symbols:\n  XMR-USD:\n    bucket: 1\n    venues: {kraken: XMR/USD}\n")
    out = tmp_path / "live.jsonl.gz"
    proc = subprocess.run(
        [sys.executable, "-m", "cobflow", "--config", str(cfg), "live", "--no-kafka", "--out", str(out),
         "--url", f"kraken=ws://127.0.0.1:{port}/", "--connect-attempts", "2"],
        capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count(f"cannot reach 127.0.0.1:{port}: connection refused") == 2  # once said, once given up
    assert "connection lost" not in proc.stderr
    assert proc.stderr.rstrip().splitlines()[-1] == "cobflow: error: no frame from kraken: nothing of it was recorded"
    assert "kraken: 0 frames, 0 connection(s)" in proc.stdout and "gave up after 2 failed connects" in proc.stdout
    assert not out.exists()  # no empty file that looks like a recording
