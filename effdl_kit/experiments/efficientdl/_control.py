"""The search study's positive control: a synthetic predictor with a known optimum.

:func:`known_optimum_setup` builds a :class:`~._setup.SearchSetup` shaped like the real one
(five components — three numeric on log-spaced grids, two categorical — 5,760 candidates, the
kit's :class:`~effdl_kit.data.ComponentEncoder` in front) whose "predictor" is a known
function (:class:`KnownOptimum`): a concave quadratic in the min-max scaled encoded columns
with one interaction (learning rate x batch size), maximal (:data:`OPTIMUM_VALUE`) at one grid
configuration drawn by the seed and nowhere else (the nearest other candidate is ≥ 0.005
lower). A search that works reaches it within a stated budget; uniform random search hits it
with probability ``n / 5760`` in ``n`` calls. The study runs it beside the real problem, and
the tests at smoke scale require the kit's αβ-BO to reach it (see :mod:`._regret`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.pipeline import Pipeline

from effdl_kit._core.validate import check_int
from effdl_kit.data import ComponentEncoder
from effdl_kit.experiments.efficientdl._setup import SearchSetup
from effdl_kit.search import predictor_problem

__all__ = ["CONTROL_GRID", "OPTIMUM_VALUE", "KnownOptimum", "known_optimum_setup"]

F64 = npt.NDArray[np.float64]

#: The control's components and values (numeric lists ascending).
CONTROL_GRID: dict[str, list[Any]] = {
    "learning rate": [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1],
    "batch size": [16.0, 32.0, 64.0, 128.0, 256.0, 512.0],
    "epochs": [5.0, 10.0, 20.0, 50.0, 100.0, 200.0],
    "optimizer": ["sgd", "adam", "adamw", "rmsprop", "adagrad"],
    "schedule": ["none", "step", "cosine", "linear"],
}
_NUMERIC = ["learning rate", "batch size", "epochs"]
_CATEGORICAL = ["optimizer", "schedule"]
#: The function's maximum, reached at the optimum only.
OPTIMUM_VALUE = 0.95
#: Weights of the squared distances in the scaled columns (numeric), per one-hot column
#: (categorical), and of the learning rate x batch size interaction.
_W_NUMERIC = 0.3
_W_CATEGORY = 0.01
_W_INTERACTION = 0.3


class KnownOptimum(RegressorMixin, BaseEstimator):
    """``OPTIMUM_VALUE − Σ w (z − z*)² − c (z_lr − z*_lr)(z_bs − z*_bs)`` on encoded rows.

    Parameters
    ----------
    optimum : ndarray, shape (n_features,)
        The encoded optimum z*.
    low, high : ndarray, shape (n_features,)
        Column ranges over the grid (columns are min-max scaled with them).
    weights : ndarray, shape (n_features,)
    pair : tuple of int
        The two interacting columns.
    interaction : float
        ``c``; ``|c| < 2 sqrt(w_a w_b)`` keeps the quadratic concave (0.3 < 0.6 here).
    """

    def __init__(self, optimum: F64, low: F64, high: F64, weights: F64,
                 pair: tuple[int, int], interaction: float) -> None:
        self.optimum = optimum
        self.low = low
        self.high = high
        self.weights = weights
        self.pair = pair
        self.interaction = interaction

    def fit(self, X: Any, y: Any = None) -> KnownOptimum:
        """Nothing to learn: the function is known."""
        self.n_features_in_ = int(np.asarray(X).shape[1])
        return self

    def predict(self, X: Any) -> F64:
        """The known function of encoded rows; shape (n,)."""
        span = np.where(self.high > self.low, self.high - self.low, 1.0)
        d = (np.asarray(X, dtype=np.float64) - self.optimum) / span
        a, b = self.pair
        out = (OPTIMUM_VALUE - (d**2 * self.weights).sum(axis=1)
               - self.interaction * d[:, a] * d[:, b])
        return np.asarray(out, dtype=np.float64)


def known_optimum_setup(seed: int, *, n_prior: int = 200) -> SearchSetup:
    """The positive control's search problem; its optimum is drawn by ``seed``.

    Parameters
    ----------
    seed : int
        Draws the optimum (an interior value of each numeric list, any category) and the
        ``n_prior`` prior rows.
    n_prior : int, default 200
        Random grid configurations, with their values, given as prior rows (the methods that
        take prior data get them, as on the real problem).

    Returns
    -------
    SearchSetup
        ``grid_max`` = :data:`OPTIMUM_VALUE`, ``grid_best`` the drawn optimum, ``dataset``
        ``"known optimum"``.
    """
    check_int("seed", seed, min_value=0)
    check_int("n_prior", n_prior, min_value=1)
    rng = np.random.default_rng(seed)
    best = {c: CONTROL_GRID[c][int(rng.integers(1, len(CONTROL_GRID[c]) - 1))]
            for c in _NUMERIC}
    best |= {c: CONTROL_GRID[c][int(rng.integers(len(CONTROL_GRID[c])))] for c in _CATEGORICAL}
    grid = pd.MultiIndex.from_product(list(CONTROL_GRID.values()),
                                      names=list(CONTROL_GRID)).to_frame(index=False)
    encoder = ComponentEncoder(numeric_columns=_NUMERIC, categorical_columns=_CATEGORICAL,
                               keyword_columns=[]).fit(grid)
    Z = np.asarray(encoder.transform(grid), dtype=np.float64)
    z_star = np.asarray(encoder.transform(pd.DataFrame([best]))[0], dtype=np.float64)
    groups = encoder.feature_groups_
    weights = np.zeros(Z.shape[1])
    for c in _NUMERIC:
        weights[groups[c]] = _W_NUMERIC
    for c in _CATEGORICAL:
        weights[groups[c]] = _W_CATEGORY
    pair = (int(groups["learning rate"][0]), int(groups["batch size"][0]))
    model = KnownOptimum(z_star, Z.min(axis=0), Z.max(axis=0), weights, pair, _W_INTERACTION)
    pipe = Pipeline([("encoder", encoder), ("model", model.fit(Z))])
    problem = predictor_problem(pipe, CONTROL_GRID, dict(best))
    grid_max, grid_best = problem.grid_optimum()
    rows = grid.iloc[np.sort(rng.choice(len(grid), size=min(n_prior, len(grid)),
                                        replace=False))]
    y0 = np.asarray(pipe.predict(rows), dtype=np.float64)
    return SearchSetup(problem=problem, X0=problem.encode_rows(rows), y0=y0,
                       top=list(CONTROL_GRID), dataset="known optimum", grid_max=grid_max,
                       grid_best=grid_best, components="all")
