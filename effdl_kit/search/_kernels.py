"""numba kernels of αβ-BO: acquisition functions, Matern kernel, fused candidate updates.

Every kernel is ``@njit(cache=True)`` without ``fastmath`` (σ = 0 and NaN must be seen), and
has a plain numpy reference next to it (``reference_*`` in :mod:`._acquisition` and
:mod:`._reference`) that the tests compare it with.

Candidates of a grid are never materialised: a candidate is its flat index in the Cartesian
product, decoded in mixed radix (the last component varies fastest). Its squared distance to
an observation ``i`` in the GP's input space is assembled from per-component tables,

    d²(c, i) = rest[i] + Σ_b table[offset_b + code_b(c), i],

where ``table[offset_b + v, i]`` is the squared distance between component ``b``'s encoding of
its ``v``-th value and observation ``i``'s block of that component, and ``rest[i]`` the squared
distance between the fixed (not searched) part of every candidate and the observation's.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from effdl_kit._core import configure_numba

configure_numba()  # threading layer + cache dir must be set before numba is imported

from numba import njit, prange  # noqa: E402

__all__ = [
    "ACQ_ALPHA_BETA",
    "ACQ_EI",
    "ACQ_PI",
    "ACQ_UCB",
    "acquisition_array",
    "cross_kernel",
    "decode",
    "matern",
    "posterior_update_acquire",
]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

_SQRT2 = math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_SQRT3 = math.sqrt(3.0)
_SQRT5 = math.sqrt(5.0)

#: acquisition codes used by the fused kernel
ACQ_ALPHA_BETA, ACQ_EI, ACQ_PI, ACQ_UCB = 0, 1, 2, 3


@njit(cache=True, inline="always")
def _ei(mu: float, sigma: float, best: float) -> float:
    diff = mu - best
    if sigma <= 0.0:
        return diff if diff > 0.0 else 0.0
    z = diff / sigma
    return diff * 0.5 * math.erfc(-z / _SQRT2) + sigma * _INV_SQRT_2PI * math.exp(-0.5 * z * z)


@njit(cache=True, inline="always")
def _pi(mu: float, sigma: float, best: float) -> float:
    if sigma <= 0.0:
        return 1.0 if mu > best else 0.0
    return 0.5 * math.erfc(-((mu - best) / sigma) / _SQRT2)


@njit(cache=True, inline="always")
def _acq(kind: int, mu: float, sigma: float, best: float, a: float, b: float) -> float:
    if kind == 0:  # α·EI + PI + β·σ²
        return a * _ei(mu, sigma, best) + _pi(mu, sigma, best) + b * sigma * sigma
    if kind == 1:
        return _ei(mu, sigma, best)
    if kind == 2:
        return _pi(mu, sigma, best)
    return mu + a * sigma  # UCB, a = κ


@njit(cache=True, parallel=True)
def acquisition_array(kind: int, mu: F64, sigma: F64, best: float, a: float, b: float
                      ) -> F64:
    """Acquisition ``kind`` per element (maximisation).

    ``ACQ_ALPHA_BETA``: α·EI + PI + β·σ² (``a`` = α, ``b`` = β); ``ACQ_EI``: expected
    improvement over ``best``, ``max(μ − f*, 0)`` where σ = 0; ``ACQ_PI``: probability of
    improvement, ``1[μ > f*]`` where σ = 0; ``ACQ_UCB``: ``μ + κσ`` (``a`` = κ).
    """
    out = np.empty(mu.shape[0])
    for i in prange(mu.shape[0]):
        out[i] = _acq(kind, mu[i], sigma[i], best, a, b)
    return out


@njit(cache=True, inline="always")
def matern(d2: float, length: float, nu2: int) -> float:
    """Matern kernel of unit amplitude at squared distance ``d2``; ``nu2`` = 2ν ∈ {1, 3, 5}."""
    r = math.sqrt(d2) / length if d2 > 0.0 else 0.0
    if nu2 == 1:
        return math.exp(-r)
    if nu2 == 3:
        s = _SQRT3 * r
        return (1.0 + s) * math.exp(-s)
    s = _SQRT5 * r
    return (1.0 + s + s * s / 3.0) * math.exp(-s)


#: beyond this value of √(2ν)·r the Matern kernel is below 2e-19 (ν = 2.5; less for smaller ν)
_S_CUT = 50.0


@njit(cache=True, inline="always")
def cutoff_d2(length: float, nu2: int) -> float:
    """Squared distance beyond which :func:`matern` is below 2e-19 and is skipped as 0."""
    r = _S_CUT / math.sqrt(float(nu2)) * length
    return r * r


@njit(cache=True, inline="always")
def decode(flat: int, radix: I64, offsets: I64, out: I64) -> None:
    """Row indices into the distance table of the candidate with flat index ``flat``."""
    m = radix.shape[0]
    for b in range(m - 1, -1, -1):
        q = flat // radix[b]
        out[b] = offsets[b] + (flat - q * radix[b])
        flat = q


@njit(cache=True, parallel=True)
def cross_kernel(flat: I64, radix: I64, offsets: I64, table: F64, rest: F64, n_obs: int,
                 length: float, nu2: int) -> F64:
    """K(X, C): kernel between the first ``n_obs`` observations and candidates ``flat``.

    Returns
    -------
    ndarray, shape (n_obs, len(flat))
    """
    n_c = flat.shape[0]
    m = radix.shape[0]
    out = np.empty((n_obs, n_c))
    for c in prange(n_c):
        rows = np.empty(m, dtype=np.int64)
        decode(flat[c], radix, offsets, rows)
        for i in range(n_obs):
            d2 = rest[i]
            for b in range(m):
                d2 += table[rows[b], i]
            out[i, c] = matern(d2, length, nu2)
    return out


@njit(cache=True, parallel=True)
def posterior_update_acquire(
    start: int, mu: F64, var: F64, radix: I64, offsets: I64, table: F64, rest: F64,
    n_obs: int, v: F64, new_col: int, resid: float, d2_new: float, length: float, nu2: int,
    amp: float, y_mean: float, y_std: float, best: float, kind: int, a: float, b: float, acq: F64,
) -> None:
    """One observation's rank-one update of the cached posterior, fused with the acquisition.

    For the candidates ``start, start + 1, ...`` (cached normalised posterior mean ``mu`` and
    variance ``var``, updated in place), with the new observation in column ``new_col`` of the
    table and ``v = K⁻¹ k(X, x_new)`` over the ``n_obs`` earlier observations:

        cov(c, x_new) = k(c, x_new) − Σ_i k(c, x_i) v_i      (k = amp · Matern)
        mu(c)  += cov · resid / d2_new     (resid = y_new − μ(x_new), d2_new = σ²(x_new) + noise)
        var(c) −= cov² / d2_new            (clipped at 0)

    and writes the acquisition of ``(y_mean + y_std·mu, y_std·√var)`` to ``acq``. ``n_obs = -1``
    skips the update (acquisition of the cached posterior only).
    """
    n_c = mu.shape[0]
    m = radix.shape[0]
    d2_cut = cutoff_d2(length, nu2)
    for c in prange(n_c):
        if n_obs >= 0:
            rows = np.empty(m, dtype=np.int64)
            decode(start + c, radix, offsets, rows)
            acc = 0.0
            for i in range(n_obs):
                d2 = rest[i]
                for bb in range(m):
                    d2 += table[rows[bb], i]
                if d2 < d2_cut:  # farther pairs contribute < 2e-19 * amp * |v_i|
                    acc += matern(d2, length, nu2) * v[i]
            d2 = rest[new_col]
            for bb in range(m):
                d2 += table[rows[bb], new_col]
            cov = amp * (matern(d2, length, nu2) - acc)
            mu[c] += cov * resid / d2_new
            nv = var[c] - cov * cov / d2_new
            var[c] = nv if nv > 0.0 else 0.0
        acq[c] = _acq(kind, y_mean + y_std * mu[c], y_std * math.sqrt(var[c]), best, a, b)
