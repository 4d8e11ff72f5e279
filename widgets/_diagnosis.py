"""BTTackler live, the view: an ipywidgets panel over :class:`DiagnosisController`.

:class:`DiagnosisPanel` holds no computation: its controls are copied into the controller's
parameters (:mod:`effdl_kit.widgets._diagnosis_controller`, which runs
:func:`effdl_kit.diagnosis.run_diagnosed_study` on a worker thread), and whatever the controller
reports (progress, result, error) is mirrored into the figure, the trial table and the summary.
Stop and Kernel ▸ Interrupt end the study at the next epoch end (the study's own
``should_stop``); the trials run so far stay on screen and exportable. A second section shows
the TSBA / Top10HR figure and headline numbers of a finished ``effdl reproduce bttackler``
results folder, a third the replay of stop rules on recorded traces.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from effdl_kit._core import Scale
from effdl_kit.diagnosis import INDICATORS, MODES, SC_RULES
from effdl_kit.errors import ConfigError
from effdl_kit.experiments.bttackler import METHODS, TASKS
from effdl_kit.reports import INDICATOR_SERIES, label

from ._base import Panel, resolve_controller
from ._diagnosis_controller import (
    DIAGNOSIS_DEFAULTS,
    THRESHOLDS,
    VARIANTS,
    DiagnosisController,
    DiagnosisRun,
)
from ._replay import ReplayView

__all__ = [
    "DIAGNOSIS_DEFAULTS",
    "INDICATOR_SERIES",
    "THRESHOLDS",
    "VARIANTS",
    "DiagnosisController",
    "DiagnosisPanel",
    "DiagnosisRun",
    "parse_enqueue",
]

#: the controls of the left column (the study) and of the right one (the diagnosis)
STUDY_CONTROLS: tuple[str, ...] = ("task", "sampler", "variant", "mode", "n_trials", "epochs",
                                   "seed")
DIAGNOSIS_CONTROLS: tuple[str, ...] = ("indicators", *THRESHOLDS)
#: log-slider range (decades) of each threshold drawn on a log scale
_LOG_RANGES: dict[str, tuple[int, int]] = {
    "agv_min_grad": (-9, -2), "agv_max_grad": (1, 8), "eag_max_ratio": (1, 6),
    "erg_min_ratio": (-8, -1), "plc_min_cov": (-8, -1)}
#: linear-slider range of the other numeric thresholds
_LINEAR_RANGES: dict[str, tuple[float, float]] = {
    "lar_max_zero_fraction": (0.0, 0.99), "nmg_tolerance": (0.0, 0.5)}
#: error lines of the panel's own fields besides the controls: the "try first" box (parameter
#: ``enqueue``) and the results-folder box
_OWN_FIELDS: tuple[str, ...] = ("enqueue", "results_dir")


def parse_enqueue(text: str) -> tuple[dict[str, Any], ...]:
    """The "try first" box: a JSON list of ``{hyper-parameter: value}`` objects (or one).

    Raises
    ------
    ConfigError
        Not JSON, or not a list of objects.
    """
    want = 'a JSON list of objects, e.g. [{"lr": 20.0, "optimizer": "sgd"}]'
    if not str(text).strip():
        return ()
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError("enqueue", text, f"{want} ({exc.msg})") from None
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ConfigError("enqueue", text, want)
    return tuple(value)


def _controls(p: dict[str, Any]) -> dict[str, Any]:
    """The panel's controls (display labels from the registry; every number a NumberEntry)."""
    import ipywidgets as W

    from ._fields import NumberEntry

    style = {"description_width": "110px"}
    lay = W.Layout(width="340px")

    def number(name: str) -> Any:
        if name in _LOG_RANGES:
            lo, hi = _LOG_RANGES[name]
            return NumberEntry(kind="float", description=label(name), slider="log",
                               slider_min=10.0 ** lo, slider_max=10.0 ** hi, step=0.5)
        lo_f, hi_f = _LINEAR_RANGES[name]
        return NumberEntry(kind="float", description=label(name), slider="linear",
                           slider_min=lo_f, slider_max=hi_f, step=0.01)

    def whole(name: str, low: int, slider_max: int) -> Any:
        top = p[name] if isinstance(p[name], int) else low
        return NumberEntry(kind="int", description=label(name), low=low,
                           slider_max=max(slider_max, top))

    controls: dict[str, Any] = {
        "task": W.Dropdown(options=TASKS, description=label("task"), style=style, layout=lay),
        "sampler": W.Dropdown(options=METHODS, description=label("sampler"), style=style,
                              layout=lay),
        "variant": W.ToggleButtons(options=VARIANTS, description=label("variant"),
                                   style=style),
        "mode": W.ToggleButtons(options=MODES, description=label("mode"), style=style),
        "n_trials": whole("n_trials", 1, 100),
        "epochs": whole("epochs", 2, 40),
        "seed": NumberEntry(kind="int", description=label("seed"), slider=None),
        "indicators": W.SelectMultiple(options=INDICATORS, rows=len(INDICATORS),
                                       description=label("indicators"), style=style),
    }
    for name in THRESHOLDS:
        controls[name] = (W.Dropdown(options=SC_RULES, description=label(name), style=style,
                                     layout=lay) if name == "sc_rule" else number(name))
    return controls


