"""The docs site (issue 37): the reference pages are what the generator writes from the code
now, they cover every command, setting, table and venue the code has, and `mkdocs build
--strict` passes (a broken link, a missing anchor or a page out of the nav fails it)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

import pytest

from cobflow.app.docs_reference import OUT, PAGES, generate, main
from cobflow.names import PROJECT_ROOT


@pytest.fixture(scope="module")
def pages() -> dict[str, str]:
    return generate()


def test_the_committed_reference_pages_are_what_the_code_generates_now(pages):
    stale = [n for n, text in pages.items() if not (OUT / n).is_file() or (OUT / n).read_text() != text]
    assert not stale, f"run python -m cobflow.app.docs_reference: {stale} are stale"
    assert main(["--check"]) == 0
    assert set(PAGES) <= {p.name for p in OUT.iterdir()}


def test_a_page_out_of_date_is_named_and_check_writes_nothing(tmp_path, capsys):
    main(["--out", str(tmp_path)])
    (tmp_path / "tables.md").write_text("old\n")
    assert main(["--check", "--out", str(tmp_path)]) == 1
    assert "stale reference pages: tables.md" in capsys.readouterr().err
    assert (tmp_path / "tables.md").read_text() == "old\n"


def test_every_command_option_setting_table_and_venue_is_in_the_reference(pages):
    from cobflow.app.cli import build_parser
    from cobflow.config import Settings
    from cobflow.tables import TABLES
    from cobflow.venues import VENUES

    def walk(parser, prefix=""):
        for a in parser._actions:
            if isinstance(a, argparse._SubParsersAction):
                for name, sub in a.choices.items():
                    yield f"{prefix}{name}", sub
                    yield from walk(sub, f"{prefix}{name} ")

    commands = pages["commands.md"]
    for name, sub in walk(build_parser()):
        assert f"## `cobflow {name}`" in commands
        section = commands.split(f"## `cobflow {name}`")[1].split("\n## ")[0]
        for a in sub._actions:
            for opt in a.option_strings:
                if opt not in ("-h", "--help", "--config"):
                    assert f"`{opt}`" in section, (name, opt)

    def envs(model, prefix):
        for key, field in model.model_fields.items():
            nested = field.annotation
            if isinstance(nested, type) and hasattr(nested, "model_fields"):
                yield from envs(nested, f"{prefix}{key.upper()}__")
            else:
                yield f"{prefix}{key.upper()}"

    for env in envs(Settings, "COBFLOW_"):
        assert f"`{env}`" in pages["settings.md"], env
    for name, table in TABLES.items():
        assert f"## `{name}`" in pages["tables.md"]
        section = pages["tables.md"].split(f"## `{name}`")[1].split("\n## ")[0]
        assert all(f"`{c}`" in section for c, _ in table.columns), name
    assert all(f"## {v}" in pages["venues.md"] for v in VENUES)
    results = sorted((PROJECT_ROOT / "bench" / "results").glob("*.json"))
    assert results and all(f"## {p.stem}\n" in pages["benchmarks.md"] for p in results)


def test_the_site_builds_strict(tmp_path):
    env = {**os.environ, "COBFLOW_DOCS_CHECK": "1", "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(tmp_path / "site")],
                          cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    site = tmp_path / "site"
    assert (site / "index.html").is_file() and (site / "reference" / "commands" / "index.html").is_file()
    api = (site / "reference" / "api" / "index.html").read_text()
    for path in ("strategy.Strategy", "models.kinds.ModelKind", "execution.risk.RiskRule",
                 "metrics.signals.SignalSource", "execution.fills.FillModel"):
        assert f'id="cobflow.{path}"' in api, path
