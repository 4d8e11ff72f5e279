"""The ``bttackler`` experiment: diagnosis-based early termination inside HPO (KDD 2024).

BTTackler (arXiv 2602.23630) at kit scale, on the training bench, with Optuna as the engine.

Design (the paper's, see ``papers/bttackler.md``)
    Three tasks (:data:`TASKS`): ``cnn``, the paper's Cifar10CNN search space (4 conv + 3 FC
    layers, 13 hyper-parameters, StepLR x0.7 per epoch) on digits (upsampled to 16x16 so the
    four conv+pool stages fit), synthetic images or CIFAR-10; ``lstm``, an LSTM classifier
    reading images row by row (8 hyper-parameters); ``transformer``, a Transformer forecaster
    on the real Mauna Loa CO2 series (MSE, minimised). Four HPO methods (:data:`METHODS`, Optuna
    samplers): Random, TPE, GP (``GPSampler``) and QMC (scrambled Sobol). Four variants
    (:data:`VARIANTS`): ``plain``; ``bttackler`` (:class:`~effdl_kit.diagnosis.BTTacklerPruner`
    in mode ``"report"``, as in the paper: a diagnosed trial ends as COMPLETE with its current
    metric); ``median`` (``optuna.pruners.MedianPruner``); ``curvefit`` (:class:`CurveFitPruner`,
    learning-curve extrapolation, see below).

Runs
    One run = (task, method, variant, repeat): a wall-time budget, ``workers`` worker
    processes (``spawn``, one torch thread each) on one Optuna study stored in a journal file
    (``runs/<task>/<method>/<variant>/rep<r>/journal.log``). The same runs scale out unchanged:
    ``executor=`` puts the workers on any ``concurrent.futures.Executor`` (a Dask cluster's
    ``client.get_executor()``), ``storage=`` keeps every run's study in one shared storage
    (PostgreSQL URL or journal path; study ``<study_prefix>/<task>/<method>/<variant>/rep<r>``).
    The run clock of each worker starts once every worker has loaded its data (a barrier kept
    in the study's storage); it stops asking for trials when the clock reaches the budget
    and aborts a trial still training then (recorded as FAIL, outcome ``"over_budget"``). A
    trial that raises, or ends with a non-finite metric, is recorded as FAIL with its error and
    the study goes on. Interrupting a run loses nothing already recorded: running the
    experiment again on the same directory re-opens every journal, marks trials left RUNNING
    as FAIL (outcome ``"interrupted"``), continues the clock where it stopped and finishes the
    remaining budget; completed runs are only read back. Plain and early-stopping variants of
    one (task, method, repeat) share the data split and the sampler seeds (common random
    numbers: with one worker, Random proposes the same configurations in the same order).

Measurements (exactly the paper's)
    A trial's *result* is its value: the last validation metric of a COMPLETE trial (also of a
    trial stopped by BTTackler), or the last reported one of a PRUNED trial (what NNI hands
    the tuner for an early-stopped trial). Only results of trials finished within the budget
    count. Per (task, method, variant, repeat), against the plain method of the same
    (task, method, repeat):

    * :func:`tsba` ``= (1 - T_i / T_j) x 100 %``; ``T_j`` the time (run clock) at which the
      plain run first reached its best result, ``T_i`` the time at which the variant first
      reached a result at least as good (ties count as reached). A variant that never
      reaches it within the budget gets ``T_i = budget`` (``reached = False``): its TSBA is
      an upper bound of the true, unobserved one, so means are not flattered by dropping it.
    * :func:`top10hr`: the share of the 10 best results of the pooled trials of both runs that
      come from the variant, in %; trials tied with the 10th best share the remaining slots
      equally (so the two shares always add up to 100 %).
    * trials finished within the budget, and how often each indicator fired (trials of the
      ``bttackler`` runs whose stored diagnosis names it).

    Means are over repeats (and over tasks x methods for the headline numbers), next to the
    paper's 40.33 % (TSBA) and 72.25 % (Top10HR, BTTackler) / 52.08 % (Top10HR, early
    termination rules).

Learning-curve extrapolation rule (:class:`CurveFitPruner`)
    At epoch ``k`` (at least ``min_steps`` reported values, not the last epoch, at least
    ``n_startup_trials`` COMPLETE trials in the study), fit ``s(t) = c - a exp(-b t)``
    (``a >= 0``, ``1e-3 <= b <= 10``; ``s`` the metric with its sign turned so that higher is
    better, values rescaled to [0, 1]) to the trial's validation curve by least squares, and
    stop the trial when the extrapolated value at the last epoch is worse than the best
    COMPLETE result of the study by more than ``tolerance`` (relative, default 5 %, NNI's
    Curvefitting threshold 0.95). No fit (too few points, optimiser failure): no stop.

Budgets per scale (:data:`BUDGETS`)
    ``smoke``: the CNN only, Random and TPE x 4 variants, 1 repeat, 1 worker (in-process),
    3 trials of 4 epochs per run on 240 digits, tiny ranges (seconds; what the tests run).
    ``small``: the three tasks, Random and TPE x 4 variants (GP and QMC cut), 1 repeat,
    2 worker processes, 25 s per run, 8 epochs, narrower size ranges (10.6 minutes measured
    on the shared 2-core CPU, 7 to 42 finished trials per run). ``paper``: everything,
    3 repeats, 8 workers, 6 h per run, 20 epochs, CIFAR-10 when a path is given (else
    synthetic 32x32 images), Ex96Trans-like 96-in/96-out windows on CO2; device ``auto``.

Compute once, draw twice: :func:`run_bttackler` writes ``results.json`` (settings, every
trial record, the comparisons); :func:`redraw` draws the figures and writes the tables from
that file alone.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import multiprocessing as mp
import os
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import optuna
import pandas as pd

from effdl_kit._core.errors import ConfigError, DatasetNotFoundError
from effdl_kit._core.io import atomic_write_text
from effdl_kit._core.storage import make_storage, release_stale_journal_lock
from effdl_kit._core.validate import (
    check_choice,
    check_executor,
    check_float,
    check_int,
    check_scale,
)
from effdl_kit.diagnosis import ATTR_DIAGNOSIS, INDICATORS, BTTacklerPruner, TrialHook
from effdl_kit.experiments._registry import (
    ExperimentSummary,
    make_summary,
    output_files,
    read_results,
    register,
)
from effdl_kit.reports import export_table, figure, paper_style_context, save_figure
from effdl_kit.training import DataBundle, Hook, TrainConfig, TrainState, load_data, train

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = [
    "BUDGETS",
    "CIFAR10_ENV",
    "ETR_VARIANTS",
    "FIGURE_TOP10HR",
    "FIGURE_TSBA",
    "IMAGE_DATASETS",
    "JOURNAL_FILE",
    "METHODS",
    "PAPER",
    "RESULTS_FILE",
    "TABLE_COMPARISON",
    "TABLE_HEADLINE",
    "TABLE_INDICATORS",
    "TABLE_RUNS",
    "TASKS",
    "TOP_K",
    "VARIANTS",
    "CurveFitPruner",
    "RunSpec",
    "TSBAResult",
    "aggregate",
    "compare_runs",
    "extrapolate_curve",
    "finished_points",
    "headline",
    "indicator_counts",
    "load_results",
    "make_pruner",
    "make_sampler",
    "redraw",
    "run_bttackler",
    "run_study",
    "suggest_config",
    "top10hr",
    "tsba",
]

NAME = "bttackler"
RESULTS_FILE = "results.json"
JOURNAL_FILE = "journal.log"
STUDY_NAME = "bttackler"
FIGURE_TSBA = "bttackler_tsba"
FIGURE_TOP10HR = "bttackler_top10hr"
TABLE_COMPARISON = "bttackler_comparison"
TABLE_RUNS = "bttackler_runs"
TABLE_INDICATORS = "bttackler_indicators"
TABLE_HEADLINE = "bttackler_headline"
#: Environment variable holding the local CIFAR-10 folder (python-pickle version).
CIFAR10_ENV = "EFFDL_CIFAR10"

#: The three DNN tasks (Cifar10CNN, Cifar10LSTM, Ex96Trans at kit scale).
TASKS: tuple[str, ...] = ("cnn", "lstm", "transformer")
#: HPO methods, each an Optuna sampler (the paper's SMAC is replaced by QMC).
METHODS: tuple[str, ...] = ("random", "tpe", "gp", "qmc")
#: Variants per method; ``plain`` is the baseline of every comparison.
VARIANTS: tuple[str, ...] = ("plain", "bttackler", "median", "curvefit")
#: The early termination rules the paper compares BTTackler with.
ETR_VARIANTS: tuple[str, ...] = ("median", "curvefit")
#: Datasets of the two image tasks.
IMAGE_DATASETS: tuple[str, ...] = ("digits", "synthetic", "cifar10")
#: The paper's headline numbers (percent).
PAPER: dict[str, float] = {"tsba": 40.33, "top10hr": 72.25, "top10hr_etr": 52.08}
#: Top-k of Top10HR.
TOP_K = 10
_DIRECTIONS = ("maximize", "minimize")
_OPTIMIZERS = ("sgd", "adam", "rmsprop", "adagrad", "adadelta")
_ACTIVATIONS = ("relu", "tanh", "sigmoid", "elu", "leaky_relu")
_IMAGE_BATCHES = (45, 90, 180, 360, 720)
_SERIES_BATCHES = (32, 64, 128, 256)

#: Search-space sizes per scale (ranges of the size hyper-parameters; the rest is the paper's).
SPACES: dict[str, dict[str, Any]] = {
    "tiny": {"channels": [2, 8], "width": [10, 64], "lstm_hidden": [4, 16], "lstm_layers": 1,
             "d_model": [8, 16], "tf_layers": 1, "ff": [8, 32], "input_len": 24,
             "output_len": 12, "series_n_train": 200},
    "small": {"channels": [4, 32], "width": [10, 256], "lstm_hidden": [8, 64],
              "lstm_layers": 2, "d_model": [16, 32], "tf_layers": 2, "ff": [16, 128],
              "input_len": 24, "output_len": 12, "series_n_train": 512},
    "paper": {"channels": [16, 128], "width": [10, 1000], "lstm_hidden": [32, 256],
              "lstm_layers": 3, "d_model": [32, 64, 128], "tf_layers": 3, "ff": [64, 512],
              "input_len": 96, "output_len": 96, "series_n_train": None},
}

#: What each scale runs. ``image_dataset`` "auto": CIFAR-10 when a path is known, else synthetic.
BUDGETS: dict[str, dict[str, Any]] = {
    "smoke": {"tasks": ["cnn"], "methods": ["random", "tpe"], "variants": list(VARIANTS),
              "repeats": 1, "workers": 1, "budget_s": 15.0, "max_trials": 3, "epochs": 4,
              "n_train": 240, "image_dataset": "digits", "space": "tiny", "device": "cpu",
              "median_startup": 1, "curvefit_startup": 1, "gp_startup": 2},
    "small": {"tasks": list(TASKS), "methods": ["random", "tpe"], "variants": list(VARIANTS),
              "repeats": 1, "workers": 2, "budget_s": 25.0, "max_trials": None, "epochs": 8,
              "n_train": None, "image_dataset": "digits", "space": "small", "device": "cpu",
              "median_startup": 5, "curvefit_startup": 5, "gp_startup": 5},
    "paper": {"tasks": list(TASKS), "methods": list(METHODS), "variants": list(VARIANTS),
              "repeats": 3, "workers": 8, "budget_s": 6 * 3600.0, "max_trials": None,
              "epochs": 20, "n_train": None, "image_dataset": "auto", "space": "paper",
              "device": "auto", "median_startup": 5, "curvefit_startup": 5, "gp_startup": 10},
}

ProgressFn = Callable[[int, int, str], None]


def _json_float(v: Any) -> float | None:
    if v is None:
        return None
    f = float(v)
    return f if math.isfinite(f) else None


def _as_float(v: Any) -> float:
    return float("nan") if v is None else float(v)


# ----------------------------------------------------------------------------- metrics


def _check_direction(direction: Any) -> str:
    return check_choice("direction", direction, _DIRECTIONS)


def _at_least_as_good(v: float, target: float, direction: str) -> bool:
    return v >= target if direction == "maximize" else v <= target


def finished_points(trials: Sequence[Mapping[str, Any]], budget_s: float
                    ) -> list[tuple[float, float]]:
    """``(t_end, result)`` of the trials that count: finished within the budget.

    Parameters
    ----------
    trials : sequence of mapping
        Trial records as stored in ``results.json`` (``state``, ``value``, ``t_end``).
    budget_s : float
        The run's budget (seconds of run clock).

    Returns
    -------
    list of (float, float)
        COMPLETE and PRUNED trials with a finite value and ``t_end <= budget_s``, in record
        order.
    """
    out: list[tuple[float, float]] = []
    for r in trials:
        if r.get("state") not in ("COMPLETE", "PRUNED"):
            continue
        v, t = _as_float(r.get("value")), _as_float(r.get("t_end"))
        if math.isfinite(v) and math.isfinite(t) and t <= budget_s:
            out.append((t, v))
    return out


@dataclass(frozen=True)
class TSBAResult:
    """Time Saved for the Baseline's best Accuracy of one (variant, baseline) pair.

    Attributes
    ----------
    tsba : float
        ``(1 - t_method / t_baseline) x 100`` in %; NaN when the baseline has no result.
    t_method : float
        Run-clock seconds the variant needed to reach ``target`` (the budget when it never
        did).
    t_baseline : float
        Run-clock seconds the baseline needed to reach its own best result.
    target : float
        The baseline's best result.
    reached : bool
        Whether the variant reached ``target`` within the budget.
    """

    tsba: float
    t_method: float
    t_baseline: float
    target: float
    reached: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict (non-finite numbers as None)."""
        return {"tsba": _json_float(self.tsba), "t_method": _json_float(self.t_method),
                "t_baseline": _json_float(self.t_baseline), "target": _json_float(self.target),
                "reached": self.reached}


