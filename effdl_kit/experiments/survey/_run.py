"""The run of the ``survey`` experiment: each part computes its section of ``results.json``.

:func:`run_survey` runs the chosen parts (a registry: part name -> function of the run's
context), writes ``results.json`` and calls :func:`~._figures.redraw`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from effdl_kit._core.errors import ConfigError
from effdl_kit._core.io import atomic_write_text
from effdl_kit._core.types import ProgressFn
from effdl_kit._core.validate import check_scale
from effdl_kit.experiments._registry import ExperimentSummary, make_summary, output_files
from effdl_kit.measure import measure_roofline, op_sweep
from effdl_kit.speedups import (
    AA_LABEL,
    CLOCKS,
    POSITIVE_LABEL,
    flops_vs_runtime,
    frontier_table,
    inject_control,
    loader_bottleneck,
    pareto_sweep,
    tune_baseline_lr,
)
from effdl_kit.training import TrainConfig

from ._analysis import records, summary_metrics
from ._figures import redraw
from ._settings import (
    MODEL_PARAMS,
    NAME,
    PARTS,
    RESULTS_FILE,
    Budget,
    Part,
    check_budget,
    survey_config,
    survey_recipes,
)

__all__ = ["judge_pareto", "run_survey"]


@dataclass(frozen=True)
class _Context:
    """What every part of one run reads."""

    seed: int
    budget: Budget
    base: TrainConfig
    recipes: dict[str, list[tuple[str, dict[str, Any]]]]
    seeds: list[int]
    progress: ProgressFn | None


def _pareto(c: _Context) -> dict[str, Any]:
    """E1: the baseline's rate tuned per budget on validation accuracy (tuning seeds
    ``seed + 1000, ...``); the baseline, its A/A copy and every method at every budget and
    seed in a random order after warm-up; the frontier table with the positive control (the
    A/A arm at half the time) injected, in wall time (``frontier``, the survey's clock) and in
    the training thread's CPU time (``frontier_cpu``)."""
    b = c.budget
    budgets = list(b.budgets)
    tune_seeds = [c.seed + 1000 + i for i in range(b.n_tune_seeds)]
    chosen, tuning = tune_baseline_lr(c.base, budgets, list(b.lr_grid), tune_seeds,
                                      progress=c.progress)
    runs = pareto_sweep(c.base, c.recipes, budgets, c.seeds, lr_per_budget=chosen,
                        aa_control=True, warmup=b.warmup, order_seed=c.seed,
                        progress=c.progress)
    return {"runs": records(runs), "tuning": {"chosen": {str(k): x for k, x in chosen.items()},
                                              "runs": records(tuning),
                                              "seeds": tune_seeds},
            **judge_pareto(runs, seed=c.seed)}


def judge_pareto(runs: pd.DataFrame, *, seed: int) -> dict[str, Any]:
    """E1's verdicts from its runs: the positive control injected, the frontier table on the
    wall clock (``frontier``) and the CPU clock (``frontier_cpu``), and both controls per
    clock (``controls``: A/A within noise, positive control moving the frontier)."""
    judged = inject_control(runs)
    tables = {clock: frontier_table(judged, clock=clock, seed=seed) for clock in CLOCKS}
    controls: dict[str, Any] = {}
    for clock, table in tables.items():
        v = table.set_index("method")["verdict"]
        controls[clock] = {"aa": str(v[AA_LABEL]), "positive": str(v[POSITIVE_LABEL]),
                           "passed": bool(v[AA_LABEL] == "within noise"
                                          and v[POSITIVE_LABEL] == "moves the frontier")}
    return {"frontier": records(tables["wall"]), "frontier_cpu": records(tables["cpu"]),
            "controls": controls}


def _ops(c: _Context) -> dict[str, Any]:
    """E2: the device's roofline and the op sweep placed under it."""
    b = c.budget
    roof = measure_roofline(device=b.device, dtypes=b.dtypes, matmul_sizes=b.matmul_peak_sizes,
                            bandwidth_bytes=b.bandwidth_bytes, min_time=max(b.min_time, 0.002))
    sweep = op_sweep(dict(b.ops), dtypes=b.dtypes, device=b.device, roofline=roof,
                     min_time=b.min_time, repeats=b.repeats)
    return {"roofline": roof.to_dict(), "sweep": records(sweep)}


def _variants(c: _Context) -> dict[str, Any]:
    """E3: FLOPs, parameters and training-step time of the CNN's variants."""
    shape = tuple(c.budget.variants_input)
    # "auto" measures on the GPU when there is one
    device = "cuda" if c.budget.device == "auto" and torch.cuda.is_available() else "cpu"
    var = flops_vs_runtime(MODEL_PARAMS, shape, 10, repeats=c.budget.variants_repeats,
                           seed=c.seed, device=device)
    return {"input_shape": list(shape), "rows": records(var)}


def _loader(c: _Context) -> dict[str, Any]:
    """E4: step time split into data wait and compute per workers and augmentation."""
    lo = loader_bottleneck(**c.budget.loader, seed=c.seed)
    return {"settings": dict(c.budget.loader), "rows": records(lo)}


#: part -> computes its section of ``results.json``
_PARTS: dict[Part, Callable[[_Context], dict[str, Any]]] = {
    "pareto": _pareto,
    "ops": _ops,
    "variants": _variants,
    "loader": _loader,
}


def run_survey(scale: str, seed: int, out: Path, *, parts: Sequence[Part] = PARTS,
               methods: Sequence[str] | None = None, progress: ProgressFn | None = None,
               budget: Budget | None = None) -> ExperimentSummary:
    """Run E1-E4 at ``scale``, save ``results.json``, draw figures and tables.

    Parameters
    ----------
    parts : sequence of {"pareto", "ops", "variants", "loader"}
        Which parts to run (all by default).
    methods : sequence of str, optional
        E1 methods (default: the budget's).
    progress : callable, optional
        ``progress(done, total, message)`` per E1 run.
    budget : Budget, optional
        The scale's :class:`Budget` unless given (change one with
        :func:`dataclasses.replace`).
    """
    check_scale(scale)
    for p in parts:
        if p not in PARTS:
            raise ConfigError("parts", p, PARTS)
    b = check_budget(budget, scale)
    t0 = time.perf_counter()
    base = survey_config(scale, seed, budget=b)
    recipes = survey_recipes(methods if methods is not None else b.methods)
    seeds = [seed + i for i in range(b.n_seeds)]
    ctx = _Context(seed=seed, budget=b, base=base, recipes=recipes, seeds=seeds,
                   progress=progress)
    timings: dict[str, float] = {}
    payload: dict[str, Any] = {"experiment": NAME, "scale": scale, "seed": seed,
                               "setup": {"config": base.to_dict(), "budgets": list(b.budgets),
                                         "seeds": seeds, "methods": recipes},
                               "timings_s": timings}
    for part in PARTS:
        if part in parts:
            t = time.perf_counter()
            payload[part] = _PARTS[part](ctx)
            timings[part] = time.perf_counter() - t
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / RESULTS_FILE, json.dumps(payload, indent=1) + "\n")
    paths = redraw(out)
    return make_summary(
        NAME, scale, seed, metrics=summary_metrics(payload),
        **output_files(paths),
        wall_time_s=time.perf_counter() - t0,
    )
