"""Small validators shared by every config object; each raises :class:`ConfigError`."""

from __future__ import annotations

import math
from collections.abc import Collection
from concurrent.futures import Executor
from typing import Any, Literal, TypeVar, get_args

import numpy as np

from effdl_kit._core.errors import ConfigError

T = TypeVar("T")

Scale = Literal["smoke", "small", "paper"]
SCALES: tuple[str, ...] = get_args(Scale)


def check_choice(field: str, value: T, allowed: Collection[T]) -> T:
    """Return ``value`` if it is one of ``allowed``, else raise naming the field."""
    if value not in allowed:
        raise ConfigError(field, value, allowed)
    return value


def check_scale(scale: Any) -> Scale:
    """Validate an experiment scale (``"smoke"``, ``"small"`` or ``"paper"``)."""
    check_choice("scale", scale, SCALES)
    return scale


def check_int(
    field: str, value: Any, *, min_value: int | None = None, max_value: int | None = None
) -> int:
    """Validate an integer (bools rejected) within optional inclusive bounds."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ConfigError(field, value, _bounds_text("an integer", min_value, max_value))
    v = int(value)
    if (min_value is not None and v < min_value) or (max_value is not None and v > max_value):
        raise ConfigError(field, value, _bounds_text("an integer", min_value, max_value))
    return v


def check_float(
    field: str,
    value: Any,
    *,
    min_value: float | None = None,
    max_value: float | None = None,
    min_inclusive: bool = True,
    max_inclusive: bool = True,
) -> float:
    """Validate a finite real number within optional bounds."""
    desc = _bounds_text("a finite number", min_value, max_value, min_inclusive, max_inclusive)
    if isinstance(value, bool):
        raise ConfigError(field, value, desc)
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ConfigError(field, value, desc) from None
    if not math.isfinite(v):
        raise ConfigError(field, value, desc)
    if min_value is not None and (v < min_value or (not min_inclusive and v == min_value)):
        raise ConfigError(field, value, desc)
    if max_value is not None and (v > max_value or (not max_inclusive and v == max_value)):
        raise ConfigError(field, value, desc)
    return v


def check_executor(executor: Any, field: str = "executor") -> Executor | None:
    """``executor`` when it is None or a ``concurrent.futures.Executor`` (a Dask client's
    ``get_executor()``, a process pool); anything else is a :class:`ConfigError`."""
    if executor is not None and not isinstance(executor, Executor):
        raise ConfigError(field, type(executor).__name__,
                          "None or a concurrent.futures.Executor (e.g. a Dask client's "
                          "get_executor() or a ProcessPoolExecutor)")
    return executor

def _bounds_text(
    kind: str,
    lo: float | None,
    hi: float | None,
    lo_inc: bool = True,
    hi_inc: bool = True,
) -> str:
    parts = [kind]
    if lo is not None:
        parts.append(f"{'>=' if lo_inc else '>'} {lo}")
    if hi is not None:
        parts.append(f"{'<=' if hi_inc else '<'} {hi}")
    return " ".join(parts[:1]) + (" " + " and ".join(parts[1:]) if len(parts) > 1 else "")
