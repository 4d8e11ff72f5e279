"""AlphaBetaBO: exact mode (kit preset, refit_every=1) equals the plain reference, fast-mode
posterior is exact, presets and incumbents, large grids in bounded memory, failed evaluations,
bad input. (The faithful preset's check is test_search_faithful_golden.py.)"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from scipy.linalg import cho_factor, cho_solve

from effdl_kit.errors import ConfigError, DataError
from effdl_kit.search import AlphaBetaBO, GridSpace, reference_alpha_beta_bo
from effdl_kit.search._gp import matern_np

SPACE = {"a": list(np.linspace(0.0, 1.0, 12)), "b": [1, 10, 100, 1000],
         "c": ["x", "y", "z"], "d": [0, 1, 2, 3, 4]}


def objective(c: dict[str, Any]) -> float:
    return float(-(c["a"] - 0.3) ** 2 - 0.1 * (math.log10(c["b"]) - 2) ** 2
                 + (0.2 if c["c"] == "y" else 0.0) - 0.05 * abs(c["d"] - 3))


def chosen(space: GridSpace, result: Any) -> list[int]:
    return [space.index_of({n: row[n] for n in space.names})
            for _, row in result.history.iterrows()]


@pytest.mark.parametrize(("seed", "acquisition", "kernel"), [
    (0, "alpha_beta", "authors"), (1, "alpha_beta", "authors"), (2, "alpha_beta", "authors"),
    (0, "ei", "authors"), (1, "ei", "authors"), (0, "alpha_beta", "fitted_noise")])
def test_exact_mode_chooses_what_the_reference_chooses(seed: int, acquisition: str,
                                                       kernel: str) -> None:
    space = GridSpace(SPACE)
    bo = AlphaBetaBO(space, refit_every=1, n_restarts=2, seed=seed, acquisition=acquisition,
                     kernel=kernel)
    assert bo.mode == "exact"
    result = bo.optimize(objective, 12, n_initial=3)
    ref = reference_alpha_beta_bo(space, objective, 12, n_restarts=2, seed=seed, n_initial=3,
                                  acquisition=acquisition, kernel=kernel)
    assert chosen(space, result) == ref.chosen
    assert result.history["random"].tolist() == ref.random
    assert result.best_value == max(ref.values)


def test_exact_mode_with_initial_rows_matches_reference() -> None:
    space = GridSpace(SPACE)
    rng = np.random.default_rng(5)
    X0 = rng.uniform(size=(30, space.n_features))
    y0 = rng.normal(scale=0.1, size=30)
    bo = AlphaBetaBO(space, refit_every=1, n_restarts=1, seed=3)
    bo.tell_features(X0, y0)
    result = bo.optimize(objective, 8)
    ref = reference_alpha_beta_bo(space, objective, 8, n_restarts=1, seed=3, X_init=X0,
                                  y_init=y0)
    assert chosen(space, result) == ref.chosen
    assert result.initial_best == pytest.approx(y0.max())


@pytest.mark.parametrize("kernel", ["authors", "fitted_noise"])
def test_fast_mode_posterior_equals_exact_gp(kernel: str) -> None:
    """Rank-one updates between fits give the exact GP posterior at the fitted hyper-params."""
    space = GridSpace(SPACE)
    bo = AlphaBetaBO(space, refit_every=100, n_restarts=0, seed=0, omega=0.0, kernel=kernel)
    rng = np.random.default_rng(0)
    for k in rng.integers(space.n_candidates, size=5):
        bo.tell(int(k), objective(space.config(int(k))))
    bo.ask_index()  # fits, caches the posterior of the grid
    for k in rng.integers(space.n_candidates, size=8):
        bo.tell(int(k), objective(space.config(int(k))))
    gp = bo._gp
    assert gp is not None and gp.n == 13
    Xo = np.asarray(bo._obs.X)
    yn = (np.asarray(bo._obs.y) - gp.y_mean) / gp.y_std
    C = space.features(np.arange(space.n_candidates))

    def k(A: np.ndarray, B: np.ndarray) -> np.ndarray:
        return gp.amp * matern_np(((A[:, None, :] - B[None]) ** 2).sum(2), gp.length, 2.5)

    if kernel == "authors":
        assert (gp.amp, gp.white) == (1.0, 0.0)
    cf = cho_factor(k(Xo, Xo) + (1e-5 + gp.white) * np.eye(len(yn)), lower=True)
    kcx = k(C, Xo)
    mu = kcx @ cho_solve(cf, yn)
    var = gp.amp + gp.white - np.einsum("ij,ji->i", kcx, cho_solve(cf, kcx.T))
    assert bo._mu is not None and bo._var is not None
    np.testing.assert_allclose(bo._mu, mu, atol=1e-9)
    np.testing.assert_allclose(bo._var, np.maximum(var, 0.0), atol=1e-9)
    # the fused acquisition equals the one computed from the exact posterior
    from effdl_kit.search import alpha_beta_acquisition

    acq = alpha_beta_acquisition(gp.y_mean + gp.y_std * mu,
                                 gp.y_std * np.sqrt(np.maximum(var, 0.0)), bo.best_value,
                                 alpha=0.54, beta=1.01)
    assert bo._acq is not None
    np.testing.assert_allclose(bo._acq, acq, atol=1e-8)


def test_fast_mode_refits_on_schedule_and_finds_the_optimum() -> None:
    space = GridSpace(SPACE)
    best_possible = max(objective(space.config(i)) for i in range(space.n_candidates))
    result = AlphaBetaBO(space, refit_every=5, n_restarts=1, seed=0).optimize(
        objective, 30, n_initial=5)
    assert result.history["refit"].sum() == len(result.length_scales) == 6
    assert result.best_value >= best_possible - 0.02
    assert result.settings["mode"] == "fast"
    assert (result.best_so_far().diff().dropna() >= 0).all()


def test_beats_random_search_on_average() -> None:
    space = GridSpace(SPACE)
    vals = np.array([objective(space.config(i)) for i in range(space.n_candidates)])
    gaps_bo, gaps_rand = [], []
    for seed in range(4):
        r = AlphaBetaBO(space, refit_every=5, n_restarts=1, seed=seed).optimize(
            objective, 15, n_initial=5)
        gaps_bo.append(vals.max() - r.best_value)
        rnd = np.random.default_rng(seed).integers(space.n_candidates, size=20)
        gaps_rand.append(vals.max() - vals[rnd].max())
    assert np.mean(gaps_bo) < np.mean(gaps_rand)


def test_large_grid_is_searched_in_bounded_memory() -> None:
    """A 10^6-candidate grid: random subsets + neighbours, never the whole grid."""
    comps = {f"x{i}": list(np.linspace(0, 1, 10)) for i in range(6)}
    space = GridSpace(comps)
    bo = AlphaBetaBO(space, max_candidates=2000, refit_every=5, n_restarts=0, seed=0)
    assert bo.sampled and space.n_candidates == 10**6

    def f(c: dict[str, Any]) -> float:
        return -sum((c[f"x{i}"] - 0.5) ** 2 for i in range(6))

    result = bo.optimize(f, 12, n_initial=3)
    assert len(result.history) == 15
    assert bo._mu is None  # no per-candidate cache of the whole grid
    pool = bo._pool()
    assert len(pool) <= 2000 + 6 * 9


def test_failed_evaluations_are_recorded_and_the_search_goes_on() -> None:
    space = GridSpace(SPACE)
    calls = {"n": 0}

    def flaky(c: dict[str, Any]) -> float:
        calls["n"] += 1
        if calls["n"] % 3 == 0:
            raise RuntimeError("diverged")
        if calls["n"] % 5 == 0:
            return float("nan")
        return objective(c)

    result = AlphaBetaBO(space, refit_every=3, n_restarts=0, seed=1).optimize(
        flaky, 12, n_initial=3)
    h = result.history
    assert len(h) == 15
    failed = h[h["status"] == "failed"]
    assert len(failed) >= 4
    assert failed["error"].str.contains("diverged|non-finite").all()
    assert failed["value"].isna().all()
    assert np.isfinite(result.best_value)


def test_ask_tell_interface() -> None:
    bo = AlphaBetaBO(SPACE, seed=0, n_restarts=0)
    for _ in range(4):
        cfg = bo.ask()
        assert set(cfg) == set(SPACE)
        bo.tell(cfg, objective(cfg))
    assert bo.n_observations == 4
    assert bo.best_value == max(bo._obs.y)


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"alpha": -1.0}, "alpha"),
    ({"beta": -0.5}, "beta"),
    ({"omega": 1.5}, "omega"),
    ({"omega": -0.1}, "omega"),
    ({"refit_every": 0}, "refit_every"),
    ({"nu": 3.0}, "nu"),
    ({"acquisition": "thompson"}, "acquisition"),
    ({"max_candidates": 0}, "max_candidates"),
])
def test_bad_parameters_raise_before_work(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as info:
        AlphaBetaBO(SPACE, **kwargs)
    assert field in str(info.value)


def test_bad_observations_and_calls() -> None:
    bo = AlphaBetaBO(SPACE, seed=0)
    with pytest.raises(ConfigError, match="n_initial"):
        bo.optimize(objective, 5)
    with pytest.raises(ConfigError, match="X"):
        bo.tell_features(np.zeros((2, 3)), [0.0, 1.0])
    with pytest.raises(DataError, match="NaN"):
        bo.tell_features(np.full((1, bo.space.n_features), np.nan), [0.0])
    with pytest.raises(DataError, match="y"):
        bo.tell_features(np.zeros((1, bo.space.n_features)), [np.nan])
    with pytest.raises(ConfigError, match="y"):
        bo.tell({"a": 0.0, "b": 1, "c": "x", "d": 0}, float("nan"))


def test_presets_and_their_overrides() -> None:
    kit = AlphaBetaBO(SPACE)
    assert (kit.nu, kit.refit_every, kit.incumbent, kit.skip_repeats, kit.shuffle_grid) == \
        (2.5, 50, "evaluated", False, False)
    assert kit.mode == "fast" and AlphaBetaBO(SPACE, refit_every=1).mode == "exact"
    f = AlphaBetaBO.faithful(SPACE, seed=0)
    assert (f.nu, f.refit_every, f.n_restarts, f.noise, f.kernel, f.incumbent) == \
        (1.5, 1, 10, 1e-5, "authors", "labels")
    assert f.skip_repeats and f.shuffle_grid and f.mode == "faithful"
    assert f.settings()["preset"] == "faithful"
    assert AlphaBetaBO(SPACE, preset="faithful", nu=2.5).nu == 2.5  # an explicit value wins
    with pytest.raises(ConfigError, match="preset"):
        AlphaBetaBO(SPACE, preset="authors")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="incumbent"):
        AlphaBetaBO(SPACE, incumbent="best")  # type: ignore[arg-type]


def test_incumbent_labels_or_evaluated() -> None:
    space = GridSpace(SPACE)
    X0 = space.features([0, 1, 2])
    for inc, before, after in (("labels", 10.0, 10.0), ("evaluated", 10.0, 0.5)):
        bo = AlphaBetaBO(space, incumbent=inc, n_restarts=0, seed=0)
        bo.tell_features(X0, [10.0, 0.0, 1.0])
        assert bo.f_star == before  # no evaluation yet: the best label
        bo.tell(5, 0.5)
        bo.tell_features(space.features([6]), [0.2], evaluated=True)
        assert bo.f_star == after and bo.best_value == 10.0


def test_fast_mode_fused_update_uses_the_evaluated_incumbent() -> None:
    from effdl_kit.search import alpha_beta_acquisition

    space = GridSpace(SPACE)
    bo = AlphaBetaBO(space, refit_every=100, n_restarts=0, seed=0, omega=0.0,
                     incumbent="evaluated")
    rng = np.random.default_rng(1)
    X0 = space.features(rng.integers(space.n_candidates, size=6))
    bo.tell_features(X0, [1.0] * 6)  # labels above every value of the objective
    for k in rng.integers(space.n_candidates, size=3):
        bo.tell(int(k), objective(space.config(int(k))))
    bo.ask_index()
    for k in rng.integers(space.n_candidates, size=4):
        bo.tell(int(k), objective(space.config(int(k))))
    gp = bo._gp
    assert gp is not None and bo._mu is not None and bo._var is not None
    assert bo.f_star < 1.0
    acq = alpha_beta_acquisition(gp.y_mean + gp.y_std * bo._mu, gp.y_std * np.sqrt(bo._var),
                                 bo.f_star, alpha=0.54, beta=1.01)
    np.testing.assert_allclose(bo._acq, acq, atol=1e-10)
