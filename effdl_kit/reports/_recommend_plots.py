"""A latency-aware recommendation drawn on a given axes: predicted front, budget, measured points.

:func:`plot_recommendation` draws a :class:`~effdl_kit.recommend.Recommendation` (every
candidate the search evaluated, at its predicted latency and accuracy, the calibrated latency
interval as a light horizontal bar; the predicted Pareto front; the latency budget) and, when
candidates were trained (:func:`~effdl_kit.recommend.confirm`), each one at its measured latency
and realised test accuracy, joined to its prediction by a thin line. A training that
BTTackler's diagnosis stopped is marked with a red cross, a failed training (no accuracy, no
latency) with an open grey marker at its prediction.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from effdl_kit._core.errors import ConfigError
from effdl_kit.recommend import Confirmation, Recommendation, TrainedCandidate
from effdl_kit.reports._diagnosis_plots import STOP_COLOR
from effdl_kit.reports._labels import display, label
from effdl_kit.reports._style import legend_beside, styled

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["FRONT_COLOR", "MEASURED_COLOR", "measured_points", "plot_recommendation"]

#: colour of the predicted Pareto front
FRONT_COLOR = "C0"
#: colour of the trained candidates' measured points
MEASURED_COLOR = "C1"
#: columns of :func:`measured_points`
MEASURED_COLUMNS = ("predicted_ms", "predicted_accuracy", "measured_ms", "accuracy",
                    "diagnosis", "error")


def _same_config(row: pd.Series, components: Sequence[str], trial: TrainedCandidate) -> bool:
    for c in components:
        a, b = row[c], trial.components.get(c)
        if isinstance(a, int | float | np.number) and isinstance(b, int | float | np.number):
            if not math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12):
                return False
        elif str(a) != str(b):
            return False
    return True


def measured_points(rec: Recommendation, confirmation: Confirmation | None = None,
                    measured: Sequence[TrainedCandidate] | None = None) -> pd.DataFrame:
    """One row per trained candidate: its prediction and what training and timing gave.

    Parameters
    ----------
    rec : Recommendation
    confirmation : Confirmation, optional
        :func:`~effdl_kit.recommend.confirm`'s result for ``rec``.
    measured : sequence of TrainedCandidate, optional
        Trained candidates as they arrive (``confirm``'s ``on_trial``), instead of a
        confirmation; each is matched to the candidate of ``rec`` with the same searched
        components (predicted columns NaN when none matches).

    Returns
    -------
    DataFrame
        Columns ``predicted_ms``, ``predicted_accuracy``, ``measured_ms``, ``accuracy``
        (realised test top-1; NaN for a failed training), ``diagnosis`` and ``error`` ("" when
        none); no rows when nothing was trained.

    Raises
    ------
    ConfigError
        Both ``confirmation`` and ``measured`` given, or objects of the wrong type.
    """
    if confirmation is not None and measured is not None:
        raise ConfigError("measured", "a sequence", "None when a confirmation is given")
    if confirmation is not None:
        if not isinstance(confirmation, Confirmation):
            raise ConfigError("confirmation", type(confirmation).__name__,
                              "None or a Confirmation")
        f = confirmation.frame()
        if not len(f):
            return pd.DataFrame(columns=list(MEASURED_COLUMNS))
        return f[list(MEASURED_COLUMNS)].reset_index(drop=True)
    rows = []
    for t in measured or ():
        if not isinstance(t, TrainedCandidate):
            raise ConfigError("measured", type(t).__name__, "a sequence of TrainedCandidate")
        match = [r for _, r in rec.candidates.iterrows()
                 if _same_config(r, rec.components, t)]
        pred = match[0] if match else None
        rows.append({"predicted_ms": float(pred["latency_ms"]) if pred is not None else math.nan,
                     "predicted_accuracy": float(pred["accuracy"]) if pred is not None
                     else math.nan,
                     "measured_ms": t.measured_ms, "accuracy": t.accuracy,
                     "diagnosis": t.diagnosis or "", "error": t.error or ""})
    return pd.DataFrame(rows, columns=list(MEASURED_COLUMNS))


def _spans_decades(values: np.ndarray) -> bool:
    pos = values[np.isfinite(values) & (values > 0)]
    return bool(pos.size) and float(pos.max()) > 10 * float(pos.min())


@styled
def plot_recommendation(rec: Recommendation, confirmation: Confirmation | None = None, *,
                        ax: Axes, measured: Sequence[TrainedCandidate] | None = None,
                        legend: bool = True) -> Axes:
    """Predicted accuracy vs predicted latency of every evaluated candidate, with the front,
    the budget and the trained candidates' measured points.

    Parameters
    ----------
    rec : Recommendation
        Finished, or stopped (what its search evaluated).
    confirmation : Confirmation, optional
        The trained candidates (:func:`~effdl_kit.recommend.confirm`), drawn at their
        measured latency and realised accuracy.
    ax : matplotlib Axes
    measured : sequence of TrainedCandidate, optional
        Trained candidates as they arrive, instead of ``confirmation`` (a live figure).
    legend : bool
        A legend beside the axes.

    Returns
    -------
    matplotlib Axes
        The x axis is logarithmic when the drawn latencies span more than a decade.

    Raises
    ------
    ConfigError
        ``rec`` is not a Recommendation; see :func:`measured_points`.
    """
    if not isinstance(rec, Recommendation):
        raise ConfigError("rec", type(rec).__name__, "a Recommendation")
    points = measured_points(rec, confirmation, measured)
    cands = rec.candidates
    lat = cands["latency_ms"].to_numpy(dtype=float)
    acc = cands["accuracy"].to_numpy(dtype=float)
    lo = cands["latency_lo_ms"].to_numpy(dtype=float)
    hi = cands["latency_hi_ms"].to_numpy(dtype=float)
    budget = float(rec.latency_budget_ms)
    xs = np.concatenate([lat, lo, hi, points["measured_ms"].to_numpy(dtype=float),
                         [budget] if math.isfinite(budget) else []])
    if _spans_decades(xs):
        ax.set_xscale("log")
    if len(cands):
        err = np.vstack([np.clip(lat - lo, 0, None), np.clip(hi - lat, 0, None)])
        level = rec.calibration.get("interval")
        what = f"{float(level):.0%} latency interval" if isinstance(level, int | float) \
            else "latency interval"
        ax.errorbar(lat, acc, xerr=err, fmt="o", ms=3.5, color="0.55", ecolor="0.8",
                    elinewidth=0.8, capsize=0, alpha=0.9, zorder=2,
                    label=f"evaluated candidates ({what})")
        front = rec.pareto()
        ax.plot(front["latency_ms"], front["accuracy"], drawstyle="steps-post",
                color=FRONT_COLOR, lw=1.5, zorder=3, label="predicted Pareto front")
    else:
        ax.text(0.5, 0.5, "no candidate evaluated", transform=ax.transAxes, ha="center",
                va="center", fontsize="small", color="0.4")
    if math.isfinite(budget):
        ax.axvline(budget, color="k", ls="--", lw=1.0, zorder=1,
                   label=f"latency budget ({budget:.3g} ms)")
    _draw_measured(ax, points)
    ax.set_xlabel(label("latency_ms"))
    ax.set_ylabel(label("top1"))
    stopped = " (search stopped)" if rec.stopped else ""
    ax.set_title(f"{display(rec.task)} on {rec.device.upper()}: {len(cands)} candidates"
                 f"{stopped}", fontsize="small")
    if legend and ax.get_legend_handles_labels()[0]:
        legend_beside(ax)
    return ax


def _draw_measured(ax: Axes, points: pd.DataFrame) -> None:
    """Measured points joined to their predictions; diagnosis stops and failures marked."""
    if not len(points):
        return
    shown: set[str] = set()

    def once(name: str) -> str | None:
        if name in shown:
            return None
        shown.add(name)
        return name

    for _, p in points.iterrows():
        px, py = float(p["predicted_ms"]), float(p["predicted_accuracy"])
        mx, my = float(p["measured_ms"]), float(p["accuracy"])
        has_pred = math.isfinite(px) and math.isfinite(py)
        if p["error"] or not (math.isfinite(mx) and math.isfinite(my)):
            if has_pred:  # nothing measured: the failure marked at its prediction
                ax.scatter([px], [py], marker="o", s=46, facecolors="none", edgecolors="0.3",
                           linewidths=1.2, zorder=5, label=once("failed training"))
            continue
        if has_pred:
            ax.plot([px, mx], [py, my], color=MEASURED_COLOR, lw=0.7, alpha=0.8, zorder=4)
        if p["diagnosis"]:
            ax.scatter([mx], [my], marker="X", s=52, color=STOP_COLOR, zorder=6,
                       label=once("stopped by diagnosis"))
        else:
            ax.scatter([mx], [my], marker="D", s=30, color=MEASURED_COLOR, zorder=6,
                       edgecolors="k", linewidths=0.5,
                       label=once("trained: measured latency, test accuracy"))

