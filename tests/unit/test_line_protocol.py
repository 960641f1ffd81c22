"""The native line-protocol writer against the official QuestDB client: for any rows and
blocks of rows of any table it takes, the bytes are the ones the sink's client path
(`_ClientLines`, the client's `Buffer.row`) writes, byte for byte. The server round trip
is tests/integration/test_questdb_sink.py's."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cobflow import native
from cobflow.config import QuestDBSettings
from cobflow.dataflows.sinks.questdb import _ClientLines
from cobflow.tables import BOOK_HEALTH, COB_BUCKETS, ORDER_FLOW, TABLES, Table, TableRow, TableRows

pytestmark = pytest.mark.skipif(not native.available(), reason="the native core is not built")

WRITTEN = sorted(n for n, t in TABLES.items() if native.available() and native.line_writer(n, t) is not None)
I64 = st.integers(-(2**63), 2**63 - 1)
NS = st.integers(0, 2**62)
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)  # escapes: ' ,=\\"\n\r' among them
SPECIAL = st.sampled_from([" ", ",", "=", "\\", '"', "\n", "\r", "é", "a b,c=d"])
TAG = st.one_of(TEXT, SPECIAL)


_CLIENTS: dict[str, _ClientLines] = {}


def client_bytes(table: Table, items: list) -> bytes:
    """What the sink's client path writes (no server needed: the buffer is never sent)."""
    lines = _CLIENTS.get(table.name)
    if lines is None:
        lines = _CLIENTS[table.name] = _ClientLines(QuestDBSettings(host="127.0.0.1", http_port=1), table)
    lines.add(items)
    buf = lines.take()
    out = bytes(buf)
    lines.sent(buf)
    return out


def native_bytes(table: Table, items: list) -> bytes:
    writer = native.line_writer(table.name, table)
    assert writer is not None
    writer.add(items)
    return writer.take()


def row_value(kind: str) -> st.SearchStrategy:
    """A single row's value as the flows make them (Python types; TIMESTAMP as ns)."""
    return st.none() | {
        "DOUBLE": st.floats(allow_nan=True, allow_infinity=True),
        "INT": st.integers(-(2**31), 2**31 - 1), "LONG": I64,
        "BOOLEAN": st.booleans(), "VARCHAR": st.one_of(TEXT, SPECIAL), "TIMESTAMP": NS,
    }[kind]


@st.composite
def rows(draw, table: Table) -> TableRow:  # type: ignore[no-untyped-def]
    cols = draw(st.lists(st.sampled_from(table.columns), unique=True, max_size=len(table.columns)))
    return TableRow(table.name, draw(NS), {s: draw(st.none() | TAG) for s in table.symbols},
                    {c: draw(row_value(kind)) for c, kind in cols})


def block_column(kind: str, n: int) -> st.SearchStrategy:
    """A block's column as the flows make them: an array, or a list (None: a null double)."""
    if kind == "DOUBLE":
        floats = st.floats(allow_nan=True, allow_infinity=True)
        return st.one_of(st.lists(floats, min_size=n, max_size=n).map(lambda v: np.array(v, dtype=np.float64)),
                         st.lists(st.none() | floats, min_size=n, max_size=n))
    if kind in ("INT", "LONG"):
        ints = st.integers(-(2**31), 2**31 - 1)
        return st.one_of(st.lists(ints, min_size=n, max_size=n),
                         st.lists(ints, min_size=n, max_size=n).map(lambda v: np.array(v, dtype=np.int64)),
                         st.lists(ints, min_size=n, max_size=n).map(lambda v: np.array(v, dtype=np.int32)))
    if kind == "BOOLEAN":
        return st.one_of(st.lists(st.booleans(), min_size=n, max_size=n),
                         st.lists(st.booleans(), min_size=n, max_size=n).map(np.array))
    if kind == "VARCHAR":
        return st.lists(st.none() | TEXT, min_size=n, max_size=n)
    return st.lists(NS, min_size=n, max_size=n)  # TIMESTAMP


@st.composite
def blocks(draw, table: Table) -> TableRows:  # type: ignore[no-untyped-def]
    n = draw(st.integers(0, 6))
    cols = draw(st.lists(st.sampled_from(table.columns), unique=True, min_size=1, max_size=len(table.columns)))
    ts = draw(st.one_of(NS, st.lists(NS, min_size=n, max_size=n),
                        st.lists(NS, min_size=n, max_size=n).map(lambda v: np.array(v, dtype=np.int64))))
    tags = {s: draw(st.one_of(st.none(), TAG, st.lists(TAG, min_size=n, max_size=n))) for s in table.symbols}
    return TableRows(table.name, ts, tags, {c: draw(block_column(kind, n)) for c, kind in cols})


@st.composite
def batches(draw):  # type: ignore[no-untyped-def]
    table = TABLES[draw(st.sampled_from(WRITTEN))]
    return table, draw(st.lists(st.one_of(rows(table), blocks(table)), min_size=1, max_size=5))


@settings(max_examples=400, deadline=None)
@given(batches())
def test_the_native_writer_writes_the_clients_bytes_for_any_rows_and_blocks(batch):
    table, items = batch
    expected = client_bytes(table, copy.deepcopy(items))  # the client path stamps TIMESTAMP values in place
    assert native_bytes(table, items) == expected


def test_the_tables_the_flows_write_in_blocks_are_written_natively_and_arrays_are_left_to_the_client():
    assert {COB_BUCKETS.name, BOOK_HEALTH.name, ORDER_FLOW.name} <= set(WRITTEN)
    assert "features" not in WRITTEN and "model_outputs" not in WRITTEN  # DOUBLE[] columns
    assert native.line_writer("x_features", TABLES["features"]) is None


def test_a_value_of_a_double_lands_bit_for_bit():
    """Protocol version 2 carries a DOUBLE as its 8 bytes: no digits printed or parsed."""
    x = 0.1 + 0.2
    line = native_bytes(ORDER_FLOW, [TableRows(ORDER_FLOW.name, 5, {"symbol": "BTC-USD", "venue": "okx"},
                                               {"cvd": np.array([x]), "aggressive_buy_ratio": [None]})])
    assert line == b"order_flow,symbol=BTC-USD,venue=okx cvd==\x10" + np.float64(x).tobytes() + b" 5n\n"


def test_an_item_it_cannot_write_adds_nothing_of_itself_and_names_the_table():
    writer = native.line_writer("t_order_flow", ORDER_FLOW)
    good = TableRow(ORDER_FLOW.name, 1, {"symbol": "A", "venue": "okx"}, {"cvd": 1.0})
    short = TableRows(ORDER_FLOW.name, 2, {"symbol": "A", "venue": ["okx", "kraken"]},
                      {"cvd": [1.0, 2.0], "aggressive_buy_ratio": [0.5]})
    assert writer.add([good]) == 1
    with pytest.raises(ValueError, match="t_order_flow.*aggressive_buy_ratio has 1 rows, not 2"):
        writer.add([good, short])
    with pytest.raises(ValueError, match='t_order_flow has no column "price"'):
        writer.add([TableRow(ORDER_FLOW.name, 3, {"symbol": "A"}, {"price": 1.0})])
    with pytest.raises(ValueError, match="t_order_flow: column cvd cannot take a list"):
        writer.add([TableRow(ORDER_FLOW.name, 3, {"symbol": "A"}, {"cvd": [1.0]})])
    assert writer.rows == 2  # the first call's row and the second call's good one
    assert writer.take() == native_bytes(ORDER_FLOW, [good, good]).replace(b"order_flow", b"t_order_flow")
    assert writer.rows == 0 and writer.take() == b""
