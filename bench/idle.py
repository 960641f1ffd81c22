"""An idle live flow's CPU: the strategy flow (COB, features, models, paper account) follows
Kafka into QuestDB with a recovery store, as `docker compose up` runs it; a simulated minute
is fed and read; then nothing comes, and the flow's CPU time is measured over a quiet span.
A caught-up flow should cost close to nothing (target: under 2% of one core).

    python bench/idle.py                 # 60 s measured
    python bench/idle.py --quiet-s 20    # a quick look

Uses the servers of `cobflow services` (started if needed, in a scratch namespace) and
writes bench/results/idle.json: the flow's CPU as a share of one core over the quiet span,
beside the same measure over the busy minute before it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "tests" / "data" / "cob_e2e.yaml"
RESULTS = ROOT / "bench" / "results" / "idle.json"


def children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def tree_rss_mb(pid: int) -> float:
    """RSS of a process and its live children, MB."""
    sys.path.insert(0, str(ROOT / "bench"))
    from cob import rss_mb  # bench/cob.py

    return (rss_mb(pid) or 0.0) + sum(tree_rss_mb(c) for c in children(pid))


def tree_cpu_s(pid: int) -> float:
    """CPU seconds of a process and its live children (the flow's `bytewax.run` processes)."""
    sys.path.insert(0, str(ROOT / "bench"))
    from cob import cpu_s  # bench/cob.py

    return (cpu_s(pid) or 0.0) + sum(tree_cpu_s(c) for c in children(pid))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quiet-s", type=float, default=60.0, help="the quiet span measured (seconds)")
    ap.add_argument("--feed-s", type=float, default=60.0, help="simulated seconds fed first, in real time")
    ap.add_argument("--profile", type=Path, help="also record the quiet span with py-spy (raw stacks, subprocesses)")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "bench"))
    from cob import servers_up, stop  # bench/cob.py
    from soak import newest_second  # bench/soak.py

    from cobflow.app.services.namespace import scratch_namespace
    from cobflow.config import load_settings

    with servers_up():
        with scratch_namespace(load_settings()) as (settings, env), tempfile.TemporaryDirectory() as tmp:
            env["COBFLOW_SYMBOLS_FILE"] = str(CONFIG)
            env["COBFLOW_MODELS__DIR"] = str(Path(tmp) / "models")
            flow = subprocess.Popen([sys.executable, "-m", "cobflow", "run", "strategy", "--follow", "--train-if-none",
                                     "--recovery", str(Path(tmp) / "recovery")], env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            try:
                while not any((Path(tmp) / "models").glob("cnn/*.pt")):  # small models first (--train-if-none)
                    if flow.poll() is not None:
                        raise SystemExit(f"the flow ended early (exit {flow.returncode})")
                    time.sleep(1)
                time.sleep(15)  # the flow starts
                t0, c0 = time.monotonic(), tree_cpu_s(flow.pid)
                subprocess.run([sys.executable, "-m", "cobflow", "simulate", "--duration", f"{args.feed_s:g}",
                                "--start", "now", "--speed", "1", "--seed", "9"], env=env, check=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                deadline = time.time() + 120
                while time.time() < deadline:  # caught up: the newest second is the fed minute's last
                    newest = newest_second(settings)
                    if newest is not None and time.time() - newest < 15:
                        break
                    time.sleep(2)
                time.sleep(10)  # the last seconds close (the flow's idle timeout), sinks flush
                busy = (tree_cpu_s(flow.pid) - c0) / (time.monotonic() - t0)
                if flow.poll() is not None:
                    raise SystemExit(f"the flow ended early (exit {flow.returncode})")
                rss = tree_rss_mb(flow.pid)
                print(f"fed {args.feed_s:g} s of market in real time: the flow used {busy:.1%} of one core; "
                      f"its processes hold {rss:.0f} MB")
                t1, c1 = time.monotonic(), tree_cpu_s(flow.pid)
                if args.profile:
                    subprocess.run([str(Path(sys.executable).parent / "py-spy"), "record", "-s", "-r", "100", "-f",
                                    "raw", "-d", f"{args.quiet_s:g}", "-p", str(flow.pid), "-o", str(args.profile)],
                                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                else:
                    time.sleep(args.quiet_s)
                quiet = (tree_cpu_s(flow.pid) - c1) / (time.monotonic() - t1)
            finally:
                stop(flow)
    print(f"then nothing for {args.quiet_s:g} s: {quiet:.2%} of one core (target under 2%)")
    RESULTS.write_text(json.dumps({"feed_s": args.feed_s, "quiet_s": args.quiet_s, "busy_share_of_core": busy,
                                   "idle_share_of_core": quiet, "target_idle": 0.02,
                                   "rss_mb": rss}, indent=2) + "\n")
    print(f"written {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