def _time_to_reach(points: Sequence[tuple[float, float]], target: float,
                   direction: str) -> float | None:
    times = [t for t, v in points if _at_least_as_good(v, target, direction)]
    return min(times) if times else None


def tsba(
    method: Sequence[tuple[float, float]],
    baseline: Sequence[tuple[float, float]],
    *,
    direction: str,
    horizon_s: float,
) -> TSBAResult:
    """TSBA of ``method`` against ``baseline`` (both as ``(t_end, result)`` points).

    Parameters
    ----------
    method, baseline : sequence of (float, float)
        The trials that count (see :func:`finished_points`: finished within the budget) as
        ``(run-clock time at completion, result)``; points with a non-finite entry are
        ignored.
    direction : {"maximize", "minimize"}
        Whether a higher result is better.
    horizon_s : float
        End of the variant's observation window (> 0): its budget. The censoring time
        ``T_i`` of a variant that never reaches the target (then ``TSBA <= 0``, since the
        baseline reached it within the same budget).

    Returns
    -------
    TSBAResult
        ``T_j``: first time the baseline's best-so-far equals its best result; ``T_i``: first
        time the variant has a result at least as good (``>=`` when maximising, ties
        included); ``TSBA = (1 - T_i / T_j) x 100``.
    """
    direction = _check_direction(direction)
    horizon_s = check_float("horizon_s", horizon_s, min_value=0.0, min_inclusive=False)

    def ok(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
        return [(float(t), float(v)) for t, v in points
                if math.isfinite(t) and math.isfinite(v)]

    base, meth = ok(baseline), ok(method)
    nan = float("nan")
    if not base:
        return TSBAResult(nan, nan, nan, nan, False)
    values = [v for _, v in base]
    target = max(values) if direction == "maximize" else min(values)
    t_j = _time_to_reach(base, target, direction)
    assert t_j is not None
    t_i = _time_to_reach(meth, target, direction)
    reached = t_i is not None
    t_i_val = t_i if t_i is not None else horizon_s
    value = (1.0 - t_i_val / t_j) * 100.0 if t_j > 0 else nan
    return TSBAResult(value, t_i_val, t_j, target, reached)


def top10hr(method: Sequence[float], baseline: Sequence[float], *, direction: str,
            k: int = TOP_K) -> float:
    """Top-k hit ratio of ``method`` against ``baseline``, in %.

    Parameters
    ----------
    method, baseline : sequence of float
        Results of the two runs' finished trials (non-finite values ignored).
    direction : {"maximize", "minimize"}
    k : int
        Size of the top set (10 in the paper); with fewer pooled trials, all of them.

    Returns
    -------
    float
        ``100 x (method's trials among the k best of the pooled trials) / k``. Trials tied
        with the k-th best share the remaining slots equally, so the two runs' ratios add up
        to 100. NaN when neither run has a result.
    """
    direction = _check_direction(direction)
    k = check_int("k", k, min_value=1)
    sign = 1.0 if direction == "maximize" else -1.0
    pooled = ([(sign * float(v), 1) for v in method if math.isfinite(float(v))]
              + [(sign * float(v), 0) for v in baseline if math.isfinite(float(v))])
    if not pooled:
        return float("nan")
    k_eff = min(k, len(pooled))
    scores = sorted((s for s, _ in pooled), reverse=True)
    cut = scores[k_eff - 1]
    better = [(s, m) for s, m in pooled if s > cut]
    tied = [(s, m) for s, m in pooled if s == cut]
    share = (k_eff - len(better)) / len(tied)
    hits = sum(m for _, m in better) + share * sum(m for _, m in tied)
    return 100.0 * hits / k_eff


# ----------------------------------------------------------------------------- curve fit


def _saturating(t: np.ndarray, c: float, a: float, b: float) -> np.ndarray:
    return c - a * np.exp(-b * t)


def extrapolate_curve(steps: Sequence[float], values: Sequence[float], at: float
                      ) -> float | None:
    """Least-squares fit of ``c - a exp(-b t)`` (``a >= 0``) to a curve, evaluated at ``at``.

    Parameters
    ----------
    steps, values : sequence of float, length n >= 3
        The curve (higher is better).
    at : float
        Where to extrapolate (usually the last epoch).

    Returns
    -------
    float or None
        The fitted value at ``at``; None when the fit is impossible (fewer than 3 finite
        points, optimiser failure). A flat curve extrapolates to its value.
    """
    from scipy.optimize import OptimizeWarning, curve_fit

    t = np.asarray(steps, dtype=np.float64)
    y = np.asarray(values, dtype=np.float64)
    if t.shape != y.shape or t.ndim != 1 or len(t) < 3 or not (
            np.isfinite(t).all() and np.isfinite(y).all()):
        return None
    lo, span = float(y.min()), float(np.ptp(y))
    if span == 0.0:
        return float(y[-1])
    yn = (y - lo) / span
    p0 = (float(yn.max()), max(float(yn.max() - yn[0]), 1e-3), 0.5)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", OptimizeWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            popt, _ = curve_fit(_saturating, t, yn, p0=p0,
                                bounds=([-np.inf, 0.0, 1e-3], [np.inf, np.inf, 10.0]),
                                maxfev=2000)
    except (RuntimeError, ValueError):
        return None
    pred = float(_saturating(np.asarray([float(at)]), *popt)[0])
    return lo + span * pred if math.isfinite(pred) else None


