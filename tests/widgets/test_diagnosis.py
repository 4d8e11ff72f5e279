"""DiagnosisController and DiagnosisPanel driven without a browser (smoke budget: the CNN
task on 240 digits, 4 epochs, a few trials; about a second per run after the first)."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest
from matplotlib.figure import Figure

from effdl_kit.diagnosis import ATTR_DIAGNOSIS, DiagnosedStudy
from effdl_kit.errors import ConfigError, DataError, EffdlError
from effdl_kit.experiments.bttackler import (
    BUDGETS,
    PAPER,
    aggregate,
    compare_runs,
    headline,
    indicator_counts,
)
from effdl_kit.reports import read_provenance
from effdl_kit.widgets import ChangeEvent
from effdl_kit.widgets._diagnosis import (
    DIAGNOSIS_DEFAULTS,
    INDICATOR_SERIES,
    THRESHOLDS,
    DiagnosisController,
    DiagnosisPanel,
    DiagnosisRun,
    parse_enqueue,
)

#: a trial built to explode: SGD at lr 20 without batch norm (outside the search range)
EXPLODE: dict[str, Any] = {"lr": 20.0, "optimizer": "sgd", "batch_norm": False}
RUN: dict[str, Any] = {"n_trials": 3, "epochs": 4, "enqueue": (EXPLODE,)}


@pytest.fixture(scope="module")
def done() -> DiagnosisController:
    ctrl = DiagnosisController(scale="smoke", **RUN)
    events: list[ChangeEvent] = []
    seen: list[tuple[int, int, int]] = []  # (progress done, live epochs, lines in the figure)

    def on_event(event: ChangeEvent) -> None:
        events.append(event)
        if event.kind == "progress":
            assert ctrl.result is None  # drawn from the epochs so far
            fig = ctrl.figure()
            seen.append((event.data.done, len(ctrl.live), len(fig.axes[0].get_lines())))

    ctrl.on_change(on_event)
    ctrl.run(raise_errors=True)
    ctrl.events = events  # type: ignore[attr-defined]
    ctrl.seen = seen  # type: ignore[attr-defined]
    return ctrl


def test_defaults_follow_the_experiment_budgets() -> None:
    for scale, b in BUDGETS.items():
        p = DiagnosisController(scale=scale).params  # type: ignore[arg-type]
        assert p == DIAGNOSIS_DEFAULTS[scale]
        assert p["epochs"] == b["epochs"] and p["variant"] == "bttackler"
        assert p["mode"] == "report" and p["agv_max_grad"] == 1e4 and p["enqueue"] == ()
    with pytest.raises(ConfigError, match="parameter"):
        DiagnosisController(scale="smoke", learning_rate=0.1)


def test_run_records_every_epoch_live_and_stops_the_bad_trial(done: DiagnosisController) -> None:
    res = done.result
    assert isinstance(res, DiagnosisRun) and done.status == "done", done.error
    assert DiagnosisRun is DiagnosedStudy and res.study is done.study and not res.stopped
    table = done.table()
    # the table lists every trial, in order
    assert list(table["number"]) == [0, 1, 2]
    assert set(table.columns) >= {"number", "params", "metric", "state", "stopped by", "epoch"}
    # the exploding trial was stopped after its first epoch, and the table names the rule
    bad = table.iloc[0]
    assert "lr=20" in bad["params"] and "optimizer=sgd" in bad["params"]
    assert "AGV" in bad["stopped by"].split("+") and bad["epoch"] == 0
    assert bad["epochs run"] == 1 and bad["state"] == "COMPLETE"  # report mode, as the paper
    assert "AGV" in bad["reason"] and "out of range" in bad["note"]
    info = res.study.trials[0].user_attrs[ATTR_DIAGNOSIS]  # the same, from the user attrs
    assert bad["stopped by"] == "+".join(info["indicators"])
    assert math.isclose(bad["metric"], res.study.trials[0].value)
    # every recorded epoch is in the live records, in order
    assert len(done.live) == int(table["epochs run"].sum()) == len(res.epochs)
    for _, g in res.epochs.groupby("trial"):
        assert list(g["epoch"]) == list(range(len(g)))
    first = res.epochs.iloc[0]
    assert first["stopped"] and "AGV" in first["fired"]
    assert first["AGV.median_grad"] > 1e4 or not math.isfinite(first["train_loss"])
    assert np.isfinite(res.epochs["median_grad"].iloc[1:]).all()
    # the other trials ran to the end (or were stopped by a rule the table names)
    for _, row in table.iloc[1:].iterrows():
        assert row["epochs run"] == 4 or row["stopped by"]
    assert res.metric == "accuracy" and res.direction == "maximize"
    assert len(res.points()) == 3 and res.best() is not None
    assert "stopped" in done.summary() and "AGV" in done.summary()
    assert res.settings["diagnosis"]["agv_max_grad"] == 1e4
    assert res.settings["enqueue"] == [EXPLODE]


def test_progress_is_reported_each_epoch_and_the_figure_grows(done: DiagnosisController) -> None:
    events = done.events  # type: ignore[attr-defined]
    progress = [e.data for e in events if e.kind == "progress"]
    assert progress[-1].done == progress[-1].total == 3 * 4
    assert [p.done for p in progress] == sorted(p.done for p in progress)
    assert "stopped by AGV" in progress[0].message
    kinds = [e.kind for e in events]
    assert kinds.index("result") > max(i for i, k in enumerate(kinds) if k == "progress")
    seen = done.seen  # type: ignore[attr-defined]
    live = [n for _, n, _ in seen]
    assert live == sorted(live) and live[0] == 1 and live[-1] == len(done.live)
    # one epoch more at every epoch report: one progress event per epoch (+ one per trial)
    assert len({n for n in live}) == len(done.live)
    lines = [n for _, _, n in seen]
    assert lines[0] == 1 and lines[-1] == 3 and lines == sorted(lines)


def test_plain_variant_on_the_same_seed_diagnoses_without_stopping(
        done: DiagnosisController) -> None:
    plain = DiagnosisController(scale="smoke", variant="plain", **RUN)
    res = plain.run(raise_errors=True)
    assert isinstance(res, DiagnosisRun)
    t, b = res.table, done.table()
    assert list(t["params"]) == list(b["params"])  # same seed: the same configurations
    assert (t["stopped by"] == "").all() and res.n_stopped == 0
    assert "AGV" in t.iloc[0]["flagged"] and t.iloc[0]["epoch"] == 0
    assert t.iloc[0]["epochs run"] > 1  # not stopped: it kept training
    assert int(t["epochs run"].sum()) > int(b["epochs run"].sum())
    assert "flagged" in plain.summary()
    assert not any(ATTR_DIAGNOSIS in tr.user_attrs for tr in res.study.trials)


def test_prune_mode_prunes_the_bad_trial() -> None:
    ctrl = DiagnosisController(scale="smoke", mode="prune", n_trials=2, epochs=3,
                               enqueue=(EXPLODE,))
    res = ctrl.run(raise_errors=True)
    assert isinstance(res, DiagnosisRun)
    row = res.table.iloc[0]
    assert row["state"] == "PRUNED" and "AGV" in row["stopped by"]
    assert res.study.trials[0].state == optuna.trial.TrialState.PRUNED
    assert res.table.iloc[1]["state"] in ("COMPLETE", "PRUNED")


def test_stop_ends_the_study_after_the_current_epoch() -> None:
    ctrl = DiagnosisController(scale="smoke", variant="plain", n_trials=3, epochs=4)
    assert ctrl.unit == "epoch"
    remove = ctrl.on_change(lambda e: ctrl.stop() if e.kind == "progress" else None)
    res = ctrl.run(raise_errors=True)
    assert isinstance(res, DiagnosedStudy) and ctrl.status == "stopped" and res.stopped
    assert res is ctrl.result  # the partial result: the trials so far
    assert len(res.trials) == 1 and len(res.history) == 1  # cut after its first epoch
    assert res.trials[0].state == "FAIL" and "stopped" in str(res.trials[0].fail_reason)
    assert ctrl.stop_reason == "Stop button" and "partial" in ctrl.summary()
    assert "after 1/3 trials, 1 epoch trained" in ctrl.status_text()
    remove()
    again = ctrl.run(raise_errors=True)  # a new run is not stopped by the old request
    assert isinstance(again, DiagnosedStudy) and not again.stopped and len(again.trials) == 3
    assert ctrl.status == "done"


@pytest.mark.parametrize(("params", "field"), [
    ({"task": "resnet"}, "task"),
    ({"sampler": "smac"}, "sampler"),
    ({"variant": "median"}, "variant"),
    ({"mode": "stop"}, "mode"),
    ({"n_trials": 0}, "n_trials"),
    ({"epochs": 1}, "epochs"),
    ({"seed": -1}, "seed"),
    ({"agv_min_grad": -1.0}, "agv_min_grad"),
    ({"agv_min_grad": 1e5}, "agv_min_grad"),  # above agv_max_grad
    ({"plc_min_cov": float("nan")}, "plc_min_cov"),
    ({"eag_max_ratio": float("inf")}, "eag_max_ratio"),
    ({"lar_max_zero_fraction": 1.0}, "lar_max_zero_fraction"),
    ({"sc_rule": "cov"}, "sc_rule"),
    ({"indicators": ("AGV", "XYZ")}, "indicators"),
    ({"indicators": "AGV"}, "indicators"),
    ({"enqueue": ({"lrr": 0.1},)}, "enqueue[0]"),
    ({"enqueue": ({"optimizer": "lbfgs"},)}, "enqueue[0]"),
    ({"enqueue": {"lr": 0.1}}, "enqueue"),
    ({"indicator": "loss"}, "indicator"),
])
def test_bad_parameters_are_reported_before_any_training(params: dict[str, Any],
                                                         field: str) -> None:
    ctrl = DiagnosisController(scale="smoke", **{**RUN, **params})
    events: list[ChangeEvent] = []
    ctrl.on_change(events.append)
    assert ctrl.run() is None
    assert ctrl.status == "error" and isinstance(ctrl.exception, ConfigError)
    assert f"'{field}'" in str(ctrl.error)
    assert ctrl.live == [] and ctrl.trials == [] and ctrl.study is None
    assert not [e for e in events if e.kind == "progress"]
    with pytest.raises(EffdlError):  # nothing to draw (or the indicator itself is bad)
        ctrl.figure()


def test_figure_marks_the_rule_and_draws_thresholds(done: DiagnosisController) -> None:
    fig = done.figure()
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    ax_loss, ax_ind = fig.axes
    assert len(ax_loss.get_lines()) == 3  # one curve per trial
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert any("AGV" in t for t in texts)
    # the two AGV thresholds as horizontal lines on the indicator axis
    flat = [ln for ln in ax_ind.get_lines() if len(set(ln.get_ydata())) == 1
            and len(ln.get_ydata()) == 2]
    assert {float(ln.get_ydata()[0]) for ln in flat} == {1e-5, 1e4}
    assert ax_ind.get_yscale() == "log" and "AGV" in ax_ind.get_ylabel()
    for key in INDICATOR_SERIES:
        assert isinstance(done.figure(key), Figure)
    with pytest.raises(ConfigError, match="indicator"):
        done.figure("nope")


def test_exploding_trial_does_not_flatten_the_others(done: DiagnosisController) -> None:
    ax_loss = done.figure().axes[0]
    losses = done.result.epochs["train_loss"].to_numpy(dtype=float)
    healthy = losses[np.isfinite(losses) & (losses < 1e3)]
    assert np.nanmax(losses) > 1e6  # the trial built to explode did explode
    low, high = ax_loss.get_ylim()
    assert high < 10 * healthy.max() and low <= healthy.min()  # limits fit the healthy ones
    labels = ax_loss.get_legend_handles_labels()[1]
    assert any(t.endswith("above (cut)") for t in labels)  # and the cut is said
    done.yscale = "symlog"
    try:
        fig = done.figure()
        assert [ax.get_yscale() for ax in fig.axes[:2]] == ["symlog", "symlog"]
    finally:
        done.yscale = None


def test_export_figure_and_table(done: DiagnosisController, tmp_path: Path) -> None:
    paths = done.export(tmp_path / "diag", ("pdf", "png"))
    assert [p.suffix for p in paths] == [".pdf", ".png"]
    prov = read_provenance(paths[0])
    assert prov["panel"] == "diagnosis" and prov["params"]["n_trials"] == 3
    assert prov["scale"] == "smoke" and prov["seed"] == 0
    tables = done.export_table(tmp_path / "trials", ("csv", "md"))
    assert [p.suffix for p in tables] == [".csv", ".md"]
    text = tables[0].read_text()
    assert "stopped by" in text and "AGV" in text


def test_figure_before_any_run_is_an_error() -> None:
    with pytest.raises(EffdlError, match="run the panel first"):
        DiagnosisController(scale="smoke").figure()
    with pytest.raises(EffdlError, match="run the panel first"):
        DiagnosisController(scale="smoke").table()


# ---------------------------------------------------------------- a finished experiment


def _trial(number: int, value: float, t_end: float, indicators: tuple[str, ...] = ()
           ) -> dict[str, Any]:
    return {"number": number, "state": "COMPLETE", "value": value, "t_start": t_end - 1.0,
            "t_end": t_end, "worker": 0, "segment": 0,
            "outcome": "bttackler" if indicators else "complete", "epochs": 4,
            "indicators": list(indicators), "error": None, "params": {}}


def _run(variant: str, trials: list[dict[str, Any]]) -> dict[str, Any]:
    return {"task": "cnn", "method": "random", "variant": variant, "repeat": 0,
            "budget_s": 10.0, "direction": "maximize", "metric": "accuracy",
            "trials": trials}


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A results folder in the layout run_bttackler writes (computed by the experiment's
    own analysis functions from hand-made trial records; no training)."""
    runs = [
        _run("plain", [_trial(0, 0.5, 2.0), _trial(1, 0.7, 4.0), _trial(2, 0.6, 6.0)]),
        _run("bttackler", [_trial(0, 0.2, 0.5, ("AGV",)), _trial(1, 0.7, 2.5),
                           _trial(2, 0.8, 4.5), _trial(3, 0.3, 5.0, ("PLC",))]),
        _run("median", [_trial(0, 0.5, 2.0), _trial(1, 0.65, 3.0)]),
    ]
    comparisons = compare_runs(runs)
    payload = {"experiment": "bttackler", "scale": "smoke", "seed": 0,
               "budget": {"budget_s": 10.0, "workers": 1, "repeats": 1},
               "paper": PAPER, "datasets": {"cnn": "digits"}, "runs": runs,
               "comparisons": comparisons, "aggregate": aggregate(runs, comparisons),
               "indicators": indicator_counts(runs), "headline": headline(comparisons, runs)}
    out = tmp_path_factory.mktemp("bttackler_results")
    (out / "results.json").write_text(json.dumps(payload), encoding="utf-8")
    return out


