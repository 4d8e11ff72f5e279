"""Per-module latency predictors (LR, MLP, RF, MEDN), their metrics, and auto-selection.

Each module type gets its own predictors over its features (sampling + measurable +
inferable parameters, :func:`~effdl_kit.data.latency_features`). The scikit-learn models
see signed-log, standardised inputs and fit the log-latency (a
``TransformedTargetRegressor``), like MEDN, so that all four optimise relative error.

Metrics (the field's convention, from nn-Meter): ``acc5/acc10/acc15`` = share of points with
``|ŷ - y| / y <= 5/10/15 %``; ``r2`` (on latency), ``r2_log`` (on log-latency); ``rmspe``
(root mean squared percentage error, a fraction); prediction time per sample (µs) and
serialised (pickled) size (bytes).

Auto-selection (:func:`auto_select`, the fact sheet's reading of the paper's Algorithm 1),
per module type: keep the models within ``tol_acc`` of the best accuracy, among them those
within ``tol_r2`` of the best R², and pick the fastest (``prefer="time"``) or the smallest
(``prefer="space"``). Overall metrics are sample-weighted means over module types.
"""

from __future__ import annotations

import math
import pickle
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from effdl_kit._core.errors import ConfigError, DataError
from effdl_kit._core.rng import SEED_MAX
from effdl_kit._core.types import ProgressFn
from effdl_kit._core.validate import check_choice, check_float, check_int

from ._latency_splits import LATENCY_SPLITS, SPLITTERS, LatencySplit, split_rows_of

__all__ = [
    "ACC_KEYS",
    "LATENCY_BUDGETS",
    "MODEL_KINDS",
    "AutoSelection",
    "LatencyEvaluation",
    "auto_select",
    "evaluate_latency_models",
    "fit_latency_models",
    "latency_metrics",
    "make_latency_model",
    "predict_model_latency",
    "signed_log",
]

MODEL_KINDS: tuple[str, ...] = ("lr", "mlp", "rf", "medn")
ACC_KEYS: tuple[str, ...] = ("acc5", "acc10", "acc15")
_DELTAS = {"acc5": 0.05, "acc10": 0.10, "acc15": 0.15}
#: model hyperparameters per scale (smoke: seconds for all eight module types)
LATENCY_BUDGETS: dict[str, dict[str, dict[str, Any]]] = {
    "smoke": {"lr": {}, "mlp": {"max_iter": 80}, "rf": {"n_estimators": 10},
              "medn": {"epochs": 20}},
    "small": {"lr": {}, "mlp": {"max_iter": 600}, "rf": {"n_estimators": 200},
              "medn": {"epochs": 300}},
    "paper": {"lr": {}, "mlp": {"max_iter": 2000}, "rf": {"n_estimators": 500},
              "medn": {"epochs": 1000}},
}


def signed_log(x: Any) -> np.ndarray:
    """``sign(x) * log1p(|x|)``, elementwise (inputs spanning orders of magnitude)."""
    a = np.asarray(x, dtype=np.float64)
    return np.sign(a) * np.log1p(np.abs(a))


def make_latency_model(kind: str, *, random_state: int = 0, **params: Any) -> Any:
    """An unfitted latency predictor.

    Parameters
    ----------
    kind : {"lr", "mlp", "rf", "medn"}
        Linear regression, scikit-learn's MLP (64, 32), random forest, or :class:`MEDN`.
    random_state : int
        Seed (MLP, RF, MEDN).
    **params
        Hyperparameters of the underlying model (``LinearRegression``, ``MLPRegressor``,
        ``RandomForestRegressor`` or :class:`MEDN`).

    Returns
    -------
    estimator
        scikit-learn compatible (``fit`` / ``predict``; latencies must be > 0).
    """
    check_choice("kind", kind, MODEL_KINDS)
    check_int("random_state", random_state, min_value=0, max_value=SEED_MAX)
    if kind == "medn":
        from effdl_kit.models._medn import MEDN

        try:
            return MEDN(random_state=random_state, **params)
        except TypeError as exc:
            raise ConfigError("params", sorted(params), f"MEDN parameters ({exc})") from None
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.linear_model import LinearRegression
    from sklearn.neural_network import MLPRegressor
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    try:
        if kind == "lr":
            reg: Any = LinearRegression(**params)
        elif kind == "mlp":
            reg = MLPRegressor(**{"hidden_layer_sizes": (64, 32), "max_iter": 600,
                                  "learning_rate_init": 3e-3, "random_state": random_state,
                                  **params})
        else:
            reg = RandomForestRegressor(**{"n_estimators": 200, "min_samples_leaf": 1,
                                           "random_state": random_state, "n_jobs": 1,
                                           **params})
    except TypeError as exc:
        raise ConfigError("params", sorted(params), f"{kind} parameters ({exc})") from None
    # validate=True: NaN/inf inputs are refused (the forest would otherwise accept NaN)
    steps: list[tuple[str, Any]] = []
    if kind == "rf":
        steps.append(("check", FunctionTransformer(validate=True)))
    else:
        steps += [("log", FunctionTransformer(signed_log, validate=True)),
                  ("scale", StandardScaler())]
    steps.append((kind, reg))
    return TransformedTargetRegressor(regressor=Pipeline(steps), func=np.log,
                                      inverse_func=np.exp, check_inverse=False)


