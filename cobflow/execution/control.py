"""The operator's channel to a running strategy flow: `cobflow trading halt|resume` append
numbered commands to a file the execution step polls (it keeps the number of the last one
it applied in its recovery state, so a restart never applies one twice); the step writes
its status beside them for `cobflow trading status`. Files, not a network port: nothing to
secure, and it works the same beside a flow in a container with the folder mounted."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

COMMANDS_FILE = "commands.jsonl"
STATUS_FILE = "status.json"
GATEWAY_FILE = "gateway.json"
COMMANDS = ("halt", "resume")


def read_commands(control_dir: Path) -> list[dict]:
    """The operator's commands, oldest first (a torn last line is not read yet)."""
    try:
        lines = (control_dir / COMMANDS_FILE).read_text().splitlines()
    except FileNotFoundError:
        return []
    out = []
    for line in lines:
        try:
            cmd = json.loads(line)
        except ValueError:
            continue
        if isinstance(cmd, dict) and cmd.get("command") in COMMANDS and isinstance(cmd.get("seq"), int):
            out.append(cmd)
    return out


def append_command(control_dir: Path, command: str, flatten: bool = False) -> int:
    """Queue a command for the running flow (and gateway); returns its number. `flatten` (with
    halt): the gateway also closes the run's positions at the venues."""
    if command not in COMMANDS:
        raise ValueError(f"unknown trading command {command!r}; known: {', '.join(COMMANDS)}")
    control_dir.mkdir(parents=True, exist_ok=True)
    seq = max((c["seq"] for c in read_commands(control_dir)), default=0) + 1
    entry = {"seq": seq, "command": command, "at": time.time(), **({"flatten": True} if flatten else {})}
    with open(control_dir / COMMANDS_FILE, "a") as f:
        f.write(json.dumps(entry) + "\n")
    return seq


def write_status(control_dir: Path, status: dict[str, Any]) -> None:
    _write(control_dir, STATUS_FILE, status)


def _write(control_dir: Path, name: str, status: dict[str, Any]) -> None:
    control_dir.mkdir(parents=True, exist_ok=True)
    tmp = control_dir / f".{name}.{os.getpid()}"
    tmp.write_text(json.dumps({**status, "written_at": time.time()}, indent=1))
    tmp.replace(control_dir / name)


def read_status(control_dir: Path, name: str = STATUS_FILE) -> dict[str, Any] | None:
    try:
        return json.loads((control_dir / name).read_text())
    except (FileNotFoundError, ValueError):
        return None


def write_gateway_status(control_dir: Path, status: dict[str, Any]) -> None:
    """The gateway's (`cobflow trade`) status beside the flow's: its orders and the venues' balances."""
    _write(control_dir, GATEWAY_FILE, status)
