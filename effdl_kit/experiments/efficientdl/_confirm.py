"""EfficientDL's headline, confirmed by real training, with search and predictor told apart.

EfficientDL (arXiv 2410.14743) claims that a static predictor recommends a training
configuration as good as feedback-based AutoML finds (+1.31 Top-1 points on CIFAR-10), about
20x faster. This module measures that claim on tasks the kit's CPU bench trains, and separates
the two ways it can fail: the **search** (αβ-BO does not find the predictor's best grid point)
and the **predictor** (its best grid point is not good in reality).

Per (task, seed), :func:`recommend` builds the problem and :func:`confirm` trains its *arms*
(:data:`~._confirm_settings.ARMS`), each once, all with the same training seed:

EfficientDL's search (:func:`recommend`, no training)
    A random-forest predictor (:func:`~effdl_kit.models.make_predictor`) is fitted on the kit's
    own component dataset (1,600 real CPU trainings). Grouped permutation importance ranks its
    components; the Top-5 among the *controllable* ones (the model and training groups, plus
    ``precision``) are searched. The data group (``dataset``, ``n_train``) is fixed by the
    task and the other hardware components (``device``, ``threads``) take one value in the kit
    space, so neither is recommended. The grid is the kit space's value list of each of the
    five (:func:`~effdl_kit.data.default_component_space`). Every other component stays at a
    default: the kit data's median (numeric components) or most frequent value (others), via
    :func:`~effdl_kit.search.base_row`; a median is snapped to the nearest value of the kit
    space (in log10 when the values are positive and span 10x or more) so it can be trained.
    αβ-BO (:class:`~effdl_kit.search.AlphaBetaBO`, fast mode) searches the grid on the
    predictor alone, with the kit dataset's encoded rows as initial observations (targets
    ``top1``), as the authors do, but with the kit's working GP and incumbent by default
    (``ConfirmBudget.kernel="fitted_noise"``: amplitude and noise fitted, where the authors'
    unit-amplitude kernel collapses on these data; ``incumbent="evaluated"``: f* is the best
    predictor value the search evaluated, not the best label of the prior rows, which the
    predictor never reaches, so PI would stay near 0 everywhere). ``kernel="authors",
    incumbent="labels"`` in the budget runs the authors' choices. Then one batched pass of the
    predictor over every grid candidate (:meth:`~effdl_kit.search.PredictorProblem.predict_grid`)
    gives the exhaustive argmax, the top-5, and the rank of αβ-BO's pick.
Arms (:func:`confirm`)
    ``alpha_beta`` (αβ-BO's pick), ``argmax`` (the exhaustive argmax), ``top5`` (the five best
    candidates; rank 1 is the argmax, whose training it shares), ``random`` and ``random_b``
    (two independent seeded uniform grid points: the A/A control), and ``tpe``: an Optuna TPE
    study (``TPESampler(seed=seed)``) over the same five components as categorical parameters
    with the same value lists and the same base, every trial a real training; its trial with
    the best validation accuracy (last epoch, the weights the test set scores) is reported
    with its test accuracy. A configuration that two arms share is trained once (same
    configuration, same seed: the same training); the row says ``reused_from``. Every arm
    records the predictor's accuracy for its configuration, so predicted and realised Top-1
    can be compared arm by arm (:mod:`._confirm_analysis` says which failure drives the
    outcome).

Wall times (each process first runs one untimed tiny training, so no arm pays torch's
first-call costs). EfficientDL: ``efficientdl_time_s`` = the whole of :func:`recommend`'s search
(predictor fit and permutation importance, which depend on the seed only, plus αβ-BO) + the one
training; the exhaustive pass (``grid_s``) is not part of it. Building the component dataset
(about 15 CPU-minutes, done once for every task) is not charged, as in the paper.
``ratio_search_only`` also leaves the predictor fit out (it is shared by every task). TPE:
``automl_time_s`` = the study's wall time (all trials). The time ratio is TPE / EfficientDL:
above 1 means EfficientDL was faster.

Tasks (:data:`~._confirm_settings.TASKS`):

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

Budgets per scale (:class:`~._confirm_settings.ConfirmBudget`): 10 seeds at ``small`` and
``paper``. At ``smoke`` (one seed) the GP is given a seeded random subset of 200 kit rows (a
full 1,600-row GP fit takes tens of seconds), so smoke results check the plumbing, not the
claim.

Compute once, draw twice: :func:`run_confirmation` returns a DataFrame (one row per task x
seed, the arms nested in ``arms``; JSON-serialisable with ``to_dict(orient="records")``);
:func:`~._confirm_analysis.confirmation_summary`,
:func:`~._confirm_analysis.confirmation_verdicts` and
:func:`~._confirm_analysis.failure_driver` analyse it, :mod:`._confirm_figures` draws it.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import optuna
import pandas as pd

from effdl_kit._core.errors import ConfigError, DataError, TrainingError
from effdl_kit._core.study import quiet_optuna, trial_loop
from effdl_kit._core.types import ProgressFn
from effdl_kit._core.validate import Scale, check_int, check_scale
from effdl_kit.data import ComponentData, load_component_data
from effdl_kit.experiments.efficientdl._confirm_analysis import (
    confirmation_summary,
    confirmation_verdicts,
    failure_driver,
)
from effdl_kit.experiments.efficientdl._confirm_records import (
    ArmRow,
    ConfirmRow,
    Recommendation,
)
from effdl_kit.experiments.efficientdl._confirm_settings import (
    TARGET,
    TOP_ARM,
    ConfirmBudget,
    ConfirmTask,
    TaskName,
)
from effdl_kit.experiments.efficientdl._confirm_train import (
    Outcome,
    check_seed,
    check_seeds,
    check_tasks,
    controllable_components,
    default_base,
    kit_space,
    native,
    resolve_task,
    snap,
    train_once,
    training_config,
    warm_up,
)
from effdl_kit.experiments.efficientdl._settings import TOP_K, resolve_budget
from effdl_kit.inspection import permutation_importance, top_components
from effdl_kit.models import make_predictor
from effdl_kit.search import AlphaBetaBO, PredictorProblem, predictor_problem

__all__ = [
    "confirm",
    "confirmation_payload",
    "controllable_components",
    "recommend",
    "run_confirm",
    "run_confirmation",
]

F64 = npt.NDArray[np.float64]
#: stream of the random arms' draws (``default_rng([seed, RANDOM_STREAM])``)
RANDOM_STREAM = 7001


# ----------------------------------------------------------------------------- the search


def _recommend(data: ComponentData, spec: ConfirmTask, *, scale: Scale, seed: int,
               n_iter: int, budget: ConfirmBudget
               ) -> tuple[Recommendation, PredictorProblem, F64]:
    """:func:`recommend`, plus the problem and the predictor's value of every candidate."""
    if data.numeric is None or TARGET not in data.frame.columns:
        raise ConfigError("data", data.name, "the kit's component data (load_component_data"
                                             "('kit'))")
    space = kit_space()
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
    base = default_base(data, columns, spec, space)
    grid = {c: list(space[c]) for c in top5}
    problem = predictor_problem(pipe, grid, base)
    frame = data.frame
    n_rows = budget.initial_rows
    if n_rows is not None and n_rows < len(frame):
        rows = np.sort(np.random.default_rng(seed).choice(len(frame), n_rows, replace=False))
        frame = frame.iloc[rows]
    bo = AlphaBetaBO(problem.space, refit_every=budget.refit_every,
                     n_restarts=budget.n_restarts, kernel=budget.kernel,
                     incumbent=budget.incumbent, seed=seed)
    bo.tell_features(problem.encode_rows(frame), frame[TARGET].to_numpy(dtype=np.float64))
    result = bo.optimize(problem.objective, n_iter)
    t2 = time.perf_counter()
    if result.best_config is None:
        raise DataError("αβ-BO found no configuration with a finite predicted accuracy")
    searched = {c: snap(result.best_config[c], grid[c]) for c in top5}

    values = problem.predict_grid()
    grid_s = time.perf_counter() - t2
    if not np.isfinite(values).all():
        raise DataError("the predictor gives NaN/inf for some grid candidates")
    order = np.argsort(-values, kind="stable")[:TOP_ARM]  # ties: the lower flat index first
    picked = float(values[problem.space.index_of(searched)])
    fixed = {k: v[0] for k, v in space.items() if len(v) == 1}  # device, threads
    components = {**fixed, **base, **searched}
    components.update(spec.data_components())
    rec = Recommendation(
        task=spec.name, scale=scale, seed=seed, components=components, searched=searched,
        predicted_top1=picked, top5=top5, importance=importance,
        grid=grid, base=base, search_s=t2 - t0, predictor_s=t1 - t0, bo_s=t2 - t1,
        n_iter=n_iter, n_initial_rows=len(frame), kernel=budget.kernel,
        incumbent=budget.incumbent, n_candidates=int(problem.space.n_candidates),
        grid_max=float(values.max()),
        best_configs=[{k: native(v) for k, v in problem.space.config(int(i)).items()}
                      for i in order],
        best_predicted=[float(values[i]) for i in order],
        alpha_beta_rank=int((values > picked).sum()) + 1, grid_s=grid_s,
    )
    return rec, problem, values


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

    αβ-BO runs with the budget's ``kernel`` and ``incumbent`` (by default the kit's working
    choices: ``kernel="fitted_noise"``, ``incumbent="evaluated"``, f* being the best predictor
    value the search evaluated; ``kernel="authors", incumbent="labels"`` are the authors').
    The recommendation also holds the predictor's exhaustive view of the grid: its maximum,
    its :data:`~._confirm_settings.TOP_ARM` best candidates and the rank of αβ-BO's pick.

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
    spec = resolve_task(task, None, need_dir=False)
    budget = resolve_budget(ConfirmBudget, scale, budget)
    seed = check_seed(seed)
    n_iter = budget.bo_iter if n_iter is None else check_int("n_iter", n_iter, min_value=1)
    return _recommend(data, spec, scale=scale, seed=seed, n_iter=n_iter, budget=budget)[0]