def test_experiment_figure_and_headline(results_dir: Path) -> None:
    ctrl = DiagnosisController(scale="smoke")
    with pytest.raises(EffdlError, match="load_experiment"):
        ctrl.experiment_figure()
    payload = ctrl.load_experiment(results_dir)
    assert payload["scale"] == "smoke" and ctrl.experiment_files == []
    fig = ctrl.experiment_figure()
    assert len(fig.axes) == 2  # one task: TSBA above, Top10HR below
    refs = {float(ln.get_ydata()[0]) for ax in fig.axes for ln in ax.get_lines()}
    assert {PAPER["tsba"], PAPER["top10hr"], PAPER["top10hr_etr"]} <= refs
    t = ctrl.experiment_table()
    row = t[t["quantity"] == "TSBA, BTTackler (%)"].iloc[0]
    # plain reached its best 0.7 at t=4; BTTackler reached 0.7 at t=2.5: TSBA 37.5 %
    assert row["kit"] == pytest.approx(37.5) and row["paper"] == PAPER["tsba"]
    assert ctrl.status == "idle"  # loading results is not a run


def test_experiment_rewrite_redraws_the_files(results_dir: Path, tmp_path: Path) -> None:
    import shutil

    folder = tmp_path / "copy"
    shutil.copytree(results_dir, folder)
    ctrl = DiagnosisController(scale="smoke")
    ctrl.load_experiment(folder, rewrite=True)
    names = {p.name for p in ctrl.experiment_files}
    assert {"bttackler_tsba.pdf", "bttackler_top10hr.png", "bttackler_headline.csv"} <= names
    assert all(p.is_file() for p in ctrl.experiment_files)


