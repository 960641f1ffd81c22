"""The COB dataflow on simulated traffic (2 symbols x 5 venues, tests/data/cob_e2e.yaml).

    python bench/cob.py                       # file mode and Kafka -> QuestDB mode
    python bench/cob.py --modes file          # no servers needed
    python bench/cob.py --seconds 600 --latency-seconds 30
    python bench/cob.py --modes file --layouts w1 w2 p2
    python bench/cob.py --modes features      # the features step off and on, side by side
    python bench/cob.py --modes quote         # the USDT quote conversion off and on, side by side

1. file mode (`cobflow compute`'s flow, capture -> Parquet): one worker, and a cluster of two
   processes (`--processes 2`; worker threads of one process share the GIL, see `--layouts`);
   each run `--repeat` times (default 3), all runs recorded, the median reported;
   (features): the same flow on one worker with its features step off and on, runs
   alternating, both medians and the features' cost printed side by side;
2. Kafka -> QuestDB throughput: the capture replayed into Kafka, then `--repeat` pairs of runs,
   the file flow and right after it the Kafka flow reading it all, the ratio taken per pair;
3. Kafka -> QuestDB latency: the simulator publishes in real time (`--start now --speed 1`)
   while the flow follows; QuestDB is polled every 100 ms for the newest second of each
   symbol, and every raw message's ts_recv is set against the wall-clock time its second
   became queryable (WAL applied) in QuestDB.

The flow's RSS (summed over its processes) is sampled every 0.25 s while it runs: over a
one-hour simulated market (the default), the RSS at 25/50/75/100% of the run shows whether
memory stays flat.
Prints the numbers and writes bench/results/cob.json (cob-<modes>.json for a subset of
modes). Kafka and QuestDB are started (and stopped afterwards) like the integration tests
do, in a scratch namespace.
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from cobflow.app.runflow import file_flow, flow_commands, kafka_flow
from cobflow.config import load_settings
from cobflow.times import parse_time

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "tests" / "data" / "cob_e2e.yaml"
POLL_S = 0.1
LAYOUTS = {"w1": (1, 1), "w2": (2, 1), "p2": (1, 2)}  # name -> (worker threads, processes)


# -- measuring a flow process ------------------------------------------------------------
@contextmanager
def servers_up() -> Iterator[None]:
    """The servers of `cobflow services` for the block: started if they were not (and then
    stopped after it), left running if they were."""
    from cobflow.app.services import Services

    svc = Services(load_settings())
    started = svc.up()
    try:
        yield
    finally:
        svc.stop(started)


def stop(*procs: subprocess.Popen | None) -> None:
    """Each process still running: terminated, killed after 30 s."""
    for p in procs:
        if p is not None and p.poll() is None:
            p.terminate()
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()


def rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def cpu_s(pid: int) -> float | None:
    """CPU seconds (user + system) the process has used so far."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class RssSampler(threading.Thread):
    """(seconds since start, RSS MB summed over the processes) every 0.25 s until all exit."""

    def __init__(self, procs: list[subprocess.Popen]) -> None:
        super().__init__(daemon=True)
        self.procs, self.samples = procs, []
        self.cpu: dict[int, float] = {}  # pid -> CPU seconds at its last look (0.25 s before its end at most)
        self.t0 = time.perf_counter()

    def run(self) -> None:
        while any(p.poll() is None for p in self.procs):
            mbs = [mb for mb in (rss_mb(p.pid) for p in self.procs if p.poll() is None) if mb is not None]
            for p in self.procs:
                c = cpu_s(p.pid)
                if c is not None:
                    self.cpu[p.pid] = c
            if mbs:  # none: the processes exited between the two looks
                self.samples.append((time.perf_counter() - self.t0, sum(mbs)))
            time.sleep(0.25)

    def summary(self) -> dict:
        if not self.samples:
            return {}
        t = np.array([s[0] for s in self.samples])
        mb = np.array([s[1] for s in self.samples])
        at = {f"rss_mb_at_{q}pct": float(np.interp(t[-1] * q / 100, t, mb)) for q in (25, 50, 75, 100)}
        return {"peak_rss_mb": float(mb.max()), **at,
                "rss_growth_mb_second_half": at["rss_mb_at_100pct"] - at["rss_mb_at_50pct"],
                "flow_cpu_s": sum(self.cpu.values())}


