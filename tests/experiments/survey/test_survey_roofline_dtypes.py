"""E2 with two dtypes whose roofs differ: the table carries each op's dtype's ridge beside its
intensity, the regimes follow each dtype's own roof, the figure draws a roof per dtype
(constructed measurements: no timing)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from effdl_kit.errors import DataError
from effdl_kit.experiments.survey import (
    RESULTS_FILE,
    dtype_roofs,
    op_regime_table,
    plot_roofline,
    redraw,
    summary_metrics,
)
from effdl_kit.measure import Roofline
from effdl_kit.reports import figure


def test_the_table_classifies_each_op_against_its_own_dtypes_roof(
        two_dtype_sweep: pd.DataFrame) -> None:
    table = op_regime_table(two_dtype_sweep).set_index(["op", "dtype"])
    cols = list(table.columns)
    assert cols.index("ridge") == cols.index("intensity") + 1
    assert table.loc[("conv2d", "float32"), "ridge"] == 4.0
    assert table.loc[("conv2d", "bfloat16"), "ridge"] == 16.0
    # intensity 8 lies between the two ridges
    assert table.loc[("conv2d", "float32"), "regimes (small -> large)"] == "overhead -> compute"
    assert table.loc[("conv2d", "bfloat16"), "regimes (small -> large)"] == "overhead -> memory"
    assert table.loc[("add", "float32"), "regimes (small -> large)"] == "memory"


def test_redraw_of_two_dtypes_writes_the_ridges_and_a_roof_per_dtype(
        tmp_path: Path, two_roofs: Roofline, two_dtype_sweep: pd.DataFrame) -> None:
    payload = {"experiment": "survey", "scale": "smoke", "seed": 0, "setup": {},
               "ops": {"roofline": two_roofs.to_dict(),
                       "sweep": json.loads(two_dtype_sweep.to_json(orient="records"))}}
    (tmp_path / RESULTS_FILE).write_text(json.dumps(payload))
    paths = redraw(tmp_path)
    assert tmp_path / "survey_roofline.png" in paths
    table = pd.read_csv(tmp_path / "survey_ops.csv")
    assert list(table["ridge"]) == [4.0, 4.0, 16.0, 16.0]
    m = summary_metrics(payload)["roofline"]
    assert m["by_dtype"]["float32"]["ridge_flop_per_byte"] == 4.0
    assert m["by_dtype"]["bfloat16"]["ridge_flop_per_byte"] == 16.0
    assert m["ridge_flop_per_byte"] == 16.0  # the envelope, kept for the old readers


def test_the_figure_draws_one_roof_per_dtype(two_roofs: Roofline,
                                             two_dtype_sweep: pd.DataFrame) -> None:
    _, ax = figure("single", pyplot=False)
    plot_roofline(two_dtype_sweep, two_roofs.to_dict(), ax=ax, dtype=None)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert [x.split(":")[0] for x in labels if "roof" in x] == ["float32 roof", "bfloat16 roof"]
    assert {"float32 ops", "bfloat16 ops"} <= set(labels)
    _, ax2 = figure("single", pyplot=False)
    plot_roofline(two_dtype_sweep, two_roofs, ax=ax2, dtype="bfloat16")
    labels2 = [t.get_text() for t in ax2.get_legend().get_texts()]
    assert labels2[0].startswith("bfloat16 roof") and "ridge 16" in labels2[0]
    assert {"conv2d", "add"} <= set(labels2)


def test_a_roofline_without_a_dtypes_peak_is_a_data_error(
        two_roofs: Roofline, two_dtype_sweep: pd.DataFrame) -> None:
    one = {**two_roofs.to_dict(), "peak_flops_by_dtype": {"float32": 4e10},
           "bandwidth_by_dtype": {"float32": 1e10}}
    with pytest.raises(DataError, match="peak_flops_by_dtype.*bfloat16"):
        plot_roofline(two_dtype_sweep, one, ax=figure("single", pyplot=False)[1], dtype=None)
    assert set(dtype_roofs(one)) == {"float32"}
