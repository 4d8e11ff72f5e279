"""PanelController and Panel, driven without a browser through a tiny concrete controller."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from matplotlib.figure import Figure

from effdl_kit._core.rng import as_generator
from effdl_kit._core.validate import check_float, check_int
from effdl_kit.errors import ConfigError, EffdlError
from effdl_kit.widgets import ChangeEvent, Panel, PanelController, Progress


class WalkController(PanelController):
    """A seeded random walk of ``steps`` steps of size ``step``; one progress report a step."""

    defaults: ClassVar[dict[str, Any]] = {"steps": 5, "step": 1.0, "seed": 0}
    name: ClassVar[str] = "walk"

    def __init__(self, **kw: Any) -> None:
        self.computed = 0
        super().__init__(**kw)

    def prepare(self) -> tuple[int, float, int]:
        p = self.params
        return (check_int("steps", p["steps"], min_value=1, max_value=1000),
                check_float("step", p["step"], min_value=0.0, min_inclusive=False),
                check_int("seed", p["seed"], min_value=0))

    def compute(self, prepared: tuple[int, float, int]) -> np.ndarray:
        steps, step, seed = prepared
        self.computed += 1
        rng = as_generator(seed)
        pos = [0.0]
        for i in range(steps):
            pos.append(pos[-1] + step * float(rng.choice([-1.0, 1.0])))
            self.report_progress(i + 1, steps, f"step {i + 1}")
        if step > 100:
            raise RuntimeError("walked off the map")
        return np.asarray(pos)

    def figure(self) -> Figure:
        if self.result is None:
            raise EffdlError("nothing to draw")
        fig = Figure(figsize=(3, 2))
        fig.add_subplot().plot(self.result)
        return fig


def record(ctrl: PanelController) -> list[ChangeEvent]:
    events: list[ChangeEvent] = []
    ctrl.on_change(events.append)
    return events


def test_run_stores_result_and_notifies_in_order() -> None:
    ctrl = WalkController(steps=4, seed=3)
    events = record(ctrl)
    res = ctrl.run()
    assert ctrl.status == "done" and ctrl.error is None
    assert res is ctrl.result and len(res) == 5
    assert np.allclose(np.abs(np.diff(res)), 1.0)
    kinds = [e.kind for e in events]
    assert kinds == ["status"] + ["progress"] * 4 + ["status", "result"]
    assert [e.data for e in events if e.kind == "status"] == ["running", "done"]
    progress = [e.data for e in events if e.kind == "progress"]
    assert [p.done for p in progress] == [1, 2, 3, 4] and {p.total for p in progress} == {4}
    assert progress[-1].fraction == 1.0 and ctrl.last_progress == progress[-1]
    assert all(e.controller is ctrl for e in events)


def test_same_seed_same_result_other_seed_differs() -> None:
    a = WalkController(steps=30, seed=1).run()
    b = WalkController(steps=30, seed=1).run()
    c = WalkController(steps=30, seed=2).run()
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_unknown_parameter_or_scale_rejected_up_front() -> None:
    with pytest.raises(ConfigError, match="'parameter'.*'steps'"):
        WalkController(stepz=3)
    ctrl = WalkController()
    with pytest.raises(ConfigError, match="parameter"):
        ctrl.set(nope=1)
    with pytest.raises(ConfigError, match="'scale'.*'smoke'"):
        WalkController(scale="huge")


def test_bad_value_ends_in_error_before_any_work() -> None:
    ctrl = WalkController(step=-2.0)
    events = record(ctrl)
    assert ctrl.run() is None
    assert ctrl.status == "error" and ctrl.result is None
    assert ctrl.error is not None and ctrl.error.startswith("ConfigError: ")
    assert "'step'" in ctrl.error and isinstance(ctrl.exception, ConfigError)
    assert ctrl.computed == 0  # validation failed before compute()
    assert "running" not in [e.data for e in events if e.kind == "status"]
    assert [e.data for e in events if e.kind == "error"] == [ctrl.error]


def test_raise_errors_reraises_the_recorded_exception() -> None:
    ctrl = WalkController(steps=0)
    with pytest.raises(ConfigError, match="'steps'") as info:
        ctrl.run(raise_errors=True)
    assert ctrl.exception is info.value and ctrl.status == "error"


def test_failure_inside_compute_is_recorded_not_swallowed() -> None:
    ctrl = WalkController(step=1000.0, steps=2)
    assert ctrl.run() is None
    assert ctrl.status == "error" and ctrl.error == "RuntimeError: walked off the map"
    assert ctrl.computed == 1
    # a later good run clears the error
    ctrl.set(step=1.0)
    assert ctrl.run() is not None
    assert ctrl.status == "done" and ctrl.error is None and ctrl.exception is None


def test_interrupt_is_recorded_and_reraised() -> None:
    ctrl = WalkController(steps=3)

    def interrupt(event: ChangeEvent) -> None:
        if event.kind == "progress" and event.data.done == 2:
            raise KeyboardInterrupt

    remove = ctrl.on_change(interrupt)
    with pytest.raises(KeyboardInterrupt):
        ctrl.run()
    assert ctrl.status == "error" and ctrl.error == "KeyboardInterrupt"
    remove()
    assert ctrl.run() is not None and ctrl.status == "done"  # not stuck in "running"


def test_set_notifies_only_real_changes_and_listener_can_be_removed() -> None:
    ctrl = WalkController()
    events: list[ChangeEvent] = []
    remove = ctrl.on_change(events.append)
    ctrl.set(steps=5)  # unchanged
    ctrl.set(steps=7, seed=0)
    assert [(e.kind, e.data) for e in events] == [("params", {"steps": 7})]
    remove()
    ctrl.set(steps=8)
    assert len(events) == 1
    with pytest.raises(ConfigError, match="callback"):
        ctrl.on_change("not callable")  # type: ignore[arg-type]


def test_export_writes_every_format(tmp_path: Path) -> None:
    ctrl = WalkController(seed=4, scale="smoke")
    ctrl.run(raise_errors=True)
    paths = ctrl.export(tmp_path / "sub" / "walk")
    assert sorted(p.suffix for p in paths) == [".pdf", ".png", ".svg"]
    for p in paths:
        assert p.exists() and p.stat().st_size > 0
    assert paths[0].parent == tmp_path / "sub"
    assert (tmp_path / "sub" / "walk.pdf").read_bytes().startswith(b"%PDF")
    assert (tmp_path / "sub" / "walk.png").read_bytes().startswith(b"\x89PNG")
    assert b"<svg" in (tmp_path / "sub" / "walk.svg").read_bytes()[:2000]
    only = ctrl.export(tmp_path / "png_only", formats=("png",))
    assert [p.name for p in only] == ["png_only.png"]


def test_export_records_provenance(tmp_path: Path) -> None:
    from effdl_kit.reports import read_provenance

    ctrl = WalkController(seed=11, steps=3, scale="smoke")
    ctrl.run(raise_errors=True)
    for path in ctrl.export(tmp_path / "prov"):
        rec = read_provenance(path)
        assert rec["seed"] == 11 and rec["scale"] == "smoke", path
        assert rec["panel"] == "walk"
        assert rec["params"] == {"steps": 3, "step": 1.0, "seed": 11}


def test_export_errors(tmp_path: Path) -> None:
    ctrl = WalkController()
    with pytest.raises(EffdlError, match="run the panel first"):
        ctrl.export(tmp_path / "x")
    assert ctrl.export(tmp_path / "x", raise_errors=False) == []
    assert ctrl.error is not None and "run the panel first" in ctrl.error
    assert ctrl.status == "idle"  # an export failure does not rewrite the run status
    ctrl.run(raise_errors=True)
    with pytest.raises(ConfigError, match="'formats'.*'pdf'"):
        ctrl.export(tmp_path / "x", formats=("jpg",))
    with pytest.raises(ConfigError, match="formats"):
        ctrl.export(tmp_path / "x", formats=())
    assert not list(tmp_path.iterdir())


def test_importing_widgets_does_not_import_ipywidgets() -> None:
    code = (
        "import sys\n"
        "from effdl_kit.widgets import TrainController, PanelController\n"
        "c = TrainController(scale='smoke')\n"
        "bad = [m for m in ('ipywidgets', 'IPython') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr


# ---------------------------------------------------------------- the ipywidgets view, headless
def make_panel(**kw: Any) -> tuple[Panel, WalkController]:
    import ipywidgets as W

    ctrl = WalkController(**kw)
    controls = {"steps": W.IntSlider(min=1, max=50), "step": W.FloatText(),
                "seed": W.IntText()}
    return Panel(ctrl, controls, title="walk", export_stem="walk"), ctrl


def figure_png(panel: Panel) -> str | None:
    outs = panel.figure_output.outputs
    return outs[0]["data"]["image/png"] if outs else None


def test_panel_controls_start_from_controller_params() -> None:
    panel, _ctrl = make_panel(steps=9, step=0.5, seed=2)
    assert panel.controls["steps"].value == 9 and panel.controls["step"].value == 0.5
    assert panel.error_box.layout.display == "none" and figure_png(panel) is None
    bundle = panel._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle


def test_panel_run_click_reads_controls_and_shows_figure() -> None:
    panel, ctrl = make_panel()
    panel.controls["steps"].value = 6
    panel.controls["seed"].value = 5
    panel.run_button.click()
    assert ctrl.params["steps"] == 6 and ctrl.status == "done"
    assert len(ctrl.result) == 7
    assert panel.progress.value == panel.progress.max == 6
    assert panel.progress.bar_style == "success"
    assert "done" in panel.status_label.value
    png = figure_png(panel)
    assert png is not None and len(png) > 100
    assert not panel.run_button.disabled
    panel.controls["seed"].value = 6
    panel.run_button.click()
    assert figure_png(panel) != png  # another walk, another picture


def test_panel_status_names_changed_controls_until_run() -> None:
    panel, ctrl = make_panel()
    assert panel.changed_controls() == [] and "changed" not in panel.status_label.value
    panel.controls["steps"].value = 8
    panel.controls["step"].value = 1.0 + 1e-13  # float noise from a slider is no change
    assert panel.changed_controls() == ["steps"]
    assert "changed: steps" in panel.status_label.value
    panel.run_button.click()
    assert ctrl.params["steps"] == 8 and panel.changed_controls() == []
    assert "changed" not in panel.status_label.value
    ctrl.set(seed=4)  # changed from code: the control now differs from the parameters
    assert "changed: seed" in panel.status_label.value


def test_panel_shows_error_in_red_and_clears_it() -> None:
    panel, ctrl = make_panel()
    panel.controls["step"].value = -1.0
    panel.run_button.click()
    assert ctrl.status == "error"
    assert panel.error_box.layout.display is None
    assert "ConfigError" in panel.error_box.value and "&#x27;step&#x27;" in panel.error_box.value
    assert "#b00020" in panel.error_box.value
    assert panel.progress.bar_style == "danger"
    panel.controls["step"].value = 1.0
    panel.run_button.click()
    assert ctrl.status == "done"
    assert panel.error_box.value == "" and panel.error_box.layout.display == "none"


def test_panel_export_click_lists_files(tmp_path: Path) -> None:
    panel, _ctrl = make_panel()
    panel.export_path.value = str(tmp_path / "fig")
    panel.export_button.click()  # nothing to export yet -> error box, no files
    assert "run the panel first" in panel.error_box.value and not list(tmp_path.iterdir())
    panel.run_button.click()
    panel.export_formats.value = ("pdf", "png")
    panel.export_button.click()
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix in (".pdf", ".png", ".svg")) \
        == ["fig.pdf", "fig.png"]
    assert "fig.pdf" in panel.export_result.value and "fig.png" in panel.export_result.value
    assert panel.error_box.value == ""


def test_panel_rejects_controls_that_are_not_parameters() -> None:
    import ipywidgets as W

    with pytest.raises(ConfigError, match="controls"):
        Panel(WalkController(), {"speed": W.IntText()})
    with pytest.raises(ConfigError, match="controller"):
        Panel(object(), {})  # type: ignore[arg-type]


def test_panel_close_detaches_listener() -> None:
    panel, ctrl = make_panel()
    panel.close()
    ctrl.run(raise_errors=True)
    assert figure_png(panel) is None


def test_progress_fraction_bounds() -> None:
    assert Progress(3, 0).fraction == 0.0
    assert Progress(5, 4).fraction == 1.0
    assert Progress(1, 4).fraction == 0.25
