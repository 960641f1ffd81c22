"""Scale: the cost per symbol from 2 to 50 symbols (five venues each), what one symbol's state
holds after a day, and what a cluster of two processes gives on 20 symbols.

    python bench/scale.py                           # 2, 10, 20, 50 symbols x 5 venues, 10 min each
    python bench/scale.py --symbols 2 10 --seconds 120 --no-cluster   # a quick look
    python bench/scale.py --state-only        # part 2 alone (updates the results file)
    python bench/scale.py --cluster-only      # part 3 alone (updates the results file)

1. the sweep: the simulator writes N symbols x 5 venues (binance, coinbase, kraken, okx,
   bybit; USDT books converted at coinbase's USDT-USD) for `--seconds`; then, in file mode on
   one worker, the COB flow (`cobflow compute`'s) and the strategy flow (COB, features, the
   small models as `make demo` trains them, signals, decisions, paper account). Each prints
   msg/s, symbol-seconds per wall second and peak RSS; each N's rate is set against N = 2's.
2. state per symbol: one symbol's indicator series (the state that grew with its history),
   fed one and then three days of bars in every timeframe (86,400 1 s bars a day, 1,440 1 m,
   24 1 h, 1 1 d), pickled as the recovery store keeps it.
3. the cluster: the strategy flow on the 20-symbol capture with `--processes 2` (a Bytewax
   cluster of two processes on this machine) against one process, and two independent
   one-process runs side by side: what this machine gives two busy processes at the time
   (its ceiling for any cluster), three alternating rounds, medians.

Writes bench/results/scale.json.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "scale.json"
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


def cluster(case: tuple[Path, Path, int], models: Path, tmp: Path, seconds: float, rounds: int) -> dict:
    """The strategy flow on the 20-symbol capture: one process, a cluster of two processes
    (addresses on this machine, as across machines), and, as the ceiling of this machine at
    that moment, two independent one-process runs side by side (what two busy processes get
    of its two cores). Rounds alternate; the medians are the results. CPU time: the flow's
    processes' user + system time."""
    import statistics
    import subprocess

    from cob import run_flow_sampled, start_flow, throughput  # bench/cob.py

    from cobflow.app.runflow import file_flow

    config, capture, count = case
    env = {**os.environ, "COBFLOW_SYMBOLS_FILE": str(config), "COBFLOW_MODELS__DIR": str(models)}
    runs: dict[str, list[dict]] = {"one_process": [], "two_processes": [], "two_independent_processes": []}
    for i in range(rounds):
        for label, procs in (("one_process", 1), ("two_processes", 2)):
            subprocess.run(["rm", "-rf", str(tmp / f"cluster-{procs}")], check=True)
            locator = file_flow(capture, tmp / f"cluster-{procs}", config, strategy=True)
            r = throughput(count, seconds, procs, run_flow_sampled(locator, env, processes=procs))
            runs[label].append(r)
            print(f"round {i + 1}: strategy flow, 20 symbols, {label.replace('_', ' ')}: {r['wall_s']:.1f} s wall, "
                  f"{r['flow_cpu_s']:.1f} s CPU, {r['msg_per_s']:,.0f} msg/s", flush=True)
        for k in "ab":
            subprocess.run(["rm", "-rf", str(tmp / f"alone-{k}")], check=True)
        t0 = time.perf_counter()
        pair = [p for k in "ab" for p in start_flow(file_flow(capture, tmp / f"alone-{k}", config, strategy=True), env)]
        for p in pair:
            p.wait()
        wall = time.perf_counter() - t0
        runs["two_independent_processes"].append({"wall_s": wall})
        print(f"round {i + 1}: two independent one-process runs side by side: {wall:.1f} s wall", flush=True)
    med = {k: statistics.median(r["wall_s"] for r in v) for k, v in runs.items()}
    out: dict = {"rounds": runs, "median_wall_s": med, "speed_up": med["one_process"] / med["two_processes"],
                 "ceiling_speed_up": 2 * med["one_process"] / med["two_independent_processes"],
                 "cpu_s_median": {k: statistics.median(r["flow_cpu_s"] for r in runs[k])
                                  for k in ("one_process", "two_processes")},
                 "target_speed_up": 1.7}
    out["of_ceiling"] = out["speed_up"] / out["ceiling_speed_up"]
    print(f"two processes against one: {out['speed_up']:.2f}x (target 1.7x); two independent runs side by side "
          f"give {out['ceiling_speed_up']:.2f}x on this machine now: the cluster has {out['of_ceiling']:.0%} of "
          f"what two processes can have; CPU {out['cpu_s_median']['two_processes']:.1f} s against "
          f"{out['cpu_s_median']['one_process']:.1f} s", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--symbols", type=int, nargs="+", default=[2, 10, 20, 50], help="symbol counts of the sweep")
    ap.add_argument("--seconds", type=float, default=600.0, help="simulated seconds per capture (default 10 min)")
    ap.add_argument("--no-cluster", action="store_true", help="skip the two-process cluster")
    ap.add_argument("--cluster-rounds", type=int, default=3, help="alternating rounds of the cluster's runs")
    ap.add_argument("--state-only", action="store_true",
                    help="measure the indicator state alone and update it in the results file")
    ap.add_argument("--cluster-only", action="store_true",
                    help="part 3 alone (the 20-symbol capture and the cluster; updates the results file)")
    args = ap.parse_args()
    if args.state_only:
        results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        if not args.cluster_only:
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
    from cobflow.connectors.simulator.universe import symbols_yaml

    results: dict = {"seconds_of_market": args.seconds, "cpus": os.cpu_count(), "venues_per_symbol": 5,
                     "sweep": {}}
    if args.cluster_only:
        results = json.loads(RESULTS.read_text()) if RESULTS.exists() else results
        args.symbols = []
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
        if not args.cluster_only:
            results["indicator_state_per_symbol"] = show_state()
        if not args.no_cluster:
            results["cluster_20_symbols"] = cluster(captures[20], models, tmp, args.seconds, args.cluster_rounds)
        if args.cluster_only:
            results["cluster_20_symbols"]["when"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