def test_experiment_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    ctrl = DiagnosisController(scale="smoke")
    with pytest.raises(DataError, match="results.json"):
        ctrl.load_experiment(tmp_path)
    with pytest.raises(ConfigError, match="path"):
        ctrl.load_experiment("  ")


# ---------------------------------------------------------------- the ipywidgets view


def test_parse_enqueue() -> None:
    assert parse_enqueue("") == ()
    assert parse_enqueue('{"lr": 20}') == ({"lr": 20},)
    assert parse_enqueue('[{"lr": 20}, {"optimizer": "sgd"}]') == ({"lr": 20},
                                                                  {"optimizer": "sgd"})
    for bad in ("[1, 2]", "lr=20", '"sgd"'):
        with pytest.raises(ConfigError, match="enqueue"):
            parse_enqueue(bad)


def shown(panel: DiagnosisPanel) -> Any:
    """The figure on the panel's ipympl canvas (None when cleared)."""
    view = panel.figure_view
    if view.figure is None:
        return None
    assert view.canvas_box.children[0].figure is view.figure
    return view.figure


def click_run(panel: DiagnosisPanel) -> None:
    panel.run_button.click()
    assert panel.wait(120)


def test_panel_drives_the_controller(done: DiagnosisController, results_dir: Path) -> None:
    panel = DiagnosisPanel(done)
    c = panel.controls
    assert c["n_trials"].value == 3 and c["variant"].value == "bttackler"
    assert c["agv_max_grad"].value == pytest.approx(1e4)
    assert tuple(c["indicators"].value) == done.params["indicators"]
    assert json.loads(panel.enqueue_box.value) == [EXPLODE]
    assert panel.changed_controls() == []
    c["n_trials"].text.value = "2"
    c["epochs"].text.value = "3"
    assert panel.changed_controls() == ["n_trials", "epochs"]
    frames: list[Any] = []
    show = panel.figure_view.show
    panel.figure_view.show = lambda fig: (frames.append(fig), show(fig))  # type: ignore
    click_run(panel)
    assert done.status == "done", done.error
    assert done.params["n_trials"] == 2 and len(done.result.table) == 2
    assert len(frames) >= 3  # the live figure was redrawn while the study ran
    assert panel.progress.value == panel.progress.max == 2 * 3
    table = panel.table.frame  # a sortable grid with display labels
    assert table is not None and list(table["Trial"]) == [0, 1]
    assert "AGV" in table["Stopped by"].iloc[0] and "Validation accuracy" in table.columns
    assert "stopped" in panel.summary.value and panel.error_box.value == ""
    # another indicator curve: redrawn without a rerun
    before = shown(panel)
    panel.indicator.value = "ERG.median_ratio"
    assert done.params["indicator"] == "ERG.median_ratio" and done.status == "done"
    assert shown(panel) is not before
    assert shown(panel).axes[1].get_ylabel() == INDICATOR_SERIES["ERG.median_ratio"].label
    # a malformed "try first" box: the error under that box, no training
    panel.enqueue_box.value = "lr=20"
    click_run(panel)
    assert done.status == "error" and "ConfigError" in panel.error_text("enqueue")
    assert panel.error_text() == "" and panel.table.frame is None and shown(panel) is None
    # an empty box: no configuration tried first, the sampler proposes every trial
    panel.enqueue_box.value = "[]"
    c["variant"].value = "plain"
    click_run(panel)
    assert done.status == "done", done.error
    assert panel.error_text("enqueue") == ""
    assert done.params["enqueue"] == () and "lr=20," not in done.table().iloc[0]["params"]
    assert "flagged" in panel.summary.value or "0 flagged" in panel.summary.value
    # the results section: its error right under the results-folder box
    assert panel.show_results(results_dir / "missing") is False
    assert "DataError" in panel.error_text("results_dir") and panel.error_text() == ""
    assert not panel.results_view.shown and panel.results_table.frame is None
    assert done.status == "done"  # loading results is not a run
    assert panel.show_results(results_dir) is True
    assert panel.results_view.shown and panel.error_text("results_dir") == ""
    assert PAPER["tsba"] in set(panel.results_table.frame["Paper"])
    panel.close()


