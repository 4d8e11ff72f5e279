"""αβ-BO on the static predictor against baselines, live (EfficientDL's search step).

:class:`SearchController` validates α, β, Ω, the budget, the αβ-BO mode and the baselines,
builds (once per dataset, scale and searchable components, then cached) the search problem of
:func:`effdl_kit.experiments.efficientdl.search_setup` — the predictor, its Top-5 components
(by default among those a user controls, the task's data components held fixed), the grid and
its exhaustive maximum, the dataset rows as prior data — and runs αβ-BO (the kit's sampler, the
authors' choices or the grid engine with the fitted-noise GP) and each baseline on the same
budget, seed by seed, recording every predictor call so the regret curves (with 95 % bootstrap
bands over seeds) grow live. :class:`SearchPanel` is its ipywidgets view.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from effdl_kit._core import SEED_MAX
from effdl_kit._core.errors import ConfigError, EffdlError
from effdl_kit._core.validate import SCALES, Scale, check_choice, check_float, check_int
from effdl_kit.experiments.efficientdl import (
    DATASET_LABELS,
    DATASETS,
    METHOD_LABELS,
    METHODS,
    SEARCH_COMPONENTS,
    Method,
    SearchBudget,
    SearchSetup,
    load_component_data,
    method_table,
    plot_search_curves,
    prior_rows,
    run_method,
    search_setup,
)

from ._base import Panel, PanelController, resolve_controller

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

__all__ = ["ALPHA_BETA_MODES", "BASELINES", "SEARCH_DEFAULTS", "SearchController",
           "SearchPanel"]

#: methods the panel can run next to αβ-BO
BASELINES: tuple[Method, ...] = tuple(m for m in METHODS if not m.startswith("alpha_beta"))
#: αβ-BO's mode -> the method that runs it: the kit's sampler, the authors' choices (their GP
#: and incumbent, prior rows), the grid engine with the fitted-noise GP
ALPHA_BETA_MODES: dict[str, Method] = {"kit": "alpha_beta_kit", "faithful": "alpha_beta",
                                       "grid": "alpha_beta_fn"}

#: defaults per scale: the experiment's budgets, the authors' α, β, Ω
SEARCH_DEFAULTS: dict[str, dict[str, Any]] = {
    scale: {"dataset": "authors", "mode": "kit", "components": "controllable", "alpha": 0.54,
            "beta": 1.01, "omega": 0.1, "n_iter": b.n_iter, "n_seeds": min(b.seeds, 5),
            "baselines": ("random", "tpe"), "seed": 0}
    for scale, b in ((s, SearchBudget.for_scale(s)) for s in SCALES)
}


class SearchController(PanelController):
    """Controller of :class:`SearchPanel`: αβ-BO and baselines on the same predictor budget.

    Parameters
    ----------
    scale : {"smoke", "small", "paper"}
        Picks the budget of :meth:`~effdl_kit.experiments.efficientdl.SearchBudget.for_scale`
        (predictor trees, grid size, GP prior rows and fitting) and the default ``n_iter``.
    **params
        Any of ``dataset`` ({"authors", "kit"}), ``mode`` (αβ-BO's: a key of
        :data:`ALPHA_BETA_MODES`), ``components`` ("controllable" or "all": which components
        are ranked for the search), ``alpha``, ``beta`` (≥ 0), ``omega`` (in [0, 1]),
        ``n_iter`` (predictor calls per run), ``n_seeds``, ``baselines`` (a subset of
        :data:`BASELINES`), ``seed``; validated on :meth:`run`.

    Attributes
    ----------
    setup : SearchSetup or None
        The search problem of the last run (cached per dataset).
    live : list of dict
        One record per predictor call of the current run (method, seed, iteration, value).
    result : dict or None
        ``{"curves": DataFrame, "table": DataFrame, "setup": dict}`` of the last run.
    """

    defaults: ClassVar[Mapping[str, Any]] = SEARCH_DEFAULTS["small"]
    name: ClassVar[str] = "search"

    def __init__(self, *, scale: Scale = "small", **params: Any) -> None:
        self.setup: SearchSetup | None = None
        self._setups: dict[str, SearchSetup] = {}
        self.live: list[dict[str, Any]] = []
        super().__init__(scale=scale, **params)

    def scale_defaults(self, scale: Scale) -> Mapping[str, Any]:
        """``SEARCH_DEFAULTS[scale]``."""
        return SEARCH_DEFAULTS[scale]

    def prepare(self) -> dict[str, Any]:
        """Check every parameter, then build (or reuse) the search problem.

        Raises
        ------
        ConfigError
            A bad value, naming the field and what is allowed (α < 0, β < 0, Ω outside
            [0, 1], an unknown baseline, ...).
        DatasetNotFoundError
            The authors' data is not where the kit looks for it.
        """
        p = self.params
        check_choice("dataset", p["dataset"], DATASETS)
        out: dict[str, Any] = {
            "alpha": check_float("alpha", p["alpha"], min_value=0.0),
            "beta": check_float("beta", p["beta"], min_value=0.0),
            "omega": check_float("omega", p["omega"], min_value=0.0, max_value=1.0),
            "n_iter": check_int("n_iter", p["n_iter"], min_value=1),
            "n_seeds": check_int("n_seeds", p["n_seeds"], min_value=1),
            "seed": check_int("seed", p["seed"], min_value=0, max_value=SEED_MAX),
        }
        baselines = p["baselines"]
        if isinstance(baselines, str) or not isinstance(baselines, list | tuple):
            raise ConfigError("baselines", baselines, f"a list drawn from {list(BASELINES)}")
        for b in baselines:
            check_choice("baselines", b, BASELINES)
        check_choice("mode", p["mode"], tuple(ALPHA_BETA_MODES))
        check_choice("components", p["components"], SEARCH_COMPONENTS)
        out["methods"] = (ALPHA_BETA_MODES[p["mode"]], *dict.fromkeys(baselines))
        key = f"{p['dataset']}/{self.scale}/{p['components']}"
        if key not in self._setups:
            self.report_progress(0, 1, "fitting the predictor, ranking components, "
                                       "predicting the whole grid")
            b = SearchBudget.for_scale(self.scale)
            self._setups[key] = search_setup(load_component_data(p["dataset"]),
                                             n_trees=b.n_trees, n_repeats=b.n_repeats,
                                             seed=out["seed"], min_grid=b.min_grid,
                                             components=p["components"])
        self.setup = self._setups[key]
        return out

    def compute(self, prepared: dict[str, Any]) -> dict[str, Any]:
        """Run αβ-BO and every baseline, seed by seed, recording each predictor call."""

        setup = self.setup
        assert setup is not None
        budget = SearchBudget.for_scale(self.scale)
        self.live = []
        methods = prepared["methods"]
        seeds = [prepared["seed"] + i for i in range(prepared["n_seeds"])]
        n_iter = prepared["n_iter"]
        total = len(methods) * len(seeds) * n_iter
        secs: dict[tuple[str, int], list[float]] = {}
        every = max(1, n_iter // 10)  # redrawing a live figure costs: ~10 reports per run
        for m in methods:
            for s in seeds:
                def record(it: int, value: float, m: Method = m, s: int = s) -> None:
                    self.live.append({"method": m, "seed": s, "iteration": it,
                                      "value": value})
                    if it % every == 0 or it == n_iter:
                        self.report_progress(
                            len(self.live), total,
                            f"{METHOD_LABELS[m]}, seed {s}: call {it}/{n_iter}")

                _, sec = run_method(setup, m, n_iter=n_iter, seed=s, budget=budget,
                                    init_rows=prior_rows(setup, budget.init_rows, s),
                                    alpha=prepared["alpha"], beta=prepared["beta"],
                                    omega=prepared["omega"], callback=record)
                secs[m, s] = sec
        curves = self._frame()
        curves["search_s"] = np.concatenate([np.cumsum(secs[m, s]) for m in methods
                                             for s in seeds])
        return {"curves": curves, "table": method_table(curves),
                "setup": setup.describe(), "params": dict(prepared)}

    def _frame(self) -> pd.DataFrame:
        import pandas as pd

        frame = pd.DataFrame(self.live, columns=["method", "seed", "iteration", "value"])
        v = frame["value"].astype(float).where(np.isfinite(frame["value"].astype(float)),
                                                -np.inf)
        frame["best_so_far"] = v.groupby([frame["method"], frame["seed"]]).cummax()
        assert self.setup is not None
        frame["regret"] = self.setup.regret(frame["best_so_far"].to_numpy())
        return frame

    def table(self) -> pd.DataFrame:
        """Final regret per method (mean, 95 % interval over seeds, share at the grid maximum,
        rank) of the last run.

        Raises
        ------
        EffdlError
            Nothing has been run yet.
        """
        if self.result is None:
            raise EffdlError("no result yet: run the panel first")
        return self.result["table"]

    def figure(self) -> Figure:
        """Regret curves (mean, 95 % bootstrap band over seeds) of the result or the live run.

        Raises
        ------
        EffdlError
            Nothing has been run yet.
        """
        from matplotlib.figure import Figure

        if self.result is not None:
            curves = self.result["curves"]
        elif self.live:
            curves = self._frame()
        else:
            raise EffdlError("no search result yet: run the panel first")
        fig = Figure(figsize=(7.0, 4.0), layout="constrained")
        ax = fig.subplots()
        plot_search_curves(curves, ax=ax)
        if self.setup is not None:
            d = self.setup.describe()
            fixed = f"; fixed at the task: {', '.join(d['fixed'])}" if d["fixed"] else ""
            ax.set_title(f"{DATASET_LABELS[d['dataset']]}: {d['n_candidates']} candidates over "
                         f"{', '.join(d['components'])}{fixed}", fontsize="x-small", wrap=True)
        return fig

    def summary(self) -> str:
        """One line about the last result, or the status."""
        if self.result is None:
            return self.status
        t = self.result["table"]
        best = t.iloc[0]
        return (f"lowest regret: {best['method']} {best['regret mean']:.4f} "
                f"[{best['regret lo']:.4f}, {best['regret hi']:.4f}] (95 % CI over "
                f"{int(best['seeds'])} seeds), at the grid maximum in "
                f"{100 * best['at grid max']:.0f} % of seeds, after "
                f"{int(self.result['curves']['iteration'].max())} predictor calls")


class SearchPanel(Panel):
    """α, β, Ω and budget sliders, αβ-BO's mode, searched components; run αβ-BO against
    baselines; live regret curves with bands and the regret table.

    Parameters
    ----------
    controller : SearchController, optional
        Made from ``scale`` and ``params`` when not given.
    scale : {"smoke", "small", "paper"}
    export_stem : str
        Initial export path (without extension).
    **params
        Initial parameters for a new controller.

    Examples
    --------
    >>> from effdl_kit.widgets import SearchPanel
    >>> SearchPanel(scale="smoke")  # doctest: +SKIP
    """

    controller: SearchController

    def __init__(self, controller: SearchController | None = None, *,
                 scale: Scale = "small", export_stem: str = "figures/search",
                 **params: Any) -> None:
        import ipywidgets as W

        controller = resolve_controller(SearchController, controller, scale, params)
        p = controller.params
        style = {"description_width": "90px"}
        controls = {
            "dataset": W.Dropdown(options=[(DATASET_LABELS[d], d) for d in DATASETS],
                                  description="dataset", style=style),
            "mode": W.Dropdown(options=[("kit (AlphaBetaSampler)", "kit"),
                                        ("authors' choices", "faithful"),
                                        ("grid, fitted-noise GP", "grid")],
                               description="αβ-BO", style=style),
            "components": W.Dropdown(options=[("controllable (task fixed)", "controllable"),
                                              ("all (paper's)", "all")],
                                     description="components", style=style),
            "alpha": W.FloatSlider(min=0.0, max=3.5, step=0.01, description="α", style=style),
            "beta": W.FloatSlider(min=0.0, max=3.5, step=0.01, description="β", style=style),
            "omega": W.FloatSlider(min=0.0, max=1.0, step=0.01, description="Ω", style=style),
            "n_iter": W.IntSlider(min=1, max=max(500, int(p["n_iter"])), description="budget",
                                  style=style),
            "n_seeds": W.IntSlider(min=1, max=10, description="seeds", style=style),
            "baselines": W.SelectMultiple(options=[(METHOD_LABELS[b], b) for b in BASELINES],
                                          description="baselines", style=style),
            "seed": W.BoundedIntText(min=0, max=SEED_MAX, value=0, description="seed",
                                     style=style),
        }
        super().__init__(controller, controls, title="αβ-BO search on the static predictor",
                         export_stem=export_stem, live_figure=True)
        self.summary = W.HTML("")
        self.table = W.HTML("")
        children = list(self.widget.children)
        children.insert(children.index(self.figure_area) + 1, self.table)
        self.widget.children = (*children, self.summary)
        controller.on_change(self._on_result)

    def _on_result(self, event: Any) -> None:
        c = self.controller
        if event.kind == "result":
            self.table.value = "" if c.result is None else c.table().to_html(
                index=False, float_format=lambda v: f"{v:.4f}", border=0)
        if event.kind in ("result", "status"):
            self.summary.value = html.escape(c.summary())
