"""The medn experiment's settings: the budget per scale, overrides and their checks."""

from __future__ import annotations

import dataclasses
import json

import pytest

from effdl_kit.errors import ConfigError
from effdl_kit.experiments.medn import DEVICES, WHOLE_MODELS, Budget, whole_model_zoo
from effdl_kit.models import LATENCY_BUDGETS


def test_budgets_per_scale() -> None:
    smoke, small, paper = (Budget.for_scale(s) for s in ("smoke", "small", "paper"))
    assert (smoke.rows_per_type, smoke.warmup, smoke.repeats) == (30, 2, 5)
    assert smoke.whole_models == ("cnn-small", "transformer-block")
    assert small.rows_per_type is None and paper.rows_per_type is None
    assert small.whole_models == paper.whole_models == WHOLE_MODELS
    assert (small.warmup, small.repeats, paper.warmup, paper.repeats) == (5, 25, 10, 50)
    assert (smoke.noise_rows, small.noise_rows, paper.noise_rows) == (8, 160, 400)
    for scale, b in (("smoke", smoke), ("small", small), ("paper", paper)):
        assert b.model_params == LATENCY_BUDGETS[scale]
    assert DEVICES == ("cpu", "gpu")
    assert set(WHOLE_MODELS) == set(whole_model_zoo())


def test_budget_is_frozen_and_a_fresh_copy_per_call() -> None:
    a = Budget.for_scale("smoke")
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.repeats = 3  # type: ignore[misc]
    a.model_params["rf"]["n_estimators"] = 1  # type: ignore[index]
    assert Budget.for_scale("smoke").model_params["rf"]["n_estimators"] == 10
    assert LATENCY_BUDGETS["smoke"]["rf"]["n_estimators"] == 10


def test_to_dict_is_the_recorded_budget() -> None:
    d = Budget.for_scale("smoke").to_dict()
    assert list(d) == ["rows_per_type", "whole_models", "warmup", "repeats", "model_params",
                       "splits", "n_boot", "noise_rows"]
    assert d["whole_models"] == ["cnn-small", "transformer-block"]
    assert d["splits"] == ["random", "grouped", "time"] and d["n_boot"] == 1000
    assert json.loads(json.dumps(d)) == d


@pytest.mark.parametrize(("change", "field"), [
    ({"rows_per_type": 0}, "rows_per_type"),
    ({"whole_models": ("resnet50",)}, "whole_models"),
    ({"whole_models": "cnn-small"}, "whole_models"),
    ({"warmup": -1}, "warmup"),
    ({"repeats": 0}, "repeats"),
    ({"model_params": None}, "model_params"),
    ({"splits": ()}, "splits"),
    ({"splits": "time"}, "splits"),
    ({"splits": ("random", "blocked")}, "splits"),
    ({"n_boot": 5}, "n_boot"),
    ({"noise_rows": -1}, "noise_rows"),
])
def test_bad_overrides_name_the_field(change: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        dataclasses.replace(Budget.for_scale("smoke"), **change)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="scale"):
        Budget.for_scale("huge")
