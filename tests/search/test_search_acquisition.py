"""Acquisition kernels against the numpy/scipy references, exact σ = 0 limits, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from effdl_kit.errors import ConfigError, DataError
from effdl_kit.search import (
    alpha_beta_acquisition,
    expected_improvement,
    probability_of_improvement,
    upper_confidence_bound,
)
from effdl_kit.search._acquisition import (
    reference_alpha_beta,
    reference_ei,
    reference_pi,
    reference_ucb,
)


@pytest.fixture
def arrays() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    mu = rng.normal(size=5000)
    sigma = np.abs(rng.normal(size=5000)) * rng.choice([0.0, 1e-12, 1.0, 30.0], size=5000)
    return mu, sigma


def test_kernels_match_references(arrays: tuple[np.ndarray, np.ndarray]) -> None:
    mu, sigma = arrays
    best = 0.3
    np.testing.assert_allclose(expected_improvement(mu, sigma, best),
                               reference_ei(mu, sigma, best), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(probability_of_improvement(mu, sigma, best),
                               reference_pi(mu, sigma, best), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(upper_confidence_bound(mu, sigma, 1.7),
                               reference_ucb(mu, sigma, 1.7), rtol=0, atol=0)
    np.testing.assert_allclose(alpha_beta_acquisition(mu, sigma, best, alpha=0.54, beta=1.01),
                               reference_alpha_beta(mu, sigma, best, 0.54, 1.01),
                               rtol=1e-12, atol=1e-15)


def test_exact_limits_at_zero_sigma() -> None:
    mu = np.array([-1.0, 0.5, 2.0, 0.5])
    zero = np.zeros(4)
    ei = expected_improvement(mu, zero, 0.5)
    pi = probability_of_improvement(mu, zero, 0.5)
    assert ei.tolist() == [0.0, 0.0, 1.5, 0.0]
    assert pi.tolist() == [0.0, 0.0, 1.0, 0.0]
    ab = alpha_beta_acquisition(mu, zero, 0.5, alpha=2.0, beta=5.0)
    assert ab.tolist() == [0.0, 0.0, 2.0 * 1.5 + 1.0, 0.0]


def test_alpha_beta_is_the_documented_combination() -> None:
    mu = np.array([0.1, 0.4, 0.9])
    sigma = np.array([0.2, 0.05, 0.3])
    ab = alpha_beta_acquisition(mu, sigma, 0.5, alpha=0.54, beta=1.01)
    expected = (0.54 * expected_improvement(mu, sigma, 0.5)
                + probability_of_improvement(mu, sigma, 0.5) + 1.01 * sigma**2)
    np.testing.assert_array_equal(ab, expected)
    # EI is large where the mean is far above best, PI tends to 1 there
    assert probability_of_improvement(np.array([10.0]), np.array([1.0]), 0.0)[0] == 1.0


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"alpha": -0.1, "beta": 1.0}, "alpha"),
    ({"alpha": 1.0, "beta": -1.0}, "beta"),
    ({"alpha": float("nan"), "beta": 1.0}, "alpha"),
])
def test_negative_weights_are_rejected(kwargs: dict[str, float], field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        alpha_beta_acquisition([0.0], [1.0], 0.0, **kwargs)


def test_bad_arrays_are_rejected() -> None:
    with pytest.raises(DataError, match="NaN"):
        expected_improvement([np.nan], [1.0], 0.0)
    with pytest.raises(DataError, match="sigma"):
        expected_improvement([0.0], [-1.0], 0.0)
    with pytest.raises(ConfigError, match="sigma"):
        expected_improvement([0.0, 1.0], [1.0], 0.0)
    with pytest.raises(ConfigError, match="best"):
        expected_improvement([0.0], [1.0], float("inf"))
