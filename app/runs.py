"""The `runs` table: each run that writes QuestDB (a Kafka backtest, the strategy flow)
records the symbols file it ran with, whole, and `symbols_of_run` reads it back."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

from cobflow.config import Settings
from cobflow.provenance import code_version, sha256
from cobflow.qdb import QuestDBError, ensure_tables, exec_sql, query
from cobflow.tables import RUNS


def _text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def record_run(settings: Settings, run: str, strategy: str | None) -> bool:
    """One `runs` row for `run` now; a QuestDB that cannot be reached is said in one line
    (the flow has its own outage handling) and gives False."""
    path = Path(settings.symbols_file)
    q = settings.questdb
    table = q.table(RUNS.name)
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    values = [f"'{now}'", _text(run), _text(strategy or ""), _text(code_version()), _text(str(path.resolve())),
              _text(sha256(path)), _text(path.read_text())]
    try:
        ensure_tables(q, [RUNS])
        exec_sql(q, f"INSERT INTO {table} (ts, run, strategy, code_version, symbols_file, symbols_sha256, "
                    f"symbols_yaml) VALUES ({', '.join(values)})")
    except (QuestDBError, OSError) as exc:
        reason = str(exc).split(" (in: ")[0]  # not the statement: it holds the whole file
        print(f"cobflow: warning: run {run!r} not recorded in {table}: {reason}", file=sys.stderr)
        return False
    return True


def symbols_of_run(settings: Settings, run: str) -> str | None:
    """The symbols file (its text) the newest start of `run` recorded; None without one."""
    q = settings.questdb
    rows = query(q, f"SELECT symbols_yaml FROM {q.table(RUNS.name)} WHERE run = {_text(run)} "
                    f"ORDER BY ts DESC LIMIT 1")
    return rows[0]["symbols_yaml"] if rows else None
