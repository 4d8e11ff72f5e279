"""αβ-BO as an Optuna sampler: any Optuna study can search with EfficientDL's acquisition.

:class:`AlphaBetaSampler` follows the shape of Optuna's own model-based samplers: it is
stateless between trials (everything it needs is read back from the study), it samples the
*relative* search space (the parameters every completed trial shares) jointly, and leaves the
rest (first trials, parameters that appear only in some trials) to an independent sampler.

Two engines propose a trial after the start-up phase. The default, ``engine="cube"``
(:mod:`._cube_bo`), works on the unit cube: every numeric parameter is one column in [0, 1]
(on the log scale when ``log=True``), every categorical one a one-hot block; it fits a GP with
an ARD Matern 5/2 kernel, fitted amplitude and fitted noise to the standardised values
(warm-started from the previous trial), and maximises ``α·EI + PI + β·σ²`` with each term
divided by its maximum over a Sobol pool (``acq_scale="normalised"``: α and β weigh EI and the
variance relative to PI, so the paper's α = 0.54, β = 1.01 keep one meaning for any objective)
over the feasible set: the pool, perturbations of the best observations and a few rounds of
shrinking local steps around the best candidates, ints and stepped floats rounded to their
lattice, categories one-hot; evaluated, failed and running points are never proposed. It
measured far better than the grid engine on ``python -m benchmarks sampler_quality``
(``docs/results/sampler_quality.md``), and so did the normalised scale over the raw one
(``acq_scale="raw"``: in standardised units β·σ² ≈ 1 away from the data outweighs PI ≤ 1 and
EI, and the search explores blindly).

The ``"grid"`` engine (the kit's earlier sampler, over :class:`~effdl_kit.search.AlphaBetaBO`),
for each trial after the start-up phase,

1. turns each distribution of the relative search space into a list of grid values
   (:class:`~optuna.distributions.CategoricalDistribution`: its choices;
   :class:`~optuna.distributions.IntDistribution`: every valid value when there are at most
   ``4 * grid_points`` of them, else ``grid_points`` values, log-spaced when ``log=True``;
   :class:`~optuna.distributions.FloatDistribution`: ``grid_points`` values, log-spaced when
   ``log=True``, on the ``step`` lattice when a step is given), each with its Gaussian-process
   encoding (numeric: one column in [0, 1] over the distribution's bounds, on the log scale
   when ``log=True``; categorical: one-hot, since Optuna's choices are unordered);
2. tells a fresh :class:`~effdl_kit.search.AlphaBetaBO` every completed trial (and every pruned
   trial's last intermediate value when ``consider_pruned_trials``), oriented for
   maximisation and standardised (the acquisition ``α·EI + PI + β·σ²`` is not invariant to
   the values' scale, so standardising makes α, β mean the same for every objective);
   parameters that lie between grid points are told by their encoding, so no observation is
   rounded; grid points already evaluated, whose trial failed, or that a running trial (another
   worker's) is evaluating are excluded from the argmax;
3. asks one candidate and returns it, cast to each distribution's type and inside its bounds.

The kernel is fitted once per trial (on the first ask of the fresh optimiser). Each trial's
optimiser seed is drawn from one :class:`numpy.random.Generator` held by the sampler, so two
studies with the same ``seed`` and objective give the same trials.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any, Literal, get_args

import numpy as np
import numpy.typing as npt
from optuna.distributions import (
    BaseDistribution,
)
from optuna.samplers import BaseSampler, RandomSampler
from optuna.search_space import intersection_search_space
from optuna.study import Study, StudyDirection
from optuna.trial import FrozenTrial, TrialState

from effdl_kit._core.errors import ConfigError
from effdl_kit._core.validate import check_choice, check_float, check_int
from effdl_kit.search._alpha_beta_bo import AlphaBetaBO
from effdl_kit.search._axes import _Axis, _axis, _cube_space, _decode
from effdl_kit.search._axes import _float_grid as _float_grid
from effdl_kit.search._axes import _int_grid as _int_grid
from effdl_kit.search._cube_bo import ACQ_SCALES, AcqScale, fit_cube_gp, propose
from effdl_kit.search._feasibility import (
    FEASIBLE_AT,
    constraint_probability,
    constraint_rows,
    propose_weighted,
    store_constraints,
)
from effdl_kit.search._space import GridSpace

__all__ = ["ENGINES", "AlphaBetaSampler", "EngineName", "sampler_factory"]

F64 = npt.NDArray[np.float64]

_SEED_HIGH = 2**31 - 1
#: how many times a proposal is checked against the points other workers took meanwhile
_RECHECKS = 4
#: the GP fit also starts from the default hyper-parameters every this many observations
#: (else only from the previous trial's fit)
_FRESH_FIT_EVERY = 10

#: ``"cube"``: continuous αβ-BO (:mod:`._cube_bo`); ``"grid"``: :class:`AlphaBetaBO` on a grid
EngineName = Literal["cube", "grid"]
ENGINES: tuple[EngineName, ...] = get_args(EngineName)


class AlphaBetaSampler(BaseSampler):
    """Optuna sampler that proposes each trial with EfficientDL's αβ-BO.

    Parameters
    ----------
    alpha, beta : float, default 0.54, 1.01
        Weights of EI and σ² in the acquisition ``α·EI + PI + β·σ²`` (≥ 0).
    omega : float, default 0.1
        Probability that a trial is a uniformly random grid point instead of the argmax.
    n_startup_trials : int, default 10
        Until this many observations (completed trials, plus pruned ones with a value when
        ``consider_pruned_trials``) exist, every parameter is left to the independent sampler.
    grid_points : int, default 16
        Grid values per numeric parameter (int parameters with at most ``4 * grid_points``
        valid values use them all). At least 2.
    refit_every : int, default 50
        Passed to :class:`~effdl_kit.search.AlphaBetaBO`. A fresh optimiser is built per trial
        and asked once, so the kernel is fitted exactly once per trial whatever the value;
        ``1`` selects the optimiser's exact mode (scikit-learn's predictions over the grid),
        anything larger its fast mode (numba posterior).
    n_restarts : int, default 2
        Optimizer restarts of each kernel fit.
    max_candidates : int, default 20_000
        Grids larger than this are searched over a random subset of this size plus the
        one-parameter neighbours of the incumbent, which bounds the cost of a trial.
    max_observations : int, default 200
        The GP sees at most this many trials: the best half and the most recent others (every
        evaluated grid point is still excluded from the argmax). This bounds the time of a
        trial as the study grows (a GP fit is cubic in the observations).
    seed : int or None
        Seed of the sampler's generator (one optimiser seed drawn per trial) and of the default
        independent sampler.
    independent_sampler : optuna.samplers.BaseSampler, optional
        Samples the parameters outside the relative search space, and every parameter before
        ``n_startup_trials``. Default: ``RandomSampler(seed)``.
    consider_pruned_trials : bool, default False
        Tell the optimiser pruned trials too, with their last intermediate value.
    engine : {"cube", "grid"}, default "cube"
        ``"cube"``: continuous αβ-BO with an ARD GP and a refined argmax (module docstring);
        ``"grid"``: :class:`~effdl_kit.search.AlphaBetaBO` on a grid of ``grid_points`` values
        per numeric parameter. ``grid_points``, ``refit_every``, ``n_restarts`` and
        ``max_candidates`` apply to ``"grid"`` only.
    acq_scale : {"normalised", "raw"}, default "normalised"
        ``"cube"`` only: each acquisition term divided by its maximum over the candidate pool
        (α, β are weights relative to PI), or the paper's formula on standardised values.
    constraints_func : callable, optional
        Optuna's constraints: ``constraints_func(frozen_trial) -> sequence of float``, a trial
        feasible when every value is <= 0. Called after each complete or pruned trial and
        stored in its system attrs as Optuna's own samplers do; the acquisition is then
        multiplied by the probability that every constraint is <= 0 (one GP per constraint
        over the trials so far) and f* is the best *feasible* value (none feasible yet: the
        feasibility probability alone is maximised). ``"cube"`` engine only.

    Raises
    ------
    ConfigError
        Any argument out of range (naming the field); a multi-objective study, at its first
        trial.

    Notes
    -----
    Objective values are standardised (mean 0, standard deviation 1 over the observations)
    before they are told, after infinite values are clipped to the finite range seen. Failed
    trials are not observations, but the grid point nearest to a failed trial's parameters is
    excluded from the acquisition's argmax, and so is every grid point already evaluated (the
    PI term otherwise keeps proposing the incumbent) and the one nearest to each running
    trial's parameters (so that workers sharing a study do not evaluate the same point at
    once; two workers inside ``sample_relative`` at the same moment can still agree); a random
    pick, with probability Ω, may still land on any of them. (The ``"cube"`` engine excludes
    the failed, evaluated and running points themselves.)

    Examples
    --------
    >>> import optuna
    >>> sampler = AlphaBetaSampler(seed=0, n_startup_trials=5)
    >>> study = optuna.create_study(sampler=sampler)
    >>> study.optimize(lambda t: (t.suggest_float("x", -1, 1) - 0.3) ** 2, n_trials=8)
    """

    def __init__(self, *, alpha: float = 0.54, beta: float = 1.01, omega: float = 0.1,
                 n_startup_trials: int = 10, grid_points: int = 16, refit_every: int = 50,
                 n_restarts: int = 2, max_candidates: int = 20_000,
                 max_observations: int = 200, seed: int | None = None,
                 independent_sampler: BaseSampler | None = None,
                 consider_pruned_trials: bool = False, engine: EngineName = "cube",
                 acq_scale: AcqScale = "normalised",
                 constraints_func: Callable[[FrozenTrial], Sequence[float]] | None = None
                 ) -> None:
        self._engine = check_choice("engine", engine, ENGINES)
        if constraints_func is not None and not callable(constraints_func):
            raise ConfigError("constraints_func", type(constraints_func).__name__,
                              "None or a callable trial -> sequence of float")
        if constraints_func is not None and self._engine != "cube":
            raise ConfigError("engine", engine, "'cube' (the engine constraints_func works "
                              "with)")
        self._constraints_func = constraints_func
        self._acq_scale = check_choice("acq_scale", acq_scale, ACQ_SCALES)
        #: last fitted GP hyper-parameters per relative search space (warm starts)
        self._theta: dict[tuple[str, ...], Any] = {}
        self._alpha = check_float("alpha", alpha, min_value=0.0)
        self._beta = check_float("beta", beta, min_value=0.0)
        self._omega = check_float("omega", omega, min_value=0.0, max_value=1.0)
        self._n_startup_trials = check_int("n_startup_trials", n_startup_trials, min_value=0)
        self._grid_points = check_int("grid_points", grid_points, min_value=2)
        self._refit_every = check_int("refit_every", refit_every, min_value=1)
        self._n_restarts = check_int("n_restarts", n_restarts, min_value=0)
        self._max_candidates = check_int("max_candidates", max_candidates, min_value=1)
        self._max_observations = check_int("max_observations", max_observations, min_value=2)
        if seed is not None:
            check_int("seed", seed, min_value=0)
        self._seed = seed
        if independent_sampler is not None and not isinstance(independent_sampler, BaseSampler):
            raise ConfigError("independent_sampler", independent_sampler,
                              "None or an optuna.samplers.BaseSampler")
        if not isinstance(consider_pruned_trials, bool | np.bool_):
            raise ConfigError("consider_pruned_trials", consider_pruned_trials, (True, False))
        self._consider_pruned_trials = bool(consider_pruned_trials)
        self._independent_sampler: BaseSampler = (
            independent_sampler if independent_sampler is not None else RandomSampler(seed=seed)
        )
        self._rng = np.random.default_rng(seed)

    # ------------------------------------------------------------------ Optuna's interface
    def reseed_rng(self) -> None:
        """Give the generator (and the independent sampler's) a fresh random seed."""
        self._rng = np.random.default_rng()
        self._independent_sampler.reseed_rng()

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        """Delegate to the independent sampler."""
        self._independent_sampler.before_trial(study, trial)

    def after_trial(self, study: Study, trial: FrozenTrial, state: TrialState,
                    values: Sequence[float] | None) -> None:
        """Store the trial's constraint values (``constraints_func``), then delegate to the
        independent sampler."""
        if self._constraints_func is not None:
            store_constraints(self._constraints_func, study, trial, state)
        self._independent_sampler.after_trial(study, trial, state, values)

    def infer_relative_search_space(self, study: Study,
                                    trial: FrozenTrial) -> dict[str, BaseDistribution]:
        """Parameters every completed trial shares, with one distribution, not single-valued.

        Pruned trials take part too when ``consider_pruned_trials``.

        Raises
        ------
        ConfigError
            The study has more than one objective.
        """
        self._check_single_objective(study)
        space = intersection_search_space(study.get_trials(deepcopy=False),
                                          include_pruned=self._consider_pruned_trials)
        return {name: d for name, d in space.items() if not d.single()}

    def sample_relative(self, study: Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        """The next values of the relative search space, or ``{}`` during start-up.

        Returns
        -------
        dict
            Parameter name -> value (int for an int distribution, float for a float one, a
            choice for a categorical one), inside its distribution.
        """
        self._check_single_objective(study)
        if not search_space:
            return {}
        axes = [_axis(name, d, self._grid_points) for name, d in search_space.items()]
        # trials that already carry every parameter: observations, failures, running trials
        known = {t.number for t in study.get_trials(deepcopy=False)
                 if t.number != trial.number and all(a.name in t.params for a in axes)}
        X, y, failed = self._observations(study, axes)
        if len(y) == 0 or len(y) < self._n_startup_trials:
            return {}
        if self._engine == "cube":
            return self._sample_cube(study, trial, axes, X, y, failed)
        space = GridSpace({a.name: a.values for a in axes},
                          blocks={a.name: a.codes for a in axes})
        bo = AlphaBetaBO(space, alpha=self._alpha, beta=self._beta, omega=self._omega,
                         refit_every=self._refit_every, n_restarts=self._n_restarts,
                         max_candidates=self._max_candidates,
                         seed=int(self._rng.integers(_SEED_HIGH)))
        excluded: set[int] = set()
        keep = set(self._kept(y))
        for i, (x, v) in enumerate(zip(X, y, strict=True)):
            flat = self._grid_index(space, axes, x)
            if flat is not None:
                excluded.add(flat)
            if i not in keep:
                continue
            if flat is not None:
                bo.tell(flat, v)
            else:
                bo.tell_features(x[None, :], [v])
        for x in failed:
            nearest = self._grid_index(space, axes, x, exact=False)
            assert nearest is not None
            excluded.add(nearest)
        excluded |= self._taken_points(study, trial, space, axes, running=True)
        for flat in sorted(excluded):
            # the optimiser's argmax skips these: a grid point already evaluated (its value is
            # known), whose evaluation failed, or that another worker is evaluating now is not
            # proposed again, except by a random pick
            bo.mark_failed(flat)
        flat = bo.ask_index()
        for _ in range(_RECHECKS):
            # another worker may have taken the point while this one was choosing: look again
            # just before answering (the window left is Optuna's write of the parameters)
            taken = self._taken_points(study, trial, space, axes, skip=known)
            if flat not in taken:
                break
            for f in taken:
                bo.mark_failed(f)
            flat = bo.ask_index()
        config = space.config(flat)
        return {a.name: a.external(config[a.name]) for a in axes}

    def _sample_cube(self, study: Study, trial: FrozenTrial, axes: list[_Axis],
                     X: list[F64], y: list[float], failed: list[F64]) -> dict[str, Any]:
        """The ``"cube"`` engine: fit the ARD GP to the kept observations, maximise the
        acquisition over the feasible set (never an evaluated, failed or running point)."""
        keep = self._kept(y)
        Xa = np.array([X[i] for i in keep])
        ya = np.array([y[i] for i in keep])
        space = _cube_space(axes)
        rng = np.random.default_rng(int(self._rng.integers(_SEED_HIGH)))
        constrained = self._constraints_func is not None
        running = [x for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
                   if t.number != trial.number and (x := self._encode(t, axes)) is not None]
        taken = np.array(list(X) + failed + running).reshape(-1, space.n_features)
        if rng.random() < self._omega:
            x = space.uniform(rng, 1)[0]
        else:
            key = tuple(a.name for a in axes)
            gp = fit_cube_gp(Xa, ya, start=self._theta.get(key),
                             fresh=len(ya) % _FRESH_FIT_EVERY == 0,
                             ls0=space.length_scales())
            self._theta[key] = gp.theta
            if constrained:
                x = self._propose_constrained(study, axes, gp, space, Xa, ya, taken, rng)
            else:
                x = propose(gp, space, float(ya.max()), taken, rng, alpha=self._alpha,
                            beta=self._beta, scale=self._acq_scale)
        out: dict[str, Any] = {}
        col = 0
        for a in axes:
            w = a.codes.shape[1]
            out[a.name] = _decode(a, x[col:col + w])
            col += w
        return out

    def _propose_constrained(self, study: Study, axes: list[_Axis], gp: Any, space: Any,
                             Xa: F64, ya: F64, taken: F64, rng: np.random.Generator) -> F64:
        """The cube engine's argmax of the acquisition times P(feasible), f* the best
        feasible kept value (:mod:`._feasibility`)."""
        Xc, C = constraint_rows(study, axes, self._encode)
        if len(C):
            prob = constraint_probability(
                Xc, C, lambda X, yc: fit_cube_gp(X, yc, ls0=space.length_scales()))
        else:
            def prob(P: F64) -> F64:
                return np.ones(P.shape[0])
        seen = {x.tobytes(): bool((c <= 0.0).all()) for x, c in zip(Xc, C, strict=True)}
        ok = np.array([seen.get(x.tobytes(), bool(prob(x[None, :])[0] >= FEASIBLE_AT))
                       for x in Xa], dtype=bool)
        best = float(ya[ok].max()) if ok.any() else None
        return propose_weighted(gp, space, best, taken, rng, prob, alpha=self._alpha,
                                beta=self._beta, normalised=self._acq_scale == "normalised")

    def _taken_points(self, study: Study, trial: FrozenTrial, space: GridSpace,
                      axes: list[_Axis], *, running: bool = False,
                      skip: set[int] | None = None) -> set[int]:
        """Grid points nearest to the parameters of other trials: the running ones (other
        workers' trials being evaluated now; ``running=True``), or every trial not in ``skip``
        (those that got their parameters since ``skip`` was taken; ``skip`` is updated)."""
        states = (TrialState.RUNNING,) if running else None
        out: set[int] = set()
        for t in study.get_trials(deepcopy=False, states=states):
            if t.number == trial.number or (skip is not None and t.number in skip):
                continue
            x = self._encode(t, axes)
            if x is None:
                continue
            flat = self._grid_index(space, axes, x, exact=False)
            assert flat is not None
            out.add(flat)
            if skip is not None:
                skip.add(t.number)
        return out

    def sample_independent(self, study: Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        """Delegate to the independent sampler."""
        return self._independent_sampler.sample_independent(study, trial, param_name,
                                                            param_distribution)

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _check_single_objective(study: Study) -> None:
        if len(study.directions) > 1:
            raise ConfigError("study.directions", [d.name for d in study.directions],
                              "a single-objective study (AlphaBetaSampler optimises one value)")

    def _observations(self, study: Study,
                      axes: list[_Axis]) -> tuple[list[F64], list[float], list[F64]]:
        """Encoded parameters and maximisation-oriented values of the usable trials.

        Returns
        -------
        X : list of ndarray, each shape (n_features,)
        y : list of float
            Finite; infinite values clipped to the finite range (0 when none is finite).
        failed : list of ndarray
            Encodings of failed trials that set every parameter of the space.
        """
        sign = 1.0 if study.direction == StudyDirection.MAXIMIZE else -1.0
        states = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
        X: list[F64] = []
        raw: list[float] = []
        failed: list[F64] = []
        for t in study.get_trials(deepcopy=False, states=states):
            x = self._encode(t, axes)
            if x is None:
                continue
            if t.state == TrialState.FAIL:
                failed.append(x)
                continue
            if t.state == TrialState.COMPLETE:
                value = t.value
            elif self._consider_pruned_trials and t.intermediate_values:
                value = t.intermediate_values[max(t.intermediate_values)]
            else:
                continue
            if value is None or math.isnan(value):
                continue
            X.append(x)
            raw.append(sign * float(value))
        finite = [v for v in raw if math.isfinite(v)]
        lo, hi = (min(finite), max(finite)) if finite else (0.0, 0.0)
        y = np.array([v if math.isfinite(v) else (hi if v > 0 else lo) for v in raw])
        if len(y):
            # the acquisition's β·σ² and α·EI + PI are not invariant to the values' scale:
            # standardised values make Ω, α, β mean the same for any objective
            sd = float(y.std())
            y = (y - y.mean()) / (sd if sd > 0 else 1.0)
        return X, [float(v) for v in y], failed

    def _kept(self, y: list[float]) -> list[int]:
        """Observations the GP sees: all, or the best half and the most recent rest."""
        n, cap = len(y), self._max_observations
        if n <= cap:
            return list(range(n))
        best = sorted(np.argsort(-np.asarray(y), kind="stable")[:cap // 2].tolist())
        chosen = set(best)
        recent = [i for i in range(n - 1, -1, -1) if i not in chosen][:cap - len(best)]
        return sorted(chosen | set(recent))

    @staticmethod
    def _encode(trial: FrozenTrial, axes: list[_Axis]) -> F64 | None:
        parts = []
        for a in axes:
            if a.name not in trial.params:
                return None
            part = a.encode(trial.params[a.name])
            if part is None:
                return None
            parts.append(part)
        return np.concatenate(parts)

    @staticmethod
    def _grid_index(space: GridSpace, axes: list[_Axis], x: F64, *,
                    exact: bool = True) -> int | None:
        """Flat index of the grid point at (``exact``) or nearest to encoding ``x``."""
        codes = []
        col = 0
        for a in axes:
            w = a.codes.shape[1]
            k, on_grid = a.nearest(x[col:col + w])
            if exact and not on_grid:
                return None
            codes.append(k)
            col += w
        return int(space.encode_index(np.asarray([codes]))[0])


def _make_sampler(kwargs: dict[str, Any], seed: int) -> AlphaBetaSampler:
    return AlphaBetaSampler(seed=seed, **kwargs)


def sampler_factory(**kwargs: Any) -> Callable[[int], AlphaBetaSampler]:
    """A picklable ``factory(seed) -> AlphaBetaSampler`` for worker processes and Dask.

    For :func:`effdl_kit._core.storage.run_study` (``sampler_factory=``): each worker builds its
    own sampler with its own seed. ``kwargs`` are checked here, before any worker starts.
    """
    AlphaBetaSampler(seed=0, **kwargs)  # validate now: bad arguments fail before the study
    return functools.partial(_make_sampler, dict(kwargs))
