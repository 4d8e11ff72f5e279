import json
import math

import numpy as np
import pytest
import torch

from effdl_kit.errors import ConfigError, DeviceNotAvailableError
from effdl_kit.training import (
    CallbackHook,
    Hook,
    TrainConfig,
    TrainResult,
    TrainState,
    load_data,
    train,
)

FAST = {"dataset": "digits", "epochs": 2, "n_train": 256, "batch_size": 64, "seed": 0}


def test_cnn_learns_digits() -> None:
    res = train(TrainConfig(dataset="digits", model="cnn", epochs=4, batch_size=64))
    accs = [r.val_metric for r in res.history]
    assert res.metric_name == "accuracy"
    assert accs[-1] > 0.85 and res.test_metric > 0.85  # chance is 0.10
    losses = [r.train_loss for r in res.history]
    assert losses[-1] < losses[0]
    assert res.n_params > 0 and res.flops > 0 and res.wall_time_s > 0
    assert all(r.time_s > 0 for r in res.history)
    assert res.data_sizes == {"train": 1259, "val": 269, "test": 269}


def test_forecasting_beats_predicting_the_mean() -> None:
    res = train(TrainConfig(dataset="sunspots", model="mlp", epochs=30, lr=3e-3, batch_size=32,
                            data_params={"input_len": 20, "output_len": 3}))
    assert res.metric_name == "mse"
    data = load_data("sunspots", data_params={"input_len": 20, "output_len": 3})
    baseline = float(np.mean((data.y_val - data.y_train.mean()) ** 2))
    assert res.history[-1].val_metric < 0.5 * baseline


def test_same_seed_same_run_and_caller_rng_untouched() -> None:
    torch.manual_seed(42)
    expected_next = torch.rand(1)
    torch.manual_seed(42)
    a = train(TrainConfig(**FAST))
    assert torch.equal(torch.rand(1), expected_next)
    b = train(TrainConfig(**FAST))
    c = train(TrainConfig(**{**FAST, "seed": 1}))
    assert [r.train_loss for r in a.history] == [r.train_loss for r in b.history]
    assert [r.train_loss for r in a.history] != [r.train_loss for r in c.history]


def test_hooks_fire_in_order_with_counts() -> None:
    events: list[str] = []

    class Recorder(Hook):
        def __getattribute__(self, name: str):  # type: ignore[no-untyped-def]
            if name in ("on_fit_start", "before_forward", "after_loss", "after_backward",
                        "after_step", "epoch_end", "on_fit_end"):
                return lambda state: events.append(name)
            return object.__getattribute__(self, name)

    train(TrainConfig(**FAST), hooks=[Recorder()])
    n_batches = math.ceil(256 / 64)
    assert events[0] == "on_fit_start" and events[-1] == "on_fit_end"
    assert events.count("before_forward") == 2 * n_batches
    assert events.count("epoch_end") == 2
    assert events[1:6] == ["before_forward", "after_loss", "after_backward", "after_step",
                           "before_forward"]


def test_after_backward_sees_gradients_and_hook_can_stop() -> None:
    seen: list[float] = []

    def grads(state: TrainState) -> None:
        g = [p.grad.abs().mean().item() for p in state.model.parameters() if p.grad is not None]
        seen.append(float(np.mean(g)))

    def stopper(state: TrainState) -> None:
        if state.epoch == 1:
            state.stop("enough")

    res = train(TrainConfig(**{**FAST, "epochs": 5}),
                hooks=[CallbackHook(after_backward=grads, epoch_end=stopper)])
    assert seen and all(v > 0 for v in seen)
    assert res.stopped_early and res.stop_reason == "enough" and res.epochs_run == 2


def test_hook_can_replace_inputs_and_soft_targets() -> None:
    def blank(state: TrainState) -> None:
        assert state.inputs is not None and state.targets is not None
        state.inputs = torch.zeros_like(state.inputs)
        state.targets = torch.nn.functional.one_hot(state.targets, 10).float()

    res = train(TrainConfig(**{**FAST, "epochs": 3}), hooks=[CallbackHook(before_forward=blank)])
    # with blank inputs nothing can be learned: validation accuracy stays near chance
    assert res.history[-1].val_metric < 0.3


def test_non_finite_loss_stops_and_is_recorded() -> None:
    def poison(state: TrainState) -> None:
        if state.epoch == 1:
            assert state.loss is not None
            state.loss = state.loss * float("nan")

    res = train(TrainConfig(**{**FAST, "epochs": 4}), hooks=[CallbackHook(after_loss=poison)])
    assert res.stopped_early and res.stop_reason == "non-finite training loss"
    assert res.epochs_run == 2 and math.isnan(res.history[-1].train_loss)
    # a plain HPO run has no stop rule: the trace builder trains on to the last epoch
    full = train(TrainConfig(**{**FAST, "epochs": 4}), hooks=[CallbackHook(after_loss=poison)],
                 stop_on_nonfinite=False)
    assert not full.stopped_early and full.epochs_run == 4
    assert math.isnan(full.history[1].train_loss)
    with pytest.raises(ConfigError, match="stop_on_nonfinite"):
        train(TrainConfig(**FAST), stop_on_nonfinite="no")  # type: ignore[arg-type]


def test_options_change_the_run() -> None:
    base = train(TrainConfig(**FAST))
    smooth = train(TrainConfig(**FAST, label_smoothing=0.2))
    assert smooth.history[0].train_loss > base.history[0].train_loss
    step = train(TrainConfig(**{**FAST, "epochs": 3}, schedule="step", gamma=0.5))
    assert [r.lr for r in step.history] == pytest.approx([1e-3, 5e-4, 2.5e-4])
    bf16 = train(TrainConfig(**FAST, precision="bf16", augmentation="flip_crop"))
    assert math.isfinite(bf16.history[-1].train_loss)
    before = torch.get_num_threads()
    one = train(TrainConfig(**FAST, threads=1))
    assert torch.get_num_threads() == before and one.env.torch_threads == 1
    for opt in ("sgd", "adamw", "rmsprop", "adagrad", "adadelta"):
        lr = 1.0 if opt == "adadelta" else 0.05
        r = train(TrainConfig(**{**FAST, "epochs": 1}, optimizer=opt, lr=lr))
        assert math.isfinite(r.history[0].train_loss), opt


def test_result_round_trips_through_json() -> None:
    res = train(TrainConfig(**FAST))
    again = TrainResult.from_dict(json.loads(json.dumps(res.to_dict())))
    assert again.history == res.history and again.config == res.config
    df = res.to_frame()
    assert list(df["epoch"]) == [0, 1] and "val_metric" in df.columns


def test_bad_calls_fail_before_work() -> None:
    with pytest.raises(ConfigError, match="'hooks\\[0\\]'"):
        train(TrainConfig(**FAST), hooks=[lambda s: None])  # type: ignore[list-item]
    with pytest.raises(ConfigError, match="'config'"):
        train({"dataset": "digits"})  # type: ignore[arg-type]
    if not torch.cuda.is_available():
        with pytest.raises(DeviceNotAvailableError, match="'cuda'"):
            train(TrainConfig(**FAST, device="cuda"))
    with pytest.raises(ConfigError, match="'data'"):
        train(TrainConfig(**FAST), data=load_data("sunspots"))
