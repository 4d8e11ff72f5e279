"""αβ-BO (EfficientDL, arXiv 2410.14743): Bayesian optimisation over a grid of components.

Each iteration: with probability Ω the next point is a uniformly random candidate; otherwise
the argmax over the candidates of ``α·EI + PI + β·σ²`` under a Gaussian process (isotropic
Matern kernel, fixed noise ``alpha``, normalised targets) fitted to every observation so far.

Two presets, one class (``preset="kit"``, the default, or ``preset="faithful"`` /
:meth:`AlphaBetaBO.faithful`); every row is also a parameter of its own:

==================  ==========================================  ==================================
                    ``"kit"`` (fast)                            ``"faithful"`` (the authors')
==================  ==========================================  ==================================
kernel              Matern ν = 2.5, length scale from 1.0,      scikit-learn ``Matern()``: ν = 1.5,
                    bounds (1e-5, 1e5), noise 1e-5              length scale 1.0, bounds (1e-5,
                                                                1e5); ``alpha=1e-5``,
                                                                ``normalize_y=True``
fits                every ``refit_every=50`` observations       every iteration, 10 restarts
                    (10 restarts first, warm starts after);     (``refit_every=1``);
                    rank-one updates in between (numba)         scikit-learn predicts the grid
GP inputs           the space's encoding (``GridSpace(...,      the same; the authors' one
                    encoding="kit")``: multi-hot, 282 columns   column per component is
                    on the authors' data)                       ``encoding="authors"`` on the
                                                                space / predictor problem
incumbent f*        ``"evaluated"``: max of the values the      ``"labels"``: max of every told
                    search evaluated (prior rows' labels,       value, prior rows included (a
                    which a predictor may never reach, would    predictor below its best label
                    leave PI ~0 everywhere)                     gives PI ~0 everywhere)
acquisition         numba; EI = max(μ − f*, 0) where σ = 0      numpy/scipy; EI = 0 where σ = 0
argmax over         the grid minus evaluated / failed points    the whole grid, in a shuffled
                    (flat order breaks ties)                    order (first max in that order)
a repeated point    excluded from the argmax                    skipped: the iteration is lost
                                                                (within 1e-7 of an observation)
==================  ==========================================  ==================================

``refit_every=1`` under the kit preset is the "exact" mode (scikit-learn's fit and predictions
every iteration with the kit's other choices); :func:`~effdl_kit.search.reference_alpha_beta_bo`
reproduces it (a check of the kit's own code). The faithful preset is checked against an
independent transcription of the authors' loop (``tests/search/test_search_faithful_golden.py``).

Grids up to ``max_candidates`` are searched whole (flat indices, never materialised as
configurations). Larger grids are searched over a fresh random subset of ``max_candidates``
each iteration plus the one-component neighbours of the incumbent, so memory stays bounded.

Random draws, all from one ``numpy.random.default_rng(seed)``, in this order:

1. ``shuffle_grid`` (faithful) and a grid searched whole: at construction, before any other
   draw, ``perm = rng.permutation(n_candidates)`` (the shuffled Cartesian product);
2. each iteration with no observation yet, and each of ``optimize``'s ``n_initial`` points:
   ``rng.integers(n_candidates)`` (a flat index);
3. each other iteration: ``rng.integers(2**31 - 1)`` when a fit is due (the ``random_state``
   of scikit-learn's GP); on a sampled grid the subset ``rng.integers(0, n, max_candidates)``;
   then ``u = rng.random()``; when ``u < Ω``: ``j = rng.integers(n_pool)`` and the pick is
   ``perm[j]`` (shuffled grid), ``pool[j]`` (sampled grid) or ``j``; otherwise the argmax
   (``perm[argmax(acq[perm])]`` with a shuffled grid); a fallback ``rng.integers(n_pool)``
   only when every candidate is excluded.

Flat index ``i`` is the ``i``-th element of ``itertools.product(*values)`` (the last
component varies fastest).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, get_args

import numpy as np
import numpy.typing as npt

from effdl_kit._core.errors import ConfigError
from effdl_kit._core.validate import check_choice, check_float, check_int
from effdl_kit.search import _kernels as K
from effdl_kit.search._authors import authors_alpha_beta, near_observed
from effdl_kit.search._feasibility import FEASIBLE_AT, check_feasibility, weigh
from effdl_kit.search._gp import (
    KERNELS,
    IncrementalGP,
    KernelName,
    fit_gp,
    kernel_params,
    matern_np,
)
from effdl_kit.search._loop import run_loop
from effdl_kit.search._result import (
    MAX_ABS,
    Observations,
    SearchResult,
    Step,
    check_observations,
)
from effdl_kit.search._space import GridSpace

__all__ = [
    "ACQUISITIONS",
    "INCUMBENTS",
    "PRESETS",
    "AcquisitionName",
    "AlphaBetaBO",
    "IncumbentName",
    "PresetName",
    "SearchResult",
]

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
#: ``"labels"``: f* = max of every value told (prior rows included, the authors');
#: ``"evaluated"``: max of the values the search evaluated (told with ``evaluated=True``)
IncumbentName = Literal["labels", "evaluated"]
INCUMBENTS: tuple[IncumbentName, ...] = get_args(IncumbentName)
#: ``"kit"``: the fast defaults; ``"faithful"``: the authors' choices (module docstring)
PresetName = Literal["kit", "faithful"]
#: preset -> the values of the parameters left at None
PRESETS: dict[PresetName, dict[str, Any]] = {
    "kit": {"nu": 2.5, "refit_every": 50, "incumbent": "evaluated", "skip_repeats": False,
            "shuffle_grid": False},
    "faithful": {"nu": 1.5, "refit_every": 1, "incumbent": "labels", "skip_repeats": True,
                 "shuffle_grid": True},
}
_NUS = (0.5, 1.5, 2.5)
_GP_SEED_HIGH = 2**31 - 1
#: candidates per block when a posterior is computed from scratch
_CHUNK = 2048
#: candidates per scikit-learn predict call in faithful mode
_FAITHFUL_CHUNK = 16384


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
    preset : {"kit", "faithful"}, default "kit"
        Values of the parameters left at None (``nu``, ``refit_every``, ``incumbent``,
        ``skip_repeats``, ``shuffle_grid``; see ``PRESETS`` and the module docstring's table);
        ``"faithful"`` also computes the αβ acquisition as the authors do (EI = 0 where σ = 0).
    refit_every : int, optional
        Observations between kernel hyper-parameter fits (kit 50, faithful 1); with 1
        scikit-learn's GP is refitted and predicts the grid every iteration.
    n_restarts : int, default 10
        Optimizer restarts of the first fit (of every fit when ``refit_every=1``), from the
        length scale 1.0.
    refit_restarts : int, default 0
        Fast mode: extra random restarts of the later fits; each later fit starts from the last
        fitted kernel (a warm start), which is where the optimum usually stays.
    noise : float, default 1e-5
        Noise ``alpha`` added to the kernel diagonal (normalised units).
    nu : {0.5, 1.5, 2.5}, optional
        Matern smoothness (kit 2.5, faithful 1.5 as scikit-learn's ``Matern()``).
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
    incumbent : {"labels", "evaluated"}, optional
        f* of EI and PI. ``"evaluated"`` (kit preset): the best value the search itself
        evaluated (values told through :meth:`tell`, or :meth:`tell_features` with
        ``evaluated=True``); before the first such value, the best value told. ``"labels"``
        (faithful preset, the authors'): the best value told, prior rows included — on the
        authors' data the best label (0.9968) is above anything the predictor gives (its grid
        maximum is about 0.95), so PI stays near 0 and the acquisition only chases σ.
    skip_repeats : bool, optional
        The authors' rule (faithful: True): the argmax runs over every candidate, and a pick
        within 1e-7 (every GP input coordinate) of an observation is not evaluated; that
        iteration is lost (``status`` "skipped" in the history). Overrides ``allow_repeats``.
    shuffle_grid : bool, optional
        Faithful: True. The grid is searched in a random order drawn once (ties of the argmax
        go to the first candidate in that order, as in the authors' shuffled grid); only
        for grids searched whole.
    feasibility : array_like, shape (n_candidates,), optional
        Probability that each grid candidate (flat order) meets a constraint: the
        acquisition is multiplied by it and f* is the best value at a candidate of
        probability >= 0.5 (constrained BO, :mod:`~effdl_kit.search._feasibility`).
    seed : int or None
        Seed of every random draw.

    Raises
    ------
    ConfigError
        Any parameter out of range, before any work starts.
    """

    def __init__(self, space: GridSpace | Mapping[str, Sequence[Any]], *, alpha: float = 0.54,
                 beta: float = 1.01, omega: float = 0.1, preset: PresetName = "kit",
                 refit_every: int | None = None,
                 n_restarts: int = 10, refit_restarts: int = 0, noise: float = 1e-5,
                 nu: float | None = None,
                 max_candidates: int = 100_000, acquisition: AcquisitionName = "alpha_beta",
                 kappa: float = 2.576, allow_repeats: bool = False,
                 kernel: KernelName = "authors", incumbent: IncumbentName | None = None,
                 skip_repeats: bool | None = None, shuffle_grid: bool | None = None,
                 feasibility: Any = None, seed: int | None = None) -> None:
        self.space = space if isinstance(space, GridSpace) else GridSpace(space)
        self.preset = check_choice("preset", preset, tuple(PRESETS))
        given = {"nu": nu, "refit_every": refit_every, "incumbent": incumbent,
                 "skip_repeats": skip_repeats, "shuffle_grid": shuffle_grid}
        opts = {k: PRESETS[self.preset][k] if v is None else v for k, v in given.items()}
        self.alpha = check_float("alpha", alpha, min_value=0.0)
        self.beta = check_float("beta", beta, min_value=0.0)
        self.omega = check_float("omega", omega, min_value=0.0, max_value=1.0)
        self.refit_every = check_int("refit_every", opts["refit_every"], min_value=1)
        self.n_restarts = check_int("n_restarts", n_restarts, min_value=0)
        self.refit_restarts = check_int("refit_restarts", refit_restarts, min_value=0)
        self.noise = check_float("noise", noise, min_value=0.0, min_inclusive=False)
        nu_opt = opts["nu"]
        self.nu = float(check_choice(
            "nu", float(nu_opt) if isinstance(nu_opt, int | float) else nu_opt, _NUS))
        self.max_candidates = check_int("max_candidates", max_candidates, min_value=1)
        self.acquisition = check_choice("acquisition", acquisition, tuple(ACQUISITIONS))
        self.kappa = check_float("kappa", kappa, min_value=0.0)
        self.allow_repeats = bool(check_choice("allow_repeats", allow_repeats, (True, False)))
        self.kernel = check_choice("kernel", kernel, KERNELS)
        self.incumbent = check_choice("incumbent", opts["incumbent"], INCUMBENTS)
        self.skip_repeats = bool(check_choice("skip_repeats", opts["skip_repeats"],
                                              (True, False)))
        self.shuffle_grid = bool(check_choice("shuffle_grid", opts["shuffle_grid"],
                                              (True, False)))
        if seed is not None:
            check_int("seed", seed, min_value=0)
        self.seed = seed
        if self.space.n_candidates >= 2**62:
            raise ConfigError("space", f"{self.space.n_candidates} candidates",
                              "fewer than 2**62 candidates")
        self.feasibility = check_feasibility(feasibility, self.space.n_candidates)
        self._rng = np.random.default_rng(seed)
        # the shuffled grid: the first draw of the generator (module docstring)
        self._perm: I64 | None = (
            self._rng.permutation(self.space.n_candidates).astype(np.int64)
            if self.shuffle_grid and not self.sampled else None)
        self._obs = Observations(self.space.n_features)
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
        self._pending_step: Step | None = None

    @classmethod
    def faithful(cls, space: GridSpace | Mapping[str, Sequence[Any]], **kwargs: Any
                 ) -> AlphaBetaBO:
        """αβ-BO with the authors' choices: ``AlphaBetaBO(space, preset="faithful", ...)``.

        For the authors' GP inputs too, give a space with ``encoding="authors"`` (for a
        predictor: ``predictor_problem(..., encoding="authors", data=frame)``).
        """
        return cls(space, preset="faithful", **kwargs)

    # ------------------------------------------------------------------ properties
    @property
    def mode(self) -> str:
        """``"faithful"`` (the faithful preset), ``"exact"`` (kit preset, scikit-learn every
        iteration: ``refit_every=1``) or ``"fast"``."""
        if self.preset == "faithful":
            return "faithful"
        return "exact" if self.refit_every == 1 else "fast"

    @property
    def _exact(self) -> bool:
        """scikit-learn's fit and predictions every iteration (no incremental updates)."""
        return self.refit_every == 1

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

    @property
    def f_star(self) -> float:
        """The incumbent of EI and PI under the ``incumbent`` option (``-inf`` before any)."""
        if self.incumbent == "evaluated":
            w = self.feasibility
            done = [v for v, e, f in zip(self._obs.y, self._obs.evaluated, self._obs.flat,
                                         strict=True)
                    if e and (w is None or (f >= 0 and w[f] >= FEASIBLE_AT))]
            if done:
                return max(done)
        return self.best_value

    @property
    def grid_order(self) -> I64:
        """The order ties of the argmax are broken in: the shuffled grid (``shuffle_grid``)
        or the flat order."""
        return self._perm if self._perm is not None else np.arange(self.space.n_candidates)

    @property
    def last_skipped(self) -> bool:
        """Whether the last asked point repeats an observation (``skip_repeats``): the
        authors' loop does not evaluate it."""
        return self._pending_step is not None and self._pending_step.skipped

    def settings(self) -> dict[str, Any]:
        """Parameters, mode and grid size."""
        return {
            "alpha": self.alpha, "beta": self.beta, "omega": self.omega,
            "refit_every": self.refit_every, "n_restarts": self.n_restarts,
            "refit_restarts": self.refit_restarts,
            "noise": self.noise, "nu": self.nu, "max_candidates": self.max_candidates,
            "acquisition": self.acquisition, "kappa": self.kappa, "seed": self.seed,
            "allow_repeats": self.allow_repeats, "kernel": self.kernel,
            "preset": self.preset, "incumbent": self.incumbent,
            "skip_repeats": self.skip_repeats, "shuffle_grid": self.shuffle_grid,
            "encoding": self.space.encoding, "mode": self.mode,
            "n_candidates": self.space.n_candidates,
            "components": self.space.names,
        }

    # ------------------------------------------------------------------ observations
    def tell(self, config: Mapping[str, Any] | int, y: float) -> None:
        """Record the value of a grid configuration (a mapping or its flat index)."""
        flat = int(config) if isinstance(config, int | np.integer) else \
            self.space.index_of(config)
        self._add(self.space.features([flat])[0], self._value(y), flat, evaluated=True)

    def tell_features(self, X: Any, y: Any, *, evaluated: bool = False) -> None:
        """Record observations given by their GP input (e.g. encoded dataset rows).

        Parameters
        ----------
        X : array_like, shape (n, space.n_features)
        y : array_like, shape (n,)
        evaluated : bool, default False
            Whether these values were evaluated by the search (they count for
            ``incumbent="evaluated"``) rather than prior labels.
        """
        X, y = check_observations(X, y, self.space.n_features)
        if self._gp is None or X.shape[0] > 1:
            # a batch: store, and let the next ask fit the GP on everything
            self._store(X, y, [-1] * X.shape[0], evaluated=evaluated)
            self._invalidate()
            return
        self._add(X[0], float(y[0]), -1, evaluated=evaluated)

    def tell_configs(self, configs: Sequence[Mapping[str, Any]], y: Any) -> None:
        """Record configurations whose numeric values may lie off the grid."""
        self.tell_features(self.space.encode_configs(configs), y)

    @staticmethod
    def _value(y: Any) -> float:
        return check_float("y", y, min_value=-MAX_ABS, max_value=MAX_ABS)

    def _store(self, X: F64, y: Sequence[float] | F64, flat: Sequence[int], *,
               evaluated: bool) -> None:
        X = np.asarray(X, dtype=np.float64).reshape(-1, self.space.n_features)
        self._obs.add(X, list(np.asarray(y, dtype=np.float64)), flat, evaluated=evaluated)
        table, rest = self.space.distance_tables(X)
        self._table = np.ascontiguousarray(np.concatenate([self._table, table], axis=1))
        self._rest = np.concatenate([self._rest, rest])

    def _invalidate(self) -> None:
        self._gp = None
        self._mu = self._var = self._acq = None

    def _add(self, x: F64, y: float, flat: int, *, evaluated: bool) -> None:
        """Store an observation; between fits, update the factor and the cached posterior."""
        gp = self._gp
        self._store(x[None, :], [y], [flat], evaluated=evaluated)
        if gp is None or self._exact:
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
                gp.y_mean, gp.y_std, self.f_star, ACQUISITIONS[self.acquisition],
                self._acq_a(), self.beta, self._acq,
            )
        gp.extend(row, d2, resid)

    def _acq_a(self) -> float:
        return _FIRST_WEIGHT[self.acquisition](self.alpha, self.kappa)

    # ------------------------------------------------------------------ fitting
    def _fit_due(self) -> bool:
        # refit_every=1: every iteration, also after a skipped or failed one (as the authors)
        return self._gp is None or self._exact or self._since_fit >= self.refit_every

    def _fit(self) -> None:
        gp_seed = int(self._rng.integers(_GP_SEED_HIGH))
        X = np.asarray(self._obs.X)
        y = np.asarray(self._obs.y)
        if not self._exact and self._skl is not None:
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
        if self._exact:  # scikit-learn's own prediction, as the authors' code
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
        if self.preset == "faithful" and self.acquisition == "alpha_beta":
            return authors_alpha_beta(mu, sd, self.f_star, self.alpha, self.beta)
        return K.acquisition_array(ACQUISITIONS[self.acquisition], mu, sd, self.f_star,
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
            parts.append(self.space.neighbours(max(on_grid, key=lambda t: t[0])[1]))
        return np.unique(np.concatenate(parts))

    def ask_index(self) -> int:
        """Flat index of the next candidate to evaluate (see :attr:`last_skipped`)."""
        refit = False
        if self.n_observations == 0:
            flat = int(self._rng.integers(self.space.n_candidates))
            self._pending_step = Step(flat, True, math.nan, False)
            return flat
        if self._fit_due():
            self._fit()
            refit = True
        if self.sampled:
            pool = self._pool()
            acq = self._acquire(*self._predict(pool))
        elif self._exact:
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
        acq = weigh(acq, self.feasibility, pool)
        # order[k]: the flat index of this iteration's k-th candidate (None: k itself)
        order = pool if pool is not None else self._perm
        u = self._rng.random()
        if u < self.omega:
            k = int(self._rng.integers(len(acq)))
            step = Step(int(order[k]) if order is not None else k, True, math.nan, refit)
        else:
            excluded = set(self._failed)
            if not self.allow_repeats and not self.skip_repeats:
                excluded.update(f for f in self._obs.flat if f >= 0)
            if excluded:
                acq = acq.copy()
                idx = np.fromiter(excluded, dtype=np.int64)
                if pool is None:
                    acq[idx] = -np.inf
                else:
                    acq[np.isin(pool, idx)] = -np.inf
            ranked = acq if pool is not None or self._perm is None else acq[self._perm]
            k = int(np.argmax(ranked))
            if not np.isfinite(ranked[k]):  # everything excluded: fall back to a random pick
                k = int(self._rng.integers(len(acq)))
            step = Step(int(order[k]) if order is not None else k, False, float(ranked[k]),
                        refit)
        if self.skip_repeats:
            step.skipped = near_observed(self.space.features([step.flat])[0], self._obs.X)
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
        return run_loop(self, fn, n_iter, n_initial=n_initial, callback=callback,
                        progress=progress)

    def random_step(self) -> Step:
        """A uniformly random candidate (``optimize``'s initial points): one draw."""
        self._pending_step = Step(int(self._rng.integers(self.space.n_candidates)), True,
                                  math.nan, False)
        return self._pending_step

    @property
    def last_step(self) -> Step | None:
        """The last candidate asked (flat index, random, acquisition, refit, skipped)."""
        return self._pending_step
