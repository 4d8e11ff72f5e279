"""The experiment's settings: one frozen budget per part, per scale; options as Literal types."""

from __future__ import annotations

import dataclasses
from typing import Any, get_args

import pytest

from effdl_kit._core.validate import SCALES
from effdl_kit.errors import ConfigError
from effdl_kit.experiments.efficientdl import (
    ABLATION_METHOD,
    DATASET_LABELS,
    DATASETS,
    METHOD_LABELS,
    METHOD_RUNS,
    METHODS,
    SEARCH_COMPONENTS,
    SEARCH_TARGETS,
    TASKS,
    Budget,
    ConfirmBudget,
    Method,
    SearchBudget,
)


@pytest.mark.parametrize("cls", [Budget, SearchBudget, ConfirmBudget])
def test_every_scale_has_a_frozen_budget(cls: Any) -> None:
    budgets = [cls.for_scale(s) for s in SCALES]
    assert len(set(budgets)) == len(SCALES)  # the scales differ
    with pytest.raises(dataclasses.FrozenInstanceError):
        budgets[0].n_trees = 1
    with pytest.raises(ConfigError, match="scale"):
        cls.for_scale("huge")
    # to_dict holds every field, JSON-ready
    for b in budgets:
        d = b.to_dict()
        assert list(d) == [f.name for f in dataclasses.fields(cls)]
        assert not any(isinstance(v, tuple) for v in d.values())


def test_smoke_budgets_are_the_recorded_ones() -> None:
    assert Budget.for_scale("smoke").to_dict() == {"n_trees": 30, "n_splits": 3, "n_repeats": 3}
    s = SearchBudget.for_scale("smoke").to_dict()
    assert s == {"init_rows": 120, "n_iter": 8, "seeds": 3, "n_restarts": 1, "refit_every": 4,
                 "n_trees": 30, "n_repeats": 2, "min_grid": 500, "alphas": [0.0, 0.54],
                 "betas": [0.0, 1.01], "omegas": [0.1, 1.0], "ablation_seeds": 2,
                 "ablation_iter": 14, "control_seeds": 6, "control_iter": 40}
    c = ConfirmBudget.for_scale("smoke")
    assert (c.n_seeds, c.bo_iter, c.tpe_trials, c.train_scale, c.initial_rows) == (
        1, 8, 4, "smoke", 200)


def test_all_rows_is_none() -> None:
    assert SearchBudget.for_scale("paper").init_rows is None
    assert ConfirmBudget.for_scale("small").initial_rows is None
    assert ConfirmBudget.for_scale("paper").initial_rows is None


@pytest.mark.parametrize(("cls", "change", "field"), [
    (Budget, {"n_splits": 1}, "n_splits"),
    (Budget, {"n_trees": 0}, "n_trees"),
    (SearchBudget, {"init_rows": 0}, "init_rows"),
    (SearchBudget, {"n_restarts": -1}, "n_restarts"),
    (SearchBudget, {"alphas": ()}, "alphas"),
    (SearchBudget, {"omegas": (0.1, -0.5)}, "omegas"),
    (ConfirmBudget, {"initial_rows": 0}, "initial_rows"),
    (ConfirmBudget, {"train_scale": "huge"}, "scale"),
    (ConfirmBudget, {"tpe_trials": 1.5}, "tpe_trials"),
])
def test_replace_checks_the_new_values(cls: Any, change: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as info:
        dataclasses.replace(cls.for_scale("smoke"), **change)
    assert info.value.field == field
    ok = dataclasses.replace(cls.for_scale("smoke"))
    assert ok == cls.for_scale("smoke")


def test_options_are_literal_types_with_registries() -> None:
    assert get_args(Method) == METHODS
    assert set(METHOD_RUNS) == set(METHODS) == set(METHOD_LABELS)
    assert ABLATION_METHOD in METHODS
    assert set(SEARCH_COMPONENTS) == {"controllable", "all"}
    assert set(SEARCH_TARGETS) == set(DATASETS)
    assert set(DATASET_LABELS) == set(DATASETS) == {"authors", "kit"}
    assert set(TASKS) == {"digits", "synthetic_shift"}
