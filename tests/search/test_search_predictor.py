"""Searching a fitted static predictor: encoding consistency, objective, bad input."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from effdl_kit.data import ComponentEncoder
from effdl_kit.errors import ConfigError, DataError
from effdl_kit.models import make_static_predictor
from effdl_kit.search import AlphaBetaBO, base_row, grid_values, predictor_problem


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 300
    df = pd.DataFrame({
        "lr": 10 ** rng.uniform(-4, -1, n),
        "width": rng.choice([16, 32, 64, 128], n).astype(float),
        "opt": rng.choice(["sgd", "adam", "rmsprop"], n),
        "norm": rng.choice(["bn,ln", "bn", "none", "ln"], n),
        "dropout": rng.choice([0.0, 0.1, 0.5], n),
    })
    df["acc"] = (0.9 - 0.05 * (np.log10(df["lr"]) + 2.5) ** 2 + 0.02 * np.log2(df["width"] / 16)
                 + np.where(df["opt"] == "adam", 0.05, 0.0) - 0.1 * df["dropout"]
                 + rng.normal(0, 0.01, n))
    return df


@pytest.fixture(scope="module")
def pipe(frame: pd.DataFrame) -> Any:
    enc = ComponentEncoder(keyword_columns=["norm"], numeric_columns=["lr", "width", "dropout"],
                           categorical_columns=["opt"])
    X = frame.drop(columns="acc")
    return make_static_predictor(encoder=enc, n_estimators=40, random_state=0).fit(
        X, frame["acc"])


def test_base_row_and_grid_values(frame: pd.DataFrame) -> None:
    row = base_row(frame, ["lr", "opt", "norm"])
    assert row["lr"] == pytest.approx(frame["lr"].median())
    assert row["opt"] == frame["opt"].value_counts().index[0]
    vals = grid_values(frame, "lr", 5)
    assert len(vals) == 5 and vals == sorted(vals)
    assert vals[0] == pytest.approx(frame["lr"].min(), rel=1e-3)
    assert grid_values(frame, "opt", 2) == list(frame["opt"].value_counts().index[:2])
    with pytest.raises(ConfigError, match="component"):
        grid_values(frame, "momentum", 3)


def test_gp_features_are_the_predictors_encoding(frame: pd.DataFrame, pipe: Any) -> None:
    X = frame.drop(columns="acc")
    comps = {"lr": [1e-4, 1e-3, 1e-2], "opt": ["sgd", "adam"], "norm": ["bn", "bn,ln"]}
    problem = predictor_problem(pipe, comps, base_row(X, list(X.columns)))
    space = problem.space
    assert space.n_candidates == 12
    flat = np.arange(12)
    configs = [space.config(int(k)) for k in flat]
    # candidate features = the encoder's output of the candidate rows, in GP column order
    enc = pipe[0].transform(problem.frame(configs))[:, problem.order]
    np.testing.assert_allclose(space.features(flat), enc, rtol=0, atol=1e-12)
    np.testing.assert_allclose(problem.encode_rows(problem.frame(configs)), enc, atol=0)
    # the objective is the predictor's output for the base row with the config applied
    direct = pipe.predict(problem.frame(configs))
    np.testing.assert_allclose([problem.objective(c) for c in configs], direct, rtol=1e-12)
    # and the dataset's rows can seed αβ-BO, which then finds the best candidate
    bo = AlphaBetaBO(space, refit_every=5, n_restarts=1, seed=0)
    bo.tell_features(problem.encode_rows(X), frame["acc"].to_numpy())
    res = bo.optimize(problem.objective, 10)
    assert res.best_value == pytest.approx(direct.max())


def test_bad_input(frame: pd.DataFrame, pipe: Any) -> None:
    X = frame.drop(columns="acc")
    base = base_row(X, list(X.columns))
    with pytest.raises(ConfigError, match="components"):
        predictor_problem(pipe, {"momentum": [0.9]}, base)
    with pytest.raises(ConfigError, match="components"):
        predictor_problem(pipe, {}, base)
    with pytest.raises(ConfigError, match="base"):
        predictor_problem(pipe, {"lr": [1e-3]}, {"lr": 1e-3})
    with pytest.raises(ConfigError, match="pipeline"):
        predictor_problem(object(), {"lr": [1e-3]}, base)

    class NanModel:
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def __getitem__(self, i: int) -> Any:
            return self.inner[i]

        def predict(self, X: pd.DataFrame) -> np.ndarray:
            return np.full(len(X), np.nan)

    with pytest.raises(DataError, match="NaN"):
        predictor_problem(NanModel(pipe), {"lr": [1e-3, 1e-2]}, base)


def test_authors_encoding_is_one_column_per_component(frame: pd.DataFrame, pipe: Any) -> None:
    X = frame.drop(columns="acc")
    comps = {"lr": [1e-4, 1e-3, 1e-2], "opt": ["sgd", "adam"], "norm": ["bn", "bn,ln", "ln"]}
    problem = predictor_problem(pipe, comps, base_row(X, list(X.columns)), encoding="authors",
                                data=X)
    space = problem.space
    assert space.encoding == "authors" and space.n_features == X.shape[1] == 5
    rows = problem.encode_rows(X)
    assert rows.shape == (len(X), 5)
    flat = np.arange(space.n_candidates)
    configs = [space.config(int(k)) for k in flat]
    # the grid's features = the encoding of the candidate rows, in GP column order
    np.testing.assert_allclose(space.features(flat), problem.encode_rows(problem.frame(configs)),
                               rtol=0, atol=1e-12)
    by_name = dict(zip(["lr", "opt", "norm", "width", "dropout"], rows.T, strict=True))
    # numbers: log10(x) / log10(max) (max < 1: both logs negative)
    np.testing.assert_allclose(by_name["lr"], np.log10(X["lr"]) / np.log10(X["lr"].max()))
    # single-valued text: index in the sorted categories, min-max scaled
    np.testing.assert_allclose(by_name["opt"],
                               X["opt"].map({"adam": 0.0, "rmsprop": 0.5, "sgd": 1.0}))
    # keywords over the vocabulary [bn, ln, none]: bn = 100b = 4, "bn,ln" = 110b = 6,
    # ln = 010b = 2, none = 001b = 1; min-max over the rows: (v - 1) / 5
    np.testing.assert_allclose(by_name["norm"],
                               X["norm"].map({"bn": 0.6, "bn,ln": 1.0, "ln": 0.2, "none": 0.0}))
    # the predictor is unchanged: the objective is the same as with the kit's encoding
    kit = predictor_problem(pipe, comps, base_row(X, list(X.columns)))
    assert [problem.objective(c) for c in configs] == [kit.objective(c) for c in configs]
    bo = AlphaBetaBO.faithful(space, seed=0, n_restarts=1)
    bo.tell_features(rows, frame["acc"].to_numpy())
    res = bo.optimize(problem.objective, 3)
    assert res.settings["encoding"] == "authors" and res.settings["nu"] == 1.5
    with pytest.raises(ConfigError, match="data"):
        predictor_problem(pipe, comps, base_row(X, list(X.columns)), encoding="authors")


def test_grid_optimum_is_the_exhaustive_maximum(frame: pd.DataFrame, pipe: Any) -> None:
    X = frame.drop(columns="acc")
    comps = {"lr": [1e-4, 1e-3, 1e-2, 1e-1], "opt": ["sgd", "adam", "rmsprop"],
             "width": [16.0, 64.0, 128.0]}
    problem = predictor_problem(pipe, comps, base_row(X, list(X.columns)))
    space = problem.space
    # one predict per candidate, written out: the batched pass must give the same values
    one_by_one = np.array([problem.objective(space.config(k))
                           for k in range(space.n_candidates)])
    for chunk in (1, 5, 10_000):
        np.testing.assert_array_equal(problem.predict_grid(chunk_size=chunk), one_by_one)
    best, config = problem.grid_optimum()
    assert best == one_by_one.max()
    assert config == space.config(int(np.argmax(one_by_one)))
    with pytest.raises(ConfigError, match="chunk_size"):
        problem.predict_grid(chunk_size=0)
