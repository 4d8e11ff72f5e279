"""Figures of the ``medn`` experiment, each drawn on a given ``ax``; :func:`redraw` draws them
all and writes the tables from ``results.json`` alone."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

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

from ._analysis import (
    ablation_table,
    load_results,
    most_common,
    scores_table,
    selection_table,
    split_table,
)
from ._settings import (
    FIGURE_ABLATION,
    FIGURE_ACCURACY,
    FIGURE_SCATTER,
    FIGURE_SPLITS,
    MODEL_LABELS,
    NAME,
    RESULTS_FILE,
    TABLE_ABLATION,
    TABLE_SCORES,
    TABLE_SELECTION,
    TABLE_SPLITS,
    TABLE_WHOLE,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["plot_ablation", "plot_accuracy", "plot_pred_vs_true", "plot_splits",
           "plot_whole_models", "redraw"]

#: split name -> label in the split figure
_SPLIT_LABELS = {"random": "random", "grouped": "grouped by config", "time": "time-blocked"}


@styled
def plot_accuracy(payload: Mapping[str, Any], *, ax: Axes, acc: str = "acc10") -> Axes:
    """Grouped bars: test acc@10 per module type and model; the auto-selected model starred."""
    s = pd.DataFrame(payload["scores"])
    s = s[s["split"] == "test"]
    types = list(dict.fromkeys(s["module_type"]))
    models = [m for m in MODEL_LABELS if m in set(s["model"])]
    width = 0.8 / max(len(models), 1)
    x = np.arange(len(types))
    chosen = {c["module_type"]: c["model"] for c in payload["selection"]["time"]["choices"]}
    for j, m in enumerate(models):
        vals = [float(s[(s["module_type"] == t) & (s["model"] == m)][acc].iloc[0]) * 100
                for t in types]
        ax.bar(x + (j - (len(models) - 1) / 2) * width, vals, width, label=MODEL_LABELS[m],
               color=f"C{j}")
        for i, t in enumerate(types):
            if chosen.get(t) == m:
                ax.text(x[i] + (j - (len(models) - 1) / 2) * width, vals[i] + 1, "*",
                        ha="center", va="bottom", fontsize="small")
    ax.set_xticks(x, [display(t) for t in types], rotation=45, ha="right",
                  rotation_mode="anchor")
    ax.set_ylabel(f"{label(acc, unit=False)} on test (%)")
    ax.set_ylim(0, 105)
    legend_beside(ax, fontsize="small")
    ax.set_title("per-module accuracy (* = auto-selected, time)", fontsize="medium")
    return ax


@styled
def plot_pred_vs_true(payload: Mapping[str, Any], model: str, *, ax: Axes) -> Axes:
    """Log-log scatter of test predictions of one model kind, coloured by module type."""
    p = pd.DataFrame(payload["predictions"])
    p = p[p["model"] == model]
    for i, (mt, g) in enumerate(p.groupby("module_type", sort=False)):
        ax.scatter(g["y_true"], g["y_pred"], s=4, alpha=0.5, linewidths=0, color=f"C{i % 10}",
                   label=display(mt), rasterized=True)
    if len(p):
        lo = float(min(p["y_true"].min(), p["y_pred"].min()))
        hi = float(max(p["y_true"].max(), p["y_pred"].max()))
        xs = np.array([lo, hi])
        ax.plot(xs, xs, ls="--", lw=0.8, color="0.3")
        ax.fill_between(xs, xs * 0.9, xs * 1.1, color="0.5", alpha=0.15, lw=0)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(label("measured_ms"))
    ax.set_ylabel(label("predicted_ms"))
    ax.set_title(f"{MODEL_LABELS.get(model, model)} (band: ±10 %)", fontsize="medium")
    return ax


@styled
def plot_ablation(payload: Mapping[str, Any], *, ax: Axes) -> Axes:
    """Bars: overall test acc@10 with vs without measurable parameters, all rows and under
    background load."""
    t = ablation_table(payload)
    labels = [f"{MODEL_LABELS[m]}\n{'loaded' if s == 'test_loaded' else 'all'}"
              for s, m in zip(t["split"], t["model"], strict=True)]
    x = np.arange(len(t))
    ax.bar(x - 0.2, 100 * t["acc10 with"], 0.4, label="with measurable", color="C0")
    ax.bar(x + 0.2, 100 * t["acc10 without"], 0.4, label="without", color="0.6")
    ax.set_xticks(x, labels, fontsize="small")
    ax.set_ylabel(label("acc10"))
    legend_beside(ax)
    ax.set_title("ablation: device-state inputs", fontsize="medium")
    return ax


@styled
def plot_whole_models(payload: Mapping[str, Any], *, ax: Axes) -> Axes:
    """Bars: measured vs predicted (sum of modules) latency per whole model."""
    w = pd.DataFrame(payload["whole_models"])
    ax.set_title("whole models", fontsize="medium")
    if w.empty:
        ax.text(0.5, 0.5, payload.get("whole_models_note") or "no whole-model check",
                ha="center", va="center", wrap=True, fontsize="small", transform=ax.transAxes)
        ax.set_axis_off()
        return ax
    x = np.arange(len(w))
    ax.bar(x - 0.2, w["measured_ms"], 0.4, label="measured", color="C2")
    ax.bar(x + 0.2, w["predicted_ms"], 0.4, label="sum of predicted modules", color="C1")
    for xi, pred, err in zip(x, w["predicted_ms"], w["error_pct"], strict=True):
        ax.text(float(xi) + 0.2, float(pred), f"{float(err):+.0f}%", ha="center", va="bottom",
                fontsize="x-small")
    ax.set_xticks(x, [display(m) for m in w["model"]], fontsize="small")
    ax.set_ylabel(label("latency_ms"))
    legend_beside(ax)
    return ax


@styled
def plot_splits(payload: Mapping[str, Any], *, ax: Axes, what: str = "with") -> Axes:
    """Bars per model, one per split: pooled test acc@10 with the measurable parameters
    (``what="with"``) or its gain over the model without them (``what="delta"``, points), with
    the bootstrap 95 % CIs of :func:`~._analysis.split_table`."""
    t = split_table(payload)
    cols = {"with": ("acc@10% with", "with lo", "with hi"),
            "delta": ("Δ (points)", "Δ lo", "Δ hi")}[what]
    models = list(dict.fromkeys(t["model"]))
    kinds = list(dict.fromkeys(t["split"]))
    width = 0.8 / max(len(kinds), 1)
    x = np.arange(len(models))
    for j, kind in enumerate(kinds):
        g = t[t["split"] == kind].set_index("model").reindex(models)
        est, lo, hi = (g[c].to_numpy(dtype=float) for c in cols)
        ax.bar(x + (j - (len(kinds) - 1) / 2) * width, est, width, yerr=[est - lo, hi - est],
               capsize=2, label=_SPLIT_LABELS.get(kind, kind), color=f"C{j}",
               error_kw={"lw": 0.8})
    ax.set_xticks(x, models)
    if what == "delta":
        ax.axhline(0, color="0.3", lw=0.8)
        ax.set_ylabel(f"Δ {label('acc10', unit=False)} (points)")
        ax.set_title("gain from measurable parameters", fontsize="medium")
    else:
        ax.set_ylabel(f"{label('acc10', unit=False)} on test (%)")
        ax.set_title("accuracy under three splits (95 % CI)", fontsize="medium")
        ax.legend(fontsize="x-small", loc="upper left", ncols=len(kinds))
        ax.set_ylim(0, min(105.0, float(t["with hi"].max()) * 1.35 + 1.0))
    return ax


def redraw(out_dir: str | Path) -> list[Path]:
    """Draw the figures and write the tables from ``results.json`` only (no fitting).

    Returns
    -------
    list of Path
        Figures (accuracy bars, predicted vs measured, ablation + whole models; PDF/SVG/PNG
        each), then tables (scores, selection, ablation, whole models; TeX/Markdown/CSV).
    """
    out = Path(out_dir)
    payload = load_results(out)
    scale, seed = str(payload["scale"]), int(payload["seed"])
    prov = {"experiment": NAME, "source": RESULTS_FILE, "dataset": payload.get("source"),
            "n_rows": payload.get("n_rows"), "budget": payload.get("budget")}
    paths: list[Path] = []
    with paper_style_context():
        fig, axes = figure("double", aspect=0.45, nrows=1, ncols=1, pyplot=False,
                           squeeze=False)
        plot_accuracy(payload, ax=axes[0, 0])
        paths += save_figure(fig, out / FIGURE_ACCURACY, provenance=prov, seed=seed,
                             scale=scale)
        auto = most_common([c["model"] for c in payload["selection"]["time"]["choices"]])
        kinds = ["medn"] + ([auto] if auto != "medn" else [])
        fig, axes = figure("double", aspect=0.45 * len(kinds), nrows=1, ncols=len(kinds),
                           pyplot=False, squeeze=False)
        for j, k in enumerate(kinds):
            plot_pred_vs_true(payload, k, ax=axes[0, j])
        legend_beside(axes[0, -1], markerscale=3, title=label("module_type"),
                      title_fontsize="x-small")
        paths += save_figure(fig, out / FIGURE_SCATTER, provenance=prov, seed=seed,
                             scale=scale)
        # one panel per row, full width: eight bar groups need the room
        fig, axes = figure("double", aspect=0.32, nrows=2, ncols=1, pyplot=False,
                           squeeze=False)
        plot_ablation(payload, ax=axes[0, 0])
        plot_whole_models(payload, ax=axes[1, 0])
        paths += save_figure(fig, out / FIGURE_ABLATION, provenance=prov, seed=seed,
                             scale=scale)
        if payload.get("splits"):
            fig, axes = figure("double", aspect=0.8, nrows=1, ncols=2, pyplot=False,
                               squeeze=False)
            plot_splits(payload, ax=axes[0, 0], what="with")
            plot_splits(payload, ax=axes[0, 1], what="delta")
            paths += save_figure(fig, out / FIGURE_SPLITS, provenance=prov, seed=seed,
                                 scale=scale)
    paths += export_table(scores_table(payload), out / TABLE_SCORES,
                          caption=f"Per-module latency predictors on the test split ({scale} "
                                  f"scale, seed {seed}).", label="tab:medn-scores",
                          float_format="{:.3f}")
    paths += export_table(selection_table(payload), out / TABLE_SELECTION,
                          caption="Auto-selection against MEDN alone (test, sample-weighted "
                                  "over module types); the paper reports +2.5 and +0.39.",
                          label="tab:medn-selection", float_format="{:.3f}")
    paths += export_table(ablation_table(payload), out / TABLE_ABLATION,
                          caption="With and without measurable parameters (test; test rows "
                                  "measured under background load).",
                          label="tab:medn-ablation", float_format="{:.3f}")
    paths += export_table(pd.DataFrame(payload["whole_models"]), out / TABLE_WHOLE,
                          caption="Whole-model latency: sum of per-module predictions vs "
                                  "measured.", label="tab:medn-whole", float_format="{:.3f}",
                          humanize=True)
    if payload.get("splits"):
        paths += export_table(split_table(payload), out / TABLE_SPLITS,
                              caption="Every model under three splits (random, grouped by "
                                      "sampling configuration, time-blocked): test acc@10 "
                                      "with and without measurable parameters, bootstrap 95 % "
                                      "CIs over the test rows.", label="tab:medn-splits",
                              float_format="{:.3f}")
    figs = [p for p in paths if p.suffix in (".pdf", ".svg", ".png")]
    return figs + [p for p in paths if p not in figs]
