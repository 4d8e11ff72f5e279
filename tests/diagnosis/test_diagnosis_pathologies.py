"""Pathology suite: trainings built to fail are caught by the right indicator on the bench,
and healthy trainings run to the end (smoke size: digits, 512 samples, one thread)."""

from collections.abc import Iterator
from typing import Any

import pytest
import torch

from effdl_kit.diagnosis import DiagnosisHook
from effdl_kit.training import CallbackHook, Hook, TrainConfig, TrainResult, TrainState, train

SMOKE: dict[str, Any] = {"dataset": "digits", "n_train": 512, "batch_size": 64, "threads": 1,
                         "seed": 0}


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def _run(epochs: int, *extra: Hook, stop: bool = True, **kw: Any) -> tuple[TrainResult,
                                                                            DiagnosisHook]:
    hook = DiagnosisHook(stop=stop)
    res = train(TrainConfig(**SMOKE, epochs=epochs, **kw), hooks=[*extra, hook])
    return res, hook


def test_vanishing_gradients_deep_sigmoid_stack() -> None:
    res, hook = _run(8, model="mlp", model_params={
        "hidden": (32,) * 12, "activation": "sigmoid", "init": "xavier_normal"})
    d = hook.diagnosis
    assert d is not None and d.epoch == 0 and "AGV" in d.fired
    assert d.values["AGV.median_grad"] < 1e-5
    # the first layer gets orders of magnitude less gradient than the last
    assert d.grad_mean_abs[0] < 1e-4 * d.grad_mean_abs[-1]
    assert res.stopped_early and res.epochs_run == 1 and "AGV" in str(res.stop_reason)


def test_exploding_gradients_large_lr_without_normalisation() -> None:
    res, hook = _run(8, model="mlp", optimizer="sgd", lr=3.0, momentum=0.0,
                     model_params={"hidden": (64, 64, 64), "norm": "none"})
    d = hook.diagnosis
    assert d is not None and d.epoch <= 1 and {"AGV", "EAG"} & set(d.fired)
    assert (d.values.get("AGV.median_grad", 0.0) > 1e4
            or d.values.get("AGV.nonfinite_layers", 0.0) > 0)
    assert res.stopped_early and res.epochs_run == d.epoch + 1


def test_exploding_to_nan_is_caught_as_nonfinite_gradients() -> None:
    res, hook = _run(8, model="mlp", optimizer="sgd", lr=20.0, momentum=0.9,
                     model_params={"hidden": (64, 64, 64)})
    d = hook.diagnosis
    assert d is not None and d.epoch == 0 and d.fired == ("AGV",)  # the NaN rule runs alone
    assert d.values["AGV.nonfinite_layers"] > 0
    assert res.stopped_early and res.epochs_run == 1


def test_dying_relu_units_strongly_negative_bias() -> None:
    # most units dead but not all: the zero-gradient fraction (LAR) is the symptom
    res, hook = _run(8, model="mlp", model_params={"hidden": (64, 64), "bias_init": -1.5})
    d = hook.diagnosis
    assert d is not None and "LAR" in d.fired and d.epoch == 4  # LAR from 5 epochs recorded
    assert d.values["LAR.median_zero_fraction"] > 0.5
    assert "AGV" not in d.fired and "ERG" not in d.fired
    assert res.epochs_run == 5 and not any(hook.diagnoses[:4])
    # all units dead: no gradient reaches any weight, ERG catches it at once
    _, hook = _run(8, model="mlp", model_params={"hidden": (64, 64), "bias_init": -3.0})
    d = hook.diagnosis
    assert d is not None and d.epoch == 0 and "ERG" in d.fired
    assert d.values["ERG.zero_grad_layers"] == 3


def test_frozen_loss_tiny_learning_rate() -> None:
    res, hook = _run(8, model="mlp", lr=1e-8)
    d = hook.diagnosis
    assert d is not None and d.fired == ("PLC",) and d.epoch == 2  # PLC needs 3 epochs
    assert d.values["PLC.loss_cov"] < 1e-4
    assert res.epochs_run == 3


def test_diverging_loss_is_an_unexpected_loss_change() -> None:
    def ramp(state: TrainState) -> None:  # from epoch 5 the learning rate doubles each epoch
        if state.epoch >= 5:
            for group in state.optimizer.param_groups:
                group["lr"] *= 2.0

    res, hook = _run(12, CallbackHook(epoch_end=ramp), model="mlp", optimizer="sgd", lr=0.05,
                     model_params={"activation": "tanh"})
    d = hook.diagnosis
    assert d is not None and "ULC" in d.fired and d.epoch >= 6
    assert d.values["ULC.slope"] >= 0.01
    losses = [r.train_loss for r in res.history]
    assert losses[-1] > 5 * min(losses)  # it really diverged
    # nothing fired while the loss was still converging
    assert not any(hook.diagnoses[:-1])


@pytest.mark.parametrize("kw", [
    {"model": "mlp"},
    {"model": "cnn"},
    {"model": "lstm", "lr": 5e-3},
    {"model": "mlp", "optimizer": "sgd", "lr": 0.05, "schedule": "step", "step_size": 2},
], ids=["mlp-adam", "cnn-adam", "lstm-adam", "mlp-sgd-steplr"])
def test_healthy_trainings_are_not_caught(kw: dict[str, Any]) -> None:
    res, hook = _run(12, **kw)
    assert hook.diagnosis is None, hook.diagnosis.reason if hook.diagnosis else ""
    assert not res.stopped_early and res.epochs_run == 12
    assert res.best_val_metric() > 0.7
    assert len(hook.diagnoses) == 12 and all(d.values for d in hook.diagnoses)
