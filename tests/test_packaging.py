"""Packaging and architecture gates: the package list, the layers, the headless import."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_every_package_in_the_tree_is_listed() -> None:
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    found = {
        ".".join(("effdl_kit", *p.parent.relative_to(ROOT / "effdl_kit").parts))
        for p in (ROOT / "effdl_kit").rglob("__init__.py")
    }
    found |= {
        ".".join(("effdl_kit", "widgets", *p.parent.relative_to(ROOT / "widgets").parts))
        for p in (ROOT / "widgets").rglob("__init__.py")
    }
    assert found == listed, f"missing: {found - listed}, stale: {listed - found}"


def test_widgets_install_inside_effdl_kit() -> None:
    import effdl_kit.widgets

    assert Path(effdl_kit.widgets.__file__).resolve().parent == ROOT / "widgets"


def test_runtime_pins_that_matter() -> None:
    deps = PYPROJECT["project"]["dependencies"]
    assert any(d.startswith("numpy") and "<2.6" in d for d in deps)  # numba 0.68
    assert (ROOT / ".ci" / "constraints.txt").read_text().strip() == "torch==2.13.0"


def test_headless_import_pulls_no_frontend() -> None:
    code = (
        "import sys, effdl_kit, effdl_kit.training, effdl_kit.errors, effdl_kit._core\n"
        "bad = [m for m in ('ipywidgets', 'IPython', 'effdl_kit.widgets') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr


def test_import_layers_contract_holds() -> None:
    exe = Path(sys.executable).with_name("lint-imports")
    r = subprocess.run([str(exe), "--no-cache"], cwd=ROOT, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Contracts: 3 kept, 0 broken" in r.stdout


def test_every_library_package_is_in_the_headless_contract() -> None:
    contracts = PYPROJECT["tool"]["importlinter"]["contracts"]
    headless = next(c for c in contracts if "Jupyter" in c["name"])
    packages = {f"effdl_kit.{p.name}" for p in (ROOT / "effdl_kit").iterdir()
                if (p / "__init__.py").exists()}
    assert packages <= set(headless["source_modules"]), packages - set(headless["source_modules"])
    layers = next(c for c in contracts if c["type"] == "layers")["layers"]
    assert layers.index("widgets") < layers.index("effdl_kit.experiments")
