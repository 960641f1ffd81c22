"""`cobflow features`: the feature tables again from stored rows (a `cobflow compute`
output folder, or QuestDB), for training. The stored rows of each second are handed to the
same `FeatureState` the flow runs, as the CobSecond records the flow handed it, in its order,
so the values are the flow's, value for value.

Indicators (EMA, OBV) and trailing windows depend on everything before, so the rows are
always read from the start of what is stored; `since` only drops the output before it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from cobflow.config import QuestDBSettings, SymbolsConfig
from cobflow.dataflows.sinks.parquet import arrow_schema, read_table, write_tables
from cobflow.dataflows.sinks.rows import feature_rows
from cobflow.metrics.trades import ALL, TIMEFRAMES, Bar, FlowSecond
from cobflow.operators.features import new_feature_state
from cobflow.progress import Progress
from cobflow.qdb import query
from cobflow.records import CobSecond, Quality
from cobflow.tables import (
    COB_BUCKETS,
    COB_SUMMARY,
    DATA_QUALITY,
    FEATURE_TABLES,
    OHLCV,
    ORDER_FLOW,
    TABLES,
    AnyRow,
    TableRows,
)

NS = 1_000_000_000
INPUT_TABLES = (DATA_QUALITY, COB_SUMMARY, COB_BUCKETS, OHLCV, ORDER_FLOW)


class RecomputeError(RuntimeError):
    pass


@dataclass
class RecomputeResult:
    rows: dict[str, int] = field(default_factory=dict)
    seconds: int = 0


def read_parquet(folder: Path) -> dict[str, pa.Table]:
    out = {}
    for t in INPUT_TABLES:
        if not any((folder / t.name).glob("*.parquet")):
            raise RecomputeError(f"{folder}: no {t.name} table here (a `cobflow compute` output folder has one)")
        out[t.name] = read_table(folder, t.name)
    return out


def read_questdb(settings: QuestDBSettings, until_ns: int | None) -> dict[str, pa.Table]:
    """Every stored row up to `until_ns` (exclusive) of the input tables."""
    out = {}
    for t in INPUT_TABLES:
        where = f" WHERE ts < {until_ns // 1000}" if until_ns is not None else ""  # micros: QuestDB's literal
        rows = query(settings, f"SELECT * FROM {settings.table(t.name)}{where} ORDER BY ts")
        out[t.name] = _arrow(t.name, rows)
    return out


def export_questdb(settings: QuestDBSettings, names: tuple[str, ...], since_ns: int | None, until_ns: int | None,
                   folder: Path) -> None:
    """Tables' rows in [since, until) from QuestDB into Parquet folders (training input):
    streamed by QuestDB as Parquet (`/exp?fmt=parquet`; a day of buckets is millions of
    rows, too many for JSON), through JSON where the server has no Parquet export."""
    for name in names:
        cond = [f"ts >= {since_ns // 1000}"] if since_ns is not None else []
        cond += [f"ts < {until_ns // 1000}"] if until_ns is not None else []
        where = f" WHERE {' AND '.join(cond)}" if cond else ""
        try:
            table = _exported(settings, name, where)
        except (OSError, ValueError, pa.ArrowException):  # an older server: the JSON way
            table = _arrow(name, query(settings, f"SELECT * FROM {settings.table(name)}{where} ORDER BY ts"))
        out = folder / name
        out.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, out / "part-0.parquet")


def _exported(settings: QuestDBSettings, name: str, where: str) -> pa.Table:
    """A table's rows as QuestDB's Parquet export streams them, in the flow's schema. VARCHAR
    columns are cast to STRING in the query: QuestDB 9.3 writes VARCHAR to Parquet in a
    form pyarrow reads as nulls."""
    import io
    import urllib.parse
    import urllib.request

    t = TABLES[name]
    cols = ["ts", *t.symbols, *(f"cast({c} as string) {c}" if kind == "VARCHAR" else c for c, kind in t.columns)]
    sql = f"SELECT {', '.join(cols)} FROM {settings.table(name)}{where} ORDER BY ts"
    url = f"{settings.http_url}/exp?" + urllib.parse.urlencode({"query": sql, "fmt": "parquet"})
    with urllib.request.urlopen(url, timeout=600) as resp:
        got = pq.read_table(io.BytesIO(resp.read()))
    schema = arrow_schema(t)
    return pa.table([got[f.name].cast(f.type) for f in schema], schema=schema)


def _arrow(name: str, rows: list[dict]) -> pa.Table:
    schema = arrow_schema(TABLES[name])
    cols: dict[str, list] = {f.name: [r.get(f.name) for r in rows] for f in schema}
    for c in ["ts", *(c for c, t in TABLES[name].columns if t == "TIMESTAMP")]:
        cols[c] = [None if v is None else _ns(v) for v in cols[c]]
    return pa.table(cols, schema=schema)


def _ns(value: str) -> int:
    """QuestDB's JSON timestamps ('2024-01-01T00:00:00.123456Z', or ...123456789Z) -> ns."""
    date, _, frac = value.rstrip("Z").partition(".")
    seconds = int(np.datetime64(date, "s").astype(np.int64))
    return seconds * NS + int((frac + "000000000")[:9])


