"""Op microbenchmarks and the roofline (compute-efficient DL survey, E2).

Each op of :data:`OPS` is timed over log-spaced sizes and dtypes; its FLOPs and the bytes it
must move (operands read once, result written once) come from an analytic model
(:func:`op_cost`). The device's peaks are measured per dtype, not looked up: peak FLOP/s
from the fastest large matmul (:func:`measure_peak_flops`), memory bandwidth from a streaming
copy and a triad (:func:`measure_bandwidth`), and the fixed per-call overhead from the
smallest ops (:func:`measure_overhead`). Peaks and ops are summarised with the same statistic
(:func:`summarize_samples`, the median of the repeats), so an op timed like the peak's matmul
sits on its roof. :func:`classify_regime` then places each measurement on the roofline of its
own dtype: *overhead-bound* (time within a few per-call overheads), *compute-bound*
(arithmetic intensity at or above that dtype's ridge point) or *memory-bound* (below it).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from effdl_kit._core.errors import ConfigError, DataError, DeviceNotAvailableError
from effdl_kit._core.validate import check_choice, check_float, check_int

__all__ = [
    "DTYPES",
    "OPS",
    "OP_SIZES",
    "REGIMES",
    "TIME_STAT",
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
    "place_on_roofline",
    "summarize_samples",
    "time_call",
    "time_samples",
    "torch_threads",
]

OPS: tuple[str, ...] = ("matmul", "conv2d", "add", "relu", "gelu", "batchnorm", "layernorm",
                        "softmax")
DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "bfloat16": torch.bfloat16,
                                  "float16": torch.float16}
REGIMES: tuple[str, ...] = ("overhead", "memory", "compute")
#: the one statistic over repeated timing samples, for the peaks and for the ops alike
TIME_STAT = "median"
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


def summarize_samples(samples: Sequence[float]) -> float:
    """The :data:`TIME_STAT` (median) of repeated timing samples: the one statistic of the
    peaks (:func:`measure_peak_flops`, :func:`measure_bandwidth`) and of the ops
    (:func:`bench_op`).

    Raises
    ------
    DataError
        No samples, or a sample that is not a positive finite number.
    """
    a = np.asarray(samples, dtype=float)
    if a.size == 0 or not np.all(np.isfinite(a)) or np.any(a <= 0):
        raise DataError(f"invalid value for 'samples': {list(a)!r}; need one or more positive "
                        "finite times")
    return float(np.median(a))


def time_samples(fn: Callable[[], Any], device: torch.device, *, min_time: float = 0.02,
                 repeats: int = 5, max_calls: int = 10_000) -> list[float]:
    """Seconds per call of ``fn`` in each of ``repeats`` samples: each sample runs enough calls
    to last ``min_time`` (calibrated on a first call), synchronising CUDA around it."""
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
    return samples


def time_call(fn: Callable[[], Any], device: torch.device, *, min_time: float = 0.02,
              repeats: int = 5, max_calls: int = 10_000) -> float:
    """Seconds per call of ``fn``: :func:`summarize_samples` of :func:`time_samples`."""
    return summarize_samples(time_samples(fn, device, min_time=min_time, repeats=repeats,
                                          max_calls=max_calls))


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
             threads: int | None = 1) -> dict[str, Any]:
    """Time one op call (the :data:`TIME_STAT` of ``repeats`` samples); returns ``op, size,
    dtype, device, time_s, flops, bytes, intensity, flop_rate, byte_rate``.

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
        t = time_call(fn, dev, min_time=min_time, repeats=repeats)
    return {"op": op, "size": size, "dtype": dtype, "device": dev.type, "time_s": t,
            "flops": cost.flops, "bytes": cost.bytes, "intensity": cost.intensity,
            "flop_rate": cost.flops / t, "byte_rate": cost.bytes / t}


