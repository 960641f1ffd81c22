"""One symbols file (issue 38): `compute` keeps a copy of the file it ran with in its output,
`report` and `features` on that output read it back without --config, ./symbols.yaml in the
working folder is the default, and a symbol that is not configured names the file and --config."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SOL = "symbols:\n  SOL-USD:\n    bucket: 5bps\n    venues: {binance: SOL-USDT, coinbase: SOL-USD}\n"


def cobflow(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COBFLOW_")}
    return subprocess.run([sys.executable, "-m", "cobflow", *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=600)


@pytest.fixture(scope="module")
def computed(tmp_path_factory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("sol")
    cfg = tmp / "sol.yaml"
    cfg.write_text(SOL)
    capture = tmp / "sol.jsonl"
    done = cobflow("--config", str(cfg), "simulate", "--duration", "40", "--out", str(capture))
    assert done.returncode == 0, done.stderr
    out = tmp / "rows"
    done = cobflow("--config", str(cfg), "compute", "--input", str(capture), "--out", str(out))
    assert done.returncode == 0, done.stderr
    return cfg, out


def test_compute_keeps_the_symbols_file_and_report_reads_it_back(computed, tmp_path):
    cfg, out = computed
    assert (out / "symbols.yaml").read_text() == cfg.read_text()
    done = cobflow("report", "--symbol", "SOL-USD", "--parquet", str(out), "--out", str(tmp_path / "png"))
    assert done.returncode == 0, done.stderr
    assert f"symbols: {out / 'symbols.yaml'}" in done.stderr and list((tmp_path / "png").glob("*.png"))
    # another symbol: one line naming the file it read and --config
    done = cobflow("report", "--symbol", "BTC-USD", "--parquet", str(out), "--out", str(tmp_path / "x"))
    assert done.returncode == 2 and done.stderr.splitlines()[-1] == (
        f"cobflow: error: symbol 'BTC-USD' is not in {out / 'symbols.yaml'} (it has SOL-USD); "
        "another symbols file: --config FILE")


def test_features_reads_it_back_and_config_still_wins(computed, tmp_path):
    cfg, out = computed
    done = cobflow("features", "--input", str(out), "--out", str(tmp_path / "f"), "-q")
    assert done.returncode == 0, done.stderr
    assert f"symbols: {out / 'symbols.yaml'}" in done.stderr
    other = tmp_path / "other.yaml"
    other.write_text(SOL.replace("5bps", "10bps"))
    done = cobflow("--config", str(other), "features", "--input", str(out), "--out", str(tmp_path / "g"), "-q")
    assert done.returncode == 0, done.stderr
    assert "symbols: " not in done.stderr  # --config named one


def test_a_symbols_yaml_in_the_working_folder_is_the_default(tmp_path):
    (tmp_path / "symbols.yaml").write_text(SOL)
    code = ("from cobflow.config import load_settings, load_symbols\n"
            "print(*load_symbols(load_settings().symbols_file).symbols)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("COBFLOW_")}
    here = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert here.stdout.split() == ["SOL-USD"], here.stderr
    (tmp_path / "empty").mkdir()
    there = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                           cwd=tmp_path / "empty")
    assert there.stdout.split() == ["BTC-USD", "ETH-USD"], there.stderr  # the project's
