"""Latency-aware component recommendation, then confirmation by training: the controller.

:class:`RecommendController` validates a request (:func:`effdl_kit.recommend.check_request`: a
budget that is not a number > 0, an unknown task or device, a device without a latency dataset
fail before any work), then runs :func:`~effdl_kit.recommend.recommend` and, with a trainings
budget above 0, :func:`~effdl_kit.recommend.confirm` on the top candidates, reporting progress
through both. The slow part, :func:`~effdl_kit.recommend.prepare` (static predictor, latency
models and their calibration), is cached per (task, device, scale, seed) in
:attr:`RecommendController.prepared`: moving the budget (or the mode, or the trainings) and
running again costs only the search. :class:`~effdl_kit.widgets.RecommendPanel`
(:mod:`._recommend`) is its ipywidgets view.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import pandas as pd

from effdl_kit._core.types import ProgressFn
from effdl_kit._core.validate import SCALES, Scale, check_int, check_scale
from effdl_kit.errors import EffdlError
from effdl_kit.measure import check_device
from effdl_kit.recommend import (
    CandidateSpace,
    Confirmation,
    LatencyPredictor,
    Recommendation,
    RecommendBudget,
    TrainedCandidate,
    check_request,
    confirm,
    prepare,
    recommend,
)
from effdl_kit.reports import figure as paper_figure
from effdl_kit.reports import plot_recommendation

from ._base import PanelController
from ._controller import EXPORT_FORMATS
from ._events import _close

if TYPE_CHECKING:
    from collections.abc import Sequence

    from matplotlib.figure import Figure

__all__ = ["RECOMMEND_DEFAULTS", "PreparedKey", "RecommendController"]

#: defaults per scale; ``n_iter`` None: the scale's search budget; 0.15 ms is about the median
#: measured latency of the digits grid on the development CPU (a budget that binds)
RECOMMEND_DEFAULTS: dict[str, dict[str, Any]] = {
    scale: {"task": "digits", "device": "cpu", "latency_budget_ms": 0.15,
            "trainings": {"smoke": 1, "small": 3, "paper": 5}[scale], "scale": scale,
            "mode": "constrained", "n_iter": None, "seed": 0}
    for scale in SCALES
}
#: (task, device kind, scale, seed): what :func:`~effdl_kit.recommend.prepare` depends on
PreparedKey = tuple[str, str, str, int]
Parts = tuple[CandidateSpace, LatencyPredictor]
#: the predicted columns of the ranked table, renamed for display
_PREDICTED = {"accuracy": "predicted_accuracy", "latency_ms": "predicted_ms",
              "latency_lo_ms": "predicted_lo_ms", "latency_hi_ms": "predicted_hi_ms"}
_MEASURED = {"accuracy": "test_accuracy", "measured_ms": "measured_ms",
             "within_budget": "within_budget", "diagnosis": "diagnosis", "error": "error"}
_PREPARE_STEPS = 3


class RecommendController(PanelController):
    """Controller of :class:`RecommendPanel`: recommend under a latency budget, then train.

    Parameters
    ----------
    scale : {"smoke", "small", "paper"}
        The initial ``scale`` parameter (budgets of the search, the latency models and the
        trainings: :class:`~effdl_kit.recommend.RecommendBudget`).
    **params
        Any of :data:`RECOMMEND_DEFAULTS`: ``task``, ``device`` (a kind with a latency
        dataset, :func:`~effdl_kit.recommend.latency_devices`), ``latency_budget_ms`` (> 0),
        ``trainings`` (top candidates trained and timed; 0: predict only), ``scale``,
        ``mode`` ("constrained" or "unconstrained"), ``n_iter`` (static-predictor calls of the
        search; None: the scale's), ``seed``; validated on :meth:`run`.

    Attributes
    ----------
    prepared : dict
        :func:`~effdl_kit.recommend.prepare`'s fitted parts per :data:`PreparedKey`
        ``(task, device, scale, seed)``, reused by every run with that key (a new budget
        costs only the search). Put parts there to skip fitting (tests do:
        ``controller.prepared["digits", "cpu", "smoke", 0] = prepare(...)``); clear it to
        fit again.
    prepare_calls : int
        How many times a run called ``prepare`` (the cache missed).
    recommendation : Recommendation or None
        The current run's search result, once the search ended (the live figure's front).
    trials : list of TrainedCandidate
        The current run's trained candidates, as they arrive.
    result : dict or None
        ``{"recommendation": Recommendation, "confirmation": Confirmation or None,
        "trials": list, "prepared_reused": bool}``; a run stopped during the search keeps
        what the search evaluated (``recommendation.stopped``), one stopped during training
        the candidates trained so far (``confirmation.stopped``); a stop while fitting leaves
        nothing.
    """

    defaults: ClassVar[Mapping[str, Any]] = RECOMMEND_DEFAULTS["small"]
    name: ClassVar[str] = "recommend"
    unit: ClassVar[str] = "step"

    def __init__(self, *, scale: Scale = "small", **params: Any) -> None:
        self.prepared: dict[PreparedKey, Parts] = {}
        self.prepare_calls = 0
        self.recommendation: Recommendation | None = None
        self.trials: list[TrainedCandidate] = []
        #: bumped when the live figure has something new (the front, a trained candidate)
        self.live_version = 0
        self._reused = False
        self._searched = 0
        self._offset = 0
        self._total = 1
        super().__init__(scale=scale, **params)

    def scale_defaults(self, scale: Scale) -> Mapping[str, Any]:
        """``RECOMMEND_DEFAULTS[scale]``."""
        return RECOMMEND_DEFAULTS[scale]

    def prepare(self) -> dict[str, Any]:
        """Check every parameter (the library's request check), before any work.

        Raises
        ------
        ConfigError
            Naming the field: a budget that is not > 0, an unknown task, device or scale, a
            device without a latency dataset, a bad seed, ``n_iter`` or ``trainings``.
        DeviceNotAvailableError
            Trainings asked for on a GPU this machine does not have (field ``device``).
        """
        p = self.params
        scale = check_scale(p["scale"])
        task, kind, budget = check_request(p["task"], p["device"], p["latency_budget_ms"],
                                           n_iter=p["n_iter"], seed=p["seed"], scale=scale,
                                           mode=p["mode"])
        trainings = check_int("trainings", p["trainings"], min_value=0)
        if trainings > 0:  # trained networks are timed on the device: it must be here
            check_device("cpu" if kind == "cpu" else "cuda", field="device")
        self.scale = scale  # exported figures record the scale the run used
        return {"task": task, "device": kind, "budget": budget, "scale": scale,
                "seed": int(p["seed"]), "mode": p["mode"], "trainings": trainings,
                "n_iter": None if p["n_iter"] is None else int(p["n_iter"])}

    # ------------------------------------------------------------------ the run
    def parts(self, key: PreparedKey | None = None, *,
              progress: ProgressFn | None = None) -> Parts:
        """The fitted parts for ``key`` (default: the current parameters), from
        :attr:`prepared` or fitted now (then cached; ``progress`` passed to ``prepare``)."""
        if key is None:
            q = self.prepare()
            key = (q["task"], q["device"], q["scale"], q["seed"])
        if key not in self.prepared:
            task, device, scale, seed = key
            self.prepared[key] = prepare(task, device, scale=scale, seed=seed,
                                         progress=progress)
            self.prepare_calls += 1
        return self.prepared[key]

    def _step(self, done: int, message: str) -> None:
        self.report_progress(self._offset + done, self._total, message)

    def compute(self, prepared: dict[str, Any]) -> dict[str, Any]:
        """Fit (or reuse) the parts, search, then train and time the top candidates.

        Stops: at a fitting stage boundary (nothing to show), after the current search
        iteration (at least one is run), at the end of the current training epoch.
        """
        q = prepared
        self.recommendation, self.trials = None, []
        self._searched = 0
        key: PreparedKey = (q["task"], q["device"], q["scale"], q["seed"])
        self._reused = key in self.prepared
        n_iter = q["n_iter"] if q["n_iter"] is not None else _scale_iterations(q["scale"])
        self._offset = 0
        self._total = (0 if self._reused else _PREPARE_STEPS) + n_iter + q["trainings"]
        if not self._reused:
            def fitting(done: int, _total: int, message: str) -> None:
                self.check_stop()  # a stage boundary: a stop leaves nothing to show
                self._step(done, f"preparing: {message}")

            self.parts(key, progress=fitting)
            self._offset = _PREPARE_STEPS
        self.check_stop()

        def searching(done: int, _total: int, message: str) -> None:
            self._searched = done
            self._step(done, message)

        rec = recommend(q["task"], q["device"], q["budget"], n_iter=n_iter, seed=q["seed"],
                        scale=q["scale"], mode=q["mode"], progress=searching,
                        prepared=self.prepared[key],
                        should_stop=lambda: self._searched > 0 and self.should_stop())
        self.recommendation = rec
        self.live_version += 1  # the report below draws the front
        self._step(self._searched, f"searched: {len(rec.candidates)} candidates")
        self._offset += self._searched  # all n_iter unless stopped (then no training)
        if q["trainings"] == 0 or self.should_stop():
            return self._result(None)

        def training(done: int, total: int, message: str) -> None:
            self._total = self._offset + total
            self._step(done, message)

        def arrived(trial: TrainedCandidate) -> None:
            self.trials.append(trial)
            self.live_version += 1  # the progress report below redraws the live figure
            last = self.last_progress
            self.report_progress(last.done if last is not None else self._offset, self._total,
                                 f"trained {len(self.trials)}/{q['trainings']}: measured "
                                 f"{trial.measured_ms:.3g} ms")

        conf = confirm(rec, q["trainings"], progress=training, should_stop=self.should_stop,
                       on_trial=arrived)
        return self._result(conf)

    def _result(self, conf: Confirmation | None) -> dict[str, Any]:
        assert self.recommendation is not None
        return {"recommendation": self.recommendation, "confirmation": conf,
                "trials": list(self.trials), "prepared_reused": self._reused}

    def partial_result(self) -> dict[str, Any] | None:
        """The search's result when the run stopped after it (None when it stopped while
        fitting: nothing to show)."""
        return self._result(None) if self.recommendation is not None else None

    # ------------------------------------------------------------------ what is shown
    def table(self) -> pd.DataFrame | None:
        """Ranked candidates: rank, searched components, predicted top-1, latency and
        interval, P(feasible); for trained ones their test top-1, measured latency, within
        budget, diagnosis and error (None before a result)."""
        res = self.result
        if res is None:
            return None
        rec: Recommendation = res["recommendation"]
        cols = ["rank", *rec.components, *_PREDICTED, "p_feasible"]
        t = rec.table()[cols].rename(columns=_PREDICTED)
        conf: Confirmation | None = res["confirmation"]
        if conf is not None and conf.trials:
            f = conf.frame()[["rank", *_MEASURED]].rename(columns=_MEASURED)
            t = t.merge(f, on="rank", how="left")
        return t

    def figure(self) -> Figure:
        """The recommendation (live: the front once the search ended, then each trained
        candidate as it arrives) with :func:`~effdl_kit.reports.plot_recommendation`.

        Raises
        ------
        EffdlError
            Nothing to draw yet.
        """
        res = self.result
        rec = res["recommendation"] if res is not None else self.recommendation
        if rec is None:
            raise EffdlError("no recommendation yet: run the panel first")
        fig, ax = paper_figure("double", aspect=0.45, pyplot=False)
        try:
            if res is not None and res["confirmation"] is not None:
                plot_recommendation(rec, res["confirmation"], ax=ax)
            else:
                trials: Sequence[TrainedCandidate] = res["trials"] if res is not None \
                    else list(self.trials)
                plot_recommendation(rec, ax=ax, measured=trials)
        except BaseException:
            _close(fig)
            raise
        return fig

    def provenance(self) -> dict[str, Any]:
        """The base provenance plus whether the fitted parts were reused and what the run
        finished (search stopped, candidates trained)."""
        out = super().provenance()
        res = self.result
        if res is not None:
            conf = res["confirmation"]
            out.update({"prepared_reused": res["prepared_reused"],
                        "search_stopped": bool(res["recommendation"].stopped),
                        "candidates": len(res["recommendation"].candidates),
                        "trained": len(conf.trials) if conf is not None else 0})
        return out

    def export(self, path_stem: str | Path, formats: Sequence[str] = EXPORT_FORMATS, *,
               raise_errors: bool = True) -> list[Path]:
        """The figure (:meth:`PanelController.export`: PDF/SVG/PNG with provenance), then
        ``<stem>_recommendation.json`` and, after trainings, ``<stem>_confirmation.json``
        (the library's JSON; a stopped run's partial results say ``"stopped": true``)."""
        paths = super().export(path_stem, formats, raise_errors=raise_errors)
        if not paths:
            return paths
        res = self.result
        stem = Path(path_stem)
        try:
            out = stem.with_name(f"{stem.name}_recommendation.json")
            res["recommendation"].to_json(out)
            paths.append(out)
            if res["confirmation"] is not None:
                out = stem.with_name(f"{stem.name}_confirmation.json")
                res["confirmation"].to_json(out)
                paths.append(out)
        except Exception as exc:
            if raise_errors:
                raise
            self.record_error(exc, set_status=False, field="export")
            return []
        return paths

    def summary(self) -> str:
        """One line that follows the state: the best candidate within the budget and, when
        trained, what training and timing gave ("" after an error)."""
        if self.status == "running":
            return self.status_text()
        res = self.result
        if res is None:
            return "" if self.status == "error" else self.status_text()
        rec: Recommendation = res["recommendation"]
        head = "search stopped; " if rec.stopped else ""
        if not len(rec.candidates):
            return head + "no candidate evaluated"
        best = rec.table(1).iloc[0]
        feasible = best["p_feasible"] >= 0.5
        line = (f"{head}{len(rec.candidates)} candidates; best "
                f"{'within' if feasible else 'OVER'} the {_ms(rec.latency_budget_ms)} budget: "
                f"predicted top-1 {best['accuracy']:.3f}, {best['latency_ms']:.3g} ms "
                f"[{best['latency_lo_ms']:.3g}, {best['latency_hi_ms']:.3g}]")
        conf: Confirmation | None = res["confirmation"]
        if conf is not None and conf.trials:
            s = conf.summary()
            line += (f"; trained {s['n_confirmed']}: mean test top-1 {s['mean_accuracy']:.3f}, "
                     f"{100 * s['share_within_budget']:.0f} % within budget when measured")
            if s["n_stopped_by_diagnosis"] or s["n_failed"]:
                line += (f" ({s['n_stopped_by_diagnosis']} stopped by diagnosis, "
                         f"{s['n_failed']} failed)")
        if not res["prepared_reused"]:
            line += "; predictor and latency models fitted (reused for the next budget)"
        return line


def _ms(budget: float) -> str:
    return "unbounded" if math.isinf(budget) else f"{budget:.3g} ms"


def _scale_iterations(scale: str) -> int:
    return RecommendBudget.for_scale(scale).n_iter

