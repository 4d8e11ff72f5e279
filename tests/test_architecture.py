"""Architecture gates of issue 13: public surface, module sizes, no private imports upward.

These read the source as text (the import-linter contracts in ``pyproject.toml`` check the
import graph; ``tests/test_packaging.py`` runs them). Each gate names the offending file and line.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ROOT / "effdl_kit"
WIDGETS = ROOT / "widgets"
NOTEBOOKS = ROOT / "notebooks"

#: DESIGN.md: "Modules stay under ~600 lines, panels under ~400."
MAX_MODULE_LINES = 600
MAX_PANEL_LINES = 400

# `effdl_kit.<pkg>._private` (a private module below a package), or `widgets._x` /
# `effdl_kit.widgets._x` reached from outside the panel package.
_PRIVATE = re.compile(
    r"(?:from|import)\s+effdl_kit\.\w+\.(?:\w+\.)*_[a-z]\w*"
    r"|(?:from|import)\s+(?:effdl_kit\.)?widgets\._\w+"
)
# `from effdl_kit.pkg import _name` (a private name of a public module)
_PRIVATE_NAME = re.compile(r"from\s+effdl_kit(?:\.\w+)*\s+import\s+\(?\s*_[a-z]")


def _code_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, text) of a module, or of a notebook's code cells (numbered per file)."""
    if path.suffix == ".ipynb":
        nb = json.loads(path.read_text(encoding="utf-8"))
        out: list[tuple[int, str]] = []
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                src = cell["source"]
                text = "".join(src) if isinstance(src, list) else src
                out.extend((len(out) + 1, line) for line in text.splitlines())
        return out
    return list(enumerate(path.read_text(encoding="utf-8").splitlines(), start=1))


def _private_imports(paths: list[Path]) -> list[str]:
    bad = []
    for path in paths:
        for no, line in _code_lines(path):
            if _PRIVATE.search(line) or _PRIVATE_NAME.search(line):
                bad.append(f"{path.relative_to(ROOT)}:{no}: {line.strip()}")
    return bad


def test_gate_finds_what_it_looks_for() -> None:
    # positive and negative controls of the regexes the two gates below rely on
    hits = ["from effdl_kit.experiments._efficientdl_search import x",
            "import effdl_kit.measure._ops", "from widgets._latency import LatencyPanel",
            "from effdl_kit.widgets._speedup import SpeedupPanel",
            "from effdl_kit.experiments.efficientdl import _plain",
            "from effdl_kit import _ipython_x"]
    misses = ["from effdl_kit.experiments.efficientdl import search_setup",
              "from effdl_kit.widgets import LatencyPanel",
              "import effdl_kit", "x = effdl_kit.data.load_component_data",
              "from effdl_kit._core.validate import check_int"]
    assert all(_PRIVATE.search(h) or _PRIVATE_NAME.search(h) for h in hits)
    assert not any(_PRIVATE.search(m) or _PRIVATE_NAME.search(m) for m in misses)


def test_notebooks_import_public_names_only() -> None:
    bad = _private_imports(sorted(NOTEBOOKS.glob("*.ipynb")))
    assert not bad, "notebooks import private modules or names:\n" + "\n".join(bad)


def test_panels_import_public_library_names_only() -> None:
    # the panel package's own private modules (`from ._base import ...`) are fine
    bad = _private_imports(sorted(WIDGETS.glob("*.py")))
    assert not bad, "panels import private library modules or names:\n" + "\n".join(bad)


def test_library_never_imports_the_panels() -> None:
    bad = [f"{p.relative_to(ROOT)}:{no}" for p in sorted(LIBRARY.rglob("*.py"))
           for no, line in _code_lines(p)
           if re.search(r"(?:from|import)\s+effdl_kit\.widgets\b", line)]
    assert not bad, bad


#: the panel framework (state machine, threads, fields, views) is library code under the
#: library's limit; DESIGN.md's "panels under ~400 lines" holds for every panel module
PANEL_FRAMEWORK = ("__init__.py", "_base.py", "_controller.py", "_events.py", "_fields.py",
                   "_interrupt.py", "_views.py")


@pytest.mark.parametrize(("folder", "limit", "skip"), [
    (LIBRARY, MAX_MODULE_LINES, ()),
    (WIDGETS, MAX_MODULE_LINES, ()),
    (WIDGETS, MAX_PANEL_LINES, PANEL_FRAMEWORK),
])
def test_no_module_above_its_size(folder: Path, limit: int, skip: tuple[str, ...]) -> None:
    big = {str(p.relative_to(ROOT)): n for p in sorted(folder.rglob("*.py"))
           if p.name not in skip
           and (n := len(p.read_text(encoding="utf-8").splitlines())) > limit}
    assert not big, f"above {limit} lines: {big}"


def test_one_progress_type() -> None:
    defs = [f"{p.relative_to(ROOT)}" for p in sorted(LIBRARY.rglob("*.py"))
            if re.search(r"^ProgressFn\s*=", p.read_text(encoding="utf-8"), re.M)]
    assert defs == ["effdl_kit/_core/types.py"], defs
