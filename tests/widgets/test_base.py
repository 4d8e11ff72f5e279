"""PanelController and Panel, driven without a browser through a tiny concrete controller."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from matplotlib.figure import Figure

from effdl_kit._core.rng import as_generator
from effdl_kit._core.validate import check_float, check_int
from effdl_kit.errors import ConfigError, EffdlError
from effdl_kit.widgets import (
    ChangeEvent,
    Panel,
    PanelController,
    Progress,
    RunStopped,
)
from effdl_kit.widgets._controller import STATUSES, TRANSITIONS


class WalkController(PanelController):
    """A seeded random walk of ``steps`` steps of size ``step``; one progress report a step,
    ``delay`` seconds a step, a stop checked at every step boundary."""

    defaults: ClassVar[dict[str, Any]] = {"steps": 5, "step": 1.0, "seed": 0, "delay": 0.0}
    name: ClassVar[str] = "walk"
    supports_overlay: ClassVar[bool] = True

    def __init__(self, **kw: Any) -> None:
        self.computed = 0
        self.pos: list[float] = []
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
        pos = self.pos = [0.0]
        for i in range(steps):
            time.sleep(float(self.params["delay"]))
            self.check_stop()
            pos.append(pos[-1] + step * float(rng.choice([-1.0, 1.0])))
            self.report_progress(i + 1, steps, f"step {i + 1}")
        if step > 100:
            raise RuntimeError("walked off the map")
        return np.asarray(pos)

    def partial_result(self) -> np.ndarray | None:
        return np.asarray(self.pos) if len(self.pos) > 1 else None

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
    assert kinds == ["status"] + ["progress"] * 4 + ["status", "result", "runs"]
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


def test_interrupt_of_a_synchronous_run_is_a_stop_and_reraised() -> None:
    ctrl = WalkController(steps=3)

    def interrupt(event: ChangeEvent) -> None:
        if event.kind == "progress" and event.data.done == 2:
            raise KeyboardInterrupt

    remove = ctrl.on_change(interrupt)
    with pytest.raises(KeyboardInterrupt):
        ctrl.run()
    assert ctrl.status == "stopped" and ctrl.stop_reason == "keyboard interrupt"
    assert ctrl.result is not None and len(ctrl.result) == 3  # the partial walk is kept
    assert "after 2/3 steps" in ctrl.status_text()
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
        assert rec["params"] == {"steps": 3, "step": 1.0, "seed": 11, "delay": 0.0}


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
    return Panel(ctrl, controls, title="walk", export_stem="walk", interactive=False), ctrl


def figure_png(panel: Panel) -> str | None:
    outs = panel.figure_view.output.outputs
    return outs[0]["data"]["image/png"] if outs else None


def click_run(panel: Panel) -> None:
    """Run clicked, then wait for the background run to end."""
    panel.run_button.click()
    assert panel.wait(30)


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
    click_run(panel)
    assert ctrl.params["steps"] == 6 and ctrl.status == "done"
    assert len(ctrl.result) == 7
    assert panel.progress.value == panel.progress.max == 6
    assert panel.progress.bar_style == "success"
    assert "done" in panel.status_label.value
    png = figure_png(panel)
    assert png is not None and len(png) > 100
    assert not panel.run_button.disabled
    panel.controls["seed"].value = 6
    click_run(panel)
    assert figure_png(panel) != png  # another walk, another picture


def test_panel_status_names_changed_controls_until_run() -> None:
    panel, ctrl = make_panel()
    assert panel.changed_controls() == [] and "changed" not in panel.status_label.value
    panel.controls["steps"].value = 8
    panel.controls["step"].value = 1.0 + 1e-13  # float noise from a slider is no change
    assert panel.changed_controls() == ["steps"]
    assert "changed: steps" in panel.status_label.value
    click_run(panel)
    assert ctrl.params["steps"] == 8 and panel.changed_controls() == []
    assert "changed" not in panel.status_label.value
    ctrl.set(seed=4)  # changed from code: the control now differs from the parameters
    assert "changed: seed" in panel.status_label.value


def test_panel_shows_error_in_red_and_clears_it() -> None:
    panel, ctrl = make_panel()
    panel.controls["step"].value = -1.0
    click_run(panel)
    assert ctrl.status == "error" and ctrl.error_field == "step"
    box = panel.field_errors["step"]  # next to the field it names, not above the panel
    assert box.layout.display is None
    assert "ConfigError" in box.value and "&#x27;step&#x27;" in box.value
    assert "#b00020" in box.value and panel.error_box.value == ""
    assert panel.progress.bar_style == "danger"
    panel.controls["step"].value = 1.0
    click_run(panel)
    assert ctrl.status == "done"
    assert box.value == "" and box.layout.display == "none"


def test_panel_export_click_lists_files(tmp_path: Path) -> None:
    panel, _ctrl = make_panel()
    panel.export_path.value = str(tmp_path / "fig")
    panel.export_button.click()  # nothing to export yet -> error beside export, no files
    assert "run the panel first" in panel.error_text("export")
    assert not list(tmp_path.iterdir())
    click_run(panel)
    panel.export_formats.value = ("pdf", "png")
    panel.export_button.click()
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix in (".pdf", ".png", ".svg")) \
        == ["fig.pdf", "fig.png"]
    assert "fig.pdf" in panel.export_result.value and "fig.png" in panel.export_result.value
    assert panel.error_box.value == "" and panel.error_text("export") == ""


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


# ---------------------------------------------------------------- state machine, background runs
def test_state_machine_covers_every_status_and_refuses_illegal_moves() -> None:
    assert set(TRANSITIONS) == set(STATUSES) == {"idle", "running", "done", "stopped", "error"}
    assert TRANSITIONS["running"] == {"done", "stopped", "error"}
    ctrl = WalkController()
    with pytest.raises(EffdlError, match="idle -> done"):
        ctrl._set_status("done")


def wait_for(cond: Any, timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.01)


def test_background_run_returns_at_once_and_stop_ends_it_at_a_step_boundary(
        tmp_path: Path) -> None:
    ctrl = WalkController(steps=400, delay=0.02, seed=1)
    t0 = time.monotonic()
    assert ctrl.start() is True
    assert time.monotonic() - t0 < 1.0 and ctrl.status == "running"  # the caller is free
    with pytest.raises(EffdlError, match="already running"):
        ctrl.start()
    wait_for(lambda: ctrl.last_progress is not None and ctrl.last_progress.done >= 3)
    assert ctrl.stop("Stop button") is True
    assert ctrl.join(5)  # within one step (0.02 s) plus scheduling
    assert ctrl.status == "stopped" and ctrl.stop_reason == "Stop button"
    done = ctrl.last_progress.done  # type: ignore[union-attr]
    assert 3 <= done < 400 and len(ctrl.result) == done + 1  # the partial walk is the result
    assert "partial result shown" in ctrl.status_text()
    paths = ctrl.export(tmp_path / "partial", ("png",))  # a partial result exports
    from effdl_kit.reports import read_provenance

    prov = read_provenance(paths[0])
    assert prov["run_status"] == "stopped" and prov["stopped"]["reason"] == "Stop button"
    assert ctrl.stop() is False  # nothing runs any more
    assert ctrl.run() is not None and ctrl.status == "done"  # and the next run is whole


def test_background_failure_and_bad_input_are_recorded() -> None:
    ctrl = WalkController(step=1000.0, steps=2)
    assert ctrl.start() and ctrl.join(10)
    assert ctrl.status == "error" and ctrl.error == "RuntimeError: walked off the map"
    ctrl.set(step=-1.0)
    assert ctrl.start() is False and ctrl.status == "error" and ctrl.error_field == "step"


def test_stop_before_anything_finished_leaves_nothing_to_export(tmp_path: Path) -> None:
    ctrl = WalkController(steps=5, delay=0.5)
    assert ctrl.start()
    ctrl.stop()
    assert ctrl.join(5) and ctrl.status == "stopped" and ctrl.result is None
    assert ctrl.status_text() == "stopped (Stop button) before anything finished: nothing to show"
    with pytest.raises(EffdlError, match="stopped before anything finished"):
        ctrl.export(tmp_path / "x")


def test_check_stop_raises_runstopped_only_once_asked() -> None:
    ctrl = WalkController()
    ctrl.check_stop()
    ctrl.status = "running"
    ctrl.stop("test")
    with pytest.raises(RunStopped, match="test"):
        ctrl.check_stop()


def test_runs_are_kept_for_overlays_with_labels_and_cleared_on_demand() -> None:
    ctrl = WalkController(steps=3)
    for seed in range(7):
        ctrl.set(seed=seed)
        ctrl.run()
    runs = ctrl.runs
    assert [r.number for r in runs] == [3, 4, 5, 6, 7]  # the last max_runs
    assert runs[-1].label == "run 7 (Seed 6)" and runs[-1].result is ctrl.result
    ctrl.clear_runs()
    assert [r.number for r in ctrl.runs] == [7]


def test_kernel_interrupt_stops_background_runs_in_a_real_process() -> None:
    code = (
        "import os, signal, sys, time\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from test_base import WalkController\n"
        "from effdl_kit.widgets._interrupt import install_interrupt_handler\n"
        "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"  # ipykernel's idle handler
        "assert install_interrupt_handler('process')\n"
        "c = WalkController(steps=1000, delay=0.02)\n"
        "assert c.start()\n"
        "while c.last_progress is None: time.sleep(0.01)\n"
        "os.kill(os.getpid(), signal.SIGINT)\n"  # what Kernel > Interrupt sends
        "assert c.join(5), 'still running'\n"
        "print(c.status, c.stop_reason, c.last_progress.done)\n"
        "os.kill(os.getpid(), signal.SIGINT)\n"  # idle: ignored like the kernel's idle handler
        "print('alive')\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    status, reason, done, alive = r.stdout.split()[0], r.stdout.split()[1:3], \
        int(r.stdout.split()[3]), r.stdout.split()[4]
    assert status == "stopped" and " ".join(reason) == "kernel interrupt"
    assert 1 <= done < 1000 and alive == "alive"


def test_interrupt_handler_goes_where_the_kernel_restores_its_idle_handler() -> None:
    import signal

    from effdl_kit.widgets._interrupt import _on_sigint, install_interrupt_handler

    class FakeKernel:
        saved_sigint_handler = signal.SIG_IGN

    k = FakeKernel()
    assert install_interrupt_handler(k)
    assert k.saved_sigint_handler is _on_sigint
    assert install_interrupt_handler(k) and k.saved_sigint_handler is _on_sigint


def test_panel_stop_button_keeps_the_partial_figure_and_says_so() -> None:
    panel, ctrl = make_panel(steps=500, delay=0.02)
    assert panel.stop_button.disabled
    panel.run_button.click()
    assert ctrl.status == "running" and panel.run_button.disabled
    assert not panel.stop_button.disabled
    wait_for(lambda: ctrl.last_progress is not None and ctrl.last_progress.done >= 2)
    panel.stop_button.click()
    assert panel.wait(5) and ctrl.status == "stopped"
    assert figure_png(panel) is not None and "partial result" in panel.figure_view.banner.value
    assert panel.progress.bar_style == "warning" and not panel.run_button.disabled
    assert panel.stop_button.disabled and "stopped (Stop button)" in panel.status_label.value


def test_panel_error_clears_the_old_figure_and_file_list(tmp_path: Path) -> None:
    panel, ctrl = make_panel()
    click_run(panel)
    panel.export_path.value = str(tmp_path / "f")
    panel.export_formats.value = ("png",)
    panel.export_button.click()
    assert figure_png(panel) is not None and "f.png" in panel.export_result.value
    panel.controls["step"].value = 1000.0  # fails inside compute
    click_run(panel)
    assert ctrl.status == "error" and ctrl.result is None
    assert figure_png(panel) is None and panel.export_result.value == ""  # nothing stale
    assert "walked off the map" in panel.error_text()
    panel.export_button.click()
    assert "the last run failed" in panel.error_text("export")


def make_entry_panel() -> tuple[Panel, WalkController]:
    from effdl_kit.widgets import NumberEntry

    ctrl = WalkController()
    controls = {"steps": NumberEntry(kind="int", description="Steps", low=1, high=1000,
                                     slider_max=50),
                "seed": NumberEntry(kind="int", description="Seed", slider=None)}
    return Panel(ctrl, controls, interactive=False), ctrl


@pytest.mark.parametrize("typed", ["abc", "5000", "0", "2.5"])
def test_typed_values_are_never_clamped_but_an_error_beside_the_field(typed: str) -> None:
    panel, ctrl = make_entry_panel()
    entry = panel.controls["steps"]
    entry.text.value = typed
    assert entry.value == 5 and entry.slider.value == 5  # unchanged, not clamped
    assert repr(typed)[1:-1] in panel.error_text("steps") or typed in panel.error_text("steps")
    click_run(panel)
    assert ctrl.status == "error" and ctrl.error_field == "steps" and ctrl.computed == 0
    assert "ConfigError" in panel.error_text("steps")
    entry.text.value = "7"
    assert entry.value == 7 and panel.error_text("steps") == ""
    click_run(panel)
    assert ctrl.status == "done" and len(ctrl.result) == 8


def test_negative_seed_reaches_the_library_and_its_error_sits_beside_seed() -> None:
    panel, ctrl = make_entry_panel()
    panel.controls["seed"].text.value = "-5"
    assert panel.controls["seed"].value == -5  # not silently 0
    click_run(panel)
    assert ctrl.status == "error" and ctrl.error_field == "seed"
    assert "'seed'" in panel.error_text("seed") and panel.error_text() == ""


def test_panel_in_a_running_event_loop_applies_worker_events_on_the_loop() -> None:
    async def main() -> tuple[list[bool], str]:
        panel, ctrl = make_panel(steps=5, delay=0.01)
        on_main: list[bool] = []
        import threading

        panel.listen(lambda e: on_main.append(threading.current_thread()
                                              is threading.main_thread()))
        panel.run_button.click()
        while ctrl.status == "running":
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)  # let the last handed-over events run
        return on_main, panel.status_label.value

    on_main, status = asyncio.run(main())
    assert on_main and all(on_main) and "done" in status


def test_interactive_figure_is_an_ipympl_canvas_with_a_yscale_toggle() -> None:
    import ipywidgets as W

    ctrl = WalkController(steps=20, step=3.0)
    panel = Panel(ctrl, {"steps": W.IntText()}, yscale_toggle=True)
    assert panel.figure_view.interactive
    click_run(panel)
    canvas = panel.figure_view.canvas_box.children[0]
    assert type(canvas).__name__ == "Canvas" and canvas.figure is panel.figure_view.figure
    panel.figure_view.yscale.value = "symlog"  # the walk goes below 0: log falls back too
    assert panel.figure_view.figure.axes[0].get_yscale() == "symlog"
    panel.figure_view.yscale.value = "log"
    assert panel.figure_view.figure.axes[0].get_yscale() == "symlog"
    panel.figure_view.yscale.value = "linear"
    assert panel.figure_view.figure.axes[0].get_yscale() == "linear"
