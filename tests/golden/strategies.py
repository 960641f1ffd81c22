"""The built-in strategies' rows on a fixed market, as digests: `python -m tests.golden.strategies`
writes strategies.json from the code it runs; tests/unit/test_strategy_api.py compares the
code of now with the file.

The file was written by the code before the Strategy API (commit 90100c4, with FEATURES.md's
pivot start rule applied; model_name tags dropped, as checkpoint names carry their time), so
the test proves that the built-ins on the new API decide, order, fill and account byte for
byte as the old fixed pipeline did.

The models' outputs depend in their last bits on the CPU's vector unit (torch's kernels are
chosen at run time: AVX2, AVX-512, ...), and so do the tables that carry them: model_outputs,
prediction_outcomes, and decisions (their probabilities). strategies.json's are those of
the machine of that commit (where the equality with the old pipeline was proven);
`strategies-by-cpu.json` holds them per other kind of CPU (`python -m tests.golden.strategies
--cpu` writes this CPU's from the code it runs: a regression anchor there, not a second
proof). Everything else (signals, orders, fills, positions, equity, risk events) must be
strategies.json's bytes on every CPU: on an AMD EPYC with AVX2 they are.
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
TABLES = ("signals", "model_outputs", "prediction_outcomes", "decisions", "orders", "fills", "positions", "equity",
          "risk_events")
STRATEGIES = ("combined", "models", "cnn", "rules")
SECONDS, SEED = 240.0, 61


def digests(rows) -> dict[str, str]:
    from tests.rowtools import plain_sorted

    def digest(mine) -> str:
        text = repr(plain_sorted(mine))
        return f"{len(mine)}:{hashlib.sha256(text.encode()).hexdigest()[:16]}"

    # columns added after the digests were written, left out where they hold what every row of
    # that code would: fills' `rate` (issue 38) null on markets without quote conversion (all
    # here); issue 32's `liquidity` taker and `wait_s` null on fills, `type` market and null
    # price, stop price, venue and client id on orders (these strategies send market orders);
    # issue 34's decisions' `models` names checkpoints, which carry their time, as model_name
    # tags do (dropped for that reason)
    added = {"rate": None, "wait_s": None, "liquidity": "taker", "type": "market", "price": None,
             "stop_price": None, "venue": None, "client_id": None}
    rows = [replace(r, symbols={k: v for k, v in r.symbols.items() if k != "model_name"},
                    columns={k: v for k, v in r.columns.items()
                             if not (k in added and v == added[k] and (k != "price" or r.table == "orders"))
                             and not (k == "models" and r.table == "decisions")})
            for r in rows]
    out = {table: digest([r for r in rows if r.table == table]) for table in TABLES}
    # the rule signals' outcomes alone (a strategy that reads no model runs none)
    out["rule_outcomes"] = digest([r for r in rows if r.table == "prediction_outcomes"
                                   and r.symbols["source"] not in ("cnn", "dqn")])
    return out


BY_CPU = HERE / "strategies-by-cpu.json"


def cpu() -> str:
    """The kind of CPU the models' bits depend on: its vendor and torch's kernel level."""
    import torch

    vendor = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("vendor_id"):
                vendor = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{vendor}/{torch.backends.cpu.get_cpu_capability()}"


#: the tables whose bytes carry the models' outputs (see the module's doc)
MODEL_BITS = ("model_outputs", "prediction_outcomes", "decisions")


def expected(name: str) -> dict[str, str]:
    """The digests `name` must give on this CPU (see the module's doc)."""
    out = json.loads((HERE / "strategies.json").read_text())[name]
    by_cpu = json.loads(BY_CPU.read_text()) if BY_CPU.exists() else {}
    return {**out, **by_cpu.get(cpu(), {}).get(name, {})}


def market():
    from tests.simdata import sim

    # the market the digests were written on: the simulator's before issue 38 (bases of +-3 bps,
    # USDT = USD, no wider spreads in bursts): a fixed market, whatever the simulator's defaults
    try:
        from tests.simdata import BEFORE_38
    except ImportError:  # the code before issue 38's simulator
        BEFORE_38 = {"basis_bps": 3.0}
    return sim(SECONDS, seed=SEED, venues=("binance", "kraken", "okx", "coinbase", "bybit"), alpha=1.0, **BEFORE_38)


def run(name: str, models_dir: Path, messages) -> dict[str, str]:
    from cobflow.config import StrategySettings, TradingSettings
    from tests.rowtools import run_cob
    from tests.unit.test_strategy import SPEC, SYMBOLS

    try:
        from cobflow.operators.strategy import StrategyOptions
    except ImportError:  # the layout before one namespace
        from operators.strategy import StrategyOptions  # type: ignore[no-redef]
    trading = TradingSettings(min_order_notional=0.0, max_orders_per_minute=60)
    opts = StrategyOptions(SPEC, models_dir, StrategySettings(name=name))
    rows, _ = run_cob(messages, SYMBOLS, strategy=opts, trading=trading)
    return digests(rows)


def main() -> None:
    import tempfile

    from tests.modeltools import seeded_checkpoints
    from tests.unit.test_strategy import SPEC

    with tempfile.TemporaryDirectory() as tmp:
        models = seeded_checkpoints(Path(tmp), SPEC)
        msgs = market()
        if sys.argv[1:] == ["--cpu"]:  # this CPU's digests of the strategies that read a model
            by_cpu = json.loads(BY_CPU.read_text()) if BY_CPU.exists() else {}
            by_cpu[cpu()] = {name: {t: d for t, d in run(name, models, msgs).items() if t in MODEL_BITS}
                             for name in STRATEGIES if name != "rules"}
            BY_CPU.write_text(json.dumps(by_cpu, indent=1, sort_keys=True) + "\n")
            json.dump(by_cpu[cpu()], sys.stdout, indent=1)
            return
        result = {name: run(name, models, msgs) for name in STRATEGIES}
    out = HERE / "strategies.json"
    out.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    json.dump(result, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
