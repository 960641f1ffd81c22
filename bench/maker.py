"""The maker strategy beside the taker one on the same walk-forward (issue 32): three simulated
hours of 2 symbols x 5 venues with the signal planted (`--alpha 1`, seed 96, the market of
tests/unit/test_walkforward.py), each 30-minute test window traded by models trained on the
hour before it, once by `combined` (market orders, taker fees) and once by `maker` (the
same calls worked with post-only limit orders at the touch, a market order after
max_wait_s). Prints return, fees by liquidity, fills, the limit orders' fill ratio and queue
wait of both, and writes bench/results/maker.json (maker-power_prob.json with that queue model).

    python bench/maker.py                     # 3 h, seed 96 (about 15 minutes on 2 cores)
    python bench/maker.py --hours 1.5 --seed 97 --queue power_prob
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "tests" / "data" / "cob_e2e.yaml"
RESULTS = ROOT / "bench" / "results" / "maker.json"
SHOWN = ("total_return", "sharpe", "max_drawdown", "fees", "turnover", "fills", "round_trips", "hit_rate")
ORDERS = ("maker_fills", "taker_fills", "maker_fees", "taker_fees", "limit_orders", "limit_fill_ratio",
          "queue_wait_s")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hours", type=float, default=3.0)
    ap.add_argument("--seed", type=int, default=96)
    ap.add_argument("--queue", default="risk_averse", choices=("risk_averse", "power_prob"))
    args = ap.parse_args()
    from cobflow.capture import write_capture
    from cobflow.config import load_symbols
    from cobflow.connectors.simulator import SimConfig, simulate

    results: dict = {"hours": args.hours, "seed": args.seed, "alpha": 1.0, "queue_model": args.queue, "runs": {}}
    with tempfile.TemporaryDirectory() as tmp_:
        tmp = Path(tmp_)
        config = tmp / "as_quoted.yaml"  # the walk-forward test's market: USDT books as quoted
        data = yaml.safe_load(CONFIG.read_text())
        for spec in data["symbols"].values():
            spec.pop("quote", None)
        config.write_text(yaml.safe_dump(data))
        capture = tmp / "market.jsonl.gz"
        t0 = time.perf_counter()
        write_capture(capture, simulate(load_symbols(config), SimConfig(
            seed=args.seed, duration_s=args.hours * 3600, alpha=1.0, usdt_bps=0.0, burst_spread=1.0)))
        print(f"simulated {args.hours:g} h (seed {args.seed}, alpha 1) in {time.perf_counter() - t0:.0f} s")
        env = {k: v for k, v in os.environ.items() if not k.startswith("COBFLOW_")}
        env["COBFLOW_TRADING__QUEUE_MODEL"] = args.queue
        for name in ("combined", "maker"):
            out = tmp / name
            t0 = time.perf_counter()
            proc = subprocess.run([sys.executable, "-m", "cobflow", "--config", str(config), "backtest",
                                   "--walk-forward", "--train", "1h", "--test", "30m", "--strategy", name,
                                   "--input", str(capture), "--out", str(out), "-q"],
                                  capture_output=True, text=True, env=env)
            if proc.returncode != 0:
                sys.exit(f"{name}: {proc.stderr.strip().splitlines()[-1:]}")
            report = json.loads((out / "report.json").read_text())
            results["runs"][name] = {"metrics": {k: report["metrics"][k] for k in SHOWN},
                                     "orders": report.get("orders", {}), "seconds": time.perf_counter() - t0}
            print(f"{name}: walk-forward in {time.perf_counter() - t0:.0f} s")
    runs = results["runs"]
    print(f"\n{'':18s} {'combined (taker)':>18s} {'maker':>18s}")
    for k in SHOWN:
        print(f"{k:18s} " + " ".join(f"{_fmt(runs[n]['metrics'][k]):>18s}" for n in ("combined", "maker")))
    for k in ORDERS:
        print(f"{k:18s} " + " ".join(f"{_fmt(runs[n]['orders'].get(k)):>18s}" for n in ("combined", "maker")))
    results["when"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    out = RESULTS if args.queue == "risk_averse" else RESULTS.with_name(f"maker-{args.queue}.json")
    out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {out}")


def _fmt(v: object) -> str:
    if v is None:
        return "null"
    if isinstance(v, int):
        return f"{v:,}"
    assert isinstance(v, float)
    return f"{v:+.5f}" if abs(v) < 10 else f"{v:,.1f}"


if __name__ == "__main__":
    main()
