"""QuestDB over its HTTP API: DDL, queries, and waiting for WAL tables to apply."""

from __future__ import annotations

import json
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


def format_rows(rows: list[dict]) -> str:
    """Query rows as a plain text table (`cobflow sql`, the demo)."""
    if not rows:
        return "(no rows)"
    cols = list(rows[0])
    cells = [[("" if r[c] is None else str(r[c])) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(cols, widths))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in cells]
    return "\n".join(lines)
