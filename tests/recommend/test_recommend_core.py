"""Latency-aware recommendation (issue 19, part 1): bad input, latency sums, calibration,
feasibility weighting (positive and negative controls), the result object."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from effdl_kit.errors import ConfigError
from effdl_kit.models import predict_model_latency
from effdl_kit.recommend import (
    CandidateSpace,
    LatencyPredictor,
    Recommendation,
    architecture_key,
    build_candidate,
    calibrate,
    recommend,
    search_candidates,
)
from effdl_kit.recommend import _recommend as rec_module

N_ITER = 12


@pytest.fixture(scope="module")
def parts(recommend_parts: tuple[CandidateSpace, LatencyPredictor]
          ) -> tuple[CandidateSpace, LatencyPredictor]:
    """The fitted static predictor grid and calibrated latency models (smoke; the session's
    ``recommend_parts``)."""
    return recommend_parts


def _search(parts: tuple[CandidateSpace, LatencyPredictor], budget: float, mode: Any,
            seed: int) -> pd.DataFrame:
    rows, _, _ = search_candidates(*parts, budget, n_iter=N_ITER, seed=seed, mode=mode)
    return rows


# ---------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(("kwargs", "field", "allowed"), [
    ({"latency_budget_ms": 0}, "latency_budget_ms", "> 0"),
    ({"latency_budget_ms": -2.0}, "latency_budget_ms", "> 0"),
    ({"latency_budget_ms": math.nan}, "latency_budget_ms", "> 0"),
    ({"latency_budget_ms": "fast"}, "latency_budget_ms", "> 0"),
    ({"latency_budget_ms": True}, "latency_budget_ms", "> 0"),
    ({"task": "mnist"}, "task", "'digits', 'synthetic'"),
    ({"device": "tpu"}, "device", "'cpu', 'gpu'"),
    ({"device": 3}, "device", "'cpu', 'gpu'"),
    ({"scale": "huge"}, "scale", "'smoke'"),
    ({"mode": "strict"}, "mode", "'constrained', 'unconstrained'"),
    ({"n_iter": 0}, "n_iter", ">= 1"),
    ({"seed": -1}, "seed", ">= 0"),
    ({"progress": 5}, "progress", "callable"),
])
def test_bad_input_is_refused_before_any_work(kwargs: dict[str, Any], field: str,
                                              allowed: str,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    def no_work(*a: Any, **k: Any) -> Any:
        raise AssertionError("work started before the input was checked")

    monkeypatch.setattr(rec_module, "prepare", no_work)
    args = {"task": "digits", "device": "cpu", "latency_budget_ms": 2.0, **kwargs}
    with pytest.raises(ConfigError) as info:
        recommend(args.pop("task"), args.pop("device"), args.pop("latency_budget_ms"),
                  scale=args.pop("scale", "smoke"), **args)
    assert info.value.field == field
    assert allowed in str(info.value)


def test_a_device_without_a_latency_dataset_is_refused(monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Path) -> None:
    import effdl_kit.data as data

    real = data.latency_data_path

    def only_cpu(device: str = "cpu") -> Path:
        return real(device) if device == "cpu" else tmp_path / "latency_gpu.jsonl"

    monkeypatch.setattr(data, "latency_data_path", only_cpu)
    monkeypatch.setattr(rec_module, "prepare", lambda *a, **k: pytest.fail("work started"))
    with pytest.raises(ConfigError) as info:
        recommend("digits", "gpu", 2.0, scale="smoke")
    assert info.value.field == "device"
    assert "a device with a latency dataset: ['cpu']" in str(info.value)


# ---------------------------------------------------------------------------- latency
def test_latency_is_the_sum_of_per_module_predictions(
        parts: tuple[CandidateSpace, LatencyPredictor]) -> None:
    space, lat = parts
    fixed = space.fixed()
    configs = space.configs([0, space.problem.space.n_candidates - 1, 7])
    models = [build_candidate(c, fixed, space.task) for c in configs]
    main, members = lat.sums(models)
    assert members.shape == (3, len(lat.members))
    for (model, shape), total in zip(models, main, strict=True):
        ref, calls = predict_model_latency(model, shape, lat.main, **lat.state)
        assert total == pytest.approx(ref, rel=1e-9)
        assert total == pytest.approx(float(np.nansum(calls["predicted_ms"])), rel=1e-9)
        assert total > 0
    # the calibrated table keeps the raw sum, and its interval brackets its median
    keys = [architecture_key(c, fixed) for c in configs]
    table = lat.predict(keys, lambda k: build_candidate(json.loads(k), {}, space.task))
    assert np.allclose(table["latency_sum_ms"], main)
    assert (table["latency_lo_ms"] < table["latency_ms"]).all()
    assert (table["latency_ms"] < table["latency_hi_ms"]).all()


def test_latency_is_cached_per_architecture(
        parts: tuple[CandidateSpace, LatencyPredictor]) -> None:
    space, lat = parts
    fixed = space.fixed()
    base = space.configs([0])[0]
    other_training = {**base, **{c: v for c, v in space.configs([1])[0].items()
                                 if c not in ("depth", "base_channels", "width",
                                              "kernel_size")}}
    assert architecture_key(base, fixed) == architecture_key(
        {**other_training, "dropout": 0.5, "init": "orthogonal"}, fixed)
    built: list[str] = []

    def build(key: str) -> Any:
        built.append(key)
        return build_candidate(json.loads(key), {}, space.task)

    key = architecture_key({**base, "depth": 3, "width": 128}, fixed)
    lat._cache.pop(key, None)
    first = lat.predict([key, key], build)
    again = lat.predict([key], build)
    assert built == [key]  # built once for two rows and a second call
    assert first["latency_ms"].iloc[0] == again["latency_ms"].iloc[0]


def test_interval_calibration_coverage_is_reported_and_near_nominal(
        parts: tuple[CandidateSpace, LatencyPredictor]) -> None:
    cal = parts[1].calibration
    # 48 held-out whole models measured on this kind of CPU (data/whole_models_cpu.json);
    # leave-one-out coverage of the nominal 90 % interval: a binomial over 48 models has a
    # standard deviation of ~4 points, so within 10 points of 90 %
    assert cal.n_models == 48
    assert 0.8 <= cal.coverage <= 1.0, cal
    assert cal.scale > 0 and math.isfinite(cal.bias)
    assert math.isfinite(cal.coverage_raw)


def test_calibrate_recovers_a_known_spread() -> None:
    # positive control: the ensemble spread is 3x too small; the raw interval under-covers
    # and the calibrated scale restores ~90 % (leave-one-out over 400 models: +-3 points)
    rng = np.random.default_rng(0)
    n = 400
    pred = rng.uniform(0.1, 3.0, n)
    sigma = np.full(n, 0.05)
    measured = pred * np.exp(0.2 + rng.normal(0.0, 0.15, n))  # bias 0.2, true sd 0.15
    cal = calibrate(pred, sigma, measured)
    assert cal.coverage_raw < 0.5
    assert abs(cal.coverage - 0.9) <= 0.03
    assert cal.bias == pytest.approx(0.2, abs=0.03)
    assert cal.scale == pytest.approx(3.0, rel=0.15)


# ---------------------------------------------------------------------------- the search
def _budget_splitting(parts: tuple[CandidateSpace, LatencyPredictor], q: float) -> float:
    """A budget met by about a share ``q`` of the grid's architectures."""
    space, lat = parts
    table, _ = rec_module._grid_latency(space, lat)
    return float(np.quantile(table["latency_ms"], q))


