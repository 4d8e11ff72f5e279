"""BTTackler live, the view: an ipywidgets panel over :class:`DiagnosisController`.

:class:`DiagnosisPanel` holds no computation: its controls are copied into the controller's
parameters (:mod:`effdl_kit.widgets._diagnosis_controller`, which runs
:func:`effdl_kit.diagnosis.run_diagnosed_study`), and whatever the controller reports
(progress, result, error) is mirrored into the figure, the trial table and the summary.
A second section shows the TSBA / Top10HR figure and headline numbers of a finished
``effdl reproduce bttackler`` results folder.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from effdl_kit._core import SEED_MAX, Scale
from effdl_kit.diagnosis import INDICATORS, MODES, SC_RULES
from effdl_kit.errors import ConfigError
from effdl_kit.experiments.bttackler import METHODS, TASKS
from effdl_kit.reports import INDICATOR_SERIES

from ._base import Panel, figure_to_png, resolve_controller
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


def _png_output(png: bytes, text: str) -> tuple[dict[str, Any], ...]:
    import base64

    return ({"output_type": "display_data",
             "data": {"image/png": base64.b64encode(png).decode("ascii"), "text/plain": text},
             "metadata": {}},)


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


class DiagnosisPanel(Panel):
    """Run an Optuna study with or without BTTackler and watch each trial's diagnosis live.

    Controls for the task, sampler, variant, mode, trials, epochs, seed, enabled indicators
    and the main thresholds; a "try first" box (a JSON list of configurations enqueued
    before the sampler's proposals); the live figure (per-trial loss and indicator curves,
    the stopping rule marked) with a choice of the indicator drawn; the trial table; and a
    section that shows the TSBA / Top10HR figure and headline numbers of a finished
    ``effdl reproduce bttackler`` results folder; and the replay of stop rules on the recorded
    traces (:class:`~effdl_kit.widgets.ReplayView`: TSBA / Top10HR with CIs per task and rule,
    the controls, each indicator's precision and recall).

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
    **params
        Initial parameters for a new controller.

    Examples
    --------
    >>> from effdl_kit.widgets import DiagnosisPanel
    >>> DiagnosisPanel(scale="smoke", enqueue=({"lr": 20.0, "optimizer": "sgd"},))  # doctest: +SKIP
    """

    controller: DiagnosisController

    def __init__(self, controller: DiagnosisController | None = None, *,
                 scale: Scale = "small", export_stem: str = "figures/diagnosis",
                 results_dir: str | Path | None = None,
                 replay_path: str | Path | None = None, **params: Any) -> None:
        import ipywidgets as W

        controller = resolve_controller(DiagnosisController, controller, scale, params)
        p = controller.params
        style = {"description_width": "110px"}
        lay = W.Layout(width="340px")

        def log_slider(name: str, lo: int, hi: int) -> Any:
            return W.FloatLogSlider(base=10, min=lo, max=hi, step=0.5, value=10.0 ** lo,
                                    description=name, readout_format=".0e", style=style,
                                    layout=lay)

        controls = {
            "task": W.Dropdown(options=TASKS, description="task", style=style, layout=lay),
            "sampler": W.Dropdown(options=METHODS, description="sampler", style=style,
                                  layout=lay),
            "variant": W.ToggleButtons(options=VARIANTS, description="variant", style=style),
            "mode": W.ToggleButtons(options=MODES, description="mode", style=style),
            "n_trials": W.IntSlider(min=1, max=max(100, int(p["n_trials"])), value=1,
                                    description="trials", style=style, layout=lay),
            "epochs": W.IntSlider(min=2, max=max(40, int(p["epochs"])), value=2,
                                  description="epochs", style=style, layout=lay),
            "seed": W.BoundedIntText(min=0, max=SEED_MAX, value=0, description="seed",
                                     style=style, layout=lay),
            "indicators": W.SelectMultiple(options=INDICATORS, rows=len(INDICATORS),
                                           description="indicators", style=style),
            "agv_min_grad": log_slider("AGV min |grad|", -9, -2),
            "agv_max_grad": log_slider("AGV max |grad|", 1, 8),
            "eag_max_ratio": log_slider("EAG max ratio", 1, 6),
            "erg_min_ratio": log_slider("ERG min ratio", -8, -1),
            "lar_max_zero_fraction": W.FloatSlider(min=0.0, max=0.99, step=0.01, value=0.5,
                                                   description="LAR max zeros", style=style,
                                                   layout=lay),
            "plc_min_cov": log_slider("PLC min CoV", -8, -1),
            "sc_rule": W.Dropdown(options=SC_RULES, description="SC rule", style=style,
                                  layout=lay),
            "nmg_tolerance": W.FloatSlider(min=0.0, max=0.5, step=0.01, value=0.0,
                                           description="NMG tolerance", style=style,
                                           layout=lay),
        }
        super().__init__(controller, controls, title="BTTackler: diagnosed HPO trials, live",
                         export_stem=export_stem, live_figure=True)
        self.enqueue_box = W.Textarea(
            value=json.dumps(list(p["enqueue"] or ())), description="try first",
            placeholder='[{"lr": 20.0, "optimizer": "sgd"}]', style=style,
            layout=W.Layout(width="680px", height="48px"))
        self.indicator = W.Dropdown(options=[(s.label, k) for k, s in INDICATOR_SERIES.items()],
                                    value=p["indicator"], description="indicator curve",
                                    style=style, layout=W.Layout(width="460px"))
        self.indicator.observe(self._on_indicator, names="value")
        self.table = W.HTML("")
        self.summary = W.HTML("")
        self.results_path = W.Text(value="" if results_dir is None else str(results_dir),
                                   description="results folder", style=style,
                                   placeholder="out folder of: effdl reproduce bttackler",
                                   layout=W.Layout(width="520px"))
        self.results_button = W.Button(description="Show TSBA / Top10HR", icon="bar-chart",
                                       tooltip="Load results.json and draw its figures")
        self.results_button.on_click(lambda _b: self.show_results())
        self.results_table = W.HTML("")
        self.results_output = W.Output(layout=W.Layout(min_height="20px"))
        c = self.controls
        study_box = W.VBox([c[k] for k in ("task", "sampler", "variant", "mode", "n_trials",
                                           "epochs", "seed")])
        diag_box = W.VBox([c[k] for k in ("indicators", *THRESHOLDS)])
        children = list(self.widget.children)
        children[1] = W.VBox([W.HBox([study_box, diag_box]), self.enqueue_box])
        at = children.index(self.figure_area)
        children[at:at + 1] = [self.indicator, self.figure_area, self.table]
        children += [
            self.summary,
            W.HTML("<b>TSBA / Top10HR of a finished experiment</b> "
                   "(<code>effdl reproduce bttackler --scale ... --out DIR</code>)"),
            W.HBox([self.results_path, self.results_button]),
            self.results_table, self.results_output,
        ]
        self.replay = ReplayView(replay_path)
        children.append(self.replay.widget)
        self.widget.children = tuple(children)
        controller.on_change(self._on_event)

    # ------------------------------------------------------------------ actions
    def read_controls(self) -> None:
        """Copy the controls and the "try first" box into the controller's parameters.

        Raises
        ------
        ConfigError
            The "try first" box does not hold a JSON list of objects.
        """
        super().read_controls()
        self.controller.set(enqueue=parse_enqueue(self.enqueue_box.value))

    def run(self) -> Any:
        """What the Run button does; a malformed "try first" box is shown as the error."""
        try:
            self.read_controls()
        except ConfigError as exc:
            self.controller.record_error(exc)
            return None
        return self.controller.run()

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
            True when shown; False when loading failed (the error is in the error box).
        """
        if path is not None:
            self.results_path.value = str(path)
        c = self.controller
        if c.status != "running":
            c.clear_error()
        try:
            c.load_experiment(self.results_path.value, rewrite=rewrite)
            fig = c.experiment_figure()
            png = figure_to_png(fig)
            table = c.experiment_table()
        except Exception as exc:
            c.record_error(exc, set_status=False)
            self.results_output.outputs = ()
            self.results_table.value = ""
            return False
        self.results_output.outputs = _png_output(png, "<bttackler TSBA / Top10HR figure>")
        self.results_table.value = table.to_html(
            index=False, border=0, na_rep="", float_format=lambda v: f"{v:.2f}")
        return True

    def show_replay(self, path: str | Path | None = None) -> bool:
        """Show a replay result file's figure and verdict table (:meth:`ReplayView.show`);
        False when it cannot be read (the message sits next to its box)."""
        return self.replay.show(path)

    # ------------------------------------------------------------------ view updates
    def _on_indicator(self, change: Any) -> None:
        self.controller.set(indicator=change["new"])
        if self.controller.result is not None or self.controller.live:
            self.show_figure()

    def _render_table(self) -> None:
        c = self.controller
        if not c.trials and c.result is None:
            self.table.value = ""
            return
        t = c.table()
        metric = t.attrs.get("metric", "metric")
        cols = ["number", "state", "metric", "stopped by", "flagged", "epoch", "epochs run",
                "params"]
        view = t[cols].rename(columns={"metric": f"val {metric}", "flagged": "fired"})
        self.table.value = (
            "<div style='max-height:260px;overflow:auto;font-size:smaller'>"
            + view.to_html(index=False, border=0, na_rep="",
                           float_format=lambda v: f"{v:.4g}") + "</div>")

    def _on_event(self, event: Any) -> None:
        if event.kind in ("progress", "result"):
            self._render_table()
        if event.kind in ("result", "status"):
            self.summary.value = html.escape(self.controller.summary())
