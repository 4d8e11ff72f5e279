"""Pick speedup methods and budgets, train them against the baseline, watch the Pareto plot.

:class:`SpeedupController` validates the methods, budgets and seeds through
:func:`effdl_kit.speedups.pareto_sweep` (bad budgets, unknown or incompatible methods fail
before any training), runs the sweep with a live hook that grows the Pareto plot run by run,
and draws it with :func:`effdl_kit.experiments.survey.plot_pareto`. :class:`SpeedupPanel` is
its ipywidgets view.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import pandas as pd

from effdl_kit._core.validate import SCALES, Scale, check_int
from effdl_kit.errors import ConfigError, EffdlError
from effdl_kit.experiments.survey import (
    ALL_METHODS,
    Budget,
    plot_pareto,
    survey_config,
    survey_recipes,
)
from effdl_kit.reports import figure as paper_figure
from effdl_kit.reports import label, legend_beside
from effdl_kit.speedups import (
    PARETO_COLUMNS,
    Recipe,
    check_budgets,
    frontier_table,
    inject_control,
    pareto_sweep,
)

from ._base import Panel, PanelController, resolve_controller

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from effdl_kit.training import TrainConfig

__all__ = ["SPEEDUP_DEFAULTS", "SpeedupController", "SpeedupPanel", "SpeedupResult"]

#: defaults per scale (the survey experiment's budgets; smoke = a few seconds)
SPEEDUP_DEFAULTS: dict[str, dict[str, Any]] = {
    scale: {"methods": ("label_smoothing", "ema") if scale == "smoke"
            else ("label_smoothing", "progressive_resizing"),
            "budgets": tuple(b.budgets), "n_seeds": int(b.n_seeds), "seed": 0}
    for scale, b in ((s, Budget.for_scale(s)) for s in SCALES)
}


@dataclass
class SpeedupResult:
    """One sweep: every run and the frontier table.

    Attributes
    ----------
    runs : pandas.DataFrame
        One row per timed run (:data:`~effdl_kit.speedups.PARETO_COLUMNS`).
    frontier : pandas.DataFrame or None
        The verdict per method with the A/A arm and the positive control; None for a stopped
        sweep whose finished runs cannot give one yet.
    config : TrainConfig
    partial : bool
        The sweep was stopped: ``runs`` holds the runs finished before the stop.
    """

    runs: pd.DataFrame
    frontier: pd.DataFrame | None
    config: TrainConfig
    partial: bool = False


class SpeedupController(PanelController):
    """Controller of :class:`SpeedupPanel`.

    Parameters
    ----------
    scale : {"smoke", "small", "paper"}
        The data size and default budgets (the ``survey`` experiment's
        :meth:`~effdl_kit.experiments.survey.Budget.for_scale`).
    **params
        ``methods`` (tuple of method names, see ``ALL_METHODS``), ``budgets`` (increasing
        epochs), ``n_seeds``, ``seed``.

    Attributes
    ----------
    live_runs : list of dict
        The runs finished so far (one row of :data:`PARETO_COLUMNS` each).
    result : SpeedupResult or None
    """

    defaults: ClassVar[Mapping[str, Any]] = SPEEDUP_DEFAULTS["small"]
    name: ClassVar[str] = "speedup"
    unit: ClassVar[str] = "training run"

    def __init__(self, *, scale: Scale = "small", **params: Any) -> None:
        self.live_runs: list[dict[str, Any]] = []
        self._config: TrainConfig | None = None
        super().__init__(scale=scale, **params)

    def scale_defaults(self, scale: Scale) -> Mapping[str, Any]:
        """``SPEEDUP_DEFAULTS[scale]``."""
        return SPEEDUP_DEFAULTS[scale]

    def prepare(self) -> dict[str, Any]:
        """Validate methods, budgets, seeds and the methods against the config."""
        p = self.params
        methods = p["methods"]
        if isinstance(methods, str):
            methods = (methods,)
        if not isinstance(methods, list | tuple) or not methods:
            raise ConfigError("methods", methods, "a non-empty tuple of method names (each is "
                              "compared with the baseline on its own)")
        recipes = survey_recipes(list(methods))
        budgets = check_budgets(list(p["budgets"]) if isinstance(p["budgets"], list | tuple)
                                else p["budgets"])
        n_seeds = check_int("n_seeds", p["n_seeds"], min_value=1, max_value=20)
        seed = check_int("seed", p["seed"], min_value=0, max_value=2**32 - 100)
        config = survey_config(self.scale, seed)
        for r in recipes.values():  # incompatible settings fail here, before training
            for b in budgets:
                Recipe(r).configure(config.replace(epochs=b))
        return {"config": config, "recipes": recipes, "budgets": budgets,
                "seeds": [seed + i for i in range(n_seeds)]}

    def compute(self, prepared: dict[str, Any]) -> SpeedupResult:
        """Run the sweep with the A/A arm, in a random order after warm-up, reporting every
        finished run (the plot grows live); the frontier table carries the A/A control and
        the positive control (the A/A arm at half the time) beside the methods."""
        self.live_runs = []
        self._config = prepared["config"]
        runs = pareto_sweep(prepared["config"], prepared["recipes"], prepared["budgets"],
                            prepared["seeds"], aa_control=True,
                            order_seed=prepared["seeds"][0], on_run=self.live_runs.append,
                            progress=self._progress)
        return SpeedupResult(runs=runs, frontier=frontier_table(inject_control(runs)),
                             config=prepared["config"])

    def _progress(self, done: int, total: int, message: str) -> None:
        self.report_progress(done, total, message)
        if done < total:
            self.check_stop()  # every finished training run is a stop boundary

    def partial_result(self) -> SpeedupResult | None:
        """The runs finished before the stop, or None before the first. No verdicts: the
        runs go in a random order, so a stopped sweep's runs are not the balanced design
        (every arm at every budget and seed) the verdicts and their controls need."""
        if not self.live_runs or self._config is None:
            return None
        runs = pd.DataFrame(self.live_runs, columns=list(PARETO_COLUMNS))
        return SpeedupResult(runs=runs, frontier=None, config=self._config, partial=True)

    def runs_so_far(self) -> pd.DataFrame:
        """The finished runs of the current (or last) sweep."""
        if isinstance(self.result, SpeedupResult):
            return self.result.runs
        return pd.DataFrame(self.live_runs, columns=list(PARETO_COLUMNS))

    def figure(self) -> Figure:
        """The Pareto plot of the runs so far.

        Raises
        ------
        EffdlError
            No run has finished yet.
        """
        runs = self.runs_so_far()
        if runs.empty:
            raise EffdlError("no run finished yet: run the panel first")
        fig, ax = paper_figure("double", aspect=0.55, pyplot=False)
        plot_pareto(runs, ax=ax)
        if ax.get_legend() is not None:  # beside the axes: never over the runs
            legend_beside(ax, fontsize="x-small", frameon=False)
        return fig

    def summary(self) -> str:
        """One line that follows the state: the status while running, each method's verdict
        and the interval behind it after, "" after an error."""
        res = self.result
        if self.status == "running" or not isinstance(res, SpeedupResult):
            return "" if self.status == "error" else self.status_text()
        if res.frontier is None:
            return (f"{self.status_text()}: {len(res.runs)} runs, no verdict (the sweep did "
                    "not finish)")
        return "; ".join(f"{r['method']}: {r['verdict_text']}"
                                for r in res.frontier.to_dict(orient="records"))


class SpeedupPanel(Panel):
    """Pick methods, budgets and seeds; Run trains them, the baseline and the A/A arm in the
    background (Stop ends the sweep after the current training run); Pareto plot live; the
    verdicts (with the A/A and positive controls) as a table.

    Parameters
    ----------
    controller : SpeedupController, optional
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
    table : TableView
        The frontier table (verdict per method, A/A arm, positive control).
    summary : ipywidgets.HTML

    Examples
    --------
    >>> from effdl_kit.widgets import SpeedupPanel
    >>> SpeedupPanel(scale="smoke")  # doctest: +SKIP
    """

    controller: SpeedupController

    def __init__(self, controller: SpeedupController | None = None, *, scale: Scale = "small",
                 export_stem: str = "figures/speedup_pareto", interactive: bool | None = None,
                 **params: Any) -> None:
        import ipywidgets as W

        from ._fields import NumberEntry
        from ._views import TableView

        controller = resolve_controller(SpeedupController, controller, scale, params)
        style = {"description_width": "110px"}
        budgets = tuple(controller.params["budgets"])
        options = sorted(set(range(1, 33)) | set(budgets))
        controls = {
            "methods": W.SelectMultiple(options=[(label(m), m) for m in ALL_METHODS], rows=6,
                                        description=label("methods"), style=style),
            "budgets": W.SelectMultiple(options=tuple(options), rows=6,
                                        description=label("budgets"), style=style),
            "n_seeds": NumberEntry(kind="int", description=label("n_seeds"), low=1, high=20,
                                   slider_min=1, slider_max=10),
            "seed": NumberEntry(kind="int", description=label("seed"), slider=None),
        }
        super().__init__(controller, controls, title="Speedup methods vs the baseline "
                         "(time-accuracy Pareto)", export_stem=export_stem, live_figure=True,
                         interactive=interactive)
        self.summary = W.HTML("")
        self.table = TableView(height="160px")
        self.add_below_figure(self.summary, self.table.widget)
        self.listen(self._on_result)
        self._sync()

    def _sync(self) -> None:
        c = self.controller
        res = c.result
        self.table.show(res.frontier if isinstance(res, SpeedupResult) else None)
        self.summary.value = html.escape(c.summary())

    def _on_result(self, event: Any) -> None:
        if event.kind in ("result", "status", "error"):
            self._sync()
        elif event.kind == "progress":
            self.summary.value = html.escape(self.controller.summary())
