"""EfficientDL's headline, confirmed by real training: static recommendation vs feedback HPO.

EfficientDL (arXiv 2410.14743) claims that a static predictor recommends a training
configuration as good as feedback-based AutoML finds (+1.31 Top-1 points on CIFAR-10), about
20x faster. This module measures that claim on tasks the kit's CPU bench trains.

Per (task, seed), :func:`confirm` runs two arms on the same search space:

(a) **EfficientDL** (:func:`recommend`, then one training). A random-forest predictor
    (:func:`~effdl_kit.experiments.efficientdl.make_predictor`) is fitted on the kit's own
    component dataset (1,600 real CPU trainings). Grouped permutation importance ranks its
    components; the Top-5 among the *controllable* ones (the model and training groups, plus
    ``precision``) are searched. The data group (``dataset``, ``n_train``) is fixed by the task
    and the other hardware components (``device``, ``threads``) take one value in the kit
    space, so neither is recommended. The grid is the kit space's value list of each of the
    five (:func:`~effdl_kit.data.default_component_space`). Every other component stays at a
    default: the kit data's median (numeric components) or most frequent value (others), via
    :func:`~effdl_kit.search.base_row`; a median is snapped to the nearest value of the kit
    space (in log10 when the values are positive and span 10x or more) so it can be trained.
    αβ-BO in fast mode (:class:`~effdl_kit.search.AlphaBetaBO`) searches the grid on the
    predictor alone, with the kit dataset's encoded rows as initial observations (targets
    ``top1``), as the authors do. The recommendation is then trained once, for real.
(b) **Feedback-based AutoML**: an Optuna TPE study (``TPESampler(seed=seed)``) over the same five
    components as categorical parameters with the same value lists, the same base for every
    other component; every trial trains for real. The trial with the best validation accuracy
    (last epoch, the weights the test set scores) is reported with its test accuracy.

Wall times (each process first runs one untimed tiny training, so neither arm pays torch's
first-call costs). (a): ``efficientdl_time_s`` = the whole of :func:`recommend` (predictor fit and
permutation importance, which depend on the seed only, plus the αβ-BO search) + the one
training. Building the component dataset (about 15 CPU-minutes, done once for every task) is
not charged, as in the paper. ``ratio_search_only`` also leaves the predictor fit out (it is
shared by every task). (b): ``automl_time_s`` = the study's wall time (all trials). The time
ratio is b / a: above 1 means EfficientDL was faster.

Tasks (:data:`TASKS`):

``digits``
    scikit-learn's 8x8 digits, the kit data's own task, ``n_train`` = 1,200 (the largest value
    in the kit space).
``synthetic_shift``
    A transfer task the kit data never held: :func:`~effdl_kit.training.make_synthetic_images`
    with 12x12 grayscale images, 5 classes, difficulty 0.65 and generation seed 2024 (the kit
    data's synthetic task is 16x16 RGB, 10 classes, difficulty 0.5, seed 0). The predictor only
    knows the value ``dataset="synthetic"``, so it sees the nearest task it was trained on; the
    run shows whether the recommendation transfers.
``cifar10`` (with ``cifar_dir`` only)
    CIFAR-10 from a local python-pickle copy (nothing is downloaded); the predictor sees it as
    ``"synthetic"`` (the kit data's 3-channel image task), ``n_train`` = 1,200.

Budgets per scale (:data:`CONFIRM_BUDGETS`): see the table there. At ``smoke`` the GP is given a
seeded random subset of 200 kit rows (a full 1,600-row GP fit takes tens of seconds), so smoke
results check the plumbing, not the claim.

Compute once, draw twice: :func:`run_confirmation` returns a DataFrame (one row per task x
seed, JSON-serialisable with ``to_dict(orient="records")``), :func:`confirmation_summary`
aggregates it per task, :func:`plot_confirmation` draws it on a given axis.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from effdl_kit._core.errors import ConfigError, DataError
from effdl_kit._core.validate import check_choice, check_int, check_scale

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from effdl_kit.experiments.efficientdl import ComponentData

__all__ = [
    "CIFAR_TASK",
    "CONFIRM_BUDGETS",
    "CONTROLLABLE_GROUPS",
    "PAPER_ACCURACY_GAIN_POINTS",
    "PAPER_SPEEDUP",
    "TASKS",
    "ConfirmRow",
    "ConfirmTask",
    "Recommendation",
    "confirm",
    "confirmation_summary",
    "controllable_components",
    "plot_confirmation",
    "recommend",
    "run_confirmation",
]

#: The paper's headline: +1.31 Top-1 points on CIFAR-10 over AutoML, about 20x faster.
PAPER_ACCURACY_GAIN_POINTS = 1.31
PAPER_SPEEDUP = 20.0
#: Component groups the recommendation may change (plus :data:`EXTRA_CONTROLLABLE`).
CONTROLLABLE_GROUPS: tuple[str, ...] = ("model", "training")
#: Hardware components a user controls on one machine.
EXTRA_CONTROLLABLE: tuple[str, ...] = ("precision",)
TOP_K = 5
TARGET = "top1"

#: Per scale: ``n_seeds`` (default seeds 0..n-1), ``bo_iter`` (αβ-BO iterations on the
#: predictor), ``tpe_trials`` (Optuna TPE trials, each a real training), ``train_scale`` (passed
#: to :func:`~effdl_kit.data.component_config`: ``smoke`` caps a training at 1 epoch on 128
#: images, about 1 s), ``n_trees`` (predictor), ``n_repeats`` (permutation importance),
#: ``refit_every`` / ``n_restarts`` (αβ-BO fast mode: kernel refit period, optimizer restarts
#: of the first fit), ``initial_rows`` (kit rows told to the GP; 0 = all).
CONFIRM_BUDGETS: dict[str, dict[str, Any]] = {
    "smoke": {"n_seeds": 1, "bo_iter": 8, "tpe_trials": 4, "train_scale": "smoke",
              "n_trees": 30, "n_repeats": 2, "refit_every": 50, "n_restarts": 0,
              "initial_rows": 200},
    "small": {"n_seeds": 3, "bo_iter": 50, "tpe_trials": 30, "train_scale": "small",
              "n_trees": 300, "n_repeats": 10, "refit_every": 50, "n_restarts": 1,
              "initial_rows": 0},
    "paper": {"n_seeds": 5, "bo_iter": 500, "tpe_trials": 100, "train_scale": "paper",
              "n_trees": 500, "n_repeats": 30, "refit_every": 50, "n_restarts": 10,
              "initial_rows": 0},
}

ProgressFn = Callable[[int, int, str], None]


@dataclass(frozen=True)
class ConfirmTask:
    """A downstream task of the confirmation.

    Attributes
    ----------
    name : str
    dataset : str
        The training bench's dataset (``TrainConfig.dataset``).
    predictor_dataset : str
        The value of the ``dataset`` component the predictor is given (one it was trained on).
    n_train : int
        Training images used (the ``n_train`` component).
    data_params : dict
        ``TrainConfig.data_params`` of every training (replaces the kit's synthetic task).
    description : str
    """

    name: str
    dataset: str
    predictor_dataset: str
    n_train: int
    data_params: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""

    def data_components(self) -> dict[str, Any]:
        """The data group's components as the predictor sees them."""
        return {"dataset": self.predictor_dataset, "n_train": self.n_train}


#: The two downstream tasks (see the module docstring).
TASKS: dict[str, ConfirmTask] = {
    "digits": ConfirmTask(
        "digits", "digits", "digits", 1200, {},
        "scikit-learn 8x8 digits (the kit data's own task), 1,200 training images",
    ),
    "synthetic_shift": ConfirmTask(
        "synthetic_shift", "synthetic", "synthetic", 1200,
        {"n_samples": 2000, "n_classes": 5, "image_size": 12, "channels": 1,
         "difficulty": 0.65, "data_seed": 2024},
        "transfer: generated 12x12 grayscale images, 5 classes, difficulty 0.65, seed 2024 "
        "(the kit data's synthetic task: 16x16 RGB, 10 classes, difficulty 0.5, seed 0)",
    ),
}
#: CIFAR-10 from a local copy (needs ``cifar_dir``).
CIFAR_TASK = ConfirmTask(
    "cifar10", "cifar10", "synthetic", 1200, {},
    "CIFAR-10 (local python-pickle copy), 1,200 training images; the predictor sees it as "
    "'synthetic'",
)


@dataclass
class Recommendation:
    """EfficientDL's recommendation for one task (no training involved).

    Attributes
    ----------
    task, scale : str
    seed : int
    components : dict
        Every component of the training to run: the base with the searched values applied
        (data components = the task's).
    searched : dict
        The Top-5 components' recommended values.
    predicted_top1 : float
        The predictor's accuracy for the recommendation.
    top5 : list of str
        The searched components, by decreasing permutation importance.
    importance : dict of str to float
        Mean R² drop of every controllable component.
    grid : dict of str to list
        The value list searched per component.
    base : dict
        Every predictor input at its default (data components = the task's).
    search_s : float
        Wall time of the whole recommendation (``predictor_s + bo_s``).
    predictor_s, bo_s : float
        Predictor fit + permutation importance; αβ-BO (problem, initial rows, iterations).
    n_iter, n_initial_rows : int
        αβ-BO iterations and initial observations.
    """

    task: str
    scale: str
    seed: int
    components: dict[str, Any]
    searched: dict[str, Any]
    predicted_top1: float
    top5: list[str]
    importance: dict[str, float]
    grid: dict[str, list[Any]]
    base: dict[str, Any]
    search_s: float
    predictor_s: float
    bo_s: float
    n_iter: int
    n_initial_rows: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


@dataclass
class ConfirmRow:
    """One task x seed of the confirmation (see the module docstring for the times).

    Attributes
    ----------
    task, scale : str
    seed : int
    top5 : list of str
    predicted_top1 : float
        The predictor's accuracy for (a)'s recommendation.
    efficientdl_top1, automl_top1 : float
        Test accuracy of (a)'s one training and of (b)'s best trial (NaN when failed).
    efficientdl_val_top1, automl_val_top1 : float
        Their last-epoch validation accuracy.
    diff_points : float
        ``100 * (efficientdl_top1 - automl_top1)``.
    efficientdl_time_s, automl_time_s : float
        Wall times of (a) (recommendation + training) and (b) (the whole study).
    time_ratio : float
        ``automl_time_s / efficientdl_time_s``.
    ratio_search_only : float
        ``automl_time_s / (bo_s + train_s)``: the predictor's fit left out.
    predictor_s, bo_s, train_s : float
        Parts of (a): predictor fit + importance, αβ-BO, the training.
    config_a, config_b : dict
        The five searched components' values chosen by (a) and (b).
    tpe_trials, tpe_failed : int
        Trials run by (b) and how many failed.
    bo_iter : int
    train_epochs, train_n_train : int
        Epochs and training images of every training (after the scale's caps).
    error_a, error_b : str or None
        Why (a)'s training failed / why (b) has no result.
    """

    task: str
    scale: str
    seed: int
    top5: list[str]
    predicted_top1: float
    efficientdl_top1: float
    efficientdl_val_top1: float
    automl_top1: float
    automl_val_top1: float
    diff_points: float
    efficientdl_time_s: float
    automl_time_s: float
    time_ratio: float
    ratio_search_only: float
    predictor_s: float
    bo_s: float
    train_s: float
    config_a: dict[str, Any]
    config_b: dict[str, Any]
    tpe_trials: int
    tpe_failed: int
    bo_iter: int
    train_epochs: int
    train_n_train: int
    error_a: str | None = None
    error_b: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


# ----------------------------------------------------------------------------- helpers


def _native(v: Any) -> Any:
    """numpy scalars -> Python scalars."""
    return v.item() if isinstance(v, np.generic) else v


def _resolve_task(task: Any, cifar_dir: str | Path | None, *, need_dir: bool = True
                  ) -> ConfirmTask:
    """The task named ``task``; ``cifar10`` needs an existing ``cifar_dir`` to train."""
    allowed = (*TASKS, CIFAR_TASK.name)
    if isinstance(task, ConfirmTask):
        return task
    check_choice("task", task, allowed)
    if task == CIFAR_TASK.name:
        if not need_dir:
            return CIFAR_TASK
        if cifar_dir is None:
            raise ConfigError("cifar_dir", None,
                              "a local folder holding CIFAR-10 (python-pickle) for task "
                              "'cifar10'")
        if not Path(cifar_dir).expanduser().is_dir():
            raise ConfigError("cifar_dir", str(cifar_dir), "an existing folder")
        return CIFAR_TASK
    return TASKS[str(task)]


def _check_seed(seed: Any, name: str = "seed") -> int:
    return check_int(name, seed, min_value=0, max_value=2**31 - 1)


def _kit_space() -> dict[str, list[Any]]:
    from effdl_kit.data import default_component_space

    return {k: list(v) for k, v in default_component_space().values.items()}


def controllable_components(data: ComponentData) -> list[str]:
    """The predictor's components a recommendation may change.

    Parameters
    ----------
    data : ComponentData
        The kit's component data (``component_groups`` maps component -> group).

    Returns
    -------
    list of str
        Feature components of the model and training groups, plus ``precision``; never the
        data group (fixed by the task).
    """
    features = [*(data.numeric or []), *(data.categorical or []), *(data.keyword or [])]
    groups = data.component_groups
    return [c for c in features
            if groups.get(c) in CONTROLLABLE_GROUPS or c in EXTRA_CONTROLLABLE]


def _snap(value: Any, values: Sequence[Any]) -> Any:
    """The kit-space value nearest ``value`` (log10 scale for positive values spanning 10x)."""
    value = _native(value)
    for v in values:
        if v == value and type(v) is type(value):
            return v
    nums = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    if (isinstance(value, int | float) and not isinstance(value, bool)
            and len(nums) == len(values)):
        arr = np.asarray(nums, dtype=np.float64)
        x = float(value)
        if (arr > 0).all() and x > 0 and arr.max() >= 10 * arr.min():
            arr, x = np.log10(arr), math.log10(x)
        return values[int(np.argmin(np.abs(arr - x)))]
    for v in values:
        if v == value or str(v) == str(value):
            return v
    raise DataError(f"default value {value!r} is not one of the kit space's values {values}")


def _default_base(data: ComponentData, columns: Sequence[str], task: ConfirmTask,
                  space: Mapping[str, Sequence[Any]]) -> dict[str, Any]:
    """Predictor inputs: the kit data's median / mode on the kit space, the task's data."""
    from effdl_kit.search import base_row

    raw = base_row(data.frame, list(columns))
    base: dict[str, Any] = {}
    for c in columns:
        v = raw[c]
        base[c] = _snap(v, space[c]) if c in space else _native(v)
    base.update(task.data_components())
    return base


def _training_config(components: Mapping[str, Any], task: ConfirmTask, *, scale: str,
                     seed: int, cifar_dir: str | Path | None) -> Any:
    """The ``TrainConfig`` of one training on ``task`` (validated)."""
    from effdl_kit.data import component_config

    comps = {**dict(components), "dataset": task.dataset, "n_train": task.n_train}
    cfg = component_config(comps, scale=scale, seed=seed)
    changes: dict[str, Any] = {}
    if task.dataset == "synthetic" or task.data_params:
        changes["data_params"] = dict(task.data_params)
    if task.dataset.startswith("cifar"):
        changes["data_dir"] = str(Path(str(cifar_dir)).expanduser())
    return cfg.replace(**changes) if changes else cfg


@dataclass
class _Outcome:
    test: float
    val: float
    time_s: float
    error: str | None


def _train_once(components: Mapping[str, Any], task: ConfirmTask, *, scale: str, seed: int,
                cifar_dir: str | Path | None) -> _Outcome:
    """One real training; an exception or a non-finite loss/metric is a failed outcome."""
    from effdl_kit.training import train

    t0 = time.perf_counter()
    try:
        cfg = _training_config(components, task, scale=scale, seed=seed, cifar_dir=cifar_dir)
        res = train(cfg)
    except Exception as exc:  # recorded as a failed training; the run goes on
        return _Outcome(math.nan, math.nan, time.perf_counter() - t0,
                        f"{type(exc).__name__}: {exc}")
    elapsed = time.perf_counter() - t0
    val = float(res.history[-1].val_metric) if res.history else math.nan
    test = float(res.test_metric)
    if res.stop_reason == "non-finite training loss":
        return _Outcome(math.nan, math.nan, elapsed, "non-finite training loss")
    if not (math.isfinite(test) and math.isfinite(val)):
        return _Outcome(math.nan, math.nan, elapsed, "non-finite test/validation accuracy")
    return _Outcome(test, val, elapsed, None)


@functools.cache
def _warm_up() -> None:
    """One untimed tiny training per process, so neither arm pays torch's first-call costs
    (lazy imports, kernel set-up: about 2 s on the first training of a process)."""
    from effdl_kit.training import TrainConfig, train

    for precision in ("fp32", "bf16"):
        try:
            train(TrainConfig(dataset="digits", model="cnn", epochs=1, n_train=64, threads=1,
                              precision=precision, model_params={"channels": (4,)}))
        except Exception:  # only a warm-up: a real failure shows in the timed trainings
            return


@contextmanager
def _quiet_optuna() -> Iterator[None]:
    """Optuna's per-trial INFO lines off while a study runs (restored afterwards)."""
    import optuna

    old = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(old)


# ----------------------------------------------------------------------------- (a)


def recommend(
    data: ComponentData,
    *,
    task: str | ConfirmTask,
    scale: str,
    seed: int,
    n_iter: int | None = None,
) -> Recommendation:
    """EfficientDL's recommendation for ``task``: predictor, Top-5, αβ-BO; no training.

    Parameters
    ----------
    data : ComponentData
        The kit's component data (``load_component_data("kit")``).
    task : str or ConfirmTask
        A key of :data:`TASKS`, ``"cifar10"``, or a task object.
    scale : {"smoke", "small", "paper"}
        Selects the budget (:data:`CONFIRM_BUDGETS`).
    seed : int
        Seeds the forest, the permutations, the initial-row subset and αβ-BO.
    n_iter : int, optional
        αβ-BO iterations (default: the scale's ``bo_iter``).

    Returns
    -------
    Recommendation

    Raises
    ------
    ConfigError
        Unknown task or scale, bad seed or ``n_iter``, data without declared features.
    """
    from effdl_kit.experiments.efficientdl import make_predictor
    from effdl_kit.inspection import permutation_importance, top_components
    from effdl_kit.search import AlphaBetaBO, predictor_problem

    spec = _resolve_task(task, None, need_dir=False)
    scale = check_scale(scale)
    seed = _check_seed(seed)
    budget = CONFIRM_BUDGETS[scale]
    n_iter = budget["bo_iter"] if n_iter is None else check_int("n_iter", n_iter, min_value=1)
    if data.numeric is None or TARGET not in data.frame.columns:
        raise ConfigError("data", data.name, "the kit's component data (load_component_data"
                                             "('kit'))")
    space = _kit_space()
    controllable = [c for c in controllable_components(data) if c in space]
    if len(controllable) < TOP_K:
        raise DataError(f"only {len(controllable)} controllable components in the data: "
                        f"{controllable}")

    t0 = time.perf_counter()
    X, y = data.xy()
    pipe = make_predictor(data, n_trees=budget["n_trees"], seed=seed).fit(X, y)
    encoder = pipe[0]
    imp = permutation_importance(pipe, X, y, groups=encoder.feature_groups_,
                                 n_repeats=budget["n_repeats"], random_state=seed)
    ranked = top_components(imp, k=len(imp.feature_names))
    ranked = ranked[ranked["name"].isin(controllable)]
    top5 = [str(n) for n in ranked["name"].iloc[:TOP_K]]
    importance = {str(n): float(m) for n, m in zip(ranked["name"], ranked["mean"], strict=True)}
    t1 = time.perf_counter()

    columns = list(encoder.columns_)
    base = _default_base(data, columns, spec, space)
    grid = {c: list(space[c]) for c in top5}
    problem = predictor_problem(pipe, grid, base)
    frame = data.frame
    n_rows = int(budget["initial_rows"])
    if 0 < n_rows < len(frame):
        rows = np.sort(np.random.default_rng(seed).choice(len(frame), n_rows, replace=False))
        frame = frame.iloc[rows]
    bo = AlphaBetaBO(problem.space, refit_every=budget["refit_every"],
                     n_restarts=budget["n_restarts"], seed=seed)
    bo.tell_features(problem.encode_rows(frame), frame[TARGET].to_numpy(dtype=np.float64))
    result = bo.optimize(problem.objective, n_iter)
    t2 = time.perf_counter()
    if result.best_config is None:
        raise DataError("αβ-BO found no configuration with a finite predicted accuracy")
    searched = {c: _snap(result.best_config[c], grid[c]) for c in top5}
    fixed = {k: v[0] for k, v in space.items() if len(v) == 1}  # device, threads
    components = {**fixed, **base, **searched}
    components.update(spec.data_components())
    return Recommendation(
        task=spec.name, scale=scale, seed=seed, components=components, searched=searched,
        predicted_top1=float(result.best_value), top5=top5, importance=importance,
        grid=grid, base=base, search_s=t2 - t0, predictor_s=t1 - t0, bo_s=t2 - t1,
        n_iter=n_iter, n_initial_rows=len(frame),
    )


# ----------------------------------------------------------------------------- (a) vs (b)


def _automl(rec: Recommendation, spec: ConfirmTask, *, scale: str, seed: int, n_trials: int,
            cifar_dir: str | Path | None) -> tuple[_Outcome, dict[str, Any], int, int, float]:
    """(b): Optuna TPE, every trial a real training. Returns (best, its config, trials,
    failed trials, study wall time)."""
    import optuna

    train_scale = CONFIRM_BUDGETS[scale]["train_scale"]
    base = {k: v for k, v in rec.components.items() if k not in rec.grid}
    outcomes: dict[int, tuple[_Outcome, dict[str, Any]]] = {}

    def objective(trial: Any) -> float:
        chosen = {c: trial.suggest_categorical(c, list(vals)) for c, vals in rec.grid.items()}
        out = _train_once({**base, **chosen}, spec, scale=train_scale, seed=seed,
                          cifar_dir=cifar_dir)
        outcomes[trial.number] = (out, chosen)
        trial.set_user_attr("test_top1", out.test)
        if out.error is not None:
            trial.set_user_attr("error", out.error)
            return math.nan  # Optuna records the trial as failed and goes on
        return out.val

    t0 = time.perf_counter()
    with _quiet_optuna():
        study = optuna.create_study(direction="maximize",
                                    sampler=optuna.samplers.TPESampler(seed=seed))
        study.optimize(objective, n_trials=n_trials)
    wall = time.perf_counter() - t0
    ok = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    failed = len(study.trials) - len(ok)
    if not ok:
        errors = sorted({str(o.error) for o, _ in outcomes.values()})
        return (_Outcome(math.nan, math.nan, wall, f"all {len(study.trials)} trials failed: "
                         + "; ".join(errors)), {}, len(study.trials), failed, wall)
    best = study.best_trial
    out, chosen = outcomes[best.number]
    return out, dict(chosen), len(study.trials), failed, wall


def confirm(
    task: str,
    *,
    scale: str,
    seed: int,
    data: ComponentData | None = None,
    cifar_dir: str | Path | None = None,
) -> ConfirmRow:
    """EfficientDL (recommend + one training) against Optuna TPE with real trainings.

    Parameters
    ----------
    task : str
        A key of :data:`TASKS`, or ``"cifar10"`` with ``cifar_dir``.
    scale : {"smoke", "small", "paper"}
        Budget (:data:`CONFIRM_BUDGETS`).
    seed : int
        Seeds both arms: predictor, importance, αβ-BO, TPE and every training.
    data : ComponentData, optional
        The kit's component data (default: ``load_component_data("kit")``).
    cifar_dir : path, optional
        Local CIFAR-10 folder (task ``"cifar10"`` only).

    Returns
    -------
    ConfirmRow

    Raises
    ------
    ConfigError
        Unknown task or scale, bad seed, ``cifar10`` without a folder (before any training).
    """
    spec = _resolve_task(task, cifar_dir)
    scale = check_scale(scale)
    seed = _check_seed(seed)
    if data is None:
        from effdl_kit.experiments.efficientdl import load_component_data

        data = load_component_data("kit")
    budget = CONFIRM_BUDGETS[scale]
    _warm_up()
    rec = recommend(data, task=spec, scale=scale, seed=seed)
    cfg = _training_config(rec.components, spec, scale=budget["train_scale"], seed=seed,
                           cifar_dir=cifar_dir)
    out_a = _train_once(rec.components, spec, scale=budget["train_scale"], seed=seed,
                        cifar_dir=cifar_dir)
    time_a = rec.search_s + out_a.time_s
    out_b, config_b, n_trials, n_failed, time_b = _automl(
        rec, spec, scale=scale, seed=seed, n_trials=int(budget["tpe_trials"]),
        cifar_dir=cifar_dir)
    return ConfirmRow(
        task=spec.name, scale=scale, seed=seed, top5=list(rec.top5),
        predicted_top1=rec.predicted_top1,
        efficientdl_top1=out_a.test, efficientdl_val_top1=out_a.val,
        automl_top1=out_b.test, automl_val_top1=out_b.val,
        diff_points=100.0 * (out_a.test - out_b.test),
        efficientdl_time_s=time_a, automl_time_s=time_b,
        time_ratio=time_b / time_a if time_a > 0 else math.nan,
        ratio_search_only=time_b / (rec.bo_s + out_a.time_s),
        predictor_s=rec.predictor_s, bo_s=rec.bo_s, train_s=out_a.time_s,
        config_a=dict(rec.searched), config_b=config_b, tpe_trials=n_trials,
        tpe_failed=n_failed, bo_iter=rec.n_iter, train_epochs=int(cfg.epochs),
        train_n_train=int(cfg.n_train), error_a=out_a.error, error_b=out_b.error,
    )


def _check_seeds(seeds: Any, scale: str) -> list[int]:
    if seeds is None:
        return list(range(int(CONFIRM_BUDGETS[scale]["n_seeds"])))
    if isinstance(seeds, int | np.integer) and not isinstance(seeds, bool):
        return list(range(check_int("seeds", seeds, min_value=1)))
    if isinstance(seeds, str) or not isinstance(seeds, Sequence) or len(seeds) < 1:
        raise ConfigError("seeds", seeds, "an int >= 1 (seeds 0..n-1) or a non-empty list of "
                                          "seeds")
    out = [_check_seed(s, "seeds") for s in seeds]
    if len(set(out)) != len(out):
        raise ConfigError("seeds", list(seeds), "distinct seeds")
    return out


def run_confirmation(
    *,
    scale: str,
    seeds: int | Sequence[int] | None = None,
    tasks: Sequence[str] | None = None,
    progress: ProgressFn | None = None,
    cifar_dir: str | Path | None = None,
) -> pd.DataFrame:
    """:func:`confirm` for every task x seed; one row each.

    Parameters
    ----------
    scale : {"smoke", "small", "paper"}
    seeds : int or sequence of int, optional
        ``n`` (>= 1) means seeds ``0..n-1``; default: the scale's ``n_seeds``.
    tasks : sequence of str, optional
        Default: every key of :data:`TASKS` (plus ``"cifar10"`` when ``cifar_dir`` is given).
    progress : callable, optional
        ``progress(done, total, message)`` before each (task, seed) and at the end.
    cifar_dir : path, optional
        Local CIFAR-10 folder.

    Returns
    -------
    pandas.DataFrame
        The :class:`ConfirmRow` fields as columns, rows in task-major order.

    Raises
    ------
    ConfigError
        Bad scale, seeds or tasks, before any training.
    """
    scale = check_scale(scale)
    seed_list = _check_seeds(seeds, scale)
    if tasks is None:
        tasks = [*TASKS, *([CIFAR_TASK.name] if cifar_dir is not None else [])]
    if isinstance(tasks, str) or not isinstance(tasks, Sequence) or not tasks:
        raise ConfigError("tasks", tasks, f"a non-empty list of {[*TASKS, CIFAR_TASK.name]}")
    specs = [_resolve_task(t, cifar_dir) for t in tasks]
    if len({s.name for s in specs}) != len(specs):
        raise ConfigError("tasks", list(tasks), "distinct tasks")
    from effdl_kit.experiments.efficientdl import load_component_data

    data = load_component_data("kit")
    total = len(specs) * len(seed_list)
    rows: list[dict[str, Any]] = []
    for spec in specs:
        for seed in seed_list:
            if progress is not None:
                progress(len(rows), total, f"{spec.name}, seed {seed}")
            row = confirm(spec.name, scale=scale, seed=seed, data=data, cifar_dir=cifar_dir)
            rows.append(row.to_dict())
    if progress is not None:
        progress(total, total, "done")
    return pd.DataFrame(rows, columns=list(ConfirmRow.__dataclass_fields__))


# ----------------------------------------------------------------------------- summary, plot


_SUMMARY_COLUMNS = ("efficientdl_top1", "automl_top1", "diff_points", "time_ratio",
                    "efficientdl_time_s", "automl_time_s")


def confirmation_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Per task: mean ± std over seeds of both accuracies, the difference, times and ratio.

    Parameters
    ----------
    frame : pandas.DataFrame
        From :func:`run_confirmation`.

    Returns
    -------
    pandas.DataFrame
        One row per task (first-appearance order): ``task``, ``scale``, ``n_seeds`` (rows),
        ``n_ok`` (rows where both arms have an accuracy), and ``{col}_mean``, ``{col}_std`` for
        ``efficientdl_top1, automl_top1, diff_points, time_ratio, efficientdl_time_s,
        automl_time_s``. Means and sample standard deviations (ddof 1; NaN for one seed) skip
        NaN (failed) values.

    Raises
    ------
    DataError
        Columns missing.
    """
    need = {"task", "scale", "seed", *_SUMMARY_COLUMNS}
    missing = sorted(need - set(frame.columns))
    if missing:
        raise DataError(f"not a confirmation frame: columns {missing} missing")
    out: list[dict[str, Any]] = []
    for task in pd.unique(frame["task"]):
        part = frame[frame["task"] == task]
        ok = part["efficientdl_top1"].notna() & part["automl_top1"].notna()
        row: dict[str, Any] = {
            "task": str(task),
            "scale": ",".join(sorted({str(s) for s in part["scale"]})),
            "n_seeds": len(part), "n_ok": int(ok.sum()),
        }
        for col in _SUMMARY_COLUMNS:
            vals = part[col].astype(float)
            row[f"{col}_mean"] = float(vals.mean())
            row[f"{col}_std"] = float(vals.std(ddof=1))
        out.append(row)
    return pd.DataFrame(out)


def plot_confirmation(frame: pd.DataFrame, *, ax: Axes) -> Axes:
    """Test accuracy of EfficientDL (a) and TPE (b) per task: bars (mean), error bars (std
    over seeds), one dot per seed; the mean difference (a − b, points) and wall-time ratio
    (b / a) written above each task.

    Parameters
    ----------
    frame : pandas.DataFrame
        From :func:`run_confirmation`.
    ax : matplotlib.axes.Axes
        Drawn on; nothing else is touched.

    Returns
    -------
    Axes
    """
    summary = confirmation_summary(frame)
    n = len(summary)
    x = np.arange(n, dtype=float)
    width = 0.36
    arms = (("efficientdl_top1", "EfficientDL (1 training)", "C0", -width / 2),
            ("automl_top1", "Optuna TPE (real training)", "C1", width / 2))
    for col, label, color, dx in arms:
        mean = summary[f"{col}_mean"].to_numpy(dtype=float)
        std = np.nan_to_num(summary[f"{col}_std"].to_numpy(dtype=float), nan=0.0)
        ax.bar(x + dx, np.nan_to_num(mean, nan=0.0), width, yerr=std, color=color, alpha=0.85,
               capsize=2, error_kw={"lw": 0.8}, label=label)
        for i, task in enumerate(summary["task"]):
            vals = frame.loc[frame["task"] == task, col].to_numpy(dtype=float)
            vals = vals[np.isfinite(vals)]
            ax.scatter(np.full(len(vals), x[i] + dx), vals, s=8, color="0.15", zorder=3,
                       linewidths=0)
    for xi, diff, ratio in zip(x, summary["diff_points_mean"], summary["time_ratio_mean"],
                               strict=True):
        ax.text(xi, 1.02, f"Δ {diff:+.1f} pts\ntime b/a {ratio:.2g}x", ha="center",
                va="bottom", fontsize="x-small")
    ax.set_xticks(x, [str(t) for t in summary["task"]])
    ax.set_ylim(0.0, 1.42)
    ax.set_yticks(np.linspace(0.0, 1.0, 6))
    ax.set_ylabel("test top-1 accuracy")
    n_seeds = sorted({int(s) for s in summary["n_seeds"]})
    ax.set_title(f"Confirmation by real training ({', '.join(map(str, n_seeds))} seeds)",
                 fontsize="medium")
    ax.legend(loc="upper center", ncols=2, fontsize="x-small", frameon=False,
              handlelength=1.0, columnspacing=1.0)
    return ax
