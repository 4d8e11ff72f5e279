"""Fault injection for studies and builders: objectives that fail the way real trials do.

:class:`FaultyObjective` wraps a quadratic on two parameters and, by trial number, raises,
returns NaN, allocates ``memory_mb`` MiB (a real allocation: under a worker memory cap, see
:func:`~effdl_kit._core.storage.run_study`'s ``memory_cap_mb``, it raises ``MemoryError``),
sleeps, or kills its own worker process (SIGKILL, once per marker file). It is picklable, so
it runs in spawned worker processes and on Dask workers; the kit's own tests use it to check
that failures are recorded and that crashes lose nothing.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["FaultyObjective"]

@dataclass
class FaultyObjective:
    """``(x - 0.3)² + (y + 0.1)²`` with injected faults by trial number.

    Parameters
    ----------
    raise_at, nan_at, memory_at : collection of int
        Trial numbers that raise ``RuntimeError``, return NaN, or allocate and touch
        ``memory_mb`` MiB.
    kill_at : collection of int
        Trial numbers whose worker process kills itself (SIGKILL) mid-trial, once: a marker
        file in ``marker_dir`` records that it happened.
    sleep_s : float
        Seconds each trial sleeps (so a run can be killed mid-way).
    """

    raise_at: frozenset[int] = field(default_factory=frozenset)
    nan_at: frozenset[int] = field(default_factory=frozenset)
    memory_at: frozenset[int] = field(default_factory=frozenset)
    kill_at: frozenset[int] = field(default_factory=frozenset)
    marker_dir: str = ""
    sleep_s: float = 0.0
    memory_mb: float = 2048.0

    def __call__(self, trial: Any) -> float:
        x = trial.suggest_float("x", -1.0, 1.0)
        y = trial.suggest_float("y", -1.0, 1.0)
        n = trial.number
        if self.sleep_s:
            time.sleep(self.sleep_s)
        if n in self.kill_at and self.marker_dir:
            marker = Path(self.marker_dir) / f"killed-{n}"
            if not marker.exists():
                marker.write_text(str(os.getpid()))
                os.kill(os.getpid(), signal.SIGKILL)
        if n in self.raise_at:
            raise RuntimeError(f"injected failure in trial {n}")
        if n in self.nan_at:
            return float("nan")
        if n in self.memory_at:
            block = bytearray(int(self.memory_mb * 2**20))  # MemoryError under a cap
            block[:: 2**12] = b"\x01" * len(block[:: 2**12])  # touch every page
            del block
        return (x - 0.3) ** 2 + (y + 0.1) ** 2
