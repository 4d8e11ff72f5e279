"""Confirmation of a recommendation by real training and real latency (issue 19, item 2).

:func:`train_and_measure` is the unit every route shares (the recommendation's confirmation
and the feedback-based studies it is compared with): one candidate trained by the kit's bench
guarded by BTTackler's diagnosis (:class:`~effdl_kit.diagnosis.DiagnosisHook`: a sick training
stops at the end of the epoch an indicator fires in, and the indicator is reported), then the
trained network timed on the device with :func:`~effdl_kit.measure.measure_latency` under the
protocol of the whole-model calibration set (batch 1, one intra-op thread on a CPU, warm-up then
timed calls, median kept). A training that fails is recorded with its reason; the others go on.

:func:`confirm` trains and measures the ``top`` ranked candidates of a
:class:`~effdl_kit.recommend.Recommendation` and returns a :class:`Confirmation`: realised vs
predicted accuracy, measured vs predicted latency (and whether the calibrated interval held
it), the share of recommendations inside the budget, and the compute spent (the
recommendation's own seconds plus every training and measurement).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from effdl_kit._core.errors import ConfigError
from effdl_kit._core.jsonable import as_float, json_ready
from effdl_kit._core.types import ProgressFn
from effdl_kit._core.validate import check_int, check_scale
from effdl_kit.recommend._candidates import build_candidate, plain, task_input
from effdl_kit.recommend._latency import LatencyPredictor
from effdl_kit.recommend._result import Recommendation, read_result, write_result
from effdl_kit.recommend._settings import TASKS

__all__ = ["CONFIRM_FORMAT", "MEASURE_PROTOCOL", "Confirmation", "TrainedCandidate", "confirm",
           "train_and_measure"]

CONFIRM_FORMAT = "effdl-recommend-confirmation/1"
#: latency measurement per scale: the whole-model calibration set's protocol at small/paper
MEASURE_PROTOCOL: dict[str, dict[str, int]] = {
    "smoke": {"warmup": 2, "repeats": 8},
    "small": {"warmup": 10, "repeats": 50},
    "paper": {"warmup": 10, "repeats": 50},
}
_STATE_KEYS = ("mem_available_mib", "utilization_pct", "load_avg_1m")
_INT_COMPONENTS = ("depth", "base_channels", "width", "kernel_size", "epochs", "batch_size",
                   "n_train", "threads")


@dataclass
class TrainedCandidate:
    """One candidate trained (BTTackler-guarded) and timed on the device.

    Attributes
    ----------
    task : str
    components : dict
        Every component of the training (searched and fixed).
    seed : int
        Training seed.
    accuracy : float
        Test Top-1 of the trained network (NaN when the training failed).
    val_accuracy : float
        Last epoch's validation Top-1.
    epochs, epochs_run : int
        Epochs configured and run.
    diagnosis : str or None
        Indicator codes that stopped the training early ("VG", "EG", ...), None when healthy.
    diagnosis_reason : str
    error : str or None
        Why the training failed (exception or non-finite loss); None when it ran.
    measured_ms : float
        Median measured latency of the trained network, batch 1 (NaN when not measured).
    train_s, measure_s : float
        Wall seconds of the training and of the measurement.
    state : dict
        Device state read just before the timed calls (``mem_available_mib``,
        ``utilization_pct`` of other processes, ``load_avg_1m``); empty when not measured.
    """

    task: str
    components: dict[str, Any]
    seed: int
    accuracy: float
    val_accuracy: float
    epochs: int
    epochs_run: int
    diagnosis: str | None
    diagnosis_reason: str
    error: str | None
    measured_ms: float
    train_s: float
    measure_s: float
    state: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Trained without a failure (a diagnosis stop still counts as trained)."""
        return self.error is None and math.isfinite(self.accuracy)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


def _components(components: Mapping[str, Any]) -> dict[str, Any]:
    out = {str(k): plain(v) for k, v in components.items()}
    for k in _INT_COMPONENTS:
        if isinstance(out.get(k), float) and out[k].is_integer():
            out[k] = int(out[k])
    return out


