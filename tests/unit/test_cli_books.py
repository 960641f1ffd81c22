"""`cobflow import-capture`, `cobflow books verify`, `cobflow simulate` as a user runs them."""

from __future__ import annotations

import subprocess
import sys

import orjson
import pytest

from cobflow.capture import read_capture, write_capture
from tests.simdata import ALL_VENUES

FIXTURES = ["BINANCE.ws.1.0", "COINBASE.ws.28.0", "KRAKEN.ws.50.0", "BITFINEX.ws.11.0", "HUOBI.ws.44.0",
            "OKX.ws.1.0", "BYBIT.ws.25.0", "KUCOIN.ws.1.0"]
REST = {"BINANCE": "BINANCE.http.0.0", "KUCOIN": "KUCOIN.http.0.0"}


def cobflow(*args: str, ok: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "cobflow", *args], capture_output=True, text=True, timeout=300)
    if ok:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


@pytest.mark.parametrize("name", FIXTURES)
def test_each_fixture_imports_and_verifies(captures, tmp_path, name):
    rest = REST.get(name.split(".")[0])
    files = [str(captures / name)] + ([str(captures / rest)] if rest else [])
    out = tmp_path / "c.parquet"
    p = cobflow("import-capture", "--format", "cryptofeed", *files, str(out))
    assert "wrote" in p.stdout
    v = cobflow("books", "verify", str(out))
    assert v.stdout.rstrip().endswith(": OK")
    header = v.stdout.splitlines()[0].split()
    assert header[:4] == ["venue", "market", "frames", "snapshots"]


def test_verify_fails_on_a_corrupted_capture_and_writes_dead_letters(captures, tmp_path):
    cap = tmp_path / "okx.jsonl"
    cobflow("import-capture", "--format", "cryptofeed", str(captures / "OKX.ws.1.0"), str(cap))
    msgs = list(read_capture(cap))
    i = next(i for i, m in enumerate(msgs) if '"action":"update"' in m.payload)
    import re

    bad = re.sub(r'"checksum":(-?\d+)', lambda m: f'"checksum":{int(m[1]) + 1}', msgs[i].payload, count=1)
    msgs[i] = type(msgs[i])(**{**msgs[i].to_dict(), "payload": bad})
    msgs[i + 1] = type(msgs[i + 1])(**{**msgs[i + 1].to_dict(), "payload": msgs[i + 1].payload[:40]})
    write_capture(cap, msgs)
    dl = tmp_path / "dead.jsonl"
    v = cobflow("books", "verify", str(cap), "--dead-letters", str(dl), ok=False)
    assert v.returncode == 1
    assert "FAILED" in v.stdout
    letters = [orjson.loads(line) for line in dl.read_bytes().splitlines()]
    stages = sorted(d["stage"] for d in letters)
    # the flipped checksum, the truncated frame, and (when that frame was another market's
    # update) the checksum failure its loss causes on that market
    assert stages.count("parse") == 1 and 1 <= stages.count("sync") <= 2, [d["reason"] for d in letters]
    assert any("checksum mismatch" in d["reason"] for d in letters)
    assert all(d["message"]["exchange"] == "okx" for d in letters)


def test_simulate_writes_a_capture_that_verifies(tmp_path):
    out = tmp_path / "sim.jsonl.gz"
    p = cobflow("--config", str(ALL_VENUES), "simulate", "--duration", "15", "--seed", "9", "--out", str(out))
    assert "raw messages to" in p.stdout and "messages/s" in p.stdout
    v = cobflow("books", "verify", str(out))
    assert v.stdout.rstrip().endswith(": OK")
    for venue in ("binance", "coinbase", "kraken", "bitfinex", "htx", "okx", "bybit"):
        assert f"\n{venue} " in "\n" + v.stdout


def test_verify_explains_a_missing_file(tmp_path):
    v = cobflow("books", "verify", str(tmp_path / "nope.jsonl"), ok=False)
    assert v.returncode == 2 and "no such capture file" in v.stderr
