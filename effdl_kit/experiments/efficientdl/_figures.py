"""Figures of the EfficientDL experiment, each drawn on a given ``ax``, and :func:`redraw`.

:func:`redraw` draws every figure and writes every table from ``results.json`` alone (no
fitting, no search, no training).
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from effdl_kit.experiments.efficientdl._analysis import (
    importance_frame,
    load_results,
    metrics_table,
    top_table,
)
from effdl_kit.experiments.efficientdl._confirm_figures import redraw_confirmation
from effdl_kit.experiments.efficientdl._regret import (
    ablation_table,
    ablation_tables,
    method_table,
    regret_bands,
)
from effdl_kit.experiments.efficientdl._settings import (
    FIGURE_IMPORTANCE,
    FIGURE_SCATTER,
    FIGURE_SEARCH,
    METHOD_LABELS,
    NAME,
    RESULTS_FILE,
    SHOW_K,
    SPLITS,
    TABLE_ABLATION,
    TABLE_METRICS,
    TABLE_OMEGA,
    TABLE_SEARCH,
    TABLE_TOP,
    TABLE_VERDICTS,
    TOP_K,
)
from effdl_kit.reports import (
    display,
    export_table,
    figure,
    label,
    legend_beside,
    paper_style_context,
    save_figure,
    styled,
)

__all__ = [
    "plot_ablation",
    "plot_importance",
    "plot_predicted_vs_true",
    "plot_search_curves",
    "redraw",
    "redraw_search",
]

#: scatter colour per cross-validation split
_SPLIT_COLORS: dict[str, str] = {"random": "C0", "grouped": "C1"}
_METHOD_LABELS: dict[str, str] = {str(m): text for m, text in METHOD_LABELS.items()}
#: one colour per search method, the same in every panel
_METHOD_COLORS: dict[str, str] = {str(m): f"C{i}" for i, m in enumerate(METHOD_LABELS)}


@styled
def plot_predicted_vs_true(result: Mapping[str, Any], split: str, *, ax: Axes) -> Axes:
    """Scatter of out-of-fold predictions against the true target; the diagonal dashed."""
    ev = result["evaluations"][split]
    y = np.asarray(ev["predictions"]["y_true"], dtype=float)
    p = np.asarray(ev["predictions"]["y_pred"], dtype=float)
    ax.scatter(y, p, s=4, alpha=0.35, linewidths=0, color=_SPLIT_COLORS.get(split, "C1"),
               rasterized=True)
    ok = np.isfinite(y) & np.isfinite(p)
    lo = float(min(y[ok].min(), p[ok].min())) if ok.any() else 0.0
    hi = float(max(y[ok].max(), p[ok].max())) if ok.any() else 1.0
    ax.plot([lo, hi], [lo, hi], ls="--", lw=0.8, color="0.3")
    m, s = ev["mean"], ev["std"]
    ax.text(0.03, 0.97, f"R² {m['r2']:.2f} ± {s['r2']:.2f}\nρ {m['spearman']:.2f}",
            transform=ax.transAxes, va="top", ha="left", fontsize="small")
    ax.set_title(f"{result['label']}, {split} {ev['n_splits']}-fold", fontsize="medium")
    target = display(result["target"])
    ax.set_xlabel(f"Measured {target[:1].lower()}{target[1:]}")
    ax.set_ylabel("Predicted (out of fold)")
    return ax


@styled
def plot_importance(result: Mapping[str, Any], *, ax: Axes, show: int = SHOW_K,
                    highlight: int = TOP_K) -> Axes:
    """Horizontal bars of the ``show`` most important components, 95 % CI error bars.

    The first ``highlight`` bars (the recommended Top-k) are coloured (``C3``), the rest grey.
    """
    top = importance_frame(result, k=show)
    n = len(top)
    pos = np.arange(n)[::-1]
    mean = top["mean"].to_numpy()
    lo = np.nan_to_num(mean - top["ci_low"].to_numpy(), nan=0.0)
    hi = np.nan_to_num(top["ci_high"].to_numpy() - mean, nan=0.0)
    colors = ["C3" if r <= highlight else "0.7" for r in top.index]
    ax.barh(pos, mean, xerr=np.vstack([lo, hi]), color=colors, capsize=2,
            error_kw={"lw": 0.8})
    ax.set_yticks(pos, [display(n) for n in top["name"]])
    ax.axvline(0.0, lw=0.6, color="0.3")
    ax.set_xlabel(label("importance"))
    ax.set_title(f"{result['label']}: Top-{highlight} highlighted", fontsize="medium")
    return ax


def redraw(out_dir: str | Path) -> list[Path]:
    """Draw the figures and write the tables from ``results.json`` only (no fitting).

    Returns
    -------
    list of Path
        Figures (scatter, importance, and search curves + ablation when the results hold the
        search half; PDF/SVG/PNG each), then tables (metrics, Top-5, and search methods, Ω
        sweep; TeX/Markdown/CSV each).
    """
    out = Path(out_dir)
    payload = load_results(out)
    results: dict[str, Any] = payload["datasets"]
    scale, seed = str(payload["scale"]), int(payload["seed"])
    provenance = {
        "experiment": NAME, "source": RESULTS_FILE, "budget": payload.get("budget"),
        "datasets": {n: r["source"] for n, r in results.items()},
        "skipped": payload.get("skipped", {}),
    }
    paths: list[Path] = []
    names = list(results)
    with paper_style_context():
        fig, axes = figure("double", aspect=0.8, nrows=len(names), ncols=len(SPLITS),
                           pyplot=False, squeeze=False)
        for i, name in enumerate(names):
            for j, split in enumerate(SPLITS):
                if split in results[name]["evaluations"]:
                    plot_predicted_vs_true(results[name], split, ax=axes[i, j])
                else:
                    axes[i, j].set_axis_off()
        paths += save_figure(fig, out / FIGURE_SCATTER, provenance=provenance, seed=seed,
                             scale=scale)
        fig, axes = figure("double", aspect=0.9, nrows=1, ncols=len(names), pyplot=False,
                           squeeze=False)
        for j, name in enumerate(names):
            plot_importance(results[name], ax=axes[0, j])
        paths += save_figure(fig, out / FIGURE_IMPORTANCE, provenance=provenance, seed=seed,
                             scale=scale)
    paths += export_table(
        metrics_table(results), out / TABLE_METRICS,
        caption=f"EfficientDL static predictor, random vs grouped CV ({scale} scale, "
                f"seed {seed}).",
        label="tab:efficientdl-metrics",
    )
    paths += export_table(
        top_table(results), out / TABLE_TOP,
        caption=f"Top-{TOP_K} components by permutation importance with 95-percent CIs "
                f"({scale} scale, seed {seed}).",
        label="tab:efficientdl-top5", float_format="{:.4f}",
    )
    if "search" in payload:
        paths += redraw_search(payload["search"], out, provenance, seed=seed, scale=scale)
    if "confirmation" in payload:
        paths += redraw_confirmation(payload["confirmation"], out, provenance, seed=seed,
                                      scale=scale)
    figs = [p for p in paths if p.suffix in (".pdf", ".svg", ".png")]
    return figs + [p for p in paths if p not in figs]


def redraw_search(search: Mapping[str, Any], out: Path, provenance: Mapping[str, Any], *,
                   seed: int, scale: str) -> list[Path]:
    """Figures and tables of the search half (regret curves, positive control, ablation;
    method table, verdicts, ablation table, Ω sweep)."""
    curves = pd.DataFrame(search["curves"])
    abl = pd.DataFrame(search["ablation"])
    setup = search["setup"]
    prov = {**provenance, "search": {"components": setup["components"],
                                     "n_candidates": setup["n_candidates"],
                                     "grid_max": setup.get("grid_max"),
                                     "fixed": setup.get("fixed", {})}}
    paths: list[Path] = []
    with paper_style_context():
        fig, axes = figure("double", aspect=0.8, nrows=2, ncols=2, pyplot=False,
                           squeeze=False)
        plot_search_curves(curves, ax=axes[0, 0], legend=False)
        axes[0, 0].set_title(f"predictor: {setup['n_candidates']} candidates, "
                             f"{curves['seed'].nunique()} seeds", fontsize="small")
        if "control_curves" in search:
            plot_search_curves(pd.DataFrame(search["control_curves"]), ax=axes[0, 1],
                               legend=False)
            axes[0, 1].set_title("positive control: known optimum", fontsize="small")
        else:
            axes[0, 1].set_axis_off()
        plot_ablation(abl, ax=axes[1, 0])
        axes[1, 0].set_title("kit αβ-BO, Ω = 0.1", fontsize="small")
        handles, labels = axes[0, 0].get_legend_handles_labels()
        axes[1, 1].set_axis_off()
        # the legend fills the free panel; long method names wrap so it stays inside it
        axes[1, 1].legend(handles, [textwrap.fill(lb, 26) for lb in labels], loc="center",
                          frameon=False, fontsize="x-small")
        paths += save_figure(fig, out / FIGURE_SEARCH, provenance=prov, seed=seed,
                             scale=scale)
    n_calls = int(curves["iteration"].max())
    paths += export_table(
        method_table(curves), out / TABLE_SEARCH,
        caption=f"Simple regret (grid maximum of the predictor − best found) after {n_calls} "
                f"predictor calls: mean and 95-percent bootstrap interval over seeds, share of "
                f"seeds at the grid maximum ({scale} scale).",
        label="tab:efficientdl-search", float_format="{:.4f}",
    )
    if search.get("verdicts"):
        paths += export_table(
            pd.DataFrame(search["verdicts"]), out / TABLE_VERDICTS,
            caption="The kit's αβ-BO against each reference: difference in mean regret "
                    f"(negative: lower regret) with its 95-percent interval ({scale} scale).",
            label="tab:efficientdl-verdicts", float_format="{:.4f}",
        )
    table = ablation_table(abl)
    paths += export_table(
        table, out / TABLE_ABLATION,
        caption=f"Ablation of the kit's αβ-BO: final regret per (α, β, Ω), verdict against "
                f"α = 0.54, β = 1.01, Ω = 0.1 and the share of runs on its path ({scale} scale).",
        label="tab:efficientdl-ablation", float_format="{:.4f}",
    )
    _, omega = ablation_tables(abl, table)
    paths += export_table(
        omega, out / TABLE_OMEGA,
        caption=f"Kit αβ-BO with α = 0.54, β = 1.01: final regret by Ω ({scale} scale).",
        label="tab:efficientdl-omega", float_format="{:.4f}",
    )
    return paths


@styled
def plot_search_curves(curves: pd.DataFrame, *, ax: Axes, legend: bool = True) -> Axes:
    """Mean simple regret per method against predictor calls, with a 95 % bootstrap band over
    seeds (symmetric-log axis: 0 = the grid maximum found)."""
    for i, m in enumerate(pd.unique(curves["method"])):
        band = regret_bands(curves, str(m))
        color = _METHOD_COLORS.get(str(m), f"C{i}")
        ax.plot(band["iteration"], band["mean"], color=color, lw=1.2,
                label=_METHOD_LABELS[str(m)] if str(m) in _METHOD_LABELS else display(m))
        ax.fill_between(band["iteration"], band["lo"], band["hi"], color=color, alpha=0.15,
                        lw=0)
    ax.set_yscale("symlog", linthresh=1e-3)
    ax.set_ylim(bottom=0.0)
    ax.set_xlabel(label("iteration"))
    ax.set_ylabel(label("regret"))
    if legend:  # beside the axes: the curves fill the plot from corner to corner
        legend_beside(ax, frameon=False)
    return ax


@styled
def plot_ablation(frame: pd.DataFrame, *, ax: Axes) -> Axes:
    """Heatmap of the kit αβ-BO's mean final regret over α (rows) and β (columns), Ω = 0.1;
    a cell marked * differs from the default cell (α = 0.54, β = 1.01) beyond noise."""
    table = ablation_table(frame)
    ab, _ = ablation_tables(frame, table)
    differs = {(r["alpha"], r["beta"]) for r in table.to_dict(orient="records")
               if r["part"] == "alpha_beta" and r["vs default"] in ("better", "worse")}
    data = ab.to_numpy(dtype=float)
    im = ax.imshow(data, origin="lower", aspect="auto", cmap="viridis_r")
    mid = float(np.nanmean(data)) if np.isfinite(data).any() else 0.0
    ax.set_xticks(range(ab.shape[1]), [f"{b:g}" for b in ab.columns])
    ax.set_yticks(range(ab.shape[0]), [f"{a:g}" for a in ab.index])
    for i, a in enumerate(ab.index):
        for j, b in enumerate(ab.columns):
            if np.isfinite(data[i, j]):
                mark = "*" if (a, b) in differs else ""
                ax.text(j, i, f"{data[i, j]:.4f}{mark}", ha="center", va="center",
                        fontsize=6, color="k" if data[i, j] <= mid else "w")
    ax.set_xlabel(label("beta"))
    ax.set_ylabel(label("alpha"))
    ax.figure.colorbar(im, ax=ax, label=label("final_regret"))
    return ax
