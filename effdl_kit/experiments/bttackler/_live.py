"""The live BTTackler experiment (issue 15, part 4): paired plain and BTTackler HPO runs on an
epoch budget, interleaved, repeated.

One *repeat* is two *arms* of the same HPO method on the same data split: ``plain`` (every
trial trains all its epochs) and ``bttackler`` (the diagnosis stops a trial when an indicator
fires, report mode: the stopped trial's result is its current validation accuracy, as in the
paper). Each arm is an in-memory Optuna study whose trials run one after another in one
process with one torch thread, until the epochs its trials ran reach the budget; the trial
that crosses the budget runs to its end (or its stop) and is counted. With the Random sampler
and the same seed both arms draw the same configurations in the same order, and trial ``n``
trains with the seed ``seed + n`` in both, so the stopping is the only difference. The two
arms of a repeat run at the same time in two worker processes (they see the same machine
load); which arm is submitted first alternates per repeat.

Per trial the record holds its number, params, epochs run, whether it was stopped and by which
indicators, its validation curve and result, its wall and CPU seconds, and the three clocks of
its arm at its end: epochs (the *epoch clock*), wall seconds and CPU seconds since the arm's
clock started (after loading the data and one warm-up epoch). The analysis
(:mod:`._live_analysis`) compares the arms of each repeat (TSBA on each clock, Top10HR, trials,
stops, epochs saved) and then the repeats (mean, 95 % bootstrap interval, verdict).

The results file ``bttackler_live.json`` is rewritten atomically after every repeat; a run on
the same folder skips the repeats already in it (resumable), and refuses a file written with
another budget, seed or diagnosis configuration.

>>> from effdl_kit.experiments.bttackler import LiveBudget
>>> b = LiveBudget.for_scale("small")
>>> b.repeats, b.epochs, b.epoch_budget, b.batches, b.method, b.preset
(6, 16, 224, (16, 32, 64), 'random', 'kit')
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import multiprocessing as mp
import os
import time
from collections.abc import Mapping
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import optuna

from effdl_kit._core.env import collect_env
from effdl_kit._core.errors import ConfigError, DataError
from effdl_kit._core.io import atomic_write_text
from effdl_kit._core.jsonable import json_float, param_value
from effdl_kit._core.pool import shutdown_when_done, worker_init
from effdl_kit._core.rng import SEED_MAX
from effdl_kit._core.study import quiet_optuna, sigterm_as_exit
from effdl_kit._core.types import ProgressFn
from effdl_kit._core.validate import (
    check_choice,
    check_executor,
    check_float,
    check_int,
    check_scale,
)
from effdl_kit.diagnosis import ATTR_DIAGNOSIS, DiagnosisConfig, TrialHook
from effdl_kit.training import DataBundle, Hook, TrainConfig, TrainState, load_data, train

from ._live_analysis import summarize_live
from ._settings import SPACES, SpaceName, make_sampler
from ._spaces import SEARCH_SPACES

__all__ = [
    "LIVE_ARMS",
    "LIVE_FILE",
    "LIVE_FORMAT",
    "LIVE_METHODS",
    "LIVE_PRESETS",
    "ArmSpec",
    "LiveArm",
    "LiveBudget",
    "LiveMethod",
    "LivePreset",
    "live_data",
    "run_arm",
    "run_bttackler_live",
]

#: The ``format`` tag of the results file.
LIVE_FORMAT = "effdl-bttackler-live/1"
#: The results file's name in the output folder.
LIVE_FILE = "bttackler_live.json"
#: The two arms of a repeat; ``plain`` is the baseline.
LiveArm = Literal["plain", "bttackler"]
LIVE_ARMS: tuple[LiveArm, ...] = get_args(LiveArm)
#: HPO methods of the live experiment (Random pairs the arms' configurations exactly).
LiveMethod = Literal["random", "tpe"]
LIVE_METHODS: tuple[LiveMethod, ...] = get_args(LiveMethod)
#: Diagnosis presets (:meth:`~effdl_kit.diagnosis.DiagnosisConfig.preset`).
LivePreset = Literal["kit", "faithful"]
LIVE_PRESETS: tuple[LivePreset, ...] = get_args(LivePreset)


@dataclass(frozen=True)
class LiveBudget:
    """Everything a scale decides for the live experiment.

    Get one with :meth:`for_scale`; change a field with :func:`dataclasses.replace` (checked
    again).

    Attributes
    ----------
    repeats : int
        Paired repeats (1..1000).
    epochs : int
        Epochs of a full trial (2..10000).
    epoch_budget : int
        Budget of one arm in epochs (>= ``epochs``): trials start while the arm's epoch clock
        is below it.
    n_samples : int
        Generated images (``dataset="synthetic"``), split 70/15/15 into train/val/test.
    batches : tuple of int
        Batch sizes the search space samples.
    space : {"tiny", "small", "paper"}
        Size ranges of the CNN search space (:data:`SPACES`).
    method : {"random", "tpe"}
        The HPO method of both arms.
    preset : {"kit", "faithful"}
        The BTTackler arm's diagnosis configuration.
    image_size : int
        Side of the generated images (>= 16: four conv + pool stages).
    difficulty : float
        Of the generated task, in [0, 1].
    """

    repeats: int
    epochs: int
    epoch_budget: int
    n_samples: int
    batches: tuple[int, ...]
    space: SpaceName
    method: LiveMethod = "random"
    preset: LivePreset = "kit"
    image_size: int = 16
    difficulty: float = 0.5

    def __post_init__(self) -> None:
        check_int("repeats", self.repeats, min_value=1, max_value=1000)
        check_int("epochs", self.epochs, min_value=2, max_value=10_000)
        check_int("epoch_budget", self.epoch_budget, min_value=self.epochs)
        check_int("n_samples", self.n_samples, min_value=100, max_value=10_000_000)
        if isinstance(self.batches, str) or not isinstance(self.batches, tuple | list) or \
                not self.batches:
            raise ConfigError("batches", self.batches, "a non-empty list of integers >= 1")
        for b in self.batches:
            check_int("batches", b, min_value=1)
        object.__setattr__(self, "batches", tuple(int(b) for b in self.batches))
        check_choice("space", self.space, tuple(SPACES))
        check_choice("method", self.method, LIVE_METHODS)
        check_choice("preset", self.preset, LIVE_PRESETS)
        check_int("image_size", self.image_size, min_value=16, max_value=512)
        object.__setattr__(self, "difficulty", check_float(
            "difficulty", self.difficulty, min_value=0.0, max_value=1.0))

    @classmethod
    def for_scale(cls, scale: str) -> LiveBudget:
        """The budget of ``scale``.

        ``smoke``: 2 repeats, 4 epochs, 12 epochs per arm, 600 images, tiny ranges (seconds).
        ``small``: 6 repeats, 16 epochs, 224 epochs per arm (14 full trials), 7,000 images
        (4,902 train / 1,049 val / 1,049 test), batches 16/32/64 (>= 77 steps per epoch),
        small ranges. ``paper``: 10 repeats, 20 epochs, 800 epochs per arm, 20,000 32x32
        images, batches 32..256, the paper's ranges.

        Raises
        ------
        ConfigError
            An unknown scale.
        """
        return cls(**_LIVE_SCALES[check_scale(scale)])

    @property
    def data_params(self) -> dict[str, Any]:
        """``data_params`` of the generated images (the task is fixed by ``data_seed=0``)."""
        return {"n_samples": self.n_samples, "image_size": self.image_size,
                "difficulty": self.difficulty, "data_seed": 0}

    def diagnosis(self) -> DiagnosisConfig:
        """The BTTackler arm's diagnosis configuration (:attr:`preset`)."""
        return DiagnosisConfig.preset(self.preset)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (lists for tuples)."""
        return dict(json.loads(json.dumps(dataclasses.asdict(self))))


_LIVE_SCALES: dict[str, dict[str, Any]] = {
    "smoke": {"repeats": 2, "epochs": 4, "epoch_budget": 12, "n_samples": 600,
              "batches": (16, 32, 64), "space": "tiny"},
    "small": {"repeats": 6, "epochs": 16, "epoch_budget": 16 * 14, "n_samples": 7000,
              "batches": (16, 32, 64), "space": "small"},
    "paper": {"repeats": 10, "epochs": 20, "epoch_budget": 20 * 40, "n_samples": 20000,
              "batches": (32, 64, 128, 256), "space": "paper", "image_size": 32},
}


@dataclass(frozen=True)
class ArmSpec:
    """One arm of one repeat; picklable for a worker process.

    Attributes
    ----------
    arm : {"plain", "bttackler"}
    repeat : int
        Repeat index (0-based).
    seed : int
        The repeat's seed: data split, sampler, trial ``n`` trains with ``seed + n``.
    budget : LiveBudget
    diagnosis : DiagnosisConfig or None
        The BTTackler arm's configuration (None: ``budget.diagnosis()``); unused by ``plain``.
    """

    arm: LiveArm
    repeat: int
    seed: int
    budget: LiveBudget
    diagnosis: DiagnosisConfig | None = None

    def __post_init__(self) -> None:
        check_choice("arm", self.arm, LIVE_ARMS)
        check_int("repeat", self.repeat, min_value=0)
        check_int("seed", self.seed, min_value=0, max_value=SEED_MAX)
        if not isinstance(self.budget, LiveBudget):
            raise ConfigError("budget", type(self.budget).__name__, "a LiveBudget")
        if self.diagnosis is not None and not isinstance(self.diagnosis, DiagnosisConfig):
            raise ConfigError("diagnosis", type(self.diagnosis).__name__,
                              "a DiagnosisConfig or None")


def live_data(budget: LiveBudget, seed: int) -> DataBundle:
    """The generated images of ``budget``, split by ``seed`` (the same for both arms)."""
    return load_data("synthetic", seed=seed, data_params=budget.data_params)


class _EpochLog(Hook):
    """Each epoch's validation metric (the trial's curve)."""

    def __init__(self) -> None:
        self.curve: list[float] = []

    def epoch_end(self, state: TrainState) -> None:
        self.curve.append(float(state.history[-1].val_metric))


def _warm_up(budget: LiveBudget, data: DataBundle) -> None:
    """One short training before the arm's clock starts (first-call costs of torch kernels)."""
    cfg = TrainConfig(dataset="synthetic", model="cnn", epochs=1, threads=1, batch_size=64,
                      model_params={"channels": (4, 4, 4, 4)}, data_params=budget.data_params)
    train(cfg, data=data)


