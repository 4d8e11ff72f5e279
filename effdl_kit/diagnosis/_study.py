"""The live diagnosed study: an in-process Optuna study whose trials are diagnosed as they train.

:func:`run_diagnosed_study` runs one worker's ask / train / tell loop through the kit's one
trial step (:func:`effdl_kit._core.storage.run_trial`). Each trial's configuration comes from
the caller's ``suggest(trial) -> TrainConfig`` (the search space is the caller's), is trained
with :func:`effdl_kit.training.train` and a diagnosing hook, and is told to the study. Two
variants:

* ``"bttackler"``: :class:`~effdl_kit.diagnosis.BTTacklerPruner` +
  :class:`~effdl_kit.diagnosis.TrialHook`; a diagnosed trial is stopped (mode ``"report"``,
  as in the paper: it ends with its current metric) or pruned (mode ``"prune"``);
* ``"plain"``: every trial is diagnosed by a :class:`~effdl_kit.diagnosis.DiagnosisHook` that
  never stops it (what BTTackler *would* have done; the peers are the run's other trials).

Every epoch becomes a :class:`DiagnosedEpoch` (losses, metric, fired rules, gradient medians,
every indicator value), every trial a :class:`DiagnosedTrial` (parameters, state, metric,
which rules stopped or flagged it). Both grow live inside the :class:`DiagnosedStudy` that
is handed to the ``on_epoch`` / ``on_trial`` callbacks and finally returned, so a panel can
draw while the study runs and stop it between epochs (``should_stop``).
"""

from __future__ import annotations

import functools
import math
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import optuna

from effdl_kit._core.errors import ConfigError, TrainingError
from effdl_kit._core.jsonable import param_value
from effdl_kit._core.study import ATTR_FAIL_REASON, TrialOutcome, quiet_optuna, run_trial
from effdl_kit._core.types import ProgressFn
from effdl_kit._core.validate import check_choice
from effdl_kit.diagnosis._diagnoser import Diagnoser, Diagnosis
from effdl_kit.diagnosis._hook import DiagnosisHook
from effdl_kit.diagnosis._optuna import ATTR_DIAGNOSIS, BTTacklerPruner, TrialHook
from effdl_kit.diagnosis._study_result import (
    DiagnosedEpoch,
    DiagnosedStudy,
    DiagnosedStudyOptions,
    DiagnosedTrial,
    enqueue_dicts,
)
from effdl_kit.training import DataBundle, Hook, TrainConfig, TrainState, train

__all__ = ["check_enqueue", "run_diagnosed_study"]

_NAN = float("nan")




def _median(values: Sequence[float]) -> float:
    a = np.asarray(values, dtype=np.float64)
    a = a[np.isfinite(a)]
    return float(np.median(a)) if a.size else _NAN


