"""Controlled background load, so that the measurable parameters really vary.

A :class:`LoadLevel` names a level: busy worker processes (each spinning a ``duty`` share of
every 10 ms on one core), a memory ballast process holding ``ballast_mib`` MiB of touched pages,
and, on a GPU, a concurrent CUDA stream running matrix products. :class:`BackgroundLoad` starts
a level as a context manager and always stops it: on normal exit, on an exception inside the
block, when garbage-collected and at interpreter exit; the children also exit by themselves
when their parent dies (they poll their parent id), so a killed build leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from effdl_kit._core.errors import ConfigError, EffdlError
from effdl_kit._core.validate import check_float, check_int
from effdl_kit.measure._device import check_device

__all__ = ["BackgroundLoad", "LoadLevel", "as_load_levels", "default_load_levels"]

_WORKER = """
import os, sys, time
ppid = os.getppid()
duty = float(sys.argv[1])
period = 0.01
while os.getppid() == ppid:
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < duty * period:
        pass
    if duty < 1.0:
        time.sleep((1.0 - duty) * period)
"""

_BALLAST = """
import os, sys, time
ppid = os.getppid()
n = int(sys.argv[1]) * 2**20
b = bytearray(b"\\x01") * n  # written, so every page is resident
sys.stdout.write("ready\\n")
sys.stdout.flush()
while os.getppid() == ppid:
    time.sleep(0.1)
