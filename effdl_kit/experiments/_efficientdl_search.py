"""EfficientDL, second half: αβ-BO on the static predictor against baselines, and its ablation.

The setting is the paper's: the predictor (a random forest on the authors' data), the Top-5
components by grouped permutation importance, a grid over them built from the data (numeric:
quantiles; others: most frequent values) of at least ``min_grid`` candidates, every other
component at the data's median / mode, and the dataset's encoded rows as the GP's initial
observations. Every method gets the same predictor and the same number of predictor calls:

``alpha_beta``     αβ-BO (α = 0.54, β = 1.01, Ω = 0.1), fast mode, dataset rows as prior data,
                   the authors' GP (unit-amplitude Matern, fixed noise 1e-5)
``alpha_beta_fn``  the same with the fitted-noise GP (amplitude x Matern + white noise): on the
                   authors' data, whose repeated configurations differ in accuracy, the
                   authors' GP collapses (length scale at its lower bound) and its argmax
                   degenerates to grid order; this one models the noise
``ei_bo``          plain EI-BO (EI only, Ω = 0), fitted-noise GP and the same prior data
``random``      uniform random candidates of the grid
``tpe``         Optuna's TPE sampler, one categorical parameter per component (no prior data)
``gp``          Optuna's GP sampler, same parameters (no prior data)

Results are small frames: :func:`compare_methods` gives best-so-far curves (one row per
method x seed x iteration), :func:`method_table` the final mean ± std and rank,
:func:`ablation` the best value over an α x β grid (at Ω = 0.1) and an Ω sweep.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from effdl_kit._core.errors import ConfigError
from effdl_kit._core.validate import check_choice, check_int, check_scale

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from effdl_kit.experiments.efficientdl import ComponentData
    from effdl_kit.search import PredictorProblem

__all__ = [
    "ABLATION_KERNEL",
    "METHODS",
    "METHOD_LABELS",
    "SEARCH_BUDGETS",
    "SearchSetup",
    "ablation",
    "ablation_tables",
    "compare_methods",
    "method_table",
    "plot_ablation",
    "plot_search_curves",
    "prior_rows",
    "run_method",
    "search_setup",
]

METHODS: tuple[str, ...] = ("alpha_beta", "alpha_beta_fn", "ei_bo", "random", "tpe", "gp")
METHOD_LABELS: dict[str, str] = {
    "alpha_beta": "αβ-BO (authors' GP)", "alpha_beta_fn": "αβ-BO (fitted-noise GP)",
    "ei_bo": "EI-BO", "random": "random", "tpe": "Optuna TPE", "gp": "Optuna GP",
}
#: GP kernel of the ablation (the authors' GP collapses on their data: see the module docs)
ABLATION_KERNEL = "fitted_noise"
#: per scale: initial rows given to the GP (None: all), iterations, seeds, GP fitting,
#: predictor trees, grid size, ablation grid and budget
SEARCH_BUDGETS: dict[str, dict[str, Any]] = {
    "smoke": {"init_rows": 120, "n_iter": 8, "seeds": 2, "n_restarts": 1, "refit_every": 4,
              "n_trees": 30, "n_repeats": 2, "min_grid": 500,
              "alphas": (0.0, 0.54), "betas": (0.0, 1.01), "omegas": (0.0, 0.1),
              "ablation_seeds": 1, "ablation_iter": 4},
    "small": {"init_rows": 400, "n_iter": 60, "seeds": 10, "n_restarts": 3, "refit_every": 20,
              "n_trees": 300, "n_repeats": 5, "min_grid": 10_000,
              "alphas": (0.0, 0.54, 1.01, 2.0, 3.5), "betas": (0.0, 1.01, 3.5),
              "omegas": (0.0, 0.1, 0.3), "ablation_seeds": 2, "ablation_iter": 20},
    "paper": {"init_rows": None, "n_iter": 500, "seeds": 10, "n_restarts": 10,
              "refit_every": 50, "n_trees": 300, "n_repeats": 10, "min_grid": 10_000,
              "alphas": (0.0, 0.54, 1.0, 2.0, 3.5), "betas": (0.0, 0.5, 1.01, 2.0, 3.5),
              "omegas": (0.0, 0.1, 0.3, 0.5), "ablation_seeds": 5, "ablation_iter": 200},
}
ProgressFn = Callable[[int, int, str], None]


@dataclass
class SearchSetup:
    """The search problem on a fitted predictor, with the GP's initial observations.

    Attributes
    ----------
    problem : PredictorProblem
    X0 : ndarray, shape (n_rows, n_features)
        Encoded dataset rows (GP order).
    y0 : ndarray, shape (n_rows,)
        Their measured accuracy.
    top : list of str
        The Top-5 components, the searched ones.
    dataset : str
        Which component dataset the predictor was fitted on.
    """

    problem: PredictorProblem
    X0: np.ndarray
    y0: np.ndarray
    top: list[str]
    dataset: str

    def describe(self) -> dict[str, Any]:
        """JSON-ready description: components, their values, grid size, rows."""
        space = self.problem.space
        return {"dataset": self.dataset, "components": self.top,
                "values": {n: [_plain(v) for v in vals]
                           for n, vals in zip(space.names, space.values, strict=True)},
                "n_candidates": space.n_candidates, "n_features": space.n_features,
                "n_rows": len(self.y0), "dataset_best": float(np.max(self.y0))}


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def search_setup(data: ComponentData, *, n_trees: int, n_repeats: int, seed: int,
                 min_grid: int = 10_000, top: Sequence[str] | None = None) -> SearchSetup:
    """Fit the predictor on ``data``, pick the Top-5, build the grid problem.

    Parameters
    ----------
    data : ComponentData
        From :func:`~effdl_kit.experiments.efficientdl.load_component_data`.
    n_trees, n_repeats, seed : int
        Forest size, permutation repeats and seed.
    min_grid : int
        Grow the per-component value lists (one value at a time, round robin) until the grid
        has at least this many candidates or no list can grow.
    top : sequence of str, optional
        Components to search instead of the Top-5 by importance.
    """
    from effdl_kit.experiments.efficientdl import make_predictor
    from effdl_kit.inspection import permutation_importance, top_components
    from effdl_kit.search import base_row, grid_values, predictor_problem

    check_int("n_trees", n_trees, min_value=1)
    check_int("n_repeats", n_repeats, min_value=1)
    check_int("min_grid", min_grid, min_value=1)
    X, y = data.xy()
    pipe = make_predictor(data, n_trees=n_trees, seed=seed).fit(X, y)
    enc = pipe[0]
    if top is None:
        imp = permutation_importance(pipe[-1], enc.transform(X), y, n_repeats=n_repeats,
                                     random_state=seed, groups=enc.feature_groups_)
        top = [str(n) for n in top_components(imp, k=5)["name"]]
    else:
        unknown = [c for c in top if c not in enc.feature_groups_]
        if unknown:
            raise ConfigError("top", unknown, sorted(enc.feature_groups_))
        top = list(top)
    sizes = dict.fromkeys(top, 2)
    comps = {c: grid_values(X, c, sizes[c]) for c in top}
    stuck: set[str] = set()
    while math.prod(len(v) for v in comps.values()) < min_grid and len(stuck) < len(top):
        for c in top:
            if c in stuck or math.prod(len(v) for v in comps.values()) >= min_grid:
                continue
            before = len(comps[c])
            for extra in range(1, 9):  # quantiles may coincide: try a few more points
                more = grid_values(X, c, sizes[c] + extra)
                if len(more) > before:
                    sizes[c] += extra
                    comps[c] = more
                    break
            else:
                stuck.add(c)
    problem = predictor_problem(pipe, comps, base_row(X, list(enc.columns_)))
    return SearchSetup(problem=problem, X0=problem.encode_rows(X),
                       y0=np.asarray(y, dtype=np.float64), top=top, dataset=data.name)


# ----------------------------------------------------------------------------- methods


def _optuna_run(setup: SearchSetup, method: str, n_iter: int, seed: int,
                callback: Callable[[int, float], None] | None = None
                ) -> tuple[list[float], list[float]]:
    import optuna

    space = setup.problem.space
    sampler: optuna.samplers.BaseSampler
    if method == "tpe":
        sampler = optuna.samplers.TPESampler(seed=seed)
    else:
        sampler = optuna.samplers.GPSampler(seed=seed)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    dists: dict[str, optuna.distributions.BaseDistribution] = {
        n: optuna.distributions.CategoricalDistribution([_plain(v) for v in vals])
        for n, vals in zip(space.names, space.values, strict=True)}
    values, secs = [], []
    for _ in range(n_iter):
        t0 = time.perf_counter()
        trial = study.ask(dists)
        t1 = time.perf_counter()
        v = setup.problem.objective(dict(trial.params))
        t2 = time.perf_counter()
        study.tell(trial, v)
        values.append(v)
        secs.append((t1 - t0) + (time.perf_counter() - t2))
        if callback is not None:
            callback(len(values), v)
    return values, secs


def run_method(setup: SearchSetup, method: str, *, n_iter: int, seed: int,
               budget: Mapping[str, Any], init_rows: np.ndarray | None = None,
               alpha: float = 0.54, beta: float = 1.01, omega: float = 0.1,
               callback: Callable[[int, float], None] | None = None
               ) -> tuple[list[float], list[float]]:
    """Values of the ``n_iter`` predictor calls of one method and seed, and search seconds.

    ``callback(iteration, value)`` (iterations from 1) runs after each predictor call.
    """
    from effdl_kit.search import AlphaBetaBO

    check_choice("method", method, METHODS)
    space = setup.problem.space
    fn = setup.problem.objective
    if method in ("alpha_beta", "alpha_beta_fn", "ei_bo"):
        kw: dict[str, Any] = (
            {"alpha": alpha, "beta": beta, "omega": omega} if method != "ei_bo"
            else {"acquisition": "ei", "omega": 0.0})
        kw["kernel"] = "authors" if method == "alpha_beta" else "fitted_noise"
        bo = AlphaBetaBO(space, refit_every=int(budget["refit_every"]),
                         n_restarts=int(budget["n_restarts"]), seed=seed, **kw)
        rows = slice(None) if init_rows is None else init_rows
        bo.tell_features(setup.X0[rows], setup.y0[rows])
        res = bo.optimize(fn, n_iter, callback=None if callback is None else
                          (lambda it, row: callback(it + 1, float(row["value"]))))
        h = res.history
        return (h["value"].astype(float).tolist(),
                (h["ask_s"] + h["tell_s"]).astype(float).tolist())
    if method == "random":
        rng = np.random.default_rng(seed)
        values, secs = [], []
        for _ in range(n_iter):
            t0 = time.perf_counter()
            k = int(rng.integers(space.n_candidates))
            secs.append(time.perf_counter() - t0)
            values.append(fn(space.config(k)))
            if callback is not None:
                callback(len(values), values[-1])
        return values, secs
    return _optuna_run(setup, method, n_iter, seed, callback)


def prior_rows(setup: SearchSetup, n: int | None, seed: int) -> np.ndarray | None:
    """Indices of ``n`` dataset rows (seeded draw) given to the GP; None: all rows."""
    if n is None or n >= len(setup.y0):
        return None
    return np.sort(np.random.default_rng(seed).choice(len(setup.y0), size=n, replace=False))


def compare_methods(setup: SearchSetup, *, scale: str, seeds: Sequence[int] | None = None,
                    methods: Sequence[str] = METHODS, n_iter: int | None = None,
                    progress: ProgressFn | None = None) -> pd.DataFrame:
    """Best-so-far curves of each method and seed on the same predictor and budget.

    Returns
    -------
    pandas.DataFrame
        Columns ``method, seed, iteration, value, best_so_far, search_s`` (cumulative search
        seconds, predictor calls excluded).
    """
    check_scale(scale)
    budget = SEARCH_BUDGETS[scale]
    for m in methods:
        check_choice("method", m, METHODS)
    seeds = list(range(int(budget["seeds"]))) if seeds is None else list(seeds)
    if not seeds:
        raise ConfigError("seeds", seeds, "at least one seed")
    n_iter = int(budget["n_iter"]) if n_iter is None else check_int("n_iter", n_iter,
                                                                    min_value=1)
    frames = []
    total, done = len(methods) * len(seeds), 0
    for m in methods:
        for s in seeds:
            if progress is not None:
                progress(done, total, f"{METHOD_LABELS[m]}, seed {s}")
            values, secs = run_method(setup, m, n_iter=n_iter, seed=s, budget=budget,
                                      init_rows=prior_rows(setup, budget["init_rows"], s))
            v = np.asarray(values, dtype=float)
            frames.append(pd.DataFrame({
                "method": m, "seed": s, "iteration": np.arange(1, len(v) + 1), "value": v,
                "best_so_far": np.maximum.accumulate(np.where(np.isfinite(v), v, -np.inf)),
                "search_s": np.cumsum(secs)}))
            done += 1
    if progress is not None:
        progress(total, total, "done")
    return pd.concat(frames, ignore_index=True)


def method_table(curves: pd.DataFrame) -> pd.DataFrame:
    """Final best value per method: mean, std over seeds, rank (1 = highest mean), time."""
    last = curves.sort_values("iteration").groupby(["method", "seed"]).tail(1)
    g = last.groupby("method")
    table = pd.DataFrame({
        "best mean": g["best_so_far"].mean(), "best std": g["best_so_far"].std(ddof=1),
        "seeds": g["seed"].nunique(), "search s (mean)": g["search_s"].mean(),
    })
    table["rank"] = table["best mean"].rank(ascending=False, method="min").astype(int)
    table = table.sort_values("rank")
    table.index = [METHOD_LABELS.get(str(m), str(m)) for m in table.index]
    table.index.name = "method"
    return table.reset_index()


def ablation(setup: SearchSetup, *, scale: str, progress: ProgressFn | None = None
             ) -> pd.DataFrame:
    """αβ-BO's final best over the α x β grid (Ω = 0.1) and over Ω (α = 0.54, β = 1.01).

    Runs with the fitted-noise GP (:data:`ABLATION_KERNEL`): with the authors' GP collapsed,
    α and β change nothing.

    Returns
    -------
    pandas.DataFrame
        Columns ``alpha, beta, omega, seed, best, part`` (``part``: "alpha_beta" or "omega").
    """
    check_scale(scale)
    b = SEARCH_BUDGETS[scale]
    runs = [("alpha_beta", a, bb, 0.1) for a in b["alphas"] for bb in b["betas"]]
    runs += [("omega", 0.54, 1.01, o) for o in b["omegas"]]
    rows = []
    seeds = range(int(b["ablation_seeds"]))
    total, done = len(runs) * len(seeds), 0
    for part, a, bb, o in runs:
        for s in seeds:
            if progress is not None:
                progress(done, total, f"α={a} β={bb} Ω={o} seed {s}")
            method = "alpha_beta_fn" if ABLATION_KERNEL == "fitted_noise" else "alpha_beta"
            values, _ = run_method(setup, method, n_iter=int(b["ablation_iter"]), seed=s,
                                   budget=b, init_rows=prior_rows(setup, b["init_rows"], s),
                                   alpha=a, beta=bb, omega=o)
            v = np.asarray(values, dtype=float)
            rows.append({"part": part, "alpha": a, "beta": bb, "omega": o, "seed": s,
                         "best": float(np.nanmax(v)) if np.isfinite(v).any() else math.nan})
            done += 1
    return pd.DataFrame(rows)


def ablation_tables(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(α x β pivot of the mean best, Ω table with mean and std)."""
    ab = frame[frame["part"] == "alpha_beta"].pivot_table(index="alpha", columns="beta",
                                                          values="best", aggfunc="mean")
    om = frame[frame["part"] == "omega"].groupby("omega")["best"].agg(["mean", "std"])
    return ab, om.reset_index()


