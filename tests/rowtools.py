"""Rows as plain, comparable values (feature vectors are arrays: compared as tuples)."""

from __future__ import annotations

import numpy as np


def plain(row) -> tuple:
    cols = tuple(sorted((k, tuple(v.tolist()) if isinstance(v, np.ndarray) else v) for k, v in row.columns.items()))
    return (row.table, row.ts, tuple(sorted(row.symbols.items())), cols)


def plain_sorted(rows) -> list[tuple]:
    return sorted((plain(r) for r in rows), key=repr)


def run_cob(messages, symbols, workers: int = 1, features: bool = True, strategy=None, trading=None,
            processes: int = 1):
    """The COB flow (with its features) on messages, in this process: (rows one by one, dead letters).
    `processes`: the strategy step shards as in a cluster of that many processes (of the
    `workers` threads here)."""
    import bytewax.operators as op
    from bytewax.dataflow import Dataflow
    from bytewax.testing import TestingSink, TestingSource, cluster_main, run_main

    from cobflow.dataflows.cob import cob
    from cobflow.dataflows.strategy import cob_and_strategy
    from cobflow.tables import as_rows

    flow = Dataflow("test_cob")
    raw = op.input("in", flow, TestingSource(list(messages)))
    if strategy is None:
        rows, dead = cob("cob", raw, symbols, features=features)
    else:
        from cobflow.config import TradingSettings

        rows, dead = cob_and_strategy("cob", raw, symbols, strategy, trading or TradingSettings(), workers=workers,
                                      processes=processes)
    out, dlq = [], []
    op.output("rows", rows, TestingSink(out))
    op.output("dlq", dead, TestingSink(dlq))
    if workers == 1:
        run_main(flow)
    else:
        cluster_main(flow, [], 0, worker_count_per_proc=workers)
    return as_rows(out), dlq


def account_rows(made) -> list:
    """An account's output (Seconds of records and dead letters) as rows, dead letters last."""
    from cobflow.dataflows.sinks.rows import rows_of

    return rows_of(made.records) + list(made.dead)


def add(state, items) -> list:
    """ExecutionState.add, as rows."""
    return account_rows(state.add(list(items)))


def flush(state) -> list:
    """ExecutionState.flush, as rows."""
    return account_rows(state.flush())
