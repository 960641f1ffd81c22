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
    import shutil

    shutil.rmtree(PROJECT_ROOT / ".cobflow" / "docs-src", ignore_errors=True)  # as in a fresh clone
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


def test_printed_tables_round_each_float_column_and_json_keeps_every_digit():
    import json
    import re

    from cobflow.qdb import decimals, format_rows

    rows = [{"ts": "2026-01-01T00:00:00.000000Z", "symbol": "BTC-USD", "mid": 65012.123456789, "spread_bps": 1.23456789,
             "imbalance": -0.123456789, "doge": 0.151234567, "venues": 3, "crossed": False, "rate": None},
            {"ts": "2026-01-01T00:00:01.000000Z", "symbol": "ETH-USD", "mid": 3200.5, "spread_bps": 12.5,
             "imbalance": 0.5, "doge": 0.15, "venues": 12, "crossed": True, "rate": 0.99987654321}]
    # by the rule, worked out by hand: prices of 1,000 or more to cents; ratios in [-1, 1] to 4;
    # 1.2-12.5 bps (median 12.5) to 6 significant digits = 4 decimals (151.5: 3); 0.15 and 0.1512
    # (ratio range, 0.8% apart: near each other) to 6 significant digits; a rate of 0.99988 to 6
    assert [decimals([r[c] for r in rows if r[c] is not None]) for c in ("mid", "spread_bps", "imbalance", "doge",
                                                                         "rate")] == [2, 4, 4, 6, 6]
    assert decimals([150.25, 151.5]) == 3 and decimals([0.6, 2.5, 3.0]) == 5 and decimals([3.0, 4.0]) == 0
    text = format_rows(rows)
    lines = text.splitlines()
    assert lines[0].split() == list(rows[0])
    assert "65012.12" in lines[1] and "3200.50" in lines[2] and "-0.1235" in lines[1] and "0.999877" in lines[2]
    fractions = re.findall(r"-?\d+\.(\d+)(?![\dZ])", text)  # not the timestamps' own digits
    assert len(fractions) == 9 and all(len(f) <= 6 for f in fractions), fractions
    assert "0.151235" in lines[1] and "0.150000" in lines[2]
    assert lines[0].index("symbol") == lines[1].index("BTC-USD") == lines[2].index("ETH-USD")  # text: left
    assert lines[1].index("65012.12") + len("65012.12") == lines[2].index("3200.50") + len("3200.50")  # right-aligned
    assert json.loads(json.dumps(rows)) == rows  # `--format json` prints json.dumps(rows): every digit


def test_the_guides_runnable_blocks_run():
    """Every bash block a guide marks `<!-- run by tests/unit/test_docs.py -->` runs line by
    line (each `cobflow ...` as `python -m cobflow ...`) in a fresh folder, exit 0 each, and
    the backtest and strategy guides' runs leave their reports and each comparison names both
    strategies (the strategies guide's: taker and maker, with fills by liquidity)."""
    import re
    import shlex
    import tempfile
    from pathlib import Path

    marker = "<!-- run by tests/unit/test_docs.py -->\n```bash\n"
    blocks = []
    for page in sorted((PROJECT_ROOT / "docs").glob("*.md")):
        text = page.read_text()
        blocks += [(page.name, m.group(1)) for m in re.finditer(re.escape(marker) + r"(.*?)```", text, re.S)]
    assert [name for name, _ in blocks] == ["execution.md", "strategies.md"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("COBFLOW_")}
    env["PYTHONPATH"] = str(PROJECT_ROOT)  # the examples, as from the repository's folder
    with tempfile.TemporaryDirectory() as tmp:
        outputs = []
        for _, block in blocks:
            for line in block.splitlines():
                if not line.strip() or line.lstrip().startswith("#"):
                    continue
                argv = shlex.split(line, comments=True)
                assert argv[0] == "cobflow", line
                proc = subprocess.run([sys.executable, "-m", "cobflow", *argv[1:]], cwd=tmp, env=env,
                                      capture_output=True, text=True, timeout=600)
                assert proc.returncode == 0, (line, proc.stderr[-2000:])
                outputs.append(proc.stdout)
        for run in ("bt-rules", "bt-reversion", "bt-taker", "bt-maker"):
            assert (Path(tmp) / run / "report.json").is_file()
        compared = [o for o in outputs if o.startswith(" ") and "code versions:" in o]
        assert len(compared) == 2, outputs
        assert "rules" in compared[0] and "ImbalanceReversion" in compared[0]
        assert "combined" in compared[1] and "maker" in compared[1] and "maker_fills" in compared[1]