@dataclass(frozen=True)
class Roofline:
    """A device's measured rooflines, one per dtype.

    Attributes
    ----------
    peak_flops : float
        The best of ``peak_flops_by_dtype`` (the envelope; classify with a dtype's own roof).
    bandwidth : float
        The best of ``bandwidth_by_dtype``.
    overhead_s : float
        Median time of a call on a tiny tensor (the fixed cost of one op).
    device : str
        Where it was measured (``"cpu"`` or ``"cuda"``).
    peak_flops_by_dtype : dict
        dtype -> FLOP/s of the fastest large matmul in that dtype.
    bandwidth_by_kernel : dict
        ``"copy"``/``"triad"`` -> bytes/s (the best over dtypes).
    bandwidth_by_dtype : dict
        dtype -> bytes/s (the faster kernel in that dtype). Results written before per-dtype
        bandwidths hold one float32 bandwidth: it is then used for every dtype of
        ``peak_flops_by_dtype``.

    Examples
    --------
    >>> roof = Roofline(peak_flops=8e10, bandwidth=1e10, overhead_s=1e-6, device="cpu",
    ...                 peak_flops_by_dtype={"float32": 4e10, "bfloat16": 8e10},
    ...                 bandwidth_by_kernel={"copy": 1e10},
    ...                 bandwidth_by_dtype={"float32": 1e10, "bfloat16": 1e10})
    >>> roof.ridge_for("float32"), roof.ridge_for("bfloat16")
    (4.0, 8.0)
    >>> classify_regime(1e-3, 6.0, roof, dtype="float32")
    'compute'
    >>> classify_regime(1e-3, 6.0, roof, dtype="bfloat16")
    'memory'
    """

    peak_flops: float
    bandwidth: float
    overhead_s: float
    device: str
    peak_flops_by_dtype: dict[str, float]
    bandwidth_by_kernel: dict[str, float]
    bandwidth_by_dtype: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("peak_flops_by_dtype", "bandwidth_by_dtype"):
            for d, v in getattr(self, name).items():
                check_choice(f"{name} key", d, tuple(DTYPES))
                check_float(f"{name}[{d!r}]", v, min_value=0.0, min_inclusive=False)
        if not self.bandwidth_by_dtype:
            # results written before per-dtype bandwidths: their one (float32) bandwidth
            object.__setattr__(self, "bandwidth_by_dtype",
                               dict.fromkeys(self.peak_flops_by_dtype, self.bandwidth))

    @property
    def dtypes(self) -> tuple[str, ...]:
        """The dtypes with a measured peak."""
        return tuple(self.peak_flops_by_dtype)

    @property
    def ridge(self) -> float:
        """Arithmetic intensity (FLOP/byte) where the envelope's compute and memory roofs meet
        (the best peak over the best bandwidth; :meth:`ridge_for` is a dtype's own)."""
        return self.peak_flops / self.bandwidth

    def _lookup(self, name: str, dtype: str) -> float:
        check_choice("dtype", dtype, tuple(DTYPES))
        values: dict[str, float] = getattr(self, name)
        if dtype not in values:
            raise DataError(f"invalid value for {name!r}: no value for dtype {dtype!r} "
                            f"(measured: {', '.join(map(repr, values)) or 'none'}); measure "
                            "the roofline with that dtype")
        return float(values[dtype])

    def peak_for(self, dtype: str) -> float:
        """Peak FLOP/s of ``dtype``.

        Raises
        ------
        ConfigError
            An unknown dtype.
        DataError
            No peak measured for ``dtype`` (names ``peak_flops_by_dtype``).
        """
        return self._lookup("peak_flops_by_dtype", dtype)

    def bandwidth_for(self, dtype: str) -> float:
        """Bandwidth in bytes/s of ``dtype`` (errors as :meth:`peak_for`, naming
        ``bandwidth_by_dtype``)."""
        return self._lookup("bandwidth_by_dtype", dtype)

    def ridge_for(self, dtype: str) -> float:
        """The ridge point (FLOP/byte) of ``dtype``'s own roof."""
        return self.peak_for(dtype) / self.bandwidth_for(dtype)

    def attainable(self, intensity: float | np.ndarray, dtype: str | None = None) -> Any:
        """``min(peak, intensity * bandwidth)`` of ``dtype``'s roof (None: the envelope)."""
        if dtype is None:
            peak, bw = self.peak_flops, self.bandwidth
        else:
            peak, bw = self.peak_for(dtype), self.bandwidth_for(dtype)
        return np.minimum(peak, np.asarray(intensity) * bw)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Roofline:
        return cls(**d)


