"""Imports point one way (README "Layout"): the contract and core <- connectors <- operators,
models, sources and sinks <- dataflows <- tools. Read from the source, not imported: a
module that imports upward, or hides a project import inside a function below the tools
layer, fails here with the file, line and both layers."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("cobflow", "connectors", "operators", "models", "dataflows", "bench")

#: (layer, module prefixes), lowest first; a module belongs to its longest matching prefix.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("core", ("cobflow", "cobflow._native", "cobflow.raw", "cobflow.events", "cobflow.venues", "cobflow.config",
              "cobflow.tables", "cobflow.book", "cobflow.deadletter", "cobflow.capture", "cobflow.kafka_io",
              "cobflow.qdb", "cobflow.consumer_lag", "cobflow.metrics", "cobflow.native", "cobflow.replay",
              "cobflow.times", "cobflow.progress", "cobflow.execution",
              "cobflow.provenance")),
    ("connectors", ("connectors",)),
    ("operators", ("operators", "models", "cobflow.sources", "cobflow.sinks")),
    ("dataflows", ("dataflows",)),
    ("tools", ("cobflow.cli", "cobflow.services", "cobflow.dashboards", "cobflow.report", "cobflow.runflow",
               "cobflow.compute", "cobflow.recompute", "cobflow.training", "cobflow.demo", "cobflow.backtest",
               "cobflow.walkforward",
               "cobflow.__main__", "bench")),
]
RANK = {name: i for i, (name, _) in enumerate(LAYERS)}


def layer_of(module: str) -> str:
    """The layer of the longest prefix naming this module ("cobflow" itself names only the
    package's __init__: each module of the shared package is placed on purpose)."""
    best, length = "", -1
    for name, prefixes in LAYERS:
        for p in prefixes:
            covers = module == p or (module.startswith(p + ".") and p != "cobflow")
            if covers and len(p) > length:
                best, length = name, len(p)
    return best


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_imports(tree: ast.AST, module: str) -> list[tuple[int, str, bool]]:
    """(line, imported module, inside a function) for each import of a project module."""
    found: list[tuple[int, str, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                found.extend((child.lineno, a.name, in_function) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                assert child.level == 0, f"{module}:{child.lineno}: relative import"
                base = child.module or ""
                # `from cobflow import native` imports the module cobflow.native
                found.extend((child.lineno, f"{base}.{a.name}" if _is_module(f"{base}.{a.name}") else base, in_function)
                          for a in child.names)
            visit(child, inner)

    visit(tree, False)
    return [(n, m, f) for n, m, f in found if m.split(".")[0] in PACKAGES]


def _is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def sources() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py") if "target" not in p.parts)


def violations(files: list[tuple[str, str]]) -> list[str]:
    """Every upward import, and every project import inside a function below the tools layer."""
    out = []
    for module, text in files:
        mine = layer_of(module)
        for line, imported, in_function in project_imports(ast.parse(text), module):
            theirs = layer_of(imported)
            if RANK[theirs] > RANK[mine]:
                out.append(f"{module}:{line} ({mine}) imports {imported} ({theirs}): upward")
            elif in_function and RANK[mine] < RANK["tools"]:
                out.append(f"{module}:{line} ({mine}) imports {imported} inside a function")
    return out


def test_every_module_has_a_layer():
    """A new module of the shared package must be placed in a layer (and in the README's
    table) before it can pass: nothing falls into the core by default."""
    assert [m for m in map(module_name, sources()) if not layer_of(m)] == []
    assert layer_of("cobflow.strategy") == "" and layer_of("cobflow") == "core"
    assert layer_of("cobflow.metrics.cob") == "core" and layer_of("cobflow.sinks.raw") == "operators"


def test_imports_point_one_way():
    files = [(module_name(p), p.read_text()) for p in sources()]
    assert len(files) > 60
    assert violations(files) == []


@pytest.mark.parametrize("module, text, expected", [
    ("cobflow.metrics.cob", "from operators.cob import CobState\n", "upward"),
    ("cobflow.native", "import connectors\n", "upward"),
    ("connectors.binance", "from dataflows.cob import kafka_flow\n", "upward"),
    ("operators.cob", "from cobflow.cli import main\n", "upward"),
    ("cobflow.capture", "def f():\n    from cobflow import native\n", "inside a function"),
    ("connectors.live", "def f():\n    from connectors.verify import BookChecker\n", "inside a function"),
])
def test_an_upward_or_hidden_import_is_caught(module, text, expected):
    (found,) = violations([(module, text)])
    assert found.endswith(expected), found


def test_downward_imports_and_lazy_tool_imports_pass():
    assert violations([("operators.cob", "from connectors import get_venue\nfrom cobflow.events import Trade\n"),
                       ("dataflows.cob", "from operators.cob import cob_books\n"),
                       ("cobflow.cli.query", "def f():\n    from cobflow.report import make_report\n")]) == []


def test_no_import_dodges_a_circle_with_noqa():
    assert [str(p) for p in sources() if "noqa: E402" in p.read_text()] == []


def test_the_venue_lists_derive_from_the_registry():
    """cobflow.venues is the one list: every connector module is a registered venue, the
    native core keeps books only of registered venues, and the tests' simulated set-up
    covers every venue the simulator speaks."""
    from cobflow import native
    from cobflow.config import load_symbols
    from cobflow.venues import VENUES
    from connectors import available_venues, get_venue
    from connectors.cryptofeed import FILE_VENUES
    from tests.simdata import ALL_VENUES
    from tests.simdata import VENUES as SIMULATED

    modules = {p.stem for p in (ROOT / "connectors").glob("*.py")} - {"__init__", "base", "live", "verify",
                                                                       "cryptofeed"}
    assert modules == set(available_venues()) <= set(VENUES)
    assert all(get_venue(v).VENUE == v for v in available_venues())
    assert set(native.venues()) <= set(VENUES)
    assert set(FILE_VENUES.values()) == set(available_venues())
    assert set(load_symbols(ALL_VENUES).venues()) == set(SIMULATED)
    assert list(VENUES) == sorted(VENUES)  # kept sorted for readers; no rule depends on its order