def start_flow(locator: str, env: dict, workers: int = 1, processes: int = 1) -> list[subprocess.Popen]:
    """The COB flow's processes, started as `cobflow run/compute` starts them."""
    return [subprocess.Popen(c, env=env, stdout=tempfile.TemporaryFile(), stderr=subprocess.STDOUT)
            for c in flow_commands(locator, workers, processes=processes, epoch_s=load_settings().flow.epoch_s)]


def output_of(proc: subprocess.Popen) -> str:
    proc.stdout.seek(0)  # type: ignore[union-attr]
    return proc.stdout.read().decode(errors="replace")  # type: ignore[union-attr]


def run_flow_sampled(locator: str, env: dict, workers: int = 1, processes: int = 1) -> dict:
    procs = start_flow(locator, env, workers, processes)
    sampler = RssSampler(procs)
    sampler.start()
    for p in procs:
        p.wait()
    wall = time.perf_counter() - sampler.t0
    sampler.join()
    for p in procs:
        if p.returncode != 0:
            raise SystemExit(f"the flow failed (exit {p.returncode}):\n{output_of(p)[-3000:]}")
    return {"wall_s": wall, **sampler.summary()}


def throughput(n: int, market_s: float, workers: int, r: dict) -> dict:
    el = r["wall_s"]
    return {**r, "msg_per_s": n / el, "msg_per_s_per_worker": n / el / workers, "market_s_per_wall_s": market_s / el}


def show(label: str, r: dict) -> None:
    print(f"{label}: {r['wall_s']:.1f} s wall = {r['msg_per_s']:,.0f} msg/s ({r['msg_per_s_per_worker']:,.0f} per "
          f"worker), {r['market_s_per_wall_s']:,.0f} s of market per s; RSS peak {r['peak_rss_mb']:.0f} MB, "
          f"at 25/50/75/100% {r['rss_mb_at_25pct']:.0f}/{r['rss_mb_at_50pct']:.0f}/"
          f"{r['rss_mb_at_75pct']:.0f}/{r['rss_mb_at_100pct']:.0f} MB (wall time includes start-up)")


