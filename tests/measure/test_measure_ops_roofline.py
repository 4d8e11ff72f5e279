"""Per-dtype rooflines: each op against its own dtype's roof, one statistic for peaks and ops,
errors that name the field (constructed measurements: nothing here depends on timing)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest
import torch

from effdl_kit.errors import ConfigError, DataError
from effdl_kit.measure import _ops
from effdl_kit.measure._ops import (
    Roofline,
    bench_op,
    classify_regime,
    measure_bandwidth,
    measure_peak_flops,
    measure_roofline,
    op_cost,
    op_sweep,
    place_on_roofline,
    summarize_samples,
)

#: float32: 40 GFLOP/s over 10 GB/s (ridge 4); bfloat16: 160 GFLOP/s over 10 GB/s (ridge 16)
TWO = Roofline(peak_flops=1.6e11, bandwidth=1e10, overhead_s=1e-6, device="cpu",
               peak_flops_by_dtype={"float32": 4e10, "bfloat16": 1.6e11},
               bandwidth_by_kernel={"copy": 1e10, "triad": 1e10},
               bandwidth_by_dtype={"float32": 1e10, "bfloat16": 1e10})


def _row(dtype: str, intensity: float, time_s: float = 1e-3, flop_rate: float = 1e10,
         device: str = "cpu") -> dict[str, Any]:
    return {"op": "conv2d", "size": 32, "dtype": dtype, "device": device, "time_s": time_s,
            "flops": flop_rate * time_s, "bytes": flop_rate * time_s / intensity,
            "intensity": intensity, "flop_rate": flop_rate, "byte_rate": flop_rate / intensity}


def test_an_op_between_two_ridges_is_compute_bound_under_one_and_memory_bound_under_the_other(
) -> None:
    assert TWO.ridge_for("float32") == 4.0 and TWO.ridge_for("bfloat16") == 16.0
    assert TWO.ridge == 16.0  # the envelope would call the float32 op memory-bound
    assert classify_regime(1e-3, 8.0, TWO, dtype="float32") == "compute"
    assert classify_regime(1e-3, 8.0, TWO, dtype="bfloat16") == "memory"
    placed = place_on_roofline(pd.DataFrame([_row("float32", 8.0), _row("bfloat16", 8.0)]),
                               TWO)
    assert list(placed["regime"]) == ["compute", "memory"]
    assert list(placed["ridge"]) == [4.0, 16.0]
    cols = list(placed.columns)
    assert cols.index("ridge") == cols.index("intensity") + 1
    # 10 GFLOP/s under float32's 40 GFLOP/s roof; bfloat16 at intensity 8 attains 80
    assert list(placed["fraction_of_roof"]) == [0.25, 0.125]
    assert float(TWO.attainable(8.0, "float32")) == 4e10
    assert float(TWO.attainable(8.0, "bfloat16")) == 8e10
    # the per-call overhead still comes first
    assert classify_regime(2e-6, 8.0, TWO, dtype="float32") == "overhead"


def _fixed_samples(samples: list[float]) -> Callable[..., list[float]]:
    def fake(fn: Callable[[], Any], device: torch.device, **_: Any) -> list[float]:
        return list(samples)
    return fake


def test_peaks_and_ops_use_the_same_statistic(monkeypatch: pytest.MonkeyPatch) -> None:
    # a best-sample peak (1 ms) against median ops (2 ms) would put the peak's own matmul at
    # half of its roof; with one statistic it sits exactly on it
    monkeypatch.setattr(_ops, "time_samples", _fixed_samples([1e-3, 2e-3, 9e-3]))
    assert summarize_samples([1e-3, 2e-3, 9e-3]) == 2e-3
    flops = op_cost("matmul", 64).flops
    peak = measure_peak_flops(sizes=(64,), min_time=0.001)
    op = bench_op("matmul", 64, min_time=0.001)
    assert peak == op["flop_rate"] == flops / 2e-3
    bw = measure_bandwidth(n_bytes=2**16, min_time=0.001)
    assert bw == {"copy": 2 * 2**16 / 2e-3, "triad": 3 * 2**16 / 2e-3}
    roof = measure_roofline(matmul_sizes=(64,), bandwidth_bytes=2**16, min_time=0.001)
    assert roof.peak_for("float32") == peak and roof.bandwidth_for("float32") == bw["triad"]
    placed = place_on_roofline(pd.DataFrame([op]), roof)
    assert op["intensity"] >= roof.ridge_for("float32")
    assert math.isclose(float(placed["fraction_of_roof"].iloc[0]), 1.0)


def test_measured_roofline_has_a_roof_per_dtype() -> None:
    roof = measure_roofline(dtypes=("float32", "bfloat16"), matmul_sizes=(32,),
                            bandwidth_bytes=2**16, min_time=0.001)
    assert roof.dtypes == ("float32", "bfloat16")
    assert set(roof.bandwidth_by_dtype) == {"float32", "bfloat16"}
    assert roof.peak_flops == max(roof.peak_flops_by_dtype.values())
    assert roof.bandwidth == max(roof.bandwidth_by_dtype.values())
    for d in roof.dtypes:
        assert roof.ridge_for(d) == roof.peak_for(d) / roof.bandwidth_for(d) > 0
    assert Roofline.from_dict(roof.to_dict()) == roof
    df = op_sweep({"matmul": [16]}, dtypes=("float32", "bfloat16"), roofline=roof,
                  min_time=0.001, repeats=2)
    assert list(df["ridge"]) == [roof.ridge_for("float32"), roof.ridge_for("bfloat16")]


def test_results_written_before_per_dtype_bandwidths_use_their_one_bandwidth() -> None:
    old = {"peak_flops": 4e10, "bandwidth": 1e10, "overhead_s": 1e-6, "device": "cpu",
           "peak_flops_by_dtype": {"float32": 4e10, "bfloat16": 1e9},
           "bandwidth_by_kernel": {"copy": 1e10}}
    roof = Roofline.from_dict(old)
    assert roof.bandwidth_by_dtype == {"float32": 1e10, "bfloat16": 1e10}
    assert roof.ridge_for("bfloat16") == 0.1


def test_bad_roofline_input_names_the_field() -> None:
    one = Roofline(peak_flops=4e10, bandwidth=1e10, overhead_s=1e-6, device="cpu",
                   peak_flops_by_dtype={"float32": 4e10}, bandwidth_by_kernel={"copy": 1e10},
                   bandwidth_by_dtype={"float32": 1e10})
    assert classify_regime(1e-3, 8.0, one) == "compute"  # one dtype: no need to name it
    with pytest.raises(ConfigError, match="dtype"):
        classify_regime(1e-3, 8.0, TWO)  # several: the op's dtype is required
    with pytest.raises(ConfigError, match="dtype"):
        TWO.ridge_for("float8")
    with pytest.raises(DataError, match="peak_flops_by_dtype.*float16"):
        TWO.ridge_for("float16")
    with pytest.raises(DataError, match="peak_flops_by_dtype.*bfloat16"):
        place_on_roofline(pd.DataFrame([_row("bfloat16", 8.0)]), one)
    partial = Roofline(peak_flops=4e10, bandwidth=1e10, overhead_s=1e-6, device="cpu",
                       peak_flops_by_dtype={"float32": 4e10, "bfloat16": 8e10},
                       bandwidth_by_kernel={"copy": 1e10},
                       bandwidth_by_dtype={"float32": 1e10})
    with pytest.raises(DataError, match="bandwidth_by_dtype.*bfloat16"):
        partial.ridge_for("bfloat16")
    with pytest.raises(ConfigError, match="peak_flops_by_dtype"):
        Roofline(peak_flops=1.0, bandwidth=1.0, overhead_s=1e-6, device="cpu",
                 peak_flops_by_dtype={"fp8": 1.0}, bandwidth_by_kernel={})
    with pytest.raises(ConfigError, match="bandwidth_by_dtype"):
        Roofline(peak_flops=1.0, bandwidth=1.0, overhead_s=1e-6, device="cpu",
                 peak_flops_by_dtype={"float32": 1.0}, bandwidth_by_kernel={},
                 bandwidth_by_dtype={"float32": -1.0})
    with pytest.raises(DataError, match="device"):
        place_on_roofline(pd.DataFrame([_row("float32", 8.0, device="cuda")]), one)
    # checked before anything is timed
    with pytest.raises(DataError, match="peak_flops_by_dtype"):
        op_sweep({"matmul": [8]}, dtypes=("float32", "bfloat16"), roofline=one)
    with pytest.raises(DataError, match="samples"):
        summarize_samples([])
    with pytest.raises(DataError, match="samples"):
        summarize_samples([1e-3, float("nan")])
