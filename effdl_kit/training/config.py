"""Validated configuration objects of the training bench.

``TrainConfig`` is flat on purpose: every field is one "system component" that the papers vary
(EfficientDL samples them, BTTackler tunes them, the survey's speedups change them), so a
config maps one-to-one onto a dataset row via :meth:`TrainConfig.to_dict`.
Model-specific settings live in ``model_params`` and are validated by the model's spec
dataclass (:class:`CNNSpec`, :class:`MLPSpec`, :class:`LSTMSpec`, :class:`TransformerSpec`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from effdl_kit._core.errors import ConfigError
from effdl_kit._core.rng import SEED_MAX
from effdl_kit._core.validate import check_choice, check_float, check_int

__all__ = [
    "ACTIVATIONS",
    "AUGMENTATIONS",
    "CLASSIFICATION_DATASETS",
    "DATASETS",
    "DEVICES",
    "FORECAST_DATASETS",
    "INITS",
    "MODELS",
    "NORMS",
    "OPTIMIZERS",
    "POOLINGS",
    "PRECISIONS",
    "SCHEDULES",
    "CNNSpec",
    "LSTMSpec",
    "MLPSpec",
    "TrainConfig",
    "TransformerSpec",
    "model_spec",
]

CLASSIFICATION_DATASETS = ("digits", "synthetic", "cifar10", "cifar100")
FORECAST_DATASETS = ("co2", "sunspots")
DATASETS = CLASSIFICATION_DATASETS + FORECAST_DATASETS
MODELS = ("cnn", "mlp", "lstm", "transformer")
OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop", "adagrad", "adadelta")
SCHEDULES = ("constant", "step", "cosine", "exponential")
AUGMENTATIONS = ("none", "flip", "crop", "flip_crop", "noise")
PRECISIONS = ("fp32", "bf16", "fp16")
DEVICES = ("cpu", "cuda", "auto")
ACTIVATIONS = ("relu", "leaky_relu", "elu", "gelu", "silu", "tanh", "sigmoid")
NORMS = ("none", "batch", "layer", "group", "instance")
INITS = (
    "default", "kaiming_normal", "kaiming_uniform", "xavier_normal", "xavier_uniform",
    "orthogonal", "normal",
)
POOLINGS = ("max", "avg", "none")
IMAGE_AUGMENTATIONS = ("flip", "crop", "flip_crop")


def _check_common_layers(prefix: str, activation: str, init: str, dropout: float) -> None:
    check_choice(f"{prefix}.activation", activation, ACTIVATIONS)
    check_choice(f"{prefix}.init", init, INITS)
    check_float(f"{prefix}.dropout", dropout, min_value=0.0, max_value=1.0, max_inclusive=False)


@dataclass(frozen=True)
class CNNSpec:
    """A CNN: ``len(channels)`` stages of conv(-norm)-activation(-skip)-pool, then an MLP head.

    Parameters
    ----------
    channels : tuple of int
        Output channels of each conv stage; the conv depth is ``len(channels) * convs_per_stage``.
    convs_per_stage : int
        Conv layers per stage (the stage's skip connection spans them).
    kernel_size : int
        Square kernel size, ``"same"`` padding.
    activation, norm, init : str
        See ``ACTIVATIONS``, ``NORMS``, ``INITS``.
    bias_init : float
        Constant every conv/linear bias starts at (strongly negative values kill ReLU units).
    skip : bool
        Residual connection around each stage (1x1 projection when channels change).
    pooling : str
        2x2 ``"max"`` or ``"avg"`` pooling after each stage, or ``"none"``.
    width : int
        Width of each hidden fully connected layer.
    fc_layers : int
        Number of hidden fully connected layers before the output layer.
    dropout : float
        Dropout before every fully connected layer.
    """

    channels: tuple[int, ...] = (16, 32)
    convs_per_stage: int = 1
    kernel_size: int = 3
    activation: str = "relu"
    norm: str = "batch"
    init: str = "kaiming_normal"
    bias_init: float = 0.0
    skip: bool = False
    pooling: str = "max"
    width: int = 64
    fc_layers: int = 1
    dropout: float = 0.0

    def __post_init__(self) -> None:
        p = "model_params"
        if isinstance(self.channels, int) or not self.channels:
            raise ConfigError(f"{p}.channels", self.channels, "a non-empty tuple of ints >= 1")
        object.__setattr__(self, "channels", tuple(
            check_int(f"{p}.channels", c, min_value=1, max_value=4096) for c in self.channels
        ))
        check_int(f"{p}.convs_per_stage", self.convs_per_stage, min_value=1, max_value=16)
        check_int(f"{p}.kernel_size", self.kernel_size, min_value=1, max_value=11)
        check_choice(f"{p}.norm", self.norm, NORMS)
        check_choice(f"{p}.pooling", self.pooling, POOLINGS)
        check_choice(f"{p}.skip", self.skip, (True, False))
        check_float(f"{p}.bias_init", self.bias_init)
        check_int(f"{p}.width", self.width, min_value=1, max_value=65536)
        check_int(f"{p}.fc_layers", self.fc_layers, min_value=0, max_value=16)
        _check_common_layers(p, self.activation, self.init, self.dropout)


@dataclass(frozen=True)
class MLPSpec:
    """A multilayer perceptron on the flattened input."""

    hidden: tuple[int, ...] = (128, 64)
    activation: str = "relu"
    norm: str = "none"
    init: str = "kaiming_normal"
    bias_init: float = 0.0
    dropout: float = 0.0

    def __post_init__(self) -> None:
        p = "model_params"
        if isinstance(self.hidden, int):
            raise ConfigError(f"{p}.hidden", self.hidden, "a tuple of ints >= 1")
        object.__setattr__(self, "hidden", tuple(
            check_int(f"{p}.hidden", h, min_value=1, max_value=65536) for h in self.hidden
        ))
        check_choice(f"{p}.norm", self.norm, ("none", "batch", "layer"))
        check_float(f"{p}.bias_init", self.bias_init)
        _check_common_layers(p, self.activation, self.init, self.dropout)


@dataclass(frozen=True)
class LSTMSpec:
    """An LSTM over the input sequence (image rows as time steps); head on the last step."""

    hidden_size: int = 64
    num_layers: int = 1
    bidirectional: bool = False
    dropout: float = 0.0
    init: str = "default"

    def __post_init__(self) -> None:
        p = "model_params"
        check_int(f"{p}.hidden_size", self.hidden_size, min_value=1, max_value=8192)
        check_int(f"{p}.num_layers", self.num_layers, min_value=1, max_value=16)
        check_choice(f"{p}.bidirectional", self.bidirectional, (True, False))
        check_float(f"{p}.dropout", self.dropout, min_value=0.0, max_value=1.0,
                    max_inclusive=False)
        check_choice(f"{p}.init", self.init, INITS)


@dataclass(frozen=True)
class TransformerSpec:
    """A small Transformer encoder (pre-norm) with learned positions; mean-pooled head."""

    d_model: int = 32
    n_heads: int = 4
    n_layers: int = 2
    dim_feedforward: int = 64
    dropout: float = 0.1
    activation: str = "gelu"

    def __post_init__(self) -> None:
        p = "model_params"
        check_int(f"{p}.d_model", self.d_model, min_value=1, max_value=8192)
        check_int(f"{p}.n_heads", self.n_heads, min_value=1, max_value=128)
        if self.d_model % self.n_heads:
            raise ConfigError(f"{p}.n_heads", self.n_heads,
                              f"a divisor of d_model={self.d_model}")
        check_int(f"{p}.n_layers", self.n_layers, min_value=1, max_value=48)
        check_int(f"{p}.dim_feedforward", self.dim_feedforward, min_value=1, max_value=65536)
        check_float(f"{p}.dropout", self.dropout, min_value=0.0, max_value=1.0,
                    max_inclusive=False)
        check_choice(f"{p}.activation", self.activation, ("relu", "gelu"))


_SPECS: dict[str, type] = {
    "cnn": CNNSpec, "mlp": MLPSpec, "lstm": LSTMSpec, "transformer": TransformerSpec,
}
ModelSpec = CNNSpec | MLPSpec | LSTMSpec | TransformerSpec


def model_spec(model: str, params: Mapping[str, Any]) -> ModelSpec:
    """Build and validate the spec of ``model`` from a parameter mapping."""
    check_choice("model", model, MODELS)
    cls = _SPECS[model]
    names = {f.name for f in dataclasses.fields(cls)}
    for key in params:
        if key not in names:
            raise ConfigError(f"model_params.{key}", params[key],
                              f"a parameter of the {model!r} model: {', '.join(sorted(names))}")
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in params.items()}
    spec: ModelSpec = cls(**kwargs)
    return spec


# data_params accepted per dataset (name -> allowed keys)
DATA_PARAMS: dict[str, tuple[str, ...]] = {
    "digits": (),
    "synthetic": ("n_samples", "n_classes", "image_size", "channels", "difficulty", "data_seed"),
    "cifar10": (),
    "cifar100": (),
    "co2": ("input_len", "output_len"),
    "sunspots": ("input_len", "output_len"),
}


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines one training run; validated on construction.

    Parameters
    ----------
    dataset : str
        One of ``DATASETS``: image classification (``digits``, ``synthetic``, ``cifar10``,
        ``cifar100``) or forecasting (``co2``, ``sunspots``).
    model : str
        ``"cnn"`` (images only), ``"mlp"``, ``"lstm"`` or ``"transformer"``.
    optimizer : str
        One of ``OPTIMIZERS``.
    lr, weight_decay, momentum : float
        Learning rate (> 0), L2 weight decay (>= 0), momentum of SGD / RMSprop.
    schedule : str
        Per-epoch LR schedule: ``constant``, ``step`` (x ``gamma`` every ``step_size`` epochs),
        ``cosine`` (to 0 over ``epochs``), ``exponential`` (x ``gamma`` each epoch).
    batch_size, epochs : int
    augmentation : str
        ``none``, ``flip``, ``crop`` (pad 2, random crop), ``flip_crop`` (images only) or
        ``noise`` (Gaussian, std 0.05).
    label_smoothing : float
        In [0, 1); classification only.
    precision : str
        ``fp32``, ``bf16`` (autocast, CPU or CUDA) or ``fp16`` (autocast + grad scaling, CUDA).
    device : str
        ``cpu``, ``cuda`` or ``auto`` (CUDA when present).
    threads : int or None
        torch intra-op threads during the run (None: leave as is); recorded either way.
    n_train : int or None
        Use only this many training samples (a seeded subset).
    val_fraction, test_fraction : float
        Split fractions (chronological for forecasting, stratified for classification).
    seed : int
        Seeds data split, subset, initialisation, data order and augmentation.
    grad_clip : float or None
        Clip the global gradient norm to this value.
    model_params, data_params : mapping
        Model spec fields (see the spec classes) and dataset options (``DATA_PARAMS``).
    data_dir : str or None
        Local directory holding CIFAR in the python-pickle format.
    """

    dataset: str = "digits"
    model: str = "cnn"
    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.9
    schedule: str = "constant"
    step_size: int = 1
    gamma: float = 0.7
    batch_size: int = 64
    epochs: int = 10
    augmentation: str = "none"
    label_smoothing: float = 0.0
    precision: str = "fp32"
    device: str = "cpu"
    threads: int | None = None
    n_train: int | None = None
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    seed: int = 0
    grad_clip: float | None = None
    model_params: Mapping[str, Any] = field(default_factory=dict)
    data_params: Mapping[str, Any] = field(default_factory=dict)
    data_dir: str | None = None

    def __post_init__(self) -> None:
        check_choice("dataset", self.dataset, DATASETS)
        check_choice("model", self.model, MODELS)
        check_choice("optimizer", self.optimizer, OPTIMIZERS)

        def set_(field: str, value: Any) -> None:  # the validated, converted value is kept
            object.__setattr__(self, field, value)

        f, i = check_float, check_int
        set_("lr", f("lr", self.lr, min_value=0.0, min_inclusive=False, max_value=100.0))
        set_("weight_decay", f("weight_decay", self.weight_decay, min_value=0.0, max_value=10.0))
        set_("momentum", f("momentum", self.momentum, min_value=0.0, max_value=1.0,
                           max_inclusive=False))
        check_choice("schedule", self.schedule, SCHEDULES)
        set_("step_size", i("step_size", self.step_size, min_value=1))
        set_("gamma", f("gamma", self.gamma, min_value=0.0, max_value=1.0, min_inclusive=False))
        set_("batch_size", i("batch_size", self.batch_size, min_value=1, max_value=1_000_000))
        set_("epochs", i("epochs", self.epochs, min_value=1, max_value=100_000))
        check_choice("augmentation", self.augmentation, AUGMENTATIONS)
        set_("label_smoothing", f("label_smoothing", self.label_smoothing, min_value=0.0,
                                  max_value=1.0, max_inclusive=False))
        check_choice("precision", self.precision, PRECISIONS)
        check_choice("device", self.device, DEVICES)
        if self.threads is not None:
            set_("threads", i("threads", self.threads, min_value=1, max_value=1024))
        if self.n_train is not None:
            set_("n_train", i("n_train", self.n_train, min_value=2))
        set_("val_fraction", f("val_fraction", self.val_fraction, min_value=0.0, max_value=0.5,
                               min_inclusive=False))
        set_("test_fraction", f("test_fraction", self.test_fraction, min_value=0.0,
                                max_value=0.5, min_inclusive=False))
        set_("seed", i("seed", self.seed, min_value=0, max_value=SEED_MAX))
        if self.grad_clip is not None:
            set_("grad_clip", f("grad_clip", self.grad_clip, min_value=0.0, min_inclusive=False))
        if self.data_dir is not None and not isinstance(self.data_dir, str):
            object.__setattr__(self, "data_dir", str(self.data_dir))
        # cross-field rules
        forecasting = self.dataset in FORECAST_DATASETS
        if forecasting and self.model == "cnn":
            raise ConfigError("model", self.model,
                              "'mlp', 'lstm' or 'transformer' for a forecasting dataset")
        if forecasting and self.augmentation in IMAGE_AUGMENTATIONS:
            raise ConfigError("augmentation", self.augmentation,
                              "'none' or 'noise' for a forecasting dataset")
        if forecasting and self.label_smoothing > 0:
            raise ConfigError("label_smoothing", self.label_smoothing,
                              "0.0 for a forecasting dataset (it is a classification option)")
        if self.precision == "fp16" and self.device == "cpu":
            raise ConfigError("precision", self.precision,
                              "'fp32' or 'bf16' on device 'cpu' ('fp16' needs CUDA)")
        for name in ("model_params", "data_params"):
            value = getattr(self, name)
            if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
                raise ConfigError(name, value, "a mapping of parameter name -> value")
            object.__setattr__(self, name, dict(value))
        model_spec(self.model, self.model_params)
        allowed = DATA_PARAMS[self.dataset]
        for key in self.data_params:
            if key not in allowed:
                raise ConfigError(f"data_params.{key}", self.data_params[key],
                                  f"a data parameter of {self.dataset!r}: "
                                  f"{', '.join(allowed) or '(none)'}")

    @property
    def task(self) -> str:
        """``"classification"`` or ``"forecasting"``."""
        return "forecasting" if self.dataset in FORECAST_DATASETS else "classification"

    @property
    def spec(self) -> ModelSpec:
        """The validated model spec."""
        return model_spec(self.model, self.model_params)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict (tuples become lists)."""
        d = dataclasses.asdict(self)
        d["model_params"] = {k: list(v) if isinstance(v, tuple) else v
                             for k, v in self.model_params.items()}
        d["data_params"] = dict(self.data_params)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise :class:`ConfigError`."""
        names = {f.name for f in dataclasses.fields(cls)}
        for key in d:
            if key not in names:
                raise ConfigError(key, d[key], f"a TrainConfig field: {', '.join(sorted(names))}")
        return cls(**d)

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with ``changes`` applied (validated again)."""
        return dataclasses.replace(self, **changes)
