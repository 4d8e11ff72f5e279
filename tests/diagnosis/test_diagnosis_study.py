"""run_diagnosed_study: the live diagnosed study on the bench's MLP over 240 digits (a few
trials of 4 epochs, a fraction of a second each); its records, callbacks, stop and failures."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
import pytest

from effdl_kit.diagnosis import (
    ATTR_DIAGNOSIS,
    DiagnosedEpoch,
    DiagnosedStudy,
    DiagnosedStudyOptions,
    DiagnosedTrial,
    DiagnosisConfig,
    check_enqueue,
    run_diagnosed_study,
)
from effdl_kit.errors import ConfigError, DataError
from effdl_kit.training import DataBundle, TrainConfig, load_data

EPOCHS = 4
#: SGD at lr 20 (outside the search range): the MLP's gradients explode in the first epoch
EXPLODE: dict[str, Any] = {"lr": 20.0, "optimizer": "sgd"}


def suggest(trial: optuna.Trial) -> TrainConfig:
    lr = trial.suggest_float("lr", 1e-3, 0.1, log=True)
    opt = trial.suggest_categorical("optimizer", ["sgd", "adam"])
    return TrainConfig(dataset="digits", model="mlp", n_train=240, epochs=EPOCHS,
                       batch_size=32, lr=lr, optimizer=opt, threads=1, seed=trial.number)


@pytest.fixture(scope="module")
def data() -> DataBundle:
    return load_data("digits", seed=0, n_train=240)


def options(**kw: Any) -> DiagnosedStudyOptions:
    base: dict[str, Any] = {"n_trials": 3, "epochs": EPOCHS, "metric": "accuracy",
                            "enqueue": (EXPLODE,)}
    return DiagnosedStudyOptions(**{**base, **kw})


@pytest.fixture(scope="module")
def bt(data: DataBundle) -> tuple[DiagnosedStudy, list[Any], list[Any], list[Any]]:
    epochs: list[Any] = []
    trials: list[Any] = []
    progress: list[Any] = []

    def on_epoch(run: DiagnosedStudy, rec: DiagnosedEpoch) -> None:
        assert run.history[-1] is rec and run.trials[-1].state == "RUNNING"
        epochs.append((len(run.history), rec))

    def on_trial(run: DiagnosedStudy, rec: DiagnosedTrial) -> None:
        assert run.trials[-1] is rec and rec.state != "RUNNING"
        trials.append(rec)

    run = run_diagnosed_study(suggest, data, options(), context={"task": "mlp"},
                              on_epoch=on_epoch, on_trial=on_trial,
                              progress=lambda *a: progress.append(a))
    return run, epochs, trials, progress


def test_bttackler_stops_the_exploding_trial_and_records_every_epoch(bt: Any) -> None:
    run, epochs, trials, progress = bt
    t = run.table
    assert list(t["number"]) == [0, 1, 2] and t.attrs["metric"] == "accuracy"
    bad = run.trials[0]
    assert bad.params == {"lr": 20.0, "optimizer": "sgd"} and "out of range" in bad.note
    assert bad.stopped_by == ("AGV",) and bad.epoch == 0 and bad.epochs_run == 1
    assert bad.state == "COMPLETE" and "AGV" in bad.reason  # report mode, as in the paper
    assert run.study is not None
    frozen = run.study.trials[0]
    assert frozen.user_attrs[ATTR_DIAGNOSIS]["indicators"] == ["AGV"]
    assert math.isclose(bad.metric, frozen.value)
    assert t.iloc[0]["stopped by"] == "AGV" and "lr=20" in t.iloc[0]["params"]
    for rec in run.trials[1:]:  # the others ran to the end
        assert rec.state == "COMPLETE" and rec.epochs_run == EPOCHS and not rec.stopped_by
        assert rec.seconds > 0 and rec.fail_reason is None
    # every epoch recorded once, in order, reported to on_epoch as it happened
    assert [n for n, _ in epochs] == list(range(1, len(run.history) + 1))
    assert len(run.history) == sum(r.epochs_run for r in run.trials) == len(run.epochs)
    first = run.history[0]
    assert first.stopped and first.flagged and first.values["AGV.median_grad"] > 1e4
    assert run.epochs.columns[:11].tolist() == [
        "trial", "epoch", "train_loss", "val_loss", "metric", "fired", "stopped", "flagged",
        "protected", "median_grad", "median_zero_fraction"]
    assert trials == run.trials
    # progress in epochs: one report per epoch and one per trial, the last one complete
    assert [p[0] for p in progress] == sorted(p[0] for p in progress)
    assert progress[-1][:2] == (3 * EPOCHS, 3 * EPOCHS)
    assert "stopped by AGV" in progress[0][2] and "COMPLETE" in progress[1][2]
    assert len(progress) == len(run.history) + 3
    # t_end on the study clock; the result's summaries
    ends = [r.t_end for r in run.trials]
    assert ends == sorted(ends) and run.wall_time_s >= ends[-1]
    assert len(run.points()) == 3 and run.n_stopped == 1 and run.n_flagged == 1
    best = run.best()
    assert best is not None and best[1] == max(r.metric for r in run.trials)
    assert run.rule_counts() == {"AGV": 1} and not run.stopped
    s = run.settings
    assert s["task"] == "mlp" and s["enqueue"] == [EXPLODE] and s["diagnosis"]["agv_max_grad"]


def test_plain_diagnoses_without_stopping(data: DataBundle, bt: Any) -> None:
    run = run_diagnosed_study(suggest, data, options(variant="plain"))
    bad = run.trials[0]
    assert bad.flagged == ("AGV",) and bad.stopped_by == () and bad.epoch == 0
    assert bad.epochs_run == EPOCHS and not run.history[0].stopped
    assert run.n_stopped == 0 and run.rule_counts() == {"AGV": 1}
    assert [r.params for r in run.trials] == [r.params for r in bt[0].trials]  # same seed
    assert run.study is not None
    assert not any(ATTR_DIAGNOSIS in t.user_attrs for t in run.study.trials)
    # plain reports the metric like any objective would
    assert run.study.trials[1].intermediate_values == {
        e.epoch: e.metric for e in run.history if e.trial == 1}


def test_prune_mode_prunes(data: DataBundle) -> None:
    run = run_diagnosed_study(suggest, data, options(mode="prune", n_trials=2))
    assert run.trials[0].state == "PRUNED" and run.trials[0].stopped_by == ("AGV",)
    assert math.isfinite(run.trials[0].metric)  # its last finite validation metric
    assert run.study is not None
    assert run.study.trials[0].state == optuna.trial.TrialState.PRUNED


def test_should_stop_ends_the_study_between_epochs(data: DataBundle) -> None:
    seen: list[int] = []
    run = run_diagnosed_study(suggest, data, options(variant="plain", enqueue=()),
                              on_epoch=lambda r, e: seen.append(e.epoch),
                              should_stop=lambda: len(seen) >= 2)
    assert run.stopped and len(run.trials) == 1 and seen == [0, 1]
    rec = run.trials[0]
    assert rec.state == "FAIL" and rec.epochs_run == 2 and "stopped" in str(rec.fail_reason)
    assert run.study is not None and run.study.trials[0].user_attrs["fail_reason"]
    before = run_diagnosed_study(suggest, data, options(), should_stop=lambda: True)
    assert before.stopped and before.trials == [] and before.history == []


def test_failing_trials_are_recorded_and_the_study_goes_on(data: DataBundle) -> None:
    def flaky(trial: optuna.Trial) -> TrainConfig:
        cfg = suggest(trial)
        if trial.number == 0:
            raise RuntimeError("broken configuration")
        return cfg

    run = run_diagnosed_study(flaky, data, options(enqueue=()))
    assert [r.state for r in run.trials] == ["FAIL", "COMPLETE", "COMPLETE"]
    assert "broken configuration" in str(run.trials[0].fail_reason)
    assert run.table.iloc[0]["error"] == run.trials[0].fail_reason
    assert "FAIL" in run.table.iloc[0]["state"] and len(run.points()) == 2


@pytest.mark.parametrize("variant", ["bttackler", "plain"])
def test_a_diverged_training_is_a_failed_trial_with_its_reason(data: DataBundle,
                                                               variant: str) -> None:
    def diverging(trial: optuna.Trial) -> TrainConfig:
        lr = trial.suggest_float("lr", 1e-3, 100.0, log=True)
        # SGD at lr 100 in batches of 8: the MLP's training loss is NaN in its first epoch
        return TrainConfig(dataset="digits", model="mlp", n_train=240, epochs=EPOCHS,
                           batch_size=8, lr=lr, optimizer="sgd", threads=1, seed=0)

    run = run_diagnosed_study(diverging, data, options(variant=variant, n_trials=2,
                                                       enqueue=({"lr": 100.0}, {"lr": 0.01})))
    bad, good = run.trials
    assert bad.state == "FAIL" and bad.epochs_run == 1
    assert str(bad.fail_reason).startswith("TrainingError: non-finite loss: training loss nan")
    assert run.study is not None and run.study.trials[0].state == optuna.trial.TrialState.FAIL
    assert run.study.trials[0].user_attrs["fail_reason"] == bad.fail_reason
    assert good.state == "COMPLETE" and good.fail_reason is None  # the study went on
    assert run.best() == (good.number, good.metric)


def test_an_interrupt_closes_the_trial_and_goes_on_up(data: DataBundle) -> None:
    def interrupted(trial: optuna.Trial) -> TrainConfig:
        if trial.number == 1:
            raise KeyboardInterrupt
        return suggest(trial)

    kept: list[DiagnosedStudy] = []
    study = optuna.create_study(direction="maximize")
    with pytest.raises(KeyboardInterrupt):
        run_diagnosed_study(interrupted, data, options(enqueue=()), study=study,
                            on_trial=lambda r, t: kept.append(r))
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE,
                                               optuna.trial.TrialState.FAIL]
    run = kept[0]
    assert [t.state for t in run.trials] == ["COMPLETE", "FAIL"]
    assert str(run.trials[1].fail_reason).startswith("interrupted: KeyboardInterrupt")
    assert study.trials[1].user_attrs["fail_reason"] == run.trials[1].fail_reason


def test_json_round_trip(bt: Any, tmp_path: Path) -> None:
    run = bt[0]
    path = run.to_json(tmp_path / "sub" / "study.json")
    back = DiagnosedStudy.from_json(path)
    assert back.study is None and back.options == run.options
    pd.testing.assert_frame_equal(back.table, run.table)
    pd.testing.assert_frame_equal(back.epochs, run.epochs)
    assert back.trials == run.trials and back.history == run.history
    assert back.settings == run.settings and back.best() == run.best()
    (tmp_path / "bad.json").write_text("[1, 2]")
    with pytest.raises(DataError):
        DiagnosedStudy.from_json(tmp_path / "bad.json")
    (tmp_path / "partial.json").write_text(json.dumps({"options": run.options.to_dict()}))
    with pytest.raises(DataError, match="not a diagnosed study"):
        DiagnosedStudy.from_json(tmp_path / "partial.json")
    with pytest.raises(DataError):
        DiagnosedStudy.from_json(tmp_path / "missing.json")
    bad_options = {**run.to_dict(), "options": {**run.options.to_dict(), "n_trials": 0}}
    (tmp_path / "invalid.json").write_text(json.dumps(bad_options))
    with pytest.raises(DataError, match="n_trials"):
        DiagnosedStudy.from_json(tmp_path / "invalid.json")


def test_indicator_values_fall_back_to_the_gradient_medians() -> None:
    run = DiagnosedStudy(options(), history=[
        DiagnosedEpoch(0, 0, 1.0, 1.0, 0.5, median_grad=0.2, values={"AGV.median_grad": 0.3}),
        DiagnosedEpoch(0, 1, 1.0, 1.0, 0.5, median_grad=0.1, median_zero_fraction=0.4),
    ])
    assert run.indicator_values("AGV.median_grad").tolist() == [0.3, 0.1]
    assert run.indicator_values("LAR.median_zero_fraction")[1] == 0.4
    assert np.isnan(run.indicator_values("PLC.loss_cov")).all()
    assert DiagnosedStudy(options()).epochs.empty and DiagnosedStudy(options()).best() is None


def test_best_follows_the_direction() -> None:
    trials = [DiagnosedTrial(0, 0, metric=0.2, state="COMPLETE", t_end=1.0),
              DiagnosedTrial(1, 1, metric=0.1, state="PRUNED", t_end=2.0),
              DiagnosedTrial(2, 2, metric=0.05, state="FAIL", t_end=3.0)]
    assert DiagnosedStudy(options(), trials=trials).best() == (0, 0.2)
    low = DiagnosedStudy(options(direction="minimize"), trials=trials)
    assert low.best() == (1, 0.1) and low.points() == [(1.0, 0.2), (2.0, 0.1)]


@pytest.mark.parametrize(("kw", "field"), [
    ({"n_trials": 0}, "n_trials"), ({"epochs": 1}, "epochs"), ({"seed": -1}, "seed"),
    ({"variant": "median"}, "variant"), ({"mode": "stop"}, "mode"),
    ({"direction": "up"}, "direction"), ({"config": {"agv_max_grad": 1.0}}, "config"),
    ({"metric": " "}, "metric"), ({"enqueue": {"lr": 0.1}}, "enqueue"),
    ({"enqueue": (1,)}, "enqueue[0]"),
])
def test_bad_options_name_the_field(kw: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(f"'{field}'")):
        options(**kw)


def test_check_enqueue_against_the_search_space() -> None:
    assert check_enqueue(None, suggest) == () and check_enqueue([], suggest) == ()
    assert check_enqueue([EXPLODE], suggest) == (EXPLODE,)
    with pytest.raises(ConfigError, match=r"'enqueue\[0\]'"):
        check_enqueue([{"lrr": 0.1}], suggest)
    with pytest.raises(ConfigError, match=r"'enqueue\[1\]'.*search space accepts"):
        check_enqueue([EXPLODE, {"optimizer": "lbfgs"}], suggest)


def test_study_arguments_are_checked_before_training(data: DataBundle) -> None:
    calls: list[int] = []

    def counting(trial: optuna.Trial) -> TrainConfig:
        calls.append(trial.number)
        return suggest(trial)

    study = optuna.create_study(direction="minimize")
    with pytest.raises(ConfigError, match="'study'"):
        run_diagnosed_study(counting, data, options(enqueue=()), study=study)
    with pytest.raises(ConfigError, match="'sampler'"):
        run_diagnosed_study(counting, data, options(enqueue=()),
                            study=optuna.create_study(direction="maximize"),
                            sampler=optuna.samplers.RandomSampler())
    with pytest.raises(ConfigError, match=r"'enqueue\[0\]'"):
        run_diagnosed_study(counting, data, options(enqueue=({"optimizer": "lbfgs"},)))
    with pytest.raises(ConfigError, match="'options'"):
        run_diagnosed_study(counting, data, {"n_trials": 1})  # type: ignore[arg-type]
    assert calls == [0, 0]  # only check_enqueue's dry samples, no trial of a study
    assert DiagnosisConfig() == options().config
