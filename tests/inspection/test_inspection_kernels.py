"""The numba kernels against their plain numpy references and against scikit-learn's trees."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import ExtraTreesRegressor, RandomForestRegressor

from effdl_kit.inspection import _kernels as K
from effdl_kit.inspection._fast import fast_permuted_predictions, flatten_trees
from effdl_kit.inspection._permutation import permutation_indices


@pytest.fixture(scope="module")
def problem() -> tuple[np.ndarray, np.ndarray, RandomForestRegressor]:
    rng = np.random.default_rng(3)
    X = rng.random((150, 5))
    X[:, 3] = rng.integers(0, 2, 150)  # a binary column (exercises the "same value" skip)
    X[:, 4] = np.round(X[:, 4], 1)  # ties
    y = 3 * X[:, 0] + X[:, 1] * X[:, 3] + rng.normal(0, 0.05, 150)
    rf = RandomForestRegressor(n_estimators=12, random_state=0).fit(X, y)
    return X, y, rf


def test_threshold_rounding_is_exact_for_float32_inputs() -> None:
    # thresholds halfway between adjacent float32 values: round-to-nearest would flip ties
    a = np.float32(1.0)
    b = np.nextafter(a, np.float32(2))
    X = np.array([[a], [b]] * 5, dtype=np.float64)
    y = np.array([0.0, 1.0] * 5)
    et = ExtraTreesRegressor(n_estimators=8, random_state=0).fit(X, y)
    rf = RandomForestRegressor(n_estimators=8, random_state=0, bootstrap=False).fit(X, y)
    for est in (rf, et):
        fl = flatten_trees(est)
        leaves = K.apply_forest(X.astype(np.float32), fl["roots"], fl["nodes"], fl["missing_left"])
        np.testing.assert_allclose(fl["value"][leaves].mean(axis=0), est.predict(X), atol=1e-12)


def test_apply_forest_matches_reference_and_sklearn(problem) -> None:  # type: ignore[no-untyped-def]
    X, _, rf = problem
    X32 = X.astype(np.float32)
    fl = flatten_trees(rf)
    leaves = K.apply_forest(X32, fl["roots"], fl["nodes"], fl["missing_left"])
    ref = K.reference_apply_forest(X32, fl["roots"], fl["nodes"], fl["missing_left"])
    np.testing.assert_array_equal(leaves, ref)
    sk = np.stack([e.apply(X32) for e in rf.estimators_])  # tree-local node ids
    np.testing.assert_array_equal(leaves - fl["roots"][:, None], sk)


def test_group_path_lists(problem) -> None:  # type: ignore[no-untyped-def]
    X, _, rf = problem
    X32 = X.astype(np.float32)
    fl = flatten_trees(rf)
    groups = [[0], [1, 3], [4]]
    fg = [[g for g, cols in enumerate(groups) if j in cols] for j in range(5)]
    fg_ptr = np.r_[0, np.cumsum([len(x) for x in fg])].astype(np.int64)
    fg_idx = np.array([g for x in fg for g in x], dtype=np.int64)
    counts = K.count_group_paths(X32, fl["roots"], fl["nodes"], fl["missing_left"],
                                 fg_ptr, fg_idx, len(groups))
    offsets = np.r_[0, np.cumsum(counts.ravel())].astype(np.int64)
    sizes = np.array([len(c) for c in groups], dtype=np.int64)
    samples, starts, lo, hi = K.fill_group_paths(
        X32, fl["roots"], fl["nodes"], fl["missing_left"], fg_ptr, fg_idx, sizes, offsets)
    n_trees = len(rf.estimators_)
    for t, est in enumerate(rf.estimators_):
        paths = est.decision_path(X32).toarray().astype(bool)  # (n_samples, n_nodes)
        feat = est.tree_.feature
        for g, cols in enumerate(groups):
            sl = slice(offsets[g * n_trees + t], offsets[g * n_trees + t + 1])
            tests = paths & np.isin(feat, cols)[None, :]
            expected = np.flatnonzero(tests.any(axis=1))
            np.testing.assert_array_equal(samples[sl], expected)
            first = np.array([np.flatnonzero(tests[i])[0] for i in expected])  # depth-first ids
            np.testing.assert_array_equal(starts[sl] - fl["roots"][t], first)
            if len(cols) > 1:
                assert (lo[sl] == np.inf).all() and (hi[sl] == -np.inf).all()
            else:  # the sample's own value lies in its interval
                x = X32[samples[sl], cols[0]]
                assert ((x > lo[sl]) & (x <= hi[sl])).all()


@pytest.mark.parametrize("n_threads", [1, 2])
def test_permuted_predictions_match_reference(problem, n_threads) -> None:  # type: ignore[no-untyped-def]
    X, _, rf = problem
    X32 = np.ascontiguousarray(X.astype(np.float32))
    groups = [[0], [1], [2], [3], [4], [0, 3], [1, 2, 4]]
    perms = permutation_indices(X.shape[0], 3, 42)
    base, preds = fast_permuted_predictions(rf, X32, perms, groups, n_threads)
    fl = flatten_trees(rf)
    ref = K.reference_permuted_predictions(
        X32, perms, fl["roots"], fl["nodes"], fl["missing_left"], fl["value"], groups)
    np.testing.assert_allclose(preds, ref, rtol=0, atol=1e-12)
    np.testing.assert_allclose(base, rf.predict(X), rtol=0, atol=1e-12)
    # and against the estimator itself on one explicitly permuted matrix
    Xp = X.copy()
    Xp[:, [1, 2, 4]] = X[perms[2]][:, [1, 2, 4]]
    np.testing.assert_allclose(preds[6, 2], rf.predict(Xp), rtol=0, atol=1e-12)


def test_permutation_indices_reproduce_sklearn_cumulative_shuffles() -> None:
    rs = np.random.RandomState(5)
    idx = np.arange(20)
    col = np.arange(20) * 10
    perms = permutation_indices(20, 4, 5)
    for r in range(4):
        rs.shuffle(idx)
        col = col[idx]
        np.testing.assert_array_equal(col, perms[r] * 10)
