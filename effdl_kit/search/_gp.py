"""Gaussian-process surrogate of αβ-BO: scikit-learn fits, the kit keeps the posterior.

The kernel is the authors': an isotropic Matern kernel of unit amplitude on normalised targets,
with a small fixed noise ``alpha`` on the diagonal. Hyper-parameters (the length scale) are
fitted by :class:`sklearn.gaussian_process.GaussianProcessRegressor` with restarts; between
refits :class:`IncrementalGP` extends the Cholesky factor of ``K + αI`` by one row per new
observation (the normalisation and the length scale stay those of the last fit).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import numpy.typing as npt
from scipy.linalg import solve_triangular
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import ConstantKernel, Kernel, Matern, WhiteKernel

__all__ = ["KERNELS", "IncrementalGP", "KernelName", "fit_gp", "kernel_params", "make_gp"]

#: ``"authors"``: unit-amplitude Matern with the fixed noise ``alpha`` (the authors' GP);
#: ``"fitted_noise"``: amplitude x Matern + a white-noise level, all fitted
KernelName = Literal["authors", "fitted_noise"]
KERNELS: tuple[KernelName, ...] = get_args(KernelName)

F64 = npt.NDArray[np.float64]

#: smallest posterior variance + noise accepted when extending the factor
_MIN_PIVOT = 1e-12


def _authors_kernel(nu: float) -> Kernel:
    """Unit-amplitude ``Matern(nu)``: the authors' GP (its noise is the fixed ``alpha``)."""
    return Matern(length_scale=1.0, length_scale_bounds=(1e-5, 1e5), nu=nu)


def _fitted_noise_kernel(nu: float) -> Kernel:
    """Amplitude x ``Matern(nu)`` + a white-noise level, all fitted."""
    return (ConstantKernel(1.0, (1e-3, 1e3))
            * Matern(length_scale=1.0, length_scale_bounds=(1e-5, 1e5), nu=nu)
            + WhiteKernel(0.1, (1e-6, 1e1)))


#: kernel name -> the unfitted kernel for a Matern ``nu``
_KERNEL_BUILDERS: dict[KernelName, Callable[[float], Kernel]] = {
    "authors": _authors_kernel, "fitted_noise": _fitted_noise_kernel,
}


def make_gp(*, nu: float, noise: float, n_restarts: int, seed: int,
            kernel: KernelName = "authors", start: Kernel | None = None
            ) -> GaussianProcessRegressor:
    """The GP: ``Matern(nu)`` (times an amplitude, plus white noise for ``"fitted_noise"``),
    noise ``alpha``, normalised targets, restarts; ``start``: initial kernel (a warm start)."""
    k = start if start is not None else _KERNEL_BUILDERS[kernel](nu)
    return GaussianProcessRegressor(kernel=k, alpha=noise, normalize_y=True,
                                    n_restarts_optimizer=n_restarts, random_state=seed)


def kernel_params(kernel_: Kernel) -> tuple[float, float, float]:
    """``(length_scale, amplitude, white_noise)`` of a fitted :func:`make_gp` kernel."""
    if isinstance(kernel_, Matern):
        return float(kernel_.length_scale), 1.0, 0.0
    prod, white = kernel_.k1, kernel_.k2
    return (float(prod.k2.length_scale), float(prod.k1.constant_value),
            float(white.noise_level))


def fit_gp(X: F64, y: F64, *, nu: float, noise: float, n_restarts: int, seed: int,
           kernel: KernelName = "authors", start: Kernel | None = None) -> GaussianProcessRegressor:
    """Fit :func:`make_gp` on ``(X, y)``; convergence warnings (parameters at a bound) muted."""
    gp = make_gp(nu=nu, noise=noise, n_restarts=n_restarts, seed=seed, kernel=kernel,
                 start=start)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gp.fit(X, y)
    return gp


def matern_np(d2: F64, length: float, nu: float) -> F64:
    """numpy Matern kernel of unit amplitude at squared distances ``d2``."""
    r = np.sqrt(np.maximum(d2, 0.0)) / length
    if nu == 0.5:
        return np.exp(-r)
    if nu == 1.5:
        s = math.sqrt(3.0) * r
        return (1.0 + s) * np.exp(-s)
    s = math.sqrt(5.0) * r
    return (1.0 + s + s * s / 3.0) * np.exp(-s)


