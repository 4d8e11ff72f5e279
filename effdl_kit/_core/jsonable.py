"""Plain JSON values from numbers and frames: what every results file of the kit holds.

JSON has no NaN or infinity, so non-finite numbers are stored as ``null`` and read back as NaN.

>>> import math
>>> json_float(float("nan")) is None, json_float(2), math.isnan(as_float(None))
(True, 2.0, True)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["as_float", "json_float", "json_ready", "param_value", "records"]


def json_float(v: Any) -> float | None:
    """``v`` as a float; None for None and for non-finite numbers (what JSON can hold)."""
    if v is None:
        return None
    f = float(v)
    return f if math.isfinite(f) else None


def as_float(v: Any) -> float:
    """``v`` as a float; NaN for None (the inverse of :func:`json_float`)."""
    return float("nan") if v is None else float(v)


def param_value(v: Any) -> Any:
    """A trial parameter as results files store it: None, bool, int and str as they are, any
    other number as a Python float."""
    return v if v is None or isinstance(v, bool | int | str) else float(v)


def json_ready(v: Any) -> Any:
    """``v`` with plain JSON values all the way down: numpy scalars as Python ones, NaN and
    infinities as None, mapping keys as str, tuples as lists."""
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {str(k): json_ready(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [json_ready(x) for x in v]
    return v


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of ``frame`` as JSON-able dicts at full precision (numpy scalars as Python
    ones, NaN and infinities as None)."""
    out: list[dict[str, Any]] = []
    for row in frame.to_dict(orient="records"):
        rec: dict[str, Any] = {}
        for k, v in row.items():
            if isinstance(v, np.generic):
                v = v.item()
            if isinstance(v, float) and not math.isfinite(v):
                v = None
            rec[str(k)] = v
        out.append(rec)
    return out
