"""TrainController and TrainPanel driven without a browser (smoke budget: ~1 s a run)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib.figure import Figure

from effdl_kit.errors import ConfigError
from effdl_kit.training import DATASETS, MODELS, OPTIMIZERS, TrainResult
from effdl_kit.widgets import ChangeEvent, TrainController, TrainPanel
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


# ---------------------------------------------------------------- the ipywidgets view, headless
def test_panel_controls_offer_the_library_choices() -> None:
    panel = TrainPanel(scale="smoke", lr=0.01, epochs=4)
    c = panel.controls
    assert tuple(c["dataset"].options) == DATASETS
    assert tuple(c["model"].options) == MODELS
    assert tuple(c["optimizer"].options) == OPTIMIZERS
    assert type(c["lr"]).__name__ == "FloatLogSlider" and c["lr"].value == pytest.approx(0.01)
    assert type(c["epochs"]).__name__ == "IntSlider" and c["epochs"].value == 4
    assert panel.controller.scale == "smoke"


def test_panel_run_redraws_the_curve_every_epoch() -> None:
    panel = TrainPanel(scale="smoke", n_train=200)
    panel.controls["epochs"].value = 3
    panel.controls["optimizer"].value = "sgd"
    panel.controls["lr"].value = 0.05
    frames: list[str] = []
    panel.figure_output.observe(
        lambda ch: frames.append(ch["new"][0]["data"]["image/png"]) if ch["new"] else None,
        names="outputs")
    panel.run_button.click()
    ctrl = panel.controller
    assert ctrl.status == "done", ctrl.error
    assert ctrl.result.config.optimizer == "sgd" and ctrl.result.config.epochs == 3
    assert ctrl.result.config.lr == pytest.approx(0.05)
    # one new picture per epoch (the final redraw equals the last epoch's, so it sends nothing)
    assert len(frames) == 3 and len(set(frames)) == 3
    assert panel.figure_output.outputs[0]["data"]["image/png"] == frames[-1]
    assert panel.progress.value == panel.progress.max == 3
    assert "test accuracy" in panel.summary.value
    assert panel.error_box.value == ""


def test_panel_shows_a_library_error(tmp_path: Path) -> None:
    panel = TrainPanel(scale="smoke", n_train=200)
    panel.controls["dataset"].value = "sunspots"
    panel.controls["model"].value = "cnn"
    panel.run_button.click()
    assert panel.controller.status == "error"
    assert "ConfigError" in panel.error_box.value and "&#x27;model&#x27;" in panel.error_box.value
    assert panel.error_box.layout.display is None
    assert panel.figure_output.outputs == ()
    panel.controls["model"].value = "mlp"
    panel.controls["epochs"].value = 2
    panel.run_button.click()
    assert panel.controller.status == "done", panel.controller.error
    assert panel.controller.result.metric_name == "mse"
    assert panel.error_box.value == "" and panel.figure_output.outputs


def test_panel_export_writes_files(tmp_path: Path) -> None:
    panel = TrainPanel(scale="smoke", n_train=200, export_stem=str(tmp_path / "panel"))
    panel.controls["epochs"].value = 2
    panel.run_button.click()
    panel.export_button.click()
    names = sorted(p.name for p in tmp_path.iterdir() if p.suffix in (".pdf", ".svg", ".png"))
    assert names == ["panel.pdf", "panel.png", "panel.svg"]
    for n in names:
        assert n in panel.export_result.value


def test_panel_with_controller_takes_no_extra_params() -> None:
    with pytest.raises(ConfigError, match="params"):
        TrainPanel(TrainController(scale="smoke"), lr=0.1)


def test_progress_flag_passes_the_bench_tqdm_bar_through(
        capsys: pytest.CaptureFixture[str]) -> None:
    TrainController(scale="smoke", n_train=200, progress=True).run(raise_errors=True)
    assert "cnn on digits" in capsys.readouterr().err
    TrainController(scale="smoke", n_train=200).run(raise_errors=True)
    assert "cnn on digits" not in capsys.readouterr().err
