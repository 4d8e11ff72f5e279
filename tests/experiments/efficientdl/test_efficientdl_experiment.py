"""The efficientdl experiment at smoke scale, and redrawing it from its saved JSON alone."""

from __future__ import annotations

import json
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import r2_score

from effdl_kit.errors import ConfigError, DataError, DatasetNotFoundError
from effdl_kit.experiments import ExperimentSummary, list_experiments, run_experiment
from effdl_kit.experiments.efficientdl import (
    DATASETS,
    FIGURE_CONFIRM,
    FIGURE_IMPORTANCE,
    FIGURE_SCATTER,
    FIGURE_SEARCH,
    METHODS,
    RESULTS_FILE,
    TABLE_ABLATION,
    TABLE_CONFIRM,
    TABLE_METRICS,
    TABLE_OMEGA,
    TABLE_SEARCH,
    TABLE_TOP,
    TABLE_VERDICTS,
    Budget,
    analyse_dataset,
    efficientdl_data_path,
    load_component_data,
    load_results,
    redraw,
    run_efficientdl,
)
from effdl_kit.reports import read_provenance

SEED = 3
FIGURES = (FIGURE_SCATTER, FIGURE_IMPORTANCE, FIGURE_SEARCH, FIGURE_CONFIRM)
TABLES = (TABLE_METRICS, TABLE_TOP, TABLE_SEARCH, TABLE_VERDICTS, TABLE_ABLATION, TABLE_OMEGA,
          TABLE_CONFIRM)


@pytest.fixture(scope="module")
def exp_dir(tmp_path_factory: pytest.TempPathFactory, efficientdl_path: Path) -> Path:
    # efficientdl_path (tests/conftest.py): the authors' data must be there under CI
    out = tmp_path_factory.mktemp("results")
    run_experiment("efficientdl", scale="smoke", seed=SEED, out=out)
    return out / "efficientdl"


@pytest.fixture(scope="module")
def payload(exp_dir: Path) -> dict[str, Any]:
    return load_results(exp_dir)


def test_is_registered() -> None:
    assert "efficientdl" in list_experiments()


def test_smoke_run_writes_summary_results_figures_tables(exp_dir: Path,
                                                         payload: dict[str, Any]) -> None:
    summary = ExperimentSummary.from_json(exp_dir / "summary.json")
    assert (summary.name, summary.scale, summary.seed) == ("efficientdl", "smoke", SEED)
    assert summary.figures == [f"{stem}.{ext}" for stem in FIGURES
                               for ext in ("pdf", "svg", "png")]
    assert summary.tables == [f"{stem}.{ext}" for stem in TABLES
                              for ext in ("tex", "md", "csv")]
    for f in [*summary.figures, *summary.tables, RESULTS_FILE]:
        assert (exp_dir / f).stat().st_size > 0
    assert (exp_dir / f"{FIGURE_SCATTER}.pdf").read_bytes().startswith(b"%PDF")
    assert set(payload["datasets"]) == set(DATASETS) and payload["skipped"] == {}
    assert payload["budget"] == Budget.for_scale("smoke").to_dict()
    # the second half: the search comparison and the confirmation by training are recorded
    search = payload["search"]
    assert set(pd.DataFrame(search["curves"])["method"]) == set(METHODS)
    assert search["setup"]["searchable"] == "controllable"
    assert search["setup"]["fixed"]["Dataset"] == "cifar-10"
    # the controls ran with the study; the positive one must detect its effect
    assert search["controls"]["positive"]["comparison"]["verdict"] == "better"
    assert search["controls"]["negative"]["verdict"] == "within noise"
    assert {v["reference"] for v in search["verdicts"]} == {"random", "tpe", "gp", "alpha_beta"}
    for method, row in summary.metrics["search"].items():
        assert row["regret_lo"] <= row["regret_mean"] <= row["regret_hi"], method
    conf = pd.DataFrame(payload["confirmation"]["rows"])
    assert len(conf) == 2 and set(conf["seed"]) == {SEED}
    assert summary.metrics["confirmation"] == payload["confirmation"]["summary"]
    # headline numbers in the summary are the ones in results.json
    for name, res in payload["datasets"].items():
        for split, ev in res["evaluations"].items():
            assert summary.metrics[name][split]["r2_mean"] == ev["mean"]["r2"]
            assert summary.metrics[name][split]["spearman_std"] == ev["std"]["spearman"]
        assert summary.metrics[name]["top5"] == [r["name"] for r in res["top"][:5]]

    for stem in (FIGURE_SCATTER, FIGURE_IMPORTANCE):
        for ext in ("pdf", "png", "svg"):
            prov = read_provenance(exp_dir / f"{stem}.{ext}")
            assert (prov["seed"], prov["scale"], prov["experiment"]) == (SEED, "smoke",
                                                                         "efficientdl")
            assert prov["budget"] == Budget.for_scale("smoke").to_dict()
            assert set(prov["datasets"]) == set(DATASETS)


