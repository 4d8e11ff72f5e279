"""A diagnosis at a trial's last epoch saves nothing: it is not a stop, in every way in
(the Diagnosis itself, the bench hook, the Optuna helper in report and prune mode)."""

from collections.abc import Callable, Iterator, Sequence

import numpy as np
import optuna
import pytest
import torch
from torch import nn

from effdl_kit.diagnosis import (
    ATTR_DIAGNOSIS,
    ATTR_LAST_EPOCH,
    BTTacklerPruner,
    DiagnosisConfig,
    DiagnosisHook,
    EpochInput,
    diagnose_trial,
    evaluate,
)
from effdl_kit.training import TrainConfig, train

optuna.logging.set_verbosity(optuna.logging.WARNING)
NMG_ONLY = DiagnosisConfig(indicators=("NMG",))


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def test_the_diagnosis_knows_its_last_epoch() -> None:
    losses = np.array([1.0, 1.0, 1.0, 2.0, 2.0, 2.0])
    inp = EpochInput(epoch=5, max_epochs=6, mean_abs=np.full(2, 0.01),
                     zero_fraction=np.zeros(2), has_grads=True, train_losses=losses,
                     val_losses=np.full(6, np.nan))
    last = evaluate(inp, NMG_ONLY)
    assert last.fired == ("NMG",) and last.last_epoch and not last.stops
    assert last.to_dict()["last_epoch"] is True
    earlier = evaluate(EpochInput(**{**inp.__dict__, "max_epochs": 7}), NMG_ONLY)
    assert earlier.fired == ("NMG",) and not earlier.last_epoch and earlier.stops


def test_the_bench_hook_does_not_stop_at_the_last_epoch() -> None:
    # dying ReLU units: LAR fires at epoch 4 (5 epochs recorded), here the last one
    cfg = TrainConfig(dataset="digits", n_train=512, batch_size=64, threads=1, seed=0,
                      epochs=5, model="mlp", model_params={"hidden": (64, 64),
                                                           "bias_init": -1.5})
    hook = DiagnosisHook()
    res = train(cfg, hooks=[hook])
    d = hook.diagnosis
    assert d is not None and d.epoch == 4 and "LAR" in d.fired and d.last_epoch
    assert not res.stopped_early and res.stop_reason is None and res.epochs_run == 5


def _objective(losses: Sequence[float]) -> Callable[[optuna.Trial], float]:
    def objective(trial: optuna.Trial) -> float:
        model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
        bt = diagnose_trial(trial, model, max_epochs=len(losses), config=NMG_ONLY)
        for loss in losses:
            model(torch.randn(8, 3)).pow(2).mean().backward()
            if bt.end_epoch(loss, 0.5):
                return 0.25  # stopped by BTTackler
        return 0.5

    return objective


@pytest.mark.parametrize("mode", ["report", "prune"])
def test_optuna_a_last_epoch_diagnosis_completes_the_trial(mode: str) -> None:
    study = optuna.create_study(direction="maximize", pruner=BTTacklerPruner(mode=mode))
    study.optimize(_objective([1.0, 1.0, 1.0, 2.0, 2.0, 2.0]), n_trials=1)
    (t,) = study.trials
    assert t.state == optuna.trial.TrialState.COMPLETE and t.value == 0.5
    assert ATTR_DIAGNOSIS not in t.user_attrs  # not counted as a stop / in a ranking
    info = t.user_attrs[ATTR_LAST_EPOCH]
    assert info["indicators"] == ["NMG"] and info["epoch"] == 5 and info["last_epoch"]
    assert len(t.intermediate_values) == 6


def test_optuna_an_earlier_diagnosis_still_stops() -> None:
    study = optuna.create_study(direction="maximize", pruner=BTTacklerPruner(mode="report"))
    study.optimize(_objective([1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 2.0]), n_trials=1)
    (t,) = study.trials
    assert t.value == 0.25 and t.user_attrs[ATTR_DIAGNOSIS]["epoch"] == 5
    assert ATTR_LAST_EPOCH not in t.user_attrs
