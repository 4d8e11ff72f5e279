"""run_notebooks: papermill-style parameter injection, execution with nbclient, summary.md."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from effdl_kit.errors import ConfigError
from effdl_kit.experiments import (
    INJECTED_TAG,
    ExperimentSummary,
    NotebookError,
    inject_parameters,
    kernel_command,
    run_notebooks,
)

PARAMS = 'SCALE = "small"\nSEED = 0\nOUT_DIR = "../results"'


def _nb(*cells: nbformat.NotebookNode) -> nbformat.NotebookNode:
    nb = new_notebook(cells=list(cells))
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    return nb


def _params_cell() -> nbformat.NotebookNode:
    c = new_code_cell(PARAMS)
    c.metadata["tags"] = ["parameters"]
    return c


def _write(path: Path, nb: nbformat.NotebookNode) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


GOOD = """
import json, os, sys
from pathlib import Path
out = Path(OUT_DIR) / "probe"
out.mkdir(parents=True, exist_ok=True)
(out / "probe.json").write_text(json.dumps({
    "scale": SCALE, "seed": SEED, "out_dir": OUT_DIR, "cwd": os.getcwd(),
    "executable": sys.executable, "local_file": Path("helper.txt").read_text(),
}))
print("probe done", SCALE, SEED)
from matplotlib.figure import Figure
from effdl_kit.reports import save_figure
fig = Figure()
fig.add_subplot().plot([0, 1], [1, 0])
save_figure(fig, out / "probe_fig", formats=("pdf",), seed=SEED, scale=SCALE)
"""


def test_inject_parameters_after_parameters_cell() -> None:
    nb = _nb(new_markdown_cell("# t"), _params_cell(), new_code_cell("x = SEED"))
    idx = inject_parameters(nb, {"SCALE": "smoke", "SEED": 3, "OUT_DIR": "/o/x"})
    assert idx == 2
    cell = nb.cells[2]
    assert cell.metadata["tags"] == [INJECTED_TAG]
    ns: dict[str, object] = {}
    exec(PARAMS, ns)
    exec(cell.source, ns)  # injected values override the defaults
    assert (ns["SCALE"], ns["SEED"], ns["OUT_DIR"]) == ("smoke", 3, "/o/x")
    inject_parameters(nb, {"SCALE": "paper", "SEED": 1, "OUT_DIR": "o"})  # re-inject
    tagged = [c for c in nb.cells if INJECTED_TAG in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and "'paper'" in tagged[0].source
    assert len(nb.cells) == 4


def test_notebook_without_parameters_cell_fails_before_running(tmp_path: Path) -> None:
    nbs = tmp_path / "nbs"
    _write(nbs / "00_fine.ipynb", _nb(_params_cell(), new_code_cell("1/0")))
    _write(nbs / "01_noparams.ipynb", _nb(new_code_cell("x = 1")))
    with pytest.raises(ConfigError) as err:
        run_notebooks(nbs, scale="smoke", out=tmp_path / "out")
    assert err.value.field == "notebook"
    assert "01_noparams.ipynb" in str(err.value)
    assert not (tmp_path / "out").exists()  # nothing ran, nothing written


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"scale": "big"}, "scale"), ({"scale": "smoke", "seed": -2}, "seed"),
     ({"scale": "smoke", "timeout": 0}, "timeout")],
)
def test_bad_arguments(tmp_path: Path, kwargs: dict, field: str) -> None:
    nbs = tmp_path / "nbs"
    _write(nbs / "a.ipynb", _nb(_params_cell()))
    with pytest.raises(ConfigError) as err:
        run_notebooks(nbs, out=tmp_path / "out", **kwargs)
    assert err.value.field == field


def test_missing_or_empty_notebooks_dir(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="notebooks_dir"):
        run_notebooks(tmp_path / "missing", scale="smoke", out=tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match=r"\*\.ipynb"):
        run_notebooks(tmp_path / "empty", scale="smoke", out=tmp_path / "out")


def test_kernel_is_this_venvs_python() -> None:
    argv = kernel_command("python3")
    assert argv[0] == sys.executable
    assert "ipykernel_launcher" in argv
    with pytest.raises(ConfigError, match="kernel_name"):
        kernel_command("no-such-kernel-xyz")


def test_runs_notebooks_in_order_and_writes_summary(tmp_path: Path) -> None:
    nbs = tmp_path / "nbs"
    (nbs / "helper.txt").parent.mkdir(parents=True)
    (nbs / "helper.txt").write_text("next to the notebook")
    _write(nbs / "10_probe.ipynb", _nb(new_markdown_cell("# probe"), _params_cell(),
                                       new_code_cell(GOOD)))
    _write(nbs / "02_first.ipynb", _nb(_params_cell(), new_code_cell("print(SCALE * 2)")))
    out = tmp_path / "out"
    # an experiment summary already in the results tree is listed in summary.md
    ExperimentSummary(name="tour", scale="smoke", seed=7, env={},
                      metrics={"adam": {"test_accuracy": 0.8765}}, figures=["c.pdf"],
                      wall_time_s=2.0).to_json(out / "tour" / "summary.json")
    stream = io.StringIO()
    paths = run_notebooks(nbs, scale="smoke", seed=7, out=out, timeout=120, stream=stream)
    assert paths == [out / "notebooks" / "02_first.ipynb", out / "notebooks" / "10_probe.ipynb"]

    probe = json.loads((out / "probe" / "probe.json").read_text())
    assert probe["scale"] == "smoke" and probe["seed"] == 7
    assert probe["out_dir"] == str(out.resolve())
    assert Path(probe["cwd"]).resolve() == nbs.resolve()
    assert probe["executable"] == sys.executable  # the kernel runs this venv's python
    assert probe["local_file"] == "next to the notebook"

    executed = nbformat.read(paths[1], as_version=4)
    injected = executed.cells[2]
    assert injected.metadata["tags"] == [INJECTED_TAG]
    assert "SCALE = 'smoke'" in injected.source and "SEED = 7" in injected.source
    assert any("probe done smoke 7" in o.get("text", "") for o in executed.cells[3].outputs)
    first = nbformat.read(paths[0], as_version=4)
    assert first.cells[2].outputs[0]["text"] == "smokesmoke\n"
    src = nbformat.read(nbs / "10_probe.ipynb", as_version=4)
    assert len(src.cells) == 3  # the source notebook is left untouched

    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("[1/2] 02_first.ipynb: ok in ") and " s -> " in lines[0]
    assert lines[1].startswith("[2/2] 10_probe.ipynb: ok in ")

    md = (out / "summary.md").read_text()
    assert "Scale `smoke`, seed `7`" in md
    assert "| 02_first | ok |" in md and "| 10_probe | ok |" in md
    assert "[notebooks/10_probe.ipynb](notebooks/10_probe.ipynb)" in md
    assert "### tour (`tour/`)" in md
    assert "- adam.test_accuracy: 0.8765" in md
    assert "[c.pdf](tour/c.pdf)" in md
    assert "## Figures" in md
    assert "- [probe/probe_fig.pdf](probe/probe_fig.pdf) (seed 7, scale smoke)" in md


def test_failing_notebook_names_notebook_and_error(tmp_path: Path) -> None:
    nbs = tmp_path / "nbs"
    _write(nbs / "00_ok.ipynb", _nb(_params_cell(), new_code_cell("x = 1")))
    _write(nbs / "01_bad.ipynb", _nb(_params_cell(), new_code_cell("y = 2"),
                                     new_code_cell("raise ValueError('broken on purpose')")))
    _write(nbs / "02_never.ipynb", _nb(_params_cell(), new_code_cell("z = 3")))
    out = tmp_path / "out"
    stream = io.StringIO()
    with pytest.raises(NotebookError) as err:
        run_notebooks(nbs, scale="smoke", out=out, stream=stream)
    e = err.value
    assert e.notebook == "01_bad"
    assert (e.ename, e.evalue) == ("ValueError", "broken on purpose")
    assert e.cell_index == 3  # parameters, injected, y = 2, raise
    assert "'01_bad'" in str(e) and "ValueError: broken on purpose" in str(e)
    assert "broken on purpose" in e.traceback
    assert e.executed_path == out / "notebooks" / "01_bad.ipynb"
    executed = nbformat.read(e.executed_path, as_version=4)
    assert executed.cells[3].outputs[0]["output_type"] == "error"
    assert not (out / "notebooks" / "02_never.ipynb").exists()
    assert "FAILED (ValueError)" in stream.getvalue()
    md = (out / "summary.md").read_text()
    assert "| 00_ok | ok |" in md and "| 01_bad | FAILED: ValueError: broken on purpose" in md
