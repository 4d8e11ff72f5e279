"""numba kernels for permutation importance on flattened tree ensembles, with Python references.

A fitted forest (or a single tree) is flattened into node arrays concatenated over the trees:
``nodes`` (records of :data:`NODE_DTYPE`: ``left``/``right`` global child indices, ``-1`` at
leaves; ``feature``; ``threshold`` as float32 rounded *down*, so that ``x32 <= thr32`` is
exactly scikit-learn's ``x32 <= thr64``), ``missing_left`` (scikit-learn's
``missing_go_to_left``: where a NaN goes) and ``value`` (the leaf prediction, float64).
``roots[t]`` is the global index of tree ``t``'s root.

Work is split in two:

1. :func:`apply_forest` finds the baseline leaf of every (tree, sample);
   :func:`count_group_paths` / :func:`fill_group_paths` record, per (group, tree), the samples
   whose baseline path tests a feature of the group and the first node on that path doing so.
2. :func:`permuted_predictions` re-traverses only those (tree, sample) pairs, from that first
   node, with the group's columns taken from the permuted row; every other pair keeps its
   baseline leaf, and a sample whose permuted group values equal its own is skipped. A tree's
   re-traversals are queued and advanced a few at a time in round robin, branch-free (child
   picked by index), so that independent walks overlap their memory latency.

Each kernel has a plain numpy reference (``reference_*``) that computes the same thing the
obvious way (full traversal of every tree for every permuted matrix); the tests compare them.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from effdl_kit._core import configure_numba

configure_numba()  # threading layer + cache dir must be set before numba is imported

from numba import (  # noqa: E402
    config,
    get_num_threads,
    njit,
    parallel_chunksize,
    prange,
    set_num_threads,
)

__all__ = [
    "NODE_DTYPE",
    "apply_forest",
    "count_group_paths",
    "fill_group_paths",
    "get_num_threads",
    "max_threads",
    "parallel_chunksize",
    "permuted_predictions",
    "reference_apply_forest",
    "reference_permuted_predictions",
    "set_num_threads",
]

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]
B8 = npt.NDArray[np.bool_]
Nodes = npt.NDArray[np.void]

#: one tree node in 16 bytes: a traversal step touches one cache line
NODE_DTYPE = np.dtype(
    [("left", np.int32), ("right", np.int32), ("feature", np.int32), ("threshold", np.float32)]
)


#: walks advanced together (round robin) in :func:`permuted_predictions`
_W = 16


def max_threads() -> int:
    """Most threads a kernel may use (``NUMBA_NUM_THREADS``)."""
    return int(config.NUMBA_NUM_THREADS)  # type: ignore[attr-defined]


@njit(cache=True, inline="always")
def _go(x: float, node: int, nodes: Nodes, missing_left: B8) -> int:
    # scikit-learn's Tree._apply_dense: NaN follows missing_go_to_left, else x <= threshold
    rec = nodes[node]
    if x <= rec.threshold:
        return int(rec.left)
    if x != x and missing_left[node]:
        return int(rec.left)
    return int(rec.right)


@njit(cache=True, parallel=True)
def apply_forest(
    X: F32, roots: I64, nodes: Nodes, missing_left: B8
) -> I32:
    """Baseline leaf (global node index) of every sample in every tree.

    Parameters
    ----------
    X : ndarray of float32, shape (n_samples, n_features)
    roots : ndarray of int64, shape (n_trees,)
    nodes : ndarray of NODE_DTYPE, shape (n_nodes,)
    missing_left : ndarray of bool, shape (n_nodes,)

    Returns
    -------
    leaves : ndarray of int32, shape (n_trees, n_samples)
    """
    n = X.shape[0]
    n_trees = roots.shape[0]
    leaves = np.empty((n_trees, n), dtype=np.int32)
    for t in prange(n_trees):
        for i in range(n):
            node = roots[t]
            while nodes[node].left != -1:
                node = _go(X[i, nodes[node].feature], node, nodes, missing_left)
            leaves[t, i] = node
    return leaves


@njit(cache=True, parallel=True)
def count_group_paths(
    X: F32,
    roots: I64,
    nodes: Nodes,
    missing_left: B8,
    feat_group_ptr: I64,
    feat_group_idx: I64,
    n_groups: int,
) -> I64:
    """Per (group, tree): how many samples have a baseline path testing a feature of the group.

    ``feat_group_idx[feat_group_ptr[j]:feat_group_ptr[j + 1]]`` lists the groups holding
    feature ``j`` (CSR). Returns int64 of shape (n_groups, n_trees).
    """
    n = X.shape[0]
    n_trees = roots.shape[0]
    counts = np.zeros((n_groups, n_trees), dtype=np.int64)
    for t in prange(n_trees):
        seen = np.full(n_groups, -1, dtype=np.int64)
        for i in range(n):
            node = roots[t]
            while nodes[node].left != -1:
                j = nodes[node].feature
                for k in range(feat_group_ptr[j], feat_group_ptr[j + 1]):
                    g = feat_group_idx[k]
                    if seen[g] != i:
                        seen[g] = i
                        counts[g, t] += 1
                node = _go(X[i, j], node, nodes, missing_left)
    return counts


@njit(cache=True, parallel=True)
def fill_group_paths(
    X: F32,
    roots: I64,
    nodes: Nodes,
    missing_left: B8,
    feat_group_ptr: I64,
    feat_group_idx: I64,
    group_size: I64,
    offsets: I64,
) -> tuple[I32, I32, F32, F32]:
    """Fill the (group, tree) -> [(sample, first node testing the group, interval)] lists.

    ``offsets`` has shape (n_groups * n_trees + 1,): the entries of (group ``g``, tree ``t``)
    are ``offsets[g * n_trees + t]:offsets[g * n_trees + t + 1]``, samples in increasing order.
    For a one-column group the entry also holds the interval ``(lo, hi]`` of that column's
    values that follow the sample's baseline path at every node testing the column (a
    permuted value inside it reaches the same leaf); it is empty (``lo=+inf, hi=-inf``) for
    larger groups and for a NaN baseline value.

    Returns
    -------
    samples, starts : ndarray of int32, shape (offsets[-1],)
    lo, hi : ndarray of float32, shape (offsets[-1],)
    """
    n = X.shape[0]
    n_trees = roots.shape[0]
    n_groups = (offsets.shape[0] - 1) // n_trees
    total = offsets[-1]
    samples = np.empty(total, dtype=np.int32)
    starts = np.empty(total, dtype=np.int32)
    lo = np.empty(total, dtype=np.float32)
    hi = np.empty(total, dtype=np.float32)
    for t in prange(n_trees):
        seen = np.full(n_groups, -1, dtype=np.int64)
        cursor = np.empty(n_groups, dtype=np.int64)
        for g in range(n_groups):
            cursor[g] = offsets[g * n_trees + t]
        for i in range(n):
            node = roots[t]
            while nodes[node].left != -1:
                j = nodes[node].feature
                x = X[i, j]
                for k in range(feat_group_ptr[j], feat_group_ptr[j + 1]):
                    g = feat_group_idx[k]
                    if seen[g] != i:
                        seen[g] = i
                        pos = cursor[g]
                        samples[pos] = i
                        starts[pos] = node
                        if group_size[g] == 1 and x == x:
                            lo[pos] = -np.inf
                            hi[pos] = np.inf
                        else:
                            lo[pos] = np.inf
                            hi[pos] = -np.inf
                        cursor[g] += 1
                    if group_size[g] == 1 and x == x:
                        pos = cursor[g] - 1
                        th = nodes[node].threshold
                        if x <= th:
                            hi[pos] = min(hi[pos], th)
                        else:
                            lo[pos] = max(lo[pos], th)
                node = _go(x, node, nodes, missing_left)
    return samples, starts, lo, hi


@njit(cache=True, parallel=True)
def permuted_predictions(
    X: F32,
    perms_t: I64,
    nodes: Nodes,
    missing_left: B8,
    value: F64,
    leaves: I32,
    base_sum: F64,
    group_ptr: I64,
    group_cols: I64,
    group_mask: B8,
    offsets: I64,
    samples: I32,
    starts: I32,
    lo: F32,
    hi: F32,
    n_blocks: int,
    nodes_i32: I32,
) -> F64:
    """Ensemble predictions with each group's columns permuted, for every repeat.

    Parameters
    ----------
    X : ndarray of float32, shape (n_samples, n_features)
    perms_t : ndarray of int64, shape (n_samples, n_repeats)
        Column ``r``: the permuted column of repeat ``r`` is ``X[perms_t[:, r], col]``.
    nodes, missing_left, value : node arrays, shape (n_nodes,)
    leaves : ndarray of int32, shape (n_trees, n_samples)
        Baseline leaves from :func:`apply_forest`.
    base_sum : ndarray of float64, shape (n_samples,)
        Sum over trees of the baseline leaf values.
    group_ptr, group_cols : CSR of the columns of each group, shapes (n_groups + 1,), (nnz,)
    group_mask : ndarray of bool, shape (n_groups, n_features)
    offsets, samples, starts, lo, hi : the path lists from :func:`fill_group_paths`.
    n_blocks : int
        Repeats are split in this many blocks; one parallel job = (group, block of repeats).
    nodes_i32 : ndarray of int32, shape (n_nodes, 4)
        ``nodes`` viewed as int32 (column 0: ``left``, 1: ``right``), to pick a child by index.

    Returns
    -------
    preds : ndarray of float64, shape (n_groups, n_repeats, n_samples)
        Mean over trees of the leaf values reached with the group permuted.
    """
    n = X.shape[0]
    n_trees = leaves.shape[0]
    n_groups = group_mask.shape[0]
    n_repeats = perms_t.shape[1]
    block = (n_repeats + n_blocks - 1) // n_blocks
    preds = np.empty((n_groups, n_repeats, n))
    # job index interleaves groups so that neighbouring jobs mix cheap and costly groups
    for job in prange(n_groups * n_blocks):
        g = job % n_groups
        r0 = (job // n_groups) * block
        r1 = min(n_repeats, r0 + block)
        if r0 >= r1:
            continue
        gmask = group_mask[g]
        nb = r1 - r0
        single = group_ptr[g + 1] - group_ptr[g] == 1
        c0 = group_cols[group_ptr[g]]
        # one-column group: the permuted values, (sample, repeat) contiguous for the job;
        # larger group: same[i, r] = the permuted row carries the sample's own group values
        vals = np.empty((n, nb), dtype=np.float32)
        same = np.zeros((n, nb), dtype=np.bool_)
        for i in range(n):
            for rr in range(nb):
                src = perms_t[i, r0 + rr]
                if single:
                    vals[i, rr] = X[src, c0]
                else:
                    eq = True
                    for k in range(group_ptr[g], group_ptr[g + 1]):
                        c = group_cols[k]
                        a = X[i, c]
                        b = X[src, c]
                        if not (a == b or (a != a and b != b)):
                            eq = False
                            break
                    same[i, rr] = eq
        for r in range(r0, r1):
            for i in range(n):
                preds[g, r, i] = base_sum[i]
        # a tree's walks are queued first, then advanced _W at a time in round robin, one node
        # per walk per round (a finished walk's slot takes the next queued one): the
        # independent walks overlap their memory latency
        cap = n * nb
        children = nodes_i32
        q_node = np.empty(cap, dtype=np.int32)
        q_i = np.empty(cap, dtype=np.int32)
        q_x = np.empty(cap, dtype=np.int32)  # source row of the permuted values
        q_r = np.empty(cap, dtype=np.int32)
        s_node = np.empty(_W, dtype=np.int64)
        s_i = np.empty(_W, dtype=np.int64)
        s_x = np.empty(_W, dtype=np.int64)
        s_r = np.empty(_W, dtype=np.int64)
        for t in range(n_trees):
            base = g * n_trees + t
            m = 0
            for p in range(offsets[base], offsets[base + 1]):
                i = samples[p]
                lo_p = lo[p]
                hi_p = hi[p]
                s0 = starts[p]
                for rr in range(nb):
                    if single:
                        v = vals[i, rr]
                        if v > lo_p and v <= hi_p:
                            continue  # every test of the column on the path decides as before
                    elif same[i, rr]:
                        continue
                    q_node[m] = s0
                    q_i[m] = i
                    q_x[m] = perms_t[i, r0 + rr]
                    q_r[m] = rr
                    m += 1
            n_act = min(_W, m)
            for k in range(n_act):
                s_node[k] = q_node[k]
                s_i[k] = q_i[k]
                s_x[k] = q_x[k]
                s_r[k] = q_r[k]
            q = n_act
            while n_act > 0:
                k = 0
                while k < n_act:
                    node = s_node[k]
                    rec = nodes[node]
                    nl = rec.left
                    if nl == -1:
                        i = s_i[k]
                        leaf = leaves[t, i]
                        if node != leaf:
                            preds[g, r0 + s_r[k], i] += value[node] - value[leaf]
                        if q < m:
                            s_node[k] = q_node[q]
                            s_i[k] = q_i[q]
                            s_x[k] = q_x[q]
                            s_r[k] = q_r[q]
                            q += 1
                        else:
                            n_act -= 1
                            s_node[k] = s_node[n_act]
                            s_i[k] = s_i[n_act]
                            s_x[k] = s_x[n_act]
                            s_r[k] = s_r[n_act]
                        continue
                    j = rec.feature
                    # the permuted row for the group's columns, the sample's own row otherwise
                    ii = s_i[k]
                    x = X[ii + (s_x[k] - ii) * np.int64(gmask[j]), j]
                    go_left = (x <= rec.threshold) | ((x != x) & missing_left[node])
                    # left and right are adjacent int32 in the record: index, do not branch
                    s_node[k] = children[node, 1 - np.int64(go_left)]
                    k += 1
        for r in range(r0, r1):
            for i in range(n):
                preds[g, r, i] /= n_trees
    return preds


# ----------------------------------------------------------------------------------------------
# plain numpy references (full traversal, no skipping): what the kernels must reproduce


def reference_apply_forest(X: F32, roots: I64, nodes: Nodes, missing_left: B8) -> I32:
    """Reference for :func:`apply_forest`: level-synchronous numpy traversal of every tree."""
    left = nodes["left"].astype(np.int64)
    right = nodes["right"].astype(np.int64)
    feature = nodes["feature"]
    threshold = nodes["threshold"]
    n = X.shape[0]
    leaves = np.empty((roots.shape[0], n), dtype=np.int32)
    rows = np.arange(n)
    for t, root in enumerate(roots):
        node = np.full(n, root, dtype=np.int64)
        active = left[node] != -1
        while active.any():
            nd = node[active]
            x = X[rows[active], feature[nd]]
            go_left = (x <= threshold[nd]) | (np.isnan(x) & missing_left[nd])
            node[active] = np.where(go_left, left[nd], right[nd])
            active = left[node] != -1
        leaves[t] = node
    return leaves


def reference_permuted_predictions(
    X: F32,
    perms: I64,
    roots: I64,
    nodes: Nodes,
    missing_left: B8,
    value: F64,
    groups: list[list[int]],
) -> F64:
    """Reference for :func:`permuted_predictions`: permute, traverse every tree, average.

    ``perms`` has shape (n_repeats, n_samples). Returns float64 of shape
    (n_groups, n_repeats, n_samples).
    """
    n = X.shape[0]
    preds = np.empty((len(groups), perms.shape[0], n))
    for g, cols in enumerate(groups):
        for r in range(perms.shape[0]):
            Xp = X.copy()
            Xp[:, cols] = X[perms[r]][:, cols]
            leaves = reference_apply_forest(Xp, roots, nodes, missing_left)
            preds[g, r] = value[leaves].mean(axis=0)
    return preds
