"""The architecture as a test: which layer may import which.

Run it alone with ``python -m pytest tests/test_layers.py``. Imports are read from
the source with :mod:`ast` (module-level and inside functions), so a lazy import
counts as much as one at the top.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "hotspots"


def _imports(path: Path, package_dir: Path = PACKAGE) -> set[str]:
    """Absolute names of every module ``path`` imports (relative ones resolved)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    rel = path.relative_to(package_dir.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    package = parts[:-1] if path.name != "__init__.py" else parts
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.add(mod)
            out.update(f"{mod}.{a.name}" for a in node.names)
    return out


def _modules(folder: Path):
    return sorted(p for p in folder.rglob("*.py"))


def _offenders(files, forbidden) -> dict[str, list[str]]:
    bad = {}
    for f in files:
        hits = sorted(m for m in _imports(f)
                      if any(m == x or m.startswith(x + ".") for x in forbidden))
        if hits:
            bad[str(f.relative_to(PACKAGE.parent))] = hits
    return bad


def test_the_import_reader_sees_relative_and_lazy_imports(tmp_path):
    pkg = tmp_path / "hotspots" / "stats"
    pkg.mkdir(parents=True)
    mod = pkg / "x.py"
    mod.write_text("from ..store import Store\n"
                   "def f():\n    from hotspots import analysis\n")
    assert {"hotspots.store", "hotspots.store.Store", "hotspots",
            "hotspots.analysis"} <= _imports(mod, tmp_path / "hotspots")


@pytest.mark.parametrize("layer", ["store", "study", "analysis", "report", "cache",
                                   "counts", "ingest", "plan", "evaluate", "cli",
                                   "spacetime", "wardview", "pipeline"])
def test_stats_takes_arrays_only(layer):
    """Nothing under hotspots/stats/ reads the store or calls the stages above it."""
    assert _offenders(_modules(PACKAGE / "stats"), [f"hotspots.{layer}"]) == {}


def test_nothing_in_the_package_imports_the_app():
    assert _offenders(_modules(PACKAGE), ["dashboards"]) == {}


def test_only_the_cli_adapter_sits_on_top():
    """The CLI calls the package; nothing in the package calls the CLI."""
    files = [f for f in _modules(PACKAGE)
             if f.name not in ("cli.py", "__main__.py")]
    assert _offenders(files, ["hotspots.cli"]) == {}


def test_planning_does_not_depend_on_evaluation():
    """Plans are made without their evaluation; the backtest calls the planner."""
    assert _offenders(_modules(PACKAGE / "plan"), ["hotspots.evaluate"]) == {}


def test_serve_finds_the_app_through_its_entry_point():
    """`hotspots serve` loads the app the dashboards package registers, so the
    package needs no import of it (see the test above)."""
    from hotspots.cli import _app_factory

    factory = _app_factory()
    assert factory.__module__ == "dashboards.app" and factory.__name__ == "create_app"
