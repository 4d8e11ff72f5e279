"""Plain reference loop of the kit preset's exact mode, in numpy/scikit-learn.

Every iteration refits the kit's Gaussian process (:func:`~effdl_kit.search._gp.fit_gp`, ν = 2.5
by default) on all observations (with restarts), predicts every candidate of the grid at once,
computes the acquisition with numpy/scipy and takes the argmax over the candidates not yet
evaluated (or, with probability Ω, a uniformly random candidate). It draws random numbers in the
same order as :class:`~effdl_kit.search.AlphaBetaBO` under the kit preset, so with the same seed
``AlphaBetaBO(refit_every=1)`` (mode ``"exact"``) must choose exactly the same candidates.

It shares the kit's GP code and choices, so it checks the incremental machinery, not
faithfulness to the authors: the faithful preset is checked against an independent
transcription of the authors' loop (``tests/search/test_search_faithful_golden.py``). Used by
the tests and by the benchmark as the time baseline; it materialises the whole grid, so keep
grids small.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from effdl_kit.search._acquisition import (
    reference_alpha_beta,
    reference_ei,
    reference_pi,
    reference_ucb,
)
from effdl_kit.search._gp import KernelName, fit_gp
from effdl_kit.search._space import GridSpace

__all__ = ["ReferenceRun", "reference_alpha_beta_bo"]

F64 = npt.NDArray[np.float64]
_GP_SEED_HIGH = 2**31 - 1


@dataclass
class ReferenceRun:
    """Chosen flat indices, their values and seconds per iteration (search only)."""

    chosen: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    random: list[bool] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)


def reference_alpha_beta_bo(
    space: GridSpace, fn: Callable[[dict[str, Any]], float], n_iter: int, *,
    alpha: float = 0.54, beta: float = 1.01, omega: float = 0.1, n_restarts: int = 10,
    noise: float = 1e-5, nu: float = 2.5, acquisition: str = "alpha_beta",
    kappa: float = 2.576, allow_repeats: bool = False, kernel: KernelName = "authors",
    seed: int | None = None,
    X_init: F64 | None = None, y_init: F64 | None = None, n_initial: int = 0,
    incumbent: str = "evaluated",
) -> ReferenceRun:
    """Run the plain loop for ``n_iter`` iterations (after ``n_initial`` random points).

    ``incumbent``: f* of EI and PI, ``"evaluated"`` (the kit preset's: the best value the loop
    evaluated; before the first, the best initial label) or ``"labels"`` (the best of every
    value, initial rows included).
    """
    rng = np.random.default_rng(seed)
    n_cand = space.n_candidates
    cand = space.features(np.arange(n_cand))
    X = [] if X_init is None else [np.asarray(r, dtype=np.float64) for r in X_init]
    y = [] if y_init is None else [float(v) for v in y_init]
    run = ReferenceRun()
    for it in range(n_initial + n_iter):
        t0 = time.perf_counter()
        if it < n_initial:
            k, rand = int(rng.integers(n_cand)), True
        else:
            gp = fit_gp(np.asarray(X), np.asarray(y), nu=nu, noise=noise,
                        n_restarts=n_restarts, seed=int(rng.integers(_GP_SEED_HIGH)),
                        kernel=kernel)
            mu, sd = gp.predict(cand, return_std=True)
            best = max(run.values) if incumbent == "evaluated" and run.values else max(y)
            if acquisition == "alpha_beta":
                acq = reference_alpha_beta(mu, sd, best, alpha, beta)
            elif acquisition == "ei":
                acq = reference_ei(mu, sd, best)
            elif acquisition == "pi":
                acq = reference_pi(mu, sd, best)
            else:
                acq = reference_ucb(mu, sd, kappa)
            if rng.random() < omega:
                k, rand = int(rng.integers(n_cand)), True
            else:
                if not allow_repeats and run.chosen:
                    acq = acq.copy()
                    acq[np.asarray(run.chosen)] = -np.inf
                k, rand = int(np.argmax(acq)), False
                if not np.isfinite(acq[k]):
                    k = int(rng.integers(n_cand))
        run.seconds.append(time.perf_counter() - t0)
        value = float(fn(space.config(k)))
        X.append(cand[k])
        y.append(value)
        run.chosen.append(k)
        run.values.append(value)
        run.random.append(rand)
    return run
