"""Figures of the comparison, drawn from the results alone (compute once, draw twice)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from effdl_kit._core.errors import ConfigError
from effdl_kit.reports import figure, label, legend_beside

from ._analysis import check_results, curve_at
from ._settings import BUDGET_NAMES, METHODS

__all__ = ["plot_comparison", "plot_comparison_panel"]

_STYLE: dict[str, dict[str, Any]] = {
    "recommend": {"color": "C0", "lw": 1.6},
    "recommend_b": {"color": "C0", "lw": 0.9, "ls": "--"},
    "tpe": {"color": "C1", "lw": 1.2},
    "nsga2": {"color": "C2", "lw": 1.2},
}


def _curve(traces: list[Mapping[str, Any]], grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard error over seeds of the best feasible accuracy on ``grid`` (a seed
    scores 0 until its first feasible training); NaN before the method's first training
    (any seed) and beyond its last seed's compute."""
    vals = np.array([[curve_at(t, x) for x in grid] for t in traces])
    end = max(t["compute_s"] for t in traces)
    start = min((t["trainings"][0]["compute_s"] for t in traces if t["trainings"]),
                default=end)
    mean = np.where((grid <= end * 1.0001) & (grid >= start * 0.9999), vals.mean(axis=0),
                    np.nan)
    se = vals.std(axis=0, ddof=1) / np.sqrt(len(traces)) if len(traces) > 1 else 0 * mean
    return mean, se


def plot_comparison_panel(results: Mapping[str, Any], task: str, budget: str, *,
                          ax: Axes) -> Axes:
    """Best feasible test accuracy vs compute spent for one (task, budget): each method's mean
    over seeds (a band of ±1 standard error) from its first training (any seed) up to its
    last seed's compute, a dot at its mean
    end (compute, accuracy); compute on a log axis; a seed scores 0 until its first feasible
    training."""
    check_results(results)
    cells = [c for c in results["cells"] if c["task"] == task and c["budget"] == budget]
    if not cells:
        have = sorted({(c["task"], c["budget"]) for c in results["cells"]})
        raise ConfigError("(task, budget)", (task, budget), have or "(no finished cell)")
    xs = [t["compute_s"] for c in cells for m in METHODS
          for t in c["methods"][m]["trainings"]]
    lo, hi = max(min(xs) * 0.9, 1e-3), max(xs) * 1.02
    grid = np.unique(np.concatenate([np.geomspace(lo, hi, 300), xs]))
    for m in METHODS:
        traces = [c["methods"][m] for c in cells]
        mean, se = _curve(traces, grid)
        style = _STYLE[m]
        ax.plot(grid, mean, label=label(m), drawstyle="steps-post", **style)
        ax.fill_between(grid, mean - se, mean + se, step="post", color=style["color"],
                        alpha=0.12, linewidth=0)
        ends = [(t["compute_s"], t["best_feasible"] or 0.0) for t in traces]
        ax.plot(np.mean([e[0] for e in ends]), np.mean([e[1] for e in ends]), marker="o",
                ms=3.5, color=style["color"], ls="none")
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(label("compute_s"))
    ax.set_ylabel(label("best_feasible_accuracy"))
    ax.set_title(f"{label(task)}, {label(budget).lower()} budget ({cells[0]['budget_ms']:g} ms)",
                 fontsize="small")
    return ax


def plot_comparison(results: Mapping[str, Any], fig: Figure | None = None) -> Figure:
    """One panel per (task, budget) of :func:`plot_comparison_panel`, tasks in rows, the
    legend beside the first row; drawn on ``fig`` (cleared) when given."""
    check_results(results)
    tasks = [t for t in results["settings"]["tasks"]
             if any(c["task"] == t for c in results["cells"])]
    if not tasks:
        raise ConfigError("results", "no finished cell", "results with at least one cell")
    budgets = [b for b in BUDGET_NAMES if any(c["budget"] == b for c in results["cells"])]
    if fig is None:
        fig, axes = figure("double", aspect=0.62, nrows=len(tasks), ncols=len(budgets),
                           squeeze=False, pyplot=False)
    else:
        fig.clear()
        axes = np.asarray(fig.subplots(len(tasks), len(budgets), squeeze=False))
    for i, task in enumerate(tasks):
        for j, b in enumerate(budgets):
            ax = axes[i, j]
            if any(c["task"] == task and c["budget"] == b for c in results["cells"]):
                plot_comparison_panel(results, task, b, ax=ax)
            else:
                ax.set_axis_off()
            if j > 0:
                ax.set_ylabel("")
            if i < len(tasks) - 1:
                ax.set_xlabel("")
    legend_beside(axes[0, -1])
    return fig
