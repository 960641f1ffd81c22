"""Check the dashboard files as Grafana would load them, then run every panel's SQL, with
Grafana's variables and macros expanded, against QuestDB."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cobflow.app.dashboards import DATASOURCE_TYPE, DATASOURCE_UID
from cobflow.app.dashboards.grafana_sql import (
    VARIABLE,
    GrafanaSQLError,
    TimeRange,
    Variable,
    builtin_variables,
    expand_macros,
    interpolate,
    panel_interval,
)
from cobflow.app.dashboards.model import MAY_BE_EMPTY
from cobflow.tables import TABLES

PANEL_TYPES = {"timeseries", "heatmap", "barchart", "candlestick", "state-timeline", "stat", "table",
               "gauge", "bargauge", "text", "row"}
BUILTINS = {"__interval", "__interval_ms", "__from", "__to", "__range", "__range_s", "__range_ms"}
MACROS = {"__time", "__timeEpoch", "__timeFilter", "__timeFrom", "__timeTo", "__timeGroup", "__timeGroupAlias",
          "__unixEpochFilter", "__unixEpochNanoFilter", "__unixEpochNanoFrom", "__unixEpochNanoTo",
          "__unixEpochGroup", "__unixEpochGroupAlias"}
#: Grafana's default when a panel sets no maxDataPoints is its width in pixels; this is a wide panel.
MAX_DATA_POINTS = 1000

Runner = Callable[[str], list[dict[str, Any]]]


@dataclass
class QueryResult:
    dashboard: str
    panel: str
    ref: str
    sql: str = ""
    rows: int | None = None
    error: str | None = None
    empty_ok: str | None = None  # why this query may return no rows (it then passes empty)


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)  # model errors: file, panel, what
    queries: list[QueryResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and all(q.error is None for q in self.queries)


def load_dashboards(folder: Path) -> dict[str, dict[str, Any]]:
    files = sorted(folder.glob("*.json"))
    if not files:
        raise FileNotFoundError(f"no dashboard files (*.json) in {folder}")
    out = {}
    for f in files:
        try:
            out[f.name] = json.loads(f.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{f}: not valid JSON: {exc}") from None
    return out


def with_table_prefix(sql: str, prefix: str) -> str:
    """Point FROM/JOIN at prefixed tables (COBFLOW_QUESTDB__TABLE_PREFIX)."""
    if not prefix:
        return sql
    names = "|".join(sorted(TABLES, key=len, reverse=True))
    return re.sub(rf"\b(FROM|JOIN)(\s+)({names})\b", lambda m: f"{m[1]}{m[2]}{prefix}{m[3]}", sql,
                  flags=re.IGNORECASE)


def _referenced(sql: str) -> set[str]:
    return {m[0] or m[1] or m[2] for m in VARIABLE.findall(sql)}


def check_model(name: str, dash: dict[str, Any]) -> list[str]:
    """What would stop Grafana from loading this dashboard, or leave a panel without data."""
    problems: list[str] = []
    for key, kind in (("uid", str), ("title", str), ("panels", list), ("schemaVersion", int), ("time", dict)):
        if not isinstance(dash.get(key), kind):
            problems.append(f"{name}: '{key}' missing or not a {kind.__name__}")
    if problems:
        return problems
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,40}", dash["uid"]):
        problems.append(f"{name}: uid {dash['uid']!r} is not a valid Grafana uid (1-40 of A-Za-z0-9_-)")
    variables = dash.get("templating", {}).get("list", [])
    names = [v.get("name") for v in variables]
    known = set(names) | BUILTINS | MACROS
    if len(set(names)) != len(names):
        problems.append(f"{name}: duplicate variable names {names}")
    for v in variables:
        if v.get("type") == "query":
            if not v.get("query"):
                problems.append(f"{name}: variable {v.get('name')!r} has no query")
            if (v.get("datasource") or {}).get("uid") != DATASOURCE_UID:
                problems.append(f"{name}: variable {v.get('name')!r} does not use the QuestDB datasource")
            for ref in _referenced(v.get("query", "")) - known:
                problems.append(f"{name}: variable {v.get('name')!r} refers to undefined ${ref}")
        elif v.get("type") == "custom" and not v.get("query"):
            problems.append(f"{name}: custom variable {v.get('name')!r} has no values")
    ids = [p.get("id") for p in dash["panels"]]
    if len(set(ids)) != len(ids):
        problems.append(f"{name}: duplicate panel ids {ids}")
    for p in dash["panels"]:
        where = f"{name}: panel {p.get('id')} {p.get('title')!r}"
        if p.get("type") not in PANEL_TYPES:
            problems.append(f"{where}: unknown panel type {p.get('type')!r}")
        grid = p.get("gridPos", {})
        if not all(isinstance(grid.get(k), int) for k in "xywh") or grid["x"] + grid["w"] > 24:
            problems.append(f"{where}: gridPos {grid} is not inside the 24-column grid")
        if p.get("type") in ("row", "text"):
            continue
        ds = p.get("datasource") or {}
        if ds.get("uid") != DATASOURCE_UID or ds.get("type") != DATASOURCE_TYPE:
            problems.append(f"{where}: datasource {ds} is not the provisioned QuestDB datasource")
        targets = p.get("targets") or []
        if not targets:
            problems.append(f"{where}: no query")
        refs = [t.get("refId") for t in targets]
        if len(set(refs)) != len(refs):
            problems.append(f"{where}: duplicate refIds {refs}")
        for t in targets:
            if not (t.get("rawSql") or "").strip():
                problems.append(f"{where} {t.get('refId')}: empty SQL")
            if t.get("format") not in ("time_series", "table"):
                problems.append(f"{where} {t.get('refId')}: format {t.get('format')!r} (time_series or table)")
            for ref in _referenced(t.get("rawSql", "")) - known:
                problems.append(f"{where} {t.get('refId')}: refers to undefined ${ref}")
    return problems


def resolve_variables(dash: dict[str, Any], run: Runner, rng: TimeRange) -> dict[str, Variable]:
    """Each variable's value as Grafana selects it when the dashboard opens: the saved current
    value, else the first option ('All' for include-all variables). Variables may use earlier ones."""
    resolved: dict[str, Variable] = {}
    builtins = builtin_variables(rng, 1000)
    for v in dash.get("templating", {}).get("list", []):
        name, multi = v["name"], bool(v.get("multi") or v.get("includeAll"))
        if v.get("type") == "custom":
            options = [o.strip() for o in v["query"].split(",")]
        elif v.get("type") == "query":
            sql = expand_macros(interpolate(v["query"], resolved, builtins), rng)
            options = [str(next(iter(r.values()))) for r in run(sql)]
        else:
            continue
        if not options:
            raise GrafanaSQLError(f"variable ${name} has no values (its query returned no rows)")
        current = (v.get("current") or {}).get("value")
        if v.get("includeAll") and current in (None, "$__all", ["$__all"]):
            values = options
        elif isinstance(current, str) and current in options:
            values = [current]
        else:
            values = options[:1]
        resolved[name] = Variable(name, tuple(values), multi)
    return resolved


def validate_dashboard(name: str, dash: dict[str, Any], run: Runner, rng: TimeRange,
                       report: Report, max_data_points: int = MAX_DATA_POINTS) -> None:
    problems = check_model(name, dash)
    report.problems += problems
    if problems:
        return
    try:
        variables = resolve_variables(dash, run, rng)
    except (GrafanaSQLError, RuntimeError) as exc:
        report.problems.append(f"{name}: {exc}")
        return
    for p in dash["panels"]:
        for t in p.get("targets") or []:
            q = QueryResult(name, p.get("title", ""), t.get("refId", ""), empty_ok=t.get(MAY_BE_EMPTY))
            report.queries.append(q)
            interval = panel_interval(rng, p.get("maxDataPoints") or max_data_points, p.get("interval"))
            try:
                q.sql = expand_macros(interpolate(t["rawSql"], variables, builtin_variables(rng, interval)), rng)
                if "$" in q.sql:
                    raise GrafanaSQLError(f"unexpanded variable left in: {q.sql}")
                rows = run(q.sql)
            except (GrafanaSQLError, RuntimeError) as exc:
                q.error = str(exc)
                continue
            q.rows = len(rows)
            if not rows and not q.empty_ok:
                q.error = "no rows in the time range"


def validate(folder: Path, run: Runner, start: str | None = None, end: str | None = None,
             now_ms: int | None = None) -> Report:
    """Every dashboard over [start, end] (Grafana time-picker syntax), or over its own default range."""
    now = now_ms if now_ms is not None else time.time_ns() // 1_000_000
    report = Report()
    for name, dash in load_dashboards(folder).items():
        default = dash.get("time") or {}
        rng = TimeRange.parse(start or default.get("from", "now-6h"), end or default.get("to", "now"), now)
        validate_dashboard(name, dash, run, rng, report)
    return report


def format_report(report: Report) -> str:
    lines = []
    for q in report.queries:
        status = f"{q.rows:>6} rows" if q.error is None else f"FAILED: {q.error}"
        if q.error is None and not q.rows and q.empty_ok:
            status += f" (may be empty: {q.empty_ok})"
        lines.append(f"  {q.dashboard:26s} {q.panel[:58]:58s} {q.ref:2s} {status}")
    lines += [f"  PROBLEM: {p}" for p in report.problems]
    failed = sum(q.error is not None for q in report.queries) + len(report.problems)
    empty = sum(q.error is None and not q.rows for q in report.queries)
    lines.append(f"{len(report.queries)} queries, {failed} failed" if failed else
                 f"{len(report.queries)} queries, all returned rows" if not empty else
                 f"{len(report.queries)} queries, all ran; {empty} returned no rows and may be empty")
    return "\n".join(lines)


def check_provisioning(datasource_file: Path, provider_file: Path) -> list[str]:
    """The provisioned datasource is the one the panels name; the provider reads the mounted folder."""
    import yaml

    problems = []
    try:
        sources = yaml.safe_load(datasource_file.read_text()).get("datasources") or []
    except (OSError, yaml.YAMLError, AttributeError) as exc:
        return [f"{datasource_file}: {exc}"]
    if not any(d.get("uid") == DATASOURCE_UID and d.get("type") == DATASOURCE_TYPE for d in sources):
        problems.append(f"{datasource_file}: no datasource with uid {DATASOURCE_UID!r} and type {DATASOURCE_TYPE!r}")
    try:
        providers = yaml.safe_load(provider_file.read_text()).get("providers") or []
    except (OSError, yaml.YAMLError, AttributeError) as exc:
        return [*problems, f"{provider_file}: {exc}"]
    if not any(p.get("type") == "file" and (p.get("options") or {}).get("path") for p in providers):
        problems.append(f"{provider_file}: no file provider with options.path")
    return problems