def _config(trial: optuna.Trial, spec: ArmSpec) -> TrainConfig:
    b = spec.budget
    ranges = {**SPACES[b.space], "image_batches": b.batches}
    common = {"epochs": b.epochs, "seed": (spec.seed + trial.number) % (SEED_MAX + 1),
              "threads": 1, "device": "cpu", "n_train": None, "dataset": "synthetic",
              "data_params": b.data_params}
    return SEARCH_SPACES["cnn"](trial, ranges, common)


def _run_trial(study: optuna.Study, spec: ArmSpec, data: DataBundle,
               config: DiagnosisConfig) -> dict[str, Any]:
    """Ask, train, tell one trial; its record without the clocks."""
    trial = study.ask()
    log = _EpochLog()
    t0, c0 = time.perf_counter(), time.process_time()
    error: str | None = None
    diverged: str | None = None
    try:
        cfg = _config(trial, spec)
        hooks: list[Hook] = [log]
        if spec.arm == "bttackler":
            hooks.append(TrialHook(trial, config=config, mode="report"))
        # no stop on a non-finite loss: a plain HPO run has no stop rule either; the record
        # says so (``nonfinite_loss``), the result stays what such a run would report
        res = train(cfg, hooks=hooks, data=data, stop_on_nonfinite=False)
        value = float(res.history[-1].val_metric)
        diverged = res.nonfinite_loss
    except Exception as exc:  # recorded as failed (``error``), the arm goes on
        value, error = float("nan"), f"{type(exc).__name__}: {exc}"[:500]
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    diag = trial.user_attrs.get(ATTR_DIAGNOSIS)
    with quiet_optuna():
        if math.isfinite(value):
            study.tell(trial, value)
        else:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
    return {
        "number": trial.number, "params": {k: param_value(v) for k, v in trial.params.items()},
        "epochs": len(log.curve), "stopped": isinstance(diag, dict),
        "indicators": list(diag.get("indicators", [])) if isinstance(diag, dict) else [],
        "value": json_float(value), "curve": [json_float(round(v, 6)) for v in log.curve],
        "wall_s": round(wall, 4), "cpu_s": round(cpu, 4), "error": error,
        "nonfinite_loss": diverged,
    }


