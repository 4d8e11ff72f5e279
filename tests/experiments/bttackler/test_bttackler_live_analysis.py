"""The live experiment's analysis on constructed trial records: positive and negative controls,
and each quantity against a hand computation."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from effdl_kit.diagnosis import EpochRecord, TrialTrace
from effdl_kit.experiments.bttackler import (
    LIVE_QUANTITIES,
    arm_points,
    best_so_far,
    compare_live_arms,
    replay_reference,
    summarize_live,
)

E = 16


def _arm(values: list[float], epochs: list[int], *, stopped: list[bool] | None = None,
         clocks: list[float] | None = None, params: list[dict[str, Any]] | None = None,
         wall_per_epoch: float = 1.0) -> dict[str, Any]:
    """An arm record: trial i ran ``epochs[i]`` epochs and ended with ``values[i]``."""
    stopped = stopped or [False] * len(values)
    ends = list(np.cumsum(epochs)) if clocks is None else clocks
    trials = [{"number": i, "params": (params[i] if params else {"i": i}), "epochs": e,
               "stopped": s, "indicators": ["NMG"] if s else [], "value": v,
               "epoch_clock": float(c), "wall_clock": float(c) * wall_per_epoch,
               "cpu_clock": float(c) * wall_per_epoch * 0.9}
              for i, (v, e, s, c) in enumerate(zip(values, epochs, stopped, ends, strict=True))]
    return {"trials": trials, "epoch_clock": float(ends[-1]),
            "wall_clock": float(ends[-1]) * wall_per_epoch,
            "cpu_clock": float(ends[-1]) * wall_per_epoch * 0.9}


def _repeat(r: int, plain: dict[str, Any], bt: dict[str, Any]) -> dict[str, Any]:
    return {"repeat": r, "arms": {"plain": plain, "bttackler": bt}}


def _q(summary: dict[str, Any], name: str) -> dict[str, Any]:
    return next(q for q in summary["quantities"] if q["quantity"] == name)


def test_negative_control_identical_arms_are_within_noise() -> None:
    rng = np.random.default_rng(0)
    repeats = []
    for r in range(6):
        vals = list(rng.uniform(0.1, 0.9, size=14))
        arm = _arm(vals, [E] * 14)
        repeats.append(_repeat(r, arm, arm))
    s = summarize_live(repeats, epochs=E)
    assert s["n_repeats"] == 6
    for clock in ("epochs", "wall", "cpu"):
        q = _q(s, f"tsba_{clock}")
        assert q["mean"] == 0.0 and q["lo"] == 0.0 and q["hi"] == 0.0
        assert q["verdict"] == "within noise"
    assert all(r["tsba_epochs"] == 0.0 for r in s["per_repeat"])
    assert _q(s, "top10hr")["mean"] == 50.0 and _q(s, "top10hr")["verdict"] == "within noise"
    for name in ("best_diff", "trials_diff"):
        assert _q(s, name)["mean"] == 0.0 and _q(s, name)["verdict"] == "within noise"
    assert s["comparisons"]["best"]["verdict"] == "within noise"
    assert s["comparisons"]["trials"]["verdict"] == "within noise"
    assert _q(s, "stop_share")["mean"] == 0.0 and _q(s, "epochs_saved")["mean"] == 0.0


def test_positive_control_half_the_epochs_gives_tsba_near_50() -> None:
    rng = np.random.default_rng(1)
    repeats = []
    for r in range(6):
        k = int(rng.integers(4, 12))  # the plain arm's best is trial k
        vals = list(rng.uniform(0.2, 0.7, size=14))
        vals[k] = 0.9
        plain = _arm(vals, [E] * 14)
        t_j = E * (k + 1)
        ratio = 0.5 + rng.uniform(-0.05, 0.05)
        # the BTTackler arm: the same results, but the best one ends at ratio x t_j
        ends = [t_j * ratio * (i + 1) / (k + 1) for i in range(k + 1)]
        ends += [ends[-1] + E * (i + 1) for i in range(14 - k - 1)]
        bt = _arm(vals, [E] * 14, clocks=ends)
        repeats.append(_repeat(r, plain, bt))
    s = summarize_live(repeats, epochs=E)
    q = _q(s, "tsba_epochs")
    assert 45.0 <= q["mean"] <= 55.0
    assert q["lo"] > 0.0 and q["verdict"] == "better"
    assert _q(s, "reached")["mean"] == 1.0
    for r in s["per_repeat"]:
        assert r["tsba_epochs"] == pytest.approx(100 * (1 - r["tsba_epochs_detail"]["t_method"]
                                                        / r["tsba_epochs_detail"]["t_baseline"]))


def test_a_worse_arm_gets_a_worse_verdict() -> None:
    repeats = []
    for r in range(5):
        vals = [0.3, 0.5, 0.8 + 0.01 * r, 0.4]
        plain = _arm(vals, [E] * 4)
        bt = _arm([0.3, 0.5, 0.6, 0.4], [E] * 4)  # never reaches the plain best
        repeats.append(_repeat(r, plain, bt))
    s = summarize_live(repeats, epochs=E)
    q = _q(s, "tsba_epochs")
    # censored at the BTTackler arm's final clock (64): 1 - 64/48
    assert q["mean"] == pytest.approx(100 * (1 - 64 / 48))
    assert q["verdict"] == "worse"
    assert _q(s, "reached")["mean"] == 0.0
    assert _q(s, "best_diff")["verdict"] == "worse"


def test_stops_epochs_saved_and_trials_by_hand() -> None:
    plain = _arm([0.5, 0.6, 0.7, 0.8], [E] * 4)
    bt = _arm([0.2, 0.3, 0.7, 0.8, 0.1], [4, 8, E, E, 2],
              stopped=[True, True, False, False, True])
    row = compare_live_arms(plain, bt, epochs=E)
    assert row["trials_plain"] == 4 and row["trials_bttackler"] == 5
    assert row["trials_diff"] == 1
    assert row["stop_share"] == pytest.approx(60.0)
    saved, run = (12 + 8 + 14), (4 + 8 + 16 + 16 + 2)
    assert row["epochs_saved"] == pytest.approx(100 * saved / (run + saved))
    assert row["best_plain"] == 0.8 and row["best_bttackler"] == 0.8
    # the BTTackler arm reaches 0.8 at epoch clock 4+8+16+16 = 44, the plain arm at 64
    assert row["tsba_epochs"] == pytest.approx(100 * (1 - 44 / 64))
    # Top10HR: 9 pooled results, ties at 0.7 and 0.8 shared
    assert 0 < row["top10hr"] < 100


def test_paired_stop_precision_and_best_stopped() -> None:
    params = [{"c": i} for i in range(8)]
    plain = _arm([0.1, 0.9, 0.5, 0.6, 0.7, 0.55, 0.65, 0.2], [E] * 8, params=params)
    # stops trial 0 (plain 0.1: bottom quartile) and trial 1 (the plain best)
    bt = _arm([0.05, 0.4, 0.5, 0.6, 0.7, 0.55, 0.65, 0.2], [3, 3] + [E] * 6,
              stopped=[True, True] + [False] * 6, params=params)
    row = compare_live_arms(plain, bt, epochs=E)
    assert row["stop_precision"] == pytest.approx(50.0)
    assert row["best_stopped"] == 1.0
    # unpaired configurations (e.g. TPE): no precision
    other = _arm([0.05, 0.4], [3, 3], stopped=[True, True], params=[{"c": 99}, {"c": 98}])
    row2 = compare_live_arms(plain, other, epochs=E)
    assert math.isnan(row2["stop_precision"]) and math.isnan(row2["best_stopped"])


def test_failed_trials_do_not_count_as_results() -> None:
    arm = _arm([0.5, float("nan"), 0.7], [E, 3, E])
    arm["trials"][1]["value"] = None
    assert arm_points(arm["trials"]) == [(16.0, 0.5), (35.0, 0.7)]
    assert arm_points(arm["trials"], "wall") == [(16.0, 0.5), (35.0, 0.7)]


def test_best_so_far_is_a_step_function() -> None:
    arm = _arm([0.5, 0.3, 0.7], [E, E, E])
    got = best_so_far(arm["trials"], [0, 15, 16, 31, 32, 48, 100])
    np.testing.assert_array_equal(got, [np.nan, np.nan, 0.5, 0.5, 0.5, 0.7, 0.7])


def test_summary_has_every_quantity_and_one_repeat_has_no_comparison() -> None:
    arm = _arm([0.5, 0.7], [E, E])
    s = summarize_live([_repeat(0, arm, arm)], epochs=E)
    assert [q["quantity"] for q in s["quantities"]] == list(LIVE_QUANTITIES)
    assert s["comparisons"] == {"best": None, "trials": None}


def _trace(i: int, bad: bool, epochs: int = 8) -> TrialTrace:
    """A healthy trace (steady decay, rising accuracy) or one with vanishing gradients (AGV
    fires at epoch 0) that ends poor."""
    recs = []
    for e in range(epochs):
        g = 1e-8 if bad else 1e-2
        loss = 2.5 if bad else 2.3 * math.exp(-0.3 * e) + 0.1
        metric = 0.1 if bad else 0.5 + 0.04 * e + 0.001 * i
        recs.append(EpochRecord(mean_abs=(g, g, g), zero_fraction=(0.0, 0.0, 0.0),
                                has_grads=True, train_loss=loss, val_loss=loss, metric=metric))
    return TrialTrace(f"t{i}", tuple(recs))


def test_replay_reference_stops_the_pathological_traces() -> None:
    traces = [_trace(i, bad=i % 2 == 0) for i in range(12)]
    ref = replay_reference(traces, trials=4, n_orderings=50, seed=0)
    q = ref["quantities"]
    assert ref["n_traces"] == 12 and ref["trace_epochs"] == 8 and ref["budget_epochs"] == 32
    assert q["stop_rate"]["mean"] == pytest.approx(50.0)
    assert q["precision"]["mean"] == pytest.approx(100.0)
    assert q["epochs_saved"]["mean"] > 0 and q["tsba"]["mean"] > 0
    assert set(q) == {"tsba", "top10hr", "trials_finished", "baseline_finished",
                      "epochs_saved", "stop_rate", "precision"}
    with pytest.raises(ValueError, match="at least 2"):
        replay_reference(traces[:1], trials=4)
