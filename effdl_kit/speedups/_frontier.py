"""E1 verdicts: where a method sits against the baseline's time-vs-accuracy frontier, with a
simultaneous confidence interval from a joint bootstrap of time and accuracy over seeds.

**Gain.** For a method at budget ``b``: its mean test accuracy at ``b`` minus the baseline
frontier's accuracy at the method's mean training time at ``b``. The frontier is the
baseline's Pareto points (mean time, mean accuracy per budget), linear between them, its first
point's accuracy before it (conservative: the baseline would do worse with less time) and its
best accuracy after it. After it the comparison is not conservative (the baseline was never
given that much time and might do better), so a point **beyond the baseline's longest run**
can show that a method is behind but is never credited with moving the frontier.

**Interval.** Seeds are resampled with replacement, the same indices for every method and the
baseline (a seed fixes the data split and the initialisation, so the runs of one seed are
paired). In every resample the mean time *and* the mean accuracy of every (method, budget) and
the baseline's frontier are recomputed, so the timing noise of the method and of the baseline
enters together with the accuracy noise. With the 3-5 seeds E1 can afford the percentile
interval is too narrow (with 3 seeds it is about the range of the per-seed gains: an A/A pair
lands on one side of 0 one time in four), so the interval is the bootstrap standard error
(times ``sqrt(n/(n-1))``) times Student's *t* with ``n - 1`` degrees of freedom
(``interval="t"``, the default); ``interval="percentile"`` is kept to show the difference.
A method gets one chance per budget to "move the frontier", so the interval of each budget is
**simultaneous** over the K budgets (Bonferroni: level ``1 - alpha/K``).

**Verdict.** *moves the frontier*: some budget's simultaneous interval lies above 0 (a
budget within the baseline's range of times);
*behind the frontier*: every budget's interval lies below 0 (each at level ``1 - alpha``: an
intersection-union test needs no correction); *within noise* otherwise; *too few seeds* with
fewer than 2 seeds (no interval). The verdict's text names the budget, the gain and its
interval.

**Controls.** :func:`inject_control` copies an arm's runs under a new label with a known
effect (times scaled, accuracy shifted): the A/A arm of :func:`~._pareto.pareto_sweep` (the
baseline relabelled and timed as a method) must come out *within noise*, the same arm with
every time halved must *move the frontier*.

**Clock.** The survey compares wall-clock time (``clock="wall"``, the faithful mode). On a
shared machine other jobs stretch wall time run by run, and that noise swamps effects of a
few tens of percent; ``clock="cpu"`` (the kit mode) draws the frontier in the training
thread's CPU time, which other jobs barely move. Both are reported side by side.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal, get_args

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

from effdl_kit._core.errors import ConfigError
from effdl_kit._core.validate import check_choice, check_float, check_int

__all__ = [
    "AA_LABEL",
    "BASELINE",
    "CLOCKS",
    "CLOCK_COLUMNS",
    "INTERVALS",
    "POSITIVE_LABEL",
    "VERDICTS",
    "Clock",
    "Interval",
    "frontier_points",
    "frontier_table",
    "inject_control",
    "pareto_frontier",
    "summarize_runs",
]

#: the verdicts of :func:`frontier_table`
VERDICTS: tuple[str, ...] = ("moves the frontier", "within noise", "behind the frontier",
                             "too few seeds", "baseline")
BASELINE = "baseline"
#: the A/A arm: the baseline recipe timed again under this label
AA_LABEL = "baseline (A/A)"
#: the positive control: the A/A arm with every time halved (a known 2x speedup)
POSITIVE_LABEL = "A/A at 0.5x time"

#: how each budget's interval is built from the bootstrap
Interval = Literal["t", "percentile"]
INTERVALS: tuple[Interval, ...] = get_args(Interval)

#: which time the frontier is drawn in: the survey's wall clock, or the training thread's CPU
#: time (the kit's choice on a shared machine: other jobs inflate wall time, not CPU time)
Clock = Literal["wall", "cpu"]
CLOCKS: tuple[Clock, ...] = get_args(Clock)
CLOCK_COLUMNS: dict[str, str] = {"wall": "train_time_s", "cpu": "train_cpu_s"}

F64 = npt.NDArray[np.float64]


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


def _frontier_at(bt: F64, ba: F64, t: F64) -> F64:
    """The accuracy of the frontier of the baseline points ``(bt, ba)`` at the times ``t``:
    linear between its Pareto points, its first point's accuracy before, its best after."""
    idx = pareto_frontier(bt, ba)
    if idx.size == 0:
        return np.full(t.shape, np.nan)
    ft, fa = bt[idx], ba[idx]
    return np.interp(t, ft, fa, left=fa[0], right=fa[-1])


