"""EfficientDL, second half: αβ-BO on the static predictor against baselines, and its ablation.

The problem (:mod:`._setup`): the predictor (a random forest on the authors' data), the Top-5
components a user controls by grouped permutation importance (data and hardware components
held at the target task's value; ``components="all"`` is the paper's setting), a grid over
them built from the data, and its exhaustive maximum, the reference of the **simple regret**.
Every method (:mod:`._methods`, :data:`~._methods.METHOD_RUNS`) gets the same predictor, grid
and number of predictor calls; the prior information each is offered is stated there.

Results are small frames: :func:`compare_methods` gives best-so-far curves and regrets (one row
per method x seed x iteration); :mod:`._regret` turns them into the regret table with bootstrap
intervals and the verdicts; :func:`ablation` gives the final regret of the kit's αβ-BO
(:data:`~._settings.ABLATION_METHOD`) over an α x β grid (at Ω = 0.1) and an Ω sweep (at
α = 0.54, β = 1.01), in the units the kit uses (its normalised acquisition).

Scaling out: :func:`compare_methods` and :func:`ablation` take a ``concurrent.futures.Executor``
(a Dask client's ``get_executor()``, a ``ProcessPoolExecutor``) and run each (method, seed) as one
job there; :func:`~._study.run_alpha_beta_study` runs αβ-BO as an Optuna study
(:class:`~effdl_kit.search.AlphaBetaSampler`) on a shared storage — a journal file or an RDB URL
such as PostgreSQL — in local worker processes or on an executor, resuming what the storage
already holds (see :mod:`._study`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor, Future, as_completed

import numpy as np
import pandas as pd

from effdl_kit._core.errors import ConfigError
from effdl_kit._core.types import ProgressFn
from effdl_kit._core.validate import Scale, check_choice, check_executor, check_int
from effdl_kit.experiments.efficientdl._control import known_optimum_setup
from effdl_kit.experiments.efficientdl._methods import run_method
from effdl_kit.experiments.efficientdl._settings import (
    ABLATION_METHOD,
    METHOD_LABELS,
    METHODS,
    Method,
    SearchBudget,
    resolve_budget,
)
from effdl_kit.experiments.efficientdl._setup import SearchSetup, prior_rows

__all__ = ["ablation", "compare_methods", "positive_control"]


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


def _curve_frame(setup: SearchSetup, method: Method, seed: int, values: Sequence[float],
                 secs: Sequence[float]) -> pd.DataFrame:
    """Rows of one (method, seed) run: values, best so far, its regret, cumulative search
    seconds."""
    v = np.asarray(values, dtype=float)
    best = np.maximum.accumulate(np.where(np.isfinite(v), v, -np.inf))
    return pd.DataFrame({
        "method": method, "seed": seed, "iteration": np.arange(1, len(v) + 1), "value": v,
        "best_so_far": best, "regret": setup.regret(best),
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
        Columns ``method, seed, iteration, value, best_so_far, regret, search_s`` (regret:
        ``setup.grid_max − best_so_far``; ``search_s``: cumulative search
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
    return pd.concat([_curve_frame(setup, m, s, values, secs)
                      for (m, s, _), (values, secs) in zip(jobs, results, strict=True)],
                     ignore_index=True)


def ablation(setup: SearchSetup, *, scale: Scale, progress: ProgressFn | None = None,
             executor: Executor | None = None,
             budget: SearchBudget | None = None) -> pd.DataFrame:
    """The kit's αβ-BO over the α x β grid (Ω = 0.1) and over Ω (α = 0.54, β = 1.01).

    Runs :data:`ABLATION_METHOD` (the kit's sampler, whose acquisition terms are on normalised
    scales, so α and β weigh comparable quantities) for ``budget.ablation_seeds`` seeds x
    ``budget.ablation_iter`` predictor calls per cell. The default cell (α = 0.54, β = 1.01,
    Ω = 0.1) is always run; every run is compared with the default cell's run of the same seed
    (``same_path``: the same predictor values in the same order, i.e. the cell's α, β, Ω did
    not change a single pick). ``executor``: each (cell, seed) run is one job there, as in
    :func:`compare_methods` (same frame either way). ``budget``: instead of the scale's.

    Returns
    -------
    pandas.DataFrame
        Columns ``part, alpha, beta, omega, seed, best, regret, same_path`` (``part``:
        "alpha_beta" for the grid, "omega" for the sweep; the default cell appears in both).
    """
    b = resolve_budget(SearchBudget, scale, budget)
    check_executor(executor)
    default = (0.54, 1.01, 0.1)
    cells = [(a, bb, 0.1) for a in b.alphas for bb in b.betas]
    cells += [(0.54, 1.01, o) for o in b.omegas]
    cells = list(dict.fromkeys([default, *cells]))  # unique, default first
    seeds = list(range(b.ablation_seeds))
    plan = [(cell, s) for cell in cells for s in seeds]
    jobs: list[_Job] = [(ABLATION_METHOD, s, {"alpha": a, "beta": bb, "omega": o})
                        for (a, bb, o), s in plan]
    results = _run_jobs(executor, setup, jobs, n_iter=b.ablation_iter, budget=b,
                        progress=progress)
    values = {key: np.asarray(v, dtype=float) for key, (v, _) in zip(plan, results, strict=True)}
    rows = []
    parts = [("alpha_beta", c) for c in cells if c[2] == 0.1 and c[0] in b.alphas
             and c[1] in b.betas]
    parts += [("omega", c) for c in cells if c[:2] == (0.54, 1.01) and c[2] in b.omegas]
    for part, (a, bb, o) in parts:
        for s in seeds:
            v = values[(a, bb, o), s]
            best = float(np.nanmax(v)) if np.isfinite(v).any() else math.nan
            same = bool(np.array_equal(v, values[default, s], equal_nan=True))
            rows.append({"part": part, "alpha": a, "beta": bb, "omega": o, "seed": s,
                         "best": best, "regret": float(setup.regret(best)),
                         "same_path": same})
    return pd.DataFrame(rows, columns=["part", "alpha", "beta", "omega", "seed", "best",
                                       "regret", "same_path"])


def positive_control(*, scale: Scale, methods: Sequence[Method] = ("alpha_beta_kit", "random"),
                     progress: ProgressFn | None = None,
                     budget: SearchBudget | None = None) -> pd.DataFrame:
    """The methods on the known-optimum problem (:mod:`._control`), one problem per seed.

    Seed ``s`` runs every method on :func:`~._control.known_optimum_setup` ``(s)`` for
    ``budget.control_iter`` calls; ``budget.control_seeds`` seeds. Analysed by
    :func:`~._regret.positive_control_table`.

    Returns
    -------
    pandas.DataFrame
        As :func:`compare_methods`.
    """
    b = resolve_budget(SearchBudget, scale, budget)
    for m in methods:
        check_choice("method", m, METHODS)
    frames: list[pd.DataFrame] = []
    total = b.control_seeds * len(methods)
    for s in range(b.control_seeds):
        setup = known_optimum_setup(s)
        for m in methods:
            if progress is not None:
                progress(len(frames), total, f"positive control: {METHOD_LABELS[m]}, seed {s}")
            values, secs = run_method(setup, m, n_iter=b.control_iter, seed=s, budget=b,
                                      init_rows=None)
            frames.append(_curve_frame(setup, m, s, values, secs))
    if progress is not None:
        progress(total, total, "done")
    return pd.concat(frames, ignore_index=True)
