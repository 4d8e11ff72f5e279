"""E1: time-vs-accuracy Pareto frontiers, the baseline rescaled to every budget.

The survey's methodology: compare on wall-clock time on fixed hardware; train the baseline and
every method at several budgets (epochs, with the LR schedule scaled to the budget: the
bench's ``cosine`` schedule anneals over ``epochs``); several seeds; a method *moves the
frontier* when some budget gives it more accuracy than the baseline's frontier reaches in the
same time.
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
from effdl_kit._core.validate import check_int
from effdl_kit.training import DataBundle, TrainConfig, load_data

from ._recipe import Recipe, train_with

__all__ = [
    "PARETO_COLUMNS",
    "VERDICTS",
    "check_budgets",
    "frontier_table",
    "pareto_frontier",
    "pareto_sweep",
    "summarize_runs",
]

#: one row per training run
PARETO_COLUMNS: tuple[str, ...] = (
    "method", "budget", "seed", "train_time_s", "wall_time_s", "test_accuracy",
    "val_accuracy", "epochs_run", "error",
)
VERDICTS: tuple[str, ...] = ("moves the frontier", "within noise", "behind the frontier",
                             "baseline")
BASELINE = "baseline"

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


def _check_seeds(seeds: Sequence[int]) -> list[int]:
    if isinstance(seeds, int | str) or not isinstance(seeds, Sequence) or not seeds:
        raise ConfigError("seeds", seeds, "a non-empty sequence of distinct ints")
    out = [check_int(f"seeds[{i}]", s, min_value=0, max_value=SEED_MAX)
           for i, s in enumerate(seeds)]
    if len(set(out)) != len(out):
        raise ConfigError("seeds", out, "distinct seeds")
    return out


def pareto_sweep(
    base_config: TrainConfig,
    recipes: Mapping[str, Recipe | Sequence[Any]],
    budgets: Sequence[int],
    seeds: Sequence[int],
    *,
    progress: ProgressFn | None = None,
    on_run: RunFn | None = None,
    data: Mapping[int, DataBundle] | None = None,
) -> pd.DataFrame:
    """Train every recipe at every budget and seed; one row per run (:data:`PARETO_COLUMNS`).

    Parameters
    ----------
    base_config : TrainConfig
        The baseline run; ``epochs`` and ``seed`` are replaced per run.
    recipes : mapping of str to Recipe or method list
        Label -> recipe. ``"baseline"`` (no methods) is added first when missing.
    budgets : sequence of int
        Epochs, strictly increasing (the LR schedule is per run, so it scales).
    seeds : sequence of int
        One data split + initialisation per seed; the data is loaded once per seed and
        shared by every method and budget.
    progress : callable, optional
        ``progress(done, total, message)`` after every run.
    on_run : callable, optional
        ``on_run(row)`` after every run (a live plot).
    data : mapping of int to DataBundle, optional
        Pre-loaded data per seed.

    Returns
    -------
    pandas.DataFrame
        ``train_time_s`` is the summed epoch training time (evaluation excluded); a run that
        fails is recorded with ``error`` set and NaN scores, and the sweep goes on.

    Raises
    ------
    ConfigError, DeviceNotAvailableError
        Bad budgets/seeds, or a recipe that cannot run with the config, before any training.
    """
    if not isinstance(base_config, TrainConfig):
        raise ConfigError("base_config", type(base_config).__name__, "a TrainConfig")
    budgets = check_budgets(budgets)
    seeds = _check_seeds(seeds)
    if not isinstance(recipes, Mapping) or not recipes:
        raise ConfigError("recipes", recipes, "a non-empty mapping label -> recipe")
    built: dict[str, Recipe] = {BASELINE: Recipe([])}
    for label, r in recipes.items():
        rec = r if isinstance(r, Recipe) else Recipe(r)
        if label == BASELINE and rec.methods:
            raise ConfigError("recipes['baseline']", rec.names, "no methods")
        built[str(label)] = rec
    # every (recipe, budget) config is checked before anything trains
    for rec in built.values():
        for b in budgets:
            rec.configure(base_config.replace(epochs=b))
    total = len(built) * len(budgets) * len(seeds)
    rows: list[dict[str, Any]] = []
    done = 0
    for seed in seeds:
        bundle = (data or {}).get(seed)
        if bundle is None:
            c = base_config.replace(seed=seed)
            bundle = load_data(c.dataset, seed=seed, n_train=c.n_train,
                               val_fraction=c.val_fraction, test_fraction=c.test_fraction,
                               data_params=c.data_params, data_dir=c.data_dir)
        for label, rec in built.items():
            for b in budgets:
                cfg = base_config.replace(epochs=b, seed=seed)
                t0 = time.perf_counter()
                row: dict[str, Any] = {"method": label, "budget": b, "seed": seed}
                try:
                    res = train_with(rec, cfg, data=bundle)
                    row.update(
                        train_time_s=float(sum(r.time_s for r in res.history)),
                        wall_time_s=res.wall_time_s, test_accuracy=res.test_metric,
                        val_accuracy=res.history[-1].val_metric if res.history else math.nan,
                        epochs_run=res.epochs_run, error=res.stop_reason or "")
                except EffdlError as exc:  # a failed run is recorded; the sweep goes on
                    row.update(train_time_s=math.nan, wall_time_s=time.perf_counter() - t0,
                               test_accuracy=math.nan, val_accuracy=math.nan, epochs_run=0,
                               error=f"{type(exc).__name__}: {exc}")
                rows.append(row)
                done += 1
                if on_run is not None:
                    on_run(dict(row))
                if progress is not None:
                    progress(done, total, f"{label} @ {b} epochs, seed {seed}: "
                             f"acc {row['test_accuracy']:.3f} in {row['train_time_s']:.2f} s")
    return pd.DataFrame(rows, columns=list(PARETO_COLUMNS))


def summarize_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean and std over seeds per (method, budget): time, accuracy, number of seeds."""
    ok = runs[np.isfinite(runs["test_accuracy"].astype(float))]
    g = ok.groupby(["method", "budget"], sort=False)
    out = g.agg(time_mean=("train_time_s", "mean"), time_std=("train_time_s", "std"),
                acc_mean=("test_accuracy", "mean"), acc_std=("test_accuracy", "std"),
                n=("seed", "nunique")).reset_index()
    return out.fillna({"time_std": 0.0, "acc_std": 0.0})


