"""Feasibility weighting of an acquisition: constrained BO the way Gardner et al. (2014) do it.

A constraint ``c(x) <= 0`` (a latency budget, Optuna's ``constraints_func``) is modelled by a
predictive distribution; the acquisition of a candidate is multiplied by its probability of
being feasible, ``P(c(x) <= 0)``, and the incumbent of EI/PI is the best *feasible* value.
Every acquisition the kit maximises with it (``α·EI + PI + β·σ²``, EI, PI) is >= 0, so the
product keeps the argmax among candidates of equal feasibility and moves it towards feasible
ones; with every probability 1 it is the unconstrained acquisition exactly (the A/A check).

Two users: :class:`~effdl_kit.search.AlphaBetaBO` takes a probability per grid candidate
(``feasibility=``, e.g. from a latency predictor's calibrated interval), and
:class:`~effdl_kit.search.AlphaBetaSampler` estimates it from the constraint values of the
trials so far (:func:`constraint_probability`, one Gaussian process per constraint).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.stats import norm

from effdl_kit._core.errors import ConfigError

__all__ = ["FEASIBLE_AT", "check_feasibility", "constraint_probability", "constraint_rows",
           "propose_weighted", "store_constraints", "weigh"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

#: a candidate counts as feasible (for the incumbent) when its probability is at least this
FEASIBLE_AT = 0.5


def check_feasibility(feasibility: Any, n_candidates: int) -> F64 | None:
    """``feasibility`` as a float array of shape (n_candidates,) in [0, 1], or None.

    Raises
    ------
    ConfigError
        Not an array of that shape, or a value that is not a probability.
    """
    if feasibility is None:
        return None
    try:
        w = np.asarray(feasibility, dtype=np.float64)
    except (TypeError, ValueError):
        raise ConfigError("feasibility", type(feasibility).__name__,
                          f"None or an array of {n_candidates} probabilities") from None
    if w.shape != (n_candidates,) or not np.all((w >= 0.0) & (w <= 1.0)):
        raise ConfigError("feasibility", f"array of shape {w.shape}",
                          f"None or an array of {n_candidates} probabilities in [0, 1] "
                          "(one per grid candidate, flat order)")
    return np.ascontiguousarray(w)


def weigh(acq: F64, feasibility: F64 | None, pool: I64 | None) -> F64:
    """The acquisition times each candidate's feasibility (``pool``: the candidates' flat
    indices; None: the whole grid in flat order). A new array; ``acq`` is left as is."""
    if feasibility is None:
        return acq
    return acq * (feasibility if pool is None else feasibility[pool])


def constraint_probability(X: F64, C: F64, fit: Callable[[F64, F64], Any]
                           ) -> Callable[[F64], F64]:
    """``P(every constraint <= 0)`` at new points, from observed constraint values.

    Parameters
    ----------
    X : ndarray, shape (n, n_features)
        Encoded points of the trials with constraint values.
    C : ndarray, shape (n, n_constraints)
        Their constraint values (feasible: every column <= 0).
    fit : callable
        ``fit(X, y_standardised) -> gp`` with ``gp.predict(P) -> (mean, std)`` in the
        standardised units (e.g. :func:`~effdl_kit.search._cube_bo.fit_cube_gp`).

    Returns
    -------
    callable
        ``prob(P)``: shape (m,) probabilities for points ``P`` of shape (m, n_features), the
        product over constraints of ``Φ(-μ/σ)`` of each constraint's GP (in its units). A
        constraint whose observed values are all equal gets probability 1 (<= 0) or 0.
    """
    models: list[tuple[Any, float, float] | bool] = []
    for k in range(C.shape[1]):
        c = C[:, k]
        sd = float(c.std())
        if sd == 0.0:
            models.append(bool(c[0] <= 0.0))
            continue
        mean = float(c.mean())
        models.append((fit(X, (c - mean) / sd), mean, sd))

    def prob(P: F64) -> F64:
        out = np.ones(P.shape[0])
        for m in models:
            if isinstance(m, bool):
                out *= 1.0 if m else 0.0
                continue
            gp, mean, sd = m
            mu, s = gp.predict(P)
            mu = mean + sd * np.asarray(mu, dtype=np.float64)
            s = np.maximum(sd * np.asarray(s, dtype=np.float64), 1e-12)
            out *= norm.cdf(-mu / s)
        return out

    return prob


def store_constraints(constraints_func: Callable[[Any], Sequence[float]], study: Any,
                      trial: Any, state: Any) -> None:
    """Optuna's rule for ``constraints_func``: after a complete or pruned trial, its values
    (a tuple of floats, NaN refused) go to the trial's system attrs under Optuna's own key, so
    ``study.best_trials`` and Optuna's plots see the same feasibility."""
    from optuna.study._constrained_optimization import _CONSTRAINTS_KEY
    from optuna.trial import TrialState

    if state not in (TrialState.COMPLETE, TrialState.PRUNED):
        return
    values = None
    try:
        con = constraints_func(trial)
        if np.any(np.isnan(np.asarray(con, dtype=np.float64))):
            raise ValueError("Constraint values cannot be NaN.")
        values = tuple(float(c) for c in con)
    finally:
        # Optuna has no public call for a sampler to store constraint values; its own samplers
        # write them this way (tests/_core/test_study.py allows exactly this line)
        study._storage.set_trial_system_attr(trial._trial_id, _CONSTRAINTS_KEY, values)


