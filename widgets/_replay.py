"""The BTTackler replay, the view: a results-file box, a button, the study's figure and its
verdict table (:class:`ReplayView`, embedded in :class:`~effdl_kit.widgets.DiagnosisPanel`).

It holds no computation: it reads a ``bttackler_replay.json`` written by
``python -m effdl_kit.experiments.bttackler._replay_main`` with
:func:`~effdl_kit.experiments.bttackler.load_replay_study` and shows what
:func:`~effdl_kit.experiments.bttackler.replay_figure` draws and
:meth:`~effdl_kit.experiments.bttackler.ReplayStudy.verdicts` tabulates.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

import pandas as pd

from effdl_kit.errors import EffdlError
from effdl_kit.experiments.bttackler import (
    PAPER,
    REPLAY_SETTINGS,
    RULE_LABELS,
    ReplayStudy,
    kit_traces_path,
    load_replay_study,
    replay_figure,
)

from ._base import figure_to_png

__all__ = ["ReplayView", "default_replay_path", "replay_table"]

_SETTING_LABELS = {"random": "random orderings, epoch clock", "wall": "wall clock",
                   "tpe": "TPE-ordered", "injected": "positive control (injected pathologies)",
                   "ablation": "leave one indicator out"}


def default_replay_path() -> str:
    """The committed ``docs/results/bttackler_replay.json`` of a source checkout ("" when
    absent)."""
    try:
        root = kit_traces_path().parents[1]
    except EffdlError:
        return ""
    path = root / "docs" / "results" / "bttackler_replay.json"
    return str(path) if path.is_file() else ""


def replay_table(study: ReplayStudy, setting: str = "random") -> pd.DataFrame:
    """TSBA and Top10HR (%, mean and 95 % CI), epochs saved, stop rate and verdict per task
    and rule."""
    v = study.verdicts(setting)
    return pd.DataFrame({
        "task": v["task"], "rule": [RULE_LABELS.get(r, r) for r in v["rule"]],
        "TSBA %": v["tsba"], "TSBA lo": v["tsba_lo"], "TSBA hi": v["tsba_hi"],
        "Top10HR %": v["top10hr"], "Top10HR lo": v["top10hr_lo"],
        "Top10HR hi": v["top10hr_hi"], "epochs saved %": 100 * v["epochs_saved"],
        "stopped %": 100 * v["stop_rate"],
        "verdict": v["verdict"]})


class ReplayView:
    """Results-file box, setting dropdown, "Show replay" button, figure and table.

    Parameters
    ----------
    path : str or Path, optional
        The result file (default :func:`default_replay_path`).
    on_error : callable, optional
        Called with the exception when loading fails (the panel's error box).
    """

    def __init__(self, path: str | Path | None = None, *, on_error: Any = None) -> None:
        import ipywidgets as W

        self.on_error = on_error
        self.study: ReplayStudy | None = None
        style = {"description_width": "initial"}
        self.path = W.Text(value=default_replay_path() if path is None else str(path),
                           description="replay results", style=style,
                           placeholder="bttackler_replay.json", layout=W.Layout(width="520px"))
        self.setting = W.Dropdown(options=[(_SETTING_LABELS[s], s) for s in REPLAY_SETTINGS],
                                  value="random", description="table", style=style,
                                  layout=W.Layout(width="380px"))
        self.setting.observe(lambda _c: self._render_table(), names="value")
        self.button = W.Button(description="Show replay", icon="bar-chart",
                               tooltip="Load the replay study and draw its figure",
                               layout=W.Layout(width="150px"))
        self.button.on_click(lambda _b: self.show())
        self.message = W.HTML("")
        self.output = W.Output(layout=W.Layout(min_height="20px"))
        self.table = W.HTML("")
        self.widget = W.VBox([
            W.HTML("<b>Replay of stop rules on recorded traces</b> (TSBA / Top10HR with 95 % "
                   f"CIs over orderings; paper: TSBA {PAPER['tsba']} %, Top10HR "
                   f"{PAPER['top10hr']} %)"),
            W.HBox([self.path, self.button]), self.message, self.output, self.setting,
            self.table])

    def show(self, path: str | Path | None = None) -> bool:
        """Load the result file and show its figure and table; False (and the error next to
        the box) when it cannot be read."""
        if path is not None:
            self.path.value = str(path)
        try:
            study = load_replay_study(self.path.value)
            png = figure_to_png(replay_figure(study))
        except Exception as exc:
            self.study = None
            self.output.outputs = ()
            self.table.value = ""
            self.message.value = (f"<span style='color:#b00020'>{html.escape(str(exc))}"
                                  "</span>")
            if self.on_error is not None:
                self.on_error(exc)
            return False
        self.study = study
        self.message.value = ""
        self.output.outputs = ({
            "output_type": "display_data",
            "data": {"image/png": base64.b64encode(png).decode("ascii"),
                     "text/plain": "<bttackler replay figure>"},
            "metadata": {}},)
        self._render_table()
        return True

    def _render_table(self) -> None:
        if self.study is None:
            self.table.value = ""
            return
        t = replay_table(self.study, self.setting.value)
        self.table.value = (
            "<div style='max-height:320px;overflow:auto;font-size:smaller'>"
            + t.to_html(index=False, border=0, na_rep="", float_format=lambda v: f"{v:.1f}")
            + "</div>")
