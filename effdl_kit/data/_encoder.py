"""``ComponentEncoder``: system-component frames -> a float64 feature matrix.

Three kinds of columns, each encoded as the EfficientDL authors do, with the bookkeeping
permutation importance needs (which encoded columns belong to which component):

keyword (multi-valued text, ``"a,b,c"``)
    Multi-hot: one 0/1 column per token. Cells are split on commas, stripped and case-folded;
    the vocabulary is learnt in ``fit`` (tokens found in at least ``min_frequency`` rows,
    sorted); unknown tokens are ignored by ``transform``; a missing or empty cell is all zeros.
numeric
    ``numeric_transform="log_max"`` (default) learns ``min`` and ``max`` in ``fit`` and maps
    ``x -> log10((x + shift) / scale) / denominator``:

    - all values >= 1 (sizes, epochs, batch sizes): ``shift = 0, scale = 1,
      denominator = log10(max)``, exactly the authors' ``log10(x) / log10(max)``;
    - positive values, some below 1 (learning rates, similarities): ``shift = 0,
      scale = min, denominator = log10(max / min)``, i.e. min-max scaling in log space, so the
      column spans [0, 1] instead of the authors' negative, unbounded values;
    - values <= 0: ``shift = 1 - min, scale = 1, denominator = log10(max + shift)``.

    A zero denominator (constant column) becomes 1. Values below the fitted minimum are
    clipped to it. ``"none"`` passes the raw values through. Missing or non-finite values
    become ``numeric_fill`` (default -1.0, below the range of observed values) and, for
    columns that had missing values in ``fit``, a ``"<column>__missing"`` 0/1 indicator column
    follows the value column.
categorical (single-valued text)
    ``categorical_encoding="onehot"`` (default): one 0/1 column per category seen in at least
    ``min_frequency`` rows; unknown and missing values are all zeros. ``"ordinal"``: one column
    holding the category's position in the sorted vocabulary, ``-1`` for unknown/missing.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from effdl_kit._core.errors import ConfigError, DataError
from effdl_kit._core.validate import check_choice, check_float, check_int

__all__ = ["ComponentEncoder"]

_NUMERIC_TRANSFORMS = ("log_max", "none")
_CATEGORICAL_ENCODINGS = ("onehot", "ordinal")
_SPEC_FIELDS = ("keyword_columns", "numeric_columns", "categorical_columns")


def _missing(value: Any) -> bool:
    if value is None or value is pd.NA:
        return True
    return isinstance(value, float | np.floating) and math.isnan(value)


def _tokens(value: Any) -> list[str]:
    if _missing(value):
        return []
    out: list[str] = []
    for part in str(value).split(","):
        tok = " ".join(part.split()).casefold()
        if tok and tok not in out:
            out.append(tok)
    return out


def _category(value: Any) -> str | None:
    return None if _missing(value) else str(value)


class ComponentEncoder(TransformerMixin, BaseEstimator):
    """Encode system-component columns into a float64 matrix (multi-hot, log-scaled, one-hot).

    Parameters
    ----------
    keyword_columns, numeric_columns, categorical_columns : sequence of str or None
        Columns of each kind. A sequence declares them (``[]`` for none); ``None`` infers that
        kind among the columns not declared by the other two and not excluded: numeric dtype
        -> numeric; text whose non-missing values contain a comma somewhere -> keyword; other
        text -> categorical. Columns of ``X`` not used are ignored.
    exclude_columns : sequence of str or None
        Columns never inferred as features (e.g. identifiers); names absent from ``X`` are
        allowed here.
    min_frequency : int, default 1
        Keep a keyword token or category only if it occurs in at least this many rows.
    numeric_transform : {"log_max", "none"}, default "log_max"
        See the module docstring.
    numeric_fill : float, default -1.0
        Value written for missing numerics (before the indicator column).
    categorical_encoding : {"onehot", "ordinal"}, default "onehot"

    Attributes
    ----------
    keyword_columns_, numeric_columns_, categorical_columns_ : list of str
        The resolved columns of each kind.
    columns_ : list of str
        Encoded input columns in output order (the input frame's order).
    vocabularies_ : dict of str to list of str
        Keyword column -> its tokens (one output column each).
    categories_ : dict of str to list of str
        Categorical column -> its categories.
    numeric_stats_ : dict of str to dict
        Numeric column -> ``{"min", "max", "shift", "scale", "denominator", "indicator"}``.
    feature_groups_ : dict of str to list of int
        Input column (component) -> indices of its encoded columns; the lists partition
        ``range(n_features_out_)``.
    feature_names_out_ : ndarray of str
        ``"<col>=<token>"`` for keyword/one-hot columns, ``"<col>"`` for numeric and ordinal
        columns, ``"<col>__missing"`` for indicators.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when fitted on a DataFrame with string column names.
    n_features_out_ : int

    Examples
    --------
    >>> import pandas as pd
    >>> X = pd.DataFrame({"norm": ["bn,ln", "bn", None], "epochs": [10, 100, 300]})
    >>> enc = ComponentEncoder().fit(X)
    >>> list(enc.get_feature_names_out())
    ['norm=bn', 'norm=ln', 'epochs']
    """

    def __init__(
        self,
        keyword_columns: Sequence[str] | None = None,
        numeric_columns: Sequence[str] | None = None,
        categorical_columns: Sequence[str] | None = None,
        *,
        exclude_columns: Sequence[str] | None = None,
        min_frequency: int = 1,
        numeric_transform: str = "log_max",
        numeric_fill: float = -1.0,
        categorical_encoding: str = "onehot",
    ) -> None:
        self.keyword_columns = keyword_columns
        self.numeric_columns = numeric_columns
        self.categorical_columns = categorical_columns
        self.exclude_columns = exclude_columns
        self.min_frequency = min_frequency
        self.numeric_transform = numeric_transform
        self.numeric_fill = numeric_fill
        self.categorical_encoding = categorical_encoding

    # ------------------------------------------------------------------ helpers
    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.string = True
        tags.input_tags.categorical = True
        tags.transformer_tags.preserves_dtype = ["float64"]
        return tags

    def _as_frame(self, X: Any, *, fitting: bool) -> pd.DataFrame:
        if isinstance(X, pd.DataFrame):
            frame = X
        else:
            if hasattr(X, "toarray") or hasattr(X, "tocsr"):
                raise TypeError("ComponentEncoder does not accept sparse input")
            arr = np.asarray(X, dtype=object) if not isinstance(X, np.ndarray) else X
            if arr.ndim != 2:
                raise ValueError(
                    f"Expected 2D array, got {arr.ndim}D array instead. Reshape your data "
                    "with array.reshape(-1, 1) for a single feature or array.reshape(1, -1) "
                    "for a single sample."
                )
            frame = pd.DataFrame(arr, columns=[f"x{i}" for i in range(arr.shape[1])])
            if arr.dtype != object:
                frame = frame.infer_objects()
            if not fitting and arr.shape[1] != self.n_features_in_:
                raise ValueError(
                    f"X has {arr.shape[1]} features, but ComponentEncoder is expecting "
                    f"{self.n_features_in_} features as input."
                )
        if any(pd.api.types.is_complex_dtype(t) for t in frame.dtypes):
            raise ValueError("Complex data not supported by ComponentEncoder")
        if frame.shape[1] == 0:
            raise DataError(f"0 feature(s) (shape={frame.shape}) while a minimum of 1 is required.")
        if frame.shape[0] == 0:
            raise DataError(f"0 sample(s) (shape={frame.shape}) while a minimum of 1 is required.")
        return frame

    def _validate_params(self, columns: list[Any]) -> dict[str, list[Any]]:
        check_int("min_frequency", self.min_frequency, min_value=1)
        check_choice("numeric_transform", self.numeric_transform, _NUMERIC_TRANSFORMS)
        check_choice("categorical_encoding", self.categorical_encoding, _CATEGORICAL_ENCODINGS)
        check_float("numeric_fill", self.numeric_fill)
        present = set(columns)
        declared: dict[str, list[Any]] = {}
        seen: dict[Any, str] = {}
        for fld in _SPEC_FIELDS:
            spec = getattr(self, fld)
            if spec is None:
                continue
            if isinstance(spec, str) or not isinstance(spec, Iterable):
                raise ConfigError(fld, spec, "a sequence of column names, or None to infer")
            names = list(spec)
            for name in names:
                if name not in present:
                    raise ConfigError(f"{fld}[{name!r}]", name, [str(c) for c in columns])
                if name in seen:
                    raise ConfigError(fld, name, f"a column not already declared in {seen[name]}")
                seen[name] = fld
            declared[fld] = names
        if self.exclude_columns is not None and (
            isinstance(self.exclude_columns, str) or not isinstance(self.exclude_columns, Iterable)
        ):
            raise ConfigError("exclude_columns", self.exclude_columns, "a sequence or None")
        return declared

    def _resolve(self, frame: pd.DataFrame, declared: dict[str, list[Any]]) -> dict[str, list[Any]]:
        excluded = set(self.exclude_columns or ())
        claimed = {c for names in declared.values() for c in names}
        free = [c for c in frame.columns if c not in claimed and c not in excluded]
        inferred: dict[str, list[Any]] = {f: [] for f in _SPEC_FIELDS}
        for col in free:
            s = frame[col]
            if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
                inferred["numeric_columns"].append(col)
            elif s.dropna().astype(str).str.contains(",", regex=False).any():
                inferred["keyword_columns"].append(col)
            else:
                inferred["categorical_columns"].append(col)
        return {f: declared[f] if f in declared else inferred[f] for f in _SPEC_FIELDS}

    @staticmethod
    def _numeric_values(s: pd.Series) -> np.ndarray:
        v = np.array(pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan))
        v[~np.isfinite(v)] = np.nan
        return v

    # ------------------------------------------------------------------ fit / transform
    def fit(self, X: Any, y: Any = None) -> ComponentEncoder:
        """Learn vocabularies, categories and numeric ranges.

        Parameters
        ----------
        X : pandas.DataFrame or array-like, shape (n_samples, n_columns)
            Arrays get column names ``x0, x1, ...``.
        y : ignored

        Returns
        -------
        self

        Raises
        ------
        ConfigError
            A bad parameter, or a declared column not in ``X`` (checked before any work).
        """
        columns = list(X.columns) if isinstance(X, pd.DataFrame) else None
        frame = self._as_frame(X, fitting=True)
        declared = self._validate_params(columns if columns is not None else list(frame.columns))
        kinds = self._resolve(frame, declared)
        kind_of = {c: k for k, names in kinds.items() for c in names}
        self.keyword_columns_ = [c for c in frame.columns if kind_of.get(c) == "keyword_columns"]
        self.numeric_columns_ = [c for c in frame.columns if kind_of.get(c) == "numeric_columns"]
        self.categorical_columns_ = [
            c for c in frame.columns if kind_of.get(c) == "categorical_columns"
        ]
        self.columns_ = [c for c in frame.columns if c in kind_of]
        if not self.columns_:
            raise DataError("no feature column to encode (all columns excluded)")

        self.vocabularies_: dict[Any, list[str]] = {}
        self.categories_: dict[Any, list[str]] = {}
        self.numeric_stats_: dict[Any, dict[str, Any]] = {}
        names: list[str] = []
        groups: dict[Any, list[int]] = {}
        for col in self.columns_:
            kind = kind_of[col]
            start = len(names)
            if kind == "keyword_columns":
                counts: Counter[str] = Counter()
                for v in frame[col].tolist():
                    counts.update(_tokens(v))
                vocab = sorted(t for t, n in counts.items() if n >= self.min_frequency)
                self.vocabularies_[col] = vocab
                names += [f"{col}={t}" for t in vocab]
            elif kind == "categorical_columns":
                ccounts = Counter(
                    c for c in (_category(v) for v in frame[col].tolist()) if c is not None
                )
                cats = sorted(c for c, n in ccounts.items() if n >= self.min_frequency)
                self.categories_[col] = cats
                if self.categorical_encoding == "onehot":
                    names += [f"{col}={c}" for c in cats]
                else:
                    names.append(str(col))
            else:
                vals = self._numeric_values(frame[col])
                finite = vals[~np.isnan(vals)]
                has_missing = bool(np.isnan(vals).any())
                if finite.size:
                    lo, hi = float(finite.min()), float(finite.max())
                else:
                    lo, hi = 1.0, 1.0
                if lo >= 1.0:
                    shift, scale, denom = 0.0, 1.0, math.log10(hi)
                elif lo > 0.0:
                    shift, scale, denom = 0.0, lo, math.log10(hi / lo)
                else:
                    shift, scale, denom = 1.0 - lo, 1.0, math.log10(hi + 1.0 - lo)
                self.numeric_stats_[col] = {
                    "min": lo,
                    "max": hi,
                    "shift": shift,
                    "scale": scale,
                    "denominator": denom if denom > 0 else 1.0,
                    "indicator": has_missing,
                }
                names.append(str(col))
                if has_missing:
                    names.append(f"{col}__missing")
            groups[col] = list(range(start, len(names)))

        self.feature_groups_ = groups
        self.feature_names_out_ = np.asarray(names, dtype=object)
        self.n_features_out_ = len(names)
        self.n_features_in_ = frame.shape[1]
        if columns is not None and all(isinstance(c, str) for c in columns):
            self.feature_names_in_ = np.asarray(columns, dtype=object)
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        self._fitted_on_frame = columns is not None
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Encode ``X``.

        Parameters
        ----------
        X : pandas.DataFrame or array-like, shape (n_samples, n_columns)
            Must hold every column in ``columns_`` (extra columns are ignored).

        Returns
        -------
        ndarray of float64, shape (n_samples, n_features_out_)

        Raises
        ------
        DataError
            A column seen in ``fit`` is missing.
        """
        check_is_fitted(self, "feature_groups_")
        if isinstance(X, pd.DataFrame) and not self._fitted_on_frame:
            X = X.to_numpy()
        frame = self._as_frame(X, fitting=False)
        absent = [c for c in self.columns_ if c not in frame.columns]
        if absent:
            raise DataError(f"columns seen in fit are missing from X: {absent!r}")
        out = np.zeros((len(frame), self.n_features_out_), dtype=np.float64)
        for col in self.columns_:
            idx = self.feature_groups_[col]
            if col in self.vocabularies_:
                pos = {t: j for j, t in enumerate(self.vocabularies_[col])}
                for i, v in enumerate(frame[col].tolist()):
                    for t in _tokens(v):
                        j = pos.get(t)
                        if j is not None:
                            out[i, idx[j]] = 1.0
            elif col in self.categories_:
                pos = {c: j for j, c in enumerate(self.categories_[col])}
                codes = np.array(
                    [pos.get(c, -1) if c is not None else -1 for c in map(_category, frame[col])],
                    dtype=np.int64,
                )
                if self.categorical_encoding == "onehot":
                    rows = np.flatnonzero(codes >= 0)
                    out[rows, np.asarray(idx)[codes[rows]]] = 1.0
                else:
                    out[:, idx[0]] = codes
            else:
                st = self.numeric_stats_[col]
                vals = self._numeric_values(frame[col])
                miss = np.isnan(vals)
                if self.numeric_transform == "log_max":
                    clipped = np.maximum(np.where(miss, st["min"], vals), st["min"])
                    enc = np.log10((clipped + st["shift"]) / st["scale"]) / st["denominator"]
                else:
                    enc = vals.copy()
                enc[miss] = self.numeric_fill
                out[:, idx[0]] = enc
                if st["indicator"]:
                    out[:, idx[1]] = miss
        return out

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Return the encoded column names (``input_features`` is accepted and ignored).

        Returns
        -------
        ndarray of str, shape (n_features_out_,)
        """
        check_is_fitted(self, "feature_groups_")
        return self.feature_names_out_.copy()

    def group_features(self, groups: Mapping[str, Sequence[Any]]) -> dict[str, list[int]]:
        """Merge component groups into coarser groups of encoded column indices.

        Parameters
        ----------
        groups : mapping of str to sequence of column names
            E.g. :data:`~effdl_kit.data.EFFICIENTDL_COMPONENTS` (model/training/data/hardware).
            Columns that were not encoded are skipped.

        Returns
        -------
        dict of str to list of int
            Group name -> sorted encoded column indices.
        """
        check_is_fitted(self, "feature_groups_")
        return {
            name: sorted(
                i for c in cols if c in self.feature_groups_ for i in self.feature_groups_[c]
            )
            for name, cols in groups.items()
        }
