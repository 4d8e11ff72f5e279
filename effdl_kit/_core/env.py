"""Hardware and software environment, recorded by every result.

``collect_env()`` reads the CPU model, core counts, memory, torch's thread count, GPUs (through
NVML when the driver is present; no GPU means an empty list, not an error), package versions
and the kit's git revision.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import functools
import importlib.metadata as _md
import os
import platform
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["EnvInfo", "GPUInfo", "collect_env", "git_revision", "kit_version"]

_PACKAGES = (
    "effdl-kit", "numpy", "pandas", "scipy", "scikit-learn", "torch", "numba", "optuna",
    "matplotlib", "seaborn", "ipywidgets", "jupyterlab", "nvidia-ml-py",
)


@dataclass(frozen=True)
class GPUInfo:
    """One GPU as NVML reports it."""

    index: int
    name: str
    memory_total_mib: float
    memory_free_mib: float
    driver: str


@dataclass(frozen=True)
class EnvInfo:
    """Where a result was produced. JSON-serialisable through :meth:`to_dict`."""

    hostname: str
    platform: str
    python: str
    cpu_model: str
    cores_physical: int | None
    cores_logical: int | None
    memory_total_gib: float
    torch_threads: int
    cuda_available: bool
    gpus: tuple[GPUInfo, ...]
    packages: dict[str, str]
    git_revision: str | None
    timestamp: str
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["gpus"] = [asdict(g) for g in self.gpus]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EnvInfo:
        d = dict(d)
        d["gpus"] = tuple(GPUInfo(**g) for g in d.get("gpus", ()))
        return cls(**d)

    def summary(self) -> str:
        """A few human-readable lines, as ``effdl env`` prints them."""
        gpus = ", ".join(f"{g.name} ({g.memory_total_mib / 1024:.1f} GiB)" for g in self.gpus)
        lines = [
            f"host      : {self.hostname} ({self.platform})",
            f"cpu       : {self.cpu_model}",
            f"cores     : {self.cores_physical} physical / {self.cores_logical} logical",
            f"memory    : {self.memory_total_gib:.1f} GiB",
            f"torch     : {self.packages.get('torch', '?')}, {self.torch_threads} threads, "
            f"cuda={'yes' if self.cuda_available else 'no'}",
            f"gpus      : {gpus or 'none'}",
            f"python    : {self.python}",
            f"effdl-kit : {self.packages.get('effdl-kit', '?')} (git {self.git_revision or '-'})",
            "packages  : " + ", ".join(
                f"{k} {v}" for k, v in self.packages.items() if k not in ("effdl-kit", "torch")
            ),
        ]
        return "\n".join(lines)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _gpus() -> tuple[GPUInfo, ...]:
    """GPUs via NVML; any failure (no driver, no library) means no GPU."""
    try:
        import pynvml
    except ImportError:
        return ()
    try:
        pynvml.nvmlInit()
    except Exception:  # NVMLError when no driver: a CPU machine, not an error
        return ()
    try:
        driver = pynvml.nvmlSystemGetDriverVersion()
        driver = driver.decode() if isinstance(driver, bytes) else str(driver)
        out = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            h = pynvml.nvmlDeviceGetHandleByIndex(i)
            name = pynvml.nvmlDeviceGetName(h)
            mem = pynvml.nvmlDeviceGetMemoryInfo(h)
            out.append(
                GPUInfo(
                    index=i,
                    name=name.decode() if isinstance(name, bytes) else str(name),
                    memory_total_mib=mem.total / 2**20,
                    memory_free_mib=mem.free / 2**20,
                    driver=driver,
                )
            )
        return tuple(out)
    except Exception:  # NVMLError mid-query (GPU lost, driver mismatch): env probing never
        return ()      # fails a run; the record then says no GPU
    finally:
        with contextlib.suppress(Exception):
            pynvml.nvmlShutdown()


def kit_version() -> str:
    try:
        return _md.version("effdl-kit")
    except _md.PackageNotFoundError:
        return "0+unknown"


@functools.lru_cache(maxsize=1)
def git_revision() -> str | None:
    """Short git revision of the kit's source tree (with ``+dirty``), or None outside git."""
    root = Path(__file__).resolve().parents[2]
    try:
        rev = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return rev + ("+dirty" if dirty else "") if rev else None


@functools.lru_cache(maxsize=1)
def _static_env() -> dict[str, Any]:
    import psutil

    versions = {}
    for p in _PACKAGES:
        try:
            versions[p] = _md.version(p)
        except _md.PackageNotFoundError:
            continue
    return {
        "hostname": platform.node(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_model": _cpu_model(),
        "cores_physical": psutil.cpu_count(logical=False),
        "cores_logical": psutil.cpu_count(logical=True),
        "memory_total_gib": psutil.virtual_memory().total / 2**30,
        "gpus": _gpus(),
        "packages": versions,
        "git_revision": git_revision(),
    }


def collect_env(**extra: Any) -> EnvInfo:
    """Describe this machine now. Static facts are read once per process, cheaply after."""
    import torch

    s = _static_env()
    return EnvInfo(
        torch_threads=torch.get_num_threads(),
        cuda_available=bool(torch.cuda.is_available()),
        timestamp=_dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        extra=dict(extra),
        **{**s, "packages": dict(s["packages"])},
    )


def cpu_count() -> int:
    """Usable CPU cores of this process (affinity-aware)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        return os.cpu_count() or 1
