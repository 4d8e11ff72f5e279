"""The one trial step and the runner pieces: outcomes, failure reasons, clock, barrier, stale."""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest

from effdl_kit._core.storage import make_storage
from effdl_kit._core.study import (
    ATTR_FAIL_REASON,
    ATTR_TRACEBACK,
    STALE_REASON,
    DeadlineExceeded,
    RunClock,
    TrialOutcome,
    fail_stale_trials,
    run_trial,
    sigterm_as_exit,
    trial_loop,
    wait_for_workers,
)

TS = optuna.trial.TrialState


@pytest.fixture(autouse=True)
def _quiet_optuna() -> Iterator[None]:
    old = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    yield
    optuna.logging.set_verbosity(old)


class Ticks:
    """A clock that advances by one second per reading."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        self.t += 1.0
        return self.t


def test_a_complete_trial_records_its_times_and_attributes() -> None:
    study = optuna.create_study(direction="maximize")
    out = run_trial(study, lambda t: t.suggest_float("x", 0.0, 1.0) + 1.0,
                    user_attrs={"worker": 3}, clock=Ticks())
    t = study.trials[0]
    assert out == TrialOutcome(number=0, state="COMPLETE", value=t.value, fail_reason=None,
                               t_start=1.0, t_end=2.0)
    assert t.state == TS.COMPLETE and t.value is not None and 1.0 <= t.value <= 2.0
    assert t.user_attrs == {"worker": 3, "t_start": 1.0, "t_end": 2.0}


def test_a_pruned_trial_keeps_its_last_reported_value() -> None:
    study = optuna.create_study()

    def objective(trial: optuna.Trial) -> float:
        trial.report(0.7, 0)
        trial.report(0.4, 1)
        raise optuna.TrialPruned("stopped")

    out = run_trial(study, objective)
    assert (out.state, out.value, out.fail_reason) == ("PRUNED", 0.4, None)
    assert study.trials[0].state == TS.PRUNED
    assert ATTR_FAIL_REASON not in study.trials[0].user_attrs


def test_an_exception_fails_the_trial_with_its_reason_and_the_study_goes_on() -> None:
    study = optuna.create_study()

    def boom(trial: optuna.Trial) -> float:
        raise ValueError("x" * 600)

    out = run_trial(study, boom)
    t = study.trials[0]
    assert out.state == "FAIL" and out.value is None and t.state == TS.FAIL
    assert out.fail_reason is not None and out.fail_reason == t.user_attrs[ATTR_FAIL_REASON]
    assert out.fail_reason.startswith("ValueError: xxx") and len(out.fail_reason) == 500
    assert "ValueError" in t.user_attrs[ATTR_TRACEBACK]
    assert run_trial(study, lambda t: 1.0).state == "COMPLETE"  # the study goes on


@pytest.mark.parametrize(("value", "text"), [(float("nan"), "nan"), (float("inf"), "inf"),
                                             (float("-inf"), "-inf")])
def test_a_non_finite_value_fails_the_trial(value: float, text: str) -> None:
    study = optuna.create_study()
    out = run_trial(study, lambda t: value)
    assert out.state == "FAIL" and out.value is None
    assert study.trials[0].user_attrs[ATTR_FAIL_REASON] == f"non-finite objective value: {text}"


def test_an_objective_returning_no_number_fails_the_trial() -> None:
    study = optuna.create_study()
    out = run_trial(study, lambda t: None)  # type: ignore[arg-type,return-value]
    assert out.state == "FAIL" and out.fail_reason is not None
    assert out.fail_reason.startswith("TypeError")


class _Stop(BaseException):
    """A caller's stop signal (not an Exception)."""


@pytest.mark.parametrize("exc", [KeyboardInterrupt("ctrl-c"), _Stop("stop button")])
def test_an_interrupt_fails_the_trial_and_goes_on_to_the_caller(exc: BaseException) -> None:
    study = optuna.create_study()

    def interrupted(trial: optuna.Trial) -> float:
        raise exc

    with pytest.raises(type(exc)):
        run_trial(study, interrupted, clock=Ticks())
    t = study.trials[0]
    assert t.state == TS.FAIL
    assert t.user_attrs[ATTR_FAIL_REASON] == f"interrupted: {type(exc).__name__}: {exc}"
    assert t.user_attrs["t_end"] == 2.0


def test_trial_loop_stops_by_its_rule_and_reports_each_trial() -> None:
    study = optuna.create_study()
    seen: list[int] = []
    outs = trial_loop(study, lambda t: t.suggest_float("x", 0, 1),
                      stop=lambda: len(study.trials) >= 3, user_attrs={"segment": 1},
                      on_trial=lambda o: seen.append(o.number))
    assert [o.number for o in outs] == seen == [0, 1, 2]
    assert all(t.user_attrs["segment"] == 1 for t in study.trials)
    assert trial_loop(study, lambda t: 0.0, stop=lambda: True) == []