class CurveFitPruner(optuna.pruners.BasePruner):
    """Learning-curve extrapolation as an Optuna pruner (the paper's Curvefitting rule).

    Parameters
    ----------
    max_steps : int
        Epochs of a full trial (>= 2); the curve is extrapolated to step ``max_steps - 1``.
    min_steps : int
        Reported values needed before a fit (>= 3).
    n_startup_trials : int
        COMPLETE trials the study needs before anything is stopped (>= 1).
    tolerance : float
        Stop when the extrapolated final value is worse than the study's best COMPLETE result
        by more than ``tolerance x |best|`` (in [0, 1); NNI's threshold 0.95 -> 0.05).
    """

    def __init__(self, max_steps: int, *, min_steps: int = 3, n_startup_trials: int = 5,
                 tolerance: float = 0.05) -> None:
        self.max_steps = check_int("max_steps", max_steps, min_value=2)
        self.min_steps = check_int("min_steps", min_steps, min_value=3)
        self.n_startup_trials = check_int("n_startup_trials", n_startup_trials, min_value=1)
        self.tolerance = check_float("tolerance", tolerance, min_value=0.0, max_value=1.0,
                                     max_inclusive=False)

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        """True when the trial's extrapolated final value cannot beat the study's best."""
        curve = trial.intermediate_values
        step = trial.last_step
        if step is None or len(curve) < self.min_steps or step >= self.max_steps - 1:
            return False
        maximize = study.direction == optuna.study.StudyDirection.MAXIMIZE
        sign = 1.0 if maximize else -1.0
        done = [sign * float(t.value) for t in study.get_trials(
            deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
            if t.value is not None and math.isfinite(float(t.value))]
        if len(done) < self.n_startup_trials:
            return False
        best = max(done)
        steps = sorted(curve)
        pred = extrapolate_curve(steps, [sign * float(curve[s]) for s in steps],
                                 self.max_steps - 1)
        if pred is None:
            return False
        return pred < best - self.tolerance * abs(best)


# ----------------------------------------------------------------------------- runs


@dataclass(frozen=True)
class RunSpec:
    """Everything one run (task, method, variant, repeat) needs; picklable for workers.

    Attributes
    ----------
    task, method, variant : str
        From :data:`TASKS`, :data:`METHODS`, :data:`VARIANTS`.
    repeat : int
        Repeat index (0-based).
    seed : int
        The run's seed (data split, sampler seeds, trial ``seed + number``).
    budget_s : float
        Wall-time budget of the run (run clock, seconds).
    workers : int
        Worker processes sharing the study.
    max_trials : int or None
        Optional cap on the trials of the run (smoke scale).
    epochs : int
        Epochs of a full trial.
    dataset : str
        Dataset of the task.
    n_train : int or None
        Training-set size (None: the whole split).
    space : mapping
        Size ranges (one entry of :data:`SPACES`).
    data_dir : str or None
        CIFAR-10 folder when ``dataset == "cifar10"``.
    device : str
        ``cpu``, ``cuda`` or ``auto``.
    median_startup, curvefit_startup, gp_startup : int
        Startup trials of the MedianPruner, :class:`CurveFitPruner` and GPSampler.
    """

    task: str
    method: str
    variant: str
    repeat: int
    seed: int
    budget_s: float
    workers: int
    max_trials: int | None
    epochs: int
    dataset: str
    n_train: int | None
    space: Mapping[str, Any]
    data_dir: str | None = None
    device: str = "cpu"
    median_startup: int = 5
    curvefit_startup: int = 5
    gp_startup: int = 10

    @property
    def direction(self) -> str:
        """``"minimize"`` for the forecaster's MSE, ``"maximize"`` for accuracy."""
        return "minimize" if self.task == "transformer" else "maximize"

    @property
    def metric(self) -> str:
        """Name of the validation metric."""
        return "mse" if self.task == "transformer" else "accuracy"

    def identity(self) -> dict[str, Any]:
        """The fields that define the study (must match when a run is resumed)."""
        d = dataclasses.asdict(self)
        for key in ("budget_s", "workers", "max_trials"):  # may grow between sessions
            d.pop(key)
        return dict(json.loads(json.dumps(d)))

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict of every field."""
        return dict(json.loads(json.dumps(dataclasses.asdict(self))))


def make_sampler(method: str, *, seed: int, worker: int = 0, segment: int = 0,
                 gp_startup: int = 10) -> optuna.samplers.BaseSampler:
    """The Optuna sampler of ``method`` for one worker of one run segment.

    Random, TPE and GP get ``seed + 7919 worker + 104729 segment`` (workers and resumed
    segments draw different streams); QMC shares ``seed`` across workers, since its sample
    index is kept in the study and every worker must walk the same scrambled sequence.
    """
    check_choice("method", method, METHODS)
    s = (int(seed) + 7919 * int(worker) + 104729 * int(segment)) % 2**31
    with _quiet():
        if method == "random":
            return optuna.samplers.RandomSampler(seed=s)
        if method == "tpe":
            return optuna.samplers.TPESampler(seed=s, constant_liar=True)
        if method == "gp":
            return optuna.samplers.GPSampler(seed=s, n_startup_trials=gp_startup,
                                             warn_independent_sampling=False)
        return optuna.samplers.QMCSampler(qmc_type="sobol", scramble=True,
                                          seed=int(seed) % 2**31,
                                          warn_independent_sampling=False,
                                          warn_asynchronous_seeding=False)


def make_pruner(variant: str, *, epochs: int, median_startup: int = 5,
                curvefit_startup: int = 5) -> optuna.pruners.BasePruner:
    """The study's pruner for ``variant`` (plain: ``NopPruner``)."""
    check_choice("variant", variant, VARIANTS)
    if variant == "bttackler":
        return BTTacklerPruner(mode="report")
    if variant == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=median_startup, n_warmup_steps=0)
    if variant == "curvefit":
        return CurveFitPruner(epochs, n_startup_trials=curvefit_startup)
    return optuna.pruners.NopPruner()


