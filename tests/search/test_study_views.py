"""In-kernel study views: parameter importances and the readable trials table."""

from __future__ import annotations

import math
from pathlib import Path

import optuna
import pytest

import effdl_kit.search as search
from effdl_kit._core.storage import run_study
from effdl_kit.diagnosis import ATTR_DIAGNOSIS, ATTR_LOSSES
from effdl_kit.errors import ConfigError
from effdl_kit.search import (
    IMPORTANCE_EVALUATORS,
    KIT_TRIAL_ATTRS,
    load_kit_study,
    param_importances,
    trials_frame,
)

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _dominated(trial: optuna.Trial) -> float:
    """x explains nearly all of the variance; y and the optimizer next to nothing."""
    x = trial.suggest_float("x", 0.0, 1.0)
    y = trial.suggest_float("y", 1e-3, 1.0, log=True)
    opt = trial.suggest_categorical("opt", ["sgd", "adam"])
    return 10.0 * x + 0.01 * y + (0.01 if opt == "sgd" else 0.0)


@pytest.fixture(scope="module")
def study() -> optuna.Study:
    s = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    s.optimize(_dominated, n_trials=40)
    return s


@pytest.mark.parametrize("evaluator", sorted(IMPORTANCE_EVALUATORS))
def test_importances_put_the_dominant_parameter_first(study: optuna.Study,
                                                      evaluator: str) -> None:
    df = param_importances(study, evaluator=evaluator, seed=0)  # type: ignore[arg-type]
    assert list(df.columns) == ["param", "importance"]
    assert sorted(df["param"]) == ["opt", "x", "y"]
    assert df["param"].iloc[0] == "x"
    assert df["importance"].iloc[0] > 0.8
    assert df["importance"].is_monotonic_decreasing
    assert math.isclose(df["importance"].sum(), 1.0, rel_tol=1e-6)
    assert df.attrs == {"evaluator": evaluator, "seed": 0, "n_trials": 40,
                        "study_name": study.study_name}


def test_importances_are_reproducible_with_the_seed(study: optuna.Study) -> None:
    a = param_importances(study, evaluator="fanova", seed=7)
    b = param_importances(study, evaluator="fanova", seed=7)
    assert a.equals(b)


def test_importances_need_two_complete_trials_and_two_params() -> None:
    few = optuna.create_study()
    few.optimize(_dominated, n_trials=1)
    few.optimize(lambda t: float("nan"), n_trials=2)  # failed trials do not count
    with pytest.raises(ConfigError, match="1 complete trial") as err:
        param_importances(few)
    assert err.value.field == "study"
    one = optuna.create_study()
    one.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=5)
    with pytest.raises(ConfigError, match="at least 2 searched parameters"):
        param_importances(one)


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"evaluator": "shap"}, "evaluator"), ({"seed": -1}, "seed"), ({"seed": 1.5}, "seed")])
def test_importances_reject_bad_arguments(study: optuna.Study, kwargs: dict[str, object],
                                          field: str) -> None:
    with pytest.raises(ConfigError) as err:
        param_importances(study, **kwargs)  # type: ignore[arg-type]
    assert err.value.field == field


def test_views_reject_what_is_not_a_single_objective_study() -> None:
    multi = optuna.create_study(directions=["minimize", "maximize"])
    for view in (param_importances, trials_frame):
        with pytest.raises(ConfigError, match="single-objective"):
            view(multi)
        with pytest.raises(ConfigError, match="optuna.Study"):
            view("study.log")  # type: ignore[arg-type]


