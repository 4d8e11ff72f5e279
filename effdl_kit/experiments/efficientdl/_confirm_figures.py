"""Figure and table of the EfficientDL confirmation by real training.

:func:`redraw_confirmation` draws from the stored confirmation record alone (rows with their
arms, summary, verdicts, drivers): predicted vs realised Top-1 of every trained arm
(:func:`plot_predicted_vs_realised`) beside the realised Top-1 per task and arm with 95%
bootstrap intervals (:func:`plot_confirmation`), and one table (:func:`confirmation_table`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from effdl_kit._core.errors import DataError
from effdl_kit.experiments.efficientdl._confirm_analysis import (
    arm_frame,
    confirmation_summary,
    confirmation_verdicts,
    failure_driver,
)
from effdl_kit.experiments.efficientdl._confirm_settings import (
    ARM_LABELS,
    ARMS,
    FIGURE_CONFIRM,
    TABLE_CONFIRM,
)
from effdl_kit.reports import (
    display,
    export_table,
    figure,
    label,
    paper_style_context,
    save_figure,
    styled,
)

__all__ = [
    "confirmation_table",
    "draw_confirmation",
    "plot_confirmation",
    "plot_predicted_vs_realised",
    "redraw_confirmation",
]

_MARKERS = {"alpha_beta": "o", "argmax": "s", "top5": "^", "random": "x", "random_b": "+",
            "tpe": "D"}
_COLORS = {arm: f"C{i}" for i, arm in enumerate(ARMS)}


def _num(value: Any) -> float:
    """A stored number (JSON null: NaN)."""
    return float("nan") if value is None else float(value)


def _records(conf: Mapping[str, Any], key: str, rows: pd.DataFrame) -> pd.DataFrame:
    """A stored part of the record, or recomputed from the rows when it is missing."""
    if key in conf:
        return pd.DataFrame(conf[key])
    if key == "summary":
        return confirmation_summary(rows)
    verdicts = confirmation_verdicts(rows)
    return verdicts if key == "verdicts" else failure_driver(verdicts)


def confirmation_table(conf: Mapping[str, Any]) -> pd.DataFrame:
    """One table of the confirmation: every arm's realised Top-1, every comparison, the driver.

    Parameters
    ----------
    conf : mapping
        The confirmation record (``run_confirm``'s dict).

    Returns
    -------
    pandas.DataFrame
        Per task: one row per arm (``what`` = the arm, ``mean`` = realised Top-1 over seeds,
        ``lo``/``hi`` its 95% interval, ``predicted`` the predictor's mean value), one per
        comparison (``what`` = its key with ``a − b``, ``mean``/``lo``/``hi`` the paired
        difference and interval, ``verdict``), and the driver (``verdict`` = which failure
        drives the outcome).
    """
    rows = pd.DataFrame(conf["rows"])
    summary = _records(conf, "summary", rows)
    verdicts = _records(conf, "verdicts", rows)
    drivers = _records(conf, "drivers", rows)
    out: list[dict[str, Any]] = []
    for task in pd.unique(summary["task"]):
        for _, s in summary[summary["task"] == task].iterrows():
            out.append({"task": task, "what": s["arm"], "measure": "realised",
                        "n": s["n_ok"], "mean": s["realised"], "lo": s["realised_lo"],
                        "hi": s["realised_hi"], "predicted": s["predicted"], "verdict": ""})
        for _, v in verdicts[verdicts["task"] == task].iterrows():
            what = (f"{v['key']}: {v['a']}" if v["measure"] == "error"
                    else f"{v['key']}: {v['a']} − {v['b']}")
            out.append({"task": task, "what": what, "measure": v["measure"], "n": v["n"],
                        "mean": v["diff"], "lo": v["lo"], "hi": v["hi"],
                        "predicted": np.nan, "verdict": v["verdict"]})
        for _, d in drivers[drivers["task"] == task].iterrows():
            out.append({"task": task, "what": "driver", "measure": "", "n": np.nan,
                        "mean": np.nan, "lo": np.nan, "hi": np.nan, "predicted": np.nan,
                        "verdict": d["driver"]})
    return pd.DataFrame(out, columns=["task", "what", "measure", "n", "mean", "lo", "hi",
                                      "predicted", "verdict"])


def redraw_confirmation(conf: Mapping[str, Any], out: Path, provenance: Mapping[str, Any],
                        *, seed: int, scale: str) -> list[Path]:
    """Figure and table of the confirmation by training, from its stored record alone."""
    rows = pd.DataFrame(conf["rows"])
    if "arms" not in rows.columns:
        raise DataError("the stored confirmation has no arms (written by an older kit): "
                        "run it again")
    summary = _records(conf, "summary", rows)
    paths: list[Path] = []
    with paper_style_context():
        fig = draw_confirmation(rows, summary)
        paths += save_figure(fig, out / FIGURE_CONFIRM, provenance=provenance, seed=seed,
                             scale=scale)
    paths += export_table(
        confirmation_table(conf), out / TABLE_CONFIRM,
        caption=f"Confirmation by real training ({scale} scale): realised Top-1 of each arm "
                f"(αβ-BO's pick, the predictor's argmax and top-5, random grid points, an "
                f"Optuna TPE study training every trial) with 95% bootstrap intervals over "
                f"seeds; paired differences with their verdicts; the failure that drives "
                f"the outcome.",
        label="tab:efficientdl-confirm", float_format="{:.3f}",
    )
    return paths


@styled
def draw_confirmation(rows: pd.DataFrame, summary: pd.DataFrame | None = None) -> Any:
    """The confirmation's figure: predicted vs realised (left), realised per arm (right), one
    legend below both; returns the (pyplot-free) figure."""
    fig, axes = figure("double", aspect=0.55, ncols=2, pyplot=False, squeeze=False)
    plot_predicted_vs_realised(arm_frame(rows), ax=axes[0, 0], legend=False)
    plot_confirmation(rows, ax=axes[0, 1], summary=summary, legend=False)
    handles, labels = axes[0, 1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=len(labels) // 2,
               fontsize="x-small", frameon=False, handlelength=1.2, columnspacing=1.0)
    return fig


@styled
def plot_predicted_vs_realised(arms: pd.DataFrame, *, ax: Axes, legend: bool = True) -> Axes:
    """Predicted vs realised Top-1 of every trained arm (one point per task x seed x arm,
    ``top5``: each candidate), with the diagonal; failed trainings are left out.

    Parameters
    ----------
    arms : pandas.DataFrame
        :func:`~._confirm_analysis.arm_frame` of the confirmation rows.
    ax : matplotlib.axes.Axes
        Drawn on; nothing else is touched.
    legend : bool, default True
        Draw the arms' legend on ``ax``.

    Returns
    -------
    Axes
    """
    tasks = list(pd.unique(arms["task"]))
    fills = {t: i for i, t in enumerate(tasks)}
    for arm in (a for a in ARMS if a in set(arms["arm"])):
        part = arms[(arms["arm"] == arm) & np.isfinite(arms["test_top1"].astype(float))]
        for task in tasks:
            sel = part[part["task"] == task]
            if sel.empty:
                continue
            marker, color = _MARKERS[arm], _COLORS[arm]
            style: dict[str, Any] = (
                {"color": color} if fills[task] == 0 or marker in "x+"
                else {"facecolors": "none", "edgecolors": color})
            ax.scatter(sel["predicted_top1"], sel["test_top1"], s=14, marker=marker,
                       linewidths=0.8, alpha=0.8,
                       label=ARM_LABELS[arm] if fills[task] == 0 else None, **style)
    ax.plot([0, 1], [0, 1], color="0.4", lw=0.8, ls="--", zorder=0)
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(0.0, 1.0)
    ax.set_xlabel(label("predicted_top1"))
    ax.set_ylabel(label("test_top1"))
    styles = ", ".join(f"{'filled' if i == 0 else 'open'}: {display(t)}"
                       for t, i in fills.items())
    ax.set_title(f"Predicted vs realised ({styles})", fontsize="x-small")
    if legend:
        ax.legend(loc="lower right", fontsize="xx-small", frameon=False, handlelength=1.0)
    return ax


@styled
def plot_confirmation(frame: pd.DataFrame, *, ax: Axes,
                      summary: pd.DataFrame | None = None, legend: bool = True) -> Axes:
    """Realised test Top-1 per task and arm: the mean over seeds with its 95% bootstrap
    interval, one small dot per seed, the predictor's mean value as a dash.

    Parameters
    ----------
    frame : pandas.DataFrame
        Confirmation rows (:func:`run_confirmation`) or their arm frame.
    ax : matplotlib.axes.Axes
        Drawn on; nothing else is touched.
    summary : pandas.DataFrame, optional
        :func:`~._confirm_analysis.confirmation_summary` of ``frame`` (computed when
        missing).
    legend : bool, default True
        Draw the arms' legend on ``ax``.

    Returns
    -------
    Axes
    """
    arms = arm_frame(frame) if "arms" in frame.columns else frame
    if summary is None:
        summary = confirmation_summary(arms)
    tasks = list(pd.unique(summary["task"]))
    present = [a for a in ARMS if a in set(summary["arm"])]
    width = 0.8 / max(len(present), 1)
    for j, arm in enumerate(present):
        dx = (j - (len(present) - 1) / 2) * width
        part = summary[summary["arm"] == arm].set_index("task")
        for i, task in enumerate(tasks):
            if task not in part.index:
                continue
            s = part.loc[task]
            x = i + dx
            mean, lo, hi = (_num(s[k]) for k in ("realised", "realised_lo", "realised_hi"))
            err = ([[mean - lo], [hi - mean]] if np.isfinite(lo) and np.isfinite(hi)
                   else None)
            ax.errorbar([x], [mean], yerr=err, fmt=_MARKERS[arm], color=_COLORS[arm],
                        ms=4, capsize=2, lw=0.9,
                        label=ARM_LABELS[arm] if i == 0 else None)
            ax.plot([x - width / 2.5, x + width / 2.5], [_num(s["predicted"])] * 2,
                    color=_COLORS[arm], lw=0.8, ls=":")
            sel = arms[(arms["task"] == task) & (arms["arm"] == arm)]
            per_seed = sel.groupby("seed")["test_top1"].mean().to_numpy(dtype=float)
            per_seed = per_seed[np.isfinite(per_seed)]
            ax.scatter(np.full(len(per_seed), x), per_seed, s=3, color="0.3", zorder=3,
                       linewidths=0)
    ax.set_xticks(np.arange(len(tasks), dtype=float), [display(t) for t in tasks])
    ax.set_ylim(0.0, 1.05)
    ax.set_ylabel(label("test_top1"))
    n_seeds = sorted({int(n) for n in summary["n_seeds"]})
    ax.set_title(f"Realised per arm, 95% CI, {', '.join(map(str, n_seeds))} seeds "
                 "(dotted: predicted)", fontsize="x-small")
    if legend:
        ax.legend(loc="lower left", fontsize="xx-small", frameon=False, ncols=2,
                  handlelength=1.0)
    return ax
