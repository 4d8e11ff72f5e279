"""The ipywidgets half of every panel: :class:`Panel`, a view over a
:class:`~effdl_kit.widgets._controller.PanelController`.

The view is a box of controls, a Run button, a progress bar, an output area for the figure, a
red error box and an Export button. It holds no computation: it copies the control values into
the controller's parameters and calls controller methods; whatever the controller reports
(progress, result, error) is mirrored into the widgets through a listener. ipywidgets is
imported lazily, when a panel is built.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping
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
    _close,
    _same,
    figure_to_png,
)

__all__ = [
    "EXPORT_FORMATS",
    "STATUSES",
    "ChangeEvent",
    "Panel",
    "PanelController",
    "Progress",
    "figure_to_png",
    "resolve_controller",
]


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
