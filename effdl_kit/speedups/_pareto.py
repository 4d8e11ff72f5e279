"""E1: time-vs-accuracy Pareto frontiers against a tuned baseline rescaled to every budget.

The survey's methodology: compare on wall-clock time on fixed hardware; train the baseline and
every method at several budgets (epochs, the LR schedule scaled to the budget: the bench's
``cosine`` schedule anneals over ``epochs``); several seeds; compare against a *tuned* baseline.
Here:

- :func:`tune_baseline_lr` picks the baseline's learning rate for every budget by validation
  accuracy (the test split is never read), on tuning seeds that are not the evaluation seeds;
  its cost is ``len(lrs) x len(budgets) x len(seeds)`` trainings, recorded in the table it
  returns. Methods run with the baseline's tuned rate at each budget (a method is added to the
  tuned recipe, as in the survey; methods are not tuned on their own).
- :func:`pareto_sweep` trains every (recipe, budget, seed) in a **random order** (a seeded
  shuffle: slow phases of the machine spread over all arms instead of hitting one), after
  **untimed warm-up runs** of every recipe (the first timed run of a process was 1.2-1.6x
  slower), and can time the baseline twice, the second time under the label
  :data:`~._frontier.AA_LABEL` (the A/A control).
- :mod:`._frontier` turns the runs into verdicts with simultaneous bootstrap intervals.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from effdl_kit._core.errors import ConfigError, EffdlError
from effdl_kit._core.rng import SEED_MAX
from effdl_kit._core.types import ProgressFn
from effdl_kit._core.validate import check_float, check_int
from effdl_kit.training import DataBundle, TrainConfig, load_data

from ._frontier import AA_LABEL, BASELINE
from ._recipe import Recipe, train_with

__all__ = [
    "PARETO_COLUMNS",
    "TUNING_COLUMNS",
    "check_budgets",
    "pareto_sweep",
    "tune_baseline_lr",
]

#: one row per training run (``order``: its position in the run sequence, from 0)
PARETO_COLUMNS: tuple[str, ...] = (
    "method", "budget", "seed", "lr", "order", "train_time_s", "train_cpu_s", "wall_time_s",
    "test_accuracy", "val_accuracy", "epochs_run", "error",
)
#: one row per tuning run
TUNING_COLUMNS: tuple[str, ...] = ("budget", "lr", "seed", "val_accuracy", "train_time_s",
                                   "chosen", "error")

RunFn = Callable[[dict[str, Any]], None]


def check_budgets(budgets: Sequence[int]) -> list[int]:
    """Budgets in epochs: at least one, each an int >= 1, strictly increasing.

    Raises
    ------
    ConfigError
        Empty, non-integer, < 1, or not strictly increasing (names the first bad position).
    """
    if isinstance(budgets, int | str) or not isinstance(budgets, Sequence) or not budgets:
        raise ConfigError("budgets", budgets, "a non-empty increasing sequence of epochs")
    out = [check_int(f"budgets[{i}]", b, min_value=1) for i, b in enumerate(budgets)]
    for i in range(1, len(out)):
        if out[i] <= out[i - 1]:
            raise ConfigError(f"budgets[{i}]", out[i],
                              f"a budget > budgets[{i - 1}]={out[i - 1]} (budgets must be "
                              "strictly increasing)")
    return out


def _check_seeds(seeds: Sequence[int], field: str = "seeds") -> list[int]:
    if isinstance(seeds, int | str) or not isinstance(seeds, Sequence) or not seeds:
        raise ConfigError(field, seeds, "a non-empty sequence of distinct ints")
    out = [check_int(f"{field}[{i}]", s, min_value=0, max_value=SEED_MAX)
           for i, s in enumerate(seeds)]
    if len(set(out)) != len(out):
        raise ConfigError(field, out, "distinct seeds")
    return out


def _check_lrs(lrs: Sequence[float]) -> list[float]:
    if isinstance(lrs, int | float | str) or not isinstance(lrs, Sequence) or not lrs:
        raise ConfigError("lrs", lrs, "a non-empty sequence of learning rates > 0")
    out = [check_float(f"lrs[{i}]", v, min_value=0.0, min_inclusive=False)
           for i, v in enumerate(lrs)]
    if len(set(out)) != len(out):
        raise ConfigError("lrs", out, "distinct learning rates")
    return out


def _load(base: TrainConfig, seed: int) -> DataBundle:
    c = base.replace(seed=seed)
    return load_data(c.dataset, seed=seed, n_train=c.n_train, val_fraction=c.val_fraction,
                     test_fraction=c.test_fraction, data_params=c.data_params,
                     data_dir=c.data_dir)


def tune_baseline_lr(
    base_config: TrainConfig,
    budgets: Sequence[int],
    lrs: Sequence[float],
    seeds: Sequence[int],
    *,
    progress: ProgressFn | None = None,
) -> tuple[dict[int, float], pd.DataFrame]:
    """The baseline's learning rate for every budget, chosen by validation accuracy.

    Every ``lr`` is trained at every budget on every tuning seed; the rate with the highest
    mean *validation* accuracy (last epoch) wins its budget (ties: the first in ``lrs``). The
    test split is never read. Use tuning seeds that are not the evaluation seeds.

    Returns
    -------
    chosen : dict
        budget -> learning rate.
    table : pandas.DataFrame
        One row per tuning run (:data:`TUNING_COLUMNS`); ``chosen`` marks the winners.

    Raises
    ------
    ConfigError
        Bad budgets, rates or seeds, before any training.
    """
    if not isinstance(base_config, TrainConfig):
        raise ConfigError("base_config", type(base_config).__name__, "a TrainConfig")
    budgets = check_budgets(budgets)
    lrs = _check_lrs(lrs)
    seeds = _check_seeds(seeds, "tune_seeds")
    for b in budgets:
        for lr in lrs:
            base_config.replace(epochs=b, lr=lr)  # every config checked before training
    rows: list[dict[str, Any]] = []
    total, done = len(budgets) * len(lrs) * len(seeds), 0
    for seed in seeds:
        bundle = _load(base_config, seed)
        for b in budgets:
            for lr in lrs:
                row: dict[str, Any] = {"budget": b, "lr": lr, "seed": seed}
                try:
                    res = train_with(Recipe([]), base_config.replace(epochs=b, lr=lr,
                                                                     seed=seed), data=bundle)
                    val = res.history[-1].val_metric if res.history else math.nan
                    diverged = res.nonfinite_loss  # a diverged rate loses its budget
                    row.update(val_accuracy=math.nan if diverged or not math.isfinite(val)
                               else val,
                               train_time_s=float(sum(r.time_s for r in res.history)),
                               error=diverged or res.stop_reason or "")
                except EffdlError as exc:  # a failed rate is recorded and loses its budget
                    row.update(val_accuracy=math.nan, train_time_s=math.nan,
                               error=f"{type(exc).__name__}: {exc}")
                rows.append(row)
                done += 1
                if progress is not None:
                    progress(done, total, f"tuning lr {lr:g} @ {b} epochs, seed {seed}: "
                             f"val acc {row['val_accuracy']:.3f}")
    table = pd.DataFrame(rows)
    chosen: dict[int, float] = {}
    for b in budgets:
        means = [table[(table["budget"] == b) & (table["lr"] == lr)]["val_accuracy"].mean()
                 for lr in lrs]
        finite = [m if math.isfinite(m) else -math.inf for m in means]
        if max(finite) == -math.inf:
            raise ConfigError("lrs", lrs, f"a rate whose training at {b} epochs finishes "
                              "(every tuning run failed)")
        chosen[b] = lrs[int(np.argmax(finite))]
    table["chosen"] = [chosen[int(b)] == lr for b, lr in zip(table["budget"], table["lr"],
                                                             strict=True)]
    return chosen, table[list(TUNING_COLUMNS)]


def _run_row(rec: Recipe, cfg: TrainConfig, bundle: DataBundle,
             row: dict[str, Any]) -> dict[str, Any]:
    t0 = time.perf_counter()
    try:
        res = train_with(rec, cfg, data=bundle)
        row.update(train_time_s=float(sum(r.time_s for r in res.history)),
                   train_cpu_s=float(sum(r.cpu_time_s for r in res.history)),
                   wall_time_s=res.wall_time_s, test_accuracy=res.test_metric,
                   val_accuracy=res.history[-1].val_metric if res.history else math.nan,
                   epochs_run=res.epochs_run, error=res.stop_reason or "")
    except EffdlError as exc:  # a failed run is recorded; the sweep goes on
        row.update(train_time_s=math.nan, train_cpu_s=math.nan,
                   wall_time_s=time.perf_counter() - t0,
                   test_accuracy=math.nan, val_accuracy=math.nan, epochs_run=0,
                   error=f"{type(exc).__name__}: {exc}")
    return row


def pareto_sweep(
    base_config: TrainConfig,
    recipes: Mapping[str, Recipe | Sequence[Any]],
    budgets: Sequence[int],
    seeds: Sequence[int],
    *,
    lr_per_budget: Mapping[int, float] | None = None,
    aa_control: bool = False,
    warmup: int = 1,
    order_seed: int | None = 0,
    progress: ProgressFn | None = None,
    on_run: RunFn | None = None,
    data: Mapping[int, DataBundle] | None = None,
) -> pd.DataFrame:
    """Train every recipe at every budget and seed; one row per run (:data:`PARETO_COLUMNS`).

    Parameters
    ----------
    base_config : TrainConfig
        The baseline run; ``epochs``, ``seed`` (and ``lr``, see ``lr_per_budget``) are
        replaced per run.
    recipes : mapping of str to Recipe or method list
        Label -> recipe. ``"baseline"`` (no methods) is added first when missing.
    budgets : sequence of int
        Epochs, strictly increasing (the LR schedule is per run, so it scales).
    seeds : sequence of int
        One data split + initialisation per seed; the data is loaded once per seed and
        shared by every method and budget.
    lr_per_budget : mapping of int to float, optional
        The learning rate of every run at a budget (from :func:`tune_baseline_lr`); default:
        ``base_config.lr`` everywhere.
    aa_control : bool
        Also time the baseline recipe under the label :data:`~._frontier.AA_LABEL` (the A/A
        control: the same training as the baseline, timed as a method).
    warmup : int
        Untimed runs of every recipe at the smallest budget on the first seed before the
        timed runs (0: none).
    order_seed : int or None
        Seed of the random order of the timed runs; None runs them seed by seed, recipe by
        recipe, budget by budget.
    progress : callable, optional
        ``progress(done, total, message)`` after every timed run.
    on_run : callable, optional
        ``on_run(row)`` after every timed run (a live plot).
    data : mapping of int to DataBundle, optional
        Pre-loaded data per seed.

    Returns
    -------
    pandas.DataFrame
        ``train_time_s`` is the summed epoch training wall time (evaluation excluded),
        ``train_cpu_s`` the training thread's CPU time over the same epochs (the work, not the
        waiting on a shared machine); a run that fails is recorded with ``error`` set and NaN
        scores, and the sweep goes on.

    Raises
    ------
    ConfigError, DeviceNotAvailableError
        Bad budgets/seeds/rates, or a recipe that cannot run with the config, before any
        training.
    """
    if not isinstance(base_config, TrainConfig):
        raise ConfigError("base_config", type(base_config).__name__, "a TrainConfig")
    budgets = check_budgets(budgets)
    seeds = _check_seeds(seeds)
    warmup = check_int("warmup", warmup, min_value=0)
    if order_seed is not None:
        order_seed = check_int("order_seed", order_seed, min_value=0, max_value=SEED_MAX)
    lrs = _check_lr_per_budget(lr_per_budget, budgets, base_config.lr)
    if not isinstance(recipes, Mapping) or not recipes:
        raise ConfigError("recipes", recipes, "a non-empty mapping label -> recipe")
    built: dict[str, Recipe] = {BASELINE: Recipe([])}
    for label, r in recipes.items():
        rec = r if isinstance(r, Recipe) else Recipe(r)
        if label == BASELINE and rec.methods:
            raise ConfigError("recipes['baseline']", rec.names, "no methods")
        if label == AA_LABEL:
            raise ConfigError("recipes", label, "a label other than the A/A control's "
                              "(use aa_control=True)")
        built[str(label)] = rec
    if aa_control:
        built[AA_LABEL] = Recipe([])
    # every (recipe, budget) config is checked before anything trains
    for rec in built.values():
        for b in budgets:
            rec.configure(base_config.replace(epochs=b, lr=lrs[b]))
    bundles = {s: (data or {}).get(s) or _load(base_config, s) for s in seeds}
    for _ in range(warmup):
        for rec in built.values():
            b0 = budgets[0]
            _run_row(rec, base_config.replace(epochs=b0, lr=lrs[b0], seed=seeds[0]),
                     bundles[seeds[0]], {})
    jobs = [(seed, label, b) for seed in seeds for label in built for b in budgets]
    if order_seed is not None:
        perm = np.random.default_rng(order_seed).permutation(len(jobs))
        jobs = [jobs[i] for i in perm]
    rows: list[dict[str, Any]] = []
    for done, (seed, label, b) in enumerate(jobs, start=1):
        cfg = base_config.replace(epochs=b, seed=seed, lr=lrs[b])
        row = _run_row(built[label], cfg, bundles[seed],
                       {"method": label, "budget": b, "seed": seed, "lr": lrs[b],
                        "order": done - 1})
        rows.append(row)
        if on_run is not None:
            on_run(dict(row))
        if progress is not None:
            progress(done, len(jobs), f"{label} @ {b} epochs, seed {seed}: "
                     f"acc {row['test_accuracy']:.3f} in {row['train_time_s']:.2f} s")
    # rows listed seed by seed, recipe by recipe, budget by budget (``order`` keeps the run order)
    pos = {label: i for i, label in enumerate(built)}
    rows.sort(key=lambda r: (seeds.index(r["seed"]), pos[r["method"]], r["budget"]))
    return pd.DataFrame(rows, columns=list(PARETO_COLUMNS))


def _check_lr_per_budget(lr_per_budget: Mapping[int, float] | None, budgets: list[int],
                         default: float) -> dict[int, float]:
    if lr_per_budget is None:
        return {b: default for b in budgets}
    if not isinstance(lr_per_budget, Mapping):
        raise ConfigError("lr_per_budget", lr_per_budget, "a mapping budget -> learning rate")
    missing = [b for b in budgets if b not in lr_per_budget]
    if missing:
        raise ConfigError("lr_per_budget", sorted(lr_per_budget),
                          f"a learning rate for every budget (missing {missing})")
    return {b: check_float(f"lr_per_budget[{b}]", lr_per_budget[b], min_value=0.0,
                           min_inclusive=False) for b in budgets}
