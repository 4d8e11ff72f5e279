"""Permutation importance, with a numba fast path for fitted scikit-learn regression trees/forests.

``permutation_importance`` follows :func:`sklearn.inspection.permutation_importance`: the
importance of a column (or of a group of columns) is the drop of the score when the column's
values are shuffled across rows, repeated ``n_repeats`` times. It reproduces scikit-learn's
permutation scheme exactly (one seed drawn from ``random_state`` for all columns; the row
shuffle is applied cumulatively across repeats), so for the same ``random_state`` both give the
same permutations and therefore the same scores, up to float rounding.

Pipelines
---------
For a :class:`sklearn.pipeline.Pipeline` the transform steps run **once** on ``X``; the
permutation happens on the *encoded* matrix the final estimator sees, and ``groups`` refers to
encoded column indices. Permuting all encoded columns of one raw column together with the same
row permutation is the same as permuting the raw column (transforms act row by row), so a
multi-hot component is scored as one by passing its encoded columns as one group.

Fast path
---------
For a fitted ``RandomForestRegressor``, ``ExtraTreesRegressor`` or ``DecisionTreeRegressor``
(single output) the trees are flattened into arrays and the permuted predictions are computed
by numba kernels (:mod:`effdl_kit.inspection._fast`): a (tree, sample) pair whose baseline path
never tests the permuted group keeps its baseline leaf and is not re-traversed, and the
repeats of a one-column group are walked together, sharing the nodes their paths share.
Any other estimator goes through the generic path (``estimator.predict`` on each permuted
matrix).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.ensemble import ExtraTreesRegressor, RandomForestRegressor
from sklearn.exceptions import NotFittedError
from sklearn.metrics import check_scoring
from sklearn.pipeline import Pipeline
from sklearn.tree import DecisionTreeRegressor
from sklearn.utils import Bunch
from sklearn.utils.validation import check_is_fitted

from effdl_kit._core import ConfigError, DataError
from effdl_kit._core.rng import SEED_MAX
from effdl_kit.inspection._fast import fast_permuted_predictions

__all__ = ["FAST_ESTIMATORS", "METHODS", "permutation_importance", "top_components"]

METHODS = ("auto", "fast", "generic")
FAST_ESTIMATORS = (RandomForestRegressor, ExtraTreesRegressor, DecisionTreeRegressor)
_FAST_SCORES = (
    "r2",
    "neg_mean_squared_error",
    "neg_root_mean_squared_error",
    "neg_mean_absolute_error",
)
_INT32_MAX = int(np.iinfo(np.int32).max)

Method = Literal["auto", "fast", "generic"]
RandomStateLike = int | np.random.RandomState | np.random.Generator | None


# ----------------------------------------------------------------------------------------------
# validation


def _resolve_estimator(estimator: Any, X: Any) -> tuple[Any, Any, list[str] | None]:
    """Split a Pipeline into (final estimator, encoded X, encoded names); check it is fitted."""
    names: list[str] | None = None
    final = estimator
    if isinstance(estimator, Pipeline):
        final = estimator.steps[-1][1]
        if final is None or final == "passthrough":
            raise ConfigError("estimator", estimator, "a Pipeline ending in an estimator")
    if not hasattr(final, "predict"):
        raise ConfigError("estimator", type(final).__name__, "a fitted estimator with predict")
    try:
        check_is_fitted(final)
    except NotFittedError:
        raise ConfigError("estimator", type(final).__name__, "a fitted estimator") from None
    if isinstance(estimator, Pipeline) and len(estimator.steps) > 1:
        head = estimator[:-1]
        X = head.transform(X)
        try:
            names = [str(s) for s in head.get_feature_names_out()]
        except (AttributeError, ValueError, TypeError, NotFittedError):
            names = None
    if hasattr(X, "toarray"):  # scipy sparse output of an encoder
        X = X.toarray()
    return final, X, names


def _as_matrix(X: Any) -> Any:
    if isinstance(X, pd.DataFrame):
        return X
    arr = np.asarray(X)
    if arr.ndim != 2:
        raise DataError(f"X must be 2-D (n_samples, n_features); got shape {arr.shape}")
    return arr


def _check_y(y: Any, n_samples: int) -> np.ndarray:
    if y is None:
        raise ConfigError("y", None, "an array-like of n_samples targets")
    y_arr = np.asarray(y)
    if y_arr.ndim == 2 and y_arr.shape[1] == 1:
        y_arr = y_arr.ravel()
    if y_arr.ndim != 1:
        raise DataError(f"y must be 1-D; got shape {y_arr.shape}")
    if y_arr.shape[0] != n_samples:
        raise ConfigError("y", f"{y_arr.shape[0]} rows", f"as many rows as X ({n_samples})")
    if y_arr.dtype.kind in "fc" and not np.all(np.isfinite(y_arr)):
        bad = int(np.count_nonzero(~np.isfinite(y_arr)))
        raise DataError(f"y holds {bad} NaN/inf value(s); drop or impute those rows first")
    if y_arr.dtype.kind == "O" and pd.isna(y_arr).any():
        raise DataError("y holds missing values; drop or impute those rows first")
    return y_arr


def _check_groups(
    groups: Mapping[Any, Sequence[int]] | None, n_cols: int, col_names: list[str]
) -> tuple[list[str], list[list[int]]]:
    if groups is None:
        return col_names, [[j] for j in range(n_cols)]
    if not isinstance(groups, Mapping) or len(groups) == 0:
        raise ConfigError("groups", groups, "a non-empty mapping name -> list of column indices")
    names: list[str] = []
    cols: list[list[int]] = []
    for name, idx in groups.items():
        if isinstance(idx, (str, bytes)) or not isinstance(idx, Sequence | np.ndarray):
            raise ConfigError(f"groups[{name!r}]", idx, "a list of column indices")
        members: list[int] = []
        for j in idx:
            if isinstance(j, (bool, np.bool_)) or not isinstance(j, numbers.Integral):
                raise ConfigError(f"groups[{name!r}]", j, f"integers in [0, {n_cols})")
            if not 0 <= int(j) < n_cols:
                raise ConfigError(f"groups[{name!r}]", int(j), f"column indices in [0, {n_cols})")
            if int(j) not in members:
                members.append(int(j))
        if not members:
            raise ConfigError(f"groups[{name!r}]", list(idx), "at least one column index")
        names.append(str(name))
        cols.append(members)
    return names, cols


def _n_threads(n_jobs: int | None) -> int:
    from effdl_kit.inspection._kernels import max_threads as kernel_max_threads

    max_threads = kernel_max_threads()
    if n_jobs is None or n_jobs < 0:
        return max_threads if n_jobs is None else max(1, max_threads + 1 + n_jobs)
    return min(n_jobs, max_threads)


def _fast_reason(final: Any, X: Any) -> str | None:
    """Why the fast path cannot be used (None when it can)."""
    if not isinstance(final, FAST_ESTIMATORS):
        return f"{type(final).__name__} is not one of " + ", ".join(
            c.__name__ for c in FAST_ESTIMATORS
        )
    if int(getattr(final, "n_outputs_", 1)) != 1:
        return "multi-output forests are not supported"
    if isinstance(X, pd.DataFrame):
        if not all(d.kind in "biuf" for d in X.dtypes):
            return "X has non-numeric columns"
    elif np.asarray(X).dtype.kind not in "biuf":
        return "X is not numeric"
    return None


# ----------------------------------------------------------------------------------------------
# permutations (scikit-learn's scheme)


def _draw_seed(random_state: RandomStateLike) -> int:
    """The one seed scikit-learn draws for all columns; None uses fresh OS entropy."""
    if random_state is None:
        return int(np.random.default_rng().integers(_INT32_MAX + 1))
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(_INT32_MAX + 1))
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(_INT32_MAX + 1))
    if (
        isinstance(random_state, numbers.Integral)
        and not isinstance(random_state, bool)
        and 0 <= int(random_state) <= SEED_MAX
    ):
        return int(np.random.RandomState(int(random_state)).randint(_INT32_MAX + 1))
    raise ConfigError(
        "random_state", random_state, "None, an int in [0, 2**32), a RandomState or a Generator"
    )


def permutation_indices(n_samples: int, n_repeats: int, seed: int) -> npt.NDArray[np.int64]:
    """Row indices of every repeat, as scikit-learn's routine permutes a column.

    scikit-learn shuffles an index array in place once per repeat and assigns
    ``col[:] = col[shuffled]`` to the already-permuted column, so repeat ``r`` sees
    ``X[perm_r, col]`` with ``perm_r = perm_{r-1}[shuffle_r]``.

    Returns
    -------
    perms : ndarray of int64, shape (n_repeats, n_samples)
    """
    rs = np.random.RandomState(seed)
    shuffling = np.arange(n_samples)
    current = np.arange(n_samples)
    perms = np.empty((n_repeats, n_samples), dtype=np.int64)
    for r in range(n_repeats):
        rs.shuffle(shuffling)
        current = current[shuffling]
        perms[r] = current
    return perms


# ----------------------------------------------------------------------------------------------
# scoring


class _FixedPredictions(RegressorMixin, BaseEstimator):
    """Stand-in estimator whose ``predict`` returns given predictions (for custom scorers)."""

    def __init__(self, predictions: np.ndarray | None = None) -> None:
        self.predictions = predictions

    def fit(self, X: Any, y: Any = None) -> _FixedPredictions:
        return self

    def predict(self, X: Any) -> np.ndarray:
        assert self.predictions is not None
        return self.predictions

    def __sklearn_is_fitted__(self) -> bool:
        return True


def _vector_scores(name: str, y: np.ndarray, preds: np.ndarray) -> np.ndarray:
    """Scores of predictions ``preds`` (..., n_samples) against ``y``, like sklearn.metrics."""
    resid = preds - y
    if name == "r2":
        num = np.einsum("...i,...i->...", resid, resid)
        centred = y - y.mean()
        den = float(centred @ centred)
        if den != 0.0:
            return np.asarray(1.0 - num / den)
        return np.where(num == 0.0, 1.0, 0.0)  # sklearn's force_finite convention
    if name == "neg_mean_squared_error":
        return np.asarray(-np.mean(resid**2, axis=-1))
    if name == "neg_root_mean_squared_error":
        return np.asarray(-np.sqrt(np.mean(resid**2, axis=-1)))
    if name == "neg_mean_absolute_error":
        return np.asarray(-np.mean(np.abs(resid), axis=-1))
    raise AssertionError(name)


def _fast_score_name(scoring: Any) -> str | None:
    if scoring is None:
        return "r2"  # RegressorMixin.score
    if isinstance(scoring, str) and scoring in _FAST_SCORES:
        return scoring
    return None


# ----------------------------------------------------------------------------------------------
# the generic engine (the fast one is in _fast)


def _permuted_copy(X: Any, base: Any, rows: np.ndarray, cols: list[int]) -> Any:
    if isinstance(X, pd.DataFrame):
        base.iloc[:, cols] = X.iloc[rows, cols].to_numpy()
        return base
    base[:, cols] = X[rows][:, cols]
    return base


def _generic_scores(
    final: Any, X: Any, y: np.ndarray, perms: np.ndarray, groups: list[list[int]],
    scorer: Callable[..., float], n_jobs: int | None,
) -> tuple[float, np.ndarray]:
    from joblib import Parallel, delayed  # type: ignore[import-untyped]

    baseline = float(scorer(final, X, y))

    def one_group(cols: list[int]) -> list[float]:
        Xp = X.copy()
        return [float(scorer(final, _permuted_copy(X, Xp, p, cols), y)) for p in perms]

    rows = Parallel(n_jobs=n_jobs)(delayed(one_group)(cols) for cols in groups)
    return baseline, np.asarray(rows, dtype=np.float64).reshape(len(groups), perms.shape[0])


# ----------------------------------------------------------------------------------------------
# public API


def permutation_importance(
    estimator: Any,
    X: Any,
    y: Any,
    *,
    scoring: str | Callable[..., float] | None = None,
    n_repeats: int = 5,
    random_state: RandomStateLike = None,
    groups: Mapping[Any, Sequence[int]] | None = None,
    n_jobs: int | None = None,
    method: Method = "auto",
) -> Bunch:
    """Permutation importance of each column, or of each group of columns.

    Parameters
    ----------
    estimator : fitted estimator or Pipeline
        For a Pipeline the transform steps run once and the columns the final estimator sees
        are permuted (see the module docstring).
    X : array-like or DataFrame, shape (n_samples, n_features)
    y : array-like, shape (n_samples,)
        Targets; NaN/inf targets raise :class:`~effdl_kit.errors.DataError`.
    scoring : str, callable or None
        A scikit-learn scorer name or ``scorer(estimator, X, y)``; None uses the estimator's
        ``score`` (R² for regressors). On the fast path ``"r2"``, ``"neg_mean_squared_error"``,
        ``"neg_root_mean_squared_error"`` and ``"neg_mean_absolute_error"`` are computed
        vectorised; any other scorer is called once per permutation on the fast predictions.
    n_repeats : int, default 5
        Permutations per column (>= 1).
    random_state : int, RandomState, Generator or None
        Seeds the permutations exactly as scikit-learn does (one seed for all columns, shuffles
        cumulative across repeats). None draws fresh OS entropy (never the global RNG).
    groups : mapping name -> list of int, optional
        Columns (encoded columns for a Pipeline) permuted together and scored as one; result
        rows follow the mapping's order.
    n_jobs : int or None
        Threads for the numba kernels (None or -1: all), or joblib workers on the generic path.
    method : {"auto", "fast", "generic"}, default "auto"
        ``"fast"`` requires a fitted single-output RandomForestRegressor, ExtraTreesRegressor
        or DecisionTreeRegressor (else :class:`~effdl_kit.errors.ConfigError`); ``"auto"``
        uses it when possible and falls back to ``"generic"`` otherwise.

    Returns
    -------
    sklearn.utils.Bunch
        ``importances`` (n_rows, n_repeats) = baseline score - permuted score,
        ``importances_mean`` (n_rows,), ``importances_std`` (n_rows,) (population std, as
        scikit-learn), ``feature_names`` (row names: group names when ``groups`` is given),
        ``group_names`` (list or None), ``groups`` (name -> column indices, or None),
        ``baseline_score``, ``method`` (``"fast"`` or ``"generic"``), ``n_repeats``, ``seed``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import make_friedman1
    >>> from sklearn.ensemble import RandomForestRegressor
    >>> from sklearn.inspection import permutation_importance as sk_permutation_importance
    >>> X, y = make_friedman1(n_samples=200, n_features=6, random_state=0)
    >>> rf = RandomForestRegressor(n_estimators=20, random_state=0).fit(X, y)
    >>> res = permutation_importance(rf, X, y, n_repeats=3, random_state=0)
    >>> res.method, res.importances.shape
    ('fast', (6, 3))
    >>> ref = sk_permutation_importance(rf, X, y, n_repeats=3, random_state=0)
    >>> bool(np.allclose(res.importances, ref.importances, rtol=0, atol=1e-12))
    True
    >>> top_components(res, k=3)[["name", "mean"]].round(2)
         name  mean
    rank
    1      x3  0.68
    2      x1  0.41
    3      x0  0.33
    """
    if method not in METHODS:
        raise ConfigError("method", method, METHODS)
    if isinstance(n_repeats, bool) or not isinstance(n_repeats, numbers.Integral) or n_repeats < 1:
        raise ConfigError("n_repeats", n_repeats, "an int >= 1")
    if n_jobs is not None and (
        isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral) or n_jobs == 0
    ):
        raise ConfigError("n_jobs", n_jobs, "None or a non-zero int (-1: all cores)")
    if isinstance(scoring, (list, tuple, set, dict)):
        raise ConfigError("scoring", scoring, "one scorer name, a callable, or None")
    seed = _draw_seed(random_state)
    X_in = _as_matrix(X)
    n_samples = X_in.shape[0]
    y_arr = _check_y(y, n_samples)
    final, Xe, enc_names = _resolve_estimator(estimator, X_in)
    Xe = _as_matrix(Xe)
    n_cols = int(Xe.shape[1])
    n_in = getattr(final, "n_features_in_", None)
    if n_in is not None and int(n_in) != n_cols:
        raise DataError(f"X has {n_cols} columns but the estimator was fitted on {n_in}")
    if enc_names is None:
        if isinstance(Xe, pd.DataFrame):
            enc_names = [str(c) for c in Xe.columns]
        elif hasattr(final, "feature_names_in_"):
            enc_names = [str(c) for c in final.feature_names_in_]
        else:
            enc_names = [f"x{j}" for j in range(n_cols)]
    row_names, group_cols = _check_groups(groups, n_cols, enc_names)
    try:
        scorer = check_scoring(final, scoring=scoring)
    except (ValueError, TypeError) as exc:
        raise ConfigError("scoring", scoring, "a scikit-learn scorer name or callable") from exc

    reason = _fast_reason(final, Xe)
    if method == "fast" and reason is not None:
        raise ConfigError("method", "fast", f"'auto' or 'generic' ({reason})")
    use_fast = method != "generic" and reason is None
    perms = permutation_indices(n_samples, int(n_repeats), seed)

    if use_fast:
        X32 = np.ascontiguousarray(np.asarray(Xe, dtype=np.float32))
        base_pred, preds = fast_permuted_predictions(
            final, X32, perms, group_cols, _n_threads(n_jobs)
        )
        y_f = np.asarray(y_arr, dtype=np.float64)
        name = _fast_score_name(scoring)
        if name is not None:
            baseline = float(_vector_scores(name, y_f, base_pred))
            scores = _vector_scores(name, y_f, preds)
        else:
            proxy = _FixedPredictions()
            proxy.predictions = base_pred
            baseline = float(scorer(proxy, X32, y_arr))
            scores = np.empty(preds.shape[:2])
            for g in range(preds.shape[0]):
                for r in range(preds.shape[1]):
                    proxy.predictions = preds[g, r]
                    scores[g, r] = scorer(proxy, X32, y_arr)
    else:
        Xg = Xe.copy() if isinstance(Xe, pd.DataFrame) else np.asarray(Xe)
        baseline, scores = _generic_scores(final, Xg, y_arr, perms, group_cols, scorer, n_jobs)

    importances = baseline - np.asarray(scores, dtype=np.float64)
    return Bunch(
        importances_mean=importances.mean(axis=1),
        importances_std=importances.std(axis=1),
        importances=importances,
        feature_names=row_names,
        group_names=list(row_names) if groups is not None else None,
        groups=dict(zip(row_names, group_cols, strict=True)) if groups is not None else None,
        baseline_score=baseline,
        method="fast" if use_fast else "generic",
        n_repeats=int(n_repeats),
        seed=seed,
    )


def top_components(result: Mapping[str, Any], k: int = 5, *, confidence: float = 0.95) -> Any:
    """The ``k`` most important rows of a :func:`permutation_importance` result, ranked.

    Parameters
    ----------
    result : Bunch
        Output of :func:`permutation_importance` (or scikit-learn's, with ``feature_names``
        missing: rows are then named ``x0, x1, ...``).
    k : int, default 5
        How many rows to return (all rows if fewer).
    confidence : float, default 0.95
        Level of the two-sided Student-t confidence interval of the mean over repeats
        (``mean ± t * s / sqrt(n_repeats)``, ``s`` the sample std); NaN for one repeat.

    Returns
    -------
    pandas.DataFrame
        Index ``rank`` (1..k); columns ``name``, ``mean``, ``std`` (population std over
        repeats, as ``importances_std``), ``ci_low``, ``ci_high``, ``label``
        (``"name: mean ± std"``).
    """
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise ConfigError("k", k, "an int >= 1")
    if not (isinstance(confidence, float | int) and 0.0 < float(confidence) < 1.0):
        raise ConfigError("confidence", confidence, "a float in (0, 1)")
    if "importances" not in result:
        raise ConfigError("result", type(result).__name__, "a permutation_importance result")
    from scipy import stats

    imp = np.asarray(result["importances"], dtype=np.float64)
    if imp.ndim != 2:
        raise DataError(f"result['importances'] must be 2-D; got shape {imp.shape}")
    names = result.get("feature_names") or [f"x{j}" for j in range(imp.shape[0])]
    n_rep = imp.shape[1]
    mean = imp.mean(axis=1)
    std = imp.std(axis=1)
    if n_rep > 1:
        half = stats.t.ppf(0.5 + float(confidence) / 2, n_rep - 1) * imp.std(
            axis=1, ddof=1
        ) / math.sqrt(n_rep)
    else:
        half = np.full(imp.shape[0], np.nan)
    order = np.argsort(-mean, kind="stable")[: int(k)]
    frame = pd.DataFrame(
        {
            "name": [str(names[i]) for i in order],
            "mean": mean[order],
            "std": std[order],
            "ci_low": (mean - half)[order],
            "ci_high": (mean + half)[order],
        },
        index=pd.RangeIndex(1, len(order) + 1, name="rank"),
    )
    frame["label"] = [f"{n}: {m:.4g} ± {s:.2g}" for n, m, s in zip(
        frame["name"], frame["mean"], frame["std"], strict=True)]
    return frame
