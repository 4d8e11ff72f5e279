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
from effdl_kit._core.validate import Scale, check_choice, check_executor, check_scale
from effdl_kit.data import ComponentData, load_component_data
from effdl_kit.experiments._registry import ExperimentSummary, make_summary, output_files
from effdl_kit.experiments.efficientdl._analysis import analyse_dataset, check_budget
from effdl_kit.experiments.efficientdl._confirm import run_confirm
from effdl_kit.experiments.efficientdl._figures import redraw
from effdl_kit.experiments.efficientdl._regret import (
    aa_control,
    method_table,
    positive_control_table,
    regret_verdicts,
)
from effdl_kit.experiments.efficientdl._search import ablation, compare_methods, positive_control
from effdl_kit.experiments.efficientdl._settings import (
    DATASET_LABELS,
    DATASETS,
    NAME,
    RESULTS_FILE,
    SEARCH_COMPONENTS,
    TOP_K,
    Budget,
    DatasetName,
    Method,
    SearchBudget,
    SearchComponents,
    resolve_budget,
)
from effdl_kit.experiments.efficientdl._setup import search_setup

__all__ = ["AA_SEED_OFFSET", "JUDGED", "REFERENCES", "run_efficientdl", "run_search"]


#: seed offset of the A/A control's second set of random-search runs
AA_SEED_OFFSET = 10_000
#: the method the study judges, and the methods it is judged against
JUDGED: Method = "alpha_beta_kit"
REFERENCES: tuple[Method, ...] = ("random", "tpe", "gp", "alpha_beta")


def run_search(data: ComponentData, *, scale: Scale, seed: int,
               progress: ProgressFn | None = None, executor: Executor | None = None,
               budget: SearchBudget | None = None,
               components: SearchComponents = "controllable") -> dict[str, Any]:
    """The search study on ``data``'s predictor; a JSON-able dict.

    Every method of :data:`~._settings.METHODS` over the same grid and budget, seeds ``seed,
    seed + 1, ...`` (:func:`~._search.compare_methods`, simple regret against the grid's
    exhaustive maximum); the verdicts of the kit's αβ-BO against random search, TPE, Optuna's
    GP and the authors' choices (:func:`~._regret.regret_verdicts`); the two controls — random
    search against itself on other seeds (negative, must be "within noise") and the kit's
    αβ-BO against random search on the known-optimum problem (positive, must be "better");
    and the α/β/Ω ablation of the kit's αβ-BO (:func:`~._search.ablation`).

    Parameters
    ----------
    data : ComponentData
    scale : {"smoke", "small", "paper"}
    seed : int
    progress : callable, optional
        ``progress(done, total, label)`` of the method comparison.
    executor : concurrent.futures.Executor, optional
        Runs the comparison's and the ablation's (method, seed) jobs (e.g. a Dask client's
        ``get_executor()``); the predictor fit and the controls run in this process.
    budget : SearchBudget, optional
        Instead of the scale's.
    components : {"controllable", "all"}
        Which components are ranked for the search (:func:`~._setup.search_setup`).

    Raises
    ------
    ConfigError
        A bad scale, budget, components or executor, before any work.
    """
    b = resolve_budget(SearchBudget, scale, budget)
    check_choice("components", components, SEARCH_COMPONENTS)
    check_executor(executor)
    t0 = time.perf_counter()
    setup = search_setup(data, n_trees=b.n_trees, n_repeats=b.n_repeats, seed=seed,
                         min_grid=b.min_grid, components=components)
    seeds = [seed + i for i in range(b.seeds)]
    curves = compare_methods(setup, scale=scale, seeds=seeds, progress=progress,
                             executor=executor, budget=b)
    aa = compare_methods(setup, scale=scale, seeds=[s + AA_SEED_OFFSET for s in seeds],
                         methods=["random"], budget=b)
    control = positive_control(scale=scale, budget=b)
    abl = ablation(setup, scale=scale, executor=executor, budget=b)
    verdicts = regret_verdicts(curves, JUDGED, REFERENCES)
    return {"setup": setup.describe(), "budget": b.to_dict(),
            "curves": curves.to_dict(orient="list"), "aa_curves": aa.to_dict(orient="list"),
            "control_curves": control.to_dict(orient="list"),
            "ablation": abl.to_dict(orient="list"),
            "verdicts": verdicts.to_dict(orient="records"),
            "controls": {"negative": {"method": "random", "offset": AA_SEED_OFFSET,
                                      **aa_control(curves, aa).to_json()},
                         "positive": positive_control_table(control)},
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
        metrics["search"] = {str(r["method"]): {"regret_mean": r["regret mean"],
                                                "regret_lo": r["regret lo"],
                                                "regret_hi": r["regret hi"], "rank": r["rank"]}
                             for r in table.to_dict(orient="records")}
    metrics["confirmation"] = confirmation["summary"]
    return make_summary(
        NAME, scale, seed, metrics=metrics,
        **output_files(paths),
        wall_time_s=time.perf_counter() - t0,
    )
