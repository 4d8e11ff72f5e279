"""Redrawing a stored ``results.json`` gives the same tables as when it was written.

``fixtures/results.json`` was written by ``effdl reproduce efficientdl --scale smoke --seed 0``
(its ``search`` part re-written by ``run_search(load_component_data("authors"),
scale="smoke", seed=0)`` when the study gained regrets and controls)
(the out-of-fold predictions thinned to every 25th row to keep it small, and those of the
authors' dataset emptied: they are the authors' per-row labels, which the project never copies;
no table reads them),
and the CSV tables next to it by that run's redraw. A change to the experiment's code must keep
these tables equal, value for value.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from effdl_kit.experiments.efficientdl import (
    FIGURE_CONFIRM,
    FIGURE_IMPORTANCE,
    FIGURE_SCATTER,
    FIGURE_SEARCH,
    RESULTS_FILE,
    TABLE_ABLATION,
    TABLE_CONFIRM,
    TABLE_METRICS,
    TABLE_OMEGA,
    TABLE_SEARCH,
    TABLE_TOP,
    TABLE_VERDICTS,
    redraw,
)

FIXTURES = Path(__file__).parent / "fixtures"
TABLES = (TABLE_METRICS, TABLE_TOP, TABLE_SEARCH, TABLE_VERDICTS, TABLE_ABLATION, TABLE_OMEGA,
          TABLE_CONFIRM)
FIGURES = (FIGURE_SCATTER, FIGURE_IMPORTANCE, FIGURE_SEARCH, FIGURE_CONFIRM)


@pytest.fixture(scope="module")
def redrawn(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    out = tmp_path_factory.mktemp("redraw")
    shutil.copy(FIXTURES / RESULTS_FILE, out / RESULTS_FILE)
    return out, redraw(out)


@pytest.mark.parametrize("table", TABLES)
def test_redrawn_table_equals_the_stored_one(redrawn: tuple[Path, list[Path]],
                                             table: str) -> None:
    out, paths = redrawn
    assert out / f"{table}.csv" in paths
    got = pd.read_csv(out / f"{table}.csv")
    want = pd.read_csv(FIXTURES / f"{table}.csv")
    assert len(want) > 0
    pd.testing.assert_frame_equal(got, want, check_exact=True)


def test_redraw_writes_every_figure(redrawn: tuple[Path, list[Path]]) -> None:
    out, paths = redrawn
    for stem in FIGURES:
        for ext in ("pdf", "svg", "png"):
            path = out / f"{stem}.{ext}"
            assert path in paths and path.stat().st_size > 0
    assert (out / f"{FIGURE_SCATTER}.pdf").read_bytes().startswith(b"%PDF")
