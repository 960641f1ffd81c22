"""Endurance: the strategy flow following Kafka with a recovery store, as `docker compose up`
runs it for weeks, fed several simulated days as fast as it reads them. Day by day: the
flow's RSS (its processes together), what one epoch's snapshot holds (the recovery store's newest epoch, every step),
and the market seconds it gets through per wall second. All three should stay flat: a state
that grows with its history makes every snapshot copy more and the flow slower each day.

    python bench/endurance.py               # 3 days of BTC-USD and ETH-USD on coinbase, a tenth of the rate
    python bench/endurance.py --days 1      # a quick look

Uses the servers of `cobflow services` (started if needed, in a scratch namespace) and
writes bench/results/endurance.json.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "endurance.json"
CONFIG = """symbols:
  BTC-USD:
    bucket: 10
    venues: {coinbase: BTC-USD}
  ETH-USD:
    bucket: 2bps
    venues: {coinbase: ETH-USD}
"""
DAY_NS = 86_400 * 1_000_000_000


def snapshot_bytes(recovery: Path) -> int | None:
    """Bytes of the newest epoch's snapshots (each step's state per key, as Bytewax keeps them)."""
    total, found = 0, False
    for db in recovery.glob("*.sqlite3"):
        try:
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as con:
                rows = con.execute("select s.step_id, s.state_key, length(s.ser_change) from snaps s join "
                                   "(select step_id, state_key, max(snap_epoch) e from snaps group by step_id, "
                                   "state_key) m on s.step_id = m.step_id and s.state_key = m.state_key "
                                   "and s.snap_epoch = m.e").fetchall()
        except sqlite3.Error:
            continue
        found = found or bool(rows)
        total += sum(n or 0 for _, _, n in rows)
    return total if found else None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=int, default=3, help="simulated days fed (default 3)")
    ap.add_argument("--rate", type=float, default=0.1,
                    help="the simulator's rate scale (default 0.1: the days' seconds, bars and snapshots "
                         "at a tenth of the messages)")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "bench"))
    from cob import servers_up, stop  # bench/cob.py
    from idle import tree_cpu_s, tree_rss_mb  # bench/idle.py
    from soak import newest_second  # bench/soak.py

    from cobflow.app.services.namespace import scratch_namespace
    from cobflow.config import load_settings, load_symbols
    from cobflow.connectors.simulator import SimConfig
    from cobflow.connectors.simulator.to_file import simulate_to_file

    samples: list[dict] = []
    with servers_up():
        with scratch_namespace(load_settings()) as (settings, env), tempfile.TemporaryDirectory() as tmp_:
            tmp = Path(tmp_)
            config = tmp / "symbols.yaml"
            config.write_text(CONFIG)
            env["COBFLOW_SYMBOLS_FILE"] = str(config)
            env["COBFLOW_MODELS__DIR"] = str(tmp / "models")
            start_ns = (time.time_ns() - args.days * DAY_NS) // 1_000_000_000 * 1_000_000_000
            capture = tmp / "days.jsonl.gz"
            n = simulate_to_file(load_symbols(config), SimConfig(seed=5, duration_s=args.days * 86_400.0,
                                                                 start_ns=start_ns, rate_scale=args.rate), capture)
            print(f"capture: {n:,} raw messages, {args.days} days of 2 symbols on coinbase "
                  f"(rate x{args.rate:g})", flush=True)
            recovery = tmp / "recovery"
            flow = subprocess.Popen([sys.executable, "-m", "cobflow", "run", "strategy", "--follow", "--train-if-none",
                                     "--recovery", str(recovery)], env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            replay = None
            try:
                while not any((tmp / "models").glob("cnn/*.pt")):  # small models first (--train-if-none)
                    if flow.poll() is not None:
                        raise SystemExit(f"the flow ended early (exit {flow.returncode})")
                    time.sleep(1)
                replay = subprocess.Popen([sys.executable, "-m", "cobflow", "replay", str(capture)], env=env,
                                          stdout=subprocess.DEVNULL, stderr=(tmp / "replay.log").open("w"))
                t0 = time.monotonic()
                end_s = (start_ns + args.days * DAY_NS) / 1e9
                print(f"{'wall s':>7s} {'market day':>10s} {'RSS MB':>7s} {'snapshot MB':>12s} {'CPU s':>7s}")
                last_progress = (time.monotonic(), None)
                while True:
                    time.sleep(10)
                    if flow.poll() is not None:
                        raise SystemExit(f"the flow ended early (exit {flow.returncode})")
                    newest = newest_second(settings)
                    snap = snapshot_bytes(recovery)
                    s = {"wall_s": time.monotonic() - t0, "newest_s": newest, "rss_mb": tree_rss_mb(flow.pid),
                         "snapshot_bytes": snap, "cpu_s": tree_cpu_s(flow.pid)}
                    s["day"] = None if newest is None else (newest * 1e9 - start_ns) / DAY_NS
                    samples.append(s)
                    print(f"{s['wall_s']:>7.0f} {s['day'] if s['day'] is not None else float('nan'):>10.2f} "
                          f"{s['rss_mb'] or 0:>7.0f} {(snap or 0) / 1e6:>12.2f} {s['cpu_s']:>7.0f}", flush=True)
                    if newest is not None and newest >= end_s - 120:
                        break
                    if newest != last_progress[1]:
                        last_progress = (time.monotonic(), newest)
                    elif time.monotonic() - last_progress[0] > 300:
                        said = (tmp / "replay.log").read_text().strip()[-300:]
                        raise SystemExit(f"the flow made no progress for 5 minutes (replay: {said or 'no output'})")
            finally:
                stop(replay, flow)
    per_day = []
    for d in range(args.days):
        xs = [s for s in samples if s["day"] is not None and d <= s["day"] < d + 1]
        if len(xs) < 2:
            continue
        span = xs[-1]["wall_s"] - xs[0]["wall_s"]
        per_day.append({
            "day": d + 1, "samples": len(xs),
            "rss_mb_mean": sum(s["rss_mb"] or 0 for s in xs) / len(xs),
            "rss_mb_max": max(s["rss_mb"] or 0 for s in xs),
            "snapshot_mb_last": (xs[-1]["snapshot_bytes"] or 0) / 1e6,
            "snapshot_mb_max": max(s["snapshot_bytes"] or 0 for s in xs) / 1e6,
            "market_s_per_wall_s": (xs[-1]["day"] - xs[0]["day"]) * 86_400 / span if span else None,
            "cpu_share_of_core": (xs[-1]["cpu_s"] - xs[0]["cpu_s"]) / span if span else None,
        })
    for r in per_day:
        print(f"day {r['day']}: RSS mean {r['rss_mb_mean']:.0f} MB (max {r['rss_mb_max']:.0f}), snapshot at the "
              f"day's end {r['snapshot_mb_last']:.2f} MB (max {r['snapshot_mb_max']:.2f}), "
              f"{r['market_s_per_wall_s'] or 0:,.0f} market s per wall s")
    RESULTS.write_text(json.dumps({"days": args.days, "messages": n, "per_day": per_day, "samples": samples},
                                  indent=2) + "\n")
    print(f"written {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
