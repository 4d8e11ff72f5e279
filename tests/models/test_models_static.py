"""Tests of the static predictor and its cross-validated evaluation."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import Pipeline

from effdl_kit.data import EFFICIENTDL_GROUP, ComponentEncoder
from effdl_kit.errors import ConfigError, DataError
from effdl_kit.models import (
    PredictorEvaluation,
    evaluate_predictor,
    make_static_predictor,
)

FOLD_COLUMNS = ["fold", "n_train", "n_test", "r2", "mae", "spearman", "fit_time_s"]


def _synthetic(n: int = 240, seed: int = 0) -> pd.DataFrame:
    """Components with a known effect on the target: epochs (log), an optimizer, a keyword."""
    rng = np.random.default_rng(seed)
    epochs = rng.choice([10, 30, 100, 300], size=n).astype(float)
    opt = rng.choice(["sgd", "adam"], size=n)
    aug = rng.choice(["mixup,cutmix", "mixup", "", "cutmix,flip"], size=n)
    noise = rng.normal(0.0, 0.01, size=n)
    has_cutmix = np.char.find(aug, "cutmix") >= 0
    y = 0.4 + 0.1 * np.log10(epochs) + 0.05 * (opt == "adam") + 0.03 * has_cutmix + noise
    return pd.DataFrame(
        {
            "Architecture": [f"fam{i % 12}" for i in range(n)],
            "Model": [f"m{i}" for i in range(n)],
            "epochs": epochs,
            "optimizer": opt,
            "augmentation": aug,
            "junk": rng.normal(size=n),
            "acc": y,
        }
    )


# ----------------------------------------------------------------------------- construction


def test_make_static_predictor_defaults_and_overrides() -> None:
    pipe = make_static_predictor()
    assert isinstance(pipe, Pipeline)
    assert [name for name, _ in pipe.steps] == ["encoder", "forest"]
    forest = pipe.named_steps["forest"]
    assert (forest.n_estimators, forest.random_state, forest.n_jobs) == (300, 0, None)
    assert set(pipe.named_steps["encoder"].exclude_columns) == {"Architecture", "Model"}
    pipe2 = make_static_predictor(n_estimators=10, max_depth=3, encoder=ComponentEncoder())
    assert pipe2.named_steps["forest"].n_estimators == 10
    assert pipe2.named_steps["forest"].max_depth == 3
    assert pipe2.named_steps["encoder"].exclude_columns is None


def test_make_static_predictor_bad_params() -> None:
    with pytest.raises(ConfigError, match="n_trees"):
        make_static_predictor(n_trees=10)
    with pytest.raises(ConfigError, match="encoder"):
        bad: Any = LinearRegression()
        make_static_predictor(encoder=bad)


# ----------------------------------------------------------------------------- synthetic frames


def test_evaluate_synthetic_learns_the_signal() -> None:
    df = _synthetic()
    pipe = make_static_predictor(n_estimators=50, n_jobs=1)
    ev = evaluate_predictor(pipe, df, target="acc", split="random", n_splits=3, seed=1)
    assert isinstance(ev, PredictorEvaluation)
    frame = ev.to_frame()
    assert list(frame.columns) == FOLD_COLUMNS
    assert frame["fold"].tolist() == [0, 1, 2]
    assert frame["n_test"].sum() == len(df)
    assert (frame["n_train"] + frame["n_test"] == len(df)).all()
    assert ev.mean["r2"] > 0.8
    assert ev.mean["spearman"] > 0.8
    assert ev.summary().shape == (3, 2)
    assert "random 3-fold" in str(ev) and "r2" in str(ev)
    # the identifiers and the target were not features
    fitted = make_static_predictor(n_estimators=5).fit(df.drop(columns=["acc"]), df["acc"])
    used = fitted.named_steps["encoder"].columns_
    assert set(used) == {"epochs", "optimizer", "augmentation", "junk"}


def test_out_of_fold_predictions_and_grouping() -> None:
    df = _synthetic()
    pipe = make_static_predictor(n_estimators=20, n_jobs=1)
    ev = evaluate_predictor(pipe, df, target="acc", split="grouped", n_splits=4, seed=0)
    pred = ev.predictions
    assert pred.index.equals(df.index)
    assert pred["y_pred"].notna().all()
    assert set(pred["fold"]) == {0, 1, 2, 3}
    # each architecture family sits in exactly one test fold
    assert (pred.groupby("group")["fold"].nunique() == 1).all()
    # the per-fold metrics are computed from exactly these predictions
    for k, part in pred.groupby("fold"):
        mae = float(np.mean(np.abs(part["y_true"] - part["y_pred"])))
        assert ev.folds.loc[ev.folds["fold"] == k, "mae"].item() == pytest.approx(mae)


def test_seed_controls_folds() -> None:
    df = _synthetic()
    pipe = make_static_predictor(n_estimators=10, n_jobs=1)
    a = evaluate_predictor(pipe, df, target="acc", n_splits=3, seed=3)
    b = evaluate_predictor(pipe, df, target="acc", n_splits=3, seed=3)
    c = evaluate_predictor(pipe, df, target="acc", n_splits=3, seed=4)
    cols = ["r2", "mae", "spearman"]
    pd.testing.assert_frame_equal(a.folds[cols], b.folds[cols])
    assert a.predictions["fold"].tolist() == b.predictions["fold"].tolist()
    assert a.predictions["fold"].tolist() != c.predictions["fold"].tolist()


_FITS: list[tuple[int, frozenset[Any]]] = []


class _RecordingEncoder(ComponentEncoder):
    """Records which rows each encoder instance was fitted on."""

    def fit(self, X: Any, y: Any = None) -> _RecordingEncoder:
        _FITS.append((id(self), frozenset(X.index)))
        super().fit(X, y)
        return self


def test_pipeline_cloned_per_fold_no_leak() -> None:
    df = _synthetic(n=90)
    pipe = make_static_predictor(n_estimators=5, n_jobs=1, encoder=_RecordingEncoder())
    pipe.fit(df.drop(columns=["acc"]), df["acc"])
    before = pipe.named_steps["forest"].estimators_
    _FITS.clear()
    ev = evaluate_predictor(pipe, df, target="acc", n_splits=3, seed=0)
    assert pipe.named_steps["forest"].estimators_ is before  # the given pipeline untouched
    assert len(_FITS) == 3
    assert len({instance for instance, _ in _FITS}) == 3  # a fresh encoder per fold
    for k, (_, rows) in enumerate(_FITS):
        test_rows = set(ev.predictions.index[ev.predictions["fold"] == k])
        assert rows.isdisjoint(test_rows)
        assert rows | test_rows == set(df.index)


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"split": "loo"}, "split"),
        ({"n_splits": 1}, "n_splits"),
        ({"n_splits": 2.5}, "n_splits"),
        ({"n_splits": 500}, "n_splits"),
        ({"split": "grouped", "n_splits": 13}, "n_splits"),
        ({"seed": -1}, "seed"),
    ],
)
def test_bad_config(kwargs: dict[str, Any], field: str) -> None:
    df = _synthetic()
    with pytest.raises(ConfigError) as info:
        evaluate_predictor(make_static_predictor(n_estimators=2), df, target="acc", **kwargs)
    assert info.value.field == field


def test_bad_data() -> None:
    df = _synthetic()
    pipe = make_static_predictor(n_estimators=2)
    with pytest.raises(DataError, match="'acc'"):
        evaluate_predictor(pipe, df.drop(columns=["acc"]), target="acc")
    nan_df = df.copy()
    nan_df.loc[3, "acc"] = np.nan
    with pytest.raises(DataError, match="missing or non-numeric"):
        evaluate_predictor(pipe, nan_df, target="acc")
    with pytest.raises(DataError, match="empty"):
        evaluate_predictor(pipe, df.iloc[:0], target="acc")
    with pytest.raises(DataError, match="group column"):
        evaluate_predictor(pipe, df.drop(columns=["Architecture"]), target="acc", split="grouped")
    bad_groups = df.copy()
    bad_groups.loc[0, "Architecture"] = None
    with pytest.raises(DataError, match="missing labels"):
        evaluate_predictor(pipe, bad_groups, target="acc", split="grouped")
    with pytest.raises(ConfigError, match="pipeline"):
        evaluate_predictor(object(), df, target="acc")


# ----------------------------------------------------------------------------- authors' data


@pytest.fixture(scope="module")
def real_scores(efficientdl_df: pd.DataFrame) -> dict[str, PredictorEvaluation]:
    pipe = make_static_predictor(n_estimators=100, n_jobs=1)
    return {
        split: evaluate_predictor(pipe, efficientdl_df, split=split, n_splits=3, seed=0)
        for split in ("random", "grouped")
    }


def test_real_random_split_quality(real_scores: dict[str, PredictorEvaluation]) -> None:
    ev = real_scores["random"]
    assert ev.mean["r2"] > 0.65
    assert ev.mean["spearman"] > 0.75
    assert ev.mean["mae"] < 0.04
    assert (ev.folds["r2"] > 0.5).all()


def test_real_grouped_split_below_random(
    real_scores: dict[str, PredictorEvaluation], efficientdl_df: pd.DataFrame
) -> None:
    grouped, random = real_scores["grouped"], real_scores["random"]
    assert grouped.mean["r2"] < random.mean["r2"] - 0.1
    assert grouped.mean["mae"] > random.mean["mae"]
    pred = grouped.predictions
    assert (pred.groupby("group")["fold"].nunique() == 1).all()
    assert set(pred["group"]) == set(efficientdl_df[EFFICIENTDL_GROUP])