# ----------------------------------------------------------------------------- the arms


def _automl(rec: Recommendation, spec: ConfirmTask, *, train_scale: Scale, seed: int,
            n_trials: int, cifar_dir: str | Path | None
            ) -> tuple[Outcome, dict[str, Any], int, int, float]:
    """Optuna TPE, every trial a real training. Returns (best, its config, trials, failed
    trials, study wall time)."""
    base = {k: v for k, v in rec.components.items() if k not in rec.grid}
    outcomes: dict[int, tuple[Outcome, dict[str, Any]]] = {}

    def objective(trial: Any) -> float:
        chosen = {c: trial.suggest_categorical(c, list(vals)) for c, vals in rec.grid.items()}
        out = train_once({**base, **chosen}, spec, scale=train_scale, seed=seed,
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
        return (Outcome(math.nan, math.nan, wall, f"all {len(study.trials)} trials failed: "
                        + "; ".join(errors)), {}, len(study.trials), failed, wall)
    out, chosen = outcomes[study.best_trial.number]
    return out, dict(chosen), len(study.trials), failed, wall


class _Trainer:
    """The arms' trainings of one (task, seed): a configuration is trained once."""

    def __init__(self, rec: Recommendation, spec: ConfirmTask, *, train_scale: Scale,
                 seed: int, cifar_dir: str | Path | None) -> None:
        self.rec, self.spec, self.train_scale = rec, spec, train_scale
        self.seed, self.cifar_dir = seed, cifar_dir
        self.done: dict[str, tuple[Outcome, str]] = {}
        self.rows: list[ArmRow] = []

    def arm(self, arm: str, rank: int, config: Mapping[str, Any], predicted: float, *,
            method_s: float) -> Outcome:
        """Train ``config`` (or reuse its training) and record the arm's row; ``method_s``:
        the arm's search time before its training."""
        key = json.dumps({k: config[k] for k in self.rec.top5}, sort_keys=True, default=str)
        if key in self.done:
            out, source = self.done[key]
            reused: str | None = source
        else:
            out = train_once({**self.rec.components, **dict(config)}, self.spec,
                             scale=self.train_scale, seed=self.seed, cifar_dir=self.cifar_dir)
            self.done[key] = (out, f"{arm}:{rank}")
            reused = None
        self.rows.append(ArmRow(
            task=self.spec.name, seed=self.seed, arm=arm, rank=rank,
            config={k: native(config[k]) for k in self.rec.top5}, predicted_top1=predicted,
            test_top1=out.test, val_top1=out.val, train_s=out.time_s,
            time_s=method_s + out.time_s, reused_from=reused, error=out.error))
        return out


def confirm(
    task: TaskName | ConfirmTask,
    *,
    scale: Scale,
    seed: int,
    data: ComponentData | None = None,
    cifar_dir: str | Path | None = None,
    budget: ConfirmBudget | None = None,
) -> ConfirmRow:
    """Every arm of one (task, seed): αβ-BO's pick, the predictor's argmax, its top-5, two
    random grid points, and an Optuna TPE study training every trial.

    Parameters
    ----------
    task : str
        A key of :data:`TASKS`, or ``"cifar10"`` with ``cifar_dir``.
    scale : {"smoke", "small", "paper"}
        Budget (:meth:`ConfirmBudget.for_scale`).
    seed : int
        Seeds the predictor, importance, αβ-BO, the random arms' draws, TPE and every training
        (one training seed for every arm).
    data : ComponentData, optional
        The kit's component data (default: ``load_component_data("kit")``).
    cifar_dir : path, optional
        Local CIFAR-10 folder (task ``"cifar10"`` only).
    budget : ConfirmBudget, optional
        Instead of the scale's.

    Returns
    -------
    ConfirmRow
        The headline fields (αβ-BO's pick as ``efficientdl_*``, TPE as ``automl_*``) and
        every arm in ``arms``.

    Raises
    ------
    ConfigError
        Unknown task or scale, bad seed, ``cifar10`` without a folder (before any training).
    """
    spec = resolve_task(task, cifar_dir)
    budget = resolve_budget(ConfirmBudget, scale, budget)
    seed = check_seed(seed)
    if data is None:
        data = load_component_data("kit")
    warm_up()
    rec, problem, values = _recommend(data, spec, scale=scale, seed=seed,
                                      n_iter=budget.bo_iter, budget=budget)
    cfg = training_config(rec.components, spec, scale=budget.train_scale, seed=seed,
                          cifar_dir=cifar_dir)
    trainer = _Trainer(rec, spec, train_scale=budget.train_scale, seed=seed,
                       cifar_dir=cifar_dir)
    out_a = trainer.arm("alpha_beta", 1, rec.searched, rec.predicted_top1,
                        method_s=rec.search_s)
    exhaustive_s = rec.predictor_s + rec.grid_s
    trainer.arm("argmax", 1, rec.best_configs[0], rec.best_predicted[0],
                method_s=exhaustive_s)
    for rank, (config, pred) in enumerate(zip(rec.best_configs, rec.best_predicted,
                                              strict=True), start=1):
        trainer.arm("top5", rank, config, pred, method_s=exhaustive_s)
    draws = np.random.default_rng([seed, RANDOM_STREAM]).integers(rec.n_candidates, size=2)
    for arm, flat in zip(("random", "random_b"), draws, strict=True):
        trainer.arm(arm, 1, problem.space.config(int(flat)), float(values[int(flat)]),
                    method_s=0.0)
    out_b, config_b, n_trials, n_failed, time_b = _automl(
        rec, spec, train_scale=budget.train_scale, seed=seed, n_trials=budget.tpe_trials,
        cifar_dir=cifar_dir)
    trainer.rows.append(ArmRow(
        task=spec.name, seed=seed, arm="tpe", rank=1, config=config_b,
        predicted_top1=problem.objective(config_b) if config_b else math.nan,
        test_top1=out_b.test, val_top1=out_b.val, train_s=out_b.time_s, time_s=time_b,
        error=out_b.error))
    time_a = rec.search_s + out_a.time_s
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
        kernel=rec.kernel, incumbent=rec.incumbent, n_candidates=rec.n_candidates,
        grid_max=rec.grid_max, search_regret=rec.search_regret,
        alpha_beta_rank=rec.alpha_beta_rank, grid_s=rec.grid_s,
        arms=[r.to_dict() for r in trainer.rows],
    )


