"""αβ-BO on the authors' data: fast mode vs the plain reference, and vs exact mode.

Setting (EfficientDL): a 300-tree static predictor fitted on the authors' 1,658 rows; the
Top-5 components by grouped permutation importance; a grid over them of at least 10^4
candidates (values from the data: quantiles / most frequent), every other component at the
data's median / mode; the 1,658 encoded rows as the GP's initial observations.

Printed:
1. the plain reference (scikit-learn GP with 10 restarts refitted every iteration, numpy
   acquisition over the whole grid) timed on its first ``REF_ITERS`` iterations;
2. fast mode (refit every 50 observations, 10 restarts, rank-one updates in between) running
   ``FAST_ITERS`` iterations: total wall time and the per-iteration ratio against (1);
3. fast vs exact mode over ``SEEDS`` seeds at a budget this machine can run for exact
   mode (exact mode at full size costs the reference's time per iteration): best predicted
   accuracy, mean ± std, and whether fast mode is within one std of exact mode.

``EFFDL_BENCH_QUICK=1`` shrinks every budget (a functional check, not a measurement).
"""

from __future__ import annotations

import os
import time

import numpy as np

QUICK = os.environ.get("EFFDL_BENCH_QUICK") == "1"
REF_ITERS = 3 if QUICK else 20
FAST_ITERS = 30 if QUICK else 500
SEEDS = 2 if QUICK else 10
CMP_ROWS = 100 if QUICK else 300
CMP_ITERS = 5 if QUICK else 25
MIN_GRID = 10_000


def _setup() -> tuple[object, np.ndarray, np.ndarray, list[str]]:
    """The experiment's own search setup (``search_setup``) on the authors' data."""
    from effdl_kit.experiments.efficientdl import load_component_data, search_setup

    setup = search_setup(load_component_data("authors"), n_trees=300, n_repeats=5, seed=0,
                         min_grid=MIN_GRID)
    return setup.problem, setup.X0, setup.y0, setup.top


def main() -> None:
    from effdl_kit.search import AlphaBetaBO, reference_alpha_beta_bo

    t0 = time.perf_counter()
    problem, X0, y0, top = _setup()
    space = problem.space  # type: ignore[attr-defined]
    fn = problem.objective  # type: ignore[attr-defined]
    print(f"setup {time.perf_counter() - t0:.1f} s; Top-5: {top}")
    print(f"grid: {' x '.join(str(len(v)) for v in space.values)} = {space.n_candidates} "
          f"candidates; GP input {space.n_features} features; {len(y0)} initial rows")

    ref = reference_alpha_beta_bo(space, fn, REF_ITERS, n_restarts=10, seed=0,
                                  X_init=X0, y_init=y0)
    ref_per = float(np.mean(ref.seconds))
    print(f"reference, first {REF_ITERS} iterations: {ref_per:.2f} s/iteration "
          f"(total {sum(ref.seconds):.1f} s)")

    bo = AlphaBetaBO(space, refit_every=50, n_restarts=10, seed=0)
    bo.tell_features(X0, y0)
    t = time.perf_counter()
    res = bo.optimize(fn, FAST_ITERS)
    wall = time.perf_counter() - t
    tm = res.timings()
    print(f"fast mode, {FAST_ITERS} iterations: wall {wall:.1f} s (target <= 300 s: "
          f"{'met' if wall <= 300 else 'NOT met'}); search {tm['search_s']:.1f} s = "
          f"{tm['search_per_iter_s']:.3f} s/iteration, {int(tm['n_refits'])} fits; "
          f"predictor calls {tm['eval_s']:.1f} s")
    ratio = ref_per / tm["search_per_iter_s"]
    print(f"  speedup per iteration, reference/fast = {ratio:.1f}x (target >= 20x: "
          f"{'met' if ratio >= 20 else 'NOT met'})")
    print(f"  best predicted accuracy {res.best_value:.4f} (dataset's best {y0.max():.4f}); "
          f"best config {res.best_config}")

    rng = np.random.default_rng(0)
    rows = rng.choice(len(y0), size=min(CMP_ROWS, len(y0)), replace=False)
    best = {"exact": [], "fast": []}
    secs = {"exact": 0.0, "fast": 0.0}
    for seed in range(SEEDS):
        for mode, k in (("exact", 1), ("fast", 10)):
            b = AlphaBetaBO(space, refit_every=k, n_restarts=10, seed=seed)
            b.tell_features(X0[rows], y0[rows])
            r = b.optimize(fn, CMP_ITERS)
            best[mode].append(r.best_value)
            secs[mode] += r.timings()["search_s"]
    mf, sf = float(np.mean(best["exact"])), float(np.std(best["exact"], ddof=1))
    mq, sq = float(np.mean(best["fast"])), float(np.std(best["fast"], ddof=1))
    within = abs(mq - mf) <= sf
    print(f"fast vs exact (refit_every=1), {SEEDS} seeds, {len(rows)} initial rows, "
          f"{CMP_ITERS} iterations:")
    print(f"  exact best {mf:.4f} ± {sf:.4f} ({secs['exact']:.1f} s search)")
    print(f"  fast     best {mq:.4f} ± {sq:.4f} ({secs['fast']:.1f} s search)")
    print(f"  |fast − exact| = {abs(mq - mf):.4f} {'<=' if within else '>'} one std "
          f"({'met' if within else 'NOT met'})")


if __name__ == "__main__":
    main()
