"""``%load_ext effdl_kit`` in a real in-process IPython shell; the library stays IPython-free."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import matplotlib as mpl
import pytest

from effdl_kit._core.env import collect_env
from effdl_kit.experiments import ExperimentSummary


@pytest.fixture
def ip() -> Iterator[Any]:
    from IPython.testing.globalipapp import get_ipython

    shell = get_ipython()
    with mpl.rc_context():  # the extension sets the paper style; keep it out of other tests
        yield shell
        if "effdl" in shell.magics_manager.magics["line"]:
            shell.run_line_magic("unload_ext", "effdl_kit")


def test_load_ext_registers_magic_and_style(ip: Any, capsys: pytest.CaptureFixture[str]
                                            ) -> None:
    mpl.rcParams["pdf.fonttype"] = 3
    ip.run_line_magic("load_ext", "effdl_kit")
    assert "effdl" in ip.magics_manager.magics["line"]
    assert mpl.rcParams["pdf.fonttype"] == 42  # paper style applied
    capsys.readouterr()
    ip.run_line_magic("effdl", "env")
    out = capsys.readouterr().out
    assert collect_env().cpu_model in out
    assert "memory" in out
    ip.run_line_magic("unload_ext", "effdl_kit")
    assert "effdl" not in ip.magics_manager.magics["line"]


def test_magic_errors_print_and_keep_the_kernel(ip: Any,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    ip.run_line_magic("load_ext", "effdl_kit")
    capsys.readouterr()
    assert ip.run_line_magic("effdl", "reproduce nope --scale smoke") is None
    err = capsys.readouterr().err
    assert "usage: %effdl reproduce" in err and "invalid choice: 'nope'" in err
    ip.run_line_magic("effdl", "--help")  # argparse's exit(0) must not end anything
    assert "reproduce" in capsys.readouterr().out
    ip.run_line_magic("effdl", "figures --out '/no such/dir'")
    assert "%effdl: error: invalid value for 'out'" in capsys.readouterr().err
    ip.run_line_magic("effdl", 'env "unbalanced')
    assert "%effdl: error" in capsys.readouterr().err
    # the shell still works after all of that
    ip.run_cell("x_after_errors = 40 + 2")
    assert ip.user_ns["x_after_errors"] == 42


def test_magic_reproduce(ip: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ip.run_line_magic("load_ext", "effdl_kit")
    out = tmp_path / "with space"
    ip.run_line_magic("effdl", f"reproduce tour --scale smoke --seed 1 --out '{out}'")
    assert "tour: smoke scale, seed 1" in capsys.readouterr().out
    s = ExperimentSummary.from_json(out / "tour" / "summary.json")
    assert (s.name, s.seed) == ("tour", 1)


def test_library_imports_no_jupyter_frontend() -> None:
    code = (
        "import sys\n"
        "import effdl_kit, effdl_kit.cli, effdl_kit.reports, effdl_kit.experiments\n"
        "import effdl_kit._ipython\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('IPython', 'ipywidgets'))\n"
        "print(bad)\n"
        "assert not bad, bad\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip() == "[]"
