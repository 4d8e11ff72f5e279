"""SpeedupController / SpeedupPanel driven without a browser (smoke budget)."""

from __future__ import annotations

from pathlib import Path

import pytest
from matplotlib.figure import Figure

from effdl_kit.errors import ConfigError
from effdl_kit.speedups import AA_LABEL, POSITIVE_LABEL
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
            fig = ctrl.figure()  # drawn from the runs so far
            assert isinstance(fig, Figure) and ctrl.result is None
            sizes.append(len(ctrl.runs_so_far()))

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


def test_panel_reads_controls_and_shows_errors() -> None:
    pytest.importorskip("ipywidgets")
    panel = SpeedupPanel(scale="smoke", budgets=(1,), methods=("ema",))
    panel.controls["budgets"].value = (2, 3)
    panel.controls["methods"].value = ()
    assert set(panel.changed_controls()) == {"budgets", "methods"}
    panel.run()
    assert panel.controller.status == "error"
    assert "non-empty" in panel.error_box.value
    panel.close()
