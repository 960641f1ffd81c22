"""The Parquet sink of `cobflow compute`: every row written comes back, in order, and row
groups close at 16,384 rows or once they span 10 minutes of market (so a table of a few
rows per second does not sit in memory for hours)."""

from __future__ import annotations

import pyarrow.parquet as pq

from cobflow.sinks.parquet import ParquetSink, read_table
from cobflow.tables import COB_BUCKETS, COB_SUMMARY, TableRow

S = 1_000_000_000
T0 = 1_700_000_000 * S


def summary_row(second: int) -> TableRow:
    return TableRow(COB_SUMMARY.name, T0 + second * S, {"symbol": "BTC-USD"},
                    {"venues": 2, "mid": 100.0 + second, "crossed": False})


def write(tmp_path, batches: list[list[TableRow]]) -> None:
    part = ParquetSink(tmp_path, [COB_SUMMARY, COB_BUCKETS]).build("out", 0, 1)
    for batch in batches:
        part.write_batch(batch)
    part.close()


def row_groups(tmp_path, table) -> list[int]:
    meta = pq.ParquetFile(tmp_path / table.name / "part-0.parquet").metadata
    return [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]


def test_a_slow_table_closes_a_row_group_every_ten_minutes_of_market(tmp_path):
    # 1 row per second for 25 minutes, 10 rows per batch: the batch holding second 600 is the
    # first whose rows span 600 s from the group's first row (second 0), so it closes
    # seconds 0..609; the next closes at 610 + 600 -> 610..1219; the rest at the end.
    write(tmp_path, [[summary_row(s) for s in range(k, k + 10)] for k in range(0, 1500, 10)])
    assert row_groups(tmp_path, COB_SUMMARY) == [610, 610, 280]
    back = read_table(tmp_path, COB_SUMMARY.name)
    assert back.column("mid").to_pylist() == [100.0 + s for s in range(1500)]  # merged pieces keep order
    assert back.column("venues").to_pylist() == [2] * 1500
    assert back.column("best_bid").null_count == 1500  # columns a row does not carry are null


def test_a_busy_table_closes_a_row_group_at_16384_rows(tmp_path):
    batches = [[TableRow(COB_BUCKETS.name, T0 + s * S, {"symbol": "BTC-USD"}, {"offset": k, "bid_qty": float(s)})
                for k in range(-20, 21)] for s in range(450)]
    write(tmp_path, batches)
    assert row_groups(tmp_path, COB_BUCKETS) == [400 * 41, 50 * 41]  # 16,400 >= 16,384 after 400 s
    assert row_groups(tmp_path, COB_SUMMARY) == []  # a table without rows still gets its file
    back = read_table(tmp_path, COB_BUCKETS.name)
    assert back.column("offset").to_pylist() == list(range(-20, 21)) * 450