def train_and_measure(task: str, components: Mapping[str, Any], *, device: str = "cpu",
                      seed: int = 0, scale: str = "small", diagnose: bool = True,
                      should_stop: Callable[[], bool] | None = None,
                      on_epoch: Callable[[int, int], None] | None = None) -> TrainedCandidate:
    """Train one candidate with the bench (BTTackler-guarded) and time the trained network.

    Parameters
    ----------
    task : {"digits", "synthetic"}
    components : mapping
        The candidate's components (searched and fixed; :func:`~effdl_kit.data.component_config`).
    device : {"cpu", "gpu"}
        Where the latency is measured (training runs on the bench's default device).
    seed : int
    scale : {"smoke", "small", "paper"}
        Training scale of :func:`~effdl_kit.data.component_config` and the measurement
        protocol (:data:`MEASURE_PROTOCOL`). With ``diagnose`` a one-epoch training is run for
        two epochs (the diagnosis compares the halves of a run).
    diagnose : bool
        Guard the training with :class:`~effdl_kit.diagnosis.DiagnosisHook` (stop on an
        indicator).
    should_stop : callable, optional
        Checked at every epoch end: True ends the training there (``error`` says so, no
        latency is measured).
    on_epoch : callable, optional
        ``on_epoch(epochs_done, epochs)`` after every epoch.

    Returns
    -------
    TrainedCandidate
        A failing training is recorded (``error``), not raised.

    Raises
    ------
    ConfigError
        Unknown task, device or scale, a bad seed, components the bench refuses.
    """
    from effdl_kit.data import component_config
    from effdl_kit.diagnosis import DiagnosisHook
    from effdl_kit.measure import measure_latency
    from effdl_kit.training import CallbackHook, Hook, TrainState, train

    if task not in TASKS:
        raise ConfigError("task", task, TASKS)
    if device not in ("cpu", "gpu"):
        raise ConfigError("device", device, ("cpu", "gpu"))
    check_scale(scale)
    check_int("seed", seed, min_value=0, max_value=2**31 - 1)
    comps = _components({**components, "dataset": task})
    cfg = component_config(comps, scale=scale, seed=seed)
    if diagnose and cfg.epochs < 2:
        cfg = dataclasses.replace(cfg, epochs=2)
    guard = DiagnosisHook() if diagnose else None
    user_stop: list[str] = []

    def at_epoch_end(state: TrainState) -> None:
        if on_epoch is not None:
            on_epoch(len(state.history), int(cfg.epochs))
        if should_stop is not None and should_stop():
            user_stop.append("stopped by the user")
            state.stop("stopped by the user")

    captured: dict[str, Any] = {}
    hooks: list[Hook] = [CallbackHook(epoch_end=at_epoch_end,
                          on_fit_end=lambda s: captured.setdefault("model", s.model))]
    if guard is not None:
        hooks.insert(0, guard)
    del comps["dataset"]
    base: dict[str, Any] = {"task": task, "components": comps, "seed": int(seed),
                            "epochs": int(cfg.epochs)}
    t0 = time.perf_counter()
    try:
        res = train(cfg, hooks=hooks)
    except Exception as exc:  # a failing trial is recorded, the run goes on
        return TrainedCandidate(**base, accuracy=math.nan, val_accuracy=math.nan, epochs_run=0,
                                diagnosis=None, diagnosis_reason="",
                                error=f"{type(exc).__name__}: {exc}", measured_ms=math.nan,
                                train_s=time.perf_counter() - t0, measure_s=0.0)
    train_s = float(res.wall_time_s)
    diag = guard.diagnosis if guard is not None else None
    error = user_stop[0] if user_stop else res.nonfinite_loss
    acc = float(res.test_metric) if error is None else math.nan
    val = float(res.history[-1].val_metric) if res.history else math.nan
    measured, measure_s, state = math.nan, 0.0, {}
    if not user_stop and "model" in captured:
        proto = MEASURE_PROTOCOL[scale]
        shape, _ = task_input(task)
        t1 = time.perf_counter()
        try:
            lat = measure_latency(captured["model"].cpu(), (1, *shape),
                                  device="cpu" if device == "cpu" else "cuda",
                                  warmup=proto["warmup"], repeats=proto["repeats"],
                                  threads=1 if device == "cpu" else None, seed=seed)
        except Exception as exc:  # recorded like a failing training; the run goes on
            error = error or f"latency measurement failed: {type(exc).__name__}: {exc}"
        else:
            measured = float(lat.median_ms)
            state = {k: float(getattr(lat.state, k)) for k in _STATE_KEYS}
        measure_s = time.perf_counter() - t1
    return TrainedCandidate(
        **base, accuracy=acc, val_accuracy=val, epochs_run=res.epochs_run,
        diagnosis=",".join(diag.fired) if diag is not None and res.stopped_early else None,
        diagnosis_reason=diag.reason if diag is not None and res.stopped_early else "",
        error=error, measured_ms=measured, train_s=train_s, measure_s=measure_s, state=state)


