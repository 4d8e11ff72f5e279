"""Analysis of the sampler benchmark's runs: the table, the targets' verdicts, the controls.

Targets (issue 14), judged at every budget with :func:`effdl_kit._core.stats.compare`:

1. αβ-BO **beats random on every function** (its regret interval vs random's lies below 0);
2. αβ-BO is **at least as good as TPE on most functions** (not "worse" on more than half);
3. αβ-BO's sampler time per trial is **≤ 1/5 of GPSampler's** (the 95% bootstrap interval of
   the ratio of mean ms per model-phase trial lies at or below 0.2).

Controls: the positive one (random search that proposes the minimiser with probability
``ORACLE_P`` per trial) must be called better than random on every function at the two larger
budgets; random search with twice the trials shows what effect size the seeds can resolve; the
negative one (random vs random with other seeds, A/A) may be called different in no more cells
than a 5% false-alarm rate explains (the binomial 95% quantile).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats

from benchmarks._sampler_functions import FUNCTIONS
from benchmarks._sampler_runs import SAMPLERS
from effdl_kit._core.stats import bootstrap_mean_ci, compare

__all__ = ["regrets_at", "summarise"]

MAIN = ("alpha_beta", "random", "tpe", "gp")
#: (a, b, why): every comparison the report makes, "a better than b?"
PAIRS = (("alpha_beta", "random", "target 1"), ("alpha_beta", "tpe", "target 2"),
         ("alpha_beta", "gp", "context"), ("tpe", "random", "context"),
         ("gp", "random", "context"), ("oracle", "random", "positive control"),
         ("random_2x", "random", "power (2x trials)"), ("random_aa", "random", "negative control"))


def regrets_at(runs: Sequence[dict[str, Any]], budget: int) -> dict[tuple[str, str], np.ndarray]:
    """(function, sampler) -> regret of each seed after ``factor · budget`` trials."""
    out: dict[tuple[str, str], list[tuple[int, float]]] = defaultdict(list)
    for r in runs:
        k = SAMPLERS[r["sampler"]].factor * budget
        out[(r["function"], r["sampler"])].append((int(r["seed"]), float(r["regret"][k - 1])))
    return {key: np.array([v for _, v in sorted(vals)]) for key, vals in out.items()}


def _ratio_ci(a: np.ndarray, b: np.ndarray, seed: int = 0) -> tuple[float, float, float]:
    """mean(a)/mean(b) and its bootstrap interval (groups resampled independently)."""
    rng = np.random.default_rng(seed)
    ia = rng.integers(0, len(a), size=(4000, len(a)))
    ib = rng.integers(0, len(b), size=(4000, len(b)))
    r = a[ia].mean(axis=1) / b[ib].mean(axis=1)
    return float(a.mean() / b.mean()), float(np.quantile(r, 0.025)), float(np.quantile(r, 0.975))


def _timing(runs: Sequence[dict[str, Any]], functions: list[str]) -> dict[str, Any]:
    ms: dict[tuple[str, str], list[float]] = defaultdict(list)
    for r in runs:
        ms[(r["function"], r["sampler"])].append(float(r["ms_model"]))
    per: dict[str, dict[str, float]] = {}
    for s in {r["sampler"] for r in runs}:
        per[s] = {f: float(np.mean(ms[(f, s)])) for f in functions if ms[(f, s)]}
    out: dict[str, Any] = {"ms_per_trial": per}
    if all(per.get(s) for s in ("alpha_beta", "gp")):
        a = np.array([v for f in functions for v in ms[(f, "alpha_beta")]])
        b = np.array([v for f in functions for v in ms[(f, "gp")]])
        ratio, lo, hi = _ratio_ci(a, b)
        by_seed: dict[int, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
        for r in runs:
            if r["sampler"] in ("alpha_beta", "gp"):
                by_seed[int(r["seed"])][r["sampler"]].append(float(r["ms_model"]))
        seed_ratios = [float(np.mean(d["alpha_beta"]) / np.mean(d["gp"]))
                       for d in by_seed.values() if d["alpha_beta"] and d["gp"]]
        out["alpha_beta_over_gp"] = {"ratio": ratio, "lo": lo, "hi": hi,
                                     "seed_min": min(seed_ratios), "seed_max": max(seed_ratios),
                                     "per_function": {f: per["alpha_beta"][f] / per["gp"][f]
                                                      for f in per["alpha_beta"]
                                                      if f in per["gp"]}}
    return out


def _cells(reg: dict[tuple[str, str], np.ndarray], functions: list[str], samplers: list[str],
           budget: int) -> list[dict[str, Any]]:
    cells = []
    for f in functions:
        for s in samplers:
            x = reg.get((f, s))
            if x is None or len(x) == 0:
                continue
            mean, lo, hi = bootstrap_mean_ci(x)
            cells.append({"function": f, "budget": budget, "sampler": s, "n_seeds": len(x),
                          "mean": mean, "lo": lo, "hi": hi, "median": float(np.median(x))})
    return cells


def _verdicts(comps: list[dict[str, Any]], timing: dict[str, Any], functions: list[str],
              budgets: list[int]) -> dict[str, Any]:
    def cell(a: str, b: str, budget: int) -> dict[str, str]:
        return {c["function"]: c["verdict"] for c in comps
                if c["a"] == a and c["b"] == b and c["budget"] == budget}

    n = len(functions)
    out: dict[str, Any] = {}
    t1: dict[int, dict[str, Any]] = {}
    t2: dict[int, dict[str, Any]] = {}
    pos: dict[int, dict[str, Any]] = {}
    power: dict[int, dict[str, Any]] = {}
    neg: dict[int, dict[str, Any]] = {}
    for budget in budgets:
        v = cell("alpha_beta", "random", budget)
        if v:
            wins = sorted(f for f, x in v.items() if x == "better")
            t1[budget] = {"met": len(wins) == n, "better_on": len(wins), "of": n,
                          "not_better": sorted(set(v) - set(wins))}
        v = cell("alpha_beta", "tpe", budget)
        if v:
            worse = sorted(f for f, x in v.items() if x == "worse")
            better = sorted(f for f, x in v.items() if x == "better")
            t2[budget] = {"met": n - len(worse) > n / 2, "not_worse_on": n - len(worse),
                          "better_on": len(better), "of": n, "worse": worse}
        v = cell("oracle", "random", budget)
        if v:
            pos[budget] = {"better_on": sum(x == "better" for x in v.values()), "of": len(v)}
        v = cell("random_2x", "random", budget)
        if v:
            power[budget] = {"better_on": sum(x == "better" for x in v.values()), "of": len(v)}
        v = cell("random_aa", "random", budget)
        if v:
            neg[budget] = {"different_on": sorted(f for f, x in v.items() if x != "within noise"),
                           "of": len(v)}
    out["target1_beats_random"] = t1
    out["target2_as_good_as_tpe"] = t2
    r = timing.get("alpha_beta_over_gp")
    out["target3_time"] = (None if r is None else
                           {"met": r["hi"] <= 0.2, "ratio": r["ratio"], "lo": r["lo"],
                            "hi": r["hi"], "seed_min": r["seed_min"],
                            "seed_max": r["seed_max"]})
    big = [b for b in budgets if b >= sorted(budgets)[len(budgets) // 2]] if budgets else []
    out["positive_control"] = {"by_budget": pos, "judged_at": big,
                               "passed": bool(pos) and all(pos[b]["better_on"] == pos[b]["of"]
                                                           for b in big if b in pos)}
    out["power_2x_trials"] = power
    cells = sum(v["of"] for v in neg.values())
    allowed = int(stats.binom.ppf(0.95, cells, 0.05)) if cells else 0
    found = sum(len(v["different_on"]) for v in neg.values())
    out["negative_control"] = {"by_budget": neg, "cells": cells, "different": found,
                               "allowed": allowed, "passed": bool(neg) and found <= allowed}
    return out


def _seeds_note(comps: list[dict[str, Any]], cells: list[dict[str, Any]],
                verdicts: dict[str, Any], n_seeds: int, budget: int) -> str:
    """Do the seeds suffice? Half-width of the αβ − random interval relative to random's mean
    regret (median over functions), and whether doubling random's trials is resolved."""
    rand = {c["function"]: c["mean"] for c in cells
            if c["sampler"] == "random" and c["budget"] == budget}
    rel = [(c["hi"] - c["lo"]) / 2 / rand[c["function"]] for c in comps
           if c["a"] == "alpha_beta" and c["b"] == "random" and c["budget"] == budget
           and rand.get(c["function"], 0) > 0]
    power = verdicts["power_2x_trials"].get(budget)
    text = f"{n_seeds} seeds per (function, sampler)"
    if rel:
        text += (f": at budget {budget} the 95% interval of αβ − random spans ±"
                 f"{100 * float(np.median(rel)):.0f}% of random's mean regret (median over "
                 "functions)")
    if power:
        frac = power["better_on"] / max(power["of"], 1)
        text += (f"; doubling random search's trials is resolved on {power['better_on']} of "
                 f"{power['of']} functions, so {'effects of that size are resolved' if frac >= 0.8 else 'effects smaller than that are not reliably resolved: more seeds would be needed to call them'}")  # noqa: E501
    return text + "."


