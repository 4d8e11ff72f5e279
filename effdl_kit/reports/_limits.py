"""Robust axis limits: one exploding trial must not flatten every healthy curve.

:func:`robust_limits` finds y limits that hold the bulk of the values and leave out only the
far outliers (Tukey's far-out fences on the quantiles, computed in log space for a log axis);
:func:`clip_to_limits` applies them to an axes and marks what was cut: a triangle at the
edge of the axes where each cut point lies (its curve's colour), and one legend entry
``"n points above"`` / ``"n points below"``.

>>> lo, hi = robust_limits([0.9, 0.7, 0.5, 0.4, 1e28])
>>> hi < 2
True
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from effdl_kit._core.errors import ConfigError
from effdl_kit._core.validate import check_choice

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["YSCALES", "ClipReport", "clip_to_limits", "robust_limits", "set_yscale"]

#: y scales the curve plots accept.
YSCALES = ("linear", "log", "symlog")
YScale = Literal["linear", "log", "symlog"]


def _check_q(q: float) -> float:
    if isinstance(q, bool) or not isinstance(q, int | float | np.floating) or not (
        0.0 < float(q) < 0.5
    ):
        raise ConfigError("q", q, "a quantile in (0, 0.5), e.g. 0.25 (the quartiles)")
    return float(q)


def _check_k(k: float) -> float:
    if isinstance(k, bool) or not isinstance(k, int | float | np.floating) or not (
        np.isfinite(k) and float(k) >= 0
    ):
        raise ConfigError("k", k, "a finite number >= 0")
    return float(k)


def robust_limits(values: Iterable[float] | np.ndarray, *, q: float = 0.25, k: float = 3.0,
                  scale: str = "linear", pad: float = 0.05) -> tuple[float, float]:
    """Limits that hold every value but the far outliers.

    The fences are ``Q(q) - k * (Q(1-q) - Q(q))`` and ``Q(1-q) + k * (...)`` (with the
    defaults: Tukey's far-out fences, three inter-quartile ranges beyond the quartiles); the
    limits are the smallest and largest values inside the fences, padded by ``pad`` of their
    span. On a log axis the same is done on ``log10`` of the positive values.

    Parameters
    ----------
    values : array-like of float
        Any shape; non-finite values are ignored (and non-positive ones on a log axis).
    q : float, default 0.25
        Lower quantile of the fence base, in (0, 0.5).
    k : float, default 3.0
        How many spreads beyond the quantiles a value may lie (>= 0).
    scale : {"linear", "log", "symlog"}
        The axis scale the limits are for (``symlog`` is treated as linear).
    pad : float, default 0.05
        Margin added on both sides, as a share of the span (>= 0).

    Returns
    -------
    (float, float)
        ``(low, high)`` with ``low < high``; ``(0, 1)`` (``(0.1, 10)`` on a log axis) when
        there is no usable value.

    Raises
    ------
    ConfigError
        Bad ``q``, ``k``, ``scale`` or ``pad``.
    """
    qq, kk = _check_q(q), _check_k(k)
    check_choice("scale", scale, YSCALES)
    if isinstance(pad, bool) or not isinstance(pad, int | float) or not (
        np.isfinite(pad) and pad >= 0
    ):
        raise ConfigError("pad", pad, "a finite number >= 0")
    v = np.asarray(list(values) if not isinstance(values, np.ndarray) else values,
                   dtype=float).ravel()
    v = v[np.isfinite(v)]
    log = scale == "log"
    if log:
        v = np.log10(v[v > 0])
    if v.size == 0:
        return (0.1, 10.0) if log else (0.0, 1.0)
    q_lo, q_hi = np.quantile(v, [qq, 1.0 - qq])
    spread = q_hi - q_lo
    kept = v[(v >= q_lo - kk * spread) & (v <= q_hi + kk * spread)]
    lo, hi = float(kept.min()), float(kept.max())
    span = hi - lo
    if span == 0.0:
        span = abs(hi) * 0.1 if hi != 0 else 1.0
    lo, hi = lo - pad * span, hi + pad * span
    return (10.0 ** lo, 10.0 ** hi) if log else (lo, hi)


@dataclass(frozen=True)
class ClipReport:
    """What :func:`clip_to_limits` cut.

    Attributes
    ----------
    low, high : float
        The y limits set.
    n_above, n_below : int
        Points of the axes' data lines above / below the limits, each marked at the edge.
    """

    low: float
    high: float
    n_above: int
    n_below: int


def _data_lines(ax: Axes) -> list[Any]:
    return [ln for ln in ax.get_lines() if ln.get_visible() and ln.get_transform() is ax.transData
            and np.asarray(ln.get_xdata()).size]


def clip_to_limits(ax: Axes, limits: tuple[float, float] | None = None, *, q: float = 0.25,
                   k: float = 3.0, note: bool = True) -> ClipReport:
    """Set robust y limits on ``ax`` and mark the points of its curves that fall outside.

    Parameters
    ----------
    ax : matplotlib Axes
        Its data lines (``ax.plot`` in data coordinates) are read; reference lines in axes
        coordinates (``axhline``) are not.
    limits : (float, float), optional
        The limits; default :func:`robust_limits` of every line's y values for the axes'
        current y scale, with ``q`` and ``k``.
    q, k : float
        As for :func:`robust_limits`.
    note : bool, default True
        Give the edge markers a legend label ``"n points above"`` (``"below"``), shown by the
        next ``ax.legend()``.

    Returns
    -------
    ClipReport
        The limits and how many points were cut on each side.

    Raises
    ------
    ConfigError
        ``limits`` not two finite numbers ``low < high``, or bad ``q`` / ``k``.
    """
    from matplotlib.lines import Line2D

    lines = _data_lines(ax)
    scale = ax.get_yscale()
    if limits is None:
        ys = [np.asarray(ln.get_ydata(), dtype=float) for ln in lines]
        limits = robust_limits(np.concatenate(ys) if ys else np.array([]), q=q, k=k,
                               scale=scale if scale in YSCALES else "linear")
    try:
        lo, hi = (float(limits[0]), float(limits[1]))
    except (TypeError, ValueError, IndexError):
        raise ConfigError("limits", limits, "two finite numbers low < high") from None
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise ConfigError("limits", limits, "two finite numbers low < high")
    ax.set_ylim(lo, hi)
    edge = ax.get_xaxis_transform()  # x in data, y in axes fraction
    counts = {"above": 0, "below": 0}
    for ln in lines:
        assert isinstance(ln, Line2D)
        x = np.asarray(ln.get_xdata(), dtype=float)
        y = np.asarray(ln.get_ydata(), dtype=float)
        for side, mask, pos, marker in (("above", y > hi, 1.0, "^"),
                                        ("below", y < lo, 0.0, "v")):
            mask = mask & np.isfinite(x)
            n = int(mask.sum())
            if n:
                counts[side] += n
                ax.scatter(x[mask], np.full(n, pos), transform=edge, marker=marker, s=28,
                           color=ln.get_color(), edgecolors="black", linewidths=0.4,
                           clip_on=False, zorder=6)
    if note:
        for side, marker in (("above", "^"), ("below", "v")):
            if counts[side]:
                # one legend entry per side, drawn nowhere (an empty scatter)
                ax.scatter([], [], marker=marker, s=28, color="0.6", edgecolors="black",
                           linewidths=0.4,
                           label=f"{counts[side]} point{'s' if counts[side] > 1 else ''} "
                                 f"{side} (cut)")
    return ClipReport(lo, hi, counts["above"], counts["below"])


def set_yscale(ax: Axes, yscale: str, values: np.ndarray | None = None) -> None:
    """Set ``ax``'s y scale: ``linear``, ``log`` or ``symlog`` (its linear range from the
    smallest non-zero magnitude of ``values`` when given).

    Raises
    ------
    ConfigError
        ``yscale`` not one of :data:`YSCALES` (field ``yscale``).
    """
    check_choice("yscale", yscale, YSCALES)
    if yscale != "symlog":
        ax.set_yscale(yscale)
        return
    linthresh = 1.0
    if values is not None:
        mags = np.abs(np.asarray(values, dtype=float))
        mags = mags[np.isfinite(mags) & (mags > 0)]
        if mags.size:
            linthresh = float(np.quantile(mags, 0.05))
    ax.set_yscale("symlog", linthresh=linthresh)
