"""Where a flow's wall time goes: the flow process sampled by py-spy (100 Hz, idle time
included, so waiting on Kafka or on QuestDB counts), each sample charged to the innermost
step of ours on its stack:

    source  dataflows/sources.py (reading Kafka or a capture, records -> raw messages)
    parse   the venue parsers and books (connectors/, operators/parse.py, the native core)
    flow    the rest of the flow's steps (consolidation, metrics, features: operators/, ...)
    sink    the sinks (dataflows/sinks/: rows -> QuestDB or Parquet)
    other   Bytewax and start-up (imports, connecting), where no step of ours is on the stack

    python bench/flow_profile.py STACKS.txt         # the shares of a py-spy raw file
`bench/cob.py --profile` runs the Kafka -> QuestDB flow under it and records the shares.
"""

from __future__ import annotations

import re
import shutil
import sys
from collections import Counter
from pathlib import Path

CATEGORIES = ("source", "parse", "flow", "sink", "other")
#: (category, path fragment) in the order they are tried on a frame's file
_ANCHORS = (
    ("sink", "dataflows/sinks/"),
    ("source", "dataflows/sources.py"),
    ("parse", "connectors/"),
    ("parse", "operators/parse.py"),
    ("parse", "operators/venue_book.py"),
    ("parse", "cobflow/native.py"),
    ("flow", "operators/"),
    ("flow", "cobflow/metrics/"),
    ("flow", "models/"),
)
_FRAME = re.compile(r"\((?P<file>[^():]+):\d+\)$")


def category(stack: list[str]) -> str:
    """The category of the innermost frame of ours (leaf first)."""
    for frame in reversed(stack):
        m = _FRAME.search(frame)
        if m is None:
            continue
        path = m["file"]
        for cat, fragment in _ANCHORS:
            if fragment in path:
                return cat
    return "other"


def shares(raw: Path) -> dict:
    """Samples per category of the flow's busiest thread (its Bytewax worker), as shares."""
    per_thread: dict[str, Counter] = {}
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        frames = stack.split(";")
        thread = re.sub(r"\s*\(.*", "", frames[0]) if frames[0].startswith("thread") else "?"
        tid = re.search(r"\((\d+)\)", frames[0])
        key = tid.group(1) if tid else thread
        per_thread.setdefault(key, Counter())[category(frames[1:])] += int(n)
    busiest = max(per_thread.values(), key=lambda c: sum(c.values()))
    total = sum(busiest.values())
    return {"samples": total, **{c: busiest[c] / total for c in CATEGORIES}}


def profiled(cmd: list[str], out: Path, rate: int = 100) -> list[str]:
    """`cmd` run under py-spy (the one beside this Python, else on PATH), its stacks written
    to `out` in py-spy's raw format."""
    beside = Path(sys.executable).with_name("py-spy")
    spy = str(beside) if beside.exists() else shutil.which("py-spy")
    if spy is None:
        raise SystemExit("py-spy is not installed: pip install -e '.[dev]' (or pip install py-spy)")
    return [spy, "record", "-r", str(rate), "--idle", "--threads", "--nonblocking", "-f", "raw", "-o", str(out),
            "--", *cmd]


def show(label: str, s: dict) -> str:
    return f"{label}: " + ", ".join(f"{c} {s[c]:.0%}" for c in CATEGORIES) + f" of wall time ({s['samples']:,} samples)"


if __name__ == "__main__":
    print(show(sys.argv[1], shares(Path(sys.argv[1]))))