def suggest_config(trial: optuna.Trial, spec: RunSpec) -> TrainConfig:
    """Sample the task's search space (the paper's) and build the trial's ``TrainConfig``.

    ``cnn`` (13): four conv channel counts, kernel size {2, 3}, hidden width, lr (1e-4..0.4,
    log), weight decay (1e-5..1e-3, log), activation, optimizer, batch size, batch norm,
    dropout (0..0.9); 4 conv + 3 FC layers, StepLR x0.7 per epoch.
    ``lstm`` (8): hidden size, layers, bidirectional, dropout, lr, weight decay, optimizer,
    batch size. ``transformer`` (10): d_model, heads, layers, feed-forward width, dropout,
    activation, lr, weight decay, optimizer, batch size.
    """
    sp = spec.space
    common: dict[str, Any] = {
        "epochs": spec.epochs, "seed": (spec.seed + trial.number) % 2**31, "threads": 1,
        "device": spec.device, "n_train": None, "dataset": spec.dataset,
    }
    if spec.task == "cnn":
        lo, hi = sp["channels"]
        channels = tuple(trial.suggest_int(f"conv{i}_channels", lo, hi, log=True)
                         for i in range(1, 5))
        kernel = trial.suggest_categorical("kernel_size", [2, 3])
        width = trial.suggest_int("hidden_width", sp["width"][0], sp["width"][1], log=True)
        lr = trial.suggest_float("lr", 1e-4, 0.4, log=True)
        wd = trial.suggest_float("weight_decay", 1e-5, 1e-3, log=True)
        act = trial.suggest_categorical("activation", list(_ACTIVATIONS))
        opt = trial.suggest_categorical("optimizer", list(_OPTIMIZERS))
        bs = trial.suggest_categorical("batch_size", list(_IMAGE_BATCHES))
        bn = trial.suggest_categorical("batch_norm", [True, False])
        drop = trial.suggest_float("dropout", 0.0, 0.9)
        return TrainConfig(
            model="cnn", optimizer=opt, lr=lr, weight_decay=wd, batch_size=bs,
            schedule="step", step_size=1, gamma=0.7,
            model_params={"channels": channels, "kernel_size": kernel, "activation": act,
                          "norm": "batch" if bn else "none", "width": width, "fc_layers": 2,
                          "dropout": drop, "pooling": "max"},
            **common)
    if spec.task == "lstm":
        hidden = trial.suggest_int("hidden_size", sp["lstm_hidden"][0], sp["lstm_hidden"][1],
                                   log=True)
        layers = trial.suggest_int("num_layers", 1, int(sp["lstm_layers"]))
        bidir = trial.suggest_categorical("bidirectional", [True, False])
        drop = trial.suggest_float("dropout", 0.0, 0.5)
        lr = trial.suggest_float("lr", 1e-4, 0.1, log=True)
        wd = trial.suggest_float("weight_decay", 1e-6, 1e-3, log=True)
        opt = trial.suggest_categorical("optimizer", list(_OPTIMIZERS))
        bs = trial.suggest_categorical("batch_size", list(_IMAGE_BATCHES))
        return TrainConfig(
            model="lstm", optimizer=opt, lr=lr, weight_decay=wd, batch_size=bs,
            model_params={"hidden_size": hidden, "num_layers": layers,
                          "bidirectional": bidir, "dropout": drop},
            **common)
    d_model = trial.suggest_categorical("d_model", list(sp["d_model"]))
    heads = trial.suggest_categorical("n_heads", [1, 2, 4])
    layers = trial.suggest_int("n_layers", 1, int(sp["tf_layers"]))
    ff = trial.suggest_int("dim_feedforward", sp["ff"][0], sp["ff"][1], log=True)
    drop = trial.suggest_float("dropout", 0.0, 0.5)
    act = trial.suggest_categorical("activation", ["relu", "gelu"])
    lr = trial.suggest_float("lr", 1e-4, 0.05, log=True)
    wd = trial.suggest_float("weight_decay", 1e-6, 1e-3, log=True)
    opt = trial.suggest_categorical("optimizer", list(_OPTIMIZERS))
    bs = trial.suggest_categorical("batch_size", list(_SERIES_BATCHES))
    return TrainConfig(
        model="transformer", optimizer=opt, lr=lr, weight_decay=wd, batch_size=bs,
        model_params={"d_model": d_model, "n_heads": heads, "n_layers": layers,
                      "dim_feedforward": ff, "dropout": drop, "activation": act},
        data_params={"input_len": int(sp["input_len"]), "output_len": int(sp["output_len"])},
        **common)


@functools.lru_cache(maxsize=4)
def _load_bundle(task: str, dataset: str, seed: int, n_train: int | None,
                 input_len: int, output_len: int, data_dir: str | None) -> DataBundle:
    if task == "transformer":
        return load_data(dataset, seed=seed, n_train=n_train,
                         data_params={"input_len": input_len, "output_len": output_len})
    params: dict[str, Any] = {}
    if dataset == "synthetic":
        params = {"n_samples": 20000, "image_size": 32, "channels": 3, "difficulty": 0.5,
                  "data_seed": 0}
    data = load_data(dataset, seed=seed, n_train=n_train, data_params=params,
                     data_dir=data_dir)
    if task == "cnn" and data.input_shape[-1] < 16:  # digits: 8x8 -> 16x16 (pixel repeat)
        r = 16 // data.input_shape[-1]

        def up(x: np.ndarray) -> np.ndarray:
            return np.ascontiguousarray(x.repeat(r, axis=2).repeat(r, axis=3))

        data = dataclasses.replace(data, x_train=up(data.x_train), x_val=up(data.x_val),
                                   x_test=up(data.x_test))
    return data


def task_data(spec: RunSpec) -> DataBundle:
    """The run's data (cached per process): split seeded by ``spec.seed``."""
    sp = spec.space
    n_train = sp["series_n_train"] if spec.task == "transformer" else spec.n_train
    return _load_bundle(spec.task, spec.dataset, spec.seed, n_train, int(sp["input_len"]),
                        int(sp["output_len"]), spec.data_dir)


class _OutOfBudget(Exception):
    """Raised inside a trial when the run clock passes the budget."""


class _DeadlineHook(Hook):
    def __init__(self, clock: Callable[[], float], budget_s: float) -> None:
        self.clock = clock
        self.budget_s = budget_s

    def after_step(self, state: TrainState) -> None:
        if self.clock() > self.budget_s:
            raise _OutOfBudget(f"run budget of {self.budget_s:g} s exhausted mid-trial")


class _ReportHook(Hook):
    """Reports each epoch's validation metric; asks the study's pruner (median, curvefit)."""

    def __init__(self, trial: optuna.Trial, ask_pruner: bool) -> None:
        self.trial = trial
        self.ask_pruner = ask_pruner

    def epoch_end(self, state: TrainState) -> None:
        v = state.history[-1].val_metric
        if math.isfinite(v):
            self.trial.report(float(v), state.epoch)
            if self.ask_pruner and self.trial.should_prune():
                raise optuna.TrialPruned(f"{type(self.trial.study.pruner).__name__} at "
                                         f"epoch {state.epoch}")


def _objective(trial: optuna.Trial, spec: RunSpec, data: DataBundle,
               clock: Callable[[], float]) -> float:
    cfg = suggest_config(trial, spec)
    hooks: list[Hook] = [_DeadlineHook(clock, spec.budget_s)]
    if spec.variant == "bttackler":
        hooks.append(TrialHook(trial))
    else:
        hooks.append(_ReportHook(trial, ask_pruner=spec.variant != "plain"))
    res = train(cfg, hooks=hooks, data=data)
    return float(res.history[-1].val_metric)


@contextmanager
def _quiet() -> Iterator[None]:
    old = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            warnings.filterwarnings("ignore", message=".*independent sampl.*")
            yield
    finally:
        optuna.logging.set_verbosity(old)


def _storage(ref: str | Path) -> optuna.storages.BaseStorage:
    """The storage behind ``ref``: a journal-file path or an RDB URL (no heartbeat: trials
    left RUNNING by a dead worker are failed as ``"interrupted"`` by the driver)."""
    return make_storage(ref, heartbeat_interval=None)


def _storage_label(storage: str | Path | None) -> str:
    """How ``results.json`` names the storage (an RDB URL without its password)."""
    if storage is None:
        return f"journal file per run ({JOURNAL_FILE})"
    text = str(storage)
    if "://" not in text:
        return f"journal file {text}"
    from sqlalchemy.engine import make_url

    return make_url(text).render_as_string(hide_password=True)


_WARM: set[tuple[str, str]] = set()


def _warm_up(spec: RunSpec, data: DataBundle) -> None:
    """One short training of the task's model per process, before the run clock starts
    (first-call costs of torch kernels would otherwise fall on the first run only)."""
    key = (spec.task, spec.device)
    if key in _WARM:
        return
    model = {"cnn": "cnn", "lstm": "lstm", "transformer": "transformer"}[spec.task]
    cfg = TrainConfig(dataset=spec.dataset, model=model, epochs=1, threads=1,
                      device=spec.device,
                      data_params=({"input_len": int(spec.space["input_len"]),
                                    "output_len": int(spec.space["output_len"])}
                                   if spec.task == "transformer" else {}))
    train(cfg, data=data)
    _WARM.add(key)


def _wait_for_workers(storage: optuna.storages.BaseStorage, study_id: int, segment: int,
                      worker: int, n: int, timeout_s: float = 600.0) -> None:
    """A barrier kept in the study's storage, so it works across machines: the run clock of
    every worker starts once all ``n`` of them are ready (after ``timeout_s`` it starts
    anyway, e.g. when the cluster has fewer free slots than workers)."""
    storage.set_study_system_attr(study_id, f"ready:{segment}:{worker}", True)
    keys = [f"ready:{segment}:{w}" for w in range(n)]
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        attrs = storage.get_study_system_attrs(study_id)
        if all(k in attrs for k in keys):
            return
        time.sleep(0.02)


