"""EfficientDL's search scaled out: method runs on an executor, αβ-BO studies on a storage."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
import pytest

from effdl_kit._core.storage import make_storage
from effdl_kit.data import ComponentData
from effdl_kit.errors import ConfigError
from effdl_kit.experiments.efficientdl import (
    SearchSetup,
    ablation,
    compare_methods,
    run_alpha_beta_study,
    run_search,
    search_setup,
)
from effdl_kit.experiments.efficientdl._study import _GridObjective, _optuna_choice

TS = optuna.trial.TrialState
METHODS = ["alpha_beta_fn", "random"]
SEEDS = [0, 1]
#: a quick sampler: few random start-up trials, a small GP, one kernel fit per trial
FAST: dict[str, Any] = {"n_startup_trials": 4, "max_observations": 8, "n_restarts": 0}


@pytest.fixture(scope="module")
def setup(data: ComponentData) -> SearchSetup:
    return search_setup(data, n_trees=30, n_repeats=2, seed=0, min_grid=300)


@pytest.fixture(scope="module")
def reference(setup: SearchSetup) -> pd.DataFrame:
    """The in-process frame of METHODS x SEEDS at smoke scale."""
    return compare_methods(setup, scale="smoke", seeds=SEEDS, methods=METHODS, n_iter=6)


@pytest.fixture(scope="module")
def dask_executor() -> Iterator[Any]:
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        yield client.get_executor()


def _load(path: Path | str, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=make_storage(path))


def _check_values(setup: SearchSetup, study: optuna.Study) -> None:
    """Every trial is complete, its params plain Python grid values, its value the predictor's."""
    space = setup.problem.space
    grid = {n: {v.item() if isinstance(v, np.generic) else v for v in vals}
            for n, vals in zip(space.names, space.values, strict=True)}
    for t in study.trials:
        assert t.state == TS.COMPLETE, t
        assert set(t.params) == set(space.names)
        for n, v in t.params.items():
            assert type(v) in (bool, int, float, str) and v in grid[n], (n, v)
        assert t.value == setup.problem.objective(t.params)


def _without_timing(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns="search_s")


# ----------------------------------------------------------------------------- compare_methods


def test_compare_methods_on_an_executor_equals_in_process(setup: SearchSetup,
                                                          reference: pd.DataFrame) -> None:
    calls: list[tuple[int, int, str]] = []
    with ThreadPoolExecutor(max_workers=2) as ex:
        frame = compare_methods(setup, scale="smoke", seeds=SEEDS, methods=METHODS, n_iter=6,
                                executor=ex, progress=lambda d, t, s: calls.append((d, t, s)))
    pd.testing.assert_frame_equal(_without_timing(frame), _without_timing(reference))
    assert list(frame.columns) == list(reference.columns)
    assert (frame.groupby(["method", "seed"])["search_s"].diff().dropna() >= 0).all()
    # one report per finished job, counting up, then "done"
    assert [c[0] for c in calls] == [1, 2, 3, 4, 4]
    assert all(c[1] == 4 for c in calls)
    assert all(c[2].endswith(": done") for c in calls[:-1]) and calls[-1][2] == "done"



def test_ablation_on_an_executor_equals_in_process(setup: SearchSetup) -> None:
    local = ablation(setup, scale="smoke")
    calls: list[tuple[int, int, str]] = []
    with ThreadPoolExecutor(max_workers=2) as ex:
        remote = ablation(setup, scale="smoke", executor=ex,
                          progress=lambda d, t, s: calls.append((d, t, s)))
    pd.testing.assert_frame_equal(remote, local)
    # α x β at Ω = 0.1, then the Ω sweep; two seeds each
    assert len(local) == (2 * 2 + 2) * 2
    assert set(local["part"]) == {"alpha_beta", "omega"}
    # one job per distinct cell and seed: the default cell (in both parts) runs once
    assert [c[0] for c in calls] == [*range(1, 11), 10]
    assert any("alpha=0.54 beta=1.01" in c[2] for c in calls)
    with pytest.raises(ConfigError, match="executor"):
        ablation(setup, scale="smoke", executor="tcp://scheduler:8786")

class _FailingExecutor(ThreadPoolExecutor):
    """Runs jobs in threads; the jobs whose (method, seed) is in ``fail`` raise."""

    def __init__(self, fail: set[tuple[str, int]]) -> None:
        super().__init__(max_workers=2)
        self.fail = fail

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        key = (args[1], args[2])
        if key in self.fail:
            def boom(*_: Any, **__: Any) -> Any:
                raise ValueError(f"injected failure of {key}")
            return super().submit(boom, *args, **kwargs)
        return super().submit(fn, *args, **kwargs)


def test_a_failed_job_is_reported_after_the_others_finish(setup: SearchSetup) -> None:
    calls: list[tuple[int, int, str]] = []
    with _FailingExecutor({("random", 1)}) as ex, \
            pytest.raises(RuntimeError, match=r"(?s)1 of 4 .*'random', seed 1: ValueError") as info:
        compare_methods(setup, scale="smoke", seeds=SEEDS, methods=METHODS, n_iter=3,
                        executor=ex, progress=lambda d, t, s: calls.append((d, t, s)))
    assert isinstance(info.value.__cause__, ValueError)
    # every job finished and was reported, the failed one as failed; no "done"
    assert [c[0] for c in calls] == [1, 2, 3, 4]
    assert sum("failed (ValueError)" in c[2] for c in calls) == 1


