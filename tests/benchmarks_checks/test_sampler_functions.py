"""The sampler benchmark's test functions: every stated minimum is attained at its stated
minimiser, agrees with the literature's value, and no point of the space goes below it (a wrong
minimum would make every regret of the benchmark wrong)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from scipy.optimize import minimize

from benchmarks import _sampler_functions as sf
from benchmarks._sampler_functions import FUNCTIONS, TestFunction


def _random_params(fn: TestFunction, rng: np.random.Generator) -> dict[str, object]:
    out: dict[str, object] = {}
    for name, d in fn.space.items():
        if isinstance(d, CategoricalDistribution):
            out[name] = d.choices[int(rng.integers(len(d.choices)))]
        elif isinstance(d, IntDistribution):
            lo, hi = (math.log(d.low), math.log(d.high + 1)) if d.log else (d.low, d.high + 1)
            v = rng.uniform(lo, hi)
            out[name] = min(int(math.exp(v) if d.log else v), d.high)
        else:
            assert isinstance(d, FloatDistribution)
            if d.log:
                out[name] = math.exp(rng.uniform(math.log(d.low), math.log(d.high)))
            else:
                out[name] = rng.uniform(d.low, d.high)
    return out


def test_at_least_eight_functions_including_mixed_ones() -> None:
    assert len(FUNCTIONS) >= 8
    tags = {t for f in FUNCTIONS.values() for t in f.tags}
    assert {"int", "categorical", "log"} <= tags


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_minimum_attained_at_argmin_inside_the_space(name: str) -> None:
    fn = FUNCTIONS[name]
    assert set(fn.argmin) == set(fn.space)
    for k, d in fn.space.items():
        assert d._contains(d.to_internal_repr(fn.argmin[k])), (k, fn.argmin[k])
    assert fn.evaluate(fn.argmin) == pytest.approx(fn.minimum, abs=1e-8)


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_no_random_point_below_the_minimum(name: str) -> None:
    fn = FUNCTIONS[name]
    rng = np.random.default_rng(0)
    values = [fn.evaluate(_random_params(fn, rng)) for _ in range(3000)]
    assert min(values) >= fn.minimum - 1e-9
    assert min(values) > fn.minimum  # random search does not hit it exactly: regret > 0


def test_literature_values() -> None:
    # Surjanovic & Bingham (SFU): the quoted, rounded minima and minimisers
    assert pytest.approx(0.397887, abs=1e-6) == sf.BRANIN_MIN
    assert sf.branin(-math.pi, 12.275) == pytest.approx(0.397887, abs=1e-6)
    assert sf.branin(9.42478, 2.475) == pytest.approx(0.397887, abs=1e-6)
    assert pytest.approx(-3.32237, abs=1e-5) == sf.HARTMANN6_MIN
    sfu_x = np.array([0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573])
    assert sf.hartmann6(sfu_x) == pytest.approx(-3.32237, abs=1e-5)
    assert pytest.approx(-2.903534, abs=1e-6) == sf.ST_ARGMIN
    # SFU rounds the per-coordinate minimum to −39.16599; the exact value is −39.1661657
    assert pytest.approx(-39.16599, abs=2e-4) == sf.ST_MIN_1D
    assert pytest.approx(-39.166165703771, abs=1e-9) == sf.ST_MIN_1D
    assert sf.rosenbrock(np.ones(4)) == 0.0
    assert sf.levy(np.ones(4)) == pytest.approx(0.0, abs=1e-15)
    assert FUNCTIONS["ackley5"].evaluate({f"x{i}": 0.0 for i in range(5)}) == pytest.approx(
        0.0, abs=1e-12)


_CONTINUOUS = ["branin", "hartmann6", "rosenbrock4", "ackley5", "levy4", "styblinski_tang4"]


@pytest.mark.parametrize("name", _CONTINUOUS)
def test_local_search_finds_nothing_lower(name: str) -> None:
    """L-BFGS-B from 8 random starts and from the stated minimiser stays ≥ the minimum, and
    from the minimiser it does not move lower (it is a local minimum, to 1e-9)."""
    fn = FUNCTIONS[name]
    keys = list(fn.space)
    bounds = [(d.low, d.high) for d in fn.space.values()]  # type: ignore[attr-defined]

    def f(x: np.ndarray) -> float:
        return fn.evaluate(dict(zip(keys, x, strict=True)))

    rng = np.random.default_rng(1)
    starts = [rng.uniform([b[0] for b in bounds], [b[1] for b in bounds]) for _ in range(8)]
    best = min(minimize(f, x0, method="L-BFGS-B", bounds=bounds).fun for x0 in starts)
    assert best >= fn.minimum - 1e-9
    at = minimize(f, np.array([fn.argmin[k] for k in keys]), method="L-BFGS-B", bounds=bounds)
    assert at.fun >= fn.minimum - 1e-9


def test_branin_int_minimum_by_dense_search() -> None:
    fn = FUNCTIONS["branin_int"]
    x2 = np.linspace(0.0, 15.0, 30001)
    per_int = [min(sf.branin(float(x1), float(v)) for v in x2[::10]) for x1 in range(-5, 11)]
    assert min(per_int) >= fn.minimum - 1e-9
    dense = min(sf.branin(float(fn.argmin["x0"]), float(v)) for v in x2)
    assert dense == pytest.approx(fn.minimum, abs=1e-6)
    assert fn.argmin["x0"] in (-3, 3)  # cos(x1) nearest −1 among the integers: x1 = ±3


def test_hartmann_categorical_minimum_rederived() -> None:
    """Each level of x1: L-BFGS-B over the other five coordinates from 8 starts."""
    rng = np.random.default_rng(2)
    best = {}
    for level in sf.HARTMANN_CAT_LEVELS:
        def f(z: np.ndarray, level: float = level) -> float:
            return sf.hartmann6(np.concatenate([[level], z]))
        best[level] = min(minimize(f, rng.random(5), method="L-BFGS-B",
                                   bounds=[(0.0, 1.0)] * 5).fun for _ in range(8))
    level = min(best, key=lambda k: best[k])
    assert level == sf.HARTMANN_CAT_ARGMIN[0]
    assert best[level] == pytest.approx(sf.HARTMANN_CAT_MIN, abs=1e-7)
    assert FUNCTIONS["hartmann6_cat"].minimum == sf.HARTMANN_CAT_MIN


def test_levy_loglr_maps_lr_onto_levy() -> None:
    fn = FUNCTIONS["levy4_loglr"]
    for lr, x0 in ((1e-5, -10.0), (1e-1, 10.0), (10**-2.8, 1.0)):
        p = {"lr": lr, "x1": 0.3, "x2": -2.0, "x3": 4.0}
        assert fn.evaluate(p) == pytest.approx(sf.levy(np.array([x0, 0.3, -2.0, 4.0])))


def test_training_response_minimum_by_exhausting_the_discrete_part() -> None:
    """Every optimizer x 15 batch sizes (log-spaced, 128 among them): the best (lr, dropout)
    by L-BFGS-B from 2 starts; nothing goes below the stated minimum, which is attained."""
    fn = FUNCTIONS["training_response"]
    opts = fn.space["optimizer"].choices  # type: ignore[attr-defined]
    sizes = sorted({round(v) for v in np.geomspace(16, 1024, 14)} | {128})
    found = math.inf
    for opt in opts:
        for bs in sizes:
            def f(x: np.ndarray, opt: str = opt, bs: int = bs) -> float:
                return sf.training_error(10 ** x[0], bs, opt, x[1])
            for u0, d0 in ((-4.0, 0.1), (-1.0, 0.6)):
                r = minimize(f, np.array([u0, d0]), method="L-BFGS-B",
                             bounds=[(-5.0, 0.0), (0.0, 0.7)])
                found = min(found, float(r.fun))
    assert found >= fn.minimum - 1e-12
    assert found == pytest.approx(fn.minimum, abs=1e-7)
    assert fn.minimum == 0.060
