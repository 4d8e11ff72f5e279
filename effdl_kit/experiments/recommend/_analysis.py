"""Analysis of the comparison: tables, paired differences with bootstrap CIs, verdicts, controls.

Scoring. A method's result in a cell is the best test accuracy among its trainings that were
*feasible*: the training did not fail and the trained network's measured latency was within
the budget. A method that trained nothing feasible in a cell scores 0 (nothing deployable was
found; :func:`comparison_table` counts those cells).

Paired differences (the unit is a seed: both methods ran the same cell with the same training
seed) recommend - tpe and recommend - nsga2,

* ``end``: each method's result after its whole budget;
* ``matched``: the recommendation's result against the feedback method's best feasible
  accuracy when it had spent as much compute (search + train + measure seconds) as the
  recommend route did in total (its whole run when it spent less);
* ``amortised``: as ``matched`` with the recommend route's compute less its one-off
  ``prepare`` (a further budget or seed on a task whose predictor and latency models are
  fitted already);
* ``other_compute``: the other way round, the recommend route's best feasible accuracy when
  it had spent as much as the whole feedback study (0 while its prepare and search are not
  done), against the feedback study's result.

Interval: percentile bootstrap (seeded) of the mean paired difference over seeds; the verdict
is "training-free wins" / "training-free loses" when the 95 % interval excludes 0 above /
below, else "within noise". Pooled rows (``task == "all"``) resample all cells.

Controls (run on the recorded data): negative, recommend_b - recommend (the same route with
other search and training seeds, an A/A comparison) must be "within noise"; positive,
(recommend_b with every recorded accuracy + ``DELTA``) - recommend must be called a win.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from effdl_kit._core.errors import ConfigError, DataError

from ._run import FORMAT
from ._settings import BUDGET_NAMES, COMPARISON_FILE, METHODS, NAME

__all__ = [
    "AT",
    "DELTA",
    "FEEDBACK",
    "LOSE",
    "NOISE",
    "WIN",
    "bootstrap_ci",
    "break_even",
    "comparison_controls",
    "comparison_table",
    "comparison_verdicts",
    "curve_at",
    "inject",
    "latency_noise",
    "load_comparison",
    "verdict_of",
]

#: the effect injected by the positive control (accuracy, 0.05 = 5 points)
DELTA = 0.05
FEEDBACK: tuple[str, ...] = ("tpe", "nsga2")
#: where the paired difference is read: each method's end; the feedback method at the
#: recommend route's total compute ("matched"); the feedback method at the recommend route's
#: compute without its prepare ("amortised": a further budget or seed on a task whose
#: predictor and latency models are fitted already); the recommend route at the feedback
#: study's total compute ("other_compute": 0 until its prepare, search and first feasible
#: training)
AT: tuple[str, ...] = ("end", "matched", "amortised", "other_compute")
WIN, LOSE, NOISE = "training-free wins", "training-free loses", "within noise"


def load_comparison(path: str | Path = COMPARISON_FILE) -> dict[str, Any]:
    """The results written by the comparison (default: the committed small-scale file).

    Raises
    ------
    DataError
        No such file, or not a comparison result.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"no comparison result at {str(p)!r}: run `python -m "
                        f"effdl_kit.experiments.recommend._main --scale small` first")
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise DataError(f"{str(p)!r} is not JSON: {exc}") from None
    check_results(doc, str(p))
    return dict(doc)


def check_results(doc: Any, where: str = "results") -> None:
    """Raise :class:`DataError` unless ``doc`` is a comparison result payload."""
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or doc.get(
            "experiment") != NAME:
        raise DataError(f"{where} is not a {FORMAT} result")
    for c in doc.get("cells", []):
        if not isinstance(c, dict) or set(c.get("methods", {})) != set(METHODS):
            raise DataError(f"{where}: a cell lacks the methods {METHODS}")


def _score(trace: Mapping[str, Any]) -> float:
    b = trace["best_feasible"]
    return 0.0 if b is None else float(b)


def curve_at(trace: Mapping[str, Any], compute_s: float) -> float:
    """Best feasible accuracy of ``trace`` once it had spent ``compute_s`` seconds (0 when it
    had no feasible training by then)."""
    best = 0.0
    for t in trace["trainings"]:
        if t["compute_s"] > compute_s + 1e-9:
            break
        if t["best_feasible"] is not None:
            best = float(t["best_feasible"])
    return best


def inject(results: Mapping[str, Any], method: str, delta: float) -> dict[str, Any]:
    """A copy of ``results`` with every recorded accuracy of ``method`` shifted by ``delta``
    (best-feasible traces recomputed): the positive control's injected effect."""
    if method not in METHODS:
        raise ConfigError("method", method, METHODS)
    out = copy.deepcopy(dict(results))
    for cell in out["cells"]:
        tr = cell["methods"][method]
        best: float | None = None
        for t in tr["trainings"]:
            if t["accuracy"] is not None:
                t["accuracy"] = float(t["accuracy"]) + delta
            if t["feasible"] and (best is None or t["accuracy"] > best):
                best = float(t["accuracy"])
            t["best_feasible"] = best
        tr["best_feasible"] = best
    return out


