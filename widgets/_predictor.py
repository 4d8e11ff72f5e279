"""Fit EfficientDL's static predictor on a component dataset and rank the components.

:class:`PredictorController` validates a dataset / split / budget choice, runs
:func:`effdl_kit.experiments.efficientdl.analyse_dataset` (cross-validation of the random-forest
predictor, permutation importance of each component) and draws the result with the
experiment's plot functions. :class:`PredictorPanel` is its ipywidgets view: controls, Run, the
metrics table, the predicted-vs-true scatter next to the importance bars, errors, Export.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from effdl_kit._core import SEED_MAX
from effdl_kit._core.errors import EffdlError
from effdl_kit._core.validate import SCALES, Scale, check_choice, check_int
from effdl_kit.experiments.efficientdl import (
    DATASET_LABELS,
    DATASETS,
    SPLITS,
    Budget,
    ComponentData,
    analyse_dataset,
    importance_frame,
    load_component_data,
    metrics_table,
    plot_importance,
    plot_predicted_vs_true,
)
from effdl_kit.reports import figure as paper_figure
from effdl_kit.reports import label

from ._base import Panel, PanelController, resolve_controller

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

__all__ = ["PREDICTOR_DEFAULTS", "PredictorController", "PredictorPanel"]

#: defaults per scale: the experiment's budgets on the kit's data (always shipped), random CV
PREDICTOR_DEFAULTS: dict[str, dict[str, Any]] = {
    scale: {"dataset": "kit", "split": "random", "n_trees": b.n_trees,
            "n_splits": b.n_splits, "n_repeats": b.n_repeats, "seed": 0}
    for scale, b in ((s, Budget.for_scale(s)) for s in SCALES)
}


class PredictorController(PanelController):
    """Controller of :class:`PredictorPanel`: cross-validate the predictor, rank components.

    Parameters
    ----------
    scale : {"smoke", "small", "paper"}
        Picks the default budget (``PREDICTOR_DEFAULTS``, the experiment's ``Budget``):
        smoke = 30 trees, 3 folds, 3 repeats; small = 300, 5, 10; paper = 500, 10, 30.
    **params
        Any of ``dataset`` ({"authors", "kit"}), ``split`` ({"random", "grouped"}),
        ``n_trees``, ``n_splits``, ``n_repeats``, ``seed``; validated on :meth:`run`.

    Attributes
    ----------
    data : ComponentData or None
        The dataset of the last validated run.
    result : dict or None
        The last :func:`~effdl_kit.experiments.efficientdl.analyse_dataset` result (one
        split), the layout of the experiment's ``results.json`` entries.
    """

    defaults: ClassVar[Mapping[str, Any]] = PREDICTOR_DEFAULTS["small"]
    name: ClassVar[str] = "predictor"
    unit: ClassVar[str] = "step"

    def __init__(self, *, scale: Scale = "small", **params: Any) -> None:
        self.data: ComponentData | None = None
        super().__init__(scale=scale, **params)

    def scale_defaults(self, scale: Scale) -> Mapping[str, Any]:
        """``PREDICTOR_DEFAULTS[scale]``."""
        return PREDICTOR_DEFAULTS[scale]

    def prepare(self) -> dict[str, Any]:
        """Check every parameter, then load the dataset (a missing file fails here).

        Raises
        ------
        ConfigError
            A bad choice or budget, naming the field and the allowed values.
        DatasetNotFoundError
            The authors' data is not where :func:`efficientdl_data_path` looks.
        """
        p = self.params
        check_choice("dataset", p["dataset"], DATASETS)
        check_choice("split", p["split"], SPLITS)
        budget = {
            "n_trees": check_int("n_trees", p["n_trees"], min_value=1),
            "n_splits": check_int("n_splits", p["n_splits"], min_value=2),
            "n_repeats": check_int("n_repeats", p["n_repeats"], min_value=1),
            "seed": check_int("seed", p["seed"], min_value=0, max_value=SEED_MAX),
        }
        self.data = load_component_data(p["dataset"])
        return {"data": self.data, "splits": (p["split"],), **budget}

    def compute(self, prepared: dict[str, Any]) -> dict[str, Any]:
        """Run :func:`analyse_dataset`, reporting each step as progress; a stop is honoured
        at its step boundaries (before the cross-validation of each split and before the
        permutation importance)."""
        return analyse_dataset(progress=self._progress, **prepared)

    def _progress(self, done: int, total: int, message: str) -> None:
        self.report_progress(done, total, message)
        if done < total:
            self.check_stop()

    def metrics(self) -> pd.DataFrame:
        """The metrics table of the last result (R², MAE, Spearman mean and std).

        Raises
        ------
        EffdlError
            Nothing has been run yet.
        """
        if self.result is None:
            raise EffdlError("no result yet: run the panel first")
        return metrics_table({self.result["name"]: self.result})

    def top(self, k: int = 5) -> pd.DataFrame:
        """The Top-``k`` components of the last result, with 95 % confidence intervals."""
        if self.result is None:
            raise EffdlError("no result yet: run the panel first")
        return importance_frame(self.result, k=k)

    def figure(self) -> Figure:
        """Predicted vs true (out of fold) next to the importance bars of the last result.

        Raises
        ------
        EffdlError
            Nothing has been run yet.
        """
        res = self.result
        if res is None:
            raise EffdlError("no predictor result yet: run the panel first")
        fig, (ax_scatter, ax_imp) = paper_figure("double", aspect=0.75, ncols=2,
                                                 pyplot=False, width_ratios=[1.0, 1.3])
        split = next(iter(res["evaluations"]))
        plot_predicted_vs_true(res, split, ax=ax_scatter)
        plot_importance(res, ax=ax_imp)
        return fig

    def summary(self) -> str:
        """One line that follows the state: the status while running, R² and the Top-5 of
        the last result, "" after an error (the error is shown beside its field)."""
        res = self.result
        if self.status == "running" or res is None:
            return "" if self.status == "error" else self.status_text()
        split, ev = next(iter(res["evaluations"].items()))
        top = ", ".join(self.top()["name"])
        return (f"{res['label']}, {split} {ev['n_splits']}-fold: R² {ev['mean']['r2']:.3f} ± "
                f"{ev['std']['r2']:.3f}; Top-5: {top}")


class PredictorPanel(Panel):
    """Choose a dataset, split and budget; see the predictor's quality and the Top-5 components.

    Run goes in the background; Stop ends it at the next step (the cross-validation, the
    permutation importance). Typed budgets are checked, never clamped.

    Parameters
    ----------
    controller : PredictorController, optional
        Made from ``scale`` and ``params`` when not given.
    scale : {"smoke", "small", "paper"}
        Default budget when the controller is made here.
    export_stem : str
        Initial export path (without extension).
    interactive : bool, optional
        ipympl figure (default when installed) or PNG.
    **params
        Initial parameters for a new controller.

    Attributes
    ----------
    metrics_table, top_table : TableView
        The metrics (R², MAE, Spearman) and the Top-5 components (R² drop, 95 % CI) of the
        last run.
    summary : ipywidgets.HTML

    Examples
    --------
    >>> from effdl_kit.widgets import PredictorPanel
    >>> PredictorPanel(scale="smoke")  # doctest: +SKIP
    """

    controller: PredictorController

    def __init__(
        self,
        controller: PredictorController | None = None,
        *,
        scale: Scale = "small",
        export_stem: str = "figures/predictor",
        interactive: bool | None = None,
        **params: Any,
    ) -> None:
        import ipywidgets as W

        from ._fields import NumberEntry
        from ._views import TableView

        controller = resolve_controller(PredictorController, controller, scale, params)
        p = controller.params
        style = {"description_width": "110px"}
        controls = {
            "dataset": W.Dropdown(options=[(DATASET_LABELS[d], d) for d in DATASETS],
                                  description=label("dataset"), style=style),
            "split": W.Dropdown(options=[(label(s), s) for s in SPLITS],
                                description=label("split"), style=style),
            "n_trees": NumberEntry(kind="int", description=label("n_trees"), low=1,
                                   slider_min=1, slider_max=max(1000, int(p["n_trees"]))),
            "n_splits": NumberEntry(kind="int", description=label("n_splits"), low=2,
                                    slider_min=2, slider_max=max(10, int(p["n_splits"]))),
            "n_repeats": NumberEntry(kind="int", description=label("n_repeats"), low=1,
                                     slider_min=1, slider_max=max(50, int(p["n_repeats"]))),
            "seed": NumberEntry(kind="int", description=label("seed"), slider=None),
        }
        super().__init__(controller, controls,
                         title="Static predictor and Top-5 components (EfficientDL)",
                         export_stem=export_stem, interactive=interactive)
        self.summary = W.HTML("")
        self.metrics_table = TableView(height="90px")
        self.top_title = W.HTML("")
        self.top_table = TableView(height="180px")
        self.add_below_figure(self.summary, self.metrics_table.widget, self.top_title,
                              self.top_table.widget)
        self.listen(self._on_result)
        self._sync()

    def _sync(self) -> None:
        import pandas as pd

        c = self.controller
        if c.result is None:
            self.metrics_table.show(None)
            self.top_table.show(None)
            self.top_title.value = ""
        else:
            self.metrics_table.show(c.metrics())
            top = c.top()
            self.top_table.show(pd.DataFrame({
                "component": [label(str(n)) for n in top["name"]], "group": top["group"],
                "R² drop": top["mean"], "95 % CI low": top["ci_low"],
                "95 % CI high": top["ci_high"]}))
            self.top_title.value = "<b>Top-5 components</b> (R² drop, 95 % CI)"
        self.summary.value = html.escape(c.summary())

    def _on_result(self, event: Any) -> None:
        if event.kind in ("result", "status", "error"):
            self._sync()
        elif event.kind == "progress":
            self.summary.value = html.escape(self.controller.summary())
