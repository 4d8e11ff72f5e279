import dataclasses
import json

import pytest

from effdl_kit.errors import ConfigError
from effdl_kit.training import CNNSpec, TrainConfig, model_spec


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"optimizer": "sgdd"}, "optimizer"),
        ({"lr": -0.1}, "lr"),
        ({"lr": 0}, "lr"),
        ({"batch_size": 0}, "batch_size"),
        ({"epochs": 0}, "epochs"),
        ({"dataset": "mnist"}, "dataset"),
        ({"model": "resnet"}, "model"),
        ({"schedule": "warmup"}, "schedule"),
        ({"precision": "fp8"}, "precision"),
        ({"precision": "fp16"}, "precision"),  # fp16 needs CUDA
        ({"device": "tpu"}, "device"),
        ({"label_smoothing": 1.0}, "label_smoothing"),
        ({"momentum": 1.0}, "momentum"),
        ({"threads": 0}, "threads"),
        ({"seed": -3}, "seed"),
        ({"model_params": {"activation": "swish"}}, "model_params.activation"),
        ({"model_params": {"channels": ()}}, "model_params.channels"),
        ({"model_params": {"depth": 3}}, "model_params.depth"),
        ({"data_params": {"difficulty": 0.3}}, "data_params.difficulty"),  # digits has none
        ({"dataset": "co2", "model": "cnn"}, "model"),
        ({"dataset": "co2", "model": "lstm", "augmentation": "flip"}, "augmentation"),
    ],
)
def test_invalid_fields_are_named(changes: dict, field: str) -> None:
    with pytest.raises(ConfigError) as info:
        TrainConfig(**changes)
    assert info.value.field == field
    assert repr(field) in str(info.value) and "allowed" in str(info.value)


def test_defaults_and_task() -> None:
    cfg = TrainConfig()
    assert cfg.task == "classification"
    assert TrainConfig(dataset="sunspots", model="lstm").task == "forecasting"
    assert isinstance(cfg.spec, CNNSpec)


def test_json_round_trip_and_replace() -> None:
    cfg = TrainConfig(model_params={"channels": [8, 16], "skip": True},
                      data_params={}, threads=1, grad_clip=1.0)
    d = json.loads(json.dumps(cfg.to_dict()))
    assert TrainConfig.from_dict(d) == cfg
    assert cfg.spec.channels == (8, 16)  # type: ignore[union-attr]
    with pytest.raises(ConfigError, match="'lr'"):
        cfg.replace(lr=-1)
    with pytest.raises(ConfigError, match="'colour'"):
        TrainConfig.from_dict({**d, "colour": 1})
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.lr = 3  # type: ignore[misc]


def test_transformer_heads_must_divide_width() -> None:
    with pytest.raises(ConfigError, match="n_heads.*divisor of d_model=30"):
        model_spec("transformer", {"d_model": 30, "n_heads": 4})


def test_validated_values_are_stored_converted() -> None:
    """A number given as text or a numpy scalar is validated and stored as the float / int it
    stands for (it used to be kept as given and failed later inside torch)."""
    import numpy as np

    cfg = TrainConfig(lr="0.1", momentum="0.9", weight_decay=np.float32(1e-4),
                      label_smoothing="0.1", grad_clip="2", gamma="0.5", val_fraction="0.2",
                      batch_size=np.int64(16), seed=np.int32(3))
    assert cfg.lr == 0.1 and type(cfg.lr) is float
    assert (cfg.momentum, cfg.label_smoothing, cfg.grad_clip, cfg.gamma, cfg.val_fraction) == (
        0.9, 0.1, 2.0, 0.5, 0.2)
    assert all(type(getattr(cfg, k)) is float for k in (
        "momentum", "weight_decay", "label_smoothing", "grad_clip", "gamma", "val_fraction"))
    assert type(cfg.batch_size) is int and type(cfg.seed) is int
    assert json.loads(json.dumps(cfg.to_dict()))["lr"] == 0.1
