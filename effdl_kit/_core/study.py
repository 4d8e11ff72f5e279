"""The pieces of the kit's one study runner, on Optuna's public API only.

Every study loop of the kit (:func:`effdl_kit._core.storage.run_study`'s workers, the
``bttackler`` experiment's workers, the diagnosis panel's live study) runs its trials through
:func:`run_trial`, one trial step with one way of recording a failure:

* the objective raises ``optuna.TrialPruned``: the trial is PRUNED;
* it raises an ``Exception``: the trial FAILs with ``user_attrs["fail_reason"]``
  (``"ExcType: message"``, at most 500 characters) and ``user_attrs["traceback"]``;
* it returns a non-finite value: the trial FAILs with ``"non-finite objective value: nan"``;
* a ``BaseException`` that is not an ``Exception`` (``KeyboardInterrupt``, a stop signal a
  caller raises): the trial is told FAIL (``"interrupted: ..."``) and the exception goes on.

:func:`trial_loop` repeats the step until a stopping rule holds. :class:`RunClock` is a run
clock with a budget (a deadline that resumes where a previous segment stopped),
:func:`wait_for_workers` a start barrier kept in the study's user attributes (so it works
across machines), :func:`fail_stale_trials` the one way trials left RUNNING by a dead or
stopped worker are failed (and, when asked, queued again). :func:`sigterm_as_exit` lets a
runner's ``finally`` stop its worker processes on SIGTERM (with
:func:`effdl_kit._core.pool.worker_init` as their initializer they also end with a runner
killed outright).

>>> import optuna
>>> optuna.logging.set_verbosity(optuna.logging.WARNING)
>>> study = optuna.create_study()
>>> run_trial(study, lambda t: t.suggest_float("x", 0, 1) * float("nan")).fail_reason
'non-finite objective value: nan'
"""

from __future__ import annotations

import math
import signal
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import optuna

__all__ = [
    "ATTR_FAIL_REASON",
    "ATTR_TRACEBACK",
    "STALE_REASON",
    "DeadlineExceeded",
    "RunClock",
    "TrialOutcome",
    "fail_stale_trials",
    "quiet_optuna",
    "run_trial",
    "sigterm_as_exit",
    "trial_loop",
    "wait_for_workers",
]

#: The one user attribute holding why a trial failed.
ATTR_FAIL_REASON = "fail_reason"
#: User attribute with the last frames of the traceback of a trial that raised.
ATTR_TRACEBACK = "traceback"
#: ``fail_reason`` of a trial failed by :func:`fail_stale_trials`.
STALE_REASON = "stale: its worker stopped before the trial finished"
_MAX_REASON = 500
_TS = optuna.trial.TrialState

TrialStateName = Literal["COMPLETE", "PRUNED", "FAIL"]


@contextmanager
def quiet_optuna() -> Iterator[None]:
    """For the block: Optuna's per-trial INFO lines off, and its experimental-feature and
    independent-sampling warnings ignored; the previous verbosity and warning filters are
    restored afterwards.

    >>> with quiet_optuna():
    ...     optuna.create_study().optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    """
    old = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            warnings.filterwarnings("ignore", message=".*independent sampl.*")
            yield
    finally:
        optuna.logging.set_verbosity(old)
_STATE_NAMES: dict[optuna.trial.TrialState, TrialStateName] = {
    _TS.COMPLETE: "COMPLETE", _TS.PRUNED: "PRUNED", _TS.FAIL: "FAIL"}


@dataclass(frozen=True)
class TrialOutcome:
    """How one trial run by :func:`run_trial` ended.

    Attributes
    ----------
    number : int
        The trial's number in its study.
    state : {"COMPLETE", "PRUNED", "FAIL"}
    value : float or None
        The objective value (COMPLETE), the last reported value (PRUNED, when any), None
        (FAIL).
    fail_reason : str or None
        ``user_attrs["fail_reason"]`` of a failed trial.
    t_start, t_end : float
        ``clock()`` before ``study.ask()`` and after the objective returned or raised.
    """

    number: int
    state: TrialStateName
    value: float | None
    fail_reason: str | None
    t_start: float
    t_end: float


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:_MAX_REASON]