def _kit_objective(trial: optuna.Trial) -> float:
    """Writes the user attributes the kit's BTTackler runs write; trial 2 diverges."""
    lr = trial.suggest_float("lr", 1e-4, 1e-1, log=True)
    opt = trial.suggest_categorical("optimizer", ["sgd", "adam", None])
    trial.suggest_int("batch_size", 16, 64)
    trial.set_user_attr(ATTR_LOSSES, [2.3, 1.9, None if trial.number == 1 else 1.5])
    trial.set_user_attr("lr", "shadowed")  # a user attribute named like a parameter
    if trial.number == 1:
        trial.set_user_attr(ATTR_DIAGNOSIS, {"epoch": 2, "indicators": ["EG", "VG"],
                                             "reason": "exploding gradient"})
    if trial.number == 2:
        return float("nan")
    return lr * (2.0 if opt == "sgd" else 1.0)


@pytest.fixture(scope="module")
def kit_journal(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("study") / "journal.log"
    run = run_study("views", _kit_objective, storage=path, n_trials=5, seed=0)
    assert run.n_complete == 4 and run.n_failed == 1
    return path


def test_trials_frame_of_a_kit_study(kit_journal: Path) -> None:
    study = load_kit_study(kit_journal)
    frame = trials_frame(study)
    trials = {t.number: t for t in study.trials}
    assert frame["number"].tolist() == [0, 1, 3, 4]  # the failed trial 2 is left out
    assert list(frame.columns[:5]) == ["number", "lr", "optimizer", "batch_size", "value"]
    for _, row in frame.iterrows():
        t = trials[row["number"]]
        assert row["value"] == t.value
        assert row["lr"] == t.params["lr"] and row["batch_size"] == t.params["batch_size"]
        assert row["duration_s"] == pytest.approx(t.user_attrs["t_end"]
                                                  - t.user_attrs["t_start"])
        assert row["user_attr:lr"] == "shadowed"
    by_number = frame.set_index("number")
    assert by_number.loc[1, "diagnosis"] == "epoch 2: EG, VG"
    assert by_number.loc[0, "final_train_loss"] == 1.5
    assert by_number.loc[1, "final_train_loss"] is None or math.isnan(
        by_number.loc[1, "final_train_loss"])
    assert not {"t_start", "t_end", "fail_reason", "traceback"} & set(frame.columns)
    assert frame.attrs["params"] == ["lr", "optimizer", "batch_size"]
    assert frame.attrs["log_params"] == ["lr"]
    assert frame.attrs["categorical"] == {"optimizer": ["sgd", "adam", None]}
    assert frame.attrs["int_params"] == ["batch_size"]
    assert frame.attrs["direction"] == "minimize" and frame.attrs["objective"] == "value"


def test_trials_frame_of_a_study_without_complete_trials() -> None:
    study = optuna.create_study(direction="maximize")
    study.optimize(lambda t: t.suggest_float("x", 0, 1) * float("nan"), n_trials=2)
    frame = trials_frame(study)
    assert frame.empty and list(frame.columns) == ["number", "value"]


def test_load_kit_study_by_name_or_run(kit_journal: Path, tmp_path: Path) -> None:
    assert load_kit_study(kit_journal, "views").study_name == "views"
    two = tmp_path / "two.log"
    for name in ("a", "b"):
        run = run_study(name, _kit_objective, storage=two, n_trials=1)
    assert load_kit_study(two, run).study_name == "b"
    with pytest.raises(ConfigError, match="one of the 2 studies") as err:
        load_kit_study(two)
    assert err.value.field == "study_name"
    with pytest.raises(ConfigError) as err:
        load_kit_study(two, "c")
    assert err.value.field == "study_name" and "'a'" in str(err.value)
    missing = tmp_path / "missing.log"
    with pytest.raises(ConfigError, match="existing journal file"):
        load_kit_study(missing)
    assert not missing.exists()  # opening for reading created nothing


def test_every_kit_attribute_is_documented() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "dashboard.md").read_text()
    for key in [*KIT_TRIAL_ATTRS, *search.KIT_STUDY_ATTRS]:
        assert f"`{key}`" in doc, key
    assert {"param_importances", "trials_frame", "load_kit_study"} <= set(search.__all__)