def constraint_rows(study: Any, axes: Sequence[Any], encode: Callable[[Any, Any], Any]
                    ) -> tuple[F64, F64]:
    """Encoded points and constraint values of the trials that have both.

    Returns
    -------
    X : ndarray, shape (n, n_features)
    C : ndarray, shape (n, n_constraints)
        Rows whose number of constraints differs from the first trial's are left out.
    """
    from optuna.study._constrained_optimization import _CONSTRAINTS_KEY

    X: list[F64] = []
    C: list[tuple[float, ...]] = []
    for t in study.get_trials(deepcopy=False):
        con = t.system_attrs.get(_CONSTRAINTS_KEY)
        if con is None or (C and len(con) != len(C[0])):
            continue
        x = encode(t, axes)
        if x is not None:
            X.append(np.asarray(x, dtype=np.float64))
            C.append(tuple(float(c) for c in con))
    if not C:
        return np.zeros((0, 0)), np.zeros((0, 0))
    return np.array(X), np.array(C, dtype=np.float64).reshape(len(C), -1)


def propose_weighted(gp: Any, space: Any, best: float | None, taken: F64,
                     rng: np.random.Generator, weight: Callable[[F64], F64], *,
                     alpha: float, beta: float, normalised: bool = True, n_pool: int = 512,
                     n_local: int = 32, n_rounds: int = 3, n_top: int = 3) -> F64:
    """The cube engine's argmax (:func:`~effdl_kit.search._cube_bo.propose`'s pool and local
    rounds) of the acquisition times ``weight`` (the feasibility probability).

    ``best`` is the best feasible standardised value; None when no trial was feasible yet:
    then the search maximises the feasibility probability alone, as constrained EI does.
    """
    from effdl_kit.search._cube_bo import _SAME_D2, acquisition_terms, candidate_pool

    C = candidate_pool(space, gp, rng, n_pool)
    if best is not None:
        mu, sd = gp.predict(C)
        ei, pi, var = acquisition_terms(mu, sd, best)
        norms = (tuple(max(float(t.max()), 1e-300) for t in (ei, pi, var)) if normalised
                 else (1.0, 1.0, 1.0))

    def score(P: F64) -> F64:
        s = weight(P)
        if best is not None:
            mu_p, sd_p = gp.predict(P)
            e, p, v = acquisition_terms(mu_p, sd_p, best)
            s = s * (alpha * e / norms[0] + p / norms[1] + beta * v / norms[2])
        if len(taken):
            d2 = ((P * P).sum(1)[:, None] + (taken * taken).sum(1)[None, :]
                  - 2.0 * P @ taken.T)
            s = np.where(d2.min(1) <= _SAME_D2, -np.inf, s)
        return np.asarray(s, dtype=np.float64)

    s = score(C)
    order = np.argsort(-s, kind="stable")[:n_top]
    cur, cur_s = C[order].copy(), s[order].copy()
    step = 0.05
    for _ in range(n_rounds):
        for single in (False, True):
            P = space.perturb(rng, cur, n_local, step, single=single)
            ps = score(P).reshape(len(cur), n_local)
            k = np.argmax(ps, axis=1)
            better = ps[np.arange(len(cur)), k] > cur_s
            rows = np.flatnonzero(better)
            cur[rows] = P.reshape(len(cur), n_local, -1)[rows, k[rows]]
            cur_s[rows] = ps[rows, k[rows]]
        step *= 0.4
    return np.asarray(cur[int(np.argmax(cur_s))], dtype=np.float64)