def bootstrap_ci(diffs: Sequence[float], *, n_boot: int = 2000, seed: int = 0,
                 level: float = 0.95) -> tuple[float, float, float]:
    """Mean of ``diffs`` and its percentile-bootstrap interval (resampling the units)."""
    d = np.asarray(diffs, dtype=np.float64)
    if d.size == 0:
        return math.nan, math.nan, math.nan
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, d.size, size=(n_boot, d.size))].mean(axis=1)
    a = (1 - level) / 2
    return float(d.mean()), float(np.quantile(means, a)), float(np.quantile(means, 1 - a))


def verdict_of(lo: float, hi: float) -> str:
    """The verdict of a difference's interval (recommend minus the other)."""
    if lo > 0:
        return WIN
    if hi < 0:
        return LOSE
    return NOISE


def _groups(results: Mapping[str, Any]) -> list[tuple[str, str, list[dict[str, Any]]]]:
    cells = list(results["cells"])
    out: list[tuple[str, str, list[dict[str, Any]]]] = []
    for task in results["settings"]["tasks"]:
        for b in BUDGET_NAMES:
            sel = [c for c in cells if c["task"] == task and c["budget"] == b]
            if sel:
                out.append((task, b, sel))
    if len(out) > 1:
        out.append(("all", "all", cells))
    return out


def comparison_table(results: Mapping[str, Any]) -> pd.DataFrame:
    """One row per (task, budget, method): budget ms, seeds, best feasible accuracy at the end
    (mean, sd over seeds; 0 where nothing feasible), seeds without a feasible training,
    compute (seconds and trainings, mean), share of trainings feasible, failed trainings."""
    rows = []
    for task, b, cells in _groups(results):
        if task == "all":
            continue
        for m in METHODS:
            trs = [c["methods"][m] for c in cells]
            scores = np.array([_score(t) for t in trs])
            trainings = [t for tr in trs for t in tr["trainings"]]
            rows.append({
                "task": task, "budget": b, "budget_ms": cells[0]["budget_ms"], "method": m,
                "n_seeds": len(cells), "best_feasible_accuracy": float(scores.mean()),
                "sd": float(scores.std(ddof=1)) if len(scores) > 1 else math.nan,
                "no_feasible": int(sum(t["best_feasible"] is None for t in trs)),
                "compute_s": float(np.mean([t["compute_s"] for t in trs])),
                "n_trainings": float(np.mean([t["n_trainings"] for t in trs])),
                "share_feasible": float(np.mean([t["feasible"] for t in trainings]))
                if trainings else math.nan,
                "n_failed": int(sum(t["error"] is not None for t in trainings))})
    return pd.DataFrame(rows)


def _paired(cells: Sequence[Mapping[str, Any]], a: str, b: str, at: str) -> list[float]:
    out = []
    for c in cells:
        ta, tb = c["methods"][a], c["methods"][b]
        if at == "matched":  # the other method at a's total compute
            out.append(_score(ta) - curve_at(tb, ta["compute_s"]))
        elif at == "amortised":  # the other method at a's compute less a's prepare
            out.append(_score(ta) - curve_at(tb, ta["compute_s"]
                                             - float(ta.get("prepare_s", 0.0))))
        elif at == "other_compute":  # a at the other method's total compute
            out.append(curve_at(ta, tb["compute_s"]) - _score(tb))
        else:
            out.append(_score(ta) - _score(tb))
    return out


def comparison_verdicts(results: Mapping[str, Any]) -> pd.DataFrame:
    """Paired differences recommend - tpe and recommend - nsga2 per (task, budget) and pooled
    (``"all"``), at the end of each method's budget, at matched compute and at the feedback
    study's compute (:data:`AT`): mean, 95 %
    bootstrap CI, its width, verdict, and the compute ratio (feedback / recommend: median
    over seeds of seconds, mean trainings)."""
    n_boot = int(results["settings"].get("n_boot", 2000))
    rows = []
    for task, b, cells in _groups(results):
        for other in FEEDBACK:
            ratio = float(np.median([c["methods"][other]["compute_s"]
                                     / max(c["methods"]["recommend"]["compute_s"], 1e-12)
                                     for c in cells]))
            for at in AT:
                mean, lo, hi = bootstrap_ci(_paired(cells, "recommend", other, at),
                                            n_boot=n_boot, seed=0)
                rows.append({"task": task, "budget": b, "comparison": f"recommend - {other}",
                             "at": at, "n_seeds": len(cells), "diff": mean, "ci_low": lo,
                             "ci_high": hi, "ci_width": hi - lo, "verdict": verdict_of(lo, hi),
                             "compute_ratio": ratio})
    return pd.DataFrame(rows)


