"""Push the datasource and dashboards to a Grafana someone already runs (grafana-client)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml
from grafana_client import GrafanaApi
from grafana_client.client import GrafanaClientError

from cobflow.app.dashboards import DASHBOARD_DIR, DATASOURCE_FILE
from cobflow.app.dashboards.validate import load_dashboards, with_table_prefix

FOLDER_UID = "cobflow"


def datasource_from_provisioning(path: Path, env: dict[str, str]) -> dict[str, Any]:
    """The provisioned datasource with its ${VARS} filled from `env` (a missing one is an error)."""
    text = path.read_text()
    missing = sorted({m for m in re.findall(r"\$\{(\w+)\}", text) if m not in env})
    if missing:
        raise ValueError(f"{path}: set {', '.join(missing)} (the datasource refers to them)")
    text = re.sub(r"\$\{(\w+)\}", lambda m: env[m.group(1)], text)
    (ds,) = yaml.safe_load(text)["datasources"]
    return {k: v for k, v in ds.items() if k != "editable"}


def prefixed(dash: dict[str, Any], prefix: str) -> dict[str, Any]:
    """The dashboard reading COBFLOW_QUESTDB__TABLE_PREFIX'd tables."""
    if not prefix:
        return dash
    for p in dash["panels"]:
        for t in p.get("targets", []):
            t["rawSql"] = with_table_prefix(t["rawSql"], prefix)
    for v in dash.get("templating", {}).get("list", []):
        if v.get("type") == "query":
            v["query"] = v["definition"] = with_table_prefix(v["query"], prefix)
    return dash


def push(url: str, credential: str | tuple[str, str], questdb_address: str, user: str, password: str,
         table_prefix: str = "", folder: Path = DASHBOARD_DIR) -> list[str]:
    """Create or update the QuestDB datasource, the cobflow folder and every dashboard.
    Returns what was done, one line per object."""
    api = GrafanaApi.from_url(url, credential=credential)
    env = {**os.environ, "QUESTDB_PG_ADDRESS": questdb_address, "QUESTDB_PG_USER": user,
           "QUESTDB_PG_PASSWORD": password}
    ds = datasource_from_provisioning(DATASOURCE_FILE, env)
    done = []
    try:
        api.datasource.get_datasource_by_uid(ds["uid"])
        api.datasource.update_datasource_by_uid(ds["uid"], ds)
        done.append(f"datasource {ds['name']} (uid {ds['uid']}): updated")
    except GrafanaClientError as exc:
        if exc.status_code != 404:
            raise
        api.datasource.create_datasource(ds)
        done.append(f"datasource {ds['name']} (uid {ds['uid']}): created -> {questdb_address}")
    try:
        api.folder.get_folder(FOLDER_UID)
    except GrafanaClientError as exc:
        if exc.status_code != 404:
            raise
        api.folder.create_folder("cobflow", uid=FOLDER_UID)
        done.append("folder cobflow: created")
    for _name, dash in load_dashboards(folder).items():
        dash = prefixed({**dash, "id": None}, table_prefix)
        result = api.dashboard.update_dashboard({"dashboard": dash, "folderUid": FOLDER_UID, "overwrite": True,
                                                 "message": "cobflow dashboards push"})
        done.append(f"dashboard {dash['title']}: {result.get('status', 'saved')} {result.get('url', '')}".rstrip())
    return done