def test_smoke_budget_and_cross_validation_are_what_results_hold(
        payload: dict[str, Any]) -> None:
    smoke = Budget.for_scale("smoke").to_dict()
    assert smoke == {"n_trees": 30, "n_splits": 3, "n_repeats": 3}
    for name in DATASETS:
        res = payload["datasets"][name]
        data = load_component_data(name)
        assert res["n_rows"] == data.n_rows and res["n_groups"] == data.n_groups
        assert res["budget"] == {**smoke, "seed": SEED}
        assert set(res["evaluations"]) == {"random", "grouped"}
        for split, ev in res["evaluations"].items():
            folds = pd.DataFrame(ev["folds"])
            assert len(folds) == smoke["n_splits"] == ev["n_splits"]
            pred = ev["predictions"]
            y, p, fold = (np.asarray(pred[k], dtype=float) for k in ("y_true", "y_pred", "fold"))
            assert len(y) == data.n_rows and np.isfinite(p).all()
            assert np.array_equal(y, data.xy()[1])  # out-of-fold predictions in row order
            # each fold's R² is that of its out-of-fold predictions; mean/std follow
            for k, row in folds.iterrows():
                sel = fold == k
                assert sel.sum() == row["n_test"]
                assert row["r2"] == pytest.approx(r2_score(y[sel], p[sel]), abs=1e-12)
            assert ev["mean"]["r2"] == pytest.approx(folds["r2"].mean())
            assert ev["std"]["mae"] == pytest.approx(folds["mae"].std(ddof=1))
            if split == "grouped":  # no group is split across folds
                g = data.frame[data.groups_col].to_numpy()
                per_group = pd.Series(fold).groupby(g).nunique()
                assert (per_group == 1).all()
        # predictive at all, and random folds not worse than grouped ones (near-duplicates)
        assert res["evaluations"]["random"]["mean"]["r2"] > 0.2
        assert (res["evaluations"]["random"]["mean"]["r2"]
                >= res["evaluations"]["grouped"]["mean"]["r2"] - 0.05)


def test_importance_scores_every_component_once(payload: dict[str, Any]) -> None:
    kit = payload["datasets"]["kit"]
    data = load_component_data("kit")
    # one row per component (its encoded columns permuted together), not per encoded column
    assert data.numeric is not None and data.categorical is not None
    assert sorted(kit["importance"]["names"]) == sorted([*data.numeric, *data.categorical])
    authors = payload["datasets"]["authors"]
    assert "Architecture" not in authors["importance"]["names"]
    assert "Model" not in authors["importance"]["names"]
    for res in payload["datasets"].values():
        imp = np.asarray(res["importance"]["importances"])
        assert imp.shape == (len(res["importance"]["names"]), Budget.for_scale("smoke").n_repeats)
        assert res["importance"]["method"] == "fast"
        top = pd.DataFrame(res["top"])
        assert list(top["rank"]) == list(range(1, len(top) + 1))
        assert len(top) == imp.shape[0]
        assert (np.diff(top["mean"]) <= 0).all()
        assert np.allclose(sorted(top["mean"], reverse=True), sorted(imp.mean(axis=1),
                                                                     reverse=True))
        assert (top["ci_low"] <= top["mean"]).all() and (top["mean"] <= top["ci_high"]).all()
        assert set(top["group"].head(5)) <= {"model", "training", "data", "hardware"}
        # the Top-5 really matter: permuting each costs R²
        assert (top["mean"].head(5) > 0.01).all()


