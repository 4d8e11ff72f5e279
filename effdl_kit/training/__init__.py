"""The training bench all four reproductions share: data, models, a hookable loop.

>>> from effdl_kit.training import TrainConfig, train
>>> res = train(TrainConfig(dataset="digits", model="cnn", epochs=2))  # doctest: +SKIP
"""

from effdl_kit.training.config import (
    ACTIVATIONS,
    AUGMENTATIONS,
    CLASSIFICATION_DATASETS,
    DATASETS,
    DEVICES,
    FORECAST_DATASETS,
    INITS,
    MODELS,
    NORMS,
    OPTIMIZERS,
    POOLINGS,
    PRECISIONS,
    SCHEDULES,
    CNNSpec,
    LSTMSpec,
    MLPSpec,
    TrainConfig,
    TransformerSpec,
    model_spec,
)
from effdl_kit.training.data import (
    DataBundle,
    load_cifar,
    load_data,
    load_digits_images,
    load_time_series,
    make_synthetic_images,
    make_windows,
    split_indices,
)
from effdl_kit.training.loop import (
    HOOK_EVENTS,
    CallbackHook,
    EpochRecord,
    Hook,
    TrainResult,
    TrainState,
    final_metrics,
    make_optimizer,
    make_scheduler,
    resolve_device,
    train,
)
from effdl_kit.training.models import (
    CNN,
    MLP,
    LSTMNet,
    TransformerNet,
    build_model,
    count_parameters,
    estimate_flops,
)

__all__ = [
    "ACTIVATIONS", "AUGMENTATIONS", "CLASSIFICATION_DATASETS", "CNN", "DATASETS", "DEVICES",
    "FORECAST_DATASETS", "HOOK_EVENTS", "INITS", "MLP", "MODELS", "NORMS", "OPTIMIZERS",
    "POOLINGS", "PRECISIONS", "SCHEDULES", "CNNSpec", "CallbackHook", "DataBundle",
    "EpochRecord", "Hook", "LSTMNet", "LSTMSpec", "MLPSpec", "TrainConfig", "TrainResult",
    "TrainState", "TransformerNet", "TransformerSpec", "build_model", "count_parameters",
    "estimate_flops", "final_metrics", "load_cifar", "load_data", "load_digits_images",
    "load_time_series", "make_optimizer", "make_scheduler", "make_synthetic_images",
    "make_windows", "model_spec", "resolve_device", "split_indices", "train",
]
