"""Settings of the EfficientDL experiment: names, options and the budgets of its first two parts.

One frozen budget per part, chosen by scale with ``for_scale`` and changed with
:func:`dataclasses.replace` (the new values are checked)::

    Budget          the static predictor: cross-validation and permutation importance
    SearchBudget    the search study on the authors' predictor: methods, controls, ablation

The confirmation by real training has its own (``ConfirmBudget`` in :mod:`._confirm_settings`).

"All rows" is spelled ``None`` everywhere (``SearchBudget.init_rows``): the GP is told every
dataset row.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal, Protocol, TypeVar, get_args

from effdl_kit._core.errors import ConfigError
from effdl_kit._core.validate import Scale, check_float, check_int, check_scale
from effdl_kit.data import COMPONENT_DATASETS, ComponentDatasetName

__all__ = [
    "ABLATION_METHOD",
    "CONFIDENCE",
    "CONTROLLABLE_GROUPS",
    "DATASETS",
    "DATASET_LABELS",
    "EXTRA_CONTROLLABLE",
    "FIGURE_IMPORTANCE",
    "FIGURE_SCATTER",
    "FIGURE_SEARCH",
    "METHODS",
    "METHOD_LABELS",
    "NAME",
    "RESULTS_FILE",
    "SEARCH_COMPONENTS",
    "SEARCH_TARGETS",
    "SHOW_K",
    "SPLITS",
    "TABLE_ABLATION",
    "TABLE_METRICS",
    "TABLE_OMEGA",
    "TABLE_SEARCH",
    "TABLE_TOP",
    "TABLE_VERDICTS",
    "TOP_K",
    "Budget",
    "DatasetName",
    "Method",
    "SearchBudget",
    "SearchComponents",
    "Split",
    "resolve_budget",
]

NAME = "efficientdl"
RESULTS_FILE = "results.json"
FIGURE_SCATTER = "efficientdl_pred_vs_true"
FIGURE_IMPORTANCE = "efficientdl_importance"
TABLE_METRICS = "efficientdl_metrics"
TABLE_TOP = "efficientdl_top5"
FIGURE_SEARCH = "efficientdl_search"
TABLE_SEARCH = "efficientdl_search"
TABLE_OMEGA = "efficientdl_omega"
TABLE_VERDICTS = "efficientdl_search_verdicts"
TABLE_ABLATION = "efficientdl_ablation"

#: The two datasets, in the order they are reported.
DatasetName = ComponentDatasetName
DATASETS: tuple[DatasetName, ...] = COMPONENT_DATASETS
DATASET_LABELS: dict[DatasetName, str] = {"authors": "authors' data", "kit": "kit's data"}
#: Cross-validation splits, in the order they are reported.
Split = Literal["random", "grouped"]
SPLITS: tuple[Split, ...] = get_args(Split)
#: Components recommended for optimisation (the paper's Top-5) and shown in the bar figure.
TOP_K = 5
SHOW_K = 10
CONFIDENCE = 0.95
#: The search methods (see :mod:`effdl_kit.experiments.efficientdl._search`).
Method = Literal["alpha_beta_kit", "alpha_beta", "alpha_beta_fn", "ei_bo", "random", "tpe",
                 "gp"]
METHODS: tuple[Method, ...] = get_args(Method)
METHOD_LABELS: dict[Method, str] = {
    "alpha_beta_kit": "αβ-BO kit (AlphaBetaSampler)",
    "alpha_beta": "αβ-BO authors' choices (their GP, f* = best label)",
    "alpha_beta_fn": "αβ-BO grid, fitted-noise GP", "ei_bo": "EI-BO", "random": "random",
    "tpe": "Optuna TPE", "gp": "Optuna GP",
}
#: Which components the search ranks: those a user controls, or every one (the paper's).
SearchComponents = Literal["controllable", "all"]
SEARCH_COMPONENTS: tuple[SearchComponents, ...] = get_args(SearchComponents)
#: Dataset -> the rows of the target task, whose data and hardware components the search holds
#: fixed (CIFAR-10: the paper's headline task; digits: the kit data's own task).
SEARCH_TARGETS: dict[str, dict[str, str]] = {"authors": {"Dataset": "cifar-10"},
                                              "kit": {"dataset": "digits"}}
#: The method the α/β/Ω ablation runs: the kit's αβ-BO, whose acquisition terms are on
#: normalised scales (see ``_search.ablation``).
ABLATION_METHOD: Method = "alpha_beta_kit"

#: Component groups the recommendation may change (plus :data:`EXTRA_CONTROLLABLE`).
CONTROLLABLE_GROUPS: tuple[str, ...] = ("model", "training")
#: Hardware components a user controls on one machine.
EXTRA_CONTROLLABLE: tuple[str, ...] = ("precision",)


def _check_rows(name: str, value: int | None) -> None:
    """``None`` (all rows) or an int >= 1."""
    if value is not None:
        check_int(name, value, min_value=1)


def _check_grid(name: str, values: tuple[float, ...]) -> None:
    """A non-empty tuple of finite numbers >= 0."""
    if not isinstance(values, tuple) or not values:
        raise ConfigError(name, values, "a non-empty tuple of numbers >= 0")
    for v in values:
        check_float(name, v, min_value=0.0)


@dataclass(frozen=True)
class Budget:
    """Budget of the static-predictor part: forest, cross-validation, permutation importance.

    Attributes
    ----------
    n_trees : int
        Trees of the random forest (>= 1).
    n_splits : int
        Cross-validation folds (>= 2).
    n_repeats : int
        Permutations per component (>= 1).

    Raises
    ------
    ConfigError
        A value out of range (also through :func:`dataclasses.replace`).
    """

    n_trees: int
    n_splits: int
    n_repeats: int

    def __post_init__(self) -> None:
        check_int("n_trees", self.n_trees, min_value=1)
        check_int("n_splits", self.n_splits, min_value=2)
        check_int("n_repeats", self.n_repeats, min_value=1)

    @classmethod
    def for_scale(cls, scale: str) -> Budget:
        """``smoke`` 30 trees, 3 folds, 3 repeats; ``small`` 300, 5, 10; ``paper`` 500, 10, 30.

        Raises
        ------
        ConfigError
            ``scale`` is not one of ``"smoke"``, ``"small"``, ``"paper"``.
        """
        return _BUDGETS[check_scale(scale)]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the ``budget`` of ``results.json``)."""
        return asdict(self)


