"""Op microbenchmarks and the roofline (compute-efficient DL survey, E2).

Each op of :data:`OPS` is timed over log-spaced sizes and dtypes; its FLOPs and the bytes it
must move (operands read once, result written once) come from an analytic model
(:func:`op_cost`). The device's peaks are measured, not looked up: peak FLOP/s from the
fastest large matmul (:func:`measure_peak_flops`), memory bandwidth from a streaming copy and
a triad (:func:`measure_bandwidth`), and the fixed per-call overhead from the smallest ops
(:func:`measure_overhead`). :func:`classify_regime` then places each measurement on the
roofline: *overhead-bound* (time within a few per-call overheads), *compute-bound*
(arithmetic intensity above the ridge point) or *memory-bound* (below it).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from effdl_kit._core.errors import ConfigError, DeviceNotAvailableError
from effdl_kit._core.validate import check_choice, check_float, check_int

__all__ = [
    "DTYPES",
    "OPS",
    "OP_SIZES",
    "REGIMES",
    "OpCost",
    "Roofline",
    "bench_op",
    "classify_regime",
    "log_sizes",
    "measure_bandwidth",
    "measure_overhead",
    "measure_peak_flops",
    "measure_roofline",
    "op_cost",
    "op_sweep",
    "ops_device",
    "time_call",
    "torch_threads",
]

OPS: tuple[str, ...] = ("matmul", "conv2d", "add", "relu", "gelu", "batchnorm", "layernorm",
                        "softmax")
DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "bfloat16": torch.bfloat16,
                                  "float16": torch.float16}
REGIMES: tuple[str, ...] = ("overhead", "memory", "compute")
#: the "size" of each op: matmul n (n x n @ n x n); conv2d spatial side (64 -> 64 channels,
#: 3x3, batch 8); elementwise and norms: elements (rows of 1024 for layernorm/softmax)
OP_SIZES: dict[str, str] = {
    "matmul": "n for (n, n) @ (n, n)",
    "conv2d": "side s of (8, 64, s, s) input, 64 -> 64 channels, 3x3, padding 1",
    "add": "elements", "relu": "elements", "gelu": "elements",
    "batchnorm": "elements of (8, 64, h, w)",
    "layernorm": "elements of (rows, 1024)", "softmax": "elements of (rows, 1024)",
}


def ops_device(device: str) -> torch.device:
    """``"cpu"``, ``"cuda"`` (when present) or ``"auto"``.

    Raises
    ------
    DeviceNotAvailableError
        ``"cuda"`` on a machine without CUDA.
    """
    check_choice("device", device, ("cpu", "cuda", "auto"))
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise DeviceNotAvailableError("device", "cuda", ("cpu",))
    return torch.device(device)


def _dtype(name: str) -> torch.dtype:
    check_choice("dtype", name, tuple(DTYPES))
    return DTYPES[name]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run a block with ``n`` intra-op threads (None: unchanged); restores the old count.

    One thread is the default of the benchmarks here: on a shared machine a multi-threaded
    op waits for its slowest thread, and one descheduled thread adds a whole time slice.
    """
    old = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(check_int("threads", n, min_value=1, max_value=1024))
    try:
        yield
    finally:
        torch.set_num_threads(old)


def time_call(fn: Callable[[], Any], device: torch.device, *, min_time: float = 0.02,
              repeats: int = 5, max_calls: int = 10_000, stat: str = "median") -> float:
    """Seconds per call of ``fn``: each of ``repeats`` samples runs enough calls to last
    ``min_time`` (calibrated on a first call), synchronising CUDA around each sample; the
    ``"median"`` sample, or the ``"min"`` (best case, used for the device's peaks)."""
    check_choice("stat", stat, ("median", "min"))
    fn()
    _sync(device)
    t0 = time.perf_counter()
    fn()
    _sync(device)
    one = max(time.perf_counter() - t0, 1e-7)
    n = int(min(max(1, math.ceil(min_time / one)), max_calls))
    samples = []
    for _ in range(repeats):
        _sync(device)
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        _sync(device)
        samples.append((time.perf_counter() - t0) / n)
    return float(np.min(samples) if stat == "min" else np.median(samples))


