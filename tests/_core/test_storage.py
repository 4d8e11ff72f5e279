"""Storages and studies across processes: journal files, PostgreSQL, Dask; crashes, faults."""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import optuna
import pytest

from effdl_kit._core.faults import FaultyObjective
from effdl_kit._core.storage import STALE_REASON, make_storage, run_study
from effdl_kit.errors import ConfigError, TrainingError

TS = optuna.trial.TrialState
ROOT = Path(__file__).resolve().parents[2]


def tpe(seed: int) -> optuna.samplers.BaseSampler:
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=4)


def test_make_storage(tmp_path: Path) -> None:
    assert isinstance(make_storage(tmp_path / "s.log"), optuna.storages.JournalStorage)
    rdb = make_storage(f"sqlite:///{tmp_path / 's.db'}", heartbeat_interval=None)
    assert isinstance(rdb, optuna.storages.RDBStorage)
    assert make_storage(rdb) is rdb
    for bad in (None, "", 3, "ftp://host/db", tmp_path / "missing" / "s.log"):
        with pytest.raises(ConfigError, match="storage"):
            make_storage(bad)
    with pytest.raises(ConfigError, match="heartbeat_interval"):
        make_storage(f"sqlite:///{tmp_path / 'h.db'}", heartbeat_interval=0)


def test_faults_are_recorded_and_the_study_goes_on(tmp_path: Path) -> None:
    obj = FaultyObjective(raise_at=frozenset({2, 7}), nan_at=frozenset({4}),
                          memory_at=frozenset({5}))
    run = run_study("faults", obj, storage=tmp_path / "s.log", n_trials=12, n_workers=2,
                    sampler_factory=tpe, memory_cap_mb=512)
    assert run.n_complete + run.n_failed >= 12
    assert run.n_failed == 4
    reasons = sorted(run.fail_reasons)
    assert sum("injected failure" in r for r in reasons) == 2
    assert reasons.count("non-finite objective value: nan") == 1
    assert sum("MemoryError" in r for r in reasons) == 1


def test_a_worker_killed_mid_trial_does_not_stop_the_study(tmp_path: Path) -> None:
    obj = FaultyObjective(kill_at=frozenset({3}), marker_dir=str(tmp_path))
    run = run_study("kill", obj, storage=tmp_path / "s.log", n_trials=10, n_workers=2,
                    sampler_factory=tpe)
    assert (tmp_path / "killed-3").exists()
    study = optuna.load_study(study_name="kill", storage=make_storage(tmp_path / "s.log"))
    t3 = study.trials[3]
    assert t3.state == TS.FAIL and t3.user_attrs["fail_reason"] == STALE_REASON
    retries = [t for t in study.trials if t.user_attrs.get("retry_of") == 3]
    assert len(retries) == 1 and retries[0].state == TS.COMPLETE
    assert retries[0].params == t3.params
    assert run.n_complete >= 9
    # the dead worker is recorded with its exit, in the result and in the study
    assert len(run.worker_errors) == 1 and "killed by SIGKILL" in run.worker_errors[0]
    assert study.user_attrs["worker_errors"] == run.worker_errors


def test_a_worker_process_that_raises_reports_its_error(tmp_path: Path) -> None:
    # every spawned worker raises while setting up (its sampler): the parent names the error
    with pytest.raises(TrainingError, match=r"worker 1: exit code 1 \(KeyError: .*'no sampler"
                       ) as info:
        run_study("broken", FaultyObjective(), storage=tmp_path / "s.log", n_trials=2,
                  n_workers=2, sampler_factory=_broken_sampler)
    assert "__main__" not in str(info.value)  # its own error, not the start-up hint


def _broken_sampler(seed: int) -> optuna.samplers.BaseSampler:
    raise KeyError("no sampler here")


