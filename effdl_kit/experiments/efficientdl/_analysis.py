"""Analysis of the EfficientDL experiment: the predictor's evaluation and the result tables.

:func:`analyse_dataset` cross-validates the static predictor on one component dataset and
ranks its components (a JSON-able dict, one entry of ``results.json``); the table functions
turn stored results into DataFrames: :func:`metrics_table`, :func:`top_table` (static
predictor), the search's in :mod:`._regret`, the confirmation's in :mod:`._confirm_analysis`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from effdl_kit._core.errors import ConfigError
from effdl_kit._core.jsonable import records
from effdl_kit._core.rng import SEED_MAX
from effdl_kit._core.types import ProgressFn
from effdl_kit._core.validate import check_choice, check_int
from effdl_kit.data import ComponentData
from effdl_kit.experiments._registry import read_results
from effdl_kit.experiments.efficientdl._settings import (
    CONFIDENCE,
    DATASET_LABELS,
    NAME,
    SPLITS,
    TOP_K,
    Split,
)
from effdl_kit.inspection import permutation_importance, top_components
from effdl_kit.models import evaluate_predictor, make_predictor

__all__ = [
    "analyse_dataset",
    "importance_frame",
    "load_results",
    "metrics_table",
    "top_table",
]


# ----------------------------------------------------------------------------- static predictor


def check_budget(n_trees: Any, n_splits: Any, n_repeats: Any, seed: Any) -> None:
    """Trees >= 1, folds >= 2, repeats >= 1, seed in [0, 2**32 - 1]; else ConfigError."""
    check_int("n_trees", n_trees, min_value=1)
    check_int("n_splits", n_splits, min_value=2)
    check_int("n_repeats", n_repeats, min_value=1)
    check_int("seed", seed, min_value=0, max_value=SEED_MAX)


def _floats(values: Any) -> list[float | None]:
    return [None if not math.isfinite(float(v)) else float(v) for v in np.asarray(values).ravel()]




def analyse_dataset(
    data: ComponentData,
    *,
    n_trees: int,
    n_splits: int,
    n_repeats: int,
    seed: int,
    splits: Sequence[Split] = SPLITS,
    progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """Cross-validate the predictor on ``data`` and rank its components; a JSON-able dict.

    Parameters
    ----------
    data : ComponentData
        From :func:`~effdl_kit.data.load_component_data`.
    n_trees : int
        Trees of the random forest (>= 1).
    n_splits : int
        Cross-validation folds (>= 2).
    n_repeats : int
        Permutations per component (>= 1).
    seed : int
        Seeds the forest, the fold assignment and the permutations.
    splits : sequence of {"random", "grouped"}
        Which cross-validations to run.
    progress : callable, optional
        ``progress(done, total, message)`` after each step.

    Returns
    -------
    dict
        ``name, label, source, n_rows, n_groups, target, groups_col, load_report,
        component_groups, budget`` and

        - ``evaluations``: split -> ``{"n_splits", "folds"`` (records: fold, n_train, n_test,
          r2, mae, spearman, fit_time_s), ``"mean"``, ``"std"`` (r2, mae, spearman),
          ``"predictions"`` (``{"y_true", "y_pred", "fold"}``, out-of-fold)``}``;
        - ``importance``: ``{"names", "importances"`` (n_components x n_repeats, R² drop),
          ``"baseline_score", "method", "n_repeats", "seed", "time_s"}`` for the forest
          refitted on all rows;
        - ``top``: :func:`~effdl_kit.inspection.top_components` records (k = all components).

    Raises
    ------
    ConfigError
        A bad budget, seed or split (before any work).
    """
    check_budget(n_trees, n_splits, n_repeats, seed)
    if isinstance(splits, str) or not splits:
        raise ConfigError("splits", splits, f"a non-empty sequence of {SPLITS}")
    for s in splits:
        check_choice("split", s, SPLITS)
    n_steps = len(splits) + 1
    label = DATASET_LABELS[data.name]
    out: dict[str, Any] = {
        "name": data.name, "label": label, "source": data.source,
        "n_rows": data.n_rows, "n_groups": data.n_groups, "target": data.target,
        "groups_col": data.groups_col, "load_report": data.load_report,
        "component_groups": dict(data.component_groups),
        "budget": {"n_trees": n_trees, "n_splits": n_splits, "n_repeats": n_repeats,
                   "seed": seed},
        "evaluations": {},
    }
    for i, split in enumerate(splits):
        if progress is not None:
            progress(i, n_steps, f"{label}: {split} {n_splits}-fold CV")
        ev = evaluate_predictor(make_predictor(data, n_trees=n_trees, seed=seed), data.frame,
                                split=split, n_splits=n_splits, seed=seed,
                                **data.eval_kwargs())
        preds = ev.predictions
        out["evaluations"][split] = {
            "n_splits": n_splits,
            "folds": records(ev.folds),
            "mean": ev.mean,
            "std": ev.std,
            "predictions": {"y_true": _floats(preds["y_true"]),
                            "y_pred": _floats(preds["y_pred"]),
                            "fold": [int(f) for f in preds["fold"]]},
        }
    if progress is not None:
        progress(len(splits), n_steps, f"{label}: permutation importance ({n_repeats} repeats)")
    t0 = time.perf_counter()
    X, y = data.xy()
    model = make_predictor(data, n_trees=n_trees, seed=seed).fit(X, y)
    groups = model.named_steps["encoder"].feature_groups_
    imp = permutation_importance(model, X, y, n_repeats=n_repeats, random_state=seed,
                                 groups=groups)
    out["importance"] = {
        "names": [str(n) for n in imp.feature_names],
        "importances": [[float(v) for v in row] for row in imp.importances],
        "baseline_score": float(imp.baseline_score),
        "method": str(imp.method),
        "n_repeats": int(imp.n_repeats),
        "seed": seed,
        "time_s": time.perf_counter() - t0,
    }
    top = importance_frame(out, k=len(groups))
    out["top"] = records(top.reset_index())
    if progress is not None:
        progress(n_steps, n_steps, f"{label}: done")
    return out


def importance_frame(result: Mapping[str, Any], k: int = TOP_K,
                     confidence: float = CONFIDENCE) -> pd.DataFrame:
    """Top-``k`` components of one dataset's result, ranked, with CIs and their group.

    Recomputed from the stored ``importances`` (n_components x n_repeats) with
    :func:`~effdl_kit.inspection.top_components`; a ``group`` column names the component's
    EfficientDL group.
    """
    imp = result["importance"]
    frame = top_components({"importances": np.asarray(imp["importances"], dtype=np.float64),
                            "feature_names": list(imp["names"])}, k=k, confidence=confidence)
    groups = result.get("component_groups", {})
    frame.insert(1, "group", [groups.get(n, "") for n in frame["name"]])
    return frame


def load_results(out_dir: str | Path) -> dict[str, Any]:
    """The payload of ``results.json`` in ``out_dir``.

    Raises
    ------
    DataError
        No or malformed ``results.json``.
    """
    def check(payload: dict[str, Any]) -> None:
        if not payload["datasets"]:
            raise ValueError("no dataset results")
        for res in payload["datasets"].values():
            missing = {"evaluations", "importance", "label", "target"} - set(res)
            if missing:
                raise KeyError(f"dataset entry lacks {sorted(missing)}")

    return read_results(out_dir, NAME, required=("datasets",), check=check)


def metrics_table(results: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """One row per (dataset, split): rows, groups, folds, R²/MAE/Spearman mean and std."""
    rows: list[dict[str, Any]] = []
    for res in results.values():
        for split, ev in res["evaluations"].items():
            row: dict[str, Any] = {"dataset": res["label"], "split": split,
                                   "rows": res["n_rows"], "groups": res["n_groups"],
                                   "folds": ev["n_splits"]}
            for key, title in (("r2", "R²"), ("mae", "MAE"), ("spearman", "Spearman")):
                row[f"{title} mean"] = ev["mean"][key]
                row[f"{title} std"] = ev["std"][key]
            rows.append(row)
    return pd.DataFrame(rows)


def top_table(results: Mapping[str, Mapping[str, Any]], k: int = TOP_K) -> pd.DataFrame:
    """Top-``k`` components per dataset with their mean R² drop and 95 % CI."""
    frames = []
    for res in results.values():
        top = importance_frame(res, k=k).reset_index()
        top.insert(0, "dataset", res["label"])
        frames.append(top[["dataset", "rank", "name", "group", "mean", "ci_low", "ci_high"]])
    table = pd.concat(frames, ignore_index=True)
    return table.rename(columns={"name": "component", "mean": "R² drop"})
