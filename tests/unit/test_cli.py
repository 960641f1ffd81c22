"""One command-line style (issue 38): every option explained, `--out` everywhere (`--output`
kept), `--version`, a parser that loads nothing heavy, and errors in one line without
exception class names."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from cobflow import __version__
from cobflow.app.cli import build_parser
from cobflow.capture import CaptureError
from cobflow.errors import one_line

HEAVY = ("pydantic", "numpy", "pyarrow", "matplotlib", "torch", "grafana_client", "bytewax", "confluent_kafka")


def cobflow(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COBFLOW_")}
    return subprocess.run([sys.executable, "-m", "cobflow", *args], capture_output=True, text=True, env=env)


def parsers(p: argparse.ArgumentParser, path: tuple[str, ...] = ("cobflow",)):
    yield path, p
    for a in p._actions:
        if isinstance(a, argparse._SubParsersAction):
            for name, sp in a.choices.items():
                yield from parsers(sp, (*path, name))


def test_every_option_and_argument_has_help_text():
    missing = [f"{' '.join(path)} {a.option_strings or a.dest}" for path, p in parsers(build_parser())
               for a in p._actions if not isinstance(a, argparse._SubParsersAction) and not a.help]
    assert missing == []


def test_out_everywhere_with_output_as_its_alias():
    outs = {}
    for path, p in parsers(build_parser()):
        for a in p._actions:
            if "--out" in a.option_strings or "--output" in a.option_strings:
                outs[" ".join(path)] = tuple(a.option_strings)
    assert set(outs.values()) == {("--out", "--output")}
    assert {"cobflow compute", "cobflow features", "cobflow backtest", "cobflow record", "cobflow report"} <= set(outs)
    a = build_parser().parse_args(["compute", "--input", "x", "--out", "o"])
    b = build_parser().parse_args(["compute", "--input", "x", "--output", "o"])
    assert a.output == b.output
    c = build_parser().parse_args(["backtest", "--input", "x", "--output", "o"])
    assert str(c.out) == "o" and c.action is None


def test_backtest_compare_is_a_subcommand_and_version_prints():
    args = build_parser().parse_args(["backtest", "compare", "a", "b"])
    assert args.action == "compare" and [str(d) for d in args.dirs] == ["a", "b"]
    assert args.func.__name__ == "cmd_compare"
    done = cobflow("--version")
    assert done.returncode == 0 and done.stdout.strip() == f"cobflow {__version__}"


def test_building_the_parser_imports_no_heavy_library():
    code = ("import sys\nfrom cobflow.app.cli import build_parser\nbuild_parser()\n"
            f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == []


def test_errors_are_one_line_without_class_names(tmp_path):
    assert one_line(CaptureError("x.jsonl: line 3:\n not JSON")) == "x.jsonl: line 3: not JSON"
    assert one_line(ValueError("symbol 'SOL-USD' is not configured")) == "symbol 'SOL-USD' is not configured"
    assert one_line(KeyError("k")) == "'k' (unexpected; COBFLOW_DEBUG=1 shows the traceback)"
    done = cobflow("backtest", "compare", str(tmp_path))
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert done.stderr.startswith("cobflow: error: ") and "Error:" not in done.stderr


def test_a_kafka_backtest_refuses_tables_it_would_not_write(tmp_path):
    """--from/--to writes only the run's tables (QuestDB keeps the market's from the live flow):
    --tables there was silently ignored; now it is refused in one line, before anything runs."""
    done = cobflow("backtest", "--from", "2026-01-01T00:00:00Z", "--to", "2026-01-01T01:00:00Z", "--out",
                   str(tmp_path / "o"), "--tables", "all", "--strategy", "rules")
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "--tables is for --input backtests" in done.stderr
    assert not (tmp_path / "o").exists()
