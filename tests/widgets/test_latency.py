"""LatencyController and LatencyPanel driven without a browser (smoke scale)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib.figure import Figure

import effdl_kit.models
from effdl_kit.errors import ConfigError, EffdlError
from effdl_kit.measure import MODULE_PARAMS, LatencyResult
from effdl_kit.models import LATENCY_SPLITS, MODEL_KINDS
from effdl_kit.reports import label, read_provenance
from effdl_kit.testing import assert_paper_ready
from effdl_kit.widgets import ChangeEvent
from effdl_kit.widgets._latency import (
    LATENCY_DEFAULTS,
    SPLIT_LABELS,
    LatencyController,
    LatencyPanel,
)

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
FAST = {"warmup": 1, "repeats": 3}


@pytest.fixture(scope="module")
def ran() -> LatencyController:
    ctrl = LatencyController(scale="smoke", module_type="linear", batch=4, in_features=128,
                             out_features=64, **FAST)
    ctrl.run(raise_errors=True)
    return ctrl


def test_run_predicts_with_the_four_models(ran: LatencyController) -> None:
    res = ran.result
    assert ran.status == "done" and res["spec"].module_type == "linear"
    assert set(res["predictions"]) == set(MODEL_KINDS)
    assert all(v > 0 and np.isfinite(v) for v in res["predictions"].values())
    assert res["measured"] is None and 0 <= res["state"].utilization_pct <= 100
    assert res["split"] == "random" == LATENCY_DEFAULTS["split"]
    table = ran.comparison()
    assert list(table["model"]) == list(MODEL_KINDS)
    assert table["error %"].isna().all() and table["acc@10% (%)"].between(0, 100).all()
    assert "linear: predicted ms" in ran.summary()


def test_measure_now_adds_the_measurement(ran: LatencyController,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    def no_fit(*args: object, **kwargs: object) -> None:
        raise AssertionError("cached: no refit")

    monkeypatch.setattr(effdl_kit.models, "fit_latency_models", no_fit)
    events: list[ChangeEvent] = []
    remove = ran.on_change(events.append)
    res = ran.measure_now(raise_errors=True)
    remove()
    assert isinstance(res, LatencyResult) and res.repeats == 3 and res.threads == 1
    assert ran.result["measured"] is res and ran.status == "done"
    statuses = [e.data for e in events if e.kind == "status"]
    assert statuses == ["running", "done"]
    assert "timing" in [e.data.message.split()[0] for e in events if e.kind == "progress"]
    table = ran.comparison()
    assert table["error %"].notna().all()
    assert "measured" in ran.summary()
    fig = ran.figure()
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert any("measured" in t.get_text() for t in fig.axes[0].texts)  # the measured line
    assert_paper_ready(fig, name="latency figure")
    assert ran.measure_now() is not None and ran.run() is not None
    assert ran.result["measured"] is None, "a plain run does not measure"


def test_a_stop_between_steps_keeps_what_finished(ran: LatencyController,
                                                  tmp_path: Path) -> None:
    ctrl = LatencyController(scale="smoke", module_type="linear", batch=4, in_features=128,
                             out_features=64, **FAST)
    ctrl._cache = ran._cache  # fitted models for linear, already cached

    def stop_at(word: str) -> Any:
        def hook(event: ChangeEvent) -> None:
            if event.kind == "progress" and event.data.message.startswith(word):
                ctrl.stop("test")
        return hook

    remove = ctrl.on_change(stop_at("timing"))  # the prediction finished, the timing not
    ctrl.request_measurement()
    res = ctrl.run()
    remove()
    assert ctrl.status == "stopped" and res is ctrl.result and res["measured"] is None
    assert set(res["predictions"]) == set(MODEL_KINDS)
    assert ctrl.summary().startswith("stopped before the measurement")
    paths = ctrl.export(tmp_path / "partial", ("png",))
    prov = read_provenance(paths[0])
    assert prov["run_status"] == "stopped" and prov["stopped"]["reason"] == "test"
    # stopped while a model is scored (nothing fitted yet): nothing to show or export
    ctrl.set(module_type="mha", embed_dim=32, num_heads=4)
    ctrl.on_change(stop_at("scoring"))
    assert ctrl.run() is None and ctrl.status == "stopped"
    assert "nothing to show" in ctrl.status_text()
    assert ("mha", "smoke", 0, "random") not in ctrl._cache
    with pytest.raises(EffdlError, match="stopped before anything finished"):
        ctrl.export(tmp_path / "none", ("png",))


def test_models_are_cached_per_module_type(ran: LatencyController,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    def no_fit(*args: object, **kwargs: object) -> None:
        raise AssertionError("cached: no refit")

    monkeypatch.setattr(effdl_kit.models, "fit_latency_models", no_fit)
    ran.set(in_features=256)
    assert ran.run(raise_errors=True) is not None


def test_the_split_reaches_the_evaluation(monkeypatch: pytest.MonkeyPatch) -> None:
    real = effdl_kit.models.evaluate_latency_models
    seen: list[object] = []

    def recording(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs.get("split"))
        return real(*args, **kwargs)

    monkeypatch.setattr(effdl_kit.models, "evaluate_latency_models", recording)
    ctrl = LatencyController(scale="smoke", module_type="linear", batch=4, in_features=128,
                             out_features=64, split="grouped", **FAST)
    assert ctrl.run(raise_errors=True) is not None
    assert seen == ["grouped"] and ctrl.result["split"] == "grouped"
    assert "grouped split" in ctrl.figure().axes[1].get_title()
    ctrl.set(split="time")
    ctrl.run(raise_errors=True)
    assert seen == ["grouped", "time"], "each split is scored on its own held-out rows"
    assert ctrl.result["split"] == "time"
    ctrl.set(split="grouped")
    ctrl.run(raise_errors=True)
    assert seen == ["grouped", "time"], "cached per split"


def test_export(ran: LatencyController, tmp_path: Path) -> None:
    paths = ran.export(tmp_path / "latency", formats=("png",))
    assert [p.suffix for p in paths] == [".png"] and paths[0].is_file()


@pytest.mark.parametrize(("params", "field"), [
    ({"module_type": "gru"}, "module_type"),
    ({"module_type": "conv2d", "hw": 0}, "hw"),
    ({"module_type": "conv2d", "hw": 4, "kernel_size": 9, "padding": 0}, "kernel_size"),
    ({"module_type": "mha", "embed_dim": 10, "num_heads": 4}, "num_heads"),
    ({"module_type": "linear", "batch": -1}, "batch"),
    ({"seed": -1}, "seed"),
    ({"split": "shuffled"}, "split"),
    ({"split": None}, "split"),
    ({"repeats": 0}, "repeats"),
])
def test_bad_input_is_an_error_before_any_work(params: dict[str, Any], field: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    def no_work(*args: object, **kwargs: object) -> None:
        raise AssertionError("no work may start")

    monkeypatch.setattr(effdl_kit.models, "evaluate_latency_models", no_work)
    monkeypatch.setattr(effdl_kit.models, "fit_latency_models", no_work)
    ctrl = LatencyController(scale="smoke", **params)
    assert ctrl.run() is None
    assert ctrl.status == "error" and isinstance(ctrl.exception, ConfigError)
    assert ctrl.error is not None and f"'{field}'" in ctrl.error
    assert ctrl.measure_now() is None and ctrl.status == "error"
    with pytest.raises(ConfigError, match="parameter"):
        LatencyController(scale="smoke", kernel=3)


def test_panel_shows_only_the_current_types_parameters(ran: LatencyController) -> None:
    panel = LatencyPanel(ran, interactive=False)
    try:
        shown = {k for k, w in panel.controls.items() if w.layout.display != "none"}
        assert shown == {"module_type", *MODULE_PARAMS["linear"], "split", "seed", "warmup",
                         "repeats"}
        split = panel.controls["split"]
        assert [v for _label, v in split.options] == list(LATENCY_SPLITS)
        assert [label for label, _v in split.options] == [SPLIT_LABELS[s]
                                                          for s in LATENCY_SPLITS]
        assert split.value == "random" and split.description == "test rows"
        assert panel.controls["kernel_size"].slider.description == label("kernel_size")
        split.value = "time"
        panel.read_controls()
        assert ran.params["split"] == "time"
        split.value = "random"
        panel.controls["module_type"].value = "lstm"
        shown = {k for k, w in panel.controls.items() if w.layout.display != "none"}
        assert {"seq_len", "hidden_size"} <= shown and "in_features" not in shown
        assert "changed: module_type" in panel.status_label.value
        panel.controls["module_type"].value = "linear"
        assert set(panel.controls) == set(LATENCY_DEFAULTS)
    finally:
        panel.close()


def test_panel_measure_runs_in_the_background_and_follows_the_state(
        ran: LatencyController, tmp_path: Path) -> None:
    panel = LatencyPanel(ran, interactive=False, export_stem=str(tmp_path / "lat"))
    try:
        panel.controls["repeats"].text.value = "2"
        seen: list[tuple[str, bool, bool]] = []
        ran.on_change(lambda e: seen.append((ran.status, panel.measure_button.disabled,
                                             panel.run_button.disabled))
                      if e.kind == "status" else None)
        assert panel.measure()
        assert panel.wait(60) and ran.status == "done"
        assert ran.result["measured"].repeats == 2
        assert ("running", True, True) in seen and seen[-1] == ("done", False, False)
        assert panel.table.frame is not None and len(panel.table.frame) == len(MODEL_KINDS)
        assert panel.figure_view.png() and "measured" in panel.summary.value
        panel.export_formats.value = ("png",)
        panel.export_button.click()
        assert "lat.png" in panel.export_result.value
        # a library error (kernel larger than the input) sits beside the field it names, and
        # nothing of the last run stays on screen
        panel.controls["module_type"].value = "conv2d"
        panel.controls["hw"].text.value = "4"
        panel.controls["kernel_size"].text.value = "9"
        panel.controls["padding"].text.value = "0"
        assert panel.measure() is False
        assert ran.status == "error" and ran.error_field == "kernel_size"
        assert "kernel_size" in panel.error_text("kernel_size") and panel.error_text() == ""
        assert not panel.figure_view.shown and panel.export_result.value == ""
        assert panel.table.frame is None and panel.summary.value == ""
        assert not panel.measure_button.disabled
        # a typed value below the field's bound: beside the field, never clamped
        panel.controls["kernel_size"].text.value = "3"
        panel.controls["hw"].text.value = "0"
        assert panel.controls["hw"].value == 4
        assert "0" in panel.error_text("hw")
        panel.run_button.click()
        assert ran.status == "error" and ran.error_field == "hw"
        assert "ConfigError" in panel.error_text("hw")
        panel.controls["hw"].text.value = "8"
        panel.controls["module_type"].value = "linear"
    finally:
        panel.close()
