"""Figure and table of the EfficientDL confirmation by real training."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from effdl_kit.experiments.efficientdl._confirm_analysis import confirmation_summary
from effdl_kit.experiments.efficientdl._confirm_settings import FIGURE_CONFIRM, TABLE_CONFIRM
from effdl_kit.reports import export_table, figure, paper_style_context, save_figure

__all__ = ["plot_confirmation", "redraw_confirmation"]


def redraw_confirmation(conf: Mapping[str, Any], out: Path, provenance: Mapping[str, Any],
                         *, seed: int, scale: str) -> list[Path]:
    """Figure and table of the confirmation by training."""
    frame = pd.DataFrame(conf["rows"])
    paths: list[Path] = []
    with paper_style_context():
        fig, axes = figure("single", aspect=0.75, pyplot=False, squeeze=False)
        plot_confirmation(frame, ax=axes[0, 0])
        paths += save_figure(fig, out / FIGURE_CONFIRM, provenance=provenance, seed=seed,
                             scale=scale)
    paths += export_table(
        pd.DataFrame(conf["summary"]), out / TABLE_CONFIRM,
        caption=f"EfficientDL's recommendation trained once vs an Optuna TPE study training "
                f"every trial: Top-1, difference (points) and wall-time ratio ({scale} scale).",
        label="tab:efficientdl-confirm", float_format="{:.3f}",
    )
    return paths


def plot_confirmation(frame: pd.DataFrame, *, ax: Axes) -> Axes:
    """Test accuracy of EfficientDL (a) and TPE (b) per task: bars (mean), error bars (std
    over seeds), one dot per seed; the mean difference (a − b, points) and wall-time ratio
    (b / a) written above each task.

    Parameters
    ----------
    frame : pandas.DataFrame
        From :func:`run_confirmation`.
    ax : matplotlib.axes.Axes
        Drawn on; nothing else is touched.

    Returns
    -------
    Axes
    """
    summary = confirmation_summary(frame)
    n = len(summary)
    x = np.arange(n, dtype=float)
    width = 0.36
    arms = (("efficientdl_top1", "EfficientDL (1 training)", "C0", -width / 2),
            ("automl_top1", "Optuna TPE (real training)", "C1", width / 2))
    for col, label, color, dx in arms:
        mean = summary[f"{col}_mean"].to_numpy(dtype=float)
        std = np.nan_to_num(summary[f"{col}_std"].to_numpy(dtype=float), nan=0.0)
        ax.bar(x + dx, np.nan_to_num(mean, nan=0.0), width, yerr=std, color=color, alpha=0.85,
               capsize=2, error_kw={"lw": 0.8}, label=label)
        for i, task in enumerate(summary["task"]):
            vals = frame.loc[frame["task"] == task, col].to_numpy(dtype=float)
            vals = vals[np.isfinite(vals)]
            ax.scatter(np.full(len(vals), x[i] + dx), vals, s=8, color="0.15", zorder=3,
                       linewidths=0)
    for xi, diff, ratio in zip(x, summary["diff_points_mean"], summary["time_ratio_mean"],
                               strict=True):
        ax.text(xi, 1.02, f"Δ {diff:+.1f} pts\ntime b/a {ratio:.2g}x", ha="center",
                va="bottom", fontsize="x-small")
    ax.set_xticks(x, [str(t) for t in summary["task"]])
    ax.set_ylim(0.0, 1.42)
    ax.set_yticks(np.linspace(0.0, 1.0, 6))
    ax.set_ylabel("test top-1 accuracy")
    n_seeds = sorted({int(s) for s in summary["n_seeds"]})
    ax.set_title(f"Confirmation by real training ({', '.join(map(str, n_seeds))} seeds)",
                 fontsize="medium")
    ax.legend(loc="upper center", ncols=2, fontsize="x-small", frameon=False,
              handlelength=1.0, columnspacing=1.0)
    return ax
