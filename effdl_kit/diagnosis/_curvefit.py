"""Learning-curve extrapolation as an Optuna pruner (the BTTackler paper's Curvefitting rule).

At epoch ``k`` (at least ``min_steps`` reported values, not the last epoch, at least
``n_startup_trials`` COMPLETE trials in the study), :class:`CurveFitPruner` fits
``s(t) = c - a exp(-b t)`` (``a >= 0``, ``1e-3 <= b <= 10``; ``s`` the metric with its sign
turned so that higher is better, values rescaled to [0, 1]) to the trial's validation curve by
least squares (:func:`extrapolate_curve`), and stops the trial when the extrapolated value at
the last epoch is worse than the best COMPLETE result of the study by more than ``tolerance``
(relative, default 5 %, NNI's Curvefitting threshold 0.95). No fit (too few points, optimiser
failure): no stop.

>>> round(extrapolate_curve([0, 1, 2, 3], [0.5, 0.7, 0.78, 0.81], 19), 2)
0.83
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
import optuna
from scipy.optimize import OptimizeWarning, curve_fit

from effdl_kit._core.validate import check_float, check_int

__all__ = ["CurveFitPruner", "extrapolate_curve"]


def _saturating(t: np.ndarray, c: float, a: float, b: float) -> np.ndarray:
    return c - a * np.exp(-b * t)


def extrapolate_curve(steps: Sequence[float], values: Sequence[float], at: float
                      ) -> float | None:
    """Least-squares fit of ``c - a exp(-b t)`` (``a >= 0``) to a curve, evaluated at ``at``.

    Parameters
    ----------
    steps, values : sequence of float, length n >= 3
        The curve (higher is better).
    at : float
        Where to extrapolate (usually the last epoch).

    Returns
    -------
    float or None
        The fitted value at ``at``; None when the fit is impossible (fewer than 3 finite
        points, optimiser failure). A flat curve extrapolates to its value.
    """
    t = np.asarray(steps, dtype=np.float64)
    y = np.asarray(values, dtype=np.float64)
    if t.shape != y.shape or t.ndim != 1 or len(t) < 3 or not (
            np.isfinite(t).all() and np.isfinite(y).all()):
        return None
    lo, span = float(y.min()), float(np.ptp(y))
    if span == 0.0:
        return float(y[-1])
    yn = (y - lo) / span
    p0 = (float(yn.max()), max(float(yn.max() - yn[0]), 1e-3), 0.5)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", OptimizeWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            popt, _ = curve_fit(_saturating, t, yn, p0=p0,
                                bounds=([-np.inf, 0.0, 1e-3], [np.inf, np.inf, 10.0]),
                                maxfev=2000)
    except (RuntimeError, ValueError):
        return None
    pred = float(_saturating(np.asarray([float(at)]), *popt)[0])
    return lo + span * pred if math.isfinite(pred) else None


class CurveFitPruner(optuna.pruners.BasePruner):
    """Learning-curve extrapolation as an Optuna pruner (the paper's Curvefitting rule).

    Parameters
    ----------
    max_steps : int
        Epochs of a full trial (>= 2); the curve is extrapolated to step ``max_steps - 1``.
    min_steps : int
        Reported values needed before a fit (>= 3).
    n_startup_trials : int
        COMPLETE trials the study needs before anything is stopped (>= 1).
    tolerance : float
        Stop when the extrapolated final value is worse than the study's best COMPLETE result
        by more than ``tolerance x |best|`` (in [0, 1); NNI's threshold 0.95 -> 0.05).

    Raises
    ------
    ConfigError
        Any argument out of range, naming it.
    """

    def __init__(self, max_steps: int, *, min_steps: int = 3, n_startup_trials: int = 5,
                 tolerance: float = 0.05) -> None:
        self.max_steps = check_int("max_steps", max_steps, min_value=2)
        self.min_steps = check_int("min_steps", min_steps, min_value=3)
        self.n_startup_trials = check_int("n_startup_trials", n_startup_trials, min_value=1)
        self.tolerance = check_float("tolerance", tolerance, min_value=0.0, max_value=1.0,
                                     max_inclusive=False)

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        """True when the trial's extrapolated final value cannot beat the study's best."""
        curve = trial.intermediate_values
        step = trial.last_step
        if step is None or len(curve) < self.min_steps or step >= self.max_steps - 1:
            return False
        maximize = study.direction == optuna.study.StudyDirection.MAXIMIZE
        sign = 1.0 if maximize else -1.0
        done = [sign * float(t.value) for t in study.get_trials(
            deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
            if t.value is not None and math.isfinite(float(t.value))]
        if len(done) < self.n_startup_trials:
            return False
        best = max(done)
        steps = sorted(curve)
        pred = extrapolate_curve(steps, [sign * float(curve[s]) for s in steps],
                                 self.max_steps - 1)
        if pred is None:
            return False
        return pred < best - self.tolerance * abs(best)