#: columns of :meth:`Confirmation.frame`
_PREDICTED = ("rank", "accuracy", "latency_ms", "latency_lo_ms", "latency_hi_ms", "p_feasible")


@dataclass
class Confirmation:
    """The top recommendations trained and measured.

    Attributes
    ----------
    recommendation : dict
        What was confirmed: task, device, budget, scale, seed, mode, searched components and
        the recommendation's wall seconds.
    trials : list of TrainedCandidate
        One per confirmed candidate, in rank order.
    predicted : DataFrame
        The ranked rows they came from (rank, predicted accuracy, latency and interval,
        P(feasible)); with a latency model also ``state_latency_ms`` / ``_lo_ms`` / ``_hi_ms``,
        the prediction at the device state each measurement was made in.
    stopped : bool
        Stopped by the user before the last candidate.
    """

    recommendation: dict[str, Any]
    trials: list[TrainedCandidate]
    predicted: pd.DataFrame
    stopped: bool = False
    env: dict[str, Any] = field(default_factory=dict)

    @property
    def budget_ms(self) -> float:
        b = self.recommendation["latency_budget_ms"]
        return math.inf if b in ("inf", None) else float(b)

    def frame(self) -> pd.DataFrame:
        """One row per confirmed candidate: rank, searched components, predicted and realised
        accuracy, predicted latency (interval) and measured latency, within budget, inside
        the interval, diagnosis, error, seconds."""
        comps = list(self.recommendation["components"])
        rows = []
        for t, (_, p) in zip(self.trials, self.predicted.iterrows(), strict=False):
            row = {"rank": int(p["rank"]), **{c: t.components.get(c) for c in comps},
                   "predicted_accuracy": float(p["accuracy"]), "accuracy": t.accuracy,
                   "predicted_ms": float(p["latency_ms"]),
                   "predicted_lo_ms": float(p["latency_lo_ms"]),
                   "predicted_hi_ms": float(p["latency_hi_ms"]), "measured_ms": t.measured_ms,
                   "within_budget": bool(t.measured_ms <= self.budget_ms),
                   "in_interval": bool(p["latency_lo_ms"] <= t.measured_ms
                                       <= p["latency_hi_ms"]),
                   "load_avg_1m": t.state.get("load_avg_1m", math.nan),
                   "other_cpu_pct": t.state.get("utilization_pct", math.nan),
                   **self._at_state(p, t.measured_ms),
                   "epochs_run": t.epochs_run, "epochs": t.epochs,
                   "diagnosis": t.diagnosis or "", "error": t.error or "",
                   "train_s": t.train_s, "measure_s": t.measure_s}
            rows.append(row)
        return pd.DataFrame(rows)

    @staticmethod
    def _at_state(p: pd.Series, measured: float) -> dict[str, Any]:
        if "state_latency_ms" not in p.index:
            return {}
        lo, hi = float(p["state_latency_lo_ms"]), float(p["state_latency_hi_ms"])
        return {"state_predicted_ms": float(p["state_latency_ms"]), "state_predicted_lo_ms": lo,
                "state_predicted_hi_ms": hi, "in_interval_at_state": bool(lo <= measured <= hi)}

    def summary(self) -> dict[str, Any]:
        """Share inside the budget, interval coverage, accuracy error, compute spent."""
        f = self.frame()
        measured = f[np.isfinite(f["measured_ms"])] if len(f) else f
        ok = f[np.isfinite(f["accuracy"])] if len(f) else f
        feasible = ok[ok["within_budget"]] if len(ok) else ok
        times = self.recommendation.get("time_s", {})
        rec_s = float(times.get("total", 0.0)) + float(times.get("prepare_reused", 0.0))
        train_s = float(f["train_s"].sum()) if len(f) else 0.0
        measure_s = float(f["measure_s"].sum()) if len(f) else 0.0
        nan = math.nan
        return {
            "n_confirmed": len(f),
            "n_failed": int((f["error"] != "").sum()) if len(f) else 0,
            "n_stopped_by_diagnosis": int((f["diagnosis"] != "").sum()) if len(f) else 0,
            "share_within_budget": float(measured["within_budget"].mean())
            if len(measured) else nan,
            "interval_coverage": float(measured["in_interval"].mean()) if len(measured) else nan,
            "median_latency_ratio": float(np.median(measured["measured_ms"]
                                                    / measured["predicted_ms"]))
            if len(measured) else nan,
            "interval_coverage_at_state": float(measured["in_interval_at_state"].mean())
            if len(measured) and "in_interval_at_state" in measured else nan,
            "median_latency_ratio_at_state": float(np.median(
                measured["measured_ms"] / measured["state_predicted_ms"]))
            if len(measured) and "state_predicted_ms" in measured else nan,
            "mean_load_avg_1m": float(measured["load_avg_1m"].mean()) if len(measured) else nan,
            "mean_predicted_accuracy": float(ok["predicted_accuracy"].mean()) if len(ok) else nan,
            "mean_accuracy": float(ok["accuracy"].mean()) if len(ok) else nan,
            "mean_abs_accuracy_error": float((ok["accuracy"] - ok["predicted_accuracy"])
                                             .abs().mean()) if len(ok) else nan,
            "best_feasible_accuracy": float(feasible["accuracy"].max())
            if len(feasible) else nan,
            "recommend_s": rec_s, "train_s": train_s, "measure_s": measure_s,
            "compute_s": rec_s + train_s + measure_s,
        }

    def to_markdown(self, command: str | None = None) -> str:
        """The confirmation as Markdown: one table per candidate (predicted vs realised), one
        of the summary; ``command`` (the one that made it) printed above them."""
        r = self.recommendation
        f = self.frame()
        comps = list(r["components"])

        def num(v: Any, fmt: str = "{:.3f}") -> str:
            return "–" if v is None or (isinstance(v, float) and not math.isfinite(v)) \
                else fmt.format(v)

        rows = [{"rank": int(x["rank"]),
                 "components": ", ".join(f"{c} {x[c]}" for c in comps),
                 "predicted Top-1": num(x["predicted_accuracy"]),
                 "realised Top-1": num(x["accuracy"]),
                 "predicted ms [90 % interval]": f"{num(x['predicted_ms'])} "
                 f"[{num(x['predicted_lo_ms'])}, {num(x['predicted_hi_ms'])}]",
                 "measured ms (load)": f"{num(x['measured_ms'])} "
                 f"({num(x['load_avg_1m'], '{:.1f}')})",
                 **({"predicted at that state [interval]":
                     f"{num(x['state_predicted_ms'])} [{num(x['state_predicted_lo_ms'])}, "
                     f"{num(x['state_predicted_hi_ms'])}]"}
                    if "state_predicted_ms" in x.index else {}),
                 "within budget": "yes" if x["within_budget"] else "no",
                 "BTTackler": x["diagnosis"] or "healthy",
                 "error": x["error"] or "", "train s": num(x["train_s"], "{:.1f}")}
                for _, x in f.iterrows()]
        s = self.summary()
        summary = [
            {"quantity": "confirmed (failed, stopped by BTTackler)",
             "value": f"{s['n_confirmed']} ({s['n_failed']}, {s['n_stopped_by_diagnosis']})"},
            {"quantity": "share with measured latency within the budget",
             "value": num(s["share_within_budget"], "{:.0%}")},
            {"quantity": "share of measured latencies inside their predicted interval",
             "value": num(s["interval_coverage"], "{:.0%}")},
            {"quantity": "median measured / predicted latency",
             "value": num(s["median_latency_ratio"], "{:.2f}")},
            {"quantity": "mean load average (1 min) during the measurements",
             "value": num(s["mean_load_avg_1m"], "{:.1f}")},
            {"quantity": "the same two, predicted at the measured device state",
             "value": f"{num(s['interval_coverage_at_state'], '{:.0%}')} inside, ratio "
             f"{num(s['median_latency_ratio_at_state'], '{:.2f}')}"},
            {"quantity": "mean predicted vs realised Top-1",
             "value": f"{num(s['mean_predicted_accuracy'])} vs {num(s['mean_accuracy'])}"},
            {"quantity": "best realised Top-1 within the budget",
             "value": num(s["best_feasible_accuracy"])},
            {"quantity": "compute: recommend + train + measure (s)",
             "value": f"{s['recommend_s']:.0f} + {s['train_s']:.0f} + {s['measure_s']:.0f}"
             f" = {s['compute_s']:.0f}"},
        ]
        budget = r["latency_budget_ms"]
        head = (f"# Recommendation confirmed: {r['task']} on {r['device']}, budget "
                f"{budget} ms, scale {r['scale']}, seed {r['seed']}\n\n")
        if command:
            head += f"Written by `{command}`.\n\n"
        if self.stopped:
            head += "Stopped by the user before the last candidate.\n\n"
        return (head + pd.DataFrame(rows).to_markdown(index=False, disable_numparse=True) + "\n\n"
                + pd.DataFrame(summary).to_markdown(index=False, disable_numparse=True) + "\n")

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (non-finite numbers as null)."""
        return json_ready({"format": CONFIRM_FORMAT, "recommendation": self.recommendation,
                       "trials": [t.to_dict() for t in self.trials],
                       "predicted": self.predicted.to_dict(orient="list"),
                       "stopped": self.stopped, "summary": self.summary(), "env": self.env})

    def to_json(self, path: str | Path | None = None) -> str:
        """The confirmation as JSON text; also written (atomically) to ``path`` when given."""
        return write_result(self.to_dict(), path)

    @classmethod
    def from_json(cls, source: str | Path) -> Confirmation:
        """Read :meth:`to_json`'s text or a file holding it (DataError if it is not one)."""
        d = read_result(source, CONFIRM_FORMAT, "a confirmation")

        trials = [TrainedCandidate(**{**t, **{k: as_float(t[k]) for k in (
            "accuracy", "val_accuracy", "measured_ms", "train_s", "measure_s")}})
            for t in d["trials"]]
        return cls(recommendation=d["recommendation"], trials=trials,
                   predicted=pd.DataFrame(d["predicted"]).apply(pd.to_numeric,
                                                                 errors="coerce"),
                   stopped=bool(d.get("stopped")),
                   env=dict(d.get("env", {})))


