"""The per-second walks of the venue books in the native core against their numpy reference,
side by side in one run: the arbitrage signal's executable prices (`signals.executable`)
and the levels handed to execution each second (`fills.venue_levels`). Both walked every
synced book in full, every second of every symbol, with numpy calls on arrays copied out
of the core; the native calls read the books where they are.

    python bench/per_second.py                   # 30 simulated minutes, 3 alternating rounds
    python bench/per_second.py --seconds 3600 --repeat 5

On one capture (2 symbols x 5 venues, as bench/backtest.py's day) the COB flow and the
backtest (the strategy flow: default strategy, small models as `make demo` trains them)
each run with the native walks and with numpy's (the same code with the native calls
answering None, as where the core is not built), runs alternating; the median of each, the
cost per symbol-second of market, and every table of the two runs compared (they must be
equal: decisions, orders, fills and equity included). Writes bench/results/per_second.json.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "tests" / "data" / "cob_e2e.yaml"

#: imported first by every Python of the numpy variant (PYTHONPATH): the native walks answer
#: None, so the flow takes the numpy code, as a build without the native core does
NUMPY_WALKS = """\
import cobflow.native as _n
_n.executable_prices = lambda books, qty: None
_n.book_levels = lambda books, notional: None
"""


def same_tables(a: Path, b: Path) -> dict[str, bool]:
    import pyarrow.parquet as pq

    names = sorted(p.name for p in a.iterdir() if p.is_dir())
    if names != sorted(p.name for p in b.iterdir() if p.is_dir()):
        return {"(the same tables)": False}
    return {t: pq.read_table(a / t).equals(pq.read_table(b / t)) for t in names}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=1800.0, help="simulated seconds (default 30 min)")
    ap.add_argument("--repeat", type=int, default=3, help="alternating rounds (default 3)")
    args = ap.parse_args()
    from cob import run_flow_sampled, show, throughput  # bench/cob.py (this script's folder is on sys.path)

    from cobflow.app.demo import DemoOptions, ensure_models
    from cobflow.app.runflow import file_flow
    from cobflow.config import load_settings, load_symbols
    from cobflow.connectors.simulator import SimConfig
    from cobflow.connectors.simulator.to_file import simulate_to_file

    symbols = load_symbols(CONFIG)
    symbol_seconds = args.seconds * len(symbols.symbols)
    results: dict = {"seconds_of_market": args.seconds, "symbols": len(symbols.symbols), "cpus": os.cpu_count(),
                     "repeat": args.repeat}
    with tempfile.TemporaryDirectory() as tmp_:
        tmp = Path(tmp_)
        capture = tmp / "capture.jsonl"
        t0 = time.perf_counter()
        n = simulate_to_file(symbols, SimConfig(seed=3, duration_s=args.seconds, alpha=1.0), capture)
        print(f"simulated {args.seconds:,.0f} s of 2 symbols x 5 venues: {n:,} messages in "
              f"{time.perf_counter() - t0:.0f} s")
        models = tmp / "models"
        print(ensure_models(load_settings(symbols_file=CONFIG, models={"dir": models}), DemoOptions()))
        patch = tmp / "numpy_walks"
        patch.mkdir()
        (patch / "sitecustomize.py").write_text(NUMPY_WALKS)
        env = {**os.environ, "COBFLOW_SYMBOLS_FILE": str(CONFIG), "COBFLOW_MODELS__DIR": str(models)}
        envs = {"native": env, "numpy": {**env, "PYTHONPATH": os.pathsep.join(
            [str(patch), *filter(None, [os.environ.get("PYTHONPATH")])])}}
        for flow, strategy in (("cob_flow", False), ("backtest", True)):
            runs: dict[str, list[dict]] = {v: [] for v in envs}
            for i in range(args.repeat):
                for variant, e in envs.items():
                    out = tmp / f"{flow}-{variant}"
                    r = throughput(n, args.seconds, 1, run_flow_sampled(file_flow(capture, out, CONFIG,
                                                                                  strategy=strategy), e))
                    runs[variant].append(r)
                    show(f"{flow}, {variant} walks (run {i + 1}/{args.repeat})", r)
            medians = {v: sorted(rs, key=lambda r: r["wall_s"])[len(rs) // 2] for v, rs in runs.items()}
            equal = same_tables(tmp / f"{flow}-native", tmp / f"{flow}-numpy")
            saved_us = (medians["numpy"]["wall_s"] - medians["native"]["wall_s"]) / symbol_seconds * 1e6
            results[flow] = {
                **{v: {**m, "runs_wall_s": [r["wall_s"] for r in runs[v]]} for v, m in medians.items()},
                "speedup": medians["numpy"]["wall_s"] / medians["native"]["wall_s"],
                "saved_us_per_symbol_second": saved_us,
                "tables_equal": equal,
            }
            print(f"{flow}: numpy walks {medians['numpy']['wall_s']:.1f} s, native {medians['native']['wall_s']:.1f} s "
                  f"(medians of {args.repeat}): {results[flow]['speedup']:.2f}x, {saved_us:,.0f} us saved per "
                  f"symbol-second; tables equal: {all(equal.values())} ({len(equal)} tables)")
            if not all(equal.values()):
                raise SystemExit(f"{flow}: the two runs' tables differ: {[t for t, ok in equal.items() if not ok]}")
    out = ROOT / "bench" / "results" / "per_second.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"results written to {out}")


if __name__ == "__main__":
    main()
