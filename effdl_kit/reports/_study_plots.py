"""Figures of an Optuna study: parameter importances and parallel coordinates.

Both draw the tables of :mod:`effdl_kit.search` (``param_importances``, ``trials_frame``) on
a given axis and return it; every name shown goes through :func:`~._labels.label`.

:func:`plot_parallel_coordinates` is the kit's own: one vertical axis per column (the
objective first, then the parameters), each a real matplotlib axis with its own scale — linear,
logarithmic for log-scaled parameters, one tick per choice for categorical ones — and one line
per trial through the normalised positions, coloured by the objective, with a colourbar.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from effdl_kit._core.errors import ConfigError
from effdl_kit.reports._labels import is_registered, label

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["EVALUATOR_LABELS", "plot_parallel_coordinates", "plot_param_importances"]

#: evaluator name (``param_importances(...).attrs["evaluator"]``) -> how a figure names it
EVALUATOR_LABELS: dict[str, str] = {"fanova": "fANOVA", "mdi": "MDI",
                                    "ped_anova": "PED-ANOVA"}
_TICK_FONT = 6.0
_MAX_CHOICE_CHARS = 10
_MAX_CHOICE_TICKS = 7
_WRAP = 14


def _check_ax(ax: Any) -> Axes:
    from matplotlib.axes import Axes

    if not isinstance(ax, Axes):
        raise ConfigError("ax", type(ax).__name__, "a matplotlib Axes")
    return ax


def plot_param_importances(df: pd.DataFrame, *, ax: Axes, top: int | None = None) -> Axes:
    """Horizontal bars of parameter importances, the most important on top.

    Parameters
    ----------
    df : pandas.DataFrame
        Columns ``param`` and ``importance`` (from
        :func:`effdl_kit.search.param_importances`; its ``attrs["evaluator"]`` names the
        evaluator on the x axis).
    ax : matplotlib.axes.Axes
    top : int, optional
        Show the ``top`` most important parameters only.

    Returns
    -------
    matplotlib.axes.Axes
        ``ax``, one bar per parameter (labels from the label registry) with its value printed
        at the bar's end, inside the axes.

    Raises
    ------
    ConfigError
        ``df`` lacks the columns, is empty or holds a non-finite or negative importance;
        ``top`` < 1; ``ax`` is not an Axes.
    """
    ax = _check_ax(ax)
    if not isinstance(df, pd.DataFrame) or not {"param", "importance"} <= set(df.columns):
        raise ConfigError("df", type(df).__name__,
                          "a DataFrame with columns 'param' and 'importance'")
    if df.empty:
        raise ConfigError("df", "no rows", "at least one parameter")
    vals = pd.to_numeric(df["importance"], errors="coerce").to_numpy(dtype=float)
    if not np.all(np.isfinite(vals)) or np.any(vals < 0):
        raise ConfigError("df.importance", vals.tolist(), "finite numbers >= 0")
    if top is not None and (isinstance(top, bool) or not isinstance(top, int) or top < 1):
        raise ConfigError("top", top, "an integer >= 1 or None")
    order = np.argsort(-vals, kind="stable")[: top or len(vals)]
    names = [str(df["param"].iloc[i]) for i in order][::-1]  # barh draws bottom-up
    shown = vals[order][::-1]
    bars = ax.barh(range(len(shown)), shown, color="C0", height=0.6)
    ax.set_yticks(range(len(shown)), [textwrap.fill(label(n), _WRAP * 2) for n in names])
    ax.bar_label(bars, labels=[f"{v:.2f}" for v in shown], padding=2, fontsize="x-small")
    ax.set_xlim(0, max(float(shown.max()), 1e-12) * 1.25)  # room for the printed values
    ax.set_ylim(-0.6, len(shown) - 0.4)
    evaluator = EVALUATOR_LABELS.get(str(df.attrs.get("evaluator", "")))
    ax.set_xlabel("Importance" + (f" ({evaluator})" if evaluator else ""))
    ax.grid(axis="y", visible=False)
    return ax


def _choice_key(value: Any) -> tuple[str, str]:
    """Equality that keeps ``True`` and ``1`` apart (categorical choices of mixed types);
    a NaN is the choice None (pandas stores None as NaN in a column)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ("NoneType", "None")
    return (type(value).__name__, repr(value))


