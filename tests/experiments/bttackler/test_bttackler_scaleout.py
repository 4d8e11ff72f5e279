"""The bttackler experiment on a Dask cluster and on PostgreSQL; a lost worker; bad engines."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import optuna
import pytest

from effdl_kit._core.storage import make_storage
from effdl_kit.errors import ConfigError
from effdl_kit.experiments.bttackler import JOURNAL_FILE, _run, load_results, run_bttackler

#: the HPO part alone (the replay and the live experiment have tests of their own)
run_hpo = functools.partial(run_bttackler, replay=False, live=False)
SEED = 11
#: one method, the baseline and BTTackler, three trials per run
KW: dict[str, Any] = {"methods": ["random"], "variants": ["plain", "bttackler"],
                      "max_trials": 3, "budget_s": 120.0}


def _trials(out: Path) -> list[list[tuple[Any, ...]]]:
    """Per run: (number, state, value, outcome, params) of every trial."""
    return [[(t["number"], t["state"], t["value"], t["outcome"], json.dumps(t["params"]))
             for t in r["trials"]] for r in load_results(out)["runs"]]


def _no_training(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("training started")


@pytest.mark.slow
def test_dask_cluster_gives_the_trials_of_one_process(tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    run_hpo("smoke", SEED, tmp_path / "local", **KW)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        run_hpo("smoke", SEED, tmp_path / "dask", executor=client.get_executor(), **KW)
    local, remote = _trials(tmp_path / "local"), _trials(tmp_path / "dask")
    assert [len(r) for r in remote] == [3, 3]
    # same seeds: the same configurations, trained to the same results, stopped alike
    assert remote == local
    engine = load_results(tmp_path / "dask")["engine"]
    assert engine["executor"] == "ClientExecutor"
    assert load_results(tmp_path / "local")["engine"]["executor"] == "this process"


@pytest.mark.slow
def test_postgresql_storage_holds_every_run_and_resumes(
        postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kw = {**KW, "workers": 2, "max_trials": 4, "variants": ["plain"]}
    run_hpo("smoke", SEED, tmp_path, storage=postgres_url, study_prefix="bt-pg", **kw)
    payload = load_results(tmp_path)
    assert payload["engine"]["storage"] == postgres_url  # no password in this URL
    (run,) = payload["runs"]
    assert 4 <= len(run["trials"]) <= 5  # both workers check the cap before asking
    assert {t["worker"] for t in run["trials"]} == {0, 1}
    assert not list(tmp_path.rglob(JOURNAL_FILE))  # nothing went to journal files
    storage = make_storage(postgres_url, heartbeat_interval=None)
    study = optuna.load_study(study_name="bt-pg/cnn/random/plain/rep0", storage=storage)
    assert len(study.trials) == len(run["trials"])
    assert study.user_attrs["segments"] == 1
    # the run is over: a rerun reads it back from the database and trains nothing
    before = _trials(tmp_path)
    monkeypatch.setattr(_run, "train", _no_training)
    run_hpo("smoke", SEED, tmp_path, storage=postgres_url, study_prefix="bt-pg", **kw)
    assert _trials(tmp_path) == before
    # another experiment under the same prefix is refused before it trains
    with pytest.raises(ConfigError, match="study_prefix"):
        run_hpo("smoke", SEED + 1, tmp_path, storage=postgres_url,
                      study_prefix="bt-pg", **kw)


class _OneWorkerLost(ThreadPoolExecutor):
    """Runs worker 0 in a thread; worker 1 passes the start barrier, then its machine is lost."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        _spec, ref, study_name, worker, segment = args[:5]
        if worker == 0:
            return super().submit(fn, *args, **kwargs)
        study = optuna.load_study(study_name=study_name,
                                  storage=make_storage(ref, heartbeat_interval=None))
        study.set_user_attr(f"ready:{segment}:{worker}", True)  # the start barrier's mark
        lost: Future[Any] = Future()
        lost.set_exception(ConnectionError("worker tcp://10.0.0.7:40123 lost"))
        return lost


