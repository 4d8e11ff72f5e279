"""The BTTackler replay, the view: a results-file box, a button, the study's figure and its
verdict table (:class:`ReplayView`, embedded in :class:`~effdl_kit.widgets.DiagnosisPanel`).

It holds no computation: it reads a ``bttackler_replay.json`` written by
``python -m effdl_kit.experiments.bttackler._replay_main`` with
:func:`~effdl_kit.experiments.bttackler.load_replay_study` and shows what
:func:`~effdl_kit.experiments.bttackler.replay_figure` draws and
:meth:`~effdl_kit.experiments.bttackler.ReplayStudy.verdicts` tabulates.
"""

from __future__ import annotations

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
from effdl_kit.reports import label

from ._base import ERROR_STYLE

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
    and rule.

    Columns carry internal names (``task``, ``rule``, ``tsba``, ``tsba_lo``, ``tsba_hi``,
    ``top10hr``, ``top10hr_lo``, ``top10hr_hi``, ``epochs_saved_pct``, ``stop_rate_pct``,
    ``verdict``) that :class:`~effdl_kit.widgets.TableView` shows through the label registry;
    tasks and rules are given by their display names.
    """
    v = study.verdicts(setting)
    return pd.DataFrame({
        "task": [label(t) for t in v["task"]],
        "rule": [RULE_LABELS.get(r, r) for r in v["rule"]],
        "tsba": v["tsba"], "tsba_lo": v["tsba_lo"], "tsba_hi": v["tsba_hi"],
        "top10hr": v["top10hr"], "top10hr_lo": v["top10hr_lo"], "top10hr_hi": v["top10hr_hi"],
        "epochs_saved_pct": 100 * v["epochs_saved"], "stop_rate_pct": 100 * v["stop_rate"],
        "verdict": v["verdict"]})


class ReplayView:
    """Results-file box, setting dropdown, "Show replay" button, figure and table.

    Parameters
    ----------
    path : str or Path, optional
        The result file (default :func:`default_replay_path`).
    on_error : callable, optional
        Called with the exception when loading fails.
    interactive : bool, optional
        ipympl figure (default when installed) or PNG.

    Attributes
    ----------
    figure_view : FigureView
        The replay study's figure.
    table : TableView
        Its verdicts for the chosen setting (sortable, filterable).
    message : ipywidgets.HTML
        Why the file could not be read, right under the box ("" when it could).
    """

    def __init__(self, path: str | Path | None = None, *, on_error: Any = None,
                 interactive: bool | None = None) -> None:
        import ipywidgets as W

        from ._views import FigureView, TableView

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
                               layout=W.Layout(width="auto", min_width="150px"))
        self.button.on_click(lambda _b: self.show())
        self.message = W.HTML("", layout=W.Layout(display="none"))
        self.message.add_class("effdl-field-error")
        self.figure_view = FigureView(self._draw, interactive=interactive)
        self.table = TableView(height="300px")
        self.widget = W.VBox([
            W.HTML("<b>Replay of stop rules on recorded traces</b> (TSBA / Top10HR with 95 % "
                   f"CIs over orderings; paper: TSBA {PAPER['tsba']} %, Top10HR "
                   f"{PAPER['top10hr']} %)"),
            W.HBox([self.path, self.button]), self.message, self.figure_view.widget,
            self.setting, self.table.widget])

    def _draw(self) -> Any:
        if self.study is None:
            raise EffdlError("no replay study loaded: show a result file first")
        return replay_figure(self.study)

    def show(self, path: str | Path | None = None) -> bool:
        """Load the result file and show its figure and table; False (and the error next to
        the box) when it cannot be read."""
        if path is not None:
            self.path.value = str(path)
        try:
            self.study = load_replay_study(self.path.value)
            self.figure_view.redraw()
        except Exception as exc:
            self.study = None
            self.figure_view.clear()
            self.table.show(None)
            self.message.value = f"<div style='{ERROR_STYLE}'>{html.escape(str(exc))}</div>"
            self.message.layout.display = None
            if self.on_error is not None:
                self.on_error(exc)
            return False
        self.message.value = ""
        self.message.layout.display = "none"
        self._render_table()
        return True

    def error_text(self) -> str:
        """The message under the box, as plain text ("" when the file was read)."""
        import re

        return html.unescape(re.sub(r"<[^>]+>", "", self.message.value))

    def _render_table(self) -> None:
        self.table.show(None if self.study is None
                        else replay_table(self.study, self.setting.value))
