"""BTTackler live: an Optuna study whose trials are diagnosed epoch by epoch, as they train.

:class:`DiagnosisController` runs one in-process Optuna study (one worker) over a task of the
``bttackler`` experiment (:data:`~effdl_kit.experiments.bttackler.TASKS`: the paper's CNN,
LSTM or Transformer search space at the scale's sizes), either ``plain`` (every trial is
diagnosed but none is stopped: what BTTackler *would* have done) or with ``bttackler``
(:class:`~effdl_kit.diagnosis.BTTacklerPruner` + :class:`~effdl_kit.diagnosis.TrialHook`, mode
``"report"`` as in the paper or ``"prune"``). Every epoch of every trial is recorded — training
loss, validation metric, per-layer gradient statistics, every indicator's value and which
rules fired — and reported as progress, so the panel's figure (per-trial loss and indicator
curves, stopped trials marked with the rule) grows while the study runs. The trial table
(number, parameters, metric, state, stopped by, epoch) comes from the trials' user attributes
(``trial.user_attrs["bttackler"]``) and the diagnoses.

The controller also reads a finished ``effdl reproduce bttackler`` results folder
(:func:`~effdl_kit.experiments.bttackler.load_results`) and draws its TSBA / Top10HR bars next
to the paper's 40.33 % / 72.25 % (:meth:`DiagnosisController.experiment_figure`).

:class:`DiagnosisPanel` is the ipywidgets view.
"""

from __future__ import annotations

import html
import json
import math
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import optuna

from effdl_kit._core.errors import ConfigError, EffdlError
from effdl_kit._core.validate import Scale, check_choice, check_int
from effdl_kit.diagnosis import (
    ATTR_DIAGNOSIS,
    DEFAULT_INDICATORS,
    INDICATORS,
    MODES,
    SC_RULES,
    BTTacklerPruner,
    Diagnoser,
    Diagnosis,
    DiagnosisConfig,
    DiagnosisHook,
    TrialHook,
)
from effdl_kit.experiments.bttackler import (
    BUDGETS,
    METHODS,
    PAPER,
    TASKS,
    RunSpec,
    load_results,
    make_sampler,
    plot_bars,
    redraw,
    resolve_settings,
    suggest_config,
    task_data,
)
from effdl_kit.training import DataBundle, Hook, TrainState, train

from ._base import Panel, PanelController, figure_to_png, resolve_controller

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "DIAGNOSIS_DEFAULTS",
    "INDICATOR_SERIES",
    "THRESHOLDS",
    "VARIANTS",
    "DiagnosisController",
    "DiagnosisPanel",
    "DiagnosisRun",
]

#: What the panel compares: no early stop (diagnosed only) or BTTackler.
VARIANTS: tuple[str, ...] = ("plain", "bttackler")

#: The :class:`~effdl_kit.diagnosis.DiagnosisConfig` fields the panel exposes.
THRESHOLDS: tuple[str, ...] = (
    "agv_min_grad", "agv_max_grad", "eag_max_ratio", "erg_min_ratio",
    "lar_max_zero_fraction", "plc_min_cov", "sc_rule", "nmg_tolerance",
)


@dataclass(frozen=True)
class _Series:
    label: str
    thresholds: tuple[str, ...]
    log: bool


#: Indicator quantities the figure can draw: key (``"CODE.quantity"`` as in
#: ``Diagnosis.values``) -> label, the config fields drawn as threshold lines, log axis.
#: ``AGV.median_grad`` and ``LAR.median_zero_fraction`` are computed from the per-layer
#: gradient statistics when the indicator did not run (disabled, or LAR before its start).
INDICATOR_SERIES: dict[str, _Series] = {
    "AGV.median_grad": _Series("median |grad| (AGV)", ("agv_min_grad", "agv_max_grad"), True),
    "EAG.median_ratio": _Series("median layer gradient ratio (EAG)", ("eag_max_ratio",), True),
    "ERG.median_ratio": _Series("median |layer ratio|, first half (ERG)", ("erg_min_ratio",),
                                True),
    "LAR.median_zero_fraction": _Series("median zero-gradient fraction (LAR)",
                                        ("lar_max_zero_fraction",), False),
    "PLC.loss_cov": _Series("training-loss CoV, first half (PLC)", ("plc_min_cov",), True),
    "SC.ratio": _Series("loss spread, second / first half (SC)", ("sc_ratio",), True),
    "ULC.slope": _Series("loss slope over the window (ULC)", ("ulc_min_slope",), False),
}

_N_TRIALS: dict[str, int] = {"smoke": 4, "small": 12, "paper": 50}
_DC = DiagnosisConfig()

#: Defaults per scale: the experiment's epochs and sizes (:data:`BUDGETS`), the authors'
#: thresholds, and no configuration tried first.
DIAGNOSIS_DEFAULTS: dict[str, dict[str, Any]] = {
    scale: {"task": "cnn", "sampler": "random", "variant": "bttackler", "mode": "report",
            "n_trials": _N_TRIALS[scale], "epochs": int(b["epochs"]), "seed": 0,
            "indicators": DEFAULT_INDICATORS,
            **{k: getattr(_DC, k) for k in THRESHOLDS},
            "enqueue": (), "indicator": "AGV.median_grad"}
    for scale, b in BUDGETS.items()
}

_STOP_COLOR = "#b00020"


@contextmanager
def _quiet() -> Iterator[None]:
    """Optuna's per-trial INFO lines and experimental warnings off, for the block."""
    old = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            yield
    finally:
        optuna.logging.set_verbosity(old)


def _direction(spec: RunSpec) -> optuna.study.StudyDirection:
    return (optuna.study.StudyDirection.MINIMIZE if spec.direction == "minimize"
            else optuna.study.StudyDirection.MAXIMIZE)


def _finite(v: Any) -> float:
    """``float(v)``, NaN for None or anything non-numeric."""
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def _median(values: Sequence[float]) -> float:
    a = np.asarray(values, dtype=np.float64)
    a = a[np.isfinite(a)]
    return float(np.median(a)) if a.size else float("nan")