def _worker_main(spec: RunSpec, storage_ref: str, study_name: str, worker: int, segment: int,
                 offset_s: float, init: bool = False) -> tuple[int, float]:
    """One worker: ask, train, tell until the run clock reaches the budget.

    ``init``: set this process up as a worker first (one torch thread; for executors that
    have no initializer, such as a Dask cluster's). Returns the number of trials it ran and
    its run clock when it stopped.
    """
    if init:
        _init_worker()
    with _quiet():
        storage = _storage(storage_ref)
        study = optuna.load_study(
            study_name=study_name, storage=storage,
            sampler=make_sampler(spec.method, seed=spec.seed, worker=worker, segment=segment,
                                 gp_startup=spec.gp_startup),
            pruner=make_pruner(spec.variant, epochs=spec.epochs,
                               median_startup=spec.median_startup,
                               curvefit_startup=spec.curvefit_startup))
        data = task_data(spec)
        _warm_up(spec, data)
        if spec.workers > 1:
            _wait_for_workers(storage, study._study_id, segment, worker, spec.workers)
        t_ready = time.time()

        def clock() -> float:
            return offset_s + (time.time() - t_ready)

        n = 0
        while clock() < spec.budget_s:
            if spec.max_trials is not None and len(
                    study.get_trials(deepcopy=False)) >= spec.max_trials:
                break
            trial = study.ask()
            trial.set_user_attr("worker", worker)
            trial.set_user_attr("segment", segment)
            trial.set_user_attr("t_start", clock())
            value: float | None = None
            error: str | None = None
            try:
                value = _objective(trial, spec, data, clock)
                if math.isfinite(value):
                    state = optuna.trial.TrialState.COMPLETE
                    outcome = "bttackler" if ATTR_DIAGNOSIS in trial.user_attrs else "complete"
                else:
                    state, outcome, error = (optuna.trial.TrialState.FAIL, "failed",
                                             f"non-finite validation {spec.metric}: {value}")
            except optuna.TrialPruned:
                state, outcome = optuna.trial.TrialState.PRUNED, spec.variant
            except _OutOfBudget as exc:
                state, outcome, error = optuna.trial.TrialState.FAIL, "over_budget", str(exc)
            except Exception as exc:  # a failing trial is recorded; the study goes on
                state, outcome = optuna.trial.TrialState.FAIL, "failed"
                error = f"{type(exc).__name__}: {exc}"[:500]
            trial.set_user_attr("t_end", clock())
            trial.set_user_attr("outcome", outcome)
            if error is not None:
                trial.set_user_attr("error", error)
            if state == optuna.trial.TrialState.COMPLETE:
                study.tell(trial, value)
            else:
                study.tell(trial, state=state)
            n += 1
        return n, clock()


def _init_worker() -> None:
    import torch

    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)


def _trial_record(t: optuna.trial.FrozenTrial) -> dict[str, Any]:
    ua = t.user_attrs
    diag = ua.get(ATTR_DIAGNOSIS)
    params = {k: (v if isinstance(v, bool | int | str) or v is None else float(v))
              for k, v in t.params.items()}
    return {
        "number": t.number, "state": t.state.name, "value": _json_float(t.value),
        "t_start": _json_float(ua.get("t_start")), "t_end": _json_float(ua.get("t_end")),
        "worker": ua.get("worker"), "segment": ua.get("segment"),
        "outcome": ua.get("outcome"), "epochs": len(t.intermediate_values),
        "indicators": list(diag.get("indicators", [])) if isinstance(diag, dict) else [],
        "error": ua.get("error"), "params": params,
    }


def _fail_interrupted(study: optuna.Study, storage: optuna.storages.BaseStorage) -> int:
    """Fail the trials a stopped or dead worker left RUNNING (or WAITING): ``"interrupted"``.

    Call only when no worker of the run is alive."""
    left = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,
                                                    optuna.trial.TrialState.WAITING))
    for t in left:
        storage.set_trial_user_attr(t._trial_id, "outcome", "interrupted")
        storage.set_trial_user_attr(t._trial_id, "error",
                                    "interrupted: its worker stopped before it finished")
        storage.set_trial_state_values(t._trial_id, optuna.trial.TrialState.FAIL)
    return len(left)


def run_study(spec: RunSpec, run_dir: str | Path, *, executor: Executor | None = None,
              storage: str | Path | None = None, study_name: str = STUDY_NAME
              ) -> dict[str, Any]:
    """Run (or resume) one run and return its record.

    Parameters
    ----------
    spec : RunSpec
        What to run.
    run_dir : str or Path
        The run's directory; without ``storage``, its ``journal.log`` is the Optuna study
        (created or re-opened).
    executor : concurrent.futures.Executor, optional
        Where the ``spec.workers`` workers run: a local process pool, or a Dask cluster
        (``client.get_executor()``; it needs ``spec.workers`` free slots, and every worker
        reads its data itself, CIFAR-10 from ``spec.data_dir`` on its own machine). Without
        it, one worker runs in this process.
    storage : str or Path, optional
        A journal-file path or an RDB URL (``postgresql+psycopg://user@host/db``) shared by
        the workers, holding the study ``study_name``; default ``run_dir/journal.log``.
    study_name : str
        The study's name in the storage.

    Returns
    -------
    dict
        ``spec`` fields, ``direction``, ``metric``, ``segments``, ``elapsed_s``,
        ``worker_errors`` (workers that raised, with their error) and ``trials`` (one record
        per trial: number, state, value, t_start, t_end, worker, segment, outcome, epochs,
        indicators, error, params).

    Raises
    ------
    ConfigError
        The study holds a run made with a different task / method / variant / seed / space
        (use another directory or study name).
    RuntimeError
        Every worker of the run raised (the first error is chained).
    """
    run_dir = Path(run_dir)
    if storage is None:
        run_dir.mkdir(parents=True, exist_ok=True)
        ref = str(run_dir / JOURNAL_FILE)
        release_stale_journal_lock(ref)  # a killed run may have left it; none runs now
    else:
        ref = str(storage)
    with _quiet():
        st = _storage(ref)
        direction = (optuna.study.StudyDirection.MINIMIZE if spec.direction == "minimize"
                     else optuna.study.StudyDirection.MAXIMIZE)
        study = optuna.create_study(study_name=study_name, storage=st,
                                    direction=direction, load_if_exists=True)
        ident = spec.identity()
        stored = study.user_attrs.get("spec")
        if stored is None:
            study.set_user_attr("spec", ident)
        elif stored != ident:
            field, where = (("out", str(run_dir)) if storage is None
                            else ("study_prefix", study_name))
            raise ConfigError(field, where, "a study of a run with the same task, method, "
                              f"variant, seed and search space (this one holds {stored}); "
                              f"use a fresh {'output directory' if storage is None else field}")
        _fail_interrupted(study, st)  # left by an interruption
        trials = study.get_trials(deepcopy=False)
        offset = max([float(study.user_attrs.get("elapsed_s", 0.0))]
                     + [float(t.user_attrs.get("t_end", 0.0)) for t in trials])
        segment = int(study.user_attrs.get("segments", 0))
        full = spec.max_trials is not None and len(trials) >= spec.max_trials
        if offset < spec.budget_s and not full:
            # the segment is claimed before it starts: a segment cut by a kill still counts,
            # so the resumed one draws fresh sampler streams instead of replaying it
            study.set_user_attr("segments", segment + 1)
            if executor is None:
                ends = [_worker_main(spec, ref, study_name, 0, segment, offset)[1]]
            else:
                futures = [executor.submit(_worker_main, spec, ref, study_name, w, segment,
                                           offset, True) for w in range(spec.workers)]
                ends, errors = [], []
                for w, f in enumerate(futures):
                    try:
                        ends.append(f.result()[1])
                    except Exception as exc:  # a lost worker: the others' trials count
                        errors.append((w, exc))
                _fail_interrupted(study, st)  # trials of workers that died
                if errors:
                    study.set_user_attr("worker_errors", [
                        *study.user_attrs.get("worker_errors", []),
                        *(f"segment {segment}, worker {w}: {type(e).__name__}: {e}"[:500]
                          for w, e in errors)])
                if not ends:
                    raise RuntimeError(f"every worker of run {study_name!r} failed; first "
                                       f"error: {errors[0][1]!r}") from errors[0][1]
            study.set_user_attr("elapsed_s", max(ends))
        records = [_trial_record(t) for t in study.get_trials(deepcopy=False)]
        attrs = study.user_attrs
    return {**spec.to_dict(), "direction": spec.direction, "metric": spec.metric,
            "segments": int(attrs.get("segments", 0)),
            "elapsed_s": _json_float(attrs.get("elapsed_s")),
            "worker_errors": list(attrs.get("worker_errors", [])), "trials": records}


# ----------------------------------------------------------------------------- analysis


def _run_key(run: Mapping[str, Any]) -> tuple[str, str, str, int]:
    return (str(run["task"]), str(run["method"]), str(run["variant"]), int(run["repeat"]))


