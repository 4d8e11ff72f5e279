"""Tests of ComponentEncoder on synthetic frames and on the authors' frame."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import check_estimator

from effdl_kit.data import (
    EFFICIENTDL_COMPONENTS,
    EFFICIENTDL_FEATURES,
    EFFICIENTDL_ID_COLUMNS,
    EFFICIENTDL_SYNONYMS,
    EFFICIENTDL_TARGET,
    ComponentEncoder,
    efficientdl_xy,
)
from effdl_kit.errors import ConfigError, DataError


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": ["a", "b", "c", "d", "e"],
            "norm": ["bn,ln", "BN", None, "ln, gn", "bn"],
            "epochs": [10.0, 100.0, np.nan, 1000.0, 100.0],
            "lr": [1e-4, 1e-3, 1e-2, 1e-1, 1e-3],
            "opt": ["sgd", "adam", "sgd", None, "adamw"],
        }
    )


def _fitted_attrs(est: ComponentEncoder) -> list[str]:
    return [k for k in vars(est) if k.endswith("_") and not k.startswith("__")]


def test_inferred_kinds_and_names(frame: pd.DataFrame) -> None:
    enc = ComponentEncoder(exclude_columns=["id"]).fit(frame)
    assert enc.keyword_columns_ == ["norm"]
    assert enc.numeric_columns_ == ["epochs", "lr"]
    assert enc.categorical_columns_ == ["opt"]
    names = list(enc.get_feature_names_out())
    assert names == [
        "norm=bn",
        "norm=gn",
        "norm=ln",
        "epochs",
        "epochs__missing",
        "lr",
        "opt=adam",
        "opt=adamw",
        "opt=sgd",
    ]
    Z = enc.transform(frame)
    assert Z.dtype == np.float64 and Z.shape == (5, len(names))


def test_encoded_values(frame: pd.DataFrame) -> None:
    enc = ComponentEncoder(exclude_columns=["id"]).fit(frame)
    Z = pd.DataFrame(enc.transform(frame), columns=enc.get_feature_names_out())
    # multi-hot: 1 exactly where the (case-folded) token is in the cell
    for tok in ("bn", "gn", "ln"):
        expected = [
            float(tok in [t.strip().lower() for t in str(v).split(",")]) if v else 0.0
            for v in frame["norm"]
        ]
        assert Z[f"norm={tok}"].tolist() == expected
    # numeric >= 1: the authors' log10(x) / log10(max); missing -> fill + indicator
    assert Z["epochs"].tolist()[:2] == pytest.approx([1 / 3, 2 / 3])
    assert Z["epochs"][3] == pytest.approx(1.0)
    assert Z["epochs"][2] == -1.0
    assert Z["epochs__missing"].tolist() == [0.0, 0.0, 1.0, 0.0, 0.0]
    # numeric with values < 1: log-space min-max, monotone, spans [0, 1]
    assert Z["lr"].tolist() == pytest.approx([0.0, 1 / 3, 2 / 3, 1.0, 1 / 3])
    # one-hot, missing category -> all zeros
    opt = Z[["opt=adam", "opt=adamw", "opt=sgd"]].to_numpy()
    assert opt[3].tolist() == [0.0, 0.0, 0.0]
    assert opt[0].tolist() == [0.0, 0.0, 1.0]


def test_groups_partition_columns(frame: pd.DataFrame) -> None:
    enc = ComponentEncoder(exclude_columns=["id"]).fit(frame)
    idx = [i for cols in enc.feature_groups_.values() for i in cols]
    assert sorted(idx) == list(range(enc.n_features_out_))
    assert len(idx) == len(set(idx))
    names = enc.get_feature_names_out()
    for col, cols in enc.feature_groups_.items():
        assert all(str(names[i]).startswith(col) for i in cols)
    merged = enc.group_features({"a": ["norm", "opt"], "b": ["epochs", "lr", "absent"]})
    assert sorted(merged["a"] + merged["b"]) == list(range(enc.n_features_out_))


def test_declared_spec_and_ordinal(frame: pd.DataFrame) -> None:
    enc = ComponentEncoder(
        keyword_columns=["norm"],
        numeric_columns=["lr"],
        categorical_columns=["opt", "id"],
        categorical_encoding="ordinal",
        numeric_transform="none",
    ).fit(frame)
    assert enc.columns_ == ["id", "norm", "lr", "opt"]
    Z = pd.DataFrame(enc.transform(frame), columns=enc.get_feature_names_out())
    assert Z["opt"].tolist() == [2.0, 0.0, 2.0, -1.0, 1.0]
    assert Z["lr"].tolist() == frame["lr"].tolist()
    # a None spec entry is inferred among the undeclared columns
    enc2 = ComponentEncoder(keyword_columns=["norm"], categorical_columns=[]).fit(frame)
    assert enc2.numeric_columns_ == ["epochs", "lr"]
    assert enc2.categorical_columns_ == []
    assert "id" not in enc2.columns_ and "opt" not in enc2.columns_


def test_unknown_tokens_and_categories_ignored(frame: pd.DataFrame) -> None:
    enc = ComponentEncoder(exclude_columns=["id"]).fit(frame)
    new = frame.copy()
    new["norm"] = ["bn,ln,zz_new", "BN", "zz_only", "ln, gn,other", "bn"]
    new["opt"] = ["sgd", "adam", "sgd", "lion", "adamw"]
    a, b = enc.transform(frame), enc.transform(new)
    opt_cols = enc.feature_groups_["opt"]
    keep = [i for i in range(enc.n_features_out_) if i not in opt_cols]
    np.testing.assert_array_equal(a[:, keep], b[:, keep])
    assert b[3, opt_cols].sum() == 0.0


def test_min_frequency(frame: pd.DataFrame) -> None:
    enc = ComponentEncoder(exclude_columns=["id"], min_frequency=2).fit(frame)
    assert enc.vocabularies_["norm"] == ["bn", "ln"]
    assert enc.categories_["opt"] == ["sgd"]


def test_deterministic_and_order_invariant(frame: pd.DataFrame) -> None:
    a = ComponentEncoder(exclude_columns=["id"]).fit(frame)
    b = ComponentEncoder(exclude_columns=["id"]).fit(frame.iloc[::-1])
    assert list(a.get_feature_names_out()) == list(b.get_feature_names_out())
    np.testing.assert_array_equal(a.transform(frame), b.transform(frame))
    np.testing.assert_array_equal(a.transform(frame), a.transform(frame))
    # extra / reordered columns at transform time are fine
    np.testing.assert_array_equal(a.transform(frame[frame.columns[::-1]]), a.transform(frame))


def test_sklearn_contract(frame: pd.DataFrame) -> None:
    enc = ComponentEncoder(exclude_columns=["id"], min_frequency=2)
    assert _fitted_attrs(enc) == []
    with pytest.raises(NotFittedError):
        enc.transform(frame)
    params = enc.get_params()
    assert params["min_frequency"] == 2 and params["exclude_columns"] == ["id"]
    enc.set_params(min_frequency=1)
    assert enc.min_frequency == 1
    enc.fit(frame)
    c = clone(enc)
    assert c.get_params() == enc.get_params()
    assert _fitted_attrs(c) == []
    np.testing.assert_array_equal(c.fit(frame).transform(frame), enc.transform(frame))
    out = enc.set_output(transform="pandas").transform(frame)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == list(enc.get_feature_names_out())


def test_sklearn_estimator_checks() -> None:
    for est in (
        ComponentEncoder(),
        ComponentEncoder(numeric_transform="none", categorical_encoding="ordinal"),
    ):
        results = check_estimator(est, on_fail=None, on_skip=None)
        failed = [(r["check_name"], r["exception"]) for r in results if r["status"] == "failed"]
        assert failed == []
        skipped = {r["check_name"] for r in results if r["status"] == "skipped"}
        # only the array-API check, which needs SCIPY_ARRAY_API set in the environment
        assert skipped <= {"check_array_api_input"}
        assert sum(r["status"] == "passed" for r in results) >= 40


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"keyword_columns": ["nope"]}, "keyword_columns['nope']"),
        ({"numeric_columns": ["epochs", "missing_col"]}, "numeric_columns['missing_col']"),
        ({"keyword_columns": ["norm"], "categorical_columns": ["norm"]}, "categorical_columns"),
        ({"keyword_columns": "norm"}, "keyword_columns"),
        ({"min_frequency": 0}, "min_frequency"),
        ({"numeric_transform": "log2"}, "numeric_transform"),
        ({"categorical_encoding": "hash"}, "categorical_encoding"),
        ({"numeric_fill": float("nan")}, "numeric_fill"),
    ],
)
def test_bad_params_raise_before_fitting(
    frame: pd.DataFrame, params: dict[str, object], field: str
) -> None:
    enc = ComponentEncoder(**params)  # type: ignore[arg-type]
    with pytest.raises(ConfigError) as info:
        enc.fit(frame)
    assert info.value.field == field
    assert field.split("[")[0] in str(info.value)
    assert _fitted_attrs(enc) == []


def test_bad_data(frame: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="0 sample"):
        ComponentEncoder().fit(frame.iloc[:0])
    with pytest.raises(DataError, match="no feature column"):
        ComponentEncoder(exclude_columns=list(frame.columns)).fit(frame)
    enc = ComponentEncoder(exclude_columns=["id"]).fit(frame)
    with pytest.raises(DataError, match="epochs"):
        enc.transform(frame.drop(columns=["epochs"]))


def test_all_missing_and_constant_numeric() -> None:
    X = pd.DataFrame({"a": [np.nan, np.nan], "b": [0.5, 0.5], "c": [-2.0, 3.0]})
    enc = ComponentEncoder().fit(X)
    Z = enc.transform(X)
    assert np.isfinite(Z).all()
    names = list(enc.get_feature_names_out())
    assert names == ["a", "a__missing", "b", "c"]
    np.testing.assert_array_equal(Z[:, 0], [-1.0, -1.0])
    np.testing.assert_array_equal(Z[:, 2], [0.0, 0.0])
    assert Z[:, 3].tolist() == pytest.approx([0.0, 1.0])
    # below the fitted minimum: clipped, never NaN
    assert enc.transform(pd.DataFrame({"a": [1.0], "b": [0.1], "c": [-10.0]}))[0, 3] == 0.0


def test_synonym_table_is_closed() -> None:
    # canonical tokens are never themselves variants (normalisation is idempotent)
    assert not set(EFFICIENTDL_SYNONYMS.values()) & set(EFFICIENTDL_SYNONYMS)


def test_authors_frame(efficientdl_df: pd.DataFrame) -> None:
    X, _, _ = efficientdl_xy(efficientdl_df)
    # identifiers in the frame are never encoded when excluded
    enc = ComponentEncoder(exclude_columns=EFFICIENTDL_ID_COLUMNS).fit(
        efficientdl_df.drop(columns=[EFFICIENTDL_TARGET])
    )
    assert set(enc.columns_) == set(EFFICIENTDL_FEATURES)
    Z = enc.transform(X)
    assert Z.shape[0] == len(X) and Z.dtype == np.float64
    assert np.isfinite(Z).all()
    names = enc.get_feature_names_out()
    assert len(names) == Z.shape[1] == len(set(names))
    assert "Normalization layer=batch normalization" in set(names)
    merged = enc.group_features(EFFICIENTDL_COMPONENTS)
    idx = sorted(i for cols in merged.values() for i in cols)
    assert idx == list(range(Z.shape[1]))
    # multi-hot columns really are 0/1 and every numeric (non-indicator) value in [-1, 1]
    for col in enc.keyword_columns_:
        assert set(np.unique(Z[:, enc.feature_groups_[col]])) <= {0.0, 1.0}
    for col in enc.numeric_columns_:
        v = Z[:, enc.feature_groups_[col][0]]
        assert v.min() >= -1.0 and v.max() <= 1.0 + 1e-12
        assert not math.isnan(v.sum())
