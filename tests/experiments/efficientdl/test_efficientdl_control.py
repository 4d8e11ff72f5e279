"""The search study's positive control: a known optimum the kit's αβ-BO must reach within the
stated budget (the smoke scale's), where random search does not."""

from __future__ import annotations

import numpy as np
import pytest

from effdl_kit.errors import ConfigError
from effdl_kit.experiments.efficientdl import (
    CONTROL_GRID,
    OPTIMUM_VALUE,
    ZERO_REGRET,
    SearchBudget,
    known_optimum_setup,
    positive_control,
    positive_control_table,
)


def test_the_optimum_is_known_unique_and_on_the_grid() -> None:
    for seed in (0, 7):
        setup = known_optimum_setup(seed)
        values = setup.problem.predict_grid()
        assert values.size == np.prod([len(v) for v in CONTROL_GRID.values()]) == 5760
        # the maximum is the stated value, reached at one candidate only, by a margin
        assert setup.grid_max == pytest.approx(OPTIMUM_VALUE, abs=1e-12)
        assert int((values >= OPTIMUM_VALUE - 1e-12).sum()) == 1
        second = np.sort(values)[-2]
        assert OPTIMUM_VALUE - second >= 0.005
        best = setup.grid_best
        assert setup.problem.objective(best) == pytest.approx(OPTIMUM_VALUE, abs=1e-12)
        # numeric optima are interior values (a search cannot win by trying the ends)
        for c in ("learning rate", "batch size", "epochs"):
            assert best[c] not in (CONTROL_GRID[c][0], CONTROL_GRID[c][-1])
        assert setup.X0.shape[0] == len(setup.y0) == 200
    # the seed draws the problem
    assert known_optimum_setup(0).grid_best != known_optimum_setup(7).grid_best
    with pytest.raises(ConfigError, match="n_prior"):
        known_optimum_setup(0, n_prior=0)


def test_kit_alpha_beta_reaches_the_optimum_within_the_budget() -> None:
    """The positive control at smoke scale: 6 problems, 40 predictor calls each."""
    b = SearchBudget.for_scale("smoke")
    curves = positive_control(scale="smoke")
    assert set(curves["seed"]) == set(range(b.control_seeds))
    assert (curves.groupby(["method", "seed"]).size() == b.control_iter).all()
    summary = positive_control_table(curves)
    # random search hits one of 5,760 candidates in 40 calls with probability 0.7 %
    assert summary["reached"] >= 5 / 6
    assert summary["reached_reference"] <= 1 / 6
    assert summary["comparison"]["verdict"] == "better"
    assert summary["median_calls"] <= b.control_iter
    kit = curves[curves["method"] == "alpha_beta_kit"]
    assert (kit["regret"] >= -ZERO_REGRET).all()
