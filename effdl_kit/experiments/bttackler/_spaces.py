"""The search spaces of the three tasks (the paper's), one callable per task.

``cnn`` (13): four conv channel counts, kernel size {2, 3}, hidden width, lr (1e-4..0.4, log),
weight decay (1e-5..1e-3, log), activation, optimizer, batch size, batch norm, dropout
(0..0.9); 4 conv + 3 FC layers, StepLR x0.7 per epoch. ``lstm`` (8): hidden size, layers,
bidirectional, dropout, lr, weight decay, optimizer, batch size. ``transformer`` (10):
d_model, heads, layers, feed-forward width, dropout, activation, lr, weight decay, optimizer,
batch size. The ranges of the size hyper-parameters come from the budget's
:data:`~effdl_kit.experiments.bttackler.SPACES` entry; an entry may also set the batch sizes
(``image_batches``, ``series_batches``; default the paper's 45..720 and 32..256).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import optuna

from effdl_kit._core.rng import SEED_MAX
from effdl_kit.training import TrainConfig

from ._settings import RunSpec, Task

__all__ = ["SEARCH_SPACES", "SearchSpace", "suggest_config"]

_OPTIMIZERS = ("sgd", "adam", "rmsprop", "adagrad", "adadelta")
_ACTIVATIONS = ("relu", "tanh", "sigmoid", "elu", "leaky_relu")
_IMAGE_BATCHES = (45, 90, 180, 360, 720)
_SERIES_BATCHES = (32, 64, 128, 256)

#: ``space(trial, ranges, common) -> TrainConfig``: samples one task's hyper-parameters;
#: ``common`` holds the TrainConfig fields every task shares (epochs, seed, device, ...).
SearchSpace = Callable[[optuna.Trial, Mapping[str, Any], Mapping[str, Any]], TrainConfig]


def cnn_space(trial: optuna.Trial, sp: Mapping[str, Any],
              common: Mapping[str, Any]) -> TrainConfig:
    """Cifar10CNN: 4 conv + 3 FC layers, 13 hyper-parameters, StepLR x0.7 per epoch."""
    lo, hi = sp["channels"]
    channels = tuple(trial.suggest_int(f"conv{i}_channels", lo, hi, log=True)
                     for i in range(1, 5))
    kernel = trial.suggest_categorical("kernel_size", [2, 3])
    width = trial.suggest_int("hidden_width", sp["width"][0], sp["width"][1], log=True)
    lr = trial.suggest_float("lr", 1e-4, 0.4, log=True)
    wd = trial.suggest_float("weight_decay", 1e-5, 1e-3, log=True)
    act = trial.suggest_categorical("activation", list(_ACTIVATIONS))
    opt = trial.suggest_categorical("optimizer", list(_OPTIMIZERS))
    bs = trial.suggest_categorical("batch_size",
                                   list(sp.get("image_batches", _IMAGE_BATCHES)))
    bn = trial.suggest_categorical("batch_norm", [True, False])
    drop = trial.suggest_float("dropout", 0.0, 0.9)
    return TrainConfig(
        model="cnn", optimizer=opt, lr=lr, weight_decay=wd, batch_size=bs,
        schedule="step", step_size=1, gamma=0.7,
        model_params={"channels": channels, "kernel_size": kernel, "activation": act,
                      "norm": "batch" if bn else "none", "width": width, "fc_layers": 2,
                      "dropout": drop, "pooling": "max"},
        **common)


def lstm_space(trial: optuna.Trial, sp: Mapping[str, Any],
               common: Mapping[str, Any]) -> TrainConfig:
    """Cifar10LSTM: an LSTM classifier reading images row by row, 8 hyper-parameters."""
    hidden = trial.suggest_int("hidden_size", sp["lstm_hidden"][0], sp["lstm_hidden"][1],
                               log=True)
    layers = trial.suggest_int("num_layers", 1, int(sp["lstm_layers"]))
    bidir = trial.suggest_categorical("bidirectional", [True, False])
    drop = trial.suggest_float("dropout", 0.0, 0.5)
    lr = trial.suggest_float("lr", 1e-4, 0.1, log=True)
    wd = trial.suggest_float("weight_decay", 1e-6, 1e-3, log=True)
    opt = trial.suggest_categorical("optimizer", list(_OPTIMIZERS))
    bs = trial.suggest_categorical("batch_size",
                                   list(sp.get("image_batches", _IMAGE_BATCHES)))
    return TrainConfig(
        model="lstm", optimizer=opt, lr=lr, weight_decay=wd, batch_size=bs,
        model_params={"hidden_size": hidden, "num_layers": layers,
                      "bidirectional": bidir, "dropout": drop},
        **common)


def transformer_space(trial: optuna.Trial, sp: Mapping[str, Any],
                      common: Mapping[str, Any]) -> TrainConfig:
    """Ex96Trans: a Transformer forecaster on the CO2 series, 10 hyper-parameters."""
    d_model = trial.suggest_categorical("d_model", list(sp["d_model"]))
    heads = trial.suggest_categorical("n_heads", [1, 2, 4])
    layers = trial.suggest_int("n_layers", 1, int(sp["tf_layers"]))
    ff = trial.suggest_int("dim_feedforward", sp["ff"][0], sp["ff"][1], log=True)
    drop = trial.suggest_float("dropout", 0.0, 0.5)
    act = trial.suggest_categorical("activation", ["relu", "gelu"])
    lr = trial.suggest_float("lr", 1e-4, 0.05, log=True)
    wd = trial.suggest_float("weight_decay", 1e-6, 1e-3, log=True)
    opt = trial.suggest_categorical("optimizer", list(_OPTIMIZERS))
    bs = trial.suggest_categorical("batch_size",
                                   list(sp.get("series_batches", _SERIES_BATCHES)))
    return TrainConfig(
        model="transformer", optimizer=opt, lr=lr, weight_decay=wd, batch_size=bs,
        model_params={"d_model": d_model, "n_heads": heads, "n_layers": layers,
                      "dim_feedforward": ff, "dropout": drop, "activation": act},
        data_params={"input_len": int(sp["input_len"]), "output_len": int(sp["output_len"])},
        **common)


#: The search space of each task.
SEARCH_SPACES: dict[Task, SearchSpace] = {
    "cnn": cnn_space, "lstm": lstm_space, "transformer": transformer_space}


def suggest_config(trial: optuna.Trial, spec: RunSpec) -> TrainConfig:
    """Sample the task's search space (:data:`SEARCH_SPACES`) and build the trial's
    ``TrainConfig`` (seed ``spec.seed + trial.number``, one torch thread)."""
    common: dict[str, Any] = {
        "epochs": spec.epochs, "seed": (spec.seed + trial.number) % (SEED_MAX + 1),
        "threads": 1, "device": spec.device, "n_train": None, "dataset": spec.dataset,
    }
    return SEARCH_SPACES[spec.task](trial, spec.space, common)