# ----------------------------------------------------------------------------- runs


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
        The :class:`ConfirmRow` fields as columns (the arms nested in ``arms``; flatten with
        :func:`~._confirm_analysis.arm_frame`), rows in task-major order.

    Raises
    ------
    ConfigError
        Bad scale, seeds or tasks, before any training.
    """
    budget = resolve_budget(ConfirmBudget, scale, budget)
    seed_list = check_seeds(seeds, budget.n_seeds)
    specs = check_tasks(tasks, cifar_dir)
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


def confirmation_payload(frame: pd.DataFrame, *, budget: ConfirmBudget | None = None,
                         time_s: float | None = None) -> dict[str, Any]:
    """The JSON-able record of a confirmation frame: what ``results.json`` stores.

    Returns
    -------
    dict
        ``rows`` (one per task x seed, arms nested), ``summary``
        (:func:`~._confirm_analysis.confirmation_summary`: per task x arm), ``verdicts``
        (:func:`~._confirm_analysis.confirmation_verdicts`), ``drivers``
        (:func:`~._confirm_analysis.failure_driver`), and ``budget``, ``time_s`` when given.
    """
    verdicts = confirmation_verdicts(frame)
    out: dict[str, Any] = {
        "rows": json.loads(frame.to_json(orient="records")),
        "summary": json.loads(confirmation_summary(frame).to_json(orient="records")),
        "verdicts": json.loads(verdicts.to_json(orient="records")),
        "drivers": json.loads(failure_driver(verdicts).to_json(orient="records")),
    }
    if budget is not None:
        out["budget"] = budget.to_dict()
    if time_s is not None:
        out["time_s"] = time_s
    return out


def run_confirm(*, scale: Scale, seed: int, progress: ProgressFn | None = None
                ) -> dict[str, Any]:
    """Confirmation by real training, search and predictor told apart; a JSON-able dict.

    Kit predictor → Top-5 controllable components → αβ-BO, its pick trained against the
    predictor's argmax, top-5, random grid points and an Optuna TPE study that trains every
    trial (:func:`run_confirmation`). Seeds ``seed, seed + 1, ...`` (the scale's number of
    seeds).

    Returns
    -------
    dict
        :func:`confirmation_payload` with ``budget`` and ``time_s``.
    """
    check_scale(scale)
    budget = ConfirmBudget.for_scale(scale)
    t0 = time.perf_counter()
    frame = run_confirmation(scale=scale, seeds=[seed + i for i in range(budget.n_seeds)],
                             progress=progress, budget=budget)
    return confirmation_payload(frame, budget=budget, time_s=time.perf_counter() - t0)