def _cube(runs: pd.DataFrame, value: str, methods: list[str], budgets: list[int],
          seeds: list[int]) -> F64:
    """``value`` as an array (method, budget, seed), NaN where a run is missing or failed."""
    out = np.full((len(methods), len(budgets), len(seeds)), np.nan)
    mi = {m: i for i, m in enumerate(methods)}
    bi = {b: i for i, b in enumerate(budgets)}
    si = {s: i for i, s in enumerate(seeds)}
    ok = np.isfinite(runs["test_accuracy"].astype(float).to_numpy())
    cols = zip(runs["method"].astype(str), runs["budget"].astype(int),
               runs["seed"].astype(int), runs[value].astype(float), ok, strict=True)
    for m, b, s, v, good in cols:
        if good:
            out[mi[m], bi[b], si[s]] = v
    return out


def _nanmean(x: F64) -> F64:
    """Mean over the last axis ignoring NaN; NaN (no warning) where every value is NaN."""
    n = np.sum(np.isfinite(x), axis=-1)
    total = np.nansum(x, axis=-1)
    return np.where(n > 0, total / np.maximum(n, 1), np.nan)


def _gains_of_means(tm: F64, am: F64, base: int) -> F64:
    """Gain of every (method, budget) from the mean times ``tm`` and accuracies ``am``."""
    bt, ba = tm[base], am[base]
    keep = np.isfinite(bt) & np.isfinite(ba)
    frontier = _frontier_at(bt[keep], ba[keep], np.nan_to_num(tm, nan=0.0))
    return np.where(np.isfinite(tm) & np.isfinite(am), am - frontier, np.nan)


def _gains(t: F64, a: F64, base: int) -> F64:
    """Gain of every (method, budget) from means over the last axis (seeds)."""
    return _gains_of_means(_nanmean(t), _nanmean(a), base)


