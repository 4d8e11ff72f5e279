"""Tests of the EfficientDL loader: the real authors' file and small synthetic files."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from effdl_kit.data import (
    EFFICIENTDL_CATEGORICAL_COLUMNS,
    EFFICIENTDL_COMPONENTS,
    EFFICIENTDL_FEATURES,
    EFFICIENTDL_GROUP,
    EFFICIENTDL_ID_COLUMNS,
    EFFICIENTDL_KEYWORD_COLUMNS,
    EFFICIENTDL_NUMERIC_COLUMNS,
    EFFICIENTDL_SYNONYMS,
    EFFICIENTDL_TARGET,
    UNKNOWN_GROUP,
    LoadReport,
    efficientdl_xy,
    load_efficientdl,
    normalize_efficientdl,
    normalize_keywords,
    parse_learning_rate,
)
from effdl_kit.errors import DataError, DatasetNotFoundError

# ----------------------------------------------------------------------------- real file


def test_real_file_row_count_and_report(efficientdl_df: pd.DataFrame) -> None:
    rep = efficientdl_df.attrs["load_report"]
    assert isinstance(rep, LoadReport)
    assert rep.n_records == 1658
    assert rep.n_rows == len(efficientdl_df) == 1658 - len(rep.dropped)
    assert rep.dropped_frame().shape == (len(rep.dropped), 3)
    assert rep.n_repeated_pairs == 209
    json.dumps(rep.to_dict())  # JSON-able
    assert "1658 records" in rep.summary()


def test_real_file_columns_and_target_range(efficientdl_df: pd.DataFrame) -> None:
    cols = list(efficientdl_df.columns)
    assert cols[:2] == list(EFFICIENTDL_ID_COLUMNS)
    assert cols[-1] == EFFICIENTDL_TARGET
    assert set(EFFICIENTDL_FEATURES) <= set(cols)
    y = efficientdl_df[EFFICIENTDL_TARGET]
    assert y.dtype == np.float64
    assert y.notna().all()
    assert y.between(0.0, 1.0).all()


def test_real_file_percent_row_fixed(efficientdl_df: pd.DataFrame) -> None:
    rep = efficientdl_df.attrs["load_report"]
    assert [(i, old) for i, old, _ in rep.accuracy_rescaled] == [(644, 9.796)]
    assert efficientdl_df.loc[644, EFFICIENTDL_TARGET] == pytest.approx(0.9796)
    assert efficientdl_df.loc[644, "Model"] == "gMLP-S"


def test_real_file_learning_rate_strings(efficientdl_df: pd.DataFrame) -> None:
    rep = efficientdl_df.attrs["load_report"]
    lr = efficientdl_df["learning rate"]
    assert lr.dtype == np.float64
    # 18 string cells in the file, every one either parsed or reported as unparseable
    assert len(rep.learning_rates_parsed) + len(rep.learning_rates_unparsed) == 18
    parsed = {i: v for i, _, v in rep.learning_rates_parsed}
    assert parsed and all(v == pytest.approx(0.004) for v in parsed.values())
    for i, v in parsed.items():
        assert lr.loc[i] == pytest.approx(v)
    for i, text in rep.learning_rates_unparsed:
        assert "triangular" in text
        assert math.isnan(lr.loc[i])
    # the rest of the column is numeric and positive
    others = lr.drop(index=[i for i, _ in rep.learning_rates_unparsed])
    assert (others > 0).all()


def test_real_file_keyword_cells_normalised(efficientdl_df: pd.DataFrame) -> None:
    for col in (*EFFICIENTDL_KEYWORD_COLUMNS, *EFFICIENTDL_CATEGORICAL_COLUMNS):
        cells = efficientdl_df[col].dropna()
        for cell in cells:
            toks = [t for t in cell.split(",") if t]
            assert toks == sorted(set(toks)), (col, cell)
            for t in toks:
                assert t == t.strip() == t.casefold(), (col, t)
                assert "  " not in t and "\n" not in t
                assert t not in EFFICIENTDL_SYNONYMS, (col, t)
    norm = set(efficientdl_df["Normalization layer"].dropna())
    assert "batch normalization,layer normalization" in norm
    assert len(norm) < 10  # "BN,LN" and "BN, LN" spellings merged
    assert set(efficientdl_df["Framwork"]) == {"pytorch", "tensorflow", "caffe"}
    assert "admaw" not in set(efficientdl_df["Optimization algorithm"])


def test_real_file_groups_and_identifiers(efficientdl_df: pd.DataFrame) -> None:
    rep = efficientdl_df.attrs["load_report"]
    assert efficientdl_df[EFFICIENTDL_GROUP].notna().all()
    assert len(rep.groups_filled) == 9
    assert (efficientdl_df.loc[rep.groups_filled, EFFICIENTDL_GROUP] == UNKNOWN_GROUP).all()
    X, y, groups = efficientdl_xy(efficientdl_df)
    assert list(X.columns) == list(EFFICIENTDL_FEATURES)
    assert groups is not None and len(groups) == len(y) == len(X)


def test_component_constants_partition_the_features() -> None:
    grouped = [c for cols in EFFICIENTDL_COMPONENTS.values() for c in cols]
    assert sorted(grouped) == sorted(EFFICIENTDL_FEATURES)
    assert len(set(grouped)) == len(grouped) == 28
    assert set(EFFICIENTDL_COMPONENTS) == {"model", "training", "data", "hardware"}
    kinds = [*EFFICIENTDL_KEYWORD_COLUMNS, *EFFICIENTDL_NUMERIC_COLUMNS]
    kinds += EFFICIENTDL_CATEGORICAL_COLUMNS
    assert sorted(kinds) == sorted(EFFICIENTDL_FEATURES)


# ----------------------------------------------------------------------------- unit rules


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (0.1, 0.1),
        (30, 30.0),
        ("1e-3", 1e-3),
        ("0.1 (cosine)", 0.1),
        ("learning rate 4e-3", 4e-3),
        ("0.1-0.4", 0.4),
        ("1e-4 to 1e-3", 1e-3),
        ("0.01~0.1", 0.1),
        ("5E-4", 5e-4),
    ],
)
def test_parse_learning_rate_numbers(raw: Any, expected: float) -> None:
    assert parse_learning_rate(raw) == pytest.approx(expected)


@pytest.mark.parametrize(
    "raw", ["triangular learning rate schedule", "", 0, -0.1, True, None, float("nan"), "inf"]
)
def test_parse_learning_rate_unusable_is_nan(raw: Any) -> None:
    assert math.isnan(parse_learning_rate(raw))


def test_normalize_keywords_rules() -> None:
    assert normalize_keywords("Batch Normalization, BN,batch norm") == ("batch normalization",)
    assert normalize_keywords("Mixup and CutMix") == ("cutmix", "mixup")
    assert normalize_keywords("ReLU,\nGELU , relu") == ("gelu", "relu")
    assert normalize_keywords("None") == ()
    assert normalize_keywords(None) is None
    assert normalize_keywords(float("nan")) is None
    assert normalize_keywords("BN", synonyms={}) == ("bn",)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(min_size=0, max_size=12), max_size=6))
def test_normalize_keywords_idempotent(parts: list[str]) -> None:
    first = normalize_keywords(",".join(parts))
    assert first is not None
    assert normalize_keywords(",".join(first)) == first
    assert list(first) == sorted(set(first))


# ----------------------------------------------------------------------------- synthetic files


def _record(i: int, **over: Any) -> dict[str, Any]:
    rec: dict[str, Any] = {c: None for c in EFFICIENTDL_FEATURES}
    rec.update(
        {
            "Architecture": f"Arch{i % 3}",
            "Model": f"Arch{i % 3}-m{i}",
            "Normalization layer": "BN" if i % 2 else "Layer Normalization",
            "Activation Function": "ReLU, GELU",
            "Data Augmentation": "None",
            "Optimization algorithm": "SGD",
            "Dataset": "CIFAR-10",
            "Framwork": "PyTorch",
            "Type of GPU": "V100 GPU",
            "Size of training set": 50000,
            "Size of testing set": 10000,
            "Size of parameter": 1.0 + i,
            "batch size": 128,
            "learning rate": 0.1,
            "epochs": 100.0,
            "Number of GPU": 1.0,
            EFFICIENTDL_TARGET: 0.5 + 0.01 * i,
        }
    )
    rec.update(over)
    return rec


def _write(tmp_path: Path, records: Any) -> Path:
    p = tmp_path / "dataset.json"
    p.write_text(json.dumps(records), encoding="utf-8")
    return p


def test_synthetic_drops_are_reported_with_reasons(tmp_path: Path) -> None:
    recs = [_record(i) for i in range(6)]
    recs[1][EFFICIENTDL_TARGET] = None
    recs[2][EFFICIENTDL_TARGET] = "n/a"
    recs[3][EFFICIENTDL_TARGET] = 250.0
    recs[4][EFFICIENTDL_TARGET] = 85.0
    df = load_efficientdl(_write(tmp_path, recs))
    rep = df.attrs["load_report"]
    assert list(df.index) == [0, 4, 5]
    reasons = {d.index: d.reason for d in rep.dropped}
    assert set(reasons) == {1, 2, 3}
    assert "missing" in reasons[1]
    assert "not a number" in reasons[2]
    assert "outside" in reasons[3]
    assert {d.model for d in rep.dropped} == {"Arch1-m1", "Arch2-m2", "Arch0-m3"}
    assert df.loc[4, EFFICIENTDL_TARGET] == pytest.approx(0.85)
    assert rep.accuracy_rescaled == [(4, 85.0, pytest.approx(0.85))]


def test_synthetic_cells_cleaned(tmp_path: Path) -> None:
    recs = [_record(i) for i in range(3)]
    recs[0]["learning rate"] = "0.2 (step)"
    recs[1]["learning rate"] = "see paper"
    recs[2]["batch size"] = "large"
    recs[2]["Architecture"] = None
    df = load_efficientdl(_write(tmp_path, recs))
    rep = df.attrs["load_report"]
    assert df.loc[0, "learning rate"] == pytest.approx(0.2)
    assert math.isnan(df["learning rate"].to_numpy()[1])
    assert rep.learning_rates_parsed == [(0, "0.2 (step)", pytest.approx(0.2))]
    assert rep.learning_rates_unparsed == [(1, "see paper")]
    assert rep.numeric_coerced == {"batch size": [2]}
    assert math.isnan(df["batch size"].to_numpy()[2])
    assert df.loc[2, EFFICIENTDL_GROUP] == UNKNOWN_GROUP and rep.groups_filled == [2]
    assert df.loc[1, "Normalization layer"] == "batch normalization"
    assert rep.synonyms_applied["Normalization layer"] == {"bn": "batch normalization"}
    assert df.loc[0, "Activation Function"] == "gelu,relu"
    assert df.loc[0, "Data Augmentation"] == ""  # explicit "None"
    assert df["Convolution"].isna().all()  # missing stays missing
    assert df.loc[0, "Type of GPU"] == "v100 gpu"


def test_missing_target_column_names_it(tmp_path: Path) -> None:
    recs = [_record(i) for i in range(3)]
    for r in recs:
        del r[EFFICIENTDL_TARGET]
    with pytest.raises(DataError, match="Top-1 accuracy"):
        load_efficientdl(_write(tmp_path, recs))


def test_missing_feature_column_named(tmp_path: Path) -> None:
    recs = [_record(i) for i in range(3)]
    for r in recs:
        del r["epochs"]
    with pytest.raises(DataError, match="epochs"):
        load_efficientdl(_write(tmp_path, recs))


@pytest.mark.parametrize(
    ("content", "match"),
    [("[]", "empty"), ('{"a": 1}', "list"), ("[1, 2]", "not JSON objects"), ("{oops", "JSON")],
)
def test_malformed_files(tmp_path: Path, content: str, match: str) -> None:
    p = tmp_path / "bad.json"
    p.write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=match):
        load_efficientdl(p)


def test_all_rows_unusable(tmp_path: Path) -> None:
    recs = [_record(i, **{EFFICIENTDL_TARGET: None}) for i in range(3)]
    with pytest.raises(DataError, match="no usable rows"):
        load_efficientdl(_write(tmp_path, recs))


def test_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="efficientdl"):
        load_efficientdl(tmp_path / "nope.json")


def test_xy_bad_input() -> None:
    with pytest.raises(DataError, match="empty"):
        efficientdl_xy(pd.DataFrame({EFFICIENTDL_TARGET: []}))
    with pytest.raises(DataError, match="'y'"):
        efficientdl_xy(pd.DataFrame({"a": [1.0]}), target="y")
    with pytest.raises(DataError, match="missing or non-numeric"):
        efficientdl_xy(pd.DataFrame({"a": [1.0, 2.0], "y": [0.5, np.nan]}), target="y")


# ----------------------------------------------------------------------------- loader abuse


@pytest.mark.parametrize("value", [["BN", "LN"], {"a": "BN"}])
@pytest.mark.parametrize("col", ["Normalization layer", "Dataset", "Model"])
def test_a_list_or_dict_in_a_text_column_names_the_column(tmp_path: Path, col: str,
                                                          value: Any) -> None:
    recs = [_record(i) for i in range(3)]
    recs[2][col] = value
    with pytest.raises(DataError, match=f"record 2: column {col!r} holds a "
                       f"{type(value).__name__}.*allowed: text or null"):
        load_efficientdl(_write(tmp_path, recs))


def test_non_finite_and_non_numeric_cells_are_reported(tmp_path: Path) -> None:
    recs = [_record(i) for i in range(6)]
    recs[0]["epochs"] = "fast"
    recs[1]["epochs"] = [1, 2]
    recs[2]["batch size"] = math.inf
    recs[3][EFFICIENTDL_TARGET] = math.inf
    recs[4][EFFICIENTDL_TARGET] = math.nan
    recs[5]["Number of GPU"] = True
    df = load_efficientdl(_write(tmp_path, recs))  # json.dumps writes Infinity and NaN
    rep = df.attrs["load_report"]
    assert rep.numeric_coerced == {"epochs": [0, 1], "batch size": [2], "Number of GPU": [5]}
    assert df[["epochs", "batch size", "Number of GPU"]].isna().sum().sum() == 4
    assert {d.index: d.reason for d in rep.dropped} == {3: "target is not finite",
                                                        4: "target missing"}
    summary = rep.summary()
    assert "numeric cells not finite numbers -> NaN: 4 (Number of GPU: 1, batch size: 1, " \
           "epochs: 2)" in summary


def test_duplicate_records_are_reported_and_dropped_on_request(tmp_path: Path) -> None:
    recs = [_record(i) for i in range(4)]
    recs += [dict(recs[1]), dict(recs[1]), dict(recs[3])]
    path = _write(tmp_path, recs)
    df = load_efficientdl(path)
    rep = df.attrs["load_report"]
    assert len(df) == 7 and rep.duplicate_records == [(4, 1), (5, 1), (6, 3)]
    assert "duplicate records (equal in every key): 3" in rep.summary()
    df = load_efficientdl(path, drop_duplicates=True)
    rep = df.attrs["load_report"]
    assert list(df.index) == [0, 1, 2, 3]
    assert [(d.index, d.reason) for d in rep.dropped] == [
        (4, "duplicate of record 1"), (5, "duplicate of record 1"), (6, "duplicate of record 3")]


@pytest.mark.parametrize(("raw", "match"), [
    (b'[{"a": 1},\n {"b": ' + b"[" * 100_000 + b"\n]", "line 2: JSON nested too deeply"),
    (b'[{"a": 1},\n\n {"Top-1 accuracy": 1' + b"0" * 399 + b"}]",
     "line 3: an integer of 400 digits"),
    (b'[{"a": 1},\n {"Model": "\xff"}]', "line 2 is not UTF-8"),
    (b'[{"a": 1},\n {"b": 2},\n {"c": ', "corrupt line 3: Expecting value"),  # truncated
])
def test_pathological_files_are_data_errors_naming_the_line(tmp_path: Path, raw: bytes,
                                                            match: str) -> None:
    path = tmp_path / "dataset.json"
    path.write_bytes(raw)
    with pytest.raises(DataError, match=f"dataset\\.json': {match}"):
        load_efficientdl(path)


def test_cells_beyond_the_float_range_in_a_frame_are_coerced_or_dropped() -> None:
    frame = pd.DataFrame([_record(i) for i in range(3)])
    frame[EFFICIENTDL_TARGET] = frame[EFFICIENTDL_TARGET].astype(object)
    frame.loc[0, EFFICIENTDL_TARGET] = 10**400
    frame["learning rate"] = frame["learning rate"].astype(object)
    frame.loc[1, "learning rate"] = 10**400
    frame["epochs"] = frame["epochs"].astype(object)
    frame.loc[2, "epochs"] = -(10**400)
    df = normalize_efficientdl(frame)
    rep = df.attrs["load_report"]
    assert [(d.index, d.reason) for d in rep.dropped] == [(0, "target is not finite")]
    assert rep.learning_rates_unparsed == [(1, repr(10**400))]
    assert rep.numeric_coerced == {"epochs": [2]}
