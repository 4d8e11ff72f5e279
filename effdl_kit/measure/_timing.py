"""Inference latency of one module: warm-up calls, timed repeats, median and spread.

The protocol of the MEDN fact sheet: the module in eval mode under ``torch.inference_mode``,
``warmup`` untimed calls, then ``repeats`` timed calls; the device state (the *measurable
parameters*) is read just before the timed calls; the intra-op thread count is fixed for the
run and recorded. On CPU each sample is timed with ``time.perf_counter_ns``; on a GPU with CUDA
events recorded on the current stream and synchronised after each sample (the host timer
would only see the kernel launch).

Fast modules are timed in batches: one sample is ``calls_per_sample`` back-to-back calls and
records their mean, so a sample of a module whose single call takes a few microseconds is
not dominated by the timer's own cost and resolution. :func:`probe_call_s` estimates a warm
call's duration and :func:`choose_calls_per_sample` picks the batch size from it: modules
whose call is under :data:`SAMPLE_MIN_S` (100 µs) get enough calls per sample for a sample to
last at least that long (at most :data:`MAX_CALLS_PER_SAMPLE`); slower modules keep one call
per sample. Every latency reported (median, IQR, mean, min, the samples) is per call.
"""

from __future__ import annotations

import math
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
    "MAX_CALLS_PER_SAMPLE",
    "SAMPLE_MIN_S",
    "LatencyResult",
    "choose_calls_per_sample",
    "fixed_threads",
    "is_out_of_memory",
    "measure_latency",
    "measure_spec",
    "probe_call_s",
]

#: a module whose warm call is shorter than this (seconds) is timed in batches, so that one
#: sample (``calls_per_sample`` back-to-back calls) lasts at least this long
SAMPLE_MIN_S = 1e-4
#: most back-to-back calls in one sample
MAX_CALLS_PER_SAMPLE = 1000
#: :func:`probe_call_s` repeats warm calls until this many seconds have passed
_PROBE_S = 1e-3
#: ... and makes at least this many warm calls (unless every call takes probe_s or longer)
_PROBE_MIN_CALLS = 5


@dataclass(frozen=True)
class LatencyResult:
    """One latency measurement.

    Attributes
    ----------
    median_ms : float
        Median per-call latency of the timed samples, milliseconds (the dataset's target).
    iqr_ms : float
        Interquartile range of the samples' per-call latencies (0 for fewer than 2 samples).
    mean_ms, min_ms : float
        Mean and minimum of the samples' per-call latencies.
    samples_ms : tuple of float, shape (repeats,)
        Every timed sample's per-call latency (its duration / ``calls_per_sample``), in order.
    warmup, repeats : int
        Untimed and timed samples (each ``calls_per_sample`` calls).
    threads : int
        ``torch.get_num_threads()`` during the run.
    device : str
        ``"cpu"`` or ``"cuda:<i>"``.
    timer : {"perf_counter", "cuda_event"}
        How the calls were timed.
    state : DeviceState
        The device state read just before the timed calls.
    input_shape : tuple of int
    calls_per_sample : int
        Back-to-back calls per sample (1: each call timed on its own).
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
    calls_per_sample: int = 1

    def to_dict(self, *, samples: bool = True) -> dict[str, Any]:
        d: dict[str, Any] = {
            "median_ms": self.median_ms, "iqr_ms": self.iqr_ms, "mean_ms": self.mean_ms,
            "min_ms": self.min_ms, "warmup": self.warmup, "repeats": self.repeats,
            "threads": self.threads, "device": self.device, "timer": self.timer,
            "input_shape": list(self.input_shape), "state": self.state.to_dict(),
            "calls_per_sample": self.calls_per_sample,
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


def _check_run_args(warmup: Any, repeats: Any, threads: Any, state_window_s: Any,
                    calls_per_sample: Any = 1) -> None:
    check_int("warmup", warmup, min_value=0)
    check_int("repeats", repeats, min_value=1)
    check_int("calls_per_sample", calls_per_sample, min_value=1)
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
    calls_per_sample: int = 1,
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
        Untimed samples first (>= 0), each ``calls_per_sample`` calls.
    repeats : int
        Timed samples (>= 1).
    threads : int, optional
        ``torch.set_num_threads`` for the run (restored afterwards); None keeps the current.
    state_window_s : float
        CPU utilisation sampling window of :func:`read_device_state`.
    seed : int
        Seeds the random input.
    calls_per_sample : int
        Back-to-back calls per sample (>= 1); each sample records their mean duration (see
        :func:`choose_calls_per_sample`).

    Returns
    -------
    LatencyResult
        Per-call latencies.

    Raises
    ------
    ConfigError
        Not a module, a bad shape, warm-up, repeat, thread count or calls per sample.
    DeviceNotAvailableError
        ``device`` is a GPU this machine does not have.
    """
    import torch

    if not isinstance(module, torch.nn.Module):
        raise ConfigError("module", type(module).__name__, "a torch.nn.Module")
    shape = _check_shape(input_shape)
    _check_run_args(warmup, repeats, threads, state_window_s, calls_per_sample)
    check_int("seed", seed, min_value=0)
    dev = check_device(device)
    k = int(calls_per_sample)
    was_training = module.training
    cuda = dev.startswith("cuda")
    with fixed_threads(threads) as n_threads:
        try:
            module.to(dev).eval()
            x = torch.randn(*shape, generator=torch.Generator().manual_seed(seed)).to(dev)
            with torch.inference_mode():
                for _ in range(warmup * k):
                    module(x)
                if cuda:  # pragma: no cover - needs a GPU
                    torch.cuda.synchronize(dev)
                state = read_device_state(dev, window_s=state_window_s)
                samples = _time_calls(module, x, repeats, k, dev) if cuda else _time_cpu(
                    module, x, repeats, k)
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
        calls_per_sample=k,
    )


