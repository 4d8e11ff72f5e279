"""The sampler benchmark report's verdict logic reads the comparisons the right way round."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from benchmarks._sampler_report import regrets_at, summarise


def _fake_runs(scale: dict[str, float], n_seeds: int = 10) -> list[dict[str, Any]]:
    """Synthetic runs: regret of sampler s on every function ~ scale[s] x log-normal, with a
    regret curve that falls to that value at trial 80 (random_2x: at trial 160)."""
    rng = np.random.default_rng(3)
    runs = []
    for f in ("branin", "hartmann6", "levy4"):
        for s, k in scale.items():
            for seed in range(n_seeds):
                final = k * float(rng.lognormal(0, 0.5))
                n = 160 if s == "random_2x" else 80
                curve = list(np.geomspace(100 * final, final, n))
                runs.append({"function": f, "sampler": s, "seed": seed, "n_trials": 80,
                             "regret": curve, "ms_model": {"gp": 100.0}.get(s, 10.0),
                             "ms_all": 5.0, "objective_s": 0.0, "wall_s": 1.0})
    return runs


def test_report_verdicts_follow_the_comparisons() -> None:
    good = _fake_runs({"alpha_beta": 0.1, "random": 1.0, "tpe": 0.1, "gp": 0.05,
                       "random_aa": 1.0, "random_2x": 1.0, "oracle": 0.01})
    v = summarise(good, (80,))["verdicts"]
    assert v["target1_beats_random"][80]["met"]
    assert v["target2_as_good_as_tpe"][80]["met"]
    assert v["target3_time"]["met"] and v["target3_time"]["ratio"] == pytest.approx(0.1)
    assert v["positive_control"]["passed"]
    assert v["negative_control"]["passed"]

    bad = _fake_runs({"alpha_beta": 1.0, "random": 1.0, "tpe": 0.1, "gp": 0.05,
                      "random_aa": 0.05, "oracle": 1.0})
    v = summarise(bad, (80,))["verdicts"]
    assert not v["target1_beats_random"][80]["met"]
    assert v["target1_beats_random"][80]["better_on"] == 0
    assert not v["target2_as_good_as_tpe"][80]["met"]
    assert not v["positive_control"]["passed"]
    assert not v["negative_control"]["passed"]  # an A/A pair that differs: the control fails


def test_regrets_at_reads_factor_times_budget() -> None:
    runs = _fake_runs({"random": 1.0, "random_2x": 1.0}, n_seeds=2)
    reg = regrets_at(runs, 40)
    r2x = [r for r in runs if r["sampler"] == "random_2x" and r["function"] == "branin"]
    assert reg[("branin", "random_2x")][0] == r2x[0]["regret"][79]