def run_arm(spec: ArmSpec) -> dict[str, Any]:
    """Run one arm to its epoch budget (in this process) and return its record.

    Returns
    -------
    dict
        ``arm``, ``repeat``, ``seed``, ``setup_s`` (data and warm-up, before the clock),
        ``epoch_clock``, ``wall_clock``, ``cpu_clock`` (at the arm's end) and ``trials``: one
        record per trial, in order: number, params, epochs (run), stopped, indicators, value
        (the result: the last validation accuracy, None when the trial failed), curve
        (validation accuracy per epoch), wall_s, cpu_s, error, nonfinite_loss (why the
        training diverged, :attr:`~effdl_kit.training.TrainResult.nonfinite_loss`, else
        None; such a trial still reports its last validation accuracy, as a plain HPO run
        would), and ``epoch_clock``, ``wall_clock``, ``cpu_clock`` at its end.
    """
    if not isinstance(spec, ArmSpec):
        raise ConfigError("spec", type(spec).__name__, "an ArmSpec")
    t_setup = time.perf_counter()
    data = live_data(spec.budget, spec.seed)
    _warm_up(spec.budget, data)
    config = spec.diagnosis if spec.diagnosis is not None else spec.budget.diagnosis()
    with quiet_optuna():  # no pruner: Optuna's default MedianPruner would stop trials too
        study = optuna.create_study(direction="maximize",
                                    sampler=make_sampler(spec.budget.method, seed=spec.seed),
                                    pruner=optuna.pruners.NopPruner())
    setup_s = time.perf_counter() - t_setup
    t0, c0 = time.perf_counter(), time.process_time()
    epochs = 0
    trials: list[dict[str, Any]] = []
    while epochs < spec.budget.epoch_budget:
        rec = _run_trial(study, spec, data, config)
        epochs += max(rec["epochs"], 1)  # a trial that failed before its first epoch costs 1
        rec.update(epoch_clock=epochs, wall_clock=round(time.perf_counter() - t0, 4),
                   cpu_clock=round(time.process_time() - c0, 4))
        trials.append(rec)
    return {"arm": spec.arm, "repeat": spec.repeat, "seed": spec.seed,
            "setup_s": round(setup_s, 3), "epoch_clock": epochs,
            "wall_clock": trials[-1]["wall_clock"], "cpu_clock": trials[-1]["cpu_clock"],
            "trials": trials}


