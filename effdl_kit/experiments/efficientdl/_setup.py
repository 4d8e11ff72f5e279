"""The EfficientDL search problem: a fitted predictor, the searched components, their grid.

:func:`search_setup` fits the static predictor on a component dataset, picks the Top-5
components by grouped permutation importance **among the components a user controls** (the
model and training groups, plus ``precision`` on the kit's data: :data:`CONTROLLABLE_GROUPS`,
:data:`EXTRA_CONTROLLABLE`), builds a grid over them from the data (numeric: quantiles; others:
most frequent values) of at least ``min_grid`` candidates, and fixes every other component:

* components of the data and hardware groups (which dataset, its size, the train-test
  similarity, the GPU) take the **target's** value: the median / mode over the dataset rows
  of the target task (:data:`SEARCH_TARGETS`: CIFAR-10 on the authors' data, the paper's
  headline task; digits on the kit's). Searching them would make "best predicted Top-1" partly
  mean "pick an easier dataset", which no user can do; ``components="all"`` puts them back in
  the ranking (the paper's setting, kept for comparison);
* the other controllable components take the whole data's median / mode.

The setup also holds the exhaustive maximum of the predictor over the grid (one batched
predict, :meth:`~effdl_kit.search.PredictorProblem.grid_optimum`): the reference of every
search's **simple regret** (grid maximum − best value found).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from effdl_kit._core.errors import ConfigError, DataError
from effdl_kit._core.validate import check_choice, check_int
from effdl_kit.data import ComponentData
from effdl_kit.experiments.efficientdl._settings import (
    CONTROLLABLE_GROUPS,
    EXTRA_CONTROLLABLE,
    SEARCH_COMPONENTS,
    SEARCH_TARGETS,
    TOP_K,
    SearchComponents,
)
from effdl_kit.inspection import permutation_importance, top_components
from effdl_kit.models import make_predictor
from effdl_kit.search import PredictorProblem, base_row, grid_values, predictor_problem

__all__ = ["SearchSetup", "plain_value", "prior_rows", "search_setup", "searchable_components"]


@dataclass
class SearchSetup:
    """The search problem on a fitted predictor, with the GP's initial observations.

    Attributes
    ----------
    problem : PredictorProblem
    X0 : ndarray, shape (n_rows, n_features)
        Encoded dataset rows (GP order).
    y0 : ndarray, shape (n_rows,)
        Their measured accuracy.
    top : list of str
        The searched components (the Top-5 among the searchable ones).
    dataset : str
        Which component dataset the predictor was fitted on.
    grid_max : float
        The predictor's maximum over the grid (exhaustive): simple regret = ``grid_max`` −
        best value found.
    grid_best : dict
        The configuration reaching it.
    components : {"controllable", "all"}
        Which components were ranked for the search.
    fixed : dict
        Components held at the target's value (data and hardware groups) when
        ``components="controllable"``; empty otherwise.
    target : dict
        The rows defining the target (``{column: value}``); empty when none.
    """

    problem: PredictorProblem
    X0: np.ndarray
    y0: np.ndarray
    top: list[str]
    dataset: str
    grid_max: float = math.nan
    grid_best: dict[str, Any] = field(default_factory=dict)
    components: SearchComponents = "controllable"
    fixed: dict[str, Any] = field(default_factory=dict)
    target: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        """JSON-ready description: components, their values, grid size and maximum, rows."""
        space = self.problem.space
        return {"dataset": self.dataset, "components": self.top,
                "values": {n: [plain_value(v) for v in vals]
                           for n, vals in zip(space.names, space.values, strict=True)},
                "n_candidates": space.n_candidates, "n_features": space.n_features,
                "n_rows": len(self.y0), "dataset_best": float(np.max(self.y0)),
                "grid_max": self.grid_max,
                "grid_best": {k: plain_value(v) for k, v in self.grid_best.items()},
                "searchable": self.components,
                "fixed": {k: plain_value(v) for k, v in self.fixed.items()},
                "target": {k: plain_value(v) for k, v in self.target.items()}}

    def regret(self, best: Any) -> np.ndarray:
        """Simple regret of best-so-far values: ``grid_max − best`` (shape of ``best``)."""
        return np.asarray(self.grid_max - np.asarray(best, dtype=np.float64), dtype=np.float64)


def plain_value(v: Any) -> Any:
    """``v`` as a plain Python value (numpy scalars converted)."""
    return v.item() if isinstance(v, np.generic) else v


def searchable_components(data: ComponentData, components: SearchComponents) -> list[str]:
    """The components ranked for the search: every component the predictor uses (the declared
    features, else every column but the target, group and identifiers) with ``"all"``, or
    those of the model and training groups plus :data:`EXTRA_CONTROLLABLE` with
    ``"controllable"``.

    Raises
    ------
    ConfigError
        ``components`` is not one of :data:`SEARCH_COMPONENTS`.
    """
    check_choice("components", components, SEARCH_COMPONENTS)
    if data.numeric is not None:  # declared features: exactly what the encoder takes
        names = [*data.numeric, *(data.categorical or []), *(data.keyword or [])]
    else:
        names = [str(c) for c in data.xy()[0].columns]
    if components == "all":
        return names
    groups = data.component_groups
    return [c for c in names if groups.get(c) in CONTROLLABLE_GROUPS or c in EXTRA_CONTROLLABLE]


def _target_rows(data: ComponentData, X: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The rows of the target task (:data:`SEARCH_TARGETS`), or every row when the data has
    none of it."""
    target = dict(SEARCH_TARGETS.get(data.name, {}))
    mask = np.ones(len(X), dtype=bool)
    for col, val in target.items():
        if col not in X.columns:
            return X, {}
        mask &= (X[col].astype(str) == str(val)).to_numpy()
    if not mask.any():
        return X, {}
    return X[mask], target


