"""The QuestDB sink on the real server: blocks of rows and the same rows one by one land as
the same rows, nulls as nulls, through the native line-protocol writer and through the
official client alike; refused rows fail the flow, a dropped connection does not."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from cobflow.dataflows.sinks import questdb as sink
from cobflow.qdb import query, wait_for_wal
from cobflow.tables import IMBALANCE_MA, OHLCV, ORDER_FLOW, TableRows, as_rows

pytestmark = pytest.mark.integration
S = 1_700_000_000 * 1_000_000_000


def blocks() -> list[TableRows]:
    out = []
    for i in range(30):  # 30 seconds: 330 imbalance rows, 90 order-flow rows, 60 bars
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


def write(settings, tables, items) -> None:  # type: ignore[no-untyped-def]
    """As the flow does: each row to its table's partition of the sink, one batch each."""
    qdb = sink.QuestDBSink(settings, tables)
    for t in tables:
        part = qdb.build_part("questdb", t.name, None)
        part.write_batch([x for x in items if x.table == t.name])
        part.close()


def written(settings, tables) -> dict[str, list[dict]]:  # type: ignore[no-untyped-def]
    names = [settings.table(t.name) for t in tables]
    wait_for_wal(settings, names)
    return {t.name: query(settings, f"select * from {n} order by ts, {', '.join(t.symbols)}")
            for t, n in zip(tables, names)}


def test_blocks_land_as_the_same_rows_as_single_rows_nulls_as_nulls(namespace, monkeypatch):
    settings, _ = namespace
    tables = [IMBALANCE_MA, ORDER_FLOW, OHLCV]
    assert sink.native.line_writer("x", IMBALANCE_MA) is not None  # the native writer is what runs here
    singles = settings.questdb.model_copy(update={"table_prefix": settings.questdb.table_prefix + "rows_"})
    by_client = settings.questdb.model_copy(update={"table_prefix": settings.questdb.table_prefix + "client_"})
    for target, items in ((settings.questdb, blocks()), (singles, as_rows(blocks()))):
        write(target, tables, items)
    with monkeypatch.context() as m:  # the reference: the official client, row by row
        m.setattr(sink.native, "line_writer", lambda name, table: None)
        write(by_client, tables, as_rows(blocks()))
    from_blocks, from_rows = written(settings.questdb, tables), written(singles, tables)
    assert from_blocks == from_rows == written(by_client, tables)
    ima, flow, bars = from_blocks["imbalance_ma"], from_blocks["order_flow"], from_blocks["ohlcv"]
    assert len(ima) == 330 and len(flow) == 90 and len(bars) == 60
    assert sum(r["ma_60"] is None for r in ima) == 33  # NaN went in, null came out
    assert [r["aggressive_buy_ratio"] for r in flow[:3]] == [0.5, None, 1.0]
    assert [r["vwap"] for r in bars[:2]] == [100.5, None] and [r["trades"] for r in bars[:2]] == [3, 0]
    assert [r["venue"] for r in bars[:2]] == ["binance", "okx"] and bars[1]["timeframe"] == "1s"
    assert math.isclose(ima[329]["ma_60"], 30 / 4) and ima[329]["offset"] == 5


def test_rows_go_out_once_the_flow_pauses_and_always_at_an_epochs_end(namespace, monkeypatch):
    """A backlog's batches collect into few transactions (QuestDB spent more CPU applying one
    per batch than the flow spent computing); a live flow's rows go once it pauses; what the
    flow handed over is in QuestDB before the epoch's snapshot is kept."""
    settings, _ = namespace
    flows = [b for b in blocks() if b.table == ORDER_FLOW.name]
    name = settings.questdb.table(ORDER_FLOW.name)

    def count() -> int:
        wait_for_wal(settings.questdb, [name])
        return query(settings.questdb, f"select count() n from {name}")[0]["n"]

    monkeypatch.setattr(sink, "QUIET_S", 3600.0)  # no pause and no age long enough: only epochs send
    monkeypatch.setattr(sink, "FLUSH_EVERY_S", 3600.0)
    part = sink.QuestDBSink(settings.questdb, [ORDER_FLOW]).build_part("questdb", ORDER_FLOW.name, None)
    part.write_batch(flows[:10])
    part.write_batch(flows[10:20])
    time.sleep(1.0)
    assert count() == 0  # held
    part.snapshot()
    assert count() == 60  # the epoch's end: all of it is in QuestDB when snapshot returns
    part.write_batch(flows[20:25])
    part.close()
    assert count() == 75  # and at the end of the flow
    # without a recovery store (barrier off) the epoch's end does not wait: nothing is kept to be ahead of
    part = sink.QuestDBSink(settings.questdb, [ORDER_FLOW], barrier=False).build_part("questdb", ORDER_FLOW.name,
                                                                                      None)
    part.write_batch(flows[25:27])
    part.snapshot()
    assert count() == 75  # still held: the timing rules alone send
    part.close()
    assert count() == 81
    monkeypatch.setattr(sink, "QUIET_S", 0.2)  # the default: a pause of 0.2 s sends what is there
    part = sink.QuestDBSink(settings.questdb, [ORDER_FLOW]).build_part("questdb", ORDER_FLOW.name, None)
    part.write_batch(flows[27:])
    deadline = time.monotonic() + 30
    while count() < 90 and time.monotonic() < deadline:  # no snapshot: the pause alone sends them
        time.sleep(0.1)
    assert count() == 90
    part.close()


@pytest.mark.parametrize("writer", ["native", "client"])
def test_rows_questdb_refuses_fail_the_flow_at_the_epochs_end_not_in_silence(namespace, monkeypatch, writer):
    from questdb import QuestDBError

    from cobflow.tables import TableRow

    settings, _ = namespace
    if writer == "client":
        monkeypatch.setattr(sink.native, "line_writer", lambda name, table: None)
    part = sink.QuestDBSink(settings.questdb, [ORDER_FLOW]).build_part("questdb", ORDER_FLOW.name, None)
    assert type(part._lines).__name__ == {"native": "_NativeLines", "client": "_ClientLines"}[writer]
    bad = TableRow(ORDER_FLOW.name, S, {"symbol": "BTC-USD", "venue": "okx"}, {"cvd": "not a number"})
    part.write_batch([bad])  # sent in the background ...
    with pytest.raises(sink.RowsRefused if writer == "native" else QuestDBError, match="cvd"):
        part.snapshot()  # ... and its refusal raised in the flow's thread, before the epoch is kept


def test_a_connection_the_server_dropped_is_made_again_without_calling_questdb_away(namespace, capsys):
    settings, _ = namespace
    flows = [b for b in blocks() if b.table == ORDER_FLOW.name]
    part = sink.QuestDBSink(settings.questdb, [ORDER_FLOW]).build_part("questdb", ORDER_FLOW.name, None)
    part.write_batch(flows[:5])
    part.snapshot()
    part._lines._conn.sock.close()  # as a server closing an idle kept-alive connection leaves it
    part.write_batch(flows[5:10])
    part.snapshot()
    part.close()
    name = settings.questdb.table(ORDER_FLOW.name)
    wait_for_wal(settings.questdb, [name])
    assert query(settings.questdb, f"select count() n from {name}")[0]["n"] == 30
    assert "away" not in capsys.readouterr().err
