"""Robust limits: one exploding trial (loss 1e28) does not flatten five healthy curves; the
cut points are marked at the edge and counted in the legend."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes

from effdl_kit.diagnosis import DiagnosedEpoch, DiagnosedStudy, DiagnosedStudyOptions
from effdl_kit.errors import ConfigError
from effdl_kit.reports import (
    clip_to_limits,
    figure,
    plot_training_curves,
    plot_trial_losses,
    robust_limits,
)
from effdl_kit.testing import check_figure

EPOCHS = 8
N_EXPLODED = 4  # the exploding trial's last four epochs


def _healthy(k: int) -> np.ndarray:
    return 2.5 * np.exp(-np.arange(EPOCHS) / (2.0 + k)) + 0.1 * k


def _exploding() -> np.ndarray:
    y = _healthy(0).copy()
    y[EPOCHS - N_EXPLODED:] = 1e28
    return y


def _history(loss: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"epoch": np.arange(EPOCHS), "train_loss": loss, "val_loss": loss,
                         "train_metric": 0.5, "val_metric": 0.5})


def _edge_markers(ax: Axes) -> int:
    """Points drawn by clip_to_limits at the top edge (y = 1 in axes coordinates)."""
    n = 0
    for coll in ax.collections:
        off = np.asarray(coll.get_offsets())
        if off.size and coll.get_offset_transform() is not ax.transData:
            n += int(np.sum(np.isclose(off[:, 1], 1.0)))
    return n


def _healthy_share(ax: Axes, healthy: list[np.ndarray]) -> float:
    lo, hi = ax.get_ylim()
    span = max(float(np.max(h)) for h in healthy) - min(float(np.min(h)) for h in healthy)
    return span / (hi - lo)


def test_one_exploding_run_does_not_flatten_the_training_curves() -> None:
    healthy = [_healthy(k) for k in range(5)]
    runs = [_history(h) for h in healthy] + [_history(_exploding())]
    fig, ax = figure("double", aspect=0.5, pyplot=False)
    plot_training_curves(runs, ax=ax, split="train",
                         labels=[f"run {k}" for k in range(6)])
    assert _healthy_share(ax, healthy) > 0.8  # the healthy curves span most of the axis
    assert _edge_markers(ax) == N_EXPLODED
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert f"{N_EXPLODED} points above (cut)" in texts
    # negative control: without robust limits the explosion flattens them
    _, ax2 = figure("double", aspect=0.5, pyplot=False)
    plot_training_curves(runs, ax=ax2, split="train", robust=False)
    assert _healthy_share(ax2, healthy) < 1e-20 and _edge_markers(ax2) == 0
    assert check_figure(fig, rules=("style", "raw_name", "text_outside")) == []


def _study() -> DiagnosedStudy:
    history = []
    for t in range(6):
        loss = _exploding() if t == 5 else _healthy(t)
        history += [DiagnosedEpoch(t, e, float(loss[e]), 1.0, 0.5) for e in range(EPOCHS)]
    return DiagnosedStudy(DiagnosedStudyOptions(n_trials=6, epochs=EPOCHS), history=history)


def test_one_exploding_trial_does_not_flatten_the_bttackler_losses() -> None:
    fig, ax = figure("double", aspect=0.5, pyplot=False)
    plot_trial_losses(_study(), ax=ax)
    assert ax.get_yscale() == "linear"  # the healthy range decides, not the explosion
    assert _healthy_share(ax, [_healthy(k) for k in range(5)]) > 0.8
    assert _edge_markers(ax) == N_EXPLODED
    assert check_figure(fig) == []  # legend beside the curves, labels registered
    _, ax2 = figure("double", aspect=0.5, pyplot=False)
    plot_trial_losses(_study(), ax=ax2, robust=False)
    assert ax2.get_yscale() == "log" and ax2.get_ylim()[1] > 1e27


def test_robust_limits_values() -> None:
    lo, hi = robust_limits([1.0, 2.0, 3.0, 4.0, 1e28], pad=0.0)
    assert (lo, hi) == (1.0, 4.0)
    lo, hi = robust_limits([1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 1e30], scale="log",
                           pad=0.0)
    assert lo == pytest.approx(1.0) and hi == pytest.approx(100.0)
    assert robust_limits([np.nan, np.inf]) == (0.0, 1.0)
    assert robust_limits([5.0, 5.0]) == pytest.approx((4.975, 5.025))
    # nothing is cut when nothing is far out
    v = np.random.default_rng(0).normal(size=500)
    lo, hi = robust_limits(v, pad=0.0)
    assert (lo, hi) == (v.min(), v.max())


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"q": 0.7}, "q"), ({"k": -1}, "k"), ({"scale": "loglog"}, "scale"), ({"pad": -0.1}, "pad"),
])
def test_robust_limits_bad_arguments(kwargs: dict, field: str) -> None:
    with pytest.raises(ConfigError) as err:
        robust_limits([1.0, 2.0], **kwargs)
    assert err.value.field == field


def test_clip_to_limits_given_limits_and_bad_ones() -> None:
    _, ax = figure("single", pyplot=False)
    ax.plot([0, 1, 2], [-5.0, 0.5, 5.0])
    rep = clip_to_limits(ax, (0.0, 1.0), note=False)
    assert (rep.n_above, rep.n_below) == (1, 1) and ax.get_ylim() == (0.0, 1.0)
    assert ax.get_legend_handles_labels()[1] == []
    with pytest.raises(ConfigError) as err:
        clip_to_limits(ax, (1.0, 0.0))
    assert err.value.field == "limits"
