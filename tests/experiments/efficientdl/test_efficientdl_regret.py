"""The search study's analysis: regret tables, verdicts with intervals, and the two controls of
the verdict rule on frames with a known answer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from effdl_kit.errors import DataError
from effdl_kit.experiments.efficientdl import (
    METHOD_LABELS,
    aa_control,
    final_regrets,
    method_table,
    regret_bands,
    regret_verdicts,
)


def _curves(regret_by_method: dict[str, np.ndarray]) -> pd.DataFrame:
    """Best-so-far curves whose regret decays from 0.1 to each seed's final value."""
    rows = []
    for m, finals in regret_by_method.items():
        for s, final in enumerate(finals):
            reg = np.linspace(0.1, float(final), 20)
            rows.append(pd.DataFrame({"method": m, "seed": s, "iteration": np.arange(1, 21),
                                      "value": 0.9 - reg, "best_so_far": 0.9 - reg,
                                      "regret": reg, "search_s": np.arange(1, 21) * 0.01}))
    return pd.concat(rows, ignore_index=True)


def test_an_injected_advantage_is_detected_and_an_aa_pair_is_not() -> None:
    rng = np.random.default_rng(0)
    noise = lambda: np.abs(rng.normal(0.02, 0.006, 20))
    curves = _curves({"alpha_beta_kit": noise() - 0.012, "random": noise(), "tpe": noise()})
    v = regret_verdicts(curves, "alpha_beta_kit", ["random", "tpe", "gp"])
    assert set(v["reference"]) == {"random", "tpe"}  # gp absent: not compared
    assert sorted(set(v["calls"])) == [5, 10, 20]
    final = v[v["calls"] == 20].set_index("reference")
    # positive control: an advantage of 0.012 over 20 seeds with sd 0.006 is "better"
    assert (final["verdict"] == "better").all()
    assert (final["hi"] < 0).all() and (final["lo"] <= final["diff"]).all()
    # negative control: the A/A pair (random against tpe, same distribution) is within noise
    same = regret_verdicts(curves, "random", ["tpe"])
    assert same.loc[same["calls"] == 20, "verdict"].item() == "within noise"
    a = _curves({"random": noise()})
    b = _curves({"random": noise()})
    assert aa_control(a, b).verdict == "within noise"


def test_aa_false_alarm_rate_is_near_the_level() -> None:
    """Over 200 A/A pairs of 20 seeds (skewed regrets), the rule says "within noise" in at
    least 90 % (the nominal rate is 95 %)."""
    rng = np.random.default_rng(1)
    calls = 0
    for _ in range(200):
        a = _curves({"random": rng.lognormal(-4, 0.8, 20)})
        b = _curves({"random": rng.lognormal(-4, 0.8, 20)})
        calls += aa_control(a, b).verdict == "within noise"
    assert calls >= 180


def test_tables_and_bands() -> None:
    curves = _curves({"alpha_beta_kit": np.zeros(5), "random": np.full(5, 0.03)})
    table = method_table(curves)
    assert list(table["method"]) == [METHOD_LABELS["alpha_beta_kit"], METHOD_LABELS["random"]]
    assert table["at grid max"].tolist() == [1.0, 0.0]
    assert table["regret mean"].tolist() == pytest.approx([0.0, 0.03])
    assert table["rank"].tolist() == [1, 2]
    early = method_table(curves, at=1)
    assert early["regret mean"].tolist() == pytest.approx([0.1, 0.1])
    assert len(final_regrets(curves)) == 10
    band = regret_bands(curves, "random")
    assert list(band.columns) == ["iteration", "mean", "lo", "hi"] and len(band) == 20
    assert (band["lo"] <= band["mean"] + 1e-12).all() and (band["mean"] <= band["hi"] + 1e-12).all()
    with pytest.raises(DataError, match="regret"):
        method_table(curves.drop(columns="regret"))
