"""αβ-BO on the unit cube: the engine of :class:`~effdl_kit.search.AlphaBetaSampler`.

Every parameter is one column in [0, 1] (numeric: over its bounds, on the log scale when
``log=True``) or a one-hot block (categorical). The surrogate is a Gaussian process with an
ARD Matern 5/2 kernel, a fitted amplitude and a fitted noise level on standardised targets
(:func:`fit_cube_gp`: L-BFGS-B on the log marginal likelihood with its analytic gradient,
weak log-normal priors on the length scales, warm-started from the previous trial's fit).

The acquisition is EfficientDL's ``α·EI + PI + β·σ²`` with each term put on one scale
(``scale="normalised"``, the default): every term is divided by its largest value over the
trial's initial candidate pool, so α and β weigh EI and σ² *relative to* PI whatever the
objective's units and the number of observations (in raw standardised units, σ² ≈ 1 away from
the data while PI ≤ 1 and EI ≈ 0.1: β = 1.01 then makes the search explore blindly).
``scale="raw"`` keeps the paper's formula on standardised values.

The argmax is searched beyond any grid: a scrambled Sobol pool over the cube plus Gaussian
perturbations of the best observations and the incumbent's one-category switches (its
neighbourhood), then a few rounds of
shrinking local perturbations (all coordinates, and single coordinates) around the best
candidates. Every candidate is projected on the feasible set first (ints and stepped floats
rounded, one category per block), and candidates that repeat an evaluated, failed or running
point are excluded.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import numpy.typing as npt
from scipy.linalg import cho_solve, cholesky, solve_triangular
from scipy.optimize import minimize
from scipy.stats import qmc

from effdl_kit.search import _kernels as K

__all__ = ["ACQ_SCALES", "AcqScale", "CubeGP", "CubeSpace", "acquisition_terms",
           "fit_cube_gp", "propose"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

#: ``"normalised"``: each term of α·EI + PI + β·σ² divided by its max over the pool;
#: ``"raw"``: the paper's formula on standardised values
AcqScale = Literal["normalised", "raw"]
ACQ_SCALES: tuple[AcqScale, ...] = get_args(AcqScale)

_SQRT5 = math.sqrt(5.0)
#: bounds of log length scale, log amplitude, log noise (inputs in [0, 1], targets standardised)
_LOG_LS = (math.log(1e-2), math.log(20.0))
_LOG_AMP = (math.log(0.05), math.log(20.0))
_LOG_NOISE = (math.log(1e-6), math.log(0.5))
#: log-normal prior of the length scales: default centre and spread (in log units)
LS_NUMERIC = math.log(0.5)
_LS_PRIOR_SD = 1.5
_JITTER = 1e-8
#: squared encoded distance under which two points are the same point (the expanded form
#: of the distance rounds at ~1e-15)
_SAME_D2 = 1e-12


#: default log length scale of one-hot columns (4): two categories of a block lie √2 apart, so a
#: longer scale lets the GP share information across categories
LS_CATEGORICAL = math.log(4.0)


@dataclass(frozen=True)
class CubeSpace:
    """Feasible set in the cube: per column, how a value is projected.

    Attributes
    ----------
    n_features : int
    numeric : list of (column, lattice)
        ``lattice`` is None (continuous) or the sorted encodings of the allowed values (ints,
        stepped floats): a value is moved to the nearest.
    blocks : list of (start, width)
        One-hot blocks of categorical parameters.
    """

    n_features: int
    numeric: Sequence[tuple[int, F64 | None]]
    blocks: Sequence[tuple[int, int]]

    def project(self, X: F64) -> F64:
        """Each row moved to the nearest feasible point (in place and returned)."""
        for col, lattice in self.numeric:
            np.clip(X[:, col], 0.0, 1.0, out=X[:, col])
            if lattice is not None:
                k = np.clip(np.searchsorted(lattice, X[:, col]), 1, len(lattice) - 1)
                lo, hi = lattice[k - 1], lattice[k]
                X[:, col] = np.where(X[:, col] - lo <= hi - X[:, col], lo, hi)
        for start, width in self.blocks:
            k = np.argmax(X[:, start:start + width], axis=1)
            X[:, start:start + width] = 0.0
            X[np.arange(X.shape[0]), start + k] = 1.0
        return X

    def uniform(self, rng: np.random.Generator, n: int) -> F64:
        """``n`` feasible points: scrambled Sobol coordinates (a random category per block)."""
        sobol = qmc.Sobol(self.n_features, scramble=True, seed=rng)
        m = max(1, math.ceil(math.log2(max(n, 2))))
        X = sobol.random_base2(m)[:n]
        for start, width in self.blocks:
            X[:, start:start + width] = 0.0
            X[np.arange(n), start + rng.integers(0, width, n)] = 1.0
        return self.project(X)

    def length_scales(self) -> F64:
        """Default log length scale of each column (numeric / one-hot)."""
        out = np.full(self.n_features, LS_NUMERIC)
        for start, width in self.blocks:
            out[start:start + width] = LS_CATEGORICAL
        return out

    def switches(self, centre: F64) -> F64:
        """Every point that differs from ``centre`` in the category of exactly one block."""
        out = []
        for start, width in self.blocks:
            P = np.repeat(centre[None, :], width, axis=0)
            P[:, start:start + width] = np.eye(width)
            out.append(np.delete(P, int(np.argmax(centre[start:start + width])), axis=0))
        return np.concatenate(out) if out else np.zeros((0, self.n_features))

    def perturb(self, rng: np.random.Generator, centres: F64, n: int, scale: float, *,
                single: bool = False) -> F64:
        """``n`` feasible points around each centre: Gaussian steps of ``scale`` on every
        numeric column (``single``: on one random column), a category switched w.p. 0.2."""
        X = np.repeat(centres, n, axis=0)
        m = X.shape[0]
        cols = np.array([c for c, _ in self.numeric], dtype=np.int64)
        if len(cols):
            step = rng.normal(0.0, scale, size=(m, len(cols)))
            if single:
                keep = rng.integers(0, len(cols), m)
                mask = np.zeros_like(step, dtype=bool)
                mask[np.arange(m), keep] = True
                step = np.where(mask, step, 0.0)
            X[:, cols] += step
        for start, width in self.blocks:
            switch = np.asarray(rng.random(m) < 0.2)
            if switch.any():
                rows = np.flatnonzero(switch)
                X[rows, start:start + width] = 0.0
                X[rows, start + rng.integers(0, width, len(rows))] = 1.0
        return self.project(X)


def _matern52(X1: F64, X2: F64, ls: F64) -> tuple[F64, F64]:
    """Unit-amplitude ARD Matern 5/2 between rows, and the scaled distances r."""
    A, B = X1 / ls, X2 / ls
    d2 = (A * A).sum(1)[:, None] + (B * B).sum(1)[None, :] - 2.0 * A @ B.T
    r = np.sqrt(np.maximum(d2, 0.0))
    s = _SQRT5 * r
    return (1.0 + s + s * s / 3.0) * np.exp(-s), r


@dataclass
class CubeGP:
    """A fitted GP: hyper-parameters ``theta`` = (log length scales, log amp, log noise)."""

    X: F64
    y: F64
    theta: F64
    L: F64
    alpha: F64

    @property
    def amp(self) -> float:
        """Signal variance."""
        return float(math.exp(self.theta[-2]))

    def predict(self, C: F64) -> tuple[F64, F64]:
        """Posterior mean and standard deviation of the latent function at rows ``C``."""
        ls = np.exp(self.theta[:-2])
        Ks = self.amp * _matern52(C, self.X, ls)[0]
        mu = Ks @ self.alpha
        v = solve_triangular(self.L, Ks.T, lower=True, check_finite=False)
        var = np.maximum(self.amp - np.einsum("ij,ij->j", v, v), 0.0)
        return mu, np.sqrt(var)


def _nll(theta: F64, X: F64, y: F64, D2: F64, ls0: F64) -> tuple[float, F64]:
    """Negative log marginal likelihood (+ length-scale prior centred at ``ls0``, log units)
    and its gradient."""
    d = X.shape[1]
    ls = np.exp(theta[:d])
    amp, noise = math.exp(theta[d]), math.exp(theta[d + 1])
    r = np.sqrt(np.maximum((D2 / (ls * ls)[:, None, None]).sum(0), 0.0))
    e = np.exp(-_SQRT5 * r)
    M = (1.0 + _SQRT5 * r + 5.0 / 3.0 * r * r) * e
    n = len(y)
    Kmat = amp * M + (noise + _JITTER) * np.eye(n)
    try:
        L = cholesky(Kmat, lower=True, check_finite=False)
    except np.linalg.LinAlgError:
        return 1e10, np.zeros_like(theta)
    a = cho_solve((L, True), y, check_finite=False)
    sd0 = _LS_PRIOR_SD
    z = (theta[:d] - ls0) / sd0
    nll = 0.5 * float(y @ a) + float(np.log(np.diag(L)).sum()) + 0.5 * float(z @ z)
    W = np.outer(a, a) - cho_solve((L, True), np.eye(n), check_finite=False)
    grad = np.empty_like(theta)
    G = amp * 5.0 / 3.0 * (1.0 + _SQRT5 * r) * e  # dK/dlog ls_d = G * D2_d / ls_d²
    for j in range(d):
        grad[j] = -0.5 * float((W * G * D2[j]).sum()) / (ls[j] * ls[j]) + z[j] / sd0
    grad[d] = -0.5 * float((W * (amp * M)).sum())
    grad[d + 1] = -0.5 * noise * float(np.trace(W))
    return nll, grad


def fit_cube_gp(X: F64, y: F64, *, start: F64 | None = None, fresh: bool = True,
                ls0: F64 | None = None) -> CubeGP:
    """Fit the ARD Matern 5/2 GP (amplitude, noise) to ``(X, y)`` (y standardised).

    Starts from ``start`` (the previous fit, a warm start) when given, and from the default
    (log length scales ``ls0``, default log 0.5 for every column; amplitude 1, noise 1e-3)
    when ``fresh`` or without ``start``; the best optimum is kept. ``ls0`` is also the centre
    of the length scales' log-normal prior.
    """
    n, d = X.shape
    ls0 = np.full(d, LS_NUMERIC) if ls0 is None else np.asarray(ls0, dtype=np.float64)
    D2 = (X.T[:, :, None] - X.T[:, None, :]) ** 2
    bounds = [_LOG_LS] * d + [_LOG_AMP, _LOG_NOISE]
    starts = []
    if start is not None and start.shape == (d + 2,):
        starts.append(np.clip(start, [b[0] for b in bounds], [b[1] for b in bounds]))
    if fresh or not starts:
        starts.append(np.concatenate([ls0, [0.0, math.log(1e-3)]]))
    best: tuple[float, F64] | None = None
    for t0 in starts:
        res = minimize(_nll, t0, args=(X, y, D2, ls0), jac=True, method="L-BFGS-B", bounds=bounds,
                       options={"maxiter": 60})
        if best is None or float(res.fun) < best[0]:
            best = (float(res.fun), np.asarray(res.x, dtype=np.float64))
    assert best is not None
    theta = best[1]
    ls = np.exp(theta[:d])
    Kmat = (math.exp(theta[d]) * _matern52(X, X, ls)[0]
            + (math.exp(theta[d + 1]) + _JITTER) * np.eye(n))
    L = cholesky(Kmat, lower=True, check_finite=False)
    return CubeGP(X=X, y=y, theta=theta, L=L, alpha=cho_solve((L, True), y, check_finite=False))


def acquisition_terms(mu: F64, sd: F64, best: float) -> tuple[F64, F64, F64]:
    """EI, PI (numba kernels) and σ² of candidates (maximisation)."""
    mu = np.ascontiguousarray(mu)
    sd = np.ascontiguousarray(sd)
    ei = K.acquisition_array(K.ACQ_EI, mu, sd, best, 0.0, 0.0)
    pi = K.acquisition_array(K.ACQ_PI, mu, sd, best, 0.0, 0.0)
    return ei, pi, sd * sd



def candidate_pool(space: CubeSpace, gp: CubeGP, rng: np.random.Generator, n_pool: int) -> F64:
    """Points the acquisition is maximised over: ``n_pool`` uniform ones, plus (once there are
    observations) perturbations of the 5 best, finer single-coordinate ones of the best, and
    its categorical switches."""
    top_obs = gp.X[np.argsort(-gp.y, kind="stable")[:5]]
    pool = [space.uniform(rng, n_pool)]
    if len(top_obs):
        pool.append(space.perturb(rng, top_obs, 48, 0.1))
        pool.append(space.perturb(rng, top_obs[:1], 48, 0.03, single=True))
        pool.append(space.switches(top_obs[0]))
    return np.concatenate(pool)

def propose(gp: CubeGP, space: CubeSpace, best: float, taken: F64, rng: np.random.Generator,
            *, alpha: float, beta: float, scale: AcqScale = "normalised",
            n_pool: int = 512, n_local: int = 32, n_rounds: int = 3, n_top: int = 3
            ) -> F64:
    """The acquisition's argmax over the feasible set (one encoded point).

    Parameters
    ----------
    gp : CubeGP
    space : CubeSpace
    best : float
        Incumbent f* (standardised, maximisation).
    taken : ndarray, shape (m, n_features)
        Points never proposed (evaluated, failed, running).
    rng : numpy.random.Generator
    alpha, beta : float
        Weights of EI and σ² (relative to PI; see ``scale``).
    scale : {"normalised", "raw"}
    """
    C = candidate_pool(space, gp, rng, n_pool)
    ei, pi, var = acquisition_terms(*gp.predict(C), best)
    if scale == "normalised":
        norms = tuple(max(float(t.max()), 1e-300) for t in (ei, pi, var))
    else:
        norms = (1.0, 1.0, 1.0)

    def score(P: F64, terms: tuple[F64, F64, F64]) -> F64:
        e, p, v = terms
        s = alpha * e / norms[0] + p / norms[1] + beta * v / norms[2]
        if len(taken):
            d2 = ((P * P).sum(1)[:, None] + (taken * taken).sum(1)[None, :]
                  - 2.0 * P @ taken.T)
            s = np.where(d2.min(1) <= _SAME_D2, -np.inf, s)
        return s

    s = score(C, (ei, pi, var))
    order = np.argsort(-s, kind="stable")[:n_top]
    cur, cur_s = C[order].copy(), s[order].copy()
    step = 0.05
    for _ in range(n_rounds):
        for single in (False, True):
            P = space.perturb(rng, cur, n_local, step, single=single)
            ps = score(P, acquisition_terms(*gp.predict(P), best)).reshape(len(cur), n_local)
            k = np.argmax(ps, axis=1)
            better = ps[np.arange(len(cur)), k] > cur_s
            rows = np.flatnonzero(better)
            cur[rows] = P.reshape(len(cur), n_local, -1)[rows, k[rows]]
            cur_s[rows] = ps[rows, k[rows]]
        step *= 0.4
    return np.asarray(cur[int(np.argmax(cur_s))], dtype=np.float64)