@dataclass(frozen=True)
class OpCost:
    """Analytic cost of one op call: FLOPs and bytes moved (each operand once)."""

    flops: float
    bytes: float

    @property
    def intensity(self) -> float:
        """FLOPs per byte."""
        return self.flops / self.bytes if self.bytes > 0 else math.inf


def _make_op(op: str, size: int, dtype: torch.dtype, device: torch.device,
             g: torch.Generator) -> Callable[[], Any]:
    """The call to time (shapes as in :func:`op_cost`)."""

    def rnd(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=g).to(device=device, dtype=dtype)

    if op == "matmul":
        a, b = rnd(size, size), rnd(size, size)
        return lambda: a @ b
    if op == "conv2d":
        x, w = rnd(8, 64, size, size), rnd(64, 64, 3, 3)
        return lambda: F.conv2d(x, w, padding=1)
    if op == "add":
        x, y = rnd(size), rnd(size)
        return lambda: x + y
    if op in ("relu", "gelu"):
        x = rnd(size)
        fn = torch.relu if op == "relu" else F.gelu
        return lambda: fn(x)
    if op == "batchnorm":
        side = _bn_side(size)
        x = rnd(8, 64, side, side)
        mean, var = rnd(64).abs(), rnd(64).abs() + 1
        return lambda: F.batch_norm(x, mean, var, training=False)
    x = rnd(max(1, size // 1024), 1024)
    if op == "layernorm":
        return lambda: F.layer_norm(x, (1024,))
    return lambda: torch.softmax(x, dim=-1)


def _bn_side(size: int) -> int:
    return max(1, int(math.sqrt(max(1, size // 512))))


def op_cost(op: str, size: int, dtype: str = "float32") -> OpCost:
    """FLOPs and bytes of ``op`` at ``size`` (see :data:`OP_SIZES`), without timing it.

    FLOPs: 2 per multiply-add (matmul, conv), 1 per element (add, ReLU), ~8 (GELU, layer
    norm), 5 (softmax), 2 (inference batch norm). Bytes: operands read once and the result
    written once (the minimum traffic; caches can only make it smaller).
    """
    check_choice("op", op, OPS)
    check_int("size", size, min_value=1)
    el = torch.finfo(_dtype(dtype)).bits // 8
    if op == "matmul":
        return OpCost(2.0 * size**3, 3.0 * size * size * el)
    if op == "conv2d":
        out = 8 * 64 * size * size
        return OpCost(2.0 * out * 64 * 9, (2 * out + 64 * 64 * 9) * el)
    if op == "add":
        return OpCost(float(size), 3.0 * size * el)
    if op in ("relu", "gelu"):
        return OpCost((1.0 if op == "relu" else 8.0) * size, 2.0 * size * el)
    if op == "batchnorm":
        n = 8 * 64 * _bn_side(size) ** 2
        return OpCost(2.0 * n, 2.0 * n * el)
    n = max(1, size // 1024) * 1024
    return OpCost((8.0 if op == "layernorm" else 5.0) * n, 2.0 * n * el)


def bench_op(op: str, size: int, *, dtype: str = "float32", device: str = "cpu",
             min_time: float = 0.02, repeats: int = 5, seed: int = 0,
             threads: int | None = 1, stat: str = "median") -> dict[str, Any]:
    """Time one op call; returns ``op, size, dtype, device, time_s, flops, bytes, intensity,
    flop_rate, byte_rate``.

    Raises
    ------
    ConfigError
        Unknown op or dtype, size < 1; ``float16`` on CPU (no fast kernels there).
    DeviceNotAvailableError
        ``device="cuda"`` without CUDA.
    """
    check_choice("op", op, OPS)
    size = check_int("size", size, min_value=1)
    dt = _dtype(dtype)
    dev = ops_device(device)
    if dt == torch.float16 and dev.type == "cpu":
        raise ConfigError("dtype", dtype, "'float32' or 'bfloat16' on cpu ('float16' needs "
                          "cuda)")
    g = torch.Generator().manual_seed(seed)
    cost = op_cost(op, size, dtype)
    with torch_threads(threads), torch.inference_mode():
        fn = _make_op(op, size, dt, dev, g)
        t = time_call(fn, dev, min_time=min_time, repeats=repeats, stat=stat)
    return {"op": op, "size": size, "dtype": dtype, "device": dev.type, "time_s": t,
            "flops": cost.flops, "bytes": cost.bytes, "intensity": cost.intensity,
            "flop_rate": cost.flops / t, "byte_rate": cost.bytes / t}


@dataclass(frozen=True)
class Roofline:
    """A device's measured roofline.

    Attributes
    ----------
    peak_flops : float
        FLOP/s of the fastest large matmul (per dtype in ``peak_flops_by_dtype``).
    bandwidth : float
        Bytes/s of the faster of a streaming copy and a triad.
    overhead_s : float
        Median time of a call on a tiny tensor (the fixed cost of one op).
    device : str
    """

    peak_flops: float
    bandwidth: float
    overhead_s: float
    device: str
    peak_flops_by_dtype: dict[str, float]
    bandwidth_by_kernel: dict[str, float]

    @property
    def ridge(self) -> float:
        """Arithmetic intensity (FLOP/byte) where compute and memory roofs meet."""
        return self.peak_flops / self.bandwidth

    def attainable(self, intensity: float | np.ndarray) -> Any:
        """``min(peak_flops, intensity * bandwidth)``."""
        return np.minimum(self.peak_flops, np.asarray(intensity) * self.bandwidth)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Roofline:
        return cls(**d)


def measure_peak_flops(*, dtype: str = "float32", device: str = "cpu",
                       sizes: Sequence[int] = (128, 256, 512, 1024, 2048),
                       min_time: float = 0.05, threads: int | None = 1) -> float:
    """Peak FLOP/s: the best sample of square matmuls of ``sizes``."""
    best = 0.0
    for n in sizes:
        best = max(best, bench_op("matmul", int(n), dtype=dtype, device=device,
                                  min_time=min_time, repeats=5, threads=threads,
                                  stat="min")["flop_rate"])
    return best


def measure_bandwidth(*, device: str = "cpu", n_bytes: int = 256 * 2**20,
                      min_time: float = 0.05, threads: int | None = 1) -> dict[str, float]:
    """Memory bandwidth in bytes/s of a streaming copy (``y <- x``: 2 N bytes moved) and a
    STREAM-style triad (``a <- b + s * c``: 3 N bytes), float32 arrays of ``n_bytes`` each
    (choose it well above the last-level cache)."""
    dev = ops_device(device)
    n = max(1, int(n_bytes) // 4)
    x = torch.ones(n, device=dev)
    y = torch.empty_like(x)
    c = torch.ones(n, device=dev)
    with torch_threads(threads), torch.inference_mode():
        t_copy = time_call(lambda: y.copy_(x), dev, min_time=min_time, repeats=5, stat="min")
        t_triad = time_call(lambda: torch.add(x, c, alpha=2.0, out=y), dev,
                            min_time=min_time, repeats=5, stat="min")
    return {"copy": 2.0 * n * 4 / t_copy, "triad": 3.0 * n * 4 / t_triad}


def measure_overhead(*, device: str = "cpu", min_time: float = 0.02,
                     threads: int | None = 1) -> float:
    """Seconds per call of an op on a one-element tensor (dispatch + launch overhead)."""
    dev = ops_device(device)
    x = torch.ones(1, device=dev)
    with torch_threads(threads), torch.inference_mode():
        return time_call(lambda: x + x, dev, min_time=min_time, repeats=5, stat="median")


def measure_roofline(*, device: str = "cpu", dtypes: Sequence[str] = ("float32",),
                     matmul_sizes: Sequence[int] = (128, 256, 512, 1024, 2048),
                     bandwidth_bytes: int = 256 * 2**20, min_time: float = 0.05,
                     threads: int | None = 1) -> Roofline:
    """Measure peak FLOP/s (per dtype; the roof is the best), bandwidth and overhead.

    Ops on cache-resident operands can beat the DRAM bandwidth roof (their
    ``fraction_of_roof`` exceeds 1): the roofline here is the main-memory one.
    """
    peaks = {d: measure_peak_flops(dtype=d, device=device, sizes=matmul_sizes,
                                   min_time=min_time, threads=threads) for d in dtypes}
    bw = measure_bandwidth(device=device, n_bytes=bandwidth_bytes, min_time=min_time,
                           threads=threads)
    return Roofline(peak_flops=max(peaks.values()), bandwidth=max(bw.values()),
                    overhead_s=measure_overhead(device=device, threads=threads),
                    device=ops_device(device).type,
                    peak_flops_by_dtype=peaks, bandwidth_by_kernel=bw)


def classify_regime(time_s: float, intensity: float, roofline: Roofline, *,
                    overhead_factor: float = 3.0) -> str:
    """``"overhead"`` when ``time_s <= overhead_factor * roofline.overhead_s``, else
    ``"compute"`` when ``intensity >= roofline.ridge``, else ``"memory"``."""
    check_float("overhead_factor", overhead_factor, min_value=1.0)
    if time_s <= overhead_factor * roofline.overhead_s:
        return "overhead"
    return "compute" if intensity >= roofline.ridge else "memory"


def op_sweep(
    sizes: dict[str, Sequence[int]],
    *,
    dtypes: Sequence[str] = ("float32",),
    device: str = "cpu",
    roofline: Roofline | None = None,
    min_time: float = 0.02,
    repeats: int = 5,
    threads: int | None = 1,
    progress: Callable[[int, int, str], None] | None = None,
) -> pd.DataFrame:
    """Benchmark each op of ``sizes`` (op -> sizes) in each dtype.

    Returns
    -------
    pandas.DataFrame
        :func:`bench_op`'s fields plus ``fraction_of_roof`` (achieved / attainable FLOP/s)
        and ``regime`` when a ``roofline`` is given.
    """
    if not isinstance(sizes, dict) or not sizes:
        raise ConfigError("sizes", sizes, "a mapping op -> sizes, ops from " + ", ".join(OPS))
    for op, ss in sizes.items():
        check_choice("sizes", op, OPS)
        for i, s in enumerate(ss):
            check_int(f"sizes[{op!r}][{i}]", s, min_value=1)
    for d in dtypes:
        _dtype(d)
    ops_device(device)
    jobs = [(op, s, d) for d in dtypes for op, ss in sizes.items() for s in ss]
    rows = []
    for i, (op, s, d) in enumerate(jobs):
        rows.append(bench_op(op, int(s), dtype=d, device=device, min_time=min_time,
                             repeats=repeats, threads=threads))
        if progress is not None:
            progress(i + 1, len(jobs), f"{op} {s} {d}")
    df = pd.DataFrame(rows)
    if roofline is not None:
        df["fraction_of_roof"] = df["flop_rate"] / roofline.attainable(
            df["intensity"].to_numpy(dtype=float))
        df["regime"] = [classify_regime(t, a, roofline)
                        for t, a in zip(df["time_s"], df["intensity"], strict=True)]
    return df


def log_sizes(lo: int, hi: int, n: int) -> list[int]:
    """``n`` log-spaced integer sizes from ``lo`` to ``hi`` (distinct, increasing)."""
    return sorted({round(v) for v in np.geomspace(lo, hi, n)})
