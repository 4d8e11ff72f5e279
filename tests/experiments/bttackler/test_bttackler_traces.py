"""The BTTackler trace dataset: the builder (resumable, deterministic, injected pathologies)
and the shipped ``data/bttackler_traces_cpu.jsonl``."""

from __future__ import annotations

import json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from effdl_kit.diagnosis import BTTacklerRule, ReplayHistory
from effdl_kit.errors import ConfigError, DataError
from effdl_kit.experiments.bttackler import (
    PATHOLOGIES,
    TRACE_DIAGNOSIS,
    TRACE_TASKS,
    TraceBudget,
    build_trace_dataset,
    kit_traces_path,
    load_traces,
    trace_config,
)
from effdl_kit.training import load_data

TINY = TraceBudget(tasks=("cnn_digits", "transformer_co2"), n_natural=1, n_injected=1,
                   epochs=3, space="tiny")


@pytest.mark.parametrize(("field", "value"), [
    ("tasks", ("cnn_digits", "resnet")), ("tasks", "cnn_digits"), ("n_natural", -1),
    ("epochs", 1), ("space", "huge"), ("device", "tpu")])
def test_trace_budget_rejects_bad_fields(field: str, value: object) -> None:
    args = {"tasks": ("cnn_digits",), "n_natural": 1, "n_injected": 1, "epochs": 3,
            "space": "tiny", field: value}
    with pytest.raises(ConfigError, match=field):
        TraceBudget(**args)  # type: ignore[arg-type]


def test_small_scale_meets_the_issue() -> None:
    b = TraceBudget.for_scale("small")
    assert b.epochs >= 20
    assert b.n_natural * len(b.tasks) >= 300
    assert b.n_injected / b.per_task >= 0.30
    assert set(b.tasks) == set(TRACE_TASKS)


@pytest.mark.parametrize("name", list(TRACE_TASKS))
def test_every_batch_size_gives_at_least_30_steps(name: str) -> None:
    tt = TRACE_TASKS[name]
    data = load_data(tt.dataset, data_params=dict(tt.data_params))
    assert len(data.x_train) // max(tt.batches) >= 30


def test_trace_config_is_deterministic_and_injects_pathologies() -> None:
    b = TraceBudget(tasks=("cnn_digits",), n_natural=2, n_injected=4, epochs=20,
                    space="small")
    configs = [trace_config(b, 7, i) for i in range(b.n_rows)]
    again = [trace_config(b, 7, i) for i in range(b.n_rows)]
    assert [c.to_dict() for c, _ in configs] == [c.to_dict() for c, _ in again]
    assert trace_config(b, 8, 0)[0].to_dict() != configs[0][0].to_dict()
    kinds = [info["pathology"] for _, info in configs]
    assert kinds == ["none", "none", *PATHOLOGIES]
    by = {info["pathology"]: cfg for cfg, info in configs}
    assert by["lr_high"].lr == 20.0 and by["lr_low"].lr == 1e-8
    relu = by["relu_bias"].model_params
    assert (relu["activation"], relu["norm"], relu["bias_init"]) == ("relu", "none", -3.0)
    deep = by["deep_sigmoid"].model_params
    assert (deep["activation"], deep["norm"], deep["convs_per_stage"], deep["fc_layers"]) == (
        "sigmoid", "none", 2, 4)
    for cfg, _ in configs:
        assert cfg.batch_size in TRACE_TASKS["cnn_digits"].batches
        assert cfg.epochs == 20 and cfg.threads == 1


def test_lstm_and_transformer_admit_only_the_lr_pathologies() -> None:
    for name in ("lstm_digits", "transformer_co2"):
        assert set(TRACE_TASKS[name].pathologies) == {"lr_high", "lr_low"}


