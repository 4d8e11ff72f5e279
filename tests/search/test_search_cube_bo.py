"""The cube engine of AlphaBetaSampler: the ARD GP's likelihood gradient and posterior, the
feasible-set projection, the acquisition terms against their references, and the argmax."""

from __future__ import annotations

import math

import numpy as np
import pytest

from effdl_kit.search._acquisition import reference_ei, reference_pi
from effdl_kit.search._cube_bo import (
    AcqScale,
    CubeSpace,
    _nll,
    acquisition_terms,
    fit_cube_gp,
    propose,
)


def _data(n: int = 25, d: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.random((n, d))
    y = np.sin(4.0 * X[:, 0]) + 0.3 * X[:, 1] ** 2
    return X, (y - y.mean()) / y.std()


def test_the_likelihood_gradient_matches_finite_differences() -> None:
    X, y = _data()
    D2 = (X.T[:, :, None] - X.T[:, None, :]) ** 2
    theta = np.array([math.log(0.3), math.log(0.8), math.log(2.0), math.log(1.5),
                      math.log(1e-2)])
    ls0 = np.full(3, math.log(0.5))
    f, g = _nll(theta, X, y, D2, ls0)
    h = 1e-6
    for j in range(len(theta)):
        e = np.zeros_like(theta)
        e[j] = h
        num = (_nll(theta + e, X, y, D2, ls0)[0] - _nll(theta - e, X, y, D2, ls0)[0]) / (2 * h)
        assert g[j] == pytest.approx(num, rel=1e-4, abs=1e-6), j
    assert np.isfinite(f)


def test_the_fit_learns_which_inputs_matter_and_interpolates() -> None:
    X, y = _data(n=40)
    gp = fit_cube_gp(X, y)
    ls = np.exp(gp.theta[:3])
    # x2 does not enter y: its length scale is the longest (ARD)
    assert ls[2] > ls[0] and ls[2] > ls[1]
    mu, sd = gp.predict(X)
    assert np.abs(mu - y).max() < 0.1
    assert sd.max() < 0.1 * math.sqrt(gp.amp)  # little uncertainty at the observations
    # a warm start from the optimum stays there
    warm = fit_cube_gp(X, y, start=gp.theta, fresh=False)
    np.testing.assert_allclose(warm.theta, gp.theta, atol=0.05)


def test_acquisition_terms_match_the_numpy_references() -> None:
    rng = np.random.default_rng(1)
    mu = rng.normal(size=200)
    sd = np.abs(rng.normal(size=200))
    sd[:5] = 0.0
    ei, pi, var = acquisition_terms(mu, sd, 0.3)
    np.testing.assert_allclose(ei, reference_ei(mu, sd, 0.3), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(pi, reference_pi(mu, sd, 0.3), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(var, sd ** 2)


def _mixed_space() -> CubeSpace:
    # column 0 continuous, column 1 an int lattice of 5 values, columns 2-4 one categorical
    return CubeSpace(5, [(0, None), (1, np.linspace(0.0, 1.0, 5))], [(2, 3)])


def test_projection_puts_points_on_the_feasible_set() -> None:
    space = _mixed_space()
    X = np.array([[-0.2, 0.6, 0.1, 0.7, 0.2], [1.3, 0.1, 0.0, 0.0, 0.9]])
    P = space.project(X.copy())
    np.testing.assert_allclose(P, [[0.0, 0.5, 0.0, 1.0, 0.0], [1.0, 0.0, 0.0, 0.0, 1.0]])
    rng = np.random.default_rng(0)
    for pts in (space.uniform(rng, 50), space.perturb(rng, P, 20, 0.3),
                space.perturb(rng, P, 20, 0.3, single=True)):
        np.testing.assert_array_equal(space.project(pts.copy()), pts)
        assert set(np.round(pts[:, 1] * 4, 9)) <= {0.0, 1.0, 2.0, 3.0, 4.0}
        np.testing.assert_array_equal(pts[:, 2:].sum(1), 1.0)


@pytest.mark.parametrize("scale", ["normalised", "raw"])
def test_propose_finds_the_optimum_of_a_smooth_function(scale: AcqScale) -> None:
    rng = np.random.default_rng(3)
    X = rng.random((30, 2))
    f = -((X[:, 0] - 0.73) ** 2 + (X[:, 1] - 0.21) ** 2)
    y = (f - f.mean()) / f.std()
    space = CubeSpace(2, [(0, None), (1, None)], [])
    gp = fit_cube_gp(X, y)
    x = propose(gp, space, float(y.max()), X, rng, alpha=0.54, beta=0.0, scale=scale)
    # exploitation only (β = 0): the pick is near the optimum, much nearer than the best seen
    best_seen = X[np.argmax(y)]
    opt = np.array([0.73, 0.21])
    assert np.linalg.norm(x - opt) < 0.08
    assert np.linalg.norm(x - opt) <= np.linalg.norm(best_seen - opt)


def test_propose_never_repeats_a_taken_point_of_a_discrete_space() -> None:
    lattice = np.linspace(0.0, 1.0, 3)
    space = CubeSpace(2, [(0, lattice), (1, lattice)], [])
    grid = np.array([[a, b] for a in lattice for b in lattice])
    taken = grid[:8]
    y = -((taken[:, 0] - 1.0) ** 2 + (taken[:, 1] - 1.0) ** 2)
    gp = fit_cube_gp(taken, (y - y.mean()) / y.std())
    x = propose(gp, space, float(y.max()), taken, np.random.default_rng(0), alpha=0.54,
                beta=1.01)
    np.testing.assert_allclose(x, grid[8])  # the only point left


def test_switches_change_exactly_one_category_and_blocks_get_longer_scales() -> None:
    space = CubeSpace(6, [(0, None)], [(1, 3), (4, 2)])
    centre = np.array([0.3, 0.0, 1.0, 0.0, 1.0, 0.0])
    S = space.switches(centre)
    assert S.shape == (2 + 1, 6)
    np.testing.assert_array_equal(S[:, 0], 0.3)
    changed = [(s[1:4] != centre[1:4]).any() + (s[4:] != centre[4:]).any() for s in S]
    assert changed == [1, 1, 1]
    assert len({tuple(s) for s in S}) == 3
    ls = space.length_scales()
    assert ls[0] < ls[1] and (ls[1:] == ls[1]).all()
