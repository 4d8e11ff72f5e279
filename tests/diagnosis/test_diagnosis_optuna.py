"""Optuna integration: the two-line helper, report vs prune modes, user attributes, the
protection rule through the study, and direction checks."""

from typing import Any

import optuna
import pytest
import torch
from torch import nn

from effdl_kit.diagnosis import (
    ATTR_DIAGNOSIS,
    ATTR_LOSSES,
    BTTacklerPruner,
    DiagnosisConfig,
    TrialHook,
    diagnose_trial,
)
from effdl_kit.errors import ConfigError
from effdl_kit.training import TrainConfig, train

optuna.logging.set_verbosity(optuna.logging.WARNING)
EPOCHS = 8


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 10, generator=g)
    y = (x[:, 0] + x[:, 1] > 0).long()
    return x, y


def _objective(trial: optuna.Trial) -> float:
    """A user's plain PyTorch objective; the two BTTackler lines are marked."""
    torch.manual_seed(trial.number)
    lr = trial.suggest_float("lr", 1e-9, 1e-1, log=True)
    x, y = _data()
    model = nn.Sequential(nn.Linear(10, 32), nn.Tanh(), nn.Linear(32, 2))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    bt = diagnose_trial(trial, model, max_epochs=EPOCHS)  # BTTackler line 1
    acc = 0.0
    for _ in range(EPOCHS):
        total = 0.0
        for i in range(0, 256, 32):
            loss = nn.functional.cross_entropy(model(x[i:i + 32]), y[i:i + 32])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) / 8
        with torch.no_grad():
            acc = float((model(x).argmax(1) == y).float().mean())
        if bt.end_epoch(total, acc):  # BTTackler line 2
            break
    return acc


def _study(mode: str, direction: str = "maximize", **kw: Any) -> optuna.Study:
    study = optuna.create_study(direction=direction, pruner=BTTacklerPruner(mode=mode, **kw))
    study.enqueue_trial({"lr": 1e-2})  # healthy
    study.enqueue_trial({"lr": 1e-8})  # frozen loss -> PLC at epoch 2
    return study


def test_report_mode_finishes_the_diagnosed_trial_with_its_metric() -> None:
    study = _study("report")
    study.optimize(_objective, n_trials=2)
    healthy, frozen = study.trials
    assert healthy.state == frozen.state == optuna.trial.TrialState.COMPLETE
    assert ATTR_DIAGNOSIS not in healthy.user_attrs
    assert len(healthy.intermediate_values) == EPOCHS and healthy.value > 0.8
    info = frozen.user_attrs[ATTR_DIAGNOSIS]
    assert info["indicators"] == ["PLC"] and info["epoch"] == 2 and info["mode"] == "report"
    assert info["values"]["PLC.loss_cov"] < 1e-4 and "PLC" in info["reason"]
    assert info["values"]["AGV.median_grad"] > 0  # gradients were collected automatically
    assert sorted(frozen.intermediate_values) == [0, 1, 2]  # stopped after epoch 2
    assert frozen.value == pytest.approx(info["metric"])  # its current metric
    assert len(frozen.user_attrs[ATTR_LOSSES]) == 3


def test_prune_mode_prunes_and_keeps_the_diagnosis() -> None:
    study = _study("prune")
    study.optimize(_objective, n_trials=2)
    healthy, frozen = study.trials
    assert healthy.state == optuna.trial.TrialState.COMPLETE
    assert frozen.state == optuna.trial.TrialState.PRUNED
    assert frozen.user_attrs[ATTR_DIAGNOSIS]["indicators"] == ["PLC"]
    pruner = study.pruner
    assert isinstance(pruner, BTTacklerPruner)
    assert pruner.prune(study, frozen) and not pruner.prune(study, healthy)
    assert not BTTacklerPruner("report").prune(study, frozen)