def test_build_resume_and_refuse_other_args(tmp_path: Path) -> None:
    path = tmp_path / "traces.jsonl"
    with ThreadPoolExecutor(max_workers=2) as pool:
        rows = build_trace_dataset(TINY, path=path, seed=3, executor=pool, progress=False)
    assert [r["index"] for r in rows] == list(range(TINY.n_rows))
    assert all(r["status"] == "ok" for r in rows), [r.get("error") for r in rows]
    traces = load_traces(path)
    assert len(traces) == TINY.n_rows
    for t, r in zip(traces, rows, strict=True):
        assert t.max_epochs == 3 and len(r["live_fired"]) == 3
        assert t.tags == {"trace_task": r["trace_task"], "pathology": r["pathology"]}
        assert all(np.isfinite(e.wall_s) and e.wall_s > 0 and np.isfinite(e.cpu_s)
                   for e in t.records)
        assert len(t.records[0].mean_abs) == len(r["layers"]) > 0
    assert {t.direction for t in traces} == {"maximize", "minimize"}
    assert len(load_traces(path, injected=True)) == 2
    assert [t.tags["trace_task"] for t in load_traces(path, task="transformer_co2")] == [
        "transformer_co2"] * 2
    prov = json.loads((tmp_path / "traces.provenance.json").read_text())
    assert prov["rows_ok"] == TINY.n_rows

    # a kill mid-write: the last row torn; the rerun trains only that row again
    text = path.read_bytes()
    cut = text.rstrip(b"\n").rfind(b"\n") + 1
    path.write_bytes(text[:cut + 40])
    again = build_trace_dataset(TINY, path=path, seed=3, executor=ThreadPoolExecutor(1),
                                progress=False)
    assert sorted(r["index"] for r in again) == list(range(TINY.n_rows))
    assert len(load_traces(path)) == TINY.n_rows
    with pytest.raises(ConfigError):
        build_trace_dataset(TINY, path=path, seed=4, progress=False)


def test_load_traces_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="build one"):
        load_traces(tmp_path / "missing.jsonl")
    with pytest.raises(ConfigError, match="task"):
        load_traces(tmp_path / "missing.jsonl", task="resnet")
    foreign = tmp_path / "foreign.jsonl"
    foreign.write_text('{"format": "something-else"}\n')
    with pytest.raises(DataError, match="not a BTTackler trace dataset"):
        load_traces(foreign)


# --- the shipped dataset ------------------------------------------------------------------

@pytest.fixture(scope="module")
def shipped() -> list:
    return load_traces(kit_traces_path())


def test_shipped_dataset_meets_the_issue(shipped: list) -> None:
    natural = [t for t in shipped if t.tags["pathology"] == "none"]
    assert len(natural) >= 300
    assert min(t.max_epochs for t in shipped) >= 20
    per_task = Counter(t.tags["trace_task"] for t in shipped)
    assert set(per_task) == set(TRACE_TASKS)
    for task, n in per_task.items():
        injected = sum(1 for t in shipped if t.tags["trace_task"] == task
                       and t.tags["pathology"] != "none")
        assert injected / n >= 0.30, task
    prov = json.loads(kit_traces_path().with_name(
        "bttackler_traces_cpu.provenance.json").read_text())
    assert prov["rows_ok"] == len(shipped)
    assert prov["machine"] and prov["runs"]
    assert prov["live_diagnosis_config"] == TRACE_DIAGNOSIS.to_dict()


def test_replayed_verdicts_equal_the_live_diagnoser(shipped: list) -> None:
    """The replay recomputes BTTackler's verdicts from the stored statistics; without peers
    (no protection) they must be the report-only diagnoser's own, epoch by epoch."""
    rows = {r["config_id"]: r for r in _rows(kit_traces_path())}
    rule = BTTacklerRule(TRACE_DIAGNOSIS)
    empty = ReplayHistory()
    checked = 0
    for t in shipped[::7]:
        live = rows[t.config_id]["live_fired"]
        for e in range(t.max_epochs - 1):
            assert list(rule.reasons(t, e, empty)) == live[e], (t.config_id, e)
            checked += 1
    assert checked > 1000


def test_injected_pathologies_show_their_symptoms(shipped: list) -> None:
    """lr 1e-8 barely moves the loss; lr 20 makes most losses non-finite or huge."""
    low = [t for t in shipped if t.tags["pathology"] == "lr_low"]
    rel = [abs(t.records[-1].train_loss - t.records[0].train_loss) / abs(t.records[0].train_loss)
           for t in low]
    assert np.median(rel) < 0.01
    high = [t for t in shipped if t.tags["pathology"] == "lr_high"]
    healthy = [t.final_metric for t in shipped if t.tags["pathology"] == "none"
               and t.direction == "maximize"]
    bad = [t.final_metric for t in high if t.direction == "maximize"]
    assert np.nanmedian(bad) < np.nanmedian(healthy)


def _rows(path: Path) -> list[dict]:
    lines = path.read_text().splitlines()[1:]
    return [r for r in map(json.loads, lines) if r["status"] == "ok"]
