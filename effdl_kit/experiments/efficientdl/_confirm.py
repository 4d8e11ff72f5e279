"""EfficientDL's headline, confirmed by real training: static recommendation vs feedback HPO.

EfficientDL (arXiv 2410.14743) claims that a static predictor recommends a training
configuration as good as feedback-based AutoML finds (+1.31 Top-1 points on CIFAR-10), about
20x faster. This module measures that claim on tasks the kit's CPU bench trains.

Per (task, seed), :func:`confirm` runs two arms on the same search space:

(a) **EfficientDL** (:func:`recommend`, then one training). A random-forest predictor
    (:func:`~effdl_kit.models.make_predictor`) is fitted on the kit's own
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

Tasks (:data:`~._settings.TASKS`):

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

Budgets per scale (:class:`~._settings.ConfirmBudget`): see the table there. At ``smoke`` the
GP is given a seeded random subset of 200 kit rows (a full 1,600-row GP fit takes tens of
seconds), so smoke results check the plumbing, not the claim.

Compute once, draw twice: :func:`run_confirmation` returns a DataFrame (one row per task x
seed, JSON-serialisable with ``to_dict(orient="records")``),
:func:`~._confirm_analysis.confirmation_summary` aggregates it per task,
:func:`~._confirm_figures.plot_confirmation` draws it on a given axis.
"""

from __future__ import annotations

import functools
import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd

from effdl_kit import training
from effdl_kit._core.errors import ConfigError, DataError, TrainingError
from effdl_kit._core.rng import SEED_MAX
from effdl_kit._core.study import quiet_optuna, trial_loop
from effdl_kit._core.types import ProgressFn
from effdl_kit._core.validate import Scale, check_choice, check_int, check_scale
from effdl_kit.data import (
    ComponentData,
    component_config,
    default_component_space,
    load_component_data,
)
from effdl_kit.experiments.efficientdl._confirm_analysis import (
    ConfirmRow,
    Recommendation,
    confirmation_summary,
)
from effdl_kit.experiments.efficientdl._confirm_settings import (
    CIFAR_TASK,
    TARGET,
    TASKS,
    ConfirmBudget,
    ConfirmTask,
    TaskName,
)
from effdl_kit.experiments.efficientdl._settings import (
    CONTROLLABLE_GROUPS,
    EXTRA_CONTROLLABLE,
    TOP_K,
    resolve_budget,
)
from effdl_kit.inspection import permutation_importance, top_components
from effdl_kit.models import make_predictor
from effdl_kit.search import AlphaBetaBO, base_row, predictor_problem

__all__ = [
    "confirm",
    "controllable_components",
    "recommend",
    "run_confirm",
    "run_confirmation",
]




# ----------------------------------------------------------------------------- helpers


def _native(v: Any) -> Any:
    """numpy scalars -> Python scalars."""
    return v.item() if isinstance(v, np.generic) else v


def _resolve_task(task: Any, cifar_dir: str | Path | None, *, need_dir: bool = True
                  ) -> ConfirmTask:
    """The task named ``task``; ``cifar10`` needs an existing ``cifar_dir`` to train."""
    allowed: tuple[TaskName, ...] = (*TASKS, "cifar10")
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
    return TASKS[task]


def _check_seed(seed: Any, name: str = "seed") -> int:
    return check_int(name, seed, min_value=0, max_value=SEED_MAX)


def _kit_space() -> dict[str, list[Any]]:
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
    t0 = time.perf_counter()
    try:
        cfg = _training_config(components, task, scale=scale, seed=seed, cifar_dir=cifar_dir)
        res = training.train(cfg)
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
    for precision in ("fp32", "bf16"):
        try:
            training.train(training.TrainConfig(
                dataset="digits", model="cnn", epochs=1, n_train=64, threads=1,
                precision=precision, model_params={"channels": (4,)}))
        except Exception:  # only a warm-up: a real failure shows in the timed trainings
            return




# ----------------------------------------------------------------------------- (a)


