"""The search methods of the EfficientDL study, one run each (:data:`METHOD_RUNS`).

Every method gets the same predictor, grid and number of predictor calls. They differ in the
prior information they are offered, stated here because it matters:

``alpha_beta_kit``  the kit's αβ-BO: :class:`~effdl_kit.search.AlphaBetaSampler` (cube engine:
                    ARD Matern 5/2 GP with fitted amplitude and noise on standardised targets,
                    α·EI + PI + β·σ² on normalised scales, argmax refined off the grid) in an
                    Optuna study; **no prior rows** (10 random start-up trials), incumbent =
                    the best value it evaluated
``alpha_beta``      the authors' choices in fast mode: :class:`~effdl_kit.search.AlphaBetaBO`
                    with their GP (unit-amplitude Matern, fixed noise 1e-5), the dataset's rows
                    as prior observations and f* = the best *label* (``incumbent="labels"``),
                    which the predictor never reaches; refits every ``refit_every`` calls
                    (the authors refit every call, far too slow for 20 seeds)
``alpha_beta_fn``   :class:`~effdl_kit.search.AlphaBetaBO` with the fitted-noise GP (amplitude x
                    Matern + white noise), the prior rows, f* = the best value evaluated
``ei_bo``           plain EI-BO (EI only, Ω = 0), the fitted-noise GP, prior rows, f* evaluated
``random``          uniform random grid candidates
``tpe``, ``gp``     Optuna's TPE and GP samplers, no prior rows

The Optuna-based methods (``alpha_beta_kit``, ``tpe``, ``gp``) see one parameter per searched
component (:func:`optuna_distributions`): a numeric component as the integer position of its
value in the ascending grid list (ordinal: neighbouring values are neighbours), any other as a
categorical parameter.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import numpy as np
import optuna

from effdl_kit._core.study import quiet_optuna
from effdl_kit._core.validate import check_choice
from effdl_kit.experiments.efficientdl._settings import METHODS, Method, SearchBudget
from effdl_kit.experiments.efficientdl._setup import SearchSetup, plain_value
from effdl_kit.search import AlphaBetaBO, AlphaBetaSampler, GridSpace, IncumbentName, KernelName

__all__ = [
    "METHOD_RUNS",
    "Callback",
    "MethodRun",
    "grid_config",
    "optuna_distributions",
    "run_method",
]

#: ``callback(iteration, value)`` after each predictor call (iterations from 1)
Callback = Callable[[int, float], None]


class MethodRun(Protocol):
    """One search method's run: the values of its ``n_iter`` predictor calls and the search
    seconds of each (predictor calls excluded)."""

    def __call__(self, setup: SearchSetup, *, n_iter: int, seed: int, budget: SearchBudget,
                 init_rows: np.ndarray | None, alpha: float, beta: float, omega: float,
                 callback: Callback | None) -> tuple[list[float], list[float]]: ...


def _is_ordinal(values: list[Any]) -> bool:
    """All numbers (not bools), strictly ascending."""
    nums = [plain_value(v) for v in values]
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in nums):
        return False
    return all(a < b for a, b in itertools.pairwise(nums))


def optuna_distributions(space: GridSpace) -> dict[str, optuna.distributions.BaseDistribution]:
    """One Optuna distribution per component: the index of a numeric value list (ascending)
    as an ``IntDistribution``, any other list as a ``CategoricalDistribution``."""
    out: dict[str, optuna.distributions.BaseDistribution] = {}
    for name, vals in zip(space.names, space.values, strict=True):
        values = list(vals)
        if len(values) > 1 and _is_ordinal(values):
            out[name] = optuna.distributions.IntDistribution(0, len(values) - 1)
        else:
            out[name] = optuna.distributions.CategoricalDistribution(
                [plain_value(v) for v in values])
    return out


def grid_config(space: GridSpace, params: Mapping[str, Any],
                dists: Mapping[str, optuna.distributions.BaseDistribution]) -> dict[str, Any]:
    """The grid configuration of an Optuna trial's parameters (indices mapped to values)."""
    out: dict[str, Any] = {}
    for name, vals in zip(space.names, space.values, strict=True):
        v = params[name]
        out[name] = (vals[int(v)] if isinstance(dists[name], optuna.distributions.IntDistribution)
                     else v)
    return out


