"""The models: inference per second per symbol, training on one hour of 2 symbols, and the
COB flow's throughput beside the strategy flow's (the same COB flow with models, signals,
decisions and paper execution after it), alternating in one run.

    python bench/strategy.py               # the benchmark hour (2 symbols x 5 venues, --alpha 1)
    python bench/strategy.py --repeat 5

Targets (issue 17): both models together under 2 ms per symbol-second on one core; training
an hour of 2 symbols under 2 minutes. Prints the numbers and writes bench/results/strategy.json.
(Not named models.py: a script of that name would shadow the models package.)
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "tests" / "data" / "cob_e2e.yaml"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=3600.0)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    import torch
    from cob import run_flow_sampled, show, throughput  # bench/cob.py (this script's folder is on sys.path)

    from cobflow.app.compute import compute
    from cobflow.app.runflow import file_flow
    from cobflow.app.training import train
    from cobflow.config import load_settings, load_symbols
    from cobflow.connectors.simulator import SimConfig
    from cobflow.connectors.simulator.to_file import simulate_to_file
    from cobflow.models.runtime import ModelRunner
    from cobflow.models.train import TrainConfig

    torch.set_num_threads(1)
    results: dict = {"seconds_of_market": args.seconds, "cpus": os.cpu_count(), "torch": torch.__version__}
    with tempfile.TemporaryDirectory() as tmp_:
        tmp = Path(tmp_)
        settings = load_settings(symbols_file=CONFIG)
        capture = tmp / "sim.jsonl"
        n = simulate_to_file(load_symbols(CONFIG), SimConfig(seed=1, duration_s=args.seconds, alpha=1.0), capture)
        compute(settings, capture, tmp / "rows", progress=False)
        models = tmp / "models"
        timings = {}
        for kind in ("cnn", "dqn"):
            r = train(settings, kind, tmp / "rows", None, None, models, TrainConfig(), progress=False)
            timings[kind] = r.seconds
            print(f"train {kind} on {args.seconds:g} s of 2 symbols: {r.seconds:.1f} s "
                  f"({r.metrics['samples_train']:,} samples, 8 epochs), metrics {r.metrics}")
        results["train_s"] = {**timings, "both": sum(timings.values()), "target_s": 120}

        runner = ModelRunner(models, ["BTC-USD", "ETH-USD"])
        rng = np.random.default_rng(1)
        inputs = {s: (rng.normal(size=(60, 220)).astype(np.float32), rng.random((2, 60, 41)).astype(np.float32),
                      rng.normal(size=30).astype(np.float32), 0.0) for s in runner.symbols}
        for _ in range(20):
            runner.run(inputs)
        rounds = 500
        start = time.perf_counter()
        for _ in range(rounds):
            runner.run(inputs)
        per = (time.perf_counter() - start) / rounds / len(inputs) * 1e3
        results["inference_ms_per_symbol_second"] = {"cnn_and_dqn": per, "target_ms": 2.0}
        print(f"inference, cnn + dqn, one batch of 2 symbols per round, one thread: {per:.3f} ms per symbol-second")

        env = {**os.environ, "COBFLOW_SYMBOLS_FILE": str(CONFIG), "COBFLOW_MODELS__DIR": str(models)}
        runs: dict[str, list[dict]] = {"off": [], "on": []}
        for i in range(args.repeat):
            for mode in ("off", "on"):
                locator = file_flow(capture, tmp / f"out-{mode}", CONFIG, strategy=mode == "on")  # off: no torch
                runs[mode].append(throughput(n, args.seconds, 1, run_flow_sampled(locator, env)))
                show(f"file mode -w 1, strategy step {mode} (run {i + 1}/{args.repeat})", runs[mode][-1])
        med = {m: sorted(rs, key=lambda r: r["wall_s"])[len(rs) // 2] for m, rs in runs.items()}
        results["flow"] = {f"strategy_{m}": {**r, "runs_msg_per_s": [x["msg_per_s"] for x in runs[m]]}
                           for m, r in med.items()}
        cost = 1 - med["on"]["msg_per_s"] / med["off"]["msg_per_s"]
        results["flow"]["cost_share"] = cost
        print(f"COB flow {med['off']['msg_per_s']:,.0f} msg/s, strategy flow {med['on']['msg_per_s']:,.0f} msg/s "
              f"(medians of {args.repeat}): models, signals, decisions and execution cost {cost:.1%}")
    out = ROOT / "bench" / "results" / "strategy.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"results written to {out}")


if __name__ == "__main__":
    main()
