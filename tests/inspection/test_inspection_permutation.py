"""Permutation importance: exactness against scikit-learn, groups, pipelines, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.datasets import make_friedman1
from sklearn.ensemble import ExtraTreesRegressor, RandomForestRegressor
from sklearn.inspection import permutation_importance as sk_permutation_importance
from sklearn.linear_model import LinearRegression
from sklearn.metrics import check_scoring
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder
from sklearn.tree import DecisionTreeRegressor

from effdl_kit.errors import ConfigError, DataError
from effdl_kit.inspection import permutation_importance, top_components
from effdl_kit.inspection._permutation import permutation_indices


@pytest.fixture(scope="module")
def friedman() -> tuple[np.ndarray, np.ndarray]:
    X, y = make_friedman1(n_samples=300, n_features=6, noise=0.3, random_state=0)
    return X, y


@pytest.fixture(scope="module")
def forest(friedman: tuple[np.ndarray, np.ndarray]) -> RandomForestRegressor:
    X, y = friedman
    return RandomForestRegressor(n_estimators=25, random_state=0).fit(X, y)


def _scores_by_predict(est, X, y, perms, groups, scoring=None):  # type: ignore[no-untyped-def]
    """Scores of est.predict on each explicitly permuted matrix (scikit-learn's computation)."""
    scorer = check_scoring(est, scoring=scoring)
    out = np.empty((len(groups), perms.shape[0]))
    for g, cols in enumerate(groups):
        for r, p in enumerate(perms):
            Xp = X.copy()
            Xp[:, cols] = X[p][:, cols]
            out[g, r] = scorer(est, Xp, y)
    return float(scorer(est, X, y)), out


@pytest.mark.parametrize(
    "make",
    [
        lambda: RandomForestRegressor(n_estimators=20, random_state=1),
        lambda: ExtraTreesRegressor(n_estimators=20, random_state=2),
        lambda: DecisionTreeRegressor(random_state=3),
        lambda: RandomForestRegressor(n_estimators=15, max_depth=4, bootstrap=False),
    ],
)
@pytest.mark.parametrize("scoring", [None, "neg_mean_squared_error", "neg_median_absolute_error"])
def test_fast_scores_equal_predict_on_permuted_matrices(friedman, make, scoring) -> None:  # type: ignore[no-untyped-def]
    X, y = friedman
    est = make().fit(X, y)
    res = permutation_importance(est, X, y, n_repeats=4, random_state=7, scoring=scoring)
    assert res.method == "fast"
    perms = permutation_indices(X.shape[0], 4, res.seed)
    baseline, scores = _scores_by_predict(est, X, y, perms, [[j] for j in range(X.shape[1])],
                                          scoring)
    assert res.baseline_score == pytest.approx(baseline, abs=1e-9)
    np.testing.assert_allclose(res.importances, baseline - scores, rtol=0, atol=1e-9)
    assert res.importances.shape == (X.shape[1], 4)
    np.testing.assert_allclose(res.importances_mean, res.importances.mean(axis=1))
    np.testing.assert_allclose(res.importances_std, res.importances.std(axis=1))


def test_matches_sklearn_for_same_random_state(friedman, forest) -> None:  # type: ignore[no-untyped-def]
    X, y = friedman
    for rs in (0, 12345):
        ours = permutation_importance(forest, X, y, n_repeats=5, random_state=rs)
        ref = sk_permutation_importance(forest, X, y, n_repeats=5, random_state=rs)
        np.testing.assert_allclose(ours.importances, ref.importances, rtol=0, atol=1e-9)
    # the informative Friedman features (0..4) outrank the noise feature 5
    assert np.argmin(ours.importances_mean) == 5


def test_random_state_kinds(friedman, forest) -> None:  # type: ignore[no-untyped-def]
    X, y = friedman
    a = permutation_importance(forest, X, y, n_repeats=3, random_state=np.random.RandomState(4))
    b = sk_permutation_importance(forest, X, y, n_repeats=3, random_state=np.random.RandomState(4))
    np.testing.assert_allclose(a.importances, b.importances, atol=1e-9)
    g1 = permutation_importance(forest, X, y, n_repeats=3,
                                random_state=np.random.default_rng(9))
    g2 = permutation_importance(forest, X, y, n_repeats=3,
                                random_state=np.random.default_rng(9))
    np.testing.assert_array_equal(g1.importances, g2.importances)
    # None: fresh OS entropy each call (a 1 in 2**31 chance of a false failure)
    n1 = permutation_importance(forest, X, y, n_repeats=3)
    n2 = permutation_importance(forest, X, y, n_repeats=3)
    assert n1.seed != n2.seed


def test_generic_fallback_matches_sklearn(friedman) -> None:  # type: ignore[no-untyped-def]
    X, y = friedman
    lin = LinearRegression().fit(X, y)
    ours = permutation_importance(lin, X, y, n_repeats=3, random_state=5)
    ref = sk_permutation_importance(lin, X, y, n_repeats=3, random_state=5)
    assert ours.method == "generic"
    np.testing.assert_allclose(ours.importances, ref.importances, atol=1e-12)


def test_generic_method_on_forest_agrees_with_fast(friedman, forest) -> None:  # type: ignore[no-untyped-def]
    X, y = friedman
    groups = {"a": [0, 3], "b": [5], "c": [1, 2, 4]}
    fast = permutation_importance(forest, X, y, n_repeats=3, random_state=2, groups=groups)
    slow = permutation_importance(forest, X, y, n_repeats=3, random_state=2, groups=groups,
                                  method="generic", n_jobs=1)
    assert (fast.method, slow.method) == ("fast", "generic")
    np.testing.assert_allclose(fast.importances, slow.importances, atol=1e-9)


def test_groups_permute_columns_together(friedman, forest) -> None:  # type: ignore[no-untyped-def]
    X, y = friedman
    groups = {"pair": [1, 0], "noise": [5], "rest": [2, 3, 4]}
    res = permutation_importance(forest, X, y, n_repeats=3, random_state=11, groups=groups)
    assert res.feature_names == ["pair", "noise", "rest"]
    assert res.group_names == ["pair", "noise", "rest"]
    assert res.groups == {"pair": [1, 0], "noise": [5], "rest": [2, 3, 4]}
    perms = permutation_indices(X.shape[0], 3, res.seed)
    baseline, scores = _scores_by_predict(forest, X, y, perms, list(groups.values()))
    np.testing.assert_allclose(res.importances, baseline - scores, atol=1e-9)
    # a one-column group is the same as that column alone
    single = permutation_importance(forest, X, y, n_repeats=3, random_state=11)
    np.testing.assert_allclose(res.importances[1], single.importances[5], atol=1e-12)


def test_pipeline_groups_equal_sklearn_on_raw_columns() -> None:
    rng = np.random.default_rng(0)
    n = 240
    df = pd.DataFrame({
        "opt": rng.choice(["adam", "sgd", "rmsprop"], n),
        "act": rng.choice(["relu", "gelu"], n),
        "lr": rng.random(n),
        "bs": rng.integers(1, 5, n).astype(float),
    })
    y = (df["opt"] == "adam") * 2.0 + df["lr"] * 3 + (df["act"] == "gelu") + rng.normal(0, .1, n)
    pipe = Pipeline([
        ("enc", ColumnTransformer(
            [("cat", OneHotEncoder(sparse_output=True), ["opt", "act"])],
            remainder="passthrough")),
        ("rf", RandomForestRegressor(n_estimators=20, random_state=0)),
    ]).fit(df, y)
    names = list(pipe[:-1].get_feature_names_out())
    groups = {raw: [j for j, nm in enumerate(names) if nm.split("__")[1].startswith(raw)]
              for raw in df.columns}
    assert sorted(j for cols in groups.values() for j in cols) == list(range(len(names)))
    ours = permutation_importance(pipe, df, y, n_repeats=4, random_state=3, groups=groups)
    ref = sk_permutation_importance(pipe, df, y, n_repeats=4, random_state=3)
    assert ours.method == "fast"
    np.testing.assert_allclose(ours.importances, ref.importances, atol=1e-9)
    # without groups the rows are the encoded columns, named by the encoder
    enc = permutation_importance(pipe, df, y, n_repeats=2, random_state=3)
    assert enc.feature_names == [str(s) for s in names]
    assert enc.group_names is None and enc.importances.shape == (len(names), 2)


def test_nan_inputs_follow_missing_go_to_left() -> None:
    rng = np.random.default_rng(1)
    X = rng.random((200, 4))
    y = X[:, 0] * 2 + X[:, 1]
    X[rng.random(X.shape) < 0.15] = np.nan
    rf = RandomForestRegressor(n_estimators=15, random_state=0).fit(X, y)
    ours = permutation_importance(rf, X, y, n_repeats=3, random_state=1)
    ref = sk_permutation_importance(rf, X, y, n_repeats=3, random_state=1)
    np.testing.assert_allclose(ours.importances, ref.importances, atol=1e-9)


def test_top_components_ranks_with_confidence_interval(friedman, forest) -> None:  # type: ignore[no-untyped-def]
    X, y = friedman
    res = permutation_importance(forest, X, y, n_repeats=6, random_state=0)
    top = top_components(res, k=3)
    assert list(top.index) == [1, 2, 3]
    assert list(top.columns) == ["name", "mean", "std", "ci_low", "ci_high", "label"]
    order = np.argsort(-res.importances_mean)[:3]
    assert list(top["name"]) == [res.feature_names[i] for i in order]
    assert (np.diff(top["mean"].to_numpy()) <= 0).all()
    assert ((top["ci_low"] <= top["mean"]) & (top["mean"] <= top["ci_high"])).all()
    i = order[0]
    from scipy import stats

    half = stats.t.ppf(0.975, 5) * res.importances[i].std(ddof=1) / np.sqrt(6)
    assert top["ci_high"].iloc[0] - top["mean"].iloc[0] == pytest.approx(half)
    assert top["label"].iloc[0].startswith(f"{res.feature_names[i]}: ")
    assert len(top_components(res, k=50)) == X.shape[1]
    with pytest.raises(ConfigError, match="'k'"):
        top_components(res, k=0)


@pytest.mark.parametrize(
    ("kwargs", "exc", "field"),
    [
        ({"n_repeats": 0}, ConfigError, "n_repeats"),
        ({"n_repeats": 2.5}, ConfigError, "n_repeats"),
        ({"groups": {"a": [0, 99]}}, ConfigError, "groups"),
        ({"groups": {"a": []}}, ConfigError, "groups"),
        ({"groups": {"a": ["x0"]}}, ConfigError, "groups"),
        ({"method": "turbo"}, ConfigError, "method"),
        ({"n_jobs": 0}, ConfigError, "n_jobs"),
        ({"random_state": -1}, ConfigError, "random_state"),
        ({"scoring": ["r2", "neg_max_error"]}, ConfigError, "scoring"),
        ({"scoring": "no_such_metric"}, ConfigError, "scoring"),
    ],
)
def test_bad_arguments_raise_before_work(friedman, forest, kwargs, exc, field) -> None:  # type: ignore[no-untyped-def]
    X, y = friedman
    with pytest.raises(exc, match=field):
        permutation_importance(forest, X, y, **kwargs)


def test_bad_data_raises(friedman, forest) -> None:  # type: ignore[no-untyped-def]
    X, y = friedman
    with pytest.raises(ConfigError, match="'y'"):
        permutation_importance(forest, X, y[:-1])
    y_nan = y.copy()
    y_nan[3] = np.nan
    with pytest.raises(DataError, match="NaN"):
        permutation_importance(forest, X, y_nan)
    with pytest.raises(DataError, match="columns"):
        permutation_importance(forest, X[:, :4], y)
    with pytest.raises(ConfigError, match="fitted"):
        permutation_importance(RandomForestRegressor(), X, y)


def test_fast_path_refuses_non_forest_and_auto_falls_back(friedman) -> None:  # type: ignore[no-untyped-def]
    X, y = friedman
    lin = LinearRegression().fit(X, y)
    with pytest.raises(ConfigError, match="method") as info:
        permutation_importance(lin, X, y, method="fast")
    assert "LinearRegression" in str(info.value)
    assert permutation_importance(lin, X, y, n_repeats=1, random_state=0).method == "generic"
