"""The two halves every panel is made of: a pure-Python controller and an ipywidgets view.

:class:`PanelController` holds a panel's state (parameters, last result, last error, status),
validates and runs library calls, and tells listeners about every change. It imports neither
ipywidgets nor IPython, so tests and scripts drive it without a browser or a kernel.

:class:`Panel` is the view: a box of controls, a Run button, a progress bar, an output area
for the figure, a red error box and an Export button. It holds no computation: it copies the
control values into the controller's parameters and calls controller methods; whatever the
controller reports (progress, result, error) is mirrored into the widgets through a listener.
ipywidgets is imported lazily, when a panel is built.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar

from effdl_kit._core.errors import ConfigError, EffdlError
from effdl_kit._core.validate import Scale, check_choice, check_scale

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "EXPORT_FORMATS",
    "STATUSES",
    "ChangeEvent",
    "Panel",
    "PanelController",
    "Progress",
]

Status = Literal["idle", "running", "done", "error"]
STATUSES: tuple[str, ...] = ("idle", "running", "done", "error")
EventKind = Literal["params", "status", "progress", "result", "error"]
EXPORT_FORMATS: tuple[str, ...] = ("pdf", "svg", "png")


@dataclass(frozen=True)
class Progress:
    """One progress report of a running computation.

    Parameters
    ----------
    done : int
        Units of work finished (epochs, trials, ...).
    total : int
        Units of work in the whole run.
    message : str
        A short human-readable line ("epoch 3/5: loss 0.41").
    """

    done: int
    total: int
    message: str = ""

    @property
    def fraction(self) -> float:
        """``done / total`` in [0, 1] (0 when ``total`` is 0)."""
        return min(max(self.done / self.total, 0.0), 1.0) if self.total > 0 else 0.0


@dataclass(frozen=True)
class ChangeEvent:
    """What a controller tells its listeners.

    Parameters
    ----------
    kind : {"params", "status", "progress", "result", "error"}
        What changed.
    controller : PanelController
        The controller that changed.
    data : object
        ``params``: dict of the parameters that were set; ``status``: the new status string;
        ``progress``: a :class:`Progress`; ``result``: the new result (or None when cleared);
        ``error``: the error text (or None when cleared).
    """

    kind: EventKind
    controller: PanelController = field(repr=False)
    data: Any = None


Listener = Callable[[ChangeEvent], None]


class PanelController:
    """State and actions of one panel, free of any GUI code.

    Subclasses set :attr:`defaults` (parameter name -> default value) and implement
    :meth:`prepare` (validate the parameters through library functions and return what
    :meth:`compute` needs), :meth:`compute` (call the library) and :meth:`figure` (draw the
    result with :mod:`effdl_kit.reports`).

    Parameters
    ----------
    scale : {"smoke", "small", "paper"}
        Budget of the panel's work; recorded in exported figures' provenance.
    **params
        Initial parameter values; unknown names raise :class:`~effdl_kit.errors.ConfigError`.
        Values are validated by the library when :meth:`run` is called.

    Attributes
    ----------
    params : dict
        Current parameter values.
    status : {"idle", "running", "done", "error"}
        Where the controller stands.
    result : object or None
        The last successful run's result.
    error : str or None
        ``"<ExceptionType>: <message>"`` of the last failure, None when the last action worked.
    exception : BaseException or None
        The exception object behind :attr:`error`.
    """

    #: parameter name -> default value (subclasses override)
    defaults: ClassVar[Mapping[str, Any]] = {}
    #: name used in exported figures' provenance
    name: ClassVar[str] = "panel"

    def __init__(self, *, scale: Scale = "small", **params: Any) -> None:
        self.scale: Scale = check_scale(scale)
        self._listeners: list[Listener] = []
        self.params: dict[str, Any] = dict(self.scale_defaults(self.scale))
        self._check_names(params)
        self.params.update(params)
        self.status: Status = "idle"
        self.result: Any = None
        self.error: str | None = None
        self.exception: BaseException | None = None
        self.last_progress: Progress | None = None

    # ------------------------------------------------------------------ parameters
    def scale_defaults(self, scale: Scale) -> Mapping[str, Any]:
        """Default parameters at ``scale`` (the class :attr:`defaults` unless overridden)."""
        return self.defaults

    def _check_names(self, params: Mapping[str, Any]) -> None:
        for key in params:
            check_choice("parameter", key, tuple(self.defaults))

    def set(self, **params: Any) -> None:
        """Change parameters (validated when :meth:`run` is called) and notify listeners.

        Raises
        ------
        ConfigError
            A name that is not one of this controller's parameters.
        """
        self._check_names(params)
        changed = {k: v for k, v in params.items() if k not in self.params or self.params[k] != v}
        if not changed:
            return
        self.params.update(changed)
        self._emit("params", dict(changed))

    # ------------------------------------------------------------------ listeners
    def on_change(self, callback: Listener) -> Callable[[], None]:
        """Call ``callback(event)`` on every state change and progress report.

        Parameters
        ----------
        callback : callable
            Receives a :class:`ChangeEvent`. An exception it raises propagates to the caller
            of the action that triggered it (inside :meth:`run` it becomes the run's error).

        Returns
        -------
        callable
            Call it to remove the listener.
        """
        if not callable(callback):
            raise ConfigError("callback", callback, "a callable taking a ChangeEvent")
        self._listeners.append(callback)

        def remove() -> None:
            if callback in self._listeners:
                self._listeners.remove(callback)

        return remove

    def _emit(self, kind: EventKind, data: Any = None) -> None:
        event = ChangeEvent(kind, self, data)
        for cb in list(self._listeners):
            cb(event)

    def _set_status(self, status: Status) -> None:
        if status != self.status:
            self.status = status
            self._emit("status", status)

    def report_progress(self, done: int, total: int, message: str = "") -> None:
        """Record a progress report and notify listeners (called by subclasses' hooks)."""
        self.last_progress = Progress(int(done), int(total), message)
        self._emit("progress", self.last_progress)

    # ------------------------------------------------------------------ actions
    def prepare(self) -> Any:
        """Validate :attr:`params` through the library; return what :meth:`compute` needs."""
        raise NotImplementedError(f"{type(self).__name__} must implement prepare()")

    def compute(self, prepared: Any) -> Any:
        """Do the work (call the library) and return the result object."""
        raise NotImplementedError(f"{type(self).__name__} must implement compute()")

    def figure(self) -> Figure:
        """Draw the current result (or the live partial result) as a new matplotlib Figure."""
        raise NotImplementedError(f"{type(self).__name__} must implement figure()")

    def provenance(self) -> dict[str, Any]:
        """What exported figures record besides seed and scale (panel name, parameters)."""
        return {"panel": self.name, "params": _jsonable(self.params)}

    def record_error(self, exc: BaseException, *, set_status: bool = True) -> None:
        """Store ``exc`` as :attr:`error` / :attr:`exception`, notify, optionally set "error"."""
        self.exception = exc
        self.error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if set_status:
            self._set_status("error")
        self._emit("error", self.error)

    def clear_error(self) -> None:
        """Forget the last error (and notify) if there is one."""
        if self.error is not None or self.exception is not None:
            self.error = None
            self.exception = None
            self._emit("error", None)

    def run(self, *, raise_errors: bool = False) -> Any:
        """Validate the parameters, run the computation and store its result.

        Parameters
        ----------
        raise_errors : bool
            Re-raise an exception after recording it (default: record it only). A
            ``KeyboardInterrupt`` is always re-raised after being recorded.

        Returns
        -------
        object or None
            The new result, or None when the run failed (see :attr:`error`).
        """
        if self.status == "running":
            raise EffdlError(f"{type(self).__name__} is already running")
        self.clear_error()
        if self.result is not None:
            self.result = None
            self._emit("result", None)
        self.last_progress = None
        try:
            prepared = self.prepare()  # bad input fails here, before any work starts
            self._set_status("running")
            result = self.compute(prepared)
        except BaseException as exc:
            self.record_error(exc)
            # an interrupt (Ctrl-C, "interrupt kernel") is recorded, then always goes on up
            if raise_errors or not isinstance(exc, Exception):
                raise
            return None
        self.result = result
        self._set_status("done")
        self._emit("result", result)
        return result

    def export(
        self,
        path_stem: str | Path,
        formats: Sequence[str] = EXPORT_FORMATS,
        *,
        raise_errors: bool = True,
    ) -> list[Path]:
        """Write the current figure with :func:`effdl_kit.reports.save_figure`.

        Parameters
        ----------
        path_stem : str or Path
            Output path without extension; one file per format is written next to it.
        formats : sequence of {"pdf", "svg", "png"}
            File formats to write.
        raise_errors : bool
            Raise on failure (default); when False, record it in :attr:`error` (the status,
            which describes the last run, is left as it is) and return an empty list.

        Returns
        -------
        list of Path
            The written files.
        """
        if self.status != "running":
            self.clear_error()
        try:
            if isinstance(formats, str):
                formats = (formats,)
            if not formats:
                raise ConfigError("formats", tuple(formats), "a non-empty subset of "
                                  + ", ".join(EXPORT_FORMATS))
            for fmt in formats:
                check_choice("formats", fmt, EXPORT_FORMATS)
            if not str(path_stem).strip():
                raise ConfigError("path_stem", path_stem, "a non-empty path")
            if self.result is None:
                raise EffdlError("nothing to export: run the panel first")
            from effdl_kit.reports import save_figure

            fig = self.figure()
            paths = save_figure(
                fig, Path(path_stem), formats=tuple(formats), provenance=self.provenance(),
                seed=self.params.get("seed"), scale=self.scale,
            )
            _close(fig)
        except Exception as exc:
            if raise_errors:
                raise
            self.record_error(exc, set_status=False)
            return []
        return [Path(p) for p in paths]


def _jsonable(value: Any) -> Any:
    """Parameters as plain JSON types (tuples -> lists, unknown objects -> repr)."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return repr(value)


def _close(fig: Figure) -> None:
    """Release a figure made with pyplot; a bare ``Figure`` needs nothing."""
    import matplotlib.pyplot as plt

    if plt.fignum_exists(getattr(fig, "number", -1)):
        plt.close(fig)


def _same(a: Any, b: Any) -> bool:
    """Equal, with floats compared to a relative 1e-9 (sliders round-trip through JS)."""
    if isinstance(a, float | int) and isinstance(b, float | int) and not (
            isinstance(a, bool) or isinstance(b, bool)):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=0.0)
    return bool(a == b)


def figure_to_png(fig: Figure, dpi: int = 100) -> bytes:
    """Render ``fig`` to PNG bytes (used to show figures inside widgets)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


def _close_tree(widget: Any) -> None:
    """Close ``widget`` and, recursively, its children (not every widget in the kernel)."""
    for child in getattr(widget, "children", ()):
        _close_tree(child)
    widget.close()


ERROR_STYLE = (
    "color:#b00020;background:#fdecea;border:1px solid #b00020;border-radius:4px;"
    "padding:6px 8px;font-family:monospace;white-space:pre-wrap"
)


_C = TypeVar("_C", bound=PanelController)


def resolve_controller(
    controller_cls: type[_C], controller: _C | None, scale: Scale, params: Mapping[str, Any]
) -> _C:
    """The controller a panel shows: the one given, or a new ``controller_cls(scale, **params)``.

    Raises
    ------
    ConfigError
        Parameters given together with a controller, or a controller of the wrong type.
    """
    if controller is None:
        return controller_cls(scale=scale, **params)
    if params:
        raise ConfigError("params", sorted(params), "none when a controller is given")
    if not isinstance(controller, controller_cls):
        raise ConfigError("controller", controller, f"a {controller_cls.__name__}")
    return controller


class Panel:
    """ipywidgets view of a :class:`PanelController`.

    Parameters
    ----------
    controller : PanelController
        Holds the state and does the work.
    controls : mapping of str to ipywidgets widget
        Parameter name -> a widget with a ``value`` (Dropdown, slider, ...). Their values are
        copied into ``controller.params`` when Run is clicked.
    title : str
        Heading shown above the controls.
    export_stem : str
        Initial content of the export-path box.
    live_figure : bool
        Redraw the figure at every progress report (a live curve), not only at the end.

    Attributes
    ----------
    widget : ipywidgets.VBox
        The whole panel; displaying the Panel displays it.
    run_button, export_button : ipywidgets.Button
    progress : ipywidgets.IntProgress
        Driven by the controller's progress reports.
    status_label : ipywidgets.HTML
        The controller's status, plus the controls changed since the parameters were last
        read ("changed: lr; press Run").
    figure_output : ipywidgets.Output
        Holds the figure as a PNG image.
    error_box : ipywidgets.HTML
        The controller's error text in red; empty when there is none.
    export_path : ipywidgets.Text
    export_formats : ipywidgets.SelectMultiple
    export_result : ipywidgets.HTML
        The files the last export wrote.
    """

    def __init__(
        self,
        controller: PanelController,
        controls: Mapping[str, Any],
        *,
        title: str = "",
        export_stem: str = "figures/panel",
        live_figure: bool = False,
    ) -> None:
        import ipywidgets as W

        if not isinstance(controller, PanelController):
            raise ConfigError("controller", controller, "a PanelController")
        for key in controls:
            check_choice("controls", key, tuple(controller.defaults))
        self.controller = controller
        self.controls: dict[str, Any] = dict(controls)
        self.live_figure = live_figure
        for key, w in self.controls.items():
            w.value = controller.params[key]
        self.title = W.HTML(f"<b>{html.escape(title)}</b>" if title else "")
        self.run_button = W.Button(description="Run", button_style="primary", icon="play",
                                   tooltip="Run with these settings")
        self.progress = W.IntProgress(value=0, min=0, max=1, description="progress",
                                      bar_style="info")
        self.status_label = W.HTML(self._status_html())
        self.figure_output = W.Output(layout=W.Layout(min_height="40px"))
        self.error_box = W.HTML("", layout=W.Layout(display="none"))
        self.error_box.add_class("effdl-error")
        self.export_path = W.Text(value=export_stem, description="export to",
                                  layout=W.Layout(width="420px"))
        self.export_formats = W.SelectMultiple(options=EXPORT_FORMATS, value=EXPORT_FORMATS,
                                               rows=len(EXPORT_FORMATS), description="formats")
        self.export_button = W.Button(description="Export", icon="download",
                                      tooltip="Write the figure as PDF/SVG/PNG")
        self.export_result = W.HTML("")
        self.run_button.on_click(lambda _b: self.run())
        for w in self.controls.values():
            w.observe(self._on_control, names="value")
        self.export_button.on_click(lambda _b: self.export())
        self._remove_listener = controller.on_change(self._on_change)
        self.widget = W.VBox([
            self.title,
            W.VBox(list(self.controls.values())),
            W.HBox([self.run_button, self.progress, self.status_label]),
            self.error_box,
            self.figure_output,
            W.HBox([self.export_path, self.export_formats, self.export_button]),
            self.export_result,
        ])
        self.widget.add_class("effdl-panel")
        self._sync_error()

    # ------------------------------------------------------------------ actions
    def read_controls(self) -> None:
        """Copy the control values into the controller's parameters."""
        self.controller.set(**{k: w.value for k, w in self.controls.items()})

    def run(self) -> Any:
        """What the Run button does: read the controls, run the controller."""
        self.read_controls()
        return self.controller.run()

    def export(self) -> list[Path]:
        """What the Export button does: export via the controller and list the files."""
        paths = self.controller.export(self.export_path.value, tuple(self.export_formats.value),
                                       raise_errors=False)
        if paths:
            items = "".join(f"<li><code>{html.escape(str(p))}</code></li>" for p in paths)
            self.export_result.value = f"wrote:<ul>{items}</ul>"
        else:
            self.export_result.value = ""
        return paths

    def close(self) -> None:
        """Detach from the controller and close every widget."""
        self._remove_listener()
        _close_tree(self.widget)

    # ------------------------------------------------------------------ view updates
    def changed_controls(self) -> list[str]:
        """Names of the controls whose value differs from the controller's parameters."""
        return [k for k, w in self.controls.items()
                if not _same(w.value, self.controller.params.get(k))]

    def _status_html(self) -> str:
        c = self.controller
        text: str = c.status
        if c.status == "running" and c.last_progress is not None and c.last_progress.message:
            text = f"running: {c.last_progress.message}"
        out = f"<span class='effdl-status'>{html.escape(text)}</span>"
        changed = self.changed_controls() if c.status != "running" else []
        if changed:
            out += (" <span class='effdl-changed' style='color:#8a5300'>(changed: "
                    f"{html.escape(', '.join(changed))}; press Run)</span>")
        return out

    def _on_control(self, _change: Any) -> None:
        self.status_label.value = self._status_html()

    def _sync_error(self) -> None:
        err = self.controller.error
        if err:
            self.error_box.value = f"<div style='{ERROR_STYLE}'>{html.escape(err)}</div>"
            self.error_box.layout.display = None
        else:
            self.error_box.value = ""
            self.error_box.layout.display = "none"

    def show_figure(self) -> None:
        """Draw ``controller.figure()`` into :attr:`figure_output` as a PNG image."""
        try:
            fig = self.controller.figure()
            png = figure_to_png(fig)
            _close(fig)
        except Exception as exc:
            self.controller.record_error(exc, set_status=False)
            return
        self.figure_output.outputs = ({
            "output_type": "display_data",
            "data": {"image/png": base64.b64encode(png).decode("ascii"),
                     "text/plain": f"<{self.controller.name} figure>"},
            "metadata": {},
        },)

    def _on_change(self, event: ChangeEvent) -> None:
        c = self.controller
        if event.kind == "status":
            self.run_button.disabled = c.status == "running"
            if c.status == "running":
                self.progress.value = 0
                self.progress.bar_style = "info"
                self.export_result.value = ""
            elif c.status == "done":
                self.progress.value = self.progress.max
                self.progress.bar_style = "success"
            elif c.status == "error":
                self.progress.bar_style = "danger"
            self.status_label.value = self._status_html()
        elif event.kind == "progress":
            p: Progress = event.data
            self.progress.max = max(p.total, 1)
            self.progress.value = min(max(p.done, 0), self.progress.max)
            self.status_label.value = self._status_html()
            if self.live_figure:
                self.show_figure()
        elif event.kind == "result" and event.data is not None:
            self.show_figure()
        elif event.kind == "error":
            self._sync_error()
        elif event.kind == "params":
            self.status_label.value = self._status_html()

    # ------------------------------------------------------------------ display
    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)
