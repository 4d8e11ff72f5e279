"""Does the authors' GP collapse? Fit the faithful GP on encoded dataset rows, measure σ.

:func:`gp_spread` fits the faithful preset's GP (scikit-learn ``Matern()``: ν = 1.5, length
scale from 1.0; ``alpha=1e-5``, ``normalize_y=True``, 10 restarts) on prior rows and reports the
fitted length scale, the log marginal likelihood and the spread of the posterior σ over a grid,
relative to the prior σ (``normalize_y``: the targets' std). A σ near the prior everywhere means
the GP knows nothing about the grid (the acquisition is then the same for every candidate); a σ
near 0 everywhere means it claims to know everything.

:func:`gp_collapse_report` runs it for a predictor problem under both GP encodings (the kit's
multi-hot, the authors' one column per component) and returns a Markdown table, e.g. on the
authors' data (docs/results/alpha_beta_faithful.md)::

    python -c "from effdl_kit.data import load_component_data as L; \\
    from effdl_kit.experiments.efficientdl import search_setup as S; \\
    from effdl_kit.search import gp_collapse_report as R; d = L('authors'); X, y = d.xy(); \\
    print(R(S(d, n_trees=300, n_repeats=10, seed=0).problem, X, y, faithful_iterations=3))"
"""

from __future__ import annotations

import time
import warnings
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.spatial.distance import cdist
from sklearn.exceptions import ConvergenceWarning

from effdl_kit._core.validate import check_int
from effdl_kit.search._alpha_beta_bo import AlphaBetaBO
from effdl_kit.search._gp import fit_gp
from effdl_kit.search._predictor import PredictorProblem, predictor_problem

__all__ = ["GPSpread", "gp_collapse_report", "gp_spread"]

F64 = npt.NDArray[np.float64]
_CHUNK = 2048


@dataclass
class GPSpread:
    """The faithful GP fitted on prior rows, and its σ over a grid.

    Attributes
    ----------
    encoding : str
    n_rows, n_features, n_candidates : int
    length_scale : float
        Fitted Matern length scale (bounds 1e-5 .. 1e5).
    noise : float
        The fixed noise ``alpha`` (normalised units; the authors' kernel fits no noise).
    log_marginal_likelihood : float
    prior_sigma : float
        Prior σ in the targets' units (the targets' std, ``normalize_y``).
    sigma_rel : dict of str to float
        Quantiles (min, p05, p50, p95, max) of σ / prior σ over the grid.
    frac_at_prior, frac_near_zero : float
        Fractions of the grid with σ / prior σ ≥ 0.99 and ≤ 0.01.
    mu_std : float
        Std of the posterior mean over the grid (targets' units).
    grid_to_rows, rows_to_rows : float
        Median Euclidean distance from a grid point to its nearest row, and from a row to its
        nearest other row (GP input units).
    fit_s : float
        Seconds of the fit.
    """

    encoding: str
    n_rows: int
    n_features: int
    n_candidates: int
    length_scale: float
    noise: float
    log_marginal_likelihood: float
    prior_sigma: float
    sigma_rel: dict[str, float]
    frac_at_prior: float
    frac_near_zero: float
    mu_std: float
    grid_to_rows: float
    rows_to_rows: float
    fit_s: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def _nearest(A: F64, B: F64, *, exclude_self: bool) -> F64:
    out = np.empty(A.shape[0])
    for s in range(0, A.shape[0], _CHUNK):
        d = cdist(A[s:s + _CHUNK], B)
        if exclude_self:
            d[np.arange(d.shape[0]), np.arange(s, s + d.shape[0])] = np.inf
        out[s:s + d.shape[0]] = d.min(axis=1)
    return out


def gp_spread(X0: Any, y0: Any, candidates: Any, *, encoding: str = "", nu: float = 1.5,
              n_restarts: int = 10, noise: float = 1e-5, seed: int = 0) -> GPSpread:
    """Fit the faithful GP on ``(X0, y0)`` and measure its σ over ``candidates``.

    Parameters
    ----------
    X0 : array_like, shape (n, d)
        Encoded prior rows.
    y0 : array_like, shape (n,)
    candidates : array_like, shape (m, d)
        Encoded grid.
    encoding : str
        A label for the report.
    nu, n_restarts, noise, seed
        The GP (defaults: the faithful preset's).
    """
    X0 = np.asarray(X0, dtype=np.float64)
    y0 = np.asarray(y0, dtype=np.float64)
    C = np.asarray(candidates, dtype=np.float64)
    n_restarts = check_int("n_restarts", n_restarts, min_value=0)
    t0 = time.perf_counter()
    gp = fit_gp(X0, y0, nu=nu, noise=noise, n_restarts=n_restarts, seed=seed)
    fit_s = time.perf_counter() - t0
    mus, sds = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", UserWarning)  # "negative variances set to 0"
        for s in range(0, C.shape[0], _CHUNK):
            m, sd = gp.predict(C[s:s + _CHUNK], return_std=True)
            mus.append(m)
            sds.append(sd)
    mu, sd = np.concatenate(mus), np.concatenate(sds)
    prior = float(np.asarray(gp._y_train_std).reshape(-1)[0])
    rel = sd / prior
    q = np.quantile(rel, [0.0, 0.05, 0.5, 0.95, 1.0])
    return GPSpread(
        encoding=encoding, n_rows=X0.shape[0], n_features=X0.shape[1],
        n_candidates=C.shape[0], length_scale=float(gp.kernel_.length_scale), noise=noise,
        log_marginal_likelihood=float(gp.log_marginal_likelihood_value_),
        prior_sigma=prior,
        sigma_rel=dict(zip(("min", "p05", "p50", "p95", "max"), map(float, q), strict=True)),
        frac_at_prior=float((rel >= 0.99).mean()), frac_near_zero=float((rel <= 0.01).mean()),
        mu_std=float(mu.std()),
        grid_to_rows=float(np.median(_nearest(C, X0, exclude_self=False))),
        rows_to_rows=float(np.median(_nearest(X0, X0, exclude_self=True))),
        fit_s=fit_s,
    )