def test_study_config_reaches_the_trials_and_protection_uses_other_trials() -> None:
    # a PLC threshold no run can pass: every trial is "frozen" unless protected
    cfg = DiagnosisConfig(plc_min_cov=1e3, protect_min_records=3)
    study = optuna.create_study(direction="maximize", pruner=BTTacklerPruner(config=cfg))
    for lr in (1e-2, 2e-2, 3e-2):
        study.enqueue_trial({"lr": lr})
    study.optimize(_objective, n_trials=3)
    assert all(t.user_attrs[ATTR_DIAGNOSIS]["indicators"] == ["PLC"] for t in study.trials)
    # a fourth trial whose losses beat the 10th percentile of the others is protected
    study.enqueue_trial({"lr": 1e-1})
    study.optimize(_objective, n_trials=1)
    strong = study.trials[-1]
    peers = [t.user_attrs[ATTR_LOSSES][0] for t in study.trials[:3]]
    assert strong.user_attrs[ATTR_LOSSES][0] <= min(peers)
    assert ATTR_DIAGNOSIS not in strong.user_attrs
    assert len(strong.intermediate_values) == EPOCHS


def test_direction_and_trial_checks() -> None:
    study = optuna.create_study(direction="minimize")
    trial = study.ask()
    model = nn.Linear(3, 2)
    with pytest.raises(ConfigError, match="'direction'.*'minimize'"):
        diagnose_trial(trial, model, max_epochs=4, direction="maximize")
    with pytest.raises(ConfigError, match="'direction'"):
        diagnose_trial(trial, model, max_epochs=4, direction="up")
    with pytest.raises(ConfigError, match="'mode'"):
        diagnose_trial(trial, model, max_epochs=4, mode="stop")
    with pytest.raises(ConfigError, match="'trial'"):
        diagnose_trial(study.trials[0], model, max_epochs=4)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="'study'"):
        multi = optuna.create_study(directions=["minimize", "maximize"])
        diagnose_trial(multi.ask(), model, max_epochs=4)
    with pytest.raises(ConfigError, match="'mode'"):
        BTTacklerPruner(mode="kill")
    bt = diagnose_trial(trial, model, max_epochs=4, direction="minimize")
    with pytest.raises(ConfigError, match="'metric'"):
        bt.end_epoch(1.0, "good")


def test_other_pruners_of_the_study_still_prune() -> None:
    study = optuna.create_study(direction="maximize",
                                pruner=optuna.pruners.ThresholdPruner(lower=0.99))
    study.enqueue_trial({"lr": 1e-2})
    study.optimize(_objective, n_trials=1)
    t = study.trials[0]
    assert t.state == optuna.trial.TrialState.PRUNED and ATTR_DIAGNOSIS not in t.user_attrs


def test_bench_trial_hook() -> None:
    base = {"dataset": "digits", "model": "mlp", "epochs": 6, "n_train": 256, "threads": 1}

    def objective(trial: optuna.Trial) -> float:
        lr = trial.suggest_float("lr", 1e-9, 1e-2, log=True)
        res = train(TrainConfig(**base, lr=lr), hooks=[TrialHook(trial)])
        return res.history[-1].val_metric

    study = optuna.create_study(direction="maximize", pruner=BTTacklerPruner())
    study.enqueue_trial({"lr": 1e-8})
    study.optimize(objective, n_trials=1)
    t = study.trials[0]
    assert t.state == optuna.trial.TrialState.COMPLETE
    assert t.user_attrs[ATTR_DIAGNOSIS]["indicators"] == ["PLC"]
    assert len(t.intermediate_values) == 3
    # accuracy is maximised: a minimising study is a contradiction, caught before epoch 0
    wrong = optuna.create_study(direction="minimize")
    trial = wrong.ask()
    with pytest.raises(ConfigError, match="'direction'"):
        train(TrainConfig(**base), hooks=[TrialHook(trial)])
    assert wrong.trials[0].intermediate_values == {}