def latency_metrics(y_true: Any, y_pred: Any) -> dict[str, float]:
    """acc5/acc10/acc15, r2, r2_log and rmspe of latency predictions.

    Parameters
    ----------
    y_true, y_pred : array-like, shape (n,)
        Measured (> 0) and predicted latencies.

    Raises
    ------
    DataError
        Empty, mismatched, non-finite or non-positive measured values.
    """
    y = np.asarray(y_true, dtype=np.float64).ravel()
    p = np.asarray(y_pred, dtype=np.float64).ravel()
    if y.size == 0 or y.shape != p.shape:
        raise DataError(f"latency_metrics needs two arrays of the same non-zero length, got "
                        f"{y.shape} and {p.shape}")
    if not np.all(np.isfinite(y)) or np.any(y <= 0):
        raise DataError("measured latencies must be finite and > 0")
    rel = np.abs(p - y) / y
    out = {k: float(np.mean(rel <= d + 1e-12)) for k, d in _DELTAS.items()}
    out["r2"] = _r2(y, p)
    with np.errstate(divide="ignore", invalid="ignore"):
        lp = np.log(np.where(p > 0, p, np.nan))
    out["r2_log"] = _r2(np.log(y), lp) if np.all(np.isfinite(lp)) else float("nan")
    out["rmspe"] = float(np.sqrt(np.mean(((p - y) / y) ** 2)))
    return out


def _r2(y: np.ndarray, p: np.ndarray) -> float:
    ss = float(np.sum((y - y.mean()) ** 2))
    if ss == 0:
        return float("nan")
    return float(1.0 - np.sum((y - p) ** 2) / ss)


@dataclass
class LatencyEvaluation:
    """What :func:`evaluate_latency_models` measured.

    Attributes
    ----------
    scores : DataFrame
        One row per (module_type, model, split) with split in {"val", "test",
        "test_loaded"} (test rows measured under a non-idle load level) and ``split_kind``
        how they were held out ("random", "grouped", "time"): ``n``, the metrics
        of :func:`latency_metrics`, ``predict_us`` (per sample), ``size_bytes``,
        ``fit_s``, and ``measurable`` (whether device-state features were used).
    predictions : DataFrame
        Test predictions: module_type, model, row (index in the input frame), load_level,
        y_true, y_pred.
    """

    scores: pd.DataFrame
    predictions: pd.DataFrame
    settings: dict[str, Any] = field(default_factory=dict)

    def table(self, split: str = "test") -> pd.DataFrame:
        """Scores of one split, indexed by (module_type, model)."""
        return self.scores[self.scores["split"] == split].set_index(["module_type", "model"])


def _predict_us(model: Any, X: pd.DataFrame, repeats: int) -> float:
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        model.predict(X)
        best = min(best, time.perf_counter() - t0)
    return 1e6 * best / max(len(X), 1)