def compare_runs(runs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """TSBA and Top10HR of every non-plain run against the plain run of its group.

    Parameters
    ----------
    runs : sequence of mapping
        Run records (as :func:`run_study` returns them).

    Returns
    -------
    list of dict
        One per (task, method, variant, repeat) with a plain counterpart: ``tsba``,
        ``t_method``, ``t_baseline``, ``target``, ``reached``, ``top10hr``, ``n_method``,
        ``n_baseline`` (finished trials).
    """
    by_key = {_run_key(r): r for r in runs}
    out: list[dict[str, Any]] = []
    for (task, method, variant, rep), run in by_key.items():
        base = by_key.get((task, method, "plain", rep))
        if variant == "plain" or base is None:
            continue
        budget = float(run["budget_s"])
        pm = finished_points(run["trials"], budget)
        pb = finished_points(base["trials"], float(base["budget_s"]))
        res = tsba(pm, pb, direction=str(run["direction"]), horizon_s=budget)
        hr = top10hr([v for _, v in pm], [v for _, v in pb], direction=str(run["direction"]))
        out.append({"task": task, "method": method, "variant": variant, "repeat": rep,
                    **res.to_dict(), "top10hr": _json_float(hr), "n_method": len(pm),
                    "n_baseline": len(pb)})
    return out


def _mean_std(values: Sequence[float | None]) -> tuple[float | None, float | None]:
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=float)
    if not len(v):
        return None, None
    return float(v.mean()), (float(v.std(ddof=1)) if len(v) > 1 else None)


