"""Search spaces: the Cartesian grid of per-component value lists, and its encoding.

A :class:`GridSpace` holds, per component, the list of values the search may pick, and how
each value is encoded for the Gaussian process: a block of numbers per component. By default
a numeric component is one column scaled to [0, 1] (log10 when every value is positive and the
largest is at least 10x the smallest), and any other component is one-hot. A space may also
carry a ``fixed`` vector: features every candidate shares (the components left at their
defaults, encoded), appended after the blocks, so the GP's input space can be the predictor's
full encoded feature space while only the searched components vary.

``encoding="authors"`` encodes every component given without a block as ONE column, as the
EfficientDL authors do (numbers ``log10(x)/log10(max)``, keyword text as its bit string read as
an integer and min-max scaled, other values as their index min-max scaled; see
:mod:`effdl_kit.search._authors`).

Candidates are identified by their flat index in the product (the last component varies
fastest); nothing enumerates the whole grid.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import numpy as np
import numpy.typing as npt

from effdl_kit._core.errors import ConfigError
from effdl_kit._core.validate import check_choice
from effdl_kit.search._authors import authors_block, log_max

__all__ = ["ENCODINGS", "EncodingName", "GridSpace"]

#: ``"kit"``: min-max/log-scaled numbers, one-hot text; ``"authors"``: one column per component
EncodingName = Literal["kit", "authors"]
ENCODINGS: tuple[EncodingName, ...] = get_args(EncodingName)

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool)


def _default_block(name: str, values: Sequence[Any]) -> tuple[F64, bool, tuple[float, float]]:
    """Encoding of one component's values: (block, log, (lo, hi)) for numerics."""
    if all(_is_number(v) for v in values):
        arr = np.asarray(values, dtype=np.float64)
        if not np.isfinite(arr).all():
            raise ConfigError(f"space[{name!r}]", list(values), "finite numbers")
        log = bool((arr > 0).all() and arr.max() >= 10 * arr.min())
        t = np.log10(arr) if log else arr
        lo, hi = float(t.min()), float(t.max())
        scaled = (t - lo) / (hi - lo) if hi > lo else np.zeros_like(t)
        return scaled.reshape(-1, 1), log, (lo, hi)
    return np.eye(len(values)), False, (0.0, 0.0)