def evaluate_latency_models(
    df: pd.DataFrame,
    *,
    module_types: Sequence[str] | None = None,
    kinds: Sequence[str] = MODEL_KINDS,
    measurable: bool = True,
    inferable: bool = True,
    split: LatencySplit = "random",
    seed: int = 0,
    val_size: float = 0.2,
    test_size: float = 0.2,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    timing_repeats: int = 3,
    progress: ProgressFn | None = None,
) -> LatencyEvaluation:
    """Fit every model kind on every module type and score it on held-out rows.

    Per module type the ok rows are split (``split``: at random with ``seed``, by sampling
    configuration, or in time blocks; :func:`~effdl_kit.models.split_latency_rows`) into
    train / validation / test (60/20/20 by default); each model is fitted on the training
    rows and scored on the validation and test rows, and on the test rows measured under
    background load.

    Parameters
    ----------
    df : DataFrame
        A latency dataset (:func:`~effdl_kit.data.load_latency_dataset`).
    module_types : sequence of str, optional
        Default: every type present in ``df``, in :data:`~effdl_kit.measure.MODULE_TYPES`
        order.
    kinds : sequence of {"lr", "mlp", "rf", "medn"}
    measurable, inferable : bool
        Use the device-state / derived-count features (the ablation turns them off).
    split : {"random", "grouped", "time"}
        How the held-out rows are chosen (:data:`~effdl_kit.models.LATENCY_SPLITS`); the
        sides do not depend on ``measurable`` / ``inferable``, so an ablation compares the
        same test rows.
    params : mapping, optional
        kind -> hyperparameters for :func:`make_latency_model`.
    progress : callable, optional
        ``progress(done, total, message)`` after each fit.

    Raises
    ------
    ConfigError
        Bad kinds, sizes or seed (before any fitting).
    DataError
        A module type without enough rows.
    """
    from effdl_kit.data import latency_xy
    from effdl_kit.measure import MODULE_TYPES, normalize_module_type

    if isinstance(kinds, str) or not kinds:
        raise ConfigError("kinds", kinds, f"a non-empty sequence of {MODEL_KINDS}")
    for k in kinds:
        check_choice("kinds", k, MODEL_KINDS)
    check_choice("split", split, LATENCY_SPLITS)
    check_int("seed", seed, min_value=0, max_value=SEED_MAX)
    check_float("val_size", val_size, min_value=0.0, max_value=0.5, min_inclusive=False)
    check_float("test_size", test_size, min_value=0.0, max_value=0.5, min_inclusive=False)
    check_int("timing_repeats", timing_repeats, min_value=1)
    params = dict(params or {})
    for k in params:
        check_choice("params", k, MODEL_KINDS)
    if "module_type" not in df.columns:
        raise DataError("latency frame lacks the column 'module_type'")
    present = set(df["module_type"])
    types = ([normalize_module_type(m, "module_types") for m in module_types]
             if module_types is not None else [m for m in MODULE_TYPES if m in present])
    if not types:
        raise DataError("no module type to evaluate")
    rows: list[dict[str, Any]] = []
    preds: list[pd.DataFrame] = []
    total, done = len(types) * len(kinds), 0
    for mt in types:
        sub = df[(df["module_type"] == mt)
                 & ((df["status"] == "ok") if "status" in df.columns else True)]
        X, y = latency_xy(sub, mt, measurable=measurable, inferable=inferable)
        levels = (sub["load_level"].to_numpy() if "load_level" in sub.columns
                  else np.full(len(sub), "idle", dtype=object))
        row_ids = sub.index.to_numpy()
        tr, va, te = SPLITTERS[split](split_rows_of(sub, mt), seed, val_size, test_size)
        loaded = te[levels[te] != "idle"]
        for kind in kinds:
            model = make_latency_model(kind, random_state=seed, **params.get(kind, {}))
            t0 = time.perf_counter()
            model.fit(X.iloc[tr], y[tr])
            fit_s = time.perf_counter() - t0
            size = len(pickle.dumps(model))
            pus = _predict_us(model, X.iloc[te], timing_repeats)
            for side, idx in (("val", va), ("test", te), ("test_loaded", loaded)):
                if len(idx) == 0:
                    continue
                p = model.predict(X.iloc[idx])
                rows.append({"module_type": mt, "model": kind, "split": side, "n": len(idx),
                             **latency_metrics(y[idx], p), "predict_us": pus,
                             "size_bytes": size, "fit_s": fit_s, "measurable": measurable,
                             "inferable": inferable, "split_kind": split})
                if side == "test":
                    preds.append(pd.DataFrame({
                        "module_type": mt, "model": kind, "row": row_ids[idx],
                        "load_level": levels[idx], "y_true": y[idx], "y_pred": p}))
            done += 1
            if progress is not None:
                progress(done, total, f"{mt}: {kind} fitted")
    return LatencyEvaluation(
        scores=pd.DataFrame(rows),
        predictions=pd.concat(preds, ignore_index=True) if preds else pd.DataFrame(),
        settings={"kinds": list(kinds), "module_types": types, "measurable": measurable,
                  "inferable": inferable, "split": split, "seed": seed,
                  "val_size": val_size,
                  "test_size": test_size, "params": {k: dict(v) for k, v in params.items()}},
    )