def _duplicates(X0: F64, y: F64) -> str:
    _, inv, cnt = np.unique(X0, axis=0, return_inverse=True, return_counts=True)
    groups = np.flatnonzero(cnt > 1)
    ranges = [float(np.ptp(y[inv.reshape(-1) == g])) for g in groups]
    med = float(np.median(ranges)) if ranges else 0.0
    return (f"{int((cnt[inv.reshape(-1)] > 1).sum())} rows share their GP input with another "
            f"row ({len(groups)} groups; median label range within a group {med:.4f})")


def _faithful_run(problem: PredictorProblem, X0: F64, y: F64, n_iter: int, seed: int) -> str:
    """A few iterations of the faithful preset: its picks against the shuffled grid order."""
    bo = AlphaBetaBO.faithful(problem.space, seed=seed)
    bo.tell_features(X0, y)
    h = bo.optimize(problem.objective, n_iter).history
    picks = [problem.space.index_of({n: r[n] for n in problem.space.names})
             for _, r in h.iterrows()]
    order = [int(v) for v in bo.grid_order[:n_iter + 2]]
    flat = np.arange(problem.space.n_candidates)
    grid_max = float(problem.predict([problem.space.config(int(i)) for i in flat]).max())
    acq = ", ".join(f"{v:.5f}" for v in h["acquisition"])
    return (f"faithful preset, seed {seed}, {n_iter} iterations: picks {picks} (random: "
            f"{h['random'].tolist()}, status: {h['status'].tolist()}); the shuffled grid "
            f"starts {order}; acquisition of the picks {acq}; incumbent f* "
            f"{float(h['incumbent'].iloc[0]):.4f} (best label); the predictor's maximum over "
            f"the grid {grid_max:.4f}; values found {[round(float(v), 4) for v in h['value']]}")


def gp_collapse_report(problem: PredictorProblem, frame: pd.DataFrame, y: Any, *,
                       seed: int = 0, n_restarts: int = 10, faithful_iterations: int = 0
                       ) -> str:
    """The faithful GP on a predictor problem's dataset rows, kit vs authors' encoding.

    Parameters
    ----------
    problem : PredictorProblem
        E.g. ``search_setup(...).problem`` (its grid, predictor and base row are reused; the
        authors' encoding is fitted on ``frame``).
    frame : pandas.DataFrame
        The dataset rows (the predictor's input columns).
    y : array_like
        Their labels.
    seed, n_restarts : int
        The GP fits' seed and restarts.
    faithful_iterations : int, default 0
        Also run this many iterations of :meth:`AlphaBetaBO.faithful` (authors' encoding)
        from the rows and report its picks against the shuffled grid order.

    Returns
    -------
    str
        A Markdown table, one row per encoding.
    """
    space = problem.space
    comps = {n: list(v) for n, v in zip(space.names, space.values, strict=True)}
    authors = predictor_problem(problem.pipeline, comps, problem.base, encoding="authors",
                                data=frame)
    y = np.asarray(y, dtype=np.float64)
    flat = np.arange(space.n_candidates)
    faithful_iterations = check_int("faithful_iterations", faithful_iterations, min_value=0)
    rows, notes = [], []
    for name, p in (("kit (multi-hot)", problem), ("authors (1 column/component)", authors)):
        X0 = p.encode_rows(frame)
        notes.append(f"- {name}: {_duplicates(X0, y)}")
        r = gp_spread(X0, y, p.space.features(flat), encoding=name,
                      n_restarts=n_restarts, seed=seed)
        s = r.sigma_rel
        rows.append(
            f"| {name} | {r.n_features} | {r.length_scale:.4g} | {r.noise:g} | "
            f"{r.log_marginal_likelihood:.1f} | {r.prior_sigma:.4f} | {s['min']:.3f} / "
            f"{s['p05']:.3f} / {s['p50']:.3f} / {s['p95']:.3f} / {s['max']:.3f} | "
            f"{r.frac_at_prior:.3f} | {r.frac_near_zero:.3f} | {r.mu_std:.4f} | "
            f"{r.grid_to_rows:.3f} / {r.rows_to_rows:.3f} | {r.fit_s:.0f} |")
    head = (f"{len(y)} prior rows, {space.n_candidates} grid candidates "
            f"({' x '.join(str(len(v)) for v in space.values)}: {', '.join(space.names)})\n\n"
            "| GP inputs | columns | length scale | noise alpha | log ML | prior σ | "
            "σ / prior σ over the grid: min / p05 / p50 / p95 / max | share σ ≥ 0.99 prior | "
            "share σ ≤ 0.01 prior | std of μ over the grid | median nearest distance: "
            "grid→rows / row→rows | fit s |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|---|")
    if faithful_iterations:
        notes.append("- " + _faithful_run(authors, authors.encode_rows(frame), y,
                                          faithful_iterations, seed))
    return "\n".join([head, *rows, "", *notes])
