"""run_notebooks records wall times: per notebook and per cell in summary.md and timings.json."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from effdl_kit.experiments import TIMINGS_FILE, CellTiming, cell_timings, run_notebooks


def _nb(*cells: nbformat.NotebookNode) -> nbformat.NotebookNode:
    nb = new_notebook(cells=list(cells))
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    return nb


def _params() -> nbformat.NotebookNode:
    c = new_code_cell('SCALE = "small"\nSEED = 0\nOUT_DIR = "../results"')
    c.metadata["tags"] = ["parameters"]
    return c


def _timed(source: str, start: str | None, end: str | None) -> nbformat.NotebookNode:
    c = new_code_cell(source)
    execution = {}
    if start is not None:
        execution["iopub.execute_input"] = start
    if end is not None:
        execution["shell.execute_reply"] = end
    c.metadata["execution"] = execution
    return c


def test_cell_timings_from_nbclient_timestamps() -> None:
    t0 = dt.datetime(2026, 12, 2, 15, 0, 0, tzinfo=dt.UTC)
    nb = _nb(
        new_markdown_cell("# title"),
        _timed("x = 1\n\nslow()  \n\n", "2026-12-02T15:00:00.000000Z",
               "2026-12-02T15:00:12.500000Z"),
        _timed("not run", None, None),
        _timed("y = 2", (t0 + dt.timedelta(seconds=20)).isoformat(),
               (t0 + dt.timedelta(seconds=20.25)).isoformat()),
        _timed("z", "garbage", "2026-12-02T15:00:00Z"),
    )
    got = cell_timings(nb)
    assert [c.index for c in got] == [1, 3]
    assert got[0] == CellTiming(1, 12.5, "slow()")
    assert got[1].seconds == pytest.approx(0.25)
    assert got[0].to_dict() == {"index": 1, "seconds": 12.5, "line": "slow()"}


def test_run_notebooks_writes_times_per_notebook_and_cell(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          ) -> None:
    import effdl_kit.experiments._notebooks as notebooks

    monkeypatch.setattr(notebooks, "SLOW_CELL_S", 0.3)  # list the sleeping cell as slow
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    nbformat.write(_nb(_params(), new_code_cell("import time\ntime.sleep(0.4)"),
                       new_code_cell("x = 1")), nbs / "a.ipynb")
    out = tmp_path / "out"
    stream = io.StringIO()
    run_notebooks(nbs, scale="smoke", seed=0, out=out, timeout=120, stream=stream)

    rec = json.loads((out / TIMINGS_FILE).read_text())
    assert rec["scale"] == "smoke" and rec["seed"] == 0 and rec["cores_logical"] >= 1
    assert len(rec["load_before"]) == 3 and len(rec["load_after"]) == 3
    (nb,) = rec["notebooks"]
    assert nb["name"] == "a" and nb["ok"] is True
    cells = {c["line"]: c for c in nb["cells"]}
    # the parameters cell, the injected cell and the two code cells, in order
    assert [c["index"] for c in nb["cells"]] == [0, 1, 2, 3]
    assert 0.4 <= cells["time.sleep(0.4)"]["seconds"] < nb["seconds"]
    assert cells["x = 1"]["seconds"] < 0.4
    assert rec["total_s"] == pytest.approx(nb["seconds"], abs=1e-3)

    md = (out / "summary.md").read_text()
    assert f"1 notebook(s) in {nb['seconds']:.1f} s" in md
    assert "load average (1 / 5 / 15 min)" in md
    assert "| a | 2 |" in md and "`time.sleep(0.4)`" in md
    assert "`x = 1`" not in md
    printed = stream.getvalue().splitlines()
    assert printed[0].startswith("[1/1] a.ipynb: ok in ")
    assert printed[1].startswith("all 1 notebook(s) in ") and TIMINGS_FILE in printed[1]
