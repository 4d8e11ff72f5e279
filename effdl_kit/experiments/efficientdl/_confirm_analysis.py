"""Analysis of the EfficientDL confirmation by real training: its records and summary.

:class:`Recommendation` (EfficientDL's pick for a task, no training), :class:`ConfirmRow` (one
task x seed of :func:`~._confirm.confirm`) and :func:`confirmation_summary` of their frame.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

from effdl_kit._core.errors import DataError

__all__ = ["ConfirmRow", "Recommendation", "confirmation_summary"]


@dataclass
class Recommendation:
    """EfficientDL's recommendation for one task (no training involved).

    Attributes
    ----------
    task, scale : str
    seed : int
    components : dict
        Every component of the training to run: the base with the searched values applied
        (data components = the task's).
    searched : dict
        The Top-5 components' recommended values.
    predicted_top1 : float
        The predictor's accuracy for the recommendation.
    top5 : list of str
        The searched components, by decreasing permutation importance.
    importance : dict of str to float
        Mean R² drop of every controllable component.
    grid : dict of str to list
        The value list searched per component.
    base : dict
        Every predictor input at its default (data components = the task's).
    search_s : float
        Wall time of the whole recommendation (``predictor_s + bo_s``).
    predictor_s, bo_s : float
        Predictor fit + permutation importance; αβ-BO (problem, initial rows, iterations).
    n_iter, n_initial_rows : int
        αβ-BO iterations and initial observations.
    """

    task: str
    scale: str
    seed: int
    components: dict[str, Any]
    searched: dict[str, Any]
    predicted_top1: float
    top5: list[str]
    importance: dict[str, float]
    grid: dict[str, list[Any]]
    base: dict[str, Any]
    search_s: float
    predictor_s: float
    bo_s: float
    n_iter: int
    n_initial_rows: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


@dataclass
class ConfirmRow:
    """One task x seed of the confirmation (see :mod:`._confirm` for the times).

    Attributes
    ----------
    task, scale : str
    seed : int
    top5 : list of str
    predicted_top1 : float
        The predictor's accuracy for (a)'s recommendation.
    efficientdl_top1, automl_top1 : float
        Test accuracy of (a)'s one training and of (b)'s best trial (NaN when failed).
    efficientdl_val_top1, automl_val_top1 : float
        Their last-epoch validation accuracy.
    diff_points : float
        ``100 * (efficientdl_top1 - automl_top1)``.
    efficientdl_time_s, automl_time_s : float
        Wall times of (a) (recommendation + training) and (b) (the whole study).
    time_ratio : float
        ``automl_time_s / efficientdl_time_s``.
    ratio_search_only : float
        ``automl_time_s / (bo_s + train_s)``: the predictor's fit left out.
    predictor_s, bo_s, train_s : float
        Parts of (a): predictor fit + importance, αβ-BO, the training.
    config_a, config_b : dict
        The five searched components' values chosen by (a) and (b).
    tpe_trials, tpe_failed : int
        Trials run by (b) and how many failed.
    bo_iter : int
    train_epochs, train_n_train : int
        Epochs and training images of every training (after the scale's caps).
    error_a, error_b : str or None
        Why (a)'s training failed / why (b) has no result.
    """

    task: str
    scale: str
    seed: int
    top5: list[str]
    predicted_top1: float
    efficientdl_top1: float
    efficientdl_val_top1: float
    automl_top1: float
    automl_val_top1: float
    diff_points: float
    efficientdl_time_s: float
    automl_time_s: float
    time_ratio: float
    ratio_search_only: float
    predictor_s: float
    bo_s: float
    train_s: float
    config_a: dict[str, Any]
    config_b: dict[str, Any]
    tpe_trials: int
    tpe_failed: int
    bo_iter: int
    train_epochs: int
    train_n_train: int
    error_a: str | None = None
    error_b: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


_SUMMARY_COLUMNS = ("efficientdl_top1", "automl_top1", "diff_points", "time_ratio",
                    "efficientdl_time_s", "automl_time_s")


def confirmation_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Per task: mean ± std over seeds of both accuracies, the difference, times and ratio.

    Parameters
    ----------
    frame : pandas.DataFrame
        From :func:`~effdl_kit.experiments.efficientdl.run_confirmation`.

    Returns
    -------
    pandas.DataFrame
        One row per task (first-appearance order): ``task``, ``scale``, ``n_seeds`` (rows),
        ``n_ok`` (rows where both arms have an accuracy), and ``{col}_mean``, ``{col}_std`` for
        ``efficientdl_top1, automl_top1, diff_points, time_ratio, efficientdl_time_s,
        automl_time_s``. Means and sample standard deviations (ddof 1; NaN for one seed) skip
        NaN (failed) values.

    Raises
    ------
    DataError
        Columns missing.
    """
    need = {"task", "scale", "seed", *_SUMMARY_COLUMNS}
    missing = sorted(need - set(frame.columns))
    if missing:
        raise DataError(f"not a confirmation frame: columns {missing} missing")
    out: list[dict[str, Any]] = []
    for task in pd.unique(frame["task"]):
        part = frame[frame["task"] == task]
        ok = part["efficientdl_top1"].notna() & part["automl_top1"].notna()
        row: dict[str, Any] = {
            "task": str(task),
            "scale": ",".join(sorted({str(s) for s in part["scale"]})),
            "n_seeds": len(part), "n_ok": int(ok.sum()),
        }
        for col in _SUMMARY_COLUMNS:
            vals = part[col].astype(float)
            row[f"{col}_mean"] = float(vals.mean())
            row[f"{col}_std"] = float(vals.std(ddof=1))
        out.append(row)
    return pd.DataFrame(out)