def _bo_run(setup: SearchSetup, *, n_iter: int, seed: int, budget: SearchBudget,
            init_rows: np.ndarray | None, callback: Callback | None, kernel: KernelName,
            incumbent: IncumbentName, **acquisition: Any) -> tuple[list[float], list[float]]:
    """AlphaBetaBO (fast mode) with the dataset rows ``init_rows`` (None: all) as prior data."""
    bo = AlphaBetaBO(setup.problem.space, refit_every=budget.refit_every,
                     n_restarts=budget.n_restarts, seed=seed, kernel=kernel,
                     incumbent=incumbent, **acquisition)
    rows = slice(None) if init_rows is None else init_rows
    bo.tell_features(setup.X0[rows], setup.y0[rows])
    res = bo.optimize(setup.problem.objective, n_iter, callback=None if callback is None else
                      (lambda it, row: callback(it + 1, float(row["value"]))))
    h = res.history
    return (h["value"].astype(float).tolist(),
            (h["ask_s"] + h["tell_s"]).astype(float).tolist())


def _alpha_beta(setup: SearchSetup, *, n_iter: int, seed: int, budget: SearchBudget,
                init_rows: np.ndarray | None, alpha: float, beta: float, omega: float,
                callback: Callback | None) -> tuple[list[float], list[float]]:
    """αβ-BO with the authors' GP and incumbent."""
    return _bo_run(setup, n_iter=n_iter, seed=seed, budget=budget, init_rows=init_rows,
                   callback=callback, kernel="authors", incumbent="labels", alpha=alpha,
                   beta=beta, omega=omega)


def _alpha_beta_fn(setup: SearchSetup, *, n_iter: int, seed: int, budget: SearchBudget,
                   init_rows: np.ndarray | None, alpha: float, beta: float, omega: float,
                   callback: Callback | None) -> tuple[list[float], list[float]]:
    """αβ-BO with the fitted-noise GP, f* = the best value evaluated."""
    return _bo_run(setup, n_iter=n_iter, seed=seed, budget=budget, init_rows=init_rows,
                   callback=callback, kernel="fitted_noise", incumbent="evaluated",
                   alpha=alpha, beta=beta, omega=omega)


def _ei_bo(setup: SearchSetup, *, n_iter: int, seed: int, budget: SearchBudget,
           init_rows: np.ndarray | None, alpha: float, beta: float, omega: float,
           callback: Callback | None) -> tuple[list[float], list[float]]:
    """Plain EI-BO (Ω = 0; α, β, Ω ignored), fitted-noise GP."""
    return _bo_run(setup, n_iter=n_iter, seed=seed, budget=budget, init_rows=init_rows,
                   callback=callback, kernel="fitted_noise", incumbent="evaluated",
                   acquisition="ei", omega=0.0)


def _random(setup: SearchSetup, *, n_iter: int, seed: int, budget: SearchBudget,
            init_rows: np.ndarray | None, alpha: float, beta: float, omega: float,
            callback: Callback | None) -> tuple[list[float], list[float]]:
    """Uniform random candidates of the grid (seeded)."""
    space = setup.problem.space
    rng = np.random.default_rng(seed)
    values: list[float] = []
    secs: list[float] = []
    for _ in range(n_iter):
        t0 = time.perf_counter()
        k = int(rng.integers(space.n_candidates))
        secs.append(time.perf_counter() - t0)
        values.append(setup.problem.objective(space.config(k)))
        if callback is not None:
            callback(len(values), values[-1])
    return values, secs