class DiagnosisPanel(Panel):
    """Run an Optuna study with or without BTTackler and watch each trial's diagnosis live.

    Controls for the task, sampler, variant, mode, trials, epochs, seed, enabled indicators
    and the main thresholds (two columns, each control with its error line under it); a
    "try first" box (a JSON list of configurations enqueued before the sampler's proposals);
    the live figure (per-trial loss and indicator curves on robust limits, the stopping rule
    marked; the y-axis toggle puts both axes on log or symlog, its "linear" leaves each axis
    its own default) with a choice of the indicator drawn; the sortable trial table; a
    section that shows the TSBA / Top10HR figure and headline numbers of a finished
    ``effdl reproduce bttackler`` results folder; and the replay of stop rules on the recorded
    traces (:class:`~effdl_kit.widgets.ReplayView`). Run goes on a worker thread; Stop and
    Kernel ▸ Interrupt end the study at the next epoch end, the trials so far kept.

    Parameters
    ----------
    controller : DiagnosisController, optional
        Made from ``scale`` and ``params`` when not given.
    scale : {"smoke", "small", "paper"}
    export_stem : str
        Initial export path (without extension).
    results_dir : str or Path, optional
        Initial content of the results-folder box.
    replay_path : str or Path, optional
        Initial content of the replay-results box (default: the committed
        ``docs/results/bttackler_replay.json`` of a source checkout).
    interactive : bool, optional
        ipympl figures (default when installed) or PNG.
    **params
        Initial parameters for a new controller.

    Attributes
    ----------
    table : TableView
        The trials of the current (or last) run.
    results_view : FigureView
        The TSBA / Top10HR figure of the loaded results folder.
    results_table : TableView
        Its headline numbers next to the paper's.

    Examples
    --------
    >>> from effdl_kit.widgets import DiagnosisPanel
    >>> DiagnosisPanel(scale="smoke", enqueue=({"lr": 20.0, "optimizer": "sgd"},))  # doctest: +SKIP
    """

    controller: DiagnosisController

    def __init__(self, controller: DiagnosisController | None = None, *,
                 scale: Scale = "small", export_stem: str = "figures/diagnosis",
                 results_dir: str | Path | None = None,
                 replay_path: str | Path | None = None, interactive: bool | None = None,
                 **params: Any) -> None:
        import ipywidgets as W

        from ._views import FigureView, TableView

        controller = resolve_controller(DiagnosisController, controller, scale, params)
        p = controller.params
        style = {"description_width": "110px"}
        super().__init__(controller, _controls(p),
                         title="BTTackler: diagnosed HPO trials, live",
                         export_stem=export_stem, live_figure=True, yscale_toggle=True,
                         interactive=interactive)
        self.enqueue_box = W.Textarea(
            value=json.dumps(list(p["enqueue"] or ())), description="try first",
            placeholder='[{"lr": 20.0, "optimizer": "sgd"}]', style=style,
            layout=W.Layout(width="680px", height="48px"))
        # two columns of the core's rows (each control above its own error line)
        controls_box = self.widget.children[1]
        rows = dict(zip(self.controls, controls_box.children, strict=True))
        controls_box.children = (
            W.HBox([W.VBox([rows[k] for k in STUDY_CONTROLS]),
                    W.VBox([rows[k] for k in DIAGNOSIS_CONTROLS])]),
            W.VBox([self.enqueue_box, self._field_error_line("enqueue")]))
        self.indicator = W.Dropdown(options=[(s.label, k) for k, s in INDICATOR_SERIES.items()],
                                    value=p["indicator"], description="indicator curve",
                                    style=style, layout=W.Layout(width="460px"))
        self.indicator.observe(self._on_indicator, names="value")
        self.table = TableView(height="240px")
        self.summary = W.HTML("")
        self.summary.add_class("effdl-summary")
        self.add_below_figure(self.indicator, self.summary, self.table.widget)
        # a finished experiment: the box, its error line right under it, figure, table
        self.results_path = W.Text(value="" if results_dir is None else str(results_dir),
                                   description="results folder", style=style,
                                   placeholder="out folder of: effdl reproduce bttackler",
                                   layout=W.Layout(width="520px"))
        self.results_button = W.Button(description="Show TSBA / Top10HR", icon="bar-chart",
                                       tooltip="Load results.json and draw its figures",
                                       layout=W.Layout(width="auto", min_width="200px"))
        self.results_button.on_click(lambda _b: self.show_results())
        self.results_view = FigureView(controller.experiment_figure,
                                       interactive=self.figure_view.interactive)
        self.results_table = TableView(height="200px")
        section = W.VBox([
            W.HTML("<b>TSBA / Top10HR of a finished experiment</b> "
                   "(<code>effdl reproduce bttackler --scale ... --out DIR</code>)"),
            W.HBox([self.results_path, self.results_button]),
            self._field_error_line("results_dir"),
            self.results_view.widget, self.results_table.widget])
        self.replay = ReplayView(replay_path, interactive=self.figure_view.interactive)
        self.widget.children = (*self.widget.children, section, self.replay.widget)
        self._sync_error()
        self.listen(self._on_event)

    def _field_error_line(self, key: str) -> Any:
        import ipywidgets as W

        err = W.HTML("", layout=W.Layout(display="none"))
        err.add_class("effdl-field-error")
        self.field_errors[key] = err
        return err

    # ------------------------------------------------------------------ actions
    def _read_enqueue(self) -> bool:
        """Copy the "try first" box into the ``enqueue`` parameter; False (and the error
        under the box) when it is not a JSON list of objects."""
        c = self.controller
        if c.running:
            return True  # the controller refuses a second run itself
        try:
            c.set(enqueue=parse_enqueue(self.enqueue_box.value))
        except ConfigError as exc:
            c.record_error(exc, field="enqueue")
            self._sync_error()
            return False
        return True

    def start(self) -> bool:
        """What the Run button does: read the controls and the "try first" box, start the
        study on a worker thread (False: bad input, shown next to its field)."""
        return self._read_enqueue() and super().start()

    def run(self) -> Any:
        """Read the controls and the "try first" box and run in this thread; the result
        (None after bad input, shown next to its field)."""
        return super().run() if self._read_enqueue() else None

    def show_results(self, path: str | Path | None = None, *, rewrite: bool = False) -> bool:
        """Load a bttackler results folder and show its TSBA / Top10HR figure and headline.

        Parameters
        ----------
        path : str or Path, optional
            Default: the results-folder box (which is set to ``path`` when given).
        rewrite : bool
            Also redraw the folder's figure and table files.

        Returns
        -------
        bool
            True when shown; False when loading failed (the error sits under the box).
        """
        if path is not None:
            self.results_path.value = str(path)
        c = self.controller
        if c.status != "running":
            c.clear_error()
        try:
            c.load_experiment(self.results_path.value, rewrite=rewrite)
            self.results_view.redraw()
            table = c.experiment_table()
        except Exception as exc:
            c.experiment = None
            self.results_view.clear()
            self.results_table.show(None)
            c.record_error(exc, set_status=False, field="results_dir")
            self._sync_error()
            return False
        self.results_table.show(table)
        self._sync_error()
        return True

    def show_replay(self, path: str | Path | None = None) -> bool:
        """Show a replay result file's figure and verdict table (:meth:`ReplayView.show`);
        False when it cannot be read (the message sits next to its box)."""
        return self.replay.show(path)

    def close(self) -> None:
        """Detach from the controller and close every widget (figures included)."""
        self.results_view.clear()
        self.replay.figure_view.clear()
        super().close()

    # ------------------------------------------------------------------ view updates
    def _sync_error(self) -> None:
        super()._sync_error()
        c = self.controller
        for key in _OWN_FIELDS:
            if key in self.field_errors and not (c.error and c.error_field == key):
                self._show_field_error(key, "")

    def _on_indicator(self, change: Any) -> None:
        self.controller.set(indicator=change["new"])
        if self.controller.result is not None or self.controller.running:
            self.show_figure()

    def _render_table(self) -> None:
        c = self.controller
        try:
            t = c.table()
        except Exception:  # nothing run yet, or the last run failed: no stale rows
            self.table.show(None)
            return
        metric = t.attrs.get("metric", "metric")
        view = t[["number", "state", "metric", "stopped by", "flagged", "epoch", "epochs run",
                  "params"]].rename(columns={
                      "number": "trial", "metric": f"val_{metric}", "stopped by": "stopped_by",
                      "flagged": "fired", "epoch": "epoch_fired", "epochs run": "epochs_run"})
        self.table.show(view)

    def _on_event(self, event: Any) -> None:
        if event.kind in ("progress", "result", "status"):
            self._render_table()
        if event.kind in ("result", "status"):
            self.summary.value = html.escape(self.controller.summary())