def run_trial(study: optuna.Study, objective: Callable[[optuna.Trial], float], *,
              user_attrs: Mapping[str, Any] | None = None,
              clock: Callable[[], float] = time.perf_counter) -> TrialOutcome:
    """Ask ``study`` for a trial, run ``objective`` on it and tell the study how it ended.

    Parameters
    ----------
    study : optuna.Study
    objective : callable
        ``objective(trial) -> float``.
    user_attrs : mapping, optional
        User attributes set on the trial before the objective runs (worker, segment, ...).
    clock : callable
        ``clock() -> seconds``; its readings before the ask and after the objective are the
        trial's ``t_start`` and ``t_end`` user attributes (a run clock, or
        ``time.perf_counter``).

    Returns
    -------
    TrialOutcome

    Raises
    ------
    BaseException
        A ``BaseException`` that is not an ``Exception`` raised by the objective
        (``KeyboardInterrupt``, a caller's stop signal), after the trial was told FAIL with
        ``fail_reason`` ``"interrupted: ..."``.
    """
    t_start = clock()
    trial = study.ask()
    for key, val in (user_attrs or {}).items():
        trial.set_user_attr(key, val)
    trial.set_user_attr("t_start", t_start)
    value: float | None = None
    reason: str | None = None
    state = _TS.COMPLETE
    try:
        value = float(objective(trial))
    except optuna.TrialPruned:
        state = _TS.PRUNED
    except Exception as exc:  # a failing trial is recorded; the study goes on
        state, reason = _TS.FAIL, _reason(exc)
        trial.set_user_attr(ATTR_TRACEBACK, traceback.format_exc(limit=5))
    except BaseException as exc:  # recorded as FAIL, then it goes on to the caller
        trial.set_user_attr("t_end", clock())
        trial.set_user_attr(ATTR_FAIL_REASON, f"interrupted: {_reason(exc)}"[:_MAX_REASON])
        study.tell(trial, state=_TS.FAIL)
        raise
    t_end = clock()
    trial.set_user_attr("t_end", t_end)
    if state == _TS.COMPLETE and value is not None and not math.isfinite(value):
        state, reason = _TS.FAIL, f"non-finite objective value: {value}"
    if reason is not None:
        trial.set_user_attr(ATTR_FAIL_REASON, reason)
    frozen = (study.tell(trial, value) if state == _TS.COMPLETE
              else study.tell(trial, state=state))
    out = frozen.value if state != _TS.FAIL else None
    return TrialOutcome(number=trial.number, state=_STATE_NAMES[state],
                        value=None if out is None else float(out), fail_reason=reason,
                        t_start=t_start, t_end=t_end)


def trial_loop(study: optuna.Study, objective: Callable[[optuna.Trial], float], *,
               stop: Callable[[], bool], user_attrs: Mapping[str, Any] | None = None,
               clock: Callable[[], float] = time.perf_counter,
               on_trial: Callable[[TrialOutcome], None] | None = None) -> list[TrialOutcome]:
    """Run :func:`run_trial` until ``stop()`` holds (checked before every trial).

    Parameters
    ----------
    study, objective, user_attrs, clock
        As for :func:`run_trial`.
    stop : callable
        ``stop() -> bool``: the loop's stopping rule (a budget, a number of trials).
    on_trial : callable, optional
        ``on_trial(outcome)`` after each trial (progress, live plots).

    Returns
    -------
    list of TrialOutcome
        The trials this loop ran, in order.
    """
    outcomes: list[TrialOutcome] = []
    while not stop():
        outcomes.append(run_trial(study, objective, user_attrs=user_attrs, clock=clock))
        if on_trial is not None:
            on_trial(outcomes[-1])
    return outcomes


class DeadlineExceeded(Exception):
    """Raised inside a trial (see :meth:`RunClock.check`) when the run clock passes the
    budget; the trial FAILs like any other failure."""