def recommend(
    data: ComponentData,
    *,
    task: TaskName | ConfirmTask,
    scale: Scale,
    seed: int,
    n_iter: int | None = None,
    budget: ConfirmBudget | None = None,
) -> Recommendation:
    """EfficientDL's recommendation for ``task``: predictor, Top-5, αβ-BO; no training.

    Parameters
    ----------
    data : ComponentData
        The kit's component data (``load_component_data("kit")``).
    task : str or ConfirmTask
        A key of :data:`TASKS`, ``"cifar10"``, or a task object.
    scale : {"smoke", "small", "paper"}
        Selects the budget (:meth:`ConfirmBudget.for_scale`).
    seed : int
        Seeds the forest, the permutations, the initial-row subset and αβ-BO.
    n_iter : int, optional
        αβ-BO iterations (default: the budget's ``bo_iter``).
    budget : ConfirmBudget, optional
        Instead of the scale's.

    Returns
    -------
    Recommendation

    Raises
    ------
    ConfigError
        Unknown task or scale, bad seed or ``n_iter``, data without declared features.
    """
    spec = _resolve_task(task, None, need_dir=False)
    budget = resolve_budget(ConfirmBudget, scale, budget)
    seed = _check_seed(seed)
    n_iter = budget.bo_iter if n_iter is None else check_int("n_iter", n_iter, min_value=1)
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
    pipe = make_predictor(data, n_trees=budget.n_trees, seed=seed).fit(X, y)
    encoder = pipe[0]
    imp = permutation_importance(pipe, X, y, groups=encoder.feature_groups_,
                                 n_repeats=budget.n_repeats, random_state=seed)
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
    n_rows = budget.initial_rows
    if n_rows is not None and n_rows < len(frame):
        rows = np.sort(np.random.default_rng(seed).choice(len(frame), n_rows, replace=False))
        frame = frame.iloc[rows]
    bo = AlphaBetaBO(problem.space, refit_every=budget.refit_every,
                     n_restarts=budget.n_restarts, seed=seed)
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


