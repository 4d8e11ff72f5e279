"""Paper figure style: a seaborn theme plus matplotlib settings for camera-ready output.

Fonts are ones a bare Debian machine has (DejaVu, shipped with matplotlib), embedded as
TrueType (``pdf.fonttype = 42``) so the PDF text stays editable and journals accept it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from effdl_kit._core.errors import ConfigError
from effdl_kit._core.validate import check_choice, check_int

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "CONTEXTS",
    "DOUBLE_COLUMN_IN",
    "SINGLE_COLUMN_IN",
    "figure",
    "paper_rc",
    "paper_style",
    "paper_style_context",
]

#: Width of one column of a two-column paper (inches).
SINGLE_COLUMN_IN = 3.33
#: Width of a figure spanning both columns (inches).
DOUBLE_COLUMN_IN = 6.9
#: seaborn plotting contexts accepted by :func:`paper_style`.
CONTEXTS = ("paper", "notebook", "talk", "poster")
_WIDTHS = {"single": SINGLE_COLUMN_IN, "double": DOUBLE_COLUMN_IN}


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
        yield


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

    Returns
    -------
    fig : matplotlib.figure.Figure
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
    if pyplot:
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(nrows, ncols, figsize=size, **subplots_kw)
        return fig, axes
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    layout = subplots_kw.pop("layout")
    fig = Figure(figsize=size, layout=layout)
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, **subplots_kw)
    return fig, axes
