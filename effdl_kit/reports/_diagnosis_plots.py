"""A diagnosed study drawn on given axes: per-trial loss curves and one indicator's curves.

Both draw from a :class:`~effdl_kit.diagnosis.DiagnosedStudy` (finished, or live while it
runs): one curve per trial (colour ``C<number % 10>``), the epoch where an indicator first
fired marked with its codes (a red cross: BTTackler stopped the trial; a grey circle: it fired
in a plain run; at the top of the axes when the value is NaN), the thresholds of the drawn
indicator as dashed lines.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from effdl_kit._core.validate import check_choice
from effdl_kit.reports._style import styled

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from effdl_kit.diagnosis import DiagnosedStudy

__all__ = [
    "INDICATOR_SERIES",
    "STOP_COLOR",
    "IndicatorSeries",
    "plot_indicator_curves",
    "plot_trial_losses",
]

#: Colour of the marker of a trial BTTackler stopped.
STOP_COLOR = "#b00020"


@dataclass(frozen=True)
class IndicatorSeries:
    """How one indicator quantity is drawn.

    Attributes
    ----------
    label : str
        Axis label.
    thresholds : tuple of str
        :class:`~effdl_kit.diagnosis.DiagnosisConfig` fields drawn as dashed lines.
    log : bool
        Log y axis (when some value is positive).
    """

    label: str
    thresholds: tuple[str, ...]
    log: bool


#: Indicator quantities that can be drawn: key (``"CODE.quantity"`` as in
#: ``Diagnosis.values``) -> label, thresholds, log axis. ``AGV.median_grad`` and
#: ``LAR.median_zero_fraction`` fall back to the per-layer gradient medians when the indicator
#: did not run (:meth:`~effdl_kit.diagnosis.DiagnosedStudy.indicator_values`).
INDICATOR_SERIES: dict[str, IndicatorSeries] = {
    "AGV.median_grad": IndicatorSeries("median |grad| (AGV)", ("agv_min_grad", "agv_max_grad"),
                                       True),
    "EAG.median_ratio": IndicatorSeries("median layer gradient ratio (EAG)", ("eag_max_ratio",),
                                        True),
    "ERG.median_ratio": IndicatorSeries("median |layer ratio|, first half (ERG)",
                                        ("erg_min_ratio",), True),
    "LAR.median_zero_fraction": IndicatorSeries("median zero-gradient fraction (LAR)",
                                                ("lar_max_zero_fraction",), False),
    "PLC.loss_cov": IndicatorSeries("training-loss CoV, first half (PLC)", ("plc_min_cov",),
                                    True),
    "SC.ratio": IndicatorSeries("loss spread, second / first half (SC)", ("sc_ratio",), True),
    "ULC.slope": IndicatorSeries("loss slope over the window (ULC)", ("ulc_min_slope",), False),
}


def _mark(ax: Axes, x: float, y: float, text: str, *, stopped: bool) -> None:
    color = STOP_COLOR if stopped else "0.3"
    face = color if stopped else "none"
    marker = "X" if stopped else "o"
    if math.isfinite(y) and (ax.get_yscale() != "log" or y > 0):
        ax.scatter([x], [y], marker=marker, s=60, zorder=5, facecolors=face, edgecolors=color)
        ax.annotate(text, (x, y), xytext=(4, 4), textcoords="offset points",
                    fontsize="x-small", color=color)
    else:  # a NaN loss / statistic: mark the epoch at the top of the axes
        tr = ax.get_xaxis_transform()
        ax.scatter([x], [0.95], transform=tr, marker=marker, s=60, zorder=5, facecolors=face,
                   edgecolors=color, clip_on=False)
        ax.annotate(f"{text} (NaN)", (x, 0.95), xycoords=tr, xytext=(4, -10),
                    textcoords="offset points", fontsize="x-small", color=color)


def _curves(run: DiagnosedStudy, key: str | None, ax: Axes, *, labels: bool) -> None:
    """One curve per trial (the training loss when ``key`` is None), the first firing marked."""
    from matplotlib.ticker import MaxNLocator  # matplotlib is heavy: imported when drawing

    frame = run.epochs
    for _, g in frame.groupby("trial", sort=True):
        number = int(g["trial"].iloc[0])
        x = g["epoch"].to_numpy(dtype=float)
        y = (g["train_loss"].to_numpy(dtype=float) if key is None
             else run.indicator_values(key, g))
        ax.plot(x, y, marker=".", lw=1.2, color=f"C{number % 10}",
                label=f"#{number}" if labels else None)
        flags = g["flagged"].to_numpy(dtype=bool)
        if flags.any():
            pos = int(np.flatnonzero(flags)[0])
            first = g.iloc[pos]
            _mark(ax, float(x[pos]), float(y[pos]), "+".join(first["fired"]),
                  stopped=bool(first["stopped"]))
    ax.set_xlim(-0.3, max(run.options.epochs - 1, 1) + 0.3)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")


@styled
def plot_trial_losses(run: DiagnosedStudy, *, ax: Axes, legend: bool = True) -> Axes:
    """Training loss per epoch, one curve per trial (log axis when it spans > 100x).

    Parameters
    ----------
    run : DiagnosedStudy
        Finished or live.
    ax : matplotlib Axes
    legend : bool
        A legend of trial numbers when there are 1 to 12 trials.

    Returns
    -------
    matplotlib Axes
    """
    frame = run.epochs
    losses = frame["train_loss"].to_numpy(dtype=float) if len(frame) else np.array([])
    losses = losses[np.isfinite(losses) & (losses > 0)]
    if losses.size and losses.max() > 100 * losses.min():  # scale first: NaN marks use it
        ax.set_yscale("log")
    _curves(run, None, ax, labels=True)
    ax.set_ylabel("training loss")
    n_trials = int(frame["trial"].nunique()) if len(frame) else 0
    if legend and 0 < n_trials <= 12:
        ax.legend(title="trial", fontsize="x-small", title_fontsize="x-small",
                  ncol=2 if n_trials > 6 else 1)
    return ax


@styled
def plot_indicator_curves(run: DiagnosedStudy, key: str, *, ax: Axes) -> Axes:
    """One indicator quantity per epoch, one curve per trial, its thresholds dashed.

    Parameters
    ----------
    run : DiagnosedStudy
        Finished or live; the thresholds are its ``options.config``'s.
    key : str
        A key of :data:`INDICATOR_SERIES`.
    ax : matplotlib Axes

    Returns
    -------
    matplotlib Axes

    Raises
    ------
    ConfigError
        An unknown ``key`` (field ``indicator``).
    """
    key = check_choice("indicator", key, tuple(INDICATOR_SERIES))
    series = INDICATOR_SERIES[key]
    frame = run.epochs
    if series.log and len(frame) and np.any(run.indicator_values(key, frame) > 0):
        ax.set_yscale("log")  # scale first: the marks of NaN values depend on it
    for name in series.thresholds:
        ax.axhline(float(getattr(run.options.config, name)), ls="--", lw=0.9, color="0.35")
    _curves(run, key, ax, labels=False)
    ax.set_ylabel(series.label)
    return ax
