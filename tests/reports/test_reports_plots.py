"""plot_training_curves draws exactly the recorded history."""

from __future__ import annotations

import dataclasses

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from effdl_kit.errors import ConfigError
from effdl_kit.reports import plot_training_curves
from effdl_kit.training import TrainConfig, TrainResult, train


@pytest.fixture(scope="module")
def runs() -> list[TrainResult]:
    base = TrainConfig(dataset="digits", model="cnn", epochs=3, n_train=200, batch_size=64,
                       seed=0, threads=1)
    return [train(base.replace(optimizer="sgd", lr=0.05)),
            train(base.replace(optimizer="adam", lr=2e-3))]


def _ax() -> Axes:
    fig = Figure()
    FigureCanvasAgg(fig)
    return fig.add_subplot()


def test_lines_equal_history_both_splits(runs: list[TrainResult]) -> None:
    ax = _ax()
    out = plot_training_curves(runs, ax=ax, metric="loss", labels=["SGD", "Adam"])
    assert out is ax
    assert len(ax.lines) == 4
    for k, res in enumerate(runs):
        train_line, val_line = ax.lines[2 * k], ax.lines[2 * k + 1]
        epochs = [r.epoch for r in res.history]
        np.testing.assert_array_equal(train_line.get_xdata(), epochs)
        np.testing.assert_array_equal(train_line.get_ydata(),
                                      [r.train_loss for r in res.history])
        np.testing.assert_array_equal(val_line.get_ydata(), [r.val_loss for r in res.history])
        assert train_line.get_color() == val_line.get_color()
        assert train_line.get_linestyle() == "-" and val_line.get_linestyle() == "--"
    assert ax.lines[0].get_color() != ax.lines[2].get_color()
    legend = ax.get_legend()
    assert legend is not None
    assert [t.get_text() for t in legend.get_texts()] == [
        "SGD (train)", "SGD (val)", "Adam (train)", "Adam (val)"]
    assert ax.get_xlabel() == "Epoch" and ax.get_ylabel() == "Loss"


def test_single_result_metric_val_only(runs: list[TrainResult]) -> None:
    ax = plot_training_curves(runs[1], ax=_ax(), metric="metric", split="val")
    (line,) = ax.lines
    np.testing.assert_array_equal(line.get_ydata(), [r.val_metric for r in runs[1].history])
    assert ax.get_ylabel() == "Validation accuracy"
    legend = ax.get_legend()
    assert legend is not None
    assert legend.get_texts()[0].get_text() == "cnn / adam"


def test_history_dataframe_input(runs: list[TrainResult]) -> None:
    frame = runs[0].to_frame()
    ax = plot_training_curves([frame], ax=_ax(), metric="metric", split="train")
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), frame["train_metric"].to_numpy())
    assert ax.get_ylabel() == "Training metric"  # a bare frame does not know its metric name


def test_creates_axis_when_none(runs: list[TrainResult]) -> None:
    ax = plot_training_curves(runs[0])
    fig = ax.get_figure(root=True)
    assert isinstance(fig, Figure)
    try:
        assert len(ax.lines) == 2
        assert fig.get_size_inches()[0] == pytest.approx(3.33)
        assert fig.number in plt.get_fignums()  # a pyplot figure, shown inline in notebooks
    finally:
        plt.close(fig)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"metric": "accuracy"}, "metric"), ({"split": "test"}, "split"),
     ({"labels": ["only one"]}, "labels"), ({"labels": "ab"}, "labels")],
)
def test_bad_arguments(runs: list[TrainResult], kwargs: dict, field: str) -> None:
    ax = _ax()
    with pytest.raises(ConfigError) as err:
        plot_training_curves(runs, ax=ax, **kwargs)
    assert err.value.field == field
    assert not ax.lines  # nothing drawn


def test_bad_results(runs: list[TrainResult]) -> None:
    with pytest.raises(ConfigError, match="'results'"):
        plot_training_curves([], ax=_ax())
    with pytest.raises(ConfigError, match=r"results\[1\]"):
        plot_training_curves([runs[0], {"history": []}], ax=_ax())  # type: ignore[list-item]
    mse = dataclasses.replace(runs[1], metric_name="mse")
    with pytest.raises(ConfigError, match="share one metric"):
        plot_training_curves([runs[0], mse], ax=_ax(), metric="metric")
    # losses of different tasks can still share an axis
    assert len(plot_training_curves([runs[0], mse], ax=_ax(), metric="loss").lines) == 4