def frontier_points(runs: pd.DataFrame, *, baseline: str = BASELINE, alpha: float = 0.05,
                    n_boot: int = 2000, interval: Interval = "t", clock: Clock = "wall",
                    seed: int = 0) -> pd.DataFrame:
    """Every (method, budget) against the baseline's frontier, with its simultaneous interval.

    Parameters
    ----------
    runs : pandas.DataFrame
        One row per run: ``method, budget, seed, train_time_s, test_accuracy`` (failed runs
        have a NaN accuracy and are left out of the means).
    baseline : str
        The method whose frontier the others are compared with.
    alpha : float
        1 - the family-wise confidence of a method's intervals over its budgets.
    n_boot : int
        Bootstrap resamples of the seeds.
    interval : {"t", "percentile"}
        Bootstrap standard error x Student's t (default), or bootstrap percentiles.
    clock : {"wall", "cpu"}
        Time axis: ``train_time_s`` (the survey's wall clock) or ``train_cpu_s`` (the
        training thread's CPU time).
    seed : int
        Seed of the resampling.

    Returns
    -------
    pandas.DataFrame
        ``method, budget, n_seeds, time_mean, acc_mean, frontier_acc, gain, se, ci_low,
        ci_high, upper_single, beyond_baseline, level``: ``ci_*`` is the simultaneous
        interval (confidence ``level = 1 - alpha/K``), ``upper_single`` the upper bound of the
        budget's own ``1 - alpha`` interval (the *behind the frontier* rule),
        ``beyond_baseline`` whether the point's mean time exceeds the baseline's longest mean
        time (never credited with moving the frontier).

    Raises
    ------
    ConfigError
        No run of ``baseline``, or a bad ``alpha``, ``n_boot``, ``interval`` or ``clock``
        (also: no ``train_cpu_s`` column for the CPU clock).
    """
    check_float("alpha", alpha, min_value=0.0, max_value=0.5, min_inclusive=False)
    check_int("n_boot", n_boot, min_value=100)
    check_choice("interval", interval, INTERVALS)
    check_choice("clock", clock, CLOCKS)
    if CLOCK_COLUMNS[clock] not in runs.columns:
        raise ConfigError("clock", clock, f"a clock the runs recorded ({CLOCK_COLUMNS[clock]} "
                          "is missing: runs written before CPU time was recorded)")
    methods = list(dict.fromkeys(str(m) for m in runs["method"]))
    if baseline not in methods:
        raise ConfigError("runs", "no baseline rows", f"runs of the {baseline!r} method")
    budgets = sorted({int(b) for b in runs["budget"]})
    seeds = sorted({int(s) for s in runs["seed"]})
    t = _cube(runs, CLOCK_COLUMNS[clock], methods, budgets, seeds)
    a = _cube(runs, "test_accuracy", methods, budgets, seeds)
    base = methods.index(baseline)
    est = _gains(t, a, base)
    n = len(seeds)
    k = len(budgets)
    level = 1.0 - alpha / k
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, n, size=(n_boot, n))
    # means of every resample at once: (method, budget, resample)
    tm_b, am_b = _nanmean(t[:, :, picks]), _nanmean(a[:, :, picks])
    boot = np.empty((n_boot, *est.shape))
    for i in range(n_boot):
        boot[i] = _gains_of_means(tm_b[:, :, i], am_b[:, :, i], base)
    n_ok = np.sum(np.isfinite(a), axis=-1)
    stacked = np.moveaxis(boot, 0, -1)
    n_fin = np.maximum(np.sum(np.isfinite(stacked), axis=-1) - 1, 1)
    dev = stacked - _nanmean(stacked)[..., None]
    se = np.sqrt(np.nansum(dev ** 2, axis=-1) / n_fin) * math.sqrt(n / max(n - 1, 1))
    if interval == "t":
        q_sim = float(stats.t.ppf(1.0 - (1.0 - level) / 2.0, df=max(n - 1, 1)))
        q_one = float(stats.t.ppf(1.0 - alpha / 2.0, df=max(n - 1, 1)))
        lo, hi, hi1 = est - q_sim * se, est + q_sim * se, est + q_one * se
    else:
        filled = np.where(np.isfinite(boot), boot, est)
        lo = np.quantile(filled, (1.0 - level) / 2.0, axis=0)
        hi = np.quantile(filled, 1.0 - (1.0 - level) / 2.0, axis=0)
        hi1 = np.quantile(filled, 1.0 - alpha / 2.0, axis=0)
    tm, am = _nanmean(t), _nanmean(a)
    t_max = float(np.nanmax(tm[base])) if np.isfinite(tm[base]).any() else math.inf
    rows: list[dict[str, Any]] = []
    for i, m in enumerate(methods):
        for j, b in enumerate(budgets):
            if n_ok[i, j] == 0:
                continue
            few = n < 2
            rows.append({"method": m, "budget": b, "n_seeds": int(n_ok[i, j]),
                         "time_mean": float(tm[i, j]), "acc_mean": float(am[i, j]),
                         "frontier_acc": float(am[i, j] - est[i, j]),
                         "gain": float(est[i, j]),
                         "se": math.nan if few else float(se[i, j]),
                         "ci_low": math.nan if few else float(lo[i, j]),
                         "ci_high": math.nan if few else float(hi[i, j]),
                         "upper_single": math.nan if few else float(hi1[i, j]),
                         "beyond_baseline": bool(tm[i, j] > t_max),
                         "level": level})
    return pd.DataFrame(rows)


def _verdict(pts: pd.DataFrame, n_seeds: int) -> str:
    if n_seeds < 2:
        return "too few seeds"
    if bool(((pts["ci_low"] > 0) & ~pts["beyond_baseline"]).any()):
        return "moves the frontier"
    # intersection-union: every budget below 0 at its own level (1 - alpha, two-sided)
    if bool((pts["upper_single"] < 0).all()):
        return "behind the frontier"
    return "within noise"


