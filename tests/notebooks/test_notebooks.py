"""Every notebook is committed clean and runs end to end at smoke scale."""

from __future__ import annotations

import time
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


def ids(paths: list[Path]) -> list[str]:
    return [p.stem for p in paths]


def test_there_is_a_tour() -> None:
    assert (ROOT / "notebooks" / "00_tour.ipynb") in NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_notebook_is_committed_clean(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.get("kernelspec") == KERNELSPEC
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, "a notebook without code"
    for i, cell in enumerate(code):
        assert cell.get("outputs") == [], f"code cell {i} has outputs"
        assert cell.get("execution_count") is None, f"code cell {i} has an execution count"
    params = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1, "exactly one code cell tagged 'parameters'"
    names = set()
    for line in params[0].source.splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            names.add(line.split("=", 1)[0].strip())
    assert {"SCALE", "SEED", "OUT_DIR"} <= names


@pytest.mark.notebook
def test_notebooks_run_at_smoke_scale(tmp_path: Path) -> None:
    from effdl_kit.experiments import run_notebooks

    before = {p: p.read_bytes() for p in NOTEBOOKS}
    out = tmp_path / "results"
    t0 = time.perf_counter()
    executed = run_notebooks(ROOT / "notebooks", scale="smoke", seed=0, out=out, timeout=600,
                             progress=False)
    elapsed = time.perf_counter() - t0
    assert [p.name for p in executed] == [p.name for p in NOTEBOOKS]
    for path in executed:
        nb = nbformat.read(path, as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        injected = [c for c in code if "injected-parameters" in c.metadata.get("tags", [])]
        assert len(injected) == 1 and "SCALE = 'smoke'" in injected[0].source
        assert all(c.execution_count is not None for c in code), path.name
        errors = [o for c in code for o in c.outputs if o.output_type == "error"]
        assert not errors, errors
    # the tour trained at the smoke budget and exported its figure into OUT_DIR
    tour = nbformat.read(out / "notebooks" / "00_tour.ipynb", as_version=4)
    text = "".join(o.get("text", "") for c in tour.cells if c.cell_type == "code"
                   for o in c.outputs)
    assert "2 epochs" in text, text[-2000:]
    pdfs = list(out.rglob("*.pdf"))
    assert pdfs and all(p.read_bytes().startswith(b"%PDF") for p in pdfs)
    from effdl_kit.reports import read_provenance

    rec = read_provenance(out / "00_tour" / "tour_training_curves.pdf")
    assert rec["scale"] == "smoke" and rec["seed"] == 0
    # the panel was displayed as a widget
    mimes = {m for c in tour.cells if c.cell_type == "code" for o in c.outputs
             for m in o.get("data", {})}
    assert "application/vnd.jupyter.widget-view+json" in mimes
    # the committed notebooks were not touched
    assert {p: p.read_bytes() for p in NOTEBOOKS} == before
    print(f"\nexecuted {len(executed)} notebook(s) at smoke scale in {elapsed:.1f} s")


#: committed result files the notebooks replay at small scale (``committed("<stem>")``)
REPLAYED = ("efficientdl_search", "efficientdl_confirm", "medn_results", "medn_gpu_results",
            "survey_pareto", "recommend_comparison")


def test_small_scale_replays_committed_results() -> None:
    """`make run` stays short only while the hour-long studies are replayed: every result file a
    notebook replays is committed and was made at small scale, and RUN_FULL is off by default."""
    import json
    import re

    used = set()
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
        stems = set(re.findall(r'committed\("([a-z_]+)"\)', code))
        if stems:
            params = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
            assert re.search(r"^RUN_FULL = False\b", params.source, re.M), path.name
            assert re.search(r'^RESULTS_DIR = "../docs/results"$', params.source, re.M)
        used |= stems
    assert used == set(REPLAYED)
    for stem in REPLAYED:
        doc = json.loads((ROOT / "docs" / "results" / f"{stem}.json").read_text())
        assert doc["scale"] == "small", stem
