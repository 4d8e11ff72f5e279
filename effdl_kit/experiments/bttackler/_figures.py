"""Figures and tables of the ``bttackler`` experiment, drawn from ``results.json`` alone."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from effdl_kit.reports import export_table, figure, paper_style_context, save_figure, styled

from ._analysis import (
    Metric,
    comparison_table,
    headline_table,
    load_results,
    mean_std_of,
    runs_table,
)
from ._settings import (
    EARLY_STOP_VARIANTS,
    FIGURE_TOP10HR,
    FIGURE_TSBA,
    METHOD_LABELS,
    METHODS,
    NAME,
    PAPER,
    RESULTS_FILE,
    TABLE_COMPARISON,
    TABLE_HEADLINE,
    TABLE_INDICATORS,
    TABLE_RUNS,
    TASKS,
    VARIANT_LABELS,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["METRIC_STYLE", "plot_bars", "plot_metric_row", "redraw", "result_tasks"]


@styled
def plot_bars(rows: Sequence[Mapping[str, Any]], task: str, key: Metric, *, ax: Axes,
              refs: Sequence[tuple[float, str, str]] = (), floor: float = -100.0) -> Axes:
    """Grouped bars of the mean (± std) of ``key`` per method x variant for one task.

    Parameters
    ----------
    rows : sequence of mapping
        :func:`~effdl_kit.experiments.bttackler.aggregate` rows.
    task : str
    key : {"tsba", "top10hr"}
    ax : matplotlib Axes
    refs : sequence of (value, label, linestyle)
        Horizontal reference lines (the paper's numbers).
    floor : float
        Bars below it are drawn down to it only, with their value written (a censored TSBA
        can be hugely negative).
    """
    sel = [r for r in rows if r["task"] == task and r["variant"] != "plain"]
    methods = [m for m in METHODS if any(r["method"] == m for r in sel)]
    variants = [v for v in EARLY_STOP_VARIANTS if any(r["variant"] == v for r in sel)]
    by_cell = {(r["method"], r["variant"]): r for r in reversed(sel)}  # the first one wins
    width = 0.8 / max(len(variants), 1)
    for j, variant in enumerate(variants):
        xs, ys, es = [], [], []
        for i, method in enumerate(methods):
            row = by_cell.get((method, variant))
            mean, std = mean_std_of(row, key) if row is not None else (None, None)
            if mean is None:
                continue
            xs.append(i + (j - (len(variants) - 1) / 2) * width)
            ys.append(float(mean))
            es.append(float(std or 0.0))
        shown = [max(y, floor) for y in ys]
        ax.bar(xs, shown, width=width * 0.95, yerr=es if any(es) else None, capsize=2,
               color=f"C{j}",
               label=VARIANT_LABELS[variant], error_kw={"lw": 0.8})
        for x, y in zip(xs, ys, strict=True):
            if y < floor:  # clipped: write the value
                ax.text(x, floor, f"{y:.0f}", rotation=90, ha="center", va="bottom",
                        fontsize="x-small")
    for value, label, ls in refs:
        ax.axhline(value, ls=ls, lw=0.9, color="0.25", label=label)
    ax.axhline(0.0, lw=0.6, color="0.5")
    ax.set_xticks(range(len(methods)), [METHOD_LABELS[m] for m in methods])
    lo, hi = ax.get_ylim()
    ax.set_ylim(max(lo, floor - 5.0), hi)
    metric = sel[0]["metric"] if sel else ""
    ax.set_title(f"{task} ({metric})", fontsize="medium")
    return ax


#: Per metric: the y label and the paper's numbers as (value, label, line style) reference lines.
METRIC_STYLE: dict[Metric, tuple[str, tuple[tuple[float, str, str], ...]]] = {
    "tsba": ("TSBA (%)", ((PAPER["tsba"], f"paper {PAPER['tsba']}%", "--"),)),
    "top10hr": ("Top10HR (%)",
                ((PAPER["top10hr"], f"paper, BTTackler {PAPER['top10hr']}%", "--"),
                 (PAPER["top10hr_etr"], f"paper, ETR {PAPER['top10hr_etr']}%", ":"))),
}
#: The two figures: (file stem, metric).
_FIGURES: tuple[tuple[str, Metric], ...] = ((FIGURE_TSBA, "tsba"), (FIGURE_TOP10HR, "top10hr"))


def result_tasks(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The tasks that ``rows`` (aggregate rows) hold, in the experiment's task order."""
    return [t for t in TASKS if any(r["task"] == t for r in rows)]


@styled
def plot_metric_row(rows: Sequence[Mapping[str, Any]], key: Metric, axes: Sequence[Axes]
                    ) -> list[Axes]:
    """One metric across the tasks on a row of axes: :func:`plot_bars` per task (in
    :func:`result_tasks` order, one axes each) with the paper's reference lines, and the
    metric's y label on the first axes.

    Parameters
    ----------
    rows : sequence of mapping
        :func:`~effdl_kit.experiments.bttackler.aggregate` rows.
    key : {"tsba", "top10hr"}
    axes : sequence of matplotlib Axes
        At least one; the tasks beyond ``len(axes)`` are not drawn.
    """
    ylabel, refs = METRIC_STYLE[key]
    for ax, task in zip(axes, result_tasks(rows), strict=False):
        plot_bars(rows, task, key, ax=ax, refs=refs)
    axes[0].set_ylabel(ylabel)
    return list(axes)


def redraw(out_dir: str | Path) -> list[Path]:
    """Draw the TSBA and Top10HR figures and write the tables from ``results.json`` only.

    Returns
    -------
    list of Path
        Figures (TSBA, Top10HR; PDF/SVG/PNG each), then tables (comparison, runs,
        indicators, headline; TeX/Markdown/CSV each).
    """
    out = Path(out_dir)
    payload = load_results(out)
    rows: list[dict[str, Any]] = payload["aggregate"]
    scale, seed = payload["scale"], payload["seed"]
    budget = payload["budget"]
    provenance = {"experiment": NAME, "source": RESULTS_FILE, "budget": budget,
                  "datasets": payload.get("datasets", {}), "paper": payload.get("paper", PAPER)}
    tasks = result_tasks(rows)
    paths: list[Path] = []
    with paper_style_context():
        for stem, key in _FIGURES:
            fig, axes = figure("double", aspect=0.8, nrows=1, ncols=max(len(tasks), 1),
                               pyplot=False, squeeze=False)
            plot_metric_row(rows, key, list(axes[0]))
            handles, labels = axes[0, 0].get_legend_handles_labels()
            if handles:
                fig.legend(handles, labels, loc="outside lower center", ncol=3,
                           fontsize="small", frameon=False)
            paths += save_figure(fig, out / stem, provenance=provenance, seed=seed,
                                 scale=scale)
    where = (f"{scale} scale, seed {seed}, {budget['budget_s']:g} s per run, "
             f"{budget['workers']} worker(s), {budget['repeats']} repeat(s)")
    paths += export_table(
        comparison_table(rows), out / TABLE_COMPARISON,
        caption=f"TSBA and Top10HR against the plain method, mean over repeats ({where}).",
        label="tab:bttackler-comparison", float_format="{:.1f}")
    paths += export_table(
        runs_table(rows), out / TABLE_RUNS,
        caption=f"Trials finished within the budget, failed trials, trials cut by the end of "
                f"the budget, share stopped early and best validation result, mean over "
                f"repeats ({where}).",
        label="tab:bttackler-runs", float_format="{:.3f}")
    paths += export_table(
        pd.DataFrame(payload["indicators"]), out / TABLE_INDICATORS,
        caption=f"How often each indicator fired in the BTTackler runs ({where}).",
        label="tab:bttackler-indicators", float_format="{:.1f}")
    paths += export_table(
        headline_table(payload["headline"]), out / TABLE_HEADLINE,
        caption=f"Kit numbers next to the paper's ({where}).",
        label="tab:bttackler-headline", float_format="{:.2f}")
    figs = [p for p in paths if p.suffix in (".pdf", ".svg", ".png")]
    return figs + [p for p in paths if p not in figs]