def _automl(rec: Recommendation, spec: ConfirmTask, *, train_scale: Scale, seed: int,
            n_trials: int, cifar_dir: str | Path | None
            ) -> tuple[_Outcome, dict[str, Any], int, int, float]:
    """(b): Optuna TPE, every trial a real training. Returns (best, its config, trials,
    failed trials, study wall time)."""
    base = {k: v for k, v in rec.components.items() if k not in rec.grid}
    outcomes: dict[int, tuple[_Outcome, dict[str, Any]]] = {}

    def objective(trial: Any) -> float:
        chosen = {c: trial.suggest_categorical(c, list(vals)) for c, vals in rec.grid.items()}
        out = _train_once({**base, **chosen}, spec, scale=train_scale, seed=seed,
                          cifar_dir=cifar_dir)
        outcomes[trial.number] = (out, chosen)
        trial.set_user_attr("test_top1", out.test)
        if out.error is not None:  # recorded as the trial's fail_reason; the study goes on
            raise TrainingError(out.error)
        return out.val

    t0 = time.perf_counter()
    with quiet_optuna():
        study = optuna.create_study(direction="maximize",
                                    sampler=optuna.samplers.TPESampler(seed=seed))
        trial_loop(study, objective, stop=lambda: len(study.trials) >= n_trials)
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
    task: TaskName | ConfirmTask,
    *,
    scale: Scale,
    seed: int,
    data: ComponentData | None = None,
    cifar_dir: str | Path | None = None,
    budget: ConfirmBudget | None = None,
) -> ConfirmRow:
    """EfficientDL (recommend + one training) against Optuna TPE with real trainings.

    Parameters
    ----------
    task : str
        A key of :data:`TASKS`, or ``"cifar10"`` with ``cifar_dir``.
    scale : {"smoke", "small", "paper"}
        Budget (:meth:`ConfirmBudget.for_scale`).
    seed : int
        Seeds both arms: predictor, importance, αβ-BO, TPE and every training.
    data : ComponentData, optional
        The kit's component data (default: ``load_component_data("kit")``).
    cifar_dir : path, optional
        Local CIFAR-10 folder (task ``"cifar10"`` only).
    budget : ConfirmBudget, optional
        Instead of the scale's.

    Returns
    -------
    ConfirmRow

    Raises
    ------
    ConfigError
        Unknown task or scale, bad seed, ``cifar10`` without a folder (before any training).
    """
    spec = _resolve_task(task, cifar_dir)
    budget = resolve_budget(ConfirmBudget, scale, budget)
    seed = _check_seed(seed)
    if data is None:
        data = load_component_data("kit")
    _warm_up()
    rec = recommend(data, task=spec, scale=scale, seed=seed, budget=budget)
    cfg = _training_config(rec.components, spec, scale=budget.train_scale, seed=seed,
                           cifar_dir=cifar_dir)
    out_a = _train_once(rec.components, spec, scale=budget.train_scale, seed=seed,
                        cifar_dir=cifar_dir)
    time_a = rec.search_s + out_a.time_s
    out_b, config_b, n_trials, n_failed, time_b = _automl(
        rec, spec, train_scale=budget.train_scale, seed=seed, n_trials=budget.tpe_trials,
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


def _check_seeds(seeds: Any, budget: ConfirmBudget) -> list[int]:
    if seeds is None:
        return list(range(budget.n_seeds))
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
    scale: Scale,
    seeds: int | Sequence[int] | None = None,
    tasks: Sequence[TaskName] | None = None,
    progress: ProgressFn | None = None,
    cifar_dir: str | Path | None = None,
    budget: ConfirmBudget | None = None,
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
    budget : ConfirmBudget, optional
        Instead of the scale's.

    Returns
    -------
    pandas.DataFrame
        The :class:`ConfirmRow` fields as columns, rows in task-major order.

    Raises
    ------
    ConfigError
        Bad scale, seeds or tasks, before any training.
    """
    budget = resolve_budget(ConfirmBudget, scale, budget)
    seed_list = _check_seeds(seeds, budget)
    if tasks is None:
        cifar: list[TaskName] = ["cifar10"] if cifar_dir is not None else []
        tasks = [*TASKS, *cifar]
    if isinstance(tasks, str) or not isinstance(tasks, Sequence) or not tasks:
        raise ConfigError("tasks", tasks, f"a non-empty list of {[*TASKS, CIFAR_TASK.name]}")
    specs = [_resolve_task(t, cifar_dir) for t in tasks]
    if len({s.name for s in specs}) != len(specs):
        raise ConfigError("tasks", list(tasks), "distinct tasks")
    data = load_component_data("kit")
    total = len(specs) * len(seed_list)
    rows: list[dict[str, Any]] = []
    for spec in specs:
        for seed in seed_list:
            if progress is not None:
                progress(len(rows), total, f"{spec.name}, seed {seed}")
            row = confirm(spec, scale=scale, seed=seed, data=data, cifar_dir=cifar_dir,
                          budget=budget)
            rows.append(row.to_dict())
    if progress is not None:
        progress(total, total, "done")
    return pd.DataFrame(rows, columns=list(ConfirmRow.__dataclass_fields__))


def run_confirm(*, scale: Scale, seed: int, progress: ProgressFn | None = None
                ) -> dict[str, Any]:
    """Confirmation by real training against feedback-based AutoML; a JSON-able dict.

    Kit predictor → Top-5 controllable components → αβ-BO → one training, against an Optuna TPE
    study that trains every trial (:func:`run_confirmation`). Seeds ``seed, seed + 1, ...``
    (the scale's number of seeds).

    Returns
    -------
    dict
        ``rows`` (one per task x seed), ``summary`` (:func:`confirmation_summary`), ``time_s``.
    """
    check_scale(scale)
    budget = ConfirmBudget.for_scale(scale)
    t0 = time.perf_counter()
    frame = run_confirmation(scale=scale, seeds=[seed + i for i in range(budget.n_seeds)],
                             progress=progress, budget=budget)
    summary = confirmation_summary(frame)
    return {"rows": json.loads(frame.to_json(orient="records")),
            "summary": json.loads(summary.reset_index().to_json(orient="records")),
            "time_s": time.perf_counter() - t0}
