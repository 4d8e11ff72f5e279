"""Optuna storages and studies spread over processes, machines or a Dask cluster.

One place turns what a user writes into an Optuna storage:

* a path ending in ``.log`` / ``.journal`` (or any other path): a journal file — the embedded
  default, crash-safe (appends) and shared by processes on one machine;
* an RDB URL (``postgresql+psycopg://user@host:5432/db``, ``sqlite:///file.db``): Optuna's
  ``RDBStorage`` — shared by many machines — with a heartbeat, so a trial whose worker died is
  failed after ``grace_period`` seconds and retried (``RetryHeartbeatStaleTrialCallback``);
* an existing ``optuna.storages.BaseStorage``: used as is.

:func:`run_study` runs a study's trials in worker processes — a local process pool by default,
or any ``concurrent.futures.Executor`` (a Dask ``distributed`` client's ``get_executor()``
works unchanged) — each worker loading the study from the shared storage and running trials
until the study holds ``n_trials`` finished trials. Every trial is one
:func:`~effdl_kit._core.study.run_trial` step (re-exported here with the other pieces of the
kit's one study runner: :class:`TrialOutcome`, :func:`trial_loop`, :class:`RunClock`,
:func:`wait_for_workers`, :func:`fail_stale_trials`): trials that raise or return a non-finite
value are recorded as failed (with the reason in ``user_attrs["fail_reason"]``) and the study
goes on. Workers are checked too: an executor job that raised or was lost, or a worker process
with a non-zero exit code, is recorded (:attr:`StudyRun.worker_errors`, the study's
``"worker_errors"`` user attribute); when every worker of a round failed before any trial
started, :func:`run_study` raises a :class:`~effdl_kit.errors.TrainingError` naming them rather
than returning an empty study.

:func:`dask_executor` turns a scheduler address into such an executor (the CLI's
``--scheduler``); :func:`release_stale_journal_lock` breaks the lock a killed writer left on a
journal file, so a resumed run does not wait Optuna's grace period.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import signal
import uuid
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import optuna
from optuna.storages.journal import JournalFileBackend

from effdl_kit._core.errors import ConfigError, TrainingError
from effdl_kit._core.pool import worker_init
from effdl_kit._core.study import (
    ATTR_FAIL_REASON,
    STALE_REASON,
    DeadlineExceeded,
    RunClock,
    TrialOutcome,
    fail_stale_trials,
    quiet_optuna,
    run_trial,
    sigterm_as_exit,
    trial_loop,
    wait_for_workers,
)
from effdl_kit._core.validate import check_float, check_int

__all__ = [
    "ATTR_FAIL_REASON",
    "STALE_REASON",
    "DeadlineExceeded",
    "RunClock",
    "StudyRun",
    "TrialOutcome",
    "dask_executor",
    "fail_stale_trials",
    "make_storage",
    "quiet_optuna",
    "release_stale_journal_lock",
    "run_study",
    "run_trial",
    "trial_loop",
    "wait_for_workers",
]

_RDB_PREFIXES = ("postgresql", "mysql", "sqlite", "oracle", "mssql")


def make_storage(storage: Any, *, heartbeat_interval: int | None = 10,
                 grace_period: int | None = None, retries: int = 2) -> optuna.storages.BaseStorage:
    """An Optuna storage from a path, an RDB URL or a storage object.

    Parameters
    ----------
    storage : str, Path or optuna.storages.BaseStorage
        A journal-file path, an RDB URL (``postgresql+psycopg://...``, ``sqlite:///...``) or a
        storage.
    heartbeat_interval, grace_period : int or None
        RDB storages: seconds between a running trial's heartbeats, and without one before the
        trial counts as dead (default ``2 * heartbeat_interval``). None disables the heartbeat.
    retries : int
        RDB storages: how many times a trial failed by the heartbeat is re-queued.

    Raises
    ------
    ConfigError
        ``storage`` is none of the above, or a journal path whose folder does not exist.
    """
    if isinstance(storage, optuna.storages.BaseStorage):
        return storage
    if not isinstance(storage, str | os.PathLike) or not str(storage):
        raise ConfigError("storage", storage,
                          "a journal-file path, an RDB URL or an optuna storage")
    text = str(storage)
    if "://" in text:
        if not text.startswith(_RDB_PREFIXES):
            raise ConfigError("storage", text, f"an RDB URL starting with one of "
                                               f"{list(_RDB_PREFIXES)}, or a file path")
        if heartbeat_interval is None:
            return optuna.storages.RDBStorage(text)
        check_int("heartbeat_interval", heartbeat_interval, min_value=1)
        grace = 2 * heartbeat_interval if grace_period is None else check_int(
            "grace_period", grace_period, min_value=heartbeat_interval)
        with warnings.catch_warnings():  # the heartbeat API is "experimental" in Optuna
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(
                text, heartbeat_interval=heartbeat_interval, grace_period=grace,
                heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(
                    max_retry=check_int("retries", retries, min_value=0)))
    path = Path(text)
    if not path.parent.is_dir():
        raise ConfigError("storage", text, "a journal-file path in an existing folder")
    return optuna.storages.JournalStorage(JournalFileBackend(str(path)))


@dataclass(frozen=True)
class StudyRun:
    """What :func:`run_study` left in the storage.

    Attributes
    ----------
    study_name : str
    n_complete, n_failed, n_pruned : int
        Finished trials by state.
    fail_reasons : list of str
        ``user_attrs["fail_reason"]`` of the failed trials (the exception or "nan").
    worker_errors : list of str
        Workers of this call that did not end cleanly: ``"round r, worker k: ..."`` with the
        exception an executor job raised or a process's exit code (a worker killed mid-trial,
        out of memory, or dead at start-up). Also kept in the study's user attribute
        ``"worker_errors"``.
    """

    study_name: str
    n_complete: int
    n_failed: int
    n_pruned: int
    fail_reasons: list[str]
    worker_errors: list[str] = field(default_factory=list)


_FINISHED = tuple(optuna.trial.TrialState[n] for n in ("COMPLETE", "PRUNED", "FAIL"))
_WAITING = (optuna.trial.TrialState.WAITING,)


def _count(study: optuna.Study, states: tuple[optuna.trial.TrialState, ...]) -> int:
    return len(study.get_trials(deepcopy=False, states=states))


def _n_stale(study: optuna.Study) -> int:
    """Trials failed by :func:`fail_stale_trials` (each was queued again, so none counts)."""
    return sum(1 for t in study.get_trials(deepcopy=False,
                                           states=(optuna.trial.TrialState.FAIL,))
               if t.user_attrs.get(ATTR_FAIL_REASON) == STALE_REASON)


def _worker(storage: Any, study_name: str, objective: Callable[[optuna.Trial], float],
            sampler_factory: Callable[[int], Any] | None, worker_seed: int,
            n_trials: int, storage_kwargs: dict[str, Any], round_id: str = "") -> int:
    """Run trials in this process until the study holds ``n_trials`` finished trials (trials
    failed as stale not counted) and none is queued; returns the number of trials it ran.

    ``round_id`` is unused here: unique per round, it keeps an executor that treats calls as
    pure (Dask's default) from handing back the previous round's finished result."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    st = make_storage(storage, **storage_kwargs)
    sampler = sampler_factory(worker_seed) if sampler_factory is not None else None
    study = optuna.load_study(study_name=study_name, storage=st, sampler=sampler)
    # a trial failed because its worker died is retried, so it does not count
    target = n_trials + _n_stale(study)

    def full() -> bool:
        return _count(study, _FINISHED) >= target and _count(study, _WAITING) == 0

    return len(trial_loop(study, objective, stop=full))


def _cap_memory(cap_mb: float) -> None:
    """Limit this process's address space to its current size plus ``cap_mb`` MiB."""
    import resource  # Unix only: imported where the cap is asked for

    import psutil

    limit = int(psutil.Process().memory_info().vms + cap_mb * 2**20)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _process_entry(args: tuple[Any, ...], memory_cap_mb: float | None,
                   report: Connection | None = None, owner: int | None = None) -> None:
    """A spawned worker: run :func:`_worker`, ending with ``owner`` (the parent) whenever it
    ends; an exception is sent through ``report`` (the parent records it) and raised again
    (exit code 1)."""
    if owner is not None:
        worker_init(owner)
    try:
        if memory_cap_mb is not None:
            _cap_memory(memory_cap_mb)
        _worker(*args)
    except BaseException as exc:
        if report is not None:
            with contextlib.suppress(OSError, ValueError):
                report.send(f"{type(exc).__name__}: {exc}"[:500])
        raise


#: What a worker process that died before running anything usually means.
_STARTUP_HINT = ("a worker that dies at start-up under the 'spawn' start method is often a "
                 "script that calls run_study without an `if __name__ == \"__main__\":` guard "
                 "(each worker re-runs the script); the worker's stderr has its traceback")


def _exit_reason(code: int | None) -> str:
    if code is None:
        return "still running after join"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def _run_processes(args: list[tuple[Any, ...]], memory_cap_mb: float | None) -> list[str]:
    """Run one spawned process per worker; returns ``"worker k: ..."`` for each that did
    not exit cleanly (its exception when it could report one, else its exit code)."""
    ctx = mp.get_context("spawn")
    pipes = [ctx.Pipe(duplex=False) for _ in args]
    procs = [ctx.Process(target=_process_entry, args=(a, memory_cap_mb, w, os.getpid()))
             for a, (_, w) in zip(args, pipes, strict=True)]
    errors: list[str] = []
    try:
        with sigterm_as_exit():  # a SIGTERM ends the workers too, in the finally below
            for p in procs:
                p.start()
            for p in procs:
                p.join()
    finally:  # an interrupt (KeyboardInterrupt, SystemExit from SIGTERM): no orphans
        for p in procs:
            if p.is_alive():
                p.kill()
                p.join(5.0)
    for k, (p, (r, w)) in enumerate(zip(procs, pipes, strict=True)):
        w.close()
        if p.exitcode != 0:
            sent = None
            with contextlib.suppress(EOFError, OSError):  # EOF: it died without a word
                sent = r.recv() if r.poll() else None
            errors.append(f"worker {k}: {_exit_reason(p.exitcode)}"
                          + (f" ({sent})" if sent else ""))
        r.close()
    return errors


def _run_jobs(executor: Executor, args: list[tuple[Any, ...]]) -> list[str]:
    """Run one executor job per worker; returns ``"worker k: Exc: msg"`` for each job that
    raised or was lost (a Dask worker gone, a broken process pool)."""
    futures = [executor.submit(_worker, *a) for a in args]
    errors: list[str] = []
    for k, f in enumerate(futures):
        try:
            f.result()
        except Exception as exc:  # recorded below and in the study; the next round retries
            errors.append(f"worker {k}: {type(exc).__name__}: {exc}"[:500])
    return errors


def release_stale_journal_lock(path: str | os.PathLike[str]) -> bool:
    """Remove the lock a killed process left on the journal file ``path``.

    Optuna's journal file takes a lock (``<path>.lock``) around every write; a process killed
    while holding it leaves it behind, and the next writer would wait Optuna's 30-second grace
    period before breaking it. Call only when no process uses the journal (like
    :func:`fail_stale_trials`). Returns whether a lock was removed.
    """
    lock = str(path) + ".lock"
    if os.path.lexists(lock):  # a symlink (NFS-safe lock) or a file
        os.remove(lock)
        return True
    return False


def run_study(study_name: str, objective: Callable[[Any], float], *, storage: Any,
              n_trials: int, n_workers: int = 1, direction: str = "minimize",
              sampler_factory: Callable[[int], Any] | None = None, seed: int = 0,
              executor: Executor | None = None,
              storage_kwargs: dict[str, Any] | None = None,
              max_rounds: int = 3, memory_cap_mb: float | None = None) -> StudyRun:
    """Run (or resume) a study in worker processes on a shared storage.

    Parameters
    ----------
    study_name : str
        Created when missing, resumed when it exists (finished trials are kept, and trials a
        dead worker left RUNNING are failed and queued again).
    objective : callable
        ``objective(trial) -> float``; picklable (a module-level function or a
        ``functools.partial`` of one) when it runs in other processes. An exception or a
        non-finite value is recorded as a failed trial (reason in
        ``user_attrs["fail_reason"]``, see :func:`run_trial`).
    storage : str, Path or optuna storage
        See :func:`make_storage`; a journal file or an RDB URL when workers are processes.
    n_trials : int
        Finished trials (complete, pruned or failed) the study should hold at the end (a few
        more when several workers finish at once); trials failed because their worker died do
        not count: they are retried with the same parameters.
    n_workers : int
        Worker processes (or executor jobs), each loading the study and optimising.
    direction : {"minimize", "maximize"}
    sampler_factory : callable, optional
        ``sampler_factory(worker_seed) -> sampler``; worker ``k`` gets ``seed + k``.
    executor : concurrent.futures.Executor, optional
        Where workers run (a Dask client's ``get_executor()`` works). Default: one local
        process per worker (a worker killed mid-trial does not stop the others).
    storage_kwargs : dict, optional
        Passed to :func:`make_storage` in every worker (heartbeat settings).
    max_rounds : int
        When workers died before the study was full, stale trials are failed and queued again
        and a new round of workers starts, at most this many rounds.
    memory_cap_mb : float, optional
        Each local worker process may grow by at most this many MiB (``RLIMIT_AS``); a trial
        that allocates more fails with ``MemoryError``, recorded like any failure. Always runs
        workers in their own processes.

    Returns
    -------
    StudyRun
        With ``worker_errors``: the workers that raised, were lost or exited with a non-zero
        code (a :class:`RuntimeWarning` too when the study is not full at the end).

    Raises
    ------
    ConfigError
        Bad arguments, before any worker starts.
    TrainingError
        Every worker of a round failed before any trial started (no trial ran): the message
        names each worker's exception or exit code, e.g. a script that starts workers under
        the spawn method without an ``if __name__ == "__main__":`` guard.
    """
    n_trials = check_int("n_trials", n_trials, min_value=1)
    n_workers = check_int("n_workers", n_workers, min_value=1)
    max_rounds = check_int("max_rounds", max_rounds, min_value=1)
    if memory_cap_mb is not None:
        check_float("memory_cap_mb", memory_cap_mb, min_value=1.0)
    if direction not in ("minimize", "maximize"):
        raise ConfigError("direction", direction, ("minimize", "maximize"))
    if not callable(objective):
        raise ConfigError("objective", objective, "a callable objective(trial) -> float")
    kw = dict(storage_kwargs or {})
    journal = (storage if isinstance(storage, str | os.PathLike) and "://" not in str(storage)
               else None)
    if journal is not None:
        release_stale_journal_lock(journal)  # no worker of ours runs yet
    st = make_storage(storage, **kw)
    study = optuna.create_study(study_name=study_name, storage=st,
                                direction="minimize" if direction == "minimize" else "maximize",
                                load_if_exists=True)
    shared = storage if not isinstance(storage, optuna.storages.BaseStorage) else st

    def full() -> bool:
        return (_count(study, _FINISHED) - _n_stale(study) >= n_trials
                and _count(study, _WAITING) == 0)

    worker_errors: list[str] = []
    for rnd in range(max_rounds):
        if journal is not None:
            release_stale_journal_lock(journal)  # left by a worker killed mid-write
        # no worker of ours runs now: trials left RUNNING are failed and queued again
        fail_stale_trials(st, study_name, requeue=True)
        if full():
            break
        round_id = uuid.uuid4().hex
        args = [(shared, study_name, objective, sampler_factory, seed + k, n_trials, kw,
                 round_id) for k in range(n_workers)]
        n_before = len(study.get_trials(deepcopy=False))
        if executor is not None:
            lost = _run_jobs(executor, args)
        elif n_workers == 1 and memory_cap_mb is None:
            _worker(*args[0])  # in this process: an error goes straight to the caller
            lost = []
        else:
            lost = _run_processes(args, memory_cap_mb)
        if not lost:
            continue
        worker_errors += [f"round {rnd}, {e}" for e in lost]
        study.set_user_attr("worker_errors", [*study.user_attrs.get("worker_errors", []),
                                              *worker_errors[-len(lost):]])
        if len(lost) == n_workers and len(study.get_trials(deepcopy=False)) == n_before:
            # every worker failed before starting a trial: another round would fail alike
            # a process that died before our entry point could report: the usual cause
            silent = executor is None and any(e.endswith("exit code 1") for e in lost)
            hint = f" ({_STARTUP_HINT})" if silent else ""
            raise TrainingError(f"study {study_name!r}: no trial ran, every worker failed "
                                f"before starting one: {'; '.join(lost)}{hint}")
    if worker_errors and not full():
        warnings.warn(f"study {study_name!r} holds fewer finished trials than the "
                      f"{n_trials} asked after {max_rounds} rounds; lost workers: "
                      f"{'; '.join(worker_errors)}", RuntimeWarning, stacklevel=2)
    study = optuna.load_study(study_name=study_name, storage=st)
    trials = study.get_trials(deepcopy=False)
    states = [t.state for t in trials]
    ts = optuna.trial.TrialState
    return StudyRun(
        study_name=study_name,
        n_complete=states.count(ts.COMPLETE), n_failed=states.count(ts.FAIL),
        n_pruned=states.count(ts.PRUNED),
        fail_reasons=[str(t.user_attrs.get(ATTR_FAIL_REASON, "")) for t in trials
                      if t.state == ts.FAIL],
        worker_errors=worker_errors,
    )


@contextmanager
def dask_executor(address: str | None, *, timeout_s: float = 30.0
                  ) -> Iterator[Executor | None]:
    """A ``concurrent.futures.Executor`` on the Dask scheduler at ``address`` (None: None);
    the client connects within ``timeout_s`` seconds and closes on exit.

    Raises
    ------
    ConfigError
        ``distributed`` is not installed, or no scheduler answers at ``address``.
    """
    if address is None:
        yield None
        return
    try:
        from distributed import Client
    except ImportError:
        raise ConfigError("scheduler", address, 'an address usable once the Dask extra is '
                          'installed: pip install "effdl-kit[dask]"') from None
    try:
        client = Client(address, timeout=timeout_s)
    except (OSError, TimeoutError) as exc:
        raise ConfigError("scheduler", address, f"the address of a running Dask scheduler "
                          f"(tcp://host:8786); connecting failed: {exc}") from None
    with client:
        yield client.get_executor()
