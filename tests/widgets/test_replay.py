"""ReplayView (inside DiagnosisPanel): shows a replay result file's figure and verdicts."""

from __future__ import annotations

from pathlib import Path

import pytest

from effdl_kit.experiments.bttackler import ReplayBudget, kit_traces_path, run_replay_study
from effdl_kit.experiments.bttackler._replay_main import write_replay_results
from effdl_kit.widgets import DiagnosisPanel, ReplayView


@pytest.fixture(scope="module")
def replay_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    budget = ReplayBudget(("cnn_digits",), n_orderings=4, tpe_runs=2, budget_fraction=0.5,
                          n_boot=100, ablation_orderings=2)
    out = tmp_path_factory.mktemp("replay")
    lines = kit_traces_path().read_text().splitlines()
    rows = [ln for ln in lines[1:] if '"trace_task": "cnn_digits"' in ln]
    traces = out / "traces.jsonl"
    traces.write_text("\n".join([lines[0], *[ln for ln in rows if '"none"' in ln][:30],
                                  *[ln for ln in rows if '"lr_high"' in ln][:6]]) + "\n")
    write_replay_results(run_replay_study(traces, budget=budget), out, command="test",
                         wall_s=0.0)
    return out / "bttackler_replay.json"


def test_view_shows_figure_and_table(replay_file: Path, tmp_path: Path) -> None:
    view = ReplayView(path="")
    assert view.show(tmp_path / "missing.json") is False
    assert "no replay results" in view.error_text() and not view.figure_view.shown
    assert view.message.layout.display is None  # under the box, in red
    assert view.show(replay_file) is True
    assert view.error_text() == "" and view.message.layout.display == "none"
    canvas = view.figure_view.canvas_box.children[0]  # an interactive (ipympl) figure
    assert type(canvas).__name__ == "Canvas" and canvas.figure is view.figure_view.figure
    t = view.table.frame  # a sortable grid with display labels
    assert t is not None and type(view.table.grid).__name__ == "DataGrid"
    from effdl_kit.reports import label

    assert {label("task"), label("rule"), label("tsba"), label("top10hr")} <= set(t.columns)
    assert label("tsba_lo") in t.columns and "TSBA (%)" in t.columns
    assert "BTTackler (kit)" in set(t[label("rule")]) and set(t[label("task")]) == {
        "CNN digits"}
    view.setting.value = "injected"
    verdicts = set(view.table.frame.iloc[:, -1])
    assert verdicts & {"within noise", "saves time", "costs time"}
    # an error after a success clears the stale figure and table
    assert view.show(tmp_path / "missing.json") is False
    assert not view.figure_view.shown and view.table.frame is None


def test_replay_table_labels_come_from_the_registry(replay_file: Path) -> None:
    from effdl_kit.experiments.bttackler import load_replay_study
    from effdl_kit.reports import humanize_columns, label
    from effdl_kit.widgets._replay import replay_table

    t = replay_table(load_replay_study(replay_file))
    shown = humanize_columns(t)  # what the TableView shows
    assert label("tsba") in shown.columns and label("top10hr") in shown.columns
    assert not [c for c in shown.columns if "_" in c]  # no raw internal names
    v = load_replay_study(replay_file).verdicts("random")
    assert list(t["tsba"]) == list(v["tsba"]) and set(t["task"]) == {"CNN digits"}


def test_panel_embeds_the_view(replay_file: Path) -> None:
    panel = DiagnosisPanel(scale="smoke", replay_path=str(replay_file))
    assert panel.replay.path.value == str(replay_file)
    assert panel.replay.widget in panel.widget.children
    assert panel.show_replay() is True and panel.replay.figure_view.shown
    panel.close()