def aggregate(runs: Sequence[Mapping[str, Any]],
              comparisons: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per (task, method, variant): means over repeats.

    Returns
    -------
    list of dict
        ``task, method, variant, metric, repeats``, ``trials_mean`` (finished within the
        budget), ``failed_mean`` (trials that raised, had a non-finite metric or were
        interrupted), ``cut_mean`` (trials still training when the budget ran out),
        ``stopped_share`` (of finished trials: stopped by the
        variant's rule), ``best_mean`` (best result), and for non-plain variants
        ``tsba_mean/std`` (censored comparisons included), ``tsba_reached_mean`` (only the
        comparisons that reached the baseline's best), ``reached`` ("k/n" repeats),
        ``top10hr_mean/std``.
    """
    groups: dict[tuple[str, str, str], list[Mapping[str, Any]]] = {}
    for r in runs:
        groups.setdefault(_run_key(r)[:3], []).append(r)
    out: list[dict[str, Any]] = []
    for (task, method, variant), rs in groups.items():
        n_fin, n_fail, n_cut, n_stop, best = [], [], [], [], []
        for r in rs:
            pts = finished_points(r["trials"], float(r["budget_s"]))
            n_fin.append(float(len(pts)))
            n_fail.append(float(sum(t["state"] == "FAIL" and t["outcome"] != "over_budget"
                                    for t in r["trials"])))
            n_cut.append(float(sum(t["outcome"] == "over_budget" for t in r["trials"])))
            budget = float(r["budget_s"])
            n_stop.append(float(sum(
                t["outcome"] in ("bttackler", "median", "curvefit")
                and _as_float(t["t_end"]) <= budget for t in r["trials"])))
            vals = [v for _, v in pts]
            if vals:
                best.append(max(vals) if r["direction"] == "maximize" else min(vals))
        row: dict[str, Any] = {
            "task": task, "method": method, "variant": variant, "metric": rs[0]["metric"],
            "repeats": len(rs), "trials_mean": _mean_std(n_fin)[0],
            "failed_mean": _mean_std(n_fail)[0], "cut_mean": _mean_std(n_cut)[0],
            "stopped_share": (sum(n_stop) / sum(n_fin)) if sum(n_fin) else None,
            "best_mean": _mean_std(best)[0],
        }
        cs = [c for c in comparisons
              if (c["task"], c["method"], c["variant"]) == (task, method, variant)]
        if cs:
            row["tsba_mean"], row["tsba_std"] = _mean_std([c["tsba"] for c in cs])
            row["tsba_reached_mean"] = _mean_std([c["tsba"] for c in cs if c["reached"]])[0]
            row["reached"] = f"{sum(bool(c['reached']) for c in cs)}/{len(cs)}"
            row["top10hr_mean"], row["top10hr_std"] = _mean_std([c["top10hr"] for c in cs])
        out.append(row)
    return out


def indicator_counts(runs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """How often each indicator fired, per task, over the ``bttackler`` runs.

    Returns
    -------
    list of dict
        ``task, indicator, fired`` (trials finished within the budget whose diagnosis names
        the indicator), ``trials`` (finished trials of those runs), ``share`` (%).
    """
    out: list[dict[str, Any]] = []
    tasks = sorted({str(r["task"]) for r in runs if r["variant"] == "bttackler"},
                   key=lambda t: TASKS.index(t) if t in TASKS else len(TASKS))
    for task in tasks:
        counts = dict.fromkeys(INDICATORS, 0)
        n = 0
        for r in runs:
            if r["task"] != task or r["variant"] != "bttackler":
                continue
            budget = float(r["budget_s"])
            for t in r["trials"]:
                if t["state"] not in ("COMPLETE", "PRUNED") or not (
                        _as_float(t["t_end"]) <= budget):
                    continue
                n += 1
                for code in t["indicators"]:
                    counts[code] = counts.get(code, 0) + 1
        for code, c in counts.items():
            out.append({"task": task, "indicator": code, "fired": c, "trials": n,
                        "share": 100.0 * c / n if n else None})
    return out


def headline(comparisons: Sequence[Mapping[str, Any]],
             runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The numbers the paper reports, over every (task, method, repeat) comparison.

    Returns
    -------
    dict
        ``tsba_<variant>`` (censored comparisons included), ``tsba_reached_<variant>`` (only
        those that reached the baseline's best) and ``top10hr_<variant>`` means (%),
        ``top10hr_etr`` / ``tsba_etr`` (median and curvefit pooled), ``reached_<variant>``
        (fraction of comparisons), ``trials_<variant>``
        (finished trials summed over runs), ``indicator_rank`` (codes by fire count), and
        ``n_comparisons``.
    """
    out: dict[str, Any] = {"n_comparisons": len(comparisons)}
    for variant in VARIANTS[1:]:
        cs = [c for c in comparisons if c["variant"] == variant]
        out[f"tsba_{variant}"] = _mean_std([c["tsba"] for c in cs])[0]
        out[f"tsba_reached_{variant}"] = _mean_std([c["tsba"] for c in cs
                                                    if c["reached"]])[0]
        out[f"top10hr_{variant}"] = _mean_std([c["top10hr"] for c in cs])[0]
        out[f"reached_{variant}"] = (sum(bool(c["reached"]) for c in cs) / len(cs)
                                     if cs else None)
    etr = [c for c in comparisons if c["variant"] in ETR_VARIANTS]
    out["top10hr_etr"] = _mean_std([c["top10hr"] for c in etr])[0]
    out["tsba_etr"] = _mean_std([c["tsba"] for c in etr])[0]
    for variant in VARIANTS:
        out[f"trials_{variant}"] = sum(len(finished_points(r["trials"], float(r["budget_s"])))
                                       for r in runs if r["variant"] == variant)
    total: dict[str, int] = {}
    for row in indicator_counts(runs):
        total[row["indicator"]] = total.get(row["indicator"], 0) + int(row["fired"])
    out["indicator_rank"] = [c for c, n in sorted(total.items(), key=lambda kv: -kv[1]) if n]
    return out


# ----------------------------------------------------------------------------- run


def _cifar_dir(path: str | Path) -> str:
    root = Path(path).expanduser()
    files = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for cand in (root, root / "cifar-10-batches-py"):
        if all((cand / f).is_file() for f in files):
            return str(cand)
    raise DatasetNotFoundError("cifar10", root, "expected the python-pickle CIFAR-10 files "
                               f"({', '.join(files)}) there or in cifar-10-batches-py/")


def _choices(field: str, value: Any, allowed: tuple[str, ...]) -> list[str]:
    if isinstance(value, str) or not isinstance(value, Sequence) or not value:
        raise ConfigError(field, value, f"a non-empty list of {allowed}")
    for v in value:
        check_choice(field, v, allowed)
    return [a for a in allowed if a in set(value)]


def resolve_settings(
    scale: str,
    *,
    tasks: Sequence[str] | None = None,
    methods: Sequence[str] | None = None,
    variants: Sequence[str] | None = None,
    repeats: int | None = None,
    workers: int | None = None,
    budget_s: float | None = None,
    max_trials: int | None = None,
    epochs: int | None = None,
    dataset: str | None = None,
    cifar10: str | Path | None = None,
) -> dict[str, Any]:
    """The scale's :data:`BUDGETS` entry with overrides applied and validated.

    Raises
    ------
    ConfigError
        Unknown scale, task, method or variant; variants without ``"plain"``; repeats or
        workers < 1; budget not > 0; max_trials < 1; epochs < 2; unknown image dataset.
    DatasetNotFoundError
        CIFAR-10 asked for (``dataset="cifar10"``) and not found at ``cifar10`` /
        ``$EFFDL_CIFAR10``.
    """
    check_scale(scale)
    s = json.loads(json.dumps(BUDGETS[scale]))
    if tasks is not None:
        s["tasks"] = _choices("tasks", tasks, TASKS)
    if methods is not None:
        s["methods"] = _choices("methods", methods, METHODS)
    if variants is not None:
        s["variants"] = _choices("variants", variants, VARIANTS)
        if "plain" not in s["variants"]:
            raise ConfigError("variants", list(variants),
                              "a list including 'plain' (the baseline of every comparison)")
    if repeats is not None:
        s["repeats"] = check_int("repeats", repeats, min_value=1, max_value=1000)
    if workers is not None:
        s["workers"] = check_int("workers", workers, min_value=1, max_value=256)
    if budget_s is not None:
        s["budget_s"] = check_float("budget_s", budget_s, min_value=0.0, min_inclusive=False)
    if max_trials is not None:
        s["max_trials"] = check_int("max_trials", max_trials, min_value=1)
    if epochs is not None:
        s["epochs"] = check_int("epochs", epochs, min_value=2, max_value=10_000)
    path = cifar10 if cifar10 is not None else os.environ.get(CIFAR10_ENV) or None
    if dataset is not None:
        s["image_dataset"] = check_choice("dataset", dataset, IMAGE_DATASETS)
    if s["image_dataset"] == "auto":
        s["image_dataset"] = "cifar10" if path is not None else "synthetic"
    s["data_dir"] = None
    if s["image_dataset"] == "cifar10" and any(t in s["tasks"] for t in ("cnn", "lstm")):
        if path is None:
            raise DatasetNotFoundError("cifar10", None, f"pass cifar10=PATH or set ${CIFAR10_ENV}"
                                       " to the python-pickle CIFAR-10 folder")
        s["data_dir"] = _cifar_dir(path)
    s["space_ranges"] = SPACES[s["space"]]
    return dict(s)


def build_specs(settings: Mapping[str, Any], seed: int) -> list[RunSpec]:
    """Every run of the experiment, in execution order (repeat-major, so that an early
    stop still leaves complete (task, method) groups)."""
    specs: list[RunSpec] = []
    for rep in range(int(settings["repeats"])):
        run_seed = (int(seed) + 100_003 * rep) % 2**31
        for task in settings["tasks"]:
            dataset = "co2" if task == "transformer" else str(settings["image_dataset"])
            for method in settings["methods"]:
                for variant in settings["variants"]:
                    specs.append(RunSpec(
                        task=task, method=method, variant=variant, repeat=rep, seed=run_seed,
                        budget_s=float(settings["budget_s"]), workers=int(settings["workers"]),
                        max_trials=settings["max_trials"], epochs=int(settings["epochs"]),
                        dataset=dataset, n_train=settings["n_train"],
                        space=dict(settings["space_ranges"]),
                        data_dir=settings["data_dir"] if dataset == "cifar10" else None,
                        device=str(settings["device"]),
                        median_startup=int(settings["median_startup"]),
                        curvefit_startup=int(settings["curvefit_startup"]),
                        gp_startup=int(settings["gp_startup"])))
    return specs


def run_dir_of(out: Path, spec: RunSpec) -> Path:
    """``out/runs/<task>/<method>/<variant>/rep<r>``."""
    return out / "runs" / spec.task / spec.method / spec.variant / f"rep{spec.repeat}"


def run_bttackler(
    scale: str,
    seed: int,
    out: Path,
    *,
    tasks: Sequence[str] | None = None,
    methods: Sequence[str] | None = None,
    variants: Sequence[str] | None = None,
    repeats: int | None = None,
    workers: int | None = None,
    budget_s: float | None = None,
    max_trials: int | None = None,
    epochs: int | None = None,
    dataset: str | None = None,
    cifar10: str | Path | None = None,
    progress: ProgressFn | None = None,
    executor: Executor | None = None,
    storage: str | Path | None = None,
    study_prefix: str = STUDY_NAME,
) -> ExperimentSummary:
    """BTTackler vs plain HPO and early-termination rules: TSBA, Top10HR, trials, indicators.

    Parameters
    ----------
    scale : {"smoke", "small", "paper"}
        Picks the :data:`BUDGETS` entry; the keyword arguments override parts of it.
    seed : int
        Base seed (repeat ``r`` uses ``seed + 100003 r``).
    out : Path
        The experiment's directory: ``runs/`` (one journal per run, resumable),
        ``results.json``, figures and tables.
    tasks, methods, variants : sequence of str, optional
        Subsets of :data:`TASKS`, :data:`METHODS`, :data:`VARIANTS` (must include "plain").
    repeats, workers : int, optional
        >= 1 each.
    budget_s : float, optional
        Wall-time budget per run in seconds (> 0).
    max_trials : int, optional
        Cap on trials per run.
    epochs : int, optional
        Epochs of a full trial (>= 2).
    dataset : {"digits", "synthetic", "cifar10"}, optional
        Dataset of the image tasks.
    cifar10 : str or Path, optional
        CIFAR-10 folder (default ``$EFFDL_CIFAR10``).
    progress : callable, optional
        ``progress(done, total, message)`` after each run.
    executor : concurrent.futures.Executor, optional
        Where each run's ``workers`` workers run, e.g. a Dask cluster
        (``distributed.Client("tcp://scheduler:8786").get_executor()``; it needs ``workers``
        free slots). Default: ``workers`` local processes (one worker: this process).
    storage : str or Path, optional
        One Optuna storage for every run's study: an RDB URL
        (``postgresql+psycopg://user@host:5432/db``) or a journal-file path that all workers
        reach. Default: a journal file per run under ``out/runs/``.
    study_prefix : str
        With ``storage``: run ``(task, method, variant, r)`` is the study
        ``<study_prefix>/<task>/<method>/<variant>/rep<r>`` (another experiment in the same
        database needs another prefix).

    Returns
    -------
    ExperimentSummary
        Headline numbers next to the paper's, per-(task, method, variant) TSBA and Top10HR,
        the figures and tables written.

    Raises
    ------
    ConfigError, DatasetNotFoundError
        Bad input (see :func:`resolve_settings`), before any training.
    """
    check_scale(scale)
    seed = check_int("seed", seed, min_value=0, max_value=2**32 - 1)
    if not isinstance(out, str | Path):
        raise ConfigError("out", out, "a directory path")
    settings = resolve_settings(scale, tasks=tasks, methods=methods, variants=variants,
                                repeats=repeats, workers=workers, budget_s=budget_s,
                                max_trials=max_trials, epochs=epochs, dataset=dataset,
                                cifar10=cifar10)
    if progress is not None and not callable(progress):
        raise ConfigError("progress", progress, "a callable progress(done, total, message)")
    check_executor(executor)
    if not isinstance(study_prefix, str) or not study_prefix.strip():
        raise ConfigError("study_prefix", study_prefix, "a non-empty string")
    if storage is not None:
        if not isinstance(storage, str | Path) or not str(storage).strip():
            raise ConfigError("storage", storage, "a journal-file path or an RDB URL")
        with _quiet():
            _storage(storage)  # a bad URL, driver or folder fails here, before training
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    specs = build_specs(settings, seed)
    t0 = time.perf_counter()
    runs: list[dict[str, Any]] = []
    pool: Executor | None = executor
    n_workers = int(settings["workers"])
    own = executor is None and n_workers > 1
    if own:
        # every worker call sets its process up itself (``_worker_main(..., init=True)``)
        pool = ProcessPoolExecutor(max_workers=n_workers, mp_context=mp.get_context("spawn"))
    engine = {"executor": (type(executor).__name__ if executor is not None else
                           f"{n_workers} local processes" if own else "this process"),
              "storage": _storage_label(storage),
              "study_prefix": study_prefix if storage is not None else None}
    try:
        for i, spec in enumerate(specs):
            t_run = time.perf_counter()
            name = (STUDY_NAME if storage is None else
                    f"{study_prefix}/{spec.task}/{spec.method}/{spec.variant}/rep{spec.repeat}")
            runs.append(run_study(spec, run_dir_of(out, spec), executor=pool, storage=storage,
                                  study_name=name))
            runs[-1]["wall_s"] = time.perf_counter() - t_run
            if progress is not None:
                progress(i + 1, len(specs), f"{spec.task}/{spec.method}/{spec.variant}/"
                         f"rep{spec.repeat}: {len(runs[-1]['trials'])} trials")
    finally:
        if own and pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    comparisons = compare_runs(runs)
    aggregated = aggregate(runs, comparisons)
    head = headline(comparisons, runs)
    datasets = {task: ("co2" if task == "transformer" else settings["image_dataset"])
                for task in settings["tasks"]}
    payload: dict[str, Any] = {
        "experiment": NAME, "scale": scale, "seed": seed, "budget": settings,
        "paper": PAPER, "datasets": datasets, "engine": engine, "runs": runs,
        "comparisons": comparisons,
        "aggregate": aggregated, "indicators": indicator_counts(runs), "headline": head,
        "wall_time_s": time.perf_counter() - t0,
    }
    atomic_write_text(out / RESULTS_FILE, json.dumps(payload, indent=1) + "\n")
    paths = redraw(out)
    by_variant: dict[str, Any] = {}
    for row in aggregated:
        by_variant.setdefault(row["task"], {}).setdefault(row["method"], {})[row["variant"]] = {
            k: row.get(k) for k in ("tsba_mean", "top10hr_mean", "trials_mean", "best_mean")}
    return make_summary(
        NAME, scale, seed,
        metrics={"headline": head, "paper": PAPER, "by_variant": by_variant},
        **output_files(paths),
        wall_time_s=time.perf_counter() - t0,
    )


# ----------------------------------------------------------------------------- draw


def load_results(out_dir: str | Path) -> dict[str, Any]:
    """The payload of ``results.json`` in ``out_dir``.

    Raises
    ------
    DataError
        No or malformed ``results.json``.
    """
    return read_results(out_dir, NAME, required=("runs", "comparisons", "aggregate",
                                                 "indicators", "headline", "budget"))


_VARIANT_LABELS = {"bttackler": "BTTackler", "median": "median stop",
                   "curvefit": "curve fitting", "plain": "plain"}
_METHOD_LABELS = {"random": "Random", "tpe": "TPE", "gp": "GP", "qmc": "QMC"}


def plot_bars(rows: Sequence[Mapping[str, Any]], task: str, key: str, *, ax: Axes,
              refs: Sequence[tuple[float, str, str]] = (), floor: float = -100.0) -> Axes:
    """Grouped bars of ``<key>_mean`` (± ``<key>_std``) per method x variant for one task.

    Parameters
    ----------
    rows : sequence of mapping
        :func:`aggregate` rows.
    task : str
    key : {"tsba", "top10hr"}
    ax : matplotlib Axes
    refs : sequence of (value, label, linestyle)
        Horizontal reference lines (the paper's numbers).
    floor : float
        Bars below it are drawn down to it only, with their value written (a censored TSBA
        can be hugely negative).
    """
    sel = [r for r in rows if r["task"] == task and r["variant"] != "plain"]
    methods = [m for m in METHODS if any(r["method"] == m for r in sel)]
    variants = [v for v in VARIANTS[1:] if any(r["variant"] == v for r in sel)]
    width = 0.8 / max(len(variants), 1)
    for j, variant in enumerate(variants):
        xs, ys, es = [], [], []
        for i, method in enumerate(methods):
            row = next((r for r in sel if (r["method"], r["variant"]) == (method, variant)),
                       None)
            if row is None or row.get(f"{key}_mean") is None:
                continue
            xs.append(i + (j - (len(variants) - 1) / 2) * width)
            ys.append(float(row[f"{key}_mean"]))
            es.append(float(row.get(f"{key}_std") or 0.0))
        shown = [max(y, floor) for y in ys]
        ax.bar(xs, shown, width=width * 0.95, yerr=es if any(es) else None, capsize=2,
               color=f"C{j}",
               label=_VARIANT_LABELS[variant], error_kw={"lw": 0.8})
        for x, y in zip(xs, ys, strict=True):
            if y < floor:  # clipped: write the value
                ax.text(x, floor, f"{y:.0f}", rotation=90, ha="center", va="bottom",
                        fontsize="x-small")
    for value, label, ls in refs:
        ax.axhline(value, ls=ls, lw=0.9, color="0.25", label=label)
    ax.axhline(0.0, lw=0.6, color="0.5")
    ax.set_xticks(range(len(methods)), [_METHOD_LABELS[m] for m in methods])
    lo, hi = ax.get_ylim()
    ax.set_ylim(max(lo, floor - 5.0), hi)
    metric = sel[0]["metric"] if sel else ""
    ax.set_title(f"{task} ({metric})", fontsize="medium")
    return ax


def _comparison_table(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    recs = [{"task": r["task"], "method": r["method"], "variant": r["variant"],
             "TSBA %": _as_float(r.get("tsba_mean")), "TSBA std": _as_float(r.get("tsba_std")),
             "reached": r.get("reached"),
             "TSBA % (reached)": _as_float(r.get("tsba_reached_mean")),
             "Top10HR %": _as_float(r.get("top10hr_mean")),
             "Top10HR std": _as_float(r.get("top10hr_std"))}
            for r in rows if r["variant"] != "plain"]
    return pd.DataFrame(recs)


def _runs_table(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame([{
        "task": r["task"], "method": r["method"], "variant": r["variant"],
        "repeats": r["repeats"], "trials finished": _as_float(r["trials_mean"]),
        "failed": _as_float(r["failed_mean"]), "cut at budget": _as_float(r["cut_mean"]),
        "stopped early %": 100.0 * _as_float(r["stopped_share"]),
        f"best {r['metric']}": _as_float(r["best_mean"])} for r in rows])


def _headline_table(head: Mapping[str, Any]) -> pd.DataFrame:
    rows = [
        ("TSBA, BTTackler (%)", head.get("tsba_bttackler"), PAPER["tsba"]),
        ("TSBA, BTTackler, reached only (%)", head.get("tsba_reached_bttackler"), None),
        ("share reaching the baseline's best, BTTackler", head.get("reached_bttackler"),
         None),
        ("Top10HR, BTTackler (%)", head.get("top10hr_bttackler"), PAPER["top10hr"]),
        ("Top10HR, early termination rules (%)", head.get("top10hr_etr"),
         PAPER["top10hr_etr"]),
        ("TSBA, median stop (%)", head.get("tsba_median"), None),
        ("TSBA, median stop, reached only (%)", head.get("tsba_reached_median"), None),
        ("TSBA, curve fitting (%)", head.get("tsba_curvefit"), None),
        ("TSBA, curve fitting, reached only (%)", head.get("tsba_reached_curvefit"), None),
        ("Top10HR, median stop (%)", head.get("top10hr_median"), None),
        ("Top10HR, curve fitting (%)", head.get("top10hr_curvefit"), None),
        ("trials finished, plain", head.get("trials_plain"), None),
        ("trials finished, BTTackler", head.get("trials_bttackler"), None),
    ]
    return pd.DataFrame([{"quantity": q, "kit": _as_float(k), "paper": _as_float(p)}
                         for q, k, p in rows])


def redraw(out_dir: str | Path) -> list[Path]:
    """Draw the TSBA and Top10HR figures and write the tables from ``results.json`` only.

    Returns
    -------
    list of Path
        Figures (TSBA, Top10HR; PDF/SVG/PNG each), then tables (comparison, runs,
        indicators, headline; TeX/Markdown/CSV each).
    """
    out = Path(out_dir)
    payload = load_results(out)
    rows: list[dict[str, Any]] = payload["aggregate"]
    scale, seed = payload["scale"], payload["seed"]
    budget = payload["budget"]
    provenance = {"experiment": NAME, "source": RESULTS_FILE, "budget": budget,
                  "datasets": payload.get("datasets", {}), "paper": payload.get("paper", PAPER)}
    tasks = [t for t in TASKS if any(r["task"] == t for r in rows)]
    paths: list[Path] = []
    specs = (
        (FIGURE_TSBA, "tsba", "TSBA (%)", [(PAPER["tsba"], f"paper {PAPER['tsba']}%", "--")]),
        (FIGURE_TOP10HR, "top10hr", "Top10HR (%)",
         [(PAPER["top10hr"], f"paper, BTTackler {PAPER['top10hr']}%", "--"),
          (PAPER["top10hr_etr"], f"paper, ETR {PAPER['top10hr_etr']}%", ":")]),
    )
    with paper_style_context():
        for stem, key, ylabel, refs in specs:
            fig, axes = figure("double", aspect=0.8, nrows=1, ncols=max(len(tasks), 1),
                               pyplot=False, squeeze=False)
            for j, task in enumerate(tasks):
                plot_bars(rows, task, key, ax=axes[0, j], refs=refs)
            axes[0, 0].set_ylabel(ylabel)
            handles, labels = axes[0, 0].get_legend_handles_labels()
            if handles:
                fig.legend(handles, labels, loc="outside lower center", ncol=3,
                           fontsize="small", frameon=False)
            paths += save_figure(fig, out / stem, provenance=provenance, seed=seed,
                                 scale=scale)
    where = (f"{scale} scale, seed {seed}, {budget['budget_s']:g} s per run, "
             f"{budget['workers']} worker(s), {budget['repeats']} repeat(s)")
    paths += export_table(
        _comparison_table(rows), out / TABLE_COMPARISON,
        caption=f"TSBA and Top10HR against the plain method, mean over repeats ({where}).",
        label="tab:bttackler-comparison", float_format="{:.1f}")
    paths += export_table(
        _runs_table(rows), out / TABLE_RUNS,
        caption=f"Trials finished within the budget, failed trials, trials cut by the end of "
                f"the budget, share stopped early and best validation result, mean over "
                f"repeats ({where}).",
        label="tab:bttackler-runs", float_format="{:.3f}")
    paths += export_table(
        pd.DataFrame(payload["indicators"]), out / TABLE_INDICATORS,
        caption=f"How often each indicator fired in the BTTackler runs ({where}).",
        label="tab:bttackler-indicators", float_format="{:.1f}")
    paths += export_table(
        _headline_table(payload["headline"]), out / TABLE_HEADLINE,
        caption=f"Kit numbers next to the paper's ({where}).",
        label="tab:bttackler-headline", float_format="{:.2f}")
    figs = [p for p in paths if p.suffix in (".pdf", ".svg", ".png")]
    return figs + [p for p in paths if p not in figs]


register(NAME, redraw=redraw)(run_bttackler)
