"""αβ-BO (EfficientDL, arXiv 2410.14743): Bayesian optimisation over a grid of components.

Each iteration: with probability Ω the next point is a uniformly random candidate; otherwise
the argmax over the candidates of ``α·EI + PI + β·σ²`` under a Gaussian process (isotropic
Matern kernel, fixed noise ``alpha``, normalised targets) fitted to every observation so far.

Two modes, one class:

``refit_every=1`` ("faithful", the authors' behaviour)
    scikit-learn's GP is refitted with ``n_restarts`` optimizer restarts every iteration and
    predicts every candidate; the acquisition runs in numba. Chooses exactly what the plain
    reference (:func:`~effdl_kit.search.reference_alpha_beta_bo`) chooses with the same seed.
``refit_every=k > 1`` ("fast", the default)
    Kernel hyper-parameters are re-optimised every ``k`` observations; in between the Cholesky
    factor grows by one row per observation and the cached posterior of every candidate gets a
    rank-one update fused with the acquisition in one numba pass over the grid.

Grids up to ``max_candidates`` are searched whole (flat indices, never materialised as
configurations). Larger grids are searched over a fresh random subset of ``max_candidates``
each iteration plus the one-component neighbours of the incumbent, so memory stays bounded.

Random draws follow one order, shared with the reference: per iteration, a GP seed when a fit
is due, then ``u ~ U(0, 1)``, then a candidate index when ``u < Ω``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from effdl_kit._core.errors import ConfigError, DataError
from effdl_kit._core.validate import check_choice, check_float, check_int
from effdl_kit.search import _kernels as K
from effdl_kit.search._gp import (
    KERNELS,
    IncrementalGP,
    KernelName,
    fit_gp,
    kernel_params,
    matern_np,
)
from effdl_kit.search._space import GridSpace

__all__ = ["ACQUISITIONS", "AcquisitionName", "AlphaBetaBO", "SearchResult"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

#: the acquisition functions αβ-BO can maximise
AcquisitionName = Literal["alpha_beta", "ei", "pi", "ucb"]
#: acquisition names -> kernel codes
ACQUISITIONS: dict[AcquisitionName, int] = {
    "alpha_beta": K.ACQ_ALPHA_BETA, "ei": K.ACQ_EI, "pi": K.ACQ_PI, "ucb": K.ACQ_UCB,
}
#: acquisition name -> its first weight given (α, κ): UCB's κ, α otherwise (EI and PI ignore it)
_FIRST_WEIGHT: dict[AcquisitionName, Callable[[float, float], float]] = {
    "alpha_beta": lambda alpha, kappa: alpha, "ei": lambda alpha, kappa: alpha,
    "pi": lambda alpha, kappa: alpha, "ucb": lambda alpha, kappa: kappa,
}
_NUS = (0.5, 1.5, 2.5)
_GP_SEED_HIGH = 2**31 - 1
#: largest magnitude accepted for targets and features (squares and variances stay finite)
_MAX_ABS = 1e150
#: candidates per block when a posterior is computed from scratch
_CHUNK = 2048
#: candidates per scikit-learn predict call in faithful mode
_FAITHFUL_CHUNK = 16384


@dataclass
class SearchResult:
    """What :meth:`AlphaBetaBO.optimize` did.

    Attributes
    ----------
    history : pandas.DataFrame
        One row per iteration: ``iteration``, the components' values, ``value`` (NaN for a
        failed evaluation), ``status`` ("ok"/"failed"), ``error``, ``acquisition`` (NaN for a
        random pick), ``random``, ``refit``, ``ask_s``, ``eval_s``, ``tell_s``.
    best_config : dict or None
        The best evaluated configuration (None when every evaluation failed).
    best_value : float
        Its value (``-inf`` when none).
    initial_best : float
        Best value among the observations given before the search (``-inf`` when none).
    length_scales : list of float
        Kernel length scale after each fit.
    settings : dict
        The optimiser's parameters, mode, seed and grid size.
    """

    history: pd.DataFrame
    best_config: dict[str, Any] | None
    best_value: float
    initial_best: float
    length_scales: list[float]
    settings: dict[str, Any]

    @property
    def n_iterations(self) -> int:
        """Iterations run."""
        return len(self.history)

    def best_so_far(self) -> pd.Series:
        """Best value after each iteration (failed evaluations ignored)."""
        v = self.history["value"].astype(float).fillna(-np.inf)
        return v.cummax().rename("best_so_far")

    def timings(self) -> dict[str, float]:
        """Total and per-iteration seconds of asking (search), evaluating and telling."""
        h = self.history
        n = max(len(h), 1)
        search = float(h["ask_s"].sum() + h["tell_s"].sum())
        return {"search_s": search, "eval_s": float(h["eval_s"].sum()),
                "search_per_iter_s": search / n, "n_refits": float(h["refit"].sum())}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "history": self.history.to_dict(orient="list"),
            "best_config": self.best_config, "best_value": self.best_value,
            "initial_best": self.initial_best, "length_scales": self.length_scales,
            "settings": self.settings,
        }


@dataclass
class _Step:
    flat: int
    random: bool
    acquisition: float
    refit: bool


@dataclass
class _State:
    """Observations: GP inputs in a growing buffer, values, flat index (-1: off the grid)."""

    n_features: int
    buf: F64 = field(init=False)
    y: list[float] = field(default_factory=list)
    flat: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.buf = np.zeros((64, self.n_features))

    @property
    def X(self) -> F64:
        return self.buf[:len(self.y)]

    def add(self, X: F64, y: Sequence[float], flat: Sequence[int]) -> None:
        n, k = len(self.y), X.shape[0]
        if n + k > self.buf.shape[0]:
            buf = np.zeros((max(2 * self.buf.shape[0], n + k), self.n_features))
            buf[:n] = self.buf[:n]
            self.buf = buf
        self.buf[n:n + k] = X
        self.y.extend(float(v) for v in y)
        self.flat.extend(int(f) for f in flat)


class AlphaBetaBO:
    """αβ-BO over a grid of component values.

    Parameters
    ----------
    space : GridSpace or mapping of str to sequence
        The components and their values (a mapping gets the default encoding).
    alpha, beta : float, default 0.54, 1.01
        Weights of EI and σ² in the acquisition (≥ 0; the authors' ablation defaults).
    omega : float, default 0.1
        Probability of a uniformly random candidate instead of the acquisition's argmax.
    refit_every : int, default 50
        Observations between kernel hyper-parameter fits; 1 is the authors' faithful mode.
    n_restarts : int, default 10
        Optimizer restarts of the first fit (of every fit in faithful mode), from the
        length scale 1.0.
    refit_restarts : int, default 0
        Fast mode: extra random restarts of the later fits; each later fit starts from the last
        fitted kernel (a warm start), which is where the optimum usually stays.
    noise : float, default 1e-5
        Noise ``alpha`` added to the kernel diagonal (normalised units).
    nu : {0.5, 1.5, 2.5}, default 2.5
        Matern smoothness.
    max_candidates : int, default 100_000
        Grids larger than this are searched over random subsets of this size (+ neighbours).
    acquisition : {"alpha_beta", "ei", "pi", "ucb"}, default "alpha_beta"
        ``"ei"`` with Ω = 0 is plain EI-BO.
    kappa : float, default 2.576
        UCB's exploration weight.
    kernel : {"authors", "fitted_noise"}, default "authors"
        The authors' GP is a unit-amplitude Matern with the fixed noise ``noise``; on data with
        repeated configurations of different accuracy its likelihood drives the length scale
        to its lower bound, the posterior collapses to the prior away from the observations,
        and the argmax degenerates to grid order. ``"fitted_noise"`` fits an amplitude and a
        white-noise level too (scikit-learn ``C * Matern + WhiteKernel``), which models such
        data.
    allow_repeats : bool, default False
        Whether the argmax may return a candidate already evaluated. With a deterministic
        objective (a static predictor) a repeat brings nothing, and the PI term, which is
        about 1/2 at the incumbent, makes the authors' acquisition re-pick the incumbent; so
        evaluated candidates are excluded by default (the Ω-random draw may still hit one).
    seed : int or None
        Seed of every random draw.

    Raises
    ------
    ConfigError
        Any parameter out of range, before any work starts.
    """

    def __init__(self, space: GridSpace | Mapping[str, Sequence[Any]], *, alpha: float = 0.54,
                 beta: float = 1.01, omega: float = 0.1, refit_every: int = 50,
                 n_restarts: int = 10, refit_restarts: int = 0, noise: float = 1e-5,
                 nu: float = 2.5,
                 max_candidates: int = 100_000, acquisition: AcquisitionName = "alpha_beta",
                 kappa: float = 2.576, allow_repeats: bool = False,
                 kernel: KernelName = "authors", seed: int | None = None) -> None:
        self.space = space if isinstance(space, GridSpace) else GridSpace(space)
        self.alpha = check_float("alpha", alpha, min_value=0.0)
        self.beta = check_float("beta", beta, min_value=0.0)
        self.omega = check_float("omega", omega, min_value=0.0, max_value=1.0)
        self.refit_every = check_int("refit_every", refit_every, min_value=1)
        self.n_restarts = check_int("n_restarts", n_restarts, min_value=0)
        self.refit_restarts = check_int("refit_restarts", refit_restarts, min_value=0)
        self.noise = check_float("noise", noise, min_value=0.0, min_inclusive=False)
        self.nu = float(check_choice("nu", float(nu) if isinstance(nu, int | float) else nu,
                                     _NUS))
        self.max_candidates = check_int("max_candidates", max_candidates, min_value=1)
        self.acquisition = check_choice("acquisition", acquisition, tuple(ACQUISITIONS))
        self.kappa = check_float("kappa", kappa, min_value=0.0)
        self.allow_repeats = bool(check_choice("allow_repeats", allow_repeats, (True, False)))
        self.kernel = check_choice("kernel", kernel, KERNELS)
        if seed is not None:
            check_int("seed", seed, min_value=0)
        self.seed = seed
        if self.space.n_candidates >= 2**62:
            raise ConfigError("space", f"{self.space.n_candidates} candidates",
                              "fewer than 2**62 candidates")
        self._rng = np.random.default_rng(seed)
        self._obs = _State(self.space.n_features)
        self._gp: IncrementalGP | None = None
        self._skl: Any = None  # the last scikit-learn fit
        self._since_fit = 0
        self._table = np.zeros((int(self.space.sizes.sum()), 0))
        self._rest = np.zeros(0)
        self._mu: F64 | None = None  # cached normalised posterior over the whole grid
        self._var: F64 | None = None
        self._acq: F64 | None = None
        self._failed: set[int] = set()
        self.length_scales: list[float] = []
        self.kernels: list[str] = []
        self._pending_step: _Step | None = None

    # ------------------------------------------------------------------ properties
    @property
    def mode(self) -> str:
        """``"faithful"`` (refit every iteration) or ``"fast"``."""
        return "faithful" if self.refit_every == 1 else "fast"

    @property
    def sampled(self) -> bool:
        """True when the grid exceeds ``max_candidates`` (random subsets are searched)."""
        return self.space.n_candidates > self.max_candidates

    @property
    def n_observations(self) -> int:
        """Observations told so far."""
        return len(self._obs.y)

    @property
    def best_value(self) -> float:
        """Best observed value (``-inf`` before any)."""
        return max(self._obs.y) if self._obs.y else -math.inf

    def settings(self) -> dict[str, Any]:
        """Parameters, mode and grid size."""
        return {
            "alpha": self.alpha, "beta": self.beta, "omega": self.omega,
            "refit_every": self.refit_every, "n_restarts": self.n_restarts,
            "refit_restarts": self.refit_restarts,
            "noise": self.noise, "nu": self.nu, "max_candidates": self.max_candidates,
            "acquisition": self.acquisition, "kappa": self.kappa, "seed": self.seed,
            "allow_repeats": self.allow_repeats, "kernel": self.kernel,
            "mode": self.mode, "n_candidates": self.space.n_candidates,
            "components": self.space.names,
        }

    # ------------------------------------------------------------------ observations
    def tell(self, config: Mapping[str, Any] | int, y: float) -> None:
        """Record the value of a grid configuration (a mapping or its flat index)."""
        flat = int(config) if isinstance(config, int | np.integer) else \
            self.space.index_of(config)
        self._add(self.space.features([flat])[0], self._value(y), flat)

    def tell_features(self, X: Any, y: Any) -> None:
        """Record observations given by their GP input (e.g. encoded dataset rows).

        Parameters
        ----------
        X : array_like, shape (n, space.n_features)
        y : array_like, shape (n,)
        """
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64).reshape(-1)
        if X.ndim != 2 or X.shape[1] != self.space.n_features:
            raise ConfigError("X", f"shape {X.shape}", f"(n, {self.space.n_features})")
        if X.shape[0] != y.shape[0]:
            raise ConfigError("y", f"{y.shape[0]} values", f"{X.shape[0]} (one per row of X)")
        if not np.isfinite(X).all() or (np.abs(X) > _MAX_ABS).any():
            raise DataError(f"X holds NaN, infinite or huge (> {_MAX_ABS:g}) features")
        if not np.isfinite(y).all() or (np.abs(y) > _MAX_ABS).any():
            raise DataError(f"y holds NaN, infinite or huge (> {_MAX_ABS:g}) values")
        if self._gp is None or X.shape[0] > 1:
            # a batch: store, and let the next ask fit the GP on everything
            self._store(X, y, [-1] * X.shape[0])
            self._invalidate()
            return
        self._add(X[0], float(y[0]), -1)

    def tell_configs(self, configs: Sequence[Mapping[str, Any]], y: Any) -> None:
        """Record configurations whose numeric values may lie off the grid."""
        self.tell_features(self.space.encode_configs(configs), y)

    @staticmethod
    def _value(y: Any) -> float:
        return check_float("y", y, min_value=-_MAX_ABS, max_value=_MAX_ABS)

    def _store(self, X: F64, y: Sequence[float] | F64, flat: Sequence[int]) -> None:
        X = np.asarray(X, dtype=np.float64).reshape(-1, self.space.n_features)
        self._obs.add(X, list(np.asarray(y, dtype=np.float64)), flat)
        table, rest = self.space.distance_tables(X)
        self._table = np.ascontiguousarray(np.concatenate([self._table, table], axis=1))
        self._rest = np.concatenate([self._rest, rest])

    def _invalidate(self) -> None:
        self._gp = None
        self._mu = self._var = self._acq = None

    def _add(self, x: F64, y: float, flat: int) -> None:
        """Store an observation; between fits, update the factor and the cached posterior."""
        gp = self._gp
        self._store(x[None, :], [y], [flat])
        if gp is None or self.mode == "faithful":
            self._invalidate()
            return
        self._since_fit += 1
        n_prev = gp.n
        Xp = self._obs.X[:n_prev]
        k_vec = gp.amp * matern_np(((Xp - x[None, :]) ** 2).sum(1), gp.length, gp.nu)
        row, d2, resid, v = gp.prepare(k_vec, y)
        if self._mu is not None and self._var is not None and self._acq is not None:
            K.posterior_update_acquire(
                0, self._mu, self._var, self.space.radix, self.space.offsets, self._table,
                self._rest, n_prev, v, n_prev, resid, d2, gp.length, int(2 * gp.nu), gp.amp,
                gp.y_mean, gp.y_std, self.best_value, ACQUISITIONS[self.acquisition],
                self._acq_a(), self.beta, self._acq,
            )
        gp.extend(row, d2, resid)

    def _acq_a(self) -> float:
        return _FIRST_WEIGHT[self.acquisition](self.alpha, self.kappa)

    # ------------------------------------------------------------------ fitting
    def _fit_due(self) -> bool:
        return self._gp is None or self._since_fit >= self.refit_every

    def _fit(self) -> None:
        gp_seed = int(self._rng.integers(_GP_SEED_HIGH))
        X = np.asarray(self._obs.X)
        y = np.asarray(self._obs.y)
        if self.mode == "fast" and self._skl is not None:
            # warm refit: from the last fitted kernel, with fewer restarts
            skl = fit_gp(X, y, nu=self.nu, noise=self.noise, n_restarts=self.refit_restarts,
                         seed=gp_seed, kernel=self.kernel, start=self._skl.kernel_)
        else:
            skl = fit_gp(X, y, nu=self.nu, noise=self.noise, n_restarts=self.n_restarts,
                         seed=gp_seed, kernel=self.kernel)
        self._skl = skl
        self.length_scales.append(kernel_params(skl.kernel_)[0])
        self.kernels.append(str(skl.kernel_))
        self._gp = IncrementalGP.from_fit(skl, y, nu=self.nu, noise=self.noise,
                                          capacity=len(y) + self.refit_every + 1)
        self._since_fit = 0
        self._mu = self._var = self._acq = None

    def _posterior(self, flat: I64) -> tuple[F64, F64]:
        """Fast mode: normalised posterior mean and variance of candidates (chunked)."""
        gp = self._gp
        assert gp is not None
        from scipy.linalg import solve_triangular

        alpha = gp.alpha()
        L = gp.factor
        mu = np.empty(flat.shape[0])
        var = np.empty(flat.shape[0])
        for s in range(0, flat.shape[0], _CHUNK):
            f = np.ascontiguousarray(flat[s:s + _CHUNK])
            kxc = gp.amp * K.cross_kernel(f, self.space.radix, self.space.offsets, self._table,
                                          self._rest, gp.n, gp.length, int(2 * gp.nu))
            mu[s:s + len(f)] = kxc.T @ alpha
            w = solve_triangular(L, kxc, lower=True, check_finite=False)
            var[s:s + len(f)] = np.maximum(gp.prior_var - np.einsum("ij,ij->j", w, w), 0.0)
        return mu, var

    def _predict(self, flat: I64) -> tuple[F64, F64]:
        """Posterior mean and standard deviation of candidates, in the targets' units."""
        gp = self._gp
        assert gp is not None
        if self.mode == "faithful":  # scikit-learn's own prediction, as the authors' code
            mus, sds = [], []
            for s in range(0, flat.shape[0], _FAITHFUL_CHUNK):
                m, sd = self._skl.predict(self.space.features(flat[s:s + _FAITHFUL_CHUNK]),
                                          return_std=True)
                mus.append(m)
                sds.append(sd)
            return np.concatenate(mus), np.concatenate(sds)
        mu_n, var_n = self._posterior(flat)
        return gp.y_mean + gp.y_std * mu_n, gp.y_std * np.sqrt(var_n)

    def _acquire(self, mu: F64, sd: F64) -> F64:
        mu = np.ascontiguousarray(mu, dtype=np.float64)
        sd = np.ascontiguousarray(sd, dtype=np.float64)
        return K.acquisition_array(ACQUISITIONS[self.acquisition], mu, sd, self.best_value,
                                   self._acq_a(), self.beta)

    # ------------------------------------------------------------------ asking
    def _pool(self) -> I64:
        """Candidates of this iteration: the whole grid, or a random subset + neighbours."""
        n = self.space.n_candidates
        if not self.sampled:
            return np.arange(n, dtype=np.int64)
        draw = self._rng.integers(0, n, size=self.max_candidates, dtype=np.int64)
        parts = [draw]
        on_grid = [(v, f) for v, f in zip(self._obs.y, self._obs.flat, strict=True) if f >= 0]
        if on_grid:
            inc = max(on_grid, key=lambda t: t[0])[1]
            codes = self.space.decode([inc])[0]
            nb = []
            for b, size in enumerate(self.space.sizes):
                for v in range(int(size)):
                    if v != codes[b]:
                        c = codes.copy()
                        c[b] = v
                        nb.append(c)
            if nb:
                parts.append(self.space.encode_index(np.asarray(nb)))
        return np.unique(np.concatenate(parts))

    def ask_index(self) -> int:
        """Flat index of the next candidate to evaluate."""
        refit = False
        if self.n_observations == 0:
            flat = int(self._rng.integers(self.space.n_candidates))
            self._pending_step = _Step(flat, True, math.nan, False)
            return flat
        if self._fit_due():
            self._fit()
            refit = True
        if self.sampled:
            pool = self._pool()
            acq = self._acquire(*self._predict(pool))
        elif self.mode == "faithful":
            pool = None
            acq = self._acquire(*self._predict(np.arange(self.space.n_candidates)))
        else:
            pool = None
            if self._acq is None:
                gp = self._gp
                assert gp is not None
                self._mu, self._var = self._posterior(np.arange(self.space.n_candidates))
                self._acq = self._acquire(gp.y_mean + gp.y_std * self._mu,
                                          gp.y_std * np.sqrt(self._var))
            acq = self._acq
        u = self._rng.random()
        if u < self.omega:
            k = int(self._rng.integers(len(acq)))
            step = _Step(int(pool[k]) if pool is not None else k, True, math.nan, refit)
        else:
            excluded = set(self._failed)
            if not self.allow_repeats:
                excluded.update(f for f in self._obs.flat if f >= 0)
            if excluded:
                acq = acq.copy()
                idx = np.fromiter(excluded, dtype=np.int64)
                if pool is None:
                    acq[idx] = -np.inf
                else:
                    acq[np.isin(pool, idx)] = -np.inf
            k = int(np.argmax(acq))
            if not np.isfinite(acq[k]):  # everything excluded: fall back to a random candidate
                k = int(self._rng.integers(len(acq)))
            step = _Step(int(pool[k]) if pool is not None else k, False, float(acq[k]), refit)
        self._pending_step = step
        return step.flat

    def ask(self) -> dict[str, Any]:
        """The next configuration to evaluate, as ``{component: value}``."""
        return self.space.config(self.ask_index())

    def mark_failed(self, config: Mapping[str, Any] | int) -> None:
        """Exclude a configuration whose evaluation failed from later argmax choices."""
        flat = int(config) if isinstance(config, int | np.integer) else \
            self.space.index_of(config)
        self._failed.add(flat)

    # ------------------------------------------------------------------ loop
    def optimize(self, fn: Callable[[dict[str, Any]], float], n_iter: int, *,
                 n_initial: int = 0,
                 callback: Callable[[int, dict[str, Any]], None] | None = None,
                 progress: bool = False) -> SearchResult:
        """Run ``n_iter`` iterations maximising ``fn``.

        Parameters
        ----------
        fn : callable
            ``fn(config) -> float`` (higher is better). An exception or a non-finite value is
            recorded as a failed iteration and the search goes on.
        n_iter : int
            Iterations of the search (after the initial points).
        n_initial : int, default 0
            Uniformly random points evaluated first (needed when nothing was told before).
        callback : callable, optional
            ``callback(iteration, row)`` after each iteration (``row``: the history row).
        progress : bool, default False
            Show a tqdm bar.
        """
        n_iter = check_int("n_iter", n_iter, min_value=0)
        n_initial = check_int("n_initial", n_initial, min_value=0)
        if not callable(fn):
            raise ConfigError("fn", fn, "a callable fn(config) -> float")
        if self.n_observations == 0 and n_initial == 0 and n_iter > 0:
            raise ConfigError("n_initial", 0,
                              ">= 1 when no observations were told before the search")
        initial_best = self.best_value
        rows: list[dict[str, Any]] = []
        from tqdm.auto import tqdm

        bar = tqdm(total=n_initial + n_iter, disable=not progress, desc="αβ-BO")
        try:
            for it in range(n_initial + n_iter):
                t0 = time.perf_counter()
                if it < n_initial:
                    flat = int(self._rng.integers(self.space.n_candidates))
                    step = _Step(flat, True, math.nan, False)
                else:
                    self.ask_index()
                    assert self._pending_step is not None
                    step = self._pending_step
                t1 = time.perf_counter()
                config = self.space.config(step.flat)
                value, error = math.nan, ""
                try:
                    value = float(fn(dict(config)))
                    if not math.isfinite(value):
                        error = f"non-finite value {value}"
                except Exception as exc:  # a failed evaluation is recorded; the search goes on
                    error = f"{type(exc).__name__}: {exc}"
                t2 = time.perf_counter()
                if error:
                    value = math.nan
                    self.mark_failed(step.flat)
                else:
                    self.tell(step.flat, value)
                t3 = time.perf_counter()
                row = {"iteration": it, **config, "value": value,
                       "status": "failed" if error else "ok", "error": error,
                       "acquisition": step.acquisition, "random": step.random,
                       "refit": step.refit, "initial": it < n_initial,
                       "ask_s": t1 - t0, "eval_s": t2 - t1, "tell_s": t3 - t2}
                rows.append(row)
                if callback is not None:
                    callback(it, row)
                bar.update(1)
        finally:
            bar.close()
        history = pd.DataFrame(rows)
        ok = history[history["status"] == "ok"] if len(history) else history
        if len(ok):
            best = ok.iloc[int(np.argmax(ok["value"].to_numpy()))]
            best_config = {n: best[n] for n in self.space.names}
            best_config = {k: (v.item() if isinstance(v, np.generic) else v)
                           for k, v in best_config.items()}
            best_value = float(best["value"])
        else:
            best_config, best_value = None, -math.inf
        return SearchResult(history=history, best_config=best_config, best_value=best_value,
                            initial_best=initial_best, length_scales=list(self.length_scales),
                            settings=self.settings())
