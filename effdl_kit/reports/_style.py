"""Paper figure style: a seaborn theme plus matplotlib settings for camera-ready output.

Fonts are ones a bare Debian machine has (DejaVu, shipped with matplotlib), embedded as
TrueType (``pdf.fonttype = 42``) so the PDF text stays editable and journals accept it.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Literal, ParamSpec, TypeVar

import numpy as np
from matplotlib.figure import Figure

from effdl_kit._core.errors import ConfigError
from effdl_kit._core.validate import check_choice, check_int

__all__ = [
    "CONTEXTS",
    "DOUBLE_COLUMN_IN",
    "KIT_FONT",
    "SINGLE_COLUMN_IN",
    "PaperFigure",
    "apply_kit_fonts",
    "figure",
    "kit_style",
    "legend_beside",
    "paper_rc",
    "paper_style",
    "paper_style_context",
    "styled",
]

_P = ParamSpec("_P")
_R = TypeVar("_R")

#: Width of one column of a two-column paper (inches).
SINGLE_COLUMN_IN = 3.33
#: Width of a figure spanning both columns (inches).
DOUBLE_COLUMN_IN = 6.9
#: seaborn plotting contexts accepted by :func:`paper_style`.
CONTEXTS = ("paper", "notebook", "talk", "poster")
_WIDTHS = {"single": SINGLE_COLUMN_IN, "double": DOUBLE_COLUMN_IN}
#: The font every text of a kit figure is drawn in (shipped with matplotlib, so present on
#: any machine); :func:`effdl_kit.testing.check_figure` checks it (rule ``style``).
KIT_FONT = "DejaVu Serif"
#: nesting depth of :func:`paper_style_context` (a figure made inside one keeps its style)
_ACTIVE: list[tuple[str, float]] = []


def _check_style_args(context: str, font_scale: float) -> float:
    check_choice("context", context, CONTEXTS)
    if isinstance(font_scale, bool):
        raise ConfigError("font_scale", font_scale, "a finite number > 0")
    try:
        fs = float(font_scale)
    except (TypeError, ValueError):
        raise ConfigError("font_scale", font_scale, "a finite number > 0") from None
    if not math.isfinite(fs) or fs <= 0:
        raise ConfigError("font_scale", font_scale, "a finite number > 0")
    return fs


def paper_rc() -> dict[str, Any]:
    """The matplotlib rcParams the paper style sets on top of the seaborn theme.

    Returns
    -------
    dict
        rcParams: serif DejaVu fonts, TrueType embedding in PDF/PS, tight bounding box,
        300 dpi for raster output, light grid, no top/right spines.
    """
    return {
        "font.family": "serif",
        "font.serif": ["DejaVu Serif", "STIXGeneral", "Times New Roman", "serif"],
        "font.sans-serif": ["DejaVu Sans", "sans-serif"],
        "mathtext.fontset": "dejavuserif",
        "pdf.fonttype": 42,
        "ps.fonttype": 42,
        "svg.fonttype": "none",
        "savefig.bbox": "tight",
        "savefig.pad_inches": 0.02,
        "savefig.dpi": 300,
        "figure.dpi": 100,
        "figure.figsize": (SINGLE_COLUMN_IN, SINGLE_COLUMN_IN * 0.62),
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.grid": True,
        "grid.alpha": 0.35,
        "grid.linewidth": 0.5,
        "lines.linewidth": 1.2,
        "lines.markersize": 3.5,
        "legend.frameon": True,
        "legend.framealpha": 0.8,
        "legend.edgecolor": "none",
        "legend.fontsize": "small",
    }


def paper_style(context: str = "paper", font_scale: float = 1.0) -> None:
    """Apply the paper style globally (seaborn theme + :func:`paper_rc`).

    Parameters
    ----------
    context : {"paper", "notebook", "talk", "poster"}
        seaborn plotting context (sets font sizes and line widths).
    font_scale : float
        Multiplier of the context's font sizes (> 0).

    Raises
    ------
    ConfigError
        ``context`` or ``font_scale`` is not allowed (nothing is changed then).
    """
    fs = _check_style_args(context, font_scale)
    import seaborn as sns

    sns.set_theme(context=context, style="ticks", palette="colorblind", font="serif",
                  font_scale=fs, rc=paper_rc())


@contextmanager
def paper_style_context(context: str = "paper", font_scale: float = 1.0) -> Iterator[None]:
    """Apply the paper style inside a ``with`` block; the previous rcParams come back after.

    Parameters
    ----------
    context, font_scale
        As for :func:`paper_style`.
    """
    _check_style_args(context, font_scale)
    import matplotlib as mpl

    with mpl.rc_context():
        paper_style(context, font_scale)
        _ACTIVE.append((context, font_scale))
        try:
            yield
        finally:
            _ACTIVE.pop()


@contextmanager
def kit_style() -> Iterator[None]:
    """The kit's paper style inside a ``with`` block, unless a :func:`paper_style_context` is
    already active (that one is kept: a caller's ``context="talk"`` wins).

    Whatever the global rcParams are (matplotlib's defaults, or the paper style that
    ``%load_ext effdl_kit`` set), what is drawn inside looks the same.
    """
    if _ACTIVE:
        yield
        return
    with paper_style_context():
        yield


def styled(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """Decorate a plot function so it draws inside :func:`kit_style`.

    Every ``plot_*`` function of the kit carries it: its legends, texts and markers take the
    kit's sizes and fonts whether or not the IPython extension ran.
    """

    @functools.wraps(fn)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with kit_style():
            return fn(*args, **kwargs)

    return wrapper


def apply_kit_fonts(fig: Figure) -> int:
    """Draw every text of ``fig`` in the kit's font family (``serif`` -> :data:`KIT_FONT`).

    Texts created outside the kit's style (a legend added in a notebook without
    ``%load_ext effdl_kit``, a user's annotation) take the rcParams of their moment; this puts
    them in the kit's family so a figure looks the same either way. Sizes are kept.

    Parameters
    ----------
    fig : matplotlib.figure.Figure

    Returns
    -------
    int
        How many texts were changed.
    """
    from matplotlib.text import Text

    changed = 0
    for text in fig.findobj(Text):
        if text.get_fontfamily() != ["serif"]:
            text.set_fontfamily("serif")
            changed += 1
    return changed


def legend_beside(ax: Any, **legend_kw: Any) -> Any:
    """Put ``ax``'s legend to the right of it, outside the data (constrained layout makes room).

    Parameters
    ----------
    ax : matplotlib Axes
    **legend_kw
        Passed to ``ax.legend`` (``handles``, ``labels``, ``fontsize``, ``ncols``, ``title``).

    Returns
    -------
    matplotlib.legend.Legend
    """
    legend_kw.setdefault("fontsize", "x-small")
    return ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0,
                     **legend_kw)


class PaperFigure(Figure):
    """A matplotlib Figure that draws in the kit's style whatever the global rcParams say.

    :func:`figure` makes these. While drawing (on screen or into a file) the kit style the
    figure was made in (:attr:`kit_style_args`) is active and every text is put in the kit's
    family (:func:`apply_kit_fonts`), so a figure looks the same whether or not
    ``%load_ext effdl_kit`` ran (issue 18, item 5).
    """

    #: (context, font_scale) of the kit style the figure was made in
    kit_style_args: tuple[str, float] = ("paper", 1.0)

    def draw(self, renderer: Any) -> None:
        """Draw inside the kit style it was made in, the kit's fonts on every text."""
        with paper_style_context(*self.kit_style_args):
            apply_kit_fonts(self)
            super().draw(renderer)


def figure(
    width: Literal["single", "double"] | str = "single",
    aspect: float = 0.62,
    nrows: int = 1,
    ncols: int = 1,
    *,
    pyplot: bool = True,
    **subplots_kw: Any,
) -> tuple[Figure, Any]:
    """A figure sized for a paper column, with its axes.

    Parameters
    ----------
    width : {"single", "double"}
        ``SINGLE_COLUMN_IN`` (3.33 in) or ``DOUBLE_COLUMN_IN`` (6.9 in) wide.
    aspect : float
        Height / width of one subplot cell (> 0); the figure is
        ``width`` x ``width / ncols * aspect * nrows`` inches.
    nrows, ncols : int
        Subplot grid (>= 1 each).
    pyplot : bool
        Create the figure through ``matplotlib.pyplot`` (shown inline in notebooks; close it
        with ``plt.close(fig)``) or as a detached ``Figure`` on an Agg canvas (for scripts
        and experiments that only save it).
    **subplots_kw
        Passed to ``subplots`` (``sharex``, ``sharey``, ``squeeze``, ...).

    The figure and its axes are made in the kit's style (:func:`paper_style_context`, or the
    one already active), and the figure is a :class:`PaperFigure`: it draws in the kit's fonts
    whether or not the IPython extension set the style globally.

    Returns
    -------
    fig : PaperFigure
    axes : Axes or numpy.ndarray of Axes
        One Axes for a 1x1 grid (unless ``squeeze=False``), else an array of shape
        ``(nrows, ncols)`` squeezed like ``plt.subplots``.

    Raises
    ------
    ConfigError
        ``width`` not ``"single"``/``"double"``, ``aspect`` not > 0, bad grid size.
    """
    check_choice("width", width, tuple(_WIDTHS))
    if isinstance(aspect, bool) or not isinstance(aspect, int | float | np.floating) or not (
        math.isfinite(float(aspect)) and float(aspect) > 0
    ):
        raise ConfigError("aspect", aspect, "a finite number > 0")
    check_int("nrows", nrows, min_value=1, max_value=50)
    check_int("ncols", ncols, min_value=1, max_value=50)
    w = _WIDTHS[width]
    size = (w, w / ncols * float(aspect) * nrows)
    subplots_kw.setdefault("layout", "constrained")
    with kit_style():  # axes, ticks and labels take the kit's fonts and sizes
        if pyplot:
            import matplotlib.pyplot as plt

            fig, axes = plt.subplots(nrows, ncols, figsize=size, FigureClass=PaperFigure,
                                     **subplots_kw)
            if isinstance(fig, PaperFigure):
                fig.kit_style_args = _ACTIVE[-1]
            return fig, axes
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        layout = subplots_kw.pop("layout")
        fig = PaperFigure(figsize=size, layout=layout)
        fig.kit_style_args = _ACTIVE[-1]
        FigureCanvasAgg(fig)
        axes = fig.subplots(nrows, ncols, **subplots_kw)
        return fig, axes
