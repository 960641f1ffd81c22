"""The QuestDB sink's two paths on the real server: blocks of rows through the client's
dataframe path and the same rows one by one land as the same rows, nulls as nulls."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cobflow.qdb import query, wait_for_wal
from cobflow.sinks import questdb as sink
from cobflow.tables import IMBALANCE_MA, OHLCV, ORDER_FLOW, TableRows

pytestmark = pytest.mark.integration
S = 1_700_000_000 * 1_000_000_000


def blocks() -> list[TableRows]:
    out = []
    for i in range(5):  # 5 seconds: 55 imbalance rows, 15 order-flow rows, 10 bars
        ts = S + i * 1_000_000_000
        ma = np.linspace(-1, 1, 11) * (i + 1)
        out.append(TableRows(IMBALANCE_MA.name, ts, {"symbol": "BTC-USD"}, {
            "offset": np.arange(-5, 6), "ma_1": ma, "ma_5": ma / 2, "ma_15": ma / 3,
            "ma_60": np.full(11, np.nan) if i < 3 else ma / 4}))  # the first seconds: no 60 s average yet
        out.append(TableRows(ORDER_FLOW.name, ts, {"symbol": "BTC-USD", "venue": ["binance", "kraken", "okx"]}, {
            "aggressive_buy_ratio": np.array([0.5, np.nan, 1.0]), "cvd": np.array([1.5, 0.0, -2.25]) * i}))
        out.append(TableRows(OHLCV.name, [ts, ts + 1], {"symbol": "BTC-USD", "venue": ["binance", "okx"],
                                                        "timeframe": "1s"}, {
            "open": [100.0 + i, 101.0], "high": [102.0, 103.0], "low": [99.0, 100.5], "close": [101.0, 102.0],
            "volume": [1.0, 0.0], "buy_volume": [0.5, 0.0], "sell_volume": [0.5, 0.0],
            "trades": np.array([3, 0]), "vwap": [100.5, np.nan]}))
    return out


def written(settings, tables) -> dict[str, list[dict]]:  # type: ignore[no-untyped-def]
    names = [settings.table(t.name) for t in tables]
    wait_for_wal(settings, names)
    return {t.name: query(settings, f"select * from {n} order by ts, {', '.join(t.symbols)}")
            for t, n in zip(tables, names)}


def test_the_dataframe_path_writes_what_the_row_path_writes_nulls_as_nulls(namespace, monkeypatch):
    settings, _ = namespace
    tables = [IMBALANCE_MA, ORDER_FLOW, OHLCV]
    by_rows = settings.questdb.model_copy(update={"table_prefix": settings.questdb.table_prefix + "rows_"})
    part = sink.QuestDBSink(settings.questdb, tables).build("q", 0, 1)
    frames = []
    real_frame = part._frame
    monkeypatch.setattr(part, "_frame", lambda t, g: frames.append(t.name) or real_frame(t, g))
    part.write_batch(blocks())  # type: ignore[arg-type]
    part.close()
    assert sorted(frames) == ["imbalance_ma"], "55 imbalance rows go in bulk; 15 and 10 rows go row by row"
    monkeypatch.setattr(sink, "DATAFRAME_MIN_ROWS", 1)  # now every table in bulk ...
    bulk = settings.questdb.model_copy(update={"table_prefix": settings.questdb.table_prefix + "bulk_"})
    part = sink.QuestDBSink(bulk, tables).build("q", 0, 1)
    part.write_batch(blocks())  # type: ignore[arg-type]
    part.close()
    monkeypatch.setattr(sink, "DATAFRAME_MIN_ROWS", 10**9)  # ... and every table row by row
    part = sink.QuestDBSink(by_rows, tables).build("q", 0, 1)
    part.write_batch(blocks())  # type: ignore[arg-type]
    part.close()
    mixed, in_bulk, one_by_one = written(settings.questdb, tables), written(bulk, tables), written(by_rows, tables)
    assert in_bulk == one_by_one == mixed
    ima, flow, bars = one_by_one["imbalance_ma"], one_by_one["order_flow"], one_by_one["ohlcv"]
    assert len(ima) == 55 and len(flow) == 15 and len(bars) == 10
    assert sum(r["ma_60"] is None for r in ima) == 33  # NaN went in, null came out
    assert [r["aggressive_buy_ratio"] for r in flow[:3]] == [0.5, None, 1.0]
    assert [r["vwap"] for r in bars[:2]] == [100.5, None] and [r["trades"] for r in bars[:2]] == [3, 0]
    assert math.isclose(ima[54]["ma_60"], 5 / 4) and ima[54]["offset"] == 5