def measure_peak_flops(*, dtype: str = "float32", device: str = "cpu",
                       sizes: Sequence[int] = (128, 256, 512, 1024, 2048),
                       min_time: float = 0.05, repeats: int = 5,
                       threads: int | None = 1) -> float:
    """Peak FLOP/s of ``dtype``: the fastest of square matmuls of ``sizes``, each timed like
    an op (:func:`bench_op`: the :data:`TIME_STAT` of ``repeats`` samples)."""
    return max(bench_op("matmul", int(n), dtype=dtype, device=device, min_time=min_time,
                        repeats=repeats, threads=threads)["flop_rate"] for n in sizes)


def measure_bandwidth(*, dtype: str = "float32", device: str = "cpu",
                      n_bytes: int = 256 * 2**20, min_time: float = 0.05, repeats: int = 5,
                      threads: int | None = 1) -> dict[str, float]:
    """Memory bandwidth in bytes/s of a streaming copy (``y <- x``: 2 N bytes moved) and a
    STREAM-style triad (``a <- b + s * c``: 3 N bytes) on ``dtype`` arrays of ``n_bytes`` each
    (choose it well above the last-level cache); times summarised by :data:`TIME_STAT`."""
    dt = _dtype(dtype)
    dev = ops_device(device)
    el = torch.finfo(dt).bits // 8
    n = max(1, int(n_bytes) // el)
    x = torch.ones(n, device=dev, dtype=dt)
    y = torch.empty_like(x)
    c = torch.ones(n, device=dev, dtype=dt)
    with torch_threads(threads), torch.inference_mode():
        t_copy = time_call(lambda: y.copy_(x), dev, min_time=min_time, repeats=repeats)
        t_triad = time_call(lambda: torch.add(x, c, alpha=2.0, out=y), dev,
                            min_time=min_time, repeats=repeats)
    return {"copy": 2.0 * n * el / t_copy, "triad": 3.0 * n * el / t_triad}


def measure_overhead(*, device: str = "cpu", min_time: float = 0.02,
                     threads: int | None = 1) -> float:
    """Seconds per call of an op on a one-element tensor (dispatch + launch overhead)."""
    dev = ops_device(device)
    x = torch.ones(1, device=dev)
    with torch_threads(threads), torch.inference_mode():
        return time_call(lambda: x + x, dev, min_time=min_time, repeats=5)


def measure_roofline(*, device: str = "cpu", dtypes: Sequence[str] = ("float32",),
                     matmul_sizes: Sequence[int] = (128, 256, 512, 1024, 2048),
                     bandwidth_bytes: int = 256 * 2**20, min_time: float = 0.05,
                     threads: int | None = 1) -> Roofline:
    """Measure each dtype's peak FLOP/s and bandwidth, and the per-call overhead.

    Ops on cache-resident operands can beat the DRAM bandwidth roof (their
    ``fraction_of_roof`` exceeds 1): the roofline here is the main-memory one.
    """
    if isinstance(dtypes, str) or not dtypes:
        raise ConfigError("dtypes", dtypes, "one or more of " + ", ".join(DTYPES))
    peaks = {d: measure_peak_flops(dtype=d, device=device, sizes=matmul_sizes,
                                   min_time=min_time, threads=threads) for d in dtypes}
    kernels = {d: measure_bandwidth(dtype=d, device=device, n_bytes=bandwidth_bytes,
                                    min_time=min_time, threads=threads) for d in dtypes}
    by_dtype = {d: max(bw.values()) for d, bw in kernels.items()}
    by_kernel = {k: max(bw[k] for bw in kernels.values()) for k in ("copy", "triad")}
    return Roofline(peak_flops=max(peaks.values()), bandwidth=max(by_dtype.values()),
                    overhead_s=measure_overhead(device=device, threads=threads),
                    device=ops_device(device).type, peak_flops_by_dtype=peaks,
                    bandwidth_by_kernel=by_kernel, bandwidth_by_dtype=by_dtype)


def _roof_dtype(roofline: Roofline, dtype: str | None) -> str:
    if dtype is not None:
        return dtype
    if len(roofline.dtypes) == 1:
        return roofline.dtypes[0]
    raise ConfigError("dtype", dtype, "the op's dtype, one of the roofline's "
                      + ", ".join(roofline.dtypes))


def classify_regime(time_s: float, intensity: float, roofline: Roofline, *,
                    dtype: str | None = None, overhead_factor: float = 3.0) -> str:
    """``"overhead"`` when ``time_s <= overhead_factor * roofline.overhead_s``, else
    ``"compute"`` when ``intensity >= roofline.ridge_for(dtype)``, else ``"memory"``.

    ``dtype`` may be left out only for a roofline of one dtype.

    Raises
    ------
    ConfigError
        An unknown dtype, or none for a roofline of several.
    DataError
        No peak or bandwidth measured for ``dtype``.
    """
    check_float("overhead_factor", overhead_factor, min_value=1.0)
    ridge = roofline.ridge_for(_roof_dtype(roofline, dtype))
    if time_s <= overhead_factor * roofline.overhead_s:
        return "overhead"
    return "compute" if intensity >= ridge else "memory"


def place_on_roofline(df: pd.DataFrame, roofline: Roofline) -> pd.DataFrame:
    """``df`` (rows of :func:`bench_op`) with each row's dtype's ``ridge`` (after
    ``intensity``), ``fraction_of_roof`` (achieved / attainable FLOP/s under that dtype's
    roof) and ``regime``.

    Raises
    ------
    ConfigError, DataError
        A row of an unknown dtype; of a dtype without a measured peak or bandwidth, or
        measured on another device (each names the field).
    """
    out = df.copy()
    for dev in dict.fromkeys(out["device"]):
        if dev != roofline.device:
            raise DataError(f"invalid value for 'device': op measured on {dev!r}, roofline "
                            f"on {roofline.device!r}")
    dtypes = [str(d) for d in out["dtype"]]
    intensity = out["intensity"].to_numpy(dtype=float)
    out.insert(list(out.columns).index("intensity") + 1, "ridge",
               [roofline.ridge_for(d) for d in dtypes])
    out["fraction_of_roof"] = out["flop_rate"].to_numpy(dtype=float) / np.array(
        [float(roofline.attainable(a, d)) for a, d in zip(intensity, dtypes, strict=True)])
    out["regime"] = [classify_regime(t, a, roofline, dtype=d) for t, a, d
                     in zip(out["time_s"], intensity, dtypes, strict=True)]
    return out


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
        :func:`bench_op`'s fields; when a ``roofline`` is given, placed on it by
        :func:`place_on_roofline` (each row against its own dtype's roof).

    Raises
    ------
    ConfigError, DataError
        Bad sizes, an unknown dtype; a roofline lacking a dtype of ``dtypes`` or measured on
        another device (all checked before anything is timed).
    """
    if not isinstance(sizes, dict) or not sizes:
        raise ConfigError("sizes", sizes, "a mapping op -> sizes, ops from " + ", ".join(OPS))
    for op, ss in sizes.items():
        check_choice("sizes", op, OPS)
        for i, s in enumerate(ss):
            check_int(f"sizes[{op!r}][{i}]", s, min_value=1)
    for d in dtypes:
        _dtype(d)
        if roofline is not None:
            roofline.ridge_for(d)
    dev = ops_device(device)
    if roofline is not None and roofline.device != dev.type:
        raise DataError(f"invalid value for 'device': sweep on {dev.type!r}, roofline "
                        f"measured on {roofline.device!r}")
    jobs = [(op, s, d) for d in dtypes for op, ss in sizes.items() for s in ss]
    rows = []
    for i, (op, s, d) in enumerate(jobs):
        rows.append(bench_op(op, int(s), dtype=d, device=device, min_time=min_time,
                             repeats=repeats, threads=threads))
        if progress is not None:
            progress(i + 1, len(jobs), f"{op} {s} {d}")
    df = pd.DataFrame(rows)
    return df if roofline is None else place_on_roofline(df, roofline)


def log_sizes(lo: int, hi: int, n: int) -> list[int]:
    """``n`` log-spaced integer sizes from ``lo`` to ``hi`` (distinct, increasing)."""
    return sorted({round(v) for v in np.geomspace(lo, hi, n)})
