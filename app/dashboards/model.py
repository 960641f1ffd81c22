"""Small builders for Grafana's dashboard JSON model (schemaVersion 39): panels laid out
on the 24-column grid, SQL targets on the QuestDB datasource, template variables."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cobflow.app.dashboards import DATASOURCE_TYPE, DATASOURCE_UID

SCHEMA_VERSION = 39
DATASOURCE = {"type": DATASOURCE_TYPE, "uid": DATASOURCE_UID}


#: a target's key (Grafana ignores it) saying why it may return no rows: `dashboards validate`
#: then runs it and reports it empty without failing (a test validates it on data with rows)
MAY_BE_EMPTY = "cobflowMayBeEmpty"


def target(sql: str, ref: str = "A", fmt: str = "time_series", may_be_empty: str | None = None) -> dict[str, Any]:
    t = {"refId": ref, "datasource": DATASOURCE, "editorMode": "code", "format": fmt,
         "rawQuery": True, "rawSql": " ".join(sql.split())}
    if may_be_empty:
        t[MAY_BE_EMPTY] = may_be_empty
    return t


@dataclass
class Layout:
    """Places panels left to right, wrapping at 24 columns."""

    x: int = 0
    y: int = 0
    row_h: int = 0
    next_id: int = 1

    def place(self, w: int, h: int) -> dict[str, int]:
        if self.x + w > 24:
            self.x, self.y, self.row_h = 0, self.y + self.row_h, 0
        pos = {"x": self.x, "y": self.y, "w": w, "h": h}
        self.x += w
        self.row_h = max(self.row_h, h)
        return pos


@dataclass
class Dashboard:
    uid: str
    title: str
    description: str
    time_from: str = "now-15m"
    refresh: str = "5s"
    variables: list[dict[str, Any]] = field(default_factory=list)
    panels: list[dict[str, Any]] = field(default_factory=list)
    layout: Layout = field(default_factory=Layout)

    def panel(self, kind: str, title: str, targets: list[dict[str, Any]], w: int = 12, h: int = 8,
              description: str = "", unit: str | None = None, options: dict[str, Any] | None = None,
              custom: dict[str, Any] | None = None, overrides: list[dict[str, Any]] | None = None,
              **extra: Any) -> None:
        defaults: dict[str, Any] = {"custom": custom or {}}
        if unit:
            defaults["unit"] = unit
        for key in ("min", "max"):  # field settings: Grafana reads them from fieldConfig.defaults
            if key in extra:
                defaults[key] = extra.pop(key)
        if "thresholds" in extra:
            defaults["thresholds"] = {"mode": "absolute", "steps": extra.pop("thresholds")}
        self.panels.append({
            "id": self.layout.next_id, "type": kind, "title": title, "description": description,
            "datasource": DATASOURCE, "gridPos": self.layout.place(w, h),
            "interval": "1s",  # rows are one per second: never ask for finer groups
            "targets": targets,
            "fieldConfig": {"defaults": defaults, "overrides": overrides or []},
            "options": options or {}, **extra,
        })
        self.layout.next_id += 1

    def query_variable(self, name: str, label: str, sql: str, multi: bool = False) -> None:
        self.variables.append({
            "name": name, "label": label, "type": "query", "datasource": DATASOURCE,
            "query": " ".join(sql.split()), "definition": " ".join(sql.split()), "refresh": 2,
            "multi": multi, "includeAll": multi, "sort": 1, "current": {}, "options": [],
        })

    def custom_variable(self, name: str, label: str, values: list[str], default: str) -> None:
        self.variables.append({
            "name": name, "label": label, "type": "custom", "query": ",".join(values),
            "multi": False, "includeAll": False,
            "current": {"text": default, "value": default, "selected": True},
            "options": [{"text": v, "value": v, "selected": v == default} for v in values],
        })

    def to_json(self) -> dict[str, Any]:
        return {
            "uid": self.uid, "title": self.title, "description": self.description,
            "tags": ["cobflow"], "timezone": "utc", "editable": True, "graphTooltip": 1,
            "schemaVersion": SCHEMA_VERSION, "version": 1, "refresh": self.refresh,
            "time": {"from": self.time_from, "to": "now"},
            "templating": {"list": self.variables},
            "annotations": {"list": []},
            "panels": self.panels,
        }
