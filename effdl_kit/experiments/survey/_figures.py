"""Figures of the ``survey`` experiment, each drawn on a given ``ax``; :func:`redraw` draws
them all and writes the tables from ``results.json`` alone."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from matplotlib.ticker import NullFormatter

from effdl_kit.measure import OPS, Roofline
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
from effdl_kit.speedups import pareto_frontier, summarize_runs

from ._analysis import load_results, op_regime_table
from ._settings import (
    FIGURE_LOADER,
    FIGURE_PARETO,
    FIGURE_ROOFLINE,
    FIGURE_VARIANTS,
    NAME,
    PARTS,
    RESULTS_FILE,
    TABLE_FRONTIER,
    TABLE_LOADER,
    TABLE_OPS,
    TABLE_VARIANTS,
    Part,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["plot_flops_runtime", "plot_frontier_gains", "plot_loader", "plot_pareto",
           "plot_roofline", "redraw"]


@styled
def plot_pareto(runs: pd.DataFrame, *, ax: Axes, methods: Sequence[str] | None = None,
                show_seeds: bool = True) -> Axes:
    """Training time vs test accuracy: each method's mean per budget (a line through its
    budgets, ±1 std error bars), single seeds as faint dots, the baseline's Pareto frontier
    as a thick grey line (linear between its points, as the verdicts interpolate it)."""
    s = summarize_runs(runs)
    names = list(dict.fromkeys(runs["method"])) if methods is None else list(methods)
    for i, name in enumerate(names):
        g = s[s["method"] == name].sort_values("budget")
        if g.empty:
            continue
        base = name == "baseline"
        color = "black" if base else f"C{i % 10}"
        if show_seeds:
            r = runs[runs["method"] == name]
            ax.scatter(r["train_time_s"], r["test_accuracy"], s=6, color=color, alpha=0.25,
                       linewidths=0)
        ax.errorbar(g["time_mean"], g["acc_mean"], xerr=g["time_std"], yerr=g["acc_std"],
                    marker="o" if base else ".", ms=4, lw=1.6 if base else 0.9, color=color,
                    label=display(name), capsize=1.5, elinewidth=0.5, zorder=3 if base else 2)
        if base:
            idx = pareto_frontier(g["time_mean"].to_numpy(), g["acc_mean"].to_numpy())
            ft = g["time_mean"].to_numpy()[idx]
            fa = g["acc_mean"].to_numpy()[idx]
            # linear between the Pareto points, as the verdicts interpolate it
            ax.plot(ft, fa, color="black", lw=2.2, alpha=0.35, zorder=1,
                    label=label("baseline_frontier"))
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(label("train_time_summed_s"))
    ax.set_ylabel(label("test_accuracy"))
    ax.legend(fontsize="xx-small", ncol=3, loc="lower right")
    return ax


_VERDICT_COLORS = {"moves the frontier": "C2", "within noise": "0.45",
                   "behind the frontier": "C3", "too few seeds": "0.75"}


@styled
def plot_frontier_gains(frontier: pd.DataFrame, *, ax: Axes) -> Axes:
    """Each method's gain over the baseline's frontier at its best budget (accuracy points at
    equal time) with its simultaneous interval, coloured by verdict; the baseline is left out."""
    rows = frontier[frontier["verdict"] != "baseline"].reset_index(drop=True)
    y = np.arange(len(rows))[::-1]
    lo, hi, gain = (100 * rows[c].to_numpy(dtype=float) for c in ("ci_low", "ci_high",
                                                                   "best_gain"))
    for i, yi in enumerate(y):
        color = _VERDICT_COLORS.get(str(rows["verdict"].iloc[i]), "0.45")
        if np.isfinite(lo[i]) and np.isfinite(hi[i]):
            ax.plot([lo[i], hi[i]], [yi, yi], color=color, lw=1.6)
        ax.plot([gain[i]], [yi], "o", ms=4, color=color)
    ax.axvline(0.0, color="black", lw=0.8)
    budgets = rows["best_budget"].to_numpy(dtype=float)
    ax.set_yticks(y, [f"{display(m)} ({int(b) if np.isfinite(b) else '-'} ep)" for m, b
                      in zip(rows["method"], budgets, strict=True)], fontsize="x-small")
    ax.set_xlabel(label("gain_points"))
    handles = [ax.plot([], [], "o-", color=c, label=v)[0] for v, c in _VERDICT_COLORS.items()
               if v in set(rows["verdict"])]
    ax.legend(handles=handles, fontsize="xx-small", loc="best")
    return ax


_MARKERS = {"overhead": "x", "memory": "o", "compute": "s"}


def _scatter_by_regime(rows: pd.DataFrame, *, ax: Axes, color: str, label: str) -> None:
    """``rows`` at (intensity, achieved FLOP/s), marker by regime, one legend entry."""
    if "regime" not in rows:
        ax.scatter(rows["intensity"], rows["flop_rate"], marker="o", s=16, color=color,
                   label=label)
        return
    first = True
    for regime, mk in _MARKERS.items():
        rr = rows[rows["regime"] == regime]
        if rr.empty:
            continue
        ax.scatter(rr["intensity"], rr["flop_rate"], marker=mk, s=16, color=color,
                   label=label if first else None)
        first = False


@styled
def plot_roofline(sweep: pd.DataFrame, roofline: Roofline | Mapping[str, Any], *, ax: Axes,
                  dtype: str | None = "float32") -> Axes:
    """Achieved FLOP/s against arithmetic intensity on log axes, under the measured roofs
    (compute roof, bandwidth slope, ridge as a dotted line); marker by regime.

    ``dtype`` given: that dtype's own roof and its ops, coloured by op. ``None``: one roof per
    dtype of the sweep (a legend entry each, with its peak, bandwidth and ridge) and every op
    coloured by its dtype, so each op is seen against its own dtype's roof.

    Raises
    ------
    DataError
        The roofline has no peak or bandwidth for a dtype drawn.
    """
    roof = roofline if isinstance(roofline, Roofline) else Roofline.from_dict(dict(roofline))
    dtypes = list(dict.fromkeys(sweep["dtype"])) if dtype is None else [dtype]
    d = sweep[sweep["dtype"].isin(dtypes)]
    ridges = [roof.ridge_for(t) for t in dtypes]
    lo = float(min(d["intensity"].min(), *ridges) / 4)
    hi = float(max(d["intensity"].max(), *ridges) * 4)
    xs = np.geomspace(lo, hi, 200)
    for k, (t, ridge) in enumerate(zip(dtypes, ridges, strict=True)):
        color = "black" if dtype is not None else f"C{k % 10}"
        ax.plot(xs, roof.attainable(xs, t), color=color, lw=1.5,
                label=f"{t} roof: {roof.peak_for(t) / 1e9:.3g} GFLOP/s, "
                      f"{roof.bandwidth_for(t) / 1e9:.3g} GB/s, ridge {ridge:.3g}")
        ax.axvline(ridge, color=color if dtype is None else "0.5", ls=":", lw=0.8)
    if dtype is None:
        for k, t in enumerate(dtypes):
            _scatter_by_regime(d[d["dtype"] == t], ax=ax, color=f"C{k % 10}", label=f"{t} ops")
    else:
        for i, op in enumerate(OPS):
            r = d[d["op"] == op]
            if not r.empty:
                _scatter_by_regime(r, ax=ax, color=f"C{i % 10}", label=op)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(label("intensity"))
    ax.set_ylabel(label("flop_rate"))
    ax.set_title(f"{dtype or 'each dtype on its own roof'}; x overhead, o memory, "
                 "□ compute-bound", fontsize="small")
    legend_beside(ax, ncols=1)
    return ax


@styled
def plot_flops_runtime(rows: pd.DataFrame, *, ax: Axes) -> Axes:
    """E3: FLOPs ratio and step-time ratio against the baseline, one pair of bars per
    variant."""
    x = np.arange(len(rows))
    ax.bar(x - 0.2, rows["flops_ratio"], width=0.4, label=label("flops_ratio"), color="C0")
    ax.bar(x + 0.2, rows["time_ratio"], width=0.4, label=label("time_ratio"), color="C3")
    ax.axhline(1.0, color="0.3", lw=0.8)
    ax.set_xticks(x, [display(v).replace(", ", ",\n") for v in rows["variant"]])
    ax.set_ylabel("Ratio to baseline")
    _headroom_legend(ax, ncols=2)
    return ax


def _headroom_legend(ax: Axes, *, ncols: int) -> None:
    """A legend in a band above the bars: the y axis extended by a third, the legend at the
    top centre, so it never covers a bar."""
    lo, hi = ax.get_ylim()
    ax.set_ylim(lo, hi + (hi - lo) / 3)
    ax.legend(fontsize="x-small", loc="upper center", ncols=ncols)


@styled
def plot_loader(rows: pd.DataFrame, *, ax: Axes) -> Axes:
    """E4: stacked bars of data wait and compute per (augmentation, workers)."""
    labels = [f"{'no augmentation' if a == 'none' else display(a)}\n{w} workers"
              for a, w in zip(rows["augmentation"], rows["workers"], strict=True)]
    x = np.arange(len(rows))
    ax.bar(x, rows["compute_s"] * 1e3, label="compute", color="C0")
    ax.bar(x, rows["data_wait_s"] * 1e3, bottom=rows["compute_s"] * 1e3, label="data wait",
           color="C1")
    ax.set_xticks(x, labels, fontsize="small")
    ax.set_ylabel(label("step_time_ms"))
    _headroom_legend(ax, ncols=2)
    return ax


@dataclass(frozen=True)
class _Target:
    """Where a redraw writes, and what its files record."""

    out: Path
    provenance: dict[str, Any]
    scale: str
    seed: int

    def save(self, fig: Figure, stem: str) -> list[Path]:
        return save_figure(fig, self.out / stem, provenance=self.provenance, seed=self.seed,
                           scale=self.scale)


Drawn = tuple[list[Path], list[Path]]


def _draw_pareto(section: Mapping[str, Any], t: _Target) -> Drawn:
    runs = pd.DataFrame(section["runs"])
    frontier = pd.DataFrame(section["frontier"])
    # results written before the verdicts had intervals draw the Pareto plot alone
    gains = {"ci_low", "ci_high", "best_budget"} <= set(frontier.columns)
    panels = [("wall", frontier)] if gains else []
    if gains and "frontier_cpu" in section:
        panels.append(("CPU", pd.DataFrame(section["frontier_cpu"])))
    # one panel per row, full width: the Pareto plot, then each clock's gains
    fig, axes = figure("double", aspect=0.5, nrows=1 + len(panels), pyplot=False,
                       squeeze=False)
    ax = axes[0, 0]
    plot_pareto(runs, ax=ax)
    n_seeds = runs["seed"].nunique()
    ax.set_title(f"wall time vs accuracy, {runs['budget'].nunique()} budgets, "
                 f"{n_seeds} seed{'s' if n_seeds > 1 else ''}", fontsize="small")
    for j, (clock, table) in enumerate(panels, start=1):
        plot_frontier_gains(table, ax=axes[j, 0])
        axes[j, 0].set_title(f"gain at the best budget at equal {clock} time, simultaneous "
                             "95 % CI", fontsize="small")
    return t.save(fig, FIGURE_PARETO), export_table(
        frontier, t.out / TABLE_FRONTIER,
        caption=f"Speedup methods against the tuned baseline's time-accuracy frontier "
                f"({t.scale} scale): accuracy gain at equal training time at each method's "
                "best budget, with its 95 % interval simultaneous over the budgets (joint "
                "bootstrap of time and accuracy over seeds, Student's t).",
        label="tab:survey-frontier", float_format="{:.3f}")


def _draw_ops(section: Mapping[str, Any], t: _Target) -> Drawn:
    sweep = pd.DataFrame(section["sweep"])
    dtypes: list[str | None] = list(dict.fromkeys(sweep["dtype"]))
    # several dtypes: first every dtype under its own roof, then a panel per dtype
    panels = [None, *dtypes] if len(dtypes) > 1 else dtypes
    fig, axes = figure("double", aspect=0.45 if len(panels) == 1 else 0.38,
                       nrows=len(panels), ncols=1, pyplot=False, squeeze=False)
    for j, dt in enumerate(panels):
        plot_roofline(sweep, section["roofline"], ax=axes[j, 0], dtype=dt)
    return t.save(fig, FIGURE_ROOFLINE), export_table(
        op_regime_table(sweep), t.out / TABLE_OPS, caption=f"Op microbenchmarks ({t.scale} "
        "scale).", label="tab:survey-ops", float_format="{:.3g}")


def _draw_variants(section: Mapping[str, Any], t: _Target) -> Drawn:
    rows = pd.DataFrame(section["rows"])
    fig, ax = figure("double", aspect=0.4, pyplot=False)
    plot_flops_runtime(rows, ax=ax)
    return t.save(fig, FIGURE_VARIANTS), export_table(
        rows, t.out / TABLE_VARIANTS, caption=f"FLOPs vs runtime of CNN variants ({t.scale}).",
        label="tab:survey-variants", float_format="{:.3g}", humanize=True)


def _draw_loader(section: Mapping[str, Any], t: _Target) -> Drawn:
    rows = pd.DataFrame(section["rows"])
    fig, ax = figure("double", aspect=0.4, pyplot=False)
    plot_loader(rows, ax=ax)
    return t.save(fig, FIGURE_LOADER), export_table(
        rows, t.out / TABLE_LOADER, caption=f"Data-loader bottleneck ({t.scale} scale).",
        label="tab:survey-loader", float_format="{:.4g}", humanize=True)


#: part -> draws its figure and writes its table from its section of ``results.json``
_DRAWERS: dict[Part, Callable[[Mapping[str, Any], _Target], Drawn]] = {
    "pareto": _draw_pareto,
    "ops": _draw_ops,
    "variants": _draw_variants,
    "loader": _draw_loader,
}


def redraw(out_dir: str | Path) -> list[Path]:
    """Draw the figures and write the tables from ``results.json`` only (no training).

    Returns
    -------
    list of Path
        Figures (Pareto, roofline, FLOPs vs runtime, loader; those whose part ran), then
        tables.
    """
    out = Path(out_dir)
    payload = load_results(out)
    target = _Target(out, {"experiment": NAME, "source": RESULTS_FILE,
                           "setup": payload.get("setup")}, payload["scale"], payload["seed"])
    figs: list[Path] = []
    tables: list[Path] = []
    with paper_style_context():
        for part in PARTS:
            if part in payload:
                f, t = _DRAWERS[part](payload[part], target)
                figs += f
                tables += t
    return figs + tables
