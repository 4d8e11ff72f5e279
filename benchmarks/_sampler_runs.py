"""The runs of the sampler benchmark: samplers, one timed study per (function, sampler, seed).

Stored runs are reused only while their sampler's code is unchanged (:func:`sampler_version`:
the kit's ``effdl_kit/search`` sources for αβ-BO, Optuna's version for the others): after a
change to the kit's sampler, the benchmark redoes the αβ-BO runs and keeps the others.

A run is a plain in-memory Optuna study driven by ``ask``/``tell`` with the function's fixed
search space, for ``factor · max(budgets)`` trials. It records the best-so-far regret after
every trial and the sampler's overhead: the seconds in ``ask`` (where Optuna runs the sampler)
and ``tell``, the objective's own time excluded. Runs are appended to a JSON-lines file as they
finish, so an interrupted benchmark resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numba
import numpy as np
import optuna
import torch
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from benchmarks._sampler_functions import FUNCTIONS, TestFunction
from effdl_kit.search import AlphaBetaSampler

__all__ = ["SAMPLERS", "OracleSampler", "SamplerSpec", "code_version", "load_runs", "run_all",
           "run_one", "sampler_version", "source_hash"]

#: the start-up trials every model-based sampler uses (Optuna's and the kit's default: 10)
N_STARTUP = 10


@dataclass(frozen=True)
class SamplerSpec:
    """How to build one sampler of the benchmark.

    ``make(seed, function)`` returns a fresh sampler; the study runs with seed
    ``seed + seed_offset`` (controls use other seeds than the samplers they are compared to)
    and ``factor`` times the trials (its regret at budget B is its best after ``factor·B``).
    """

    make: Callable[[int, TestFunction], Any]
    label: str
    role: str  # "sampler", "control" or "optional"
    seed_offset: int = 0
    factor: int = 1


class OracleSampler(optuna.samplers.BaseSampler):
    """Random search that, with probability ``p`` per trial, proposes the known minimiser.

    The positive control's injected advantage: a sampler that sometimes knows the answer.
    """

    def __init__(self, argmin: dict[str, Any], p: float, seed: int) -> None:
        self._argmin, self._p = dict(argmin), float(p)
        self._random = optuna.samplers.RandomSampler(seed=seed)
        self._rng = np.random.default_rng(seed)
        self._hit: dict[int, bool] = {}

    def infer_relative_search_space(self, study: Any, trial: Any) -> dict[str, Any]:
        """No relative space: every parameter is sampled independently."""
        return {}

    def sample_relative(self, study: Any, trial: Any,
                        search_space: dict[str, Any]) -> dict[str, Any]:
        """Nothing (see :meth:`infer_relative_search_space`)."""
        return {}

    def before_trial(self, study: Any, trial: Any) -> None:
        """Decide whether this trial gets the minimiser."""
        self._hit[trial.number] = bool(self._rng.random() < self._p)

    def sample_independent(self, study: Any, trial: Any, param_name: str,
                           param_distribution: Any) -> Any:
        """The minimiser's value on a hit trial, a random one otherwise."""
        if self._hit.get(trial.number, False):
            return self._argmin[param_name]
        return self._random.sample_independent(study, trial, param_name, param_distribution)


def _alpha_beta(**kwargs: Any) -> Callable[[int, TestFunction], Any]:
    def make(seed: int, fn: TestFunction) -> Any:
        return AlphaBetaSampler(seed=seed, **kwargs)
    return make


def _optuna(name: str) -> Callable[[int, TestFunction], Any]:
    def make(seed: int, fn: TestFunction) -> Any:
        return getattr(optuna.samplers, name)(seed=seed)
    return make


#: probability per trial that the oracle control proposes the minimiser
ORACLE_P = 0.05

