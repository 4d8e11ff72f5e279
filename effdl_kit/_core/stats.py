"""Bootstrap intervals and the comparison behind every verdict of the kit's comparisons.

Used by the sampler benchmark (``python -m benchmarks sampler_quality``) and the EfficientDL
search study. One rule decides every verdict (targets and controls alike): method A is
**better** than B when the 95% bootstrap interval of ``mean(a) − mean(b)`` (values where lower
is better, e.g. regrets; seeds resampled with replacement, independently in each group: runs
with the same seed are not paired) lies below 0, **worse** when it lies above 0, and **within
noise** when it contains 0.

The interval of a difference is the studentised bootstrap (bootstrap-t, Welch's standard
error): with 10 seeds of skewed regrets the plain percentile interval is too narrow (on
log-normal samples, σ = 1.5, it calls an A/A pair different 9% of the time instead of 5%;
bootstrap-t 5.7%). The intervals of single means in the tables are percentile intervals.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

__all__ = ["Comparison", "Verdict", "bootstrap_mean_ci", "compare", "mean_curve_band"]

F64 = npt.NDArray[np.float64]
Verdict = Literal["better", "worse", "within noise"]

#: bootstrap resamples of every interval
N_BOOT = 4000
#: two-sided level of every interval
LEVEL = 0.95


@dataclass(frozen=True)
class Comparison:
    """``mean(a) − mean(b)`` with its bootstrap interval and the verdict for ``a`` (lower is
    better: regrets)."""

    diff: float
    lo: float
    hi: float
    verdict: Verdict

    def to_json(self) -> dict[str, float | str]:
        """A JSON-ready dict."""
        return {"diff": self.diff, "lo": self.lo, "hi": self.hi, "verdict": self.verdict}


def _resampled_means(x: F64, n_boot: int, rng: np.random.Generator) -> F64:
    """Means of ``n_boot`` resamples of ``x`` along axis 0; shape (n_boot, *x.shape[1:])."""
    idx = rng.integers(0, len(x), size=(n_boot, len(x)))
    return np.asarray(x[idx].mean(axis=1), dtype=np.float64)


def bootstrap_mean_ci(x: npt.ArrayLike, *, n_boot: int = N_BOOT,
                      seed: int = 0) -> tuple[float, float, float]:
    """Mean of ``x`` and its percentile bootstrap interval (level :data:`LEVEL`).

    Parameters
    ----------
    x : array_like, shape (n,)
        One value per seed; at least one.
    n_boot : int
        Resamples.
    seed : int
        Seed of the resampling.

    Returns
    -------
    (mean, lo, hi) : tuple of float
    """
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 1 or len(a) == 0:
        raise ValueError(f"x must be a non-empty 1-d array, got shape {a.shape}")
    means = _resampled_means(a, n_boot, np.random.default_rng(seed))
    q = (1 - LEVEL) / 2
    return float(a.mean()), float(np.quantile(means, q)), float(np.quantile(means, 1 - q))


def _welch_se(x: F64, y: F64) -> F64:
    """Standard error of mean(x) − mean(y) along the last axis (0 for single values)."""
    vx = x.var(axis=-1, ddof=1) if x.shape[-1] > 1 else np.zeros(x.shape[:-1])
    vy = y.var(axis=-1, ddof=1) if y.shape[-1] > 1 else np.zeros(y.shape[:-1])
    return np.asarray(np.sqrt(vx / x.shape[-1] + vy / y.shape[-1]), dtype=np.float64)


def _bootstrap_t(x: F64, y: F64, n_boot: int, rng: np.random.Generator) -> tuple[float, float]:
    """Studentised bootstrap interval of mean(x) − mean(y) (level :data:`LEVEL`)."""
    d0 = float(x.mean() - y.mean())
    se0 = float(_welch_se(x, y))
    if se0 == 0.0:  # both groups constant: the difference is known exactly
        return d0, d0
    xs = x[rng.integers(0, len(x), size=(n_boot, len(x)))]
    ys = y[rng.integers(0, len(y), size=(n_boot, len(y)))]
    d = xs.mean(axis=1) - ys.mean(axis=1)
    se = _welch_se(xs, ys)
    ok = se > 0
    q = (1 - LEVEL) / 2
    if not ok.any():  # no resample varies (tiny groups): fall back to the percentile interval
        return float(np.quantile(d, q)), float(np.quantile(d, 1 - q))
    t = (d[ok] - d0) / se[ok]
    return d0 - float(np.quantile(t, 1 - q)) * se0, d0 - float(np.quantile(t, q)) * se0


def compare(a: npt.ArrayLike, b: npt.ArrayLike, *, n_boot: int = N_BOOT,
            seed: int = 0) -> Comparison:
    """Is ``a`` (regrets of one sampler over seeds) lower than ``b``, beyond the noise?

    Parameters
    ----------
    a, b : array_like, shape (n_a,), (n_b,)
        Regrets, one per seed (lower is better), at least 2 per group; the groups are
        resampled independently.
    n_boot : int
        Resamples.
    seed : int
        Seed of the resampling.

    Returns
    -------
    Comparison
        ``verdict`` is ``"better"`` when the interval of ``mean(a) − mean(b)`` lies below 0,
        ``"worse"`` when above, ``"within noise"`` otherwise.

    Examples
    --------
    >>> compare([0.1, 0.2, 0.1, 0.15], [1.0, 1.2, 0.9, 1.1]).verdict
    'better'
    >>> compare([1.0, 1.2, 0.9, 1.1], [1.1, 0.9, 1.2, 1.0]).verdict
    'within noise'
    """
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.ndim != 1 or y.ndim != 1 or len(x) < 2 or len(y) < 2:
        raise ValueError(f"a and b must be 1-d arrays of at least 2 values (a spread is "
                         f"needed), got shapes {x.shape} and {y.shape}")
    lo, hi = _bootstrap_t(x, y, n_boot, np.random.default_rng(seed))
    verdict: Verdict = "better" if hi < 0 else "worse" if lo > 0 else "within noise"
    return Comparison(float(x.mean() - y.mean()), lo, hi, verdict)


def mean_curve_band(curves: npt.ArrayLike, *, n_boot: int = 1000,
                    seed: int = 0) -> tuple[F64, F64, F64]:
    """Mean of best-so-far curves over seeds and its pointwise bootstrap band.

    Parameters
    ----------
    curves : array_like, shape (n_seeds, n_trials)

    Returns
    -------
    (mean, lo, hi) : three arrays of shape (n_trials,)
    """
    c = np.asarray(curves, dtype=np.float64)
    if c.ndim != 2 or len(c) == 0:
        raise ValueError(f"curves must be (n_seeds, n_trials), got shape {c.shape}")
    means = _resampled_means(c, n_boot, np.random.default_rng(seed))
    q = (1 - LEVEL) / 2
    return (c.mean(axis=0), np.quantile(means, q, axis=0), np.quantile(means, 1 - q, axis=0))
