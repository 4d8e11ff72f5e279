"""The ``efficientdl`` experiment: static predictor, random vs grouped CV, Top-5 components.

EfficientDL (arXiv 2410.14743), first half, on two system-component datasets:

``authors``
    The authors' ``dataset.json`` (1,658 trained models; not shipped with the kit, located by
    :func:`efficientdl_data_path`), cleaned by :func:`~effdl_kit.data.load_efficientdl`.
    Groups for grouped CV: the ``Architecture`` column.
``kit``
    The kit's own dataset ``data/components_cpu.jsonl`` (real trainings on this kind of CPU,
    located by :func:`kit_data_path`). Features: the components of the file's header
    ``space`` that take more than one value (numbers numeric; strings and bools
    categorical). Groups: the model family ``"cnn-d{depth}-c{base_channels}-k{kernel_size}"``.

For each dataset the random-forest predictor (:func:`~effdl_kit.models.make_static_predictor`)
is cross-validated under random and grouped folds (R², MAE, Spearman; mean ± std over folds,
out-of-fold predictions kept), refitted on all rows, and scored by permutation importance
with every component's encoded columns permuted together
(``groups=encoder.feature_groups_``); the Top-5 components come with Student-t confidence
intervals over the repeats.

Compute once, draw twice: :func:`run_efficientdl` writes everything to ``results.json``;
:func:`redraw` draws the figures and writes the tables from that file alone.

Budgets per scale (:data:`BUDGETS`): ``smoke`` 30 trees, 3 folds, 3 repeats (seconds);
``small`` 300 trees, 5 folds, 10 repeats (a couple of minutes on a 2-core CPU); ``paper``
500 trees, 10 folds, 30 repeats.
"""

from __future__ import annotations

import json
import math
import os
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from effdl_kit._core.errors import ConfigError, DataError, DatasetNotFoundError
from effdl_kit._core.io import atomic_write_text
from effdl_kit._core.validate import check_choice, check_executor, check_int, check_scale
from effdl_kit.experiments._efficientdl_search import (
    SearchSetup,
    compare_methods,
    run_alpha_beta_study,
    search_setup,
)
from effdl_kit.experiments._registry import (
    ExperimentSummary,
    make_summary,
    output_files,
    read_results,
    register,
)
from effdl_kit.reports import export_table, figure, paper_style_context, save_figure

if TYPE_CHECKING:
    from concurrent.futures import Executor

    from matplotlib.axes import Axes
    from sklearn.pipeline import Pipeline

__all__ = [
    "BUDGETS",
    "DATASETS",
    "DATASET_LABELS",
    "FIGURE_CONFIRM",
    "FIGURE_IMPORTANCE",
    "FIGURE_SCATTER",
    "FIGURE_SEARCH",
    "KIT_GROUP_COLUMN",
    "KIT_TARGET",
    "RESULTS_FILE",
    "SPLITS",
    "TABLE_CONFIRM",
    "TABLE_METRICS",
    "TABLE_OMEGA",
    "TABLE_SEARCH",
    "TABLE_TOP",
    "ComponentData",
    "SearchSetup",
    "analyse_dataset",
    "compare_methods",
    "efficientdl_data_path",
    "importance_frame",
    "kit_data_path",
    "kit_family",
    "kit_features",
    "load_component_data",
    "load_results",
    "make_predictor",
    "metrics_table",
    "plot_importance",
    "plot_predicted_vs_true",
    "redraw",
    "run_alpha_beta_study",
    "run_confirm",
    "run_efficientdl",
    "run_search",
    "search_setup",
    "top_table",
]

