"""E2 with two dtypes whose roofs differ: the table carries each op's dtype's ridge beside its
intensity, the regimes follow each dtype's own roof, the figure draws a roof per dtype
(constructed measurements: no timing)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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
from effdl_kit.measure import Roofline, place_on_roofline
from effdl_kit.reports import figure

#: float32 ridge 4 FLOP/byte, bfloat16 ridge 16
ROOF = Roofline(peak_flops=1.6e11, bandwidth=1e10, overhead_s=1e-6, device="cpu",
                peak_flops_by_dtype={"float32": 4e10, "bfloat16": 1.6e11},
                bandwidth_by_kernel={"copy": 1e10, "triad": 1e10},
                bandwidth_by_dtype={"float32": 1e10, "bfloat16": 1e10})


def _row(op: str, size: int, dtype: str, intensity: float, time_s: float) -> dict[str, Any]:
    rate = 1e10
    return {"op": op, "size": size, "dtype": dtype, "device": "cpu", "time_s": time_s,
            "flops": rate * time_s, "bytes": rate * time_s / intensity,
            "intensity": intensity, "flop_rate": rate, "byte_rate": rate / intensity}


def _sweep() -> pd.DataFrame:
    rows = [_row(op, size, dt, a, t) for dt in ("float32", "bfloat16")
            for op, size, a, t in (("conv2d", 4, 8.0, 1e-6), ("conv2d", 32, 8.0, 1e-3),
                                   ("add", 2**20, 0.1, 1e-3))]
    return place_on_roofline(pd.DataFrame(rows), ROOF)


def test_the_table_classifies_each_op_against_its_own_dtypes_roof() -> None:
    table = op_regime_table(_sweep()).set_index(["op", "dtype"])
    cols = list(table.columns)
    assert cols.index("ridge") == cols.index("intensity") + 1
    assert table.loc[("conv2d", "float32"), "ridge"] == 4.0
    assert table.loc[("conv2d", "bfloat16"), "ridge"] == 16.0
    # intensity 8 lies between the two ridges
    assert table.loc[("conv2d", "float32"), "regimes (small -> large)"] == "overhead -> compute"
    assert table.loc[("conv2d", "bfloat16"), "regimes (small -> large)"] == "overhead -> memory"
    assert table.loc[("add", "float32"), "regimes (small -> large)"] == "memory"


def test_redraw_of_two_dtypes_writes_the_ridges_and_a_roof_per_dtype(tmp_path: Path) -> None:
    payload = {"experiment": "survey", "scale": "smoke", "seed": 0, "setup": {},
               "ops": {"roofline": ROOF.to_dict(),
                       "sweep": json.loads(_sweep().to_json(orient="records"))}}
    (tmp_path / RESULTS_FILE).write_text(json.dumps(payload))
    paths = redraw(tmp_path)
    assert tmp_path / "survey_roofline.png" in paths
    table = pd.read_csv(tmp_path / "survey_ops.csv")
    assert list(table["ridge"]) == [4.0, 4.0, 16.0, 16.0]
    m = summary_metrics(payload)["roofline"]
    assert m["by_dtype"]["float32"]["ridge_flop_per_byte"] == 4.0
    assert m["by_dtype"]["bfloat16"]["ridge_flop_per_byte"] == 16.0
    assert m["ridge_flop_per_byte"] == 16.0  # the envelope, kept for the old readers


def test_the_figure_draws_one_roof_per_dtype() -> None:
    _, ax = figure("single", pyplot=False)
    plot_roofline(_sweep(), ROOF.to_dict(), ax=ax, dtype=None)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert [x.split(":")[0] for x in labels if "roof" in x] == ["float32 roof", "bfloat16 roof"]
    assert {"float32 ops", "bfloat16 ops"} <= set(labels)
    _, ax2 = figure("single", pyplot=False)
    plot_roofline(_sweep(), ROOF, ax=ax2, dtype="bfloat16")
    labels2 = [t.get_text() for t in ax2.get_legend().get_texts()]
    assert labels2[0].startswith("bfloat16 roof") and "ridge 16" in labels2[0]
    assert {"conv2d", "add"} <= set(labels2)


def test_a_roofline_without_a_dtypes_peak_is_a_data_error() -> None:
    one = {**ROOF.to_dict(), "peak_flops_by_dtype": {"float32": 4e10},
           "bandwidth_by_dtype": {"float32": 1e10}}
    with pytest.raises(DataError, match="peak_flops_by_dtype.*bfloat16"):
        plot_roofline(_sweep(), one, ax=figure("single", pyplot=False)[1], dtype=None)
    assert set(dtype_roofs(one)) == {"float32"}
