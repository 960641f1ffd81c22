"""A backtest of one simulated day of 2 symbols x 5 venues in file mode, beside the COB flow
alone on the same day in the same run: market seconds per wall second, raw messages per
second, RSS over the run (flat: no growth with the day). `--kafka` adds the strategy flow
reading the same day from Kafka into QuestDB (the servers of `cobflow services`).

    python bench/backtest.py                  # one day (86,400 s of market)
    python bench/backtest.py --seconds 3600   # an hour, for a quick look
    python bench/backtest.py --kafka

Targets: the day's backtest in under 3 minutes on the 2-core machine (issue 35; 10 minutes
in issue 19); `-w 2` (two processes) not slower than one worker. Prints the numbers and writes
bench/results/backtest.json (a shorter market: backtest-<seconds>s.json).
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=86_400.0)
    ap.add_argument("--kafka", action="store_true", help="also the strategy flow Kafka -> QuestDB")
    args = ap.parse_args()
    from cob import run_flow_sampled, show, throughput  # bench/cob.py (this script's folder is on sys.path)

    from cobflow.app.backtest import metrics_of
    from cobflow.app.demo import DemoOptions, ensure_models
    from cobflow.app.report.data import ParquetSource
    from cobflow.app.runflow import file_flow
    from cobflow.config import load_settings, load_symbols
    from cobflow.connectors.simulator import SimConfig
    from cobflow.connectors.simulator.to_file import simulate_to_file

    results: dict = {"seconds_of_market": args.seconds, "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp_:
        tmp = Path(tmp_)
        capture = tmp / "day.jsonl"
        start = time.perf_counter()
        n = simulate_to_file(load_symbols(CONFIG), SimConfig(seed=3, duration_s=args.seconds, alpha=1.0), capture)
        print(f"simulated {args.seconds:,.0f} s of 2 symbols x 5 venues: {n:,} messages in "
              f"{time.perf_counter() - start:.0f} s")
        models = tmp / "models"  # small models trained as `make demo` trains them (20 simulated minutes)
        print(ensure_models(load_settings(symbols_file=CONFIG, models={"dir": models}), DemoOptions()))
        env = {**os.environ, "COBFLOW_SYMBOLS_FILE": str(CONFIG), "COBFLOW_MODELS__DIR": str(models)}
        cob = throughput(n, args.seconds, 1, run_flow_sampled(file_flow(capture, tmp / "cob", CONFIG), env))
        show("COB flow alone, file mode -w 1", cob)
        bt = throughput(n, args.seconds, 1, run_flow_sampled(file_flow(capture, tmp / "bt", CONFIG, strategy=True),
                                                           env))
        show("backtest (strategy flow: features, models, decisions, paper execution), file mode -w 1", bt)
        # `cobflow backtest -w 2`: two processes of one worker (app/backtest.py processes_for);
        # two worker threads of one process, as it ran before, for the record
        bt2 = throughput(n, args.seconds, 2, run_flow_sampled(file_flow(capture, tmp / "bt2", CONFIG, strategy=True),
                                                            env, processes=2))
        show("the same backtest, -w 2 (two processes)", bt2)
        threads = throughput(n, args.seconds, 2, run_flow_sampled(file_flow(capture, tmp / "bt2t", CONFIG,
                                                                            strategy=True), env, workers=2))
        show("the same backtest, two worker threads of one process", threads)
        settings = load_settings(symbols_file=CONFIG, models={"dir": models})
        report, trips = metrics_of(ParquetSource(tmp / "bt"), settings)
        m = report["metrics"]
        print(f"the day's account: {m['fills']:,} fills, {len(trips):,} round trips, total return "
              f"{m['total_return']:+.4%}, fees {m['fees']:,.2f}")
        results["file_mode"] = {"cob_flow": cob, "backtest": bt, "backtest_w2": bt2, "backtest_two_threads": threads,
                                "w2_speedup": bt["wall_s"] / bt2["wall_s"],
                                "backtest_share_of_cob": bt["msg_per_s"] / cob["msg_per_s"], "metrics": m,
                                "target_wall_s": 180}
        print(f"backtest at {bt['msg_per_s'] / cob['msg_per_s']:.0%} of the COB flow's rate; the market in "
              f"{bt['wall_s'] / 60:.1f} min with one worker, {bt2['wall_s'] / 60:.1f} min with -w 2 (two processes: "
              f"{bt['wall_s'] / bt2['wall_s']:.2f}x), {threads['wall_s'] / 60:.1f} min on two threads")
        if args.kafka:
            from cob import kafka_throughput

            from cobflow.app.services import Services
            from cobflow.app.services.namespace import scratch_namespace

            base = load_settings()
            svc = Services(base)
            started = svc.up()
            try:
                with scratch_namespace(base) as (scoped, kenv):
                    kenv.update({"COBFLOW_SYMBOLS_FILE": str(CONFIG), "COBFLOW_MODELS__DIR": str(models)})
                    results["kafka_mode"] = kafka_throughput(scoped, kenv, capture, n, args.seconds, flow="strategy")
            finally:
                svc.stop(started)
    # the day's figures in backtest.json; a shorter market's beside them, named by its length
    name = "backtest.json" if args.seconds == 86_400 else f"backtest-{args.seconds:.0f}s.json"
    out = ROOT / "bench" / "results" / name
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"results written to {out}")


if __name__ == "__main__":
    main()
