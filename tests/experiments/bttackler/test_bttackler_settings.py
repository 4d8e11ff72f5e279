"""Budgets per scale, their overrides, and the registries of samplers, pruners and spaces."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import optuna
import pytest

from effdl_kit.diagnosis import BTTacklerPruner, CurveFitPruner
from effdl_kit.errors import ConfigError
from effdl_kit.experiments.bttackler import (
    BUDGETS,
    METHODS,
    PRUNERS,
    SAMPLERS,
    SEARCH_SPACES,
    SPACES,
    TASKS,
    VARIANTS,
    Budget,
    RunSpec,
    build_specs,
    make_sampler,
    resolve_settings,
    suggest_config,
)

SMOKE = {"tasks": ["cnn"], "methods": ["random", "tpe"], "variants": list(VARIANTS),
         "repeats": 1, "workers": 1, "budget_s": 15.0, "max_trials": 3, "epochs": 4,
         "n_train": 240, "image_dataset": "digits", "space": "tiny", "device": "cpu",
         "median_startup": 1, "curvefit_startup": 1, "gp_startup": 2}


def test_budgets_per_scale_and_their_dicts() -> None:
    assert BUDGETS["smoke"] == SMOKE  # what results files record (and always recorded)
    assert list(BUDGETS["smoke"]) == list(SMOKE)
    for scale, d in BUDGETS.items():
        assert Budget.for_scale(scale).to_dict() == d
    small, paper = Budget.for_scale("small"), Budget.for_scale("paper")
    assert small.tasks == TASKS and small.workers == 2 and small.budget_s == 25.0
    assert paper.methods == METHODS and paper.repeats == 3 and paper.image_dataset == "auto"
    with pytest.raises(ConfigError, match="scale"):
        Budget.for_scale("huge")


def test_overrides_through_replace_are_checked_and_normalised() -> None:
    listed: Any = ["cnn", "lstm"]  # a list, as callers write it
    b = dataclasses.replace(Budget.for_scale("smoke"), tasks=listed, budget_s=30)
    assert b.tasks == ("cnn", "lstm") and b.budget_s == 30.0
    assert isinstance(b.budget_s, float)
    bad: list[tuple[dict[str, Any], str]] = [
        ({"tasks": ("resnet",)}, "tasks"), ({"tasks": "cnn"}, "tasks"), ({"tasks": ()}, "tasks"),
        ({"variants": ("bttackler",)}, "variants"), ({"repeats": 0}, "repeats"),
        ({"workers": 257}, "workers"), ({"budget_s": math.inf}, "budget_s"),
        ({"max_trials": 0}, "max_trials"), ({"epochs": 1}, "epochs"),
        ({"image_dataset": "mnist"}, "dataset"), ({"space": "huge"}, "space"),
        ({"device": "tpu"}, "device"), ({"gp_startup": 0}, "gp_startup")]
    for change, field in bad:
        with pytest.raises(ConfigError) as info:
            dataclasses.replace(Budget.for_scale("smoke"), **change)
        assert info.value.field == field, change


def test_resolved_settings_and_the_specs_of_every_run() -> None:
    s = resolve_settings("smoke", tasks=["transformer", "cnn"], methods=["tpe"], repeats=2)
    assert s["tasks"] == ["cnn", "transformer"]  # canonical order
    assert s["space_ranges"] == SPACES["tiny"] and s["data_dir"] is None
    specs = build_specs(s, seed=3)
    assert [(p.repeat, p.task, p.variant) for p in specs[:5]] == [
        (0, "cnn", "plain"), (0, "cnn", "bttackler"), (0, "cnn", "median"),
        (0, "cnn", "curvefit"), (0, "transformer", "plain")]
    assert {p.seed for p in specs if p.repeat == 1} == {3 + 100_003}
    assert {p.dataset for p in specs} == {"digits", "co2"}
    tf = next(p for p in specs if p.task == "transformer")
    assert (tf.direction, tf.metric) == ("minimize", "mse")
    assert (specs[0].direction, specs[0].metric) == ("maximize", "accuracy")


def test_every_option_has_its_factory() -> None:
    assert set(SAMPLERS) == set(METHODS) and set(PRUNERS) == set(VARIANTS)
    assert set(SEARCH_SPACES) == set(TASKS)
    curvefit = PRUNERS["curvefit"](6, 1, 2)
    assert isinstance(curvefit, CurveFitPruner)
    assert (curvefit.max_steps, curvefit.n_startup_trials) == (6, 2)
    assert isinstance(PRUNERS["bttackler"](6, 1, 2), BTTacklerPruner)
    # workers and segments draw different streams; QMC walks one sequence for all workers
    def first_x(method: str, **kw: int) -> float:
        study = optuna.create_study(sampler=make_sampler(method, seed=1, **kw))
        return study.ask().suggest_float("x", 0.0, 1.0)

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    assert first_x("random") == first_x("random", worker=0, segment=0)
    assert first_x("random") != first_x("random", worker=1)
    assert first_x("random") != first_x("random", segment=1)
    assert first_x("qmc") == first_x("qmc", worker=1)
    with pytest.raises(ConfigError, match="method"):
        make_sampler("smac", seed=1)


@pytest.mark.parametrize(("task", "n_params", "model"), [
    ("cnn", 13, "cnn"), ("lstm", 8, "lstm"), ("transformer", 10, "transformer")])
def test_each_task_samples_the_papers_space(task: str, n_params: int, model: str) -> None:
    spec = build_specs(resolve_settings("small", tasks=[task], methods=["random"],
                                        variants=["plain"]), seed=7)[0]
    assert isinstance(spec, RunSpec)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    trial = study.ask()
    cfg = suggest_config(trial, spec)
    assert len(trial.params) == n_params and cfg.model == model
    assert cfg.seed == 7 + trial.number and cfg.epochs == spec.epochs and cfg.threads == 1