def test_panel_layout_keeps_each_error_line_under_its_control_and_beside_the_results_box(
        ) -> None:
    import ipywidgets as W

    panel = DiagnosisPanel(scale="smoke")
    columns = panel.widget.children[1].children[0]
    assert isinstance(columns, W.HBox) and len(columns.children) == 2  # two columns
    rows = [row for col in columns.children for row in col.children]
    assert len(rows) == len(panel.controls)
    for name, w in panel.controls.items():  # each control above its own error line
        row = next(r for r in rows if r.children[0] is w)
        assert row.children[1] is panel.field_errors[name]
    section = panel.widget.children[-2]  # the results section: box, then its error line
    at = next(i for i, ch in enumerate(section.children)
              if isinstance(ch, W.HBox) and panel.results_path in ch.children)
    assert section.children[at + 1] is panel.field_errors["results_dir"]
    assert panel.results_path.layout.width == "520px"
    button = panel.results_button.layout  # wide enough for "Show TSBA / Top10HR"
    assert button.width == "auto" and int(button.min_width.rstrip("px")) >= 8 * len(
        panel.results_button.description)
    for name in ("n_trials", "epochs", "seed", *THRESHOLDS):
        if name != "sc_rule":
            assert type(panel.controls[name]).__name__ == "NumberEntry", name
    assert panel.controls["seed"].slider is None
    panel.close()


