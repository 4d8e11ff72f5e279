"""SearchController and SearchPanel driven without a browser (kit data, smoke budgets)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from effdl_kit._core.validate import SCALES
from effdl_kit.errors import ConfigError
from effdl_kit.experiments.efficientdl import SearchBudget
from effdl_kit.reports import read_provenance
from effdl_kit.search import trials_frame
from effdl_kit.testing import assert_paper_ready
from effdl_kit.widgets import ChangeEvent, SearchController, SearchPanel
from effdl_kit.widgets._search import SEARCH_DEFAULTS

SMALL_RUN: dict[str, Any] = {"dataset": "kit", "n_iter": 4, "n_seeds": 2,
                             "baselines": ("random", "tpe")}


@pytest.fixture(scope="module")
def done() -> SearchController:
    ctrl = SearchController(scale="smoke", **SMALL_RUN)
    events: list[ChangeEvent] = []
    ctrl.on_change(events.append)
    ctrl.run(raise_errors=True)
    ctrl.events = events  # type: ignore[attr-defined]
    return ctrl


def test_defaults_follow_the_experiment() -> None:
    for scale in SCALES:
        b = SearchBudget.for_scale(scale)
        p = SearchController(scale=scale).params  # type: ignore[arg-type]
        assert p == SEARCH_DEFAULTS[scale]
        assert p["n_iter"] == b.n_iter and p["n_seeds"] == min(b.seeds, 5)
        assert (p["mode"], p["components"]) == ("kit", "controllable")
        assert (p["alpha"], p["beta"], p["omega"]) == (0.54, 1.01, 0.1)


def test_run_records_every_call_and_grows_live(done: SearchController) -> None:
    res = done.result
    assert res is not None and done.status == "done"
    curves = res["curves"]
    assert set(curves["method"]) == {"alpha_beta_kit", "random", "tpe"}
    assert (curves.groupby(["method", "seed"]).size() == 4).all()
    assert len(done.live) == 3 * 2 * 4
    for _, g in curves.groupby(["method", "seed"]):
        np.testing.assert_array_equal(g["best_so_far"], np.maximum.accumulate(g["value"]))
    progress = [e.data for e in done.events if e.kind == "progress"]  # type: ignore[attr-defined]
    assert progress[-1].done == progress[-1].total == 24
    assert [p.done for p in progress] == sorted(p.done for p in progress)
    # regret against the grid's exhaustive maximum
    np.testing.assert_allclose(curves["regret"], done.setup.grid_max - curves["best_so_far"])
    assert (curves["regret"] >= 0).all()
    table = done.table()
    assert len(table) == 3 and sorted(table["rank"])[0] == 1
    assert {"regret mean", "regret lo", "regret hi", "at grid max"} <= set(table.columns)
    assert "predictor calls" in done.summary() and "95 % CI" in done.summary()
    setup = res["setup"]
    assert setup["dataset"] == "kit" and len(setup["components"]) == 5
    # the task's data components are held fixed, never searched
    assert setup["searchable"] == "controllable"
    assert {"dataset", "n_train"} <= set(setup["fixed"])
    assert not {"dataset", "n_train"} & set(setup["components"])


def test_figure_and_export(done: SearchController, tmp_path: Path) -> None:
    done.view = "curves"
    fig = done.figure()
    assert isinstance(fig, Figure) and len(fig.axes[0].get_lines()) == 3
    assert_paper_ready(fig, name="search curves")
    paths = done.export(tmp_path / "search", ("pdf", "png"))
    assert [p.suffix for p in paths] == [".pdf", ".png"]
    prov = read_provenance(paths[0])
    assert prov["panel"] == "search" and prov["params"]["n_iter"] == 4
    assert prov["run_status"] == "done" and prov["view"] == "curves"


def test_study_of_the_run_holds_every_predictor_call(done: SearchController) -> None:
    study = done.study()
    assert study is done.study()  # built once
    assert len(study.trials) == 3 * 2 * 4
    comps = done.result["setup"]["components"]
    assert set(study.trials[0].params) == set(comps)
    frame = trials_frame(study)
    assert set(frame["method"]) == {"alpha_beta_kit", "random", "tpe"}
    # the study's values are the recorded predictor calls, in the same order
    np.testing.assert_allclose(frame["value"], done.result["curves"]["value"])
    # each recorded configuration gives the recorded value when asked again
    ev = done.result["evaluations"].iloc[5]
    assert done.setup is not None
    assert done.setup.problem.objective({c: ev[c] for c in comps}) == pytest.approx(ev["value"])


@pytest.mark.parametrize("view", ["importance", "parallel"])
def test_importance_and_parallel_views_draw_the_study(done: SearchController, view: str,
                                                      tmp_path: Path) -> None:
    done.view = view
    try:
        fig = done.figure()
        assert_paper_ready(fig, name=f"search {view}")
        comps = done.result["setup"]["components"]
        if view == "importance":
            bars = [p for p in fig.axes[0].patches if isinstance(p, Rectangle)]
            assert len(bars) == len(comps)
            assert sum(b.get_width() for b in bars) == pytest.approx(1.0, abs=0.02)
        else:
            assert len(fig.axes[0].child_axes) == len(comps) + 1  # objective + components
        paths = done.export(tmp_path / view, ("png",))
        assert read_provenance(paths[0])["view"] == view
    finally:
        done.view = "curves"


def test_a_running_search_draws_its_live_curves_in_any_view(done: SearchController) -> None:
    ctrl = SearchController(scale="smoke", **{**SMALL_RUN, "n_iter": 2, "n_seeds": 1})
    ctrl._setups = done._setups
    ctrl.view = "parallel"  # needs the finished run's study: the live run shows its curves
    drawn: list[int] = []
    ctrl.on_change(lambda e: drawn.append(len(ctrl.figure().axes[0].get_lines()))
                   if e.kind == "progress" and ctrl.status == "running" else None)
    ctrl.run(raise_errors=True)
    assert drawn and all(n >= 1 for n in drawn)
    assert ctrl.figure().axes[0].child_axes, "the finished run: parallel coordinates"


def test_a_stop_keeps_the_finished_calls_and_exports_them(done: SearchController,
                                                          tmp_path: Path) -> None:
    ctrl = SearchController(scale="smoke", **{**SMALL_RUN, "n_iter": 6})
    ctrl._setups = done._setups  # the same search problem, already built

    def stop_after_8(event: ChangeEvent) -> None:
        if event.kind == "progress" and event.data.done >= 8:
            ctrl.stop("test")

    ctrl.on_change(stop_after_8)
    res = ctrl.run()
    assert ctrl.status == "stopped" and res is ctrl.result and res["partial"]
    n = len(res["curves"])
    assert 8 <= n < 3 * 2 * 6, "stopped within one predictor call of the request"
    assert "predictor calls" in ctrl.status_text() and "partial result" in ctrl.status_text()
    table = ctrl.table()
    assert table is not None and list(table["seeds"]) == [1]  # the one finished seed run
    assert ctrl.summary().startswith("stopped")
    assert len(ctrl.study().trials) == n
    paths = ctrl.export(tmp_path / "stopped", ("png",))
    prov = read_provenance(paths[0])
    assert prov["run_status"] == "stopped" and prov["stopped"]["reason"] == "test"


@pytest.mark.parametrize(("params", "field"), [
    ({"alpha": -0.5}, "alpha"), ({"beta": -1.0}, "beta"), ({"omega": 1.5}, "omega"),
    ({"n_iter": 0}, "n_iter"), ({"baselines": ("hyperband",)}, "baselines"),
    ({"baselines": "random"}, "baselines"), ({"dataset": "cifar"}, "dataset"),
    ({"mode": "rbf"}, "mode"), ({"components": "data"}, "components"),
])
def test_bad_input_is_reported_before_any_work(params: dict[str, Any], field: str) -> None:
    ctrl = SearchController(scale="smoke", **{**SMALL_RUN, **params})
    assert ctrl.run() is None
    assert ctrl.status == "error" and isinstance(ctrl.exception, ConfigError)
    assert field in str(ctrl.error) and ctrl.error_field == field
    assert ctrl.setup is None and ctrl.live == []


def test_panel_drives_the_controller_and_its_summary_follows_the_state(
        done: SearchController) -> None:
    panel = SearchPanel(done, interactive=False)
    try:
        assert panel.controls["alpha"].value == 0.54
        assert panel.controls["baselines"].value == ("random", "tpe")
        assert "lowest regret" in panel.summary.value and panel.table.frame is not None
        panel.controls["alpha"].text.value = "1.5"
        assert panel.changed_controls() == ["alpha"]
        panel.controls["n_iter"].value = 2
        panel.controls["n_seeds"].value = 1
        panel.controls["baselines"].value = ("random",)
        seen: list[tuple[str, str, str]] = []
        done.on_change(lambda e: seen.append((done.status, panel.summary.value,
                                              panel.error_box.value)))
        panel.run_button.click()
        assert panel.wait(60) and done.status == "done"
        assert done.params["alpha"] == 1.5 and len(done.result["curves"]) == 2 * 2
        for status, summary, error in seen:
            assert "no search result" not in summary + error and "no result" not in summary
            if status == "running":
                assert "running" in summary or "stopping" in summary
        assert "lowest regret" in panel.summary.value and panel.error_box.value == ""
        assert panel.figure_view.png() and panel.table.frame is not None
        assert "Simple regret (mean)" in panel.table.frame.columns or len(
            panel.table.frame.columns) == len(done.table().columns)
        # the earlier run is overlaid, labelled
        legend = [t.get_text() for t in panel.figure_view.figure.axes[0].get_legend().texts]
        assert any(t.startswith("run 1") for t in legend)
        panel.figure_view.clear_runs_button.click()  # "Clear runs": the overlay goes
        legend = [t.get_text() for t in panel.figure_view.figure.axes[0].get_legend().texts]
        assert not any(t.startswith("run ") for t in legend) and len(done.runs) == 1
    finally:
        panel.close()


def test_panel_view_and_yscale_choices_redraw_and_reach_the_export(
        done: SearchController) -> None:
    panel = SearchPanel(done, interactive=False)
    try:
        assert panel.figure_view.shown
        panel.view.value = "importance"
        assert panel.figure_view.figure is not None and panel.error_box.value == ""
        assert panel.figure_view.yscale.disabled
        assert done.provenance()["view"] == "importance"
        panel.view.value = "curves"
        assert not panel.figure_view.yscale.disabled
        panel.figure_view.yscale.value = "symlog"
        assert done.yscale == "symlog" and done.provenance()["yscale"] == "symlog"
        assert panel.figure_view.figure.axes[0].get_yscale() == "symlog"
        assert done.figure().axes[0].get_yscale() == "symlog"  # what Export writes
        panel.figure_view.yscale.value = "linear"
        assert panel.figure_view.figure.axes[0].get_yscale() == "linear"
    finally:
        panel.close()


def test_panel_stop_button_shows_the_partial_curves(done: SearchController,
                                                    tmp_path: Path) -> None:
    panel = SearchPanel(scale="smoke", interactive=False, **{**SMALL_RUN, "n_iter": 8},
                        export_stem=str(tmp_path / "partial"))
    ctrl = panel.controller
    ctrl._setups = done._setups
    ctrl.on_change(lambda e: panel.stop_button.click()
                   if e.kind == "progress" and e.data.done >= 2 else None)
    try:
        panel.run_button.click()
        assert panel.wait(60) and ctrl.status == "stopped"
        assert "partial result" in panel.figure_view.banner.value
        assert panel.figure_view.png() and panel.summary.value.startswith("stopped")
        panel.export_formats.value = ("png",)
        panel.export_button.click()
        assert "partial.png" in panel.export_result.value
        assert read_provenance(tmp_path / "partial.png")["run_status"] == "stopped"
    finally:
        panel.close()


def test_panel_errors_sit_beside_their_field_and_clear_stale_state(
        done: SearchController, tmp_path: Path) -> None:
    panel = SearchPanel(done, interactive=False, export_stem=str(tmp_path / "s"))
    try:
        if done.status != "done":
            panel.run()
        panel.export_formats.value = ("png",)
        panel.export_button.click()
        assert "s.png" in panel.export_result.value and panel.figure_view.shown
        panel.controls["alpha"].text.value = "-1"  # typed below the field's bound
        assert panel.controls["alpha"].value != -1  # not clamped, not taken
        assert "-1" in panel.error_text("alpha")
        panel.run_button.click()
        assert done.status == "error" and done.error_field == "alpha"
        assert not panel.figure_view.shown and panel.export_result.value == ""
        assert panel.table.frame is None and panel.summary.value == ""
        panel.controls["alpha"].text.value = "0.5"
        panel.controls["seed"].text.value = "-5"  # reaches the library, which refuses it
        panel.run_button.click()
        assert panel.wait(60) and done.status == "error" and done.error_field == "seed"
        assert "'seed'" in panel.error_text("seed") and panel.error_text() == ""
        assert panel.error_text("alpha") == ""
    finally:
        panel.close()
