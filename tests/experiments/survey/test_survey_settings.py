"""The survey experiment's settings: the budget per scale, overrides and their checks."""

from __future__ import annotations

import dataclasses
import json

import pytest

from effdl_kit.errors import ConfigError
from effdl_kit.experiments.survey import ALL_METHODS, PARTS, Budget, survey_config
from effdl_kit.measure import OPS


def test_budgets_per_scale() -> None:
    smoke, small, paper = (Budget.for_scale(s) for s in ("smoke", "small", "paper"))
    assert (smoke.budgets, smoke.n_seeds, smoke.methods) == ((1, 2), 2, ("label_smoothing",
                                                                         "ema"))
    assert (small.budgets, small.n_seeds, small.n_tune_seeds) == ((1, 2, 3, 4, 6), 5, 2)
    assert small.lr_grid == (1e-3, 3e-3, 1e-2, 3e-2) and small.warmup == 1
    assert small.methods == tuple(m for m in ALL_METHODS if m != "mixed_precision")
    assert (paper.budgets, paper.n_seeds, paper.methods) == ((2, 4, 8, 16, 32), 5,
                                                            tuple(ALL_METHODS))
    assert (smoke.device, small.device, paper.device) == ("cpu", "cpu", "auto")
    assert set(smoke.ops) == set(small.ops) == set(paper.ops) == set(OPS)
    assert paper.ops["matmul"] == (16, 64, 256, 1024, 4096)
    assert paper.ops["add"] == small.ops["add"] == (2**8, 2**12, 2**16, 2**20, 2**23)
    assert smoke.loader == {"workers": (0,), "augmentations": ("none", "flip_crop"),
                            "n_batches": 2, "batch_size": 16, "image_size": 16, "warmup": 1}
    assert PARTS == ("pareto", "ops", "variants", "loader")


def test_budget_is_frozen_and_a_fresh_copy_per_call() -> None:
    a = Budget.for_scale("smoke")
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.n_seeds = 3  # type: ignore[misc]
    a.data["n_samples"] = 1  # type: ignore[index]
    assert Budget.for_scale("smoke").data["n_samples"] == 300


def test_config_follows_the_budget() -> None:
    budget = dataclasses.replace(Budget.for_scale("smoke"), budgets=(1, 5),
                                 data={"n_samples": 100, "image_size": 8, "difficulty": 0.5})
    cfg = survey_config("smoke", 2, budget=budget)
    assert cfg.epochs == 5 and cfg.seed == 2 and cfg.data_params["n_samples"] == 100
    assert cfg.device == "cpu"
    assert survey_config("paper").device == "auto"
    d = Budget.for_scale("small").to_dict()
    assert json.loads(json.dumps(d)) == d and d["budgets"] == [1, 2, 3, 4, 6]


@pytest.mark.parametrize(("change", "field"), [
    ({"budgets": (2, 1)}, "budgets"),
    ({"n_seeds": 0}, "n_seeds"),
    ({"lr_grid": ()}, "lr_grid"),
    ({"lr_grid": (1e-3, -1.0)}, r"lr_grid\[1\]"),
    ({"n_tune_seeds": 0}, "n_tune_seeds"),
    ({"warmup": -1}, "warmup"),
    ({"methods": ("warp_speed",)}, "methods"),
    ({"methods": "ema"}, "methods"),
    ({"ops": {"fft": (8,)}}, "ops"),
    ({"dtypes": ("float8",)}, "dtypes"),
    ({"min_time": 0.0}, "min_time"),
    ({"repeats": 0}, "repeats"),
    ({"variants_input": (3, 16)}, "variants_input"),
    ({"loader": {"threads": 2}}, "loader"),
    ({"device": "tpu"}, "device"),
])
def test_bad_overrides_name_the_field(change: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        dataclasses.replace(Budget.for_scale("smoke"), **change)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="scale"):
        Budget.for_scale("huge")
