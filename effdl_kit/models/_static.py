"""EfficientDL's static performance predictor: ``ComponentEncoder`` + random forest.

The predictor maps a configuration's system components to the Top-1 accuracy it reaches,
without training it. :func:`evaluate_predictor` measures it by K-fold cross-validation, either
over random folds or over folds grouped by architecture family: the authors' data holds many
near-duplicate rows (the same model reported several times), which make random folds
optimistic, so both are reported.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sklearn.base import clone
from sklearn.ensemble import RandomForestRegressor
from sklearn.metrics import mean_absolute_error, r2_score
from sklearn.model_selection import GroupKFold, KFold
from sklearn.pipeline import Pipeline

from effdl_kit._core.errors import ConfigError, DataError
from effdl_kit._core.validate import check_choice, check_int
from effdl_kit.data import (
    EFFICIENTDL_GROUP,
    EFFICIENTDL_ID_COLUMNS,
    EFFICIENTDL_TARGET,
    ComponentEncoder,
    efficientdl_xy,
)

__all__ = ["SPLITS", "PredictorEvaluation", "evaluate_predictor", "make_static_predictor"]

#: Cross-validation splits :func:`evaluate_predictor` accepts.
SPLITS: tuple[str, ...] = ("random", "grouped")
_METRICS: tuple[str, ...] = ("r2", "mae", "spearman")
_RF_DEFAULTS: dict[str, Any] = {"n_estimators": 300, "random_state": 0, "n_jobs": None}


def make_static_predictor(*, encoder: ComponentEncoder | None = None, **rf_params: Any) -> Pipeline:
    """Build the static predictor: a ``ComponentEncoder`` followed by a random forest.

    Parameters
    ----------
    encoder : ComponentEncoder, optional
        Default: ``ComponentEncoder(exclude_columns=EFFICIENTDL_ID_COLUMNS)``, which infers
        the column kinds and never uses the ``Architecture`` / ``Model`` identifiers.
    **rf_params
        Passed to :class:`sklearn.ensemble.RandomForestRegressor`; defaults
        ``n_estimators=300, random_state=0, n_jobs=None``.

    Returns
    -------
    sklearn.pipeline.Pipeline
        Steps ``("encoder", ...)`` and ``("forest", RandomForestRegressor)``.

    Raises
    ------
    ConfigError
        An unknown random-forest parameter, or ``encoder`` not a ``ComponentEncoder``.
    """
    allowed = sorted(RandomForestRegressor().get_params())
    for name in rf_params:
        if name not in allowed:
            raise ConfigError(f"rf_params[{name!r}]", rf_params[name], allowed)
    if encoder is not None and not isinstance(encoder, ComponentEncoder):
        raise ConfigError("encoder", encoder, "a ComponentEncoder or None")
    enc = (
        encoder if encoder is not None else ComponentEncoder(exclude_columns=EFFICIENTDL_ID_COLUMNS)
    )
    forest = RandomForestRegressor(**{**_RF_DEFAULTS, **rf_params})
    return Pipeline([("encoder", enc), ("forest", forest)])


@dataclass
class PredictorEvaluation:
    """Cross-validated quality of a predictor (one row per fold).

    Attributes
    ----------
    split : str
        ``"random"`` or ``"grouped"``.
    n_splits, seed : int
    target : str
    folds : pandas.DataFrame
        Columns ``fold, n_train, n_test, r2, mae, spearman, fit_time_s``.
    predictions : pandas.DataFrame
        Out-of-fold predictions, indexed like the input frame: ``fold, y_true, y_pred`` (and
        ``group`` for grouped splits).
    """

    split: str
    n_splits: int
    seed: int
    target: str
    folds: pd.DataFrame
    predictions: pd.DataFrame = field(repr=False)

    def to_frame(self) -> pd.DataFrame:
        """Return the per-fold metrics (a copy of :attr:`folds`)."""
        return self.folds.copy()

    @property
    def mean(self) -> dict[str, float]:
        """Mean over folds of ``r2``, ``mae`` and ``spearman``."""
        return {m: float(self.folds[m].mean()) for m in _METRICS}

    @property
    def std(self) -> dict[str, float]:
        """Sample standard deviation (ddof=1) over folds of ``r2``, ``mae``, ``spearman``."""
        return {m: float(self.folds[m].std(ddof=1)) for m in _METRICS}

    def summary(self) -> pd.DataFrame:
        """Return a frame indexed by metric with columns ``mean`` and ``std``."""
        return pd.DataFrame({"mean": self.mean, "std": self.std}).loc[list(_METRICS)]

    def __str__(self) -> str:
        m, s = self.mean, self.std
        parts = ", ".join(f"{k} {m[k]:.3f} ± {s[k]:.3f}" for k in _METRICS)
        return f"{self.split} {self.n_splits}-fold: {parts}"


def evaluate_predictor(
    pipeline: Any,
    df: pd.DataFrame,
    *,
    target: str = EFFICIENTDL_TARGET,
    split: str = "random",
    n_splits: int = 5,
    seed: int = 0,
    groups_col: str = EFFICIENTDL_GROUP,
    id_columns: Sequence[str] = EFFICIENTDL_ID_COLUMNS,
) -> PredictorEvaluation:
    """K-fold cross-validate a predictor on a component frame.

    The pipeline is cloned afresh for every fold (the encoder's vocabulary and ranges are
    learnt on the training fold only).

    Parameters
    ----------
    pipeline : estimator
        Unfitted (or fitted: it is cloned, never refitted in place) estimator with
        ``fit``/``predict`` taking a DataFrame, e.g. :func:`make_static_predictor`.
    df : pandas.DataFrame
        Features, the target column and, for grouped splits, the group column.
    target : str
        Target column.
    split : {"random", "grouped"}
        ``"random"``: shuffled :class:`~sklearn.model_selection.KFold`; ``"grouped"``:
        shuffled :class:`~sklearn.model_selection.GroupKFold` over ``groups_col`` (no group
        is in both a training and a test fold).
    n_splits : int
        Number of folds, >= 2 and at most the number of rows (random) or groups (grouped).
    seed : int
        Seed of the fold assignment.
    groups_col : str
        Group-label column (never a feature).
    id_columns : sequence of str
        Identifier columns removed from the features when present.

    Returns
    -------
    PredictorEvaluation

    Raises
    ------
    ConfigError
        Bad ``split``, ``n_splits``, ``seed`` or ``pipeline``.
    DataError
        Empty frame, missing target or group column, NaN target or group labels.
    """
    check_choice("split", split, SPLITS)
    check_int("n_splits", n_splits, min_value=2)
    check_int("seed", seed, min_value=0)
    if not (hasattr(pipeline, "fit") and hasattr(pipeline, "predict")):
        raise ConfigError("pipeline", pipeline, "an estimator with fit and predict")
    X, y, groups = efficientdl_xy(df, target=target, groups_col=groups_col, id_columns=id_columns)
    if split == "grouped":
        if groups is None:
            raise DataError(f"grouped split needs the group column {groups_col!r}; not in frame")
        if pd.isna(pd.Series(groups)).any():
            raise DataError(f"group column {groups_col!r} holds missing labels")
        n_max = len(pd.unique(pd.Series(groups)))
        what = f"groups in {groups_col!r}"
    else:
        n_max = len(X)
        what = "rows"
    if n_splits > n_max:
        raise ConfigError(
            "n_splits", n_splits, f"an integer in [2, {n_max}] (the number of {what})"
        )

    if split == "grouped":
        folds_iter = GroupKFold(n_splits, shuffle=True, random_state=seed).split(X, y, groups)
    else:
        folds_iter = KFold(n_splits, shuffle=True, random_state=seed).split(X, y)
    rows: list[dict[str, Any]] = []
    pred = np.full(len(y), np.nan)
    fold_of = np.full(len(y), -1, dtype=np.int64)
    for k, (tr, te) in enumerate(folds_iter):
        est = clone(pipeline)
        t0 = time.perf_counter()
        est.fit(X.iloc[tr], y[tr])
        fit_time = time.perf_counter() - t0
        p = np.asarray(est.predict(X.iloc[te]), dtype=np.float64)
        pred[te] = p
        fold_of[te] = k
        rho = spearmanr(y[te], p).statistic if len(te) > 1 else np.nan
        rows.append(
            {
                "fold": k,
                "n_train": len(tr),
                "n_test": len(te),
                "r2": float(r2_score(y[te], p)) if len(te) > 1 else np.nan,
                "mae": float(mean_absolute_error(y[te], p)),
                "spearman": float(rho),
                "fit_time_s": fit_time,
            }
        )
    predictions = pd.DataFrame({"fold": fold_of, "y_true": y, "y_pred": pred}, index=df.index)
    if groups is not None and split == "grouped":
        predictions["group"] = groups
    return PredictorEvaluation(
        split=split,
        n_splits=n_splits,
        seed=seed,
        target=target,
        folds=pd.DataFrame(rows),
        predictions=predictions,
    )