@dataclass
class GridSpace:
    """Per-component value lists (a Cartesian grid) with their GP encoding.

    Parameters
    ----------
    components : mapping of str to sequence
        Component name -> the values the search may pick (at least one each, no repeats).
    blocks : mapping of str to array_like, optional
        Component name -> array of shape (n_values, width): the encoding of each value. Missing
        components get the default encoding (see the module docstring).
    fixed : array_like, shape (n_fixed,), optional
        Features every candidate shares, appended after the blocks.
    encoding : {"kit", "authors"}, default "kit"
        Encoding of the components without a block (see the module docstring).

    Raises
    ------
    ConfigError
        An empty space, a component without values or with repeated values, a block of the
        wrong shape or with non-finite entries.
    """

    components: Mapping[str, Sequence[Any]]
    blocks: Mapping[str, Any] | None = None
    fixed: Any = None
    encoding: EncodingName = "kit"
    names: list[str] = field(init=False)
    values: list[list[Any]] = field(init=False)
    sizes: I64 = field(init=False)
    codes_table: list[F64] = field(init=False)
    fixed_vector: F64 = field(init=False)
    _numeric: dict[str, tuple[bool, tuple[float, float]]] = field(init=False, repr=False)
    _authors_max: dict[str, float] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.components, Mapping) or not self.components:
            raise ConfigError("space", self.components,
                              "a non-empty mapping of component name -> list of values")
        check_choice("encoding", self.encoding, ENCODINGS)
        self.names = [str(k) for k in self.components]
        self.values = []
        self.codes_table = []
        self._numeric = {}
        self._authors_max = {}
        given = dict(self.blocks or {})
        unknown = sorted(set(given) - set(self.names))
        if unknown:
            raise ConfigError("blocks", unknown, f"components of the space: {self.names}")
        for name in self.names:
            vals = self.components[name]
            if isinstance(vals, str | bytes) or not isinstance(vals, Sequence | np.ndarray):
                raise ConfigError(f"space[{name!r}]", vals, "a list of values")
            vals = list(vals)
            if not vals:
                raise ConfigError(f"space[{name!r}]", vals, "at least one value")
            keys = [repr(v) for v in vals]
            if len(set(keys)) != len(keys):
                raise ConfigError(f"space[{name!r}]", vals, "distinct values")
            self.values.append(vals)
            if name in given:
                block = np.asarray(given[name], dtype=np.float64)
                if block.ndim != 2 or block.shape[0] != len(vals) or block.shape[1] < 1:
                    raise ConfigError(f"blocks[{name!r}]", f"shape {block.shape}",
                                      f"shape ({len(vals)}, width >= 1)")
                if not np.isfinite(block).all():
                    raise ConfigError(f"blocks[{name!r}]", "non-finite entries", "finite numbers")
            elif self.encoding == "authors":
                block = authors_block(vals)
                if all(_is_number(v) for v in vals):
                    self._authors_max[name] = float(max(vals))
            else:
                block, log, bounds = _default_block(name, vals)
                if block.shape[1] == 1:
                    self._numeric[name] = (log, bounds)
            self.codes_table.append(np.ascontiguousarray(block))
        self.sizes = np.array([len(v) for v in self.values], dtype=np.int64)
        fixed = np.zeros(0) if self.fixed is None else np.asarray(self.fixed, dtype=np.float64)
        if fixed.ndim != 1 or not np.isfinite(fixed).all():
            raise ConfigError("fixed", f"shape {fixed.shape}", "a finite 1-D vector")
        self.fixed_vector = fixed

    # ------------------------------------------------------------------ sizes
    @property
    def n_components(self) -> int:
        """Number of components."""
        return len(self.names)

    @property
    def n_candidates(self) -> int:
        """Size of the grid (a Python int: may exceed 2**63 only in theory)."""
        return math.prod(int(s) for s in self.sizes)

    @property
    def widths(self) -> list[int]:
        """Encoded width of each component's block."""
        return [int(b.shape[1]) for b in self.codes_table]

    @property
    def n_features(self) -> int:
        """Width of the GP input: blocks then fixed features."""
        return sum(self.widths) + len(self.fixed_vector)

    @property
    def radix(self) -> I64:
        """Mixed-radix digits (component sizes), for the kernels."""
        return self.sizes.copy()

    @property
    def offsets(self) -> I64:
        """Row offset of each component's values in the stacked per-value tables."""
        return np.concatenate([[0], np.cumsum(self.sizes)[:-1]]).astype(np.int64)

    # ------------------------------------------------------------------ indices
    def decode(self, flat: Any) -> I64:
        """Value indices of candidates; shape (n, n_components)."""
        idx = np.asarray(flat, dtype=np.int64).reshape(-1)
        if idx.size and (idx.min() < 0 or idx.max() >= self.n_candidates):
            raise ConfigError("candidate index", int(idx.max()),
                              f"0 .. {self.n_candidates - 1}")
        out = np.empty((idx.size, self.n_components), dtype=np.int64)
        rem = idx.copy()
        for b in range(self.n_components - 1, -1, -1):
            out[:, b] = rem % self.sizes[b]
            rem //= self.sizes[b]
        return out

    def encode_index(self, codes: Any) -> I64:
        """Flat indices of value-index rows; shape (n,)."""
        c = np.asarray(codes, dtype=np.int64).reshape(-1, self.n_components)
        flat = np.zeros(c.shape[0], dtype=np.int64)
        for b in range(self.n_components):
            flat = flat * self.sizes[b] + c[:, b]
        return flat

    def chunks(self, chunk_size: int) -> Iterator[tuple[int, int]]:
        """``(start, stop)`` flat-index ranges covering the grid, lazily."""
        n = self.n_candidates
        for s in range(0, n, chunk_size):
            yield s, min(s + chunk_size, n)

    def neighbours(self, flat: int) -> I64:
        """Flat indices of the candidates differing from ``flat`` in one component."""
        codes = self.decode([flat])[0]
        nb = []
        for b, size in enumerate(self.sizes):
            for v in range(int(size)):
                if v != codes[b]:
                    c = codes.copy()
                    c[b] = v
                    nb.append(c)
        return self.encode_index(np.asarray(nb, dtype=np.int64).reshape(-1, self.n_components))

    def config(self, flat: int) -> dict[str, Any]:
        """The candidate with flat index ``flat`` as ``{component: value}``."""
        codes = self.decode([flat])[0]
        return {n: self.values[b][int(codes[b])] for b, n in enumerate(self.names)}

    def index_of(self, config: Mapping[str, Any]) -> int:
        """Flat index of a configuration whose values are all on the grid."""
        return int(self.encode_index([self._codes(config)])[0])

    def _codes(self, config: Mapping[str, Any]) -> list[int]:
        missing = [n for n in self.names if n not in config]
        if missing:
            raise ConfigError("config", sorted(config), f"a value for every component {missing}")
        return [self._value_code(b, config[name]) for b, name in enumerate(self.names)]

    def _value_code(self, b: int, v: Any) -> int:
        for k, cand in enumerate(self.values[b]):
            if cand == v or repr(cand) == repr(v):
                return k
        raise ConfigError(f"config[{self.names[b]!r}]", v, self.values[b])

    # ------------------------------------------------------------------ encoding
    def features(self, flat: Any) -> F64:
        """GP input of candidates; shape (n, n_features)."""
        codes = self.decode(flat)
        parts = [self.codes_table[b][codes[:, b]] for b in range(self.n_components)]
        parts.append(np.broadcast_to(self.fixed_vector, (codes.shape[0], len(self.fixed_vector))))
        return np.ascontiguousarray(np.concatenate(parts, axis=1))

    def encode_configs(self, configs: Sequence[Mapping[str, Any]]) -> F64:
        """GP input of configurations; numeric values may lie between grid points.

        Returns
        -------
        ndarray, shape (len(configs), n_features)
        """
        rows = []
        for config in configs:
            missing = [n for n in self.names if n not in config]
            if missing:
                raise ConfigError("config", sorted(config), f"a value for every component "
                                  f"{missing}")
            parts = []
            for b, name in enumerate(self.names):
                v = config[name]
                if name in self._authors_max and _is_number(v):
                    parts.append(log_max([v], self._authors_max[name]))
                elif name in self._numeric and _is_number(v):
                    log, (lo, hi) = self._numeric[name]
                    x = float(v)
                    if log and x <= 0:
                        raise ConfigError(f"config[{name!r}]", v, "a positive number")
                    t = math.log10(x) if log else x
                    parts.append(np.array([(t - lo) / (hi - lo) if hi > lo else 0.0]))
                else:
                    parts.append(self.codes_table[b][self._value_code(b, v)])
            parts.append(self.fixed_vector)
            rows.append(np.concatenate(parts))
        return np.asarray(rows, dtype=np.float64).reshape(len(rows), self.n_features)

    def distance_tables(self, X: F64) -> tuple[F64, F64]:
        """Per-value squared distances to observations ``X`` (shape (n, n_features)).

        Returns
        -------
        table : ndarray, shape (sum of sizes, n)
            ``table[offset_b + v, i]`` = ‖block_b[v] − X[i, block b]‖².
        rest : ndarray, shape (n,)
            ‖fixed − X[i, fixed part]‖².
        """
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ConfigError("observations", f"shape {X.shape}",
                              f"(n, {self.n_features}) features")
        tables = []
        col = 0
        for block in self.codes_table:
            w = block.shape[1]
            xb = X[:, col:col + w]
            tables.append(((block[:, None, :] - xb[None, :, :]) ** 2).sum(2))
            col += w
        xf = X[:, col:]
        rest = ((xf - self.fixed_vector[None, :]) ** 2).sum(1)
        return np.ascontiguousarray(np.concatenate(tables, axis=0)), rest
