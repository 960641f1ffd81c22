"""`cobflow services up|down|restart|status [kafka|questdb]`: the local Kafka and QuestDB
servers, both (in start order) or one."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from cobflow.names import SERVERS

if TYPE_CHECKING:
    from cobflow.config import Settings

from cobflow.app.cli.common import Subparsers, command, err


def cmd_services(args: argparse.Namespace, settings: Settings) -> int:
    from cobflow.app.services import Services

    services = Services(settings, args.server)
    if args.action == "up":
        services.up()
    elif args.action == "down":
        services.down(wipe=args.wipe)
    elif args.action == "restart":
        if args.wipe:
            return err("--wipe goes with down only")
        services.restart()
    for st in services.status():
        print(st.line())
    if args.action in ("up", "restart"):
        return 0 if all(st.healthy for st in services.status()) else 1
    return 0


def add_commands(sub: Subparsers) -> None:
    s = command(sub, "services", "fetch, start, stop local Kafka and QuestDB (no Docker)", cmd_services)
    s.add_argument("action", choices=["up", "down", "restart", "status"],
                   help="start / stop / stop and start / show the servers")
    s.add_argument("server", nargs="?", choices=list(SERVERS), help="one server only (default both)")
    s.add_argument("--wipe", action="store_true", help="with down: also delete their data and logs")