#: every sampler the benchmark knows, by name (the default run uses roles sampler + control)
SAMPLERS: dict[str, SamplerSpec] = {
    "alpha_beta": SamplerSpec(_alpha_beta(), "αβ-BO (kit default)", "sampler"),
    "random": SamplerSpec(_optuna("RandomSampler"), "Random", "sampler"),
    "tpe": SamplerSpec(_optuna("TPESampler"), "TPE", "sampler"),
    "gp": SamplerSpec(_optuna("GPSampler"), "GP (Optuna)", "sampler"),
    "random_aa": SamplerSpec(_optuna("RandomSampler"), "Random, other seeds (A/A)", "control",
                             seed_offset=1000),
    "random_2x": SamplerSpec(_optuna("RandomSampler"), "Random, 2x trials", "control",
                             seed_offset=2000, factor=2),
    "oracle": SamplerSpec(lambda seed, fn: OracleSampler(fn.argmin, ORACLE_P, seed),
                          f"Random + minimiser w.p. {ORACLE_P}", "control", seed_offset=3000),
    "alpha_beta_refit1": SamplerSpec(_alpha_beta(refit_every=1),
                                     "αβ-BO, refit_every=1 (scikit-learn GP)", "optional"),
    "alpha_beta_raw": SamplerSpec(_alpha_beta(acq_scale="raw"),
                                  "αβ-BO, acq_scale='raw' (paper's formula, standardised)",
                                  "optional"),
    "alpha_beta_grid": SamplerSpec(_alpha_beta(engine="grid"),
                                   "αβ-BO, engine='grid' (the earlier sampler)", "optional"),
}


def run_one(function: str, sampler: str, seed: int, n_trials: int) -> dict[str, Any]:
    """One study: ``SAMPLERS[sampler]`` on ``FUNCTIONS[function]`` with ``seed``.

    Returns
    -------
    dict
        ``function, sampler, seed, n_trials`` (trials run: ``factor · n_trials``),
        ``regret`` (best-so-far regret after each trial), ``ms_all`` / ``ms_model`` (mean
        sampler overhead per trial in ms: over every trial / over trials after the
        ``N_STARTUP`` start-up trials), ``objective_s`` and ``wall_s``.
    """
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    threads = torch.get_num_threads(), numba.get_num_threads()
    with threadpool_limits(limits=1):
        # every sampler single-threaded (BLAS, torch, numba): 2 workers share 2 cores, and a
        # per-trial time is then each sampler's own work
        torch.set_num_threads(1)
        numba.set_num_threads(1)
        try:
            return _run(function, sampler, seed, n_trials)
        finally:
            torch.set_num_threads(threads[0])
            numba.set_num_threads(threads[1])


def _run(function: str, sampler: str, seed: int, n_trials: int) -> dict[str, Any]:
    fn, spec = FUNCTIONS[function], SAMPLERS[sampler]
    study = optuna.create_study(direction="minimize",
                                sampler=spec.make(seed + spec.seed_offset, fn))
    total = spec.factor * n_trials
    best, regret, overhead = math.inf, [], []
    obj_s, t_start = 0.0, time.perf_counter()
    for _ in range(total):
        t0 = time.perf_counter()
        trial = study.ask(fn.space)
        t1 = time.perf_counter()
        value = fn.evaluate(trial.params)
        t2 = time.perf_counter()
        study.tell(trial, value)
        t3 = time.perf_counter()
        overhead.append((t1 - t0) + (t3 - t2))
        obj_s += t2 - t1
        best = min(best, value)
        regret.append(abs(best - fn.minimum))
    ms = 1e3 * np.asarray(overhead)
    return {"function": function, "sampler": sampler, "seed": seed, "n_trials": n_trials,
            "regret": [float(f"{r:.6g}") for r in regret],
            "ms_all": float(ms.mean()),
            "ms_model": float(ms[N_STARTUP:].mean()) if len(ms) > N_STARTUP else math.nan,
            "objective_s": obj_s, "wall_s": time.perf_counter() - t_start}


def code_version() -> str:
    """The repository's commit, and whether ``effdl_kit`` has uncommitted changes."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, check=True,
                              capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "effdl_kit"], cwd=root,
                               check=True, capture_output=True, text=True).stdout.split("\n")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    changed = [line[3:] for line in dirty if line.strip()]
    return head + (f" + uncommitted {', '.join(changed)}" if changed else "")


def source_hash(files: dict[str, bytes]) -> str:
    """Short SHA-1 of source files (name -> bytes), in name order."""
    h = hashlib.sha1()
    for name in sorted(files):
        h.update(name.encode() + b"\0" + files[name] + b"\0")
    return h.hexdigest()[:12]


def sampler_version(sampler: str) -> str:
    """What a run of ``sampler`` depends on: the kit's ``effdl_kit/search`` sources for αβ-BO,
    Optuna's version for the others. Stored runs are reused only while it is unchanged."""
    if sampler.startswith("alpha_beta"):
        root = Path(__file__).resolve().parent.parent
        files = {p.name: p.read_bytes() for p in (root / "effdl_kit" / "search").glob("*.py")}
        return f"effdl_kit.search {source_hash(files)}"
    return f"optuna {optuna.__version__}"


