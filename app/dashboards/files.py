"""grafana/dashboards/*.json are built from `definitions`; a test keeps them in step."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cobflow.app.dashboards import DASHBOARD_DIR
from cobflow.app.dashboards.definitions import build_all


def render(dash: dict[str, Any]) -> str:
    return json.dumps(dash, indent=2, sort_keys=False) + "\n"


def write_dashboards(folder: Path = DASHBOARD_DIR) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name, dash in build_all().items():
        path = folder / f"{name}.json"
        path.write_text(render(dash))
        out.append(path)
    return out


def stale_dashboards(folder: Path = DASHBOARD_DIR) -> list[str]:
    """Files that differ from what `definitions` builds (or are missing)."""
    stale = []
    for name, dash in build_all().items():
        path = folder / f"{name}.json"
        if not path.is_file() or path.read_text() != render(dash):
            stale.append(path.name)
    return stale
