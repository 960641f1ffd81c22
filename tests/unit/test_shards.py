"""The strategy step's shards: one per process, each where Bytewax routes its symbols (the
routing checked on the installed Bytewax), and the rows of a 20-symbol market with models
equal whatever the number of workers, shards and processes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cobflow.config import SymbolsConfig
from cobflow.connectors.simulator import SimConfig, simulate
from cobflow.connectors.simulator.universe import NAMES, symbols_yaml
from cobflow.models.dataset import LabelSpec
from cobflow.operators.strategy import StrategyOptions
from cobflow.shards import shard_key, shards, siphash13, worker_of
from tests.modeltools import seeded_checkpoints
from tests.rowtools import plain_sorted, run_cob

KEYS = [f"{n}-USD" for n in NAMES] + [f"strategy.{k}" for k in range(20)] + ["strategy", "account", "", "é-ü"]


def _placed(workers: int) -> dict[str, int]:
    """Where a Bytewax cluster of `workers` threads runs each key's stateful step."""
    import bytewax.operators as op
    from bytewax.dataflow import Dataflow
    from bytewax.outputs import DynamicSink, StatelessSinkPartition
    from bytewax.testing import TestingSource, cluster_main

    seen: dict[str, int] = {}

    class Where(DynamicSink):
        def build(self, step_id: str, worker_index: int, worker_count: int) -> StatelessSinkPartition:
            class Part(StatelessSinkPartition):
                def write_batch(self, items: list) -> None:
                    for key, _ in items:
                        seen[key] = worker_index
            return Part()

    flow = Dataflow("placement")
    keyed = op.key_on("key", op.input("in", flow, TestingSource(KEYS)), lambda k: k)
    op.output("out", op.stateful_map("hold", keyed, lambda state, v: (state, v)), Where())
    cluster_main(flow, [], 0, worker_count_per_proc=workers)
    return seen


@pytest.mark.parametrize("workers", [2, 3, 5])
def test_worker_of_names_the_worker_bytewax_routes_each_key_to(workers):
    placed = _placed(workers)
    assert set(placed) == set(KEYS)
    assert {k: worker_of(k, workers) for k in KEYS} == placed
    assert len(set(placed.values())) == workers  # the keys do spread


def test_siphash13_gives_the_published_values():
    """Independent of Bytewax and of this code: SipHash-1-3 of an empty input under the zero
    key and under the key 00..0f, as the digest-sip_hash gem documents them (d1fba762150c532c,
    abac0158050fc4dc), and of "abc" as Rust's DefaultHasher (c03bc3a0042630f2); a key is
    hashed as its bytes then 0xff (Rust's `str`)."""
    assert siphash13(b"") == 0xD1FBA762150C532C
    assert siphash13(b"", 0x0706050403020100, 0x0F0E0D0C0B0A0908) == 0xABAC0158050FC4DC
    assert siphash13(b"abc") == 0xC03BC3A0042630F2
    assert worker_of("BTC-USD", 7) == siphash13(b"BTC-USD\xff") % 7


@pytest.mark.parametrize("workers", [1, 2, 3, 4])
def test_each_worker_gets_one_shard_key_that_lands_on_it(workers):
    keys = [shard_key("strategy", w, workers) for w in range(workers)]
    assert [worker_of(k, workers) for k in keys] == list(range(workers))
    assert len(set(keys)) == workers
    assert shard_key("strategy", 0, 1) == "strategy"  # one worker: the key of before (recovery stores)


@pytest.mark.parametrize(("workers", "processes"), [(1, 1), (2, 1), (2, 2), (3, 3), (4, 2), (6, 3)])
def test_a_shard_per_process_on_a_worker_of_the_process_that_holds_its_symbols(workers, processes):
    symbols = [f"{n}-USD" for n in NAMES]
    route = shards(symbols, "strategy", workers, processes)
    per = workers // processes
    if processes == 1:  # threads of one process share its interpreter lock: one shard
        assert set(route.values()) == {"strategy"}
        return
    assert len(set(route.values())) == processes
    for sym, key in route.items():
        assert worker_of(key, workers) // per == worker_of(sym, workers) // per  # the same process
        assert worker_of(key, workers) % per == 0  # its first worker


