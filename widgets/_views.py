"""The figure and table areas of a panel: :class:`FigureView` and :class:`TableView`.

:class:`FigureView` shows a matplotlib Figure through ipympl's widget canvas (zoom, pan, save;
``interactive=False`` or ipympl missing: a PNG image), with a y-axis scale toggle (linear, log,
symlog) applied to the axes that hold curves, and a banner that says when what is shown is
partial (a stopped run). :class:`TableView` shows a DataFrame as an ipydatagrid ``DataGrid``
(click a header to sort, filter from its menu) with display labels and units as column
names. Neither computes anything: they show what the controller returns.
"""

from __future__ import annotations

import base64
import html
from typing import TYPE_CHECKING, Any, Literal

import ipywidgets as W

from ._events import YSCALES, _close, apply_yscale, figure_to_png

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

__all__ = ["YSCALES", "FigureView", "TableView", "apply_yscale"]



def _has_ipympl() -> bool:
    try:
        import ipympl.backend_nbagg  # noqa: F401
    except ImportError:
        return False
    return True


class FigureView:
    """The figure area: toolbar (y scale, clear runs), banner, figure.

    Parameters
    ----------
    draw : callable
        Returns a new Figure of what is to be shown (the controller's ``figure``).
    interactive : bool, optional
        ipympl canvas (default: when ipympl is installed) or PNG.
    yscale_toggle : bool
        Offer the linear / log / symlog toggle.
    on_clear_runs : callable, optional
        Offer a "Clear runs" button that calls it (panels that overlay runs).
    scale_target : PanelController, optional
        Gets the toggle's scale as its ``yscale`` (so Export draws on it too).

    Attributes
    ----------
    widget : ipywidgets.VBox
    canvas_box : ipywidgets.Box
        Holds the ipympl canvas or the PNG output.
    yscale : ipywidgets.ToggleButtons or None
    banner : ipywidgets.HTML
        "partial result (stopped ...)" or "" ; shown above the figure.
    figure : matplotlib Figure or None
        What is shown now.
    """

    def __init__(self, draw: Any, *, interactive: bool | None = None,
                 yscale_toggle: bool = False, on_clear_runs: Any = None,
                 scale_target: Any = None) -> None:
        self._draw = draw
        self._target = scale_target
        self.interactive = _has_ipympl() if interactive is None else bool(interactive)
        self.figure: Figure | None = None
        self._canvas: Any = None
        self.output = W.Output(layout=W.Layout(min_height="40px"))
        self.canvas_box = W.VBox([self.output])
        self.banner = W.HTML("")
        tools: list[Any] = []
        self.yscale: Any = None
        if yscale_toggle:
            self.yscale = W.ToggleButtons(options=YSCALES, value="linear",
                                          description="y axis",
                                          tooltips=["linear", "log (symlog where values <= 0)",
                                                    "symmetric log"],
                                          style={"button_width": "80px",
                                                 "description_width": "56px"})
            self.yscale.observe(self._on_scale, names="value")
            tools.append(self.yscale)
        self.clear_runs_button: Any = None
        if on_clear_runs is not None:
            self.clear_runs_button = W.Button(description="Clear runs", icon="eraser",
                                              tooltip="Forget the overlaid earlier runs",
                                              layout=W.Layout(width="auto"))
            self.clear_runs_button.on_click(lambda _b: on_clear_runs())
            tools.append(self.clear_runs_button)
        self.toolbar = W.HBox(tools)
        self.widget = W.VBox([self.toolbar, self.banner, self.canvas_box])

    @property
    def shown(self) -> bool:
        """True when a figure is on screen."""
        return self.figure is not None

    def png(self) -> bytes:
        """PNG bytes of the figure shown (for tests and screenshots)."""
        if self.figure is None:
            raise LookupError("no figure shown")
        return figure_to_png(self.figure)

    def set_banner(self, text: str, kind: Literal["info", "warn"] = "info") -> None:
        """Show ``text`` above the figure ("" hides it)."""
        color = "#8a5300" if kind == "warn" else "#31572c"
        self.banner.value = (f"<span class='effdl-banner' style='color:{color}'>"
                             f"{html.escape(text)}</span>") if text else ""

    def clear(self) -> None:
        """Remove the figure (after an error, or when a new run starts).

        The ipympl canvas widget is hidden, not closed: one canvas serves the view for its
        life (closing and creating canvas widgets left stale views in the page).
        """
        if self._canvas is not None:
            self._canvas.layout.display = "none"
            self.figure = None
            return
        self.output.outputs = ()
        self.figure = None

    def close(self) -> None:
        """Close the canvas widget and release the figure (the panel is closed)."""
        if self._canvas is not None:
            self._canvas.close()
            self._canvas = None
        if self.figure is not None:
            _close(self.figure)
            self.figure = None

    def _on_scale(self, change: Any) -> None:
        if self._target is not None:
            self._target.yscale = str(change["new"])
        if self.shown:
            self.redraw()

    def redraw(self) -> None:
        """Draw again (after a new result, a progress step or a scale change).

        The scale goes to the controller (``scale_target.yscale``); a controller whose
        ``draws_yscale`` is true draws on it itself (robust limits computed on that scale),
        for any other the curves' axes are switched after drawing.
        """
        fig = self._draw()
        scale = self.yscale.value if self.yscale is not None else "linear"
        if scale != "linear" and not getattr(self._target, "draws_yscale", False):
            apply_yscale(fig, scale)
        self.show(fig)

    def show(self, fig: Figure) -> None:
        """Put ``fig`` on screen, replacing what was there.

        Interactive: one ipympl canvas widget per view, kept for its life; each new figure is
        swapped into it.
        """
        if self.interactive:
            if self._canvas is None:
                from ipympl.backend_nbagg import Canvas, FigureManager

                canvas = Canvas(fig)
                FigureManager(canvas, 0)
                canvas.header_visible = False
                canvas.footer_visible = False
                canvas.resizable = False
                canvas.toolbar_position = "left"
                self._canvas = canvas
                self.canvas_box.children = (canvas,)
                old_fig = None
            else:
                old_fig = self._swap(self._canvas, fig)
                self._canvas.layout.display = None
            self.figure = fig
            if old_fig is not None and old_fig is not fig:
                _close(old_fig)
            return
        self.figure = fig
        png = figure_to_png(fig)
        self.output.outputs = ({
            "output_type": "display_data",
            "data": {"image/png": base64.b64encode(png).decode("ascii"),
                     "text/plain": "<figure>"},
            "metadata": {},
        },)

    @staticmethod
    def _swap(canvas: Any, fig: Figure) -> Any:
        """Draw ``fig`` on the existing ipympl ``canvas``; the figure it showed before."""
        old = canvas.figure
        canvas.figure = fig
        fig.set_canvas(canvas)
        if getattr(canvas, "toolbar", None) is not None:
            canvas.toolbar.update()  # forget the old figure's zoom/pan history
        _, _, w, h = fig.bbox.bounds
        canvas.manager.resize(w, h)  # the front-end's canvas takes the new size
        canvas._force_full = True  # a full frame, not a diff against the old figure
        canvas.draw_idle()
        return old


