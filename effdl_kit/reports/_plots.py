"""Plots that draw result objects on a given matplotlib axis and return it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from effdl_kit._core.errors import ConfigError
from effdl_kit._core.validate import check_choice
from effdl_kit.reports._labels import is_registered, label
from effdl_kit.reports._limits import YSCALES, clip_to_limits, set_yscale
from effdl_kit.reports._style import styled

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from effdl_kit.training import TrainResult

__all__ = ["CURVE_METRICS", "CURVE_SPLITS", "plot_training_curves"]

CURVE_METRICS = ("loss", "metric")
CURVE_SPLITS = ("both", "train", "val")
_STYLE = {"train": "-", "val": "--"}
_SPLIT_NAMES = {"train": "train", "val": "val"}
_SPLIT_TEXT = {"train": "Training", "val": "Validation"}


def _as_frame(res: Any, i: int) -> tuple[pd.DataFrame, str | None]:
    """(history frame, metric name) of a TrainResult-like object or a history DataFrame."""
    if isinstance(res, pd.DataFrame):
        frame = res
        name = res.attrs.get("metric_name")
    elif callable(getattr(res, "to_frame", None)):
        frame = res.to_frame()
        name = getattr(res, "metric_name", None)
    else:
        raise ConfigError(f"results[{i}]", type(res).__name__,
                          "a TrainResult or a DataFrame of its history")
    need = {"epoch", "train_loss", "val_loss", "train_metric", "val_metric"}
    missing = need - set(frame.columns)
    if missing:
        raise ConfigError(f"results[{i}]", f"columns missing: {sorted(missing)}",
                          "a history with columns " + ", ".join(sorted(need)))
    return frame, name


@styled
def plot_training_curves(
    results: TrainResult | pd.DataFrame | Sequence[TrainResult | pd.DataFrame],
    ax: Axes | None = None,
    *,
    metric: str = "loss",
    split: str = "both",
    labels: Sequence[str] | None = None,
    yscale: str = "linear",
    robust: bool = True,
) -> Axes:
    """Draw per-epoch loss or metric curves of one or several training runs.

    Each run gets one colour; the training curve is solid, the validation curve dashed.
    The x values are the recorded ``epoch`` numbers (0-based), the y values the history
    column ``{split}_{metric}`` (e.g. ``val_loss``), unchanged.

    Parameters
    ----------
    results : TrainResult, DataFrame, or a sequence of them
        Runs to draw (a DataFrame is a history as :meth:`TrainResult.to_frame` returns;
        ``df.attrs["metric_name"]`` names its metric when set).
    ax : matplotlib Axes, optional
        Where to draw; a new single-column figure when None.
    metric : {"loss", "metric"}
        The loss, or the task metric (accuracy for classification, MSE for forecasting).
    split : {"both", "train", "val"}
        Which curves to draw.
    labels : sequence of str, optional
        One legend label per run (default ``run 0``, ``run 1``, ... or the optimizer and
        model of each run's config).
    yscale : {"linear", "log", "symlog"}, default "linear"
        The y axis scale.
    robust : bool, default True
        Robust y limits (:func:`~effdl_kit.reports.robust_limits`): a diverged run (loss
        1e28) does not flatten the others; its cut points are marked at the edge with a
        legend entry (:func:`~effdl_kit.reports.clip_to_limits`).

    Returns
    -------
    matplotlib.axes.Axes
        The axis drawn on.

    Raises
    ------
    ConfigError
        Bad ``metric`` / ``split`` / ``yscale``, no runs, wrong number of labels, an object
        that is not a result, or runs with different metrics drawn with ``metric="metric"``.
    """
    check_choice("metric", metric, CURVE_METRICS)
    check_choice("split", split, CURVE_SPLITS)
    check_choice("yscale", yscale, YSCALES)
    if isinstance(results, pd.DataFrame) or not isinstance(results, Sequence):
        runs: list[Any] = [results]
    else:
        runs = list(results)
    if not runs:
        raise ConfigError("results", results, "at least one TrainResult")
    frames = [_as_frame(r, i) for i, r in enumerate(runs)]
    if labels is not None:
        if isinstance(labels, str) or len(labels) != len(runs):
            raise ConfigError("labels", labels, f"a sequence of {len(runs)} strings")
        names = [str(lb) for lb in labels]
    else:
        names = [_default_label(r, i) for i, r in enumerate(runs)]
    metric_names = {m for _, m in frames if m is not None}
    if metric == "metric" and len(metric_names) > 1:
        raise ConfigError("results", sorted(metric_names), "runs that share one metric")
    if ax is None:
        from effdl_kit.reports._style import figure

        _, ax = figure("single")
    assert ax is not None
    splits = ("train", "val") if split == "both" else (split,)
    ys = [f[f"{s}_{metric}"].to_numpy(dtype=float) for f, _ in frames for s in splits]
    set_yscale(ax, yscale, np.concatenate(ys) if ys else None)
    for (frame, _), name in zip(frames, names, strict=True):
        color: Any = None  # the first curve takes the axis' next colour, the rest reuse it
        x = frame["epoch"].to_numpy()
        for s in splits:
            y = frame[f"{s}_{metric}"].to_numpy()
            entry = name if len(splits) == 1 else f"{name} ({_SPLIT_NAMES[s]})"
            (line,) = ax.plot(x, y, _STYLE[s], color=color, label=entry,
                              marker="o" if len(x) <= 12 else None)
            color = line.get_color()
    base = "loss" if metric == "loss" else (metric_names.pop() if metric_names else "metric")
    from matplotlib.ticker import MaxNLocator

    if robust:
        clip_to_limits(ax)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(label("epoch"))
    ax.set_ylabel(_ylabel(base, split))
    ax.legend()
    return ax


def _ylabel(base: str, split: str) -> str:
    """``Loss``, ``Validation accuracy``, ``Training metric``: from the registry."""
    if split != "both" and is_registered(f"{split}_{base}"):
        return label(f"{split}_{base}")
    text = label(base) if is_registered(base) else base[:1].upper() + base[1:]
    if split == "both":
        return text
    return f"{_SPLIT_TEXT[split]} {text[:1].lower()}{text[1:]}"


def _default_label(res: Any, i: int) -> str:
    cfg = getattr(res, "config", None)
    if cfg is not None and hasattr(cfg, "optimizer") and hasattr(cfg, "model"):
        return f"{cfg.model} / {cfg.optimizer}"
    return f"run {i}"
