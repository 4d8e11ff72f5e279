"""The live BTTackler experiment: budgets, one arm, pairing of the arms, the A/A control, a
smoke run end to end in two worker processes, resuming, the figure, the Markdown and the entry
point."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from concurrent.futures import Executor, Future
from pathlib import Path
from typing import Any

import pytest

from effdl_kit._core.errors import ConfigError
from effdl_kit.diagnosis import DiagnosisConfig
from effdl_kit.experiments.bttackler import (
    LIVE_ARMS,
    LIVE_FILE,
    ArmSpec,
    LiveBudget,
    compare_live_arms,
    live_data,
    redraw_live,
    run_arm,
    run_bttackler_live,
)
from effdl_kit.experiments.bttackler._live_main import main, render_live_markdown

#: AGV's low-gradient threshold raised so that it fires at epoch 0 of every trial: a stop rule
#: that certainly stops (the kit's defaults rarely fire within 4 epochs).
ALWAYS_STOP = DiagnosisConfig(agv_min_grad=1e3)
SMOKE = LiveBudget.for_scale("smoke")


class _Inline(Executor):
    """Runs each call at submit time, in this process; counts the calls."""

    def __init__(self) -> None:
        self.calls: list[ArmSpec] = []

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.calls.append(args[0])
        f: Future[Any] = Future()
        f.set_result(fn(*args, **kwargs))
        return f


def test_budget_per_scale_and_the_small_data_meet_the_issue() -> None:
    small = LiveBudget.for_scale("small")
    assert small.epochs >= 16 and small.repeats >= 5
    assert small.epoch_budget == 16 * 14 and small.method == "random" and small.preset == "kit"
    data = live_data(small, 0)
    assert len(data.x_val) >= 1000
    assert min(len(data.x_train) // b for b in small.batches) >= 30
    assert SMOKE.epochs == 4 and SMOKE.repeats == 2 and SMOKE.space == "tiny"
    assert LiveBudget.for_scale("paper").image_size == 32


@pytest.mark.parametrize(("field", "value"), [
    ("repeats", 0), ("epochs", 1), ("epoch_budget", 3), ("n_samples", 10), ("batches", ()),
    ("batches", (16, 0)), ("space", "huge"), ("method", "gp"), ("preset", "legacy"),
    ("image_size", 8), ("difficulty", 1.5)])
def test_bad_budget_fields_are_named(field: str, value: Any) -> None:
    with pytest.raises(ConfigError) as exc:
        dataclasses.replace(SMOKE, **{field: value})
    assert exc.value.field == field


def test_bad_arm_spec_and_run_arguments() -> None:
    with pytest.raises(ConfigError, match="arm"):
        ArmSpec("median", 0, 0, SMOKE)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="budget"):
        ArmSpec("plain", 0, 0, {"epochs": 4})  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="scale"):
        run_bttackler_live("huge", 0, "x")
    with pytest.raises(ConfigError, match="executor"):
        run_bttackler_live("smoke", 0, "x", executor=object())  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="diagnosis"):
        run_bttackler_live("smoke", 0, "x", diagnosis={"sc_rule": "spread"})  # type: ignore


def test_a_a_control_two_plain_runs_give_tsba_exactly_zero() -> None:
    a = run_arm(ArmSpec("plain", 0, 5, SMOKE))
    b = run_arm(ArmSpec("plain", 0, 5, SMOKE))
    assert [t["value"] for t in a["trials"]] == [t["value"] for t in b["trials"]]
    row = compare_live_arms(a, b, epochs=SMOKE.epochs)
    assert row["tsba_epochs"] == 0.0 and row["top10hr"] == 50.0 and row["best_diff"] == 0.0
    assert a["epoch_clock"] >= SMOKE.epoch_budget
    assert [t["epoch_clock"] for t in a["trials"]] == [4, 8, 12]
    assert all(t["epochs"] == SMOKE.epochs and not t["stopped"] for t in a["trials"])


def test_random_arms_are_paired_and_differ_only_in_the_stopping() -> None:
    plain = run_arm(ArmSpec("plain", 0, 3, SMOKE))
    bt = run_arm(ArmSpec("bttackler", 0, 3, SMOKE, ALWAYS_STOP))
    assert len(bt["trials"]) > len(plain["trials"])
    for p, t in zip(plain["trials"], bt["trials"], strict=False):
        assert p["number"] == t["number"] and p["params"] == t["params"]
        assert t["stopped"] and "AGV" in t["indicators"] and t["epochs"] < SMOKE.epochs
        # the same seed, the same training up to the stop
        assert t["curve"] == p["curve"][: t["epochs"]]
        assert t["value"] == pytest.approx(p["curve"][t["epochs"] - 1], abs=1e-6)
    clocks = [t["epoch_clock"] for t in bt["trials"]]
    assert clocks == sorted(clocks) and clocks[-1] == bt["epoch_clock"] >= SMOKE.epoch_budget
    walls = [t["wall_clock"] for t in bt["trials"]]
    assert walls == sorted(walls) and all(t["cpu_s"] > 0 for t in bt["trials"])


def test_only_the_diagnosis_stops_trials() -> None:
    # 8 trials: past the startup of Optuna's default MedianPruner (5), which must not act
    budget = dataclasses.replace(SMOKE, epoch_budget=32)
    for arm in LIVE_ARMS:
        rec = run_arm(ArmSpec(arm, 0, 11, budget))
        assert len(rec["trials"]) >= 8
        for t in rec["trials"]:
            assert t["error"] is None and t["value"] is not None
            assert t["epochs"] == SMOKE.epochs or (t["stopped"] and t["indicators"])


def test_a_diverged_trial_is_marked_in_its_record(monkeypatch: pytest.MonkeyPatch) -> None:
    from effdl_kit.experiments.bttackler import _live

    real_config = _live._config

    def diverging(trial: Any, spec: ArmSpec) -> Any:
        cfg = real_config(trial, spec)
        if trial.number == 0:  # SGD at lr 100 in batches of 8: NaN loss in epoch 0
            cfg = dataclasses.replace(cfg, lr=100.0, optimizer="sgd", batch_size=8)
        return cfg

    monkeypatch.setattr(_live, "_config", diverging)
    budget = dataclasses.replace(SMOKE, epoch_budget=8)
    rec = run_arm(ArmSpec("plain", 0, 11, budget))
    bad, *rest = rec["trials"]
    assert str(bad["nonfinite_loss"]).startswith("non-finite loss: training loss nan")
    assert bad["epochs"] == SMOKE.epochs  # trained on: a plain HPO run has no stop rule
    assert rest and all(t["nonfinite_loss"] is None for t in rest)


def test_smoke_run_end_to_end_in_two_processes(tmp_path: Path) -> None:
    doc = run_bttackler_live("smoke", 0, tmp_path, diagnosis=ALWAYS_STOP, command="test")
    on_disk = json.loads((tmp_path / LIVE_FILE).read_text())
    assert on_disk["repeats"] == doc["repeats"] and on_disk["summary"] == doc["summary"]
    assert [r["repeat"] for r in doc["repeats"]] == [0, 1]
    assert [r["first"] for r in doc["repeats"]] == ["plain", "bttackler"]
    assert doc["data"]["n_val"] >= 80 and doc["env"]["cpu_model"]
    for rep in doc["repeats"]:
        plain, bt = rep["arms"]["plain"]["trials"], rep["arms"]["bttackler"]["trials"]
        keys = {"number", "params", "epochs", "stopped", "indicators", "value", "curve",
                "wall_s", "cpu_s", "epoch_clock", "wall_clock", "cpu_clock", "error",
                "nonfinite_loss"}
        assert all(keys <= set(t) for t in plain + bt)
        assert all(t["epochs"] == SMOKE.epochs and not t["stopped"] for t in plain)
        stopped = [t for t in bt if t["stopped"]]
        assert stopped and all(t["epochs"] < SMOKE.epochs for t in stopped)
    s = doc["summary"]
    assert s["n_repeats"] == 2
    assert next(q for q in s["quantities"] if q["quantity"] == "stop_share")["mean"] == 100.0
    # the figure and the Markdown from the document alone
    paths = redraw_live(doc, tmp_path / "live")
    assert paths == [tmp_path / "live.png"] and paths[0].stat().st_size > 0
    md = render_live_markdown({**doc, "date": "today", "wall_s": 1.0})
    assert "`test`" in md and "TSBA, epoch clock (%)" in md
    assert "## Per repeat" in md and "AGV" in md and "No replay reference" in md
    ci = {"mean": 10.0, "lo": 5.0, "hi": 15.0}
    replay = {"n_traces": 80, "trace_epochs": 20, "budget_epochs": 280.0, "n_orderings": 1000,
              "trace_samples": 3000, "quantities": {k: ci for k in (
                  "tsba", "top10hr", "stop_rate", "epochs_saved", "precision")}}
    md2 = render_live_markdown({**doc, "date": "today", "wall_s": 1.0, "replay": replay})
    assert "## Agreement with the replay (80 natural" in md2 and "3000 generated" in md2


def test_entry_point_writes_the_three_files(tmp_path: Path) -> None:
    argv = ["--scale", "smoke", "--repeats", "1", "--epoch-budget", "4", "--out",
            str(tmp_path), "--traces", "none"]
    assert main(argv) == 0
    doc = json.loads((tmp_path / LIVE_FILE).read_text())
    assert doc["command"].endswith(" ".join(argv)) and doc["summary"]["n_repeats"] == 1
    md = (tmp_path / "bttackler_live.md").read_text()
    assert doc["command"] in md
    assert (tmp_path / "bttackler_live.png").stat().st_size > 0


def test_resume_skips_done_repeats_and_refuses_another_budget(tmp_path: Path) -> None:
    one = dataclasses.replace(SMOKE, repeats=1, epoch_budget=4)
    ex = _Inline()
    run_bttackler_live("smoke", 0, tmp_path, budget=one, executor=ex)
    assert sorted(c.arm for c in ex.calls) == ["bttackler", "plain"]
    ex2 = _Inline()
    doc = run_bttackler_live("smoke", 0, tmp_path, budget=dataclasses.replace(one, repeats=2),
                             executor=ex2)
    assert [c.repeat for c in ex2.calls] == [1, 1]
    assert [c.arm for c in ex2.calls] == ["bttackler", "plain"]  # alternated
    assert [r["repeat"] for r in doc["repeats"]] == [0, 1]
    with pytest.raises(ConfigError) as exc:
        run_bttackler_live("smoke", 0, tmp_path, budget=dataclasses.replace(one, epochs=3,
                                                                            epoch_budget=6),
                           executor=_Inline())
    assert exc.value.field == "out"
    with pytest.raises(ConfigError):
        run_bttackler_live("smoke", 1, tmp_path, budget=one, executor=_Inline())


def test_entry_point_refuses_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                       ) -> None:
    assert main(["--scale", "huge", "--out", str(tmp_path)]) == 2
    assert "scale" in capsys.readouterr().err
    assert main(["--scale", "smoke", "--repeats", "0", "--out", str(tmp_path)]) == 2
    assert main(["--scale", "smoke", "--method", "gp", "--out", str(tmp_path)]) == 2
    f = tmp_path / "file"
    f.write_text("x")
    assert main(["--scale", "smoke", "--out", str(f), "--traces", "none"]) == 2
    assert not (tmp_path / LIVE_FILE).exists()
