"""The search half of EfficientDL: setup, methods on the same budget, tables, ablation."""

from __future__ import annotations

import math
from dataclasses import replace

import matplotlib.pyplot as plt
import numpy as np
import optuna
import pytest

from effdl_kit.data import ComponentData
from effdl_kit.errors import ConfigError
from effdl_kit.experiments.efficientdl import (
    METHOD_LABELS,
    METHOD_RUNS,
    METHODS,
    SEARCH_TARGETS,
    SearchBudget,
    _setup,
    ablation,
    ablation_table,
    ablation_tables,
    compare_methods,
    grid_config,
    method_table,
    optuna_distributions,
    plot_ablation,
    plot_search_curves,
    run_method,
    search_setup,
    searchable_components,
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
    # the grid maximum is the exhaustive one, written out candidate by candidate
    space = setup.problem.space
    values = [setup.problem.objective(space.config(i)) for i in range(space.n_candidates)]
    assert d["grid_max"] == max(values)
    assert setup.grid_best == space.config(int(np.argmax(values)))


@pytest.fixture(scope="module")
def data_with_task(data: ComponentData) -> ComponentData:
    """The synthetic data plus a data-group component that moves accuracy the most."""
    frame = data.frame.copy()
    rng = np.random.default_rng(5)
    frame["dataset"] = rng.choice(["easy", "hard", "target"], len(frame))
    frame["top1"] = frame["top1"] + frame["dataset"].map({"easy": 0.2, "hard": -0.2,
                                                          "target": 0.0})
    groups = {**data.component_groups, "dataset": "data"}
    return replace(data, frame=frame, categorical=["opt", "act", "dataset"],
                   component_groups=groups)


def test_controllable_components_leave_the_task_fixed(data_with_task) -> None:  # type: ignore[no-untyped-def]
    assert "dataset" not in searchable_components(data_with_task, "controllable")
    assert "dataset" in searchable_components(data_with_task, "all")
    every = search_setup(data_with_task, n_trees=30, n_repeats=2, seed=0, min_grid=50,
                         components="all")
    assert "dataset" in every.top  # the strongest component, when allowed
    mine = search_setup(data_with_task, n_trees=30, n_repeats=2, seed=0, min_grid=50)
    assert "dataset" not in mine.top and len(mine.top) == 5
    # no target rows declared for this data: the data component takes the data's mode
    assert mine.fixed == {"dataset": data_with_task.frame["dataset"].value_counts().index[0]}
    assert mine.problem.base["dataset"] == mine.fixed["dataset"]
    with pytest.raises(ConfigError, match="components"):
        search_setup(data_with_task, n_trees=5, n_repeats=1, seed=0, components="some")


def test_the_target_rows_fix_the_data_components(data_with_task) -> None:  # type: ignore[no-untyped-def]
    targets = {**SEARCH_TARGETS, "kit": {"dataset": "target"}}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_setup, "SEARCH_TARGETS", targets)
        mine = search_setup(data_with_task, n_trees=30, n_repeats=2, seed=0, min_grid=50)
    assert mine.fixed == {"dataset": "target"} and mine.target == {"dataset": "target"}
    assert mine.describe()["fixed"] == {"dataset": "target"}


def test_every_method_spends_the_same_budget(setup) -> None:  # type: ignore[no-untyped-def]
    curves = compare_methods(setup, scale="smoke", seeds=[0, 1], n_iter=6)
    assert set(curves["method"]) == set(METHODS)
    counts = curves.groupby(["method", "seed"]).size()
    assert (counts == 6).all()
    # best-so-far is the running max of the values, which are the predictor's outputs
    for _, g in curves.groupby(["method", "seed"]):
        np.testing.assert_array_equal(g["best_so_far"], np.maximum.accumulate(g["value"]))
    # every method searches the grid: regrets against its maximum are >= 0
    np.testing.assert_allclose(curves["regret"], setup.grid_max - curves["best_so_far"])
    assert (curves["regret"] >= 0).all()
    table = method_table(curves)
    assert list(table.columns) == ["method", "seeds", "regret mean", "regret lo", "regret hi",
                                   "at grid max", "best mean", "search s (mean)", "rank"]
    last = curves[curves["iteration"] == 6]
    ab = last[last["method"] == "alpha_beta"]["regret"]
    row = table[table["method"] == METHOD_LABELS["alpha_beta"]].iloc[0]
    assert row["regret mean"] == pytest.approx(ab.mean())
    assert row["regret lo"] <= row["regret mean"] <= row["regret hi"]
    assert row["at grid max"] == pytest.approx(np.mean(ab <= 1e-12))
    assert sorted(table["rank"]) == sorted(table["regret mean"].rank(method="min").astype(int))
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
    np.testing.assert_allclose(frame["regret"], setup.grid_max - frame["best"])
    # the default cell is on its own path; Ω = 1 (every pick after the start-up trials
    # random) must leave it in every seed: Ω reaches the search
    default = frame[(frame["alpha"] == 0.54) & (frame["beta"] == 1.01)
                    & (frame["omega"] == 0.1)]
    assert default["same_path"].all()
    assert b.ablation_iter > 10 and 1.0 in b.omegas
    assert not frame.loc[frame["omega"] == 1.0, "same_path"].any()
    table = ablation_table(frame)
    assert set(table["vs default"]) <= {"default", "better", "worse", "within noise"}
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
    with pytest.raises(ConfigError, match="components"):
        searchable_components(data, "mine")  # type: ignore[arg-type]


def test_optuna_methods_see_numeric_components_as_ordinal(setup) -> None:  # type: ignore[no-untyped-def]
    space = setup.problem.space
    dists = optuna_distributions(space)
    for name, vals in zip(space.names, space.values, strict=True):
        d = dists[name]
        if isinstance(vals[0], str):
            assert isinstance(d, optuna.distributions.CategoricalDistribution)
            assert list(d.choices) == list(vals)
        else:
            assert isinstance(d, optuna.distributions.IntDistribution)
            assert (d.low, d.high) == (0, len(vals) - 1) and list(vals) == sorted(vals)
    params = {n: (d.high if isinstance(d, optuna.distributions.IntDistribution)
                  else d.choices[-1]) for n, d in dists.items()}
    assert grid_config(space, params, dists) == {n: list(v)[-1]
                                                 for n, v in zip(space.names, space.values,
                                                                 strict=True)}


def test_a_replaced_budget_is_the_one_run(setup) -> None:  # type: ignore[no-untyped-def]
    b = replace(SearchBudget.for_scale("smoke"), alphas=(0.54,), betas=(1.01,), omegas=(0.1,),
                ablation_iter=2, seeds=1, n_iter=3)
    frame = ablation(setup, scale="smoke", budget=b)
    assert len(frame) == 2 * b.ablation_seeds  # the default cell, in both parts
    curves = compare_methods(setup, scale="smoke", methods=["random"], budget=b)
    assert len(curves) == 3 and set(curves["seed"]) == {0}
    with pytest.raises(ConfigError, match="budget"):
        ablation(setup, scale="smoke", budget={"n_iter": 3})  # type: ignore[arg-type]
