"""Recorded trial traces and the stop rules replayed on them (issue 15, part 2).

A :class:`TrialTrace` is one configuration trained to its full length with the diagnoser in
report-only mode; each epoch is an :class:`EpochRecord` holding what every stop rule needs:
the per-layer gradient statistics the diagnoser consumes (``EpochInput.mean_abs`` /
``zero_fraction`` / ``has_grads``), the training and validation loss, the validation metric
(the value the HPO method sees) and the epoch's wall seconds. Traces are JSON-able
(:meth:`TrialTrace.to_dict` / :meth:`TrialTrace.from_dict`, one dict per JSONL line;
non-finite numbers as ``null``).

A stop rule (:class:`StopRule`) answers ``decide(trace, epoch, history) -> bool`` after each
epoch but the last (a stop at the last epoch saves nothing, so the replay never asks);
``history`` (:class:`ReplayHistory`) holds what the trials replayed *before* this one
recorded. :meth:`StopRule.first_stop` is the whole trial's verdict (the first epoch at which
``decide`` is True); rules override it with a faster equivalent computation.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from effdl_kit._core.errors import ConfigError
from effdl_kit._core.jsonable import as_float, json_float
from effdl_kit._core.types import DIRECTIONS, Direction
from effdl_kit._core.validate import check_choice, check_float, check_int
from effdl_kit.diagnosis._config import DiagnosisConfig
from effdl_kit.diagnosis._curvefit import CurveFitPruner, extrapolate_curve
from effdl_kit.diagnosis._diagnoser import evaluate, protects
from effdl_kit.diagnosis._indicators import EpochInput

__all__ = [
    "BTTacklerRule",
    "CurveFitRule",
    "EpochRecord",
    "MedianRule",
    "NoStopRule",
    "RandomStopRule",
    "ReplayHistory",
    "StopRule",
    "TrialTrace",
]


def _floats(values: Sequence[Any]) -> tuple[float, ...]:
    return tuple(as_float(v) for v in values)


@dataclass(frozen=True)
class EpochRecord:
    """One recorded epoch of a trial.

    Attributes
    ----------
    mean_abs, zero_fraction : tuple of float
        Per-layer ``g`` and ``z`` of the epoch (forward order), as ``EpochInput`` holds them.
    has_grads : bool
        Whether gradients were accumulated this epoch.
    train_loss, val_loss : float
        The epoch's losses (NaN allowed).
    metric : float
        The validation metric reported to the HPO method (NaN allowed: not a result).
    wall_s : float
        The epoch's wall seconds (for a wall-clock budget).
    cpu_s : float
        The epoch's CPU seconds of the training process (NaN: not recorded).
    train_metric : float
        The epoch's training metric (NaN: not recorded).
    """

    mean_abs: tuple[float, ...]
    zero_fraction: tuple[float, ...]
    has_grads: bool
    train_loss: float
    val_loss: float
    metric: float
    wall_s: float = 1.0
    cpu_s: float = math.nan
    train_metric: float = math.nan

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (non-finite numbers as None)."""
        return {"mean_abs": [json_float(v) for v in self.mean_abs],
                "zero_fraction": [json_float(v) for v in self.zero_fraction],
                "has_grads": self.has_grads, "train_loss": json_float(self.train_loss),
                "val_loss": json_float(self.val_loss), "metric": json_float(self.metric),
                "wall_s": json_float(self.wall_s), "cpu_s": json_float(self.cpu_s),
                "train_metric": json_float(self.train_metric)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> EpochRecord:
        """Inverse of :meth:`to_dict` (None read back as NaN)."""
        return cls(mean_abs=_floats(d["mean_abs"]), zero_fraction=_floats(d["zero_fraction"]),
                   has_grads=bool(d["has_grads"]), train_loss=as_float(d["train_loss"]),
                   val_loss=as_float(d["val_loss"]), metric=as_float(d["metric"]),
                   wall_s=as_float(d.get("wall_s", 1.0)), cpu_s=as_float(d.get("cpu_s")),
                   train_metric=as_float(d.get("train_metric")))


@dataclass(frozen=True)
class TrialTrace:
    """One configuration trained to its full length: the unit the replay orders.

    Attributes
    ----------
    config_id : str
        Unique id of the configuration within a trace set.
    records : tuple of EpochRecord
        Every epoch (at least 2); ``max_epochs = len(records)``.
    direction : {"maximize", "minimize"}
        Whether a higher ``metric`` is better.
    params : dict
        The configuration's hyper-parameters (what :func:`replay_tpe` searches over).
    tags : dict
        Labels of the trace (e.g. its task, an injected pathology; the replay ignores them).
    """

    config_id: str
    records: tuple[EpochRecord, ...]
    direction: Direction = "maximize"
    params: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_choice("direction", self.direction, DIRECTIONS)
        check_int("len(records)", len(self.records), min_value=2)

    @property
    def max_epochs(self) -> int:
        """Epochs of the full run."""
        return len(self.records)

    @property
    def metrics(self) -> np.ndarray:
        """The validation metric of every epoch."""
        return np.asarray([r.metric for r in self.records], dtype=np.float64)

    @property
    def final_metric(self) -> float:
        """The metric at the last epoch: the result of the full run."""
        return self.records[-1].metric

    def epoch_input(self, epoch: int) -> EpochInput:
        """The diagnoser's input at the end of ``epoch`` (0-based)."""
        r = self.records[epoch]
        past = self.records[:epoch + 1]
        return EpochInput(
            epoch=epoch, max_epochs=self.max_epochs,
            mean_abs=np.asarray(r.mean_abs, dtype=np.float64),
            zero_fraction=np.asarray(r.zero_fraction, dtype=np.float64),
            has_grads=r.has_grads,
            train_losses=np.asarray([p.train_loss for p in past], dtype=np.float64),
            val_losses=np.asarray([p.val_loss for p in past], dtype=np.float64))

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict: one line of a JSONL trace file."""
        return {"config_id": self.config_id, "direction": self.direction,
                "params": dict(self.params), "tags": dict(self.tags),
                "records": [r.to_dict() for r in self.records]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TrialTrace:
        """Inverse of :meth:`to_dict`; other keys (a JSONL row's ``index``, ``status``) are
        ignored."""
        return cls(config_id=str(d["config_id"]),
                   records=tuple(EpochRecord.from_dict(r) for r in d["records"]),
                   direction=d.get("direction", "maximize"), params=dict(d.get("params", {})),
                   tags={str(k): str(v) for k, v in dict(d.get("tags") or {}).items()})


class ReplayHistory:
    """What the trials replayed before the current one recorded (one rule, one ordering).

    ``losses_at(e)``: training losses of every earlier trial that ran epoch ``e`` (stopped
    trials contribute the epochs they ran); ``complete_metrics_at(e)``: metrics at ``e`` of
    the earlier trials that ran to the end with a finite final metric (Optuna's COMPLETE
    trials; Optuna records a NaN result as FAIL); ``complete_results``: their final results.
    Medians and bests are kept up to date as trials are added, so a rule's query costs O(1)
    whatever the number of earlier trials.
    """

    def __init__(self) -> None:
        self._losses: list[list[float]] = []
        self._complete: list[list[float]] = []
        self._sorted: list[list[float]] = []  # finite complete metrics per epoch, sorted
        self.complete_results: list[float] = []
        self.n_trials = 0
        self._max, self._min = -math.inf, math.inf

    @staticmethod
    def _at(table: list[list[float]], epoch: int) -> list[float]:
        return table[epoch] if epoch < len(table) else []

    def losses_at(self, epoch: int) -> list[float]:
        """Training losses earlier trials recorded at ``epoch``."""
        return self._at(self._losses, epoch)

    def complete_metrics_at(self, epoch: int) -> list[float]:
        """Metrics at ``epoch`` of the earlier trials that ran to the end."""
        return self._at(self._complete, epoch)

    def complete_median_at(self, epoch: int) -> tuple[int, float]:
        """``(count, median)`` of the finite complete metrics at ``epoch`` (NaN when none)."""
        xs = self._at(self._sorted, epoch)
        n = len(xs)
        if n == 0:
            return 0, float("nan")
        mid = n // 2
        return n, xs[mid] if n % 2 else 0.5 * (xs[mid - 1] + xs[mid])

    def best_result(self, direction: str) -> tuple[int, float]:
        """``(count, best)`` of the complete results (NaN when none)."""
        if not self.complete_results:
            return 0, float("nan")
        return len(self.complete_results), self._max if direction == "maximize" else self._min

    def add(self, trace: TrialTrace, n_epochs: int) -> None:
        """Record ``trace`` after it ran ``n_epochs`` epochs (all of them, with a finite final
        metric: complete)."""
        for table in (self._losses, self._complete, self._sorted):
            while len(table) < n_epochs:
                table.append([])
        for e in range(n_epochs):
            self._losses[e].append(trace.records[e].train_loss)
        if n_epochs == trace.max_epochs and math.isfinite(trace.final_metric):
            for e in range(n_epochs):
                m = trace.records[e].metric
                self._complete[e].append(m)
                if math.isfinite(m):
                    bisect.insort(self._sorted[e], m)
            v = trace.final_metric
            self.complete_results.append(v)
            self._max, self._min = max(self._max, v), min(self._min, v)
        self.n_trials += 1


class StopRule:
    """A stop rule replayed on traces; subclasses implement :meth:`decide`.

    Attributes
    ----------
    name : str
        Label in the replay's tables.
    """

    name = "rule"

    def prepare(self, traces: Sequence[TrialTrace]) -> None:
        """Precompute what does not depend on the ordering (called once per replay)."""

    def start_ordering(self, rng: np.random.Generator) -> None:
        """Called before each ordering with a generator seeded from it."""

    def decide(self, trace: TrialTrace, epoch: int, history: ReplayHistory) -> bool:
        """Stop ``trace`` after ``epoch`` (``epoch < max_epochs - 1``)?"""
        raise NotImplementedError

    def reasons(self, trace: TrialTrace, epoch: int, history: ReplayHistory
                ) -> tuple[str, ...]:
        """Labels of a stop at ``epoch`` (indicator codes for BTTackler)."""
        return (self.name,)

    def first_stop(self, trace: TrialTrace, history: ReplayHistory
                   ) -> tuple[int | None, tuple[str, ...]]:
        """The first epoch at which :meth:`decide` stops the trial and its reasons, or
        ``(None, ())`` when it runs to the end. Calls ``decide`` epoch by epoch, in order."""
        for e in range(trace.max_epochs - 1):
            if self.decide(trace, e, history):
                return e, self.reasons(trace, e, history)
        return None, ()


class NoStopRule(StopRule):
    """Never stops (the negative control: TSBA is exactly 0, Top10HR exactly 50 %)."""

    name = "none"

    def decide(self, trace: TrialTrace, epoch: int, history: ReplayHistory) -> bool:
        """Never."""
        return False

    def first_stop(self, trace: TrialTrace, history: ReplayHistory
                   ) -> tuple[int | None, tuple[str, ...]]:
        """Always ``(None, ())``."""
        return None, ()


class RandomStopRule(StopRule):
    """Stops a trial with probability ``stop_rate``, ignoring its curves (the negative
    control), at an epoch drawn uniformly from ``0 .. max_epochs - 2`` or, with
    ``stop_epochs``, from that list (e.g. another rule's stop epochs, to match its timing
    too; values are clipped to ``max_epochs - 2``).

    Draws come from the generator :meth:`start_ordering` receives: one pair per trial, in the
    order the trials are asked about.
    """

    name = "random"

    def __init__(self, stop_rate: float, *, stop_epochs: Sequence[int] | None = None) -> None:
        self.stop_rate = check_float("stop_rate", stop_rate, min_value=0.0, max_value=1.0)
        self.stop_epochs: tuple[int, ...] | None = None
        if stop_epochs is not None:
            eps = tuple(check_int("stop_epochs[]", e, min_value=0) for e in stop_epochs)
            if not eps:
                raise ConfigError("stop_epochs", "[]", "a non-empty list of epochs, or None")
            self.stop_epochs = eps
        self._rng = np.random.default_rng(0)
        self._plan: dict[str, int | None] = {}

    def start_ordering(self, rng: np.random.Generator) -> None:
        """Forget the previous ordering's draws; draw from ``rng``."""
        self._rng = rng
        self._plan = {}

    def _stop_epoch(self, trace: TrialTrace) -> int | None:
        if trace.config_id not in self._plan:
            stop = bool(self._rng.random() < self.stop_rate)
            if self.stop_epochs is None:
                e = int(self._rng.integers(0, trace.max_epochs - 1))
            else:
                e = min(self.stop_epochs[int(self._rng.integers(0, len(self.stop_epochs)))],
                        trace.max_epochs - 2)
            self._plan[trace.config_id] = e if stop else None
        return self._plan[trace.config_id]

    def decide(self, trace: TrialTrace, epoch: int, history: ReplayHistory) -> bool:
        """True at the trial's drawn epoch."""
        return self._stop_epoch(trace) == epoch

    def first_stop(self, trace: TrialTrace, history: ReplayHistory
                   ) -> tuple[int | None, tuple[str, ...]]:
        """The drawn epoch (or None)."""
        e = self._stop_epoch(trace)
        return (e, (self.name,)) if e is not None else (None, ())


class MedianRule(StopRule):
    """Optuna's ``MedianPruner`` rule, written out for the replay.

    At epoch ``e >= n_warmup_steps``, once ``n_startup_trials`` earlier trials ran to the end:
    stop when the trial's best metric so far is worse than the median of those complete
    trials' metrics at epoch ``e`` (needs ``n_min_trials`` of them; an all-NaN curve so far
    stops, as in Optuna; NaN medians never stop). Defaults are Optuna's (5, 0, 1).
    """

    name = "median"

    def __init__(self, *, n_startup_trials: int = 5, n_warmup_steps: int = 0,
                 n_min_trials: int = 1) -> None:
        self.n_startup_trials = check_int("n_startup_trials", n_startup_trials, min_value=0)
        self.n_warmup_steps = check_int("n_warmup_steps", n_warmup_steps, min_value=0)
        self.n_min_trials = check_int("n_min_trials", n_min_trials, min_value=1)

    def decide(self, trace: TrialTrace, epoch: int, history: ReplayHistory) -> bool:
        """Best-so-far worse than the complete trials' median at ``epoch``."""
        if len(history.complete_results) < self.n_startup_trials or epoch < self.n_warmup_steps:
            return False
        sign = 1.0 if trace.direction == "maximize" else -1.0
        curve = sign * trace.metrics[:epoch + 1]
        if not np.isfinite(curve).any():
            return True
        best = float(np.nanmax(curve))
        n, median = history.complete_median_at(epoch)
        if n < self.n_min_trials:
            return False
        return best < sign * median


class CurveFitRule(StopRule):
    """The paper's learning-curve rule with :class:`CurveFitPruner`'s decision: stop when the
    curve extrapolated to the last epoch (:func:`extrapolate_curve`, from ``min_steps``
    epochs) is worse than the best result of the earlier complete trials by more than
    ``tolerance x |best|`` (at least ``n_startup_trials`` of them). Extrapolations depend on
    the trace only, so they are computed once per (trace, epoch)."""

    name = "curvefit"

    def __init__(self, *, min_steps: int = 3, n_startup_trials: int = 5,
                 tolerance: float = 0.05) -> None:
        # the pruner validates the arguments; its max_steps is per trace here (2: a placeholder)
        self.pruner = CurveFitPruner(2, min_steps=min_steps, n_startup_trials=n_startup_trials,
                                     tolerance=tolerance)
        self._pred: dict[tuple[str, int], float | None] = {}

    def prepare(self, traces: Sequence[TrialTrace]) -> None:
        """Drop the extrapolations of a previous trace set (keyed by ``config_id``)."""
        self._pred = {}

    def _extrapolated(self, trace: TrialTrace, epoch: int) -> float | None:
        key = (trace.config_id, epoch)
        if key not in self._pred:
            sign = 1.0 if trace.direction == "maximize" else -1.0
            y = (sign * trace.metrics[:epoch + 1]).tolist()
            self._pred[key] = extrapolate_curve(list(range(epoch + 1)), y,
                                                trace.max_epochs - 1)
        return self._pred[key]

    def decide(self, trace: TrialTrace, epoch: int, history: ReplayHistory) -> bool:
        """Extrapolated final value below the best complete result minus the tolerance."""
        p = self.pruner
        if epoch + 1 < p.min_steps or epoch >= trace.max_epochs - 1:
            return False
        sign = 1.0 if trace.direction == "maximize" else -1.0
        n_done, best_raw = history.best_result(trace.direction)
        if n_done < p.n_startup_trials:
            return False
        pred = self._extrapolated(trace, epoch)
        if pred is None:
            return False
        best = sign * best_raw
        return pred < best - p.tolerance * abs(best)


class BTTacklerRule(StopRule):
    """BTTackler: the kit's :func:`evaluate` on the stored epoch inputs, with the protection
    rule (:func:`protects`) against the training losses of the trials replayed *before* this
    one at the same epoch (so the verdict depends on the ordering); once protected, protected
    for the rest of the trial. A diagnosis at the last epoch is not a stop.

    Parameters
    ----------
    config : DiagnosisConfig, optional
        Indicators and thresholds (default: the kit's defaults).
    name : str
        The rule's name in the results (distinct names let one replay compare presets).
    """

    name = "bttackler"

    def __init__(self, config: DiagnosisConfig | None = None, *, name: str = "bttackler"
                 ) -> None:
        if not isinstance(name, str) or not name.strip():
            raise ConfigError("name", name, "a non-empty string")
        self.name = name
        self.config = config if config is not None else DiagnosisConfig()
        # per trace: fired codes per epoch, unprotected and protected
        self._fired: dict[str, tuple[list[tuple[str, ...]], list[tuple[str, ...]]]] = {}

    def _codes(self, trace: TrialTrace) -> tuple[list[tuple[str, ...]], list[tuple[str, ...]]]:
        if trace.config_id not in self._fired:
            plain, prot = [], []
            for e in range(trace.max_epochs - 1):
                inp = trace.epoch_input(e)
                plain.append(evaluate(inp, self.config).fired)
                prot.append(evaluate(inp, self.config, protected=True).fired)
            self._fired[trace.config_id] = (plain, prot)
        return self._fired[trace.config_id]

    def prepare(self, traces: Sequence[TrialTrace]) -> None:
        """Evaluate every epoch of every trace, protected and not (a new trace set: the
        cache of a previous one, keyed by ``config_id``, is dropped)."""
        self._fired = {}
        for t in traces:
            self._codes(t)

    def protected_at(self, trace: TrialTrace, epoch: int, history: ReplayHistory) -> bool:
        """Whether the trial is protected at ``epoch`` (protected at some epoch ``<= epoch``)."""
        return any(protects(trace.records[e].train_loss, history.losses_at(e), self.config)
                   for e in range(epoch + 1))

    def reasons(self, trace: TrialTrace, epoch: int, history: ReplayHistory
                ) -> tuple[str, ...]:
        """The indicator codes that fire at ``epoch`` (after the protection)."""
        plain, prot = self._codes(trace)
        return prot[epoch] if self.protected_at(trace, epoch, history) else plain[epoch]

    def decide(self, trace: TrialTrace, epoch: int, history: ReplayHistory) -> bool:
        """An indicator fires at ``epoch`` (a non-last epoch)."""
        return bool(self.reasons(trace, epoch, history))

    def first_stop(self, trace: TrialTrace, history: ReplayHistory
                   ) -> tuple[int | None, tuple[str, ...]]:
        """Same as the epoch-by-epoch loop; the protection is checked only up to the last
        epoch where it changes the fired codes."""
        plain, prot = self._codes(trace)
        differs = [e for e in range(len(plain)) if plain[e] != prot[e]]
        last = differs[-1] if differs else -1
        protected = False
        for e in range(len(plain)):
            if not protected and e <= last:
                protected = protects(trace.records[e].train_loss, history.losses_at(e),
                                     self.config)
            codes = prot[e] if protected else plain[e]
            if codes:
                return e, codes
        return None, ()
