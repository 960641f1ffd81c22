"""The COB flow's latency log (FlowSettings.latency_log): a line per second of each symbol,
stamped with the wall clock when its rows leave the consolidated book."""

from __future__ import annotations

import time

from cobflow.dataflows.latency import LatencyLog
from cobflow.tables import TableRow, TableRows

S = 1_700_000_000_000_000_000


def test_one_line_per_cob_summary_row_with_the_wall_clock_of_its_passing(tmp_path):
    log = LatencyLog(tmp_path / "latency.log")
    before = time.time_ns()
    log("latency_log", TableRow("cob_summary", S, {"symbol": "BTC-USD"}, {"mid": 1.0}))
    log("latency_log", TableRows("cob_buckets", S, {"symbol": "BTC-USD"}, {"bid_qty": [1.0]}))  # not a second
    log("latency_log", TableRow("ohlcv", S, {"symbol": "BTC-USD"}, {}))
    log("latency_log", TableRow("cob_summary", S + 10**9, {"symbol": "ETH-USD"}, {"mid": 2.0}))
    after = time.time_ns()
    lines = [line.split() for line in (tmp_path / "latency.log").read_text().splitlines()]
    assert [(sym, int(ts)) for sym, ts, _ in lines] == [("BTC-USD", S), ("ETH-USD", S + 10**9)]
    walls = [int(w) for _, _, w in lines]
    assert before <= walls[0] <= walls[1] <= after
