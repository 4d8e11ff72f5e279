"""Train one model with the bench and watch its loss curve grow, epoch by epoch.

:class:`TrainController` turns a handful of parameters into a validated
:class:`~effdl_kit.training.TrainConfig`, runs :func:`~effdl_kit.training.train` with a hook that
records the live curve and stops the bench the bench's own way (``TrainState.stop`` at an epoch
end, once the panel's Stop button or Kernel ▸ Interrupt asked for it: the returned
:class:`~effdl_kit.training.TrainResult` of the epochs run so far is the partial result), and
draws it with :func:`effdl_kit.reports.plot_training_curves`, earlier runs overlaid faintly.
:class:`TrainPanel` is its ipywidgets view; the run goes on a worker thread (the bench is
PyTorch, which releases the GIL while it computes, so the kernel stays responsive).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, fields
from typing import TYPE_CHECKING, Any, ClassVar

from effdl_kit._core.validate import Scale
from effdl_kit.errors import EffdlError
from effdl_kit.reports import figure as paper_figure
from effdl_kit.reports import is_registered, label, plot_training_curves
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

from ._base import Panel, PanelController, RunRecord, resolve_controller
from ._events import _same, _short

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
#: alpha of the earlier runs drawn under the current one
OVERLAY_ALPHA = 0.35


class _LiveCurve(Hook):
    """Copies each finished epoch into the controller, reports progress, and stops the bench
    (``state.stop``) at the epoch end once the controller was asked to stop."""

    def __init__(self, controller: TrainController) -> None:
        self.controller = controller

    def epoch_end(self, state: TrainState) -> None:
        self.controller._epoch_done(state)
        if self.controller.should_stop():
            state.stop(f"stopped from the panel ({self.controller.stop_reason})")


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
        :meth:`run` / :meth:`start`.

    Attributes
    ----------
    config : TrainConfig or None
        The last validated configuration.
    live_history : list of EpochRecord
        Epochs finished so far in the current (or last) run.
    result : TrainResult or None
        The last run: complete when ``done``; when ``stopped``, the bench's result of the
        epochs run so far (``stopped_early`` set; None when no epoch had finished).
    runs : list of RunRecord
        The last runs, drawn faintly under the current one.

    Notes
    -----
    A stop (:meth:`stop`, the Stop button, Kernel ▸ Interrupt) goes through the bench's own
    mechanism: a hook calls ``TrainState.stop`` at the next epoch end, the bench evaluates the
    test set and returns, so the run ends within one epoch and its result is a real
    :class:`TrainResult`.
    """

    defaults: ClassVar[Mapping[str, Any]] = TRAIN_DEFAULTS["small"]
    name: ClassVar[str] = "train"
    unit: ClassVar[str] = "epoch"
    supports_overlay: ClassVar[bool] = True
    draws_yscale: ClassVar[bool] = True

    def __init__(self, *, scale: Scale = "small", progress: bool = False, **params: Any) -> None:
        self.progress = bool(progress)
        self.config: TrainConfig | None = None
        self.live_history: list[EpochRecord] = []
        #: y scale of :meth:`figure` ("linear", "log", "symlog"; the panel's toggle sets it)
        self.yscale = "linear"
        super().__init__(scale=scale, **params)

    def scale_defaults(self, scale: Scale) -> Mapping[str, Any]:
        """``TRAIN_DEFAULTS[scale]``."""
        return TRAIN_DEFAULTS[scale]

    def prepare(self) -> TrainConfig:
        """Build the :class:`TrainConfig` (which validates every field)."""
        self.live_history = []
        self.config = TrainConfig(**self.params)
        return self.config

    def compute(self, prepared: TrainConfig) -> TrainResult:
        """Run the bench with the live-curve hook (which also stops it when asked)."""
        self.live_history = []
        return train(prepared, hooks=[_LiveCurve(self)], progress=self.progress)

    def partial_result(self) -> Any:
        """The epochs finished so far as a history frame (a run interrupted inside the bench,
        e.g. by ``KeyboardInterrupt`` in a synchronous :meth:`run`); None before the first."""
        return self._partial_frame()

    def _epoch_done(self, state: TrainState) -> None:
        rec = state.history[-1]
        self.live_history.append(rec)
        metric = "mse" if state.config.dataset in FORECAST_DATASETS else "accuracy"
        msg = (f"epoch {rec.epoch + 1}/{state.config.epochs}: train loss {rec.train_loss:.4g}, "
               f"val {metric} {rec.val_metric:.4g}")
        self.report_progress(len(self.live_history), state.config.epochs, msg)

    # ------------------------------------------------------------------ drawing
    def _current_curve(self) -> Any:
        if self.result is not None:
            return self.result
        return self._partial_frame() if self.status == "running" else None

    def run_name(self, params: Mapping[str, Any], number: int,
                 previous: Mapping[str, Any] | None) -> str:
        """Legend label of a run: ``"run 3"`` plus the parameters that differ from the run
        before it, by their display labels (``"run 3 (Learning rate 0.01)"``)."""
        text = f"run {number}"
        if previous is not None:
            diff = [f"{label(k, unit=False)} {_short(v)}" for k, v in params.items()
                    if not _same(v, previous.get(k))]
            if diff:
                text += " (" + ", ".join(diff[:2]) + ("…" if len(diff) > 2 else "") + ")"
        return text

    def _overlay(self, curve: Any) -> tuple[list[RunRecord], str]:
        """The earlier kept runs and the legend label of the current curve."""
        runs = self.runs
        earlier = [r for r in runs if r.result is not curve]
        names: dict[int, str] = {}
        prev: Mapping[str, Any] | None = None
        for r in runs:
            names[r.number] = self.run_name(r.params, r.number, prev)
            prev = r.params
        current = next((r for r in runs if r.result is curve), None)
        if current is not None:
            return earlier, names[current.number]
        number = (runs[-1].number + 1) if runs else 1
        return earlier, self.run_name(self.params, number, prev) + " (running)"

    def figure(self) -> Figure:
        """Loss curves (train solid, validation dashed) of the current run — finished,
        stopped, or the epochs so far while it runs — over the earlier kept runs (faint),
        on :attr:`yscale` with robust limits (a diverged run does not flatten the others; its
        cut points are marked at the edge).

        Raises
        ------
        EffdlError
            Nothing to draw: no run yet, or the last run failed.
        """
        from matplotlib.ticker import MaxNLocator

        curve = self._current_curve()
        if curve is None:
            raise EffdlError("no training curve yet: run the panel first")
        earlier, name = self._overlay(curve)
        fig, ax = paper_figure("double", aspect=0.42, pyplot=False)
        names = [self._name_of(r) for r in earlier]
        if earlier:
            plot_training_curves([r.result for r in earlier], ax=ax, metric="loss",
                                 split="both", labels=names, yscale=self.yscale, robust=False)
            for line in ax.get_lines():
                line.set_alpha(OVERLAY_ALPHA)
                line.set_linewidth(1.0)
        # robust limits from every curve on the axes, the earlier runs' too
        plot_training_curves([curve], ax=ax, metric="loss", split="both", labels=[name],
                             yscale=self.yscale, robust=True)
        lengths = [_n_epochs(c) for c in (*(r.result for r in earlier), curve)]
        if self.status == "running" and self.config is not None:
            lengths.append(self.config.epochs)  # the live curve grows into its axis
        ax.set_xlim(-0.2, max(max(lengths) - 1, 1) + 0.2)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel(label("epoch"))
        ax.set_ylabel(label("loss"))
        ax.set_title(self._title(curve), fontsize="small")
        self._legend(fig, ax, [*names, name])
        return fig

    @staticmethod
    def _legend(fig: Figure, ax: Any, names: list[str]) -> None:
        """One legend entry per run (its colour), one per line style (training solid,
        validation dashed) and the robust limits' "n points above (cut)" notes, beside the
        axes so it never covers a curve."""
        from matplotlib.lines import Line2D

        old = ax.get_legend()
        if old is not None:
            old.remove()
        lines = ax.get_lines()[0::2]  # plot_training_curves draws (train, val) per run
        handles: list[Any] = [
            Line2D([], [], color=ln.get_color(), alpha=ln.get_alpha(), marker="o", label=n)
            for ln, n in zip(lines, names, strict=True)]
        handles += [Line2D([], [], color="0.3", ls="-", label=label("train_loss")),
                    Line2D([], [], color="0.3", ls="--", label=label("val_loss"))]
        handles += [h for h, text in zip(*ax.get_legend_handles_labels(), strict=True)
                    if text.endswith("(cut)")]
        fig.legend(handles=handles, loc="outside right upper", fontsize="small")

    def _name_of(self, rec: RunRecord) -> str:
        runs = self.runs
        i = next(i for i, r in enumerate(runs) if r is rec)
        return self.run_name(rec.params, rec.number, runs[i - 1].params if i else None)

    def _title(self, curve: Any) -> str:
        cfg = curve.config if isinstance(curve, TrainResult) else self.config
        if cfg is None:
            return ""
        head = f"{cfg.model} on {cfg.dataset}, {cfg.optimizer}, {label('lr', unit=False)} " \
               f"{cfg.lr:.2g}"
        if isinstance(curve, TrainResult) and curve.stopped_early and self.status == "stopped":
            head += f" (stopped: {curve.epochs_run}/{cfg.epochs} epochs)"
        return head

    def _partial_frame(self) -> Any:
        """The epochs finished so far as the frame ``TrainResult.to_frame`` would give."""
        history = list(self.live_history)
        if not history:
            return None
        import pandas as pd

        frame = pd.DataFrame([asdict(r) for r in history],
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
        stopped = " (stopped early)" if res.stopped_early and self.status == "stopped" else ""
        return (f"test {res.metric_name} {score_txt}, {res.epochs_run} epochs{stopped} in "
                f"{res.wall_time_s:.1f} s, {res.n_params} parameters")


def _n_epochs(curve: Any) -> int:
    """Epochs a TrainResult or a history frame holds."""
    return len(curve.history) if isinstance(curve, TrainResult) else len(curve)


def _options(values: tuple[str, ...]) -> list[tuple[str, str]]:
    """Dropdown options: a registered name shows its display label, a proper name itself."""
    return [(label(v) if is_registered(v) else v, v) for v in values]


class TrainPanel(Panel):
    """Pick a dataset, model and optimizer, set lr and epochs, train, watch the loss curve.

    Run trains on a worker thread (the kernel stays free); Stop or Kernel ▸ Interrupt end the
    run at the next epoch end, and the epochs run so far stay on screen and exportable. The
    last runs are overlaid faintly (Clear runs forgets them); the y axis toggles between
    linear, log and symlog.

    Parameters
    ----------
    controller : TrainController, optional
        Made from ``scale`` and ``params`` when not given.
    scale : {"smoke", "small", "paper"}
        Default budget when the controller is made here.
    export_stem : str
        Initial export path (without extension).
    interactive : bool, optional
        ipympl figure (default when installed) or PNG.
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
        interactive: bool | None = None,
        **params: Any,
    ) -> None:
        import ipywidgets as W

        from ._fields import NumberEntry

        controller = resolve_controller(TrainController, controller, scale, params)
        p = controller.params
        sizes = sorted({16, 32, 64, 128, 256, 512} | {p["batch_size"]}
                       if isinstance(p["batch_size"], int) else {16, 32, 64, 128, 256, 512})
        style = {"description_width": "110px"}
        epochs = p["epochs"] if isinstance(p["epochs"], int) else 1
        controls = {
            "dataset": W.Dropdown(options=_options(DATASETS), description=label("dataset"),
                                  style=style),
            "model": W.Dropdown(options=_options(MODELS), description=label("model"),
                                style=style),
            "optimizer": W.Dropdown(options=_options(OPTIMIZERS),
                                    description=label("optimizer"), style=style),
            "lr": NumberEntry(kind="float", description=label("lr"), slider="log",
                              slider_min=1e-6, slider_max=10.0, step=0.1),
            "epochs": NumberEntry(kind="int", description=label("epochs"), low=1,
                                  slider_max=max(100, epochs)),
            "batch_size": W.Dropdown(options=tuple(sizes), description=label("batch_size"),
                                     style=style),
            "seed": NumberEntry(kind="int", description=label("seed"), slider=None),
        }
        super().__init__(controller, controls, title="Train a model (effdl_kit.training)",
                         export_stem=export_stem, live_figure=True, yscale_toggle=True,
                         interactive=interactive)
        self.summary = W.HTML("")
        self.summary.add_class("effdl-summary")
        self.add_below_figure(self.summary)
        self.listen(self._on_result)

    def _on_result(self, event: Any) -> None:
        if event.kind in ("result", "status"):
            self.summary.value = self.controller.summary()
