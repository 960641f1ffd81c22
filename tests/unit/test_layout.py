"""The tree shows the architecture (docs/layout.md): each top-level folder is one layer of
the one import namespace `cobflow`, and imports point one way, lowest first:

    cobflow/ (core) <- connectors/ <- operators/, models/ <- dataflows/ <- app/ (tools), bench/

Read from the source, not imported: a module that imports upward, or hides a project import
inside a function below the tools layer, fails here with the file, line and both layers; so
does a package folder that no layer names, or that pyproject does not install.
"""

from __future__ import annotations

import ast
import importlib.metadata
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: (layer, folders), lowest first. A folder's modules are `cobflow.<folder>.*` (the core's
#: are `cobflow.*`); bench/ is outside the package, as a user's script is.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("core", ("cobflow",)),
    ("connectors", ("connectors",)),
    ("operators and models", ("operators", "models")),
    ("dataflows", ("dataflows",)),
    ("tools", ("app", "bench")),
]
RANK = {name: i for i, (name, _) in enumerate(LAYERS)}
FOLDER_LAYER = {folder: name for name, folders in LAYERS for folder in folders}
#: folders of the package other than the core: where `cobflow.<folder>` lives
MAPPED = ("connectors", "operators", "models", "dataflows", "app")
#: `python -m cobflow` must live in the core's folder; it only calls the CLI
ENTRY = "cobflow.__main__"


def folder_of(module: str) -> str | None:
    """The top-level folder a module's file is in (None: not one of the project's)."""
    parts = module.split(".")
    if parts[0] == "bench":
        return "bench"
    if parts[0] != "cobflow":
        return None
    return parts[1] if len(parts) > 1 and parts[1] in MAPPED else "cobflow"


def layer_of(module: str) -> str:
    if module == ENTRY:
        return "tools"
    folder = folder_of(module)
    return FOLDER_LAYER.get(folder, "") if folder else ""


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    if parts[0] in MAPPED:
        parts.insert(0, "cobflow")
    return ".".join(parts)


def package_folders() -> list[str]:
    """Every top-level folder that is a Python package (an __init__.py in it)."""
    return sorted(p.parent.name for p in ROOT.glob("*/__init__.py") if p.parent.name != "tests")


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
                # `from cobflow import native` imports the module cobflow.native; `from
                # cobflow import connectors` the package cobflow.connectors
                found.extend((child.lineno, f"{base}.{a.name}" if _is_module(f"{base}.{a.name}") else base, in_function)
                             for a in child.names)
            visit(child, inner)

    visit(tree, False)
    return [(n, m, f) for n, m, f in found if m.split(".")[0] in ("cobflow", "bench")]


def _file_of(name: str) -> Path:
    parts = name.split(".")
    if parts[0] == "cobflow" and len(parts) > 1 and parts[1] in MAPPED:
        parts = parts[1:]
    return ROOT.joinpath(*parts)


def _is_module(name: str) -> bool:
    path = _file_of(name)
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def sources() -> list[Path]:
    folders = [*package_folders(), "bench"]
    return sorted(p for f in folders for p in (ROOT / f).rglob("*.py") if "target" not in p.parts)


def violations(files: list[tuple[str, str]]) -> list[str]:
    """Every upward import, every project import inside a function below the tools layer,
    and every module whose folder no layer names."""
    out = []
    for module, text in files:
        mine = layer_of(module)
        if not mine:
            out.append(f"{module}: in no layer (add its folder to LAYERS and docs/layout.md's table)")
            continue
        for line, imported, in_function in project_imports(ast.parse(text), module):
            theirs = layer_of(imported)
            if not theirs:
                out.append(f"{module}:{line} imports {imported}: in no layer")
            elif RANK[theirs] > RANK[mine]:
                out.append(f"{module}:{line} ({mine}) imports {imported} ({theirs}): upward")
            elif in_function and RANK[mine] < RANK["tools"]:
                out.append(f"{module}:{line} ({mine}) imports {imported} inside a function")
    return out


def test_every_package_folder_is_a_layer_and_installed_under_cobflow():
    """A new top-level package folder must be placed in a layer and mapped into the one
    namespace before anything in it passes; pyproject installs every package folder."""
    assert package_folders() == sorted(["cobflow", *MAPPED])
    assert set(package_folders()) <= set(FOLDER_LAYER)
    conf = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert conf["package-dir"] == {"cobflow": "cobflow", **{f"cobflow.{f}": f for f in MAPPED}}
    on_disk = sorted(module_name(p.parent) for f in package_folders() for p in (ROOT / f).rglob("__init__.py")
                     if "target" not in p.parts)
    assert sorted(conf["packages"]) == on_disk


