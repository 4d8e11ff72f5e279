"""Optuna integration: a pruner that carries the policy, and a two-line objective helper.

>>> study = optuna.create_study(direction="maximize",
...                             pruner=BTTacklerPruner(mode="report"))  # doctest: +SKIP
>>> def objective(trial):  # doctest: +SKIP
...     model, opt = build(trial)
...     bt = diagnose_trial(trial, model, max_epochs=E)          # extra line 1
...     for epoch in range(E):
...         train_loss, val_acc = run_epoch(model, opt)
...         if bt.end_epoch(train_loss, val_acc):                # extra line 2
...             break
...     return val_acc

Gradients are collected automatically (an autograd hook on the monitored weights). In
``"report"`` mode (the paper) a diagnosed trial stops and returns its current metric, so the
sampler sees an ordinary COMPLETE trial; in ``"prune"`` mode ``end_epoch`` raises
``optuna.TrialPruned``. Either way the diagnosis is stored in the trial's user attributes
under ``"bttackler"`` (indicators, epoch, values, reason), and every epoch's training loss
under ``"bttackler_train_losses"`` (which feeds the protection rule of the other trials).
A diagnosis at the trial's last epoch is not a stop (it saves nothing): the trial ends as an
ordinary COMPLETE trial, ``"bttackler"`` is not set, and the diagnosis is kept under
``"bttackler_last_epoch"`` instead, so code that counts stops or ranks indicators by the
``"bttackler"`` attribute leaves it out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import optuna
from torch import nn

from effdl_kit._core.errors import ConfigError
from effdl_kit._core.jsonable import json_float
from effdl_kit._core.validate import check_choice
from effdl_kit.diagnosis._config import DiagnosisConfig
from effdl_kit.diagnosis._diagnoser import Diagnoser, Diagnosis
from effdl_kit.training.loop import Hook, TrainState

__all__ = [
    "ATTR_DIAGNOSIS",
    "ATTR_LAST_EPOCH",
    "ATTR_LOSSES",
    "MODES",
    "BTTacklerPruner",
    "TrialDiagnoser",
    "TrialHook",
    "diagnose_trial",
]

ATTR_DIAGNOSIS = "bttackler"
ATTR_LOSSES = "bttackler_train_losses"
#: where a diagnosis made at the trial's last epoch is kept (it is not a stop)
ATTR_LAST_EPOCH = "bttackler_last_epoch"
MODES = ("report", "prune")
_DIRECTIONS = ("maximize", "minimize")




class BTTacklerPruner(optuna.pruners.BasePruner):
    """BTTackler as an Optuna pruner: holds the mode and the indicator configuration.

    The diagnosis needs per-batch gradients, which only the objective sees, so it is made by
    :class:`TrialDiagnoser` (:func:`diagnose_trial`) and stored in the trial's user
    attributes; :meth:`prune` reads it back. A trial without a stored diagnosis is never
    pruned.

    Parameters
    ----------
    mode : {"report", "prune"}
        ``"report"`` (the paper): a diagnosed trial ends as COMPLETE with its current metric.
        ``"prune"``: it ends as PRUNED (``optuna.TrialPruned``).
    config : DiagnosisConfig, optional
        Thresholds and windows used by every trial of the study.
    """

    def __init__(self, mode: str = "report", config: DiagnosisConfig | None = None) -> None:
        self.mode = check_choice("mode", mode, MODES)
        if config is not None and not isinstance(config, DiagnosisConfig):
            raise ConfigError("config", type(config).__name__, "a DiagnosisConfig or None")
        self.config = config or DiagnosisConfig()

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        """True in ``"prune"`` mode once the trial has a stored diagnosis."""
        return self.mode == "prune" and ATTR_DIAGNOSIS in trial.user_attrs


def _study_direction(study: optuna.Study) -> str:
    if len(study.directions) != 1:
        raise ConfigError("study", f"{len(study.directions)} objectives",
                          "a single-objective study (trial.report needs one metric)")
    return "maximize" if study.direction == optuna.study.StudyDirection.MAXIMIZE else "minimize"


class TrialDiagnoser:
    """A :class:`Diagnoser` bound to one Optuna trial (made by :func:`diagnose_trial`).

    Parameters
    ----------
    trial : optuna.Trial
        The running trial.
    model : torch.nn.Module
        The trial's model.
    max_epochs : int
        The trial's epoch budget (>= 2).
    direction : {"maximize", "minimize"}, optional
        Direction of the metric passed to :meth:`end_epoch`; must match the study's
        (a mismatch raises ``ConfigError`` before training). Default: the study's.
    config : DiagnosisConfig, optional
        Default: the study's :class:`BTTacklerPruner` config, else the defaults.
    mode : {"report", "prune"}, optional
        Default: the study's :class:`BTTacklerPruner` mode, else ``"report"``.
    collect : {"auto", "manual"}
        ``"auto"``: gradients are collected by an autograd hook; ``"manual"``: call
        :meth:`after_backward` after each backward (needed with a ``GradScaler``).
    """

    def __init__(
        self,
        trial: optuna.Trial,
        model: nn.Module,
        *,
        max_epochs: int,
        direction: str | None = None,
        config: DiagnosisConfig | None = None,
        mode: str | None = None,
        collect: str = "auto",
    ) -> None:
        if not isinstance(trial, optuna.Trial):
            raise ConfigError("trial", type(trial).__name__, "an optuna.Trial (a running trial)")
        study_dir = _study_direction(trial.study)
        if direction is not None:
            check_choice("direction", direction, _DIRECTIONS)
            if direction != study_dir:
                raise ConfigError(
                    "direction", direction,
                    f"{study_dir!r}: the study is created with direction={study_dir!r}, so a "
                    f"metric to {direction} contradicts it (create the study with "
                    f"direction={direction!r} or pass the metric negated)")
        check_choice("collect", collect, ("auto", "manual"))
        pruner = trial.study.pruner
        if isinstance(pruner, BTTacklerPruner):
            config = config if config is not None else pruner.config
            mode = mode if mode is not None else pruner.mode
        self.mode = check_choice("mode", mode if mode is not None else "report", MODES)
        self.trial = trial
        self.direction = study_dir
        self.diagnoser = Diagnoser(model, max_epochs=max_epochs, config=config,
                                   peer_losses=self._peer_losses)
        if collect == "auto":
            self.diagnoser.attach()
        self.diagnosis: Diagnosis | None = None

    def _peer_losses(self, epoch: int) -> list[float]:
        out: list[float] = []
        for t in self.trial.study.get_trials(deepcopy=False):
            if t.number == self.trial.number:
                continue
            losses = t.user_attrs.get(ATTR_LOSSES)
            if isinstance(losses, Sequence) and len(losses) > epoch and losses[epoch] is not None:
                out.append(float(losses[epoch]))
        return out

    def after_backward(self) -> None:
        """Accumulate this batch's gradients (``collect="manual"`` only)."""
        self.diagnoser.after_backward()

    def end_epoch(self, train_loss: Any, metric: Any, *, val_loss: Any = None) -> bool:
        """Diagnose the epoch, report ``metric`` to the trial, decide whether to stop.

        Parameters
        ----------
        train_loss : float
            The epoch's mean training loss.
        metric : float
            The objective's metric this epoch (in the study's direction); reported with
            ``trial.report(metric, epoch)``.
        val_loss : float, optional
            Feeds OF when enabled and, with ``loss_curves="train_val"``, SC, ULC and NMG.

        Returns
        -------
        bool
            True when the trial should stop now and return its current metric (mode
            ``"report"``). Never True at the last epoch (``max_epochs - 1``): a diagnosis
            there is stored under ``ATTR_LAST_EPOCH`` and the trial completes normally.

        Raises
        ------
        optuna.TrialPruned
            In mode ``"prune"`` when an indicator fires, or when another pruner of the study
            says so.
        """
        if isinstance(metric, bool) or not isinstance(metric, int | float):
            try:
                metric = float(metric)
            except (TypeError, ValueError):
                raise ConfigError("metric", metric, "a real number") from None
        d = self.diagnoser.end_epoch(train_loss, val_loss=val_loss, val_metric=metric)
        self.trial.set_user_attr(ATTR_LOSSES,
                                 [json_float(v) for v in self.diagnoser.train_losses])
        if math.isfinite(metric):
            self.trial.report(float(metric), d.epoch)
        if d:
            info = d.to_dict()
            info["values"] = {k: json_float(v) for k, v in d.values.items()}
            info["mode"] = self.mode
            info["metric"] = json_float(float(metric))
            self.diagnoser.detach()
            # at the last epoch the trial ends now anyway: not a stop, not pruned
            self.trial.set_user_attr(ATTR_LAST_EPOCH if d.last_epoch else ATTR_DIAGNOSIS, info)
        if d.stops:
            self.diagnosis = d
            if self.mode == "prune":
                raise optuna.TrialPruned(f"BTTackler: {d.reason}")
            return True
        if self.trial.should_prune():  # another pruner of the study (e.g. MedianPruner)
            self.diagnoser.detach()
            raise optuna.TrialPruned(f"pruned by {type(self.trial.study.pruner).__name__}")
        return False


