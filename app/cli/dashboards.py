"""`cobflow dashboards build|validate|push`: the Grafana dashboards as code."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from cobflow.names import PROJECT_ROOT

if TYPE_CHECKING:
    from cobflow.config import Settings

from cobflow.app.cli.common import Subparsers, command, err


def _build(args: argparse.Namespace) -> int:
    from cobflow.app.dashboards import DASHBOARD_DIR
    from cobflow.app.dashboards.files import stale_dashboards, write_dashboards

    if args.check:
        stale = stale_dashboards()
        if stale:
            return err(f"out of date with app/dashboards/definitions.py: {', '.join(stale)} "
                       f"(run: cobflow dashboards build)")
        print(f"{DASHBOARD_DIR}: up to date")
        return 0
    for path in write_dashboards():
        print(f"wrote {path}")
    return 0


def _validate(args: argparse.Namespace, settings: Settings) -> int:
    from cobflow.app.dashboards import DASHBOARD_DIR, DATASOURCE_FILE, PROVIDER_FILE
    from cobflow.app.dashboards.files import stale_dashboards
    from cobflow.app.dashboards.validate import check_provisioning, format_report, validate, with_table_prefix
    from cobflow.qdb import query

    prefix = settings.questdb.table_prefix
    problems = check_provisioning(DATASOURCE_FILE, PROVIDER_FILE)
    problems += [f"{name}: out of date with definitions.py (cobflow dashboards build)"
                 for name in stale_dashboards(args.dir)] if args.dir == DASHBOARD_DIR else []
    report = validate(args.dir, lambda sql: query(settings.questdb, with_table_prefix(sql, prefix)),
                      args.start, args.end)
    report.problems = problems + report.problems
    span = f"{args.start} to {args.end or 'now'}" if args.start else "each dashboard's default time range"
    print(f"dashboards in {args.dir}, against QuestDB at {settings.questdb.http_url}, over {span}:")
    print(format_report(report))
    return 0 if report.ok else 1


def _push(args: argparse.Namespace, settings: Settings) -> int:
    from cobflow.app.dashboards.push import push

    credential: str | tuple[str, str] = args.token or tuple(args.basic_auth.split(":", 1))
    q = settings.questdb
    address = args.questdb_address or f"{q.host}:{q.pg_port}"
    for line in push(args.url, credential, address, args.questdb_user, args.questdb_password, q.table_prefix):
        print(line)
    return 0


def cmd_dashboards(args: argparse.Namespace, settings: Settings) -> int:
    if args.dashboards_action == "build":
        return _build(args)
    if args.dashboards_action == "validate":
        return _validate(args, settings)
    return _push(args, settings)


def add_commands(sub: Subparsers) -> None:
    s = command(sub, "dashboards", "Grafana dashboards: build the JSON, validate against QuestDB, push",
                cmd_dashboards)
    dsub = s.add_subparsers(dest="dashboards_action", required=True, metavar="ACTION")
    b = command(dsub, "build", "write grafana/dashboards/*.json from app/dashboards/definitions.py")
    b.add_argument("--check", action="store_true", help="only check that the files are up to date")
    v = command(dsub, "validate", "check the dashboard files and run every panel's SQL on QuestDB")
    v.add_argument("--dir", type=Path, default=PROJECT_ROOT / "grafana" / "dashboards",
                   help="dashboard JSON folder")
    v.add_argument("--from", dest="start", help="time range start: now-1h, ISO 8601, epoch ms "
                                                "(default: each dashboard's own range)")
    v.add_argument("--to", dest="end", help="time range end (default: now)")
    pu = command(dsub, "push", "create or update the datasource and dashboards in a running Grafana")
    pu.add_argument("--url", required=True, help="Grafana's URL, e.g. http://localhost:3000")
    auth = pu.add_mutually_exclusive_group(required=True)
    auth.add_argument("--token", help="a service-account token (Editor or Admin)")
    auth.add_argument("--basic-auth", metavar="USER:PASSWORD", help="a Grafana user instead of a token")
    pu.add_argument("--questdb-address", help="QuestDB's PostgreSQL wire as Grafana reaches it "
                                              "(default: COBFLOW_QUESTDB__HOST:PG_PORT)")
    pu.add_argument("--questdb-user", default="admin", help="the Grafana datasource's QuestDB user (default admin)")
    pu.add_argument("--questdb-password", default="quest",
                    help="its password (default quest, QuestDB's own default)")
