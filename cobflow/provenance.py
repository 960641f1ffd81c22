"""What pins a result to its inputs: the code version that made it and a file's hash
(checkpoints and backtest reports record both)."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

from cobflow import __version__
from cobflow.config import PROJECT_ROOT


def code_version() -> str:
    """`cobflow <version> (<git describe>)`; `-dirty` when the checkout has changes."""
    try:
        rev = subprocess.run(["git", "-C", str(PROJECT_ROOT), "describe", "--always", "--dirty", "--abbrev=12"],
                             capture_output=True, text=True, timeout=5).stdout.strip()
    except OSError:
        rev = ""
    return f"cobflow {__version__}" + (f" ({rev})" if rev else "")


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