def test_a_lost_worker_is_recorded_and_the_run_goes_on(tmp_path: Path) -> None:
    import torch

    threads = torch.get_num_threads()
    kw = {**KW, "workers": 2, "variants": ["plain"]}
    try:
        with _OneWorkerLost(max_workers=2) as pool:
            run_hpo("smoke", SEED, tmp_path, executor=pool, **kw)
    finally:
        torch.set_num_threads(threads)  # the thread worker set this process up as a worker
    (run,) = load_results(tmp_path)["runs"]
    assert [t["state"] for t in run["trials"]] == ["COMPLETE"] * 3
    assert {t["worker"] for t in run["trials"]} == {0}
    assert len(run["worker_errors"]) == 1 and "worker 1" in run["worker_errors"][0]
    assert "lost" in run["worker_errors"][0]


class _AllLost(ThreadPoolExecutor):
    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        lost: Future[Any] = Future()
        lost.set_exception(ImportError("No module named 'effdl_kit'"))
        return lost


def test_a_run_whose_every_worker_failed_raises(tmp_path: Path) -> None:
    with _AllLost(max_workers=1) as pool, pytest.raises(RuntimeError, match="every worker"):
        run_hpo("smoke", SEED, tmp_path, executor=pool, **KW)


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"executor": "tcp://scheduler:8786"}, "executor"),
    ({"storage": "ftp://host/db"}, "storage"),
    ({"storage": "/no/such/folder/journal.log"}, "storage"),
    ({"storage": 5}, "storage"),
    ({"study_prefix": " "}, "study_prefix"),
])
def test_bad_engines_are_refused_before_any_training(
        kwargs: dict[str, Any], field: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_run, "train", _no_training)
    monkeypatch.setattr(_run, "run_study", _no_training)
    with pytest.raises(ConfigError) as info:
        run_hpo("smoke", 0, tmp_path / "out", **kwargs)
    assert info.value.field == field
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_sigkill_mid_experiment_then_rerun_loses_and_repeats_nothing(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    kw: dict[str, Any] = {"methods": ["random"], "variants": ["plain"], "max_trials": 8,
                          "budget_s": 600.0, "replay": False, "live": False}
    code = ("from pathlib import Path\n"
            "from effdl_kit.experiments.bttackler import run_bttackler\n"
            f"run_bttackler('smoke', {SEED}, Path({str(tmp_path)!r}), **{kw!r})\n")
    proc = subprocess.Popen([sys.executable, "-c", code])
    journal = tmp_path / "runs" / "cnn" / "random" / "plain" / "rep0" / JOURNAL_FILE
    done: list[optuna.trial.FrozenTrial] = []
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        time.sleep(0.3)
        if not journal.exists():
            continue
        try:
            study = optuna.load_study(study_name="bttackler", storage=make_storage(journal))
        except KeyError:
            continue
        done = [t for t in study.get_trials(deepcopy=False)
                if t.state == optuna.trial.TrialState.COMPLETE]
        if len(done) >= 2:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert len(done) >= 2, "the experiment ended or stalled before the kill"
    study = optuna.load_study(study_name="bttackler", storage=make_storage(journal))
    before = {t.number: (t.params, t.value) for t in study.trials
              if t.state == optuna.trial.TrialState.COMPLETE}
    cut = [t.number for t in study.trials if t.state == optuna.trial.TrialState.RUNNING]
    assert len(cut) <= 1
    run_hpo("smoke", SEED, tmp_path, **kw)
    (run,) = load_results(tmp_path)["runs"]
    trials = {t["number"]: t for t in run["trials"]}
    assert len(trials) == kw["max_trials"]  # the cap counts every trial, the cut one too
    for n, (params, value) in before.items():  # nothing completed was lost or changed
        assert trials[n]["state"] == "COMPLETE" and trials[n]["value"] == value
        assert trials[n]["params"] == params
    for n in cut:  # the trial cut by the kill is recorded as interrupted, not rerun
        assert (trials[n]["state"], trials[n]["outcome"]) == ("FAIL", "interrupted")
    resumed = [t for t in run["trials"] if t["segment"] == 1]
    assert len(resumed) == kw["max_trials"] - len(before) - len(cut)
    assert all(t["state"] == "COMPLETE" for t in resumed)
    # the cut segment counts: the resumed one draws new configurations, no replay
    assert not {json.dumps(t["params"]) for t in resumed} & {
        json.dumps(p) for p, _ in before.values()}
    assert run["segments"] == 2