class TableView:
    """A sortable, filterable table (ipydatagrid) of a DataFrame.

    Parameters
    ----------
    height : str
        CSS height of the grid.
    digits : int
        Significant digits floats are shown with.

    Attributes
    ----------
    widget : ipywidgets.Box
    frame : pandas.DataFrame or None
        The frame shown (display labels as column names).
    """

    def __init__(self, *, height: str = "220px", digits: int = 4) -> None:
        self.height = height
        self.digits = digits
        self.frame: pd.DataFrame | None = None
        self.grid: Any = None
        self.widget = W.Box(layout=W.Layout(width="100%"))

    def show(self, frame: pd.DataFrame | None) -> None:
        """Show ``frame`` (None clears); column names become display labels with units."""
        if self.grid is not None:
            self.grid.close()
            self.grid = None
        if frame is None or len(frame.columns) == 0:
            self.frame = None
            self.widget.children = ()
            return
        import pandas as pd
        from ipydatagrid import DataGrid, TextRenderer

        from effdl_kit.reports import humanize_columns

        shown = humanize_columns(frame.reset_index(drop=True))
        for col in shown.columns:  # numbers stay numbers (they sort as numbers); gaps blank
            dtype = shown[col].dtype
            kind = dtype.kind
            if kind in "iufb" and isinstance(dtype, pd.api.extensions.ExtensionDtype):
                shown[col] = shown[col].astype(float)  # nullable Int64 / boolean: NA -> NaN
            elif kind not in "iufbmM":
                shown[col] = shown[col].astype(object).where(shown[col].notna(), None)
        self.frame = shown
        fmt = f".{self.digits}g"
        renderers = {new: TextRenderer(format=fmt)
                     for old, new in zip(frame.columns, shown.columns, strict=True)
                     if frame[old].dtype.kind == "f"}
        # the first column is the row header (frozen at the left), so no bare index column
        self.grid = DataGrid(shown.set_index(shown.columns[0]), selection_mode="cell",
                             editable=False,
                             auto_fit_columns=True, base_row_size=24,
                             base_column_header_size=28, renderers=renderers,
                             layout=W.Layout(height=self.height, width="100%"))
        self.widget.children = (self.grid,)
