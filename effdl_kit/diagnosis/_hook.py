"""The bench hook: runs a :class:`Diagnoser` inside ``effdl_kit.training.train``."""

from __future__ import annotations

from collections.abc import Callable

from effdl_kit._core.errors import ConfigError
from effdl_kit.diagnosis._config import DiagnosisConfig
from effdl_kit.diagnosis._diagnoser import Diagnoser, Diagnosis, PeerLosses
from effdl_kit.training.loop import Hook, TrainState

__all__ = ["DiagnosisHook"]


class DiagnosisHook(Hook):
    """Diagnose a bench run; stop it (``state.stop``) when an indicator fires.

    Parameters
    ----------
    config : DiagnosisConfig, optional
        Thresholds and windows (validated now, before training starts).
    stop : bool
        Stop the run at the end of the epoch in which an indicator fires (default), unless
        that is the last epoch (the run ends anyway; ``TrainResult.stopped_early`` stays
        False). With False the run goes on and every epoch's verdict is kept.
    peer_losses : callable, optional
        Other trials' training losses per epoch, for the protection rule.
    on_diagnosis : callable, optional
        Called with every epoch's :class:`Diagnosis` (e.g. to report to a study or a panel).

    Attributes
    ----------
    diagnoser : Diagnoser or None
        Built at ``on_fit_start`` from the run's model and ``config.epochs``.
    diagnoses : list of Diagnosis
        One per finished epoch.

    Examples
    --------
    >>> hook = DiagnosisHook()  # doctest: +SKIP
    >>> res = train(TrainConfig(epochs=20), hooks=[hook])  # doctest: +SKIP
    >>> hook.diagnosis.fired if hook.diagnosis else "healthy"  # doctest: +SKIP
    """

    def __init__(
        self,
        config: DiagnosisConfig | None = None,
        *,
        stop: bool = True,
        peer_losses: PeerLosses | None = None,
        on_diagnosis: Callable[[Diagnosis], None] | None = None,
    ) -> None:
        if config is not None and not isinstance(config, DiagnosisConfig):
            raise ConfigError("config", type(config).__name__, "a DiagnosisConfig or None")
        if stop not in (True, False):
            raise ConfigError("stop", stop, (True, False))
        if on_diagnosis is not None and not callable(on_diagnosis):
            raise ConfigError("on_diagnosis", on_diagnosis, "a callable or None")
        self.config = config or DiagnosisConfig()
        self.stop = bool(stop)
        self.peer_losses = peer_losses
        self.on_diagnosis = on_diagnosis
        self.diagnoser: Diagnoser | None = None
        self.diagnoses: list[Diagnosis] = []

    @property
    def diagnosis(self) -> Diagnosis | None:
        """The first diagnosis in which an indicator fired (None: healthy so far)."""
        return next((d for d in self.diagnoses if d), None)

    def on_fit_start(self, state: TrainState) -> None:
        """Build the diagnoser (raises ConfigError for ``epochs < 2`` or no weight layers)."""
        self.diagnoses = []
        if state.config.epochs < 2:
            raise ConfigError("epochs", state.config.epochs,
                              "an integer >= 2 (the diagnosis splits the run into two halves)")
        self.diagnoser = Diagnoser(state.model, max_epochs=state.config.epochs,
                                   config=self.config, peer_losses=self.peer_losses)

    def after_backward(self, state: TrainState) -> None:
        """Accumulate this batch's gradient statistics (on device)."""
        assert self.diagnoser is not None
        self.diagnoser.after_backward()

    def epoch_end(self, state: TrainState) -> None:
        """Evaluate the indicators; stop the run when one fires."""
        assert self.diagnoser is not None
        rec = state.history[-1]
        d = self.diagnoser.end_epoch(rec.train_loss, rec.val_loss, rec.train_metric,
                                     rec.val_metric)
        self.diagnoses.append(d)
        state.extras["diagnosis"] = d
        if self.on_diagnosis is not None:
            self.on_diagnosis(d)
        if d.stops and self.stop:  # a diagnosis at the last epoch saves nothing: not a stop
            state.stop(f"BTTackler {'+'.join(d.fired)}: {d.reason}")