def _fmt_value(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)


def _params_text(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={_fmt_value(v)}" for k, v in params.items())


def _plain(v: Any) -> Any:
    return v if v is None or isinstance(v, bool | int | str) else float(v)


@dataclass(frozen=True)
class DiagnosisRun:
    """The result of one :meth:`DiagnosisController.run`.

    Attributes
    ----------
    epochs : pandas.DataFrame
        One row per (trial, epoch): ``trial, epoch, train_loss, val_loss, metric, fired``
        (tuple of codes), ``stopped`` (BTTackler ended the trial on this epoch), ``flagged``
        (an indicator fired), ``protected``, ``median_grad``, ``median_zero_fraction`` and one
        column per indicator value (``"AGV.median_grad"``, ``"PLC.loss_cov"``, ...).
    table : pandas.DataFrame
        One row per trial (see :meth:`DiagnosisController.table`).
    settings : dict
        The validated parameters, the dataset, the search-space sizes and the diagnosis
        configuration.
    metric : {"accuracy", "mse"}
        The validation metric the study optimises.
    direction : {"maximize", "minimize"}
    wall_time_s : float
        Seconds of the study (data loading excluded).
    study : optuna.Study
        The in-memory study (trials, user attributes, intermediate values).
    """

    epochs: pd.DataFrame
    table: pd.DataFrame
    settings: dict[str, Any]
    metric: str
    direction: str
    wall_time_s: float
    study: optuna.Study = field(repr=False)

    @property
    def n_stopped(self) -> int:
        """Trials BTTackler stopped (0 in a ``plain`` run)."""
        return int((self.table["stopped by"] != "").sum())

    @property
    def n_flagged(self) -> int:
        """Trials on which at least one indicator fired (stopped or not)."""
        return int((self.table["flagged"] != "").sum())

    def points(self) -> list[tuple[float, float]]:
        """``(t_end, metric)`` of the finished trials (COMPLETE or PRUNED, finite metric):
        the input of :func:`~effdl_kit.experiments.bttackler.tsba` and ``top10hr``."""
        t = self.table
        ok = t["state"].isin(["COMPLETE", "PRUNED"])
        return [(float(a), float(b)) for a, b in zip(t.loc[ok, "t_end"], t.loc[ok, "metric"],
                                                     strict=True)
                if math.isfinite(float(a)) and math.isfinite(float(b))]

    def best(self) -> tuple[int, float] | None:
        """``(trial number, metric)`` of the best finished trial, or None."""
        pts = [(int(n), float(v)) for n, v, s in zip(self.table["number"], self.table["metric"],
                                                      self.table["state"], strict=True)
               if s in ("COMPLETE", "PRUNED") and math.isfinite(float(v))]
        if not pts:
            return None
        key = (lambda p: p[1]) if self.direction == "maximize" else (lambda p: -p[1])
        return max(pts, key=key)


class _LiveTrial(Hook):
    """Wraps the diagnosing hook of one trial and copies every epoch into the controller."""

    def __init__(self, controller: DiagnosisController, index: int, trial: optuna.Trial,
                 inner: TrialHook | DiagnosisHook, *, report: bool) -> None:
        self.controller = controller
        self.index = index
        self.trial = trial
        self.inner = inner
        self.report = report

    @property
    def diagnoser(self) -> Diagnoser | None:
        if isinstance(self.inner, TrialHook):
            return None if self.inner.helper is None else self.inner.helper.diagnoser
        return self.inner.diagnoser

    def on_fit_start(self, state: TrainState) -> None:
        self.inner.on_fit_start(state)

    def after_backward(self, state: TrainState) -> None:
        self.inner.after_backward(state)

    def epoch_end(self, state: TrainState) -> None:
        try:
            if self.report:  # plain: report the metric like any objective would
                v = state.history[-1].val_metric
                if math.isfinite(v):
                    self.trial.report(float(v), state.epoch)
            self.inner.epoch_end(state)  # bttackler: may stop the run or raise TrialPruned
        finally:
            diag = self.diagnoser
            d = (diag.history[-1] if diag is not None and len(diag.history) == state.epoch + 1
                 else None)
            self.controller._epoch_done(self.index, self.trial.number, state, d)


class DiagnosisController(PanelController):
    """Controller of :class:`DiagnosisPanel`: an Optuna study with BTTackler, watched live.

    Parameters
    ----------
    scale : {"smoke", "small", "paper"}
        Picks the experiment's budget (:data:`~effdl_kit.experiments.bttackler.BUDGETS`:
        epochs, training-set size, search-space sizes, dataset, device) and the default
        number of trials (4, 12, 50).
    **params
        Any of

        * ``task`` ({"cnn", "lstm", "transformer"}), ``sampler`` ({"random", "tpe", "gp",
          "qmc"}), ``variant`` ({"plain", "bttackler"}), ``mode`` ({"report", "prune"}),
          ``n_trials`` (>= 1), ``epochs`` (>= 2), ``seed`` (>= 0);
        * ``indicators`` (a subset of :data:`~effdl_kit.diagnosis.INDICATORS`) and the
          thresholds of :data:`THRESHOLDS` (``agv_min_grad``, ``agv_max_grad``,
          ``eag_max_ratio``, ``erg_min_ratio``, ``lar_max_zero_fraction``, ``plc_min_cov``,
          ``sc_rule``, ``nmg_tolerance``; see :class:`~effdl_kit.diagnosis.DiagnosisConfig`);
        * ``enqueue``: hyper-parameter dicts tried first, in order, before the sampler's
          proposals (``({"lr": 20.0, "optimizer": "sgd"},)``: a trial built to explode; values
          outside the search range are used as given, with a note in the table);
        * ``indicator``: the quantity drawn next to the loss (a key of
          :data:`INDICATOR_SERIES`; a view setting, no rerun needed).

        Validated on :meth:`run`, before any training.

    Attributes
    ----------
    live : list of dict
        One record per finished epoch of the current (or last) run, in order.
    trials : list of dict
        One record per trial started so far (number, params, state, metric, stopped by,
        epoch, epochs run, flagged, reason, seconds, t_end, error, note).
    diagnosis_config : DiagnosisConfig or None
        The configuration of the last validated run.
    study : optuna.Study or None
        The study of the current (or last) run.
    experiment : dict or None
        The payload of the results folder loaded with :meth:`load_experiment`.
    result : DiagnosisRun or None
        The last successful run.
    """

    defaults: ClassVar[Mapping[str, Any]] = DIAGNOSIS_DEFAULTS["small"]
    name: ClassVar[str] = "diagnosis"

    def __init__(self, *, scale: Scale = "small", **params: Any) -> None:
        self.live: list[dict[str, Any]] = []
        self.trials: list[dict[str, Any]] = []
        self.diagnosis_config: DiagnosisConfig | None = None
        self.spec: RunSpec | None = None
        self.study: optuna.Study | None = None
        self.experiment: dict[str, Any] | None = None
        self.experiment_dir: Path | None = None
        self.experiment_files: list[Path] = []
        self._total = 0
        self._n_trials = 0
        self._t0 = 0.0
        super().__init__(scale=scale, **params)

    def scale_defaults(self, scale: Scale) -> Mapping[str, Any]:
        """``DIAGNOSIS_DEFAULTS[scale]``."""
        return DIAGNOSIS_DEFAULTS[scale]

    # ------------------------------------------------------------------ validation
    def _spec(self, task: str, sampler: str, variant: str, epochs: int, seed: int,
              n_trials: int) -> RunSpec:
        s = resolve_settings(self.scale, tasks=[task], methods=[sampler], epochs=epochs)
        dataset = "co2" if task == "transformer" else str(s["image_dataset"])
        return RunSpec(
            task=task, method=sampler, variant=variant, repeat=0, seed=seed,
            budget_s=math.inf, workers=1, max_trials=n_trials, epochs=epochs,
            dataset=dataset, n_train=s["n_train"], space=dict(s["space_ranges"]),
            data_dir=s["data_dir"] if dataset == "cifar10" else None, device=str(s["device"]),
            gp_startup=int(s["gp_startup"]))

    @staticmethod
    def _dry_trial(spec: RunSpec, fixed: Mapping[str, Any] | None) -> list[str]:
        """Sample one configuration (no training); returns the search space's names."""
        with _quiet(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            study = optuna.create_study(direction=_direction(spec),
                                        sampler=optuna.samplers.RandomSampler(seed=0))
            if fixed:
                study.enqueue_trial(dict(fixed))
            trial = study.ask()
            suggest_config(trial, spec)
        return list(trial.params)

    def _check_enqueue(self, spec: RunSpec) -> tuple[dict[str, Any], ...]:
        value = self.params["enqueue"]
        if value is None:
            return ()
        want = "a list of {hyper-parameter: value} dicts"
        if isinstance(value, str | Mapping) or not isinstance(value, Sequence):
            raise ConfigError("enqueue", value, want)
        names = self._dry_trial(spec, None)
        out: list[dict[str, Any]] = []
        for i, fixed in enumerate(value):
            if not isinstance(fixed, Mapping):
                raise ConfigError(f"enqueue[{i}]", fixed, want)
            for key in fixed:
                check_choice(f"enqueue[{i}]", key, tuple(names))
            try:
                self._dry_trial(spec, fixed)
            except ConfigError:
                raise
            except Exception as exc:  # optuna: a categorical value not among the choices
                raise ConfigError(f"enqueue[{i}]", dict(fixed),
                                  f"values the {spec.task} search space accepts ({exc})"
                                  ) from None
            out.append(dict(fixed))
        return tuple(out)

    def prepare(self) -> dict[str, Any]:
        """Check every parameter (no training): choices, counts, the diagnosis thresholds
        (through :class:`DiagnosisConfig`), the configurations tried first.

        Raises
        ------
        ConfigError
            A bad value, naming the field and what is allowed.
        DatasetNotFoundError
            CIFAR-10 asked for (paper scale with ``$EFFDL_CIFAR10``) and not found.
        """
        self.live, self.trials, self.study = [], [], None
        p = self.params
        task = check_choice("task", p["task"], TASKS)
        sampler = check_choice("sampler", p["sampler"], METHODS)
        variant = check_choice("variant", p["variant"], VARIANTS)
        mode = check_choice("mode", p["mode"], MODES)
        n_trials = check_int("n_trials", p["n_trials"], min_value=1, max_value=100_000)
        epochs = check_int("epochs", p["epochs"], min_value=2, max_value=10_000)
        seed = check_int("seed", p["seed"], min_value=0, max_value=2**31 - 1)
        check_choice("indicator", p["indicator"], tuple(INDICATOR_SERIES))
        inds = p["indicators"]
        if isinstance(inds, str) or not isinstance(inds, Sequence | set | frozenset):
            raise ConfigError("indicators", inds, f"a list of codes from {INDICATORS}")
        config = DiagnosisConfig(indicators=tuple(inds), **{k: p[k] for k in THRESHOLDS})
        spec = self._spec(task, sampler, variant, epochs, seed, n_trials)
        enqueue = self._check_enqueue(spec)
        self.diagnosis_config = config
        self.spec = spec
        return {"task": task, "sampler": sampler, "variant": variant, "mode": mode,
                "n_trials": n_trials, "epochs": epochs, "seed": seed, "enqueue": enqueue,
                "config": config, "spec": spec}

    # ------------------------------------------------------------------ the study
    def compute(self, prepared: dict[str, Any]) -> DiagnosisRun:
        """Run the study trial by trial (ask, train with the diagnosing hook, tell)."""
        spec: RunSpec = prepared["spec"]
        config: DiagnosisConfig = prepared["config"]
        variant, mode = prepared["variant"], prepared["mode"]
        n_trials, epochs = prepared["n_trials"], prepared["epochs"]
        self.live, self.trials = [], []
        self._total = n_trials * epochs
        self._n_trials = n_trials
        data = task_data(spec)
        with _quiet():
            pruner: optuna.pruners.BasePruner = (
                BTTacklerPruner(mode=mode, config=config) if variant == "bttackler"
                else optuna.pruners.NopPruner())
            study = optuna.create_study(
                direction=_direction(spec), pruner=pruner,
                sampler=make_sampler(spec.method, seed=spec.seed, gp_startup=spec.gp_startup))
            for fixed in prepared["enqueue"]:
                study.enqueue_trial(fixed, skip_if_exists=False)
        self.study = study
        self._t0 = time.perf_counter()
        for i in range(n_trials):
            self._run_trial(study, i, spec, data, config, variant, mode)
            self.report_progress((i + 1) * epochs, self._total,
                                 self._trial_message(self.trials[-1], i, n_trials))
        settings = {k: v for k, v in prepared.items() if k not in ("config", "spec")}
        settings.update({"enqueue": [dict(e) for e in prepared["enqueue"]],
                         "dataset": spec.dataset, "n_train": spec.n_train,
                         "space": dict(spec.space), "device": spec.device,
                         "diagnosis": config.to_dict(), "scale": self.scale})
        return DiagnosisRun(epochs=self._epoch_frame(), table=self._table_frame(),
                            settings=settings, metric=spec.metric, direction=spec.direction,
                            wall_time_s=time.perf_counter() - self._t0, study=study)

    def _run_trial(self, study: optuna.Study, index: int, spec: RunSpec, data: DataBundle,
                   config: DiagnosisConfig, variant: str, mode: str) -> None:
        with _quiet():
            trial = study.ask()
        rec: dict[str, Any] = {
            "number": trial.number, "params": {}, "metric": float("nan"), "state": "RUNNING",
            "stopped by": "", "epoch": None, "epochs run": 0, "flagged": "", "reason": "",
            "seconds": float("nan"), "t_end": float("nan"), "error": None, "note": ""}
        self.trials.append(rec)
        t_start = time.perf_counter()
        state = optuna.trial.TrialState.FAIL
        value: float | None = None
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                cfg = suggest_config(trial, spec)
            rec["params"] = {k: _plain(v) for k, v in trial.params.items()}
            rec["note"] = "; ".join(str(w.message) for w in caught
                                    if "out of range" in str(w.message))
            inner: TrialHook | DiagnosisHook
            if variant == "bttackler":
                inner = TrialHook(trial, config=config, mode=mode)
            else:  # diagnosed, never stopped: what BTTackler would have done
                inner = DiagnosisHook(config, stop=False,
                                      peer_losses=self._peer_losses(trial.number))
            hook = _LiveTrial(self, index, trial, inner, report=variant != "bttackler")
            res = train(cfg, hooks=[hook], data=data)
            value = float(res.history[-1].val_metric)
            if math.isfinite(value):
                state = optuna.trial.TrialState.COMPLETE
            else:
                rec["error"] = f"non-finite validation {spec.metric}: {value}"
            if res.stop_reason and not rec["reason"] and variant != "bttackler":
                rec["reason"] = str(res.stop_reason)
        except optuna.TrialPruned:
            state = optuna.trial.TrialState.PRUNED
        except Exception as exc:  # a failing trial is recorded; the study goes on
            rec["error"] = f"{type(exc).__name__}: {exc}"[:500]
        except BaseException:  # an interrupt: close the trial, then let it go on up
            self._tell(study, trial, rec, optuna.trial.TrialState.FAIL, None, t_start)
            raise
        self._tell(study, trial, rec, state, value, t_start)

    def _tell(self, study: optuna.Study, trial: optuna.Trial, rec: dict[str, Any],
              state: optuna.trial.TrialState, value: float | None, t_start: float) -> None:
        info = trial.user_attrs.get(ATTR_DIAGNOSIS)
        if isinstance(info, Mapping):  # stored by TrialHook: which rule stopped the trial
            rec["stopped by"] = "+".join(info.get("indicators", []))
            rec["epoch"] = info.get("epoch")
            rec["reason"] = str(info.get("reason", ""))
        rec["seconds"] = time.perf_counter() - t_start
        rec["t_end"] = time.perf_counter() - self._t0
        with _quiet():
            if state == optuna.trial.TrialState.COMPLETE:
                assert value is not None
                study.tell(trial, value)
            else:
                study.tell(trial, state=state)
        rec["state"] = state.name
        if state != optuna.trial.TrialState.COMPLETE:
            rec["metric"] = next((r["metric"] for r in reversed(self.live)
                                  if r["trial"] == rec["number"]
                                  and math.isfinite(r["metric"])), float("nan"))
        else:
            rec["metric"] = value

    def _peer_losses(self, number: int) -> Any:
        def peers(epoch: int) -> list[float]:
            return [r["train_loss"] for r in self.live
                    if r["trial"] != number and r["epoch"] == epoch
                    and math.isfinite(r["train_loss"])]

        return peers

    def _epoch_done(self, index: int, number: int, state: TrainState,
                    d: Diagnosis | None) -> None:
        rec = state.history[-1]
        trial = self.trials[-1]
        fired = d.fired if d is not None else ()
        variant = self.spec.variant if self.spec is not None else "plain"
        row: dict[str, Any] = {
            "trial": number, "epoch": rec.epoch, "train_loss": float(rec.train_loss),
            "val_loss": float(rec.val_loss), "metric": float(rec.val_metric),
            "fired": tuple(fired), "stopped": bool(fired) and variant == "bttackler",
            "flagged": bool(fired), "protected": bool(d.protected) if d is not None else False,
            "median_grad": _median(d.grad_mean_abs) if d is not None else float("nan"),
            "median_zero_fraction": (_median(d.grad_zero_fraction) if d is not None
                                     else float("nan")),
        }
        if d is not None:
            row.update({k: float(v) for k, v in d.values.items()})
        self.live.append(row)
        trial["epochs run"] = rec.epoch + 1
        trial["metric"] = float(rec.val_metric)
        if fired and not trial["flagged"]:
            trial["flagged"] = "+".join(fired)
            if trial["epoch"] is None:
                trial["epoch"] = rec.epoch
            if not trial["reason"] and d is not None:
                trial["reason"] = d.reason
        epochs = state.config.epochs
        metric = self.spec.metric if self.spec is not None else "metric"
        msg = (f"trial {index + 1}/{self._n_trials}, epoch {rec.epoch + 1}/"
               f"{epochs}: loss {rec.train_loss:.4g}, val {metric} {rec.val_metric:.4g}")
        if fired:
            msg += (f"; stopped by {'+'.join(fired)}" if variant == "bttackler"
                    else f"; {'+'.join(fired)} fired (not stopped: plain)")
        self.report_progress(index * epochs + rec.epoch + 1, self._total, msg)

    @staticmethod
    def _trial_message(rec: Mapping[str, Any], index: int, n: int) -> str:
        head = f"trial {index + 1}/{n} {rec['state']}"
        if rec["stopped by"]:
            return f"{head}: stopped by {rec['stopped by']} at epoch {rec['epoch']}"
        if rec["error"]:
            return f"{head}: {rec['error']}"
        return f"{head}: {rec['epochs run']} epochs, metric {_finite(rec['metric']):.4g}"

    # ------------------------------------------------------------------ frames
    def _epoch_frame(self) -> pd.DataFrame:
        import pandas as pd

        base = ["trial", "epoch", "train_loss", "val_loss", "metric", "fired", "stopped",
                "flagged", "protected", "median_grad", "median_zero_fraction"]
        frame = pd.DataFrame(self.live)
        if frame.empty:
            return pd.DataFrame(columns=base)
        extra = sorted(c for c in frame.columns if c not in base)
        return frame[base + extra]

    def _table_frame(self) -> pd.DataFrame:
        import pandas as pd

        cols = ["number", "params", "metric", "state", "stopped by", "epoch", "epochs run",
                "flagged", "reason", "seconds", "t_end", "error", "note"]
        rows = [{**r, "params": _params_text(r["params"])} for r in self.trials]
        frame = pd.DataFrame(rows, columns=cols)
        frame["epoch"] = frame["epoch"].astype("Int64")
        frame["epochs run"] = frame["epochs run"].astype(int)
        frame.attrs["metric"] = self.spec.metric if self.spec is not None else "metric"
        return frame

    def table(self) -> pd.DataFrame:
        """One row per trial: ``number, params`` (as text), ``metric`` (the trial's result:
        its last validation metric), ``state`` (COMPLETE, PRUNED, FAIL, RUNNING), ``stopped
        by`` (the indicator codes that stopped it, ``"AGV+EAG"``; empty when it ran to the
        end or in a plain run), ``epoch`` (when an indicator first fired), ``epochs run``,
        ``flagged`` (indicators that fired first, stopped or not), ``reason``, ``seconds``,
        ``t_end`` (seconds since the study started), ``error``, ``note``.

        Live while the study runs; the finished run's table afterwards.

        Raises
        ------
        EffdlError
            Nothing has been run yet.
        """
        if isinstance(self.result, DiagnosisRun):
            return self.result.table
        if not self.trials:
            raise EffdlError("no trials yet: run the panel first")
        return self._table_frame()

    def epochs_frame(self) -> pd.DataFrame:
        """Every recorded epoch (see :attr:`DiagnosisRun.epochs`), live or finished."""
        if isinstance(self.result, DiagnosisRun):
            return self.result.epochs
        return self._epoch_frame()

    # ------------------------------------------------------------------ drawing
    def figure(self, indicator: str | None = None) -> Figure:
        """Per-trial curves of the training loss and of one indicator quantity, the
        thresholds as dashed lines, the epoch where an indicator fired marked with its code
        (a cross: BTTackler stopped the trial; a circle: it fired in a plain run).

        Parameters
        ----------
        indicator : str, optional
            A key of :data:`INDICATOR_SERIES`; default the ``indicator`` parameter.

        Raises
        ------
        EffdlError
            Nothing has been run yet.
        ConfigError
            An unknown ``indicator``.
        """
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator

        key = check_choice("indicator", indicator if indicator is not None
                           else self.params["indicator"], tuple(INDICATOR_SERIES))
        if self.result is None and not self.live and self.status != "running":
            raise EffdlError("no diagnosis run yet: run the panel first")
        frame = self.epochs_frame()
        fig = Figure(figsize=(9.0, 3.8), layout="constrained")
        ax_loss, ax_ind = fig.subplots(1, 2)
        series = INDICATOR_SERIES[key]
        # scales first: the markers of NaN values depend on them
        if series.log and len(frame) and np.any(self._series_values(frame, key) > 0):
            ax_ind.set_yscale("log")
        losses = frame["train_loss"].to_numpy(dtype=float) if len(frame) else np.array([])
        losses = losses[np.isfinite(losses) & (losses > 0)]
        if losses.size and losses.max() > 100 * losses.min():
            ax_loss.set_yscale("log")
        cfg = self.diagnosis_config or DiagnosisConfig()
        for name in series.thresholds:
            ax_ind.axhline(float(getattr(cfg, name)), ls="--", lw=0.9, color="0.35")
        n_trials = int(frame["trial"].nunique()) if len(frame) else 0
        for _, g in frame.groupby("trial", sort=True):
            number = int(g["trial"].iloc[0])
            color = f"C{number % 10}"
            x = g["epoch"].to_numpy(dtype=float)
            loss = g["train_loss"].to_numpy(dtype=float)
            ind = self._series_values(g, key)
            ax_loss.plot(x, loss, marker=".", lw=1.2, color=color, label=f"#{number}")
            ax_ind.plot(x, ind, marker=".", lw=1.2, color=color)
            flags = g["flagged"].to_numpy(dtype=bool)
            if flags.any():
                pos = int(np.flatnonzero(flags)[0])
                first = g.iloc[pos]
                for ax, ys in ((ax_loss, loss), (ax_ind, ind)):
                    self._mark(ax, float(x[pos]), float(ys[pos]), "+".join(first["fired"]),
                               stopped=bool(first["stopped"]))
        epochs = self.spec.epochs if self.spec is not None else int(self.params["epochs"])
        for ax in (ax_loss, ax_ind):
            ax.set_xlim(-0.3, max(epochs - 1, 1) + 0.3)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_xlabel("epoch")
        ax_loss.set_ylabel("training loss")
        ax_ind.set_ylabel(series.label)
        if 0 < n_trials <= 12:
            ax_loss.legend(title="trial", fontsize="x-small", title_fontsize="x-small",
                           ncol=2 if n_trials > 6 else 1)
        fig.suptitle(self._title(), fontsize="medium")
        return fig

    @staticmethod
    def _series_values(g: pd.DataFrame, key: str) -> np.ndarray:
        n = len(g)
        vals = (g[key].to_numpy(dtype=float) if key in g.columns
                else np.full(n, np.nan))
        fallback = {"AGV.median_grad": "median_grad",
                    "LAR.median_zero_fraction": "median_zero_fraction"}.get(key)
        if fallback is not None and fallback in g.columns:
            vals = np.where(np.isfinite(vals), vals, g[fallback].to_numpy(dtype=float))
        return vals

    @staticmethod
    def _mark(ax: Axes, x: float, y: float, text: str, *, stopped: bool) -> None:
        color = _STOP_COLOR if stopped else "0.3"
        if math.isfinite(y) and (ax.get_yscale() != "log" or y > 0):
            ax.scatter([x], [y], marker="X" if stopped else "o", s=60, zorder=5,
                       facecolors=color if stopped else "none", edgecolors=color)
            ax.annotate(text, (x, y), xytext=(4, 4), textcoords="offset points",
                        fontsize="x-small", color=color)
        else:  # a NaN loss / statistic: mark the epoch at the top of the axes
            tr = ax.get_xaxis_transform()
            ax.scatter([x], [0.95], transform=tr, marker="X" if stopped else "o", s=60,
                       zorder=5, facecolors=color if stopped else "none", edgecolors=color,
                       clip_on=False)
            ax.annotate(f"{text} (NaN)", (x, 0.95), xycoords=tr, xytext=(4, -10),
                        textcoords="offset points", fontsize="x-small", color=color)

    def _title(self) -> str:
        spec = self.spec
        if spec is None:
            return "BTTackler diagnosis"
        what = (f"BTTackler ({self.params['mode']})" if spec.variant == "bttackler"
                else "plain (diagnosed, not stopped)")
        done = [t for t in self.trials if t["state"] != "RUNNING"]
        n_stop = sum(bool(t["stopped by"]) for t in done)
        n_flag = sum(bool(t["flagged"]) for t in done)
        tail = (f"{n_stop} of {len(done)} trials stopped" if spec.variant == "bttackler"
                else f"indicators fired on {n_flag} of {len(done)} trials")
        return f"{spec.task} on {spec.dataset}, {spec.method}, {what}: {tail}"

    def summary(self) -> str:
        """One line about the last run (trials, stopped, best), or the status."""
        res = self.result
        if not isinstance(res, DiagnosisRun):
            return self.status
        best = res.best()
        best_txt = (f"best {res.metric} {best[1]:.4f} (trial {best[0]})" if best is not None
                    else "no finished trial")
        counts: dict[str, int] = {}
        col = "stopped by" if res.settings["variant"] == "bttackler" else "flagged"
        for v in res.table[col]:
            for code in str(v).split("+") if v else ():
                counts[code] = counts.get(code, 0) + 1
        rules = ", ".join(f"{c} {n}" for c, n in sorted(counts.items(), key=lambda kv: -kv[1]))
        verb = "stopped" if col == "stopped by" else "flagged (not stopped)"
        n = res.n_stopped if col == "stopped by" else res.n_flagged
        return (f"{len(res.table)} trials, {n} {verb}" + (f" ({rules})" if rules else "")
                + f"; {best_txt}; {int(res.epochs['epoch'].count())} epochs trained in "
                f"{res.wall_time_s:.1f} s")

    def export_table(self, path_stem: str | Path,
                     formats: Sequence[str] = ("tex", "md", "csv")) -> list[Path]:
        """Write the trial table with :func:`effdl_kit.reports.export_table`.

        Raises
        ------
        EffdlError
            Nothing has been run yet.
        """
        from effdl_kit.reports import export_table

        t = self.table().drop(columns=["error", "note", "t_end"])
        return [Path(p) for p in export_table(
            t, path_stem, formats, caption=f"Trials of the diagnosis panel: {self._title()}.",
            float_format="{:.4g}")]

    # ------------------------------------------------------------------ the experiment
    def load_experiment(self, path: str | Path, *, rewrite: bool = False) -> dict[str, Any]:
        """Read a finished ``effdl reproduce bttackler`` results folder.

        Parameters
        ----------
        path : str or Path
            The folder holding ``results.json``.
        rewrite : bool
            Also redraw its figures and tables into the folder
            (:func:`~effdl_kit.experiments.bttackler.redraw`); the files go to
            :attr:`experiment_files`.

        Returns
        -------
        dict
            The payload (:func:`~effdl_kit.experiments.bttackler.load_results`).

        Raises
        ------
        ConfigError
            An empty path.
        DataError
            No or malformed ``results.json`` there.
        """
        if not isinstance(path, str | Path) or not str(path).strip():
            raise ConfigError("path", path, "the folder of a finished bttackler experiment")
        payload = load_results(path)
        self.experiment = payload
        self.experiment_dir = Path(path)
        self.experiment_files = redraw(path) if rewrite else []
        return payload

    def experiment_figure(self) -> Figure:
        """TSBA (top row) and Top10HR (bottom row) per task of the loaded experiment, bars
        per method x variant, the paper's 40.33 % / 72.25 % / 52.08 % as reference lines.

        Raises
        ------
        EffdlError
            No experiment loaded (:meth:`load_experiment`).
        """
        from matplotlib.figure import Figure

        if self.experiment is None:
            raise EffdlError("no bttackler results loaded: call load_experiment(path) first")
        rows = self.experiment["aggregate"]
        tasks = [t for t in TASKS if any(r["task"] == t for r in rows)] or ["cnn"]
        fig = Figure(figsize=(max(6.4, 3.4 * len(tasks) + 0.6), 5.8), layout="constrained")
        axes = fig.subplots(2, len(tasks), squeeze=False)
        refs_t = [(PAPER["tsba"], f"paper {PAPER['tsba']}%", "--")]
        refs_h = [(PAPER["top10hr"], f"paper, BTTackler {PAPER['top10hr']}%", "--"),
                  (PAPER["top10hr_etr"], f"paper, ETR {PAPER['top10hr_etr']}%", ":")]
        for j, task in enumerate(tasks):
            plot_bars(rows, task, "tsba", ax=axes[0, j], refs=refs_t)
            plot_bars(rows, task, "top10hr", ax=axes[1, j], refs=refs_h)
        axes[0, 0].set_ylabel("TSBA (%)")
        axes[1, 0].set_ylabel("Top10HR (%)")
        handles, labels = axes[1, 0].get_legend_handles_labels()
        h0, l0 = axes[0, 0].get_legend_handles_labels()
        for h, lab in zip(h0, l0, strict=True):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
        if handles:
            fig.legend(handles, labels, loc="outside lower center", ncol=3, fontsize="small",
                       frameon=False)
        p = self.experiment
        fig.suptitle(f"bttackler experiment, {p['scale']} scale, seed {p['seed']}",
                     fontsize="medium")
        return fig

    def experiment_table(self) -> pd.DataFrame:
        """The loaded experiment's headline numbers next to the paper's (quantity, kit, paper).

        Raises
        ------
        EffdlError
            No experiment loaded.
        """
        import pandas as pd

        if self.experiment is None:
            raise EffdlError("no bttackler results loaded: call load_experiment(path) first")
        h = self.experiment["headline"]
        rows = [
            ("TSBA, BTTackler (%)", h.get("tsba_bttackler"), PAPER["tsba"]),
            ("Top10HR, BTTackler (%)", h.get("top10hr_bttackler"), PAPER["top10hr"]),
            ("Top10HR, early termination rules (%)", h.get("top10hr_etr"),
             PAPER["top10hr_etr"]),
            ("TSBA, early termination rules (%)", h.get("tsba_etr"), None),
            ("share reaching the baseline's best, BTTackler", h.get("reached_bttackler"), None),
            ("trials finished, plain", h.get("trials_plain"), None),
            ("trials finished, BTTackler", h.get("trials_bttackler"), None),
        ]
        return pd.DataFrame([{"quantity": q, "kit": _finite(k), "paper": _finite(v)}
                             for q, k, v in rows])


# ---------------------------------------------------------------------------- the view


def _png_output(png: bytes, text: str) -> tuple[dict[str, Any], ...]:
    import base64

    return ({"output_type": "display_data",
             "data": {"image/png": base64.b64encode(png).decode("ascii"), "text/plain": text},
             "metadata": {}},)


def parse_enqueue(text: str) -> tuple[dict[str, Any], ...]:
    """The "try first" box: a JSON list of ``{hyper-parameter: value}`` objects (or one).

    Raises
    ------
    ConfigError
        Not JSON, or not a list of objects.
    """
    want = 'a JSON list of objects, e.g. [{"lr": 20.0, "optimizer": "sgd"}]'
    if not str(text).strip():
        return ()
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError("enqueue", text, f"{want} ({exc.msg})") from None
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ConfigError("enqueue", text, want)
    return tuple(value)


class DiagnosisPanel(Panel):
    """Run an Optuna study with or without BTTackler and watch each trial's diagnosis live.

    Controls for the task, sampler, variant, mode, trials, epochs, seed, enabled indicators
    and the main thresholds; a "try first" box (a JSON list of configurations enqueued
    before the sampler's proposals); the live figure (per-trial loss and indicator curves,
    the stopping rule marked) with a choice of the indicator drawn; the trial table; and a
    section that shows the TSBA / Top10HR figure and headline numbers of a finished
    ``effdl reproduce bttackler`` results folder.

    Parameters
    ----------
    controller : DiagnosisController, optional
        Made from ``scale`` and ``params`` when not given.
    scale : {"smoke", "small", "paper"}
    export_stem : str
        Initial export path (without extension).
    results_dir : str or Path, optional
        Initial content of the results-folder box.
    **params
        Initial parameters for a new controller.

    Examples
    --------
    >>> from effdl_kit.widgets._diagnosis import DiagnosisPanel
    >>> DiagnosisPanel(scale="smoke", enqueue=({"lr": 20.0, "optimizer": "sgd"},))  # doctest: +SKIP
    """

    controller: DiagnosisController

    def __init__(self, controller: DiagnosisController | None = None, *,
                 scale: Scale = "small", export_stem: str = "figures/diagnosis",
                 results_dir: str | Path | None = None, **params: Any) -> None:
        import ipywidgets as W

        controller = resolve_controller(DiagnosisController, controller, scale, params)
        p = controller.params
        style = {"description_width": "110px"}
        lay = W.Layout(width="340px")

        def log_slider(name: str, lo: int, hi: int) -> Any:
            return W.FloatLogSlider(base=10, min=lo, max=hi, step=0.5, value=10.0 ** lo,
                                    description=name, readout_format=".0e", style=style,
                                    layout=lay)

        controls = {
            "task": W.Dropdown(options=TASKS, description="task", style=style, layout=lay),
            "sampler": W.Dropdown(options=METHODS, description="sampler", style=style,
                                  layout=lay),
            "variant": W.ToggleButtons(options=VARIANTS, description="variant", style=style),
            "mode": W.ToggleButtons(options=MODES, description="mode", style=style),
            "n_trials": W.IntSlider(min=1, max=max(100, int(p["n_trials"])), value=1,
                                    description="trials", style=style, layout=lay),
            "epochs": W.IntSlider(min=2, max=max(40, int(p["epochs"])), value=2,
                                  description="epochs", style=style, layout=lay),
            "seed": W.BoundedIntText(min=0, max=2**31 - 1, value=0, description="seed",
                                     style=style, layout=lay),
            "indicators": W.SelectMultiple(options=INDICATORS, rows=len(INDICATORS),
                                           description="indicators", style=style),
            "agv_min_grad": log_slider("AGV min |grad|", -9, -2),
            "agv_max_grad": log_slider("AGV max |grad|", 1, 8),
            "eag_max_ratio": log_slider("EAG max ratio", 1, 6),
            "erg_min_ratio": log_slider("ERG min ratio", -8, -1),
            "lar_max_zero_fraction": W.FloatSlider(min=0.0, max=0.99, step=0.01, value=0.5,
                                                   description="LAR max zeros", style=style,
                                                   layout=lay),
            "plc_min_cov": log_slider("PLC min CoV", -8, -1),
            "sc_rule": W.Dropdown(options=SC_RULES, description="SC rule", style=style,
                                  layout=lay),
            "nmg_tolerance": W.FloatSlider(min=0.0, max=0.5, step=0.01, value=0.0,
                                           description="NMG tolerance", style=style,
                                           layout=lay),
        }
        super().__init__(controller, controls, title="BTTackler: diagnosed HPO trials, live",
                         export_stem=export_stem, live_figure=True)
        self.enqueue_box = W.Textarea(
            value=json.dumps(list(p["enqueue"] or ())), description="try first",
            placeholder='[{"lr": 20.0, "optimizer": "sgd"}]', style=style,
            layout=W.Layout(width="680px", height="48px"))
        self.indicator = W.Dropdown(options=[(s.label, k) for k, s in INDICATOR_SERIES.items()],
                                    value=p["indicator"], description="indicator curve",
                                    style=style, layout=W.Layout(width="460px"))
        self.indicator.observe(self._on_indicator, names="value")
        self.table = W.HTML("")
        self.summary = W.HTML("")
        self.results_path = W.Text(value="" if results_dir is None else str(results_dir),
                                   description="results folder", style=style,
                                   placeholder="out folder of: effdl reproduce bttackler",
                                   layout=W.Layout(width="520px"))
        self.results_button = W.Button(description="Show TSBA / Top10HR", icon="bar-chart",
                                       tooltip="Load results.json and draw its figures")
        self.results_button.on_click(lambda _b: self.show_results())
        self.results_table = W.HTML("")
        self.results_output = W.Output(layout=W.Layout(min_height="20px"))
        c = self.controls
        study_box = W.VBox([c[k] for k in ("task", "sampler", "variant", "mode", "n_trials",
                                           "epochs", "seed")])
        diag_box = W.VBox([c[k] for k in ("indicators", *THRESHOLDS)])
        children = list(self.widget.children)
        children[1] = W.VBox([W.HBox([study_box, diag_box]), self.enqueue_box])
        at = children.index(self.figure_output)
        children[at:at + 1] = [self.indicator, self.figure_output, self.table]
        children += [
            self.summary,
            W.HTML("<b>TSBA / Top10HR of a finished experiment</b> "
                   "(<code>effdl reproduce bttackler --scale ... --out DIR</code>)"),
            W.HBox([self.results_path, self.results_button]),
            self.results_table, self.results_output,
        ]
        self.widget.children = tuple(children)
        controller.on_change(self._on_event)

    # ------------------------------------------------------------------ actions
    def read_controls(self) -> None:
        """Copy the controls and the "try first" box into the controller's parameters.

        Raises
        ------
        ConfigError
            The "try first" box does not hold a JSON list of objects.
        """
        super().read_controls()
        self.controller.set(enqueue=parse_enqueue(self.enqueue_box.value))

    def run(self) -> Any:
        """What the Run button does; a malformed "try first" box is shown as the error."""
        try:
            self.read_controls()
        except ConfigError as exc:
            self.controller.record_error(exc)
            return None
        return self.controller.run()

    def show_results(self, path: str | Path | None = None, *, rewrite: bool = False) -> bool:
        """Load a bttackler results folder and show its TSBA / Top10HR figure and headline.

        Parameters
        ----------
        path : str or Path, optional
            Default: the results-folder box (which is set to ``path`` when given).
        rewrite : bool
            Also redraw the folder's figure and table files.

        Returns
        -------
        bool
            True when shown; False when loading failed (the error is in the error box).
        """
        if path is not None:
            self.results_path.value = str(path)
        c = self.controller
        if c.status != "running":
            c.clear_error()
        try:
            c.load_experiment(self.results_path.value, rewrite=rewrite)
            fig = c.experiment_figure()
            png = figure_to_png(fig)
            table = c.experiment_table()
        except Exception as exc:
            c.record_error(exc, set_status=False)
            self.results_output.outputs = ()
            self.results_table.value = ""
            return False
        self.results_output.outputs = _png_output(png, "<bttackler TSBA / Top10HR figure>")
        self.results_table.value = table.to_html(
            index=False, border=0, na_rep="", float_format=lambda v: f"{v:.2f}")
        return True

    # ------------------------------------------------------------------ view updates
    def _on_indicator(self, change: Any) -> None:
        self.controller.set(indicator=change["new"])
        if self.controller.result is not None or self.controller.live:
            self.show_figure()

    def _render_table(self) -> None:
        c = self.controller
        if not c.trials and c.result is None:
            self.table.value = ""
            return
        t = c.table()
        metric = t.attrs.get("metric", "metric")
        cols = ["number", "state", "metric", "stopped by", "flagged", "epoch", "epochs run",
                "params"]
        view = t[cols].rename(columns={"metric": f"val {metric}", "flagged": "fired"})
        self.table.value = (
            "<div style='max-height:260px;overflow:auto;font-size:smaller'>"
            + view.to_html(index=False, border=0, na_rep="",
                           float_format=lambda v: f"{v:.4g}") + "</div>")

    def _on_event(self, event: Any) -> None:
        if event.kind in ("progress", "result"):
            self._render_table()
        if event.kind in ("result", "status"):
            self.summary.value = html.escape(self.controller.summary())
