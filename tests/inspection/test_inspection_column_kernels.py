"""The one-column kernels (all repeats walked together) against the plain numpy reference."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import ExtraTreesRegressor, RandomForestRegressor
from sklearn.tree import DecisionTreeRegressor

from effdl_kit.inspection import _column_kernels as C
from effdl_kit.inspection import _kernels as K
from effdl_kit.inspection._fast import fast_permuted_predictions, flatten_trees
from effdl_kit.inspection._permutation import permutation_indices


def _reference(est, X32, perms, groups):  # type: ignore[no-untyped-def]
    fl = flatten_trees(est)
    return K.reference_permuted_predictions(
        X32, perms, fl["roots"], fl["nodes"], fl["missing_left"], fl["value"], groups)


def _data(n: int = 160, seed: int = 4) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.random((n, 4))
    X[:, 2] = np.round(X[:, 2], 1)  # ties among the permuted values
    X[:, 3] = rng.integers(0, 2, n)  # binary: most permuted values equal the own one
    y = 2 * X[:, 0] + np.sin(6 * X[:, 1]) + X[:, 2] * X[:, 3] + rng.normal(0, 0.05, n)
    return X, y


def test_sort_permuted_values_orders_each_sample_nan_last() -> None:
    X = np.array([[3.0], [np.nan], [1.0], [2.0], [1.0]], dtype=np.float32)
    perms = np.array([[4, 3, 2, 1, 0], [1, 0, 4, 3, 2], [2, 2, 2, 2, 2]], dtype=np.int64)
    values, repeats, n_finite = C.sort_permuted_values(
        X, np.ascontiguousarray(perms.T), np.array([0], dtype=np.int64))
    for i in range(5):
        raw = X[perms[:, i], 0]
        np.testing.assert_array_equal(values[0, i], np.sort(raw))  # numpy sorts NaN last
        np.testing.assert_array_equal(values[0, i], raw[repeats[0, i]])
        assert n_finite[0, i] == np.count_nonzero(~np.isnan(raw))
    # sample 0 gets 1.0 in repeats 0 and 2, NaN in repeat 1: ties keep the repeats' order
    assert list(repeats[0, 0]) == [0, 2, 1]


@pytest.mark.parametrize(
    "make",
    [
        lambda: RandomForestRegressor(n_estimators=10, random_state=0),
        lambda: ExtraTreesRegressor(n_estimators=8, random_state=1),
        lambda: DecisionTreeRegressor(random_state=2),
        lambda: RandomForestRegressor(n_estimators=6, max_depth=1, random_state=3),  # stumps
    ],
)
@pytest.mark.parametrize("n_repeats", [1, 3, 40])  # 40: more walks than round-robin slots
@pytest.mark.parametrize("n_threads", [1, 2])
def test_column_groups_match_reference(make, n_repeats, n_threads) -> None:  # type: ignore[no-untyped-def]
    X, y = _data()
    est = make().fit(X, y)
    X32 = np.ascontiguousarray(X.astype(np.float32))
    groups = [[0], [1], [2], [3], [1]]  # a column twice: both groups get the same predictions
    perms = permutation_indices(X.shape[0], n_repeats, 17)
    base, preds = fast_permuted_predictions(est, X32, perms, groups, n_threads)
    np.testing.assert_allclose(preds, _reference(est, X32, perms, groups), rtol=0, atol=1e-12)
    np.testing.assert_allclose(base, est.predict(X), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(preds[1], preds[4])


def test_results_do_not_depend_on_threads_or_blocks() -> None:
    X, y = _data(n=300, seed=8)
    rf = RandomForestRegressor(n_estimators=12, random_state=0).fit(X, y)
    X32 = np.ascontiguousarray(X.astype(np.float32))
    perms = permutation_indices(X.shape[0], 5, 3)
    groups = [[j] for j in range(4)]
    _, one = fast_permuted_predictions(rf, X32, perms, groups, 1)
    _, two = fast_permuted_predictions(rf, X32, perms, groups, 2)
    np.testing.assert_array_equal(one, two)  # every prediction sums its trees in order


def test_constant_target_single_leaf_trees() -> None:
    X, _ = _data(n=40)
    rf = RandomForestRegressor(n_estimators=3, random_state=0).fit(X, np.full(40, 2.5))
    X32 = np.ascontiguousarray(X.astype(np.float32))
    perms = permutation_indices(40, 4, 1)
    base, preds = fast_permuted_predictions(rf, X32, perms, [[0], [3]], 1)
    np.testing.assert_array_equal(base, np.full(40, 2.5))
    np.testing.assert_array_equal(preds, np.full((2, 4, 40), 2.5))


@pytest.mark.parametrize("nan_at", ["train_and_predict", "predict_only"])
def test_nan_values_follow_missing_go_to_left(nan_at) -> None:  # type: ignore[no-untyped-def]
    X, y = _data(n=240, seed=11)
    rng = np.random.default_rng(5)
    Xn = X.copy()
    Xn[rng.random(240) < 0.2, 0] = np.nan  # baseline NaNs and NaNs moved in by permutations
    Xn[rng.random(240) < 0.1, 1] = np.nan
    fit_X = Xn if nan_at == "train_and_predict" else X
    rf = RandomForestRegressor(n_estimators=8, random_state=0).fit(fit_X, y)
    X32 = np.ascontiguousarray(Xn.astype(np.float32))
    perms = permutation_indices(240, 6, 9)
    groups = [[0], [1], [2]]
    base, preds = fast_permuted_predictions(rf, X32, perms, groups, 2)
    np.testing.assert_allclose(preds, _reference(rf, X32, perms, groups), rtol=0, atol=1e-12)
    np.testing.assert_allclose(base, rf.predict(Xn), rtol=0, atol=1e-12)
    Xp = Xn.copy()
    Xp[:, 0] = Xn[perms[4], 0]
    np.testing.assert_allclose(preds[0, 4], rf.predict(Xp), rtol=0, atol=1e-12)


def test_inf_values_are_ordinary_extremes() -> None:
    X, y = _data(n=120, seed=2)
    rf = RandomForestRegressor(n_estimators=6, random_state=0).fit(X, y)
    Xi = X.copy()
    Xi[::7, 0] = np.inf
    Xi[3::11, 0] = -np.inf
    X32 = np.ascontiguousarray(Xi.astype(np.float32))
    perms = permutation_indices(120, 4, 2)
    _, preds = fast_permuted_predictions(rf, X32, perms, [[0]], 1)
    np.testing.assert_allclose(preds, _reference(rf, X32, perms, [[0]]), rtol=0, atol=1e-12)