class RunClock:
    """A run clock with a budget: ``offset_s`` plus the seconds since :meth:`start`.

    Parameters
    ----------
    budget_s : float
        The run's budget in run-clock seconds.
    offset_s : float
        Where the clock starts (a resumed run continues where the previous segment stopped).
    timer : callable
        Wall clock (``time.time``: comparable across the processes of one machine).
    """

    def __init__(self, budget_s: float, offset_s: float = 0.0, *,
                 timer: Callable[[], float] = time.time) -> None:
        self.budget_s = float(budget_s)
        self.offset_s = float(offset_s)
        self._timer = timer
        self._t0: float | None = None

    def start(self) -> None:
        """Start (or restart) the clock at ``offset_s``."""
        self._t0 = self._timer()

    def __call__(self) -> float:
        """Run-clock seconds now (``offset_s`` until started)."""
        return self.offset_s + (0.0 if self._t0 is None else self._timer() - self._t0)

    def expired(self) -> bool:
        """Whether the clock reached the budget (no new trial should start)."""
        return self() >= self.budget_s

    def check(self) -> None:
        """Raise :class:`DeadlineExceeded` once the clock is past the budget (call it inside
        a trial, e.g. after every training step)."""
        if self() > self.budget_s:
            raise DeadlineExceeded(f"run budget of {self.budget_s:g} s exhausted mid-trial")


def wait_for_workers(study: optuna.Study, key: str, worker: int, n: int,
                     timeout_s: float = 600.0, *, poll_s: float = 0.02) -> bool:
    """A start barrier kept in the study's user attributes (works across machines).

    Worker ``worker`` marks itself ready under ``ready:<key>:<worker>`` and waits until the
    ``n`` workers ``0 .. n-1`` of the same ``key`` (e.g. a run segment) are ready; after
    ``timeout_s`` seconds it goes on anyway (a cluster with fewer free slots than workers).

    Returns
    -------
    bool
        Whether every worker was ready before the timeout.
    """
    study.set_user_attr(f"ready:{key}:{worker}", True)
    keys = [f"ready:{key}:{w}" for w in range(n)]
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        attrs = study.user_attrs
        if all(k in attrs for k in keys):
            return True
        time.sleep(poll_s)
    return False


def fail_stale_trials(storage: optuna.storages.BaseStorage, study_name: str, *,
                      requeue: bool, user_attrs: Mapping[str, Any] | None = None) -> int:
    """Fail the trials a dead or stopped worker left RUNNING, with ``STALE_REASON``.

    Call only when no worker runs the study (a journal file has no heartbeat to tell a dead
    worker from a slow one). WAITING trials (queued, not started) are left alone.

    Parameters
    ----------
    storage : optuna.storages.BaseStorage
        The study's storage.
    study_name : str
    requeue : bool
        Whether each failed trial's parameters are queued again (``enqueue_trial`` with user
        attribute ``retry_of`` = the failed trial's number): ``True`` when the study should
        still hold the finished trials it was asked for (:func:`~effdl_kit._core.storage.
        run_study`), ``False`` when a cut trial is a measurement of its own (``bttackler``:
        time lost to an interruption).
    user_attrs : mapping, optional
        Further user attributes set on each failed trial (an experiment's outcome label).

    Returns
    -------
    int
        The number of trials failed.
    """
    study = optuna.load_study(study_name=study_name, storage=storage)
    stale = study.get_trials(deepcopy=False, states=(_TS.RUNNING,))
    if not stale:
        return 0
    study_id = storage.get_study_id_from_name(study_name)
    attrs = {**(user_attrs or {}), ATTR_FAIL_REASON: STALE_REASON}
    for t in stale:
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, t.number)
        for key, val in attrs.items():
            storage.set_trial_user_attr(trial_id, key, val)
        storage.set_trial_state_values(trial_id, _TS.FAIL)
        if requeue:
            study.enqueue_trial(dict(t.params), user_attrs={"retry_of": t.number},
                                skip_if_exists=False)
    return len(stale)


@contextmanager
def sigterm_as_exit() -> Iterator[None]:
    """For the block: SIGTERM raises ``SystemExit(143)`` (128 + 15) instead of ending the
    process at once, so the caller's ``except`` / ``finally`` can stop its workers.

    Only where SIGTERM has its default action and only in the main thread (elsewhere Python
    cannot set handlers): there the block runs unchanged. The previous action is restored.
    """
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGTERM) != signal.SIG_DFL):
        yield
        return

    def on_term(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
