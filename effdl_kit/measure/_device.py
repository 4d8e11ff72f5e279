"""Devices and their state: which devices exist, and what a device looks like right now.

The *measurable parameters* of the MEDN framework are read here, just before each timed run:

* CPU (psutil): available memory (MiB) and the utilisation of all cores (%) by *other*
  processes since the previous reading (this process's own CPU time subtracted, so the timed
  runs themselves do not count), plus the total utilisation and the 1-minute load average;
* GPU (NVML through nvidia-ml-py): free memory (MiB) and the utilisation rate (%).
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import asdict, dataclass
from typing import Any

from effdl_kit._core.errors import ConfigError, DeviceNotAvailableError

__all__ = [
    "DeviceState",
    "available_devices",
    "check_device",
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
    import psutil

    ct = psutil.cpu_times()
    total = float(sum(ct))
    idle = float(ct.idle + getattr(ct, "iowait", 0.0))
    pt = psutil.Process().cpu_times()
    return time.monotonic(), total - idle, total, float(pt.user + pt.system)


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
