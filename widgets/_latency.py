"""Module latency with LR / MLP / RF / MEDN and a measurement now: the view.

:class:`LatencyPanel` holds no computation: its controls (the module type and only that type's
parameters, the held-out split, the timing counts) are copied into the parameters of a
:class:`~effdl_kit.widgets._latency_controller.LatencyController`, which fits, predicts and
measures on a worker thread; the comparison table, the figure and the summary mirror what it
reports.
"""

from __future__ import annotations

import html
from typing import Any

from effdl_kit import models as latency_models
from effdl_kit._core.validate import Scale
from effdl_kit.errors import ConfigError
from effdl_kit.measure import MODULE_PARAMS, MODULE_TYPES, normalize_module_type
from effdl_kit.reports import label

from ._base import Panel, resolve_controller
from ._latency_controller import (
    LATENCY_DEFAULTS,
    SIZE_RANGES,
    SPLIT_LABELS,
    LatencyController,
    module_label,
)

__all__ = ["LATENCY_DEFAULTS", "SPLIT_LABELS", "LatencyController", "LatencyPanel"]


class LatencyPanel(Panel):
    """Pick a module type and its parameters; compare the four predictors and a measurement.

    Run and "Measure now" go in the background (Stop ends them at the next step: a model's
    scoring, the fitting, the measurement); both follow the state machine (disabled while
    running). Typed sizes are checked, never clamped: a value below a field's bound is an
    error beside it, and the library's checks (a kernel larger than the input, ...) are shown
    beside the field they name.

    Parameters
    ----------
    controller : LatencyController, optional
        Made from ``scale`` and ``params`` when not given.
    scale : {"smoke", "small", "paper"}
    export_stem : str
        Initial export path (without extension).
    interactive : bool, optional
        ipympl figure (default when installed) or PNG.
    **params
        Initial parameters for a new controller.

    Attributes
    ----------
    measure_button : ipywidgets.Button
        "Measure now": predicts and times the module on this machine.
    table : TableView
        The comparison table of the last result.
    summary : ipywidgets.HTML
    """

    controller: LatencyController

    def __init__(
        self,
        controller: LatencyController | None = None,
        *,
        scale: Scale = "small",
        export_stem: str = "figures/latency",
        interactive: bool | None = None,
        **params: Any,
    ) -> None:
        import ipywidgets as W

        from ._fields import NumberEntry
        from ._views import TableView

        controller = resolve_controller(LatencyController, controller, scale, params)
        style = {"description_width": "110px"}
        controls: dict[str, Any] = {
            "module_type": W.Dropdown(options=[(module_label(m), m) for m in MODULE_TYPES],
                                      description=label("module_type"), style=style),
        }
        for name, (lo, hi) in SIZE_RANGES.items():
            controls[name] = NumberEntry(kind="int", description=label(name), low=lo,
                                         slider_min=lo, slider_max=hi)
        controls["split"] = W.Dropdown(
            options=[(SPLIT_LABELS[s], s) for s in latency_models.LATENCY_SPLITS],
            description="test rows", style=style,
            tooltip="How the rows that score the models are held out: at random, by sampling "
                    "configuration (configurations never seen in training) or the latest "
                    "measurements (time-blocked)")
        controls["seed"] = NumberEntry(kind="int", description=label("seed"), slider=None)
        controls["warmup"] = NumberEntry(kind="int", description=label("warmup"), low=0,
                                         slider=None)
        controls["repeats"] = NumberEntry(kind="int", description=label("repeats"), low=1,
                                          slider=None)
        super().__init__(controller, controls, title="Module latency: LR / MLP / RF / MEDN "
                         "(MEDN framework)", export_stem=export_stem, interactive=interactive)
        self.measure_button = W.Button(description="Measure now", icon="clock-o",
                                       tooltip="Predict, then time this module on this machine "
                                               "(in the background)")
        self.measure_button.on_click(lambda _b: self.measure())
        self.add_action(self.measure_button)  # beside Stop, disabled while a run goes
        self.table = TableView()
        self.summary = W.HTML("")
        self.add_below_figure(self.summary, self.table.widget)
        controls["module_type"].observe(lambda _c: self._show_relevant(), names="value")
        self._show_relevant()
        self.listen(self._on_result)
        self._sync()

    def relevant_controls(self) -> list[str]:
        """The controls of the module type currently selected (the others are hidden)."""
        try:
            mt = normalize_module_type(self.controls["module_type"].value)
        except ConfigError:
            return list(self.controls)
        return ["module_type", *MODULE_PARAMS[mt], "split", "seed", "warmup", "repeats"]

    def _show_relevant(self) -> None:
        keep = set(self.relevant_controls())
        for name, w in self.controls.items():
            w.layout.display = None if name in keep else "none"

    def problems(self) -> dict[str, str]:
        """Problems of the controls the current module type uses (hidden ones are ignored)."""
        keep = set(self.relevant_controls())
        return {k: v for k, v in super().problems().items() if k in keep}

    def measure(self) -> bool:
        """What "Measure now" does: read the controls and start a run that predicts and then
        times the module (in the background).

        Returns
        -------
        bool
            True when the run started (False: bad input, shown beside its field).
        """
        if self._refuse_problems():
            return False
        self.controller.request_measurement()
        return self.start()

    def _sync(self) -> None:
        c = self.controller
        self.measure_button.disabled = c.status == "running"
        self.table.show(c.comparison() if c.result is not None else None)
        self.summary.value = html.escape(c.summary())

    def _on_result(self, event: Any) -> None:
        if event.kind in ("result", "status", "error", "stopping"):
            self._sync()
        elif event.kind == "progress":
            self.summary.value = html.escape(self.controller.summary())