def _sorted(t: pa.Table, symbol: str, keys: list[str]) -> pa.Table:
    t = t.filter(pc.equal(t["symbol"], symbol))
    return t.sort_by([(k, "ascending") for k in keys])


def _ints(t: pa.Table, column: str) -> np.ndarray:
    return t[column].cast(pa.int64()).to_numpy()


def stored_seconds(tables: dict[str, pa.Table], symbol: str) -> Iterator[CobSecond]:
    """Each stored second of `symbol` as the flow's CobSecond (what the features step reads
    of it): its quality, the ALL bars that closed in it, its ALL order flow, summary and
    buckets."""
    dq = _sorted(tables[DATA_QUALITY.name], symbol, ["ts"])
    seconds = _ints(dq, "ts") // NS
    if len(seconds) == 0:
        return
    summary = _sorted(tables[COB_SUMMARY.name], symbol, ["ts"])
    buckets = _sorted(tables[COB_BUCKETS.name], symbol, ["ts", "offset"])
    bars = _sorted(tables[OHLCV.name], symbol, ["ts"])
    bars = bars.filter(pc.equal(bars["venue"], ALL))
    flow = _sorted(tables[ORDER_FLOW.name], symbol, ["ts"])
    flow = flow.filter(pc.equal(flow["venue"], ALL))

    # a bar closes in the first second the flow closed at or after its window's last one
    tf_s = np.array([TIMEFRAMES[t] for t in bars["timeframe"].to_pylist()], dtype=np.int64)
    start_s = _ints(bars, "ts") // NS
    closing = np.searchsorted(seconds, start_s + tf_s - 1)
    order = np.lexsort((tf_s, start_s, closing))
    bar_rows = bars.to_pylist()
    bar_ns = _ints(bars, "ts")
    bars_at: dict[int, list[Bar]] = {}
    for i in order:
        if closing[i] < len(seconds):
            c = bar_rows[i]
            bars_at.setdefault(int(seconds[closing[i]]), []).append(Bar(
                int(bar_ns[i]) // NS, ALL, c["timeframe"], float(c["open"]), float(c["high"]), float(c["low"]),
                float(c["close"]), float(c["volume"]), float(c["buy_volume"]), float(c["sell_volume"]),
                int(c["trades"])))

    by_second = {int(t) // NS: r for t, r in zip(_ints(summary, "ts"), summary.to_pylist())}
    flow_at = {int(t) // NS: r for t, r in zip(_ints(flow, "ts"), flow.to_pylist())}
    b_ts = _ints(buckets, "ts") // NS
    b_cols = {c: buckets[c].to_numpy(zero_copy_only=False) for c, _ in COB_BUCKETS.columns}
    starts = np.searchsorted(b_ts, seconds)
    ends = np.searchsorted(b_ts, seconds, side="right")
    dq_rows = dq.to_pylist()
    summary_columns = [c for c, _ in COB_SUMMARY.columns]
    for j, s in enumerate(seconds.tolist()):
        q = dq_rows[j]
        f = flow_at.get(s)
        flows = () if f is None else (FlowSecond(s, ALL, f["aggressive_buy_ratio"], f["cvd"]),)
        summ = by_second.get(s)
        cols = None
        if ends[j] > starts[j]:
            sl = slice(int(starts[j]), int(ends[j]))
            cols = {c: np.asarray(v[sl], dtype=np.float64) for c, v in b_cols.items()}
        yield CobSecond(symbol, s, Quality(q["completeness"], q["freshness"], q["quality"], q["synced"], q["fresh"],
                                           q["configured"]), tuple(bars_at.get(s, ())), flows,
                        summary=None if summ is None else {c: summ[c] for c in summary_columns}, buckets=cols)


def recompute(tables: dict[str, pa.Table], symbols: SymbolsConfig, output: Path, since_ns: int | None = None,
              progress: bool = True) -> RecomputeResult:
    """The feature tables of every configured symbol found in `tables`, into Parquet under `output`."""
    result = RecomputeResult({t.name: 0 for t in FEATURE_TABLES})
    rows: list[AnyRow] = []
    found = set(tables[DATA_QUALITY.name]["symbol"].to_pylist())
    todo = [s for s in symbols.symbols if s in found]
    if not todo:
        raise RecomputeError(f"no stored rows of the configured symbols ({', '.join(symbols.symbols)})")
    total = sum(len(_sorted(tables[DATA_QUALITY.name], s, ["ts"])) for s in todo)
    bar = Progress("features", total=total, unit=" seconds") if progress else None
    for symbol in todo:
        state = new_feature_state(symbols, symbol)
        for sec in stored_seconds(tables, symbol):
            made = feature_rows(state.add(sec), cob=False)
            result.seconds += 1
            if bar is not None and result.seconds % 500 == 0:
                bar(result.seconds)
            rows.extend(r for r in made if since_ns is None or _first_ts(r) >= since_ns)
    if bar is not None:
        bar(result.seconds)
        bar.finish()
    for r in rows:
        result.rows[r.table] += len(r) if isinstance(r, TableRows) else 1
    write_tables(output, list(FEATURE_TABLES), rows)
    return result


def _first_ts(r: AnyRow) -> int:
    return r.ts if isinstance(r.ts, int) else int(r.ts[0])