# ----------------------------------------------------------------------------- draw


def plot_search_curves(curves: pd.DataFrame, *, ax: Axes) -> Axes:
    """Mean best-so-far per method with a ±1 std band over seeds."""
    for i, (m, g) in enumerate(curves.groupby("method", sort=False)):
        stats = g.groupby("iteration")["best_so_far"].agg(["mean", "std"]).fillna(0.0)
        it = stats.index.to_numpy()
        color = f"C{i}"
        ax.plot(it, stats["mean"], color=color, lw=1.2,
                label=METHOD_LABELS.get(str(m), str(m)))
        ax.fill_between(it, stats["mean"] - stats["std"], stats["mean"] + stats["std"],
                        color=color, alpha=0.15, lw=0)
    ax.set_xlabel("predictor calls")
    ax.set_ylabel("best predicted Top-1")
    ax.legend(fontsize="small", frameon=False)
    return ax


def plot_ablation(frame: pd.DataFrame, *, ax: Axes) -> Axes:
    """Heatmap of αβ-BO's mean final best over α (rows) and β (columns), Ω = 0.1."""
    ab, _ = ablation_tables(frame)
    data = ab.to_numpy(dtype=float)
    im = ax.imshow(data, origin="lower", aspect="auto", cmap="viridis")
    ax.set_xticks(range(ab.shape[1]), [f"{b:g}" for b in ab.columns])
    ax.set_yticks(range(ab.shape[0]), [f"{a:g}" for a in ab.index])
    for i in range(data.shape[0]):
        for j in range(data.shape[1]):
            if np.isfinite(data[i, j]):
                ax.text(j, i, f"{data[i, j]:.3f}", ha="center", va="center", fontsize=6,
                        color="w")
    ax.set_xlabel("β")
    ax.set_ylabel("α")
    ax.figure.colorbar(im, ax=ax, label="best predicted Top-1")
    return ax
