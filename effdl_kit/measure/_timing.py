"""Inference latency of one module: warm-up calls, timed repeats, median and spread.

The protocol of the MEDN fact sheet: the module in eval mode under ``torch.inference_mode``,
``warmup`` untimed calls, then ``repeats`` timed calls; the device state (the *measurable
parameters*) is read just before the timed calls; the intra-op thread count is fixed for the
run and recorded. On CPU each call is timed with ``time.perf_counter_ns``; on a GPU with CUDA
events recorded on the current stream and synchronised after each call (the host timer
would only see the kernel launch).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from effdl_kit._core.errors import ConfigError
from effdl_kit._core.validate import check_float, check_int
from effdl_kit.measure._device import DeviceState, check_device, read_device_state
from effdl_kit.measure._modules import ModuleSpec, _check_shape

__all__ = [
    "LatencyResult",
    "fixed_threads",
    "is_out_of_memory",
    "measure_latency",
    "measure_spec",
]


@dataclass(frozen=True)
class LatencyResult:
    """One latency measurement.

    Attributes
    ----------
    median_ms : float
        Median of the timed calls, milliseconds (the dataset's target).
    iqr_ms : float
        Interquartile range of the timed calls (0 for fewer than 2 calls).
    mean_ms, min_ms : float
        Mean and minimum of the timed calls.
    samples_ms : tuple of float, shape (repeats,)
        Every timed call, in order.
    warmup, repeats : int
        Untimed and timed calls.
    threads : int
        ``torch.get_num_threads()`` during the run.
    device : str
        ``"cpu"`` or ``"cuda:<i>"``.
    timer : {"perf_counter", "cuda_event"}
        How the calls were timed.
    state : DeviceState
        The device state read just before the timed calls.
    input_shape : tuple of int
    """

    median_ms: float
    iqr_ms: float
    mean_ms: float
    min_ms: float
    samples_ms: tuple[float, ...]
    warmup: int
    repeats: int
    threads: int
    device: str
    timer: str
    state: DeviceState
    input_shape: tuple[int, ...] = field(default=())

    def to_dict(self, *, samples: bool = True) -> dict[str, Any]:
        d: dict[str, Any] = {
            "median_ms": self.median_ms, "iqr_ms": self.iqr_ms, "mean_ms": self.mean_ms,
            "min_ms": self.min_ms, "warmup": self.warmup, "repeats": self.repeats,
            "threads": self.threads, "device": self.device, "timer": self.timer,
            "input_shape": list(self.input_shape), "state": self.state.to_dict(),
        }
        if samples:
            d["samples_ms"] = list(self.samples_ms)
        return d


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` means the device ran out of memory (CUDA OOM, MemoryError, ...)."""
    if isinstance(exc, MemoryError):
        return True
    try:
        import torch

        if isinstance(exc, torch.OutOfMemoryError):
            return True
    except (ImportError, AttributeError):  # pragma: no cover - old torch
        pass
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and (
        "out of memory" in text or "can't allocate memory" in text
        or "not enough memory" in text)


@contextmanager
def fixed_threads(threads: int | None) -> Iterator[int]:
    """Fix torch's intra-op thread count inside the block (None: leave it); yield it."""
    import torch

    old = torch.get_num_threads()
    if threads is not None and threads != old:
        torch.set_num_threads(int(threads))
    try:
        yield torch.get_num_threads()
    finally:
        if torch.get_num_threads() != old:
            torch.set_num_threads(old)


def _quantile(sorted_x: Sequence[float], q: float) -> float:
    n = len(sorted_x)
    if n == 1:
        return float(sorted_x[0])
    pos = q * (n - 1)
    lo = int(pos)
    hi = min(lo + 1, n - 1)
    return float(sorted_x[lo] + (sorted_x[hi] - sorted_x[lo]) * (pos - lo))


def _check_run_args(warmup: Any, repeats: Any, threads: Any, state_window_s: Any) -> None:
    check_int("warmup", warmup, min_value=0)
    check_int("repeats", repeats, min_value=1)
    if threads is not None:
        check_int("threads", threads, min_value=1)
    check_float("state_window_s", state_window_s, min_value=0.0)


def measure_latency(
    module: Any,
    input_shape: Sequence[int],
    *,
    device: str = "cpu",
    warmup: int = 10,
    repeats: int = 50,
    threads: int | None = None,
    state_window_s: float = 0.02,
    seed: int = 0,
) -> LatencyResult:
    """Time ``module`` on a random float32 input of ``input_shape``.

    Parameters
    ----------
    module : torch.nn.Module
        Moved to ``device`` and put in eval mode for the run (its training flag is restored
        afterwards).
    input_shape : sequence of int
        Shape of the single input tensor, batch first.
    device : str
        ``"cpu"``, ``"cuda"`` or ``"cuda:<i>"``; a missing GPU raises before any work.
    warmup : int
        Untimed calls first (>= 0).
    repeats : int
        Timed calls (>= 1).
    threads : int, optional
        ``torch.set_num_threads`` for the run (restored afterwards); None keeps the current.
    state_window_s : float
        CPU utilisation sampling window of :func:`read_device_state`.
    seed : int
        Seeds the random input.

    Returns
    -------
    LatencyResult

    Raises
    ------
    ConfigError
        Not a module, a bad shape, warm-up, repeat or thread count.
    DeviceNotAvailableError
        ``device`` is a GPU this machine does not have.
    """
    import torch

    if not isinstance(module, torch.nn.Module):
        raise ConfigError("module", type(module).__name__, "a torch.nn.Module")
    shape = _check_shape(input_shape)
    _check_run_args(warmup, repeats, threads, state_window_s)
    check_int("seed", seed, min_value=0)
    dev = check_device(device)
    was_training = module.training
    cuda = dev.startswith("cuda")
    with fixed_threads(threads) as n_threads:
        try:
            module.to(dev).eval()
            x = torch.randn(*shape, generator=torch.Generator().manual_seed(seed)).to(dev)
            with torch.inference_mode():
                for _ in range(warmup):
                    module(x)
                if cuda:  # pragma: no cover - needs a GPU
                    torch.cuda.synchronize(dev)
                state = read_device_state(dev, window_s=state_window_s)
                samples = _time_calls(module, x, repeats, dev) if cuda else _time_cpu(
                    module, x, repeats)
        finally:
            module.train(was_training)
    s = sorted(samples)
    return LatencyResult(
        median_ms=float(statistics.median(s)),
        iqr_ms=_quantile(s, 0.75) - _quantile(s, 0.25),
        mean_ms=float(statistics.fmean(s)),
        min_ms=float(s[0]),
        samples_ms=tuple(samples),
        warmup=int(warmup),
        repeats=int(repeats),
        threads=int(n_threads),
        device=dev,
        timer="cuda_event" if cuda else "perf_counter",
        state=state,
        input_shape=shape,
    )


def _time_cpu(module: Any, x: Any, repeats: int) -> list[float]:
    out = []
    clock = time.perf_counter_ns
    for _ in range(repeats):
        t0 = clock()
        module(x)
        out.append((clock() - t0) / 1e6)
    return out


def _time_calls(module: Any, x: Any, repeats: int, dev: str
                ) -> list[float]:  # pragma: no cover - needs a GPU
    import torch

    out = []
    for _ in range(repeats):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        module(x)
        end.record()
        end.synchronize()
        out.append(float(start.elapsed_time(end)))
    torch.cuda.synchronize(dev)
    return out


def measure_spec(
    spec: ModuleSpec,
    *,
    device: str = "cpu",
    warmup: int = 10,
    repeats: int = 50,
    threads: int | None = None,
    state_window_s: float = 0.02,
    seed: int = 0,
) -> LatencyResult:
    """Build ``spec``'s module and :func:`measure_latency` it on its input shape.

    Every argument is checked (and a missing GPU raises) before the module is built.
    """
    if not isinstance(spec, ModuleSpec):
        raise ConfigError("spec", type(spec).__name__, "a ModuleSpec (see make_spec)")
    _check_run_args(warmup, repeats, threads, state_window_s)
    check_device(device)
    from effdl_kit._core.rng import torch_seeded

    with torch_seeded(seed):  # the module's initialisation, without touching the caller's RNG
        module = spec.build()
    return measure_latency(module, spec.input_shape, device=device, warmup=warmup,
                           repeats=repeats, threads=threads, state_window_s=state_window_s,
                           seed=seed)
