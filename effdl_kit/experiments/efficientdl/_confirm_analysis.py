"""Analysis of the EfficientDL confirmation: which failure drives the outcome, with CIs.

Per (task, seed) the confirmation trains several *arms* (:data:`~._confirm_settings.ARMS`)
with the same training seed, so arms are compared **paired by seed**: every verdict is about
the mean over seeds of the per-seed difference ``a − b``, with a 95% studentised bootstrap
interval (:func:`~effdl_kit._core.stats.compare` applied to the differences against zero;
resampling seeds), and reads

* ``"better"``: the interval lies above 0 (``a`` higher: accuracies, higher is better);
* ``"worse"``: below 0;
* ``"within noise"``: it contains 0; ``"n/a"`` with fewer than :data:`MIN_PAIRS` seeds where
  both arms have a value (with 2 or 3 seeds the bootstrap-t interval degenerates: every
  resample of two values has the same studentised mean).

The comparisons (:data:`COMPARISONS`), per task:

``search_regret``  predicted(argmax) − predicted(αβ pick): the search's failure on the
                   predictor (>= 0 per seed);
``search_cost``    realised(argmax) − realised(αβ pick): what that failure costs in reality;
``ranking_argmax`` realised(argmax) − realised(random grid point), and ``ranking_top5`` the
                   same with the mean of the top-5: whether the predictor's ranking holds in
                   reality (if its best is not better than a random point, the predictor fails);
``predictor_gap``  realised(TPE) − realised(argmax): what even the predictor's exact optimum
                   loses to feedback HPO;
``headline``       realised(αβ pick) − realised(TPE): the paper's comparison
                   (``= −(search_cost + predictor_gap)``);
``error_<arm>``    realised − predicted of one arm: the predictor's error where it is used;
``aa_control``     realised(random) − realised(random_b): two independent uniform draws, an
                   A/A comparison that must come out ``"within noise"`` (it does not in about 5%
                   of runs, by the interval's level).

:func:`failure_driver` turns them into one verdict per task: the **predictor** fails when its
argmax is not better than a random grid point in reality or loses to TPE beyond the noise; the
**search** fails when the argmax trains better than αβ-BO's pick beyond the noise; ``both``
names the larger of the two realised shortfalls, ``neither`` says that both are within noise.

Ten seeds: the interval's half width is about 0.7 standard deviations of the per-seed
differences (t quantile 2.26 / √10); the widths measured are in the results file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from effdl_kit._core.errors import DataError
from effdl_kit._core.stats import bootstrap_mean_ci, compare
from effdl_kit.experiments.efficientdl._confirm_records import (
    ArmRow,
    ConfirmRow,
    Recommendation,
)
from effdl_kit.experiments.efficientdl._confirm_settings import ARM_LABELS, ARMS

__all__ = [
    "COMPARISONS",
    "MIN_PAIRS",
    "ArmComparison",
    "ArmRow",
    "ConfirmRow",
    "PairedComparison",
    "Recommendation",
    "arm_frame",
    "compare_arms",
    "confirmation_summary",
    "confirmation_verdicts",
    "failure_driver",
    "seed_table",
]

#: Fewest seeds (pairs with both values) a verdict is given on.
MIN_PAIRS = 5

Measure = Literal["predicted", "realised", "error"]
#: A comparison's verdict for ``a`` against ``b`` (higher is better).
ArmVerdict = Literal["better", "worse", "within noise", "n/a"]


@dataclass(frozen=True)
class PairedComparison:
    """Mean over seeds of ``a − b``, its 95% interval, the verdict and the seeds used."""

    diff: float
    lo: float
    hi: float
    verdict: ArmVerdict
    n: int


@dataclass(frozen=True)
class ArmComparison:
    """One comparison of :data:`COMPARISONS`: ``a − b`` per seed, on ``measure``.

    ``measure="error"`` compares an arm's realised accuracy with its predicted one (``b`` is
    ignored).
    """

    key: str
    a: str
    b: str
    measure: Measure
    meaning: str


#: Every comparison of :func:`confirmation_verdicts`, in table order.
COMPARISONS: tuple[ArmComparison, ...] = (
    ArmComparison("search_regret", "argmax", "alpha_beta", "predicted",
                  "better: αβ-BO's pick is below the predictor's argmax on the predictor "
                  "(search failure)"),
    ArmComparison("search_cost", "argmax", "alpha_beta", "realised",
                  "better: the argmax trains better than αβ-BO's pick (the search failure "
                  "costs accuracy)"),
    ArmComparison("ranking_argmax", "argmax", "random", "realised",
                  "better: the predictor's argmax beats a random grid point in reality (its "
                  "ranking holds)"),
    ArmComparison("ranking_top5", "top5", "random", "realised",
                  "better: the predictor's top-5 (mean) beats a random grid point in reality"),
    ArmComparison("predictor_gap", "tpe", "argmax", "realised",
                  "better: feedback HPO beats the predictor's exact optimum (predictor "
                  "failure)"),
    ArmComparison("headline", "alpha_beta", "tpe", "realised",
                  "better: EfficientDL's pick beats TPE (the paper's claim)"),
    *(ArmComparison(f"error_{arm}", arm, arm, "error",
                    "better / worse: realised above / below predicted (the predictor is "
                    "pessimistic / optimistic)")
      for arm in ("alpha_beta", "argmax", "top5", "random", "tpe")),
    ArmComparison("aa_control", "random", "random_b", "realised",
                  "A/A control: two independent random grid points; must be within noise"),
)

_ARM_COLUMNS = tuple(ArmRow.__dataclass_fields__)


def arm_frame(rows: pd.DataFrame) -> pd.DataFrame:
    """Every trained arm, one row each: the ``arms`` of the confirmation's rows, flattened.

    Parameters
    ----------
    rows : pandas.DataFrame
        From :func:`~effdl_kit.experiments.efficientdl.run_confirmation` (column ``arms``).

    Returns
    -------
    pandas.DataFrame
        The :class:`ArmRow` fields plus ``scale``, in the rows' order.

    Raises
    ------
    DataError
        No ``arms`` column.
    """
    if "arms" not in rows.columns or "scale" not in rows.columns:
        raise DataError("not a confirmation frame: columns ['arms', 'scale'] missing")
    out = [{**dict(arm), "scale": scale}
           for arms, scale in zip(rows["arms"], rows["scale"], strict=True) for arm in arms]
    return pd.DataFrame(out, columns=[*_ARM_COLUMNS, "scale"])


def seed_table(arms: pd.DataFrame) -> pd.DataFrame:
    """Per (task, seed): every arm's realised and predicted accuracy, one column each.

    The ``top5`` arm is the mean over its candidates (failed trainings skipped; NaN when all
    failed).

    Returns
    -------
    pandas.DataFrame
        ``task``, ``seed``, then ``{arm}_test`` and ``{arm}_pred`` for every arm of
        :data:`~._confirm_settings.ARMS` (NaN where an arm is missing).
    """
    test = arms.pivot_table(index=["task", "seed"], columns="arm", values="test_top1",
                            aggfunc="mean", dropna=False, sort=False)
    pred = arms.pivot_table(index=["task", "seed"], columns="arm", values="predicted_top1",
                            aggfunc="mean", dropna=False, sort=False)
    out = pd.DataFrame(index=test.index)
    for arm in ARMS:
        out[f"{arm}_test"] = test[arm] if arm in test.columns else np.nan
        out[f"{arm}_pred"] = pred[arm] if arm in pred.columns else np.nan
    return out.reset_index()


def compare_arms(a: npt.ArrayLike, b: npt.ArrayLike, *, seed: int = 0) -> PairedComparison:
    """Paired comparison of two arms over seeds (higher is better).

    Parameters
    ----------
    a, b : array_like, shape (n,)
        One value per seed, aligned; pairs with a NaN are dropped.
    seed : int
        Seed of the bootstrap.

    Returns
    -------
    PairedComparison
        ``diff`` = mean of ``a − b``, its 95% bootstrap-t interval ``lo, hi`` (the
        differences resampled over seeds), the verdict ``"better"`` (interval above 0),
        ``"worse"`` (below), ``"within noise"``, or ``"n/a"`` (NaN interval) with fewer than
        :data:`MIN_PAIRS` pairs, and ``n`` the pairs used.

    Examples
    --------
    >>> compare_arms([0.9, 0.92, 0.88, 0.91, 0.9], [0.8, 0.83, 0.79, 0.8, 0.82]).verdict
    'better'
    >>> compare_arms([0.9, 0.8, 0.85, 0.87, 0.86], [0.88, 0.83, 0.84, 0.86, 0.87]).verdict
    'within noise'
    """
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise DataError(f"a and b must be aligned 1-d arrays, got shapes {x.shape}, {y.shape}")
    ok = np.isfinite(x) & np.isfinite(y)
    d = x[ok] - y[ok]
    if len(d) < MIN_PAIRS:
        mean = float(d.mean()) if len(d) else float("nan")
        return PairedComparison(mean, float("nan"), float("nan"), "n/a", len(d))
    c = compare(d, np.zeros(len(d)), seed=seed)
    verdict: ArmVerdict = "better" if c.lo > 0 else "worse" if c.hi < 0 else "within noise"
    return PairedComparison(c.diff, c.lo, c.hi, verdict, len(d))


def _rows_or_arms(frame: pd.DataFrame) -> pd.DataFrame:
    """The arm frame of ``frame`` (confirmation rows or already an arm frame)."""
    if "arms" in frame.columns:
        return arm_frame(frame)
    need = {"task", "seed", "arm", "test_top1", "predicted_top1"}
    missing = sorted(need - set(frame.columns))
    if missing:
        raise DataError(f"not a confirmation frame: columns {missing} missing (or 'arms')")
    return frame


def confirmation_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Per task and arm: predicted and realised Top-1 over seeds, with 95% bootstrap CIs.

    Parameters
    ----------
    frame : pandas.DataFrame
        Confirmation rows (:func:`~effdl_kit.experiments.efficientdl.run_confirmation`) or
        their :func:`arm_frame`.

    Returns
    -------
    pandas.DataFrame
        One row per task (first-appearance order) x arm (:data:`ARMS` order, arms present):
        ``task``, ``arm``, ``label``, ``n_seeds``, ``n_ok`` (seeds with a realised value),
        ``predicted``, ``realised``, ``realised_lo``, ``realised_hi`` (percentile bootstrap
        of the mean over seeds), ``error`` (realised − predicted), ``error_lo``, ``error_hi``,
        ``time_s`` (mean wall time of the arm as a method). ``top5``: per seed, the mean of
        its candidates. Means skip failed trainings.

    Raises
    ------
    DataError
        Columns missing.
    """
    arms = _rows_or_arms(frame)
    per_seed = seed_table(arms)
    times = arms.groupby(["task", "arm"], sort=False)["time_s"].mean()
    out: list[dict[str, Any]] = []
    for task in pd.unique(arms["task"]):
        part = per_seed[per_seed["task"] == task]
        present = set(arms.loc[arms["task"] == task, "arm"])
        for arm in (a for a in ARMS if a in present):
            test = part[f"{arm}_test"].to_numpy(dtype=float)
            pred = part[f"{arm}_pred"].to_numpy(dtype=float)
            ok = np.isfinite(test)
            realised = _mean_ci(test[ok])
            error = _mean_ci((test - pred)[ok & np.isfinite(pred)])
            out.append({
                "task": str(task), "arm": arm, "label": ARM_LABELS[arm],
                "n_seeds": len(part), "n_ok": int(ok.sum()),
                "predicted": float(np.nanmean(pred)) if np.isfinite(pred).any() else np.nan,
                "realised": realised[0], "realised_lo": realised[1],
                "realised_hi": realised[2],
                "error": error[0], "error_lo": error[1], "error_hi": error[2],
                "time_s": float(times.loc[(task, arm)]),
            })
    return pd.DataFrame(out)