def _dry_trial(suggest: Callable[[optuna.Trial], Any],
               fixed: Mapping[str, Any] | None) -> list[str]:
    """Sample one configuration (no training); returns the search space's names."""
    with quiet_optuna(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
        if fixed:
            study.enqueue_trial(dict(fixed))
        trial = study.ask()
        suggest(trial)
    return list(trial.params)


def check_enqueue(enqueue: Any, suggest: Callable[[optuna.Trial], Any]
                  ) -> tuple[dict[str, Any], ...]:
    """Check configurations to be tried first against a search space (no training).

    Parameters
    ----------
    enqueue : sequence of mapping or None
        ``{hyper-parameter: value}`` dicts, tried in order before the sampler's proposals.
        Values outside a numeric range are allowed (Optuna uses them as given, with a
        warning the study records as the trial's note).
    suggest : callable
        ``suggest(trial)`` samples the search space (its return value is ignored here).

    Returns
    -------
    tuple of dict

    Raises
    ------
    ConfigError
        Not a list of dicts, a name the search space does not have, or a value it does not
        accept (a categorical value not among the choices), naming ``enqueue[i]``.
    """
    fixed_all = enqueue_dicts(enqueue)
    if not fixed_all:
        return ()
    names = tuple(_dry_trial(suggest, None))
    for i, fixed in enumerate(fixed_all):
        for key in fixed:
            check_choice(f"enqueue[{i}]", key, names)
        try:
            _dry_trial(suggest, fixed)
        except ConfigError:
            raise
        except Exception as exc:  # optuna: a categorical value not among the choices
            raise ConfigError(f"enqueue[{i}]", fixed,
                              f"values the search space accepts ({exc})") from None
    return fixed_all


class _StopRequested(BaseException):
    """Raised at an epoch end when ``should_stop()`` is true: a stop signal, not a failure of
    the configuration (``run_trial`` tells the trial FAIL, "interrupted: ...", and re-raises)."""


class _LiveHook(Hook):
    """Wraps one trial's diagnosing hook and records every epoch into the running study."""

    def __init__(self, runner: _Runner, rec: DiagnosedTrial, trial: optuna.Trial,
                 inner: TrialHook | DiagnosisHook) -> None:
        self.runner = runner
        self.rec = rec
        self.trial = trial
        self.inner = inner

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
            if isinstance(self.inner, DiagnosisHook):  # plain: report like any objective
                v = state.history[-1].val_metric
                if math.isfinite(v):
                    self.trial.report(float(v), state.epoch)
            self.inner.epoch_end(state)  # bttackler: may stop the run or raise TrialPruned
        finally:
            diag = self.diagnoser
            d = (diag.history[-1] if diag is not None and len(diag.history) == state.epoch + 1
                 else None)
            self.runner.epoch_done(self.rec, state, d)
        ends = state.stop_reason is not None or state.epoch + 1 >= state.config.epochs
        if not ends and self.runner.stop_requested():
            raise _StopRequested(f"study stopped at epoch {state.epoch}")


class _Runner:
    """The state of one :func:`run_diagnosed_study` call."""

    def __init__(self, run: DiagnosedStudy, suggest: Callable[[optuna.Trial], TrainConfig],
                 data: DataBundle | None,
                 on_epoch: Callable[[DiagnosedStudy, DiagnosedEpoch], None] | None,
                 on_trial: Callable[[DiagnosedStudy, DiagnosedTrial], None] | None,
                 progress: ProgressFn | None, should_stop: Callable[[], bool] | None) -> None:
        self.run = run
        self.opt = run.options
        self.suggest = suggest
        self.data = data
        self.on_epoch = on_epoch
        self.on_trial = on_trial
        self.progress = progress
        self.should_stop = should_stop
        self.total = self.opt.n_trials * self.opt.epochs
        self.trial: optuna.Trial | None = None

    def stop_requested(self) -> bool:
        return self.should_stop is not None and bool(self.should_stop())

    def objective(self, trial: optuna.Trial, index: int) -> float:
        rec = DiagnosedTrial(index=index, number=trial.number)
        self.run.trials.append(rec)
        self.trial = trial
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            cfg = self.suggest(trial)
        rec.params = {k: param_value(v) for k, v in trial.params.items()}
        rec.note = "; ".join(str(w.message) for w in caught if "out of range" in str(w.message))
        opt = self.opt
        inner: TrialHook | DiagnosisHook
        if opt.variant == "bttackler":
            inner = TrialHook(trial, config=opt.config, mode=opt.mode)
        else:  # diagnosed, never stopped: what BTTackler would have done
            inner = DiagnosisHook(opt.config, stop=False, peer_losses=self.peers(trial.number))
        res = train(cfg, hooks=[_LiveHook(self, rec, trial, inner)], data=self.data)
        if res.stop_reason and not rec.reason and opt.variant != "bttackler":
            rec.reason = str(res.stop_reason)
        if res.nonfinite_loss is not None:  # diverged: a failed trial, not a chance-level result
            raise TrainingError(res.nonfinite_loss)
        return float(res.history[-1].val_metric)

    def peers(self, number: int) -> Callable[[int], list[float]]:
        def peer_losses(epoch: int) -> list[float]:
            return [e.train_loss for e in self.run.history
                    if e.trial != number and e.epoch == epoch and math.isfinite(e.train_loss)]

        return peer_losses

    def epoch_done(self, rec: DiagnosedTrial, state: TrainState, d: Diagnosis | None) -> None:
        r = state.history[-1]
        fired = tuple(d.fired) if d is not None else ()
        bttackler = self.opt.variant == "bttackler"
        ep = DiagnosedEpoch(
            trial=rec.number, epoch=r.epoch, train_loss=float(r.train_loss),
            val_loss=float(r.val_loss), metric=float(r.val_metric), fired=fired,
            stopped=d is not None and d.stops and bttackler,
            protected=bool(d.protected) if d is not None else False,
            median_grad=_median(d.grad_mean_abs) if d is not None else _NAN,
            median_zero_fraction=_median(d.grad_zero_fraction) if d is not None else _NAN,
            values={k: float(v) for k, v in d.values.items()} if d is not None else {})
        self.run.history.append(ep)
        rec.epochs_run = r.epoch + 1
        rec.metric = float(r.val_metric)
        if fired and not rec.flagged:
            rec.flagged = fired
            if rec.epoch is None:
                rec.epoch = r.epoch
            if not rec.reason and d is not None:
                rec.reason = d.reason
        if self.on_epoch is not None:
            self.on_epoch(self.run, ep)
        if self.progress is not None:
            e = self.opt.epochs
            msg = (f"trial {rec.index + 1}/{self.opt.n_trials}, epoch {r.epoch + 1}/{e}: "
                   f"loss {r.train_loss:.4g}, val {self.opt.metric} {r.val_metric:.4g}")
            if fired:
                msg += (f"; stopped by {'+'.join(fired)}" if bttackler
                        else f"; {'+'.join(fired)} fired (not stopped: plain)")
            self.progress(rec.index * e + r.epoch + 1, self.total, msg)

    def close(self, rec: DiagnosedTrial, outcome: TrialOutcome) -> None:
        assert self.trial is not None and self.trial.number == rec.number == outcome.number
        info = self.trial.user_attrs.get(ATTR_DIAGNOSIS)
        if isinstance(info, Mapping):  # stored by TrialHook: which rule stopped the trial
            rec.stopped_by = tuple(info.get("indicators", []))
            rec.epoch = info.get("epoch")
            rec.reason = str(info.get("reason", ""))
        rec.seconds = outcome.t_end - outcome.t_start
        rec.t_end = outcome.t_end
        rec.fail_reason = outcome.fail_reason
        rec.state = outcome.state
        if outcome.state == "COMPLETE" and outcome.value is not None:
            rec.metric = outcome.value
        else:
            rec.metric = next((e.metric for e in reversed(self.run.history)
                               if e.trial == rec.number and math.isfinite(e.metric)), _NAN)

    def trial_message(self, rec: DiagnosedTrial) -> str:
        head = f"trial {rec.index + 1}/{self.opt.n_trials} {rec.state}"
        if rec.stopped_by:
            return f"{head}: stopped by {'+'.join(rec.stopped_by)} at epoch {rec.epoch}"
        if rec.fail_reason:
            return f"{head}: {rec.fail_reason}"
        return f"{head}: {rec.epochs_run} epochs, metric {rec.metric:.4g}"

    def loop(self, study: optuna.Study) -> None:
        t0 = time.perf_counter()

        def clock() -> float:
            return time.perf_counter() - t0

        for i in range(self.opt.n_trials):
            if self.stop_requested():
                self.run.stopped = True
                break
            try:
                outcome = run_trial(study, functools.partial(self.objective, index=i),
                                    clock=clock)
            except BaseException as exc:  # told FAIL by run_trial ("interrupted: ...")
                rec = self.run.trials[-1] if self.run.trials else None
                if rec is not None and rec.index == i and self.trial is not None:
                    attrs = self.trial.user_attrs
                    self.close(rec, TrialOutcome(rec.number, "FAIL", None,
                                                 attrs.get(ATTR_FAIL_REASON),
                                                 attrs["t_start"], attrs["t_end"]))
                self.run.wall_time_s = clock()
                if not isinstance(exc, _StopRequested):
                    raise
                self.run.stopped = True
                outcome = None
            rec = self.run.trials[-1]
            if outcome is not None:
                self.close(rec, outcome)
            if self.on_trial is not None:
                self.on_trial(self.run, rec)
            if self.progress is not None:
                self.progress((i + 1) * self.opt.epochs, self.total, self.trial_message(rec))
            if self.run.stopped:
                break
        self.run.wall_time_s = clock()


def run_diagnosed_study(
    suggest: Callable[[optuna.Trial], TrainConfig],
    data: DataBundle | None,
    options: DiagnosedStudyOptions,
    *,
    sampler: optuna.samplers.BaseSampler | None = None,
    study: optuna.Study | None = None,
    context: Mapping[str, Any] | None = None,
    on_epoch: Callable[[DiagnosedStudy, DiagnosedEpoch], None] | None = None,
    on_trial: Callable[[DiagnosedStudy, DiagnosedTrial], None] | None = None,
    progress: ProgressFn | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> DiagnosedStudy:
    """Run an in-process Optuna study whose trials are diagnosed epoch by epoch.

    Parameters
    ----------
    suggest : callable
        ``suggest(trial) -> TrainConfig``: samples the search space for one trial.
    data : DataBundle or None
        The data every trial trains on (None: each ``TrainConfig`` loads its dataset).
    options : DiagnosedStudyOptions
        Trials, epochs, variant, mode, diagnosis configuration, configurations tried first.
    sampler : optuna.samplers.BaseSampler, optional
        Sampler of the new study (default ``RandomSampler(seed=options.seed)``).
    study : optuna.Study, optional
        Run in this study instead of a new one (its direction must be ``options.direction``;
        with ``"bttackler"`` its pruner decides as well, see :class:`TrialHook`).
    context : mapping, optional
        Recorded with the result (:attr:`DiagnosedStudy.context`).
    on_epoch : callable, optional
        ``on_epoch(run, epoch)`` after every recorded epoch (``run`` is the live result).
    on_trial : callable, optional
        ``on_trial(run, trial)`` after every finished trial.
    progress : callable, optional
        ``progress(done, total, label)`` in epochs (``total = n_trials * epochs``), after
        every epoch and every trial.
    should_stop : callable, optional
        Asked after every epoch and before every trial (e.g. ``threading.Event().is_set``);
        when true the running trial ends as FAIL (``fail_reason`` names the stop) and the
        study returns with :attr:`DiagnosedStudy.stopped` set.

    Returns
    -------
    DiagnosedStudy

    Raises
    ------
    ConfigError
        ``sampler`` together with ``study``, a study of the other direction, or an enqueued
        configuration the search space does not accept; raised before any training.

    Notes
    -----
    A failing trial (exception, non-finite metric, or a training whose loss became
    non-finite: ``fail_reason`` ``"TrainingError: non-finite loss: ..."``, see
    :attr:`~effdl_kit.training.TrainResult.nonfinite_loss`) is recorded as FAIL and the study
    goes on; an interrupt (``KeyboardInterrupt``) closes the running trial as FAIL and goes on up.

    Examples
    --------
    >>> from effdl_kit.diagnosis import DiagnosedStudyOptions
    >>> from effdl_kit.training import TrainConfig
    >>> def suggest(trial):
    ...     lr = trial.suggest_float("lr", 1e-3, 0.1, log=True)
    ...     return TrainConfig(dataset="digits", model="mlp", n_train=200, epochs=2, lr=lr,
    ...                        threads=1)
    >>> options = DiagnosedStudyOptions(n_trials=2, epochs=2, metric="accuracy",
    ...                                 enqueue=[{"lr": 0.01}])
    >>> run = run_diagnosed_study(suggest, None, options)
    >>> [(t.params["lr"], t.state, t.epochs_run) for t in run.trials][0]
    (0.01, 'COMPLETE', 2)
    >>> len(run.epochs), run.n_stopped
    (4, 0)
    """
    if not isinstance(options, DiagnosedStudyOptions):
        raise ConfigError("options", options, "a DiagnosedStudyOptions")
    enqueue = check_enqueue(options.enqueue, suggest)
    with quiet_optuna():
        if study is None:
            pruner: optuna.pruners.BasePruner = (
                BTTacklerPruner(mode=options.mode, config=options.config)
                if options.variant == "bttackler" else optuna.pruners.NopPruner())
            study = optuna.create_study(
                direction=options.direction, pruner=pruner,
                sampler=sampler or optuna.samplers.RandomSampler(seed=options.seed))
        elif sampler is not None:
            raise ConfigError("sampler", sampler, "None when a study is given (it has one)")
        elif study.direction.name.lower() != options.direction:
            raise ConfigError("study", study.direction.name.lower(),
                              f"a study to {options.direction} (options.direction)")
        for fixed in enqueue:
            study.enqueue_trial(fixed, skip_if_exists=False)
        run = DiagnosedStudy(options, context=dict(context or {}), study=study)
        _Runner(run, suggest, data, on_epoch, on_trial, progress, should_stop).loop(study)
    return run
