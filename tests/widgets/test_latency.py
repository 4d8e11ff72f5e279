"""LatencyController and LatencyPanel driven without a browser (smoke scale)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib.figure import Figure

import effdl_kit.models
from effdl_kit.errors import ConfigError
from effdl_kit.measure import MODULE_PARAMS, LatencyResult
from effdl_kit.models import LATENCY_SPLITS, MODEL_KINDS
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


def test_measure_now_adds_the_measurement(ran: LatencyController) -> None:
    events: list[ChangeEvent] = []
    remove = ran.on_change(events.append)
    res = ran.measure_now(raise_errors=True)
    remove()
    assert isinstance(res, LatencyResult) and res.repeats == 3 and res.threads == 1
    assert ran.result["measured"] is res
    assert [e.kind for e in events] == ["result"], "no refit: the prediction is current"
    table = ran.comparison()
    assert table["error %"].notna().all()
    assert "measured" in ran.summary()
    fig = ran.figure()
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert fig.axes[0].get_legend() is not None  # the measured line


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
    panel = LatencyPanel(ran)
    try:
        shown = {k for k, w in panel.controls.items() if w.layout.display != "none"}
        assert shown == {"module_type", *MODULE_PARAMS["linear"], "split", "seed", "warmup",
                         "repeats"}
        split = panel.controls["split"]
        assert [v for _label, v in split.options] == list(LATENCY_SPLITS)
        assert [label for label, _v in split.options] == [SPLIT_LABELS[s]
                                                          for s in LATENCY_SPLITS]
        assert split.value == "random" and split.description == "test rows"
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
        panel.controls["repeats"].value = 2
        res = panel.measure()
        assert res is not None and res.repeats == 2
        assert "<table" in panel.table.value and "error %" in panel.table.value
        assert panel.figure_output.outputs and "measured" in panel.summary.value
        panel.controls["hw"].value = 1
        panel.controls["module_type"].value = "conv2d"
        panel.controls["kernel_size"].value = 5
        panel.controls["padding"].value = 0
        assert panel.run() is None
        assert "kernel_size" in panel.error_box.value and panel.error_box.layout.display is None
    finally:
        panel.close()