def _mean_ci(x: npt.NDArray[np.float64]) -> tuple[float, float, float]:
    """Mean and percentile bootstrap interval (NaN interval below 2 values)."""
    if len(x) == 0:
        return (float("nan"),) * 3
    if len(x) < 2:
        return float(x[0]), float("nan"), float("nan")
    return bootstrap_mean_ci(x)


def confirmation_verdicts(frame: pd.DataFrame, *,
                          comparisons: Sequence[ArmComparison] = COMPARISONS) -> pd.DataFrame:
    """Every comparison of :data:`COMPARISONS` per task, paired by seed, with its verdict.

    Parameters
    ----------
    frame : pandas.DataFrame
        Confirmation rows or their :func:`arm_frame`.
    comparisons : sequence of ArmComparison
        Default: :data:`COMPARISONS`.

    Returns
    -------
    pandas.DataFrame
        One row per task x comparison: ``task``, ``key``, ``a``, ``b``, ``measure``, ``n``
        (seeds with both values), ``diff`` (mean of a − b, accuracy units), ``lo``, ``hi``
        (95% bootstrap-t interval), ``verdict``, ``meaning``. A comparison whose arms are
        missing is left out.
    """
    arms = _rows_or_arms(frame)
    per_seed = seed_table(arms)
    out: list[dict[str, Any]] = []
    for task in pd.unique(arms["task"]):
        part = per_seed[per_seed["task"] == task]
        present = set(arms.loc[arms["task"] == task, "arm"])
        for c in comparisons:
            if c.a not in present or c.b not in present:
                continue
            if c.measure == "error":
                x, y = part[f"{c.a}_test"], part[f"{c.a}_pred"]
            else:
                col = "test" if c.measure == "realised" else "pred"
                x, y = part[f"{c.a}_{col}"], part[f"{c.b}_{col}"]
            res = compare_arms(x.to_numpy(dtype=float), y.to_numpy(dtype=float))
            out.append({"task": str(task), "key": c.key, "a": c.a, "b": c.b,
                        "measure": c.measure, "n": res.n, "diff": res.diff, "lo": res.lo,
                        "hi": res.hi, "verdict": res.verdict, "meaning": c.meaning})
    return pd.DataFrame(out, columns=["task", "key", "a", "b", "measure", "n", "diff", "lo",
                                      "hi", "verdict", "meaning"])


