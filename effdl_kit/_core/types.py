"""Shared type aliases: one definition each, imported by every layer above.

>>> from effdl_kit._core.types import ProgressFn
>>> def report(done: int, total: int, label: str) -> None: ...
>>> fn: ProgressFn = report
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, get_args

from effdl_kit._core.validate import SCALES, Scale

#: ``progress(done, total, label)``: called after each unit of work (a trial, a run, a job).
ProgressFn = Callable[[int, int, str], None]

#: Optimisation direction of a study or a metric.
Direction = Literal["maximize", "minimize"]
DIRECTIONS: tuple[str, ...] = get_args(Direction)

__all__ = ["DIRECTIONS", "SCALES", "Direction", "ProgressFn", "Scale"]
