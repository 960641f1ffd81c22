"""A soak run: the simulator at 10x its normal rate of updates and trades, in real time, into
Kafka for ten minutes, the COB flow following it into QuestDB as `docker compose up` runs
it. Each minute: the flow's consumer lag (records behind the ends of the raw topics, from
its own consumer_lag rows), its RSS, and the newest second in cob_summary against the wall
clock. Both should stay flat: a lag or a memory that grows means the flow cannot keep up.

    python bench/soak.py                       # 10 minutes, rate x10
    python bench/soak.py --minutes 2 --rate 5  # a quick look
    python bench/soak.py --symbols 50 --rate 2 # the live load of 50 symbols x 5 venues

`--symbols N`: N symbols on five venues each (bench/scale.py's list: binance, coinbase,
kraken, okx, bybit), instead of the two of tests/data/cob_e2e.yaml. The rate scale: at 1
the simulator sends each market's book diffs at its venue's pace (Binance's every 100 ms,
the fastest its spot diff-depth stream pushes, developers.binance.com "Diff. Depth
Stream": 1000ms or 100ms; Coinbase and Bybit every 50 ms on average) and 1-4 trades a second.

Uses the servers of `cobflow services` (started if needed, in a scratch namespace) and
writes bench/results/soak.json (soak-<N>symbols.json with `--symbols`).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "tests" / "data" / "cob_e2e.yaml"


def lag_now(settings) -> int | None:  # type: ignore[no-untyped-def]
    """Records behind, summed over the raw partitions, at the flow's latest measurement."""
    from cobflow.qdb import QuestDBError, query

    table = settings.questdb.table("consumer_lag")
    try:
        rows = query(settings.questdb, f"select topic, kafka_partition, last(lag) lag from {table} "
                                       f"where ts > dateadd('s', -30, now()) group by topic, kafka_partition")
    except QuestDBError:
        return None
    return sum(int(r["lag"]) for r in rows) if rows else None


def produced(settings) -> int | None:  # type: ignore[no-untyped-def]
    """Records in the raw topics so far (their partitions' high watermarks, summed): what the
    simulator has sent, to tell a producer that cannot keep up from a flow that cannot."""
    from confluent_kafka import Consumer, KafkaException, TopicPartition

    from cobflow.kafka_io import watermarks

    c = Consumer({"bootstrap.servers": settings.kafka.servers, "group.id": "cobflow-soak-unused"})
    try:
        md = c.list_topics(timeout=10)
        prefix = settings.kafka.raw_topic("")
        return sum(watermarks(c, TopicPartition(name, p), wait_s=10)[1]
                   for name, t in md.topics.items() if name.startswith(prefix) for p in t.partitions)
    except KafkaException:
        return None
    finally:
        c.close()


def newest_second(settings) -> float | None:  # type: ignore[no-untyped-def]
    from cobflow.qdb import QuestDBError, query

    try:
        rows = query(settings.questdb, f"select max(ts) m from {settings.questdb.table('cob_summary')}")
    except QuestDBError:
        return None
    m = rows[0]["m"] if rows else None
    if m is None:
        return None
    from datetime import datetime

    return datetime.fromisoformat(m.replace("Z", "+00:00")).timestamp()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--rate", type=float, default=10.0, help="the simulator's rate scale (updates and trades)")
    ap.add_argument("--symbols", type=int, default=0, help="N symbols x 5 venues (default: tests/data/cob_e2e.yaml)")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "bench"))
    import tempfile

    from cob import rss_mb, servers_up, start_flow, stop  # bench/cob.py

    from cobflow.app.runflow import kafka_flow
    from cobflow.app.services.namespace import scratch_namespace
    from cobflow.config import load_settings
    from cobflow.connectors.simulator.universe import symbols_yaml

    samples: list[dict] = []
    config = CONFIG
    if args.symbols:
        config = Path(tempfile.mkdtemp()) / f"soak-{args.symbols}.yaml"
        config.write_text(symbols_yaml(args.symbols))
    with servers_up():
        with scratch_namespace(load_settings()) as (settings, env):
            env["COBFLOW_SYMBOLS_FILE"] = str(config)
            (flow,) = start_flow(kafka_flow("cob", tail=True), env)
            sim = subprocess.Popen([sys.executable, "-m", "cobflow", "simulate", "--duration", "0", "--start", "now",
                                    "--speed", "1", "--seed", "9", "--rate-scale", f"{args.rate:g}"], env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            t0 = time.monotonic()
            print(f"soak: {args.symbols or 2} symbols x 5 venues, simulator x{args.rate:g} in real time -> Kafka -> "
                  f"COB flow (following) -> QuestDB, "
                  f"{args.minutes:g} min")
            print(f"{'minute':>6s} {'sent/s':>8s} {'lag (records)':>14s} {'flow RSS MB':>12s} "
                  f"{'newest second behind wall (s)':>30s}")
            try:
                minute, sent_before = 0, produced(settings) or 0
                while minute < args.minutes:
                    time.sleep(max(0.0, t0 + 60 * (minute + 1) - time.monotonic()))
                    minute += 1
                    if flow.poll() is not None or sim.poll() is not None:
                        raise SystemExit(f"a process ended early: flow {flow.poll()}, simulator {sim.poll()}")
                    newest, sent = newest_second(settings), produced(settings)
                    s = {"minute": minute, "lag": lag_now(settings), "rss_mb": rss_mb(flow.pid),
                         "behind_s": None if newest is None else time.time() - newest,
                         "sent_per_s": None if sent is None else (sent - sent_before) / 60}
                    sent_before = sent if sent is not None else sent_before
                    samples.append(s)
                    behind = "-" if s["behind_s"] is None else f"{s['behind_s']:.1f}"
                    rate = "-" if s["sent_per_s"] is None else f"{s['sent_per_s']:,.0f}"
                    print(f"{minute:>6d} {rate:>8s} {s['lag'] if s['lag'] is not None else '-':>14} "
                          f"{s['rss_mb'] or 0:>12.0f} {behind:>30s}", flush=True)
            finally:
                stop(sim, flow)
    half = len(samples) // 2
    first, second = samples[:half] or samples, samples[half:] or samples
    mean = lambda xs: sum(xs) / len(xs) if xs else None  # noqa: E731
    summary = {
        "minutes": args.minutes, "rate_scale": args.rate, "symbols": args.symbols or 2, "samples": samples,
        "rss_mb_first_half": mean([s["rss_mb"] for s in first if s["rss_mb"]]),
        "rss_mb_second_half": mean([s["rss_mb"] for s in second if s["rss_mb"]]),
        "lag_first_half": mean([s["lag"] for s in first if s["lag"] is not None]),
        "lag_second_half": mean([s["lag"] for s in second if s["lag"] is not None]),
        "sent_per_s": mean([s["sent_per_s"] for s in samples if s["sent_per_s"] is not None]),
    }
    print(f"RSS {summary['rss_mb_first_half']} -> {summary['rss_mb_second_half']} MB; "
          f"lag {summary['lag_first_half']} -> {summary['lag_second_half']} records (first half -> second half)")
    out = ROOT / "bench" / "results" / (f"soak-{args.symbols}symbols.json" if args.symbols else "soak.json")
    out.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"results written to {out}")


if __name__ == "__main__":
    main()