@pytest.mark.parametrize(("field", "typed", "message"), [
    ("agv_min_grad", "abc", "'abc' is not a number"),
    ("n_trials", "0", "below the smallest allowed value"),
])
def test_panel_typed_nonsense_is_an_error_beside_its_field(field: str, typed: str,
                                                           message: str) -> None:
    panel = DiagnosisPanel(scale="smoke", interactive=False)
    before = panel.controls[field].value
    panel.controls[field].text.value = typed
    assert panel.controls[field].value == before and message in panel.error_text(field)
    click_run(panel)
    assert panel.controller.status == "error" and panel.controller.error_field == field
    assert "ConfigError" in panel.error_text(field) and panel.error_text() == ""
    panel.close()


@pytest.mark.parametrize(("field", "typed"), [("agv_min_grad", "-1"), ("seed", "-5"),
                                               ("lar_max_zero_fraction", "1")])
def test_panel_library_config_error_sits_beside_its_field(field: str, typed: str) -> None:
    panel = DiagnosisPanel(scale="smoke", interactive=False)
    panel.controls[field].text.value = typed
    assert panel.error_text(field) == ""  # a number: left to the library to judge
    click_run(panel)
    c = panel.controller
    assert c.status == "error" and c.error_field == field and c.live == []
    assert f"'{field}'" in panel.error_text(field) and panel.error_text() == ""
    panel.close()


