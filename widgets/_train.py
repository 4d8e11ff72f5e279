"""Train one model with the bench and watch its loss curve grow, epoch by epoch.

:class:`TrainController` turns a handful of parameters into a validated
:class:`~effdl_kit.training.TrainConfig`, runs :func:`~effdl_kit.training.train` with a hook that
records the live curve, and draws it with :func:`effdl_kit.reports.plot_training_curves`.
:class:`TrainPanel` is its ipywidgets view.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, fields
from typing import TYPE_CHECKING, Any, ClassVar

from effdl_kit._core import SEED_MAX
from effdl_kit._core.validate import Scale
from effdl_kit.errors import EffdlError
from effdl_kit.reports import plot_training_curves
from effdl_kit.training import (
    DATASETS,
    FORECAST_DATASETS,
    MODELS,
    OPTIMIZERS,
    EpochRecord,
    Hook,
    TrainConfig,
    TrainResult,
    TrainState,
    train,
)

from ._base import Panel, PanelController, resolve_controller

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["TRAIN_DEFAULTS", "TrainController", "TrainPanel"]

#: defaults per scale: a few seconds (smoke, small) on a 2-core CPU with the digits CNN;
#: lr = 1e-3 lies on the log slider's grid (10**-3), so the slider shows it exactly
TRAIN_DEFAULTS: dict[str, dict[str, Any]] = {
    "smoke": {"dataset": "digits", "model": "cnn", "optimizer": "adam", "lr": 1e-3,
              "epochs": 2, "batch_size": 64, "seed": 0, "n_train": 300},
    "small": {"dataset": "digits", "model": "cnn", "optimizer": "adam", "lr": 1e-3,
              "epochs": 5, "batch_size": 64, "seed": 0, "n_train": None},
    "paper": {"dataset": "digits", "model": "cnn", "optimizer": "adam", "lr": 1e-3,
              "epochs": 30, "batch_size": 64, "seed": 0, "n_train": None},
}


class _LiveCurve(Hook):
    """Copies each finished epoch into the controller and reports progress."""

    def __init__(self, controller: TrainController) -> None:
        self.controller = controller

    def epoch_end(self, state: TrainState) -> None:
        self.controller._epoch_done(state)


class TrainController(PanelController):
    """Controller of :class:`TrainPanel`: one bench run with a live loss curve.

    Parameters
    ----------
    scale : {"smoke", "small", "paper"}
        Picks the default budget (``TRAIN_DEFAULTS``): smoke = 2 epochs on 300 digits,
        small = 5 epochs on all digits, paper = 30 epochs.
    progress : bool
        Also show the bench's own ``tqdm.auto`` bar (off by default: the panel has its own).
    **params
        Any of ``dataset``, ``model``, ``optimizer``, ``lr``, ``epochs``, ``batch_size``,
        ``seed``, ``n_train``; validated by :class:`~effdl_kit.training.TrainConfig` on
        :meth:`run`.

    Attributes
    ----------
    config : TrainConfig or None
        The last validated configuration.
    live_history : list of EpochRecord
        Epochs finished so far in the current (or last) run.
    result : TrainResult or None
        The last successful run.
    """

    defaults: ClassVar[Mapping[str, Any]] = TRAIN_DEFAULTS["small"]
    name: ClassVar[str] = "train"

    def __init__(self, *, scale: Scale = "small", progress: bool = False, **params: Any) -> None:
        self.progress = bool(progress)
        self.config: TrainConfig | None = None
        self.live_history: list[EpochRecord] = []
        super().__init__(scale=scale, **params)

    def scale_defaults(self, scale: Scale) -> Mapping[str, Any]:
        """``TRAIN_DEFAULTS[scale]``."""
        return TRAIN_DEFAULTS[scale]

    def prepare(self) -> TrainConfig:
        """Build the :class:`TrainConfig` (which validates every field)."""
        self.config = TrainConfig(**self.params)
        return self.config

    def compute(self, prepared: TrainConfig) -> TrainResult:
        """Run the bench with the live-curve hook."""
        self.live_history = []
        return train(prepared, hooks=[_LiveCurve(self)], progress=self.progress)

    def _epoch_done(self, state: TrainState) -> None:
        rec = state.history[-1]
        self.live_history.append(rec)
        metric = "mse" if state.config.dataset in FORECAST_DATASETS else "accuracy"
        msg = (f"epoch {rec.epoch + 1}/{state.config.epochs}: train loss {rec.train_loss:.4g}, "
               f"val {metric} {rec.val_metric:.4g}")
        self.report_progress(len(self.live_history), state.config.epochs, msg)

    def figure(self) -> Figure:
        """Loss curves (train and validation) of the finished run, or of the epochs so far.

        Raises
        ------
        EffdlError
            Nothing has been trained yet.
        """
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator

        curve: Any = self.result if self.result is not None else self._partial_frame()
        if curve is None:
            raise EffdlError("no training curve yet: run the panel first")
        cfg = self.config
        label = f"{cfg.model} / {cfg.optimizer} / lr={cfg.lr:.2g}" if cfg is not None else "run"
        fig = Figure(figsize=(6.0, 3.6), layout="constrained")
        ax = fig.add_subplot()
        plot_training_curves([curve], ax=ax, metric="loss", split="both", labels=[label])
        if cfg is not None:  # the axis spans the whole run, so the live curve grows into it
            ax.set_xlim(-0.2, max(cfg.epochs - 1, 1) + 0.2)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        return fig

    def _partial_frame(self) -> Any:
        """The epochs finished so far as the frame ``TrainResult.to_frame`` would give."""
        if not self.live_history:
            return None
        import pandas as pd

        frame = pd.DataFrame([asdict(r) for r in self.live_history],
                             columns=[f.name for f in fields(EpochRecord)])
        if self.config is not None:
            frame.attrs["metric_name"] = (
                "mse" if self.config.dataset in FORECAST_DATASETS else "accuracy")
        return frame

    def summary(self) -> str:
        """One line about the last result (test score, time), or the status."""
        res = self.result
        if not isinstance(res, TrainResult):
            return self.status
        score = res.test_metric
        score_txt = f"{score:.4f}" if math.isfinite(score) else "nan"
        return (f"test {res.metric_name} {score_txt}, {res.epochs_run} epochs in "
                f"{res.wall_time_s:.1f} s, {res.n_params} parameters")


class TrainPanel(Panel):
    """Pick a dataset, model and optimizer, set lr and epochs, train, watch the loss curve.

    Parameters
    ----------
    controller : TrainController, optional
        Made from ``scale`` and ``params`` when not given.
    scale : {"smoke", "small", "paper"}
        Default budget when the controller is made here.
    export_stem : str
        Initial export path (without extension).
    **params
        Initial parameters for a new controller.

    Examples
    --------
    >>> from effdl_kit.widgets import TrainPanel
    >>> TrainPanel(scale="smoke")  # doctest: +SKIP
    """

    controller: TrainController

    def __init__(
        self,
        controller: TrainController | None = None,
        *,
        scale: Scale = "small",
        export_stem: str = "figures/train_curve",
        **params: Any,
    ) -> None:
        import ipywidgets as W

        controller = resolve_controller(TrainController, controller, scale, params)
        p = controller.params
        sizes = sorted({16, 32, 64, 128, 256, 512} | {p["batch_size"]}
                       if isinstance(p["batch_size"], int) else {16, 32, 64, 128, 256, 512})
        style = {"description_width": "90px"}
        controls = {
            "dataset": W.Dropdown(options=DATASETS, description="dataset", style=style),
            "model": W.Dropdown(options=MODELS, description="model", style=style),
            "optimizer": W.Dropdown(options=OPTIMIZERS, description="optimizer", style=style),
            "lr": W.FloatLogSlider(base=10, min=-6, max=1, step=0.1, value=1e-3,
                                   description="lr", readout_format=".1e", style=style),
            "epochs": W.IntSlider(min=1, max=max(100, int(p["epochs"])), value=1,
                                  description="epochs", style=style),
            "batch_size": W.Dropdown(options=tuple(sizes), value=64,
                                     description="batch size", style=style),
            "seed": W.BoundedIntText(min=0, max=SEED_MAX, value=0, description="seed",
                                     style=style),
        }
        super().__init__(controller, controls, title="Train a model (effdl_kit.training)",
                         export_stem=export_stem, live_figure=True)
        self.summary = W.HTML("")
        self.widget.children = (*self.widget.children, self.summary)
        controller.on_change(self._on_result)

    def _on_result(self, event: Any) -> None:
        if event.kind in ("result", "status"):
            self.summary.value = self.controller.summary()
