"""How often the simulated consolidated book is crossed, through the COB flow: per symbols
file, seed and market, the share of seconds with `crossed = true` and the longest run of
them, side by side in one run (issue 38's target, with conversion on: at most 2% of
seconds, no cross longer than 3 s).

    python bench/crossed.py [--seconds 3600] [--seeds 1 2 3]

Markets: "before" is the simulator of before issue 38 (bases of +-3 bps whatever the spread,
USDT = USD, no wider spreads in bursts) read without conversion; "raw" the simulator of now
(bases within the spreads, a USDT/USD rate, spreads 3x wider in bursts) read without quote
conversion (USDT books as quoted); "converted" the same market with the symbols file's
`quote:` conversion on. Writes bench/results/crossed.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import yaml

from cobflow.capture import write_capture
from cobflow.config import load_symbols
from cobflow.connectors.simulator import SimConfig, simulate
from cobflow.dataflows.sinks.parquet import read_table

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "crossed.json"
CONFIGS = {"demo (symbols.yaml)": ROOT / "symbols.yaml",
           "benchmark (2 x 5 venues)": ROOT / "tests" / "data" / "cob_e2e.yaml"}
BEFORE = {"basis_bps": 3.0, "usdt_bps": 0.0, "burst_spread": 1.0}
MARKETS = {"before": (BEFORE, False), "raw": ({}, False), "converted": ({}, True)}


def crossed(config: Path, seconds: float, seed: int, market: dict, convert: bool) -> dict[str, dict]:
    with tempfile.TemporaryDirectory() as tmp:
        capture = Path(tmp) / "sim.jsonl"
        write_capture(capture, simulate(load_symbols(config), SimConfig(seed=seed, duration_s=seconds, alpha=1.0,
                                                                         **market)))
        if not convert:  # the same file without its quote conversions
            data = yaml.safe_load(config.read_text())
            for spec in data["symbols"].values():
                spec.pop("quote", None)
            config = Path(tmp) / "as_quoted.yaml"
            config.write_text(yaml.safe_dump(data))
        subprocess.run([sys.executable, "-m", "cobflow", "--config", str(config), "compute", "--input", str(capture),
                        "--out", str(Path(tmp) / "out")], check=True, capture_output=True)
        t = read_table(Path(tmp) / "out", "cob_summary")
        out = {}
        for sym in sorted(set(t["symbol"].to_pylist())):
            c = np.array(t.filter(pc.equal(t["symbol"], sym)).sort_by("ts")["crossed"].to_pylist(), dtype=bool)
            longest = max(len(run) for run in "".join("x" if v else "." for v in c).split("."))
            out[sym] = {"seconds": len(c), "crossed": int(c.sum()), "share": float(c.mean()), "longest_s": longest}
        return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=3600.0)
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    a = p.parse_args()
    results = []
    print(f"{'config':26s} {'seed':>4s} {'market':>9s} {'symbol':8s} {'crossed':>18s} {'longest':>8s}")
    for name, config in CONFIGS.items():
        for seed in a.seeds:
            for market, (sim, convert) in MARKETS.items():
                for sym, r in crossed(config, a.seconds, seed, sim, convert).items():
                    results.append({"config": name, "seed": seed, "market": market, "symbol": sym, **r})
                    print(f"{name:26s} {seed:4d} {market:>9s} {sym:8s} {r['crossed']:5d} of {r['seconds']:5d} "
                          f"({100 * r['share']:6.2f}%) {r['longest_s']:6d} s", flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"seconds": a.seconds, "results": results}, indent=1) + "\n")
    print(f"results: {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