def summarise(runs: Sequence[dict[str, Any]], budgets: Sequence[int]) -> dict[str, Any]:
    """Every number of the report from the runs (``benchmarks._sampler_runs.run_one`` dicts).

    Returns
    -------
    dict
        ``functions`` (minimum, source), ``cells`` (mean regret with 95% interval and median
        per function × budget × sampler), ``comparisons`` (every pair of :data:`PAIRS` per
        function × budget), ``timing`` (ms per model-phase trial; αβ/GP ratio with interval),
        ``verdicts`` (targets and controls) and ``seeds_note``.
    """
    functions = [f for f in FUNCTIONS if any(r["function"] == f for r in runs)]
    samplers = [s for s in SAMPLERS if any(r["sampler"] == s for r in runs)]
    seeds = sorted({int(r["seed"]) for r in runs})
    cells: list[dict[str, Any]] = []
    comps: list[dict[str, Any]] = []
    for budget in budgets:
        reg = regrets_at(runs, budget)
        cells += _cells(reg, functions, samplers, budget)
        for a, b, why in PAIRS:
            for f in functions:
                if (f, a) in reg and (f, b) in reg:
                    c = compare(reg[(f, a)], reg[(f, b)]).to_json()
                    comps.append({"function": f, "budget": budget, "a": a, "b": b,
                                  "why": why, **c})
    timing = _timing(runs, functions)
    verdicts = _verdicts(comps, timing, functions, list(budgets))
    return {
        "functions": {f: {"minimum": FUNCTIONS[f].minimum, "source": FUNCTIONS[f].source,
                          "parameters": {k: repr(d) for k, d in FUNCTIONS[f].space.items()}}
                      for f in functions},
        "samplers": {s: SAMPLERS[s].label for s in samplers},
        "seeds": seeds, "budgets": list(budgets), "cells": cells, "comparisons": comps,
        "timing": timing, "verdicts": verdicts,
        "seeds_note": _seeds_note(comps, cells, verdicts, len(seeds), max(budgets)),
    }