def frontier_table(runs: pd.DataFrame, *, baseline: str = BASELINE, alpha: float = 0.05,
                   n_boot: int = 2000, interval: Interval = "t", clock: Clock = "wall",
                   seed: int = 0) -> pd.DataFrame:
    """For each method: its verdict against the baseline's frontier, with the interval behind it.

    See the module docstring for the statistic, the interval and the verdict rule.

    Returns
    -------
    pandas.DataFrame
        ``method, points, n_seeds, above, best_budget, best_gain, ci_low, ci_high, level,
        mean_gain, time_ratio, verdict, verdict_text``: ``above`` counts the budgets within
        the baseline's range of times whose simultaneous interval lies above 0;
        ``best_budget``/``best_gain``/``ci_*`` are those of the budget with the highest lower
        bound among those (the budget nearest to the frontier for a method behind it); a
        point beyond the baseline's longest run with an interval above 0 is named in
        ``verdict_text`` as not credited; ``time_ratio`` is the method's mean training time over the
        baseline's at the same budgets.

    Raises
    ------
    ConfigError
        As :func:`frontier_points`.
    """
    pts = frontier_points(runs, baseline=baseline, alpha=alpha, n_boot=n_boot,
                          interval=interval, clock=clock, seed=seed)
    k = int(pts["budget"].nunique())
    n_all = len({int(s) for s in runs["seed"]})
    bp = pts[pts["method"] == baseline]
    base = {int(b): float(t) for b, t in zip(bp["budget"], bp["time_mean"], strict=True)}
    rows: list[dict[str, Any]] = []
    for method, g in pts.groupby("method", sort=False):
        g = g.reset_index(drop=True)
        if method == baseline:
            rows.append({"method": method, "points": len(g), "n_seeds": n_all, "above": 0,
                         "best_budget": math.nan, "best_gain": 0.0, "ci_low": math.nan,
                         "ci_high": math.nan, "level": float(g["level"].iloc[0]),
                         "mean_gain": 0.0, "time_ratio": 1.0, "verdict": "baseline",
                         "verdict_text": "the reference"})
            continue
        verdict = _verdict(g, n_all)
        # the reported budget: the highest lower bound among the budgets that can be
        # credited (all of them for a method behind the frontier)
        pool = g if verdict == "behind the frontier" or g["beyond_baseline"].all() \
            else g[~g["beyond_baseline"]].reset_index(drop=True)
        key = pool["ci_low"] if n_all >= 2 else pool["gain"]
        best = pool.iloc[int(np.nanargmax(key.to_numpy()))] if key.notna().any() \
            else pool.iloc[0]
        beyond = g[g["beyond_baseline"] & (g["ci_low"] > 0)]
        ratios = [float(t) / base[int(b)] for b, t in zip(g["budget"], g["time_mean"],
                                                           strict=True)
                  if base.get(int(b), 0.0) > 0]
        rows.append({
            "method": str(method), "points": len(g), "n_seeds": n_all,
            "above": int(((g["ci_low"] > 0) & ~g["beyond_baseline"]).sum()),
            "best_budget": int(best["budget"]),
            "best_gain": float(best["gain"]), "ci_low": float(best["ci_low"]),
            "ci_high": float(best["ci_high"]), "level": float(best["level"]),
            "mean_gain": float(g["gain"].mean()),
            "time_ratio": float(np.mean(ratios)) if ratios else math.nan,
            "verdict": verdict,
            "verdict_text": _text(verdict, best, k, n_all, alpha) + "".join(
                f"; not credited: {100 * gn:+.1f} points [{100 * lo:+.1f}, {100 * hi:+.1f}] "
                f"at {int(bu)} epochs, beyond the baseline's longest run"
                for gn, lo, hi, bu in zip(beyond["gain"].astype(float),
                                          beyond["ci_low"].astype(float),
                                          beyond["ci_high"].astype(float),
                                          beyond["budget"].astype(int), strict=True)),
        })
    return pd.DataFrame(rows)


def _text(verdict: str, best: pd.Series, k: int, n: int, alpha: float) -> str:
    if verdict == "too few seeds":
        return f"{verdict}: {n} seed, no interval (needs >= 2)"
    ci = (f"{100 * best['gain']:+.1f} points at {int(best['budget'])} epochs, "
          f"{100 * (1 - alpha):.0f}% CI [{100 * best['ci_low']:+.1f}, "
          f"{100 * best['ci_high']:+.1f}] simultaneous over {k} budgets, {n} seeds")
    if verdict == "behind the frontier":
        return f"{verdict} at every budget; closest: {ci}"
    return f"{verdict}: {ci}"


def inject_control(runs: pd.DataFrame, *, source: str = AA_LABEL,
                   label: str = POSITIVE_LABEL, time_factor: float = 0.5,
                   acc_shift: float = 0.0) -> pd.DataFrame:
    """``runs`` with the runs of ``source`` copied under ``label`` with a known effect: every
    training time (wall and CPU) multiplied by ``time_factor`` and every accuracy shifted by
    ``acc_shift``.

    Raises
    ------
    ConfigError
        No run of ``source``, ``label`` already present, or a ``time_factor`` <= 0.
    """
    check_float("time_factor", time_factor, min_value=0.0, min_inclusive=False)
    check_float("acc_shift", acc_shift, min_value=-1.0, max_value=1.0)
    src = runs[runs["method"] == source]
    if src.empty:
        raise ConfigError("source", source, f"a method of the runs {sorted(set(runs['method']))}")
    if label in set(runs["method"]):
        raise ConfigError("label", label, "a label not used by the runs")
    ctl = src.copy()
    ctl["method"] = label
    for col in CLOCK_COLUMNS.values():
        if col in ctl.columns:
            ctl[col] = ctl[col].astype(float) * time_factor
    ctl["test_accuracy"] = ctl["test_accuracy"].astype(float) + acc_shift
    return pd.concat([runs, ctl], ignore_index=True)