def _choice_text(value: Any) -> str:
    """A categorical choice as shown: a registered name's label, else its text (underscores
    as spaces), cut at 10 characters."""
    if isinstance(value, str):
        text = label(value, unit=False) if is_registered(value) else value.replace("_", " ")
    else:
        text = "None" if value is None else str(value)
    return text if len(text) <= _MAX_CHOICE_CHARS else text[: _MAX_CHOICE_CHARS - 1] + "…"


class _Column:
    """One vertical axis: how a column's values map to [0, 1] and how its axis is scaled."""

    def __init__(self, name: str, values: pd.Series, *, log: bool,
                 choices: Sequence[Any] | None) -> None:
        self.name = name
        self.choices: list[Any] | None = None
        self.log = False
        if choices is not None or not _is_numeric(values):
            seen = list(choices) if choices is not None else sorted(
                dict.fromkeys(values.tolist()), key=lambda v: (str(type(v)), str(v)))
            keys = [_choice_key(c) for c in seen]
            missing = [v for v in values if _choice_key(v) not in keys]
            if missing:
                raise ConfigError(f"categorical[{name!r}]", seen,
                                  f"every value of the column (missing {missing[0]!r})")
            self.choices = seen
            pos = {k: i for i, k in enumerate(keys)}
            idx = np.array([pos[_choice_key(v)] for v in values], dtype=float)
            n = len(seen)
            self.lo, self.hi = (-1.0, 1.0) if n == 1 else (0.0, float(n - 1))
            self.data = idx
            return
        data = values.to_numpy(dtype=float)
        if log:
            if np.any(data <= 0):
                raise ConfigError("log_params", name, "parameters whose values are all > 0")
            self.log = True
            data = np.log10(data)
        lo, hi = float(np.min(data)), float(np.max(data))
        if hi - lo <= 1e-12 * max(1.0, abs(lo)):
            lo, hi = lo - 0.5, hi + 0.5
        self.lo, self.hi, self.data = lo, hi, data

    def normalised(self) -> np.ndarray:
        return (self.data - self.lo) / (self.hi - self.lo)

    def style_axis(self, sub: Axes) -> None:
        """Scale, limits and ticks of the column's own vertical axis."""
        from matplotlib.ticker import (
            FixedLocator,
            FuncFormatter,
            LogLocator,
            MaxNLocator,
            NullFormatter,
            NullLocator,
        )

        if self.choices is not None:
            n = len(self.choices)
            sub.set_ylim(self.lo, self.hi)
            step = max(1, math.ceil(n / _MAX_CHOICE_TICKS))
            ticks = list(range(0, n, step))
            sub.yaxis.set_major_locator(FixedLocator(ticks))
            sub.set_yticklabels([_choice_text(self.choices[i]) for i in ticks])
        elif self.log:
            sub.set_yscale("log")
            sub.set_ylim(10.0 ** self.lo, 10.0 ** self.hi)
            if self.hi - self.lo >= 1.5:  # decades: 10^-3, 10^-2, ...
                sub.yaxis.set_major_locator(LogLocator(base=10, numticks=4))
                sub.yaxis.set_minor_locator(LogLocator(base=10, subs="auto", numticks=4))
                sub.yaxis.set_minor_formatter(NullFormatter())  # decade labels only
            else:  # less than two decades: 1-2-5 steps (else the range's two ends)
                sub.yaxis.set_major_locator(FixedLocator(_log_ticks(self.lo, self.hi)))
                sub.yaxis.set_minor_locator(NullLocator())
                sub.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.3g}"))
        else:
            sub.set_ylim(self.lo, self.hi)
            sub.yaxis.set_major_locator(MaxNLocator(nbins=4))
        sub.tick_params(axis="y", labelsize=_TICK_FONT, length=2, pad=1)
        sub.yaxis.get_offset_text().set_fontsize(_TICK_FONT)
        for tick in sub.yaxis.get_major_ticks():  # readable over the lines behind them
            tick.label1.set_bbox({"facecolor": "white", "alpha": 0.75, "edgecolor": "none",
                                  "pad": 0.3})


def _log_ticks(lo: float, hi: float) -> list[float]:
    """Ticks 1, 2, 5 x 10^k between 10^lo and 10^hi (log10 bounds); the two ends when fewer
    than two of them fall inside."""
    eps = 1e-9 * (hi - lo)
    ticks = [m * 10.0 ** k for k in range(math.floor(lo), math.ceil(hi) + 1)
             for m in (1.0, 2.0, 5.0) if lo - eps <= math.log10(m) + k <= hi + eps]
    return ticks if len(ticks) >= 2 else [10.0 ** lo, 10.0 ** hi]


