"""The order path's latency and its faults: intents written to a run's orders topic as the
strategy flow writes them, `cobflow trade` (a process of its own, live mode) sending them
through ccxt to the local Binance imitation (tests/exchange_imitation.py: HMAC checked, as the
venue does), its reports read back from the reports topic.

Two phases, side by side in one run:
- clean: market orders at --rate per second for --seconds; decision -> sent and decision ->
  ack (the venue's answer) per order, p50/p90/p99/max;
- faults: the same load while the imitation answers about 10% of placement requests with a
  429 (Retry-After 1 s), 5% with a 503 before taking the order, 5% by taking it and never
  answering (the gateway's request timeout: 2 s); every intent must end in exactly one venue
  order or a `rejected` report, none doubled, none lost. The gateway's senders (4 a venue,
  `COBFLOW_TRADING__SENDERS`) carry placements at once: a hung request holds up its own
  order only; a 429's wait holds up its sender.

    python bench/gateway.py                      # 60 s at 5 orders/s per phase
    python bench/gateway.py --seconds 20 --rate 2

Uses the servers of `cobflow services` (started if needed, in a scratch namespace) and writes
bench/results/gateway.json. The imitation answers in well under a millisecond: the figures
are cobflow's and ccxt's own cost, Kafka's hop and the transaction, not a venue's.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
KEY, SECRET = "bench-key-" + "1" * 54, "bench-secret-" + "2" * 51
SYMBOLS = "symbols:\n  BTC-USDT:\n    bucket: 1\n    venues: {binance: BTC-USDT}\n    trading: {route: binance}\n"


def pct(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    s = sorted(xs)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def read_reports(settings, topic: str) -> list:  # type: ignore[no-untyped-def]
    from confluent_kafka import Consumer, KafkaException, TopicPartition

    from cobflow.execution.live import loads

    c = Consumer({"bootstrap.servers": settings.kafka.servers, "group.id": "bench-read", "enable.auto.commit": False,
                  "isolation.level": "read_committed"})
    try:
        try:
            low, high = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=30)
        except KafkaException:
            return []
        if high <= low:
            return []
        c.assign([TopicPartition(topic, 0, low)])
        out = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and c.position([TopicPartition(topic, 0)])[0].offset < high:
            out += [loads(m.value()) for m in c.consume(1000, timeout=0.5) if not m.error()]
        return out
    finally:
        c.close()


def phase(name: str, settings, env: dict, tmp: Path, seconds: float, rate: float, faults: bool) -> dict:  # type: ignore[no-untyped-def]
    from confluent_kafka import Producer

    from cobflow.execution.live import ExecutionReport, OrderIntent, client_order_id, dumps
    from tests.exchange_imitation import BinanceImitation

    run = f"bench-{name}"
    venue = BinanceImitation(KEY, SECRET, balances={"USDT": 1e12, "BTC": 1e6})
    venue.add_market("BTCUSDT", "BTC", "USDT", [(50_000.0, 1e9)], [(50_010.0, 1e9)])
    url = venue.serve()
    genv = {**env, "COBFLOW_TRADING__MODE": "live", "COBFLOW_TRADING__RUN_ID": run,
            "COBFLOW_TRADING__ENDPOINTS": json.dumps({"binance": url}),
            "COBFLOW_TRADING__REQUEST_TIMEOUT_S": "2", "COBFLOW_TRADING__CONTROL_DIR": str(tmp / name),
            "COBFLOW_BINANCE_API_KEY": KEY, "COBFLOW_BINANCE_SECRET": SECRET}
    log = open(tmp / f"{name}.log", "ab")
    gw = subprocess.Popen([sys.executable, "-m", "cobflow", "trade"], env=genv, stdout=log, stderr=subprocess.STDOUT,
                          start_new_session=True)
    n = int(seconds * rate)
    rng = random.Random(7)
    try:
        deadline = time.monotonic() + 120
        while not (tmp / name / "gateway.json").exists():
            if gw.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the gateway did not start: see {tmp / f'{name}.log'}")
            time.sleep(0.2)
        p = Producer({"bootstrap.servers": settings.kafka.servers, "linger.ms": 0})
        t0 = time.monotonic()
        print(f"{name}: {n} market orders at {rate:g}/s through cobflow trade -> ccxt -> imitation", flush=True)
        for i in range(n):
            time.sleep(max(0.0, t0 + i / rate - time.monotonic()))
            if faults:
                r = rng.random()
                kind = "429" if r < 0.10 else "503" if r < 0.15 else "accept_then_hang" if r < 0.20 else "ok"
                venue.fail("POST /api/v3/order", kind, retry_after=1.0)
            second = int(time.time())  # a fresh decision (the gateway places no stale one)
            intent = OrderIntent(run=run, client_id=client_order_id(run, "BTC-USDT", second, i % 100),
                                 symbol="BTC-USDT", venue="binance", market="BTC/USDT", action="place",
                                 side="buy" if i % 2 == 0 else "sell", type="market", qty=0.001,
                                 decided_s=second, decided_ns=time.time_ns())
            p.produce(settings.kafka.orders_topic(run), dumps(intent), intent.client_id.encode())
            p.poll(0)
        p.flush(30)
        final: dict = {}
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            final = {r.client_id: r for r in read_reports(settings, settings.kafka.reports_topic(run))
                     if isinstance(r, ExecutionReport)}
            if len(final) >= n and all(r.status in ("filled", "rejected") for r in final.values()):
                break
            time.sleep(1.0)
    finally:
        os.killpg(gw.pid, signal.SIGINT)
        try:
            gw.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(gw.pid, signal.SIGKILL)
        venue.close()
        log.close()
    per_client: dict[str, int] = {}
    for o in venue.orders.values():
        per_client[o.client_id] = per_client.get(o.client_id, 0) + 1
    ms = 1e-6
    sent = [(r.sent_ns - r.decided_ns) * ms for r in final.values() if r.sent_ns]
    acked = [(r.acked_ns - r.decided_ns) * ms for r in final.values() if r.acked_ns and r.status == "filled"]
    statuses: dict[str, int] = {}
    for r in final.values():
        statuses[r.status] = statuses.get(r.status, 0) + 1
    out = {"intents": n, "reported": len(final), "statuses": statuses,
           "venue_orders": len(venue.orders), "doubled": sum(1 for c in per_client.values() if c > 1),
           "lost": n - len(final),
           "decision_to_sent_ms": {q: pct(sent, v) for q, v in (("p50", .5), ("p90", .9), ("p99", .99), ("max", 1))},
           "decision_to_ack_ms": {q: pct(acked, v) for q, v in (("p50", .5), ("p90", .9), ("p99", .99), ("max", 1))}}
    if faults:
        out["faults_answered"] = dict(venue.served)  # by the imitation: each a request of the gateway's
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--rate", type=float, default=5.0, help="orders per second")
    args = ap.parse_args()
    import tempfile

    from cobflow.app.services import Services
    from cobflow.app.services.namespace import scratch_namespace
    from cobflow.config import load_settings

    base = load_settings()
    svc = Services(base)
    started = svc.up()
    results: dict = {"seconds": args.seconds, "rate": args.rate}
    try:
        with scratch_namespace(base) as (settings, env), tempfile.TemporaryDirectory() as d:
            tmp = Path(d)
            (tmp / "symbols.yaml").write_text(SYMBOLS)
            env["COBFLOW_SYMBOLS_FILE"] = str(tmp / "symbols.yaml")
            for name, faults in (("clean", False), ("faults", True)):
                results[name] = phase(name, settings, env, tmp, args.seconds, args.rate, faults)
                r = results[name]
                a, s = r["decision_to_ack_ms"], r["decision_to_sent_ms"]
                print(f"  {r['intents']} intents, {r['reported']} reported {r['statuses']}, {r['venue_orders']} "
                      f"venue orders, doubled {r['doubled']}, lost {r['lost']}")
                print(f"  decision -> sent p50 {s['p50']:.1f} ms p99 {s['p99']:.1f} ms; decision -> ack p50 "
                      f"{a['p50']:.1f} ms p99 {a['p99']:.1f} ms max {a['max']:.1f} ms", flush=True)
                if faults:
                    print(f"  faults the venue answered: {r['faults_answered']}")
    finally:
        svc.stop(started)
    out = ROOT / "bench" / "results" / "gateway.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