def _time_cpu(module: Any, x: Any, repeats: int, k: int) -> list[float]:
    out = []
    clock = time.perf_counter_ns
    calls = range(k)
    for _ in range(repeats):
        t0 = clock()
        for _ in calls:
            module(x)
        out.append((clock() - t0) / 1e6 / k)
    return out


def _time_calls(module: Any, x: Any, repeats: int, k: int, dev: str
                ) -> list[float]:  # pragma: no cover - needs a GPU
    import torch

    out = []
    calls = range(k)
    for _ in range(repeats):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in calls:
            module(x)
        end.record()
        end.synchronize()
        out.append(float(start.elapsed_time(end)) / k)
    torch.cuda.synchronize(dev)
    return out


def probe_call_s(module: Any, x: Any, *, device: str = "cpu", probe_s: float = _PROBE_S,
                 max_calls: int = MAX_CALLS_PER_SAMPLE) -> tuple[float, int]:
    """Estimate one warm call of ``module(x)``, seconds; the calls it made.

    One cold call first (it may set up kernels and caches; not used), then warm calls, each
    timed on its own, until ``probe_s`` has passed and at least five were made (at most
    ``max_calls``; a module whose fastest warm call took ``probe_s`` or longer stops there);
    the estimate is their median, so a call slowed down by another process (a preemption
    lasts milliseconds) does not decide. On a GPU each call is synchronised before the clock
    is read. Run it under the same mode as the timing (``torch.inference_mode``, eval); its
    calls count as warm-up.

    Parameters
    ----------
    module : callable
        The module (already on ``device``).
    x : torch.Tensor
        Its input (on ``device``).
    device : str
        ``"cpu"`` or ``"cuda:<i>"`` (not checked: the caller has placed ``module`` and ``x``).
    probe_s : float
        How long warm calls are timed, seconds.
    max_calls : int
        Most warm calls.

    Returns
    -------
    per_call_s : float
        The estimate (> 0).
    calls : int
        Calls made (the cold one included).
    """
    import torch

    cuda = device.startswith("cuda")
    clock = time.perf_counter
    module(x)
    if cuda:  # pragma: no cover - needs a GPU
        torch.cuda.synchronize(device)
    warm: list[float] = []
    end = clock() + probe_s
    while True:
        t0 = clock()
        module(x)
        if cuda:  # pragma: no cover - needs a GPU
            torch.cuda.synchronize(device)
        t1 = clock()
        warm.append(t1 - t0)
        if len(warm) >= max_calls or (t1 >= end and (
                len(warm) >= _PROBE_MIN_CALLS or min(warm) >= probe_s)):
            break
    return max(float(statistics.median(warm)), 1e-9), len(warm) + 1


def choose_calls_per_sample(per_call_s: float, *, sample_min_s: float = SAMPLE_MIN_S,
                            max_calls: int = MAX_CALLS_PER_SAMPLE) -> int:
    """Calls per sample so a sample of calls of ``per_call_s`` seconds lasts >= ``sample_min_s``.

    1 for a call at least ``sample_min_s`` long; else ``ceil(sample_min_s / per_call_s)``,
    at most ``max_calls``.

    Raises
    ------
    ConfigError
        A non-positive or non-finite ``per_call_s``, a negative ``sample_min_s``, or
        ``max_calls`` < 1.
    """
    check_float("per_call_s", per_call_s, min_value=0.0, min_inclusive=False)
    check_float("sample_min_s", sample_min_s, min_value=0.0)
    check_int("max_calls", max_calls, min_value=1)
    if per_call_s >= sample_min_s:
        return 1
    # (1 - 1e-12): 1e-4 / 2e-6 is 50.000000000000004 in floats, and 50 calls suffice
    return int(min(max_calls, max(1, math.ceil(sample_min_s / per_call_s * (1 - 1e-12)))))


def measure_spec(
    spec: ModuleSpec,
    *,
    device: str = "cpu",
    warmup: int = 10,
    repeats: int = 50,
    threads: int | None = None,
    state_window_s: float = 0.02,
    seed: int = 0,
    calls_per_sample: int = 1,
) -> LatencyResult:
    """Build ``spec``'s module and :func:`measure_latency` it on its input shape.

    Every argument is checked (and a missing GPU raises) before the module is built.
    """
    if not isinstance(spec, ModuleSpec):
        raise ConfigError("spec", type(spec).__name__, "a ModuleSpec (see make_spec)")
    _check_run_args(warmup, repeats, threads, state_window_s, calls_per_sample)
    check_device(device)
    from effdl_kit._core.rng import torch_seeded

    with torch_seeded(seed):  # the module's initialisation, without touching the caller's RNG
        module = spec.build()
    return measure_latency(module, spec.input_shape, device=device, warmup=warmup,
                           repeats=repeats, threads=threads, state_window_s=state_window_s,
                           seed=seed, calls_per_sample=calls_per_sample)