def test_the_install_puts_only_cobflow_at_the_top_of_site_packages():
    """`pip install` of the project (editable here) installs one top-level import package,
    and `cobflow.connectors` and the rest come from the layer folders."""
    dist = importlib.metadata.distribution("cobflow")
    top = (dist.read_text("top_level.txt") or "").split()
    assert top == ["cobflow"]
    import cobflow.app.cli
    import cobflow.connectors
    import cobflow.dataflows

    assert Path(cobflow.connectors.__file__).parent == ROOT / "connectors"
    assert Path(cobflow.dataflows.__file__).parent == ROOT / "dataflows"
    assert Path(cobflow.app.cli.__file__).parent == ROOT / "app" / "cli"
    for name in ("connectors", "operators", "models", "dataflows", "app"):
        assert name not in sys.modules or Path(getattr(sys.modules[name], "__file__", "") or "").parent != ROOT / name


def test_imports_point_one_way():
    files = [(module_name(p), p.read_text()) for p in sources()]
    assert len(files) > 60
    assert violations(files) == []


@pytest.mark.parametrize("module, text, expected", [
    ("cobflow.metrics.cob", "from cobflow.operators.cob import CobState\n", "upward"),
    ("cobflow.native", "import cobflow.connectors\n", "upward"),
    ("cobflow.native", "from cobflow import connectors\n", "upward"),
    ("cobflow.connectors.binance", "from cobflow.dataflows.cob import kafka_flow\n", "upward"),
    ("cobflow.operators.cob", "from cobflow.app.cli import main\n", "upward"),
    ("cobflow.models.runtime", "from cobflow.dataflows.sources import RawTopicsSource\n", "upward"),
    ("cobflow.capture", "def f():\n    from cobflow import native\n", "inside a function"),
    ("cobflow.connectors.live", "def f():\n    from cobflow.connectors.verify import BookChecker\n",
     "inside a function"),
    ("strategies.momentum", "import numpy\n", "in no layer (add its folder to LAYERS and docs/layout.md's table)"),
])
def test_an_upward_hidden_or_unplaced_import_is_caught(module, text, expected):
    (found,) = violations([(module, text)])
    assert found.endswith(expected), found


def test_a_planted_upward_import_in_a_real_module_fails():
    path = ROOT / "cobflow" / "tables.py"
    planted = path.read_text() + "\nfrom cobflow.operators.strategy import StrategyState\n"
    assert any("upward" in v for v in violations([(module_name(path), planted)]))
    assert module_name(ROOT / "operators" / "cob.py") == "cobflow.operators.cob"
    assert layer_of("cobflow.operators.cob") == "operators and models" and layer_of("cobflow.config") == "core"


def test_downward_imports_and_lazy_tool_imports_pass():
    assert violations([("cobflow.operators.cob", "from cobflow.connectors import get_venue\n"
                                                 "from cobflow.events import Trade\n"),
                       ("cobflow.dataflows.cob", "from cobflow.operators.cob import cob_books\n"),
                       ("cobflow.app.cli.query", "def f():\n    from cobflow.app.report import make_report\n")]) == []


def test_no_import_dodges_a_circle_with_noqa():
    assert [str(p) for p in sources() if "noqa: E402" in p.read_text()] == []


def test_the_venue_lists_derive_from_the_registry():
    """cobflow.venues is the one list: every connector module is a registered venue, the
    native core keeps books only of registered venues, and the tests' simulated set-up
    covers every venue the simulator speaks."""
    from cobflow import native
    from cobflow.config import load_symbols
    from cobflow.connectors import available_venues, get_venue
    from cobflow.connectors.cryptofeed import FILE_VENUES
    from cobflow.venues import VENUES
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


#: where a storage row may be made: the sinks' one mapping of records to rows, the table
#: definitions themselves, and the rows of the pipeline's own tables (a dead letter's, the
#: Kafka source's consumer lag)
ROW_MAKERS = {"cobflow.dataflows.sinks.rows", "cobflow.tables", "cobflow.deadletter", "cobflow.consumer_lag"}
STAGE_LAYERS = ("connectors", "operators and models")


def row_violations(files: list[tuple[str, str]]) -> list[str]:
    """A storage row made outside ROW_MAKERS, and a stage (connectors, operators, models)
    that imports the table definitions (reads another stage's table by name)."""
    out = []
    for module, text in files:
        tree = ast.parse(text)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                    and node.func.id in ("TableRow", "TableRows") and module not in ROW_MAKERS:
                out.append(f"{module}:{node.lineno} makes a {node.func.id} (rows are made in cobflow.dataflows.sinks.rows)")
        if layer_of(module) in STAGE_LAYERS:
            for line, imported, _ in project_imports(tree, module):
                if imported == "cobflow.tables":
                    out.append(f"{module}:{line} imports cobflow.tables (a stage reads the record before it)")
    return out


def test_stages_hand_each_other_records_and_rows_are_made_only_in_the_sinks():
    files = [(module_name(p), p.read_text()) for p in sources()]
    assert row_violations(files) == []
    planted = [("cobflow.operators.cob", "from cobflow.tables import COB_SUMMARY\n"),
               ("cobflow.operators.features", "x = TableRow('features', 0, {}, {})\n")]
    assert len(row_violations(planted)) == 2