def _is_numeric(values: pd.Series) -> bool:
    return bool(pd.api.types.is_numeric_dtype(values)) and not pd.api.types.is_bool_dtype(
        values)


def _check_frame(frame: Any, params: Sequence[str] | None, objective: str
                 ) -> tuple[pd.DataFrame, list[str]]:
    if not isinstance(frame, pd.DataFrame):
        raise ConfigError("frame", type(frame).__name__, "a DataFrame (search.trials_frame)")
    if params is None:
        params = list(frame.attrs.get("params", []))
    if isinstance(params, str) or not all(isinstance(p, str) for p in params) or not params:
        raise ConfigError("params", params, "a non-empty list of column names")
    missing = [c for c in [*params, objective] if c not in frame.columns]
    if missing:
        raise ConfigError("params" if objective not in missing else "objective", missing,
                          f"columns of the frame: {list(map(str, frame.columns))}")
    if not _is_numeric(frame[objective]):
        raise ConfigError("objective", objective, "a numeric column")
    used = frame[[*dict.fromkeys([objective, *params])]]
    keep = used[objective].map(lambda v: v is not None and bool(np.isfinite(v)))
    for p in params:  # a missing numeric parameter; None stays a categorical choice
        if _is_numeric(used[p]):
            keep &= used[p].notna()
    rows = used[keep]
    if rows.empty:
        raise ConfigError("frame", "no row with a finite objective and every parameter",
                          "at least one trial to draw")
    return rows, list(params)


def plot_parallel_coordinates(
    frame: pd.DataFrame, params: Sequence[str] | None = None, objective: str = "value", *,
    ax: Axes, objective_label: str | None = None, log_params: Sequence[str] | None = None,
    categorical: Mapping[str, Sequence[Any]] | None = None, cmap: str = "viridis",
    colorbar: bool = True,
) -> Axes:
    """Parallel coordinates of a study's trials: one vertical axis per column.

    The first axis is the objective, the others the parameters in ``params`` order. Each
    axis has its own scale: linear from the column's minimum to its maximum, logarithmic
    (decade ticks) for a log-scaled parameter, one position per choice for a categorical
    parameter (at most 7 labelled). Each trial is a line through its values, coloured by
    its objective (the best trial on top) with a colourbar; trials missing a parameter or
    with a non-finite objective are left out.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per trial (:func:`effdl_kit.search.trials_frame`); its ``attrs`` give the
        defaults of ``params``, ``log_params``, ``categorical`` and the direction
        (``"maximize"`` draws high values on top).
    params : sequence of str, optional
        Parameter columns to show (default ``frame.attrs["params"]``).
    objective : str
        The numeric column that colours the lines.
    ax : matplotlib.axes.Axes
        Host axis: holds the lines; the per-column axes are its inset axes.
    objective_label : str, optional
        Colourbar and axis title of the objective (default ``label(objective)``).
    log_params : sequence of str, optional
        Columns drawn on a log axis (default ``frame.attrs["log_params"]``).
    categorical : mapping, optional
        Column -> its choices in axis order (default ``frame.attrs["categorical"]``); a
        non-numeric column not given here is categorical with its values sorted.
    cmap : str
        Matplotlib colormap of the lines.
    colorbar : bool
        Add a colourbar (labelled with the objective) next to ``ax``.

    Returns
    -------
    matplotlib.axes.Axes
        ``ax``, holding one ``LineCollection`` (one line per trial, in drawing order) and one
        inset axis per column (``ax.child_axes``).

    Raises
    ------
    ConfigError
        Unknown columns, a non-numeric objective, no drawable row, a log column with values
        <= 0, a categorical column with a value not among its choices.
    """
    import matplotlib as mpl
    from matplotlib.collections import LineCollection

    ax = _check_ax(ax)
    if cmap not in mpl.colormaps:
        raise ConfigError("cmap", cmap, "a matplotlib colormap name ('viridis', 'cividis')")
    rows, params = _check_frame(frame, params, objective)
    log = set(frame.attrs.get("log_params", []) if log_params is None else log_params)
    cats = dict(frame.attrs.get("categorical", {}) if categorical is None else categorical)
    names = list(dict.fromkeys([objective, *params]))
    cols = [_Column(n, rows[n], log=n in log, choices=cats.get(n)) for n in names]
    k = len(cols)
    xs = np.arange(k, dtype=float)
    ys = np.column_stack([c.normalised() for c in cols])
    value = rows[objective].to_numpy(dtype=float)
    maximize = frame.attrs.get("direction", "maximize") == "maximize"
    order = np.argsort(value if maximize else -value, kind="stable")  # best drawn last
    vmin, vmax = float(value.min()), float(value.max())
    if vmin == vmax:
        vmin, vmax = vmin - 0.5, vmax + 0.5
    norm = mpl.colors.Normalize(vmin, vmax)
    colormap = mpl.colormaps[cmap]
    lines = LineCollection([np.column_stack([xs, ys[i]]) for i in order],
                           colors=colormap(norm(value[order])), linewidths=0.8, alpha=0.7)
    ax.add_collection(lines)
    span = max(k - 1, 1)
    ax.set_xlim(0, span)
    ax.set_ylim(0, 1)
    ax.grid(False)
    ax.tick_params(axis="y", left=False, labelleft=False)
    for side in ("left", "right", "top", "bottom"):
        ax.spines[side].set_visible(False)
    obj_text = objective_label if objective_label is not None else label(objective)
    titles = [obj_text] + [label(c.name) for c in cols[1:]]
    ax.set_xticks(xs, titles)
    ax.tick_params(axis="x", length=0, labelsize=_TICK_FONT + 1)
    for j, col in enumerate(cols):
        sub = ax.inset_axes((j / span, 0.0, 1e-6, 1.0))
        for side in ("right", "top", "bottom"):
            sub.spines[side].set_visible(False)
        sub.spines["left"].set_linewidth(0.8)
        sub.set_xticks([])
        sub.grid(False)
        sub.patch.set_visible(False)
        col.style_axis(sub)
    if colorbar:
        fig = ax.get_figure()
        assert fig is not None
        sm = mpl.cm.ScalarMappable(norm=norm, cmap=colormap)
        cb = fig.colorbar(sm, ax=ax, pad=0.03, fraction=0.05)
        cb.set_label(textwrap.fill(obj_text, _WRAP + 6), fontsize=_TICK_FONT + 1)
        cb.ax.tick_params(labelsize=_TICK_FONT)
    _fit_titles(ax, titles)
    return ax


