"""numba kernels for one-column groups: every repeat of a column walked together, tree by tree.

For a one-column group (column ``c``) the permuted prediction of sample ``i`` in tree ``t``
depends on the permuted value ``v`` only at the nodes testing ``c``; everywhere else the walk
follows the sample's own row. So the ``n_repeats`` permuted values of ``(column, sample)`` are
sorted once (:func:`sort_permuted_values`) and walked *together* as index ranges of that sorted
list (:func:`column_permuted_predictions`): a node not testing ``c`` moves the whole range, a
node testing ``c`` splits it at the threshold (a contiguous split, the values being sorted),
so a path shared by several repeats is walked once. NaN values sit after the finite ones and
move as one range that follows ``missing_go_to_left``.

:func:`column_permuted_predictions` also does the baseline walk of each (tree, sample) itself,
recording for every column the first node of the path testing it and the interval ``(lo, hi]``
of that column's values that take the same branches as the sample's own value at every such
node: only the permuted values outside the interval are walked, from that first node, and a
value ending in another leaf than the baseline one adds the difference of the two leaf values.
Jobs are blocks of samples (each job walks every tree, in order, for its samples), so a
prediction sums its trees in the same order whatever the number of threads.

The node arrays are those of :mod:`effdl_kit.inspection._kernels` (``NODE_DTYPE``); the
reference is :func:`effdl_kit.inspection._kernels.reference_permuted_predictions`.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from effdl_kit._core import configure_numba

configure_numba()  # threading layer + cache dir must be set before numba is imported

from numba import njit, prange  # noqa: E402

__all__ = ["column_permuted_predictions", "sort_permuted_values"]

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]
B8 = npt.NDArray[np.bool_]
Nodes = npt.NDArray[np.void]


@njit(cache=True, parallel=True)
def sort_permuted_values(X: F32, perms_t: I64, cols: I64) -> tuple[F32, I32, I64]:
    """Each (group, sample)'s permuted values over the repeats, sorted (NaN last).

    Parameters
    ----------
    X : ndarray of float32, shape (n_samples, n_features)
    perms_t : ndarray of int64, shape (n_samples, n_repeats)
        Repeat ``r`` gives sample ``i`` the value ``X[perms_t[i, r], col]``.
    cols : ndarray of int64, shape (n_groups,)
        The column of each one-column group.

    Returns
    -------
    values : ndarray of float32, shape (n_groups, n_samples, n_repeats)
        Ascending, NaN after every finite value (numpy's order).
    repeats : ndarray of int32, shape (n_groups, n_samples, n_repeats)
        The repeat each sorted value comes from (stable for ties).
    n_finite : ndarray of int64, shape (n_groups, n_samples)
        How many of the values are not NaN.
    """
    n, n_repeats = perms_t.shape
    n_groups = cols.shape[0]
    values = np.empty((n_groups, n, n_repeats), dtype=np.float32)
    repeats = np.empty((n_groups, n, n_repeats), dtype=np.int32)
    n_finite = np.empty((n_groups, n), dtype=np.int64)
    for job in prange(n_groups):
        c = cols[job]
        tmp = np.empty(n_repeats, dtype=np.float32)
        for i in range(n):
            for r in range(n_repeats):
                tmp[r] = X[perms_t[i, r], c]
            order = np.argsort(tmp, kind="mergesort")
            k = 0
            for r in range(n_repeats):
                v = tmp[order[r]]
                values[job, i, r] = v
                repeats[job, i, r] = order[r]
                if v == v:
                    k += 1
            n_finite[job, i] = k
    return values, repeats, n_finite


#: walks advanced together (round robin) in :func:`column_permuted_predictions`
_W = 16


@njit(cache=True, parallel=True)
def column_permuted_predictions(
    X: F32,
    roots: I64,
    nodes: Nodes,
    missing_left: B8,
    value: F64,
    col_group_ptr: I64,
    col_group_idx: I64,
    cols: I64,
    values: F32,
    repeats: I32,
    n_finite: I64,
    block: int,
    max_items: int,
    max_depth: int,
    children: I32,
) -> tuple[F64, F64]:
    """Baseline predictions and predictions with each one-column group permuted.

    Parameters
    ----------
    X : ndarray of float32, shape (n_samples, n_features)
    roots, nodes, missing_left, value : the flattened forest (see ``_kernels``)
    col_group_ptr, col_group_idx : CSR, column ``j`` -> the one-column groups permuting it,
        ``col_group_idx[col_group_ptr[j]:col_group_ptr[j + 1]]``; shape (n_features + 1,), (k,)
    cols : ndarray of int64, shape (n_groups,)
        The column of each one-column group.
    values, repeats, n_finite : the sorted permuted values from :func:`sort_permuted_values`
    block : int
        Samples per parallel job.
    max_items : int
        Bound on the range walks of one sample in one tree, over all groups (each ends in a
        leaf with a non-empty, disjoint range of repeats: at most ``n_repeats`` per group).
    max_depth : int
        Depth of the deepest tree (internal nodes on the longest path).
    children : ndarray of int32, shape (n_nodes, 4)
        ``nodes`` viewed as int32 (column 0: ``left``, 1: ``right``), to pick a child by index.

    Returns
    -------
    baseline : ndarray of float64, shape (n_samples,)
        Mean over trees of the baseline leaf values.
    preds : ndarray of float64, shape (n_groups, n_samples, n_repeats)
        Mean over trees of the leaf values reached with the group's column permuted.
    """
    n = X.shape[0]
    n_feat = X.shape[1]
    n_trees = roots.shape[0]
    n_groups, _, n_repeats = values.shape
    base_sum = np.zeros(n)
    preds = np.zeros((n_groups, n, n_repeats))
    n_jobs = (n + block - 1) // block
    for job in prange(n_jobs):
        i0 = job * block
        i1 = min(n, i0 + block)
        first = np.full(n_feat, -1, dtype=np.int64)  # per column: first path position
        last = np.empty(n_feat, dtype=np.int64)
        touched = np.empty(n_feat, dtype=np.int64)
        path_node = np.empty(max_depth, dtype=np.int64)
        path_left = np.empty(max_depth, dtype=np.bool_)
        nxt = np.empty(max_depth, dtype=np.int64)  # next path position testing the same column
        leaf0 = np.empty(i1 - i0, dtype=np.int64)
        cap = (i1 - i0) * max_items
        q_node = np.empty(cap, dtype=np.int32)
        q_a = np.empty(cap, dtype=np.int32)
        q_b = np.empty(cap, dtype=np.int32)
        q_i = np.empty(cap, dtype=np.int32)
        q_g = np.empty(cap, dtype=np.int32)
        s_node = np.empty(_W, dtype=np.int64)
        s_a = np.empty(_W, dtype=np.int64)
        s_b = np.empty(_W, dtype=np.int64)
        s_i = np.empty(_W, dtype=np.int64)
        s_g = np.empty(_W, dtype=np.int64)
        s_c = np.empty(_W, dtype=np.int64)
        for t in range(n_trees):
            # 1. baseline walks: the leaf, and the path with, per column, a chain of the path's
            # nodes testing it. A permuted value follows the baseline path until the first of
            # those nodes where it takes the other branch: queue that child with the range of
            # sorted values diverging there (values taking every branch as the sample's own
            # value reach the baseline leaf and are not walked)
            m_q = 0
            for i in range(i0, i1):
                n_touched = 0
                depth = 0
                node = roots[t]
                while nodes[node].left != -1:
                    rec = nodes[node]
                    j = rec.feature
                    x = X[i, j]
                    go_left = x <= rec.threshold
                    if x != x:  # rare: a predictable branch instead of a load per step
                        go_left = missing_left[node]
                    path_node[depth] = node
                    path_left[depth] = go_left
                    nxt[depth] = -1
                    if first[j] < 0:
                        first[j] = depth
                        touched[n_touched] = j
                        n_touched += 1
                    else:
                        nxt[last[j]] = depth
                    last[j] = depth
                    depth += 1
                    node = children[node, 1 - np.int64(go_left)]
                leaf0[i - i0] = node
                base_sum[i] += value[node]
                for q in range(n_touched):
                    c = touched[q]
                    p0 = first[c]
                    first[c] = -1
                    for kg in range(col_group_ptr[c], col_group_ptr[c + 1]):
                        g = col_group_idx[kg]
                        m = n_finite[g, i]
                        a = 0  # values[g, i, a:b]: finite values agreeing so far
                        b = m
                        nan_open = m < n_repeats  # the NaNs, agreeing so far
                        p = p0
                        while p >= 0 and (a < b or nan_open):
                            nd = path_node[p]
                            th = nodes[nd].threshold
                            went_left = path_left[p]
                            if a < b and went_left:  # values above th go right here
                                k = b
                                while k > a and values[g, i, k - 1] > th:
                                    k -= 1
                                if k < b:
                                    q_node[m_q] = nodes[nd].right
                                    q_a[m_q] = k
                                    q_b[m_q] = b
                                    q_i[m_q] = i
                                    q_g[m_q] = g
                                    m_q += 1
                                    b = k
                            elif a < b:  # values up to th go left here
                                k = a
                                while k < b and values[g, i, k] <= th:
                                    k += 1
                                if k > a:
                                    q_node[m_q] = nodes[nd].left
                                    q_a[m_q] = a
                                    q_b[m_q] = k
                                    q_i[m_q] = i
                                    q_g[m_q] = g
                                    m_q += 1
                                    a = k
                            if nan_open and missing_left[nd] != went_left:
                                q_node[m_q] = children[nd, 1 - np.int64(missing_left[nd])]
                                q_a[m_q] = m
                                q_b[m_q] = n_repeats
                                q_i[m_q] = i
                                q_g[m_q] = g
                                m_q += 1
                                nan_open = False
                            p = nxt[p]
            # 2. range walks, _W at a time in round robin (a finished walk's slot takes the
            # next queued one; a split queues its right part): independent walks overlap
            n_act = min(_W, m_q)
            for k in range(n_act):
                s_node[k] = q_node[k]
                s_a[k] = q_a[k]
                s_b[k] = q_b[k]
                s_i[k] = q_i[k]
                s_g[k] = q_g[k]
                s_c[k] = cols[q_g[k]]
            q = n_act
            while n_act > 0:
                k = 0
                while k < n_act:
                    node = s_node[k]
                    rec = nodes[node]
                    if rec.left == -1:
                        i = s_i[k]
                        lf = leaf0[i - i0]
                        if node != lf:
                            g = s_g[k]
                            d = value[node] - value[lf]
                            for kk in range(s_a[k], s_b[k]):
                                preds[g, i, repeats[g, i, kk]] += d
                        if q < m_q:
                            s_node[k] = q_node[q]
                            s_a[k] = q_a[q]
                            s_b[k] = q_b[q]
                            s_i[k] = q_i[q]
                            s_g[k] = q_g[q]
                            s_c[k] = cols[q_g[q]]
                            q += 1
                        else:
                            n_act -= 1
                            s_node[k] = s_node[n_act]
                            s_a[k] = s_a[n_act]
                            s_b[k] = s_b[n_act]
                            s_i[k] = s_i[n_act]
                            s_g[k] = s_g[n_act]
                            s_c[k] = s_c[n_act]
                        continue
                    f = rec.feature
                    th = rec.threshold
                    if f != s_c[k]:
                        x = X[s_i[k], f]
                        go_left = x <= th
                        if x != x:  # rare: a predictable branch instead of a load per step
                            go_left = missing_left[node]
                        # left and right are adjacent int32 in the record: index, do not branch
                        s_node[k] = children[node, 1 - np.int64(go_left)]
                    else:
                        a = s_a[k]
                        b = s_b[k]
                        g = s_g[k]
                        i = s_i[k]
                        if a >= n_finite[g, i]:  # the NaN range
                            s_node[k] = rec.left if missing_left[node] else rec.right
                        else:  # split the sorted range at the threshold
                            kk = a
                            while kk < b and values[g, i, kk] <= th:
                                kk += 1
                            if kk == a:
                                s_node[k] = rec.right
                            elif kk == b:
                                s_node[k] = rec.left
                            else:
                                q_node[m_q] = rec.right
                                q_a[m_q] = kk
                                q_b[m_q] = b
                                q_i[m_q] = i
                                q_g[m_q] = g
                                m_q += 1
                                s_node[k] = rec.left
                                s_b[k] = kk
                    k += 1
        for i in range(i0, i1):
            for g in range(n_groups):
                for r in range(n_repeats):
                    preds[g, i, r] = (base_sum[i] + preds[g, i, r]) / n_trees
            base_sum[i] /= n_trees
    return base_sum, preds
