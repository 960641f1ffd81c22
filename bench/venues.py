"""Parse + apply throughput per venue (recorded fixtures and simulated current formats), and
the simulator's throughput to a file. Prints a table and writes bench/results/connectors.json.

    python bench/venues.py [--sim-seconds 600]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

from cobflow.config import PROJECT_ROOT, load_symbols
from cobflow.connectors.cryptofeed import import_cryptofeed
from cobflow.connectors.simulator import SimConfig, simulate
from cobflow.connectors.simulator.to_file import simulate_to_file
from cobflow.connectors.verify import BookChecker

ROOT = Path(__file__).resolve().parent.parent
CAPTURES = PROJECT_ROOT / "tests" / "fixtures" / "captures"
FIXTURES = {
    "binance": ["BINANCE.ws.1.0", "BINANCE.http.0.0"], "coinbase": ["COINBASE.ws.28.0"],
    "kraken": ["KRAKEN.ws.50.0"], "bitfinex": ["BITFINEX.ws.11.0"], "htx": ["HUOBI.ws.44.0"],
    "okx": ["OKX.ws.1.0"], "bybit": ["BYBIT.ws.25.0"],
}
ALL_VENUES = ROOT / "tests" / "data" / "all_venues.yaml"


def parse_apply_rate(messages: list, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        checker = BookChecker()
        start = time.perf_counter()
        for raw in messages:
            checker.feed(raw)
        best = min(best, time.perf_counter() - start)
    return len(messages) / best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sim-seconds", type=float, default=600.0)
    args = ap.parse_args()
    results: dict = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                                 "platform": platform.platform()}, "parse_apply": {}, "simulator": {}}
    sim = list(simulate(load_symbols(ALL_VENUES), SimConfig(seed=1, duration_s=120)))
    print(f"{'venue':10s} {'fixture msgs':>12s} {'fixture msg/s':>14s} {'sim msgs':>9s} {'sim msg/s':>10s}")
    for venue, files in FIXTURES.items():
        fixture = import_cryptofeed([CAPTURES / f for f in files]) if CAPTURES.is_dir() else []
        simulated = [m for m in sim if m.exchange == venue]
        r_fix = parse_apply_rate(fixture) if fixture else None
        r_sim = parse_apply_rate(simulated)
        results["parse_apply"][venue] = {"fixture_messages": len(fixture), "fixture_msg_per_s": r_fix,
                                         "sim_messages": len(simulated), "sim_msg_per_s": r_sim}
        print(f"{venue:10s} {len(fixture):12d} {r_fix or 0:14,.0f} {len(simulated):9d} {r_sim:10,.0f}")
    symbols = load_symbols(ALL_VENUES)
    with tempfile.TemporaryDirectory() as tmp:
        for workers in (1, 2):
            for suffix in (".jsonl", ".jsonl.gz"):
                out = Path(tmp) / f"sim{suffix}"
                start = time.perf_counter()
                n = simulate_to_file(symbols, SimConfig(seed=1, duration_s=args.sim_seconds), out, workers=workers)
                el = time.perf_counter() - start
                key = f"workers={workers} {suffix}"
                results["simulator"][key] = {"messages": n, "seconds": el, "msg_per_s": n / el,
                                             "market_seconds": args.sim_seconds, "bytes": out.stat().st_size}
                print(f"simulator to {suffix:9s} {workers} worker(s): {n:,} messages in {el:.2f} s "
                      f"= {n / el:,.0f} msg/s ({args.sim_seconds / el:,.0f} s of market per s)")
    out = ROOT / "bench" / "results" / "connectors.json"
    out.write_text(json.dumps(results, indent=2))
    print(f"results written to {out}")


if __name__ == "__main__":
    main()