def test_feasibility_weighting_keeps_the_search_within_budget(
        parts: tuple[CandidateSpace, LatencyPredictor]) -> None:
    # positive control: a budget only ~25 % of the grid meets. Over 3 seeds the constrained
    # search's evaluated candidates are within budget far more often than plain αβ-BO's
    budget = _budget_splitting(parts, 0.25)
    con, unc = [], []
    for seed in (0, 1, 2):
        con.append(float(np.mean(_search(parts, budget, "constrained", seed)["latency_ms"]
                                 <= budget)))
        unc.append(float(np.mean(_search(parts, budget, "unconstrained", seed)["latency_ms"]
                                 <= budget)))
    assert np.mean(con) >= np.mean(unc) + 0.3, (con, unc)
    assert min(con) > max(unc) - 0.1, (con, unc)


def test_a_budget_every_candidate_meets_changes_nothing(
        parts: tuple[CandidateSpace, LatencyPredictor]) -> None:
    # negative control (A/A): with no budget in effect the constrained search makes the same
    # picks as plain αβ-BO, so the same ranking
    for budget in (math.inf, 1e9):
        a = _search(parts, budget, "constrained", 4)
        b = _search(parts, budget, "unconstrained", 4)
        pd.testing.assert_frame_equal(a, b)
        assert np.allclose(a["p_feasible"], 1.0)


