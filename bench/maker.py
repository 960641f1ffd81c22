"""The maker strategy beside the taker one on the same walk-forward (issue 32): three simulated
hours of 2 symbols x 5 venues with the signal planted (`--alpha 1`, seed 96, the market of
tests/unit/test_walkforward.py, made by the same tests/walkforward_market.py), each 30-minute
test window traded by models trained on the hour before it, once by `combined` (market
orders, taker fees) and once by `maker` (the same calls worked with post-only limit orders at
the touch, a market order after max_wait_s). Prints return, fees by liquidity, fills, the
limit orders' fill ratio and queue wait of both, and writes bench/results/maker.json
(maker-power_prob.json with that queue model).

    python bench/maker.py                     # 3 h, seed 96 (about 15 minutes on 2 cores)
    python bench/maker.py --hours 1.5 --seed 97 --queue power_prob
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
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
    sys.path.insert(0, str(ROOT))
    from tests.walkforward_market import walk_forward_on

    results: dict = {"hours": args.hours, "seed": args.seed, "alpha": 1.0, "queue_model": args.queue, "runs": {}}
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        out = walk_forward_on(Path(tmp), args.seed, 1.0, ("combined", "maker"), hours=args.hours,
                              env={"COBFLOW_TRADING__QUEUE_MODEL": args.queue})
    wall = time.perf_counter() - t0
    print(f"simulated {args.hours:g} h (seed {args.seed}, alpha 1) and walked forward twice in {wall:.0f} s")
    for name, (report, _) in out.items():
        results["runs"][name] = {"metrics": {k: report["metrics"][k] for k in SHOWN},
                                 "orders": report.get("orders", {})}
    results["wall_s"] = wall
    runs = results["runs"]
    print(f"\n{'':18s} {'combined (taker)':>18s} {'maker':>18s}")
    for k in SHOWN:
        print(f"{k:18s} " + " ".join(f"{_fmt(runs[n]['metrics'][k]):>18s}" for n in ("combined", "maker")))
    for k in ORDERS:
        print(f"{k:18s} " + " ".join(f"{_fmt(runs[n]['orders'].get(k)):>18s}" for n in ("combined", "maker")))
    results["when"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    path = RESULTS if args.queue == "risk_averse" else RESULTS.with_name(f"maker-{args.queue}.json")
    path.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {path}")


def _fmt(v: object) -> str:
    if v is None:
        return "null"
    if isinstance(v, int):
        return f"{v:,}"
    assert isinstance(v, float)
    return f"{v:+.5f}" if abs(v) < 10 else f"{v:,.1f}"


if __name__ == "__main__":
    main()