def _fit_titles(ax: Axes, titles: list[str]) -> None:
    """Fit the column titles between their neighbours once the figure is laid out: wrapped
    at word boundaries to the column spacing, in a smaller font (down to 6 pt) when a word
    is wider than it; else staggered on two rows (each title may then span two columns,
    down to 5 pt); rotated as a last resort."""
    import matplotlib as mpl

    fig = ax.get_figure(root=True)
    canvas = getattr(fig, "canvas", None)
    if fig is None or canvas is None or not hasattr(canvas, "get_renderer"):
        ax.set_xticks(ax.get_xticks(), [textwrap.fill(t, _WRAP) for t in titles])
        return
    fig.draw_without_rendering()  # runs the layout engine: the final axes width
    renderer = canvas.get_renderer()
    xs = ax.transData.transform(np.column_stack([ax.get_xticks(), np.zeros(len(titles))]))
    gap = float(np.min(np.diff(xs[:, 0]))) if len(titles) > 1 else float("inf")
    probe = ax.get_xticklabels()[0]
    size = float(probe.get_fontsize())

    def width(text: str, fontsize: float) -> float:
        probe.set_text(text)
        probe.set_fontsize(fontsize)
        return float(probe.get_window_extent(renderer).width)

    def wrapped(fontsize: float, room: float) -> list[str] | None:
        out = []
        for t in titles:
            for chars in range(len(t), 0, -1):
                text = textwrap.fill(t, chars, break_long_words=False)
                if width(text, fontsize) <= room:
                    out.append(text)
                    break
            else:
                return None
        return out

    for stagger, smallest in ((False, 6.0), (True, 5.0)):
        for fontsize in np.arange(size, smallest - 0.01, -0.5):
            fitted = wrapped(float(fontsize), (2.0 if stagger else 1.0) * gap - 4.0)
            if fitted is None:
                continue
            ax.set_xticks(ax.get_xticks(), fitted)
            ax.tick_params(axis="x", labelsize=float(fontsize))
            if stagger:  # odd columns' titles below the even ones' (a larger tick pad)
                lines = max(t.count("\n") + 1 for t in fitted[::2])
                base = float(mpl.rcParams["xtick.major.pad"])  # points, not set here
                drop = base + lines * 1.25 * float(fontsize) + 1.0
                for tick in ax.xaxis.get_major_ticks()[1::2]:
                    tick.set_pad(drop)
            return
    ax.set_xticks(ax.get_xticks(), titles, rotation=40, ha="right", rotation_mode="anchor")