def _key(r: dict[str, Any]) -> tuple[str, str, int, int]:
    return (str(r["function"]), str(r["sampler"]), int(r["seed"]), int(r["n_trials"]))


def load_runs(path: Path) -> list[dict[str, Any]]:
    """The runs stored in a JSON-lines file (none when it does not exist)."""
    if not path.exists():
        return []
    runs: dict[tuple[str, str, int, int], dict[str, Any]] = {}
    for line in path.read_text().splitlines():
        if line.strip():
            r = json.loads(line)
            runs.setdefault(_key(r), r)  # the first of duplicate runs counts
    return list(runs.values())


#: rough relative cost of a run, so the slow ones start first
_COST = {"gp": 4, "alpha_beta": 3, "alpha_beta_refit1": 5}


def run_all(functions: Iterable[str], samplers: Iterable[str], seeds: Iterable[int],
            n_trials: int, runs_path: Path, *, workers: int = 1,
            log: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Every (function, sampler, seed) run not yet in ``runs_path``, appended to it.

    Jobs go seed by seed (an interrupted benchmark leaves whole seeds), the slow samplers first
    within a seed; ``workers`` processes (1 runs in this process).

    Returns
    -------
    list of dict
        Every run in ``runs_path`` for these functions, samplers, seeds and ``n_trials``.
    """
    fs, ss, seeds = list(functions), list(samplers), list(seeds)
    for name in fs:
        if name not in FUNCTIONS:
            raise KeyError(f"unknown function {name!r}; known: {', '.join(FUNCTIONS)}")
    for name in ss:
        if name not in SAMPLERS:
            raise KeyError(f"unknown sampler {name!r}; known: {', '.join(SAMPLERS)}")
    wanted = {(f, s, seed, n_trials) for f in fs for s in ss for seed in seeds}
    versions = {s: sampler_version(s) for s in ss}
    stored = load_runs(runs_path)
    stale = [r for r in stored
             if _key(r) in wanted and r.get("version") != versions[str(r["sampler"])]]
    if stale:
        # a sampler changed (the kit's search code, or Optuna): its runs are redone
        log(f"dropping {len(stale)} stored runs made with other code: "
            f"{sorted({str(r['sampler']) for r in stale})}")
        keep = [r for r in stored if r not in stale]
        runs_path.write_text("".join(json.dumps(r) + "\n" for r in keep))
    done = {_key(r) for r in load_runs(runs_path)}
    jobs = sorted(wanted - done, key=lambda k: (k[2], -_COST.get(k[1], 0),
                                                -len(FUNCTIONS[k[0]].tags), k[0], k[1]))
    log(f"{len(wanted) - len(jobs)} of {len(wanted)} runs already in {runs_path}; "
        f"{len(jobs)} to run with {workers} worker(s)")
    runs_path.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()

    code = code_version()  # the code the workers import now (recorded with every run)

    def store(r: dict[str, Any], i: int) -> None:
        r["code"], r["version"] = code, versions[str(r["sampler"])]
        with runs_path.open("a") as fh:
            fh.write(json.dumps(r) + "\n")
        log(f"[{i}/{len(jobs)} {time.perf_counter() - t0:7.0f} s] {r['function']:>17} "
            f"{r['sampler']:>17} seed {r['seed']:>2}: regret {r['regret'][-1]:.4g}, "
            f"{r['ms_model']:.1f} ms/trial")

    if workers <= 1:  # run_one limits BLAS, torch and numba to one thread itself
        for i, job in enumerate(jobs, 1):
            store(run_one(*job), i)
    else:
        # inherited by the spawned workers, read when they import; this process's environment
        # is restored afterwards (numba refuses a NUMBA_NUM_THREADS that changes after its
        # threads were launched, so it must not leak into the caller, e.g. a test session)
        names = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                 "NUMBA_NUM_THREADS")
        saved = {v: os.environ.get(v) for v in names}
        for var in names:
            os.environ.setdefault(var, "1")
        try:
            with ProcessPoolExecutor(max_workers=workers,
                                     mp_context=get_context("spawn")) as pool:
                futures = [pool.submit(run_one, *job) for job in jobs]
                for i, fut in enumerate(as_completed(futures), 1):
                    store(fut.result(), i)
        finally:
            for var, value in saved.items():
                if value is None:
                    os.environ.pop(var, None)
                else:
                    os.environ[var] = value
    return [r for r in load_runs(runs_path) if _key(r) in wanted]