"""


@dataclass(frozen=True)
class LoadLevel:
    """One background-load level.

    Attributes
    ----------
    name : str
        Recorded in every dataset row measured under it.
    workers : int
        Busy worker processes (>= 0).
    duty : float
        Share of each 10 ms period a worker spins, in (0, 1].
    ballast_mib : int
        Memory held (touched) by a ballast process, MiB (>= 0).
    gpu_stream : bool
        Run matrix products on a concurrent CUDA stream (GPU devices only).
    """

    name: str
    workers: int = 0
    duty: float = 1.0
    ballast_mib: int = 0
    gpu_stream: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ConfigError("load_level.name", self.name, "a non-empty string")
        check_int("load_level.workers", self.workers, min_value=0, max_value=256)
        check_float("load_level.duty", self.duty, min_value=0.0, max_value=1.0,
                    min_inclusive=False)
        check_int("load_level.ballast_mib", self.ballast_mib, min_value=0)
        if not isinstance(self.gpu_stream, bool):
            raise ConfigError("load_level.gpu_stream", self.gpu_stream, (True, False))

    @property
    def is_idle(self) -> bool:
        return self.workers == 0 and self.ballast_mib == 0 and not self.gpu_stream

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def default_load_levels(device: str = "cpu", cores: int | None = None) -> tuple[LoadLevel, ...]:
    """Four levels scaled to the machine: idle, light, medium, heavy.

    CPU (``cores`` logical cores, default: this process's): light = one worker at 50 % duty
    and 128 MiB of ballast; medium = ``max(1, cores // 2)`` workers at 100 % and 512 MiB;
    heavy = ``cores`` workers at 100 % and 1 GiB. On a GPU the medium and heavy levels add a
    concurrent stream.
    """
    from effdl_kit._core.env import cpu_count

    dev = check_device(device)
    n = cores if cores is not None else cpu_count()
    check_int("cores", n, min_value=1)
    gpu = dev.startswith("cuda")
    return (
        LoadLevel("idle"),
        LoadLevel("light", workers=1, duty=0.5, ballast_mib=128),
        LoadLevel("medium", workers=max(1, n // 2), duty=1.0, ballast_mib=512, gpu_stream=gpu),
        LoadLevel("heavy", workers=n, duty=1.0, ballast_mib=1024, gpu_stream=gpu),
    )


def as_load_levels(levels: Any, field: str = "load_levels") -> tuple[LoadLevel, ...]:
    """Validate a sequence of :class:`LoadLevel` (or dicts of its fields); names unique."""
    if isinstance(levels, LoadLevel | Mapping | str) or not isinstance(levels, Sequence) or (
            not levels):
        raise ConfigError(field, levels, "a non-empty sequence of LoadLevel (or dicts)")
    out: list[LoadLevel] = []
    for lv in levels:
        if isinstance(lv, LoadLevel):
            out.append(lv)
        elif isinstance(lv, Mapping):
            try:
                out.append(LoadLevel(**lv))
            except TypeError:
                raise ConfigError(field, dict(lv), "dicts with name, workers, duty, "
                                  "ballast_mib, gpu_stream") from None
        else:
            raise ConfigError(field, lv, "LoadLevel objects or dicts")
    names = [lv.name for lv in out]
    if len(set(names)) != len(names):
        raise ConfigError(field, names, "levels with distinct names")
    return tuple(out)


def _stop(procs: list[subprocess.Popen[bytes]], stop_event: threading.Event | None) -> None:
    if stop_event is not None:
        stop_event.set()
    for p in procs:
        if p.poll() is None:
            with contextlib.suppress(OSError):
                p.terminate()
    for p in procs:
        try:
            p.wait(timeout=3)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(OSError):
                p.kill()
            p.wait(timeout=3)
        if p.stdout is not None:
            p.stdout.close()
    procs.clear()


class BackgroundLoad:
    """Start a :class:`LoadLevel` for the duration of a ``with`` block.

    Parameters
    ----------
    level : LoadLevel
    device : str
        Where the GPU stream runs (``gpu_stream`` levels need a CUDA device).

    Attributes
    ----------
    pids : list of int
        Child processes running now (empty outside the block).

    Examples
    --------
    >>> with BackgroundLoad(LoadLevel("busy", workers=1, ballast_mib=64)):  # doctest: +SKIP
    ...     measure_latency(module, shape)
    """

    def __init__(self, level: LoadLevel, *, device: str = "cpu") -> None:
        if not isinstance(level, LoadLevel):
            raise ConfigError("level", level, "a LoadLevel")
        self.device = check_device(device)
        if level.gpu_stream and not self.device.startswith("cuda"):
            raise ConfigError("load_level.gpu_stream", True,
                              "False on a CPU device (a concurrent stream needs a GPU)")
        self.level = level
        self._procs: list[subprocess.Popen[bytes]] = []
        self._stop_event: threading.Event | None = None
        self._thread: threading.Thread | None = None
        # stops the children if the object is dropped or the interpreter exits
        self._finalizer = weakref.finalize(self, _stop, self._procs, None)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._procs if p.poll() is None]

    def start(self) -> BackgroundLoad:
        """Start the children (and the GPU stream); wait until the ballast is allocated."""
        if self._procs or self._thread is not None:
            raise EffdlError("this BackgroundLoad is already running")
        lv = self.level
        try:
            if lv.ballast_mib:
                p = subprocess.Popen([sys.executable, "-c", _BALLAST, str(lv.ballast_mib)],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
                self._procs.append(p)
                assert p.stdout is not None
                if p.stdout.readline().strip() != b"ready":
                    raise EffdlError(f"memory ballast of {lv.ballast_mib} MiB failed to start "
                                     f"(exit code {p.poll()})")
            for _ in range(lv.workers):
                self._procs.append(subprocess.Popen(
                    [sys.executable, "-c", _WORKER, repr(float(lv.duty))],
                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL))
            if lv.gpu_stream:  # pragma: no cover - needs a GPU
                self._start_gpu_stream()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_gpu_stream(self) -> None:  # pragma: no cover - needs a GPU
        import torch

        stop = threading.Event()
        dev = self.device

        def spin() -> None:
            stream = torch.cuda.Stream(device=dev)
            a = torch.randn(2048, 2048, device=dev)
            with torch.cuda.stream(stream):
                while not stop.is_set():
                    a = torch.tanh(a @ a)
                    stream.synchronize()

        self._stop_event = stop
        self._thread = threading.Thread(target=spin, name="effdl-gpu-load", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop every child and the GPU stream (idempotent)."""
        _stop(self._procs, self._stop_event)
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self._stop_event = None

    def __enter__(self) -> BackgroundLoad:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