def fit_latency_models(
    df: pd.DataFrame,
    *,
    module_types: Sequence[str] | None = None,
    kinds: Sequence[str] = MODEL_KINDS,
    measurable: bool = True,
    seed: int = 0,
    params: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, dict[str, Any]]:
    """Fit every kind on all ok rows of every module type: ``{module_type: {kind: model}}``."""
    from effdl_kit.data import latency_xy
    from effdl_kit.measure import MODULE_TYPES, normalize_module_type

    for k in kinds:
        check_choice("kinds", k, MODEL_KINDS)
    params = dict(params or {})
    present = set(df["module_type"]) if "module_type" in df.columns else set()
    types = ([normalize_module_type(m, "module_types") for m in module_types]
             if module_types is not None else [m for m in MODULE_TYPES if m in present])
    out: dict[str, dict[str, Any]] = {}
    for mt in types:
        X, y = latency_xy(df, mt, measurable=measurable)
        out[mt] = {k: make_latency_model(k, random_state=seed, **params.get(k, {})).fit(X, y)
                   for k in kinds}
    return out


@dataclass
class AutoSelection:
    """Result of :func:`auto_select`.

    Attributes
    ----------
    choices : DataFrame
        One row per module type: the chosen ``model`` and its reported metrics (``n``,
        ``acc``, ``r2``, ``predict_us``, ``size_bytes``), plus ``candidates`` (the models that
        passed both tolerances on the selection scores).
    overall : dict
        Sample-weighted ``acc`` and ``r2`` of the chosen models (and every acc key).
    baseline : dict
        The same for ``baseline`` (MEDN) on every module type.
    gain : dict
        ``acc_points`` and ``r2_points`` (overall minus baseline, in percentage points), and
        the relative gains ``acc_rel_pct``, ``r2_rel_pct``.
    settings : dict
        The arguments.
    """

    choices: pd.DataFrame
    overall: dict[str, float]
    baseline: dict[str, float]
    gain: dict[str, float]
    settings: dict[str, Any] = field(default_factory=dict)


def _weighted(rows: pd.DataFrame, keys: Sequence[str]) -> dict[str, float]:
    w = rows["n"].to_numpy(dtype=float)
    return {k: float(np.sum(w * rows[k].to_numpy(dtype=float)) / np.sum(w)) for k in keys}


