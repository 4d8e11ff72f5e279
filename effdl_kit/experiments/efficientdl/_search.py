"""EfficientDL, second half: αβ-BO on the static predictor against baselines, and its ablation.

The setting is the paper's: the predictor (a random forest on the authors' data), the Top-5
components by grouped permutation importance, a grid over them built from the data (numeric:
quantiles; others: most frequent values) of at least ``min_grid`` candidates, every other
component at the data's median / mode, and the dataset's encoded rows as the GP's initial
observations. Every method gets the same predictor and the same number of predictor calls
(:data:`METHOD_RUNS` maps each name of :data:`METHODS` to its run):

``alpha_beta``     αβ-BO (α = 0.54, β = 1.01, Ω = 0.1), fast mode, dataset rows as prior data,
                   the authors' GP (unit-amplitude Matern, fixed noise 1e-5)
``alpha_beta_fn``  the same with the fitted-noise GP (amplitude x Matern + white noise): on the
                   authors' data, whose repeated configurations differ in accuracy, the
                   authors' GP collapses (length scale at its lower bound) and its argmax
                   degenerates to grid order; this one models the noise
``ei_bo``          plain EI-BO (EI only, Ω = 0), fitted-noise GP and the same prior data
``random``      uniform random candidates of the grid
``tpe``         Optuna's TPE sampler, one categorical parameter per component (no prior data)
``gp``          Optuna's GP sampler, same parameters (no prior data)

Results are small frames: :func:`compare_methods` gives best-so-far curves (one row per
method x seed x iteration), :func:`~._analysis.method_table` the final mean ± std and rank,
:func:`ablation` the best value over an α x β grid (at Ω = 0.1) and an Ω sweep.

Scaling out: :func:`compare_methods` takes a ``concurrent.futures.Executor`` (a Dask client's
``get_executor()``, a ``ProcessPoolExecutor``) and runs each (method, seed) as one job there;
:func:`~._study.run_alpha_beta_study` runs αβ-BO as an Optuna study (:class:`~effdl_kit.search.
AlphaBetaSampler`) on a shared storage — a journal file or an RDB URL such as PostgreSQL —
in local worker processes or on an executor, resuming what the storage already holds (see
:mod:`._study`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, Future, as_completed
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import optuna
import pandas as pd

from effdl_kit._core.errors import ConfigError
from effdl_kit._core.types import ProgressFn
from effdl_kit._core.validate import Scale, check_choice, check_executor, check_int
from effdl_kit.data import ComponentData
from effdl_kit.experiments.efficientdl._settings import (
    ABLATION_KERNEL,
    ALPHA_BETA_METHODS,
    METHOD_LABELS,
    METHODS,
    Method,
    SearchBudget,
    resolve_budget,
)
from effdl_kit.inspection import permutation_importance, top_components
from effdl_kit.models import make_predictor
from effdl_kit.search import (
    AlphaBetaBO,
    KernelName,
    PredictorProblem,
    base_row,
    grid_values,
    predictor_problem,
)

__all__ = [
    "METHOD_RUNS",
    "MethodRun",
    "SearchSetup",
    "ablation",
    "compare_methods",
    "prior_rows",
    "run_method",
    "search_setup",
]

#: ``callback(iteration, value)`` after each predictor call (iterations from 1)
Callback = Callable[[int, float], None]




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
        The Top-5 components, the searched ones.
    dataset : str
        Which component dataset the predictor was fitted on.
    """

    problem: PredictorProblem
    X0: np.ndarray
    y0: np.ndarray
    top: list[str]
    dataset: str

    def describe(self) -> dict[str, Any]:
        """JSON-ready description: components, their values, grid size, rows."""
        space = self.problem.space
        return {"dataset": self.dataset, "components": self.top,
                "values": {n: [plain_value(v) for v in vals]
                           for n, vals in zip(space.names, space.values, strict=True)},
                "n_candidates": space.n_candidates, "n_features": space.n_features,
                "n_rows": len(self.y0), "dataset_best": float(np.max(self.y0))}


def plain_value(v: Any) -> Any:
    """``v`` as a plain Python value (numpy scalars converted)."""
    return v.item() if isinstance(v, np.generic) else v