NAME = "efficientdl"
RESULTS_FILE = "results.json"
FIGURE_SCATTER = "efficientdl_pred_vs_true"
FIGURE_IMPORTANCE = "efficientdl_importance"
TABLE_METRICS = "efficientdl_metrics"
TABLE_TOP = "efficientdl_top5"
FIGURE_SEARCH = "efficientdl_search"
TABLE_SEARCH = "efficientdl_search"
TABLE_OMEGA = "efficientdl_omega"
FIGURE_CONFIRM = "efficientdl_confirm"
TABLE_CONFIRM = "efficientdl_confirm"
#: The two datasets, in the order they are reported.
DATASETS: tuple[str, ...] = ("authors", "kit")
DATASET_LABELS: dict[str, str] = {"authors": "authors' data", "kit": "kit's data"}
#: Cross-validation splits, in the order they are reported.
SPLITS: tuple[str, ...] = ("random", "grouped")
#: Target column of the kit's dataset.
KIT_TARGET = "top1"
#: Group column added to the kit's dataset (model family).
KIT_GROUP_COLUMN = "family"
#: Components recommended for optimisation (the paper's Top-5) and shown in the bar figure.
TOP_K = 5
SHOW_K = 10
CONFIDENCE = 0.95
#: Trees, folds and permutation repeats per scale.
BUDGETS: dict[str, dict[str, int]] = {
    "smoke": {"n_trees": 30, "n_splits": 3, "n_repeats": 3},
    "small": {"n_trees": 300, "n_splits": 5, "n_repeats": 10},
    "paper": {"n_trees": 500, "n_splits": 10, "n_repeats": 30},
}

ProgressFn = Callable[[int, int, str], None]


# ----------------------------------------------------------------------------- data


def efficientdl_data_path() -> Path:
    """Path of the authors' ``dataset.json``.

    Looked up under ``$EFFDL_RESEARCH_DATA`` (default: ``<repo>/../shared/research_data``) as
    ``efficientdl/dataset.json``. The file has no licence and is never copied into the kit.

    Raises
    ------
    DatasetNotFoundError
        The file is not there; the message says how to point the kit at it.
    """
    default = Path(__file__).resolve().parents[3] / "shared" / "research_data"
    base = Path(os.environ.get("EFFDL_RESEARCH_DATA", str(default)))
    path = base / "efficientdl" / "dataset.json"
    if not path.is_file():
        raise DatasetNotFoundError(
            "efficientdl", path,
            "set EFFDL_RESEARCH_DATA to the folder holding efficientdl/dataset.json "
            "(the authors' data of arXiv 2410.14743; it is not shipped with the kit)",
        )
    return path


def kit_data_path() -> Path:
    """Path of the kit's own component dataset ``data/components_cpu.jsonl``.

    Raises
    ------
    DatasetNotFoundError
        The file is missing from the checkout (it is not part of an installed wheel).
    """
    path = Path(__file__).resolve().parents[2] / "data" / "components_cpu.jsonl"
    if not path.is_file():
        raise DatasetNotFoundError(
            "components_cpu", path,
            "run from a source checkout of effdl-kit (data/ is not installed), or rebuild it "
            "with effdl_kit.data.build_component_dataset",
        )
    return path


def kit_features(space: Mapping[str, Sequence[Any]]) -> tuple[list[str], list[str]]:
    """The kit dataset's features: ``(numeric, categorical)`` component names.

    Parameters
    ----------
    space : mapping of str to sequence
        The dataset header's ``space`` (component -> the values it was drawn from).

    Returns
    -------
    numeric, categorical : list of str
        Components taking more than one value, in ``space`` order: all-number value lists are
        numeric, others (strings, bools) categorical.
    """
    numeric: list[str] = []
    categorical: list[str] = []
    for name, values in space.items():
        if len({json.dumps(v) for v in values}) < 2:
            continue
        is_num = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
        (numeric if is_num else categorical).append(name)
    return numeric, categorical


def kit_family(df: pd.DataFrame) -> pd.Series:
    """Model-family label ``"cnn-d{depth}-c{base_channels}-k{kernel_size}"`` per row."""
    missing = [c for c in ("depth", "base_channels", "kernel_size") if c not in df.columns]
    if missing:
        raise DataError(f"kit dataset lacks the columns {missing} needed for the model family")
    return pd.Series(
        [f"cnn-d{d}-c{c}-k{k}" for d, c, k in
         zip(df["depth"], df["base_channels"], df["kernel_size"], strict=True)],
        index=df.index, name=KIT_GROUP_COLUMN,
    )


