"""Figures of the replay study, drawn from a :class:`ReplayStudy` on given axes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from effdl_kit.reports import figure, label, legend_beside, styled

from ._replay_study import RANDOM_CONTROL, ReplayStudy
from ._settings import PAPER

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["RULE_LABELS", "plot_replay_controls", "plot_replay_indicators",
           "plot_replay_metric", "replay_figure"]

#: Display names of the replayed rules.
RULE_LABELS: dict[str, str] = {
    "bttackler": "BTTackler (kit)", "bttackler_faithful": "BTTackler (authors')",
    "median": "median rule", "curvefit": "curve fitting", "none": "no rule",
    RANDOM_CONTROL: "random stop (matched)"}
#: Rules drawn in the comparison panels.
COMPARED: tuple[str, ...] = ("bttackler", "bttackler_faithful", "median", "curvefit")
_TASK_LABELS: dict[str, str] = {"cnn_digits": "CNN digits", "cnn_synthetic": "CNN images",
                                "lstm_digits": "LSTM digits", "transformer_co2": "Transformer CO2"}


def _bars(ax: Axes, frame: pd.DataFrame, tasks: Sequence[str], rules: Sequence[str],
          floor: float | None = None) -> None:
    width = 0.8 / max(len(rules), 1)
    x = np.arange(len(tasks))
    for j, rule in enumerate(rules):
        sub = frame[frame["rule"] == rule].set_index("task")
        mean = np.asarray([sub["mean"].get(t, np.nan) for t in tasks], dtype=float)
        lo = np.asarray([sub["lo"].get(t, np.nan) for t in tasks], dtype=float)
        hi = np.asarray([sub["hi"].get(t, np.nan) for t in tasks], dtype=float)
        shown = mean if floor is None else np.maximum(mean, floor)
        err = np.vstack([np.clip(shown - np.maximum(lo, floor if floor is not None else lo),
                                 0, None), np.clip(hi - shown, 0, None)])
        pos = x - 0.4 + width * (j + 0.5)
        ax.bar(pos, shown, width, label=RULE_LABELS.get(rule, rule), yerr=err, capsize=2)
        if floor is not None:
            for p, m in zip(pos, mean, strict=True):
                if np.isfinite(m) and m < floor:
                    ax.annotate(f"{m:.0f}", (p, floor), ha="center", va="bottom", fontsize=6,
                                rotation=90)
    ax.set_xticks(x, [_TASK_LABELS.get(t, t) for t in tasks])
    ax.axhline(0.0, color="black", linewidth=0.6)


@styled
def plot_replay_metric(study: ReplayStudy, quantity: str, *, ax: Axes,
                       setting: str = "random", rules: Sequence[str] = COMPARED) -> Axes:
    """Mean ``quantity`` (``tsba`` or ``top10hr``, %) per task and rule with its 95 % CI,
    beside the paper's number (TSBA below -100 % is drawn down to -100 and labelled)."""
    s = study.summary
    frame = s[(s["setting"] == setting) & (s["quantity"] == quantity)]
    tasks = list(study.tasks["task"])
    _bars(ax, frame, tasks, rules, floor=-100.0 if quantity == "tsba" else None)
    if quantity == "tsba":
        ax.axhline(PAPER["tsba"], color="grey", linestyle="--", linewidth=0.8,
                   label=f"paper {PAPER['tsba']:.2f} %")
        ax.set_ylabel(label("tsba"))
    else:
        ax.axhline(50.0, color="black", linestyle=":", linewidth=0.8, label="50 % (tie)")
        ax.axhline(PAPER["top10hr"], color="grey", linestyle="--", linewidth=0.8,
                   label=f"paper {PAPER['top10hr']:.2f} %")
        ax.set_ylabel(label("top10hr"))
    ax.set_title(f"{quantity.upper() if quantity == 'tsba' else 'Top10HR'}, {setting} "
                 "orderings (95 % CI)")
    return ax


@styled
def plot_replay_controls(study: ReplayStudy, *, ax: Axes) -> Axes:
    """The controls' TSBA per task: no rule (must be 0), random stop at BTTackler's rate
    (must not be above 0), and BTTackler on the traces with injected pathologies (positive
    control: above 0) beside BTTackler on the natural traces."""
    s = study.summary
    s = s[s["quantity"] == "tsba"]
    parts = [s[(s["setting"] == "random") & (s["rule"].isin(["none", RANDOM_CONTROL,
                                                             "bttackler"]))]]
    inj = s[(s["setting"] == "injected") & (s["rule"] == "bttackler")].copy()
    inj["rule"] = "bttackler_injected"
    parts.append(inj)
    frame = pd.concat(parts, ignore_index=True)
    RULE_LABELS.setdefault("bttackler_injected", "BTTackler, injected pathologies")
    _bars(ax, frame, list(study.tasks["task"]),
          ["none", RANDOM_CONTROL, "bttackler", "bttackler_injected"], floor=-100.0)
    ax.set_ylabel(label("tsba"))
    ax.set_title("Controls: TSBA (95 % CI)")
    return ax


@styled
def plot_replay_indicators(study: ReplayStudy, *, ax: Axes, rule: str = "bttackler",
                           setting: str = "random") -> Axes:
    """Precision vs recall of each indicator (bad = bottom quartile), one marker per task."""
    ind = study.indicators
    ind = ind[(ind["rule"] == rule) & (ind["setting"] == setting)]
    markers = dict(zip(study.tasks["task"], "osD^v<>", strict=False))
    for indicator, g in ind.groupby("indicator"):
        for _, r in g.iterrows():
            ax.scatter(r["recall"], r["precision"], marker=markers.get(r["task"], "o"),
                       s=18 + 60 * min(float(r["flagged"]) / max(ind["flagged"].max(), 1), 1))
            ax.annotate(str(indicator), (r["recall"], r["precision"]), fontsize=6,
                        xytext=(3, 2), textcoords="offset points")
    ax.axhline(0.25, color="grey", linestyle=":", linewidth=0.8, label="base rate 25 %")
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel(label("recall"))
    ax.set_ylabel(label("precision_stops"))
    ax.set_title(f"Indicators of {RULE_LABELS.get(rule, rule)}")
    for task, m in markers.items():
        ax.scatter([], [], marker=m, color="black", label=_TASK_LABELS.get(task, task))
    return ax


@styled
def replay_figure(study: ReplayStudy) -> Figure:
    """The study's figure, one panel per row (TSBA, Top10HR, controls, indicators), each
    legend beside its panel."""
    fig, axes = figure("double", 0.3, nrows=4, ncols=1, pyplot=False,
                       height_ratios=(1, 1, 1, 1.8))
    flat = np.asarray(axes).ravel()
    plot_replay_metric(study, "tsba", ax=flat[0])
    plot_replay_metric(study, "top10hr", ax=flat[1])
    plot_replay_controls(study, ax=flat[2])
    plot_replay_indicators(study, ax=flat[3])
    for ax in flat:
        legend_beside(ax, fontsize=6)
    return fig
