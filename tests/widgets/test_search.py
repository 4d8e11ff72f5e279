"""SearchController and SearchPanel driven without a browser (kit data, smoke budgets)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib.figure import Figure

from effdl_kit._core.validate import SCALES
from effdl_kit.errors import ConfigError
from effdl_kit.experiments.efficientdl import SearchBudget
from effdl_kit.reports import read_provenance
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
    fig = done.figure()
    assert isinstance(fig, Figure) and len(fig.axes[0].get_lines()) == 3
    paths = done.export(tmp_path / "search", ("pdf", "png"))
    assert [p.suffix for p in paths] == [".pdf", ".png"]
    prov = read_provenance(paths[0])
    assert prov["panel"] == "search" and prov["params"]["n_iter"] == 4


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
    assert field in str(ctrl.error)
    assert ctrl.setup is None and ctrl.live == []


def test_panel_drives_the_controller(done: SearchController) -> None:
    panel = SearchPanel(done)
    assert panel.controls["alpha"].value == 0.54
    assert panel.controls["baselines"].value == ("random", "tpe")
    panel.controls["alpha"].value = 1.5
    assert panel.changed_controls() == ["alpha"]
    panel.controls["n_iter"].value = 3
    panel.controls["n_seeds"].value = 1
    panel.controls["baselines"].value = ("random",)
    panel.run()
    assert done.params["alpha"] == 1.5 and done.status == "done"
    assert done.result is not None and len(done.result["curves"]) == 2 * 3
    assert panel.figure_output.outputs and "<table" in panel.table.value
    panel.close()
