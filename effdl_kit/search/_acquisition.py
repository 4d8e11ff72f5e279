"""Acquisition functions (maximisation): pure functions of (mean, std, best) arrays.

With surrogate mean μ, standard deviation σ, best observed value f* and Z = (μ − f*)/σ:

    EI = (μ − f*)·Φ(Z) + σ·φ(Z)      PI = Φ(Z)      UCB = μ + κσ
    αβ = α·EI + PI + β·σ²            (EfficientDL's αβ-BO, as the authors' code computes it)

At σ = 0 the limits are exact: EI = max(μ − f*, 0), PI = 1 if μ > f* else 0. The public
functions run numba kernels (:mod:`._kernels`); ``reference_*`` are the same formulas in
numpy/scipy, used by the tests and the reference implementation.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.stats import norm

from effdl_kit._core.errors import ConfigError, DataError
from effdl_kit._core.validate import check_float
from effdl_kit.search import _kernels as K

__all__ = [
    "alpha_beta_acquisition",
    "expected_improvement",
    "probability_of_improvement",
    "reference_alpha_beta",
    "reference_ei",
    "reference_pi",
    "reference_ucb",
    "upper_confidence_bound",
]

F64 = npt.NDArray[np.float64]


def _arrays(mu: Any, sigma: Any) -> tuple[F64, F64]:
    m = np.ascontiguousarray(np.asarray(mu, dtype=np.float64).reshape(-1))
    s = np.ascontiguousarray(np.asarray(sigma, dtype=np.float64).reshape(-1))
    if m.shape != s.shape:
        raise ConfigError("sigma", f"shape {s.shape}", f"the shape of mu, {m.shape}")
    if np.isnan(m).any():
        raise DataError("mu holds NaN: the surrogate's predictions are not usable")
    if np.isnan(s).any() or (s < 0).any():
        raise DataError("sigma holds NaN or negative values: it must be a standard deviation")
    return m, s


def _best(best: Any) -> float:
    return check_float("best", best)


def expected_improvement(mu: Any, sigma: Any, best: float) -> F64:
    """Expected improvement over ``best`` (maximisation).

    Parameters
    ----------
    mu, sigma : array_like, shape (n,)
        Surrogate mean and standard deviation (σ ≥ 0).
    best : float
        Best observed value f*.

    Returns
    -------
    ndarray, shape (n,)
    """
    m, s = _arrays(mu, sigma)
    return K.acquisition_array(K.ACQ_EI, m, s, _best(best), 0.0, 0.0)


def probability_of_improvement(mu: Any, sigma: Any, best: float) -> F64:
    """Probability that the value exceeds ``best``; shape (n,)."""
    m, s = _arrays(mu, sigma)
    return K.acquisition_array(K.ACQ_PI, m, s, _best(best), 0.0, 0.0)


def upper_confidence_bound(mu: Any, sigma: Any, kappa: float = 2.576) -> F64:
    """``μ + κσ``; shape (n,)."""
    m, s = _arrays(mu, sigma)
    kappa = check_float("kappa", kappa, min_value=0.0)
    return K.acquisition_array(K.ACQ_UCB, m, s, 0.0, kappa, 0.0)


def alpha_beta_acquisition(mu: Any, sigma: Any, best: float, *, alpha: float,
                           beta: float) -> F64:
    """EfficientDL's αβ acquisition ``α·EI + PI + β·σ²`` (maximisation).

    Parameters
    ----------
    mu, sigma : array_like, shape (n,)
    best : float
    alpha, beta : float
        Non-negative weights (the authors' ablation default: α = 0.54, β = 1.01).

    Returns
    -------
    ndarray, shape (n,)
    """
    a = check_float("alpha", alpha, min_value=0.0)
    b = check_float("beta", beta, min_value=0.0)
    m, s = _arrays(mu, sigma)
    return K.acquisition_array(K.ACQ_ALPHA_BETA, m, s, _best(best), a, b)


# ----------------------------------------------------------------------------- references


def reference_ei(mu: F64, sigma: F64, best: float) -> F64:
    """numpy/scipy expected improvement with the σ = 0 limit."""
    mu = np.asarray(mu, dtype=np.float64)
    sigma = np.asarray(sigma, dtype=np.float64)
    diff = mu - best
    pos = sigma > 0
    z = np.divide(diff, sigma, out=np.zeros_like(diff), where=pos)
    ei = diff * norm.cdf(z) + sigma * norm.pdf(z)
    return np.where(pos, ei, np.maximum(diff, 0.0))


def reference_pi(mu: F64, sigma: F64, best: float) -> F64:
    """numpy/scipy probability of improvement with the σ = 0 limit."""
    mu = np.asarray(mu, dtype=np.float64)
    sigma = np.asarray(sigma, dtype=np.float64)
    pos = sigma > 0
    z = np.divide(mu - best, sigma, out=np.zeros_like(mu), where=pos)
    return np.where(pos, norm.cdf(z), (mu > best).astype(np.float64))


def reference_ucb(mu: F64, sigma: F64, kappa: float) -> F64:
    """numpy upper confidence bound."""
    return np.asarray(mu, dtype=np.float64) + kappa * np.asarray(sigma, dtype=np.float64)


def reference_alpha_beta(mu: F64, sigma: F64, best: float, alpha: float, beta: float) -> F64:
    """numpy/scipy ``α·EI + PI + β·σ²``."""
    sigma = np.asarray(sigma, dtype=np.float64)
    return (alpha * reference_ei(mu, sigma, best) + reference_pi(mu, sigma, best)
            + beta * sigma**2)
