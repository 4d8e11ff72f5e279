"""plot_trial_losses / plot_indicator_curves on hand-made diagnosed studies (no training)."""

from __future__ import annotations

import math

import pytest
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from effdl_kit.diagnosis import (
    DiagnosedEpoch,
    DiagnosedStudy,
    DiagnosedStudyOptions,
    StudyVariant,
)
from effdl_kit.errors import ConfigError
from effdl_kit.reports import (
    INDICATOR_SERIES,
    STOP_COLOR,
    plot_indicator_curves,
    plot_trial_losses,
)


def _study(variant: StudyVariant = "bttackler", n_trials: int = 2) -> DiagnosedStudy:
    """Trial 0 explodes at epoch 0 (AGV; NaN loss when ``variant`` is plain: still
    training), trial 1 is healthy over 4 epochs, further trials copy trial 1."""
    bad = [DiagnosedEpoch(0, 0, 1e6, 1e6, 0.1, fired=("AGV",), stopped=variant == "bttackler",
                          median_grad=1e9, values={"AGV.median_grad": 1e9})]
    if variant == "plain":
        bad += [DiagnosedEpoch(0, e, math.nan, math.nan, 0.1, median_grad=math.nan)
                for e in (1, 2, 3)]
    good = [DiagnosedEpoch(t, e, 2.0 / (e + 1), 1.0, 0.5 + 0.1 * e, median_grad=1e-2)
            for t in range(1, n_trials) for e in range(4)]
    opts = DiagnosedStudyOptions(n_trials=n_trials, epochs=4, variant=variant)
    return DiagnosedStudy(opts, history=bad + good)


def _axes() -> Axes:
    ax: Axes = Figure().subplots()
    return ax


def test_losses_one_curve_per_trial_log_axis_and_the_stop_marked() -> None:
    ax = _axes()
    out = plot_trial_losses(_study(), ax=ax, robust=False)
    assert out is ax
    assert len(ax.get_lines()) == 2 and ax.get_yscale() == "log"
    assert [t.get_text() for t in ax.texts] == ["AGV"]
    marker = ax.collections[0]
    assert tuple(marker.get_facecolor()[0][:3]) == pytest.approx(
        tuple(int(STOP_COLOR[i:i + 2], 16) / 255 for i in (1, 3, 5)))
    assert ax.get_xlim() == pytest.approx((-0.3, 3.3))
    legend = ax.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["#0", "#1"]
    assert ax.get_ylabel() == "Training loss"


def test_robust_limits_cut_the_explosion_and_mark_the_stop_at_the_edge() -> None:
    ax = _axes()
    plot_trial_losses(_study(), ax=ax)  # trial 0: one loss of 1e6, trial 1: 2.0 .. 0.5
    _, hi = ax.get_ylim()
    assert ax.get_yscale() == "linear" and hi < 3.0  # the healthy curve fills the axes
    assert [t.get_text() for t in ax.texts] == ["AGV (cut)"]
    legend = ax.get_legend()
    assert "1 point above (cut)" in [t.get_text() for t in legend.get_texts()]


def test_yscale_is_chosen_or_rejected() -> None:
    ax = _axes()
    plot_trial_losses(_study(), ax=ax, yscale="symlog")
    assert ax.get_yscale() == "symlog"
    with pytest.raises(ConfigError) as err:
        plot_trial_losses(_study(), ax=_axes(), yscale="loglog")
    assert err.value.field == "yscale"
    ax = _axes()
    plot_indicator_curves(_study(), "AGV.median_grad", ax=ax, yscale="linear")
    assert ax.get_yscale() == "linear"


def test_losses_without_legend_beyond_twelve_trials_and_a_linear_axis() -> None:
    ax = _axes()
    plot_trial_losses(_study(n_trials=14), ax=ax)
    assert ax.get_legend() is None and len(ax.get_lines()) == 14
    ax = _axes()
    healthy = _study()
    healthy.history = healthy.history[1:]
    plot_trial_losses(healthy, ax=ax)
    assert ax.get_yscale() == "linear" and len(ax.texts) == 0


def test_indicator_curves_with_thresholds_and_fallback() -> None:
    ax = _axes()
    run = _study()
    plot_indicator_curves(run, "AGV.median_grad", ax=ax)
    lines = ax.get_lines()
    flat = {float(ln.get_ydata()[0]) for ln in lines[:2]}
    assert flat == {run.options.config.agv_min_grad, run.options.config.agv_max_grad}
    assert len(lines) == 4 and ax.get_yscale() == "log"
    # trial 1 has no AGV values: its curve is the per-layer gradient median (fallback)
    assert list(lines[3].get_ydata()) == [1e-2] * 4
    assert ax.get_ylabel() == INDICATOR_SERIES["AGV.median_grad"].label


def test_a_plain_flag_on_a_nan_value_is_marked_at_the_top() -> None:
    ax = _axes()
    plot_indicator_curves(_study("plain"), "PLC.loss_cov", ax=ax)
    assert [t.get_text() for t in ax.texts] == ["AGV (NaN)"]
    assert ax.get_yscale() == "linear"  # no value at all: nothing to put on a log axis
    marker = ax.collections[0]
    assert marker.get_facecolor().size == 0  # an open circle: fired, not stopped


def test_empty_study_and_unknown_key() -> None:
    ax = _axes()
    empty = DiagnosedStudy(DiagnosedStudyOptions(n_trials=1, epochs=5))
    plot_trial_losses(empty, ax=ax)
    plot_indicator_curves(empty, "SC.ratio", ax=ax)
    assert ax.get_xlim() == pytest.approx((-0.3, 4.3))
    with pytest.raises(ConfigError, match="'indicator'"):
        plot_indicator_curves(empty, "loss", ax=ax)
