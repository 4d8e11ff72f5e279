"""The ipywidgets half of every panel: :class:`Panel`, a view over a
:class:`~effdl_kit.widgets._controller.PanelController`.

The view is a box of controls (each with its own error line), Run and Stop buttons, a progress
bar, the figure area (:class:`~effdl_kit.widgets._views.FigureView`: ipympl canvas, y-scale
toggle, Clear runs), a red error box and an export row. It holds no computation: it copies the
control values into the controller's parameters and calls controller methods; whatever the
controller reports (status, progress, result, error) is mirrored into the widgets through a
listener that runs on the kernel's thread. ipywidgets is imported lazily, when a panel is
built.
"""

from __future__ import annotations

import asyncio
import html
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from effdl_kit._core.errors import ConfigError
from effdl_kit._core.validate import Scale, check_choice

from ._controller import (
    EXPORT_FORMATS,
    STATUSES,
    ChangeEvent,
    PanelController,
    Progress,
    RunRecord,
    RunStopped,
    _same,
    figure_to_png,
)
from ._interrupt import install_interrupt_handler

__all__ = [
    "EXPORT_FORMATS",
    "STATUSES",
    "ChangeEvent",
    "Panel",
    "PanelController",
    "Progress",
    "RunRecord",
    "RunStopped",
    "figure_to_png",
    "resolve_controller",
]