def _fmt(row: pd.Series) -> str:
    return (f"{100 * row['diff']:+.1f} points [{100 * row['lo']:+.1f}, "
            f"{100 * row['hi']:+.1f}], {row['verdict']}")


def failure_driver(verdicts: pd.DataFrame) -> pd.DataFrame:
    """Per task: which failure drives the outcome, the search's or the predictor's.

    Rules (each verdict as in :func:`confirmation_verdicts`): the predictor fails when
    ``ranking_argmax`` is not ``"better"`` (its argmax is no better than a random grid point
    in reality) or ``predictor_gap`` is ``"better"`` (TPE beats the argmax); the search fails
    when ``search_cost`` is ``"better"`` (the argmax trains better than αβ-BO's pick). Driver:
    ``"predictor"``, ``"search"``, ``"both"`` (``reason`` names the larger realised shortfall
    of ``search_cost`` and ``predictor_gap``), ``"neither"``, or ``"n/a"`` (a verdict is n/a:
    fewer than :data:`MIN_PAIRS` seeds).

    Returns
    -------
    pandas.DataFrame
        ``task``, ``driver``, ``reason`` (the verdicts it rests on, in points with their
        intervals).
    """
    need = {"search_cost", "ranking_argmax", "predictor_gap"}
    out: list[dict[str, str]] = []
    for task in pd.unique(verdicts["task"]):
        v = verdicts[verdicts["task"] == task].set_index("key")
        if not need <= set(v.index) or (v.loc[sorted(need), "verdict"] == "n/a").any():
            out.append({"task": str(task), "driver": "n/a",
                        "reason": f"fewer than {MIN_PAIRS} seeds with every arm trained"})
            continue
        search, ranking, gap = (v.loc[k] for k in ("search_cost", "ranking_argmax",
                                                   "predictor_gap"))
        predictor_fails = ranking["verdict"] != "better" or gap["verdict"] == "better"
        search_fails = search["verdict"] == "better"
        parts = [f"argmax vs αβ pick (realised) {_fmt(search)}",
                 f"argmax vs random {_fmt(ranking)}", f"TPE vs argmax {_fmt(gap)}"]
        if "headline" in v.index:
            parts.append(f"αβ pick vs TPE {_fmt(v.loc['headline'])}")
        if predictor_fails and search_fails:
            larger = "search" if search["diff"] >= gap["diff"] else "predictor"
            driver, lead = "both", f"both fail; the larger shortfall is the {larger}'s"
        elif predictor_fails:
            driver, lead = "predictor", "the predictor fails, the search does not"
        elif search_fails:
            driver, lead = "search", "the search fails, the predictor does not"
        else:
            driver, lead = "neither", "neither failure shows beyond the noise"
        out.append({"task": str(task), "driver": driver,
                    "reason": f"{lead}: " + "; ".join(parts)})
    return pd.DataFrame(out, columns=["task", "driver", "reason"])
