"""The confirmation's command line: a results file and report written after every pair,
resumed when started again. ``confirm`` is replaced by a fast fake (the trainings are tested in
``test_efficientdl_confirm.py``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import effdl_kit.experiments.efficientdl._confirm_main as cli
from effdl_kit.experiments.efficientdl import ARMS, TOP_ARM, ConfirmRow


def fake_confirm(calls: list[tuple[str, int]]) -> Any:
    def confirm(task: str, *, scale: str, seed: int, data: Any = None) -> ConfirmRow:
        calls.append((task, seed))
        rng = np.random.default_rng([seed, len(task)])
        arms: list[dict[str, Any]] = []
        means = {"alpha_beta": 0.8, "argmax": 0.85, "top5": 0.84, "random": 0.6,
                 "random_b": 0.6, "tpe": 0.86}
        for arm in ARMS:
            for rank in range(1, (TOP_ARM if arm == "top5" else 1) + 1):
                arms.append({"task": task, "seed": seed, "arm": arm, "rank": rank,
                             "config": {"lr": 0.01}, "predicted_top1": 0.7,
                             "test_top1": means[arm] + rng.normal(0, 0.01),
                             "val_top1": 0.8, "train_s": 0.1, "time_s": 1.0,
                             "reused_from": None, "error": None})
        ab, tpe = arms[0], arms[-1]
        return ConfirmRow(
            task=task, scale=scale, seed=seed, top5=["lr"], predicted_top1=0.7,
            efficientdl_top1=ab["test_top1"], efficientdl_val_top1=0.8,
            automl_top1=tpe["test_top1"], automl_val_top1=0.8,
            diff_points=100 * (ab["test_top1"] - tpe["test_top1"]),
            efficientdl_time_s=10.0, automl_time_s=5.0, time_ratio=0.5,
            ratio_search_only=0.6, predictor_s=3.0, bo_s=6.0, train_s=1.0,
            config_a={"lr": 0.01}, config_b={"lr": 0.01}, tpe_trials=30, tpe_failed=0,
            bo_iter=50, train_epochs=2, train_n_train=1200, n_candidates=8,
            grid_max=0.75, search_regret=0.05, alpha_beta_rank=3, grid_s=0.1, arms=arms)

    return confirm


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    made: list[tuple[str, int]] = []
    monkeypatch.setattr(cli, "confirm", fake_confirm(made))
    return made


def test_run_writes_json_and_report_and_resumes(tmp_path: Path,
                                                calls: list[tuple[str, int]]) -> None:
    seeds, tasks = list(range(6)), ["digits", "synthetic_shift"]
    record = cli.run_to_files(tmp_path, scale="small", seeds=seeds, tasks=tasks,
                              command="cmd --scale small")
    # seed-major: a partial run covers every task
    assert calls[:4] == [("digits", 0), ("synthetic_shift", 0), ("digits", 1),
                         ("synthetic_shift", 1)]
    assert len(calls) == 12 and record["complete"]
    stored = json.loads((tmp_path / "efficientdl_confirm.json").read_text())
    assert stored == json.loads(json.dumps(record))
    assert [(r["task"], r["seed"]) for r in stored["rows"]] == [
        (t, s) for t in tasks for s in seeds]
    assert {d["task"]: d["driver"] for d in stored["drivers"]} == {
        "digits": "search", "synthetic_shift": "search"}
    assert set(stored["machine"]) >= {"cpus", "load_start", "load_end"}
    md = (tmp_path / "efficientdl_confirm.md").read_text()
    assert "`cmd --scale small`" in md and "complete" in md
    assert md.count("**Driver: search.**") == 2 and "aa_control" in md
    # started again: nothing left to run
    calls.clear()
    again = cli.run_to_files(tmp_path, scale="small", seeds=seeds, tasks=tasks,
                             command="cmd --scale small")
    assert calls == [] and again["rows"] == stored["rows"]
    # a partial file: only the missing pairs run
    stored["rows"] = stored["rows"][:3]
    (tmp_path / "efficientdl_confirm.json").write_text(json.dumps(stored))
    cli.run_to_files(tmp_path, scale="small", seeds=seeds, tasks=tasks, command="cmd")
    assert len(calls) == 9 and ("digits", 0) not in calls
    # another budget or seed list: a fresh run
    calls.clear()
    cli.run_to_files(tmp_path, scale="small", seeds=[0, 1], tasks=tasks, command="cmd")
    assert len(calls) == 4


def test_partial_runs_say_so(tmp_path: Path, calls: list[tuple[str, int]],
                             monkeypatch: pytest.MonkeyPatch) -> None:
    real = fake_confirm(calls)

    def stop_after_three(task: str, **kw: Any) -> ConfirmRow:
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(task, **kw)

    monkeypatch.setattr(cli, "confirm", stop_after_three)
    with pytest.raises(KeyboardInterrupt):
        cli.run_to_files(tmp_path, scale="small", seeds=[0, 1], tasks=["digits",
                                                                       "synthetic_shift"],
                         command="cmd")
    stored = json.loads((tmp_path / "efficientdl_confirm.json").read_text())
    assert len(stored["rows"]) == 3 and not stored["complete"]
    md = (tmp_path / "efficientdl_confirm.md").read_text()
    assert "PARTIAL: 3 of 4" in md
    assert "**Driver: n/a.**" in md  # 2 seeds: no verdict


def test_main_parses_its_arguments(tmp_path: Path, calls: list[tuple[str, int]],
                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--scale", "smoke", "--out", str(tmp_path), "--seeds", "2",
                     "--seed0", "5", "--tasks", "digits"]) == 0
    assert calls == [("digits", 5), ("digits", 6)]
    stored = json.loads((tmp_path / "efficientdl_confirm.json").read_text())
    assert stored["command"].startswith(cli.COMMAND + " --scale smoke")
    assert stored["seeds"] == [5, 6] and stored["scale"] == "smoke"
    assert "wrote" in capsys.readouterr().out
    # bad input: one line naming the flag, exit code 2
    assert cli.main(["--scale", "smoke", "--out", str(tmp_path), "--seeds", "0"]) == 2
    assert "--seeds" in capsys.readouterr().err


def test_redraw_rewrites_the_report_and_draws_the_figure_from_the_json(
        tmp_path: Path, calls: list[tuple[str, int]],
        monkeypatch: pytest.MonkeyPatch) -> None:
    cli.run_to_files(tmp_path, scale="small", seeds=list(range(5)), tasks=["digits"],
                     command="cmd")
    md = tmp_path / "efficientdl_confirm.md"
    want = md.read_text()
    md.write_text("stale")
    calls.clear()
    monkeypatch.setattr(cli, "load_component_data", lambda name: pytest.fail("no data"))
    assert cli.main(["--out", str(tmp_path), "--redraw"]) == 0
    assert calls == []  # nothing ran
    assert md.read_text() == want
    png = tmp_path / "efficientdl_confirm.png"
    assert png.read_bytes().startswith(b"\x89PNG")
