"""Does the walk-forward learn the planted signal, and only it? The long form of
tests/unit/test_walkforward.py's last test (which keeps seed 96 with the signal; the control
without it lives here), over several seeds: three simulated hours of 2
symbols x 5 venues per seed, with the signal planted (`--alpha 1`) and without it (`--alpha
0`, the same price path), each 30-minute test window traded by models trained on the hour
before it. Per seed and strategy: the net return after fees against no trades, and the
t-statistic of the test windows' minute returns (without the signal it should stay below 2).
Writes bench/results/walk_forward.json.

    python bench/walk_forward.py                          # seeds 96 97 98, combined (~8 min a seed)
    python bench/walk_forward.py --seeds 96 --strategies combined maker
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "walk_forward.json"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[96, 97, 98])
    ap.add_argument("--strategies", nargs="+", default=["combined"])
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    from tests.walkforward_market import walk_forward_on

    runs: list[dict] = []
    print(f"{'seed':>4s} {'alpha':>5s} {'strategy':>9s} {'net return':>10s} {'t':>6s} {'fills':>6s} {'fees':>7s} "
          f"{'buy&hold':>9s} {'wall s':>6s}")
    for seed in args.seeds:
        for alpha in (1.0, 0.0):
            t0 = time.perf_counter()
            with tempfile.TemporaryDirectory() as tmp:
                out = walk_forward_on(Path(tmp), seed, alpha, tuple(args.strategies))
            wall = time.perf_counter() - t0
            for strategy, (report, t) in out.items():
                m = report["metrics"]
                run = {"seed": seed, "alpha": alpha, "strategy": strategy, "net_return": m["total_return"],
                       "minute_return_t": t, "fills": m["fills"], "fees": m["fees"], "sharpe": m["sharpe"],
                       "buy_and_hold": report["baselines"]["buy_and_hold"]["total_return"],
                       "beats_no_trades": m["total_return"] > 0.0, "orders": report.get("orders", {}),
                       "wall_s_of_the_pair": wall}
                runs.append(run)
                print(f"{seed:>4d} {alpha:>5g} {strategy:>9s} {m['total_return']:>+10.4f} {t:>6.2f} {m['fills']:>6d} "
                      f"{m['fees']:>7,.0f} {run['buy_and_hold']:>+9.4f} {wall:>6.0f}", flush=True)
    planted = [r for r in runs if r["alpha"] == 1.0]
    none = [r for r in runs if r["alpha"] == 0.0]
    summary = {"with_signal_beats_no_trades": f"{sum(r['beats_no_trades'] for r in planted)} of {len(planted)}",
               "without_signal_t_below_2": f"{sum(r['minute_return_t'] < 2 for r in none)} of {len(none)}"}
    print(f"with the signal, above no trades after fees: {summary['with_signal_beats_no_trades']}; without it, "
          f"minute-return t below 2: {summary['without_signal_t_below_2']}")
    RESULTS.write_text(json.dumps({"hours": 3, "train": "1h", "test": "30m", "runs": runs, "summary": summary,
                                   "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}, indent=1) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
