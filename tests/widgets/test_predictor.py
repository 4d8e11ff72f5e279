"""PredictorController and PredictorPanel driven without a browser (tiny forests: ~1 s a run)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

import effdl_kit.models
from effdl_kit._core import SCALES
from effdl_kit._core.validate import Scale
from effdl_kit.errors import ConfigError, DatasetNotFoundError, EffdlError
from effdl_kit.experiments.efficientdl import (
    DATASETS,
    SPLITS,
    Budget,
    load_component_data,
)
from effdl_kit.reports import label, read_provenance
from effdl_kit.testing import assert_paper_ready
from effdl_kit.widgets import ChangeEvent, PredictorController, PredictorPanel
from effdl_kit.widgets._predictor import PREDICTOR_DEFAULTS

TINY: dict[str, Any] = {"n_trees": 8, "n_splits": 2, "n_repeats": 2}


def tiny(**params: Any) -> PredictorController:
    return PredictorController(scale="smoke", **{**TINY, **params})


def test_scale_picks_the_experiment_budget() -> None:
    scales: tuple[Scale, ...] = ("smoke", "small", "paper")
    assert set(scales) == set(PREDICTOR_DEFAULTS) == set(SCALES)
    for scale in scales:
        budget = Budget.for_scale(scale).to_dict()
        params = PredictorController(scale=scale).params
        assert params == PREDICTOR_DEFAULTS[scale]
        assert {k: params[k] for k in budget} == budget
    assert PredictorController().params["n_trees"] == Budget.for_scale("small").n_trees
    with pytest.raises(ConfigError, match="parameter"):
        PredictorController(scale="smoke", trees=3)


def test_run_cross_validates_and_ranks_components() -> None:
    ctrl = tiny(split="grouped", seed=2)
    events: list[ChangeEvent] = []
    ctrl.on_change(events.append)
    res = ctrl.run(raise_errors=True)
    assert ctrl.status == "done" and res is ctrl.result
    assert res["name"] == "kit" and list(res["evaluations"]) == ["grouped"]
    ev = res["evaluations"]["grouped"]
    assert ev["n_splits"] == 2 and len(ev["folds"]) == 2
    data = load_component_data("kit")
    assert len(ev["predictions"]["y_pred"]) == data.n_rows
    assert res["budget"] == {**TINY, "seed": 2}
    imp = np.asarray(res["importance"]["importances"])
    assert imp.shape == (len(res["importance"]["names"]), 2)
    # progress: one step per split plus the importance, then done
    progress = [e.data for e in events if e.kind == "progress"]
    assert [p.done for p in progress] == [0, 1, 2] and {p.total for p in progress} == {2}
    assert "grouped 2-fold CV" in progress[0].message
    assert "permutation importance" in progress[1].message
    kinds = [e.kind for e in events]
    assert kinds.index("result") > max(i for i, k in enumerate(kinds) if k == "progress")
    # the tables follow the result
    table = ctrl.metrics()
    assert list(table["split"]) == ["grouped"]
    assert table["R² mean"].iloc[0] == pytest.approx(np.mean([f["r2"] for f in ev["folds"]]))
    top = ctrl.top()
    assert len(top) == 5 and (np.diff(top["mean"]) <= 0).all()
    assert top["name"].iloc[0] == res["top"][0]["name"]
    assert "kit's data, grouped 2-fold" in ctrl.summary() and top["name"].iloc[0] in ctrl.summary()


def test_same_seed_same_result_other_seed_other_folds() -> None:
    a = tiny(seed=5).run(raise_errors=True)
    b = tiny(seed=5).run(raise_errors=True)
    c = tiny(seed=6).run(raise_errors=True)
    ev_a, ev_b = a["evaluations"]["random"], b["evaluations"]["random"]
    assert ev_a["predictions"] == ev_b["predictions"] and ev_a["mean"] == ev_b["mean"]
    assert a["importance"]["importances"] == b["importance"]["importances"]
    assert (a["evaluations"]["random"]["predictions"]["fold"]
            != c["evaluations"]["random"]["predictions"]["fold"])


def test_authors_data_runs_too(efficientdl_path: Path) -> None:
    ctrl = tiny(dataset="authors")
    res = ctrl.run(raise_errors=True)
    assert res["name"] == "authors" and res["n_rows"] > 1500
    assert "Architecture" not in res["importance"]["names"]
    assert res["evaluations"]["random"]["mean"]["r2"] > 0.3


def test_figure_draws_scatter_and_bars() -> None:
    ctrl = tiny()
    ctrl.run(raise_errors=True)
    fig = ctrl.figure()
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    ax_scatter, ax_bars = fig.axes
    ev = ctrl.result["evaluations"]["random"]
    offsets = np.asarray(ax_scatter.collections[0].get_offsets())
    assert np.allclose(offsets[:, 0], ev["predictions"]["y_true"])
    assert np.allclose(offsets[:, 1], ev["predictions"]["y_pred"])
    # top to bottom: the components in rank order, ten of them
    ticks = sorted(zip(ax_bars.get_yticks(), [t.get_text() for t in ax_bars.get_yticklabels()],
                       strict=True), reverse=True)
    labels = [name for _, name in ticks]
    assert len(labels) == 10
    assert labels == [label(r["name"]) for r in ctrl.result["top"][:10]]  # display labels
    heights = sorted((p.get_width() for p in ax_bars.patches if isinstance(p, Rectangle)),
                     reverse=True)
    assert np.allclose(heights, [r["mean"] for r in ctrl.result["top"][:len(labels)]])


@pytest.mark.parametrize(("params", "field"), [
    ({"dataset": "imagenet"}, "dataset"),
    ({"split": "stratified"}, "split"),
    ({"n_trees": 0}, "n_trees"),
    ({"n_splits": 1}, "n_splits"),
    ({"n_repeats": 0}, "n_repeats"),
    ({"seed": -1}, "seed"),
    ({"n_trees": 2.5}, "n_trees"),
])
def test_bad_parameters_end_in_error_naming_the_field(
        params: dict[str, Any], field: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_work(*args: object, **kwargs: object) -> None:
        raise AssertionError("no work may start")

    monkeypatch.setattr(effdl_kit.models, "evaluate_predictor", no_work)
    ctrl = tiny(**params)
    events: list[ChangeEvent] = []
    ctrl.on_change(events.append)
    assert ctrl.run() is None
    assert ctrl.status == "error" and ctrl.result is None
    assert ctrl.error is not None and f"'{field}'" in ctrl.error
    assert isinstance(ctrl.exception, ConfigError)
    assert not [e for e in events if e.kind == "progress"]


def test_dataset_error_lists_the_allowed_values() -> None:
    with pytest.raises(ConfigError) as info:
        tiny(dataset="nope").run(raise_errors=True)
    for name in DATASETS:
        assert repr(name) in str(info.value)


def test_missing_authors_data_is_an_error_in_the_controller(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EFFDL_RESEARCH_DATA", str(tmp_path))
    ctrl = tiny(dataset="authors")
    assert ctrl.run() is None
    assert isinstance(ctrl.exception, DatasetNotFoundError)
    assert ctrl.error is not None and "EFFDL_RESEARCH_DATA" in ctrl.error


def test_figure_and_tables_before_any_run_are_errors() -> None:
    ctrl = tiny()
    for action in (ctrl.figure, ctrl.metrics, ctrl.top):
        with pytest.raises(Exception, match="run the panel first"):
            action()
    assert ctrl.summary() == "idle"


def test_export_writes_pdf_svg_png_with_provenance(tmp_path: Path) -> None:
    ctrl = tiny(seed=4)
    ctrl.run(raise_errors=True)
    paths = ctrl.export(tmp_path / "pred")
    assert sorted(p.name for p in paths) == ["pred.pdf", "pred.png", "pred.svg"]
    prov = read_provenance(tmp_path / "pred.pdf")
    assert prov["seed"] == 4 and prov["scale"] == "smoke" and prov["panel"] == "predictor"
    assert prov["params"]["n_trees"] == TINY["n_trees"]


# ---------------------------------------------------------------- the ipywidgets view, headless
def test_panel_controls_offer_the_choices() -> None:
    panel = PredictorPanel(scale="smoke", n_trees=40, split="grouped", interactive=False)
    c = panel.controls
    assert [v for _, v in c["dataset"].options] == list(DATASETS)
    assert [v for _, v in c["split"].options] == list(SPLITS)
    assert c["split"].value == "grouped" and c["n_trees"].value == 40
    assert c["n_trees"].slider.description == label("n_trees")
    assert c["n_repeats"].value == Budget.for_scale("smoke").n_repeats
    assert panel.controller.scale == "smoke"
    panel.close()


def test_panel_run_shows_table_figure_and_summary() -> None:
    panel = PredictorPanel(scale="smoke", interactive=False, **TINY)
    panel.controls["split"].value = "grouped"
    panel.controls["n_repeats"].text.value = "3"
    panel.run_button.click()
    ctrl = panel.controller
    assert panel.wait(60) and ctrl.status == "done", ctrl.error
    assert list(ctrl.result["evaluations"]) == ["grouped"]
    assert ctrl.result["importance"]["n_repeats"] == 3
    assert panel.figure_view.png()
    metrics = panel.metrics_table.frame
    assert metrics is not None and list(metrics.iloc[:, 1]) == ["grouped"]
    top = panel.top_table.frame
    assert top is not None and len(top) == 5 and "R² drop" in top.columns
    assert label(ctrl.top()["name"].iloc[0]) == top.iloc[0, 0]
    assert "Top-5 components" in panel.top_title.value
    assert "R²" in panel.summary.value
    assert panel.progress.value == panel.progress.max
    assert panel.error_box.value == ""


def test_a_stop_ends_the_run_at_a_step_boundary(tmp_path: Path) -> None:
    ctrl = tiny()

    def stop_at_importance(event: ChangeEvent) -> None:
        if event.kind == "progress" and "permutation importance" in event.data.message:
            ctrl.stop("test")

    ctrl.on_change(stop_at_importance)
    assert ctrl.run() is None
    assert ctrl.status == "stopped" and ctrl.result is None
    assert "before anything finished: nothing to show" in ctrl.status_text()
    assert "nothing to show" in ctrl.summary()
    with pytest.raises(EffdlError, match="stopped before anything finished"):
        ctrl.export(tmp_path / "none", ("png",))


def test_panel_shows_a_library_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EFFDL_RESEARCH_DATA", str(tmp_path))
    panel = PredictorPanel(scale="smoke", interactive=False, **TINY)
    panel.run_button.click()
    assert panel.wait(60) and panel.controller.status == "done"
    panel.controls["dataset"].value = "authors"
    panel.run_button.click()
    assert panel.controller.status == "error"
    assert "DatasetNotFoundError" in panel.error_text(panel.controller.error_field)
    assert "EFFDL_RESEARCH_DATA" in panel.error_text(panel.controller.error_field)
    # nothing of the last run is left on screen
    assert not panel.figure_view.shown and panel.metrics_table.frame is None
    assert panel.top_table.frame is None and panel.summary.value == ""
    panel.controls["dataset"].value = "kit"
    panel.run_button.click()
    assert panel.wait(60) and panel.controller.status == "done", panel.controller.error
    assert panel.error_box.value == "" and panel.figure_view.shown


def test_panel_errors_sit_beside_their_field() -> None:
    panel = PredictorPanel(scale="smoke", interactive=False, **TINY)
    try:
        panel.controls["n_splits"].text.value = "1"  # below the field's bound
        assert panel.controls["n_splits"].value == TINY["n_splits"]  # never clamped
        assert "1" in panel.error_text("n_splits")
        assert panel.start() is False
        assert panel.controller.status == "error" and panel.controller.error_field == "n_splits"
        panel.controls["n_splits"].text.value = "2"
        panel.controls["seed"].text.value = "-5"  # the library refuses it
        assert panel.start() is False
        assert panel.controller.error_field == "seed"
        assert "'seed'" in panel.error_text("seed") and panel.error_text() == ""
        assert panel.error_text("n_splits") == ""
    finally:
        panel.close()


def test_panel_export_writes_files_that_pass_the_figure_check(tmp_path: Path) -> None:
    panel = PredictorPanel(scale="smoke", export_stem=str(tmp_path / "panel"),
                           interactive=False, **TINY)
    panel.run_button.click()
    assert panel.wait(60)
    panel.export_button.click()
    names = sorted(p.name for p in tmp_path.iterdir() if p.suffix in (".pdf", ".svg", ".png"))
    assert names == ["panel.pdf", "panel.png", "panel.svg"]
    for n in names:
        assert n in panel.export_result.value
    assert read_provenance(tmp_path / "panel.png")["run_status"] == "done"
    assert_paper_ready(panel.controller.figure(), name="predictor figure")


def test_panel_with_controller_takes_no_extra_params() -> None:
    with pytest.raises(ConfigError, match="params"):
        PredictorPanel(PredictorController(scale="smoke"), n_trees=3)
    with pytest.raises(ConfigError, match="controller"):
        not_a_controller: Any = object()
        PredictorPanel(not_a_controller)