def auto_select(
    scores: pd.DataFrame,
    *,
    tol_acc: float = 0.01,
    tol_r2: float = 0.005,
    prefer: str = "time",
    acc: str = "acc10",
    baseline: str = "medn",
    select_split: str | None = "val",
    report_split: str | None = "test",
) -> AutoSelection:
    """Pick one model per module type and compare the overall result with ``baseline``.

    Parameters
    ----------
    scores : DataFrame
        :attr:`LatencyEvaluation.scores` (or any frame with module_type, model, n, the acc
        key, r2, predict_us, size_bytes; with a ``split`` column the two splits below are
        used, without one the same rows select and report).
    tol_acc : float
        Accuracy tolerance (a fraction: 0.01 = 1 point).
    tol_r2 : float
        R² tolerance.
    prefer : {"time", "space"}
        Among the models within both tolerances, the fastest (prediction time per sample) or
        the smallest (serialised size).
    acc : {"acc5", "acc10", "acc15"}
        The accuracy that selects (the headline: acc10).
    baseline : {"lr", "mlp", "rf", "medn"}
        The single model compared against (the paper: MEDN alone).
    select_split, report_split : str or None
        Which ``split`` rows select (validation, so the test rows stay unseen) and which
        report.

    Raises
    ------
    ConfigError
        A bad tolerance, preference, accuracy key or baseline.
    DataError
        Missing columns or splits, or the baseline missing for a module type.
    """
    check_float("tol_acc", tol_acc, min_value=0.0, max_value=1.0)
    check_float("tol_r2", tol_r2, min_value=0.0)
    check_choice("prefer", prefer, ("time", "space"))
    check_choice("acc", acc, ACC_KEYS)
    check_choice("baseline", baseline, MODEL_KINDS)
    need = {"module_type", "model", "n", acc, "r2", "predict_us", "size_bytes"}
    missing = sorted(need - set(scores.columns))
    if missing:
        raise DataError(f"scores lack the columns {missing}")
    if "split" in scores.columns and select_split is not None:
        sel = scores[scores["split"] == select_split]
        rep = scores[scores["split"] == (report_split or select_split)]
    else:
        sel = rep = scores
    if not len(sel) or not len(rep):
        raise DataError(f"no scores for split {select_split!r} / {report_split!r}")
    cost = "predict_us" if prefer == "time" else "size_bytes"
    rank = {k: i for i, k in enumerate(MODEL_KINDS)}
    choices: list[dict[str, Any]] = []
    base_rows: list[dict[str, Any]] = []
    rep_map: dict[tuple[str, str], dict[str, Any]] = {
        (str(r["module_type"]), str(r["model"])): {str(k): v for k, v in r.items()}
        for r in rep.to_dict(orient="records")}
    for mt_key, g in sel.groupby("module_type", sort=False):
        mt = str(mt_key)
        best_acc = float(g[acc].max())
        keep = g[g[acc] >= best_acc - tol_acc - 1e-12]
        r2 = keep["r2"].fillna(-np.inf)
        keep = keep[r2 >= float(r2.max()) - tol_r2 - 1e-12]
        keep = keep.assign(_rank=[rank.get(m, 99) for m in keep["model"]]).sort_values(
            [cost, "_rank"], kind="stable")
        chosen = str(keep["model"].iloc[0])
        if (mt, chosen) not in rep_map or (mt, baseline) not in rep_map:
            raise DataError(f"no {report_split!r} scores for {mt!r} ({chosen} / {baseline})")
        r = rep_map[(mt, chosen)]
        choices.append({"module_type": mt, "model": chosen, "n": int(r["n"]),
                        "acc": float(r[acc]), "r2": float(r["r2"]),
                        **{k: float(r[k]) for k in ACC_KEYS if k in r},
                        "predict_us": float(r["predict_us"]),
                        "size_bytes": int(r["size_bytes"]),
                        "candidates": ",".join(str(m) for m in keep["model"])})
        base_rows.append(rep_map[(mt, baseline)])
    table = pd.DataFrame(choices)
    keys = [acc, "r2", *[k for k in ACC_KEYS if k != acc and k in rep.columns]]
    overall = _weighted(table, keys)
    base_frame = pd.DataFrame(base_rows)
    base = _weighted(base_frame, keys)
    gain = {
        "acc_points": 100.0 * (overall[acc] - base[acc]),
        "r2_points": 100.0 * (overall["r2"] - base["r2"]),
        "acc_rel_pct": 100.0 * (overall[acc] - base[acc]) / base[acc] if base[acc] else math.nan,
        "r2_rel_pct": (100.0 * (overall["r2"] - base["r2"]) / abs(base["r2"])
                       if base["r2"] else math.nan),
    }
    return AutoSelection(
        choices=table, overall={"acc": overall[acc], **overall},
        baseline={"acc": base[acc], **base}, gain=gain,
        settings={"tol_acc": tol_acc, "tol_r2": tol_r2, "prefer": prefer, "acc": acc,
                  "baseline": baseline, "select_split": select_split,
                  "report_split": report_split},
    )


def predict_model_latency(
    model: Any,
    input_shape: Sequence[int],
    predictors: Mapping[str, Any],
    *,
    mem_available_mib: float,
    utilization_pct: float,
    load_avg_1m: float,
) -> tuple[float, pd.DataFrame]:
    """Whole-model latency as the sum of per-module predictions.

    Parameters
    ----------
    model : torch.nn.Module
        Run once with hooks (:func:`~effdl_kit.measure.module_specs_from_model`).
    input_shape : sequence of int
    predictors : mapping
        module type -> fitted predictor over :func:`~effdl_kit.data.latency_features` with
        measurable parameters.
    mem_available_mib, utilization_pct, load_avg_1m : float
        The device state to predict for (e.g. a :class:`~effdl_kit.measure.DeviceState`
        read now).

    Returns
    -------
    total_ms : float
        Sum of the predicted latencies of the covered calls.
    calls : DataFrame
        One row per leaf call: name, torch_type, module_type (None when not covered),
        predicted_ms (NaN when not covered), reason.
    """
    from effdl_kit.data import spec_feature_frame
    from effdl_kit.measure import module_specs_from_model

    calls = module_specs_from_model(model, input_shape)
    rows = []
    for c in calls:
        pred = float("nan")
        mt = c.spec.module_type if c.spec is not None else None
        reason = c.reason
        if c.spec is not None and mt in predictors:
            X = spec_feature_frame([c.spec], mem_available_mib=mem_available_mib,
                                   utilization_pct=utilization_pct, load_avg_1m=load_avg_1m)
            pred = float(predictors[str(mt)].predict(X)[0])
        elif c.spec is not None:
            reason = f"no predictor for {mt}"
        rows.append({"name": c.name, "torch_type": c.torch_type, "module_type": mt,
                     "predicted_ms": pred, "reason": reason})
    table = pd.DataFrame(rows)
    total = float(np.nansum(table["predicted_ms"])) if len(table) else 0.0
    return total, table
