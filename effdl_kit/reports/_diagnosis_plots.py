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
from effdl_kit.reports._labels import label
from effdl_kit.reports._limits import YSCALES, clip_to_limits, robust_limits, set_yscale
from effdl_kit.reports._style import legend_beside, styled

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


_Mark = tuple[float, float, str, bool]


def _mark(ax: Axes, x: float, y: float, text: str, *, stopped: bool) -> None:
    color = STOP_COLOR if stopped else "0.3"
    face = color if stopped else "none"
    marker = "X" if stopped else "o"
    lo, hi = sorted(ax.get_ylim())
    shown = math.isfinite(y) and (ax.get_yscale() != "log" or y > 0)
    if shown and not lo <= y <= hi:  # cut by robust limits: marked at the edge
        text, shown = f"{text} (cut)", False
    elif not shown:
        text = f"{text} (NaN)"
    if shown:
        ax.scatter([x], [y], marker=marker, s=60, zorder=5, facecolors=face, edgecolors=color)
        ax.annotate(text, (x, y), xytext=(4, 4), textcoords="offset points",
                    fontsize="x-small", color=color)
    else:  # a NaN or cut loss / statistic: mark the epoch at the top of the axes
        tr = ax.get_xaxis_transform()
        ax.scatter([x], [0.95], transform=tr, marker=marker, s=60, zorder=5, facecolors=face,
                   edgecolors=color, clip_on=False)
        ax.annotate(text, (x, 0.95), xycoords=tr, xytext=(4, -10),
                    textcoords="offset points", fontsize="x-small", color=color)


def _curves(run: DiagnosedStudy, key: str | None, ax: Axes, *, labels: bool) -> list[_Mark]:
    """One curve per trial (the training loss when ``key`` is None); returns the first
    firing of each trial, to be marked once the limits are set."""
    from matplotlib.ticker import MaxNLocator  # matplotlib is heavy: imported when drawing

    marks: list[_Mark] = []
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
            marks.append((float(x[pos]), float(y[pos]), "+".join(first["fired"]),
                          bool(first["stopped"])))
    ax.set_xlim(-0.3, max(run.options.epochs - 1, 1) + 0.3)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(label("epoch"))
    return marks


def _limits_and_marks(ax: Axes, marks: list[_Mark], *, robust: bool) -> None:
    if robust and ax.get_lines():
        clip_to_limits(ax)
    for x, y, text, stopped in marks:
        _mark(ax, x, y, text, stopped=stopped)


def _auto_yscale(values: np.ndarray, yscale: str | None, *, robust: bool) -> str:
    """``yscale``, or for None: log when the (robust) range of the positive values > 100x."""
    if yscale is not None:
        return check_choice("yscale", yscale, YSCALES)
    pos = values[np.isfinite(values) & (values > 0)]
    if pos.size == 0:
        return "linear"
    lo, hi = (robust_limits(pos, scale="log", pad=0.0) if robust
              else (float(pos.min()), float(pos.max())))
    return "log" if hi > 100 * lo else "linear"


@styled
def plot_trial_losses(run: DiagnosedStudy, *, ax: Axes, legend: bool = True,
                      yscale: str | None = None, robust: bool = True) -> Axes:
    """Training loss per epoch, one curve per trial, on robust limits.

    Parameters
    ----------
    run : DiagnosedStudy
        Finished or live.
    ax : matplotlib Axes
    legend : bool
        A legend (beside the axes) of trial numbers when there are 1 to 12 trials, with the
        count of points cut by the robust limits.
    yscale : {"linear", "log", "symlog"}, optional
        Default: log when the (robust, if ``robust``) range of the losses spans > 100x, else
        linear.
    robust : bool, default True
        Limits from :func:`~effdl_kit.reports.robust_limits` (an exploding trial does not
        flatten the healthy ones); the cut points are marked at the edge
        (:func:`~effdl_kit.reports.clip_to_limits`), and so is a first firing that was cut.

    Returns
    -------
    matplotlib Axes

    Raises
    ------
    ConfigError
        ``yscale`` not one of ``YSCALES``.
    """
    frame = run.epochs
    losses = frame["train_loss"].to_numpy(dtype=float) if len(frame) else np.array([])
    # the scale first: the marks use it
    set_yscale(ax, _auto_yscale(losses, yscale, robust=robust), losses)
    marks = _curves(run, None, ax, labels=True)
    _limits_and_marks(ax, marks, robust=robust)
    ax.set_ylabel(label("train_loss"))
    n_trials = int(frame["trial"].nunique()) if len(frame) else 0
    if legend and 0 < n_trials <= 12:
        legend_beside(ax, title=label("trial"), title_fontsize="x-small",
                      ncols=2 if n_trials > 6 else 1)
    return ax


@styled
def plot_indicator_curves(run: DiagnosedStudy, key: str, *, ax: Axes,
                          yscale: str | None = None, robust: bool = True) -> Axes:
    """One indicator quantity per epoch, one curve per trial, its thresholds dashed.

    Parameters
    ----------
    run : DiagnosedStudy
        Finished or live; the thresholds are its ``options.config``'s.
    key : str
        A key of :data:`INDICATOR_SERIES`.
    ax : matplotlib Axes
    yscale : {"linear", "log", "symlog"}, optional
        Default: the series' own (log when it says so and some value is positive).
    robust : bool, default True
        Robust limits with the cut points marked, as in :func:`plot_trial_losses`.

    Returns
    -------
    matplotlib Axes

    Raises
    ------
    ConfigError
        An unknown ``key`` (field ``indicator``), a bad ``yscale``.
    """
    key = check_choice("indicator", key, tuple(INDICATOR_SERIES))
    series = INDICATOR_SERIES[key]
    frame = run.epochs
    if yscale is not None:
        set_yscale(ax, yscale, run.indicator_values(key, frame) if len(frame) else None)
    elif series.log and len(frame) and np.any(run.indicator_values(key, frame) > 0):
        ax.set_yscale("log")  # scale first: the marks of NaN values depend on it
    for name in series.thresholds:
        ax.axhline(float(getattr(run.options.config, name)), ls="--", lw=0.9, color="0.35")
    marks = _curves(run, key, ax, labels=False)
    _limits_and_marks(ax, marks, robust=robust)
    ax.set_ylabel(series.label)
    return ax
