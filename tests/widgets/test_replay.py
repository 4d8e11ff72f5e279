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
    assert "no replay results" in view.message.value and view.output.outputs == ()
    assert view.show(replay_file) is True
    assert view.message.value == ""
    assert view.output.outputs[0]["data"]["image/png"]
    assert "BTTackler (kit)" in view.table.value and "cnn_digits" in view.table.value
    assert "epochs saved %" in view.table.value
    view.setting.value = "injected"
    assert "within noise" in view.table.value or "saves time" in view.table.value \
        or "costs time" in view.table.value
    # an error after a success clears the stale figure and table
    assert view.show(tmp_path / "missing.json") is False
    assert view.output.outputs == () and view.table.value == ""


def test_panel_embeds_the_view(replay_file: Path) -> None:
    panel = DiagnosisPanel(scale="smoke", replay_path=str(replay_file))
    assert panel.replay.path.value == str(replay_file)
    assert panel.replay.widget in panel.widget.children
    assert panel.show_replay() is True
    panel.close()