def pareto_frontier(times: Sequence[float] | np.ndarray,
                    accs: Sequence[float] | np.ndarray) -> np.ndarray:
    """Indices of the non-dominated points (less time, more accuracy), sorted by time."""
    t = np.asarray(times, dtype=float)
    a = np.asarray(accs, dtype=float)
    order = np.lexsort((-a, t))
    keep: list[int] = []
    best = -np.inf
    for i in order:
        if np.isfinite(t[i]) and np.isfinite(a[i]) and a[i] > best:
            keep.append(int(i))
            best = a[i]
    return np.asarray(keep, dtype=int)


def _frontier_at(ft: np.ndarray, fa: np.ndarray, t: float) -> float:
    """The baseline frontier's accuracy at time ``t``: linear between its points, its first
    point's accuracy before it (conservative), its best after it."""
    if t <= ft[0]:
        return float(fa[0])
    if t >= ft[-1]:
        return float(fa[-1])
    return float(np.interp(t, ft, fa))


def frontier_table(runs: pd.DataFrame, *, baseline: str = BASELINE,
                   z: float = 2.0) -> pd.DataFrame:
    """For each method: where its points sit against the baseline's frontier.

    For every budget the method's mean (time, accuracy) is compared with the baseline
    frontier's accuracy at that time (linear interpolation between the baseline's Pareto
    points); ``noise`` is ``z`` standard errors of the difference (seed std of the method at
    that budget and of the nearest baseline budget). Verdict: *moves the frontier* when some
    point beats it by more than the noise, *behind the frontier* when every point falls short
    by more than the noise, else *within noise*.

    Returns
    -------
    pandas.DataFrame
        ``method, points, above, best_gain, mean_gain, time_ratio, verdict``; ``time_ratio``
        is the method's mean training time over the baseline's at the same budgets.
    """
    s = summarize_runs(runs)
    recs: list[dict[str, Any]] = [{str(k): v for k, v in r.items()}
                                  for r in s.to_dict(orient="records")]
    base = sorted((r for r in recs if r["method"] == baseline), key=lambda r: r["time_mean"])
    if not base:
        raise ConfigError("runs", "no baseline rows", f"runs of the {baseline!r} method")
    idx = pareto_frontier([r["time_mean"] for r in base], [r["acc_mean"] for r in base])
    ft = np.asarray([base[i]["time_mean"] for i in idx], dtype=float)
    fa = np.asarray([base[i]["acc_mean"] for i in idx], dtype=float)
    by_budget = {int(r["budget"]): r for r in base}
    budgets = np.asarray(sorted(by_budget))
    rows: list[dict[str, Any]] = []
    methods = list(dict.fromkeys(str(r["method"]) for r in recs))
    for method in methods:
        pts = [r for r in recs if r["method"] == method]
        if method == baseline:
            rows.append({"method": method, "points": len(pts), "above": 0, "best_gain": 0.0,
                         "mean_gain": 0.0, "time_ratio": 1.0, "verdict": "baseline"})
            continue
        gains, noises, ratios = [], [], []
        for r in pts:
            budget = int(r["budget"])
            gains.append(float(r["acc_mean"]) - _frontier_at(ft, fa, float(r["time_mean"])))
            br = by_budget.get(budget) or by_budget[int(
                budgets[int(np.argmin(np.abs(budgets - budget)))])]
            n_m, n_b = max(int(r["n"]), 1), max(int(br["n"]), 1)
            noises.append(z * math.sqrt(float(r["acc_std"]) ** 2 / n_m
                                        + float(br["acc_std"]) ** 2 / n_b))
            if budget in by_budget and float(br["time_mean"]) > 0:
                ratios.append(float(r["time_mean"]) / float(br["time_mean"]))
        g = np.asarray(gains)
        nz = np.asarray(noises)
        above = int(np.sum(g > nz))
        if above > 0:
            verdict = "moves the frontier"
        elif np.all(g < -nz):
            verdict = "behind the frontier"
        else:
            verdict = "within noise"
        rows.append({"method": method, "points": len(pts), "above": above,
                     "best_gain": float(g.max()), "mean_gain": float(g.mean()),
                     "time_ratio": float(np.mean(ratios)) if ratios else math.nan,
                     "verdict": verdict})
    return pd.DataFrame(rows)
