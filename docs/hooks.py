"""mkdocs hooks: the reference pages are generated from the code before every build, so the
site never shows a command, setting or table the code does not have; and the package is
laid out as it is installed (pyproject's package-dir maps the top-level folders into
`cobflow.*`) under .cobflow/docs-src, where mkdocstrings reads the plug-in APIs (a copy of
the Python files: its reader follows symlinks back to the folders they point into).

The copy is made when mkdocs loads this module, while it reads mkdocs.yml: mkdocstrings
takes its search paths as they exist then, before any build event."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MAPPED = ("connectors", "operators", "models", "dataflows", "app")


def _package_tree() -> None:
    tree = ROOT / ".cobflow" / "docs-src" / "cobflow"
    shutil.rmtree(tree.parent, ignore_errors=True)
    python_only = shutil.ignore_patterns("__pycache__", "samples", "*.so", "*.pyc")
    shutil.copytree(ROOT / "cobflow", tree, ignore=python_only)
    for folder in MAPPED:
        shutil.copytree(ROOT / folder, tree / folder, ignore=python_only)


_package_tree()


def on_pre_build(config: Any) -> None:
    from mkdocs.exceptions import PluginError

    from cobflow.app.docs_reference import main

    # COBFLOW_DOCS_CHECK=1 (the test suite): a stale page fails the build instead of being rewritten
    if main(["--check"] if os.environ.get("COBFLOW_DOCS_CHECK") else []) != 0:
        raise PluginError("the reference pages are stale: python -m cobflow.app.docs_reference")
