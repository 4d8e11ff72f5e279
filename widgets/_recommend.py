"""Latency-aware component recommendation, confirmed by training: the view.

:class:`RecommendPanel` holds no computation: its controls (task, device, latency budget,
trainings, scale, mode, seed) are copied into the parameters of a
:class:`~effdl_kit.widgets._recommend_controller.RecommendController`, which recommends and
then trains and times the top candidates on a worker thread; the figure (the predicted front
once the search ends, each trained candidate added as it arrives), the ranked table and the
summary mirror what it reports.
"""

from __future__ import annotations

import html
from typing import Any

from effdl_kit._core.validate import SCALES, Scale
from effdl_kit.recommend import MODES, TASKS, latency_devices
from effdl_kit.reports import display, label

from ._base import Panel, resolve_controller
from ._recommend_controller import RECOMMEND_DEFAULTS, PreparedKey, RecommendController

__all__ = ["RECOMMEND_DEFAULTS", "PreparedKey", "RecommendController", "RecommendPanel"]

_MODE_LABELS = {"constrained": "constrained (P(latency ≤ budget))",
                "unconstrained": "unconstrained (latency reported only)"}


class RecommendPanel(Panel):
    """Which components to train for the best accuracy under a latency budget, and a check.

    Run recommends (the static predictor's candidates, their predicted latency with a
    calibrated interval, αβ-BO weighted by P(latency ≤ budget)) and then trains and times the
    top ``trainings`` candidates (BTTackler-guarded), in the background. Stop ends the search
    after the current iteration or the training at the end of the current epoch, keeping the
    partial result (what the search evaluated, the candidates trained so far). The fitted
    predictor and latency models are kept per task, device, scale and seed: a new budget
    re-runs only the search.

    Parameters
    ----------
    controller : RecommendController, optional
        Made from ``scale`` and ``params`` when not given.
    scale : {"smoke", "small", "paper"}
    export_stem : str
        Initial export path (without extension); Export also writes
        ``<stem>_recommendation.json`` and ``<stem>_confirmation.json``.
    interactive : bool, optional
        ipympl figure (default when installed) or PNG.
    **params
        Initial parameters for a new controller.

    Attributes
    ----------
    table : TableView
        The ranked candidates, predicted and (trained ones) measured.
    summary : ipywidgets.HTML
        One line that follows the state.

    Examples
    --------
    >>> from effdl_kit.widgets import RecommendPanel
    >>> RecommendPanel(scale="smoke", latency_budget_ms=0.5)  # doctest: +SKIP
    """

    controller: RecommendController

    def __init__(self, controller: RecommendController | None = None, *,
                 scale: Scale = "small", export_stem: str = "figures/recommend",
                 interactive: bool | None = None, **params: Any) -> None:
        import ipywidgets as W

        from ._fields import NumberEntry
        from ._views import TableView

        controller = resolve_controller(RecommendController, controller, scale, params)
        p = controller.params
        width = "140px"  # "Latency budget (ms)" in full
        style = {"description_width": width}
        devices = list(dict.fromkeys([*latency_devices(), str(p["device"])]))
        controls: dict[str, Any] = {
            "task": W.Dropdown(options=[(display(t), t) for t in TASKS],
                               description=label("task"), style=style),
            "device": W.Dropdown(options=[(d.upper(), d) for d in devices],
                                 description=label("device"), style=style),
            # > 0 is the library's check (shown beside the field): the entry takes any number
            "latency_budget_ms": NumberEntry(kind="float", slider="log",
                                             description=label("latency_budget_ms"),
                                             slider_min=0.01, slider_max=100.0, step=0.05,
                                             description_width=width),
            "trainings": NumberEntry(kind="int", description=label("trainings"), low=0,
                                     slider_min=0, slider_max=max(10, int(p["trainings"])),
                                     description_width=width),
            "scale": W.Dropdown(options=list(SCALES), description=label("scale"), style=style),
            "mode": W.Dropdown(options=[(_MODE_LABELS[m], m) for m in MODES],
                               description=label("mode"), style=style,
                               layout=W.Layout(width="420px")),
            "seed": NumberEntry(kind="int", description=label("seed"), slider=None,
                                description_width=width),
        }
        super().__init__(controller, controls, title="Latency-aware recommendation: "
                         "predicted front, then the top candidates trained and timed",
                         export_stem=export_stem, interactive=interactive)
        self.table = TableView(height="260px")
        self.summary = W.HTML("")
        self.add_below_figure(self.summary, self.table.widget)
        self._drawn_version = -1
        self.listen(self._on_result)
        self._sync()

    def _sync(self) -> None:
        c = self.controller
        self.table.show(c.table())
        self.summary.value = html.escape(c.summary())

    def _on_result(self, event: Any) -> None:
        c = self.controller
        if event.kind in ("result", "status", "error", "stopping"):
            self._sync()
            self._drawn_version = c.live_version
        elif event.kind == "progress":
            self.summary.value = html.escape(c.summary())
            # live: the front once the search ended, then each trained candidate
            if c.status == "running" and c.live_version != self._drawn_version \
                    and c.recommendation is not None:
                self._drawn_version = c.live_version
                self.show_figure()
