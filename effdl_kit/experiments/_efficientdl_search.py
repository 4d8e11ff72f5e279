"""EfficientDL, second half: αβ-BO on the static predictor against baselines, and its ablation.

The setting is the paper's: the predictor (a random forest on the authors' data), the Top-5
components by grouped permutation importance, a grid over them built from the data (numeric:
quantiles; others: most frequent values) of at least ``min_grid`` candidates, every other
component at the data's median / mode, and the dataset's encoded rows as the GP's initial
observations. Every method gets the same predictor and the same number of predictor calls:

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
method x seed x iteration), :func:`method_table` the final mean ± std and rank,
:func:`ablation` the best value over an α x β grid (at Ω = 0.1) and an Ω sweep.

Scaling out: :func:`compare_methods` takes a ``concurrent.futures.Executor`` (a Dask client's
``get_executor()``, a ``ProcessPoolExecutor``) and runs each (method, seed) as one job there;
:func:`run_alpha_beta_study` runs αβ-BO as an Optuna study (:class:`~effdl_kit.search.
AlphaBetaSampler`) on a shared storage — a journal file or an RDB URL such as PostgreSQL —
in local worker processes or on an executor, resuming what the storage already holds.
"""

from __future__ import annotations

import inspect
import math
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, Future, as_completed
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from effdl_kit._core.errors import ConfigError
from effdl_kit._core.validate import check_choice, check_executor, check_int, check_scale

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from effdl_kit._core.storage import StudyRun
    from effdl_kit.experiments.efficientdl import ComponentData
    from effdl_kit.search import PredictorProblem

__all__ = [
    "ABLATION_KERNEL",
    "METHODS",
    "METHOD_LABELS",
    "SEARCH_BUDGETS",
    "SearchSetup",
    "ablation",
    "ablation_tables",
    "compare_methods",
    "method_table",
    "plot_ablation",
    "plot_search_curves",
    "prior_rows",
    "run_alpha_beta_study",
    "run_method",
    "search_setup",
]

METHODS: tuple[str, ...] = ("alpha_beta", "alpha_beta_fn", "ei_bo", "random", "tpe", "gp")
METHOD_LABELS: dict[str, str] = {
    "alpha_beta": "αβ-BO (authors' GP)", "alpha_beta_fn": "αβ-BO (fitted-noise GP)",
    "ei_bo": "EI-BO", "random": "random", "tpe": "Optuna TPE", "gp": "Optuna GP",
}
#: GP kernel of the ablation (the authors' GP collapses on their data: see the module docs)
ABLATION_KERNEL = "fitted_noise"
#: per scale: initial rows given to the GP (None: all), iterations, seeds, GP fitting,
#: predictor trees, grid size, ablation grid and budget
SEARCH_BUDGETS: dict[str, dict[str, Any]] = {
    "smoke": {"init_rows": 120, "n_iter": 8, "seeds": 2, "n_restarts": 1, "refit_every": 4,
              "n_trees": 30, "n_repeats": 2, "min_grid": 500,
              "alphas": (0.0, 0.54), "betas": (0.0, 1.01), "omegas": (0.0, 0.1),
              "ablation_seeds": 1, "ablation_iter": 4},
    "small": {"init_rows": 400, "n_iter": 60, "seeds": 10, "n_restarts": 3, "refit_every": 20,
              "n_trees": 300, "n_repeats": 5, "min_grid": 10_000,
              "alphas": (0.0, 0.54, 1.01, 2.0, 3.5), "betas": (0.0, 1.01, 3.5),
              "omegas": (0.0, 0.1, 0.3), "ablation_seeds": 2, "ablation_iter": 20},
    "paper": {"init_rows": None, "n_iter": 500, "seeds": 10, "n_restarts": 10,
              "refit_every": 50, "n_trees": 300, "n_repeats": 10, "min_grid": 10_000,
              "alphas": (0.0, 0.54, 1.0, 2.0, 3.5), "betas": (0.0, 0.5, 1.01, 2.0, 3.5),
              "omegas": (0.0, 0.1, 0.3, 0.5), "ablation_seeds": 5, "ablation_iter": 200},
}
ProgressFn = Callable[[int, int, str], None]


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
                "values": {n: [_plain(v) for v in vals]
                           for n, vals in zip(space.names, space.values, strict=True)},
                "n_candidates": space.n_candidates, "n_features": space.n_features,
                "n_rows": len(self.y0), "dataset_best": float(np.max(self.y0))}


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def search_setup(data: ComponentData, *, n_trees: int, n_repeats: int, seed: int,
                 min_grid: int = 10_000, top: Sequence[str] | None = None) -> SearchSetup:
    """Fit the predictor on ``data``, pick the Top-5, build the grid problem.

    Parameters
    ----------
    data : ComponentData
        From :func:`~effdl_kit.experiments.efficientdl.load_component_data`.
    n_trees, n_repeats, seed : int
        Forest size, permutation repeats and seed.
    min_grid : int
        Grow the per-component value lists (one value at a time, round robin) until the grid
        has at least this many candidates or no list can grow.
    top : sequence of str, optional
        Components to search instead of the Top-5 by importance.
    """
    from effdl_kit.experiments.efficientdl import make_predictor
    from effdl_kit.inspection import permutation_importance, top_components
    from effdl_kit.search import base_row, grid_values, predictor_problem

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


