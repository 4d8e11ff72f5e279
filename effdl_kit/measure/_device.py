"""Devices and their state: which devices exist, and what a device looks like right now.

The *measurable parameters* of the MEDN framework are read here, just before each timed run:

* CPU (psutil): available memory (MiB) and the utilisation of all cores (%) by *other*
  processes since the previous reading (this process's own CPU time subtracted, so the timed
  runs themselves do not count), plus the total utilisation and the 1-minute load average;
* GPU (NVML through nvidia-ml-py): free memory (MiB) and the utilisation rate (%).

Outside load over a window (:func:`read_cpu_counters` at its start and end, then
:func:`load_window`): the system-wide CPU utilisation (all processes, and all but this one),
the steal time (CPU time the hypervisor gave to other virtual machines) and the 1-minute load
average relative to the machine's logical cores. :func:`~effdl_kit.measure.measure_latency`
records it over the timed calls, so a row can say whether its machine was quiet while it ran.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import asdict, dataclass
from typing import Any

from effdl_kit._core.errors import ConfigError, DeviceNotAvailableError

__all__ = [
    "CpuCounters",
    "DeviceState",
    "LoadWindow",
    "available_devices",
    "check_device",
    "load_window",
    "read_cpu_counters",
    "read_device_state",
]


def available_devices() -> tuple[str, ...]:
    """Devices present on this machine: ``"cpu"`` and ``"cuda:<i>"`` per visible GPU."""
    import torch

    out = ["cpu"]
    if torch.cuda.is_available():
        out += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    return tuple(out)


def check_device(device: Any, field: str = "device") -> str:
    """Normalise ``device`` (``"cpu"``, ``"cuda"``, ``"cuda:1"``) and check it is present.

    Returns
    -------
    str
        ``"cpu"`` or ``"cuda:<i>"``.

    Raises
    ------
    ConfigError
        Not a device name at all.
    DeviceNotAvailableError
        A CUDA device that this machine does not have.
    """
    if not isinstance(device, str):
        raise ConfigError(field, device, "'cpu', 'cuda' or 'cuda:<index>'")
    name = device.strip().lower()
    if name == "cpu":
        return "cpu"
    if name == "cuda":
        name = "cuda:0"
    kind, _, idx = name.partition(":")
    if kind != "cuda" or not idx.isdigit():
        raise ConfigError(field, device, "'cpu', 'cuda' or 'cuda:<index>'")
    avail = available_devices()
    if name not in avail:
        raise DeviceNotAvailableError(field, device, avail)
    return name


@dataclass(frozen=True)
class DeviceState:
    """A device's measurable parameters at one instant.

    Attributes
    ----------
    device : str
        ``"cpu"`` or ``"cuda:<i>"``.
    mem_available_mib : float
        Available host memory (CPU) or free device memory (GPU), MiB.
    utilization_pct : float
        CPU: utilisation of all cores by *other* processes over the sampling window, 0-100
        (this process's own CPU time, e.g. its previous timed run, is subtracted); GPU:
        NVML's utilisation rate, 0-100.
    total_utilization_pct : float
        CPU: utilisation of all cores including this process; GPU: same as above.
    load_avg_1m : float
        1-minute load average of the host (NaN where the OS has none).
    window_s : float
        Length of the CPU sampling window: the time since the previous reading (at least
        the requested window; 0 for a GPU reading).
    timestamp : float
        ``time.time()`` of the reading.
    """

    device: str
    mem_available_mib: float
    utilization_pct: float
    total_utilization_pct: float
    load_avg_1m: float
    window_s: float
    timestamp: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _load_avg() -> float:
    try:
        return float(os.getloadavg()[0])
    except (OSError, AttributeError):  # pragma: no cover - non-Unix
        return float("nan")


class _CpuWindow:
    """System-wide and own CPU time at the previous reading (one per process)."""

    def __init__(self) -> None:
        self.t = 0.0
        self.busy = 0.0
        self.total = 0.0
        self.own = 0.0


_LAST = _CpuWindow()
_MAX_GAP_S = 5.0


def _cpu_snapshot() -> tuple[float, float, float, float]:
    c = read_cpu_counters()
    return c.t, c.busy, c.total, c.own


def _cpu_state(window_s: float) -> DeviceState:
    import psutil

    now = time.monotonic()
    if _LAST.t == 0.0 or now - _LAST.t > _MAX_GAP_S:  # no recent reading: open a window
        _LAST.t, _LAST.busy, _LAST.total, _LAST.own = _cpu_snapshot()
        now = _LAST.t
    if now - _LAST.t < window_s:
        time.sleep(window_s - (now - _LAST.t))
    t, busy, total, own = _cpu_snapshot()
    d_total = max(total - _LAST.total, 1e-9)
    d_busy = max(busy - _LAST.busy, 0.0)
    d_own = max(own - _LAST.own, 0.0)
    window = t - _LAST.t
    _LAST.t, _LAST.busy, _LAST.total, _LAST.own = t, busy, total, own
    util = min(100.0, 100.0 * d_busy / d_total)
    other = min(100.0, max(0.0, 100.0 * (d_busy - d_own) / d_total))
    mem = psutil.virtual_memory().available / 2**20
    return DeviceState("cpu", float(mem), float(other), float(util), _load_avg(),
                       float(window), time.time())


@dataclass(frozen=True)
class CpuCounters:
    """Cumulative CPU-time counters of the machine and of this process at one instant.

    Attributes
    ----------
    t : float
        ``time.monotonic()`` of the reading, seconds.
    busy : float
        CPU seconds of all cores not idle and not waiting for I/O (steal included).
    total : float
        CPU seconds of all cores.
    own : float
        User + system CPU seconds of this process (all its threads).
    steal : float
        CPU seconds of all cores stolen by the hypervisor (0 where the OS has no such count).
    """

    t: float
    busy: float
    total: float
    own: float
    steal: float


def read_cpu_counters() -> CpuCounters:
    """The machine's and this process's CPU-time counters now (psutil; no wait)."""
    import psutil

    ct = psutil.cpu_times()
    total = float(sum(ct))
    idle = float(ct.idle + getattr(ct, "iowait", 0.0))
    pt = psutil.Process().cpu_times()
    return CpuCounters(time.monotonic(), total - idle, total, float(pt.user + pt.system),
                       float(getattr(ct, "steal", 0.0)))


def _n_cores() -> int:
    import psutil

    return int(psutil.cpu_count(logical=True) or os.cpu_count() or 1)


@dataclass(frozen=True)
class LoadWindow:
    """CPU use of the whole machine over a window, e.g. a row's timed calls.

    Attributes
    ----------
    window_s : float
        Length of the window, seconds.
    cpu_pct : float
        Utilisation of all cores by all processes over the window, 0-100.
    outside_pct : float
        The same without this process (the one doing the timing), 0-100: what else ran.
    steal_pct : float
        Share of all cores' time stolen by the hypervisor over the window, 0-100 (counted in
        ``cpu_pct`` and ``outside_pct`` too).
    load_avg_1m : float
        1-minute load average at the end of the window (NaN where the OS has none).
    n_cores : int
        Logical cores of the machine (what the load average and utilisation are shared by).
    """

    window_s: float
    cpu_pct: float
    outside_pct: float
    steal_pct: float
    load_avg_1m: float
    n_cores: int

    @property
    def load_per_core(self) -> float:
        """``load_avg_1m / n_cores``."""
        return self.load_avg_1m / self.n_cores

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "load_per_core": self.load_per_core}


def load_window(start: CpuCounters, end: CpuCounters) -> LoadWindow:
    """The machine's CPU use between two :func:`read_cpu_counters` readings.

    Percentages are of all cores' time in the window (clipped to 0-100); a window whose
    counters did not advance (shorter than the OS's clock tick) reads 0 %. The load average
    is read now, i.e. at the end of the window when called right after ``end``.
    """
    if not isinstance(start, CpuCounters) or not isinstance(end, CpuCounters):
        raise ConfigError("counters", (type(start).__name__, type(end).__name__),
                          "two CpuCounters from read_cpu_counters")
    d_total = end.total - start.total
    if d_total <= 0:
        cpu = outside = steal = 0.0
    else:
        d_busy = max(end.busy - start.busy, 0.0)
        d_own = max(end.own - start.own, 0.0)
        cpu = 100.0 * d_busy / d_total
        outside = 100.0 * (d_busy - d_own) / d_total
        steal = 100.0 * max(end.steal - start.steal, 0.0) / d_total

    def clip(v: float) -> float:
        return float(min(100.0, max(0.0, v)))

    return LoadWindow(float(max(end.t - start.t, 0.0)), clip(cpu), clip(outside), clip(steal),
                      _load_avg(), _n_cores())


def _gpu_state(device: str) -> DeviceState:  # pragma: no cover - needs a GPU
    import pynvml

    index = int(device.partition(":")[2] or 0)
    pynvml.nvmlInit()
    try:
        h = pynvml.nvmlDeviceGetHandleByIndex(index)
        mem = pynvml.nvmlDeviceGetMemoryInfo(h)
        util = pynvml.nvmlDeviceGetUtilizationRates(h)
        return DeviceState(device, mem.free / 2**20, float(util.gpu), float(util.gpu),
                           _load_avg(), 0.0, time.time())
    finally:
        with contextlib.suppress(Exception):
            pynvml.nvmlShutdown()


def read_device_state(device: str = "cpu", *, window_s: float = 0.02) -> DeviceState:
    """Read ``device``'s measurable parameters now.

    Parameters
    ----------
    device : str
        ``"cpu"``, ``"cuda"`` or ``"cuda:<i>"`` (checked: a missing GPU raises).
    window_s : float
        CPU only: the shortest utilisation window (>= 0). The window runs from the previous
        reading in this process (if under 5 s ago), so back-to-back measurements pay no
        extra wait; otherwise this process sleeps ``window_s`` to open one.

    Raises
    ------
    DeviceNotAvailableError
        A GPU that is not present (before anything is read).
    """
    dev = check_device(device)
    if not isinstance(window_s, int | float) or isinstance(window_s, bool) or window_s < 0:
        raise ConfigError("window_s", window_s, "a number of seconds >= 0")
    if dev == "cpu":
        return _cpu_state(float(window_s))
    return _gpu_state(dev)  # pragma: no cover - needs a GPU
