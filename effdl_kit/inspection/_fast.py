"""The fast path of permutation importance: fitted tree ensembles flattened for numba kernels.

:func:`fast_permuted_predictions` sends each group to the kernel that suits it:

* one-column groups (the default: every column alone) go to
  :mod:`effdl_kit.inspection._column_kernels`, which walks the ``n_repeats`` permuted values of
  a (column, sample) together as ranges of their sorted list, tree by tree, and finds the
  baseline paths in the same pass;
* larger groups go to :mod:`effdl_kit.inspection._kernels` (path lists per (group, tree), one
  walk per (sample, repeat) from the first node testing the group).

Both give the predictions a plain ``estimator.predict`` gives on each permuted matrix, up to
the rounding of the float64 sums (the trees are summed in the same order).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from effdl_kit._core import DataError

__all__ = ["fast_permuted_predictions", "flatten_trees"]

_INT32_MAX = int(np.iinfo(np.int32).max)
F64 = npt.NDArray[np.float64]

#: parallel jobs (blocks of samples) per thread in the one-column kernel
_JOBS_PER_THREAD = 4
#: fewest samples per job: each job walks every tree, so tiny blocks reload the trees often
_MIN_BLOCK = 32


def flatten_trees(final: Any) -> dict[str, np.ndarray]:
    """Flatten a fitted tree/forest regressor into the kernels' node arrays (see _kernels).

    Returns a dict with ``roots``, ``nodes`` (``NODE_DTYPE``), ``missing_left``, ``value`` and
    ``max_depth`` (a 0-d int64 array: the deepest tree's depth).
    """
    # numba is heavy to import: the kernels load only when the fast path runs
    from effdl_kit.inspection._kernels import NODE_DTYPE

    trees = final.estimators_ if hasattr(final, "estimators_") else [final]
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("l", "r", "f", "thr", "m", "v")}
    roots = np.empty(len(trees), dtype=np.int64)
    offset = 0
    max_depth = 0
    for t, est in enumerate(trees):
        tree = est.tree_
        roots[t] = offset
        max_depth = max(max_depth, int(tree.max_depth))
        left = tree.children_left.astype(np.int64)
        right = tree.children_right.astype(np.int64)
        leaf = left == -1
        parts["l"].append(np.where(leaf, -1, left + offset).astype(np.int32))
        parts["r"].append(np.where(leaf, -1, right + offset).astype(np.int32))
        parts["f"].append(np.where(leaf, 0, tree.feature).astype(np.int32))
        thr = np.asarray(tree.threshold, dtype=np.float64)
        thr32 = thr.astype(np.float32)
        # largest float32 <= thr: then x32 <= thr32  <=>  x32 <= thr (sklearn's comparison)
        up = thr32.astype(np.float64) > thr
        thr32[up] = np.nextafter(thr32[up], np.float32(-np.inf))
        parts["thr"].append(thr32)
        parts["m"].append(np.asarray(tree.missing_go_to_left, dtype=np.bool_))
        parts["v"].append(np.asarray(tree.value[:, 0, 0], dtype=np.float64))
        offset += tree.node_count
    if offset >= _INT32_MAX:
        raise DataError(f"forest too large for int32 node indices ({offset} nodes)")
    nodes = np.empty(offset, dtype=NODE_DTYPE)
    nodes["left"] = np.concatenate(parts["l"])
    nodes["right"] = np.concatenate(parts["r"])
    nodes["feature"] = np.concatenate(parts["f"])
    nodes["threshold"] = np.concatenate(parts["thr"])
    return {
        "roots": roots,
        "nodes": nodes,
        "missing_left": np.concatenate(parts["m"]),
        "value": np.concatenate(parts["v"]),
        "max_depth": np.asarray(max_depth, dtype=np.int64),
    }


def _csr(lists: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    ptr = np.zeros(len(lists) + 1, dtype=np.int64)
    ptr[1:] = np.cumsum([len(x) for x in lists])
    idx = np.array([j for x in lists for j in x], dtype=np.int64)
    return ptr, idx


def _column_groups(
    fl: dict[str, np.ndarray], X32: npt.NDArray[np.float32], perms_t: npt.NDArray[np.int64],
    cols: list[int], n_threads: int,
) -> tuple[F64, F64]:
    """Baseline (n_samples,) and predictions (n_groups, n_samples, n_repeats) of 1-col groups."""
    from effdl_kit.inspection import _column_kernels as C  # numba: loaded on first fast call

    n, n_repeats = perms_t.shape
    col_arr = np.asarray(cols, dtype=np.int64)
    col_groups: list[list[int]] = [[] for _ in range(X32.shape[1])]
    for g, c in enumerate(cols):
        col_groups[c].append(g)
    cg_ptr, cg_idx = _csr(col_groups)
    # range walks one sample starts in one tree: <= n_repeats per group of each column tested
    per_col = max(len(x) for x in col_groups)
    touched = min(len(cols), max(1, int(fl["max_depth"])) * per_col)
    max_items = n_repeats * touched
    block = max(_MIN_BLOCK, -(-n // (_JOBS_PER_THREAD * n_threads)))
    values, repeats, n_finite = C.sort_permuted_values(X32, perms_t, col_arr)
    return C.column_permuted_predictions(
        X32, fl["roots"], fl["nodes"], fl["missing_left"], fl["value"], cg_ptr, cg_idx,
        col_arr, values, repeats, n_finite, block, max_items, max(1, int(fl["max_depth"])),
        fl["nodes"].view(np.int32).reshape(-1, 4),
    )


def _multi_column_groups(
    fl: dict[str, np.ndarray], X32: npt.NDArray[np.float32], perms_t: npt.NDArray[np.int64],
    groups: list[list[int]], n_threads: int,
) -> tuple[F64, F64]:
    """Baseline (n_samples,) and predictions (n_groups, n_repeats, n_samples) of any groups."""
    from effdl_kit.inspection import _kernels as K  # numba: loaded on first fast call

    n_cols = X32.shape[1]
    n_trees = fl["roots"].shape[0]
    feat_groups: list[list[int]] = [[] for _ in range(n_cols)]
    for g, cols in enumerate(groups):
        for j in cols:
            feat_groups[j].append(g)
    fg_ptr, fg_idx = _csr(feat_groups)
    g_ptr, g_cols = _csr(groups)
    g_mask = np.zeros((len(groups), n_cols), dtype=np.bool_)
    for g, cols in enumerate(groups):
        g_mask[g, cols] = True
    group_size = np.array([len(c) for c in groups], dtype=np.int64)
    tree_args = (fl["nodes"], fl["missing_left"])
    n_repeats = perms_t.shape[1]
    # enough (group, block of repeats) jobs to keep every thread busy under dynamic scheduling
    n_blocks = min(n_repeats, max(1, -(-8 * n_threads // len(groups))))
    leaves = K.apply_forest(X32, fl["roots"], *tree_args)
    base_sum = fl["value"][leaves].sum(axis=0)
    counts = K.count_group_paths(X32, fl["roots"], *tree_args, fg_ptr, fg_idx, len(groups))
    offsets = np.zeros(len(groups) * n_trees + 1, dtype=np.int64)
    np.cumsum(counts.ravel(), out=offsets[1:])
    samples, starts, lo, hi = K.fill_group_paths(
        X32, fl["roots"], *tree_args, fg_ptr, fg_idx, group_size, offsets
    )
    with K.parallel_chunksize(1):
        preds = K.permuted_predictions(
            X32, perms_t, *tree_args, fl["value"], leaves, base_sum,
            g_ptr, g_cols, g_mask, offsets, samples, starts, lo, hi, n_blocks,
            fl["nodes"].view(np.int32).reshape(-1, 4),
        )
    return base_sum / n_trees, preds


def fast_permuted_predictions(
    final: Any, X32: npt.NDArray[np.float32], perms: npt.NDArray[np.int64],
    groups: list[list[int]], n_threads: int,
) -> tuple[F64, F64]:
    """Baseline and permuted predictions of a fitted tree/forest regressor via the kernels.

    Parameters
    ----------
    final : fitted RandomForestRegressor, ExtraTreesRegressor or DecisionTreeRegressor
    X32 : ndarray of float32, shape (n_samples, n_features), C-contiguous
    perms : ndarray of int64, shape (n_repeats, n_samples)
        Row indices of each repeat (see ``permutation_indices``).
    groups : list of list of int
        Columns permuted together, per group.
    n_threads : int
        numba threads.

    Returns
    -------
    baseline : ndarray of float64, shape (n_samples,)
    preds : ndarray of float64, shape (n_groups, n_repeats, n_samples)
    """
    from effdl_kit.inspection import _kernels as K  # numba: loaded on first fast call

    fl = flatten_trees(final)
    perms_t = np.ascontiguousarray(perms.T)
    single = [g for g, cols in enumerate(groups) if len(cols) == 1]
    multi = [g for g, cols in enumerate(groups) if len(cols) > 1]
    preds = np.empty((len(groups), perms.shape[0], X32.shape[0]))
    baseline: F64 | None = None
    previous = K.get_num_threads()
    K.set_num_threads(n_threads)
    try:
        if single:
            baseline, p1 = _column_groups(
                fl, X32, perms_t, [groups[g][0] for g in single], n_threads
            )
            preds[single] = p1.transpose(0, 2, 1)
        if multi:
            base_m, preds[multi] = _multi_column_groups(
                fl, X32, perms_t, [groups[g] for g in multi], n_threads
            )
            baseline = base_m if baseline is None else baseline
    finally:
        K.set_num_threads(previous)
    assert baseline is not None  # groups is never empty
    return baseline, preds
