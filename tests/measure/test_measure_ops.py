"""Op microbenchmarks, measured peaks and the roofline regimes (tiny sizes, CPU)."""

from __future__ import annotations

import math

import pytest
import torch

from effdl_kit.errors import ConfigError, DeviceNotAvailableError
from effdl_kit.measure._ops import (
    OPS,
    REGIMES,
    Roofline,
    bench_op,
    classify_regime,
    log_sizes,
    measure_bandwidth,
    measure_overhead,
    measure_roofline,
    op_cost,
    op_sweep,
    ops_device,
    time_call,
)


def test_op_cost_model() -> None:
    mm = op_cost("matmul", 64)
    assert mm.flops == 2 * 64**3 and mm.bytes == 3 * 64 * 64 * 4
    assert op_cost("matmul", 64, "bfloat16").bytes == mm.bytes / 2
    add = op_cost("add", 1000)
    assert add.flops == 1000 and add.bytes == 3 * 1000 * 4
    assert math.isclose(add.intensity, 1 / 12)
    # intensity grows with matmul size, stays constant for elementwise ops
    assert op_cost("matmul", 512).intensity > op_cost("matmul", 64).intensity
    assert op_cost("relu", 10).intensity == op_cost("relu", 10_000).intensity
    for op in OPS:
        c = op_cost(op, 4096)
        assert c.flops > 0 and c.bytes > 0


@pytest.mark.parametrize("op", OPS)
def test_bench_every_op(op: str) -> None:
    size = {"matmul": 16, "conv2d": 4}.get(op, 4096)
    r = bench_op(op, size, min_time=0.001, repeats=2)
    assert r["time_s"] > 0 and r["flop_rate"] > 0 and r["byte_rate"] > 0
    assert r["flops"] == op_cost(op, size).flops


def test_bad_op_input() -> None:
    with pytest.raises(ConfigError, match="op"):
        bench_op("fft", 8)
    with pytest.raises(ConfigError, match="dtype"):
        bench_op("add", 8, dtype="float8")
    with pytest.raises(ConfigError, match="size"):
        bench_op("add", 0)
    with pytest.raises(ConfigError, match="float16"):
        bench_op("add", 8, dtype="float16", device="cpu")
    with pytest.raises(ConfigError, match="sizes"):
        op_sweep({"fft": [8]})


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU error path")
def test_cuda_paths_raise_device_not_available() -> None:
    with pytest.raises(DeviceNotAvailableError, match="cuda"):
        ops_device("cuda")
    with pytest.raises(DeviceNotAvailableError):
        bench_op("matmul", 8, device="cuda")
    with pytest.raises(DeviceNotAvailableError):
        measure_bandwidth(device="cuda")
    assert ops_device("auto").type == "cpu"


def test_time_call_and_peaks() -> None:
    x = torch.ones(1000)
    assert time_call(lambda: x + x, torch.device("cpu"), min_time=0.001, repeats=2) > 0
    bw = measure_bandwidth(n_bytes=2**20, min_time=0.001)
    assert bw["copy"] > 1e8 and bw["triad"] > 1e8  # > 0.1 GB/s on anything
    assert 0 < measure_overhead(min_time=0.001) < 1e-3
    roof = measure_roofline(matmul_sizes=(32, 64), bandwidth_bytes=2**20, min_time=0.001)
    assert roof.peak_flops == max(roof.peak_flops_by_dtype.values())
    assert roof.ridge == roof.peak_flops / roof.bandwidth
    assert Roofline.from_dict(roof.to_dict()) == roof


def test_regimes_on_a_known_roofline() -> None:
    roof = Roofline(peak_flops=1e11, bandwidth=1e10, overhead_s=1e-6, device="cpu",
                    peak_flops_by_dtype={"float32": 1e11}, bandwidth_by_kernel={"copy": 1e10})
    assert roof.ridge == 10.0
    assert float(roof.attainable(1.0)) == 1e10 and float(roof.attainable(100.0)) == 1e11
    assert classify_regime(2e-6, 100.0, roof) == "overhead"
    assert classify_regime(1e-3, 100.0, roof) == "compute"
    assert classify_regime(1e-3, 0.25, roof) == "memory"


def test_sweep_places_ops_on_the_roofline() -> None:
    roof = measure_roofline(matmul_sizes=(64,), bandwidth_bytes=2**20, min_time=0.001)
    sizes = {"matmul": [8, 128], "add": log_sizes(2**6, 2**18, 3)}
    df = op_sweep(sizes, roofline=roof, min_time=0.001, repeats=2)
    assert len(df) == 5 and set(df["regime"]) <= set(REGIMES)
    assert (df["fraction_of_roof"] > 0).all()
    small_add = df[(df["op"] == "add")].sort_values("size").iloc[0]
    assert small_add["regime"] == "overhead" or small_add["time_s"] < 1e-4
    assert log_sizes(1, 1000, 4) == [1, 10, 100, 1000]
