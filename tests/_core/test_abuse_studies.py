"""Abuse cases of the kit's studies (issue 17, item 3 and 4): a study whose workers all die
gets a clear error instead of an empty result, a lost executor job is recorded, a training whose
loss became NaN is a failed trial with its reason."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import optuna
import pytest

from effdl_kit._core.faults import FaultyObjective
from effdl_kit._core.storage import make_storage, run_study
from effdl_kit.diagnosis import DiagnosedStudyOptions, run_diagnosed_study
from effdl_kit.errors import TrainingError
from effdl_kit.training import TrainConfig

ROOT = Path(__file__).resolve().parents[2]


def test_a_script_without_a_main_guard_gets_a_clear_error(tmp_path: Path) -> None:
    # under "spawn" every worker re-runs the script, and dies starting workers of its own
    script = tmp_path / "study.py"
    script.write_text(textwrap.dedent(f"""
        from effdl_kit._core.faults import FaultyObjective
        from effdl_kit._core.storage import run_study
        run = run_study("noguard", FaultyObjective(), storage={str(tmp_path / "s.log")!r},
                        n_trials=4, n_workers=2)
        print("returned", run)
    """))
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert proc.returncode != 0 and "returned" not in proc.stdout
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("effdl_kit._core.errors.TrainingError: study 'noguard': no trial ran")
    assert "worker 0: exit code 1" in last and "worker 1: exit code 1" in last
    assert 'if __name__ == "__main__":' in last  # the likely cause, named
    assert time.perf_counter() - t0 < 60  # one round, not three


class LosingExecutor(ThreadPoolExecutor):
    """A thread pool whose first ``lose`` jobs are lost (as a Dask worker that went away)."""

    def __init__(self, lose: int) -> None:
        super().__init__(max_workers=2)
        self.lose = lose
        self.calls = 0

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.calls += 1
        if self.calls <= self.lose:
            lost: Future[Any] = Future()
            lost.set_exception(OSError(f"job {self.calls} lost with its worker"))
            return lost
        return super().submit(fn, *args, **kwargs)


def test_a_lost_executor_job_is_recorded_and_the_others_fill_the_study(tmp_path: Path) -> None:
    with LosingExecutor(lose=1) as ex:
        run = run_study("lost", FaultyObjective(), storage=tmp_path / "s.log", n_trials=4,
                        n_workers=2, executor=ex)
    assert run.n_complete == 4
    assert run.worker_errors == ["round 0, worker 0: OSError: job 1 lost with its worker"]
    study = optuna.load_study(study_name="lost", storage=make_storage(tmp_path / "s.log"))
    assert study.user_attrs["worker_errors"] == run.worker_errors


def test_a_study_whose_jobs_are_all_lost_raises_with_their_errors(tmp_path: Path) -> None:
    t0 = time.perf_counter()
    with LosingExecutor(lose=10) as ex, pytest.raises(TrainingError) as info:
        run_study("dead", FaultyObjective(), storage=tmp_path / "s.log", n_trials=4,
                  n_workers=2, executor=ex)
    msg = str(info.value)
    assert "no trial ran" in msg and "'dead'" in msg
    assert "worker 0: OSError: job 1 lost" in msg and "worker 1: OSError: job 2 lost" in msg
    assert ex.calls == 2, "no second round after a round in which nothing started"
    assert time.perf_counter() - t0 < 5
    study = optuna.load_study(study_name="dead", storage=make_storage(tmp_path / "s.log"))
    assert study.trials == [] and len(study.user_attrs["worker_errors"]) == 2


def test_a_nan_training_is_a_failed_trial_with_its_reason() -> None:
    def suggest(trial: optuna.Trial) -> TrainConfig:
        lr = trial.suggest_float("lr", 1e-3, 100.0, log=True)
        return TrainConfig(dataset="digits", model="mlp", n_train=240, epochs=3, lr=lr,
                           batch_size=8, optimizer="sgd", threads=1, seed=0)

    # SGD at lr 100 (the case), then a sane one: the study goes on
    options = DiagnosedStudyOptions(n_trials=2, epochs=3, metric="accuracy", variant="plain",
                                    enqueue=({"lr": 100.0}, {"lr": 0.01}))
    run = run_diagnosed_study(suggest, None, options)
    assert [t.state for t in run.trials] == ["FAIL", "COMPLETE"]
    assert str(run.trials[0].fail_reason).startswith("TrainingError: non-finite loss")
    assert run.study is not None
    assert run.study.trials[0].user_attrs["fail_reason"] == run.trials[0].fail_reason