@dataclass
class IncrementalGP:
    """Cholesky factor of ``K + αI`` over the observations, extended one row at a time.

    Attributes
    ----------
    length : float
        Length scale of the last fit.
    y_mean, y_std : float
        Target normalisation of the last fit.
    L : ndarray, shape (capacity, capacity)
        Lower factor; its leading ``n × n`` block is valid.
    beta : ndarray, shape (capacity,)
        ``L⁻¹ y_normalised`` (leading ``n`` entries).
    n : int
        Observations in the factor.
    """

    length: float
    nu: float
    noise: float
    amp: float
    white: float
    y_mean: float
    y_std: float
    L: F64
    beta: F64
    n: int

    @classmethod
    def from_fit(cls, gp: GaussianProcessRegressor, y: F64, *, nu: float, noise: float,
                 capacity: int) -> IncrementalGP:
        """Take the factor and normalisation of a fitted scikit-learn GP."""
        n = len(y)
        cap = max(capacity, n)
        L = np.zeros((cap, cap))
        L[:n, :n] = gp.L_
        y_mean = float(np.asarray(gp._y_train_mean).reshape(-1)[0])
        y_std = float(np.asarray(gp._y_train_std).reshape(-1)[0])
        beta = np.zeros(cap)
        beta[:n] = solve_triangular(gp.L_, (np.asarray(y) - y_mean) / y_std, lower=True,
                                    check_finite=False)
        length, amp, white = kernel_params(gp.kernel_)
        return cls(length=length, nu=nu, noise=noise, amp=amp, white=white, y_mean=y_mean,
                   y_std=y_std, L=L, beta=beta, n=n)

    @property
    def prior_var(self) -> float:
        """Prior variance of a prediction (amplitude + white noise, as scikit-learn's)."""
        return self.amp + self.white

    @property
    def factor(self) -> F64:
        """The valid ``n × n`` block of ``L``."""
        return self.L[:self.n, :self.n]

    def normalise(self, y: float) -> float:
        """A target in the fit's normalised units."""
        return (y - self.y_mean) / self.y_std

    def alpha(self) -> F64:
        """``(K + αI)⁻¹ y_normalised``; shape (n,)."""
        return solve_triangular(self.factor.T, self.beta[:self.n], lower=False,
                                check_finite=False)

    def prepare(self, k_vec: F64, y_new: float) -> tuple[F64, float, float, F64]:
        """Quantities for adding an observation with kernel vector ``k_vec`` to the others.

        Returns
        -------
        row : ndarray, shape (n,)
            ``L⁻¹ k_vec`` (the new row of the factor).
        d2 : float
            Posterior variance at the new point plus noise (the new pivot squared).
        resid : float
            Normalised target minus the posterior mean at the new point.
        v : ndarray, shape (n,)
            ``(K + αI)⁻¹ k_vec``.
        """
        diag = self.amp + self.white + self.noise  # the new diagonal entry of K + αI
        if self.n == 0:
            return np.zeros(0), diag, self.normalise(y_new), np.zeros(0)
        row = solve_triangular(self.factor, k_vec, lower=True, check_finite=False)
        d2 = max(diag - float(row @ row), _MIN_PIVOT)
        resid = self.normalise(y_new) - float(row @ self.beta[:self.n])
        v = solve_triangular(self.factor.T, row, lower=False, check_finite=False)
        return row, d2, resid, v

    def extend(self, row: F64, d2: float, resid: float) -> None:
        """Append the row ``[row, √d2]`` to the factor (grows the buffers when full)."""
        n = self.n
        if n >= self.L.shape[0]:
            cap = max(2 * n, 16)
            L = np.zeros((cap, cap))
            L[:n, :n] = self.factor
            beta = np.zeros(cap)
            beta[:n] = self.beta[:n]
            self.L, self.beta = L, beta
        d = math.sqrt(d2)
        self.L[n, :n] = row
        self.L[n, n] = d
        self.beta[n] = resid / d
        self.n = n + 1
