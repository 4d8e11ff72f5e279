"""SpeedupController / SpeedupPanel driven without a browser (smoke budget)."""

from __future__ import annotations

from pathlib import Path

import pytest
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure

from effdl_kit.errors import ConfigError
from effdl_kit.reports import label, read_provenance
from effdl_kit.speedups import AA_LABEL, POSITIVE_LABEL
from effdl_kit.testing import assert_paper_ready
from effdl_kit.widgets import ChangeEvent
from effdl_kit.widgets._speedup import (
    SPEEDUP_DEFAULTS,
    SpeedupController,
    SpeedupPanel,
    SpeedupResult,
)


def smoke(**params: object) -> SpeedupController:
    params.setdefault("methods", ("label_smoothing",))
    params.setdefault("budgets", (1,))
    return SpeedupController(scale="smoke", **params)


def test_defaults_per_scale() -> None:
    assert SpeedupController(scale="smoke").params == SPEEDUP_DEFAULTS["smoke"]
    small = SpeedupController().params
    assert len(small["budgets"]) >= 5 and small["n_seeds"] >= 3


def test_run_grows_the_pareto_plot_live_and_exports(tmp_path: Path) -> None:
    ctrl = smoke(budgets=(1, 2))
    sizes: list[int] = []

    def on_progress(event: ChangeEvent) -> None:
        if event.kind == "progress":
            sizes.append(len(ctrl.runs_so_far()))
            if event.data.done in (1, 7):  # drawn from the runs so far (a few: drawing costs)
                fig = ctrl.figure()
                assert isinstance(fig, Figure) and ctrl.result is None
                dots = sum(len(c.get_offsets()) for c in fig.axes[0].collections
                           if isinstance(c, PathCollection))
                assert dots == event.data.done  # every finished run is a dot

    ctrl.on_change(on_progress)
    res = ctrl.run(raise_errors=True)
    assert isinstance(res, SpeedupResult) and ctrl.status == "done"
    # the baseline, the method and the A/A arm at 2 budgets x 2 seeds, one event per run
    assert sizes == list(range(1, 13)) and len(res.runs) == 12
    assert set(res.runs["method"]) == {"baseline", "label_smoothing", AA_LABEL}
    assert set(res.frontier["method"]) == {"baseline", "label_smoothing", AA_LABEL,
                                           POSITIVE_LABEL}
    assert "label_smoothing:" in ctrl.summary() and "CI [" in ctrl.summary()
    paths = ctrl.export(tmp_path / "pareto", ("png",))
    assert [p.suffix for p in paths] == [".png"] and paths[0].stat().st_size > 0


@pytest.mark.parametrize(("params", "match"), [
    ({"budgets": (2, 1)}, "budgets"),
    ({"methods": ()}, "non-empty"),
    ({"methods": ("warp_speed",)}, "methods"),
    ({"n_seeds": 0}, "n_seeds"),
])
def test_bad_input_is_shown_as_an_error_before_training(params: dict[str, object],
                                                        match: str) -> None:
    ctrl = smoke(**params)
    statuses: list[str] = []
    ctrl.on_change(lambda e: statuses.append(e.data) if e.kind == "status" else None)
    assert ctrl.run() is None
    assert ctrl.status == "error" and match in (ctrl.error or "")
    assert "running" not in statuses and isinstance(ctrl.exception, ConfigError)


def test_a_stop_keeps_the_finished_runs_and_exports_them(tmp_path: Path) -> None:
    ctrl = smoke(budgets=(1, 2))

    def stop_after_3(event: ChangeEvent) -> None:
        if event.kind == "progress" and event.data.done >= 3:
            ctrl.stop("test")

    ctrl.on_change(stop_after_3)
    res = ctrl.run()
    assert ctrl.status == "stopped" and isinstance(res, SpeedupResult) and res.partial
    assert len(res.runs) == 3, "stopped after the training run that was going"
    assert res.frontier is None and "no verdict" in ctrl.summary()
    assert "after 3/12 training runs" in ctrl.status_text()
    fig = ctrl.figure()
    assert_paper_ready(fig, name="partial Pareto plot")
    paths = ctrl.export(tmp_path / "stopped", ("png",))
    prov = read_provenance(paths[0])
    assert prov["run_status"] == "stopped" and prov["stopped"]["progress"] == "3/12 training runs"


def test_panel_runs_in_the_background_with_the_controls_and_a_table(tmp_path: Path) -> None:
    panel = SpeedupPanel(scale="smoke", budgets=(1,), methods=("ema",), interactive=False,
                         export_stem=str(tmp_path / "pareto"))
    try:
        assert panel.controls["n_seeds"].slider.description == label("n_seeds")
        assert ("EMA of weights", "ema") in panel.controls["methods"].options
        panel.run_button.click()
        assert panel.wait(120) and panel.controller.status == "done"
        frontier = panel.table.frame
        assert frontier is not None and len(frontier) == 4  # baseline, ema, A/A, control
        assert "ema:" in panel.summary.value and panel.figure_view.png()
        panel.export_formats.value = ("png",)
        panel.export_button.click()
        assert "pareto.png" in panel.export_result.value
        assert_paper_ready(panel.controller.figure(), name="Pareto plot")
        # a typed seed count above the field's bound: an error beside it, never clamped
        panel.controls["n_seeds"].text.value = "25"
        assert panel.controls["n_seeds"].value == 2 and "25" in panel.error_text("n_seeds")
        assert panel.start() is False
        assert panel.controller.error_field == "n_seeds"
        # nothing of the last run stays on screen after the error
        assert not panel.figure_view.shown and panel.export_result.value == ""
        assert panel.table.frame is None and panel.summary.value == ""
        panel.controls["n_seeds"].text.value = "2"
        panel.controls["seed"].text.value = "-5"  # the library refuses it, beside seed
        assert panel.start() is False
        assert panel.controller.error_field == "seed" and "'seed'" in panel.error_text("seed")
        assert panel.error_text("n_seeds") == "" and panel.error_text() == ""
    finally:
        panel.close()


def test_panel_reads_controls_and_shows_errors() -> None:
    pytest.importorskip("ipywidgets")
    panel = SpeedupPanel(scale="smoke", budgets=(1,), methods=("ema",), interactive=False)
    panel.controls["budgets"].value = (2, 3)
    panel.controls["methods"].value = ()
    assert set(panel.changed_controls()) == {"budgets", "methods"}
    panel.run()
    assert panel.controller.status == "error"
    assert "non-empty" in panel.error_text("methods") and panel.error_text() == ""
    panel.close()
