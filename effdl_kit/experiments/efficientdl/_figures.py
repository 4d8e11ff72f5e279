"""Figures of the EfficientDL experiment, each drawn on a given ``ax``, and :func:`redraw`.

:func:`redraw` draws every figure and writes every table from ``results.json`` alone (no
fitting, no search, no training).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from effdl_kit.experiments.efficientdl._analysis import (
    ablation_tables,
    importance_frame,
    load_results,
    method_table,
    metrics_table,
    top_table,
)
from effdl_kit.experiments.efficientdl._confirm_figures import redraw_confirmation
from effdl_kit.experiments.efficientdl._settings import (
    FIGURE_IMPORTANCE,
    FIGURE_SCATTER,
    FIGURE_SEARCH,
    METHOD_LABELS,
    NAME,
    RESULTS_FILE,
    SHOW_K,
    SPLITS,
    TABLE_METRICS,
    TABLE_OMEGA,
    TABLE_SEARCH,
    TABLE_TOP,
    TOP_K,
)
from effdl_kit.reports import export_table, figure, paper_style_context, save_figure

__all__ = [
    "plot_ablation",
    "plot_importance",
    "plot_predicted_vs_true",
    "plot_search_curves",
    "redraw",
]

#: scatter colour per cross-validation split
_SPLIT_COLORS: dict[str, str] = {"random": "C0", "grouped": "C1"}
_METHOD_LABELS: dict[str, str] = {str(m): label for m, label in METHOD_LABELS.items()}


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
    ax.set_xlabel(f"true {result['target']}")
    ax.set_ylabel("predicted (out of fold)")
    return ax


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
    ax.set_yticks(pos, list(top["name"]))
    ax.axvline(0.0, lw=0.6, color="0.3")
    ax.set_xlabel("R² drop when permuted")
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
        paths += _redraw_search(payload["search"], out, provenance, seed=seed, scale=scale)
    if "confirmation" in payload:
        paths += redraw_confirmation(payload["confirmation"], out, provenance, seed=seed,
                                      scale=scale)
    figs = [p for p in paths if p.suffix in (".pdf", ".svg", ".png")]
    return figs + [p for p in paths if p not in figs]


def _redraw_search(search: Mapping[str, Any], out: Path, provenance: Mapping[str, Any], *,
                   seed: int, scale: str) -> list[Path]:
    """Figures and tables of the search half (curves, ablation)."""
    curves = pd.DataFrame(search["curves"])
    abl = pd.DataFrame(search["ablation"])
    setup = search["setup"]
    prov = {**provenance, "search": {"components": setup["components"],
                                     "n_candidates": setup["n_candidates"]}}
    paths: list[Path] = []
    with paper_style_context():
        fig, axes = figure("double", aspect=0.45, nrows=1, ncols=2, pyplot=False,
                           squeeze=False)
        plot_search_curves(curves, ax=axes[0, 0])
        axes[0, 0].set_title(f"{setup['n_candidates']} candidates, "
                             f"{curves['seed'].nunique()} seeds", fontsize="medium")
        plot_ablation(abl, ax=axes[0, 1])
        axes[0, 1].set_title("αβ-BO ablation (Ω = 0.1)", fontsize="medium")
        paths += save_figure(fig, out / FIGURE_SEARCH, provenance=prov, seed=seed,
                             scale=scale)
    paths += export_table(
        method_table(curves), out / TABLE_SEARCH,
        caption=f"Best predicted Top-1 after {int(curves['iteration'].max())} predictor calls, "
                f"mean and std over seeds ({scale} scale).",
        label="tab:efficientdl-search", float_format="{:.4f}",
    )
    _, omega = ablation_tables(abl)
    paths += export_table(
        omega, out / TABLE_OMEGA,
        caption=f"αβ-BO with α = 0.54, β = 1.01: best predicted Top-1 by Ω ({scale} scale).",
        label="tab:efficientdl-omega", float_format="{:.4f}",
    )
    return paths


def plot_search_curves(curves: pd.DataFrame, *, ax: Axes) -> Axes:
    """Mean best-so-far per method with a ±1 std band over seeds."""
    for i, (m, g) in enumerate(curves.groupby("method", sort=False)):
        stats = g.groupby("iteration")["best_so_far"].agg(["mean", "std"]).fillna(0.0)
        it = stats.index.to_numpy()
        color = f"C{i}"
        ax.plot(it, stats["mean"], color=color, lw=1.2,
                label=_METHOD_LABELS.get(str(m), str(m)))
        ax.fill_between(it, stats["mean"] - stats["std"], stats["mean"] + stats["std"],
                        color=color, alpha=0.15, lw=0)
    ax.set_xlabel("predictor calls")
    ax.set_ylabel("best predicted Top-1")
    ax.legend(fontsize="small", frameon=False)
    return ax


def plot_ablation(frame: pd.DataFrame, *, ax: Axes) -> Axes:
    """Heatmap of αβ-BO's mean final best over α (rows) and β (columns), Ω = 0.1."""
    ab, _ = ablation_tables(frame)
    data = ab.to_numpy(dtype=float)
    im = ax.imshow(data, origin="lower", aspect="auto", cmap="viridis")
    ax.set_xticks(range(ab.shape[1]), [f"{b:g}" for b in ab.columns])
    ax.set_yticks(range(ab.shape[0]), [f"{a:g}" for a in ab.index])
    for i in range(data.shape[0]):
        for j in range(data.shape[1]):
            if np.isfinite(data[i, j]):
                ax.text(j, i, f"{data[i, j]:.3f}", ha="center", va="center", fontsize=6,
                        color="w")
    ax.set_xlabel("β")
    ax.set_ylabel("α")
    ax.figure.colorbar(im, ax=ax, label="best predicted Top-1")
    return ax
