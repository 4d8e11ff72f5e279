"""Redraw equality: the bttackler tables redrawn from a results file written before the
experiment became a package equal the tables written then (fixtures/: smoke scale, seed 7,
tasks cnn and transformer, 2 repeats)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from effdl_kit.experiments.bttackler import redraw

FIXTURES = Path(__file__).parent / "fixtures"
TABLES = ("bttackler_comparison", "bttackler_runs", "bttackler_indicators",
          "bttackler_headline")
FIGURES = ("bttackler_tsba", "bttackler_top10hr")


def test_redraw_from_the_stored_results_writes_the_stored_tables(tmp_path: Path) -> None:
    shutil.copy(FIXTURES / "results.json", tmp_path / "results.json")
    paths = redraw(tmp_path)
    assert [p.name for p in paths] == [
        *(f"{s}.{e}" for s in FIGURES for e in ("pdf", "svg", "png")),
        *(f"{s}.{e}" for s in TABLES for e in ("tex", "md", "csv"))]
    for table in TABLES:
        pd.testing.assert_frame_equal(pd.read_csv(tmp_path / f"{table}.csv"),
                                      pd.read_csv(FIXTURES / f"{table}.csv"), obj=table)
        for suffix in (".md", ".tex"):  # the rendered tables too, byte for byte
            new = (tmp_path / f"{table}{suffix}").read_bytes()
            assert new == (FIXTURES / f"{table}{suffix}").read_bytes(), f"{table}{suffix}"
    for stem in FIGURES:
        for suffix in (".pdf", ".svg", ".png"):
            path = tmp_path / f"{stem}{suffix}"
            assert path in paths and path.stat().st_size > 0, path.name
