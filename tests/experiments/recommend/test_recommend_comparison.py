"""The 'recommend' experiment: training-free recommendation vs feedback-based search.

Runs at smoke scale on the session's ``recommend_parts`` (digits, smoke, seed 0); the runs that
only check bookkeeping use a fast stand-in trainer (a deterministic function of the
components) so that they stay within seconds.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from effdl_kit.errors import ConfigError, DataError
from effdl_kit.experiments import list_experiments
from effdl_kit.experiments.recommend import (
    CELLS_FILE,
    COMPARISON_FILE,
    DELTA,
    METHODS,
    TRAININGS_FILE,
    CompareBudget,
    break_even,
    comparison_controls,
    comparison_table,
    comparison_verdicts,
    curve_at,
    inject,
    latency_noise,
    load_comparison,
    plot_comparison,
    redraw,
    run_comparison,
    write_comparison,
)
from effdl_kit.experiments.recommend._main import main
from effdl_kit.recommend import TrainedCandidate
from effdl_kit.testing import assert_paper_ready


class FakeTrainer:
    """A deterministic stand-in for train_and_measure: accuracy and latency from the
    components; ``lr == 0.3`` fails with a non-finite loss, ``fail_on`` raises."""

    def __init__(self, fail_on: float | None = None, stop_after: int | None = None) -> None:
        self.calls = 0
        self.fail_on = fail_on
        self.stop_after = stop_after

    def __call__(self, task: str, comps: Mapping[str, Any], *, device: str, seed: int,
                 scale: str) -> TrainedCandidate:
        self.calls += 1
        if self.stop_after is not None and self.calls > self.stop_after:
            raise KeyboardInterrupt
        if self.fail_on is not None and comps.get("lr") == self.fail_on:
            raise RuntimeError("out of memory (injected)")
        depth, width = float(comps["depth"]), float(comps["width"])
        acc = 0.3 + 0.05 * depth + width / 1000 + 0.01 * (seed % 3)
        err = "non-finite loss" if comps.get("lr") == 0.3 else None
        return TrainedCandidate(
            task=task, components=dict(comps), seed=seed,
            accuracy=math.nan if err else acc, val_accuracy=acc, epochs=2, epochs_run=2,
            diagnosis=None, diagnosis_reason="", error=err,
            measured_ms=0.04 * depth + width / 2000, train_s=0.5, measure_s=0.01)


@pytest.fixture(scope="module")
def smoke(recommend_parts: Any, tmp_path_factory: pytest.TempPathFactory
          ) -> tuple[dict[str, Any], Path]:
    """One real smoke run (one seed, both budgets, real trainings), written to a folder."""
    out = tmp_path_factory.mktemp("recommend")
    res = run_comparison("smoke", seeds=[0], out=out, prepared={"digits": recommend_parts})
    return res, out


def _synthetic(n_seeds: int, effect: float, seed: int = 0) -> dict[str, Any]:
    """Recorded results with a known truth: recommend and recommend_b drawn alike, tpe and
    nsga2 ``effect`` below recommend (plus the same noise)."""
    rng = np.random.default_rng(seed)
    cells = []
    for s in range(n_seeds):
        base = float(rng.uniform(0.5, 0.7))
        accs = {"recommend": base + rng.normal(0, 0.01),
                "recommend_b": base + rng.normal(0, 0.01),
                "tpe": base - effect + rng.normal(0, 0.01),
                "nsga2": base - effect + rng.normal(0, 0.01)}
        methods = {}
        for m, a in accs.items():
            t = {"components": {}, "accuracy": a, "measured_ms": 0.1, "train_s": 1.0,
                 "measure_s": 0.0, "error": None, "diagnosis": None, "cached": False,
                 "feasible": True, "compute_s": 2.0, "n_trainings": 1, "best_feasible": a}
            methods[m] = {"method": m, "compute_s": 2.0, "n_trainings": 1,
                          "best_feasible": a, "trainings": [t]}
        cells.append({"key": f"digits/tight/{s}", "task": "digits", "budget": "tight",
                      "budget_ms": 0.12, "seed": s, "methods": methods})
    return {"experiment": "recommend", "format": "effdl-recommend-comparison/1",
            "settings": {"tasks": ["digits"], "n_boot": 1000}, "cells": cells}


def test_registered_and_small_scale_meets_the_brief() -> None:
    assert "recommend" in list_experiments()
    b = CompareBudget.for_scale("small")
    assert set(b.tasks) == {"digits", "synthetic"} and len(b.seeds) >= 5
    assert b.n_trials // b.population_size >= 2 and b.top_k >= 1
    for t in b.tasks:
        assert 0 < b.budgets_ms[t]["tight"] < b.budgets_ms[t]["loose"]
    assert CompareBudget.from_dict(b.to_dict()) == b


def test_run_writes_cells_and_resumes_without_training(smoke: tuple[dict[str, Any], Path],
                                                       recommend_parts: Any) -> None:
    res, out = smoke
    assert [c["key"] for c in res["cells"]] == ["digits/tight/0", "digits/loose/0"]
    assert res["missing"] == []
    lines = (out / CELLS_FILE).read_text().splitlines()
    assert len(lines) == 2
    for c in res["cells"]:
        assert set(c["methods"]) == set(METHODS)
        b = CompareBudget.for_scale("smoke")
        assert c["methods"]["recommend"]["n_trainings"] == b.top_k
        assert c["methods"]["tpe"]["n_trainings"] == b.n_trials
        for m in METHODS:
            tr = c["methods"][m]["trainings"]
            comp = [t["compute_s"] for t in tr]
            assert comp == sorted(comp) and comp[0] > 0
            for t in tr:  # the best feasible so far is the max over feasible trainings so far
                assert t["feasible"] == (t["error"] is None and t["measured_ms"] is not None
                                         and t["measured_ms"] <= c["budget_ms"])
    assert all(sorted(c["order"]) == sorted(METHODS) for c in res["cells"])
    fake = FakeTrainer()
    again = run_comparison("smoke", seeds=[0], out=out, trainer=fake,
                           prepared={"digits": recommend_parts})
    assert fake.calls == 0 and again["cells"] == res["cells"]
    more = run_comparison("smoke", seeds=[0, 1], out=out, trainer=fake, run_missing=False)
    assert fake.calls == 0 and more["cells"] == res["cells"]
    assert more["missing"] == ["digits/tight/1", "digits/loose/1"]
    noise = latency_noise(res)
    assert list(noise["task"]) == ["digits"] and noise["architectures"].iloc[0] >= 1
    assert noise["recommend_measured_over_predicted"].iloc[0] > 0


def test_interrupted_run_loses_no_training_and_failures_are_recorded(
        recommend_parts: Any, tmp_path: Path) -> None:
    kw: dict[str, Any] = {"seeds": [0], "out": tmp_path, "prepared": {"digits":
                                                                      recommend_parts}}
    first = FakeTrainer(fail_on=0.01, stop_after=3)
    with pytest.raises(KeyboardInterrupt):
        run_comparison("smoke", trainer=first, **kw)
    assert len((tmp_path / TRAININGS_FILE).read_text().splitlines()) == 3
    assert not (tmp_path / CELLS_FILE).exists()
    second = FakeTrainer(fail_on=0.01)
    res = run_comparison("smoke", trainer=second, **kw)
    full = FakeTrainer(fail_on=0.01)
    run_comparison("smoke", trainer=full, seeds=[0], prepared={"digits": recommend_parts})
    assert second.calls == full.calls - 3  # the three recorded trainings were reused
    trainings = [t for c in res["cells"] for m in METHODS
                 for t in c["methods"][m]["trainings"]]
    failed = [t for t in trainings if t["error"] is not None]
    assert failed, "the stand-in fails lr 0.01 (raises) and lr 0.3 (non-finite loss)"
    assert all(not t["feasible"] and t["accuracy"] is None for t in failed)
    assert any("out of memory" in t["error"] for t in failed)
    b = CompareBudget.for_scale("smoke")
    for c in res["cells"]:  # the run went on: every method asked for all its trainings
        assert c["methods"]["tpe"]["n_trainings"] == b.n_trials
        assert c["methods"]["nsga2"]["n_trainings"] == b.n_trials
    table = comparison_table(res)
    assert table["n_failed"].sum() == len(failed)


def test_controls_and_verdicts_on_synthetic_recorded_data() -> None:
    res = _synthetic(12, effect=0.1)
    v = comparison_verdicts(res)
    assert set(v["verdict"]) == {"training-free wins"}
    assert np.allclose(v["diff"], 0.1, atol=0.02)
    c = comparison_controls(res).set_index("control")
    assert c.loc["negative (A/A)", "verdict"] == "within noise"
    assert c.loc[f"positive (+{DELTA:g})", "verdict"] == "training-free wins"
    assert c["passed"].all()
    flipped = _synthetic(12, effect=-0.1)
    assert set(comparison_verdicts(flipped)["verdict"]) == {"training-free loses"}
    same = _synthetic(12, effect=0.0)
    assert set(comparison_verdicts(same)["verdict"]) == {"within noise"}
    shifted = inject(res, "recommend_b", DELTA)
    for a, b in zip(res["cells"], shifted["cells"], strict=True):
        assert b["methods"]["recommend_b"]["best_feasible"] == pytest.approx(
            a["methods"]["recommend_b"]["best_feasible"] + DELTA)


def test_matched_compute_reads_the_trace_at_the_given_seconds() -> None:
    tr = {"trainings": [
        {"compute_s": 1.0, "best_feasible": None},
        {"compute_s": 2.0, "best_feasible": 0.4},
        {"compute_s": 3.0, "best_feasible": 0.6}]}
    assert [curve_at(tr, x) for x in (0.5, 1.5, 2.0, 2.9, 10.0)] == [0, 0, 0.4, 0.4, 0.6]


def test_break_even_training_cost_from_the_traces() -> None:
    """The recommend route reaches 0.6 with 3 trainings after 10 s of prepare and 2 s of
    search; TPE reaches 0.6 at its 8th training, NSGA-II never: break-even (10 + 2) / (8 - 3)
    = 2.4 s per training, 2 / 5 = 0.4 s with the prepare amortised."""
    def trace(accs: list[float], **extra: Any) -> dict[str, Any]:
        best, rows = None, []
        for i, a in enumerate(accs, start=1):
            best = a if best is None or a > best else best
            rows.append({"accuracy": a, "best_feasible": best, "n_trainings": i,
                         "train_s": 0.1, "measure_s": 0.0, "cached": False, "feasible": True,
                         "compute_s": 0.1 * i})
        return {"trainings": rows, "best_feasible": best, "n_trainings": len(accs), **extra}

    cell = {"task": "digits", "budget": "tight", "methods": {
        "recommend": trace([0.5, 0.6, 0.55], prepare_s=10.0, search_s=2.0),
        "recommend_b": trace([0.6]),
        "tpe": trace([0.1, 0.2, 0.3, 0.4, 0.5, 0.55, 0.58, 0.61, 0.62]),
        "nsga2": trace([0.1, 0.2])}}
    be = break_even({"settings": {"tasks": ["digits"]}, "cells": [cell]}).set_index("feedback")
    assert be.loc["tpe", "median_trainings_to_reach"] == 8
    assert be.loc["tpe", "break_even_s"] == pytest.approx(2.4)
    assert be.loc["tpe", "break_even_amortised_s"] == pytest.approx(0.4)
    assert be.loc["nsga2", "never"] == 1 and math.isnan(be.loc["nsga2", "break_even_s"])


def test_controls_on_the_committed_result() -> None:
    """On the committed small-scale result: the A/A arm is within noise in every task x budget
    and pooled; the injected +DELTA is detected wherever the A/A interval is narrower than
    the injected effect (where it is wider, the result file says the repeats do not
    suffice); the stored analysis is what the analysis computes from the stored cells."""
    doc = load_comparison(COMPARISON_FILE)
    assert doc["scale"] == "small" and doc["missing"] == []
    assert len({c["seed"] for c in doc["cells"]}) >= 5
    c = comparison_controls(doc)
    neg = c[c["control"] == "negative (A/A)"].set_index(["task", "budget"])
    pos = c[c["control"] == f"positive (+{DELTA:g})"].set_index(["task", "budget"])
    assert (neg["verdict"] == "within noise").all()
    narrow = (neg["ci_high"] - neg["ci_low"]) / 2 < DELTA
    assert narrow.any(), "no task x budget where the positive control can be judged"
    assert (pos.loc[narrow[narrow].index, "verdict"] == "training-free wins").all()
    md = COMPARISON_FILE.with_suffix(".md").read_text(encoding="utf-8")
    for t, b, ok in zip(pos.index.get_level_values(0), pos.index.get_level_values(1),
                        pos["passed"], strict=True):
        if not ok and t != "all":
            assert f"{t}, {b}" in md.split("NOT detected in")[1].split(":")[0]
    stored = doc["analysis"]
    assert [r["verdict"] for r in stored["controls"]] == list(c["verdict"])
    assert [r["verdict"] for r in stored["verdicts"]] == list(
        comparison_verdicts(doc)["verdict"])


def test_figure_paper_ready_and_redraw_from_the_json(smoke: tuple[dict[str, Any], Path],
                                                     tmp_path: Path) -> None:
    res, _ = smoke
    fig = plot_comparison(res)
    assert_paper_ready(fig, name="comparison")
    paths = write_comparison(res, tmp_path, "pytest")
    assert {p.name for p in paths} == {"recommend_comparison.json", "recommend_comparison.md",
                                       "recommend_comparison.png"}
    for p in paths[1:]:
        p.unlink()
    again = redraw(tmp_path)
    assert {p.name for p in again} == {"recommend_comparison.md", "recommend_comparison.png"}
    md = (tmp_path / "recommend_comparison.md").read_text()
    assert "pytest" in md and "within noise" in md and "Controls" in md
    doc = load_comparison(tmp_path / "recommend_comparison.json")
    assert_paper_ready(plot_comparison(doc), name="redrawn comparison")
    (tmp_path / "bad.json").write_text(json.dumps({"format": "x"}))
    with pytest.raises(DataError):
        load_comparison(tmp_path / "bad.json")


@pytest.mark.parametrize("kw", [
    {"tasks": ["mnist"]}, {"tasks": "digits"}, {"seeds": []}, {"seeds": [-1]},
    {"seeds": [1, 1]}, {"seeds": "01"}, {"seeds": [0.5]}, {"progress": 3},
])
def test_bad_input_refused_before_work(kw: dict[str, Any], tmp_path: Path) -> None:
    fake = FakeTrainer()
    with pytest.raises(ConfigError):
        run_comparison("smoke", out=tmp_path / "x", trainer=fake, **kw)
    assert fake.calls == 0 and not (tmp_path / "x").exists()


@pytest.mark.parametrize("change", [
    {"budgets_ms": {"digits": {"tight": 0.0, "loose": 1.0}}},
    {"budgets_ms": {"digits": {"tight": -1.0, "loose": 1.0}}},
    {"budgets_ms": {"digits": {"tight": math.nan, "loose": 1.0}}},
    {"budgets_ms": {"digits": {"loose": 1.0}}}, {"top_k": 0}, {"population_size": 3},
])
def test_bad_budget_refused(change: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        dataclasses.replace(CompareBudget.for_scale("smoke"), **change)
    with pytest.raises(ConfigError):
        run_comparison("huge")


def test_main_bad_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--scale", "huge", "--out", str(tmp_path)]) == 2
    assert "scale" in capsys.readouterr().err
    assert main(["--redraw", "--out", str(tmp_path)]) == 2  # no JSON there yet
