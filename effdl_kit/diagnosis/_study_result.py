"""What a diagnosed study records: its options, every epoch, every trial, the result object.

:class:`DiagnosedStudyOptions` (validated before any training), :class:`DiagnosedEpoch`,
:class:`DiagnosedTrial` and :class:`DiagnosedStudy` (DataFrames, best trial, TSBA points,
``to_json`` / ``from_json``), filled by :func:`~effdl_kit.diagnosis.run_diagnosed_study`.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import optuna
import pandas as pd

from effdl_kit._core.errors import ConfigError, DataError
from effdl_kit._core.io import atomic_write_text
from effdl_kit._core.rng import SEED_MAX
from effdl_kit._core.types import DIRECTIONS, Direction
from effdl_kit._core.validate import check_choice, check_int
from effdl_kit.diagnosis._config import DiagnosisConfig
from effdl_kit.diagnosis._optuna import MODES

__all__ = [
    "STUDY_VARIANTS",
    "DiagnosedEpoch",
    "DiagnosedStudy",
    "DiagnosedStudyOptions",
    "DiagnosedTrial",
    "StudyVariant",
]

#: ``"plain"``: diagnosed, never stopped; ``"bttackler"``: diagnosed trials are stopped.
StudyVariant = Literal["plain", "bttackler"]
STUDY_VARIANTS: tuple[str, ...] = ("plain", "bttackler")

_NAN = float("nan")
_EPOCH_COLUMNS = ["trial", "epoch", "train_loss", "val_loss", "metric", "fired", "stopped",
                  "flagged", "protected", "median_grad", "median_zero_fraction"]
_TABLE_COLUMNS = ["number", "params", "metric", "state", "stopped by", "epoch", "epochs run",
                  "flagged", "reason", "seconds", "t_end", "error", "note"]
#: indicator quantity -> the epoch column it falls back to when the indicator did not run
_FALLBACK = {"AGV.median_grad": "median_grad",
             "LAR.median_zero_fraction": "median_zero_fraction"}


def _fmt_value(v: Any) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def _float(v: Any) -> float:
    """``float(v)``; NaN for None (how JSON stores a NaN written by ``to_json``)."""
    return _NAN if v is None else float(v)


def enqueue_dicts(value: Any) -> tuple[dict[str, Any], ...]:
    """``value`` as a tuple of dicts (None: none); ConfigError naming ``enqueue[i]``."""
    want = "a list of {hyper-parameter: value} dicts"
    if value is None:
        return ()
    if isinstance(value, str | Mapping) or not isinstance(value, Sequence):
        raise ConfigError("enqueue", value, want)
    for i, fixed in enumerate(value):
        if not isinstance(fixed, Mapping):
            raise ConfigError(f"enqueue[{i}]", fixed, want)
    return tuple(dict(fixed) for fixed in value)


@dataclass(frozen=True)
class DiagnosedStudyOptions:
    """What :func:`run_diagnosed_study` runs; validated on construction, before any training.

    Parameters
    ----------
    n_trials : int
        Trials to run (1 .. 100,000).
    epochs : int
        Epochs of a full trial (2 .. 10,000): the unit of progress and the plots' x range
        (the trials' ``TrainConfig.epochs`` should equal it).
    variant : {"plain", "bttackler"}
    mode : {"report", "prune"}
        How BTTackler ends a diagnosed trial (``"bttackler"`` only).
    config : DiagnosisConfig
        Enabled indicators and thresholds.
    enqueue : sequence of mapping
        Configurations tried first (see :func:`check_enqueue`).
    direction : {"maximize", "minimize"}
        Direction of the validation metric.
    metric : str
        Name of the validation metric (``"accuracy"``, ``"mse"``).
    seed : int
        Seed of the default sampler (``RandomSampler``) when none is given (0 .. 2**32 - 1).
    """

    n_trials: int
    epochs: int
    variant: StudyVariant = "bttackler"
    mode: str = "report"
    config: DiagnosisConfig = field(default_factory=DiagnosisConfig)
    enqueue: tuple[dict[str, Any], ...] = ()
    direction: Direction = "maximize"
    metric: str = "metric"
    seed: int = 0

    def __post_init__(self) -> None:
        check_choice("variant", self.variant, STUDY_VARIANTS)
        check_choice("mode", self.mode, MODES)
        check_int("n_trials", self.n_trials, min_value=1, max_value=100_000)
        check_int("epochs", self.epochs, min_value=2, max_value=10_000)
        check_int("seed", self.seed, min_value=0, max_value=SEED_MAX)
        check_choice("direction", self.direction, DIRECTIONS)
        if not isinstance(self.config, DiagnosisConfig):
            raise ConfigError("config", self.config, "a DiagnosisConfig")
        if not isinstance(self.metric, str) or not self.metric.strip():
            raise ConfigError("metric", self.metric, "a metric name")
        object.__setattr__(self, "enqueue", enqueue_dicts(self.enqueue))

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict; the diagnosis configuration under ``"diagnosis"``."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d.pop("config")
        d["enqueue"] = [dict(e) for e in self.enqueue]
        d["diagnosis"] = self.config.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DiagnosedStudyOptions:
        """Inverse of :meth:`to_dict` (validated again)."""
        d = dict(d)
        config = DiagnosisConfig(**d.pop("diagnosis"))
        return cls(config=config, **d)


@dataclass(frozen=True)
class DiagnosedEpoch:
    """One finished epoch of one trial, with its diagnosis.

    Attributes
    ----------
    trial, epoch : int
        Trial number and epoch (0-based).
    train_loss, val_loss, metric : float
        The epoch's mean training loss, validation loss and validation metric.
    fired : tuple of str
        Indicator codes that fired on this epoch (empty: healthy, or not diagnosed).
    stopped : bool
        BTTackler ended the trial on this epoch (an indicator fired, variant "bttackler").
    protected : bool
        The trial was protected (a strong trial) on this epoch.
    median_grad, median_zero_fraction : float
        Medians over layers of the mean |gradient| and of the zero-gradient fraction.
    values : dict
        Every indicator quantity that was computed (``"AGV.median_grad"``, ...).
    """

    trial: int
    epoch: int
    train_loss: float
    val_loss: float
    metric: float
    fired: tuple[str, ...] = ()
    stopped: bool = False
    protected: bool = False
    median_grad: float = _NAN
    median_zero_fraction: float = _NAN
    values: dict[str, float] = field(default_factory=dict)

    @property
    def flagged(self) -> bool:
        """An indicator fired (stopped or not)."""
        return bool(self.fired)

    def row(self) -> dict[str, Any]:
        """One row of :attr:`DiagnosedStudy.epochs` (the indicator values as columns)."""
        d = {k: getattr(self, k) for k in _EPOCH_COLUMNS}
        d.update(self.values)
        return d

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict (``fired`` as a list)."""
        d = dataclasses.asdict(self)
        d["fired"] = list(self.fired)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DiagnosedEpoch:
        """Inverse of :meth:`to_dict`."""
        return cls(trial=int(d["trial"]), epoch=int(d["epoch"]),
                   train_loss=_float(d["train_loss"]), val_loss=_float(d["val_loss"]),
                   metric=_float(d["metric"]), fired=tuple(d["fired"]),
                   stopped=bool(d["stopped"]), protected=bool(d["protected"]),
                   median_grad=_float(d["median_grad"]),
                   median_zero_fraction=_float(d["median_zero_fraction"]),
                   values={str(k): _float(v) for k, v in d["values"].items()})


@dataclass
class DiagnosedTrial:
    """One trial of a diagnosed study; updated live while it trains.

    Attributes
    ----------
    index, number : int
        Position in this run (0-based) and the Optuna trial number.
    params : dict
        The sampled hyper-parameters.
    metric : float
        The trial's result: the objective value when COMPLETE, else its last finite
        validation metric (NaN when none).
    state : {"RUNNING", "COMPLETE", "PRUNED", "FAIL"}
    stopped_by : tuple of str
        The indicator codes that stopped it (BTTackler's decision; empty when it ran to the
        end or in a plain run).
    epoch : int or None
        The epoch on which an indicator first fired.
    epochs_run : int
    flagged : tuple of str
        The indicators that fired first (stopped or not).
    reason : str
        Why an indicator fired (or why the run stopped).
    seconds : float
        Duration of the trial.
    t_end : float
        When it ended, seconds since the study started.
    fail_reason : str or None
        Why a FAIL trial failed (the trial's ``"fail_reason"`` user attribute).
    note : str
        Warnings about the configuration (an enqueued value outside the search range).
    """

    index: int
    number: int
    params: dict[str, Any] = field(default_factory=dict)
    metric: float = _NAN
    state: str = "RUNNING"
    stopped_by: tuple[str, ...] = ()
    epoch: int | None = None
    epochs_run: int = 0
    flagged: tuple[str, ...] = ()
    reason: str = ""
    seconds: float = _NAN
    t_end: float = _NAN
    fail_reason: str | None = None
    note: str = ""

    def row(self) -> dict[str, Any]:
        """One row of :attr:`DiagnosedStudy.table` (codes joined with ``+``)."""
        return {"number": self.number,
                "params": ", ".join(f"{k}={_fmt_value(v)}" for k, v in self.params.items()),
                "metric": self.metric, "state": self.state,
                "stopped by": "+".join(self.stopped_by), "epoch": self.epoch,
                "epochs run": self.epochs_run, "flagged": "+".join(self.flagged),
                "reason": self.reason, "seconds": self.seconds, "t_end": self.t_end,
                "error": self.fail_reason, "note": self.note}

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict (codes as lists)."""
        d = dataclasses.asdict(self)
        d["stopped_by"], d["flagged"] = list(self.stopped_by), list(self.flagged)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DiagnosedTrial:
        """Inverse of :meth:`to_dict`."""
        d = dict(d)
        for key in ("metric", "seconds", "t_end"):
            d[key] = _float(d[key])
        d["stopped_by"], d["flagged"] = tuple(d["stopped_by"]), tuple(d["flagged"])
        return cls(**d)


@dataclass
class DiagnosedStudy:
    """A diagnosed study: its trials and epochs (live while it runs, then the result).

    Attributes
    ----------
    options : DiagnosedStudyOptions
        What was run.
    trials : list of DiagnosedTrial
        One record per trial started, in order.
    history : list of DiagnosedEpoch
        One record per finished epoch, in order.
    context : dict
        What the caller recorded with it (task, dataset, search space, ...).
    wall_time_s : float
        Seconds of the study (data loading excluded).
    stopped : bool
        ``should_stop`` ended the study before all trials ran.
    study : optuna.Study or None
        The study (None when read back with :meth:`from_json`).
    """

    options: DiagnosedStudyOptions
    trials: list[DiagnosedTrial] = field(default_factory=list)
    history: list[DiagnosedEpoch] = field(default_factory=list)
    context: dict[str, Any] = field(default_factory=dict)
    wall_time_s: float = 0.0
    stopped: bool = False
    study: optuna.Study | None = field(default=None, repr=False, compare=False)

    @property
    def metric(self) -> str:
        """Name of the validation metric."""
        return self.options.metric

    @property
    def direction(self) -> str:
        """``"maximize"`` or ``"minimize"``."""
        return self.options.direction

    @property
    def settings(self) -> dict[str, Any]:
        """The options (:meth:`DiagnosedStudyOptions.to_dict`) and the caller's context."""
        return {**self.options.to_dict(), **self.context}

    @property
    def epochs(self) -> pd.DataFrame:
        """One row per (trial, epoch): ``trial, epoch, train_loss, val_loss, metric, fired``
        (tuple of codes), ``stopped``, ``flagged``, ``protected``, ``median_grad``,
        ``median_zero_fraction``, then one column per indicator value, sorted."""
        frame = pd.DataFrame([e.row() for e in self.history])
        if frame.empty:
            return pd.DataFrame(columns=_EPOCH_COLUMNS)
        extra = sorted(c for c in frame.columns if c not in _EPOCH_COLUMNS)
        return frame[_EPOCH_COLUMNS + extra]

    @property
    def table(self) -> pd.DataFrame:
        """One row per trial: ``number, params`` (as text), ``metric``, ``state``, ``stopped
        by`` (``"AGV+EAG"``), ``epoch`` (first firing), ``epochs run``, ``flagged``,
        ``reason``, ``seconds``, ``t_end``, ``error`` (the fail reason), ``note``;
        ``attrs["metric"]`` names the metric."""
        frame = pd.DataFrame([t.row() for t in self.trials], columns=_TABLE_COLUMNS)
        frame["epoch"] = frame["epoch"].astype("Int64")
        frame["epochs run"] = frame["epochs run"].astype(int)
        frame.attrs["metric"] = self.metric
        return frame

    def indicator_values(self, key: str, epochs: pd.DataFrame | None = None) -> np.ndarray:
        """The values of one indicator quantity, one per row of an epochs frame.

        ``AGV.median_grad`` and ``LAR.median_zero_fraction`` fall back to the per-layer
        gradient medians where the indicator did not run (disabled, or LAR before its start
        epoch).

        Parameters
        ----------
        key : str
            ``"CODE.quantity"`` as in ``Diagnosis.values``.
        epochs : pandas.DataFrame, optional
            Rows of :attr:`epochs` (default: all of them).

        Returns
        -------
        numpy.ndarray, shape (len(epochs),)
            NaN where the quantity was not computed.
        """
        frame = self.epochs if epochs is None else epochs
        n = len(frame)
        vals = frame[key].to_numpy(dtype=float) if key in frame.columns else np.full(n, np.nan)
        fallback = _FALLBACK.get(key)
        if fallback is not None and fallback in frame.columns:
            vals = np.where(np.isfinite(vals), vals, frame[fallback].to_numpy(dtype=float))
        return vals

    def finished(self) -> list[DiagnosedTrial]:
        """The trials that ended (any state but RUNNING)."""
        return [t for t in self.trials if t.state != "RUNNING"]

    @property
    def n_stopped(self) -> int:
        """Finished trials BTTackler stopped (0 in a ``plain`` run)."""
        return sum(bool(t.stopped_by) for t in self.finished())

    @property
    def n_flagged(self) -> int:
        """Finished trials on which at least one indicator fired (stopped or not)."""
        return sum(bool(t.flagged) for t in self.finished())

    def rule_counts(self) -> dict[str, int]:
        """Indicator code -> finished trials it stopped (``bttackler``) or flagged
        (``plain``), most frequent first."""
        counts: dict[str, int] = {}
        for t in self.finished():
            for code in t.stopped_by if self.options.variant == "bttackler" else t.flagged:
                counts[code] = counts.get(code, 0) + 1
        return dict(sorted(counts.items(), key=lambda kv: -kv[1]))

    def points(self) -> list[tuple[float, float]]:
        """``(t_end, metric)`` of the finished trials (COMPLETE or PRUNED, finite metric):
        the input of the TSBA and Top10HR metrics."""
        return [(t.t_end, t.metric) for t in self.trials
                if t.state in ("COMPLETE", "PRUNED")
                and math.isfinite(t.t_end) and math.isfinite(t.metric)]

    def best(self) -> tuple[int, float] | None:
        """``(trial number, metric)`` of the best finished trial, or None."""
        pts = [(t.number, t.metric) for t in self.trials
               if t.state in ("COMPLETE", "PRUNED") and math.isfinite(t.metric)]
        if not pts:
            return None
        sign = 1.0 if self.direction == "maximize" else -1.0
        return max(pts, key=lambda p: sign * p[1])

    def summary(self) -> str:
        """One line: trials, how many were stopped (or flagged) and by which rules, the best
        trial, epochs trained and the study's time."""
        best = self.best()
        best_txt = (f"best {self.metric} {best[1]:.4f} (trial {best[0]})" if best is not None
                    else "no finished trial")
        rules = ", ".join(f"{c} {n}" for c, n in self.rule_counts().items())
        bttackler = self.options.variant == "bttackler"
        verb = "stopped" if bttackler else "flagged (not stopped)"
        n = self.n_stopped if bttackler else self.n_flagged
        return (f"{len(self.trials)} trials, {n} {verb}" + (f" ({rules})" if rules else "")
                + f"; {best_txt}; {len(self.history)} epochs trained in "
                f"{self.wall_time_s:.1f} s")

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict (the Optuna study is left out)."""
        return {"options": self.options.to_dict(),
                "trials": [t.to_dict() for t in self.trials],
                "history": [e.to_dict() for e in self.history],
                "context": self.context, "wall_time_s": self.wall_time_s,
                "stopped": self.stopped}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DiagnosedStudy:
        """Inverse of :meth:`to_dict`.

        Raises
        ------
        DataError
            Missing or malformed fields (options that do not validate included).
        """
        try:
            return cls(options=DiagnosedStudyOptions.from_dict(d["options"]),
                       trials=[DiagnosedTrial.from_dict(t) for t in d["trials"]],
                       history=[DiagnosedEpoch.from_dict(e) for e in d["history"]],
                       context=dict(d["context"]), wall_time_s=float(d["wall_time_s"]),
                       stopped=bool(d["stopped"]))
        except (KeyError, TypeError, ValueError, AttributeError, ConfigError) as exc:
            raise DataError(f"not a diagnosed study ({type(exc).__name__}: {exc})") from None

    def to_json(self, path: str | Path) -> Path:
        """Write :meth:`to_dict` as JSON (NaN kept; parent folders created)."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        return atomic_write_text(p, json.dumps(self.to_dict(), indent=1) + "\n")

    @classmethod
    def from_json(cls, path: str | Path) -> DiagnosedStudy:
        """Read a study written by :meth:`to_json`.

        Raises
        ------
        DataError
            Not JSON, or not a diagnosed study.
        """
        p = Path(path)
        try:
            d = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise DataError(f"cannot read a diagnosed study from {str(p)!r}: {exc}") from None
        if not isinstance(d, dict):
            raise DataError(f"{str(p)!r} does not hold a diagnosed study")
        return cls.from_dict(d)
