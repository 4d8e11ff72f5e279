"""Study figures: parameter importances and the kit's own parallel coordinates."""

from __future__ import annotations

import itertools
import math
from typing import Any
from unittest import mock

import numpy as np
import optuna
import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.text import Text

from effdl_kit.errors import ConfigError
from effdl_kit.reports import figure
from effdl_kit.reports._labels import label, record_label_misses
from effdl_kit.reports._study_plots import plot_parallel_coordinates, plot_param_importances
from effdl_kit.search import param_importances, trials_frame

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _objective(trial: optuna.Trial) -> float:
    lr = trial.suggest_float("lr", 1e-4, 1e-1, log=True)
    bs = trial.suggest_int("batch_size", 16, 256)
    opt = trial.suggest_categorical("optimizer", ["sgd", "adam", "rmsprop", None])
    skip = trial.suggest_categorical("skip", [True, False])
    drop = trial.suggest_float("dropout", 0.0, 0.5)
    return (-math.log10(lr) + bs / 256 + (opt == "sgd") + skip + drop) / 10


@pytest.fixture(scope="module")
def study() -> optuna.Study:
    s = optuna.create_study(direction="maximize",
                            sampler=optuna.samplers.RandomSampler(seed=1))
    s.optimize(_objective, n_trials=30)
    return s


def _drawn_texts(fig: Figure) -> list[Text]:
    """The non-empty texts a draw of ``fig`` shows (an axis keeps the labels of ticks
    outside its limits without drawing them, so they are told apart by drawing)."""
    drawn: list[Text] = []
    draw = Text.draw

    def recording(self: Text, renderer: Any) -> None:
        drawn.append(self)
        draw(self, renderer)

    with mock.patch.object(Text, "draw", recording):
        fig.canvas.draw()
    return [t for t in drawn if t.get_visible() and t.get_text().strip()]


def _assert_readable(fig: Figure) -> None:
    """All drawn text inside the canvas; no two drawn tick labels of one axis overlap."""
    texts = _drawn_texts(fig)
    assert texts
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    canvas = fig.bbox
    for t in texts:
        box = t.get_window_extent(renderer)
        assert (box.x0 >= canvas.x0 - 1 and box.y0 >= canvas.y0 - 1
                and box.x1 <= canvas.x1 + 1 and box.y1 <= canvas.y1 + 1), t.get_text()
    shown = {id(t) for t in texts}
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            labels = [t for t in axis.get_ticklabels(which="both") if id(t) in shown]
            boxes = [t.get_window_extent(renderer) for t in labels]
            for (a, ta), (b, tb) in itertools.combinations(zip(boxes, labels,
                                                               strict=True), 2):
                w = min(a.x1, b.x1) - max(a.x0, b.x0)
                h = min(a.y1, b.y1) - max(a.y0, b.y0)
                assert w <= 1 or h <= 1, (ta.get_text(), tb.get_text())


@pytest.mark.parametrize(("width", "aspect"), [("single", 0.5), ("single", 0.8),
                                                ("double", 0.4)])
def test_parallel_coordinates_draws_every_trial_on_its_own_axes(
        study: optuna.Study, width: str, aspect: float) -> None:
    frame = trials_frame(study)
    fig, ax = figure(width, aspect=aspect, pyplot=False)
    with record_label_misses() as misses:
        out = plot_parallel_coordinates(frame, ax=ax, objective_label="Validation accuracy")
    assert out is ax
    assert misses == set()  # every parameter has a registered label
    [lines] = [c for c in ax.collections if isinstance(c, LineCollection)]
    paths = lines.get_segments()
    assert len(paths) == len(frame) == 30
    names = ["value", "lr", "batch_size", "optimizer", "skip", "dropout"]
    subs = ax.child_axes
    assert len(subs) == len(names)
    # the best trial is drawn last, at the top of the objective axis
    assert paths[-1][0, 1] == pytest.approx(1.0)
    best = frame.loc[frame["value"].idxmax()]
    by_axis = dict(zip(names, paths[-1][:, 1], strict=True))
    lo, hi = np.log10(frame["lr"].min()), np.log10(frame["lr"].max())
    assert by_axis["lr"] == pytest.approx((np.log10(best["lr"]) - lo) / (hi - lo))
    assert by_axis["dropout"] == pytest.approx(
        (best["dropout"] - frame["dropout"].min())
        / (frame["dropout"].max() - frame["dropout"].min()))
    choices = ["sgd", "adam", "rmsprop", None]
    assert by_axis["optimizer"] == pytest.approx(choices.index(best["optimizer"]) / 3)
    # each column's own axis: log for lr, one tick per choice for the categoricals
    assert subs[1].get_yscale() == "log"
    assert subs[1].get_ylim() == pytest.approx((frame["lr"].min(), frame["lr"].max()))
    assert [t.get_text() for t in subs[3].get_yticklabels()] == [
        "sgd", "adam", "rmsprop", "None"]
    assert [t.get_text() for t in subs[4].get_yticklabels()] == ["True", "False"]
    assert subs[2].get_ylim() == (frame["batch_size"].min(), frame["batch_size"].max())
    # titles from the label registry, a colourbar labelled with the objective
    titles = [t.get_text().replace("\n", " ") for t in ax.get_xticklabels()]
    assert titles == ["Validation accuracy"] + [label(n) for n in names[1:]]
    assert "batch_size" not in " ".join(t.get_text() for t in _drawn_texts(fig))
    [cbar_ax] = [a for a in fig.axes if a is not ax]
    assert cbar_ax.get_ylabel() == "Validation accuracy"
    colors = lines.get_colors()
    assert not np.allclose(colors[0], colors[-1])  # coloured by objective
    _assert_readable(fig)