def _optuna_run(setup: SearchSetup, sampler: optuna.samplers.BaseSampler, n_iter: int,
                callback: Callback | None) -> tuple[list[float], list[float]]:
    """An Optuna study (ask/tell) over :func:`optuna_distributions` of the grid."""
    space = setup.problem.space
    dists = optuna_distributions(space)
    values, secs = [], []
    with quiet_optuna():
        study = optuna.create_study(direction="maximize", sampler=sampler)
        for _ in range(n_iter):
            t0 = time.perf_counter()
            trial = study.ask(dists)
            t1 = time.perf_counter()
            v = setup.problem.objective(grid_config(space, trial.params, dists))
            t2 = time.perf_counter()
            study.tell(trial, v)
            values.append(v)
            secs.append((t1 - t0) + (time.perf_counter() - t2))
            if callback is not None:
                callback(len(values), v)
    return values, secs


def _alpha_beta_kit(setup: SearchSetup, *, n_iter: int, seed: int, budget: SearchBudget,
                    init_rows: np.ndarray | None, alpha: float, beta: float, omega: float,
                    callback: Callback | None) -> tuple[list[float], list[float]]:
    """The kit's αβ-BO sampler in an Optuna study (no prior rows)."""
    sampler = AlphaBetaSampler(alpha=alpha, beta=beta, omega=omega, seed=seed)
    return _optuna_run(setup, sampler, n_iter, callback)


def _tpe(setup: SearchSetup, *, n_iter: int, seed: int, budget: SearchBudget,
         init_rows: np.ndarray | None, alpha: float, beta: float, omega: float,
         callback: Callback | None) -> tuple[list[float], list[float]]:
    """Optuna's TPE sampler (no prior data)."""
    return _optuna_run(setup, optuna.samplers.TPESampler(seed=seed), n_iter, callback)


def _optuna_gp(setup: SearchSetup, *, n_iter: int, seed: int, budget: SearchBudget,
               init_rows: np.ndarray | None, alpha: float, beta: float, omega: float,
               callback: Callback | None) -> tuple[list[float], list[float]]:
    """Optuna's GP sampler (no prior data)."""
    return _optuna_run(setup, optuna.samplers.GPSampler(seed=seed), n_iter, callback)


#: method name -> its run
METHOD_RUNS: dict[Method, MethodRun] = {
    "alpha_beta_kit": _alpha_beta_kit, "alpha_beta": _alpha_beta,
    "alpha_beta_fn": _alpha_beta_fn, "ei_bo": _ei_bo, "random": _random, "tpe": _tpe,
    "gp": _optuna_gp,
}


def run_method(setup: SearchSetup, method: Method, *, n_iter: int, seed: int,
               budget: SearchBudget, init_rows: np.ndarray | None = None,
               alpha: float = 0.54, beta: float = 1.01, omega: float = 0.1,
               callback: Callback | None = None) -> tuple[list[float], list[float]]:
    """Values of the ``n_iter`` predictor calls of one method and seed, and search seconds.

    Parameters
    ----------
    setup : SearchSetup
        From :func:`~._setup.search_setup`.
    method : str
        One of :data:`METHODS`.
    n_iter, seed : int
        Predictor calls and seed.
    budget : SearchBudget
        GP fitting (``refit_every``, ``n_restarts``) of the grid BO methods.
    init_rows : ndarray of int, optional
        Dataset rows given to the grid BO methods' GP (:func:`~._setup.prior_rows`); None: all.
    alpha, beta, omega : float
        αβ-BO's weights and random-draw rate (the αβ-BO methods only).
    callback : callable, optional
        ``callback(iteration, value)`` (iterations from 1) after each predictor call.

    Returns
    -------
    values, secs : list of float
        One per predictor call.

    Raises
    ------
    ConfigError
        An unknown method.
    """
    check_choice("method", method, METHODS)
    return METHOD_RUNS[method](setup, n_iter=n_iter, seed=seed, budget=budget,
                               init_rows=init_rows, alpha=alpha, beta=beta, omega=omega,
                               callback=callback)
