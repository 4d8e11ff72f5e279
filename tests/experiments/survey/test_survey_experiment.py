"""The 'survey' experiment at smoke scale: results, figures, tables, redraw, bad input."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pandas as pd
import pytest

from effdl_kit.errors import ConfigError, DataError
from effdl_kit.experiments import list_experiments, run_experiment
from effdl_kit.experiments.survey import (
    ALL_METHODS,
    PARTS,
    RESULTS_FILE,
    Budget,
    load_results,
    op_regime_table,
    redraw,
    run_survey,
    survey_config,
    survey_recipes,
)
from effdl_kit.speedups import AA_LABEL, METHODS, POSITIVE_LABEL, VERDICTS


@pytest.fixture(scope="module")
def smoke_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("results")
    summary = run_experiment("survey", scale="smoke", seed=0, out=out)
    assert summary.name == "survey" and summary.scale == "smoke"
    return out / "survey"


def test_registered_and_scales_meet_the_issue() -> None:
    assert "survey" in list_experiments()
    small = Budget.for_scale("small")
    assert len(small.budgets) >= 5 and small.n_seeds >= 5 and len(small.lr_grid) >= 3
    assert list(small.budgets) == sorted(set(small.budgets))
    assert set(ALL_METHODS) == set(METHODS)
    assert set(Budget.for_scale("paper").methods) == set(METHODS)
    cfg = survey_config("small", 3)
    assert cfg.schedule == "cosine" and cfg.seed == 3 and cfg.model_params["skip"] is True


def test_smoke_results_hold_every_part(smoke_dir: Path) -> None:
    payload = json.loads((smoke_dir / RESULTS_FILE).read_text())
    assert {"pareto", "ops", "variants", "loader"} <= set(payload)
    runs = pd.DataFrame(payload["pareto"]["runs"])
    s = Budget.for_scale("smoke")
    # the baseline, its A/A copy and every method, at every budget and seed, in a random order
    assert len(runs) == (len(s.methods) + 2) * len(s.budgets) * s.n_seeds
    assert set(runs["method"]) == {"baseline", AA_LABEL, *s.methods}
    assert sorted(runs["order"]) == list(range(len(runs)))
    assert runs["order"].tolist() != sorted(runs["order"])
    frontier = pd.DataFrame(payload["pareto"]["frontier"])
    assert set(frontier["verdict"]) <= set(VERDICTS)
    assert set(frontier["method"]) == {"baseline", AA_LABEL, POSITIVE_LABEL, *s.methods}
    assert frontier["verdict_text"].str.contains("CI").sum() == len(frontier) - 1
    # the baseline's rate was tuned per budget on the tuning seeds, and every run used it
    tuning = payload["pareto"]["tuning"]
    assert len(tuning["runs"]) == len(s.lr_grid) * len(s.budgets) * s.n_tune_seeds
    assert not set(tuning["seeds"]) & set(runs["seed"])
    for b, lr in tuning["chosen"].items():
        assert lr in s.lr_grid and set(runs[runs["budget"] == int(b)]["lr"]) == {lr}
    # verdicts and controls in wall time (the survey's clock) and CPU time (the kit's)
    assert set(payload["pareto"]["controls"]) == {"wall", "cpu"}
    for clock in ("wall", "cpu"):
        assert set(payload["pareto"]["controls"][clock]) == {"aa", "positive", "passed"}
    cpu = pd.DataFrame(payload["pareto"]["frontier_cpu"])
    assert set(cpu["method"]) == set(frontier["method"])
    assert (runs["train_cpu_s"] > 0).all()
    sweep = pd.DataFrame(payload["ops"]["sweep"])
    assert set(sweep["op"]) == set(s.ops) and "regime" in sweep
    roof = payload["ops"]["roofline"]
    assert roof["peak_flops"] > 0 and set(roof["bandwidth_by_dtype"]) == set(s.dtypes)
    # each row carries its own dtype's ridge
    for dt, g in sweep.groupby("dtype"):
        ridge = roof["peak_flops_by_dtype"][dt] / roof["bandwidth_by_dtype"][dt]
        assert g["ridge"].to_numpy() == pytest.approx(ridge, rel=1e-9)  # JSON: 10 digits
    summary = json.loads((smoke_dir / "summary.json").read_text())
    assert set(summary["metrics"]) == {"frontier", "frontier_cpu", "roofline", "variants",
                                       "loader"}
    assert set(summary["metrics"]["roofline"]["by_dtype"]) == set(s.dtypes)
    for stem in ("survey_pareto", "survey_roofline", "survey_flops_runtime", "survey_loader"):
        assert (smoke_dir / f"{stem}.pdf").read_bytes().startswith(b"%PDF")
    assert (smoke_dir / "survey_frontier.md").is_file()
    table = op_regime_table(sweep)
    assert set(table["op"]) == set(s.ops)


def test_redraw_needs_only_the_results_file(smoke_dir: Path, tmp_path: Path) -> None:
    (tmp_path / RESULTS_FILE).write_bytes((smoke_dir / RESULTS_FILE).read_bytes())
    paths = redraw(tmp_path)
    assert {p.name for p in paths} >= {"survey_pareto.png", "survey_roofline.svg",
                                       "survey_frontier.csv", "survey_ops.tex"}
    assert load_results(tmp_path)["scale"] == "smoke"


def test_partial_runs_and_bad_input(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="parts"):
        run_survey("smoke", 0, tmp_path, parts=("pareto", "vibes"))  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="methods"):
        survey_recipes(["warp_speed"])
    with pytest.raises(ConfigError, match="scale"):
        survey_config("huge")
    with pytest.raises(DataError, match="results.json"):
        load_results(tmp_path)
    (tmp_path / RESULTS_FILE).write_text('{"experiment": "tour"}')
    with pytest.raises(DataError, match="survey"):
        load_results(tmp_path)
    out = tmp_path / "ops_only"
    summary = run_survey("smoke", 0, out, parts=("ops",))
    assert set(summary.metrics) == {"roofline"}
    assert [p for p in PARTS if p in load_results(out)] == ["ops"]


def test_a_budget_override_is_used(tmp_path: Path) -> None:
    budget = dataclasses.replace(Budget.for_scale("smoke"), variants_input=(3, 8, 8),
                                 variants_repeats=1,
                                 loader={"workers": (0,), "augmentations": ("none",),
                                         "n_batches": 1, "batch_size": 8, "image_size": 8,
                                         "warmup": 0})
    run_survey("smoke", 0, tmp_path, parts=("variants", "loader"), budget=budget)
    payload = load_results(tmp_path)
    assert payload["variants"]["input_shape"] == [3, 8, 8]
    assert payload["loader"]["settings"] == {"workers": [0], "augmentations": ["none"],
                                             "n_batches": 1, "batch_size": 8,
                                             "image_size": 8, "warmup": 0}
    assert [r["augmentation"] for r in payload["loader"]["rows"]] == ["none"]
    assert list(payload["timings_s"]) == ["variants", "loader"]
    with pytest.raises(ConfigError, match="budget"):
        run_survey("smoke", 0, tmp_path, budget={"n_seeds": 1})  # type: ignore[arg-type]