def diagnose_trial(
    trial: optuna.Trial,
    model: nn.Module,
    *,
    max_epochs: int,
    direction: str | None = None,
    config: DiagnosisConfig | None = None,
    mode: str | None = None,
    collect: str = "auto",
) -> TrialDiagnoser:
    """Start diagnosing ``trial``'s training of ``model`` (see :class:`TrialDiagnoser`)."""
    return TrialDiagnoser(trial, model, max_epochs=max_epochs, direction=direction,
                          config=config, mode=mode, collect=collect)


class TrialHook(Hook):
    """The bench version: ``train(cfg, hooks=[TrialHook(trial)])`` inside an objective.

    Reports the validation metric (accuracy: maximize, MSE: minimize; checked against the
    study before the first epoch) and stops the run (report mode) or raises
    ``optuna.TrialPruned`` (prune mode) when an indicator fires.

    Parameters
    ----------
    trial : optuna.Trial
    config : DiagnosisConfig, optional
    mode : {"report", "prune"}, optional
    """

    def __init__(self, trial: optuna.Trial, *, config: DiagnosisConfig | None = None,
                 mode: str | None = None) -> None:
        if not isinstance(trial, optuna.Trial):
            raise ConfigError("trial", type(trial).__name__, "an optuna.Trial (a running trial)")
        if mode is not None:
            check_choice("mode", mode, MODES)
        self.trial = trial
        self.config = config
        self.mode = mode
        self.helper: TrialDiagnoser | None = None

    def on_fit_start(self, state: TrainState) -> None:
        """Bind the diagnoser; raises ConfigError when the metric contradicts the study."""
        direction = "maximize" if state.config.task == "classification" else "minimize"
        self.helper = TrialDiagnoser(self.trial, state.model, max_epochs=state.config.epochs,
                                     direction=direction, config=self.config, mode=self.mode,
                                     collect="manual")

    def after_backward(self, state: TrainState) -> None:
        """Accumulate this batch's gradient statistics."""
        assert self.helper is not None
        self.helper.after_backward()

    def epoch_end(self, state: TrainState) -> None:
        """Diagnose, report the validation metric, stop when diagnosed."""
        assert self.helper is not None
        rec = state.history[-1]
        if self.helper.end_epoch(rec.train_loss, rec.val_metric, val_loss=rec.val_loss):
            assert self.helper.diagnosis is not None
            state.stop(f"BTTackler {'+'.join(self.helper.diagnosis.fired)}: "
                       f"{self.helper.diagnosis.reason}")
