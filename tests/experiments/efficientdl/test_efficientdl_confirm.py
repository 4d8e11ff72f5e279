"""EfficientDL confirmation by real training (issue 4 part 5, issue 14 part 4), at smoke scale.

Every training here is real (smoke caps: 1 epoch, 128 images, about 0.1 s each); the whole
file runs in about a minute on two cores. The analysis (verdicts, controls, driver) is tested on
synthetic frames in ``test_efficientdl_confirm_analysis.py``.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import pytest

import effdl_kit.experiments.efficientdl._confirm as confirm_module
import effdl_kit.training
from effdl_kit.data import (
    COMPONENT_GROUPS,
    ComponentData,
    default_component_space,
    load_component_data,
)
from effdl_kit.errors import ConfigError
from effdl_kit.experiments.efficientdl import (
    ARMS,
    TASKS,
    TOP_ARM,
    ConfirmBudget,
    ConfirmRow,
    Recommendation,
    confirm,
    controllable_components,
    recommend,
    run_confirmation,
)
from effdl_kit.experiments.efficientdl._confirm_train import train_once as _train_once
from effdl_kit.search import AlphaBetaBO

SPACE = {k: list(v) for k, v in default_component_space().values.items()}
DATA_GROUP = set(COMPONENT_GROUPS["data"])


@pytest.fixture(scope="module")
def kit() -> ComponentData:
    return load_component_data("kit")


@pytest.fixture(scope="module")
def rec(kit: ComponentData) -> Recommendation:
    return recommend(kit, task="digits", scale="smoke", seed=0)


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    calls: list[tuple[int, int, str]] = []
    out = run_confirmation(scale="smoke", seeds=1, tasks=["digits", "synthetic_shift"],
                           progress=lambda d, t, m: calls.append((d, t, m)))
    assert [c[:2] for c in calls] == [(0, 2), (1, 2), (2, 2)]
    return out


def _no_training(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("a training started before the bad input was rejected")


# ----------------------------------------------------------------------------- recommend


def test_recommend_returns_five_controllable_components_on_the_grid(
        kit: ComponentData, rec: Recommendation) -> None:
    controllable = controllable_components(kit)
    assert "dataset" not in controllable and "n_train" not in controllable
    assert "precision" in controllable
    assert len(rec.top5) == 5 and len(set(rec.top5)) == 5
    assert set(rec.top5) <= set(controllable)
    assert not set(rec.top5) & DATA_GROUP
    for name in rec.top5:
        assert kit.component_groups[name] in ("model", "training") or name == "precision"
    # ranked by decreasing importance among the controllable components
    means = [rec.importance[n] for n in rec.top5]
    assert means == sorted(means, reverse=True)
    assert all(rec.importance[n] <= means[-1] for n in rec.importance if n not in rec.top5)
    assert list(rec.searched) == rec.top5
    for name, value in rec.searched.items():
        assert rec.grid[name] == SPACE[name]
        assert value in SPACE[name] and type(value) is type(SPACE[name][0])
        assert rec.components[name] == value
    assert math.isfinite(rec.predicted_top1)
    assert rec.search_s >= rec.bo_s > 0 and rec.predictor_s > 0
    assert rec.n_iter == ConfirmBudget.for_scale("smoke").bo_iter
    assert rec.n_initial_rows == ConfirmBudget.for_scale("smoke").initial_rows == 200


def test_recommend_sees_the_whole_grid(kit: ComponentData, rec: Recommendation) -> None:
    budget = ConfirmBudget.for_scale("smoke")
    again, problem, values = confirm_module._recommend(
        kit, TASKS["digits"], scale="smoke", seed=0, n_iter=budget.bo_iter, budget=budget)
    assert again.searched == rec.searched and again.best_configs == rec.best_configs
    assert (rec.kernel, rec.incumbent) == ("fitted_noise", "evaluated")
    assert rec.n_candidates == len(values) == math.prod(len(v) for v in rec.grid.values())
    best_value, best_config = problem.grid_optimum()
    assert rec.grid_max == best_value == values.max()
    assert rec.best_configs[0] == best_config
    assert len(rec.best_configs) == TOP_ARM
    assert rec.best_predicted == sorted(values.tolist(), reverse=True)[:TOP_ARM]
    for config, pred in zip(rec.best_configs, rec.best_predicted, strict=True):
        assert values[problem.space.index_of(config)] == pred
    assert rec.predicted_top1 == values[problem.space.index_of(rec.searched)]
    assert rec.predicted_top1 == pytest.approx(problem.objective(rec.searched), abs=1e-9)
    assert rec.alpha_beta_rank == 1 + int((values > rec.predicted_top1).sum())
    assert rec.search_regret == rec.grid_max - rec.predicted_top1 >= 0
    assert rec.grid_s > 0


def test_recommend_runs_the_budgets_kernel_and_incumbent(
        kit: ComponentData, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(effdl_kit.training, "train", _no_training)
    made: list[AlphaBetaBO] = []

    class Spy(AlphaBetaBO):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(confirm_module, "AlphaBetaBO", Spy)
    budget = replace(ConfirmBudget.for_scale("smoke"), bo_iter=3)
    kit_rec = recommend(kit, task="digits", scale="smoke", seed=0, budget=budget)
    authors = replace(budget, kernel="authors", incumbent="labels")
    authors_rec = recommend(kit, task="digits", scale="smoke", seed=0, budget=authors)
    assert [(b.kernel, b.incumbent) for b in made] == [("fitted_noise", "evaluated"),
                                                       ("authors", "labels")]
    assert (authors_rec.kernel, authors_rec.incumbent) == ("authors", "labels")
    assert kit_rec.kernel == "fitted_noise"
    # "evaluated": f* is the best predictor value the search reached, below the best label
    # of the prior rows that the predictor never reaches; "labels": that best label
    best_label = float(kit.frame["top1"].max())
    assert made[0].f_star == pytest.approx(kit_rec.predicted_top1, abs=1e-9)
    assert made[0].f_star < best_label == pytest.approx(made[1].f_star)
    with pytest.raises(ConfigError) as info:
        replace(budget, kernel="gaussian")  # type: ignore[arg-type]
    assert info.value.field == "kernel"
    with pytest.raises(ConfigError) as info:
        replace(budget, incumbent="best")  # type: ignore[arg-type]
    assert info.value.field == "incumbent"
    for scale in ("small", "paper"):
        assert ConfirmBudget.for_scale(scale).n_seeds >= 10


def test_recommendation_keeps_the_tasks_data_and_trainable_defaults(
        rec: Recommendation) -> None:
    assert rec.components["dataset"] == "digits" == rec.base["dataset"]
    assert rec.components["n_train"] == max(SPACE["n_train"]) == rec.base["n_train"]
    # every other component sits at one of the kit space's values, with its type
    for name, value in rec.components.items():
        if name in SPACE and name not in DATA_GROUP:
            assert value in SPACE[name], name
    assert rec.components["device"] == "cpu" and rec.components["threads"] == 1
    json.dumps(rec.to_dict())


def test_recommend_is_reproducible_and_matches_confirm(kit: ComponentData, rec: Recommendation,
                                                       frame: pd.DataFrame) -> None:
    again = recommend(kit, task="digits", scale="smoke", seed=0)
    assert again.searched == rec.searched
    assert again.top5 == rec.top5
    assert again.predicted_top1 == rec.predicted_top1
    row = frame[frame["task"] == "digits"].iloc[0]
    assert row["config_a"] == rec.searched
    assert row["top5"] == rec.top5
    assert row["predicted_top1"] == rec.predicted_top1


# ----------------------------------------------------------------------------- confirm


def test_confirmation_rows_at_smoke_scale(frame: pd.DataFrame) -> None:
    assert list(frame["task"]) == ["digits", "synthetic_shift"]
    assert list(frame.columns) == list(ConfirmRow.__dataclass_fields__)
    assert (frame["scale"] == "smoke").all() and (frame["seed"] == 0).all()
    for col in ("efficientdl_top1", "automl_top1", "efficientdl_val_top1", "automl_val_top1"):
        v = frame[col].to_numpy(dtype=float)
        assert np.isfinite(v).all() and ((v >= 0) & (v <= 1)).all(), col
    for col in ("efficientdl_time_s", "automl_time_s", "predictor_s", "bo_s", "train_s",
                "grid_s"):
        assert (frame[col] > 0).all(), col
    np.testing.assert_allclose(frame["time_ratio"],
                               frame["automl_time_s"] / frame["efficientdl_time_s"])
    np.testing.assert_allclose(frame["diff_points"],
                               100 * (frame["efficientdl_top1"] - frame["automl_top1"]))
    np.testing.assert_allclose(frame["efficientdl_time_s"],
                               frame["predictor_s"] + frame["bo_s"] + frame["train_s"])
    np.testing.assert_allclose(frame["ratio_search_only"],
                               frame["automl_time_s"] / (frame["bo_s"] + frame["train_s"]))
    np.testing.assert_allclose(frame["search_regret"],
                               frame["grid_max"] - frame["predicted_top1"])
    assert (frame["search_regret"] >= 0).all() and (frame["alpha_beta_rank"] >= 1).all()
    assert (frame["kernel"] == "fitted_noise").all()
    assert (frame["incumbent"] == "evaluated").all()
    assert (frame["tpe_trials"] == ConfirmBudget.for_scale("smoke").tpe_trials).all()
    assert (frame["tpe_failed"] == 0).all()
    assert (frame["train_epochs"] == 1).all() and (frame["train_n_train"] == 128).all()
    assert frame["error_a"].isna().all() and frame["error_b"].isna().all()
    for _, row in frame.iterrows():
        assert list(row["config_b"]) == row["top5"] == list(row["config_a"])
        assert row["n_candidates"] == math.prod(len(SPACE[n]) for n in row["top5"])
        for name in row["top5"]:
            assert row["config_a"][name] in SPACE[name]
            assert row["config_b"][name] in SPACE[name]
    json.dumps(frame.to_dict(orient="records"))


def _arm(arms: pd.DataFrame, arm: str, rank: int = 1) -> pd.Series:
    (i,) = np.flatnonzero((arms["arm"] == arm) & (arms["rank"] == rank))
    return arms.iloc[int(i)]


def test_every_arm_is_trained_and_recorded_with_its_prediction(frame: pd.DataFrame) -> None:
    for _, row in frame.iterrows():
        arms = pd.DataFrame(row["arms"])
        assert list(pd.unique(arms["arm"])) == list(ARMS)
        assert arms.loc[arms["arm"] == "top5", "rank"].tolist() == list(range(1, TOP_ARM + 1))
        assert (arms.loc[arms["arm"] != "top5", "rank"] == 1).all()
        assert (arms["task"] == row["task"]).all() and (arms["seed"] == row["seed"]).all()
        assert arms["error"].isna().all()
        test = arms["test_top1"].to_numpy(dtype=float)
        assert ((test >= 0) & (test <= 1)).all()
        assert np.isfinite(arms["predicted_top1"].to_numpy(dtype=float)).all()
        # the headline arms are the row's
        ab, tpe, top = _arm(arms, "alpha_beta"), _arm(arms, "tpe"), _arm(arms, "argmax")
        assert ab["config"] == row["config_a"] and tpe["config"] == row["config_b"]
        assert ab["test_top1"] == row["efficientdl_top1"]
        assert tpe["test_top1"] == row["automl_top1"]
        assert ab["predicted_top1"] == row["predicted_top1"]
        assert ab["time_s"] == pytest.approx(row["efficientdl_time_s"])
        assert tpe["time_s"] == row["automl_time_s"]
        assert pd.isna(ab["reused_from"])  # the first arm trained
        # the argmax is the top-5's first candidate, trained once
        assert top["predicted_top1"] == row["grid_max"]
        first = _arm(arms, "top5", 1)
        assert first["config"] == top["config"] and first["test_top1"] == top["test_top1"]
        assert first["reused_from"] in ("argmax:1", "alpha_beta:1")
        preds = [_arm(arms, "top5", r)["predicted_top1"] for r in range(1, TOP_ARM + 1)]
        assert preds == sorted(preds, reverse=True)
        assert (arms["predicted_top1"].iloc[:-1] <= row["grid_max"]).all()
        configs = [json.dumps(c, sort_keys=True) for c in arms["config"].iloc[:-1]]
        assert len(set(configs[1:TOP_ARM + 2])) == TOP_ARM  # argmax + 4 other candidates
        for _, arm in arms.iterrows():
            assert list(arm["config"]) == row["top5"]
            for name, value in arm["config"].items():
                assert value in SPACE[name], (arm["arm"], name)
            if isinstance(arm["reused_from"], str):  # the shared training's result
                src, rank = arm["reused_from"].split(":")
                other = _arm(arms, src, int(rank))
                assert other["config"] == arm["config"]
                assert other["test_top1"] == arm["test_top1"]
    # the random arms depend on the seed only: both tasks draw the same grid points
    a, b = (pd.DataFrame(r) for r in frame["arms"])
    if frame["top5"].iloc[0] == frame["top5"].iloc[1]:
        for name in ("random", "random_b"):
            assert _arm(a, name)["config"] == _arm(b, name)["config"]


def test_each_configuration_is_trained_once(kit: ComponentData,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    confirm_module.warm_up()
    calls: list[Any] = []
    real = effdl_kit.training.train

    def counting(config: Any, **kw: Any) -> Any:
        calls.append(config)
        return real(config, **kw)

    monkeypatch.setattr(effdl_kit.training, "train", counting)
    budget = replace(ConfirmBudget.for_scale("smoke"), tpe_trials=2, bo_iter=3)
    row = confirm("digits", scale="smoke", seed=2, data=kit, budget=budget)
    arms = [a for a in row.arms if a["arm"] != "tpe"]
    unique = {json.dumps(a["config"], sort_keys=True) for a in arms}
    assert len(calls) == len(unique) + budget.tpe_trials
    assert sum(a["reused_from"] is not None for a in arms) == len(arms) - len(unique)
    assert len(arms) == len(ARMS) - 1 + TOP_ARM - 1


def test_transfer_task_trains_its_own_generated_data() -> None:
    spec = TASKS["synthetic_shift"]
    kit_synthetic = {"n_samples": 2000, "image_size": 16, "channels": 3, "difficulty": 0.5,
                     "data_seed": 0}
    assert spec.dataset == "synthetic" and spec.predictor_dataset == "synthetic"
    assert dict(spec.data_params) != kit_synthetic
    seen: list[Any] = []
    real = effdl_kit.training.train

    def spy(config: Any, **kw: Any) -> Any:
        seen.append(config)
        return real(config, **kw)

    mp = pytest.MonkeyPatch()
    mp.setattr(effdl_kit.training, "train", spy)
    try:
        out = _train_once({"lr": 1e-3, "threads": 1}, spec, scale="smoke", seed=0,
                          cifar_dir=None)
    finally:
        mp.undo()
    assert out.error is None and 0 <= out.test <= 1
    (cfg,) = seen
    assert cfg.dataset == "synthetic" and dict(cfg.data_params) == dict(spec.data_params)
    assert cfg.epochs == 1 and cfg.n_train == 128


def test_failed_trainings_are_recorded_and_the_run_goes_on(
        kit: ComponentData, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(config: Any, **kw: Any) -> Any:
        raise RuntimeError("simulated crash")

    monkeypatch.setattr(effdl_kit.training, "train", broken)
    row = confirm("digits", scale="smoke", seed=1, data=kit)
    for arm in row.arms:
        assert math.isnan(arm["test_top1"]) and arm["error"] is not None, arm["arm"]
        assert math.isfinite(arm["predicted_top1"]) or arm["arm"] == "tpe"
    assert math.isnan(row.efficientdl_top1) and math.isnan(row.automl_top1)
    assert math.isnan(row.diff_points)
    assert row.error_a is not None and "simulated crash" in row.error_a
    n = ConfirmBudget.for_scale("smoke").tpe_trials
    assert row.error_b is not None and f"all {n} trials failed" in row.error_b
    assert row.tpe_trials == n and row.tpe_failed == n
    assert row.efficientdl_time_s > 0 and row.automl_time_s > 0


def test_a_non_finite_loss_is_a_failed_training(monkeypatch: pytest.MonkeyPatch) -> None:
    real = effdl_kit.training.train

    def diverged(config: Any, **kw: Any) -> Any:
        res = real(config, **kw)
        res.stop_reason = "non-finite training loss"
        return res

    monkeypatch.setattr(effdl_kit.training, "train", diverged)
    out = _train_once({"threads": 1}, TASKS["digits"], scale="smoke", seed=0, cifar_dir=None)
    assert math.isnan(out.test) and out.error == "non-finite training loss"


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"scale": "huge"}, "scale"),
    ({"scale": "smoke", "seeds": 0}, "seeds"),
    ({"scale": "smoke", "seeds": []}, "seeds"),
    ({"scale": "smoke", "seeds": [0, 0]}, "seeds"),
    ({"scale": "smoke", "seeds": [-1]}, "seeds"),
    ({"scale": "smoke", "seeds": True}, "seeds"),
    ({"scale": "smoke", "tasks": ["imagenet"]}, "task"),
    ({"scale": "smoke", "tasks": []}, "tasks"),
    ({"scale": "smoke", "tasks": "digits"}, "tasks"),
    ({"scale": "smoke", "tasks": ["cifar10"]}, "cifar_dir"),
    ({"scale": "smoke", "tasks": ["cifar10"], "cifar_dir": "/nonexistent/cifar"}, "cifar_dir"),
])
def test_bad_input_is_rejected_before_any_training(
        kwargs: dict[str, Any], field: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(effdl_kit.training, "train", _no_training)
    with pytest.raises(ConfigError) as info:
        run_confirmation(**kwargs)
    assert info.value.field == field


def test_a_replaced_budget_is_the_one_used(kit: ComponentData,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(effdl_kit.training, "train", _no_training)
    budget = replace(ConfirmBudget.for_scale("smoke"), initial_rows=50, bo_iter=3)
    rec = recommend(kit, task="digits", scale="smoke", seed=0, budget=budget)
    assert (rec.n_initial_rows, rec.n_iter) == (50, 3)
    # more rows than the data holds: all rows (the authors' GP: a fitted-noise GP on every
    # row takes a minute or two)
    everything = replace(budget, initial_rows=10 * kit.n_rows, kernel="authors",
                         incumbent="labels")
    rec = recommend(kit, task="digits", scale="smoke", seed=0, budget=everything)
    assert rec.n_initial_rows == kit.n_rows
    with pytest.raises(ConfigError) as info:
        recommend(kit, task="digits", scale="smoke", seed=0,
                  budget={"bo_iter": 3})  # type: ignore[arg-type]
    assert info.value.field == "budget"


def test_bad_input_to_confirm_and_recommend(kit: ComponentData,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(effdl_kit.training, "train", _no_training)
    for kwargs, field in (({"task": "mnist", "scale": "smoke", "seed": 0}, "task"),
                          ({"task": "digits", "scale": "tiny", "seed": 0}, "scale"),
                          ({"task": "digits", "scale": "smoke", "seed": -1}, "seed"),
                          ({"task": "digits", "scale": "smoke", "seed": 1.5}, "seed")):
        with pytest.raises(ConfigError) as info:
            confirm(**kwargs)  # type: ignore[arg-type]
        assert info.value.field == field
    with pytest.raises(ConfigError) as info:
        recommend(kit, task="digits", scale="smoke", seed=0, n_iter=0)
    assert info.value.field == "n_iter"
    with pytest.raises(ConfigError) as info:
        recommend(kit, task="nope", scale="smoke", seed=0)  # type: ignore[arg-type]
    assert info.value.field == "task"
