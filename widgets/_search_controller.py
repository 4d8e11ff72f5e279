"""αβ-BO on the static predictor against baselines, live (EfficientDL's search step).

:class:`SearchController` validates α, β, Ω, the budget, the αβ-BO mode and the baselines,
builds (once per dataset, scale and searchable components, then cached) the search problem of
:func:`effdl_kit.experiments.efficientdl.search_setup` — the predictor, its Top-5 components
(by default among those a user controls, the task's data components held fixed), the grid and
its exhaustive maximum, the dataset rows as prior data — and runs αβ-BO (the kit's sampler, the
authors' choices or the grid engine with the fitted-noise GP) and each baseline on the same
budget, seed by seed, recording every predictor call so the regret curves (with 95 % bootstrap
bands over seeds) grow live; its study views are built by :mod:`._search_study`.
:class:`~effdl_kit.widgets.SearchPanel` (:mod:`._search`) is its ipywidgets view.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from effdl_kit._core import SEED_MAX
from effdl_kit._core.errors import ConfigError, EffdlError
from effdl_kit._core.validate import SCALES, Scale, check_choice, check_float, check_int
from effdl_kit.experiments.efficientdl import (
    DATASETS,
    METHOD_LABELS,
    METHODS,
    SEARCH_COMPONENTS,
    Method,
    SearchBudget,
    SearchSetup,
    load_component_data,
    method_table,
    prior_rows,
    run_method,
    search_setup,
)
from effdl_kit.reports import figure as paper_figure

from ._base import PanelController
from ._controller import _close
from ._search_study import (
    draw_curves,
    draw_importance,
    draw_parallel,
    evaluations_study,
    recording_setup,
)

if TYPE_CHECKING:
    import optuna
    import pandas as pd
    from matplotlib.figure import Figure

__all__ = ["ALPHA_BETA_MODES", "BASELINES", "SEARCH_DEFAULTS", "SEARCH_VIEWS",
           "SearchController"]

#: the views of a search run: view -> its button label
SEARCH_VIEWS: dict[str, str] = {"curves": "regret curves", "importance": "importance",
                                "parallel": "parallel coordinates"}

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
        One record per predictor call of the current run (method, seed, iteration, value,
        the configuration evaluated).
    result : dict or None
        ``{"curves": DataFrame, "table": DataFrame or None, "setup": dict, "params": dict,
        "evaluations": DataFrame, "partial": bool}`` of the last run (``"study"`` is added
        by :meth:`study`). A stopped run keeps the calls finished before the stop.
    view : str
        What :meth:`figure` draws (a key of :data:`SEARCH_VIEWS`).
    yscale : str
        The regret axis' scale in the curves view.
    """

    defaults: ClassVar[Mapping[str, Any]] = SEARCH_DEFAULTS["small"]
    name: ClassVar[str] = "search"
    unit: ClassVar[str] = "predictor call"
    supports_overlay: ClassVar[bool] = True
    draws_yscale: ClassVar[bool] = True

    def __init__(self, *, scale: Scale = "small", **params: Any) -> None:
        self.setup: SearchSetup | None = None
        self._setups: dict[str, SearchSetup] = {}
        self.live: list[dict[str, Any]] = []
        self._configs: list[dict[str, Any]] = []
        self._secs: dict[tuple[str, int], list[float]] = {}
        self._prepared: dict[str, Any] = {}
        #: what :meth:`figure` draws: a key of :data:`SEARCH_VIEWS`
        self.view: str = "curves"
        #: y scale of the regret curves ("linear", "log" or "symlog")
        self.yscale: str = "linear"
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
        """Run αβ-BO and every baseline, seed by seed, recording each predictor call and its
        configuration; a stop ends the run after the current predictor call."""
        setup = self.setup
        assert setup is not None
        budget = SearchBudget.for_scale(self.scale)
        self.live = []
        self._configs = []
        self._secs = {}
        self._prepared = prepared
        recording = recording_setup(setup, self._configs)
        methods = prepared["methods"]
        seeds = [prepared["seed"] + i for i in range(prepared["n_seeds"])]
        n_iter = prepared["n_iter"]
        total = len(methods) * len(seeds) * n_iter
        every = max(1, n_iter // 10)  # redrawing a live figure costs: ~10 reports per run
        for m in methods:
            for s in seeds:
                self.check_stop()  # a seed boundary

                def record(it: int, value: float, m: Method = m, s: int = s) -> None:
                    config = self._configs[-1] if self._configs else {}
                    self.live.append({"method": m, "seed": s, "iteration": it,
                                      "value": value, "config": config})
                    if it % every == 0 or it == n_iter:
                        self.report_progress(
                            len(self.live), total,
                            f"{METHOD_LABELS[m]}, seed {s}: call {it}/{n_iter}")
                    self.check_stop()  # a predictor-call boundary

                _, sec = run_method(recording, m, n_iter=n_iter, seed=s, budget=budget,
                                    init_rows=prior_rows(setup, budget.init_rows, s),
                                    alpha=prepared["alpha"], beta=prepared["beta"],
                                    omega=prepared["omega"], callback=record)
                self._secs[m, s] = sec
        return self._result(partial=False)

    def partial_result(self) -> dict[str, Any] | None:
        """The predictor calls finished before the stop (curves; the table of the method and
        seed runs that finished), or None before the first call."""
        return self._result(partial=True) if self.live else None

    def _result(self, *, partial: bool) -> dict[str, Any]:
        curves = self._frame()
        done = curves.groupby(["method", "seed"])["iteration"].transform("max") \
            == self._prepared["n_iter"]
        table = method_table(curves[done]) if done.any() else None
        return {"curves": curves, "table": table, "setup": self.setup.describe()
                if self.setup is not None else {}, "params": dict(self._prepared),
                "evaluations": self._evaluations(), "partial": partial}

    def _search_seconds(self, curves: pd.DataFrame) -> list[float]:
        """Cumulative search seconds of each call (NaN for a method and seed run that has
        not finished: its seconds come with its end)."""
        secs = [self._secs.get((str(m), int(s)), []) for m, s in
                zip(curves["method"], curves["seed"], strict=True)]
        it = curves["iteration"].to_numpy()
        return [float(np.cumsum(x)[i - 1]) if len(x) >= i else np.nan
                for x, i in zip(secs, it, strict=True)]

    def _evaluations(self) -> pd.DataFrame:
        import pandas as pd

        rows = [{"method": r["method"], "seed": r["seed"], "iteration": r["iteration"],
                 "value": r["value"], **r["config"]} for r in self.live]
        return pd.DataFrame(rows)

    def _frame(self) -> pd.DataFrame:
        import pandas as pd

        frame = pd.DataFrame([{k: r[k] for k in ("method", "seed", "iteration", "value")}
                              for r in self.live],
                             columns=["method", "seed", "iteration", "value"])
        v = frame["value"].astype(float).where(np.isfinite(frame["value"].astype(float)),
                                                -np.inf)
        frame["best_so_far"] = v.groupby([frame["method"], frame["seed"]]).cummax()
        assert self.setup is not None
        frame["regret"] = self.setup.regret(frame["best_so_far"].to_numpy())
        frame["search_s"] = self._search_seconds(frame)
        return frame

    def table(self) -> pd.DataFrame | None:
        """Final regret per method (mean, 95 % interval over seeds, share at the grid maximum,
        rank) of the last run; for a stopped run, of its finished method and seed runs (None
        when none finished).

        Raises
        ------
        EffdlError
            Nothing has been run yet.
        """
        if self.result is None:
            raise EffdlError("no result yet: run the panel first")
        table: pd.DataFrame | None = self.result["table"]
        return table

    def study(self) -> optuna.Study:
        """The in-memory Optuna study of the last result's predictor calls (one trial per
        call; see :func:`~effdl_kit.widgets._search_study.evaluations_study`), built once.

        Raises
        ------
        EffdlError
            Nothing has been run yet.
        """
        res = self.result
        if res is None:
            raise EffdlError("no result yet: run the panel first")
        if "study" not in res:
            res["study"] = evaluations_study(res["evaluations"], res["setup"]["values"],
                                             name=f"search panel ({self.scale})")
        study: optuna.Study = res["study"]
        return study

    def provenance(self) -> dict[str, Any]:
        """The base provenance plus the view drawn and its y scale."""
        return {**super().provenance(), "view": self.view, "yscale": self.yscale}

    def figure(self) -> Figure:
        """The chosen :attr:`view` of the result (or, for ``"curves"``, of the live run).

        ``"curves"``: mean simple regret per method with its 95 % bootstrap band over seeds,
        earlier runs overlaid faintly; ``"importance"``: fANOVA importance of each searched
        component for the predicted accuracy over every predictor call; ``"parallel"``:
        parallel coordinates of every evaluated configuration.

        Raises
        ------
        EffdlError
            Nothing to draw yet.
        """
        check_choice("view", self.view, tuple(SEARCH_VIEWS))
        fig, ax = paper_figure("double", aspect=0.5, pyplot=False)
        if self.view != "curves" and self.result is not None:
            if self.view == "importance":
                draw_importance(self.study(), ax=ax, seed=int(self.params["seed"]))
            else:
                draw_parallel(self.study(), ax=ax)
            return fig
        # the curves; also what a running search shows in any view (its study is not built)
        if self.result is not None:
            curves = self.result["curves"]
        elif self.live:
            curves = self._frame()
        else:
            _close(fig)
            raise EffdlError("no search result yet: run the panel first")
        earlier = [r for r in self.runs if r.result is not self.result]
        draw_curves(curves, ax=ax, earlier=earlier, yscale=self.yscale,
                    setup=None if self.setup is None else self.setup.describe())
        return fig

    def summary(self) -> str:
        """One line that follows the state: the status while running, the best method of a
        finished (or stopped) run, nothing after an error (the error is shown)."""
        if self.status == "running":
            return self.status_text()
        if self.result is None:
            return "" if self.status == "error" else self.status_text()
        t = self.result["table"]
        calls = int(self.result["curves"]["iteration"].max())
        if t is None or t.empty:
            return f"stopped after {len(self.result['curves'])} predictor calls; no method " \
                   "and seed run finished"
        best = t.iloc[0]
        head = "stopped; among the finished runs, " if self.result["partial"] else ""
        return (f"{head}lowest regret: {best['method']} {best['regret mean']:.4f} "
                f"[{best['regret lo']:.4f}, {best['regret hi']:.4f}] (95 % CI over "
                f"{int(best['seeds'])} seeds), at the grid maximum in "
                f"{100 * best['at grid max']:.0f} % of seeds, after {calls} predictor calls")
