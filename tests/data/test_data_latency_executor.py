"""The latency-dataset builder on an executor (Dask, or a fake one that loses a job)."""

from __future__ import annotations

import json
import pickle
import re
import socket
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd
import psutil
import pytest

import effdl_kit.data._latency_build as latb
from effdl_kit.data import (
    LATENCY_TARGET,
    build_latency_dataset,
    load_latency_dataset,
    provenance_path,
)
from effdl_kit.errors import ConfigError, DataError
from effdl_kit.measure import LoadLevel

LEVELS = [LoadLevel("idle"), LoadLevel("busy", workers=1, duty=0.5, ballast_mib=8)]
FAST: dict[str, Any] = {
    "warmup": 1,
    "repeats": 2,
    "min_repeats": 1,
    "row_budget_s": 0.01,
    "window_s": 0.0,
    "progress": False,
    "load_levels": LEVELS,
    "block": 2,
}
TYPES = ["linear", "relu"]
#: what _measure_row and _row read from the machine or the clock, not from (seed, index)
VOLATILE = {
    "mem_available_mib",
    "utilization_pct",
    "total_utilization_pct",
    "load_avg_1m",
    "state_window_s",
    LATENCY_TARGET,
    "iqr_ms",
    "mean_ms",
    "min_ms",
    "max_ms",
    "warmup",
    "repeats",
    "calls_per_sample",
    "window_util_pct",
    "outside_util_pct",
    "steal_pct",
    "load_per_core",
    "load_window_s",
    "outside_load",
    "wall_s",
    "timestamp",
}


def children() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True)}


def lines_of(path: Path) -> list[str]:
    return path.read_text().splitlines()[1:]


def final_indices(path: Path) -> list[int]:
    """Indices of the ok/failed rows (oom attempts are redrawn under the same index)."""
    return sorted(
        json.loads(s)["index"] for s in lines_of(path) if json.loads(s)["status"] != "oom"
    )


def runs_of(path: Path) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = json.loads(provenance_path(path).read_text())["runs"]
    return runs


class FlakyExecutor(Executor):
    """Runs each job here, at submission, after a pickle round trip (as a worker would get
    it); job number ``fail`` raises instead, from its future (a lost worker) or from
    ``submit`` itself (a refused submission). Like Dask's default (pure) tasks, a call with
    the same function and arguments as an earlier one gets the earlier future back."""

    def __init__(self, fail: int | None = None, where: str = "result") -> None:
        self.fail, self.where, self.submitted = fail, where, 0
        self.seen: dict[bytes, Future[Any]] = {}

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        key = pickle.dumps((fn, args, kwargs))
        if key in self.seen:
            return self.seen[key]
        k, self.submitted = self.submitted, self.submitted + 1
        if k == self.fail and self.where == "submit":
            raise RuntimeError("executor refused the job (simulated)")
        fut: Future[Any] = self.seen.setdefault(key, Future())
        if k == self.fail:
            fut.set_exception(RuntimeError("worker lost (simulated)"))
            return fut
        fn, args, kwargs = pickle.loads(key)
        try:
            fut.set_result(fn(*args, **kwargs))
        except Exception as exc:
            fut.set_exception(exc)
        return fut


@pytest.fixture(scope="module")
def dask_executor() -> Iterator[Executor]:
    """One single-threaded Dask worker process, shared by the module's Dask tests."""
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client.get_executor()


@pytest.mark.slow
def test_dask_executor_gives_the_rows_of_an_in_process_build(
    tmp_path: Path, dask_executor: Executor
) -> None:
    local = build_latency_dataset(TYPES, n=6, seed=3, path=tmp_path / "a.jsonl", **FAST)
    remote = build_latency_dataset(
        TYPES, n=6, seed=3, path=tmp_path / "b.jsonl", executor=dask_executor, **FAST
    )
    assert set(remote.columns) == set(local.columns)
    assert VOLATILE.issubset(local.columns) and "host" in local.columns
    cols = sorted(set(local.columns) - VOLATILE)
    pd.testing.assert_frame_equal(remote[cols], local[cols])
    assert set(remote["status"]) == {"ok"} and sorted(remote["index"]) == list(range(6))
    assert set(remote["load_level"]) == {"idle", "busy"}, "both levels ran on the worker"
    assert (remote["threads"] == 1).all() and (remote["host"] == socket.gethostname()).all()
    assert final_indices(tmp_path / "b.jsonl") == list(range(6))
    run = runs_of(tmp_path / "b.jsonl")[-1]
    assert run["executor"] == "ClientExecutor" and run["hosts"] == [socket.gethostname()]
    assert run["rows_measured"] == 6
    assert runs_of(tmp_path / "a.jsonl")[-1]["executor"] is None


