"""E1's A/A study: how often the frontier verdict calls a no-effect comparison "within noise".

Every repeat is an independent E1 sweep (its own seeds, its own random run order, warm-up):
the baseline, the baseline timed again under :data:`~effdl_kit.speedups.AA_LABEL` (the A/A
pair: the same training, so every difference is measurement noise), and the candidate
methods (``channels_last`` by default: bit-identical accuracy to the baseline on CPU, so any
verdict it gets comes from its time alone). Each repeat's runs get two positive controls (the
A/A arm at half the time, :data:`~effdl_kit.speedups.POSITIVE_LABEL`, whose size in accuracy
depends on the frontier's slope; and the A/A arm 10 accuracy points higher at equal time,
:data:`ACC_LABEL`, a fixed size) and are judged with
both intervals (``t``, the kit's, and ``percentile``, to show why it is not used) on both
clocks (wall and CPU time). The study reports, per arm, clock and interval, the share of
repeats called *within noise* / *moves* / *behind*, with a Wilson 95 % interval, and each
arm's time over the baseline's (paired by seed and budget, median per repeat).

A correct verdict rule calls the A/A arm *within noise* in >= 95 % of repeats (its
family-wise error over the budgets is 5 % at most) and the positive control *moves the
frontier* in nearly every repeat (the 10-point one in >= 95 %).
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from effdl_kit._core.errors import ConfigError
from effdl_kit._core.rng import SEED_MAX
from effdl_kit._core.types import ProgressFn
from effdl_kit._core.validate import check_float, check_int, check_scale
from effdl_kit.speedups import (
    AA_LABEL,
    CLOCK_COLUMNS,
    CLOCKS,
    INTERVALS,
    POSITIVE_LABEL,
    check_budgets,
    frontier_table,
    inject_control,
    pareto_sweep,
)

from ._settings import survey_config, survey_recipes

__all__ = ["ACC_LABEL", "ACC_SHIFT", "AABudget", "AAStudy", "run_aa_study",
           "wilson_interval"]

#: the second positive control: the A/A arm with every accuracy raised by ``ACC_SHIFT``
ACC_SHIFT = 0.10
ACC_LABEL = "A/A +10 points"


@dataclass(frozen=True)
class AABudget:
    """What a scale decides for the A/A study.

    Attributes
    ----------
    data, model : mapping
        ``data_params`` and ``model_params`` of the sweep's config (the survey's CNN on
        generated images).
    lr : float
        The learning rate of every run (the A/A pair needs no tuning).
    budgets : tuple of int
        Budgets in epochs.
    n_seeds : int
        Seeds per repeat (the E1 small scale's 5).
    repeats : int
        Independent sweeps.
    methods : tuple of str
        Candidate methods compared with the baseline besides the A/A arm.
    n_boot : int
        Bootstrap resamples per verdict.
    """

    data: Mapping[str, Any]
    model: Mapping[str, Any]
    lr: float
    budgets: tuple[int, ...]
    n_seeds: int
    repeats: int
    methods: tuple[str, ...]
    n_boot: int

    def __post_init__(self) -> None:
        check_int("n_seeds", self.n_seeds, min_value=2)
        check_int("repeats", self.repeats, min_value=1, max_value=10_000)
        check_int("n_boot", self.n_boot, min_value=100)
        check_float("lr", self.lr, min_value=0.0, min_inclusive=False)
        check_budgets(self.budgets)
        survey_recipes(self.methods)  # unknown names fail here

    @classmethod
    def for_scale(cls, scale: str) -> AABudget:
        """``smoke``: a tiny CNN on 400 8x8 images, 3 budgets x 5 seeds, 20 repeats (about
        a minute); ``small``: the survey's CNN on 300 16x16 images, 60 repeats (about
        10 minutes); ``paper``: 200 repeats."""
        return cls(**copy.deepcopy(_PER_SCALE[check_scale(scale)]))


_TINY = {"data": {"n_samples": 400, "n_classes": 4, "image_size": 8, "difficulty": 0.5},
         "model": {"channels": [4], "skip": True, "width": 8, "norm": "batch",
                   "pooling": "max"}, "lr": 1e-2}
_PER_SCALE: dict[str, dict[str, Any]] = {
    "smoke": {**_TINY, "budgets": (1, 2, 4), "n_seeds": 5, "repeats": 20,
              "methods": ("channels_last",), "n_boot": 500},
    "small": {"data": {"n_samples": 300, "image_size": 16, "difficulty": 0.9},
              "model": {"channels": [16, 32], "skip": True, "norm": "batch",
                        "pooling": "max", "width": 64},
              "lr": 3e-3, "budgets": (1, 2, 3), "n_seeds": 5, "repeats": 60,
              "methods": ("channels_last",), "n_boot": 1000},
    "paper": {"data": {"n_samples": 300, "image_size": 16, "difficulty": 0.9},
              "model": {"channels": [16, 32], "skip": True, "norm": "batch",
                        "pooling": "max", "width": 64},
              "lr": 3e-3, "budgets": (1, 2, 3), "n_seeds": 5, "repeats": 200,
              "methods": ("channels_last",), "n_boot": 2000},
}


def wilson_interval(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """The Wilson score interval of a proportion ``k / n`` (95 % by default)."""
    if n <= 0:
        return (math.nan, math.nan)
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return (max(0.0, c - h), min(1.0, c + h))


@dataclass
class AAStudy:
    """The verdicts of every repeat, arm and interval, and the paired time ratios.

    Attributes
    ----------
    verdicts : pandas.DataFrame
        ``repeat, method, clock, interval, verdict, best_budget, best_gain, ci_low, ci_high,
        time_ratio``.
    time_ratios : pandas.DataFrame
        ``repeat, method, clock, time_ratio``: the median over (seed, budget) of the arm's
        time over the baseline's in the same seed and budget.
    setup : dict
        The budget and the seed.
    """

    verdicts: pd.DataFrame
    time_ratios: pd.DataFrame
    setup: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> pd.DataFrame:
        """Per (arm, clock, interval): repeats, share within noise / moves / behind, and the
        Wilson 95 % interval of the share within noise."""
        rows = []
        for (m, clock, iv), g in self.verdicts.groupby(["method", "clock", "interval"],
                                                      sort=False):
            n = len(g)
            k = int((g["verdict"] == "within noise").sum())
            lo, hi = wilson_interval(k, n)
            rows.append({"method": m, "clock": clock, "interval": iv, "repeats": n,
                         "within noise": k / n, "within noise low": lo,
                         "within noise high": hi,
                         "moves": float((g["verdict"] == "moves the frontier").mean()),
                         "behind": float((g["verdict"] == "behind the frontier").mean())})
        return pd.DataFrame(rows)

    def ratio_summary(self) -> pd.DataFrame:
        """Per (arm, clock): the median of the repeats' time ratios and its 2.5-97.5 %
        range."""
        rows = []
        for (m, clock), g in self.time_ratios.groupby(["method", "clock"], sort=False):
            r = g["time_ratio"].to_numpy(dtype=float)
            rows.append({"method": m, "clock": clock, "repeats": len(r),
                         "median": float(np.median(r)),
                         "p2.5": float(np.quantile(r, 0.025)),
                         "p97.5": float(np.quantile(r, 0.975))})
        return pd.DataFrame(rows)

    def to_json(self) -> str:
        """The study as JSON (:meth:`from_json` reads it back)."""
        return json.dumps({"setup": self.setup,
                           "verdicts": json.loads(self.verdicts.to_json(orient="records")),
                           "time_ratios": json.loads(self.time_ratios.to_json(
                               orient="records"))}, indent=1)

    @classmethod
    def from_json(cls, text: str) -> AAStudy:
        """Read a study written by :meth:`to_json`."""
        d = json.loads(text)
        return cls(pd.DataFrame(d["verdicts"]), pd.DataFrame(d["time_ratios"]), d["setup"])


def _paired_ratios(runs: pd.DataFrame, column: str) -> dict[str, float]:
    piv = runs.pivot_table(index=["seed", "budget"], columns="method",
                           values=column, aggfunc="first")
    return {str(m): float(np.nanmedian(piv[m] / piv["baseline"]))
            for m in piv.columns if m != "baseline"}


def run_aa_study(scale: str = "smoke", seed: int = 0, *, budget: AABudget | None = None,
                 progress: ProgressFn | None = None) -> AAStudy:
    """Run the A/A study (module docstring) at ``scale``.

    Raises
    ------
    ConfigError
        Bad scale, seed or budget, before any training.
    """
    b = AABudget.for_scale(scale) if budget is None else budget
    if not isinstance(b, AABudget):
        raise ConfigError("budget", b, "an AABudget (AABudget.for_scale(scale))")
    seed = check_int("seed", seed, min_value=0,
                     max_value=SEED_MAX - b.repeats * b.n_seeds - 1)
    base = survey_config("smoke", seed).replace(data_params=dict(b.data), lr=b.lr,
                                                model_params=dict(b.model))
    recipes = survey_recipes(b.methods)
    verdicts: list[dict[str, Any]] = []
    ratios: list[dict[str, Any]] = []
    for r in range(b.repeats):
        seeds = [seed + r * b.n_seeds + i for i in range(b.n_seeds)]
        runs = pareto_sweep(base, recipes, list(b.budgets), seeds, aa_control=True,
                            warmup=1, order_seed=seed + r)
        judged = inject_control(inject_control(runs), label=ACC_LABEL, time_factor=1.0,
                                acc_shift=ACC_SHIFT)
        for clock in CLOCKS:
            for iv in INTERVALS:
                table = frontier_table(judged, interval=iv, clock=clock, n_boot=b.n_boot,
                                       seed=seed + r)
                for row in table.itertuples(index=False):
                    if row.method == "baseline":
                        continue
                    verdicts.append({"repeat": r, "method": row.method, "clock": clock,
                                     "interval": iv, "verdict": row.verdict,
                                     "best_budget": row.best_budget,
                                     "best_gain": row.best_gain, "ci_low": row.ci_low,
                                     "ci_high": row.ci_high, "time_ratio": row.time_ratio})
            ratios += [{"repeat": r, "method": m, "clock": clock, "time_ratio": v}
                       for m, v in _paired_ratios(runs, CLOCK_COLUMNS[clock]).items()]
        if progress is not None:
            aa = [v["verdict"] for v in verdicts if v["repeat"] == r and v["clock"] == "wall"
                  and v["method"] == AA_LABEL and v["interval"] == "t"]
            progress(r + 1, b.repeats, f"repeat {r}: A/A {aa[0] if aa else '?'}")
    setup = {"scale": scale, "seed": seed, "budget": {
        "data": dict(b.data), "model": dict(b.model), "lr": b.lr, "budgets": list(b.budgets),
        "n_seeds": b.n_seeds, "repeats": b.repeats, "methods": list(b.methods),
        "n_boot": b.n_boot}, "arms": [AA_LABEL, POSITIVE_LABEL, ACC_LABEL, *b.methods]}
    return AAStudy(pd.DataFrame(verdicts), pd.DataFrame(ratios), setup)
