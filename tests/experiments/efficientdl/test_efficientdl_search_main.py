"""The search study's command: one-line errors before any work, and the Markdown summary
rendered from a stored payload (the redraw fixture's smoke-scale search)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from effdl_kit.experiments.efficientdl import _search_main

FIXTURE = Path(__file__).parent / "fixtures" / "results.json"


@pytest.mark.parametrize(("args", "field"), [
    (["--scale", "huge"], "scale"), (["--seed", "-3"], "seed"), (["--seed", "x"], "seed"),
    (["--components", "data"], "components"), (["--workers", "0"], "workers"),
])
def test_bad_input_is_one_line_before_any_work(args: list[str], field: str,
                                               capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    def no_work(*a: object, **k: object) -> None:
        raise AssertionError("no work may start")

    monkeypatch.setattr(_search_main, "run_search", no_work)
    assert _search_main.main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and field in err[0]


def test_out_must_be_a_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "file"
    f.write_text("x")
    assert _search_main.main(["--out", str(f)]) == 2
    assert "a folder (it is a file)" in capsys.readouterr().err
    assert f.read_text() == "x"


def test_markdown_summary_names_the_setup_verdicts_and_controls() -> None:
    search = json.loads(FIXTURE.read_text())["search"]
    doc = {"command": "python -m ... --scale smoke", "date": "2026-12-02 00:00 UTC",
           "env": {"cpu_model": "cpu", "cores_logical": 2}, "wall_s": 60.0, "search": search}
    md = _search_main.render_markdown(doc)
    for part in ("## Setup", "## Simple regret", "## Verdicts", "## Controls",
                 "## Ablation", "Where α, β, Ω change the result"):
        assert part in md
    assert "Dataset = cifar-10" in md  # the task's data components are held fixed
    assert search["controls"]["negative"]["verdict"] in md
    assert f"{search['setup']['grid_max']:.4f}" in md