@dataclass
class ComponentData:
    """One system-component dataset ready for the predictor.

    Attributes
    ----------
    name : {"authors", "kit"}
    frame : pandas.DataFrame
        Features, target and group column (identifiers too, for the authors' data).
    target, groups_col : str
    id_columns : tuple of str
        Columns never used as features.
    numeric, categorical, keyword : list of str or None
        Declared feature columns (None: inferred by the encoder, the authors' data).
    component_groups : dict of str to str
        Component -> EfficientDL group (model, training, data, hardware).
    source : str
        The file read.
    load_report : str
        Human-readable lines on what loading fixed or dropped.
    """

    name: str
    frame: pd.DataFrame
    target: str
    groups_col: str
    id_columns: tuple[str, ...]
    source: str
    load_report: str
    component_groups: dict[str, str] = field(default_factory=dict)
    numeric: list[str] | None = None
    categorical: list[str] | None = None
    keyword: list[str] | None = None

    @property
    def n_rows(self) -> int:
        """Rows in :attr:`frame`."""
        return len(self.frame)

    @property
    def n_groups(self) -> int:
        """Distinct group labels."""
        return int(self.frame[self.groups_col].nunique())

    def eval_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :func:`~effdl_kit.models.evaluate_predictor` for this data."""
        return {"target": self.target, "groups_col": self.groups_col,
                "id_columns": self.id_columns}

    def xy(self) -> tuple[pd.DataFrame, np.ndarray]:
        """Features and target (identifiers and the group column removed)."""
        from effdl_kit.data import efficientdl_xy

        X, y, _ = efficientdl_xy(self.frame, **self.eval_kwargs())
        return X, y


def load_component_data(name: str) -> ComponentData:
    """Load one of :data:`DATASETS` for the predictor.

    Raises
    ------
    ConfigError
        ``name`` is not in :data:`DATASETS`.
    DatasetNotFoundError
        Its file is missing.
    """
    check_choice("dataset", name, DATASETS)
    if name == "authors":
        from effdl_kit.data import (
            EFFICIENTDL_COMPONENTS,
            EFFICIENTDL_GROUP,
            EFFICIENTDL_ID_COLUMNS,
            EFFICIENTDL_TARGET,
            load_efficientdl,
        )

        path = efficientdl_data_path()
        df = load_efficientdl(path)
        report = df.attrs["load_report"]
        return ComponentData(
            name=name, frame=df, target=EFFICIENTDL_TARGET, groups_col=EFFICIENTDL_GROUP,
            id_columns=tuple(EFFICIENTDL_ID_COLUMNS), source=str(path),
            load_report=report.summary(),
            component_groups={c: g for g, cs in EFFICIENTDL_COMPONENTS.items() for c in cs},
        )
    from effdl_kit.data import COMPONENT_GROUPS, load_component_dataset

    path = kit_data_path()
    raw = load_component_dataset(path)
    header = raw.attrs.get("header") or {}
    space = header.get("space")
    if not isinstance(space, Mapping) or not space:
        raise DataError(f"{str(path)!r} has no component 'space' in its header")
    numeric, categorical = kit_features(space)
    missing = [c for c in (*numeric, *categorical, KIT_TARGET) if c not in raw.columns]
    if missing:
        raise DataError(f"{str(path)!r} lacks the columns {missing}")
    frame = raw[[*numeric, *categorical, KIT_TARGET]].copy()
    frame[KIT_GROUP_COLUMN] = kit_family(raw)
    n_all = len(load_component_dataset(path, only_ok=False))
    report = (
        f"{path}: {n_all} rows -> {len(frame)} rows kept "
        f"({n_all - len(frame)} failed trainings dropped)\n"
        f"  scale {header.get('scale')!r}, seed {header.get('seed')!r}, "
        f"created {header.get('created')!r}\n"
        f"  {len(numeric)} numeric components: {', '.join(numeric)}\n"
        f"  {len(categorical)} categorical components: {', '.join(categorical)}\n"
        f"  {frame[KIT_GROUP_COLUMN].nunique()} model families (groups)"
    )
    return ComponentData(
        name=name, frame=frame, target=KIT_TARGET, groups_col=KIT_GROUP_COLUMN, id_columns=(),
        source=str(path), load_report=report,
        component_groups={c: g for g, cs in COMPONENT_GROUPS.items() for c in cs},
        numeric=numeric, categorical=categorical, keyword=[],
    )


def make_predictor(data: ComponentData, *, n_trees: int, seed: int) -> Pipeline:
    """The static predictor (encoder + random forest) for ``data``."""
    from effdl_kit.data import ComponentEncoder
    from effdl_kit.models import make_static_predictor

    if data.numeric is None:
        encoder = ComponentEncoder(exclude_columns=[*data.id_columns, data.groups_col])
    else:
        encoder = ComponentEncoder(keyword_columns=data.keyword or [],
                                   numeric_columns=data.numeric,
                                   categorical_columns=data.categorical or [])
    return make_static_predictor(encoder=encoder, n_estimators=n_trees, random_state=seed)


# ----------------------------------------------------------------------------- compute


def _check_budget(n_trees: Any, n_splits: Any, n_repeats: Any, seed: Any) -> None:
    check_int("n_trees", n_trees, min_value=1)
    check_int("n_splits", n_splits, min_value=2)
    check_int("n_repeats", n_repeats, min_value=1)
    check_int("seed", seed, min_value=0, max_value=2**32 - 1)


def _floats(values: Any) -> list[float | None]:
    return [None if not math.isfinite(float(v)) else float(v) for v in np.asarray(values).ravel()]


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dicts of plain Python values at full precision (NaN/inf -> None)."""
    out: list[dict[str, Any]] = []
    for row in frame.to_dict(orient="records"):
        rec: dict[str, Any] = {}
        for k, v in row.items():
            if isinstance(v, np.generic):
                v = v.item()
            if isinstance(v, float) and not math.isfinite(v):
                v = None
            rec[str(k)] = v
        out.append(rec)
    return out


