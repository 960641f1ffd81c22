"""The COB dataflow's throughput on simulated traffic (2 symbols x 5 venues): file mode
(`cobflow compute`) per worker count, and the parts of the work per message.

    python bench/cob.py [--seconds 300]

Prints raw messages/s, seconds of market data per wall second and peak memory; writes
bench/results/cob.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CONFIG = ROOT / "tests" / "data" / "cob_e2e.yaml"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=300.0, help="seconds of simulated market")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args()
    from cobflow.capture import read_capture
    from cobflow.config import load_symbols
    from cobflow.simulator import SimConfig
    from cobflow.simulator.to_file import simulate_to_file

    results: dict = {"seconds_of_market": args.seconds, "compute": {}}
    with tempfile.TemporaryDirectory() as tmp:
        capture = Path(tmp) / "sim.jsonl"
        n = simulate_to_file(load_symbols(CONFIG), SimConfig(seed=1, duration_s=args.seconds), capture)
        results["messages"] = n
        # the parse + sync part alone, in this process
        from cobflow.verify import BookChecker
        msgs = list(read_capture(capture))
        checker = BookChecker()
        start = time.perf_counter()
        for m in msgs:
            checker.feed(m)
        results["parse_and_sync_msg_per_s"] = n / (time.perf_counter() - start)
        print(f"{n:,} raw messages, {args.seconds:.0f} s of market; parse+sync alone: "
              f"{results['parse_and_sync_msg_per_s']:,.0f} msg/s")
        for w in args.workers:
            out = Path(tmp) / f"out{w}"
            cmd = [sys.executable, "-m", "cobflow", "--config", str(CONFIG), "compute", "--input", str(capture),
                   "--output", str(out), "-w", str(w)]
            start = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True)
            el = time.perf_counter() - start
            if proc.returncode != 0:
                raise SystemExit(proc.stderr)
            peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
            r = {"wall_s": el, "msg_per_s": n / el, "msg_per_s_per_worker": n / el / w,
                 "market_s_per_wall_s": args.seconds / el, "peak_rss_mb": peak_mb}
            results["compute"][f"workers={w}"] = r
            print(f"cobflow compute -w {w}: {el:.1f} s wall = {n / el:,.0f} msg/s "
                  f"({n / el / w:,.0f} per worker), {args.seconds / el:,.0f} s of market per s, "
                  f"peak RSS {peak_mb:,.0f} MB (includes Python start-up)")
    out = ROOT / "bench" / "results" / "cob.json"
    out.write_text(json.dumps(results, indent=2))
    print(f"results written to {out}")


if __name__ == "__main__":
    main()
