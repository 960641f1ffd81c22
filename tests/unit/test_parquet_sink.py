"""The Parquet sink of `cobflow compute`: every row written comes back, in order, and row
groups close at 16,384 rows or once they span 10 minutes of market (so a table of a few
rows per second does not sit in memory for hours); blocks of rows are written as the same
rows one by one."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq

from cobflow.dataflows.sinks.parquet import ParquetSink, read_table
from cobflow.tables import COB_BUCKETS, COB_SUMMARY, ORDER_FLOW, TableRow, TableRows, as_rows

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


def bucket_block(second: int) -> TableRows:
    """A second's 41 buckets as one block of columns; a NaN vwap is a null."""
    qty = np.where(np.arange(41) % 3 == 0, 0.0, 1.5 + second)
    return TableRows(COB_BUCKETS.name, T0 + second * S, {"symbol": "ETH-USD"}, {
        "offset": np.arange(-20, 21), "price": (100 + np.arange(-20, 21)) * 2,  # int64: stored as DOUBLE
        "bid_qty": qty, "ask_qty": qty[::-1], "bid_notional": qty * 3, "ask_notional": qty[::-1] * 3,
        "bid_vwap": np.where(qty > 0, 3.0, np.nan), "ask_vwap": np.where(qty[::-1] > 0, 3.0, np.nan),
        "imbalance": np.zeros(41), "venues": np.full(41, 2)})


def test_blocks_of_rows_are_written_as_the_same_rows_one_by_one(tmp_path):
    blocks = [bucket_block(s) for s in range(30)]
    write(tmp_path / "blocks", [blocks[k:k + 7] for k in range(0, 30, 7)])
    write(tmp_path / "rows", [as_rows(blocks[k:k + 7]) for k in range(0, 30, 7)])
    a, b = read_table(tmp_path / "blocks", COB_BUCKETS.name), read_table(tmp_path / "rows", COB_BUCKETS.name)
    assert a.equals(b) and a.num_rows == 30 * 41
    assert a.column("bid_vwap").null_count == 30 * 14  # offsets -20, -17, ..., 19: no quantity, no vwap
    assert a.column("price").to_pylist()[:2] == [160.0, 162.0]
    # offset -19: bid qty[1] = 1.5; ask qty[39] = 0 (39 is a multiple of 3)
    assert as_rows([blocks[0]])[1].columns == {
        "offset": -19, "price": 162.0, "bid_qty": 1.5, "ask_qty": 0.0, "bid_notional": 4.5, "ask_notional": 0.0,
        "bid_vwap": 3.0, "ask_vwap": None, "imbalance": 0.0, "venues": 2}
    assert as_rows([blocks[0]])[0].columns["bid_vwap"] is None


def test_blocks_with_a_timestamp_and_tags_per_row_are_written_as_their_rows(tmp_path):
    """Bars closing in one second can start at different times and be of different venues:
    a block may carry ts and tags per row; None in a DOUBLE column is a null."""
    block = TableRows(ORDER_FLOW.name, [T0, T0 + S, T0 + S], {"symbol": "BTC-USD", "venue": ["okx", "ALL", "okx"]},
                      {"aggressive_buy_ratio": [0.25, None, 1.0], "cvd": [1.5, -2.0, 3.0]})
    part = ParquetSink(tmp_path, [ORDER_FLOW]).build("out", 0, 1)
    part.write_batch([block, TableRow(ORDER_FLOW.name, T0 + 2 * S, {"symbol": "BTC-USD", "venue": "ALL"},
                                      {"aggressive_buy_ratio": 0.5, "cvd": 0.0})])
    part.close()
    back = read_table(tmp_path, ORDER_FLOW.name)
    back = back.set_column(0, "ts", back.column("ts").cast("int64"))
    assert sorted(back.to_pylist(), key=lambda r: (r["ts"], r["venue"])) == sorted([
        {"ts": t, "symbol": "BTC-USD", "venue": v, "aggressive_buy_ratio": r, "cvd": c}
        for t, v, r, c in [(T0, "okx", 0.25, 1.5), (T0 + S, "ALL", None, -2.0), (T0 + S, "okx", 1.0, 3.0),
                           (T0 + 2 * S, "ALL", 0.5, 0.0)]], key=lambda r: (r["ts"], r["venue"]))
    assert [(r.ts, r.symbols, r.columns) for r in block.rows()][1] == (
        T0 + S, {"symbol": "BTC-USD", "venue": "ALL"}, {"aggressive_buy_ratio": None, "cvd": -2.0})
