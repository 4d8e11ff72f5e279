"""The EfficientDL experiment's run: both datasets, the search, the confirmation; one file.

:func:`run_efficientdl` (registered as ``efficientdl``) writes everything to
``results.json`` and redraws from it (:func:`~._figures.redraw`).
"""

from __future__ import annotations

import json
import time
import warnings
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

import pandas as pd

from effdl_kit._core.errors import DataError, DatasetNotFoundError
from effdl_kit._core.io import atomic_write_text
from effdl_kit._core.types import ProgressFn
from effdl_kit._core.validate import Scale, check_executor, check_scale
from effdl_kit.data import ComponentData, load_component_data
from effdl_kit.experiments._registry import ExperimentSummary, make_summary, output_files
from effdl_kit.experiments.efficientdl._analysis import (
    analyse_dataset,
    check_budget,
    method_table,
)
from effdl_kit.experiments.efficientdl._confirm import run_confirm
from effdl_kit.experiments.efficientdl._figures import redraw
from effdl_kit.experiments.efficientdl._search import ablation, compare_methods, search_setup
from effdl_kit.experiments.efficientdl._settings import (
    DATASET_LABELS,
    DATASETS,
    NAME,
    RESULTS_FILE,
    TOP_K,
    Budget,
    DatasetName,
    SearchBudget,
)

__all__ = ["run_efficientdl", "run_search"]


def run_search(data: ComponentData, *, scale: Scale, seed: int,
               progress: ProgressFn | None = None,
               executor: Executor | None = None) -> dict[str, Any]:
    """αβ-BO vs baselines on ``data``'s predictor, and the α/β/Ω ablation; a JSON-able dict.

    See :mod:`._search`. Seeds ``seed, seed + 1, ...``.
    ``executor`` (a ``concurrent.futures.Executor``, e.g. a Dask client's ``get_executor()``)
    runs the method comparison's (method, seed) jobs (see
    :func:`~._search.compare_methods`) and of the α/β/Ω
    ablation; the predictor fit runs in this process. A non-Executor raises ConfigError
    before any work.
    """
    check_scale(scale)
    check_executor(executor)
    b = SearchBudget.for_scale(scale)
    t0 = time.perf_counter()
    setup = search_setup(data, n_trees=b.n_trees, n_repeats=b.n_repeats, seed=seed,
                         min_grid=b.min_grid)
    curves = compare_methods(setup, scale=scale, seeds=[seed + i for i in range(b.seeds)],
                             progress=progress, executor=executor, budget=b)
    abl = ablation(setup, scale=scale, executor=executor, budget=b)
    return {"setup": setup.describe(), "budget": b.to_dict(),
            "curves": curves.to_dict(orient="list"), "ablation": abl.to_dict(orient="list"),
            "time_s": time.perf_counter() - t0}


def run_efficientdl(scale: str, seed: int, out: Path, *,
                    executor: Executor | None = None) -> ExperimentSummary:
    """Static predictor on the authors' and the kit's data: CV, importance, Top-5.

    ``executor`` (a ``concurrent.futures.Executor``, e.g. a Dask client's ``get_executor()``)
    runs the search comparison's (method, seed) jobs; everything else runs in this process.
    """
    sc = check_scale(scale)
    check_executor(executor)
    budget = Budget.for_scale(sc)
    check_budget(budget.n_trees, budget.n_splits, budget.n_repeats, seed)
    loaded: dict[DatasetName, ComponentData] = {}
    skipped: dict[str, str] = {}
    for name in DATASETS:
        try:
            loaded[name] = load_component_data(name)
        except DatasetNotFoundError as exc:
            skipped[name] = str(exc)
            warnings.warn(f"efficientdl: skipping the {DATASET_LABELS[name]}: {exc}",
                          stacklevel=2)
    if not loaded:
        raise DataError("efficientdl: neither dataset could be loaded: "
                        + "; ".join(skipped.values()))
    t0 = time.perf_counter()
    results = {
        name: analyse_dataset(data, n_trees=budget.n_trees, n_splits=budget.n_splits,
                              n_repeats=budget.n_repeats, seed=seed)
        for name, data in loaded.items()
    }
    payload: dict[str, Any] = {"experiment": NAME, "scale": scale, "seed": seed,
                               "budget": budget.to_dict(), "datasets": results,
                               "skipped": skipped}
    search: dict[str, Any] | None = None
    if "authors" in loaded:  # the second half: αβ-BO on the authors' predictor
        search = run_search(loaded["authors"], scale=sc, seed=seed, executor=executor)
        payload["search"] = search
    confirmation = run_confirm(scale=sc, seed=seed)
    payload["confirmation"] = confirmation
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / RESULTS_FILE, json.dumps(payload, indent=1) + "\n")
    paths = redraw(out)
    metrics: dict[str, Any] = {}
    for name, res in results.items():
        m: dict[str, Any] = {}
        for split, ev in res["evaluations"].items():
            m[split] = {f"{k}_{stat}": ev[stat][k] for k in ("r2", "mae", "spearman")
                        for stat in ("mean", "std")}
        m["top5"] = [row["name"] for row in res["top"][:TOP_K]]
        metrics[name] = m
    if skipped:
        metrics["skipped"] = skipped
    if search is not None:
        table = method_table(pd.DataFrame(search["curves"]))
        metrics["search"] = {str(r["method"]): {"best_mean": r["best mean"],
                                                "best_std": r["best std"], "rank": r["rank"]}
                             for r in table.to_dict(orient="records")}
    metrics["confirmation"] = confirmation["summary"]
    return make_summary(
        NAME, scale, seed, metrics=metrics,
        **output_files(paths),
        wall_time_s=time.perf_counter() - t0,
    )
