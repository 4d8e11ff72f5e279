"""The E2 result command: the rows the one-roof classification relabels, the Markdown, files
written by a smoke run, bad input as one line and exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from effdl_kit.experiments.survey._ops_main import envelope_relabelled, main, render_markdown
from effdl_kit.measure import Roofline


def test_the_one_roof_relabels_the_float32_op_between_the_ridges(
        two_roofs: Roofline, two_dtype_sweep: pd.DataFrame) -> None:
    diff = envelope_relabelled(two_dtype_sweep, two_roofs)
    assert len(diff) == 1
    row = diff.iloc[0]
    assert (row["op"], row["size"], row["dtype"]) == ("conv2d", 32, "float32")
    assert (row["regime"], row["envelope_regime"], row["ridge"]) == ("compute", "memory", 4.0)


def test_render_markdown_of_constructed_runs(two_roofs: Roofline,
                                            two_dtype_sweep: pd.DataFrame) -> None:
    run = {"roofline": two_roofs.to_dict(),
           "sweep": json.loads(two_dtype_sweep.to_json(orient="records"))}
    doc = {"command": "python -m x", "date": "today", "env": {"cpu_model": "cpu"},
           "seeds": [0, 1], "wall_s": 60.0, "runs": [run, run]}
    md = render_markdown(doc)
    assert "| float32 " in md and "| bfloat16 " in md and "one roof (before)" in md
    assert md.count("1 of 6 rows: conv2d 32 float32 (intensity 8, ridge 4): compute, "
                    "one roof memory") == 2
    assert "overhead -> memory" in md and "overhead -> compute" in md


def test_a_smoke_run_writes_the_result_files(tmp_path: Path) -> None:
    assert main(["--scale", "smoke", "--repeats", "1", "--out", str(tmp_path)]) == 0
    doc = json.loads((tmp_path / "survey_ops.json").read_text())
    assert doc["scale"] == "smoke" and doc["seeds"] == [0] and len(doc["runs"]) == 1
    assert doc["command"].endswith("--scale smoke --repeats 1 --out " + str(tmp_path))
    assert "ridge" in pd.DataFrame(doc["runs"][0]["sweep"])
    assert (tmp_path / "survey_ops.md").read_text().startswith("# Survey E2")
    assert (tmp_path / "survey_roofline.png").stat().st_size > 0


@pytest.mark.parametrize("argv,field", [(["--scale", "huge"], "scale"),
                                        (["--scale", "smoke", "--repeats", "0"], "repeats"),
                                        (["--scale", "smoke", "--seed", "-1"], "seed")])
def test_bad_input_is_one_line_and_exit_2(argv: list[str], field: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and field in err


def test_an_out_that_is_a_file_is_refused(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "file"
    f.write_text("x")
    assert main(["--scale", "smoke", "--out", str(f)]) == 2
    assert "a folder (it is a file)" in capsys.readouterr().err