def __getattr__(name: str) -> Any:
    # the ipywidgets-based helpers load with ipywidgets, when first asked for
    if name == "NumberEntry":
        from ._fields import NumberEntry

        return NumberEntry
    if name in ("TableView", "FigureView"):
        from . import _views

        return getattr(_views, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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

    Every element follows the controller's state machine (idle -> running -> done | stopped |
    error): Run is enabled unless running, Stop only while running; the progress bar, the
    status line, the figure (with a "partial result" banner after a stop; cleared after an
    error) and the export list all change only through the controller's events. A run goes on
    a worker thread (:meth:`start`, what Run does), so the kernel stays responsive; Stop and
    Kernel ▸ Interrupt end it at the next epoch or trial boundary. An error is shown next to
    the field it names (a control, or the export row), else beside Run. Typed values are
    checked, never clamped (:class:`~effdl_kit.widgets.NumberEntry`).

    Parameters
    ----------
    controller : PanelController
        Holds the state and does the work.
    controls : mapping of str to ipywidgets widget
        Parameter name -> a widget with a ``value`` (Dropdown, NumberEntry, ...). Their values
        are copied into ``controller.params`` when Run is clicked.
    title : str
        Heading shown above the controls.
    export_stem : str
        Initial content of the export-path box.
    live_figure : bool
        Redraw the figure at every progress report (a live curve), not only at the end.
    yscale_toggle : bool
        Offer a linear / log / symlog toggle for the curves.
    interactive : bool, optional
        ipympl figures (default when installed) or PNG images.

    Attributes
    ----------
    widget : ipywidgets.VBox
        The whole panel; displaying the Panel displays it.
    run_button, stop_button, export_button : ipywidgets.Button
    run_row : ipywidgets.HBox
        Run, Stop, the panel's own actions (:meth:`add_action`), progress, status.
    progress : ipywidgets.IntProgress
        Driven by the controller's progress reports.
    status_label : ipywidgets.HTML
        :meth:`PanelController.status_text`, plus the controls changed since the parameters
        were last read ("changed: lr; press Run").
    figure_view : FigureView
        The figure area (ipympl canvas, y-scale toggle, Clear runs, banner).
    error_box : ipywidgets.HTML
        An error about the run as a whole, in red beside Run; empty when there is none.
    field_errors : dict of str to ipywidgets.HTML
        The error line under each control and under the export row (key ``"export"``).
    export_path : ipywidgets.Text
    export_formats : ipywidgets.SelectMultiple
    export_result : ipywidgets.HTML
        The files the last export wrote (cleared when a new run starts or fails).
    """

    def __init__(
        self,
        controller: PanelController,
        controls: Mapping[str, Any],
        *,
        title: str = "",
        export_stem: str = "figures/panel",
        live_figure: bool = False,
        yscale_toggle: bool = False,
        interactive: bool | None = None,
    ) -> None:
        import ipywidgets as W

        from ._fields import NumberEntry
        from ._views import FigureView

        if not isinstance(controller, PanelController):
            raise ConfigError("controller", controller, "a PanelController")
        for key in controls:
            check_choice("controls", key, tuple(controller.defaults))
        self.controller = controller
        self.controls: dict[str, Any] = dict(controls)
        self.live_figure = live_figure
        self._loop = _running_loop()
        for key, w in self.controls.items():
            w.value = controller.params[key]
        self.title = W.HTML(f"<b>{html.escape(title)}</b>" if title else "")
        self.run_button = W.Button(description="Run", button_style="primary", icon="play",
                                   tooltip="Run with these settings (in the background)")
        self.stop_button = W.Button(description="Stop", button_style="warning", icon="stop",
                                    tooltip="Stop at the next epoch or trial; keep the "
                                            "partial result", disabled=True)
        self.progress = W.IntProgress(value=0, min=0, max=1, description="progress",
                                      bar_style="info")
        self.status_label = W.HTML(self._status_html())
        self.figure_view = FigureView(
            self.controller.figure, interactive=interactive, yscale_toggle=yscale_toggle,
            on_clear_runs=controller.clear_runs if controller.supports_overlay else None,
            scale_target=controller)
        self.error_box = W.HTML("", layout=W.Layout(display="none"))
        self.error_box.add_class("effdl-error")
        self.field_errors: dict[str, Any] = {}
        rows = []
        for key, w in self.controls.items():
            err = W.HTML("", layout=W.Layout(display="none"))
            err.add_class("effdl-field-error")
            self.field_errors[key] = err
            rows.append(W.VBox([w, err]))
            w.observe(self._on_control, names="value")
            if isinstance(w, NumberEntry):
                w.observe(lambda _c, k=key: self._on_problem(k), names="problem")
        self.export_path = W.Text(value=export_stem, description="export to",
                                  layout=W.Layout(width="420px"))
        self.export_formats = W.SelectMultiple(options=EXPORT_FORMATS, value=EXPORT_FORMATS,
                                               rows=len(EXPORT_FORMATS), description="formats")
        self.export_button = W.Button(description="Export", icon="download",
                                      tooltip="Write the figure as PDF/SVG/PNG")
        self.export_result = W.HTML("")
        export_err = W.HTML("", layout=W.Layout(display="none"))
        export_err.add_class("effdl-field-error")
        self.field_errors["export"] = export_err
        self.run_button.on_click(lambda _b: self.start())
        self.stop_button.on_click(lambda _b: self.stop())
        self.export_button.on_click(lambda _b: self.export())
        self._removers = [controller.on_change(self._in_ui(self._on_change))]
        self.figure_area = W.VBox([self.figure_view.widget])
        self._actions: list[Any] = []
        self._drawn_runs: tuple[int, ...] = ()
        self._figure_exc: BaseException | None = None
        self.run_row = W.HBox([self.run_button, self.stop_button, self.progress,
                               self.status_label])
        self.widget = W.VBox([
            self.title,
            W.VBox(rows),
            self.run_row,
            self.error_box,
            self.figure_area,
            W.HBox([self.export_path, self.export_formats, self.export_button]),
            export_err,
            self.export_result,
        ])
        self.widget.add_class("effdl-panel")
        self._sync_error()
        if controller.result is not None:
            self.show_figure()

    # ------------------------------------------------------------------ threads
    def _in_ui(self, fn: Callable[[ChangeEvent], None]) -> Callable[[ChangeEvent], None]:
        """``fn`` run on the kernel's thread: events from a worker thread are handed to the
        kernel's event loop (widgets and ipympl canvases are then only touched there)."""
        loop = self._loop

        def call(event: ChangeEvent) -> None:
            if loop is None or threading.current_thread() is threading.main_thread() \
                    or loop.is_closed():
                fn(event)
            else:
                loop.call_soon_threadsafe(fn, event)

        return call

    def listen(self, callback: Callable[[ChangeEvent], None]) -> None:
        """Subscribe a view callback to the controller (run on the kernel's thread)."""
        self._removers.append(self.controller.on_change(self._in_ui(callback)))

    def add_below_figure(self, *widgets: Any) -> None:
        """Put panel-specific widgets (tables, summaries) under the figure."""
        self.figure_area.children = (*self.figure_area.children, *widgets)

    # ------------------------------------------------------------------ actions
    def problems(self) -> dict[str, str]:
        """Controls whose typed text is not a valid value: name -> why."""
        return {k: w.problem for k, w in self.controls.items() if getattr(w, "problem", "")}

    def _refuse_problems(self) -> bool:
        problems = self.problems()
        if not problems:
            return False
        key, _why = next(iter(problems.items()))
        w = self.controls[key]
        self.controller.record_error(ConfigError(key, w.text.value, w.allowed()), field=key)
        self._sync_error()
        return True

    def read_controls(self) -> None:
        """Copy the control values into the controller's parameters."""
        self.controller.set(**{k: w.value for k, w in self.controls.items()})

    def start(self) -> bool:
        """What the Run button does: read the controls, start the run on a worker thread.

        Returns
        -------
        bool
            True when the run started (False: bad input, shown next to its field).
        """
        if self._refuse_problems():
            return False
        self.read_controls()
        install_interrupt_handler()
        return self.controller.start()

    def stop(self) -> bool:
        """What the Stop button does (:meth:`PanelController.stop`)."""
        return self.controller.stop("Stop button")

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for a run started with :meth:`start`; True when it has ended."""
        return self.controller.join(timeout)

    def run(self) -> Any:
        """Read the controls and run in this thread (scripts and tests); the result."""
        if self._refuse_problems():
            return None
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
        self._sync_error()
        return paths

    def close(self) -> None:
        """Detach from the controller and close every widget."""
        for remove in self._removers:
            remove()
        self.figure_view.close()
        _close_tree(self.widget)

    # ------------------------------------------------------------------ view updates
    def changed_controls(self) -> list[str]:
        """Names of the controls whose value differs from the controller's parameters."""
        return [k for k, w in self.controls.items()
                if not _same(w.value, self.controller.params.get(k))]

    def _status_html(self) -> str:
        c = self.controller
        out = f"<span class='effdl-status'>{html.escape(c.status_text())}</span>"
        changed = self.changed_controls() if c.status != "running" else []
        if changed:
            out += (" <span class='effdl-changed' style='color:#8a5300'>(changed: "
                    f"{html.escape(', '.join(changed))}; press Run)</span>")
        return out

    def _on_control(self, _change: Any) -> None:
        self.status_label.value = self._status_html()

    def _on_problem(self, key: str) -> None:
        w = self.controls[key]
        self._show_field_error(key, w.problem)
        self.status_label.value = self._status_html()

    def _show_field_error(self, key: str, text: str) -> None:
        box = self.field_errors[key]
        if text:
            box.value = f"<div style='{ERROR_STYLE}'>{html.escape(text)}</div>"
            box.layout.display = None
        else:
            box.value = ""
            box.layout.display = "none"

    def error_text(self, key: str | None = None) -> str:
        """The error shown beside field ``key`` (None: beside Run), as plain text."""
        box = self.error_box if key is None else self.field_errors[key]
        return html.unescape(_strip_tags(box.value))

    def _sync_error(self) -> None:
        c = self.controller
        where = c.error_field if c.error_field in self.field_errors else None
        for key, w in self.controls.items():
            if getattr(w, "problem", "") and key != where:
                self._show_field_error(key, w.problem)
            elif key != where:
                self._show_field_error(key, "")
        if where != "export":
            self._show_field_error("export", "")
        if c.error and where is not None:
            self._show_field_error(where, c.error)
        if c.error and where is None:
            self.error_box.value = f"<div style='{ERROR_STYLE}'>{html.escape(c.error)}</div>"
            self.error_box.layout.display = None
        else:
            self.error_box.value = ""
            self.error_box.layout.display = "none"

    def show_figure(self) -> None:
        """Draw ``controller.figure()`` into :attr:`figure_view`.

        A drawing failure is recorded (beside Run) without changing the status, and cleared by
        the next drawing that works.
        """
        c = self.controller
        try:
            self.figure_view.redraw()
        except Exception as exc:
            self.figure_view.clear()
            c.record_error(exc, set_status=False)
            self._figure_exc = exc
            self._sync_error()
            return
        self._drawn_runs = tuple(r.number for r in c.runs)
        if self._figure_exc is not None and c.exception is self._figure_exc:
            c.clear_error()
        self._figure_exc = None

    def add_action(self, button: Any) -> None:
        """Put a panel-specific button in the Run / Stop row; it is disabled while a run goes
        (its click handler should start the run through the controller)."""
        self._actions.append(button)
        row = self.run_row
        kids = tuple(row.children)
        i = kids.index(self.stop_button) + 1
        row.children = (*kids[:i], button, *kids[i:])
        button.disabled = self.controller.status == "running"

    def _banner(self) -> None:
        c = self.controller
        if c.status == "stopped" and c.result is not None:
            self.figure_view.set_banner(f"partial result: {c.status_text()}", "warn")
        elif c.status == "running" and self.live_figure:
            self.figure_view.set_banner("live: the run is going", "info")
        else:
            self.figure_view.set_banner("")

    def _on_change(self, event: ChangeEvent) -> None:
        c = self.controller
        if event.kind in ("status", "stopping"):
            running = c.status == "running"
            self.run_button.disabled = running
            for button in self._actions:
                button.disabled = running
            self.stop_button.disabled = not running or c.should_stop()
            if event.kind == "status" and running:
                self.progress.value = 0
                self.progress.bar_style = "info"
                self.export_result.value = ""
            elif c.status == "done":
                self.progress.value = self.progress.max
                self.progress.bar_style = "success"
            elif c.status == "stopped":
                self.progress.bar_style = "warning"
            elif c.status == "error":
                self.progress.bar_style = "danger"
                self.export_result.value = ""
                self.figure_view.clear()
            self._banner()
            self.status_label.value = self._status_html()
        elif event.kind == "progress":
            p: Progress = event.data
            self.progress.max = max(p.total, 1)
            self.progress.value = min(max(p.done, 0), self.progress.max)
            self.status_label.value = self._status_html()
            if self.live_figure and c.status == "running":
                self.show_figure()
        elif event.kind == "result":
            if event.data is None:
                self.figure_view.clear()
                self.export_result.value = ""
            else:
                self.show_figure()
            self._banner()
        elif event.kind == "error":
            self._sync_error()
            self.status_label.value = self._status_html()
        elif event.kind == "params":
            self.status_label.value = self._status_html()
        elif event.kind == "runs" and c.supports_overlay and c.result is not None \
                and c.status != "running" \
                and tuple(r.number for r in c.runs) != self._drawn_runs:
            self.show_figure()  # "Clear runs" (a finished run was drawn with its result)

    # ------------------------------------------------------------------ display
    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop of the thread building the panel (the kernel's), if one runs."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _strip_tags(text: str) -> str:
    import re

    return re.sub(r"<[^>]+>", "", text)