def search_setup(data: ComponentData, *, n_trees: int, n_repeats: int, seed: int,
                 min_grid: int = 10_000, top: Sequence[str] | None = None) -> SearchSetup:
    """Fit the predictor on ``data``, pick the Top-5, build the grid problem.

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
        Components to search instead of the Top-5 by importance.
    """
    check_int("n_trees", n_trees, min_value=1)
    check_int("n_repeats", n_repeats, min_value=1)
    check_int("min_grid", min_grid, min_value=1)
    X, y = data.xy()
    pipe = make_predictor(data, n_trees=n_trees, seed=seed).fit(X, y)
    enc = pipe[0]
    if top is None:
        imp = permutation_importance(pipe[-1], enc.transform(X), y, n_repeats=n_repeats,
                                     random_state=seed, groups=enc.feature_groups_)
        top = [str(n) for n in top_components(imp, k=5)["name"]]
    else:
        unknown = [c for c in top if c not in enc.feature_groups_]
        if unknown:
            raise ConfigError("top", unknown, sorted(enc.feature_groups_))
        top = list(top)
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
    problem = predictor_problem(pipe, comps, base_row(X, list(enc.columns_)))
    return SearchSetup(problem=problem, X0=problem.encode_rows(X),
                       y0=np.asarray(y, dtype=np.float64), top=top, dataset=data.name)


# ----------------------------------------------------------------------------- methods


class MethodRun(Protocol):
    """One search method's run: the values of its ``n_iter`` predictor calls and the search
    seconds of each (predictor calls excluded)."""

    def __call__(self, setup: SearchSetup, *, n_iter: int, seed: int, budget: SearchBudget,
                 init_rows: np.ndarray | None, alpha: float, beta: float, omega: float,
                 callback: Callback | None) -> tuple[list[float], list[float]]: ...


def _bo_run(setup: SearchSetup, *, n_iter: int, seed: int, budget: SearchBudget,
            init_rows: np.ndarray | None, callback: Callback | None, kernel: KernelName,
            **acquisition: Any) -> tuple[list[float], list[float]]:
    """AlphaBetaBO (fast mode) with the dataset rows ``init_rows`` (None: all) as prior data."""
    bo = AlphaBetaBO(setup.problem.space, refit_every=budget.refit_every,
                     n_restarts=budget.n_restarts, seed=seed, kernel=kernel, **acquisition)
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
    """αβ-BO with the authors' GP."""
    return _bo_run(setup, n_iter=n_iter, seed=seed, budget=budget, init_rows=init_rows,
                   callback=callback, kernel="authors", alpha=alpha, beta=beta, omega=omega)


def _alpha_beta_fn(setup: SearchSetup, *, n_iter: int, seed: int, budget: SearchBudget,
                   init_rows: np.ndarray | None, alpha: float, beta: float, omega: float,
                   callback: Callback | None) -> tuple[list[float], list[float]]:
    """αβ-BO with the fitted-noise GP."""
    return _bo_run(setup, n_iter=n_iter, seed=seed, budget=budget, init_rows=init_rows,
                   callback=callback, kernel="fitted_noise", alpha=alpha, beta=beta,
                   omega=omega)


def _ei_bo(setup: SearchSetup, *, n_iter: int, seed: int, budget: SearchBudget,
           init_rows: np.ndarray | None, alpha: float, beta: float, omega: float,
           callback: Callback | None) -> tuple[list[float], list[float]]:
    """Plain EI-BO (Ω = 0; α, β, Ω ignored), fitted-noise GP."""
    return _bo_run(setup, n_iter=n_iter, seed=seed, budget=budget, init_rows=init_rows,
                   callback=callback, kernel="fitted_noise", acquisition="ei", omega=0.0)


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
    """An Optuna study (ask/tell), one categorical parameter per searched component."""
    space = setup.problem.space
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    dists: dict[str, optuna.distributions.BaseDistribution] = {
        n: optuna.distributions.CategoricalDistribution([plain_value(v) for v in vals])
        for n, vals in zip(space.names, space.values, strict=True)}
    values, secs = [], []
    for _ in range(n_iter):
        t0 = time.perf_counter()
        trial = study.ask(dists)
        t1 = time.perf_counter()
        v = setup.problem.objective(dict(trial.params))
        t2 = time.perf_counter()
        study.tell(trial, v)
        values.append(v)
        secs.append((t1 - t0) + (time.perf_counter() - t2))
        if callback is not None:
            callback(len(values), v)
    return values, secs


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
    "alpha_beta": _alpha_beta, "alpha_beta_fn": _alpha_beta_fn, "ei_bo": _ei_bo,
    "random": _random, "tpe": _tpe, "gp": _optuna_gp,
}