def confirm(rec: Recommendation, top: int = 3, *, seed: int | None = None,
            diagnose: bool = True, progress: ProgressFn | None = None,
            should_stop: Callable[[], bool] | None = None,
            on_trial: Callable[[TrainedCandidate], None] | None = None,
            latency_model: LatencyPredictor | None = None) -> Confirmation:
    """Train the ``top`` ranked candidates of ``rec`` (BTTackler-guarded) and measure each
    trained network's latency on ``rec.device``.

    Parameters
    ----------
    rec : Recommendation
    top : int
        Candidates confirmed, in rank order (>= 1; fewer when the search evaluated fewer).
    seed : int, optional
        Training seed (default: the recommendation's).
    diagnose : bool
        Guard each training with BTTackler's diagnosis.
    progress : callable, optional
        ``progress(done, total, label)`` per epoch of every training.
    should_stop : callable, optional
        Checked at every epoch end and before each candidate.
    on_trial : callable, optional
        Called with each :class:`TrainedCandidate` as it finishes (live figures).
    latency_model : LatencyPredictor, optional
        The recommendation's latency model (default ``rec.latency_model``, set when ``rec``
        came from :func:`~effdl_kit.recommend.recommend` in this process): each measured
        network is
        also predicted at the device state of its measurement (MEDN's measurable parameters),
        which separates a wrong prediction from a machine that was busier than the reference
        state the recommendation predicted for.

    Raises
    ------
    ConfigError
        Not a Recommendation, a bad ``top`` or ``seed`` (before any training).
    """
    from effdl_kit._core.env import collect_env

    if not isinstance(rec, Recommendation):
        raise ConfigError("rec", type(rec).__name__, "a Recommendation")
    top = check_int("top", top, min_value=1)
    seed = rec.seed if seed is None else check_int("seed", seed, min_value=0,
                                                   max_value=2**31 - 1)
    for name, fn in (("progress", progress), ("should_stop", should_stop),
                     ("on_trial", on_trial)):
        if fn is not None and not callable(fn):
            raise ConfigError(name, type(fn).__name__, "None or a callable")
    if latency_model is None:
        latency_model = rec.latency_model
    if latency_model is not None and (not isinstance(latency_model, LatencyPredictor)
                                      or latency_model.device != rec.device):
        raise ConfigError("latency_model", type(latency_model).__name__,
                          f"None or the LatencyPredictor of device {rec.device!r}")
    table = rec.table(top)
    budget: Any = "inf" if math.isinf(rec.latency_budget_ms) else rec.latency_budget_ms
    info = {"task": rec.task, "device": rec.device, "latency_budget_ms": budget,
            "scale": rec.scale, "seed": rec.seed, "train_seed": seed, "mode": rec.mode,
            "components": list(rec.components), "top": top, "time_s": dict(rec.time_s)}
    trials: list[TrainedCandidate] = []
    stopped = False
    n = len(table)
    for i, (_, row) in enumerate(table.iterrows()):
        if should_stop is not None and should_stop():
            stopped = True
            break
        comps = {**rec.fixed, **{c: row[c] for c in rec.components}}

        def on_epoch(done: int, total: int, i: int = i) -> None:
            if progress is not None:
                progress(i * total + done, n * total, f"training {i + 1}/{n}: epoch "
                         f"{done}/{total}")

        t = train_and_measure(rec.task, comps, device=rec.device, seed=seed, scale=rec.scale,
                              diagnose=diagnose, should_stop=should_stop, on_epoch=on_epoch)
        if t.error == "stopped by the user":
            stopped = True
            break
        trials.append(t)
        if on_trial is not None:
            on_trial(t)
    pred = table[[c for c in _PREDICTED if c in table.columns]].head(len(trials))
    pred = pred.reset_index(drop=True)
    measured = [i for i, t in enumerate(trials) if t.state]
    if latency_model is not None and measured:
        at = latency_model.predict_at(
            [build_candidate(trials[i].components, {}, rec.task) for i in measured],
            [trials[i].state for i in measured])
        for col in ("latency_ms", "latency_lo_ms", "latency_hi_ms"):
            pred[f"state_{col}"] = math.nan
            pred.loc[measured, f"state_{col}"] = at[col].to_numpy()
    return Confirmation(recommendation=info, trials=trials, predicted=pred,
                        stopped=stopped, env=collect_env().to_dict())