def _repeat_seed(seed: int, repeat: int) -> int:
    return (int(seed) + 100_003 * int(repeat)) % (SEED_MAX + 1)


def _init_worker() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)


def _data_info(budget: LiveBudget, seed: int) -> dict[str, Any]:
    d = live_data(budget, seed)
    n = len(d.x_train)
    return {"n_train": n, "n_val": len(d.x_val), "n_test": len(d.x_test),
            "steps_per_epoch": {str(b): math.ceil(n / b) for b in budget.batches}}


def _identity(budget: LiveBudget, seed: int, config: DiagnosisConfig) -> dict[str, Any]:
    """What a resumed run must share with the file (``repeats`` may grow between runs)."""
    b = budget.to_dict()
    b.pop("repeats")
    return {"budget": b, "seed": seed, "diagnosis": config.to_dict()}


def _load_existing(path: Path, ident: Mapping[str, Any]) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"{path} is not a readable results file ({exc}); move it away") from exc
    if not isinstance(doc, dict) or doc.get("format") != LIVE_FORMAT:
        raise DataError(f"{path} is not a live BTTackler results file ({LIVE_FORMAT})")
    stored = {k: doc.get(k) for k in ident}
    if stored != dict(json.loads(json.dumps(ident))):
        raise ConfigError("out", str(path.parent), "a folder whose bttackler_live.json was "
                          "written with the same budget (repeats aside), seed and diagnosis "
                          "(or a fresh folder)")
    return list(doc.get("repeats", []))