SPEC = LabelSpec(window_s=20, horizon_s=10)
TWENTY = SymbolsConfig.model_validate(__import__("yaml").safe_load(symbols_yaml(20)))


@pytest.fixture(scope="module")
def twenty(tmp_path_factory):
    """30 s of 20 symbols on 5 venues (about 50,000 messages) and seeded models."""
    models = seeded_checkpoints(tmp_path_factory.mktemp("models"), SPEC)
    return tuple(simulate(TWENTY, SimConfig(seed=5, duration_s=30))), models


def test_a_twenty_symbol_market_gives_the_same_rows_on_one_two_and_three_workers_and_shards(twenty):
    msgs, models = twenty
    opts = StrategyOptions(SPEC, models)
    one, dead1 = run_cob(msgs, TWENTY, strategy=opts)
    assert {"model_outputs", "decisions", "fills", "equity"} <= {r.table for r in one}
    for workers, processes in ((2, 1), (2, 2), (3, 3)):  # sharded as in a cluster of `processes`
        assert len(set(shards(TWENTY.symbols, "strategy", workers, processes).values())) == processes
        rows, dead = run_cob(msgs, TWENTY, workers=workers, strategy=opts, processes=processes)
        assert plain_sorted(rows) == plain_sorted(one), f"{workers} workers, {processes} shards"
        assert len(dead) == len(dead1)


def test_a_cluster_of_two_processes_computes_the_rows_of_one(twenty, tmp_path):
    """`cobflow compute --strategy --processes 2` (addresses on this machine, as across
    machines) against one process, on the 20-symbol capture with a line that is no raw
    message: every table equal, and that line one dead letter, not one per process."""
    from cobflow.capture import write_capture
    from cobflow.dataflows.sinks.parquet import read_table
    from cobflow.tables import FLOW_TABLES

    msgs, models = twenty
    capture, config = tmp_path / "twenty.jsonl", tmp_path / "twenty.yaml"
    write_capture(capture, msgs)
    lines = capture.read_text().splitlines(keepends=True)
    capture.write_text("".join([*lines[:1000], "not a raw message\n", *lines[1000:]]))  # read by both processes
    config.write_text(symbols_yaml(20))
    env = {"COBFLOW_MODELS__DIR": str(models), "PATH": "/usr/bin:/bin"}
    outs = {}
    for procs in ("1", "2"):
        out = tmp_path / f"out{procs}"
        proc = subprocess.run([sys.executable, "-m", "cobflow", "--config", str(config), "compute", "--strategy",
                               "--input", str(capture), "--out", str(out), "--processes", procs],
                              capture_output=True, text=True, env=env, cwd=Path(__file__).resolve().parents[2])
        assert proc.returncode == 0, proc.stderr[-2000:]
        outs[procs] = out
        dead = [json.loads(line) for f in out.glob("dead_letters*.jsonl") for line in f.read_text().splitlines()]
        assert [d["stage"] for d in dead] == ["read"], dead  # once, whatever the number of processes
        # at the time of the line before it in the file, whichever markets a process keeps
        assert dead[0]["message"]["ts_recv"] == json.loads(lines[999])["ts_recv"], dead
    compared = 0
    for table in (t.name for t in FLOW_TABLES):
        if not (outs["1"] / table).exists():
            continue
        a, b = (read_table(outs[p], table).to_pylist() for p in ("1", "2"))
        key = lambda r: repr(sorted(r.items()))  # noqa: E731
        assert sorted(a, key=key) == sorted(b, key=key), table
        compared += bool(a)
    assert compared >= 10