def test_tables_match_results(exp_dir: Path, payload: dict[str, Any]) -> None:
    table = pd.read_csv(exp_dir / f"{TABLE_METRICS}.csv")
    assert list(zip(table["dataset"], table["split"], strict=True)) == [
        ("authors' data", "random"), ("authors' data", "grouped"),
        ("kit's data", "random"), ("kit's data", "grouped")]
    for _, row in table.iterrows():
        name = "authors" if row["dataset"].startswith("authors") else "kit"
        ev = payload["datasets"][name]["evaluations"][row["split"]]
        assert row["R² mean"] == pytest.approx(ev["mean"]["r2"], rel=1e-12)
        assert row["Spearman std"] == pytest.approx(ev["std"]["spearman"], rel=1e-12)
        assert row["folds"] == 3
    top = pd.read_csv(exp_dir / f"{TABLE_TOP}.csv")
    assert len(top) == 10 and list(top["rank"]) == [1, 2, 3, 4, 5] * 2
    kit_top = top[top["dataset"] == "kit's data"]
    assert list(kit_top["component"]) == [r["name"] for r in payload["datasets"]["kit"]["top"][:5]]
    tex = (exp_dir / f"{TABLE_METRICS}.tex").read_text()
    assert "\\caption{EfficientDL static predictor, random vs grouped CV (smoke scale, seed 3).}" \
        in tex


def test_redraw_uses_json_only(exp_dir: Path, tmp_path: Path,
                               forbid_work: Callable[..., None]) -> None:
    copy = tmp_path / "efficientdl"
    copy.mkdir()
    shutil.copy(exp_dir / RESULTS_FILE, copy / RESULTS_FILE)
    # redraw must not fit, permute or search anything
    forbid_work("evaluate_predictor", "make_static_predictor", "make_predictor",
                "permutation_importance", "AlphaBetaBO", "AlphaBetaSampler",
                "known_optimum_setup")
    paths = redraw(copy)
    assert [p.name for p in paths] == [f"{s}.{e}" for s in FIGURES
                                       for e in ("pdf", "svg", "png")] + [
        f"{s}.{e}" for s in TABLES for e in ("tex", "md", "csv")]
    for name in [f"{t}.csv" for t in TABLES]:
        assert (copy / name).read_text() == (exp_dir / name).read_text()
    assert read_provenance(copy / f"{FIGURE_IMPORTANCE}.pdf")["seed"] == SEED


def test_redraw_without_or_with_bad_results(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="run the efficientdl experiment first"):
        redraw(tmp_path)
    (tmp_path / RESULTS_FILE).write_text(json.dumps({"experiment": "tour", "datasets": {}}))
    with pytest.raises(DataError, match="not an efficientdl results file"):
        redraw(tmp_path)


@pytest.mark.parametrize("scale", ["huge", "", None, 3])
def test_bad_scale_is_refused_before_any_work(scale: Any, tmp_path: Path,
                                              forbid_work: Callable[..., None]) -> None:
    forbid_work("evaluate_predictor", "load_component_data")
    with pytest.raises(ConfigError, match="scale") as info:
        run_experiment("efficientdl", scale=scale, seed=0, out=tmp_path / "r")
    assert "smoke" in str(info.value) and "small" in str(info.value)
    assert not (tmp_path / "r").exists()
    with pytest.raises(ConfigError, match="scale"):
        run_efficientdl(scale, 0, tmp_path / "direct")
    assert not (tmp_path / "direct").exists()


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"n_trees": 0}, "n_trees"),
    ({"n_splits": 1}, "n_splits"),
    ({"n_repeats": 0}, "n_repeats"),
    ({"seed": -1}, "seed"),
    ({"splits": ["random", "stratified"]}, "split"),
    ({"splits": "random"}, "splits"),
])
def test_analyse_dataset_refuses_bad_budgets(kwargs: dict[str, Any], field: str,
                                             forbid_work: Callable[..., None]) -> None:
    data = load_component_data("kit")
    forbid_work("evaluate_predictor")
    args: dict[str, Any] = {"n_trees": 5, "n_splits": 2, "n_repeats": 1, "seed": 0, **kwargs}
    with pytest.raises(ConfigError, match=field):
        analyse_dataset(data, **args)


def test_missing_authors_data_has_a_clear_error_and_the_run_goes_on(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EFFDL_RESEARCH_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(DatasetNotFoundError, match="EFFDL_RESEARCH_DATA"):
        efficientdl_data_path()
    with pytest.raises(DatasetNotFoundError):
        load_component_data("authors")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        summary = run_experiment("efficientdl", scale="smoke", seed=0, out=tmp_path / "r")
    assert any("authors' data" in str(w.message) for w in caught)
    payload = load_results(tmp_path / "r" / "efficientdl")
    assert list(payload["datasets"]) == ["kit"]
    assert "EFFDL_RESEARCH_DATA" in payload["skipped"]["authors"]
    assert "authors" in summary.metrics["skipped"]
    table = pd.read_csv(tmp_path / "r" / "efficientdl" / f"{TABLE_METRICS}.csv")
    assert list(table["dataset"]) == ["kit's data", "kit's data"]
