"""Learning-curve extrapolation and the CurveFitPruner on hand-made curves."""

from __future__ import annotations

import math
import warnings

import optuna
import pytest

from effdl_kit._core.types import Direction
from effdl_kit.diagnosis import CurveFitPruner, extrapolate_curve
from effdl_kit.errors import ConfigError


def test_curve_extrapolation() -> None:
    steps = list(range(5))
    curve = [0.9 - 0.5 * math.exp(-0.7 * t) for t in steps]
    assert extrapolate_curve(steps, curve, 19) == pytest.approx(0.9, abs=1e-3)
    assert extrapolate_curve([0, 1, 2], [0.3, 0.3, 0.3], 9) == 0.3
    assert extrapolate_curve([0, 1], [0.1, 0.2], 9) is None
    assert extrapolate_curve([0, 1, 2], [0.1, math.nan, 0.2], 9) is None
    assert extrapolate_curve([0, 1, 2], [0.1, 0.2], 9) is None  # shapes differ


def _should_prune(direction: Direction, best: float, curve: list[float]) -> bool:
    pruner = CurveFitPruner(10, n_startup_trials=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study = optuna.create_study(direction=direction, pruner=pruner)
        study.add_trial(optuna.trial.create_trial(value=best))
        trial = study.ask()
        for step, v in enumerate(curve):
            trial.report(v, step)
        return trial.should_prune()


def test_the_pruner_stops_curves_that_cannot_reach_the_best() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    assert _should_prune("maximize", 0.9, [0.10, 0.15, 0.18])  # saturates near 0.2
    assert not _should_prune("maximize", 0.9, [0.50, 0.80, 0.88])
    assert not _should_prune("maximize", 0.9, [0.10, 0.15])  # too few points
    assert _should_prune("minimize", 0.1, [1.0, 0.9, 0.85])
    assert not _should_prune("minimize", 0.1, [0.5, 0.2, 0.12])


def test_the_pruner_waits_for_startup_trials_and_spares_the_last_epoch() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize",
                                pruner=CurveFitPruner(4, n_startup_trials=2))
    study.add_trial(optuna.trial.create_trial(value=0.9))
    trial = study.ask()
    for step, v in enumerate([0.10, 0.15, 0.18]):
        trial.report(v, step)
    assert not trial.should_prune()  # one COMPLETE trial of the two it waits for
    study.add_trial(optuna.trial.create_trial(value=0.9))
    assert trial.should_prune()
    trial.report(0.19, 3)  # the last epoch (max_steps - 1): nothing left to save
    assert not trial.should_prune()


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ConfigError, match="max_steps"):
        CurveFitPruner(1)
    with pytest.raises(ConfigError, match="tolerance"):
        CurveFitPruner(10, tolerance=1.0)
    with pytest.raises(ConfigError, match="min_steps"):
        CurveFitPruner(10, min_steps=2)
    with pytest.raises(ConfigError, match="n_startup_trials"):
        CurveFitPruner(10, n_startup_trials=0)
