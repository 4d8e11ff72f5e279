"""The relative search space of :class:`~effdl_kit.search.AlphaBetaSampler`, axis by axis.

Each Optuna distribution becomes an :class:`_Axis`: its grid values (the ``"grid"`` engine) and
its encoding (numeric: one column in [0, 1] over the bounds, on the log scale when
``log=True``; categorical: one-hot). The ``"cube"`` engine projects on each axis's lattice
(:func:`_cube_space`) and decodes a point of the cube back to values (:func:`_decode`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from effdl_kit._core.errors import ConfigError
from effdl_kit.search._cube_bo import CubeSpace

__all__: list[str] = []

F64 = npt.NDArray[np.float64]

#: encoded distance under which a numeric value counts as the grid point itself
_ON_GRID_TOL = 1e-9
#: numeric parameters with at most this many valid values are projected on their lattice
_MAX_LATTICE = 4096

@dataclass
class _Axis:
    """One parameter of the relative search space as a grid component.

    ``values`` are the grid values in Optuna's external representation (for a categorical:
    the indices of the distinguishable choices, mapped back with ``distribution.choices``);
    ``codes`` their encoding, shape (n_values, width).
    """

    name: str
    distribution: BaseDistribution
    values: list[Any]
    codes: F64

    @property
    def categorical(self) -> bool:
        return isinstance(self.distribution, CategoricalDistribution)

    def encode(self, value: Any) -> F64 | None:
        """Encoding of one trial's value, shape (width,); None when outside the distribution."""
        d = self.distribution
        try:
            internal = d.to_internal_repr(value)
        except (ValueError, TypeError):
            return None
        if not d._contains(internal):
            return None
        if isinstance(d, CategoricalDistribution):
            if int(internal) not in self.values:
                return None
            return np.ascontiguousarray(self.codes[self.values.index(int(internal))])
        assert isinstance(d, FloatDistribution | IntDistribution)
        return np.array([_scale(float(internal), d)])

    def nearest(self, x: F64) -> tuple[int, bool]:
        """Index of the grid value nearest to encoding ``x``, and whether ``x`` is that value."""
        if self.categorical:
            return int(np.argmax(x)), True
        dist = np.abs(self.codes[:, 0] - float(x[0]))
        k = int(np.argmin(dist))
        return k, bool(dist[k] <= _ON_GRID_TOL)

    def external(self, value: Any) -> Any:
        """A grid value as the distribution's type, inside its bounds."""
        d = self.distribution
        if isinstance(d, CategoricalDistribution):
            return d.choices[int(value)]
        if isinstance(d, IntDistribution):
            return int(min(max(int(value), d.low), d.high))
        assert isinstance(d, FloatDistribution)
        return float(min(max(float(value), d.low), d.high))


def _scale(v: float, d: FloatDistribution | IntDistribution) -> float:
    """A numeric value mapped to [0, 1] over the distribution's bounds (log scale if log)."""
    lo, hi, x = float(d.low), float(d.high), float(v)
    if d.log:
        lo, hi, x = math.log(lo), math.log(hi), math.log(x)
    return (x - lo) / (hi - lo) if hi > lo else 0.0


def _spaced(lo: float, hi: float, n: int, log: bool) -> F64:
    if log:
        return np.exp(np.linspace(math.log(lo), math.log(hi), n))
    return np.linspace(lo, hi, n)


def _int_grid(d: IntDistribution, grid_points: int) -> list[int]:
    n = (d.high - d.low) // d.step + 1
    if n <= 4 * grid_points:
        k = np.arange(n, dtype=np.int64)
    else:
        raw = _spaced(float(d.low), float(d.high), grid_points, d.log)
        k = np.unique(np.clip(np.rint((raw - d.low) / d.step), 0, n - 1).astype(np.int64))
    return [int(d.low + d.step * int(i)) for i in k]


def _float_grid(d: FloatDistribution, grid_points: int) -> list[float]:
    raw = _spaced(d.low, d.high, grid_points, d.log)
    if d.step is None:
        vals = np.clip(raw, d.low, d.high)
        vals[0], vals[-1] = d.low, d.high
        return [float(v) for v in np.unique(vals)]
    n = round((d.high - d.low) / d.step) + 1
    k = np.unique(np.clip(np.rint((raw - d.low) / d.step), 0, n - 1).astype(np.int64))
    return sorted({float(min(d.low + float(i) * d.step, d.high)) for i in k})


def _axis(name: str, d: BaseDistribution, grid_points: int) -> _Axis:
    if isinstance(d, CategoricalDistribution):
        # choices Optuna cannot tell apart (1 and True, 1 and 1.0) are one grid value: Optuna
        # stores either as the first of them, so only that one round-trips through a trial
        index = sorted({int(d.to_internal_repr(c)) for c in d.choices})
        return _Axis(name, d, index, np.eye(len(index)))
    if isinstance(d, IntDistribution):
        values: list[Any] = _int_grid(d, grid_points)
    elif isinstance(d, FloatDistribution):
        values = _float_grid(d, grid_points)
    else:
        raise ConfigError(f"search_space[{name!r}]", type(d).__name__,
                          ["CategoricalDistribution", "FloatDistribution", "IntDistribution"])
    codes = np.array([[_scale(float(v), d)] for v in values], dtype=np.float64)
    return _Axis(name, d, values, codes)


def _lattice(d: BaseDistribution) -> F64 | None:
    """Encodings of every valid value of an int or stepped float (None: continuous/too many)."""
    if isinstance(d, IntDistribution):
        n = (d.high - d.low) // d.step + 1
        vals = [float(d.low + d.step * i) for i in range(n)] if n <= _MAX_LATTICE else None
    elif isinstance(d, FloatDistribution) and d.step is not None:
        n = round((d.high - d.low) / d.step) + 1
        vals = ([min(d.low + i * d.step, d.high) for i in range(n)] if n <= _MAX_LATTICE
                else None)
    else:
        return None
    if vals is None:
        return None
    assert isinstance(d, FloatDistribution | IntDistribution)
    return np.unique(np.array([_scale(v, d) for v in vals], dtype=np.float64))


def _cube_space(axes: list[_Axis]) -> CubeSpace:
    numeric: list[tuple[int, F64 | None]] = []
    blocks: list[tuple[int, int]] = []
    col = 0
    for a in axes:
        w = a.codes.shape[1]
        if a.categorical:
            blocks.append((col, w))
        else:
            numeric.append((col, _lattice(a.distribution)))
        col += w
    return CubeSpace(col, numeric, blocks)


def _decode(a: _Axis, part: F64) -> Any:
    """A cube encoding of one parameter as its distribution's value."""
    d = a.distribution
    if isinstance(d, CategoricalDistribution):
        return a.external(a.values[int(np.argmax(part))])
    assert isinstance(d, FloatDistribution | IntDistribution)
    u = min(max(float(part[0]), 0.0), 1.0)
    lo, hi = float(d.low), float(d.high)
    v = math.exp(math.log(lo) + u * (math.log(hi) - math.log(lo))) if d.log else \
        lo + u * (hi - lo)
    if isinstance(d, IntDistribution):
        return a.external(d.low + d.step * round((v - d.low) / d.step))
    if d.step is not None:
        return a.external(d.low + d.step * round((v - d.low) / d.step))
    return a.external(v)
