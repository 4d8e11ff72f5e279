"""What αβ-BO keeps: its observations, one iteration's choice, and a run's result."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from effdl_kit._core.errors import ConfigError, DataError

__all__ = ["MAX_ABS", "Observations", "SearchResult", "Step", "check_observations"]

F64 = npt.NDArray[np.float64]

#: largest magnitude accepted for targets and features (squares and variances stay finite)
MAX_ABS = 1e150


def check_observations(X: Any, y: Any, n_features: int) -> tuple[F64, F64]:
    """``(X, y)`` as float arrays of shapes (n, n_features) and (n,), finite and not huge.

    Raises
    ------
    ConfigError
        Wrong shapes.
    DataError
        NaN, infinite or huge (> ``MAX_ABS``) entries.
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    if X.ndim != 2 or X.shape[1] != n_features:
        raise ConfigError("X", f"shape {X.shape}", f"(n, {n_features})")
    if X.shape[0] != y.shape[0]:
        raise ConfigError("y", f"{y.shape[0]} values", f"{X.shape[0]} (one per row of X)")
    if not np.isfinite(X).all() or (np.abs(X) > MAX_ABS).any():
        raise DataError(f"X holds NaN, infinite or huge (> {MAX_ABS:g}) features")
    if not np.isfinite(y).all() or (np.abs(y) > MAX_ABS).any():
        raise DataError(f"y holds NaN, infinite or huge (> {MAX_ABS:g}) values")
    return X, y


@dataclass
class SearchResult:
    """What :meth:`AlphaBetaBO.optimize` did.

    Attributes
    ----------
    history : pandas.DataFrame
        One row per iteration: ``iteration``, the components' values, ``value`` (NaN for a
        failed or skipped evaluation), ``incumbent`` (the f* the iteration's acquisition
        used), ``status`` ("ok"/"failed"/"skipped": a repeated point the faithful preset does
        not evaluate), ``error``, ``acquisition`` (NaN for a random pick), ``random``,
        ``refit``, ``initial``, ``ask_s``, ``eval_s``, ``tell_s``.
    best_config : dict or None
        The best evaluated configuration (None when every evaluation failed).
    best_value : float
        Its value (``-inf`` when none).
    initial_best : float
        Best value among the observations given before the search (``-inf`` when none).
    length_scales : list of float
        Kernel length scale after each fit.
    settings : dict
        The optimiser's parameters, mode, seed and grid size.
    """

    history: pd.DataFrame
    best_config: dict[str, Any] | None
    best_value: float
    initial_best: float
    length_scales: list[float]
    settings: dict[str, Any]

    @property
    def n_iterations(self) -> int:
        """Iterations run."""
        return len(self.history)

    def best_so_far(self) -> pd.Series:
        """Best value after each iteration (failed evaluations ignored)."""
        v = self.history["value"].astype(float).fillna(-np.inf)
        return v.cummax().rename("best_so_far")

    def timings(self) -> dict[str, float]:
        """Total and per-iteration seconds of asking (search), evaluating and telling."""
        h = self.history
        n = max(len(h), 1)
        search = float(h["ask_s"].sum() + h["tell_s"].sum())
        return {"search_s": search, "eval_s": float(h["eval_s"].sum()),
                "search_per_iter_s": search / n, "n_refits": float(h["refit"].sum())}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "history": self.history.to_dict(orient="list"),
            "best_config": self.best_config, "best_value": self.best_value,
            "initial_best": self.initial_best, "length_scales": self.length_scales,
            "settings": self.settings,
        }


@dataclass
class Step:
    """One iteration's choice: flat index, random or argmax, acquisition value, whether the GP
    was fitted, whether the pick repeats an observation and is skipped (faithful mode)."""

    flat: int
    random: bool
    acquisition: float
    refit: bool
    skipped: bool = False


@dataclass
class Observations:
    """GP inputs in a growing buffer, values, flat index (-1: off the grid), and whether each
    value was evaluated by the search (False: a prior row, e.g. a dataset label)."""

    n_features: int
    buf: F64 = field(init=False)
    y: list[float] = field(default_factory=list)
    flat: list[int] = field(default_factory=list)
    evaluated: list[bool] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.buf = np.zeros((64, self.n_features))

    @property
    def X(self) -> F64:
        """The GP inputs told so far; shape (n, n_features)."""
        return self.buf[:len(self.y)]

    def add(self, X: F64, y: Sequence[float], flat: Sequence[int], *,
            evaluated: bool) -> None:
        """Append rows ``X`` with values ``y`` and flat indices ``flat``."""
        n, k = len(self.y), X.shape[0]
        if n + k > self.buf.shape[0]:
            buf = np.zeros((max(2 * self.buf.shape[0], n + k), self.n_features))
            buf[:n] = self.buf[:n]
            self.buf = buf
        self.buf[n:n + k] = X
        self.y.extend(float(v) for v in y)
        self.flat.extend(int(f) for f in flat)
        self.evaluated.extend([evaluated] * k)
