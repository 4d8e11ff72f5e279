"""TSBA, Top10HR and the trials that count, on hand-made trials."""

from __future__ import annotations

import math
from typing import Any

import pytest

from effdl_kit.diagnosis import TOP_K, TSBAResult, finished_points, top10hr, tsba
from effdl_kit.errors import ConfigError


def test_tsba_on_hand_made_trials() -> None:
    base = [(1.0, 0.5), (2.0, 0.7), (3.0, 0.7), (4.0, 0.6)]  # best 0.7, first reached at 2
    r = tsba([(0.5, 0.6), (1.0, 0.7), (1.5, 0.9)], base, direction="maximize", horizon_s=10)
    assert r.reached and r.t_baseline == 2.0 and r.t_method == 1.0  # tie counts as reached
    assert r.tsba == pytest.approx(50.0) and r.target == 0.7
    r = tsba([(3.0, 0.71)], base, direction="maximize", horizon_s=10)
    assert r.tsba == pytest.approx(-50.0)
    # never reaches the baseline's best: censored at the horizon (an upper bound)
    r = tsba([(1.0, 0.69), (2.0, math.nan)], base, direction="maximize", horizon_s=10)
    assert not r.reached and r.t_method == 10.0 and r.tsba == pytest.approx(-400.0)
    # minimising (MSE): lower is better
    r = tsba([(4.0, 0.2)], [(2.0, 0.3), (8.0, 0.25)], direction="minimize", horizon_s=20)
    assert (r.target, r.t_baseline, r.t_method) == (0.25, 8.0, 4.0)
    assert r.tsba == pytest.approx(50.0)
    assert math.isnan(tsba([(1.0, 0.5)], [], direction="maximize", horizon_s=5).tsba)
    with pytest.raises(ConfigError, match="direction"):
        tsba([], base, direction="up", horizon_s=5)
    with pytest.raises(ConfigError, match="horizon_s"):
        tsba([], base, direction="maximize", horizon_s=0)


def test_tsba_result_to_dict_holds_json_numbers() -> None:
    r = TSBAResult(tsba=math.nan, t_method=math.inf, t_baseline=2.0, target=0.5, reached=False)
    assert r.to_dict() == {"tsba": None, "t_method": None, "t_baseline": 2.0, "target": 0.5,
                           "reached": False}


def test_top10hr_on_hand_made_trials() -> None:
    assert TOP_K == 10
    assert top10hr([0.9] * 10, [0.5] * 10, direction="maximize") == 100.0
    assert top10hr([0.9] * 10, [0.5] * 10, direction="minimize") == 0.0
    # 12 trials: the method holds ranks 1, 2, 4 and 11 -> 3 of the top 10
    m = [0.99, 0.98, 0.96, 0.10]
    b = [0.97, 0.95, 0.94, 0.93, 0.92, 0.91, 0.90, 0.89]
    assert top10hr(m, b, direction="maximize") == pytest.approx(30.0)
    assert top10hr(b, m, direction="maximize") == pytest.approx(70.0)
    # ties at the cut share the remaining slots: k=3 of [.9m, .8m, .8b, .8b, .1b]
    assert top10hr([0.9, 0.8], [0.8, 0.8, 0.1], direction="maximize", k=3) == pytest.approx(
        100 * (1 + 2 / 3) / 3)
    assert top10hr([0.8, 0.8, 0.1], [0.9, 0.8], direction="maximize", k=3) == pytest.approx(
        100 * (4 / 3) / 3)
    # fewer than k pooled trials: all of them; non-finite ignored
    assert top10hr([0.5, math.nan], [0.4, 0.3], direction="maximize") == pytest.approx(
        100 / 3)
    assert math.isnan(top10hr([], [], direction="maximize"))
    with pytest.raises(ConfigError, match="k"):
        top10hr([0.5], [0.4], direction="maximize", k=0)


def test_finished_points_keep_results_finished_within_the_budget() -> None:
    trials: list[dict[str, Any]] = [
        {"state": "COMPLETE", "value": 0.5, "t_end": 1.0},
        {"state": "PRUNED", "value": 0.4, "t_end": 2.0},  # stopped early: its last result
        {"state": "FAIL", "value": None, "t_end": 3.0},
        {"state": "COMPLETE", "value": None, "t_end": 3.5},
        {"state": "COMPLETE", "value": 0.9, "t_end": 10.0},  # exactly at the budget
        {"state": "COMPLETE", "value": 0.95, "t_end": 10.5},  # after it
        {"state": "RUNNING", "value": 0.99, "t_end": 4.0},
    ]
    assert finished_points(trials, 10.0) == [(1.0, 0.5), (2.0, 0.4), (10.0, 0.9)]
    assert finished_points([], 5.0) == []
