"""Shared fixtures of the survey tests: a constructed two-dtype roofline and a sweep placed
on it (no timing)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from effdl_kit.measure import Roofline, place_on_roofline


@pytest.fixture()
def two_roofs() -> Roofline:
    """float32: 40 GFLOP/s over 10 GB/s (ridge 4 FLOP/byte); bfloat16: 160 over 10 (ridge 16)."""
    return Roofline(peak_flops=1.6e11, bandwidth=1e10, overhead_s=1e-6, device="cpu",
                    peak_flops_by_dtype={"float32": 4e10, "bfloat16": 1.6e11},
                    bandwidth_by_kernel={"copy": 1e10, "triad": 1e10},
                    bandwidth_by_dtype={"float32": 1e10, "bfloat16": 1e10})


def _row(op: str, size: int, dtype: str, intensity: float, time_s: float) -> dict[str, Any]:
    rate = 1e10
    return {"op": op, "size": size, "dtype": dtype, "device": "cpu", "time_s": time_s,
            "flops": rate * time_s, "bytes": rate * time_s / intensity,
            "intensity": intensity, "flop_rate": rate, "byte_rate": rate / intensity}


@pytest.fixture()
def two_dtype_sweep(two_roofs: Roofline) -> pd.DataFrame:
    """conv2d at intensity 8 (between the ridges; size 4 within the overhead, size 32 not)
    and add at 0.1, in float32 and bfloat16, at 10 GFLOP/s, placed on ``two_roofs``."""
    rows = [_row(op, size, dt, a, t) for dt in ("float32", "bfloat16")
            for op, size, a, t in (("conv2d", 4, 8.0, 1e-6), ("conv2d", 32, 8.0, 1e-3),
                                   ("add", 2**20, 0.1, 1e-3))]
    return place_on_roofline(pd.DataFrame(rows), two_roofs)
