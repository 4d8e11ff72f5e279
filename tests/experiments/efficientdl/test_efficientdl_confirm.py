"""EfficientDL confirmation by real training (issue 4, part 5), at smoke scale.

Every training here is real (smoke caps: 1 epoch, 128 images, about 0.1 s each); the whole
file runs in well under a minute on two cores.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import pytest

import effdl_kit.training
from effdl_kit.data import (
    COMPONENT_GROUPS,
    ComponentData,
    default_component_space,
    load_component_data,
)
from effdl_kit.errors import ConfigError
from effdl_kit.experiments.efficientdl import (
    TASKS,
    ConfirmBudget,
    ConfirmRow,
    Recommendation,
    confirm,
    confirmation_summary,
    controllable_components,
    plot_confirmation,
    recommend,
    run_confirmation,
)
from effdl_kit.experiments.efficientdl._confirm import _train_once
from effdl_kit.reports import figure

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
    for col in ("efficientdl_time_s", "automl_time_s", "predictor_s", "bo_s", "train_s"):
        assert (frame[col] > 0).all(), col
    np.testing.assert_allclose(frame["time_ratio"],
                               frame["automl_time_s"] / frame["efficientdl_time_s"])
    np.testing.assert_allclose(frame["diff_points"],
                               100 * (frame["efficientdl_top1"] - frame["automl_top1"]))
    np.testing.assert_allclose(frame["efficientdl_time_s"],
                               frame["predictor_s"] + frame["bo_s"] + frame["train_s"])
    np.testing.assert_allclose(frame["ratio_search_only"],
                               frame["automl_time_s"] / (frame["bo_s"] + frame["train_s"]))
    assert (frame["tpe_trials"] == ConfirmBudget.for_scale("smoke").tpe_trials).all()
    assert (frame["tpe_failed"] == 0).all()
    assert (frame["train_epochs"] == 1).all() and (frame["train_n_train"] == 128).all()
    assert frame["error_a"].isna().all() and frame["error_b"].isna().all()
    for _, row in frame.iterrows():
        assert list(row["config_b"]) == row["top5"] == list(row["config_a"])
        for name in row["top5"]:
            assert row["config_a"][name] in SPACE[name]
            assert row["config_b"][name] in SPACE[name]
    json.dumps(frame.to_dict(orient="records"))


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
    # more rows than the data holds: all rows
    everything = replace(budget, initial_rows=10 * kit.n_rows)
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
            confirm(**kwargs)
        assert info.value.field == field
    with pytest.raises(ConfigError) as info:
        recommend(kit, task="digits", scale="smoke", seed=0, n_iter=0)
    assert info.value.field == "n_iter"
    with pytest.raises(ConfigError) as info:
        recommend(kit, task="nope", scale="smoke", seed=0)
    assert info.value.field == "task"


# ----------------------------------------------------------------------------- summary, plot


def _hand_frame() -> pd.DataFrame:
    rows = []
    a = {"digits": [0.9, 0.8, 0.85], "synthetic_shift": [0.7, math.nan, 0.6]}
    b = {"digits": [0.88, 0.83, 0.8], "synthetic_shift": [0.72, 0.65, 0.5]}
    ta = {"digits": [10.0, 12.0, 11.0], "synthetic_shift": [9.0, 8.0, 10.0]}
    tb = {"digits": [30.0, 24.0, 33.0], "synthetic_shift": [18.0, 20.0, 25.0]}
    for task in ("digits", "synthetic_shift"):
        for s in range(3):
            rows.append({"task": task, "scale": "small", "seed": s,
                         "efficientdl_top1": a[task][s], "automl_top1": b[task][s],
                         "diff_points": 100 * (a[task][s] - b[task][s]),
                         "efficientdl_time_s": ta[task][s], "automl_time_s": tb[task][s],
                         "time_ratio": tb[task][s] / ta[task][s]})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("source", ["hand", "run"])
def test_summary_equals_a_hand_computation(source: str, frame: pd.DataFrame) -> None:
    f = _hand_frame() if source == "hand" else frame
    summary = confirmation_summary(f)
    assert list(summary["task"]) == list(pd.unique(f["task"]))
    for _, row in summary.iterrows():
        part = f[f["task"] == row["task"]]
        assert row["n_seeds"] == len(part)
        ok = [not (math.isnan(x) or math.isnan(y))
              for x, y in zip(part["efficientdl_top1"], part["automl_top1"], strict=True)]
        assert row["n_ok"] == sum(ok)
        for col in ("efficientdl_top1", "automl_top1", "diff_points", "time_ratio",
                    "efficientdl_time_s", "automl_time_s"):
            vals = [float(v) for v in part[col] if not math.isnan(float(v))]
            mean = sum(vals) / len(vals)
            std = (math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1))
                   if len(vals) > 1 else math.nan)
            assert row[f"{col}_mean"] == pytest.approx(mean, rel=1e-12), col
            if math.isnan(std):
                assert math.isnan(row[f"{col}_std"])
            else:
                assert row[f"{col}_std"] == pytest.approx(std, rel=1e-12), col
    if source == "hand":
        syn = summary.set_index("task").loc["synthetic_shift"]
        assert syn["n_ok"] == 2
        assert syn["diff_points_mean"] == pytest.approx((-2.0 + 10.0) / 2)
        assert syn["time_ratio_mean"] == pytest.approx((2.0 + 2.5 + 2.5) / 3)
    json.dumps(summary.to_dict(orient="records"))


def test_summary_rejects_other_frames() -> None:
    from effdl_kit.errors import DataError

    with pytest.raises(DataError, match="columns"):
        confirmation_summary(pd.DataFrame({"task": ["digits"]}))


def test_plot_confirmation_draws_both_arms_per_task(frame: pd.DataFrame) -> None:
    _, ax = figure("single", pyplot=False)
    out = plot_confirmation(_hand_frame(), ax=ax)
    assert out is ax
    assert len(ax.patches) == 2 * 2  # two bars per task
    assert [t.get_text() for t in ax.get_xticklabels()] == ["digits", "synthetic_shift"]
    heights = sorted(round(p.get_height(), 6) for p in ax.patches)
    assert heights == sorted(round(v, 6) for v in (0.85, 0.65, 0.83666666666, 0.62333333333))
    assert len(ax.get_legend().get_texts()) == 2
    _, ax2 = figure("single", pyplot=False)
    plot_confirmation(frame, ax=ax2)
    assert len(ax2.patches) == 4