@pytest.mark.slow
def test_compare_methods_on_dask_equals_in_process(setup: SearchSetup, reference: pd.DataFrame,
                                                   dask_executor: Any) -> None:
    frame = compare_methods(setup, scale="smoke", seeds=SEEDS, methods=METHODS, n_iter=6,
                            executor=dask_executor)
    pd.testing.assert_frame_equal(_without_timing(frame), _without_timing(reference))


def test_a_non_executor_is_refused_before_any_work(setup: SearchSetup,
                                                   data: ComponentData) -> None:
    bad: Any
    for bad in ("dask", 2, object()):
        with pytest.raises(ConfigError, match="executor"):
            compare_methods(setup, scale="smoke", seeds=SEEDS, methods=METHODS, executor=bad)
    with pytest.raises(ConfigError, match="executor"):
        run_search(data, scale="smoke", seed=0, executor="dask")  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- Optuna study


def test_study_on_a_journal_file_runs_and_resumes(setup: SearchSetup, tmp_path: Path) -> None:
    log = tmp_path / "ab.log"
    run = run_alpha_beta_study(setup, study_name="ab", storage=log, n_trials=12, seed=1, **FAST)
    assert (run.n_complete, run.n_failed, run.n_pruned) == (12, 0, 0)
    study = _load(log, "ab")
    assert study.direction == optuna.study.StudyDirection.MAXIMIZE
    assert len(study.trials) == 12
    _check_values(setup, study)
    first = [(t.params, t.value) for t in study.trials]
    run = run_alpha_beta_study(setup, study_name="ab", storage=log, n_trials=16, seed=1, **FAST)
    assert run.n_complete == 16
    study = _load(log, "ab")
    assert len(study.trials) == 16
    assert [(t.params, t.value) for t in study.trials[:12]] == first
    _check_values(setup, study)
    # already full: nothing more runs
    run_alpha_beta_study(setup, study_name="ab", storage=log, n_trials=16, seed=1, **FAST)
    assert len(_load(log, "ab").trials) == 16


@pytest.mark.slow
def test_study_on_dask_equals_the_local_run(setup: SearchSetup, tmp_path: Path,
                                            dask_executor: Any) -> None:
    local = run_alpha_beta_study(setup, study_name="local", storage=tmp_path / "a.log",
                                 n_trials=10, seed=3, **FAST)
    remote = run_alpha_beta_study(setup, study_name="remote", storage=tmp_path / "b.log",
                                  n_trials=10, seed=3, executor=dask_executor, **FAST)
    assert (local.n_complete, remote.n_complete) == (10, 10)
    a, b = _load(tmp_path / "a.log", "local"), _load(tmp_path / "b.log", "remote")
    assert [t.params for t in a.trials] == [t.params for t in b.trials]
    assert [t.value for t in a.trials] == [t.value for t in b.trials]
    _check_values(setup, b)


@pytest.mark.slow
def test_study_on_postgresql_with_two_workers(setup: SearchSetup, postgres_url: str) -> None:
    run = run_alpha_beta_study(setup, study_name="ab-pg", storage=postgres_url, n_trials=12,
                               n_workers=2, seed=0, storage_kwargs={"heartbeat_interval": 5},
                               **FAST)
    study = optuna.load_study(study_name="ab-pg",
                              storage=make_storage(postgres_url, heartbeat_interval=5))
    assert len(study.trials) >= 12 and run.n_complete == len(study.trials)
    assert run.n_failed == 0
    _check_values(setup, study)


def test_study_bad_arguments(setup: SearchSetup, tmp_path: Path) -> None:
    log = tmp_path / "bad.log"
    ok: dict[str, Any] = {"study_name": "bad", "storage": log, "n_trials": 3}
    cases: list[tuple[dict[str, Any], str]] = [
        ({"study_name": ""}, "study_name"), ({"study_name": "  "}, "study_name"),
        ({"study_name": 3}, "study_name"), ({"n_trials": 0}, "n_trials"),
        ({"n_trials": 2.5}, "n_trials"), ({"n_workers": 0}, "n_workers"),
        ({"n_workers": True}, "n_workers"), ({"seed": -1}, "seed"),
        ({"executor": "dask"}, "executor"), ({"storage": None}, "storage"),
        ({"storage": "ftp://host/db"}, "storage"),
        ({"storage_kwargs": {"heartbeat": 1}}, "storage_kwargs"),
        ({"storage_kwargs": [1]}, "storage_kwargs"),
        ({"alpha": -1.0}, "alpha"), ({"n_startup_trials": -1}, "n_startup_trials"),
        ({"acquisition": "ei"}, "sampler_kwargs"),
    ]
    for kwargs, field in cases:
        with pytest.raises(ConfigError, match=field):
            run_alpha_beta_study(setup, **{**ok, **kwargs})
    with pytest.raises(ConfigError, match="setup"):
        run_alpha_beta_study(setup.problem, **ok)  # type: ignore[arg-type]
    assert not log.exists()  # refused before any work


def test_grid_values_become_plain_python_choices(setup: SearchSetup) -> None:
    objective = _GridObjective(setup)
    for name, choices in objective.choices.items():
        assert all(type(c) in (bool, int, float, str) for c in choices), name
    assert _optuna_choice("x", np.float32(0.5)) == 0.5
    assert type(_optuna_choice("x", np.int64(3))) is int
    assert type(_optuna_choice("x", np.bool_(True))) is bool
    assert type(_optuna_choice("x", np.str_("adam"))) is str
    with pytest.raises(ConfigError, match=r"values\['x'\]"):
        _optuna_choice("x", np.array([1, 2]))
