"""The medn experiment at smoke scale: results, figures, tables, redraw, summary."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import effdl_kit.experiments.medn._run as medn_run
from effdl_kit.errors import ConfigError, DataError, DatasetNotFoundError
from effdl_kit.experiments import get_experiment, list_experiments, run_experiment
from effdl_kit.experiments.medn import (
    MODEL_LABELS,
    PAPER_GAIN,
    RESULTS_FILE,
    Budget,
    ablation_table,
    bootstrap_hits,
    load_medn_data,
    load_results,
    noise_ceiling,
    redraw,
    run_medn,
    scores_table,
    selection_table,
    split_table,
    whole_model_zoo,
)
from effdl_kit.models import MODEL_KINDS
from effdl_kit.reports import read_provenance

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
SMOKE = Budget.for_scale("smoke")
ROWS = SMOKE.rows_per_type or 0


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("results")
    run_experiment("medn", scale="smoke", seed=0, out=out)
    return out / "medn"


def test_registered() -> None:
    assert "medn" in list_experiments()
    exp = get_experiment("medn")
    assert exp.redraw is redraw and "auto-selection" in exp.description


def test_smoke_run_writes_results_figures_and_tables(smoke: Path) -> None:
    summary = json.loads((smoke / "summary.json").read_text())
    assert summary["name"] == "medn" and summary["scale"] == "smoke"
    m = summary["metrics"]
    assert m["n_rows"] == 8 * ROWS
    for key in ("medn_only", "auto_time", "auto_space"):
        assert 0.0 <= m[key]["acc10"] <= 1.0
    assert set(m["choices_time"].values()) <= set(MODEL_KINDS)
    assert set(m["ablation_acc10"]) == set(MODEL_KINDS)
    assert set(m["whole_model_error_pct"]) == set(SMOKE.whole_models)
    for name in summary["figures"] + summary["tables"]:
        assert (smoke / name).is_file(), name
    assert {"medn_accuracy.pdf", "medn_pred_vs_true.png", "medn_ablation.svg"} <= set(
        summary["figures"])
    rec = read_provenance(smoke / "medn_accuracy.pdf")
    assert rec["scale"] == "smoke" and rec["seed"] == 0
    payload = load_results(smoke)
    # auto-selection reported against MEDN alone, next to the paper's numbers
    sel = payload["selection"]["time"]
    assert sel["gain"]["acc_points"] == pytest.approx(
        100 * (sel["overall"]["acc10"] - sel["baseline"]["acc10"]))
    assert payload["paper_gain"] == PAPER_GAIN
    table = selection_table(payload)
    assert list(table["predictor"])[:3] == ["MEDN only", "auto-selection (time)",
                                            "auto-selection (space)"]
    assert table["Δacc (points)"].iloc[-1] == 2.5
    s = scores_table(payload)
    assert len(s) == 8 * 4 and s["acc@10%"].between(0, 100).all()
    abl = ablation_table(payload)
    assert set(abl["split"]) <= {"test", "test_loaded"} and len(abl) >= 4
    whole = pd.DataFrame(payload["whole_models"])
    assert (whole["measured_ms"] > 0).all() and (whole["predicted_ms"] > 0).all()
    assert (whole["covered"] <= whole["calls"]).all()
    tb = whole.set_index("model").loc["transformer-block"]
    assert "LayerNorm" in tb["uncovered"]


def test_redraw_recreates_the_files_from_results_only(smoke: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    def no_fit(*args: object, **kwargs: object) -> None:
        raise AssertionError("redraw must not fit anything")

    for name in ("evaluate_latency_models", "fit_latency_models", "measure_latency"):
        monkeypatch.setattr(medn_run, name, no_fit)
    for p in smoke.glob("medn_*"):
        p.unlink()
    paths = redraw(smoke)
    assert paths and all(p.is_file() for p in paths)
    assert {p.suffix for p in paths} == {".pdf", ".svg", ".png", ".tex", ".md", ".csv"}


def test_bad_input(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="run the medn experiment"):
        load_results(tmp_path)
    (tmp_path / RESULTS_FILE).write_text('{"experiment": "other"}')
    with pytest.raises(DataError, match="not a medn results file"):
        load_results(tmp_path)
    with pytest.raises(ConfigError, match="scale"):
        run_experiment("medn", scale="huge", seed=0, out=tmp_path)
    with pytest.raises(ConfigError, match="whole_models"):
        whole_model_zoo(("resnet50",))


def test_smoke_data_is_a_seeded_subsample() -> None:
    a, src = load_medn_data("smoke", 3)
    b, _ = load_medn_data("smoke", 3)
    assert src.endswith("latency_cpu.jsonl")
    pd.testing.assert_frame_equal(a, b)
    assert a["module_type"].value_counts().eq(ROWS).all()


def test_gpu_dataset_run(tmp_path: Path) -> None:
    summary = run_medn("smoke", 0, tmp_path, device="gpu")
    payload = load_results(tmp_path)
    assert payload["device"] == "gpu" and payload["source"].endswith("latency_gpu.jsonl")
    assert payload["n_rows"] == 8 * ROWS
    assert {r["model"] for r in payload["scores"]} == set(MODEL_KINDS)
    if torch.cuda.is_available():  # pragma: no cover - needs a GPU
        assert len(payload["whole_models"]) == len(SMOKE.whole_models)
    else:  # the GPU rows are predicted here; the whole models cannot be measured on a GPU
        assert payload["whole_models"] == [] and "no CUDA device" in payload[
            "whole_models_note"]
        assert summary.metrics["whole_model_error_pct"] == {}
        assert payload["noise"]["rows"] == [] and "gpu rows" in payload["noise"]["note"]
    assert (tmp_path / "medn_ablation.pdf").stat().st_size > 0  # drawn with the note
    with pytest.raises(ConfigError, match="device"):
        run_medn("smoke", 0, tmp_path, device="tpu")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="device"):
        load_medn_data("smoke", 0, device="cuda")  # type: ignore[arg-type]


def test_a_budget_override_is_used_and_recorded(tmp_path: Path) -> None:
    budget = dataclasses.replace(SMOKE, rows_per_type=12, whole_models=("cnn-small",),
                                 repeats=2)
    summary = run_medn("smoke", 1, tmp_path, budget=budget)
    payload = load_results(tmp_path)
    assert payload["n_rows"] == summary.metrics["n_rows"] == 8 * 12
    assert payload["budget"] == budget.to_dict()
    assert payload["budget"]["rows_per_type"] == 12
    assert set(summary.metrics["whole_model_error_pct"]) == {"cnn-small"}
    with pytest.raises(ConfigError, match="budget"):
        run_medn("smoke", 0, tmp_path, budget={"rows_per_type": 3})  # type: ignore[arg-type]


def test_a_missing_shipped_dataset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(medn_run, "latency_data_path", lambda device: tmp_path / "none.jsonl")
    with pytest.raises(DatasetNotFoundError, match="effdl build-latency .*--device cuda"):
        load_medn_data("smoke", 0, tmp_path, device="gpu")
    # the CPU one is measured, small, into the work directory
    df, source = load_medn_data("smoke", 0, tmp_path / "work", device="cpu")
    assert source == str(tmp_path / "work" / "latency_fallback.jsonl")
    assert len(df) > 0 and set(df["load_level"]) <= {"idle", "light"}
    assert df["module_type"].value_counts().max() <= ROWS


def test_smoke_run_scores_every_model_under_three_splits(smoke: Path) -> None:
    payload = load_results(smoke)
    assert list(payload["splits"]) == ["random", "grouped", "time"]
    # the random split's entry is the headline evaluation
    assert payload["splits"]["random"]["scores"] == payload["scores"]
    df, _ = load_medn_data("smoke", 0)
    for kind in ("grouped", "time"):
        rec = payload["splits"][kind]
        assert {r["split_kind"] for r in rec["scores"] + rec["scores_no_measurable"]} == {kind}
        pred = pd.DataFrame(rec["predictions"])
        assert set(pred["model"]) == set(MODEL_KINDS)
        for mt, g in pred[pred["model"] == "medn"].groupby("module_type"):
            rows = df[df["module_type"] == mt]
            test = rows.loc[g["row"].to_numpy()]
            rest = rows[~rows.index.isin(g["row"].tolist())]
            if kind == "time":  # held-out rows are the latest ones
                assert test["timestamp"].min() > rest["timestamp"].max()
            else:  # no configuration of the test rows is in the training or validation rows
                cols = [c for c in ("batch", "channels", "hw", "kernel_size", "stride",
                                    "padding", "out_channels", "in_features", "out_features",
                                    "input_size", "hidden_size", "seq_len", "embed_dim",
                                    "num_heads") if rows[c].notna().all()]
                both = test.merge(rest, on=cols, how="inner")
                assert both.empty, (mt, both)
    t = split_table(payload)
    assert len(t) == 3 * len(MODEL_KINDS) and list(dict.fromkeys(t["split"])) == [
        "random", "grouped", "time"]
    for tag in ("with", "without"):
        assert (t[f"{tag} lo"] <= t[f"acc@10% {tag}"]).all()
        assert (t[f"acc@10% {tag}"] <= t[f"{tag} hi"]).all()
    assert (t["Δ lo"] <= t["Δ (points)"]).all() and (t["Δ (points)"] <= t["Δ hi"]).all()
    assert t["Δ (points)"].to_numpy() == pytest.approx(
        (t["acc@10% with"] - t["acc@10% without"]).to_numpy())
    # the random rows agree with the headline ablation table
    abl = ablation_table(payload)
    abl = abl[abl["split"] == "test"]
    with_acc = dict(zip(abl["model"], abl["acc10 with"], strict=True))
    for r in t[t["split"] == "random"].to_dict(orient="records"):
        kind = {v: k for k, v in MODEL_LABELS.items()}[r["model"]]
        assert r["acc@10% with"] == pytest.approx(100 * with_acc[kind])
    summary = json.loads((smoke / "summary.json").read_text())
    assert set(summary["metrics"]["splits_acc10"]) == {
        f"{s}/{MODEL_LABELS[m]}" for s in ("random", "grouped", "time") for m in MODEL_KINDS}
    assert {"medn_splits.pdf", "medn_splits.png"} <= set(summary["figures"])
    assert "medn_splits.csv" in summary["tables"]


def test_stratified_bootstrap_keeps_each_stratum_share() -> None:
    hits = np.column_stack([np.r_[np.ones(30), np.zeros(10)], np.r_[np.ones(30), np.ones(10)]])
    strata = np.array(["a"] * 30 + ["b"] * 10)
    boot = bootstrap_hits(hits, strata, n_boot=200, seed=0)
    # within a stratum every row is alike, so each resample has the same mean
    assert boot.shape == (200, 2)
    assert np.all(boot[:, 0] == 0.75) and np.all(boot[:, 1] == 1.0)
    mixed = bootstrap_hits(hits[:, :1], np.zeros(40), n_boot=200, seed=0)
    assert mixed.std() > 0 and 0.6 < mixed.mean() < 0.9


def test_smoke_run_reports_the_noise_ceiling_beside_every_model(smoke: Path) -> None:
    payload = load_results(smoke)
    noise = payload["noise"]
    rows = pd.DataFrame(noise["rows"])
    assert len(rows) == noise["metrics"]["n"] == SMOKE.noise_rows
    df, _ = load_medn_data("smoke", 0)
    stored = df.loc[rows["row"].to_numpy()]
    assert (stored["load_level"] == "idle").all()  # only idle rows are re-timed
    assert rows["stored_ms"].to_numpy() == pytest.approx(stored["latency_ms"].to_numpy())
    assert (rows["remeasured_ms"] > 0).all()
    within = np.abs(rows["remeasured_ms"] / rows["stored_ms"] - 1) <= 0.1 + 1e-12
    assert noise["metrics"]["acc10"] == pytest.approx(float(within.mean()))
    t = split_table(payload)
    assert (t["noise ceiling acc@10%"] == 100 * noise["metrics"]["acc10"]).all()


def test_noise_ceiling_of_no_row_is_empty() -> None:
    df, _ = load_medn_data("smoke", 0)
    rows, metrics = noise_ceiling(df, n_rows=0, seed=0)
    assert rows.empty and metrics == {}
    with pytest.raises(ConfigError, match="n_rows"):
        noise_ceiling(df, n_rows=-1, seed=0)


def test_noise_ceiling_re_times_each_row_with_its_calls_per_sample(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A row timed in batches is re-timed in batches of the same size; an older row without
    the column with one call per sample."""
    df, _ = load_medn_data("smoke", 0)
    rows = df[df["load_level"] == "idle"].head(2).copy()
    rows["calls_per_sample"] = [7, np.nan]
    seen: list[int] = []
    real = medn_run.measure_spec

    def spy(*args: object, **kwargs: object) -> object:
        seen.append(int(kwargs["calls_per_sample"]))  # type: ignore[call-overload]
        return real(*args, **{**kwargs, "repeats": 3, "warmup": 1})  # type: ignore[arg-type]

    monkeypatch.setattr(medn_run, "measure_spec", spy)
    noise_ceiling(rows, n_rows=2, seed=0)
    assert sorted(seen) == [1, 7]