def test_should_stop_ends_the_search_keeping_what_it_has(
        parts: tuple[CandidateSpace, LatencyPredictor]) -> None:
    calls: list[tuple[int, int]] = []
    rows, info, stopped = search_candidates(
        *parts, 0.3, n_iter=N_ITER, seed=0, progress=lambda d, t, _: calls.append((d, t)),
        should_stop=lambda: len(calls) >= 3)
    assert stopped and info["n_iter"] == 3 and len(rows) <= 3
    assert calls == [(1, N_ITER), (2, N_ITER), (3, N_ITER)]
    full, _, done = search_candidates(*parts, 0.3, n_iter=N_ITER, seed=0)
    assert not done
    pd.testing.assert_frame_equal(rows, full.head(len(rows)))  # the same first picks


# ---------------------------------------------------------------------------- the result
def _result(rows: pd.DataFrame, space: CandidateSpace, budget: float) -> Recommendation:
    return Recommendation(task="digits", device="cpu", latency_budget_ms=budget, seed=0,
                          scale="smoke", mode="constrained", components=space.components,
                          fixed=space.fixed(), candidates=rows,
                          calibration={"bias": 0.1, "scale": 2.0, "coverage": math.nan},
                          latency_models={"conv2d": "rf"}, search={"n_grid": 3},
                          env={"hostname": "h"})


def test_json_round_trip(parts: tuple[CandidateSpace, LatencyPredictor],
                         tmp_path: Path) -> None:
    rows = _search(parts, 0.2, "constrained", 0)
    for budget in (0.2, math.inf):
        rec = _result(rows, parts[0], budget)
        back = Recommendation.from_json(rec.to_json(tmp_path / "r.json"))
        again = Recommendation.from_json(tmp_path / "r.json")
        for other in (back, again):
            assert other.latency_budget_ms == budget
            pd.testing.assert_frame_equal(other.candidates, rec.candidates,
                                          check_dtype=False)
            pd.testing.assert_frame_equal(other.table(), rec.table(), check_dtype=False)
            assert math.isnan(other.calibration["coverage"])
            assert other.to_dict() == rec.to_dict()


def test_table_ranks_feasible_first_and_pareto_is_non_dominated(
        parts: tuple[CandidateSpace, LatencyPredictor]) -> None:
    budget = _budget_splitting(parts, 0.5)
    rec = _result(_search(parts, budget, "unconstrained", 1), parts[0], budget)
    t = rec.table()
    ok = (t["p_feasible"] >= 0.5).to_numpy()
    assert not (np.diff(ok.astype(int)) > 0).any()  # feasible rows, then the others
    for part in (t[ok], t[~ok]):
        assert part["accuracy"].is_monotonic_decreasing
    front = rec.pareto()
    assert front["latency_ms"].is_monotonic_increasing
    assert front["accuracy"].is_monotonic_increasing
    for _, r in rec.candidates.iterrows():  # nothing beats a front point on both axes
        assert not ((r["accuracy"] > front["accuracy"]) & (r["latency_ms"] < front["latency_ms"])
                    ).any()
    configs = rec.train_configs(2)
    assert [c.dataset for c in configs] == ["digits", "digits"]
    assert configs[0].model_params["channels"][0] == t["base_channels"].iloc[0]


def test_confidence_ranks_first_what_meets_the_budget_with_that_probability(
        parts: tuple[CandidateSpace, LatencyPredictor]) -> None:
    budget = _budget_splitting(parts, 0.5)
    rows = _search(parts, budget, "unconstrained", 1)
    p = rows["p_feasible"].to_numpy()
    assert ((p >= 0.5) & (p < 0.9)).any(), "the control needs candidates between 0.5 and 0.9"
    for conf in (0.5, 0.9):
        rec = dataclasses.replace(_result(rows, parts[0], budget), confidence=conf)
        t = rec.table()
        n_ok = int((t["p_feasible"] >= conf).sum())
        assert (t["p_feasible"].iloc[:n_ok] >= conf).all()
        assert (t["p_feasible"].iloc[n_ok:] < conf).all()
        assert Recommendation.from_json(rec.to_json()).confidence == conf
    assert recommend("digits", "cpu", budget, scale="smoke", n_iter=3, prepared=parts,
                     confidence=0.9).confidence == 0.9
    for bad in (0, 1, 1.5, math.nan, "high", True):
        with pytest.raises(ConfigError) as info:
            recommend("digits", "cpu", budget, scale="smoke", prepared=parts, confidence=bad)
        assert info.value.field == "confidence"