def run_bttackler_live(
    scale: str = "small",
    seed: int = 0,
    out: str | Path = "docs/results",
    *,
    budget: LiveBudget | None = None,
    diagnosis: DiagnosisConfig | None = None,
    executor: Executor | None = None,
    command: str | None = None,
    progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """Run (or resume) the live experiment and write ``out/bttackler_live.json``.

    Parameters
    ----------
    scale : {"smoke", "small", "paper"}
        Picks :meth:`LiveBudget.for_scale` when ``budget`` is None.
    seed : int
        Base seed; repeat ``r`` uses ``seed + 100003 r``.
    out : path
        Folder of the results file (created).
    budget : LiveBudget, optional
        Overrides the scale's budget.
    diagnosis : DiagnosisConfig, optional
        The BTTackler arm's configuration (default ``budget.diagnosis()``, the preset).
    executor : concurrent.futures.Executor, optional
        Where the two arms of a repeat run at the same time (it needs 2 free slots). Default:
        a local pool of 2 spawned processes.
    command : str, optional
        The command line recorded in the file.
    progress : callable, optional
        ``progress(done, total, label)`` after each repeat.

    Returns
    -------
    dict
        The results document (also written): ``format``, ``scale``, ``seed``, ``budget``,
        ``diagnosis``, ``data`` (split sizes, steps per epoch), ``env``, ``command``,
        ``engine``, ``repeats`` (per repeat: ``repeat``, ``seed``, ``first`` (the arm
        submitted first), ``wall_s``, ``arms``: the :func:`run_arm` records) and ``summary``
        (:func:`~._live_analysis.summarize_live`).

    Raises
    ------
    ConfigError
        Bad input, or ``out`` holds a file of another budget, seed or diagnosis.
    """
    scale = check_scale(scale)
    seed = check_int("seed", seed, min_value=0, max_value=SEED_MAX)
    if budget is None:
        budget = LiveBudget.for_scale(scale)
    if not isinstance(budget, LiveBudget):
        raise ConfigError("budget", type(budget).__name__, "a LiveBudget or None")
    if diagnosis is not None and not isinstance(diagnosis, DiagnosisConfig):
        raise ConfigError("diagnosis", type(diagnosis).__name__, "a DiagnosisConfig or None")
    check_executor(executor)
    if progress is not None and not callable(progress):
        raise ConfigError("progress", progress, "a callable progress(done, total, label)")
    if not isinstance(out, str | Path) or not str(out).strip():
        raise ConfigError("out", out, "a folder path")
    config = diagnosis if diagnosis is not None else budget.diagnosis()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / LIVE_FILE
    ident = _identity(budget, seed, config)
    repeats = _load_existing(path, ident)
    done = {int(r["repeat"]) for r in repeats}
    doc: dict[str, Any] = {
        "format": LIVE_FORMAT, "experiment": "bttackler_live", "scale": scale, **ident,
        "repeats_asked": budget.repeats,
        "data": _data_info(budget, _repeat_seed(seed, 0)),
        "command": command, "env": collect_env().to_dict(),
        "engine": (type(executor).__name__ if executor is not None
                   else "2 local processes (spawn), one arm each, at the same time"),
        "repeats": repeats, "summary": summarize_live(repeats, epochs=budget.epochs)}
    own = executor is None
    # own pool: its workers end with this process, however it ends (no orphans)
    pool: Executor = executor or ProcessPoolExecutor(
        max_workers=2, mp_context=mp.get_context("spawn"), initializer=worker_init,
        initargs=(os.getpid(), _init_worker))
    # SIGTERM becomes SystemExit while the own pool runs, so the arms are killed below
    with sigterm_as_exit() if own else contextlib.nullcontext(), shutdown_when_done(pool, own):
        for r in range(budget.repeats):
            if r in done:
                continue
            rs = _repeat_seed(seed, r)
            order: tuple[LiveArm, LiveArm] = (("plain", "bttackler") if r % 2 == 0
                                              else ("bttackler", "plain"))
            t0 = time.perf_counter()
            futures: dict[str, Future[dict[str, Any]]] = {
                arm: pool.submit(run_arm, ArmSpec(arm, r, rs, budget, config)) for arm in order}
            arms = {arm: futures[arm].result() for arm in LIVE_ARMS}
            repeats.append({"repeat": r, "seed": rs, "first": order[0],
                            "wall_s": round(time.perf_counter() - t0, 2), "arms": arms})
            repeats.sort(key=lambda x: int(x["repeat"]))
            doc["summary"] = summarize_live(repeats, epochs=budget.epochs)
            atomic_write_text(path, json.dumps(doc, indent=None) + "\n")
            if progress is not None:
                progress(len(repeats), budget.repeats,
                         f"repeat {r}: " + ", ".join(f"{a} {len(arms[a]['trials'])} trials"
                                                     for a in LIVE_ARMS))
    doc["summary"] = summarize_live(repeats, epochs=budget.epochs)
    atomic_write_text(path, json.dumps(doc, indent=None) + "\n")
    return doc