def test_run_clock_resumes_at_its_offset_and_enforces_its_budget() -> None:
    now = {"t": 100.0}
    clock = RunClock(10.0, offset_s=4.0, timer=lambda: now["t"])
    assert clock() == 4.0 and not clock.expired()  # not started: the offset
    clock.start()
    now["t"] = 105.0
    assert clock() == 9.0 and not clock.expired()
    clock.check()
    now["t"] = 106.0
    assert clock.expired()
    clock.check()  # exactly at the budget: the trial may finish
    now["t"] = 106.5
    with pytest.raises(DeadlineExceeded, match="budget of 10 s"):
        clock.check()


def test_start_barrier_in_the_study_user_attributes(tmp_path: Path) -> None:
    storage = make_storage(tmp_path / "s.log")
    study = optuna.create_study(study_name="b", storage=storage)
    assert wait_for_workers(study, "0", 0, 1, timeout_s=5)
    assert not wait_for_workers(study, "1", 0, 2, timeout_s=0.2)  # the other never came
    other = optuna.load_study(study_name="b", storage=make_storage(tmp_path / "s.log"))
    result: dict[int, bool] = {}
    threads = [threading.Thread(target=lambda w=w, s=s: result.__setitem__(
        w, wait_for_workers(s, "2", w, 2, timeout_s=30))) for w, s in ((0, study), (1, other))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert result == {0: True, 1: True}
    assert {k for k in study.user_attrs if k.startswith("ready:2:")} == {"ready:2:0",
                                                                         "ready:2:1"}


@pytest.mark.parametrize("requeue", [True, False])
def test_fail_stale_trials_only_touches_running_ones(tmp_path: Path, requeue: bool) -> None:
    storage = make_storage(tmp_path / "s.log")
    study = optuna.create_study(study_name="s", storage=storage)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    x = study.ask().suggest_float("x", 0, 1)  # RUNNING, as a dead worker leaves it
    study.enqueue_trial({"x": 0.25})  # queued, not started: left alone
    n = fail_stale_trials(storage, "s", requeue=requeue, user_attrs={"outcome": "interrupted"})
    assert n == 1
    trials = study.get_trials()
    states = [t.state for t in trials]
    assert states == [TS.COMPLETE, TS.COMPLETE, TS.FAIL, TS.WAITING] + (
        [TS.WAITING] if requeue else [])
    assert trials[2].user_attrs[ATTR_FAIL_REASON] == STALE_REASON
    assert trials[2].user_attrs["outcome"] == "interrupted"
    if requeue:
        assert trials[4].params == {} and trials[4].user_attrs == {"retry_of": 2}
        assert trials[4].system_attrs["fixed_params"] == {"x": x}  # the same point again
    assert fail_stale_trials(storage, "s", requeue=requeue) == 0


def test_no_module_of_the_kit_reaches_into_optunas_private_attributes() -> None:
    root = Path(__file__).resolve().parents[2]
    private = re.compile(r"\._(?:study_id|trial_id|storage)\b")
    assert private.search("storage.set_trial_state_values(t._trial_id, s)")  # controls
    assert private.search("study._storage.get_all_trials(sid)")
    assert not private.search("storage.get_trial_id_from_study_id_trial_number(i, n)")
    # a sampler honouring Optuna's constraints_func stores the values in the trial's system
    # attrs as Optuna's own samplers do; Optuna offers no public call for it
    allowed = {("effdl_kit/search/_feasibility.py",
                "study._storage.set_trial_system_attr(trial._trial_id, _CONSTRAINTS_KEY, "
                "values)")}
    bad = [f"{p.relative_to(root)}:{no}" for folder in ("effdl_kit", "widgets")
           for p in sorted((root / folder).rglob("*.py"))
           for no, line in enumerate(p.read_text(encoding="utf-8").splitlines(), start=1)
           if private.search(line)
           and (str(p.relative_to(root)), line.strip()) not in allowed]
    assert not bad, f"Optuna's private attributes used: {bad}"


def test_sigterm_as_exit_raises_system_exit_in_the_block_only() -> None:
    if signal.getsignal(signal.SIGTERM) != signal.SIG_DFL:
        pytest.skip("SIGTERM has a handler here; the block would leave it alone")
    with pytest.raises(SystemExit) as info, sigterm_as_exit():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises at the next bytecode; this is never finished
    assert info.value.code == 143
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # restored after the block
    seen: list[Any] = []

    def in_thread() -> None:  # no handler can be set outside the main thread: a no-op
        with sigterm_as_exit():
            seen.append(signal.getsignal(signal.SIGTERM))

    t = threading.Thread(target=in_thread)
    t.start()
    t.join()
    assert seen == [signal.SIG_DFL]