def _optuna_run(setup: SearchSetup, method: str, n_iter: int, seed: int,
                callback: Callable[[int, float], None] | None = None
                ) -> tuple[list[float], list[float]]:
    import optuna

    space = setup.problem.space
    sampler: optuna.samplers.BaseSampler
    if method == "tpe":
        sampler = optuna.samplers.TPESampler(seed=seed)
    else:
        sampler = optuna.samplers.GPSampler(seed=seed)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    dists: dict[str, optuna.distributions.BaseDistribution] = {
        n: optuna.distributions.CategoricalDistribution([_plain(v) for v in vals])
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


def run_method(setup: SearchSetup, method: str, *, n_iter: int, seed: int,
               budget: Mapping[str, Any], init_rows: np.ndarray | None = None,
               alpha: float = 0.54, beta: float = 1.01, omega: float = 0.1,
               callback: Callable[[int, float], None] | None = None
               ) -> tuple[list[float], list[float]]:
    """Values of the ``n_iter`` predictor calls of one method and seed, and search seconds.

    ``callback(iteration, value)`` (iterations from 1) runs after each predictor call.
    """
    from effdl_kit.search import AlphaBetaBO

    check_choice("method", method, METHODS)
    space = setup.problem.space
    fn = setup.problem.objective
    if method in ("alpha_beta", "alpha_beta_fn", "ei_bo"):
        kw: dict[str, Any] = (
            {"alpha": alpha, "beta": beta, "omega": omega} if method != "ei_bo"
            else {"acquisition": "ei", "omega": 0.0})
        kw["kernel"] = "authors" if method == "alpha_beta" else "fitted_noise"
        bo = AlphaBetaBO(space, refit_every=int(budget["refit_every"]),
                         n_restarts=int(budget["n_restarts"]), seed=seed, **kw)
        rows = slice(None) if init_rows is None else init_rows
        bo.tell_features(setup.X0[rows], setup.y0[rows])
        res = bo.optimize(fn, n_iter, callback=None if callback is None else
                          (lambda it, row: callback(it + 1, float(row["value"]))))
        h = res.history
        return (h["value"].astype(float).tolist(),
                (h["ask_s"] + h["tell_s"]).astype(float).tolist())
    if method == "random":
        rng = np.random.default_rng(seed)
        values, secs = [], []
        for _ in range(n_iter):
            t0 = time.perf_counter()
            k = int(rng.integers(space.n_candidates))
            secs.append(time.perf_counter() - t0)
            values.append(fn(space.config(k)))
            if callback is not None:
                callback(len(values), values[-1])
        return values, secs
    return _optuna_run(setup, method, n_iter, seed, callback)


def prior_rows(setup: SearchSetup, n: int | None, seed: int) -> np.ndarray | None:
    """Indices of ``n`` dataset rows (seeded draw) given to the GP; None: all rows."""
    if n is None or n >= len(setup.y0):
        return None
    return np.sort(np.random.default_rng(seed).choice(len(setup.y0), size=n, replace=False))


#: one run of :func:`run_method`: (method, seed, α/β/Ω keyword arguments)
_Job = tuple[str, int, dict[str, float]]


def _method_job(setup: SearchSetup, method: str, seed: int, n_iter: int,
                budget: Mapping[str, Any], init_rows: np.ndarray | None,
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


def _curve_frame(method: str, seed: int, values: Sequence[float],
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
              n_iter: int, budget: Mapping[str, Any], progress: ProgressFn | None
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
                                     prior_rows(setup, budget["init_rows"], s), acq)
    else:
        futures: dict[Future[tuple[list[float], list[float]]], int] = {}
        try:
            for i, (m, s, acq) in enumerate(jobs):
                fut = executor.submit(_method_job, setup, m, s, n_iter, dict(budget),
                                      prior_rows(setup, budget["init_rows"], s), dict(acq))
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


def compare_methods(setup: SearchSetup, *, scale: str, seeds: Sequence[int] | None = None,
                    methods: Sequence[str] = METHODS, n_iter: int | None = None,
                    progress: ProgressFn | None = None,
                    executor: Executor | None = None) -> pd.DataFrame:
    """Best-so-far curves of each method and seed on the same predictor and budget.

    Parameters
    ----------
    setup : SearchSetup
        From :func:`search_setup`.
    scale : {"smoke", "small", "paper"}
        Budget (:data:`SEARCH_BUDGETS`): initial GP rows, iterations, seeds, GP fitting.
    seeds : sequence of int, optional
        Default: ``0 .. budget["seeds"] - 1``.
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
    check_scale(scale)
    budget = SEARCH_BUDGETS[scale]
    for m in methods:
        check_choice("method", m, METHODS)
    seeds = list(range(int(budget["seeds"]))) if seeds is None else list(seeds)
    if not seeds:
        raise ConfigError("seeds", seeds, "at least one seed")
    n_iter = int(budget["n_iter"]) if n_iter is None else check_int("n_iter", n_iter,
                                                                    min_value=1)
    check_executor(executor)
    jobs: list[_Job] = [(m, s, {}) for m in methods for s in seeds]
    results = _run_jobs(executor, setup, jobs, n_iter=n_iter, budget=budget,
                        progress=progress)
    return pd.concat([_curve_frame(m, s, values, secs)
                      for (m, s, _), (values, secs) in zip(jobs, results, strict=True)],
                     ignore_index=True)


# ----------------------------------------------------------------------------- Optuna study


def _optuna_choice(name: str, value: Any) -> bool | int | float | str | None:
    """A grid value as a plain Python value Optuna can store in a categorical distribution."""
    v = _plain(value)
    if v is None or isinstance(v, bool | int | float | str):
        return v
    raise ConfigError(f"setup.problem.space.values[{name!r}]", value,
                      "grid values Optuna can store: None, bool, int, float or str "
                      "(numpy scalars are converted)")


class _GridObjective:
    """Picklable Optuna objective: the setup's predictor at one choice per searched component.

    Parameters
    ----------
    setup : SearchSetup
        Its ``problem.space`` gives the components and their grid values (one categorical
        parameter each, values converted to plain Python types).
    """

    def __init__(self, setup: SearchSetup) -> None:
        space = setup.problem.space
        self.setup = setup
        self.choices: dict[str, list[bool | int | float | str | None]] = {
            str(n): [_optuna_choice(str(n), v) for v in vals]
            for n, vals in zip(space.names, space.values, strict=True)}

    def __call__(self, trial: Any) -> float:
        """The predicted accuracy of the trial's configuration (the study maximises it)."""
        config = {n: trial.suggest_categorical(n, c) for n, c in self.choices.items()}
        return float(self.setup.problem.objective(config))


def run_alpha_beta_study(setup: SearchSetup, *, study_name: str, storage: Any, n_trials: int,
                         n_workers: int = 1, executor: Executor | None = None, seed: int = 0,
                         storage_kwargs: Mapping[str, Any] | None = None,
                         **sampler_kwargs: Any) -> StudyRun:
    """αβ-BO on the setup's predictor as an Optuna study on a shared storage.

    The study (direction maximize) has one categorical parameter per searched component, its
    grid values as choices (plain Python values), and the predictor as objective; trials are
    sampled by :class:`~effdl_kit.search.AlphaBetaSampler` and run by
    :func:`effdl_kit._core.storage.run_study`: created when missing, resumed when the storage
    holds it (finished trials are kept), run in local worker processes or on an executor.
    Unlike :func:`run_method`, the sampler gets no dataset rows as prior data: it starts with
    ``n_startup_trials`` random trials.

    Parameters
    ----------
    setup : SearchSetup
        From :func:`search_setup`; pickled into every worker.
    study_name : str
        Non-empty.
    storage : str, Path or optuna.storages.BaseStorage
        A journal-file path, an RDB URL (``postgresql+psycopg://user@host:5432/db``) or a
        storage (see :func:`effdl_kit._core.storage.make_storage`); a path or URL when
        workers run in other processes.
    n_trials : int
        Finished trials the study should hold at the end (>= 1; a few more when several
        workers finish at once).
    n_workers : int
        Worker processes (or executor jobs), each loading the study and optimising (>= 1).
        ``1`` without an executor runs in this process.
    executor : concurrent.futures.Executor, optional
        Where the workers run (a Dask client's ``get_executor()``). Default: local processes.
    seed : int
        Worker ``k``'s sampler gets seed ``seed + k`` (>= 0). With one worker the trials are
        the same wherever it runs.
    storage_kwargs : mapping, optional
        Keyword arguments of :func:`~effdl_kit._core.storage.make_storage` (RDB heartbeat:
        ``heartbeat_interval``, ``grace_period``, ``retries``).
    **sampler_kwargs
        :class:`~effdl_kit.search.AlphaBetaSampler` arguments other than ``seed`` (``alpha``,
        ``beta``, ``omega``, ``n_startup_trials``, ``max_observations``...).

    Returns
    -------
    StudyRun
        The study's finished trials by state, and the reasons of the failed ones.

    Raises
    ------
    ConfigError
        Any bad argument, naming it, before any trial runs.
    """
    from effdl_kit._core.storage import make_storage, run_study
    from effdl_kit.search import AlphaBetaSampler, sampler_factory

    if not isinstance(setup, SearchSetup):
        raise ConfigError("setup", type(setup).__name__, "a SearchSetup (see search_setup)")
    if not isinstance(study_name, str) or not study_name.strip():
        raise ConfigError("study_name", study_name, "a non-empty string")
    n_trials = check_int("n_trials", n_trials, min_value=1)
    n_workers = check_int("n_workers", n_workers, min_value=1)
    seed = check_int("seed", seed, min_value=0)
    check_executor(executor)
    storage_kw = _keyword_args("storage_kwargs", storage_kwargs, make_storage, skip=("storage",))
    sampler_kw = _keyword_args("sampler_kwargs", sampler_kwargs, AlphaBetaSampler.__init__,
                               skip=("self", "seed"))
    factory = sampler_factory(**sampler_kw)  # checks the values, naming the field
    objective = _GridObjective(setup)
    return run_study(study_name, objective, storage=storage, n_trials=n_trials,
                     n_workers=n_workers, direction="maximize", sampler_factory=factory,
                     seed=seed, executor=executor, storage_kwargs=storage_kw)


def _keyword_args(field: str, kwargs: Mapping[str, Any] | None, fn: Callable[..., Any], *,
                  skip: Sequence[str]) -> dict[str, Any]:
    """``kwargs`` as a dict, checked to be keyword arguments of ``fn`` other than ``skip``."""
    if kwargs is None:
        return {}
    allowed = [p for p in inspect.signature(fn).parameters if p not in skip]
    if not isinstance(kwargs, Mapping):
        raise ConfigError(field, kwargs, f"None or a mapping with keys among {allowed}")
    unknown = sorted(str(k) for k in kwargs if k not in allowed)
    if unknown:
        raise ConfigError(field, unknown, f"keys among {allowed}")
    return dict(kwargs)


def method_table(curves: pd.DataFrame) -> pd.DataFrame:
    """Final best value per method: mean, std over seeds, rank (1 = highest mean), time."""
    last = curves.sort_values("iteration").groupby(["method", "seed"]).tail(1)
    g = last.groupby("method")
    table = pd.DataFrame({
        "best mean": g["best_so_far"].mean(), "best std": g["best_so_far"].std(ddof=1),
        "seeds": g["seed"].nunique(), "search s (mean)": g["search_s"].mean(),
    })
    table["rank"] = table["best mean"].rank(ascending=False, method="min").astype(int)
    table = table.sort_values("rank")
    table.index = [METHOD_LABELS.get(str(m), str(m)) for m in table.index]
    table.index.name = "method"
    return table.reset_index()


def ablation(setup: SearchSetup, *, scale: str, progress: ProgressFn | None = None,
             executor: Executor | None = None) -> pd.DataFrame:
    """αβ-BO's final best over the α x β grid (Ω = 0.1) and over Ω (α = 0.54, β = 1.01).

    Runs with the fitted-noise GP (:data:`ABLATION_KERNEL`): with the authors' GP collapsed,
    α and β change nothing. ``executor``: each (α, β, Ω, seed) run is one job there, as in
    :func:`compare_methods` (same frame either way).

    Returns
    -------
    pandas.DataFrame
        Columns ``alpha, beta, omega, seed, best, part`` (``part``: "alpha_beta" or "omega").
    """
    check_scale(scale)
    check_executor(executor)
    b = SEARCH_BUDGETS[scale]
    runs = [("alpha_beta", a, bb, 0.1) for a in b["alphas"] for bb in b["betas"]]
    runs += [("omega", 0.54, 1.01, o) for o in b["omegas"]]
    method = "alpha_beta_fn" if ABLATION_KERNEL == "fitted_noise" else "alpha_beta"
    seeds = range(int(b["ablation_seeds"]))
    plan = [(part, a, bb, o, s) for part, a, bb, o in runs for s in seeds]
    jobs: list[_Job] = [(method, s, {"alpha": a, "beta": bb, "omega": o})
                        for _, a, bb, o, s in plan]
    results = _run_jobs(executor, setup, jobs, n_iter=int(b["ablation_iter"]), budget=b,
                        progress=progress)
    rows = []
    for (part, a, bb, o, s), (values, _) in zip(plan, results, strict=True):
        v = np.asarray(values, dtype=float)
        rows.append({"part": part, "alpha": a, "beta": bb, "omega": o, "seed": s,
                     "best": float(np.nanmax(v)) if np.isfinite(v).any() else math.nan})
    return pd.DataFrame(rows)


def ablation_tables(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(α x β pivot of the mean best, Ω table with mean and std)."""
    ab = frame[frame["part"] == "alpha_beta"].pivot_table(index="alpha", columns="beta",
                                                          values="best", aggfunc="mean")
    om = frame[frame["part"] == "omega"].groupby("omega")["best"].agg(["mean", "std"])
    return ab, om.reset_index()


# ----------------------------------------------------------------------------- draw


def plot_search_curves(curves: pd.DataFrame, *, ax: Axes) -> Axes:
    """Mean best-so-far per method with a ±1 std band over seeds."""
    for i, (m, g) in enumerate(curves.groupby("method", sort=False)):
        stats = g.groupby("iteration")["best_so_far"].agg(["mean", "std"]).fillna(0.0)
        it = stats.index.to_numpy()
        color = f"C{i}"
        ax.plot(it, stats["mean"], color=color, lw=1.2,
                label=METHOD_LABELS.get(str(m), str(m)))
        ax.fill_between(it, stats["mean"] - stats["std"], stats["mean"] + stats["std"],
                        color=color, alpha=0.15, lw=0)
    ax.set_xlabel("predictor calls")
    ax.set_ylabel("best predicted Top-1")
    ax.legend(fontsize="small", frameon=False)
    return ax


def plot_ablation(frame: pd.DataFrame, *, ax: Axes) -> Axes:
    """Heatmap of αβ-BO's mean final best over α (rows) and β (columns), Ω = 0.1."""
    ab, _ = ablation_tables(frame)
    data = ab.to_numpy(dtype=float)
    im = ax.imshow(data, origin="lower", aspect="auto", cmap="viridis")
    ax.set_xticks(range(ab.shape[1]), [f"{b:g}" for b in ab.columns])
    ax.set_yticks(range(ab.shape[0]), [f"{a:g}" for a in ab.index])
    for i in range(data.shape[0]):
        for j in range(data.shape[1]):
            if np.isfinite(data[i, j]):
                ax.text(j, i, f"{data[i, j]:.3f}", ha="center", va="center", fontsize=6,
                        color="w")
    ax.set_xlabel("β")
    ax.set_ylabel("α")
    ax.figure.colorbar(im, ax=ax, label="best predicted Top-1")
    return ax