def comparison_controls(results: Mapping[str, Any], delta: float = DELTA) -> pd.DataFrame:
    """The controls per (task, budget) and pooled: negative (recommend_b - recommend, must be
    "within noise") and positive (recommend_b + ``delta`` - recommend, must be a win), at the
    end of the budget; mean, CI, verdict, expected verdict, passed."""
    n_boot = int(results["settings"].get("n_boot", 2000))
    shifted = inject(results, "recommend_b", delta)
    rows = []
    for (task, b, cells), (_, _, cells_p) in zip(_groups(results), _groups(shifted),
                                                  strict=True):
        for name, cs, want in (("negative (A/A)", cells, NOISE),
                               (f"positive (+{delta:g})", cells_p, WIN)):
            mean, lo, hi = bootstrap_ci(_paired(cs, "recommend_b", "recommend", "end"),
                                        n_boot=n_boot, seed=1)
            got = verdict_of(lo, hi)
            rows.append({"task": task, "budget": b, "control": name, "n_seeds": len(cs),
                         "diff": mean, "ci_low": lo, "ci_high": hi, "verdict": got,
                         "expected": want, "passed": got == want})
    return pd.DataFrame(rows)


def _trainings_to_reach(trace: Mapping[str, Any], target: float) -> int | None:
    """Trainings a trace needed to reach a best feasible accuracy >= ``target`` (None: never)."""
    for t in trace["trainings"]:
        if t["best_feasible"] is not None and t["best_feasible"] >= target - 1e-12:
            return int(t["n_trainings"])
    return None


def break_even(results: Mapping[str, Any]) -> pd.DataFrame:
    """Where the training-free route starts to pay, per (task, budget, feedback method).

    In each cell: how many trainings the feedback study needed to reach the recommend route's
    best feasible accuracy (``n_reach``; cells where it never did within its run are counted,
    not averaged), the recommend route's overhead (prepare + search seconds) and trainings, and
    the **break-even training cost**: ``overhead / (n_reach - recommend's trainings)`` — a
    training slower than this makes the feedback study spend more than the training-free
    route for the same accuracy; the same with the prepare amortised (search only). Medians
    over the cells where the study reached it and needed more trainings than the route.
    """
    rows = []
    for task, b, cells in _groups(results):
        if task == "all":
            continue
        for other in FEEDBACK:
            reach, full, amort = [], [], []
            never = 0
            for c in cells:
                rec, fb = c["methods"]["recommend"], c["methods"][other]
                target = _score(rec)
                if target <= 0:
                    continue  # nothing feasible to reach
                n = _trainings_to_reach(fb, target)
                if n is None:
                    never += 1
                    continue
                reach.append(n)
                extra = n - int(rec["n_trainings"])
                if extra > 0:
                    prep = float(rec.get("prepare_s", 0.0))
                    over = prep + float(rec["search_s"])
                    full.append(over / extra)
                    amort.append(float(rec["search_s"]) / extra)
            rows.append({
                "task": task, "budget": b, "feedback": other, "cells": len(cells),
                "reached": len(reach), "never": never,
                "median_trainings_to_reach": float(np.median(reach)) if reach else math.nan,
                "break_even_s": float(np.median(full)) if full else math.nan,
                "break_even_amortised_s": float(np.median(amort)) if amort else math.nan,
                "median_training_s": float(np.median(
                    [t["train_s"] + t["measure_s"] for c in cells
                     for t in c["methods"][other]["trainings"] if not t["cached"]] or
                    [math.nan]))})
    return pd.DataFrame(rows)


_ARCH = ("depth", "base_channels", "width", "kernel_size", "activation")


def latency_noise(results: Mapping[str, Any]) -> pd.DataFrame:
    """How repeatable the measured latency was, per task: architectures (the latency
    components and the activation) trained and timed more than once (distinct trainings, the
    cache's reuses left out), the median coefficient of variation and max/min ratio of their
    measurements, and the recommend route's measured / predicted latency (median)."""
    rows = []
    for task in results["settings"]["tasks"]:
        cells = [c for c in results["cells"] if c["task"] == task]
        if not cells:
            continue
        per: dict[str, list[float]] = {}
        ratio = []
        for c in cells:
            for m in METHODS:
                tr = c["methods"][m]
                for i, t in enumerate(tr["trainings"]):
                    if t["cached"] or t["measured_ms"] is None:
                        continue
                    key = json.dumps([t["components"].get(a, c["fixed"].get(a))
                                      for a in _ARCH], default=str)
                    per.setdefault(key, []).append(float(t["measured_ms"]))
                    pred = tr.get("predicted")
                    if pred and i < len(pred):
                        ratio.append(float(t["measured_ms"]) / pred[i]["latency_ms"])
        rep = [np.asarray(v) for v in per.values() if len(v) > 1]
        rows.append({
            "task": task, "architectures": len(per), "timed_twice_or_more": len(rep),
            "median_cv": float(np.median([v.std(ddof=1) / v.mean() for v in rep]))
            if rep else math.nan,
            "median_max_over_min": float(np.median([v.max() / v.min() for v in rep]))
            if rep else math.nan,
            "recommend_measured_over_predicted": float(np.median(ratio))
            if ratio else math.nan})
    return pd.DataFrame(rows)
