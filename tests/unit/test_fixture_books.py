"""Every recorded capture imports and verifies: counts per venue checked against counts
taken from the raw files with plain text matching (not through our parsers), every
Kraken and OKX checksum checked, no gap anywhere."""

from __future__ import annotations

import ast
import gzip
import json
import re
from collections import Counter
from pathlib import Path

import pytest

from cobflow.capture import read_capture, write_capture
from cobflow.connectors.cryptofeed import import_cryptofeed
from cobflow.connectors.verify import verify

INCOMING = re.compile(r"^\d+(?:\.\d+)?: (.*)$")
REST = re.compile(r"^\S+ -> \d+(?:\.\d+)?: ")


def incoming(path: Path) -> list[str]:
    """The received frames' text, as the file has them."""
    out = []
    for line in path.read_text().splitlines():
        m = INCOMING.match(line)
        if m:
            out.append(m.group(1))
    return out


def totals(result, venue: str) -> Counter:
    c: Counter = Counter()
    for m in result.markets:
        if m.venue == venue:
            for k in ("frames", "snapshots", "deltas", "trades", "gaps", "checksum_checks",
                      "checksum_failures", "malformed", "crossed"):
                c[k] += getattr(m, k)
    return c


def check(captures: Path, files: list[str], venue: str) -> tuple[Counter, object]:
    msgs = import_cryptofeed([captures / f for f in files])
    result = verify(msgs)
    assert result.ok, [m.problems for m in result.markets if m.problems]
    t = totals(result, venue)
    assert t["gaps"] == t["checksum_failures"] == t["malformed"] == t["crossed"] == 0
    # every received frame and REST response becomes one raw message and is counted once
    n_lines = sum(len(incoming(captures / f)) for f in files)
    n_rest = sum(1 for f in files for line in (captures / f).read_text().splitlines() if REST.match(line))
    assert len(msgs) == n_lines + n_rest
    assert sum(1 for m in msgs) == result.messages
    return t, result


def test_binance_syncs_against_its_rest_snapshots_with_no_gap(captures):
    t, result = check(captures, ["BINANCE.ws.1.0", "BINANCE.http.0.0"], "binance")
    text = (captures / "BINANCE.ws.1.0").read_text()
    assert t["snapshots"] == 4
    assert t["deltas"] == text.count('"e":"depthUpdate"') == 177
    assert t["trades"] == text.count('"e":"aggTrade"')
    assert all(m.synced for m in result.markets if m.market != "-")


def test_kraken_every_checksum_verifies(captures):
    t, result = check(captures, ["KRAKEN.ws.50.0"], "kraken")
    frames = incoming(captures / "KRAKEN.ws.50.0")
    assert t["snapshots"] == sum(1 for f in frames if '{"as":' in f) == 10
    assert t["deltas"] == sum(1 for f in frames if re.match(r'^\[\d+,\{"[ab]":', f))
    # one checksum per update frame (grep -o "\"c\":\"" | wc -l), each checked, none failed
    assert t["checksum_checks"] == sum(f.count('"c":"') for f in frames) == 4269
    assert t["checksum_failures"] == 0


def test_okx_every_checksum_verifies(captures):
    t, _ = check(captures, ["OKX.ws.1.0"], "okx")
    text = (captures / "OKX.ws.1.0").read_text()
    assert t["snapshots"] == text.count('"action":"snapshot"') == 3
    assert t["deltas"] == text.count('"action":"update"') == 287
    assert t["checksum_checks"] == text.count('"checksum":') == 290
    assert t["trades"] == text.count('"tradeId"')


def test_coinbase_legacy_level2_and_matches(captures):
    t, _ = check(captures, ["COINBASE.ws.28.0"], "coinbase")
    text = (captures / "COINBASE.ws.28.0").read_text()
    assert t["snapshots"] == text.count('"type":"snapshot"') == 10
    assert t["deltas"] == text.count('"type":"l2update"') == 9719
    assert t["trades"] == text.count('"type":"match"') == 97  # last_match is history, not counted


def test_bybit_v1_order_book_and_trades(captures):
    t, _ = check(captures, ["BYBIT.ws.25.0"], "bybit")
    text = (captures / "BYBIT.ws.25.0").read_text()
    assert t["snapshots"] == text.count('"type":"snapshot"') == 8
    assert t["deltas"] == text.count('"type":"delta"') == 3252
    assert t["trades"] == text.count('"trade_id"')


def test_bitfinex_channel_ids_resolve_to_markets(captures):
    t, result = check(captures, ["BITFINEX.ws.11.0"], "bitfinex")
    lines = (captures / "BITFINEX.ws.11.0").read_text().splitlines()
    book_ids = {int(m.group(1)) for line in lines
                if (m := re.search(r'"channel":"book","chanId":(\d+)', line))}
    frames = incoming(captures / "BITFINEX.ws.11.0")
    snaps = [f for f in frames if any(f.startswith(f"[{i},[[") for i in book_ids)]
    updates = [f for f in frames if re.match(r"^\[(\d+),\[[^\[\]]*\],\d+\]$", f)
               and int(f[1:f.index(",")]) in book_ids]
    assert t["snapshots"] == len(snaps) == 7
    assert t["deltas"] == len(updates)
    assert {m.market for m in result.markets} >= {"BFT-USD", "IOT-ETH", "TESTBTC-TESTUSD"}


def test_htx_gzip_frames_decode_and_verify(captures):
    t, result = check(captures, ["HUOBI.ws.44.0"], "htx")
    decoded = [json.loads(gzip.decompress(ast.literal_eval(f))) for f in incoming(captures / "HUOBI.ws.44.0")]
    depth = [d for d in decoded if "depth.step0" in d.get("ch", "")]
    trades = [x for d in decoded if d.get("ch", "").endswith("trade.detail") for x in d["tick"]["data"]]
    assert t["snapshots"] == len(depth) == 292
    assert t["trades"] == len(trades)
    assert all(m.synced for m in result.markets if m.market != "-")


def test_kucoin_syncs_against_its_rest_snapshots_with_no_gap(captures):
    t, result = check(captures, ["KUCOIN.ws.1.0", "KUCOIN.http.0.0"], "kucoin")
    text = (captures / "KUCOIN.ws.1.0").read_text()
    assert t["snapshots"] == 9  # one REST snapshot per market that has level2 data
    assert t["deltas"] == text.count('"subject":"trade.l2update"') == 3853
    assert t["trades"] == text.count('"subject":"trade.l3match"') == 18
    assert all(m.synced for m in result.markets if m.synced is not None)


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_every_fixture_imports_to_a_capture_that_verifies_the_same(captures, tmp_path, suffix):
    files = sorted(p for p in captures.iterdir() if p.name.split(".")[0] in
                   ("BINANCE", "COINBASE", "KRAKEN", "BITFINEX", "HUOBI", "OKX", "BYBIT", "KUCOIN"))
    direct = import_cryptofeed(files)
    out = tmp_path / f"all{suffix}"
    write_capture(out, direct)
    back = list(read_capture(out))
    assert back == direct
    a, b = verify(direct), verify(back)
    assert a.ok and b.ok
    assert [(m.venue, m.market, m.checksum_checks, m.deltas) for m in a.markets] == \
           [(m.venue, m.market, m.checksum_checks, m.deltas) for m in b.markets]
    assert {m.exchange for m in back} == {"binance", "coinbase", "kraken", "bitfinex", "htx", "okx", "bybit", "kucoin"}
    assert any(m.encoding == "base64-gzip" for m in back)  # HTX frames kept as the bytes received
