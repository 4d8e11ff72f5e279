"""αβ-BO on the static predictor against baselines, live: the view.

:class:`SearchPanel` holds no computation: its controls are copied into the parameters of a
:class:`~effdl_kit.widgets._search_controller.SearchController` (which runs αβ-BO and the
baselines on a worker thread, recording every predictor call), and whatever the controller
reports is mirrored into the figure (regret curves, or the importance and parallel-coordinate
views of the run's study), the regret table and the summary.
"""

from __future__ import annotations

import html
from typing import Any

from effdl_kit._core.validate import Scale
from effdl_kit.experiments.efficientdl import DATASET_LABELS, DATASETS, METHOD_LABELS
from effdl_kit.reports import label

from ._base import Panel, resolve_controller
from ._search_controller import (
    ALPHA_BETA_MODES,
    BASELINES,
    SEARCH_DEFAULTS,
    SEARCH_VIEWS,
    SearchController,
)

__all__ = ["ALPHA_BETA_MODES", "BASELINES", "SEARCH_DEFAULTS", "SEARCH_VIEWS",
           "SearchController", "SearchPanel"]


class SearchPanel(Panel):
    """α, β, Ω and budget fields, αβ-BO's mode, searched components; run αβ-BO against
    baselines in the background (Stop ends it after the current predictor call); live regret
    curves with bands (earlier runs overlaid), the importance and parallel-coordinate views of
    the run's predictor calls, and the regret table.

    Parameters
    ----------
    controller : SearchController, optional
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
    view : ipywidgets.ToggleButtons
        Regret curves | importance | parallel coordinates (what the figure and Export show).
    table : TableView
        The regret table of the last result.
    summary : ipywidgets.HTML
        One line that follows the state (the status while running, the best method after).

    Examples
    --------
    >>> from effdl_kit.widgets import SearchPanel
    >>> SearchPanel(scale="smoke")  # doctest: +SKIP
    """

    controller: SearchController

    def __init__(self, controller: SearchController | None = None, *,
                 scale: Scale = "small", export_stem: str = "figures/search",
                 interactive: bool | None = None, **params: Any) -> None:
        import ipywidgets as W

        from ._fields import NumberEntry
        from ._views import TableView

        controller = resolve_controller(SearchController, controller, scale, params)
        p = controller.params
        style = {"description_width": "110px"}
        controls = {
            "dataset": W.Dropdown(options=[(DATASET_LABELS[d], d) for d in DATASETS],
                                  description=label("dataset"), style=style),
            "mode": W.Dropdown(options=[("kit (AlphaBetaSampler)", "kit"),
                                        ("authors' choices", "faithful"),
                                        ("grid, fitted-noise GP", "grid")],
                               description=label("mode"), style=style),
            "components": W.Dropdown(options=[("controllable (task fixed)", "controllable"),
                                              ("all (paper's)", "all")],
                                     description=label("components"), style=style),
            "alpha": NumberEntry(kind="float", description=label("alpha"), low=0.0,
                                 slider_min=0.0, slider_max=3.5, step=0.01),
            "beta": NumberEntry(kind="float", description=label("beta"), low=0.0,
                                slider_min=0.0, slider_max=3.5, step=0.01),
            "omega": NumberEntry(kind="float", description=label("omega"), low=0.0, high=1.0,
                                 step=0.01),
            "n_iter": NumberEntry(kind="int", description=label("n_iter"), low=1,
                                  slider_min=1, slider_max=max(500, int(p["n_iter"]))),
            "n_seeds": NumberEntry(kind="int", description=label("n_seeds"), low=1,
                                   slider_min=1, slider_max=10),
            "baselines": W.SelectMultiple(options=[(METHOD_LABELS[b], b) for b in BASELINES],
                                          description=label("baselines"), style=style),
            "seed": NumberEntry(kind="int", description=label("seed"), slider=None),
        }
        super().__init__(controller, controls, title="αβ-BO search on the static predictor",
                         export_stem=export_stem, live_figure=True, yscale_toggle=True,
                         interactive=interactive)
        self.view = W.ToggleButtons(options=[(v, k) for k, v in SEARCH_VIEWS.items()],
                                    value=controller.view, description="view",
                                    style={"button_width": "150px"},
                                    tooltips=["mean simple regret per method, 95 % band",
                                              "fANOVA importance of each searched component",
                                              "every evaluated configuration"])
        self.view.observe(lambda _c: self._on_view(), names="value")
        tools = self.figure_view.toolbar
        tools.children = (self.view, *tools.children)
        self.table = TableView()
        self.summary = W.HTML("")
        self.add_below_figure(self.summary, self.table.widget)
        self.listen(self._on_result)
        self._sync_tables()

    def _on_view(self) -> None:
        c = self.controller
        c.view = str(self.view.value)
        if self.figure_view.yscale is not None:
            self.figure_view.yscale.disabled = c.view != "curves"
        if c.status in ("done", "stopped") and c.result is not None:
            c.clear_error()  # a view the last run could not draw is forgotten
            self._sync_error()
            self.show_figure()

    def _sync_tables(self) -> None:
        c = self.controller
        self.table.show(c.result["table"] if c.result is not None else None)
        self.summary.value = html.escape(c.summary())

    def _on_result(self, event: Any) -> None:
        if event.kind in ("result", "status", "error"):
            self._sync_tables()
        elif event.kind == "progress":
            self.summary.value = html.escape(self.controller.summary())