def test_sigkill_of_the_whole_run_then_resume_loses_and_repeats_nothing(tmp_path: Path) -> None:
    log = tmp_path / "s.log"
    code = (
        "from effdl_kit._core.faults import FaultyObjective\n"
        "from effdl_kit._core.storage import run_study\n"
        f"run_study('crash', FaultyObjective(sleep_s=0.2), storage={str(log)!r}, n_trials=40)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT)
    storage = make_storage(log)
    deadline = time.time() + 120
    done: list[optuna.trial.FrozenTrial] = []
    while time.time() < deadline:
        time.sleep(0.3)
        try:
            study = optuna.load_study(study_name="crash", storage=storage)
        except KeyError:
            continue
        done = [t for t in study.get_trials(deepcopy=False) if t.state == TS.COMPLETE]
        if len(done) >= 5:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert len(done) >= 5
    study = optuna.load_study(study_name="crash", storage=make_storage(log))
    before = {t.number: (t.params, t.value) for t in study.trials if t.state == TS.COMPLETE}
    running = [t.number for t in study.trials if t.state == TS.RUNNING]
    assert len(running) <= 1
    run_study("crash", FaultyObjective(), storage=log, n_trials=40)
    study = optuna.load_study(study_name="crash", storage=make_storage(log))
    after = {t.number: (t.params, t.value) for t in study.trials if t.state == TS.COMPLETE}
    assert all(after[n] == v for n, v in before.items())  # nothing lost or changed
    # nothing repeated: exactly the missing trials were run, plus the retry of the cut one
    assert len(study.trials) == 40 + len(running)
    assert sum(t.state == TS.COMPLETE for t in study.trials) == 40
    for n in running:  # the trial cut by the kill was failed and queued again
        assert study.trials[n].state == TS.FAIL
        assert any(t.user_attrs.get("retry_of") == n for t in study.trials)


def test_bad_arguments(tmp_path: Path) -> None:
    obj = FaultyObjective()
    cases: list[tuple[dict[str, Any], str]] = [
        ({"n_trials": 0}, "n_trials"), ({"n_workers": 0}, "n_workers"),
        ({"direction": "up"}, "direction"), ({"memory_cap_mb": 0}, "memory_cap_mb")]
    for kwargs, field in cases:
        with pytest.raises(ConfigError, match=field):
            run_study("bad", obj, storage=tmp_path / "s.log", **{"n_trials": 3, **kwargs})
    with pytest.raises(ConfigError, match="objective"):
        run_study("bad", 3, storage=tmp_path / "s.log", n_trials=3)  # type: ignore[arg-type]


@pytest.mark.slow
def test_postgresql_study_with_heartbeat_and_a_killed_worker(postgres_url: str,
                                                             tmp_path: Path) -> None:
    obj = FaultyObjective(kill_at=frozenset({2}), marker_dir=str(tmp_path), sleep_s=0.3,
                          raise_at=frozenset({5}))
    kw = {"heartbeat_interval": 1, "grace_period": 3}
    run = run_study("pg", obj, storage=postgres_url, n_trials=14, n_workers=2,
                    sampler_factory=tpe, storage_kwargs=kw)
    study = optuna.load_study(study_name="pg", storage=make_storage(postgres_url, **kw))
    assert (tmp_path / "killed-2").exists()
    assert study.trials[2].state == TS.FAIL
    # the heartbeat failed the dead worker's trial and Optuna's retry callback re-queued it
    retried = [t for t in study.trials
               if t.system_attrs.get("failed_trial") == study.trials[2].number
               or t.user_attrs.get("retry_of") == 2]
    assert retried and all(t.state == TS.COMPLETE for t in retried)
    assert run.n_complete >= 12 and any("injected" in r for r in run.fail_reasons)


@pytest.mark.slow
def test_dask_cluster_runs_the_same_study(tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    obj = FaultyObjective()
    local = run_study("local", obj, storage=tmp_path / "a.log", n_trials=8,
                      sampler_factory=tpe, seed=3)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        remote = run_study("remote", obj, storage=tmp_path / "b.log", n_trials=8,
                           sampler_factory=functools.partial(tpe), seed=3,
                           executor=client.get_executor())
    assert (local.n_complete, remote.n_complete) == (8, 8)
    a = optuna.load_study(study_name="local", storage=make_storage(tmp_path / "a.log"))
    b = optuna.load_study(study_name="remote", storage=make_storage(tmp_path / "b.log"))
    assert [t.params for t in a.trials] == [t.params for t in b.trials]
    assert [t.value for t in a.trials] == [t.value for t in b.trials]


def test_a_stale_journal_lock_is_released(tmp_path: Path) -> None:
    from effdl_kit._core.storage import release_stale_journal_lock

    log = tmp_path / "s.log"
    assert not release_stale_journal_lock(log)
    os.symlink(tmp_path / "gone", str(log) + ".lock")  # a dangling symlink lock, as Optuna's
    assert release_stale_journal_lock(log)
    assert not os.path.lexists(str(log) + ".lock")
    # run_study breaks such a lock at once instead of after Optuna's 30-s grace period
    os.symlink(tmp_path / "gone", str(log) + ".lock")
    t0 = time.perf_counter()
    run = run_study("locked", FaultyObjective(), storage=log, n_trials=2)
    assert run.n_complete == 2 and time.perf_counter() - t0 < 25


def test_sigterm_of_a_run_leaves_no_worker_process(tmp_path: Path) -> None:
    import psutil

    code = (
        "from effdl_kit._core.faults import FaultyObjective\n"
        "from effdl_kit._core.storage import run_study\n"
        "if __name__ == '__main__':\n"
        f"    run_study('term', FaultyObjective(sleep_s=1.0), storage={str(tmp_path / 's.log')!r},"
        " n_trials=200, n_workers=2)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT)
    try:
        owner = psutil.Process(proc.pid)
        storage = make_storage(tmp_path / "s.log")
        deadline = time.time() + 60
        while time.time() < deadline:  # both workers are in a trial
            time.sleep(0.2)
            try:
                study = optuna.load_study(study_name="term", storage=storage)
            except KeyError:
                continue
            if len(study.get_trials(deepcopy=False, states=(TS.RUNNING,))) >= 2:
                break
        workers = owner.children(recursive=True)
        assert len(workers) >= 2
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
        _, alive = psutil.wait_procs(workers, timeout=3)
        assert alive == [], "worker processes outlived the run"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
