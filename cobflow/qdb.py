"""QuestDB over its HTTP API: DDL, queries, and waiting for WAL tables to apply."""

from __future__ import annotations

import json
import math
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from cobflow.config import QuestDBSettings
from cobflow.tables import Table


class QuestDBError(RuntimeError):
    pass


def exec_sql(settings: QuestDBSettings, sql: str, timeout: float = 30) -> dict[str, Any]:
    url = f"{settings.http_url}/exec?" + urllib.parse.urlencode({"query": sql})
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            body = json.load(resp)
    except urllib.error.HTTPError as exc:
        try:
            body = json.load(exc)
        except ValueError:
            raise QuestDBError(f"HTTP {exc.code} for {sql!r}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise QuestDBError(f"QuestDB at {settings.http_url} not reachable: {exc}") from None
    if "error" in body:
        raise QuestDBError(f"{body['error']} (in: {sql})")
    return body


def query(settings: QuestDBSettings, sql: str) -> list[dict[str, Any]]:
    body = exec_sql(settings, sql)
    names = [c["name"] for c in body.get("columns", [])]
    return [dict(zip(names, row)) for row in body.get("dataset", [])]


def ensure_tables(settings: QuestDBSettings, tables: list[Table]) -> None:
    for t in tables:
        exec_sql(settings, t.ddl(settings.table(t.name)))


def drop_tables(settings: QuestDBSettings, tables: list[Table]) -> None:
    for t in tables:
        exec_sql(settings, f"DROP TABLE IF EXISTS {settings.table(t.name)}")


def wait_for_wal(settings: QuestDBSettings, table_names: list[str], timeout: float = 60) -> None:
    """Block until every committed WAL transaction of these tables is visible to queries."""
    deadline = time.monotonic() + timeout
    while True:
        rows = {r["name"]: r for r in query(settings, "select name, suspended, writerTxn, sequencerTxn from wal_tables()")}
        pending: list[str] = []
        for name in table_names:
            r = rows.get(name)
            if r is None:
                continue  # not created: nothing to wait for
            if r["suspended"]:
                raise QuestDBError(f"WAL table {name} is suspended; see the QuestDB log")
            if r["writerTxn"] < r["sequencerTxn"]:
                pending.append(name)
        if not pending:
            return
        if time.monotonic() > deadline:
            raise QuestDBError(f"WAL not applied within {timeout} s for {pending}")
        time.sleep(0.1)


def decimals(values: list[float]) -> int:
    """The decimals a column of floats is printed with: ratios in [-1, 1] to 4, money and
    prices of 1,000 or more to cents, others to 6 significant digits of their median size
    (a price of 0.15 to 6 decimals, one of 3,200 to 2); a column whose values lie within 1%
    of each other (a quote rate near 1) to 6 significant digits too, so that they differ."""
    finite = [abs(v) for v in values if math.isfinite(v)]
    if not finite or all(v == int(v) for v in finite):
        return 0 if finite else 2
    near = min(finite) > 0 and max(finite) - min(finite) <= 0.01 * max(finite) and max(finite) < 1000
    if max(finite) <= 1 and not near:
        return 4
    size = sorted(finite)[len(finite) // 2]
    if size >= 1000:
        return 2
    return max(2, min(8, 5 - math.floor(math.log10(size)))) if size > 0 else 4


def _text(value: Any, places: int | None) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and places is not None:
        return f"{value:.{places}f}" if math.isfinite(value) else str(value)
    return str(value)


def format_rows(rows: list[dict]) -> str:
    """Query rows as an aligned text table (`cobflow sql`, the demo): numbers right-aligned,
    each float column rounded to `decimals` (`cobflow sql --format json` keeps every digit)."""
    if not rows:
        return "(no rows)"
    cols = list(rows[0])
    places: dict[str, int | None] = {}
    numeric: dict[str, bool] = {}
    for c in cols:
        values = [r[c] for r in rows if r[c] is not None]
        numeric[c] = bool(values) and all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
        floats = [float(v) for v in values if isinstance(v, float)]
        places[c] = decimals(floats) if numeric[c] and floats else None
    cells = [[_text(r[c], places[c]) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]

    def line(values: list[str]) -> str:
        return "  ".join(v.rjust(w) if numeric[c] else v.ljust(w) for v, w, c in zip(values, widths, cols)).rstrip()

    return "\n".join([line(cols), *(line(row) for row in cells)])
