"""How often the simulated consolidated book is crossed, through the COB flow: per symbols
file, seed and basis rule, the share of seconds with `crossed = true` and the longest run of
them, side by side in one run (issue 38's target: at most 2% of seconds, no cross > 3 s).

    python bench/crossed.py [--seconds 600] [--seeds 1 2 3]

"old" is the simulator's former basis (+-3 bps whatever the spread), "new" the default
(within 0.4 of each venue's half-spread). Writes bench/results/crossed.json.
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

from cobflow.capture import write_capture
from cobflow.config import load_symbols
from cobflow.connectors.simulator import SimConfig, simulate
from cobflow.dataflows.sinks.parquet import read_table

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "crossed.json"
CONFIGS = {"demo (symbols.yaml)": ROOT / "symbols.yaml",
           "benchmark (2 x 5 venues)": ROOT / "tests" / "data" / "cob_e2e.yaml"}
RULES = {"old": 3.0, "new": None}


def crossed(config: Path, seconds: float, seed: int, basis_bps: float | None) -> dict[str, dict]:
    with tempfile.TemporaryDirectory() as tmp:
        capture = Path(tmp) / "sim.jsonl"
        write_capture(capture, simulate(load_symbols(config), SimConfig(seed=seed, duration_s=seconds, alpha=1.0,
                                                                         basis_bps=basis_bps)))
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
    p.add_argument("--seconds", type=float, default=600.0)
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    a = p.parse_args()
    results = []
    print(f"{'config':26s} {'seed':>4s} {'basis':>5s} {'symbol':8s} {'crossed':>16s} {'longest':>8s}")
    for name, config in CONFIGS.items():
        for seed in a.seeds:
            for rule, basis in RULES.items():
                for sym, r in crossed(config, a.seconds, seed, basis).items():
                    results.append({"config": name, "seed": seed, "basis": rule, "symbol": sym, **r})
                    print(f"{name:26s} {seed:4d} {rule:>5s} {sym:8s} {r['crossed']:5d} of {r['seconds']:4d} "
                          f"({100 * r['share']:5.2f}%) {r['longest_s']:6d} s", flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"seconds": a.seconds, "results": results}, indent=1) + "\n")
    print(f"results: {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
