"""Figures of the live BTTackler experiment, drawn from its results document alone."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from effdl_kit._core.errors import ConfigError
from effdl_kit._core.jsonable import as_float
from effdl_kit._core.stats import mean_curve_band
from effdl_kit.reports import (
    figure,
    label,
    legend_beside,
    paper_style_context,
    save_figure,
    styled,
)

from ._live_analysis import LIVE_CLOCKS, arm_points, best_so_far
from ._settings import PAPER

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["ARM_STYLE", "plot_live_curves", "plot_live_tsba", "redraw_live"]

#: Colour and label of each arm.
ARM_STYLE: dict[str, tuple[str, str]] = {"plain": ("#4c72b0", "plain"),
                                         "bttackler": ("#dd8452", "BTTackler")}
_CLOCK_LABELS = {"epochs": label("epochs_clock"), "wall": label("wall_clock_s"),
                 "cpu": label("cpu_clock_s")}
#: tick label of each clock in the TSBA panel
_CLOCK_TICKS = {"epochs": "Epochs", "wall": "Wall", "cpu": "CPU"}


@styled
def plot_live_curves(repeats: Sequence[Mapping[str, Any]], *, ax: Axes,
                     clock: str = "epochs", n_points: int = 200) -> Axes:
    """Best-so-far validation accuracy against the clock: the mean over repeats and its 95 %
    bootstrap band, per arm.

    The curves start at the latest first result of any repeat and arm (before it a mean is
    undefined) and end at the earliest end of an arm.

    Parameters
    ----------
    repeats : sequence of mapping
        Repeat records of the results document (``arms`` per repeat).
    ax : matplotlib Axes
    clock : {"epochs", "wall", "cpu"}
    n_points : int
        Points of the grid (>= 2).
    """
    if clock not in LIVE_CLOCKS:
        raise ConfigError("clock", clock, tuple(LIVE_CLOCKS))
    arms = [rep["arms"] for rep in repeats]
    firsts = [min((c for c, _ in arm_points(a[k]["trials"], clock)), default=np.nan)
              for a in arms for k in ARM_STYLE]
    ends = [as_float(a[k].get(LIVE_CLOCKS[clock])) for a in arms for k in ARM_STYLE]
    if not arms or not np.all(np.isfinite(firsts)) or not np.all(np.isfinite(ends)):
        ax.text(0.5, 0.5, "no results", ha="center", va="center", transform=ax.transAxes)
        return ax
    lo, hi = max(firsts), min(ends)
    grid = np.linspace(lo, max(hi, lo), n_points)
    for k, (color, arm_name) in ARM_STYLE.items():
        curves = np.vstack([best_so_far(a[k]["trials"], grid, clock) for a in arms])
        mean, band_lo, band_hi = mean_curve_band(curves)
        ax.plot(grid, mean, color=color, label=f"{arm_name} (mean of {len(arms)})")
        ax.fill_between(grid, band_lo, band_hi, color=color, alpha=0.25, linewidth=0)
    ax.set_xlabel(_CLOCK_LABELS[clock])
    ax.set_ylabel(label("best_val_accuracy"))
    ax.legend(fontsize="small", frameon=False, loc="best")
    return ax


@styled
def plot_live_tsba(summary: Mapping[str, Any], *, ax: Axes,
                   clocks: Sequence[str] = tuple(LIVE_CLOCKS)) -> Axes:
    """TSBA per repeat (dots) and its mean with the 95 % bootstrap interval (bar), per clock,
    beside the paper's 40.33 %.

    Parameters
    ----------
    summary : mapping
        :func:`~._live_analysis.summarize_live` output.
    ax : matplotlib Axes
    clocks : sequence of {"epochs", "wall", "cpu"}
    """
    qs = {q["quantity"]: q for q in summary["quantities"]}
    for i, clock in enumerate(clocks):
        if clock not in LIVE_CLOCKS:
            raise ConfigError("clocks", clock, tuple(LIVE_CLOCKS))
        vals = [as_float(r.get(f"tsba_{clock}")) for r in summary["per_repeat"]]
        xs = i + np.linspace(-0.15, 0.15, max(len(vals), 1))[: len(vals)]
        ax.scatter(xs, vals, s=12, color="#888888", zorder=3,
                   label="one repeat" if i == 0 else None)
        q = qs[f"tsba_{clock}"]
        m, lo, hi = as_float(q["mean"]), as_float(q["lo"]), as_float(q["hi"])
        if np.isfinite(m):
            ax.errorbar([i + 0.3], [m], yerr=[[m - lo], [hi - m]], fmt="o",
                        color=ARM_STYLE["bttackler"][0], capsize=3,
                        label="mean, 95 % CI" if i == 0 else None)
    ax.axhline(0.0, color="black", linewidth=0.6)
    ax.axhline(PAPER["tsba"], color="black", linestyle="--", linewidth=0.8,
               label=f"paper {PAPER['tsba']:g} %")
    ax.set_xticks(range(len(clocks)), [_CLOCK_TICKS[c] for c in clocks])
    ax.set_xlabel(label("clock"))
    ax.set_ylabel(label("tsba"))
    legend_beside(ax, frameon=False)
    return ax


def redraw_live(doc: Mapping[str, Any], path_stem: str | Path,
                formats: Sequence[str] = ("png",)) -> list[Path]:
    """Draw the experiment's figure (best-so-far curves on the epoch clock; TSBA per repeat
    and clock) from the results document and write it.

    Parameters
    ----------
    doc : mapping
        The results document (``bttackler_live.json``).
    path_stem : path
        Output path without extension.
    formats : sequence of {"pdf", "svg", "png"}

    Returns
    -------
    list of Path
        The files written.
    """
    with paper_style_context():
        fig, axes = figure("double", aspect=0.7, nrows=1, ncols=2, pyplot=False)
        plot_live_curves(doc["repeats"], ax=axes[0])
        plot_live_tsba(doc["summary"], ax=axes[1])
        axes[0].set_title("best so far, epoch clock", fontsize="medium")
        axes[1].set_title("TSBA vs the plain arm", fontsize="medium")
        return save_figure(fig, path_stem, formats, seed=int(doc["seed"]),
                           scale=str(doc["scale"]),
                           provenance={"experiment": "bttackler_live",
                                       "command": doc.get("command"),
                                       "budget": doc.get("budget")})
