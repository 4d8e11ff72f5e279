"""AlphaBetaSampler: the behaviours Optuna expects of a sampler (seeded reproducibility,
values inside their distributions, failed and pruned trials, start-up fallback, dynamic search
spaces), optimisation quality against random search, and bad input."""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
import optuna
import pytest
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.samplers import RandomSampler
from optuna.trial import FrozenTrial, TrialState

from effdl_kit.errors import ConfigError
from effdl_kit.search._sampler import AlphaBetaSampler, EngineName, _float_grid, _int_grid

optuna.logging.set_verbosity(optuna.logging.WARNING)


class SpySampler(RandomSampler):
    """A RandomSampler that records which parameters it sampled, per trial number."""

    def __init__(self, seed: int | None = None) -> None:
        super().__init__(seed=seed)
        self.calls: dict[int, list[str]] = {}
        self.reseeded = 0

    def sample_independent(self, study: optuna.Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        self.calls.setdefault(trial.number, []).append(param_name)
        return super().sample_independent(study, trial, param_name, param_distribution)

    def reseed_rng(self) -> None:
        self.reseeded += 1
        super().reseed_rng()


def mixed_objective(trial: optuna.Trial) -> float:
    x = trial.suggest_float("x", -2.0, 2.0)
    lr = trial.suggest_float("lr", 1e-4, 1e-1, log=True)
    width = trial.suggest_int("width", 8, 512, log=True)
    act = trial.suggest_categorical("act", ["relu", "gelu", None, 3, 2.5])
    return ((x - 0.5) ** 2 + (math.log10(lr) + 2.5) ** 2 + 0.1 * abs(math.log2(width) - 6)
            + (0.0 if act == "gelu" else 0.3))


def run(sampler: optuna.samplers.BaseSampler, objective: Any, n_trials: int, *,
        direction: Literal["minimize", "maximize"] = "minimize",
        catch: tuple[type[Exception], ...] = ()) -> optuna.Study:
    study = optuna.create_study(sampler=sampler, direction=direction)
    study.optimize(objective, n_trials=n_trials, catch=catch)
    return study


def params(study: optuna.Study) -> list[dict[str, Any]]:
    return [t.params for t in study.trials]


# ---------------------------------------------------------------------------- seeding
def test_same_seed_gives_the_same_trials_and_another_seed_does_not() -> None:
    a = run(AlphaBetaSampler(seed=3, n_startup_trials=5), mixed_objective, 12)
    b = run(AlphaBetaSampler(seed=3, n_startup_trials=5), mixed_objective, 12)
    c = run(AlphaBetaSampler(seed=4, n_startup_trials=5), mixed_objective, 12)
    assert params(a) == params(b)
    assert [t.value for t in a.trials] == [t.value for t in b.trials]
    assert params(a)[5:] != params(c)[5:]


def test_reseed_rng_reseeds_the_independent_sampler_too() -> None:
    spy = SpySampler(seed=0)
    sampler = AlphaBetaSampler(seed=0, independent_sampler=spy)
    sampler.reseed_rng()
    assert spy.reseeded == 1


# ---------------------------------------------------------------------------- distributions
DISTRIBUTIONS: dict[str, BaseDistribution] = {
    "float": FloatDistribution(-3.0, 2.0),
    "log_float": FloatDistribution(1e-5, 1.0, log=True),
    "step_float": FloatDistribution(0.0, 0.9, step=0.15),
    "int": IntDistribution(-7, 300),
    "small_int": IntDistribution(0, 5),
    "log_int": IntDistribution(1, 4096, log=True),
    "step_int": IntDistribution(3, 248, step=7),
    "categorical": CategoricalDistribution(["a", 1, None, 2.5, "b"]),
}


def _suggest(trial: optuna.Trial, name: str, d: BaseDistribution) -> Any:
    if isinstance(d, FloatDistribution):
        return trial.suggest_float(name, d.low, d.high, log=d.log, step=d.step)
    if isinstance(d, IntDistribution):
        return trial.suggest_int(name, d.low, d.high, log=d.log, step=d.step)
    assert isinstance(d, CategoricalDistribution)
    return trial.suggest_categorical(name, d.choices)


def _check_inside(name: str, d: BaseDistribution, v: Any) -> None:
    if isinstance(d, FloatDistribution):
        assert type(v) is float, (name, v)
    elif isinstance(d, IntDistribution):
        assert type(v) is int, (name, v)
    else:
        assert isinstance(d, CategoricalDistribution)
        assert any(v is c or (type(v) is type(c) and v == c) for c in d.choices), (name, v)
    assert d._contains(d.to_internal_repr(v)), (name, v)


@pytest.mark.parametrize("engine", ["cube", "grid"])
@pytest.mark.parametrize("name", list(DISTRIBUTIONS))
def test_values_stay_inside_each_distribution(name: str, engine: EngineName) -> None:
    d = DISTRIBUTIONS[name]
    spy = SpySampler(seed=1)

    def objective(trial: optuna.Trial) -> float:
        v = _suggest(trial, name, d)
        x = trial.suggest_float("x", 0.0, 1.0)
        k = float(d.to_internal_repr(v))
        return (x - 0.4) ** 2 + math.sin(k)

    study = run(AlphaBetaSampler(seed=1, n_startup_trials=3, independent_sampler=spy,
                                 engine=engine), objective, 10)
    for t in study.trials:
        _check_inside(name, d, t.params[name])
    # after start-up every value came from the αβ-BO (relative) sampler, not the fallback
    assert all(t.number not in spy.calls for t in study.trials[3:])


@pytest.mark.parametrize("engine", ["cube", "grid"])
def test_values_stay_inside_all_distributions_at_once(engine: EngineName) -> None:
    def objective(trial: optuna.Trial) -> float:
        vals = {n: _suggest(trial, n, d) for n, d in DISTRIBUTIONS.items()}
        return sum(float(d.to_internal_repr(vals[n])) ** 2 / 1e4
                   for n, d in DISTRIBUTIONS.items())

    study = run(AlphaBetaSampler(seed=2, n_startup_trials=4, engine=engine), objective, 12)
    for t in study.trials:
        for n, d in DISTRIBUTIONS.items():
            _check_inside(n, d, t.params[n])
    assert len({tuple(sorted(t.params.items(), key=str)) for t in study.trials}) > 8


@pytest.mark.filterwarnings("ignore:The distribution is specified by")
def test_grids_respect_step_log_and_size() -> None:
    assert _int_grid(IntDistribution(0, 5), 16) == [0, 1, 2, 3, 4, 5]
    # at most 4 * grid_points values: all of them (Optuna adjusted high to 248)
    assert _int_grid(IntDistribution(3, 250, step=7), 16) == list(range(3, 249, 7))
    big = _int_grid(IntDistribution(1, 10**6, log=True), 16)
    assert big == [int(v) for v in np.rint(np.geomspace(1, 10**6, 16))]  # log-spaced
    few = _int_grid(IntDistribution(1, 200, log=True), 16)  # rounding merges small values
    assert few == sorted(set(few)) and few[0] == 1 and few[-1] == 200 and len(few) < 16
    lin = _int_grid(IntDistribution(0, 1000), 16)
    assert len(lin) == 16 and lin[0] == 0 and lin[-1] == 1000
    f = _float_grid(FloatDistribution(1e-5, 1.0, log=True), 16)
    assert len(f) == 16 and f[0] == 1e-5 and f[-1] == 1.0
    s = _float_grid(FloatDistribution(0.0, 1.0, step=0.15), 16)  # high adjusted to 0.9
    assert len(s) == 7 and s[0] == 0.0 and s[-1] == pytest.approx(0.9)
    coarse = _float_grid(FloatDistribution(0.0, 10.0, step=0.01), 16)
    d = FloatDistribution(0.0, 10.0, step=0.01)
    assert len(coarse) == 16 and all(d._contains(v) for v in coarse)


def test_indistinguishable_choices_do_not_trap_the_search() -> None:
    # Optuna stores True as 1 when both are choices; the sampler must not keep proposing True
    def objective(trial: optuna.Trial) -> float:
        c = trial.suggest_categorical("c", [1, True, "z"])
        x = trial.suggest_float("x", 0.0, 1.0)
        return x + (0.0 if c == 1 else 1.0)

    study = run(AlphaBetaSampler(seed=0, n_startup_trials=3, omega=0.0), objective, 12)
    seen = [tuple(sorted(t.params.items(), key=str)) for t in study.trials[3:]]
    assert len(seen) == len(set(seen))


# ---------------------------------------------------------------------------- failures
@pytest.mark.parametrize("engine", ["cube", "grid"])
@pytest.mark.parametrize("how", ["raise", "nan"])
def test_failed_trials_are_skipped_and_not_proposed_again(how: str, engine: EngineName) -> None:
    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", 0.0, 1.0)
        y = trial.suggest_int("y", 0, 6)
        if x > 0.6:
            if how == "raise":
                raise ValueError("diverged")
            return math.nan
        return (x - 0.5) ** 2 + 0.1 * y

    study = run(AlphaBetaSampler(seed=5, n_startup_trials=4, omega=0.0, engine=engine),
                objective, 20,
                catch=(ValueError,))
    failed = [t for t in study.trials if t.state == TrialState.FAIL]
    done = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert failed and done and len(study.trials) == 20
    assert study.best_trial.params["x"] <= 0.6
    # with Ω = 0 every proposal is the argmax: never a failed or an evaluated grid point again
    proposals = [tuple(sorted(t.params.items())) for t in study.trials[4:]]
    assert len(proposals) == len(set(proposals))



@pytest.mark.parametrize("engine", ["cube", "grid"])
def test_a_running_trial_s_point_is_not_proposed_to_another_worker(engine: EngineName) -> None:
    # a coarse space (7 x 9 points): the cube engine must exclude running points too
    dists = {"x": FloatDistribution(0.0, 1.0, step=0.125), "y": IntDistribution(0, 6)}
    study = optuna.create_study(sampler=AlphaBetaSampler(seed=2, n_startup_trials=4, omega=0.0,
                                                         n_restarts=0, engine=engine))
    for _ in range(6):
        t = study.ask(dists)
        study.tell(t, (t.params["x"] - 0.5) ** 2 + 0.1 * t.params["y"])
    # worker A asks and is still evaluating; workers B and C ask meanwhile
    running = [study.ask(dists) for _ in range(3)]
    points = [tuple(sorted(t.params.items())) for t in running]
    assert len(set(points)) == 3, points
    # once A's trial is told, its point counts as evaluated (still not proposed again)
    for t in running:
        study.tell(t, (t.params["x"] - 0.5) ** 2 + 0.1 * t.params["y"])
    nxt = study.ask(dists)
    assert tuple(sorted(nxt.params.items())) not in points

def test_infinite_values_are_used_without_error() -> None:
    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", -1.0, 1.0)
        return math.inf if x > 0.8 else x**2

    study = run(AlphaBetaSampler(seed=0, n_startup_trials=3), objective, 10)
    assert len(study.trials) == 10 and study.best_value < 1.0


def _pruned_objective(trial: optuna.Trial) -> float:
    x = trial.suggest_float("x", 0.0, 1.0)
    trial.report((x - 0.3) ** 2, step=0)
    if trial.number % 3 != 0:
        raise optuna.TrialPruned()
    return (x - 0.3) ** 2


@pytest.mark.parametrize("consider", [False, True])
def test_pruned_trials_count_only_when_considered(consider: bool) -> None:
    spy = SpySampler(seed=0)
    sampler = AlphaBetaSampler(seed=0, n_startup_trials=4, independent_sampler=spy,
                               consider_pruned_trials=consider)
    study = run(sampler, _pruned_objective, 12)
    states = [t.state for t in study.trials]
    assert TrialState.PRUNED in states and TrialState.COMPLETE in states
    fallback = sorted(spy.calls)
    if consider:  # 4 observations (complete or pruned) after trial 3: relative from trial 4 on
        assert fallback == [0, 1, 2, 3]
    else:  # complete trials are 0, 3, 6, 9: the 4th observation exists after trial 9
        assert fallback == list(range(10))


# ---------------------------------------------------------------------------- directions
def _quadratic(trial: optuna.Trial) -> float:
    x = trial.suggest_float("x", -5.0, 5.0)
    y = trial.suggest_float("y", -5.0, 5.0)
    return (x - 1.3) ** 2 + (y + 0.7) ** 2


@pytest.mark.parametrize(("engine", "factor"), [("cube", 0.05), ("grid", 0.5)])
def test_minimize_beats_random_search_on_a_quadratic(engine: EngineName, factor: float) -> None:
    ours, rand = [], []
    for seed in (0, 1, 2):
        ours.append(run(AlphaBetaSampler(seed=seed, engine=engine), _quadratic, 25).best_value)
        rand.append(run(RandomSampler(seed=seed), _quadratic, 25).best_value)
    # grid spacing 10/15: the best grid point is at 0.18; random search is near 1 here; the
    # cube engine refines off the grid
    assert np.mean(ours) < factor * np.mean(rand)


def test_maximize_of_the_negation_gives_the_same_trials() -> None:
    lo = run(AlphaBetaSampler(seed=7, n_startup_trials=5), _quadratic, 12)
    hi = run(AlphaBetaSampler(seed=7, n_startup_trials=5), lambda t: -_quadratic(t), 12,
             direction="maximize")
    assert params(lo) == params(hi)


# ---------------------------------------------------------------------------- search spaces
def test_independent_sampler_handles_the_startup_trials() -> None:
    spy = SpySampler(seed=0)
    study = run(AlphaBetaSampler(seed=0, n_startup_trials=6, independent_sampler=spy),
                _quadratic, 9)
    assert sorted(spy.calls) == [0, 1, 2, 3, 4, 5]
    assert all(sorted(spy.calls[k]) == ["x", "y"] for k in spy.calls)
    assert len(study.trials) == 9


def test_zero_startup_trials_models_from_the_first_observation() -> None:
    spy = SpySampler(seed=0)
    study = run(AlphaBetaSampler(seed=0, n_startup_trials=0, independent_sampler=spy),
                lambda t: 1.0 + 0.0 * t.suggest_float("x", 0.0, 1.0), 4)  # constant: no crash
    assert sorted(spy.calls) == [0]  # the first trial has no relative search space yet
    assert len({t.params["x"] for t in study.trials}) == 4


def test_dynamic_search_space() -> None:
    spy = SpySampler(seed=0)

    def objective(trial: optuna.Trial) -> float:
        kind = trial.suggest_categorical("kind", ["a", "b"])
        x = trial.suggest_float("x", -1.0, 1.0)
        if kind == "a":  # only in some trials: left to the independent sampler
            extra = trial.suggest_int("extra", 1, 9)
            return x**2 + 0.01 * extra
        # a range that changes between trials: not in the intersection either
        z = trial.suggest_float("z", 0.0, 1.0 + trial.number % 2)
        return x**2 + z

    sampler = AlphaBetaSampler(seed=0, n_startup_trials=4, independent_sampler=spy)
    study = run(sampler, objective, 14)
    assert len(study.trials) == 14
    space = sampler.infer_relative_search_space(study, study.trials[-1])
    assert sorted(space) == ["kind", "x"]
    for t in study.trials[4:]:
        assert "kind" not in spy.calls.get(t.number, [])
        assert "x" not in spy.calls.get(t.number, [])
        for name in ("extra", "z"):
            if name in t.params:
                assert name in spy.calls[t.number]
                _check_inside(name, t.distributions[name], t.params[name])


def test_single_valued_distributions_are_left_out_of_the_relative_space() -> None:
    def objective(trial: optuna.Trial) -> float:
        trial.suggest_int("fixed", 3, 3)
        trial.suggest_categorical("one", ["only"])
        return trial.suggest_float("x", 0.0, 1.0)

    sampler = AlphaBetaSampler(seed=0, n_startup_trials=2)
    study = run(sampler, objective, 4)
    assert list(sampler.infer_relative_search_space(study, study.trials[-1])) == ["x"]
    assert all(t.params["fixed"] == 3 and t.params["one"] == "only" for t in study.trials)


# ---------------------------------------------------------------------------- bad input
def test_multi_objective_study_is_a_clear_error() -> None:
    study = optuna.create_study(sampler=AlphaBetaSampler(seed=0),
                                directions=["minimize", "maximize"])
    with pytest.raises(ConfigError, match="single-objective") as info:
        study.optimize(lambda t: (t.suggest_float("x", 0, 1), 1.0), n_trials=2)
    assert info.value.field == "study.directions"


@pytest.mark.parametrize(("field", "value"), [
    ("alpha", -0.1), ("alpha", math.nan), ("beta", -1.0), ("beta", "big"),
    ("omega", 1.5), ("omega", -0.01), ("n_startup_trials", -1), ("n_startup_trials", 2.5),
    ("grid_points", 1), ("grid_points", True), ("refit_every", 0), ("n_restarts", -1),
    ("max_candidates", 0), ("seed", -3), ("seed", 1.5), ("engine", "lattice"),
    ("acq_scale", "log"),
    ("independent_sampler", "random"), ("consider_pruned_trials", 1),
])
def test_bad_arguments_name_the_field(field: str, value: Any) -> None:
    with pytest.raises(ConfigError) as info:
        AlphaBetaSampler(**{field: value})
    assert info.value.field == field
    assert field in str(info.value)


def test_the_gp_sees_a_bounded_set_of_observations(monkeypatch: pytest.MonkeyPatch) -> None:
    s = AlphaBetaSampler(max_observations=6, seed=0)
    y = [0.1, 5.0, 0.3, 4.0, 0.2, 0.0, 3.0, 0.5, 0.4, 0.6]
    kept = s._kept(y)
    assert kept == sorted(kept) and len(kept) == 6
    assert {1, 3, 6} <= set(kept)  # the best half
    assert {7, 8, 9} <= set(kept)  # then the most recent
    told: list[int] = []
    import effdl_kit.search._alpha_beta_bo as bo_mod

    original = bo_mod.AlphaBetaBO.tell

    def counting(self: Any, config: Any, value: float) -> None:
        told.append(1)
        original(self, config, value)

    monkeypatch.setattr(bo_mod.AlphaBetaBO, "tell", counting)
    study = optuna.create_study(sampler=AlphaBetaSampler(max_observations=8, engine="grid",
                                                         n_startup_trials=3, seed=1))
    study.optimize(lambda t: (t.suggest_float("x", -1, 1) - 0.3) ** 2, n_trials=20)
    # one optimiser per trial after start-up, each told at most 8 observations
    assert 0 < len(told) <= 8 * (20 - 3)
    assert len(study.trials) == 20


def test_sampler_factory_runs_a_study_in_worker_processes(tmp_path: Any) -> None:
    from effdl_kit._core.faults import FaultyObjective
    from effdl_kit._core.storage import make_storage, run_study
    from effdl_kit.search import sampler_factory

    with pytest.raises(ConfigError, match="alpha"):
        sampler_factory(alpha=-1.0)
    factory = sampler_factory(n_startup_trials=4, n_restarts=0)
    run = run_study("ab", FaultyObjective(raise_at=frozenset({6})), storage=tmp_path / "s.log",
                    n_trials=14, n_workers=2, sampler_factory=factory)
    assert run.n_complete >= 13 and run.n_failed == 1
    study = optuna.load_study(study_name="ab", storage=make_storage(tmp_path / "s.log"))
    # both workers sampled with αβ-BO after the start-up trials (their seeds differ)
    assert len({(t.params["x"], t.params["y"]) for t in study.trials}) >= 13
    assert study.trials[6].state == optuna.trial.TrialState.FAIL


def test_the_cube_engine_fits_a_bounded_set_of_observations(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import effdl_kit.search._sampler as sampler_mod

    sizes: list[int] = []
    original = sampler_mod.fit_cube_gp

    def counting(X: Any, y: Any, **kwargs: Any) -> Any:
        sizes.append(len(y))
        return original(X, y, **kwargs)

    monkeypatch.setattr(sampler_mod, "fit_cube_gp", counting)
    study = optuna.create_study(sampler=AlphaBetaSampler(max_observations=8, omega=0.0,
                                                         n_startup_trials=3, seed=1))
    study.optimize(lambda t: (t.suggest_float("x", -1, 1) - 0.3) ** 2, n_trials=20)
    # one fit per trial after start-up, on at most 8 observations
    assert len(sizes) == 20 - 3 and max(sizes) == 8 and sizes[0] == 3
