"""plot_recommendation / measured_points on hand-made recommendations (no search, no training)
and once on a real smoke-scale recommendation (the session's prepared parts)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PathCollection

from effdl_kit.errors import ConfigError
from effdl_kit.recommend import Confirmation, Recommendation, TrainedCandidate, recommend
from effdl_kit.reports import (
    STOP_COLOR,
    figure,
    label,
    measured_points,
    plot_recommendation,
    record_label_misses,
)
from effdl_kit.testing import assert_paper_ready

COMPONENTS = ["depth", "width"]


def _rec(latency: list[float], accuracy: list[float], budget: float = 2.0,
         stopped: bool = False) -> Recommendation:
    lat = np.asarray(latency, dtype=float)
    cands = pd.DataFrame({"depth": np.arange(1, len(lat) + 1), "width": [32] * len(lat),
                          "iteration": np.arange(1, len(lat) + 1), "accuracy": accuracy,
                          "latency_ms": lat, "latency_lo_ms": lat * 0.7,
                          "latency_hi_ms": lat * 1.5, "latency_sum_ms": lat,
                          "p_feasible": (lat < budget).astype(float)})
    return Recommendation(task="digits", device="cpu", latency_budget_ms=budget, seed=0,
                          scale="smoke", mode="constrained", components=COMPONENTS, fixed={},
                          candidates=cands, calibration={"interval": 0.9}, stopped=stopped)


def _trial(depth: int, acc: float, ms: float, *, diagnosis: str | None = None,
           error: str | None = None) -> TrainedCandidate:
    return TrainedCandidate(task="digits", components={"depth": depth, "width": 32}, seed=0,
                            accuracy=acc, val_accuracy=acc, epochs=2, epochs_run=2,
                            diagnosis=diagnosis, diagnosis_reason="", error=error,
                            measured_ms=ms, train_s=1.0, measure_s=0.1)


def _confirmation(rec: Recommendation, trials: list[TrainedCandidate]) -> Confirmation:
    """As confirm() makes it: the trials in rank order beside their ranked rows."""
    table = rec.table()
    table = table[table["depth"].isin([t.components["depth"] for t in trials])]
    order = {int(d): i for i, d in enumerate(table["depth"])}
    trials = sorted(trials, key=lambda t: order[int(t.components["depth"])])
    pred = table[["rank", "accuracy", "latency_ms", "latency_lo_ms", "latency_hi_ms",
                  "p_feasible"]]
    return Confirmation(recommendation={"latency_budget_ms": rec.latency_budget_ms,
                                        "components": COMPONENTS},
                        trials=trials, predicted=pred.reset_index(drop=True))


def _axes() -> Any:  # Axes; Any: matplotlib's stubs type artists' data loosely
    _, ax = figure("double", aspect=0.45, pyplot=False)
    return ax


def _offsets(ax: Any) -> list[tuple[float, float, Any]]:
    """(x, y, face colour) of every scatter point."""
    out = []
    coll: Any
    for coll in ax.collections:
        if isinstance(coll, PathCollection):
            c: Any = coll
            faces = c.get_facecolors()
            for i, (x, y) in enumerate(c.get_offsets()):
                face = tuple(faces[min(i, len(faces) - 1)]) if len(faces) else None
                out.append((float(x), float(y), face))
    return out


def test_candidates_front_and_budget() -> None:
    rec = _rec([1.0, 1.5, 2.5, 3.0, 1.2], [0.6, 0.7, 0.65, 0.9, 0.5])
    ax = _axes()
    assert plot_recommendation(rec, ax=ax) == ax  # the axes given (== : no narrowing)
    (bars,) = ax.containers  # one errorbar container: every evaluated candidate
    x, y = bars.lines[0].get_data()
    assert list(x) == [1.0, 1.5, 2.5, 3.0, 1.2] and list(y) == [0.6, 0.7, 0.65, 0.9, 0.5]
    front = next(ln for ln in ax.get_lines() if ln.get_label() == "predicted Pareto front")
    assert list(front.get_xdata()) == [1.0, 1.5, 3.0]  # 2.5 and 1.2 are dominated
    assert list(front.get_ydata()) == [0.6, 0.7, 0.9]
    budget = next(ln for ln in ax.get_lines() if ln.get_label().startswith("latency budget"))
    assert list(budget.get_xdata()) == [2.0, 2.0]
    assert ax.get_xscale() == "linear"  # 0.7 .. 4.5 ms: within a decade
    assert ax.get_xlabel() == label("latency_ms") and ax.get_ylabel() == label("top1")
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "evaluated candidates (90% latency interval)" in texts


def test_log_axis_when_latencies_span_more_than_a_decade_and_no_budget_line() -> None:
    rec = _rec([0.05, 1.0, 9.0], [0.5, 0.6, 0.7], budget=math.inf)
    ax = _axes()
    plot_recommendation(rec, ax=ax)
    assert ax.get_xscale() == "log"
    assert not [ln for ln in ax.get_lines() if ln.get_label().startswith("latency budget")]


def test_measured_points_joined_and_marked() -> None:
    rec = _rec([0.5, 1.0, 1.5, 3.0], [0.6, 0.7, 0.8, 0.9])
    trials = [_trial(3, 0.55, 1.7), _trial(2, 0.3, 1.1, diagnosis="VG"),
              _trial(1, math.nan, math.nan, error="RuntimeError: boom")]
    conf = _confirmation(rec, trials)
    pts = measured_points(rec, conf)
    assert len(pts) == 3
    ax = _axes()
    plot_recommendation(rec, conf, ax=ax)
    joins = [ln for ln in ax.get_lines() if len(ln.get_xdata()) == 2
             and not ln.get_label().startswith("latency budget")]
    got = sorted((tuple(ln.get_xdata()), tuple(ln.get_ydata())) for ln in joins)
    assert got == [((1.0, 1.1), (0.7, 0.3)), ((1.5, 1.7), (0.8, 0.55))]
    pts_xy = _offsets(ax)
    healthy = [p for p in pts_xy if p[:2] == (1.7, 0.55)]
    stopped = [p for p in pts_xy if p[:2] == (1.1, 0.3)]
    failed = [p for p in pts_xy if p[:2] == (0.5, 0.6)]  # at its prediction, open marker
    assert healthy and stopped and failed
    red = tuple(int(STOP_COLOR[i:i + 2], 16) / 255 for i in (1, 3, 5))
    assert stopped[0][2][:3] == pytest.approx(red)
    assert failed[0][2] is None or failed[0][2][3] == 0  # no face
    texts = {t.get_text() for t in ax.get_legend().get_texts()}
    assert {"stopped by diagnosis", "failed training",
            "trained: measured latency, test accuracy"} <= texts


def test_live_trials_draw_what_the_confirmation_draws() -> None:
    rec = _rec([0.5, 1.0, 1.5, 3.0], [0.6, 0.7, 0.8, 0.9])
    trials = [_trial(3, 0.55, 1.7), _trial(2, 0.3, 1.1)]
    live = measured_points(rec, measured=trials)
    done = measured_points(rec, _confirmation(rec, trials))
    key = ["predicted_ms", "measured_ms"]
    pd.testing.assert_frame_equal(live.sort_values(key).reset_index(drop=True),
                                  done.sort_values(key).reset_index(drop=True),
                                  check_dtype=False)
    # a trial the recommendation never evaluated: no prediction to join to
    alone = measured_points(rec, measured=[_trial(9, 0.5, 1.0)])
    assert math.isnan(alone["predicted_ms"].iloc[0])


def test_bad_input() -> None:
    rec = _rec([0.5, 1.0], [0.6, 0.7])
    with pytest.raises(ConfigError) as err:
        plot_recommendation("not a rec", ax=_axes())  # type: ignore[arg-type]
    assert err.value.field == "rec"
    conf = _confirmation(rec, [_trial(1, 0.5, 0.6)])
    with pytest.raises(ConfigError) as err:
        plot_recommendation(rec, conf, ax=_axes(), measured=[_trial(1, 0.5, 0.6)])
    assert err.value.field == "measured"
    with pytest.raises(ConfigError):
        measured_points(rec, measured=["x"])  # type: ignore[list-item]


def test_real_recommendation_is_paper_ready(recommend_parts: Any) -> None:
    rec = recommend("digits", "cpu", 0.15, scale="smoke", seed=0, prepared=recommend_parts)
    row = rec.table(1).iloc[0]
    trial = TrainedCandidate(task="digits", components={c: row[c] for c in rec.components},
                             seed=0, accuracy=0.2, val_accuracy=0.2, epochs=2, epochs_run=1,
                             diagnosis="EG", diagnosis_reason="", error=None,
                             measured_ms=float(row["latency_ms"]) * 1.3, train_s=1.0,
                             measure_s=0.1)
    fig, ax = figure("double", aspect=0.45, pyplot=False)
    with record_label_misses() as misses:
        plot_recommendation(rec, ax=ax, measured=[trial])
    assert misses == set()
    assert_paper_ready(fig, name="recommendation")
    assert len(ax.containers[0].lines[0].get_xdata()) == len(rec.candidates)
