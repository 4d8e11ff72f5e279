"""The tour experiment at smoke scale, and redrawing it from its saved JSON alone."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pandas as pd
import pytest

import effdl_kit.training
from effdl_kit.errors import ConfigError, DataError
from effdl_kit.experiments import ExperimentSummary, redraw_tour, run_experiment
from effdl_kit.experiments._tour import Budget, build_configs, load_results
from effdl_kit.reports import read_provenance


@pytest.fixture(scope="module")
def tour_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("results")
    run_experiment("tour", scale="smoke", seed=4, out=out)
    return out / "tour"


def test_configs_follow_the_scale() -> None:
    for scale in ("smoke", "small", "paper"):
        budget = Budget.for_scale(scale)
        cfgs = build_configs(scale, 9)
        assert set(cfgs) == {"sgd", "adam"}
        for opt, cfg in cfgs.items():
            assert (cfg.optimizer, cfg.dataset, cfg.model, cfg.seed) == (opt, "digits", "cnn", 9)
            assert cfg.epochs == budget.epochs
            assert cfg.n_train == budget.n_train
    smoke = Budget.for_scale("smoke")
    assert (smoke.epochs, smoke.n_train) == (2, 300)
    assert [Budget.for_scale(s).epochs for s in ("small", "paper")] == [15, 40]


def test_budget_overrides_and_bad_input() -> None:
    budget = dataclasses.replace(Budget.for_scale("small"), epochs=3, n_train=50)
    cfgs = build_configs("small", 0, budget=budget)
    assert {(c.epochs, c.n_train) for c in cfgs.values()} == {(3, 50)}
    with pytest.raises(ConfigError, match="epochs"):
        dataclasses.replace(budget, epochs=0)
    with pytest.raises(ConfigError, match="n_train"):
        dataclasses.replace(budget, n_train=0)
    with pytest.raises(ConfigError, match="budget"):
        build_configs("small", 0, budget={"epochs": 3})  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="scale"):
        Budget.for_scale("huge")


def test_smoke_run_writes_summary_results_figures_table(tour_dir: Path) -> None:
    summary = ExperimentSummary.from_json(tour_dir / "summary.json")
    assert (summary.name, summary.scale, summary.seed) == ("tour", "smoke", 4)
    assert summary.figures == ["tour_curves.pdf", "tour_curves.svg", "tour_curves.png"]
    assert summary.tables == ["tour_table.tex", "tour_table.md", "tour_table.csv"]
    for f in summary.figures + summary.tables:
        assert (tour_dir / f).stat().st_size > 0

    results, scale, seed = load_results(tour_dir)
    assert (scale, seed) == ("smoke", 4)
    assert set(results) == {"sgd", "adam"}
    for opt, res in results.items():
        assert res.config.optimizer == opt
        assert res.epochs_run == Budget.for_scale("smoke").epochs
        assert res.data_sizes["train"] == Budget.for_scale("smoke").n_train
        assert summary.metrics[opt]["test_accuracy"] == res.test_metric
        assert summary.metrics[opt]["final_val_accuracy"] == res.history[-1].val_metric

    prov = read_provenance(tour_dir / "tour_curves.pdf")
    assert (prov["seed"], prov["scale"], prov["experiment"]) == (4, "smoke", "tour")
    assert prov["configs"]["sgd"] == results["sgd"].config.to_dict()
    assert read_provenance(tour_dir / "tour_curves.png")["seed"] == 4

    table = pd.read_csv(tour_dir / "tour_table.csv")
    assert table["optimizer"].tolist() == ["sgd", "adam"]
    assert table["test acc"].tolist() == [results["sgd"].test_metric,
                                          results["adam"].test_metric]
    assert table["params"].tolist() == [results["sgd"].n_params] * 2
    assert table["FLOPs/sample"].tolist() == [results["sgd"].flops] * 2
    assert "\\caption{Digits CNN, SGD vs Adam (smoke scale, seed 4).}" in (
        tour_dir / "tour_table.tex").read_text()


def test_redraw_uses_json_only(tour_dir: Path, tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    # a copy holding nothing but results.json; training is made impossible
    copy = tmp_path / "tour"
    copy.mkdir()
    (copy / "results.json").write_bytes((tour_dir / "results.json").read_bytes())

    def no_training(*args: object, **kwargs: object) -> None:
        raise AssertionError("redraw must not train")

    monkeypatch.setattr(effdl_kit.training, "train", no_training)
    paths = redraw_tour(copy)
    assert sorted(p.name for p in paths) == sorted(
        f"tour_{k}.{e}" for k, exts in (("curves", ("pdf", "svg", "png")),
                                        ("table", ("tex", "md", "csv"))) for e in exts)
    assert all(p.parent == copy and p.stat().st_size > 0 for p in paths)
    assert read_provenance(copy / "tour_curves.svg")["seed"] == 4
    pd.testing.assert_frame_equal(pd.read_csv(copy / "tour_table.csv"),
                                  pd.read_csv(tour_dir / "tour_table.csv"))


def test_redraw_without_results(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="results.json"):
        redraw_tour(tmp_path)
    (tmp_path / "results.json").write_text(json.dumps({"scale": "smoke"}))
    with pytest.raises(DataError, match="not a tour results file"):
        redraw_tour(tmp_path)
