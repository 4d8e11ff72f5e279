"""Permutation importance: the kit's numba fast path against scikit-learn, same run, same machine.

Two problems, both with a 300-tree RandomForestRegressor and n_repeats=10:

* the EfficientDL authors' system-component data, encoded (wide: multi-hot keyword columns);
  target ratio sklearn/kit >= 40;
* Friedman-1 (``make_friedman1``, 2000 x 10; narrow: most paths test every feature);
  target ratio >= 10.

scikit-learn runs ``sklearn.inspection.permutation_importance(..., n_jobs=-1)``; the kit runs
``effdl_kit.inspection.permutation_importance`` with its defaults (numba threads = all cores).
Both get the same ``random_state``, so both draw the same permutations; the largest difference
of the importances is printed next to the timings. The kernels' one-time compile (or cache
load) cost is measured on a tiny problem first and printed separately.

The authors' data is read from ``$EFFDL_DATA`` or ``../shared/research_data/efficientdl`` and
never copied into the project. It is encoded by ``effdl_kit.data`` when that module provides
``load_efficientdl`` and ``ComponentEncoder``; otherwise by a one-off multi-hot encoding here.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.datasets import make_friedman1
from sklearn.ensemble import RandomForestRegressor
from sklearn.inspection import permutation_importance as sk_permutation_importance

from effdl_kit.inspection import permutation_importance

N_TREES = 300
N_REPEATS = 10
KIT_RUNS = 3
TARGET = "Top-1 accuracy"
NOT_FEATURES = ("Architecture", "Model", TARGET)


def _data_path() -> Path:
    env = os.environ.get("EFFDL_DATA")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parents[1]
    for base in (here.parent / "shared", Path("/work/shared")):
        p = base / "research_data" / "efficientdl" / "dataset.json"
        if p.exists():
            return p
    return here.parent / "shared" / "research_data" / "efficientdl" / "dataset.json"


def _one_off_encode(path: Path) -> tuple[np.ndarray, np.ndarray, dict[str, list[int]]]:
    """Multi-hot keyword columns + log-scaled numerics (a stand-in for ComponentEncoder)."""
    df = pd.DataFrame(json.loads(path.read_text()))
    y = pd.to_numeric(df[TARGET], errors="coerce")
    y = y.where(y <= 1.0, y / 100.0)
    keep = y.notna().to_numpy()
    df, y = df[keep], y[keep]
    blocks = []
    groups: dict[str, list[int]] = {}
    width = 0
    for col in df.columns:
        if col in NOT_FEATURES:
            continue
        num = pd.to_numeric(df[col], errors="coerce")
        if num.notna().mean() > 0.8:
            pos = num.where(num > 0)
            top = float(np.log10(pos.max())) if pos.notna().any() else 1.0
            scaled = np.log10(pos) / (top if top > 0 else 1.0)
            block = scaled.fillna(-1.0).rename(col).to_frame()
        else:
            cells = df[col].fillna("").astype(str).str.lower()
            cells = cells.str.replace(r"\s*,\s*", ",", regex=True).str.strip()
            block = cells.str.get_dummies(sep=",").add_prefix(f"{col}=").astype(np.float64)
        if block.shape[1]:
            blocks.append(block)
            groups[col] = list(range(width, width + block.shape[1]))
            width += block.shape[1]
    X = pd.concat(blocks, axis=1).to_numpy(dtype=np.float64)
    return X, y.to_numpy(dtype=np.float64), groups


def _encode(path: Path) -> tuple[np.ndarray, np.ndarray, dict[str, list[int]], str]:
    """Encoded matrix, target, component -> encoded columns, and which encoder did it."""
    try:
        from effdl_kit.data import ComponentEncoder, efficientdl_xy, load_efficientdl
    except ImportError:
        X, y, groups = _one_off_encode(path)
        return X, y, groups, "one-off multi-hot encoding (benchmark-local)"
    Xdf, y, _ = efficientdl_xy(load_efficientdl(path))
    enc = ComponentEncoder().fit(Xdf)
    X = np.asarray(enc.transform(Xdf), dtype=np.float64)
    groups = {str(k): [int(j) for j in v] for k, v in enc.feature_groups_.items()}
    return X, np.asarray(y, dtype=np.float64), groups, "effdl_kit.data.ComponentEncoder"


def _compile_cost() -> tuple[float, str]:
    from effdl_kit.inspection import _kernels

    rng = np.random.default_rng(0)
    X = rng.random((64, 3))
    rf = RandomForestRegressor(4, random_state=0).fit(X, X[:, 0])
    t0 = time.perf_counter()
    permutation_importance(rf, X, X[:, 0], n_repeats=2, random_state=0)
    cost = time.perf_counter() - t0
    kernels = (
        _kernels.apply_forest,
        _kernels.count_group_paths,
        _kernels.fill_group_paths,
        _kernels.permuted_predictions,
    )
    hits = sum(sum(k.stats.cache_hits.values()) for k in kernels)
    misses = sum(sum(k.stats.cache_misses.values()) for k in kernels)
    how = "loaded from numba cache" if misses == 0 and hits else f"compiled ({misses} misses)"
    return cost, how


def _compare(name: str, X: np.ndarray, y: np.ndarray, target: float) -> RandomForestRegressor:
    rf = RandomForestRegressor(N_TREES, random_state=0, n_jobs=-1).fit(X, y)
    rf.set_params(n_jobs=None)  # prediction threads: let permutation_importance parallelise
    kit_times: list[float] = []
    res: Any = None
    for _ in range(KIT_RUNS):
        t0 = time.perf_counter()
        res = permutation_importance(rf, X, y, n_repeats=N_REPEATS, random_state=0)
        kit_times.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    ref = sk_permutation_importance(rf, X, y, n_repeats=N_REPEATS, random_state=0, n_jobs=-1)
    sk_time = time.perf_counter() - t0
    kit = statistics.median(kit_times)
    diff = float(np.max(np.abs(res.importances - ref.importances)))
    ratio = sk_time / kit
    verdict = "meets" if ratio >= target else "BELOW"
    print(f"{name}: {X.shape[0]} x {X.shape[1]}, {N_TREES} trees, n_repeats={N_REPEATS}")
    print(f"  scikit-learn (n_jobs=-1)   : {sk_time:8.3f} s")
    print(f"  kit fast path (median of {KIT_RUNS}): {kit:8.3f} s  [{res.method}]")
    print(f"  ratio sklearn/kit          : {ratio:8.1f}x  ({verdict} target {target:.0f}x)")
    print(f"  max |importance diff|      : {diff:.2e}")
    return rf


def main() -> None:
    cost, how = _compile_cost()
    print(f"one-time kernel cost (first call, tiny problem): {cost:.2f} s, {how}")
    path = _data_path()
    if path.exists():
        X, y, groups, how_enc = _encode(path)
        print(f"authors' data: {path} ({how_enc})")
        rf = _compare("EfficientDL encoded", X, y, 40.0)
        t0 = time.perf_counter()
        permutation_importance(rf, X, y, n_repeats=N_REPEATS, random_state=0, groups=groups)
        print(f"  kit, {len(groups)} component groups     : {time.perf_counter() - t0:8.3f} s")
    else:
        print(f"authors' data not found at {path}; set EFFDL_DATA. Skipping that problem.")
    Xf, yf = make_friedman1(n_samples=2000, n_features=10, random_state=0)
    _compare("Friedman-1", Xf, yf, 10.0)


if __name__ == "__main__":
    main()
