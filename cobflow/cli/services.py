"""`cobflow services up|down|status`: the local Kafka and QuestDB servers."""

from __future__ import annotations

import argparse

from cobflow.cli.common import Subparsers, command
from cobflow.config import Settings
from cobflow.services import Services


def cmd_services(args: argparse.Namespace, settings: Settings) -> int:
    services = Services(settings)
    if args.action == "up":
        services.up()
    elif args.action == "down":
        services.down(wipe=args.wipe)
    for st in services.status():
        print(st.line())
    if args.action == "up":
        return 0 if all(st.healthy for st in services.status()) else 1
    return 0


def add_commands(sub: Subparsers) -> None:
    s = command(sub, "services", "fetch, start, stop local Kafka and QuestDB (no Docker)", cmd_services)
    s.add_argument("action", choices=["up", "down", "status"], help="start / stop / show the servers")
    s.add_argument("--wipe", action="store_true", help="with down: also delete their data and logs")