def _grow_grid(X: pd.DataFrame, top: Sequence[str], min_grid: int) -> dict[str, list[Any]]:
    """Value lists of ``top`` grown one value at a time (round robin) until the grid has at
    least ``min_grid`` candidates or no list can grow."""
    sizes = dict.fromkeys(top, 2)
    comps = {c: grid_values(X, c, sizes[c]) for c in top}
    stuck: set[str] = set()
    while math.prod(len(v) for v in comps.values()) < min_grid and len(stuck) < len(top):
        for c in top:
            if c in stuck or math.prod(len(v) for v in comps.values()) >= min_grid:
                continue
            before = len(comps[c])
            for extra in range(1, 9):  # quantiles may coincide: try a few more points
                more = grid_values(X, c, sizes[c] + extra)
                if len(more) > before:
                    sizes[c] += extra
                    comps[c] = more
                    break
            else:
                stuck.add(c)
    return comps


def search_setup(data: ComponentData, *, n_trees: int, n_repeats: int, seed: int,
                 min_grid: int = 10_000, top: Sequence[str] | None = None,
                 components: SearchComponents = "controllable") -> SearchSetup:
    """Fit the predictor on ``data``, pick the Top-5, build the grid problem and its maximum.

    Parameters
    ----------
    data : ComponentData
        From :func:`~effdl_kit.data.load_component_data`.
    n_trees, n_repeats, seed : int
        Forest size, permutation repeats and seed.
    min_grid : int
        Grow the per-component value lists (one value at a time, round robin) until the grid
        has at least this many candidates or no list can grow.
    top : sequence of str, optional
        Components to search instead of the Top-5 by importance (any the predictor uses).
    components : {"controllable", "all"}, default "controllable"
        Rank only the components a user controls (data and hardware components fixed at the
        target's value, see the module docstring), or every component (the paper's setting).

    Raises
    ------
    ConfigError
        A bad budget value, ``components`` or an unknown component in ``top``.
    DataError
        Fewer than five searchable components, or a predictor giving NaN/inf on the grid.
    """
    check_int("n_trees", n_trees, min_value=1)
    check_int("n_repeats", n_repeats, min_value=1)
    check_int("min_grid", min_grid, min_value=1)
    searchable = searchable_components(data, components)
    X, y = data.xy()
    pipe = make_predictor(data, n_trees=n_trees, seed=seed).fit(X, y)
    enc = pipe[0]
    if top is None:
        if len(searchable) < TOP_K:
            raise DataError(f"only {len(searchable)} searchable components ({searchable}); "
                            f"the search needs {TOP_K}")
        imp = permutation_importance(pipe[-1], enc.transform(X), y, n_repeats=n_repeats,
                                     random_state=seed, groups=enc.feature_groups_)
        ranked = top_components(imp, k=len(imp.feature_names))
        ranked = ranked[ranked["name"].isin(searchable)]
        top = [str(n) for n in ranked["name"].iloc[:TOP_K]]
    else:
        unknown = [c for c in top if c not in enc.feature_groups_]
        if unknown:
            raise ConfigError("top", unknown, sorted(enc.feature_groups_))
        top = list(top)
    comps = _grow_grid(X, top, min_grid)
    columns = list(enc.columns_)
    base = base_row(X, columns)
    fixed: dict[str, Any] = {}
    target: dict[str, Any] = {}
    if components == "controllable":
        rows, target = _target_rows(data, X)
        at_target = base_row(rows, columns)
        fixed = {c: at_target[c] for c in columns if c not in set(searchable)}
        base.update(fixed)
    problem = predictor_problem(pipe, comps, base)
    grid_max, grid_best = problem.grid_optimum()
    return SearchSetup(problem=problem, X0=problem.encode_rows(X),
                       y0=np.asarray(y, dtype=np.float64), top=top, dataset=data.name,
                       grid_max=grid_max, grid_best=grid_best, components=components,
                       fixed=fixed, target=target)


def prior_rows(setup: SearchSetup, n: int | None, seed: int) -> np.ndarray | None:
    """Indices of ``n`` dataset rows (seeded draw) given to the GP; None: all rows."""
    if n is None or n >= len(setup.y0):
        return None
    return np.sort(np.random.default_rng(seed).choice(len(setup.y0), size=n, replace=False))

