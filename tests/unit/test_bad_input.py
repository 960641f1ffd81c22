"""Bad capture lines and cut files through `cobflow compute` as a user runs it: each line
that is no raw message a dead letter naming the file and line, the rest processed as if it
were not there; `--strict` stops at the first in one line; a cut .gz read up to the cut; a
failed run leaves no output that looks like a result."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from cobflow.dataflows.sinks.parquet import read_table

CONFIG = Path(__file__).resolve().parent.parent / "data" / "cob_e2e.yaml"


def rows(out: Path, table: str):
    """A table's rows in a fixed order (Parquet parts follow the flow's batches)."""
    t = read_table(out, table)
    return t.sort_by([(c, "ascending") for c in ("ts", "symbol", "venue", "timeframe", "side", "price")
                      if c in t.column_names])


def compute(capture: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cobflow", "--config", str(CONFIG), "compute", "--input",
                           str(capture), "--output", str(out), *extra], capture_output=True, text=True)


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> tuple[Path, Path]:
    from cobflow.capture import write_capture
    from cobflow.config import load_symbols
    from cobflow.connectors.simulator import SimConfig, simulate

    tmp = tmp_path_factory.mktemp("clean")
    capture = tmp / "sim.jsonl"
    write_capture(capture, simulate(load_symbols(CONFIG), SimConfig(seed=31, duration_s=20)))
    proc = compute(capture, tmp / "out")
    assert proc.returncode == 0, proc.stderr
    return capture, tmp / "out"


def with_bad_lines(clean: Path, path: Path) -> list[int]:
    lines = clean.read_bytes().splitlines(keepends=True)
    bad = {len(lines) // 3: b'{"ts_recv": "soon", "exchange": "binance"}\n', 2 * len(lines) // 3: b"\xff garbage\n"}
    out, numbers = [], []
    for i, line in enumerate(lines):
        if i in bad:
            out.append(bad[i])
            numbers.append(len(out))
        out.append(line)
    path.write_bytes(b"".join(out))
    return numbers


def test_unreadable_lines_are_dead_letters_and_the_rest_gives_the_clean_rows(clean, tmp_path):
    capture, reference = clean
    bad = tmp_path / "bad.jsonl"
    numbers = with_bad_lines(capture, bad)
    proc = compute(bad, tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    dead = [json.loads(line) for line in (tmp_path / "out" / "dead_letters.jsonl").open()]
    assert [(d["stage"], d["reason"].split(": ")[0]) for d in dead] == [("read", f"{bad}:{n}") for n in numbers]
    assert "missing field(s)" in dead[0]["reason"] and dead[1]["message"]["payload"].endswith("garbage")
    assert f"2 capture lines are no raw messages (stage read), first: {bad}:{numbers[0]}" in proc.stdout
    for table in ("cob_summary", "cob_buckets", "ohlcv", "features"):
        assert rows(tmp_path / "out", table).equals(rows(reference, table)), table


def test_strict_stops_at_the_first_in_one_line_and_leaves_the_old_output(clean, tmp_path):
    capture, _ = clean
    bad = tmp_path / "bad.jsonl"
    first = with_bad_lines(capture, bad)[0]
    out = tmp_path / "out"
    assert compute(capture, out).returncode == 0
    before = read_table(out, "cob_summary")
    proc = compute(bad, out, "--strict")
    assert proc.returncode != 0
    errors = [line for line in proc.stderr.replace("\r", "\n").splitlines() if "error" in line.lower()]
    assert len(errors) == 2, proc.stderr  # the cause (from the flow), then what it means for the output
    assert errors[0].startswith(f"cobflow: error: {bad}:{first}: missing field(s)")  # one line, no class name
    assert errors[1] == f"cobflow: error: the dataflow failed (exit 1); {out} is left as it was"
    assert "Traceback" not in proc.stderr and "panicked" not in proc.stderr
    assert read_table(out, "cob_summary").equals(before)  # the previous complete result, untouched
    assert not any(p.name.endswith(".partial") for p in tmp_path.iterdir())


def test_a_cut_gz_is_read_up_to_the_cut_and_says_so(clean, tmp_path):
    capture, reference = clean
    whole = gzip.compress(capture.read_bytes())
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(whole[: len(whole) * 2 // 3])
    proc = compute(cut, tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    dead = [json.loads(line) for line in (tmp_path / "out" / "dead_letters.jsonl").open()]
    assert len(dead) == 1 and dead[0]["stage"] == "read"
    assert dead[0]["reason"].startswith(f"{cut}: the compressed file ends or breaks after line ")
    got, full = len(read_table(tmp_path / "out", "cob_summary")), len(read_table(reference, "cob_summary"))
    assert full // 3 < got < full  # the seconds before the cut


def test_a_capture_without_one_readable_line_fails_in_one_line(tmp_path):
    """compute and backtest on three lines that are no raw messages: exit 2, one line that says
    so, and the dead letters kept (nothing lost, nothing that looks like a result)."""
    capture = tmp_path / "bad.jsonl"
    capture.write_text('hello\nnot json\n{"ts_recv": 1,\n')
    for cmd in (["compute", "--out", str(tmp_path / "c")], ["backtest", "-q", "--out", str(tmp_path / "b")]):
        proc = subprocess.run([sys.executable, "-m", "cobflow", "--config", str(CONFIG), *cmd, "--input",
                               str(capture)], capture_output=True, text=True)
        assert proc.returncode == 2, proc.stdout
        [line] = [x for x in proc.stderr.splitlines() if x.startswith("cobflow: error:")]
        assert f"nothing computed from {capture}: 3 line(s) are no raw message (first: {capture}:1:" in line
        out = Path(cmd[-1])
        assert sum(1 for f in out.glob("dead_letters*.jsonl") for _ in open(f)) == 3


def test_a_venue_of_recordings_only_is_refused_by_simulate_and_live_in_one_line(tmp_path):
    from cobflow.connectors import get_venue
    from cobflow.venues import RECORDING_ONLY, VENUES

    # the registry's mark agrees with the connectors: no live client and no simulated feed
    assert RECORDING_ONLY == {v for v in VENUES if not hasattr(get_venue(v), "Live")
                              and not hasattr(get_venue(v), "SimWire")} == {"kucoin"}
    cfg = tmp_path / "symbols.yaml"
    cfg.write_text("symbols:\n  BTC-USDT:\n    bucket: 10\n    venues: {binance: BTC-USDT, kucoin: BTC-USDT}\n")
    for cmd in (["simulate", "--duration", "5", "--out", str(tmp_path / "s.jsonl")],
                ["live", "--no-kafka", "--out", str(tmp_path / "l.jsonl"), "--duration", "1"]):
        proc = subprocess.run([sys.executable, "-m", "cobflow", "--config", str(cfg), *cmd],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
        assert proc.stderr.startswith("cobflow: error: kucoin: recordings only (import-capture, books verify")

