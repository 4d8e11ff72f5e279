"""The search half of EfficientDL: setup, methods on the same budget, tables, ablation."""

from __future__ import annotations

import math
from dataclasses import replace

import matplotlib.pyplot as plt
import numpy as np
import pytest

from effdl_kit.data import ComponentData
from effdl_kit.errors import ConfigError
from effdl_kit.experiments.efficientdl import (
    METHOD_LABELS,
    METHOD_RUNS,
    METHODS,
    SearchBudget,
    ablation,
    ablation_tables,
    compare_methods,
    method_table,
    plot_ablation,
    plot_search_curves,
    run_method,
    search_setup,
)


@pytest.fixture(scope="module")
def setup(data: ComponentData):  # type: ignore[no-untyped-def]
    return search_setup(data, n_trees=30, n_repeats=2, seed=0, min_grid=300)


def test_setup_picks_top5_and_grows_the_grid(setup) -> None:  # type: ignore[no-untyped-def]
    d = setup.describe()
    assert len(d["components"]) == 5 and len(set(d["components"])) == 5
    assert d["n_candidates"] >= 300
    assert d["n_rows"] == 240 and d["n_features"] == setup.X0.shape[1]
    # the strong components are found
    assert {"lr", "opt"} <= set(d["components"])


def test_every_method_spends_the_same_budget(setup) -> None:  # type: ignore[no-untyped-def]
    curves = compare_methods(setup, scale="smoke", seeds=[0, 1], n_iter=6)
    assert set(curves["method"]) == set(METHODS)
    counts = curves.groupby(["method", "seed"]).size()
    assert (counts == 6).all()
    # best-so-far is the running max of the values, which are the predictor's outputs
    for _, g in curves.groupby(["method", "seed"]):
        np.testing.assert_array_equal(g["best_so_far"], np.maximum.accumulate(g["value"]))
    space = setup.problem.space
    grid_max = max(setup.problem.objective(space.config(i)) for i in range(space.n_candidates))
    assert curves["value"].max() <= grid_max + 1e-12
    table = method_table(curves)
    assert list(table.columns) == ["method", "best mean", "best std", "seeds",
                                   "search s (mean)", "rank"]
    last = curves[curves["iteration"] == 6]
    ab = last[last["method"] == "alpha_beta"]["best_so_far"]
    row = table[table["method"] == METHOD_LABELS["alpha_beta"]].iloc[0]
    assert row["best mean"] == pytest.approx(ab.mean())
    assert row["best std"] == pytest.approx(ab.std(ddof=1))
    assert sorted(table["rank"]) == sorted(table["best mean"].rank(ascending=False,
                                                                  method="min").astype(int))
    fig, ax = plt.subplots()
    plot_search_curves(curves, ax=ax)
    assert len(ax.get_lines()) == len(METHODS)
    plt.close(fig)


def test_methods_are_reproducible(setup) -> None:  # type: ignore[no-untyped-def]
    b = SearchBudget.for_scale("smoke")
    assert set(METHOD_RUNS) == set(METHODS)
    for m in METHODS:
        a, _ = run_method(setup, m, n_iter=5, seed=3, budget=b)
        c, _ = run_method(setup, m, n_iter=5, seed=3, budget=b)
        assert a == c, m


def test_alpha_beta_bo_beats_random_here(setup) -> None:  # type: ignore[no-untyped-def]
    """Prior data + fitted-noise GP on a smooth predictor: αβ-BO's mean best beats random's."""
    b = replace(SearchBudget.for_scale("smoke"), refit_every=5)
    best = {"alpha_beta_fn": [], "random": []}
    for s in range(4):
        for m in best:
            v, _ = run_method(setup, m, n_iter=10, seed=s, budget=b)
            best[m].append(max(v))
    assert np.mean(best["alpha_beta_fn"]) > np.mean(best["random"])


def test_ablation_tables(setup) -> None:  # type: ignore[no-untyped-def]
    frame = ablation(setup, scale="smoke")
    b = SearchBudget.for_scale("smoke")
    n_runs = len(b.alphas) * len(b.betas) + len(b.omegas)
    assert len(frame) == n_runs * b.ablation_seeds
    ab, om = ablation_tables(frame)
    assert ab.shape == (len(b.alphas), len(b.betas))
    assert list(om["omega"]) == list(b.omegas)
    assert all(math.isfinite(v) for v in frame["best"])
    fig, ax = plt.subplots()
    plot_ablation(frame, ax=ax)
    plt.close(fig)


def test_bad_input(setup, data: ComponentData) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match="method"):
        compare_methods(setup, scale="smoke", methods=["hyperband"])
    with pytest.raises(ConfigError, match="scale"):
        compare_methods(setup, scale="huge")
    with pytest.raises(ConfigError, match="seeds"):
        compare_methods(setup, scale="smoke", seeds=[])
    with pytest.raises(ConfigError, match="n_iter"):
        compare_methods(setup, scale="smoke", n_iter=0)
    with pytest.raises(ConfigError, match="top"):
        search_setup(data, n_trees=5, n_repeats=1, seed=0, top=["momentum"])


def test_a_replaced_budget_is_the_one_run(setup) -> None:  # type: ignore[no-untyped-def]
    b = replace(SearchBudget.for_scale("smoke"), alphas=(0.54,), betas=(1.01,), omegas=(0.1,),
                ablation_iter=2, seeds=1, n_iter=3)
    frame = ablation(setup, scale="smoke", budget=b)
    assert len(frame) == 2 * b.ablation_seeds  # one α x β run, one Ω run
    curves = compare_methods(setup, scale="smoke", methods=["random"], budget=b)
    assert len(curves) == 3 and set(curves["seed"]) == {0}
    with pytest.raises(ConfigError, match="budget"):
        ablation(setup, scale="smoke", budget={"n_iter": 3})  # type: ignore[arg-type]
