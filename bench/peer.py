"""cobflow against hftbacktest 2.4.4 (the open-source L2 backtester: Rust core, numba
strategies) on the same capture of one Binance market, whole processes alternating, as a
user would run each:

    python bench/peer.py                    # 6 hours (21,600 s) of BTC-USD on binance, 3 rounds
    python bench/peer.py --seconds 3600 --repeat 2

Each round times, in turn: hftbacktest's conversion of our raw capture into its events
(bench/peer_hbt.py convert), hftbacktest's backtest (a per-second strategy with an IOC order
a minute, risk-averse queue, 10 ms latency: bench/peer_hbt.py run), `cobflow backtest
--strategy rules` and `cobflow backtest` with the default strategy and small models (as
`make demo` trains them), and `cobflow compute` (a pure replay). The peer runs from its own
venv (.cobflow/peer-venv, made on first use with pip). The best bid and ask each second are
checked to agree between the two. Prints the medians and the ratios and writes
bench/results/peer.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PEER_VENV = ROOT / ".cobflow" / "peer-venv"
PEER = ("hftbacktest==2.4.4", "orjson")  # orjson: the converter parses as fast as ours
RESULTS = ROOT / "bench" / "results" / "peer.json"
ONE_MARKET = "symbols:\n  BTC-USD:\n    bucket: 10\n    venues: {binance: BTC-USDT}\n"


def peer_python() -> Path:
    """The peer's interpreter (its venv made and hftbacktest installed the first time)."""
    python = PEER_VENV / "bin" / "python"
    ready = python.exists() and subprocess.run([str(python), "-c", "import hftbacktest, orjson"],
                                               capture_output=True).returncode == 0
    if not ready:
        print(f"making {PEER_VENV} with {', '.join(PEER)} (once)")
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *PEER], check=True)
    return python


def rss_of(cmd: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> tuple[float, int]:
    """(wall seconds, peak RSS in MiB) of a whole process (GNU time's %M)."""
    with tempfile.NamedTemporaryFile(suffix=".rss") as f:
        start = time.perf_counter()
        proc = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", f.name, *cmd], capture_output=True, text=True,
                              env=env, cwd=cwd)
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd[:5])} ... failed: {proc.stderr.strip()[-800:]}")
        kib = int(Path(f.name).read_text().split()[-1])
    return wall, kib // 1024


def agreement(tops_file: Path, cob_folder: Path) -> tuple[int, int]:
    """(seconds where both have a book, of them those with the same best bid and ask)."""
    import numpy as np

    from cobflow.stored import read_table

    tops = np.load(tops_file)
    peer = {int(s): (b, a) for s, b, a in tops if b == b and a == a and b > 0}
    import pyarrow as pa
    import pyarrow.compute as pc

    t = read_table(cob_folder, "cob_summary")
    ts = pc.cast(t["ts"], pa.int64()).to_pylist()
    mine = {s // 1_000_000_000: (b, a) for s, b, a in zip(ts, t["best_bid"].to_pylist(), t["best_ask"].to_pylist())
            if b is not None}
    both = sorted(set(peer) & set(mine))
    same = sum(1 for s in both if np.isclose(peer[s][0], mine[s][0], rtol=0, atol=1e-6)
               and np.isclose(peer[s][1], mine[s][1], rtol=0, atol=1e-6))
    return len(both), same


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=21_600.0, help="market time of the capture (default 6 h)")
    ap.add_argument("--repeat", type=int, default=3, help="alternating rounds")
    args = ap.parse_args()
    from cobflow.app.demo import DemoOptions, ensure_models
    from cobflow.config import load_settings, load_symbols
    from cobflow.connectors.simulator import SimConfig
    from cobflow.connectors.simulator.to_file import simulate_to_file

    python = peer_python()
    cobflow = [sys.executable, "-m", "cobflow"]
    with tempfile.TemporaryDirectory() as tmp_:
        tmp = Path(tmp_)
        config = tmp / "one.yaml"
        config.write_text(ONE_MARKET)
        capture = tmp / "six.jsonl.gz"
        n = simulate_to_file(load_symbols(config), SimConfig(seed=1, duration_s=args.seconds), capture)
        print(f"capture: {n:,} raw messages, {args.seconds:,.0f} s of BTC-USD on binance")
        models = tmp / "models"
        print(ensure_models(load_settings(symbols_file=config, models={"dir": models}), DemoOptions()))
        env = {k: v for k, v in os.environ.items() if not k.startswith("COBFLOW_")}
        env.update({"COBFLOW_SYMBOLS_FILE": str(config), "COBFLOW_MODELS__DIR": str(models)})
        peer_env = {k: v for k, v in env.items() if k != "PYTHONPATH"}
        runs: dict[str, list[tuple[float, int]]] = {k: [] for k in (
            "peer_convert", "peer_run", "backtest_rules", "backtest_default", "compute")}
        for r in range(args.repeat):
            runs["peer_convert"].append(rss_of([str(python), str(ROOT / "bench" / "peer_hbt.py"), "convert",
                                                str(capture), str(tmp / "events.npz")], peer_env, cwd=tmp))
            runs["peer_run"].append(rss_of([str(python), str(ROOT / "bench" / "peer_hbt.py"), "run",
                                            str(tmp / "events.npz"), str(tmp / "tops.npy")], peer_env, cwd=tmp))
            runs["backtest_rules"].append(rss_of([*cobflow, "backtest", "--input", str(capture), "--out",
                                                  str(tmp / "rules"), "--strategy", "rules", "-q"], env))
            runs["backtest_default"].append(rss_of([*cobflow, "backtest", "--input", str(capture), "--out",
                                                    str(tmp / "default"), "-q"], env))
            runs["compute"].append(rss_of([*cobflow, "compute", "--input", str(capture), "--out",
                                           str(tmp / "replay")], env))
            print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1][0]:.1f} s" for k, v in runs.items()))
        both, same = agreement(tmp / "tops.npy", tmp / "rules")
    med = {k: statistics.median(w for w, _ in v) for k, v in runs.items()}
    rss = {k: max(m for _, m in v) for k, v in runs.items()}
    peer = med["peer_convert"] + med["peer_run"]
    results = {
        "seconds_of_market": args.seconds, "messages": n, "rounds": args.repeat, "peer": PEER[0], "cpus": os.cpu_count(),
        "median_wall_s": med, "peak_rss_mib": rss,
        "peer_convert_plus_run_s": peer,
        "backtest_rules_vs_peer": med["backtest_rules"] / peer,
        "backtest_default_vs_peer": med["backtest_default"] / peer,
        "compute_vs_peer": med["compute"] / peer,
        "best_bid_ask_agree": {"seconds_with_both_books": both, "same": same},
        "target": "cobflow backtest at most the peer's conversion plus run (ratio <= 1.0)",
    }
    for k in runs:
        print(f"  {k:18} median {med[k]:6.1f} s  peak RSS {rss[k]:5,} MiB")
    print(f"hftbacktest conversion + run {peer:.1f} s; cobflow backtest --strategy rules "
          f"{results['backtest_rules_vs_peer']:.2f}x, default strategy and models "
          f"{results['backtest_default_vs_peer']:.2f}x, compute {results['compute_vs_peer']:.2f}x of it "
          f"(target <= 1.0)")
    print(f"best bid and ask agree in {same:,} of {both:,} seconds where both have a book")
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