@pytest.mark.slow
def test_dask_executor_resumes_an_in_process_file(tmp_path: Path, dask_executor: Executor) -> None:
    path = tmp_path / "lat.jsonl"
    build_latency_dataset(TYPES, n=4, seed=5, path=path, **FAST)
    first = lines_of(path)
    df = build_latency_dataset(TYPES, n=8, seed=5, path=path, executor=dask_executor, **FAST)
    lines = lines_of(path)
    assert lines[: len(first)] == first, "earlier rows are kept as they were"
    added = {json.loads(s)["index"] for s in lines[len(first) :]}
    assert added == set(range(4, 8)), "only the missing indices are measured"
    assert final_indices(path) == list(range(8))
    assert len(df) == len(lines) and set(df["status"]) <= {"ok", "oom"}
    assert [r["rows_measured"] for r in runs_of(path)] == [4, 4]
    assert [r["executor"] for r in runs_of(path)] == [None, "ClientExecutor"]


@pytest.mark.parametrize("where", ["result", "submit"])
def test_a_job_that_raises_loses_only_its_rows_and_a_rerun_completes(
    tmp_path: Path, where: str
) -> None:
    before = children()
    path = tmp_path / "lat.jsonl"
    # block=1: chunks of 2 rows; each level's rows of a chunk are one job
    args: dict[str, Any] = {**FAST, "block": 1}
    flaky = FlakyExecutor(fail=1, where=where)
    with pytest.raises(DataError, match=r"rows are missing") as info:
        build_latency_dataset(TYPES, n=6, seed=7, path=path, executor=flaky, **args)
    assert flaky.submitted >= 3, "the jobs after the failed one were still submitted"
    assert children() == before, "no load process is left behind"
    written = final_indices(path)
    assert len(written) == len(set(written)) and 0 < len(written) < 6
    missing = 6 - len(written)
    msg = str(info.value)
    assert f"{missing} of 6 rows are missing" in msg
    assert re.search(r"1 of \d+ jobs raised", msg)
    assert "rerunning" in msg and "simulated" in msg
    assert runs_of(path)[-1]["rows_measured"] == len(written)
    first = lines_of(path)
    # the same executor, as after a lost worker: the failed job is measured anew, not its
    # failure handed back for the same arguments
    df = build_latency_dataset(TYPES, n=6, seed=7, path=path, executor=flaky, **args)
    assert lines_of(path)[: len(first)] == first
    assert final_indices(path) == list(range(6)), "complete, no duplicate index"
    assert set(df[df["status"] != "oom"]["index"]) == set(range(6))
    assert runs_of(path)[-1]["rows_measured"] == missing
    assert runs_of(path)[-1]["executor"] == "FlakyExecutor"
    # the same rows as an in-process build with the same seed (non-measured columns)
    local = build_latency_dataset(TYPES, n=6, seed=7, path=tmp_path / "l.jsonl", **args)
    cols = sorted(set(local.columns) - VOLATILE)
    pd.testing.assert_frame_equal(df[cols], local[cols])


def test_rows_record_their_host_and_rows_without_it_still_load(tmp_path: Path) -> None:
    path = tmp_path / "lat.jsonl"
    with ThreadPoolExecutor(max_workers=1) as pool:  # any stdlib executor works too
        df = build_latency_dataset(["relu"], n=2, seed=0, path=path, executor=pool, **FAST)
    assert (df["host"] == socket.gethostname()).all()
    assert runs_of(path)[-1]["executor"] == "ThreadPoolExecutor"
    local = build_latency_dataset(["relu"], n=2, seed=0, path=tmp_path / "l.jsonl", **FAST)
    assert (local["host"] == socket.gethostname()).all()
    assert runs_of(tmp_path / "l.jsonl")[-1]["hosts"] == [socket.gethostname()]
    # a row written before the field existed: NaN there
    header, *rows = (tmp_path / "l.jsonl").read_text().splitlines()
    old = json.loads(rows[0])
    del old["host"]
    (tmp_path / "old.jsonl").write_text("\n".join([header, json.dumps(old), *rows[1:]]) + "\n")
    loaded = load_latency_dataset(tmp_path / "old.jsonl", only_ok=False)
    assert len(loaded) == len(rows) and loaded["host"].isna().sum() == 1


@pytest.mark.parametrize("bad", [object(), "dask", ThreadPoolExecutor])
def test_bad_executor_is_refused_before_the_file_exists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bad: Any
) -> None:
    def no_work(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("nothing may be measured")

    monkeypatch.setattr(latb, "measure_latency", no_work)
    with pytest.raises(ConfigError, match="'executor'") as info:
        build_latency_dataset(["relu"], n=2, path=tmp_path / "x.jsonl", executor=bad, **FAST)
    assert info.value.field == "executor" and "concurrent.futures.Executor" in str(info.value)
    assert not (tmp_path / "x.jsonl").exists()
    assert not provenance_path(tmp_path / "x.jsonl").exists()