@dataclass(frozen=True)
class SearchBudget:
    """Budget of the search part: αβ-BO against baselines, and the α/β/Ω ablation.

    Attributes
    ----------
    init_rows : int or None
        Dataset rows given to the GP as initial observations (a seeded draw); None: all rows.
    n_iter, seeds : int
        Predictor calls per run and seeds of the method comparison.
    n_restarts, refit_every : int
        GP fitting: optimizer restarts of the first fit (>= 0), observations between refits.
    n_trees, n_repeats, min_grid : int
        Predictor trees, permutation repeats, the least number of grid candidates.
    alphas, betas, omegas : tuple of float
        The ablation's α x β grid (at Ω = 0.1) and Ω sweep (at α = 0.54, β = 1.01).
    ablation_seeds, ablation_iter : int
        Seeds and predictor calls per ablation run (the kit's αβ-BO).
    control_seeds, control_iter : int
        Seeds (one known-optimum problem each) and predictor calls of the positive control
        (:mod:`._control`): the stated budget within which the kit's αβ-BO must reach the
        optimum.
    """

    init_rows: int | None
    n_iter: int
    seeds: int
    n_restarts: int
    refit_every: int
    n_trees: int
    n_repeats: int
    min_grid: int
    alphas: tuple[float, ...]
    betas: tuple[float, ...]
    omegas: tuple[float, ...]
    ablation_seeds: int
    ablation_iter: int
    control_seeds: int
    control_iter: int

    def __post_init__(self) -> None:
        _check_rows("init_rows", self.init_rows)
        for name in ("n_iter", "seeds", "refit_every", "n_trees", "n_repeats", "min_grid",
                     "ablation_seeds", "ablation_iter", "control_seeds", "control_iter"):
            check_int(name, getattr(self, name), min_value=1)
        check_int("n_restarts", self.n_restarts, min_value=0)
        for name in ("alphas", "betas", "omegas"):
            _check_grid(name, getattr(self, name))

    @classmethod
    def for_scale(cls, scale: str) -> SearchBudget:
        """The search budget of ``scale`` (see the table in the source).

        Raises
        ------
        ConfigError
            ``scale`` is not one of ``"smoke"``, ``"small"``, ``"paper"``.
        """
        return _SEARCH_BUDGETS[check_scale(scale)]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (tuples as lists), in field order."""
        return {f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v)
                for f in fields(self)}


_BUDGETS: Mapping[Scale, Budget] = {
    "smoke": Budget(n_trees=30, n_splits=3, n_repeats=3),
    "small": Budget(n_trees=300, n_splits=5, n_repeats=10),
    "paper": Budget(n_trees=500, n_splits=10, n_repeats=30),
}
_SEARCH_BUDGETS: Mapping[Scale, SearchBudget] = {
    "smoke": SearchBudget(init_rows=120, n_iter=8, seeds=3, n_restarts=1, refit_every=4,
                          n_trees=30, n_repeats=2, min_grid=500,
                          alphas=(0.0, 0.54), betas=(0.0, 1.01), omegas=(0.1, 1.0),
                          ablation_seeds=2, ablation_iter=14, control_seeds=6, control_iter=40),
    "small": SearchBudget(init_rows=400, n_iter=60, seeds=20, n_restarts=3, refit_every=20,
                          n_trees=300, n_repeats=5, min_grid=10_000,
                          alphas=(0.0, 0.54, 3.5), betas=(0.0, 1.01, 3.5),
                          omegas=(0.0, 0.1, 0.5), ablation_seeds=5, ablation_iter=100,
                          control_seeds=10, control_iter=60),
    "paper": SearchBudget(init_rows=None, n_iter=500, seeds=20, n_restarts=10,
                          refit_every=50, n_trees=300, n_repeats=10, min_grid=10_000,
                          alphas=(0.0, 0.54, 1.0, 2.0, 3.5), betas=(0.0, 0.5, 1.01, 2.0, 3.5),
                          omegas=(0.0, 0.1, 0.3, 0.5), ablation_seeds=10, ablation_iter=200,
                          control_seeds=20, control_iter=100),
}
class _ScaledBudget(Protocol):
    @classmethod
    def for_scale(cls, scale: str) -> Any: ...


_B = TypeVar("_B", bound=_ScaledBudget)


def resolve_budget(kind: type[_B], scale: Scale, budget: _B | None) -> _B:
    """``budget``, or ``kind.for_scale(scale)`` when it is None; the scale is checked either
    way.

    Raises
    ------
    ConfigError
        ``scale`` is not a scale, or ``budget`` is neither None nor a ``kind``.
    """
    check_scale(scale)
    if budget is None:
        return kind.for_scale(scale)
    if not isinstance(budget, kind):
        raise ConfigError("budget", type(budget).__name__, f"None or a {kind.__name__}")
    return budget