def run_method(setup: SearchSetup, method: Method, *, n_iter: int, seed: int,
               budget: SearchBudget, init_rows: np.ndarray | None = None,
               alpha: float = 0.54, beta: float = 1.01, omega: float = 0.1,
               callback: Callback | None = None) -> tuple[list[float], list[float]]:
    """Values of the ``n_iter`` predictor calls of one method and seed, and search seconds.

    Parameters
    ----------
    setup : SearchSetup
        From :func:`search_setup`.
    method : str
        One of :data:`METHODS`.
    n_iter, seed : int
        Predictor calls and seed.
    budget : SearchBudget
        GP fitting (``refit_every``, ``n_restarts``) of the BO methods.
    init_rows : ndarray of int, optional
        Dataset rows given to the BO methods' GP (:func:`prior_rows`); None: all.
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

def prior_rows(setup: SearchSetup, n: int | None, seed: int) -> np.ndarray | None:
    """Indices of ``n`` dataset rows (seeded draw) given to the GP; None: all rows."""
    if n is None or n >= len(setup.y0):
        return None
    return np.sort(np.random.default_rng(seed).choice(len(setup.y0), size=n, replace=False))


#: one run of :func:`run_method`: (method, seed, α/β/Ω keyword arguments)
_Job = tuple[Method, int, dict[str, float]]


def _method_job(setup: SearchSetup, method: Method, seed: int, n_iter: int,
                budget: SearchBudget, init_rows: np.ndarray | None,
                acq: Mapping[str, float]) -> tuple[list[float], list[float]]:
    """One (method, seed[, α, β, Ω]) run; module-level, so executors pickle it.

    Returns
    -------
    values, secs : list of float
        As :func:`run_method`.
    """
    return run_method(setup, method, n_iter=n_iter, seed=seed, budget=budget,
                      init_rows=init_rows, alpha=float(acq.get("alpha", 0.54)),
                      beta=float(acq.get("beta", 1.01)), omega=float(acq.get("omega", 0.1)))


def _curve_frame(method: Method, seed: int, values: Sequence[float],
                 secs: Sequence[float]) -> pd.DataFrame:
    """Rows of one (method, seed) run: values, best so far, cumulative search seconds."""
    v = np.asarray(values, dtype=float)
    return pd.DataFrame({
        "method": method, "seed": seed, "iteration": np.arange(1, len(v) + 1), "value": v,
        "best_so_far": np.maximum.accumulate(np.where(np.isfinite(v), v, -np.inf)),
        "search_s": np.cumsum(np.asarray(secs, dtype=float))})


def _job_label(job: _Job) -> str:
    method, seed, acq = job
    extra = " ".join(f"{k}={v:g}" for k, v in acq.items())
    return f"{METHOD_LABELS[method]}{' ' + extra if extra else ''}, seed {seed}"


def _run_jobs(executor: Executor | None, setup: SearchSetup, jobs: Sequence[_Job], *,
              n_iter: int, budget: SearchBudget, progress: ProgressFn | None
              ) -> list[tuple[list[float], list[float]]]:
    """Run every job, in this process or on ``executor``; results in the order of ``jobs``.

    Progress: in-process before each job; on an executor as each job finishes (the label says
    whether it failed); then ``(total, total, "done")``.

    Raises
    ------
    RuntimeError
        On an executor, some jobs raised: after every other job finished, naming each failed
        job with its exception (the first one chained as the cause). In-process, a job's
        exception propagates at once.
    """
    total = len(jobs)
    results: dict[int, tuple[list[float], list[float]]] = {}
    if executor is None:
        for i, (m, s, acq) in enumerate(jobs):
            if progress is not None:
                progress(i, total, _job_label(jobs[i]))
            results[i] = _method_job(setup, m, s, n_iter, budget,
                                     prior_rows(setup, budget.init_rows, s), acq)
    else:
        futures: dict[Future[tuple[list[float], list[float]]], int] = {}
        try:
            for i, (m, s, acq) in enumerate(jobs):
                fut = executor.submit(_method_job, setup, m, s, n_iter, budget,
                                      prior_rows(setup, budget.init_rows, s), dict(acq))
                futures[fut] = i
        except BaseException:  # e.g. a shut-down executor: do not leave the first jobs running
            for fut in futures:
                fut.cancel()
            raise
        errors: dict[int, BaseException] = {}
        for done, fut in enumerate(as_completed(futures), start=1):
            i = futures[fut]
            try:
                results[i] = fut.result()
            except Exception as exc:  # keep collecting: the other jobs' results count too
                errors[i] = exc
                status = f"failed ({type(exc).__name__})"
            else:
                status = "done"
            if progress is not None:
                progress(done, total, f"{_job_label(jobs[i])}: {status}")
        if errors:
            lines = [f"{jobs[i][0]!r}, seed {jobs[i][1]}"
                     f"{' ' + str(jobs[i][2]) if jobs[i][2] else ''}: {type(e).__name__}: {e}"
                     for i, e in sorted(errors.items())]
            raise RuntimeError(f"{len(errors)} of {total} search jobs failed on the "
                               "executor:\n  " + "\n  ".join(lines)) from errors[min(errors)]
    if progress is not None:
        progress(total, total, "done")
    return [results[i] for i in range(total)]


def compare_methods(setup: SearchSetup, *, scale: Scale, seeds: Sequence[int] | None = None,
                    methods: Sequence[Method] = METHODS, n_iter: int | None = None,
                    progress: ProgressFn | None = None, executor: Executor | None = None,
                    budget: SearchBudget | None = None) -> pd.DataFrame:
    """Best-so-far curves of each method and seed on the same predictor and budget.

    Parameters
    ----------
    setup : SearchSetup
        From :func:`search_setup`.
    scale : {"smoke", "small", "paper"}
        Budget (:meth:`SearchBudget.for_scale`): initial GP rows, iterations, seeds, GP
        fitting.
    seeds : sequence of int, optional
        Default: ``0 .. budget.seeds - 1``.
    methods : sequence of str
        Among :data:`METHODS`.
    n_iter : int, optional
        Predictor calls per run; default: the budget's.
    progress : callable, optional
        ``progress(done, total, label)``. In-process: before each (method, seed) run, then
        ``(total, total, "done")``; with an executor: as each job finishes, in the order they
        finish (the label names the run and whether it failed), then ``(total, total,
        "done")``.
    executor : concurrent.futures.Executor, optional
        Runs each (method, seed) as one job (``setup`` is pickled into every job): a Dask
        client's ``get_executor()``, a ``ProcessPoolExecutor``... Default: one after another
        in this process. The frame is the same either way except ``search_s``.
    budget : SearchBudget, optional
        Instead of the scale's (e.g. ``dataclasses.replace(SearchBudget.for_scale(scale),
        init_rows=None)``).

    Returns
    -------
    pandas.DataFrame
        Columns ``method, seed, iteration, value, best_so_far, search_s`` (cumulative search
        seconds, predictor calls excluded), rows in (method, seed, iteration) order.

    Raises
    ------
    ConfigError
        A bad scale, method, seeds, n_iter or executor (before any run).
    RuntimeError
        With an executor, when some jobs raised: once every other job has finished, naming
        each failed (method, seed) and its exception (the first chained as the cause); no
        partial frame is returned. In-process, a run's exception propagates at once.
    """
    budget = resolve_budget(SearchBudget, scale, budget)
    for m in methods:
        check_choice("method", m, METHODS)
    seeds = list(range(budget.seeds)) if seeds is None else list(seeds)
    if not seeds:
        raise ConfigError("seeds", seeds, "at least one seed")
    n_iter = budget.n_iter if n_iter is None else check_int("n_iter", n_iter, min_value=1)
    check_executor(executor)
    jobs: list[_Job] = [(m, s, {}) for m in methods for s in seeds]
    results = _run_jobs(executor, setup, jobs, n_iter=n_iter, budget=budget,
                        progress=progress)
    return pd.concat([_curve_frame(m, s, values, secs)
                      for (m, s, _), (values, secs) in zip(jobs, results, strict=True)],
                     ignore_index=True)


def ablation(setup: SearchSetup, *, scale: Scale, progress: ProgressFn | None = None,
             executor: Executor | None = None,
             budget: SearchBudget | None = None) -> pd.DataFrame:
    """αβ-BO's final best over the α x β grid (Ω = 0.1) and over Ω (α = 0.54, β = 1.01).

    Runs with the fitted-noise GP (:data:`ABLATION_KERNEL`): with the authors' GP collapsed,
    α and β change nothing. ``executor``: each (α, β, Ω, seed) run is one job there, as in
    :func:`compare_methods` (same frame either way). ``budget``: instead of the scale's.

    Returns
    -------
    pandas.DataFrame
        Columns ``alpha, beta, omega, seed, best, part`` (``part``: "alpha_beta" or "omega").
    """
    b = resolve_budget(SearchBudget, scale, budget)
    check_executor(executor)
    runs = [("alpha_beta", a, bb, 0.1) for a in b.alphas for bb in b.betas]
    runs += [("omega", 0.54, 1.01, o) for o in b.omegas]
    method = ALPHA_BETA_METHODS[ABLATION_KERNEL]
    seeds = range(b.ablation_seeds)
    plan = [(part, a, bb, o, s) for part, a, bb, o in runs for s in seeds]
    jobs: list[_Job] = [(method, s, {"alpha": a, "beta": bb, "omega": o})
                        for _, a, bb, o, s in plan]
    results = _run_jobs(executor, setup, jobs, n_iter=b.ablation_iter, budget=b,
                        progress=progress)
    rows = []
    for (part, a, bb, o, s), (values, _) in zip(plan, results, strict=True):
        v = np.asarray(values, dtype=float)
        rows.append({"part": part, "alpha": a, "beta": bb, "omega": o, "seed": s,
                     "best": float(np.nanmax(v)) if np.isfinite(v).any() else math.nan})
    return pd.DataFrame(rows)
