"""TrainController and TrainPanel driven without a browser (smoke budget: ~1 s a run)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib.figure import Figure

from effdl_kit.errors import ConfigError, EffdlError
from effdl_kit.reports import read_provenance
from effdl_kit.testing import assert_paper_ready
from effdl_kit.training import DATASETS, MODELS, OPTIMIZERS, TrainResult
from effdl_kit.widgets import ChangeEvent, TrainController, TrainPanel
from effdl_kit.widgets._interrupt import stop_all
from effdl_kit.widgets._train import TRAIN_DEFAULTS


def smoke(**params: Any) -> TrainController:
    params.setdefault("n_train", 200)
    return TrainController(scale="smoke", **params)


def test_scale_picks_the_default_budget() -> None:
    assert TrainController(scale="smoke").params == TRAIN_DEFAULTS["smoke"]
    assert TrainController().params["epochs"] == TRAIN_DEFAULTS["small"]["epochs"]
    assert TrainController(scale="paper", epochs=3).params["epochs"] == 3
    assert set(TRAIN_DEFAULTS["smoke"]) >= {"dataset", "model", "optimizer", "lr", "epochs",
                                            "batch_size", "seed"}


def test_run_trains_and_reports_each_epoch_live() -> None:
    ctrl = smoke(epochs=3)
    events: list[ChangeEvent] = []
    ctrl.on_change(events.append)
    res = ctrl.run(raise_errors=True)
    assert isinstance(res, TrainResult) and ctrl.status == "done"
    assert res.epochs_run == 3 and res.metric_name == "accuracy"
    assert res.config.n_train == 200 and res.config.seed == 0
    progress = [e.data for e in events if e.kind == "progress"]
    assert [p.done for p in progress] == [1, 2, 3] and {p.total for p in progress} == {3}
    assert "epoch 3/3" in progress[-1].message and "train loss" in progress[-1].message
    # the live curve saw exactly the epochs the result holds, in order, before the result
    assert ctrl.live_history == res.history
    kinds = [e.kind for e in events]
    assert kinds.index("result") > max(i for i, k in enumerate(kinds) if k == "progress")
    assert "test accuracy" in ctrl.summary()


def test_live_figure_grows_with_the_epochs() -> None:
    ctrl = smoke(epochs=3)
    points: list[int] = []

    def on_progress(event: ChangeEvent) -> None:
        if event.kind == "progress":
            fig = ctrl.figure()  # drawn from the epochs so far, no result yet
            assert ctrl.result is None
            ax = fig.axes[0]
            points.append(max(len(line.get_xdata()) for line in ax.get_lines()))

    ctrl.on_change(on_progress)
    ctrl.run(raise_errors=True)
    assert points == [1, 2, 3]


def test_figure_draws_train_and_val_loss() -> None:
    ctrl = smoke(epochs=2)
    ctrl.run(raise_errors=True)
    fig = ctrl.figure()
    assert isinstance(fig, Figure)
    ys = [np.asarray(line.get_ydata(), dtype=float) for line in fig.axes[0].get_lines()]
    hist = ctrl.result.history
    for expected in ([r.train_loss for r in hist], [r.val_loss for r in hist]):
        assert any(len(y) == len(expected) and np.allclose(y, expected) for y in ys)


@pytest.mark.parametrize(("params", "field"), [
    ({"lr": -1.0}, "lr"),
    ({"optimizer": "nope"}, "optimizer"),
    ({"epochs": 0}, "epochs"),
    ({"dataset": "co2", "model": "cnn"}, "model"),
])
def test_bad_parameters_end_in_error_naming_the_field(params: dict[str, Any], field: str) -> None:
    ctrl = smoke(**params)
    events: list[ChangeEvent] = []
    ctrl.on_change(events.append)
    assert ctrl.run() is None
    assert ctrl.status == "error" and ctrl.result is None
    assert ctrl.error is not None and f"'{field}'" in ctrl.error
    assert isinstance(ctrl.exception, ConfigError)
    assert not [e for e in events if e.kind == "progress"]  # no epoch ever ran
    assert ctrl.live_history == []


def test_optimizer_error_lists_the_allowed_values() -> None:
    ctrl = smoke(optimizer="nope")
    with pytest.raises(ConfigError) as info:
        ctrl.run(raise_errors=True)
    for name in OPTIMIZERS:
        assert repr(name) in str(info.value)


def test_figure_before_any_run_is_an_error() -> None:
    with pytest.raises(Exception, match="run the panel first"):
        smoke().figure()


def test_export_writes_pdf_svg_png(tmp_path: Path) -> None:
    ctrl = smoke(epochs=2, seed=3)
    ctrl.run(raise_errors=True)
    paths = ctrl.export(tmp_path / "curve")
    assert sorted(p.name for p in paths) == ["curve.pdf", "curve.png", "curve.svg"]
    assert all(p.stat().st_size > 0 for p in paths)


# ---------------------------------------------------------------- stopping through the bench
def wait_for(cond: Any, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.01)


def test_stop_ends_the_bench_at_the_epoch_end_and_keeps_its_result(tmp_path: Path) -> None:
    ctrl = smoke(epochs=60)
    assert ctrl.start()
    wait_for(lambda: ctrl.last_progress is not None)
    asked_at = ctrl.last_progress.done  # type: ignore[union-attr]
    assert ctrl.stop("Stop button")
    assert ctrl.join(60) and ctrl.status == "stopped"
    res = ctrl.result
    assert isinstance(res, TrainResult)  # the bench's own (partial) result
    assert res.stopped_early and "Stop button" in str(res.stop_reason)
    assert asked_at <= res.epochs_run <= asked_at + 1 < 60  # within one epoch
    assert ctrl.live_history == res.history and np.isfinite(res.test_metric)
    assert f"after {res.epochs_run}/60 epochs" in ctrl.status_text()
    assert "stopped early" in ctrl.summary()
    paths = ctrl.export(tmp_path / "partial", ("png", "pdf"))
    prov = read_provenance(paths[0])
    assert prov["run_status"] == "stopped" and prov["stopped"]["reason"] == "Stop button"
    assert prov["stopped"]["progress"] == f"{res.epochs_run}/60 epochs"
    ctrl.set(epochs=2)
    assert ctrl.run() is not None and ctrl.status == "done"  # the next run is whole
    assert ctrl.result.epochs_run == 2 and not ctrl.result.stopped_early


def test_figure_overlays_the_earlier_runs_with_labels() -> None:
    ctrl = smoke(epochs=2)
    ctrl.run(raise_errors=True)
    ctrl.set(lr=0.01)
    ctrl.run(raise_errors=True)
    fig = ctrl.figure()
    ax = fig.axes[0]
    lines = ax.get_lines()
    assert len(lines) == 4  # (train, val) of both runs
    assert {ln.get_color() for ln in lines[:2]} != {ln.get_color() for ln in lines[2:]}
    assert all(ln.get_alpha() is not None and ln.get_alpha() < 1 for ln in lines[:2])
    assert all(ln.get_alpha() is None for ln in lines[2:])  # the current run in full colour
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend[:2] == ["run 1", "run 2 (Learning rate 0.01)"]
    first = ctrl.runs[0].result.history
    assert np.allclose(lines[0].get_ydata(), [r.train_loss for r in first])
    ctrl.clear_runs()
    assert len(ctrl.figure().axes[0].get_lines()) == 2


def test_a_diverged_earlier_run_does_not_flatten_the_current_one() -> None:
    from effdl_kit.widgets import RunRecord

    ctrl = smoke(epochs=2)
    ctrl.run(raise_errors=True)
    healthy = ctrl.result.to_frame()
    diverged = healthy.copy()
    diverged.loc[1, "train_loss"] = 1e28  # one exploding epoch of an earlier run
    ctrl._runs.appendleft(RunRecord(0, "run 0", dict(ctrl.params), "done", diverged))
    ax = ctrl.figure().axes[0]
    top = max(healthy["train_loss"].max(), healthy["val_loss"].max())
    assert ax.get_ylim()[1] < 2 * top  # the limits fit the healthy curves
    fig = ctrl.figure()
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "1 point above (cut)" in legend
    ctrl.yscale = "log"
    assert ctrl.figure().axes[0].get_yscale() == "log"


def test_figure_is_paper_ready_done_and_stopped() -> None:
    ctrl = smoke(epochs=2)
    ctrl.run(raise_errors=True)
    assert_paper_ready(ctrl.figure(), name="train panel figure")
    ctrl.set(seed=1, epochs=1)
    ctrl.run(raise_errors=True)
    assert_paper_ready(ctrl.figure(), name="train panel figure with an overlay")


# ---------------------------------------------------------------- the ipywidgets view, headless
def png(panel: TrainPanel) -> str | None:
    outs = panel.figure_view.output.outputs
    return outs[0]["data"]["image/png"] if outs else None


def click_run(panel: TrainPanel) -> None:
    panel.run_button.click()
    assert panel.wait(60)


def test_panel_controls_offer_the_library_choices() -> None:
    panel = TrainPanel(scale="smoke", lr=0.01, epochs=4)
    c = panel.controls
    assert [v for _, v in c["dataset"].options] == list(DATASETS)
    assert [v for _, v in c["model"].options] == list(MODELS)
    assert [v for _, v in c["optimizer"].options] == list(OPTIMIZERS)
    assert type(c["lr"]).__name__ == "NumberEntry" and c["lr"].value == pytest.approx(0.01)
    assert type(c["lr"].slider).__name__ == "FloatLogSlider"
    assert c["epochs"].value == 4 and c["seed"].slider is None
    assert c["lr"].slider.description == "Learning rate"  # the registry's label
    assert c["batch_size"].description == "Batch size"
    assert panel.figure_view.yscale is not None and panel.figure_view.clear_runs_button
    assert panel.controller.scale == "smoke" and panel.controller.unit == "epoch"
    panel.close()


def test_panel_run_redraws_the_curve_every_epoch() -> None:
    panel = TrainPanel(scale="smoke", n_train=200, interactive=False)
    panel.controls["epochs"].text.value = "3"
    panel.controls["optimizer"].value = "sgd"
    panel.controls["lr"].text.value = "0.05"
    frames: list[str] = []
    panel.figure_view.output.observe(
        lambda ch: frames.append(ch["new"][0]["data"]["image/png"]) if ch["new"] else None,
        names="outputs")
    click_run(panel)
    ctrl = panel.controller
    assert ctrl.status == "done", ctrl.error
    assert ctrl.result.config.optimizer == "sgd" and ctrl.result.config.epochs == 3
    assert ctrl.result.config.lr == pytest.approx(0.05)
    # one new picture per epoch, then the final one (no "running" title any more)
    assert len(frames) >= 3 and len(set(frames)) >= 3
    assert png(panel) == frames[-1]
    assert panel.progress.value == panel.progress.max == 3
    assert "test accuracy" in panel.summary.value
    assert panel.error_box.value == "" and panel.figure_view.banner.value == ""
    panel.close()


def test_panel_shows_a_library_error_beside_its_field_and_clears_the_figure(
        tmp_path: Path) -> None:
    panel = TrainPanel(scale="smoke", n_train=200, interactive=False,
                       export_stem=str(tmp_path / "f"))
    panel.controls["epochs"].text.value = "1"
    click_run(panel)
    assert png(panel) is not None
    panel.controls["dataset"].value = "sunspots"
    panel.controls["model"].value = "cnn"
    click_run(panel)
    ctrl = panel.controller
    assert ctrl.status == "error" and ctrl.error_field == "model"
    assert "ConfigError" in panel.error_text("model") and "'model'" in panel.error_text("model")
    assert panel.error_text() == ""  # beside the field, not above the panel
    assert png(panel) is None and not panel.figure_view.shown  # the old figure is gone
    panel.export_button.click()  # and exporting it is refused, saying why
    assert "nothing to export: the last run failed" in panel.error_text("export")
    assert not list(tmp_path.iterdir())
    panel.controls["model"].value = "mlp"
    click_run(panel)
    assert ctrl.status == "done", ctrl.error
    assert ctrl.result.metric_name == "mse" and png(panel) is not None
    assert panel.error_text("model") == "" and panel.error_text("export") == ""
    panel.close()


@pytest.mark.parametrize(("field", "typed", "message"), [
    ("lr", "abc", "'abc' is not a number"),
    ("epochs", "0", "below the smallest allowed value"),
    ("epochs", "2.5", "is not an integer"),
])
def test_panel_typed_nonsense_is_an_error_beside_its_field(field: str, typed: str,
                                                           message: str) -> None:
    panel = TrainPanel(scale="smoke", n_train=200, interactive=False)
    before = panel.controls[field].value
    panel.controls[field].text.value = typed
    assert panel.controls[field].value == before  # never clamped, never replaced
    assert message in panel.error_text(field)
    click_run(panel)
    assert panel.controller.status == "error" and panel.controller.error_field == field
    assert "ConfigError" in panel.error_text(field) and panel.controller.live_history == []
    panel.close()


def test_panel_negative_seed_reaches_the_bench_and_its_error_sits_beside_seed() -> None:
    panel = TrainPanel(scale="smoke", n_train=200, interactive=False)
    panel.controls["seed"].text.value = "-5"
    assert panel.controls["seed"].value == -5
    click_run(panel)
    assert panel.controller.status == "error" and panel.controller.error_field == "seed"
    assert "'seed'" in panel.error_text("seed") and ">= 0" in panel.error_text("seed")
    panel.close()


def stop_mid_run(panel: TrainPanel, stop: Any) -> int:
    """Click Run (60 epochs), stop once an epoch is shown; the epochs done when asked."""
    panel.controls["epochs"].text.value = "60"
    panel.run_button.click()
    ctrl = panel.controller
    assert ctrl.status == "running" and not panel.stop_button.disabled
    wait_for(lambda: panel.progress.value >= 1)
    asked_at = ctrl.last_progress.done  # type: ignore[union-attr]
    stop()
    assert panel.wait(60) and ctrl.status == "stopped"
    assert asked_at <= ctrl.result.epochs_run <= asked_at + 1 < 60
    return asked_at


def test_panel_stop_button_keeps_the_partial_figure_and_exports_it(tmp_path: Path) -> None:
    panel = TrainPanel(scale="smoke", n_train=200, interactive=False,
                       export_stem=str(tmp_path / "stopped"))
    stop_mid_run(panel, panel.stop_button.click)
    ctrl = panel.controller
    assert png(panel) is not None and "partial result" in panel.figure_view.banner.value
    assert "stopped (Stop button)" in panel.status_label.value
    assert panel.stop_button.disabled and not panel.run_button.disabled
    assert panel.progress.bar_style == "warning" and "stopped early" in panel.summary.value
    panel.export_formats.value = ("png",)
    panel.export_button.click()
    assert "stopped.png" in panel.export_result.value, panel.error_text("export")
    prov = read_provenance(tmp_path / "stopped.png")
    assert prov["run_status"] == "stopped" and prov["stopped"]["reason"] == "Stop button"
    assert prov["stopped"]["progress"] == ctrl.progress_text()
    panel.close()


def test_kernel_interrupt_stops_the_panel_run_the_same_way() -> None:
    panel = TrainPanel(scale="smoke", n_train=200, interactive=False)
    stop_mid_run(panel, lambda: stop_all("kernel interrupt"))
    ctrl = panel.controller
    assert ctrl.stop_reason == "kernel interrupt" and "kernel interrupt" in ctrl.result.stop_reason
    assert "stopped (kernel interrupt)" in panel.status_label.value
    assert png(panel) is not None
    panel.close()


def test_panel_overlay_of_two_runs_and_clear_runs() -> None:
    panel = TrainPanel(scale="smoke", n_train=200, epochs=2)
    click_run(panel)
    panel.controls["lr"].text.value = "0.01"
    click_run(panel)
    fig = panel.figure_view.figure
    assert fig is not None and len(fig.axes[0].get_lines()) == 4
    assert [t.get_text() for t in fig.legends[0].get_texts()][:2] == [
        "run 1", "run 2 (Learning rate 0.01)"]
    panel.figure_view.yscale.value = "log"  # drawn again on that scale
    assert panel.controller.yscale == "log"
    assert panel.figure_view.figure.axes[0].get_yscale() == "log"
    panel.figure_view.clear_runs_button.click()
    assert len(panel.figure_view.figure.axes[0].get_lines()) == 2
    panel.close()


def test_panel_with_controller_takes_no_extra_params() -> None:
    with pytest.raises(ConfigError, match="params"):
        TrainPanel(TrainController(scale="smoke"), lr=0.1)


def test_progress_flag_passes_the_bench_tqdm_bar_through(
        capsys: pytest.CaptureFixture[str]) -> None:
    TrainController(scale="smoke", n_train=200, epochs=1, progress=True).run(raise_errors=True)
    assert "cnn on digits" in capsys.readouterr().err
    TrainController(scale="smoke", n_train=200, epochs=1).run(raise_errors=True)
    assert "cnn on digits" not in capsys.readouterr().err


def test_figure_after_an_error_is_refused() -> None:
    ctrl = smoke(epochs=1)
    ctrl.run(raise_errors=True)
    ctrl.set(lr=-1.0)
    assert ctrl.run() is None and ctrl.status == "error"
    with pytest.raises(EffdlError, match="run the panel first"):
        ctrl.figure()