def wait_for(cond: Any, timeout: float = 120.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.01)


def stop_mid_run(panel: DiagnosisPanel, stop: Any) -> int:
    """Run 20 trials of 2 epochs, stop once an epoch is recorded; the epochs then."""
    panel.controls["n_trials"].text.value = "20"
    panel.controls["epochs"].text.value = "2"
    panel.run_button.click()
    c = panel.controller
    assert c.status == "running" and not panel.stop_button.disabled
    wait_for(lambda: panel.progress.value >= 1)
    asked_at = len(c.live)
    stop()
    assert panel.wait(120) and c.status == "stopped"
    res = c.result
    assert isinstance(res, DiagnosedStudy) and res.stopped
    assert asked_at <= len(res.history) <= asked_at + 1  # within one epoch
    assert len(res.trials) < 20
    return asked_at


def test_panel_stop_button_keeps_the_trials_so_far(tmp_path: Path) -> None:
    panel = DiagnosisPanel(scale="smoke", variant="plain", export_stem=str(tmp_path / "diag"))
    stop_mid_run(panel, panel.stop_button.click)
    c = panel.controller
    assert shown(panel) is not None and "partial result" in panel.figure_view.banner.value
    assert "stopped (Stop button)" in panel.status_label.value
    assert panel.table.frame is not None and len(panel.table.frame) == len(c.result.trials)
    assert "partial" in panel.summary.value and panel.progress.bar_style == "warning"
    panel.export_formats.value = ("png",)
    panel.export_button.click()
    assert "diag.png" in panel.export_result.value, panel.error_text("export")
    prov = read_provenance(tmp_path / "diag.png")
    assert prov["run_status"] == "stopped" and prov["stopped"]["reason"] == "Stop button"
    panel.close()


