"""Grafana dashboards as code: built from `definitions`, provisioned from `grafana/`,
validated against QuestDB with Grafana's own macro expansion, pushed with grafana-client."""

from cobflow.config import PROJECT_ROOT

GRAFANA_DIR = PROJECT_ROOT / "grafana"
DASHBOARD_DIR = GRAFANA_DIR / "dashboards"
DATASOURCE_FILE = GRAFANA_DIR / "provisioning" / "datasources" / "questdb.yaml"
PROVIDER_FILE = GRAFANA_DIR / "provisioning" / "dashboards" / "cobflow.yaml"
DATASOURCE_UID = "questdb"
DATASOURCE_TYPE = "grafana-postgresql-datasource"  # Grafana's built-in PostgreSQL plugin

