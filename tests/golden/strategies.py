"""The built-in strategies' rows on a fixed market, as digests: `python -m tests.golden.strategies`
writes strategies.json from the code it runs; tests/unit/test_strategy_api.py compares the
code of now with the file.

The file was written by the code before the Strategy API (commit 90100c4, with FEATURES.md's
pivot start rule applied; model_name tags dropped, as checkpoint names carry their time), so
the test proves that the built-ins on the new API decide, order, fill and account byte for
byte as the old fixed pipeline did.
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
        result = {name: run(name, models, msgs) for name in STRATEGIES}
    out = HERE / "strategies.json"
    out.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    json.dump(result, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