def analyse_dataset(
    data: ComponentData,
    *,
    n_trees: int,
    n_splits: int,
    n_repeats: int,
    seed: int,
    splits: Sequence[str] = SPLITS,
    progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """Cross-validate the predictor on ``data`` and rank its components; a JSON-able dict.

    Parameters
    ----------
    data : ComponentData
        From :func:`load_component_data`.
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
    from effdl_kit.inspection import permutation_importance
    from effdl_kit.models import evaluate_predictor

    _check_budget(n_trees, n_splits, n_repeats, seed)
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
            "folds": _records(ev.folds),
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
    out["top"] = _records(top.reset_index())
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
    from effdl_kit.inspection import top_components

    imp = result["importance"]
    frame = top_components({"importances": np.asarray(imp["importances"], dtype=np.float64),
                            "feature_names": list(imp["names"])}, k=k, confidence=confidence)
    groups = result.get("component_groups", {})
    frame.insert(1, "group", [groups.get(n, "") for n in frame["name"]])
    return frame


def run_search(data: ComponentData, *, scale: str, seed: int,
               progress: ProgressFn | None = None,
               executor: Executor | None = None) -> dict[str, Any]:
    """αβ-BO vs baselines on ``data``'s predictor, and the α/β/Ω ablation; a JSON-able dict.

    See :mod:`effdl_kit.experiments._efficientdl_search`. Seeds ``seed, seed + 1, ...``.
    ``executor`` (a ``concurrent.futures.Executor``, e.g. a Dask client's ``get_executor()``)
    runs the method comparison's (method, seed) jobs (see
    :func:`~effdl_kit.experiments._efficientdl_search.compare_methods`) and of the α/β/Ω
    ablation; the predictor fit runs in this process. A non-Executor raises ConfigError
    before any work.
    """
    from effdl_kit.experiments._efficientdl_search import (
        SEARCH_BUDGETS,
        ablation,
        compare_methods,
        search_setup,
    )

    check_scale(scale)
    check_executor(executor)
    b = SEARCH_BUDGETS[scale]
    t0 = time.perf_counter()
    setup = search_setup(data, n_trees=int(b["n_trees"]), n_repeats=int(b["n_repeats"]),
                         seed=seed, min_grid=int(b["min_grid"]))
    curves = compare_methods(setup, scale=scale,
                             seeds=[seed + i for i in range(int(b["seeds"]))],
                             progress=progress, executor=executor)
    abl = ablation(setup, scale=scale, executor=executor)
    return {"setup": setup.describe(), "budget": {k: (list(v) if isinstance(v, tuple) else v)
                                                  for k, v in b.items()},
            "curves": curves.to_dict(orient="list"), "ablation": abl.to_dict(orient="list"),
            "time_s": time.perf_counter() - t0}


def run_confirm(*, scale: str, seed: int, progress: ProgressFn | None = None
                ) -> dict[str, Any]:
    """Confirmation by real training against feedback-based AutoML; a JSON-able dict.

    See :mod:`effdl_kit.experiments._efficientdl_confirm` (kit predictor → Top-5 controllable
    components → αβ-BO → one training, against an Optuna TPE study that trains every trial).
    Seeds ``seed, seed + 1, ...`` (the scale's number of seeds).
    """
    from effdl_kit.experiments._efficientdl_confirm import (
        CONFIRM_BUDGETS,
        confirmation_summary,
        run_confirmation,
    )

    check_scale(scale)
    n = int(CONFIRM_BUDGETS[scale]["n_seeds"])
    t0 = time.perf_counter()
    frame = run_confirmation(scale=scale, seeds=[seed + i for i in range(n)],
                             progress=progress)
    summary = confirmation_summary(frame)
    return {"rows": json.loads(frame.to_json(orient="records")),
            "summary": json.loads(summary.reset_index().to_json(orient="records")),
            "time_s": time.perf_counter() - t0}


def run_efficientdl(scale: str, seed: int, out: Path, *,
                    executor: Executor | None = None) -> ExperimentSummary:
    """Static predictor on the authors' and the kit's data: CV, importance, Top-5.

    ``executor`` (a ``concurrent.futures.Executor``, e.g. a Dask client's ``get_executor()``)
    runs the search comparison's (method, seed) jobs; everything else runs in this process.
    """
    check_scale(scale)
    check_executor(executor)
    budget = BUDGETS[scale]
    _check_budget(budget["n_trees"], budget["n_splits"], budget["n_repeats"], seed)
    loaded: dict[str, ComponentData] = {}
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
        name: analyse_dataset(data, n_trees=budget["n_trees"], n_splits=budget["n_splits"],
                              n_repeats=budget["n_repeats"], seed=seed)
        for name, data in loaded.items()
    }
    payload: dict[str, Any] = {"experiment": NAME, "scale": scale, "seed": seed,
                               "budget": budget, "datasets": results, "skipped": skipped}
    search: dict[str, Any] | None = None
    if "authors" in loaded:  # the second half: αβ-BO on the authors' predictor
        search = run_search(loaded["authors"], scale=scale, seed=seed, executor=executor)
        payload["search"] = search
    confirmation = run_confirm(scale=scale, seed=seed)
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
        from effdl_kit.experiments._efficientdl_search import method_table

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


# ----------------------------------------------------------------------------- draw


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


def plot_predicted_vs_true(result: Mapping[str, Any], split: str, *, ax: Axes) -> Axes:
    """Scatter of out-of-fold predictions against the true target; the diagonal dashed."""
    ev = result["evaluations"][split]
    y = np.asarray(ev["predictions"]["y_true"], dtype=float)
    p = np.asarray(ev["predictions"]["y_pred"], dtype=float)
    ax.scatter(y, p, s=4, alpha=0.35, linewidths=0, color="C0" if split == "random" else "C1",
               rasterized=True)
    ok = np.isfinite(y) & np.isfinite(p)
    lo = float(min(y[ok].min(), p[ok].min())) if ok.any() else 0.0
    hi = float(max(y[ok].max(), p[ok].max())) if ok.any() else 1.0
    ax.plot([lo, hi], [lo, hi], ls="--", lw=0.8, color="0.3")
    m, s = ev["mean"], ev["std"]
    ax.text(0.03, 0.97, f"R² {m['r2']:.2f} ± {s['r2']:.2f}\nρ {m['spearman']:.2f}",
            transform=ax.transAxes, va="top", ha="left", fontsize="small")
    ax.set_title(f"{result['label']}, {split} {ev['n_splits']}-fold", fontsize="medium")
    ax.set_xlabel(f"true {result['target']}")
    ax.set_ylabel("predicted (out of fold)")
    return ax


def plot_importance(result: Mapping[str, Any], *, ax: Axes, show: int = SHOW_K,
                    highlight: int = TOP_K) -> Axes:
    """Horizontal bars of the ``show`` most important components, 95 % CI error bars.

    The first ``highlight`` bars (the recommended Top-k) are coloured (``C3``), the rest grey.
    """
    top = importance_frame(result, k=show)
    n = len(top)
    pos = np.arange(n)[::-1]
    mean = top["mean"].to_numpy()
    lo = np.nan_to_num(mean - top["ci_low"].to_numpy(), nan=0.0)
    hi = np.nan_to_num(top["ci_high"].to_numpy() - mean, nan=0.0)
    colors = ["C3" if r <= highlight else "0.7" for r in top.index]
    ax.barh(pos, mean, xerr=np.vstack([lo, hi]), color=colors, capsize=2,
            error_kw={"lw": 0.8})
    ax.set_yticks(pos, list(top["name"]))
    ax.axvline(0.0, lw=0.6, color="0.3")
    ax.set_xlabel("R² drop when permuted")
    ax.set_title(f"{result['label']}: Top-{highlight} highlighted", fontsize="medium")
    return ax


def redraw(out_dir: str | Path) -> list[Path]:
    """Draw the figures and write the tables from ``results.json`` only (no fitting).

    Returns
    -------
    list of Path
        Figures (scatter, importance, and search curves + ablation when the results hold the
        search half; PDF/SVG/PNG each), then tables (metrics, Top-5, and search methods, Ω
        sweep; TeX/Markdown/CSV each).
    """
    out = Path(out_dir)
    payload = load_results(out)
    results: dict[str, Any] = payload["datasets"]
    scale, seed = str(payload["scale"]), int(payload["seed"])
    provenance = {
        "experiment": NAME, "source": RESULTS_FILE, "budget": payload.get("budget"),
        "datasets": {n: r["source"] for n, r in results.items()},
        "skipped": payload.get("skipped", {}),
    }
    paths: list[Path] = []
    names = list(results)
    with paper_style_context():
        fig, axes = figure("double", aspect=0.8, nrows=len(names), ncols=len(SPLITS),
                           pyplot=False, squeeze=False)
        for i, name in enumerate(names):
            for j, split in enumerate(SPLITS):
                if split in results[name]["evaluations"]:
                    plot_predicted_vs_true(results[name], split, ax=axes[i, j])
                else:
                    axes[i, j].set_axis_off()
        paths += save_figure(fig, out / FIGURE_SCATTER, provenance=provenance, seed=seed,
                             scale=scale)
        fig, axes = figure("double", aspect=0.9, nrows=1, ncols=len(names), pyplot=False,
                           squeeze=False)
        for j, name in enumerate(names):
            plot_importance(results[name], ax=axes[0, j])
        paths += save_figure(fig, out / FIGURE_IMPORTANCE, provenance=provenance, seed=seed,
                             scale=scale)
    paths += export_table(
        metrics_table(results), out / TABLE_METRICS,
        caption=f"EfficientDL static predictor, random vs grouped CV ({scale} scale, "
                f"seed {seed}).",
        label="tab:efficientdl-metrics",
    )
    paths += export_table(
        top_table(results), out / TABLE_TOP,
        caption=f"Top-{TOP_K} components by permutation importance with 95-percent CIs "
                f"({scale} scale, seed {seed}).",
        label="tab:efficientdl-top5", float_format="{:.4f}",
    )
    if "search" in payload:
        paths += _redraw_search(payload["search"], out, provenance, seed=seed, scale=scale)
    if "confirmation" in payload:
        paths += _redraw_confirmation(payload["confirmation"], out, provenance, seed=seed,
                                      scale=scale)
    figs = [p for p in paths if p.suffix in (".pdf", ".svg", ".png")]
    return figs + [p for p in paths if p not in figs]


def _redraw_search(search: Mapping[str, Any], out: Path, provenance: Mapping[str, Any], *,
                   seed: int, scale: str) -> list[Path]:
    """Figures and tables of the search half (curves, ablation)."""
    from effdl_kit.experiments._efficientdl_search import (
        ablation_tables,
        method_table,
        plot_ablation,
        plot_search_curves,
    )

    curves = pd.DataFrame(search["curves"])
    abl = pd.DataFrame(search["ablation"])
    setup = search["setup"]
    prov = {**provenance, "search": {"components": setup["components"],
                                     "n_candidates": setup["n_candidates"]}}
    paths: list[Path] = []
    with paper_style_context():
        fig, axes = figure("double", aspect=0.45, nrows=1, ncols=2, pyplot=False,
                           squeeze=False)
        plot_search_curves(curves, ax=axes[0, 0])
        axes[0, 0].set_title(f"{setup['n_candidates']} candidates, "
                             f"{curves['seed'].nunique()} seeds", fontsize="medium")
        plot_ablation(abl, ax=axes[0, 1])
        axes[0, 1].set_title("αβ-BO ablation (Ω = 0.1)", fontsize="medium")
        paths += save_figure(fig, out / FIGURE_SEARCH, provenance=prov, seed=seed,
                             scale=scale)
    paths += export_table(
        method_table(curves), out / TABLE_SEARCH,
        caption=f"Best predicted Top-1 after {int(curves['iteration'].max())} predictor calls, "
                f"mean and std over seeds ({scale} scale).",
        label="tab:efficientdl-search", float_format="{:.4f}",
    )
    _, omega = ablation_tables(abl)
    paths += export_table(
        omega, out / TABLE_OMEGA,
        caption=f"αβ-BO with α = 0.54, β = 1.01: best predicted Top-1 by Ω ({scale} scale).",
        label="tab:efficientdl-omega", float_format="{:.4f}",
    )
    return paths


def _redraw_confirmation(conf: Mapping[str, Any], out: Path, provenance: Mapping[str, Any],
                         *, seed: int, scale: str) -> list[Path]:
    """Figure and table of the confirmation by training."""
    from effdl_kit.experiments._efficientdl_confirm import plot_confirmation

    frame = pd.DataFrame(conf["rows"])
    paths: list[Path] = []
    with paper_style_context():
        fig, axes = figure("single", aspect=0.75, pyplot=False, squeeze=False)
        plot_confirmation(frame, ax=axes[0, 0])
        paths += save_figure(fig, out / FIGURE_CONFIRM, provenance=provenance, seed=seed,
                             scale=scale)
    paths += export_table(
        pd.DataFrame(conf["summary"]), out / TABLE_CONFIRM,
        caption=f"EfficientDL's recommendation trained once vs an Optuna TPE study training "
                f"every trial: Top-1, difference (points) and wall-time ratio ({scale} scale).",
        label="tab:efficientdl-confirm", float_format="{:.3f}",
    )
    return paths


register(NAME, redraw=redraw)(run_efficientdl)
