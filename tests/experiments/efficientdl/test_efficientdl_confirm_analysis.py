"""Analysis of the EfficientDL confirmation on synthetic frames: summary, verdicts, controls.

The frames are built by hand (no training), so each test knows the effect it planted: an A/A
pair the verdicts must call "within noise", an injected +0.05 the verdicts must detect, and a
search failure, a predictor failure, both or neither, which :func:`failure_driver` must name.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from matplotlib.container import ErrorbarContainer

from effdl_kit.errors import DataError
from effdl_kit.experiments.efficientdl import (
    ARMS,
    COMPARISONS,
    FIGURE_CONFIRM,
    TABLE_CONFIRM,
    TOP_ARM,
    arm_frame,
    compare_arms,
    confirmation_payload,
    confirmation_summary,
    confirmation_table,
    confirmation_verdicts,
    failure_driver,
    plot_confirmation,
    plot_predicted_vs_realised,
    seed_table,
)
from effdl_kit.experiments.efficientdl._confirm_analysis import MIN_PAIRS
from effdl_kit.experiments.efficientdl._confirm_figures import redraw_confirmation
from effdl_kit.reports import figure

#: realised means per arm of a healthy run: the predictor ranks well, the search finds its
#: argmax, TPE is as good as the argmax
HEALTHY = {"alpha_beta": 0.90, "argmax": 0.90, "top5": 0.89, "random": 0.70,
           "random_b": 0.70, "tpe": 0.90}


def synthetic_rows(means: dict[str, float] | None = None, *, n_seeds: int = 10,
                   noise: float = 0.02, seed: int = 0,
                   tasks: tuple[str, ...] = ("digits", "synthetic_shift"),
                   predicted: dict[str, float] | None = None) -> pd.DataFrame:
    """Confirmation rows (only the columns the analysis reads) with known arm means.

    Per seed, a shared seed effect (sd 0.03) plus independent noise per arm; predicted values
    are ``predicted[arm]`` (default: the realised means + 0.05) with a little noise.
    """
    means = {**HEALTHY, **(means or {})}
    predicted = predicted or {a: m + 0.05 for a, m in means.items()}
    rng = np.random.default_rng(seed)
    rows: list[dict[str, Any]] = []
    for task in tasks:
        for s in range(n_seeds):
            shared = rng.normal(0.0, 0.03)
            arms = []
            for arm in ARMS:
                for rank in range(1, (TOP_ARM if arm == "top5" else 1) + 1):
                    arms.append({
                        "task": task, "seed": s, "arm": arm, "rank": rank,
                        "config": {"lr": 0.1 * rank}, "error": None, "reused_from": None,
                        "predicted_top1": predicted[arm] + rng.normal(0, 0.002),
                        "test_top1": means[arm] + shared + rng.normal(0, noise),
                        "val_top1": 0.0, "train_s": 0.2, "time_s": 1.0 + rank})
            rows.append({"task": task, "scale": "small", "seed": s, "arms": arms})
    return pd.DataFrame(rows)


def _verdict(rows: pd.DataFrame, key: str, task: str = "digits") -> pd.Series:
    v = confirmation_verdicts(rows)
    return v[(v["task"] == task) & (v["key"] == key)].iloc[0]


# ----------------------------------------------------------------------------- frames


def test_arm_frame_and_seed_table_flatten_the_rows() -> None:
    rows = synthetic_rows(n_seeds=3)
    arms = arm_frame(rows)
    assert len(arms) == 2 * 3 * (len(ARMS) - 1 + TOP_ARM)
    assert (arms["scale"] == "small").all()
    table = seed_table(arms)
    assert len(table) == 2 * 3
    one = arms[(arms["task"] == "digits") & (arms["seed"] == 1)]
    got = table[(table["task"] == "digits") & (table["seed"] == 1)].iloc[0]
    top5 = one.loc[one["arm"] == "top5", "test_top1"]
    assert got["top5_test"] == pytest.approx(top5.mean(), rel=1e-12)
    assert got["argmax_test"] == one.loc[one["arm"] == "argmax", "test_top1"].iloc[0]
    assert got["tpe_pred"] == one.loc[one["arm"] == "tpe", "predicted_top1"].iloc[0]
    with pytest.raises(DataError, match="arms"):
        arm_frame(pd.DataFrame({"task": ["digits"]}))


def test_summary_equals_a_hand_computation() -> None:
    rows = synthetic_rows(n_seeds=6)
    arms = arm_frame(rows)
    arms.loc[(arms["task"] == "digits") & (arms["seed"] == 2) & (arms["arm"] == "random"),
             "test_top1"] = math.nan  # a failed training
    summary = confirmation_summary(arms)
    assert list(summary["task"].unique()) == ["digits", "synthetic_shift"]
    assert list(summary[summary["task"] == "digits"]["arm"]) == list(ARMS)
    for _, s in summary.iterrows():
        part = arms[(arms["task"] == s["task"]) & (arms["arm"] == s["arm"])]
        per_seed = part.groupby("seed")["test_top1"].mean()
        pred = part.groupby("seed")["predicted_top1"].mean()
        ok = per_seed.notna()
        assert s["n_seeds"] == 6 and s["n_ok"] == ok.sum()
        assert s["realised"] == pytest.approx(per_seed[ok].mean(), rel=1e-12)
        assert s["predicted"] == pytest.approx(pred.mean(), rel=1e-12)
        assert s["error"] == pytest.approx((per_seed - pred)[ok].mean(), rel=1e-12)
        assert s["realised_lo"] <= s["realised"] <= s["realised_hi"]
        assert s["error_lo"] <= s["error"] <= s["error_hi"]
        assert s["time_s"] == pytest.approx(part["time_s"].mean())
    digits_random = summary[(summary["task"] == "digits") & (summary["arm"] == "random")]
    assert digits_random["n_ok"].iloc[0] == 5
    # from the rows or from their arm frame: the same
    pd.testing.assert_frame_equal(confirmation_summary(rows),
                                  confirmation_summary(arm_frame(rows)))
    json.dumps(summary.to_dict(orient="records"))


# ----------------------------------------------------------------------------- comparisons


def test_compare_arms_is_the_paired_mean_difference() -> None:
    a = np.array([0.9, 0.8, 0.85, 0.7, 0.95, 0.6])
    b = a - np.array([0.01, 0.02, 0.03, 0.02, 0.01, 0.02])
    c = compare_arms(a, b)
    assert c.diff == pytest.approx(np.mean(a - b), rel=1e-12) and c.n == 6
    # paired: the large spread between seeds cancels, the difference is clear
    assert c.verdict == "better" and 0 < c.lo < c.diff < c.hi
    assert compare_arms(b, a).verdict == "worse"
    # NaN pairs are dropped; below MIN_PAIRS there is no verdict
    a2 = a.copy()
    a2[0] = math.nan
    assert compare_arms(a2, b).n == 5
    short = compare_arms(a[: MIN_PAIRS - 1], b[: MIN_PAIRS - 1])
    assert short.verdict == "n/a" and math.isnan(short.lo) and short.n == MIN_PAIRS - 1
    # a constant difference is known exactly
    zero = compare_arms(a, a)
    assert (zero.diff, zero.lo, zero.hi, zero.verdict) == (0.0, 0.0, 0.0, "within noise")
    with pytest.raises(DataError, match="aligned"):
        compare_arms(a, b[:3])


def test_negative_control_aa_is_within_noise_and_an_injected_effect_is_detected() -> None:
    rows = synthetic_rows()
    for task in ("digits", "synthetic_shift"):
        assert _verdict(rows, "aa_control", task)["verdict"] == "within noise"
    # positive control: the realised values of one arm shifted by +0.05
    shifted = rows.copy()
    shifted["arms"] = pd.Series(
        [[{**a, "test_top1": a["test_top1"] + 0.05} if a["arm"] == "random" else a
          for a in arms] for arms in rows["arms"]], index=rows.index)
    for task in ("digits", "synthetic_shift"):
        v = _verdict(shifted, "aa_control", task)
        assert v["verdict"] == "better" and v["lo"] > 0
        assert v["diff"] == pytest.approx(_verdict(rows, "aa_control", task)["diff"] + 0.05)


def test_the_controls_hold_at_their_stated_rates() -> None:
    """Over many synthetic A/A pairs (10 seeds, the noise of a small run) the verdict is
    "within noise" about 95% of the time; an effect of 0.05 (per-arm noise 0.02) is found
    nearly every time."""
    rng = np.random.default_rng(5)
    n, reps = 10, 200
    aa = sum(compare_arms(rng.normal(0.7, 0.05, n), rng.normal(0.7, 0.05, n),
                          seed=k).verdict == "within noise" for k in range(reps))
    assert aa / reps >= 0.88
    hit = sum(compare_arms(rng.normal(0.75, 0.02, n), rng.normal(0.7, 0.02, n),
                           seed=k).verdict == "better" for k in range(reps))
    assert hit / reps >= 0.95


def test_verdicts_cover_every_comparison_per_task() -> None:
    rows = synthetic_rows(n_seeds=8)
    v = confirmation_verdicts(rows)
    assert list(v.columns) == ["task", "key", "a", "b", "measure", "n", "diff", "lo", "hi",
                               "verdict", "meaning"]
    assert list(v[v["task"] == "digits"]["key"]) == [c.key for c in COMPARISONS]
    assert (v["n"] == 8).all()
    table = seed_table(arm_frame(rows))
    d = table[table["task"] == "digits"]
    headline = v[(v["task"] == "digits") & (v["key"] == "headline")].iloc[0]
    assert headline["diff"] == pytest.approx((d["alpha_beta_test"] - d["tpe_test"]).mean())
    regret = v[(v["task"] == "digits") & (v["key"] == "search_regret")].iloc[0]
    assert regret["measure"] == "predicted"
    assert regret["diff"] == pytest.approx((d["argmax_pred"] - d["alpha_beta_pred"]).mean())
    err = v[(v["task"] == "digits") & (v["key"] == "error_argmax")].iloc[0]
    assert err["diff"] == pytest.approx((d["argmax_test"] - d["argmax_pred"]).mean())
    # the predictor is optimistic by 0.05 in these frames
    assert err["verdict"] == "worse" and err["hi"] < 0
    # the decomposition: headline = -(search_cost + predictor_gap), seed by seed
    parts = v[v["task"] == "digits"].set_index("key")["diff"]
    assert parts["headline"] == pytest.approx(-(parts["search_cost"]
                                                + parts["predictor_gap"]))
    # a missing arm drops the comparisons that need it
    no_tpe = arm_frame(rows)
    no_tpe = no_tpe[no_tpe["arm"] != "tpe"]
    keys = set(confirmation_verdicts(no_tpe)["key"])
    assert "headline" not in keys and "predictor_gap" not in keys and "search_cost" in keys


@pytest.mark.parametrize(("means", "driver"), [
    ({}, "neither"),
    ({"argmax": 0.71, "top5": 0.70, "alpha_beta": 0.71}, "predictor"),  # ranking fails
    ({"tpe": 0.97}, "predictor"),  # feedback beats the predictor's optimum
    ({"alpha_beta": 0.80}, "search"),  # αβ-BO misses a good argmax
    ({"alpha_beta": 0.80, "tpe": 0.95}, "both"),
])
def test_failure_driver_names_the_planted_failure(means: dict[str, float],
                                                  driver: str) -> None:
    verdicts = confirmation_verdicts(synthetic_rows(means))
    drivers = failure_driver(verdicts)
    assert list(drivers["task"]) == ["digits", "synthetic_shift"]
    assert (drivers["driver"] == driver).all(), drivers["reason"].tolist()
    for reason in drivers["reason"]:
        assert "points [" in reason and "argmax vs random" in reason
    if driver == "both":
        assert all("larger shortfall is the search's" in r for r in drivers["reason"])


def test_failure_driver_needs_enough_seeds() -> None:
    drivers = failure_driver(confirmation_verdicts(synthetic_rows(n_seeds=MIN_PAIRS - 1)))
    assert (drivers["driver"] == "n/a").all()


# ----------------------------------------------------------------------------- table, figure


def test_confirmation_table_and_redraw_from_the_stored_record(tmp_path: Path) -> None:
    rows = synthetic_rows(n_seeds=6)
    conf = json.loads(json.dumps(confirmation_payload(rows)))
    table = confirmation_table(conf)
    n_arms, n_cmp = len(ARMS), len(COMPARISONS)
    assert len(table) == 2 * (n_arms + n_cmp + 1)
    digits = table[table["task"] == "digits"]
    assert list(digits["what"].iloc[:n_arms]) == list(ARMS)
    assert digits["verdict"].iloc[-1] == failure_driver(confirmation_verdicts(rows))[
        "driver"].iloc[0]
    assert digits["what"].iloc[n_arms] == "search_regret: argmax − alpha_beta"
    # the table does not depend on whether the analysis was stored or recomputed
    bare = {"rows": conf["rows"]}
    pd.testing.assert_frame_equal(confirmation_table(bare), table)
    paths = redraw_confirmation(conf, tmp_path, {"experiment": "efficientdl"}, seed=0,
                                scale="small")
    for ext in ("pdf", "svg", "png"):
        assert tmp_path / f"{FIGURE_CONFIRM}.{ext}" in paths
    got = pd.read_csv(tmp_path / f"{TABLE_CONFIRM}.csv")
    assert list(got["what"]) == list(table["what"])
    np.testing.assert_allclose(got["mean"].to_numpy(dtype=float),
                               table["mean"].to_numpy(dtype=float), atol=5e-4)
    old = {"rows": [{k: v for k, v in r.items() if k != "arms"} for r in conf["rows"]]}
    with pytest.raises(DataError, match="no arms"):
        redraw_confirmation(old, tmp_path, {}, seed=0, scale="small")


def test_plots_draw_every_arm() -> None:
    rows = synthetic_rows(n_seeds=5)
    arms = arm_frame(rows)
    arms.loc[0, "test_top1"] = math.nan
    _, ax = figure("single", pyplot=False)
    assert plot_predicted_vs_realised(arms, ax=ax) is ax
    points = sum(int(np.asarray(c.get_offsets()).shape[0]) for c in ax.collections)
    assert points == int(np.isfinite(arms["test_top1"].astype(float)).sum())
    legend = ax.get_legend()
    assert legend is not None
    labels = [t.get_text() for t in legend.get_texts()]
    assert len(labels) == len(ARMS)
    _, ax2 = figure("single", pyplot=False)
    assert plot_confirmation(rows, ax=ax2) is ax2
    assert [t.get_text() for t in ax2.get_xticklabels()] == ["Digits", "Synthetic, shifted"]
    summary = confirmation_summary(rows)
    # one error bar per task x arm, at the summary's mean
    bars = [c for c in ax2.containers if isinstance(c, ErrorbarContainer)]
    assert len(bars) == len(summary)
    means = sorted(round(float(np.asarray(b.lines[0].get_ydata())[0]), 9) for b in bars)
    assert means == sorted(round(float(m), 9) for m in summary["realised"])
