"""RecommendController and RecommendPanel driven without a browser (smoke scale).

The session's fitted parts (``recommend_parts``: ``prepare("digits", "cpu", scale="smoke",
seed=0)``) go into the controller's documented cache, ``controller.prepared[key]``, so no test
fits the predictor or the latency models again.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import effdl_kit.widgets._recommend_controller as rc
from effdl_kit.errors import ConfigError
from effdl_kit.recommend import Confirmation, Recommendation
from effdl_kit.reports import read_provenance, record_label_misses
from effdl_kit.testing import assert_paper_ready
from effdl_kit.widgets import ChangeEvent, RecommendController, RecommendPanel

KEY = ("digits", "cpu", "smoke", 0)


def _controller(parts: Any, **params: Any) -> RecommendController:
    c = RecommendController(scale="smoke", **params)
    c.prepared[KEY] = parts
    return c


def _no_fitting(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("prepare() called: the cache should have served")

    monkeypatch.setattr(rc, "prepare", refuse)


@pytest.fixture(scope="module")
def done(recommend_parts: Any) -> RecommendController:
    """One run to the end: search, then the top candidate trained and timed."""
    c = _controller(recommend_parts, trainings=1, latency_budget_ms=2.0)
    c.run(raise_errors=True)
    return c


def test_run_to_done_recommends_then_trains_the_top_candidate(done: RecommendController
                                                             ) -> None:
    assert done.status == "done" and done.prepare_calls == 0
    res = done.result
    rec, conf = res["recommendation"], res["confirmation"]
    assert isinstance(rec, Recommendation) and isinstance(conf, Confirmation)
    assert res["prepared_reused"] and rec.search["prepared_reused"] and not rec.stopped
    assert len(conf.trials) == 1 and not conf.stopped
    top = rec.table(1).iloc[0]
    assert {c: conf.trials[0].components[c] for c in rec.components} == \
        {c: top[c] for c in rec.components}
    assert conf.trials[0].measured_ms > 0
    p = done.last_progress
    assert p is not None and p.done == p.total  # search iterations + training epochs
    table = done.table()
    assert table is not None and list(table["rank"]) == list(range(1, len(table) + 1))
    assert {"predicted_accuracy", "predicted_ms", "predicted_lo_ms", "predicted_hi_ms",
            "p_feasible", "test_accuracy", "measured_ms"} <= set(table.columns)
    assert table["measured_ms"].notna().sum() == 1  # only the trained one has measurements
    assert table["measured_ms"].iloc[0] == pytest.approx(conf.trials[0].measured_ms)
    assert "trained 1" in done.summary() and "within" in done.summary()


def test_figure_is_paper_ready_and_registered(done: RecommendController) -> None:
    with record_label_misses() as misses:
        fig = done.figure()
        table = done.table()
        assert table is not None
        from effdl_kit.reports import humanize_columns

        humanize_columns(table)
    assert misses == set(), sorted(misses)
    assert_paper_ready(fig, name="RecommendPanel figure")
    ax = fig.axes[0]
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "predicted Pareto front" in texts
    assert any(t.startswith("trained") or t.startswith("stopped by") for t in texts)


def test_export_writes_figure_json_and_provenance(done: RecommendController,
                                                  tmp_path: Path) -> None:
    paths = done.export(tmp_path / "rec")
    assert [p.name for p in paths] == ["rec.pdf", "rec.svg", "rec.png",
                                       "rec_recommendation.json", "rec_confirmation.json"]
    prov = read_provenance(tmp_path / "rec.png")
    assert prov["run_status"] == "done" and prov["panel"] == "recommend"
    assert prov["prepared_reused"] is True and prov["trained"] == 1
    assert prov["scale"] == "smoke" and prov["seed"] == 0
    rec = Recommendation.from_json(tmp_path / "rec_recommendation.json")
    assert len(rec.candidates) == len(done.result["recommendation"].candidates)
    conf = Confirmation.from_json(tmp_path / "rec_confirmation.json")
    assert len(conf.trials) == 1


@pytest.mark.parametrize(("params", "field"), [
    ({"latency_budget_ms": 0}, "latency_budget_ms"),
    ({"latency_budget_ms": -1.0}, "latency_budget_ms"),
    ({"task": "cifar100"}, "task"),
    ({"device": "tpu"}, "device"),
    ({"trainings": -1}, "trainings"),
    ({"seed": -5}, "seed"),
    ({"scale": "huge"}, "scale"),
    ({"mode": "greedy"}, "mode"),
])
def test_bad_input_beside_its_field_before_any_work(params: dict[str, Any], field: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    def no_work(*args: object, **kwargs: object) -> None:
        raise AssertionError("work started on bad input")

    for name in ("prepare", "recommend", "confirm"):
        monkeypatch.setattr(rc, name, no_work)
    c = RecommendController(scale="smoke")
    c.set(**params)
    assert c.run() is None
    assert c.status == "error" and c.error_field == field, c.error
    assert isinstance(c.exception, ConfigError)
    assert c.prepare_calls == 0 and c.recommendation is None


def test_trainings_on_a_gpu_this_machine_lacks_fail_beside_device(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    def no_work(*args: object, **kwargs: object) -> None:
        raise AssertionError("work started")

    monkeypatch.setattr(rc, "prepare", no_work)
    c = RecommendController(scale="smoke", device="gpu", trainings=1)
    c.run()
    if torch.cuda.is_available():  # the check passes: the (stubbed) work was reached
        assert c.error_field is None and "work started" in str(c.error)
    else:
        assert c.error_field == "device" and "not available" in str(c.error)


def test_stop_during_the_search_keeps_what_it_evaluated(recommend_parts: Any,
                                                        tmp_path: Path) -> None:
    c = _controller(recommend_parts, trainings=1)

    def stop_at_first_iteration(e: ChangeEvent) -> None:
        if e.kind == "progress" and e.data.done >= 1:
            c.stop("test")

    c.on_change(stop_at_first_iteration)
    res = c.run(raise_errors=True)
    assert c.status == "stopped" and c.stop_reason == "test"
    rec = res["recommendation"]
    assert rec.stopped and 1 <= len(rec.candidates) <= 2  # within one search iteration
    assert res["confirmation"] is None and c.trials == []  # no training started
    assert c.last_progress is not None and c.last_progress.done == rec.search["n_iter"]
    assert "search stopped" in c.summary()
    paths = c.export(tmp_path / "part")
    assert [p.name for p in paths] == ["part.pdf", "part.svg", "part.png",
                                       "part_recommendation.json"]
    prov = read_provenance(tmp_path / "part.png")
    assert prov["run_status"] == "stopped" and prov["stopped"]["reason"] == "test"
    assert prov["search_stopped"] is True
    assert json.loads((tmp_path / "part_recommendation.json").read_text())["stopped"] is True


def test_stop_during_training_ends_it_within_one_epoch(recommend_parts: Any) -> None:
    c = _controller(recommend_parts, trainings=2)
    epochs: list[int] = []

    def stop_at_first_epoch(e: ChangeEvent) -> None:
        if e.kind == "progress" and e.data.message.startswith("training"):
            epochs.append(e.data.done)
            c.stop("test")

    c.on_change(stop_at_first_epoch)
    res = c.run(raise_errors=True)
    assert c.status == "stopped"
    assert len(epochs) == 1  # no epoch after the one the stop came in
    assert c.last_progress is not None and c.last_progress.done == epochs[0]
    conf = res["confirmation"]
    assert conf is not None and conf.stopped and conf.trials == []
    assert not res["recommendation"].stopped  # the search had finished
    assert c.figure() is not None  # the front is still shown


def test_stop_while_fitting_leaves_nothing_and_caches_nothing(recommend_parts: Any) -> None:
    c = RecommendController(scale="smoke")
    c.on_change(lambda e: c.stop("test") if e.kind == "progress" else None)
    assert c.run(raise_errors=True) is None
    assert c.status == "stopped" and c.result is None and c.prepared == {}
    assert "nothing to show" in c.status_text()


def test_budget_change_reuses_the_fitted_parts(recommend_parts: Any,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[Any, ...]] = []

    def counting(task: str, device: str, *, scale: str, seed: int, progress: Any = None
                 ) -> Any:
        calls.append((task, device, scale, seed))
        return recommend_parts

    monkeypatch.setattr(rc, "prepare", counting)
    c = RecommendController(scale="smoke", trainings=0, latency_budget_ms=2.0)
    first = c.run(raise_errors=True)
    assert calls == [KEY] and not first["prepared_reused"] and c.prepare_calls == 1
    c.set(latency_budget_ms=0.1)
    second = c.run(raise_errors=True)
    assert calls == [KEY] and second["prepared_reused"]  # prepare called once
    rec = second["recommendation"]
    assert rec.latency_budget_ms == 0.1 and rec.time_s["prepare"] < 1e-3
    assert second["confirmation"] is None  # trainings 0: predict only
    c.set(seed=1)  # another key: fitted again
    c.run(raise_errors=True)
    assert calls == [KEY, ("digits", "cpu", "smoke", 1)] and c.prepare_calls == 2


def test_panel_shows_errors_beside_fields_and_the_live_figure(
        recommend_parts: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    _no_fitting(monkeypatch)
    c = _controller(recommend_parts, trainings=1)
    panel = RecommendPanel(controller=c, interactive=False)
    drawn: list[int] = []
    figure = c.figure

    def counted() -> Any:
        drawn.append(len(c.trials))
        return figure()

    monkeypatch.setattr(c, "figure", counted)
    panel.figure_view._draw = counted
    panel.controls["latency_budget_ms"].value = 0.0
    assert panel.run() is None
    assert "latency_budget_ms" in panel.error_text("latency_budget_ms")
    assert panel.error_text() == ""  # not in the panel-wide box
    panel.controls["trainings"].text.value = "-1"  # typed below the field's limit
    assert panel.run() is None and c.error_field == "trainings"
    assert panel.error_text("trainings")
    panel.controls["trainings"].text.value = "1"
    panel.controls["latency_budget_ms"].value = 2.0
    res = panel.run()
    assert res is not None and c.status == "done"
    # live: the front when the search ended, again when the trained candidate arrived,
    # then the finished result
    assert drawn[:2] == [0, 1] and len(drawn) == 3
    assert panel.figure_view.shown and panel.table.frame is not None
    assert "Measured latency (ms)" in panel.table.frame.columns
    assert "trained 1" in panel.summary.value
    panel.close()
