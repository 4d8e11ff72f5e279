"""Redraw equality: the survey tables redrawn from a results file written before the
experiment became a package equal the tables written then (fixtures/, smoke scale, seed 0)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from effdl_kit.experiments.survey import redraw

FIXTURES = Path(__file__).parent / "fixtures"
TABLES = ("survey_frontier", "survey_ops", "survey_flops_runtime", "survey_loader")
FIGURES = ("survey_pareto", "survey_roofline", "survey_flops_runtime", "survey_loader")


def test_redraw_from_the_stored_results_writes_the_stored_tables(tmp_path: Path) -> None:
    shutil.copy(FIXTURES / "results.json", tmp_path / "results.json")
    paths = redraw(tmp_path)
    assert {p.name for p in paths} >= {f"{t}.csv" for t in TABLES}
    for table in TABLES:
        pd.testing.assert_frame_equal(pd.read_csv(tmp_path / f"{table}.csv"),
                                      pd.read_csv(FIXTURES / f"{table}.csv"), obj=table)
    for stem in FIGURES:
        for suffix in (".pdf", ".svg", ".png"):
            path = tmp_path / f"{stem}{suffix}"
            assert path in paths and path.stat().st_size > 0, path.name
