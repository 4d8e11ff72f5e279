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
        """Run :func:`analyse_dataset`, reporting each step as progress."""
        return analyse_dataset(progress=self.report_progress, **prepared)

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
        from matplotlib.figure import Figure

        res = self.result
        if res is None:
            raise EffdlError("no predictor result yet: run the panel first")
        fig = Figure(figsize=(10.0, 4.0), layout="constrained")
        ax_scatter, ax_imp = fig.subplots(1, 2, width_ratios=[1.0, 1.3])
        split = next(iter(res["evaluations"]))
        plot_predicted_vs_true(res, split, ax=ax_scatter)
        plot_importance(res, ax=ax_imp)
        return fig

    def summary(self) -> str:
        """One line about the last result (R² and the Top-5), or the status."""
        res = self.result
        if res is None:
            return self.status
        split, ev = next(iter(res["evaluations"].items()))
        top = ", ".join(self.top()["name"])
        return (f"{res['label']}, {split} {ev['n_splits']}-fold: R² {ev['mean']['r2']:.3f} ± "
                f"{ev['std']['r2']:.3f}; Top-5: {top}")


class PredictorPanel(Panel):
    """Choose a dataset, split and budget; see the predictor's quality and the Top-5 components.

    Parameters
    ----------
    controller : PredictorController, optional
        Made from ``scale`` and ``params`` when not given.
    scale : {"smoke", "small", "paper"}
        Default budget when the controller is made here.
    export_stem : str
        Initial export path (without extension).
    **params
        Initial parameters for a new controller.

    Attributes
    ----------
    table : ipywidgets.HTML
        The metrics table and the Top-5 table of the last run.

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
        **params: Any,
    ) -> None:
        import ipywidgets as W

        controller = resolve_controller(PredictorController, controller, scale, params)
        p = controller.params
        style = {"description_width": "90px"}
        controls = {
            "dataset": W.Dropdown(options=[(DATASET_LABELS[d], d) for d in DATASETS],
                                  description="dataset", style=style),
            "split": W.Dropdown(options=SPLITS, description="split", style=style),
            "n_trees": W.IntSlider(min=1, max=max(1000, int(p["n_trees"])), value=1,
                                   description="trees", style=style),
            "n_splits": W.IntSlider(min=2, max=max(10, int(p["n_splits"])), value=2,
                                    description="folds", style=style),
            "n_repeats": W.IntSlider(min=1, max=max(50, int(p["n_repeats"])), value=1,
                                     description="repeats", style=style),
            "seed": W.BoundedIntText(min=0, max=SEED_MAX, value=0, description="seed",
                                     style=style),
        }
        super().__init__(controller, controls,
                         title="Static predictor and Top-5 components (EfficientDL)",
                         export_stem=export_stem)
        self.summary = W.HTML("")
        self.table = W.HTML("")
        children = list(self.widget.children)
        children.insert(children.index(self.figure_area), self.table)
        self.widget.children = (*children, self.summary)
        controller.on_change(self._on_result)

    def _on_result(self, event: Any) -> None:
        if event.kind == "result":
            c = self.controller
            if c.result is None:
                self.table.value = ""
            else:
                metrics = c.metrics().to_html(index=False, float_format=lambda v: f"{v:.3f}",
                                              classes="effdl-metrics", border=0)
                top = c.top()[["name", "group", "mean", "ci_low", "ci_high"]].to_html(
                    float_format=lambda v: f"{v:.4f}", classes="effdl-top", border=0)
                self.table.value = (f"<div>{metrics}</div><div><b>Top-5 components</b> "
                                    f"(R² drop, 95 % CI)</div><div>{top}</div>")
        if event.kind in ("result", "status"):
            self.summary.value = html.escape(self.controller.summary())
