"""Scale: the cost per symbol from 2 to 50 symbols (five venues each), what one symbol's state
holds after a day, and what a cluster of two processes gives on 20 symbols.

    python bench/scale.py                           # 2, 10, 20, 50 symbols x 5 venues, 10 min each
    python bench/scale.py --symbols 2 10 --seconds 120 --no-cluster   # a quick look
    python bench/scale.py --state-only        # part 2 alone (updates the results file)

1. the sweep: the simulator writes N symbols x 5 venues (binance, coinbase, kraken, okx,
   bybit; USDT books converted at coinbase's USDT-USD) for `--seconds`; then, in file mode on
   one worker, the COB flow (`cobflow compute`'s) and the strategy flow (COB, features, the
   small models as `make demo` trains them, signals, decisions, paper account). Each prints
   msg/s, symbol-seconds per wall second and peak RSS; each N's rate is set against N = 2's.
2. state per symbol: one symbol's indicator series (the state that grew with its history),
   fed one and then three days of bars in every timeframe (86,400 1 s bars a day, 1,440 1 m,
   24 1 h, 1 1 d), pickled as the recovery store keeps it.
3. the cluster: the strategy flow on the 20-symbol capture with `--processes 2` (a Bytewax
   cluster of two processes on this machine) against one process.

Writes bench/results/scale.json.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "scale.json"
NAMES = ("BTC", "ETH", "SOL", "BNB", "XRP", "DOGE", "ADA", "AVAX", "LINK", "DOT", "LTC", "BCH", "ATOM", "UNI", "XLM",
         "ETC", "FIL", "APT", "ARB", "OP", "NEAR", "ICP", "INJ", "AAVE", "ALGO", "SAND", "MANA", "AXS", "EGLD", "XTZ",
         "EOS", "FLOW", "CHZ", "GRT", "MKR", "SNX", "CRV", "COMP", "ZEC", "DASH", "KSM", "RUNE", "ENJ", "BAT", "ZIL",
         "1INCH", "SUSHI", "YFI", "LRC", "KAVA")


def symbols_yaml(n: int) -> str:
    lines = ["symbols:"]
    for name in NAMES[:n]:
        lines += [f"  {name}-USD:", "    bucket: 2bps",
                  f"    venues: {{binance: {name}-USDT, coinbase: {name}-USD, kraken: {name}/USD, "
                  f"okx: {name}-USDT, bybit: {name}-USDT}}",
                  "    quote: {USDT: {market: coinbase:USDT-USD}}"]
    return "\n".join(lines) + "\n"


def days_of_indicator_state(days: tuple[int, ...] = (1, 3)) -> dict:
    """One symbol's indicator series after whole days of bars in each timeframe, pickled as the
    recovery store keeps them (bytes per timeframe, for each number of days)."""
    import math

    from cobflow.metrics.indicators import IndicatorSeries
    from cobflow.metrics.trades import TIMEFRAMES, Bar

    out = {}
    for tf, length in TIMEFRAMES.items():
        series = IndicatorSeries()
        i = 0
        for d in days:
            while i < d * 86_400 // length:
                p = 100 + math.sin(i / 50)
                series.add(Bar(i * length, "ALL", tf, p, p + 0.1, p - 0.1, p, 1.0, 0.5, 0.5, 1, p))
                i += 1
            out.setdefault(f"day_{d}", {})[tf] = len(pickle.dumps(series))
    return {k: {"bytes_per_timeframe": v, "mb_per_symbol": sum(v.values()) / 1e6} for k, v in out.items()}


def show_state() -> dict:
    state = days_of_indicator_state()
    for day, v in state.items():
        print(f"one symbol's indicator series after {day.replace('_', ' ')} (as the recovery store keeps it): "
              + ", ".join(f"{tf} {b / 1e6:.2f} MB" for tf, b in v["bytes_per_timeframe"].items())
              + f"; {v['mb_per_symbol']:.2f} MB")
    return state


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--symbols", type=int, nargs="+", default=[2, 10, 20, 50], help="symbol counts of the sweep")
    ap.add_argument("--seconds", type=float, default=600.0, help="simulated seconds per capture (default 10 min)")
    ap.add_argument("--no-cluster", action="store_true", help="skip the two-process cluster")
    ap.add_argument("--state-only", action="store_true",
                    help="measure the indicator state alone and update it in the results file")
    args = ap.parse_args()
    if args.state_only:
        results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        results["indicator_state_per_symbol"] = show_state()
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
        print(f"updated {RESULTS.relative_to(ROOT)}")
        return
    sys.path.insert(0, str(ROOT / "bench"))
    from cob import run_flow_sampled, throughput  # bench/cob.py

    from cobflow.app.demo import DemoOptions, ensure_models
    from cobflow.app.runflow import file_flow
    from cobflow.config import load_settings, load_symbols
    from cobflow.connectors.simulator import SimConfig
    from cobflow.connectors.simulator.to_file import simulate_to_file

    results: dict = {"seconds_of_market": args.seconds, "cpus": os.cpu_count(), "venues_per_symbol": 5,
                     "sweep": {}}
    with tempfile.TemporaryDirectory() as tmp_:
        tmp = Path(tmp_)
        models = tmp / "models"
        two = tmp / "two.yaml"
        two.write_text(symbols_yaml(2))
        print(ensure_models(load_settings(symbols_file=two, models={"dir": models}), DemoOptions()).splitlines()[-1])
        captures = {}
        for n in sorted(set(args.symbols) | ({20} if not args.no_cluster else set())):
            config = tmp / f"s{n}.yaml"
            config.write_text(symbols_yaml(n))
            capture = tmp / f"s{n}.jsonl"
            count = simulate_to_file(load_symbols(config), SimConfig(seed=3, duration_s=args.seconds), capture)
            captures[n] = (config, capture, count)
        print(f"{'symbols':>7s} {'messages':>10s} {'flow':>9s} {'wall s':>7s} {'msg/s':>8s} {'sym-s/s':>8s} "
              f"{'RSS MB':>7s} {'vs 2 symbols':>12s}")
        for n in args.symbols:
            config, capture, count = captures[n]
            env = {**os.environ, "COBFLOW_SYMBOLS_FILE": str(config), "COBFLOW_MODELS__DIR": str(models)}
            row = {"messages": count}
            for flow in ("cob", "strategy"):
                locator = file_flow(capture, tmp / f"out-{n}-{flow}", config, strategy=flow == "strategy")
                r = throughput(count, args.seconds, 1, run_flow_sampled(locator, env))
                r["symbol_seconds_per_s"] = n * args.seconds / r["wall_s"]
                row[flow] = r
                base = results["sweep"].get(str(min(args.symbols)), {}).get(flow, r)
                ratio = r["msg_per_s"] / base["msg_per_s"]
                r["msg_per_s_vs_smallest"] = ratio
                print(f"{n:>7d} {count:>10,} {flow:>9s} {r['wall_s']:>7.1f} {r['msg_per_s']:>8,.0f} "
                      f"{r['symbol_seconds_per_s']:>8,.0f} {r['peak_rss_mb']:>7.0f} {ratio:>11.0%}", flush=True)
            results["sweep"][str(n)] = row
        counts = sorted(int(k) for k in results["sweep"])
        if len(counts) > 1:
            lo, hi = results["sweep"][str(counts[0])], results["sweep"][str(counts[-1])]
            results["rss_mb_per_added_symbol"] = {
                f: (hi[f]["peak_rss_mb"] - lo[f]["peak_rss_mb"]) / (counts[-1] - counts[0]) for f in ("cob", "strategy")}
            print("peak RSS per added symbol (5 venues, {:g} s of history): COB flow {cob:.1f} MB, strategy flow "
                  "{strategy:.1f} MB".format(args.seconds, **results["rss_mb_per_added_symbol"]))
        results["indicator_state_per_symbol"] = show_state()
        if not args.no_cluster:
            config, capture, count = captures[20]
            env = {**os.environ, "COBFLOW_SYMBOLS_FILE": str(config), "COBFLOW_MODELS__DIR": str(models)}
            cluster = {}
            for label, procs in (("one_process", 1), ("two_processes", 2)):
                locator = file_flow(capture, tmp / f"cluster-{procs}", config, strategy=True)
                r = throughput(count, args.seconds, procs, run_flow_sampled(locator, env, processes=procs))
                cluster[label] = r
                print(f"strategy flow, 20 symbols, {label.replace('_', ' ')}: {r['wall_s']:.1f} s wall, "
                      f"{r['msg_per_s']:,.0f} msg/s", flush=True)
            cluster["speed_up"] = cluster["one_process"]["wall_s"] / cluster["two_processes"]["wall_s"]
            cluster["target_speed_up"] = 1.7
            results["cluster_20_symbols"] = cluster
            print(f"two processes against one: {cluster['speed_up']:.2f}x (target 1.7x)")
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