def test_kernel_interrupt_stops_the_study_the_same_way() -> None:
    from effdl_kit.widgets._interrupt import stop_all

    panel = DiagnosisPanel(scale="smoke", variant="plain")
    stop_mid_run(panel, lambda: stop_all("kernel interrupt"))
    assert panel.controller.stop_reason == "kernel interrupt"
    assert "stopped (kernel interrupt)" in panel.status_label.value
    assert shown(panel) is not None
    panel.figure_view.yscale.value = "symlog"  # both axes redrawn on that scale
    assert panel.controller.yscale == "symlog"
    assert [ax.get_yscale() for ax in shown(panel).axes[:2]] == ["symlog", "symlog"]
    panel.figure_view.yscale.value = "linear"  # back to each axis' own default
    assert panel.controller.yscale == "linear"
    panel.close()


def test_figures_are_paper_ready(done: DiagnosisController, results_dir: Path) -> None:
    from effdl_kit.testing import assert_paper_ready

    assert_paper_ready(done.figure(), name="diagnosis panel figure")
    ctrl = DiagnosisController(scale="smoke")
    ctrl.load_experiment(results_dir)
    assert_paper_ready(ctrl.experiment_figure(), name="TSBA / Top10HR figure")


def test_panel_with_controller_takes_no_extra_params() -> None:
    with pytest.raises(ConfigError, match="params"):
        DiagnosisPanel(DiagnosisController(scale="smoke"), n_trials=2)
    panel = DiagnosisPanel(scale="smoke", results_dir="somewhere", n_trials=5)
    assert panel.results_path.value == "somewhere" and panel.controls["n_trials"].value == 5
    panel.close()


def test_enqueue_none_is_refused_naming_the_field() -> None:
    """Found by the fuzz test: the panel's enqueue is a list (the library's None means none)."""
    ctrl = DiagnosisController(scale="smoke")
    ctrl.set(enqueue=None)
    assert ctrl.run() is None
    assert ctrl.status == "error" and "enqueue" in str(ctrl.error)