# -- the benchmark -----------------------------------------------------------------------
def file_mode(capture: Path, n: int, market_s: float, layouts: list[str], tmp: Path, repeat: int) -> dict:
    """Each layout `repeat` times: this machine's speed varies between runs (a shared VM), so
    every run is recorded and the median run is the layout's result."""
    out: dict = {}
    for name in layouts:
        workers, processes = LAYOUTS[name]
        env = {**os.environ, "COBFLOW_SYMBOLS_FILE": str(CONFIG)}
        locator = file_flow(capture, tmp / f"parquet-{name}", CONFIG)
        label = f"workers={workers}" + (f",processes={processes}" if processes > 1 else "")
        title = f"file mode -w {workers}" + (f" --processes {processes}" if processes > 1 else "")
        runs = []
        for i in range(repeat):
            runs.append(throughput(n, market_s, workers * processes, run_flow_sampled(locator, env, workers, processes)))
            show(f"{title} (run {i + 1}/{repeat})", runs[-1])
        median = sorted(runs, key=lambda r: r["wall_s"])[len(runs) // 2]
        out[label] = {**median, "runs_msg_per_s": [r["msg_per_s"] for r in runs]}
        if repeat > 1:
            print(f"{title}: median of {repeat} runs {median['msg_per_s']:,.0f} msg/s "
                  f"({median['msg_per_s_per_worker']:,.0f} per worker); runs "
                  + ", ".join(f"{r['msg_per_s']:,.0f}" for r in runs))
    return out


def alternating(title: str, variants: dict[str, tuple[str, dict]], n: int, market_s: float,
                repeat: int) -> dict[str, dict]:
    """Each variant's (flow locator, env) on one worker, runs alternating (a, b, a, b, ...)
    so that this VM's drifting speed weighs on all alike: the median run of each."""
    runs: dict[str, list[dict]] = {name: [] for name in variants}
    for i in range(repeat):
        for name, (locator, env) in variants.items():
            runs[name].append(throughput(n, market_s, 1, run_flow_sampled(locator, env)))
            show(f"file mode -w 1, {title} {name} (run {i + 1}/{repeat})", runs[name][-1])
    out: dict[str, dict] = {}
    for name, rs in runs.items():
        median = sorted(rs, key=lambda r: r["wall_s"])[len(rs) // 2]
        out[name] = {**median, "runs_msg_per_s": [r["msg_per_s"] for r in rs]}
    return out


def features_cost(capture: Path, n: int, market_s: float, tmp: Path, repeat: int) -> dict:
    """The file flow on one worker with the features step off and on, side by side. The cost
    is 1 - (median rate on) / (median rate off)."""
    env = {**os.environ, "COBFLOW_SYMBOLS_FILE": str(CONFIG)}
    variants = {f"features_{mode}": (file_flow(capture, tmp / f"parquet-features-{mode}", CONFIG,
                                               features=mode == "on"), env) for mode in ("off", "on")}
    out: dict = alternating("features", variants, n, market_s, repeat)
    off, on = out["features_off"]["msg_per_s"], out["features_on"]["msg_per_s"]
    out["cost_share"] = 1 - on / off
    out["target_cost_share"] = 0.25
    print(f"features off {off:,.0f} msg/s, on {on:,.0f} msg/s (medians of {repeat}): the features cost "
          f"{out['cost_share']:.1%} of the COB flow's throughput (target < 25%); RSS with features "
          f"{out['features_on']['rss_mb_at_50pct']:.0f} MB at 50% and {out['features_on']['rss_mb_at_100pct']:.0f} MB "
          f"at 100% of the run")
    return out


def quote_cost(capture: Path, n: int, market_s: float, tmp: Path, repeat: int) -> dict:
    """The file flow (COB and features) on one worker with the benchmark's USDT conversion
    on (its symbols file) and off (the same file without `quote:`), side by side."""
    import yaml

    data = yaml.safe_load(CONFIG.read_text())
    for spec in data["symbols"].values():
        spec.pop("quote", None)
    as_quoted = tmp / "as_quoted.yaml"
    as_quoted.write_text(yaml.safe_dump(data))
    variants = {f"conversion_{mode}": (file_flow(capture, tmp / f"parquet-quote-{mode}", config),
                                       {**os.environ, "COBFLOW_SYMBOLS_FILE": str(config)})
                for mode, config in (("off", as_quoted), ("on", CONFIG))}
    out: dict = alternating("quote conversion", variants, n, market_s, repeat)
    off, on = out["conversion_off"]["msg_per_s"], out["conversion_on"]["msg_per_s"]
    out["cost_share"] = 1 - on / off
    print(f"quote conversion off {off:,.0f} msg/s, on {on:,.0f} msg/s (medians of {repeat}): it costs "
          f"{out['cost_share']:.1%} of the flow's throughput (the rate market's messages included)")
    return out


def kafka_throughput(settings, env: dict, capture: Path, n: int, market_s: float,  # type: ignore[no-untyped-def]
                     tmp: Path | None = None, repeat: int = 1, flow: str = "cob", profile: Path | None = None) -> dict:
    """The capture replayed into Kafka once, then `repeat` runs of the Kafka -> QuestDB flow
    (-w 1, fresh tables each run). With `tmp` (the COB flow), each run is paired with a run
    of the file flow (-w 1) right before it: this VM's speed drifts more between minutes than
    between two runs in a row, so the ratio is taken per pair and its median reported (with
    the median Kafka run)."""
    from cobflow.app.services import Services
    from cobflow.qdb import query, wait_for_wal

    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "cobflow", "replay", str(capture)], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    replay_s = time.perf_counter() - start
    print(f"replayed {n:,} messages into Kafka in {replay_s:.1f} s ({n / replay_s:,.0f} msg/s)")
    servers = {st.name: st.pid for st in Services(settings).status() if st.pid}
    file_env = {**os.environ, "COBFLOW_SYMBOLS_FILE": str(CONFIG)}
    pairs, runs = [], []
    for i in range(repeat):
        f = None if tmp is None else throughput(
            n, market_s, 1, run_flow_sampled(file_flow(capture, tmp / "parquet-pair", CONFIG), file_env))
        prefix = f"{settings.questdb.table_prefix}p{i}_"  # under the namespace's: removed with it
        before = {name: cpu_s(pid) or 0.0 for name, pid in servers.items()}
        r = throughput(n, market_s, 1, run_flow_sampled(kafka_flow(flow),
                                                        {**env, "COBFLOW_QUESTDB__TABLE_PREFIX": prefix}))
        r["servers_cpu_s"] = {name: (cpu_s(pid) or 0.0) - before[name] for name, pid in servers.items()}
        table = prefix + "cob_summary"
        wait_for_wal(settings.questdb, [table])
        r["cob_summary_rows"] = query(settings.questdb, f"select count() n from {table}")[0]["n"]
        runs.append(r)
        if f is None:
            show(f"kafka -> questdb -w 1 ({flow} flow, run {i + 1}/{repeat})", r)
            continue
        pairs.append({"file_msg_per_s": f["msg_per_s"], "kafka_msg_per_s": r["msg_per_s"],
                      "ratio": r["msg_per_s"] / f["msg_per_s"]})
        print(f"pair {i + 1}/{repeat}: file mode -w 1 {f['wall_s']:.1f} s = {f['msg_per_s']:,.0f} msg/s, "
              f"kafka -> questdb -w 1 ({flow} flow) {r['wall_s']:.1f} s = {r['msg_per_s']:,.0f} msg/s: "
              f"{pairs[-1]['ratio']:.0%} of file mode")
    r = sorted(runs, key=lambda x: x["wall_s"])[len(runs) // 2]
    show(f"kafka -> questdb -w 1 ({flow} flow), median of {repeat}", r)
    print(f"CPU used during that run ({os.cpu_count()} cores, {r['wall_s']:.1f} s wall): flow {r['flow_cpu_s']:.1f} s, "
          + ", ".join(f"{k} {v:.1f} s" for k, v in r["servers_cpu_s"].items())
          + " (the servers share the cores with the flow; file mode has them to itself)")
    r["runs_msg_per_s"] = [x["msg_per_s"] for x in runs]
    r["replay_msg_per_s"] = n / replay_s
    if pairs:
        r["pairs"] = pairs
        r["ratio_to_file_median"] = float(np.median([p["ratio"] for p in pairs]))
        r["target_ratio_to_file"] = 0.75
        print("Kafka -> QuestDB as a share of file mode, pair by pair: "
              + ", ".join(f"{p['ratio']:.0%}" for p in pairs)
              + f"; median {r['ratio_to_file_median']:.0%} (target at least 75%)")
    if profile is not None:
        r["profile"] = profiled_run(kafka_flow(flow), {**env, "COBFLOW_QUESTDB__TABLE_PREFIX":
                                                       f"{settings.questdb.table_prefix}prof_"}, profile)
    return r


def profiled_run(locator: str, env: dict, out: Path) -> dict:
    """The same run again under py-spy (bench/flow_profile.py): where its wall time goes."""
    from flow_profile import profiled, shares  # bench/flow_profile.py
    from flow_profile import show as show_shares

    (cmd,) = flow_commands(locator, 1, epoch_s=load_settings().flow.epoch_s)
    start = time.perf_counter()
    subprocess.run(profiled(cmd, out), env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    s = {"wall_s": time.perf_counter() - start, **shares(out)}
    print(show_shares(f"profile of a second run ({s['wall_s']:.1f} s wall under py-spy, stacks in {out})", s))
    return s


def kafka_latency(settings, env: dict, seconds: float, lateness: float | None = None) -> dict:  # type: ignore[no-untyped-def]
    """Real-time simulator -> Kafka -> flow (following) -> QuestDB, polled for each second's
    arrival. `lateness`: the flow runs with FlowSettings.lateness_s."""
    from cobflow.config import load_symbols
    from cobflow.kafka_io import record
    from cobflow.qdb import QuestDBError, query

    cob_log = Path(tempfile.mkstemp(prefix="cobflow-latency-", suffix=".log")[1])
    env = {**env, "COBFLOW_FLOW__LATENCY_LOG": str(cob_log)}  # each second's rows leaving the COB, wall ns
    if lateness is not None:
        env["COBFLOW_FLOW__LATENESS_S"] = str(lateness)
    (flow,) = start_flow(kafka_flow("cob", tail=True), env)
    sim = subprocess.Popen([sys.executable, "-m", "cobflow", "simulate", "--duration", str(seconds), "--start", "now",
                            "--speed", "1", "--seed", "5"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    table = settings.questdb.table("cob_summary")
    appeared: dict[tuple[str, int], int] = {}  # (symbol, second) -> wall ns it became queryable
    newest: dict[str, int] = {}
    sampler = RssSampler([flow])
    sampler.start()
    grace_until = None
    while True:
        now_ns = time.time_ns()
        try:
            rows = query(settings.questdb, f"select symbol, max(ts) m from {table}")
        except QuestDBError:  # the table does not exist before the first rows
            rows = []
        for row in rows:
            s = parse_time(row["m"]) // 1_000_000_000
            prev = newest.get(row["symbol"])
            for sec in range(s if prev is None else prev + 1, s + 1):
                appeared[(row["symbol"], sec)] = now_ns
            newest[row["symbol"]] = s
        if sim.poll() is not None and grace_until is None:
            grace_until = time.monotonic() + 5
        if grace_until is not None and time.monotonic() > grace_until:
            break
        time.sleep(POLL_S)
    flow.send_signal(signal.SIGTERM)  # as `docker stop` does (a background job may ignore SIGINT)
    flow.wait(timeout=60)
    sampler.join()
    # (venue, market) -> the symbol whose book it feeds (a rate market's: its first reader)
    markets = {key: readers[0] for key, readers in load_symbols(CONFIG).readers().items()}
    first = min(sec for _, sec in appeared) if appeared else 0
    per_msg, per_second = [], []
    arrivals: dict[tuple[str, str], list[int]] = {}  # (symbol, venue) -> ts_recv of its messages
    for m in record(settings.kafka):
        sym = markets.get((m.exchange, m.symbol or ""))
        if sym is None:
            continue
        arrivals.setdefault((sym, m.exchange), []).append(m.ts_recv)
        sec = m.ts_recv // 1_000_000_000
        if sec < first + 5:  # the first 5 s: the flow was still starting
            continue
        w = appeared.get((sym, sec))
        if w is not None:
            per_msg.append((w - m.ts_recv) / 1e6)
    for (_sym, sec), w in appeared.items():
        if sec >= first + 5:
            per_second.append((w - (sec + 1) * 1_000_000_000) / 1e6)
    if not per_msg:
        raise SystemExit("no second reached QuestDB during the latency run")
    left = {}  # (symbol, second) -> wall ns its rows left the consolidated book (first time)
    for line in cob_log.read_text().splitlines():
        sym, ts, wall = line.split()
        left.setdefault((sym, int(ts) // 1_000_000_000), int(wall))
    cob_log.unlink()
    for ts in arrivals.values():
        ts.sort()
    to_cob, bound = [], []  # second end -> rows out of the COB; second end -> its slowest venue's next message
    for (sym, sec), wall in left.items():
        if sec < first + 5:
            continue
        end = (sec + 1) * 1_000_000_000
        to_cob.append((wall - end) / 1e6)
        nexts = [ts[i] if (i := bisect.bisect_left(ts, end)) < len(ts) else None
                 for (s, _), ts in arrivals.items() if s == sym]
        if all(t is not None for t in nexts):
            bound.append((max(nexts) - end) / 1e6)  # type: ignore[type-var]
    r = {
        "seconds": seconds, "poll_ms": POLL_S * 1000, "messages_measured": len(per_msg),
        "seconds_measured": len(per_second),
        "ts_recv_to_queryable_ms_p50": float(np.percentile(per_msg, 50)),
        "ts_recv_to_queryable_ms_p99": float(np.percentile(per_msg, 99)),
        "window_end_to_queryable_ms_p50": float(np.percentile(per_second, 50)),
        "window_end_to_queryable_ms_p99": float(np.percentile(per_second, 99)),
        "flow_peak_rss_mb": sampler.summary().get("peak_rss_mb"),
        "second_end_to_cob_rows_ms_p50": float(np.percentile(to_cob, 50)),
        "second_end_to_cob_rows_ms_p99": float(np.percentile(to_cob, 99)),
        "second_end_to_cob_rows_ms_max": float(np.max(to_cob)),
        "seconds_measured_in_flow": len(to_cob),
        "second_end_to_slowest_venue_next_message_ms_p50": float(np.percentile(bound, 50)),
        "second_end_to_slowest_venue_next_message_ms_p99": float(np.percentile(bound, 99)),
        "idle_timeout_s": load_settings().flow.idle_timeout_s,
        "lateness_s": lateness,
        "target_second_end_to_cob_rows_ms_p99": 300.0,
    }
    print(f"latency over {seconds:g} s real time ({len(per_msg):,} messages, {len(per_second)} symbol-seconds, "
          f"QuestDB polled every {POLL_S * 1000:.0f} ms): ts_recv -> queryable p50 "
          f"{r['ts_recv_to_queryable_ms_p50']:.0f} ms, p99 {r['ts_recv_to_queryable_ms_p99']:.0f} ms; "
          f"window end -> queryable p50 {r['window_end_to_queryable_ms_p50']:.0f} ms, "
          f"p99 {r['window_end_to_queryable_ms_p99']:.0f} ms")
    late = "off" if lateness is None else f"{lateness:g} s"
    print(f"in the flow ({len(to_cob)} symbol-seconds, lateness {late}): second end -> its rows leave the COB p50 "
          f"{r['second_end_to_cob_rows_ms_p50']:.0f} ms, p99 {r['second_end_to_cob_rows_ms_p99']:.0f} ms "
          f"(target p99 <= 300 ms); what bounds it: the second closes once every venue of the symbol has sent a "
          f"message after it (slowest venue's next message p50 "
          f"{r['second_end_to_slowest_venue_next_message_ms_p50']:.0f} ms, p99 "
          f"{r['second_end_to_slowest_venue_next_message_ms_p99']:.0f} ms), or after the idle timeout "
          f"({r['idle_timeout_s']:g} s) for a silent venue")
    return r


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=3600.0, help="seconds of simulated market (default: 1 h)")
    ap.add_argument("--layouts", nargs="+", choices=list(LAYOUTS), default=["w1", "p2"],
                    help="file mode: w1 one worker, w2 two worker threads, p2 two processes")
    ap.add_argument("--modes", nargs="+", choices=["file", "features", "quote", "kafka"],
                    default=["file", "features", "kafka"],
                    help="features: the file flow with its features step off and on, side by side; quote: with "
                         "the USDT conversion on and off")
    ap.add_argument("--repeat", type=int, default=3, help="file runs per layout, and file/Kafka pairs; medians reported")
    ap.add_argument("--latency-seconds", type=float, default=60.0, help="real-time run for the latency numbers")
    ap.add_argument("--lateness", type=float, default=0.05,
                    help="a second real-time run with FlowSettings.lateness_s (seconds; default 0.05)")
    ap.add_argument("--profile", action="store_true",
                    help="kafka mode: run the flow a second time under py-spy and print where its time goes")
    args = ap.parse_args()
    from cobflow import native
    from cobflow.capture import read_capture
    from cobflow.config import load_settings, load_symbols
    from cobflow.connectors.simulator import SimConfig
    from cobflow.connectors.simulator.to_file import simulate_to_file
    from cobflow.connectors.verify import BookChecker

    results: dict = {"config": str(CONFIG.relative_to(ROOT)), "seconds_of_market": args.seconds,
                     "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp_:
        tmp = Path(tmp_)
        capture = tmp / "sim.jsonl"
        start = time.perf_counter()
        n = simulate_to_file(load_symbols(CONFIG), SimConfig(seed=1, duration_s=args.seconds), capture)
        print(f"simulated {args.seconds:g} s of market: {n:,} raw messages in {time.perf_counter() - start:.1f} s")
        results["messages"] = n
        checker = BookChecker()  # the Python connectors' parse + book sync alone, for comparison
        msgs = list(read_capture(capture))
        start = time.perf_counter()
        for m in msgs:
            checker.feed(m)
        results["parse_and_sync_msg_per_s"] = n / (time.perf_counter() - start)
        del msgs, checker
        print(f"Python connectors' parse + book sync alone (no Bytewax, no consolidation): "
              f"{results['parse_and_sync_msg_per_s']:,.0f} msg/s")
        results["native_core"] = native.enabled()
        print(f"native core: {'on' if native.enabled() else 'off'} (cobflow.native; COBFLOW_NATIVE=0 turns it off)")
        if "file" in args.modes:
            results["file"] = file_mode(capture, n, args.seconds, args.layouts, tmp, args.repeat)
        if "features" in args.modes:
            results["features"] = features_cost(capture, n, args.seconds, tmp, args.repeat)
        if "quote" in args.modes:
            results["quote"] = quote_cost(capture, n, args.seconds, tmp, args.repeat)
        if "kafka" in args.modes:
            from cobflow.app.services import Services
            from cobflow.app.services.namespace import scratch_namespace

            settings = load_settings()
            svc = Services(settings)
            started = svc.up()
            try:
                with scratch_namespace(settings) as (scoped, env):
                    env["COBFLOW_SYMBOLS_FILE"] = str(CONFIG)
                    results["kafka"] = kafka_throughput(scoped, env, capture, n, args.seconds, tmp, args.repeat,
                                                        profile=(ROOT / "bench" / "results" / "cob-kafka-stacks.txt")
                                                        if args.profile else None)
                with scratch_namespace(settings) as (scoped, env):
                    env["COBFLOW_SYMBOLS_FILE"] = str(CONFIG)
                    results["latency"] = kafka_latency(scoped, env, args.latency_seconds)
                if args.lateness is not None:
                    with scratch_namespace(settings) as (scoped, env):
                        env["COBFLOW_SYMBOLS_FILE"] = str(CONFIG)
                        results["latency_with_lateness"] = kafka_latency(scoped, env, args.latency_seconds,
                                                                         args.lateness)
            finally:
                svc.stop(started)
    default = ap.get_default("modes")
    name = "cob" if sorted(args.modes) == sorted(default) else "cob-" + "-".join(args.modes)
    out = ROOT / "bench" / "results" / f"{name}.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"results written to {out}")


if __name__ == "__main__":
    main()