def test_parallel_coordinates_minimize_draws_the_lowest_on_top() -> None:
    frame = pd.DataFrame({"value": [3.0, 1.0, 2.0], "x": [0.0, 1.0, 2.0]})
    frame.attrs["direction"] = "minimize"
    fig, ax = figure(pyplot=False)
    plot_parallel_coordinates(frame, ["x"], "value", ax=ax, objective_label="Loss",
                              colorbar=False)
    [lines] = ax.collections
    assert [seg[1, 1] for seg in lines.get_segments()] == [0.0, 1.0, 0.5]  # 3, 2 then 1
    assert len(fig.axes) == 1


def test_parallel_coordinates_leaves_out_rows_it_cannot_draw() -> None:
    frame = pd.DataFrame({"value": [1.0, np.nan, 2.0, 3.0], "x": [1.0, 2.0, np.nan, 4.0],
                          "opt": ["a", "b", "c", None]})
    _, ax = figure(pyplot=False)
    plot_parallel_coordinates(frame, ["x", "opt"], ax=ax, objective_label="Loss",
                              categorical={"opt": ["a", "b", "c", None]})
    [lines] = [c for c in ax.collections if isinstance(c, LineCollection)]
    assert len(lines.get_segments()) == 2  # NaN objective and missing x dropped; None kept
    assert [t.get_text() for t in ax.child_axes[2].get_yticklabels()] == [
        "a", "b", "c", "None"]


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"params": ["nope"]}, "params"),
    ({"params": "lr"}, "params"),
    ({"objective": "optimizer"}, "objective"),
    ({"objective": "missing"}, "objective"),
    ({"log_params": ["dropout"]}, "log_params"),  # dropout can be 0
    ({"categorical": {"optimizer": ["sgd"]}}, "categorical['optimizer']"),
    ({"cmap": "no-such-map"}, "cmap"),
    ({"ax": "axes"}, "ax"),
])
def test_parallel_coordinates_rejects_bad_input(study: optuna.Study, kwargs: dict[str, Any],
                                                field: str) -> None:
    frame = trials_frame(study)
    frame.loc[0, "dropout"] = 0.0
    _, ax = figure(pyplot=False)
    args: dict[str, Any] = {"ax": ax, **kwargs}
    with pytest.raises(ConfigError) as err:
        plot_parallel_coordinates(frame, **args)
    assert err.value.field == field


def test_param_importances_bars(study: optuna.Study) -> None:
    df = param_importances(study, evaluator="fanova", seed=0)
    fig, ax = figure(pyplot=False)
    with record_label_misses() as misses:
        out = plot_param_importances(df, ax=ax)
    assert out is ax and misses == set()
    widths = [p.get_width() for p in ax.patches]
    assert widths == sorted(df["importance"])  # bottom-up: the largest on top
    assert [t.get_text() for t in ax.get_yticklabels()] == [
        label(p) for p in df["param"][::-1]]
    printed = [t.get_text() for t in ax.texts]
    assert printed == [f"{v:.2f}" for v in sorted(df["importance"])]
    assert "fANOVA" in ax.get_xlabel()
    _assert_readable(fig)
    _, ax2 = figure(pyplot=False)
    plot_param_importances(df, ax=ax2, top=2)
    assert len(ax2.patches) == 2
    assert ax2.get_yticklabels()[-1].get_text() == label(df["param"].iloc[0])


@pytest.mark.parametrize(("df", "kwargs", "field"), [
    (pd.DataFrame({"name": ["x"], "importance": [1.0]}), {}, "df"),
    (pd.DataFrame({"param": [], "importance": []}), {}, "df"),
    (pd.DataFrame({"param": ["x"], "importance": [-0.1]}), {}, "df.importance"),
    (pd.DataFrame({"param": ["x"], "importance": [1.0]}), {"top": 0}, "top"),
    (pd.DataFrame({"param": ["x"], "importance": [1.0]}), {"ax": None}, "ax"),
])
def test_param_importances_rejects_bad_input(df: pd.DataFrame, kwargs: dict[str, Any],
                                             field: str) -> None:
    _, ax = figure(pyplot=False)
    args: dict[str, Any] = {"ax": ax, **kwargs}
    with pytest.raises(ConfigError) as err:
        plot_param_importances(df, **args)
    assert err.value.field == field


def test_figures_are_paper_ready_by_the_kit_check(study: optuna.Study) -> None:
    from effdl_kit.testing._figure_check import assert_paper_ready

    fig, (a1, a2) = figure("double", aspect=0.5, ncols=2, pyplot=False)
    plot_param_importances(param_importances(study, seed=0), ax=a1)
    plot_parallel_coordinates(trials_frame(study), ax=a2, objective_label="Accuracy")
    assert isinstance(a1, Axes)
    assert_paper_ready(fig)


def test_parallel_coordinates_ticks_of_short_log_ranges_and_choice_names() -> None:
    """A log axis spanning less than two decades gets 1-2-5 ticks (a decade locator would
    leave it bare); a choice shows as a label, never as a raw identifier."""
    frame = pd.DataFrame({"value": [0.1, 0.2, 0.3], "channels": [2, 4, 8],
                          "activation": ["relu", "leaky_relu", "relu"]})
    fig, ax = figure(pyplot=False)
    plot_parallel_coordinates(frame, ["channels", "activation"], ax=ax,
                              objective_label="Accuracy", log_params=["channels"])
    fig.draw_without_rendering()
    log_axis, cat_axis = ax.child_axes[1], ax.child_axes[2]
    assert log_axis.get_yscale() == "log"
    assert [t.get_text() for t in log_axis.get_yticklabels()] == ["2", "5"]
    assert [t.get_text() for t in cat_axis.get_yticklabels()] == ["leaky relu", "relu"]
    _assert_readable(fig)
