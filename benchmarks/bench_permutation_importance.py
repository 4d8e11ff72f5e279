"""Permutation importance: the kit's numba fast path against scikit-learn, same run, same machine.

Two problems, both with a 300-tree RandomForestRegressor and n_repeats=10:

* the EfficientDL authors' system-component data, encoded (wide: multi-hot keyword columns);
  target ratio sklearn/kit >= 40;
* Friedman-1 (``make_friedman1``, 2000 x 10; narrow: most paths test every feature);
  target ratio >= 10.

scikit-learn runs ``sklearn.inspection.permutation_importance(..., n_jobs=-1)``; the kit runs
``effdl_kit.inspection.permutation_importance`` with its defaults (numba threads = all cores).
Both get the same ``random_state``, so both draw the same permutations; the largest difference
of the importances is printed next to the timings. The machine may be shared and noisy, so each
problem runs ``EFFDL_BENCH_ROUNDS`` (default 3) rounds of (kit: median of 3 calls, then
scikit-learn once) and prints the ratio of each round and their median, min and max.
``EFFDL_BENCH_PI_PROBLEMS=friedman`` (or ``authors``) runs one problem;
``EFFDL_BENCH_OUT=file.json`` writes the rounds to a JSON file. The kernels' one-time compile
(or cache load) cost is measured on a tiny problem first and printed separately.

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

from effdl_kit.inspection import _column_kernels, _kernels, permutation_importance

N_TREES = 300
N_REPEATS = 10
KIT_RUNS = 3
#: rounds of (kit, scikit-learn), interleaved so that both see the same machine load
ROUNDS = int(os.environ.get("EFFDL_BENCH_ROUNDS", "3"))
#: which problems to run (comma list of "authors", "friedman")
PROBLEMS = os.environ.get("EFFDL_BENCH_PI_PROBLEMS", "authors,friedman").split(",")
#: where to write the measured rounds as JSON (nothing written when unset)
OUT = os.environ.get("EFFDL_BENCH_OUT", "")
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
    rng = np.random.default_rng(0)
    X = rng.random((64, 3))
    rf = RandomForestRegressor(4, random_state=0).fit(X, X[:, 0])
    t0 = time.perf_counter()
    permutation_importance(rf, X, X[:, 0], n_repeats=2, random_state=0)
    cost = time.perf_counter() - t0
    kernels = (
        _column_kernels.sort_permuted_values,
        _column_kernels.column_permuted_predictions,
        _kernels.apply_forest,
        _kernels.count_group_paths,
        _kernels.fill_group_paths,
        _kernels.permuted_predictions,
    )
    hits = sum(sum(k.stats.cache_hits.values()) for k in kernels)
    misses = sum(sum(k.stats.cache_misses.values()) for k in kernels)
    how = "loaded from numba cache" if misses == 0 and hits else f"compiled ({misses} misses)"
    return cost, how


def _timed(fn: Any) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def _compare(name: str, X: np.ndarray, y: np.ndarray, target: float) -> dict[str, Any]:
    """ROUNDS rounds of (kit: median of KIT_RUNS calls, then scikit-learn once); ratio per round."""
    rf = RandomForestRegressor(N_TREES, random_state=0, n_jobs=-1).fit(X, y)
    rf.set_params(n_jobs=None)  # prediction threads: let permutation_importance parallelise
    rounds: list[dict[str, float]] = []
    res: Any = None
    ref: Any = None
    for _ in range(ROUNDS):
        kit_times = []
        for _ in range(KIT_RUNS):
            dt, res = _timed(lambda: permutation_importance(
                rf, X, y, n_repeats=N_REPEATS, random_state=0))
            kit_times.append(dt)
        sk_time, ref = _timed(lambda: sk_permutation_importance(
            rf, X, y, n_repeats=N_REPEATS, random_state=0, n_jobs=-1))
        kit = statistics.median(kit_times)
        rounds.append({"sklearn_s": sk_time, "kit_s": kit, "ratio": sk_time / kit})
    ratios = [r["ratio"] for r in rounds]
    ratio = statistics.median(ratios)
    diff = float(np.max(np.abs(res.importances - ref.importances)))
    verdict = "meets" if ratio >= target else "BELOW"
    print(f"{name}: {X.shape[0]} x {X.shape[1]}, {N_TREES} trees, n_repeats={N_REPEATS}, "
          f"{ROUNDS} round(s) of (kit x{KIT_RUNS}, scikit-learn x1)")
    for k, r in enumerate(rounds):
        print(f"  round {k + 1}: scikit-learn (n_jobs=-1) {r['sklearn_s']:8.3f} s, "
              f"kit fast path (median of {KIT_RUNS}) {r['kit_s']:7.3f} s  ->  {r['ratio']:6.1f}x")
    print(f"  ratio sklearn/kit, median [min, max] over rounds: {ratio:.1f}x "
          f"[{min(ratios):.1f}, {max(ratios):.1f}]  ({verdict} target {target:.0f}x)"
          f"  [{res.method}]")
    print(f"  max |importance diff|      : {diff:.2e}")
    return {
        "problem": name, "shape": list(X.shape), "n_trees": N_TREES, "n_repeats": N_REPEATS,
        "kit_runs_per_round": KIT_RUNS, "rounds": rounds, "ratio_median": ratio,
        "ratio_min": min(ratios), "ratio_max": max(ratios), "target": target,
        "max_abs_importance_diff": diff, "model": rf,
    }


def main() -> None:
    cost, how = _compile_cost()
    print(f"one-time kernel cost (first call, tiny problem): {cost:.2f} s, {how}")
    print(f"numba threads: {_kernels.max_threads()}, CPUs: {os.cpu_count()}")
    results: list[dict[str, Any]] = []
    path = _data_path()
    if "authors" not in PROBLEMS:
        print("authors' data: not selected (EFFDL_BENCH_PI_PROBLEMS)")
    elif path.exists():
        X, y, groups, how_enc = _encode(path)
        print(f"authors' data: {path} ({how_enc})")
        out = _compare("EfficientDL encoded", X, y, 40.0)
        dt, _ = _timed(lambda: permutation_importance(
            out["model"], X, y, n_repeats=N_REPEATS, random_state=0, groups=groups))
        print(f"  kit, {len(groups)} component groups     : {dt:8.3f} s")
        out["kit_component_groups_s"] = dt
        results.append(out)
    else:
        print(f"authors' data not found at {path}; set EFFDL_DATA. Skipping that problem.")
    if "friedman" in PROBLEMS:
        Xf, yf = make_friedman1(n_samples=2000, n_features=10, random_state=0)
        results.append(_compare("Friedman-1", Xf, yf, 10.0))
    if OUT:
        record = {
            "command": "python -m benchmarks permutation_importance",
            "env": {k: os.environ[k] for k in sorted(os.environ) if k.startswith("EFFDL_BENCH")},
            "cpus": os.cpu_count(), "numba_threads": _kernels.max_threads(),
            "compile_or_cache_load_s": cost,
            "problems": [{k: v for k, v in r.items() if k != "model"} for r in results],
        }
        Path(OUT).write_text(json.dumps(record, indent=2) + "\n")
        print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
