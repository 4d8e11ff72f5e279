"""The comparison behind every verdict of the sampler benchmark and the kit's studies, on
synthetic values: it calls an injected advantage "better" and an A/A pair "within noise" at
about the stated rate."""

from __future__ import annotations

import numpy as np
import pytest

from effdl_kit._core.stats import bootstrap_mean_ci, compare, mean_curve_band


def test_clear_advantage_is_better_and_symmetric() -> None:
    rng = np.random.default_rng(0)
    b = rng.lognormal(0.0, 1.0, 10)
    a = b[::-1] / 10
    assert compare(a, b).verdict == "better"
    assert compare(b, a).verdict == "worse"
    c = compare(a, b)
    assert c.lo <= c.diff <= c.hi < 0


def test_constant_groups() -> None:
    assert compare([0.0, 0.0, 0.0], [0.0, 0.0]).verdict == "within noise"
    assert compare([0.0, 0.0], [1.0, 1.0]).verdict == "better"
    with pytest.raises(ValueError):
        compare([1.0], [2.0, 3.0])  # one seed has no spread: no verdict


def test_negative_control_false_alarm_rate() -> None:
    """A/A: 200 pairs of 10 log-normal regrets from one distribution; about 5% may be called
    different (a percentile interval would call ~9%)."""
    rng = np.random.default_rng(1)
    verdicts = [compare(rng.lognormal(0, 1.5, 10), rng.lognormal(0, 1.5, 10), n_boot=2000,
                        seed=i).verdict for i in range(200)]
    rate = np.mean([v != "within noise" for v in verdicts])
    assert rate <= 0.09


def test_positive_control_power() -> None:
    """An advantage of 10x in regret (10 seeds each, log-normal σ = 1) is called better in
    nearly every replicate, never worse."""
    rng = np.random.default_rng(2)
    verdicts = [compare(rng.lognormal(0, 1, 10) / 10, rng.lognormal(0, 1, 10), n_boot=2000,
                        seed=i).verdict for i in range(100)]
    assert np.mean([v == "better" for v in verdicts]) >= 0.9
    assert "worse" not in verdicts


def test_bootstrap_mean_ci_and_curve_band() -> None:
    m, lo, hi = bootstrap_mean_ci([1.0, 2.0, 3.0, 4.0])
    assert lo < m == 2.5 < hi
    assert bootstrap_mean_ci([2.0, 2.0]) == (2.0, 2.0, 2.0)
    curves = np.array([[3.0, 2.0, 1.0], [5.0, 1.0, 1.0], [4.0, 3.0, 0.5]])
    mean, lo_c, hi_c = mean_curve_band(curves)
    np.testing.assert_allclose(mean, curves.mean(axis=0))
    assert np.all(lo_c <= mean) and np.all(mean <= hi_c)
