"""One label registry: internal name -> display label with its unit, for figures and tables.

Every figure, table and control of the kit names a quantity through :func:`label` (axis labels,
legend titles, colourbar labels, table headers), so a name shows up the same everywhere and
raw internal names (``n_trees``, ``hw``, ``kernel_size``) never reach a paper.

>>> label("lr")
'Learning rate'
>>> label("train_time_s")
'Training time (s)'
>>> label("train_time_s", unit=False)
'Training time'
>>> label("some_new_name")  # not registered: a readable fallback (and recorded as a miss)
'Some new name'

A name that is not registered gets a readable fallback (underscores to spaces, first letter
capitalised) so nothing breaks, and the miss is recorded: inside :func:`record_label_misses`
the test suite collects every unregistered name a figure asked for and fails on any.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from types import MappingProxyType

import pandas as pd

from effdl_kit._core.errors import ConfigError

__all__ = [
    "LABELS",
    "Label",
    "display",
    "fallback_label",
    "humanize_columns",
    "is_registered",
    "label",
    "record_label_misses",
    "unit",
]


@dataclass(frozen=True)
class Label:
    """How one internal name is shown.

    Attributes
    ----------
    text : str
        The display label without unit (``"Learning rate"``).
    unit : str or None
        The unit shown in parentheses after it (``"s"``, ``"ms"``, ``"%"``), None if unitless.
    """

    text: str
    unit: str | None = None

    def render(self, *, unit: bool = True) -> str:
        """``text (unit)``, or ``text`` alone when ``unit`` is False or there is none."""
        return f"{self.text} ({self.unit})" if unit and self.unit else self.text


def _l(text: str, unit: str | None = None) -> Label:
    return Label(text, unit)


_REGISTRY: dict[str, Label] = {
    # training, generic
    "epoch": _l("Epoch"),
    "epochs": _l("Epochs"),
    "trial": _l("Trial"),
    "loss": _l("Loss"),
    "train_loss": _l("Training loss"),
    "val_loss": _l("Validation loss"),
    "metric": _l("Metric"),
    "train_metric": _l("Training metric"),
    "val_metric": _l("Validation metric"),
    "accuracy": _l("Accuracy"),
    "mse": _l("MSE"),
    "mae": _l("MAE"),
    "val_accuracy": _l("Validation accuracy"),
    "test_accuracy": _l("Test accuracy"),
    "best_val_accuracy": _l("Best validation accuracy"),
    "train_time_s": _l("Training time", "s"),
    "train_time_summed_s": _l("Training time, summed epochs", "s"),
    "train_cpu_s": _l("Training CPU time", "s"),
    "wall_s": _l("Wall time", "s"),
    "cpu_s": _l("CPU time", "s"),
    "seed": _l("Seed"),
    "budget": _l("Budget"),
    # hyperparameters and EfficientDL components
    "lr": _l("Learning rate"),
    "learning_rate": _l("Learning rate"),
    "weight_decay": _l("Weight decay"),
    "batch_size": _l("Batch size"),
    "dropout": _l("Dropout"),
    "momentum": _l("Momentum"),
    "label_smoothing": _l("Label smoothing"),
    "kernel_size": _l("Kernel size"),
    "width": _l("Width"),
    "depth": _l("Depth"),
    "base_channels": _l("Base channels"),
    "channels": _l("Channels"),
    "n_train": _l("Training set size"),
    "activation": _l("Activation"),
    "norm": _l("Normalization"),
    "init": _l("Initialization"),
    "skip": _l("Skip connection"),
    "pooling": _l("Pooling"),
    "optimizer": _l("Optimizer"),
    "schedule": _l("Learning-rate schedule"),
    "augmentation": _l("Augmentation"),
    "dataset": _l("Dataset"),
    "precision": _l("Precision"),
    "n_trees": _l("Trees"),
    "n_repeats": _l("Repeats"),
    "n_splits": _l("CV folds"),
    "top1": _l("Top-1 accuracy"),
    "true top1": _l("Measured top-1", "%"),
    "true_top1": _l("Measured top-1", "%"),
    "predicted_top1": _l("Predicted top-1"),
    "test_top1": _l("Realised test top-1"),
    "digits": _l("Digits"),
    "synthetic_shift": _l("Synthetic, shifted"),
    "cifar10": _l("CIFAR-10"),
    "alpha": _l("α"),
    "beta": _l("β"),
    "omega": _l("Ω"),
    "iteration": _l("Predictor calls"),
    "regret": _l("Simple regret"),
    "final_regret": _l("Mean final regret"),
    "importance": _l("R² drop when permuted"),
    # latency (MEDN)
    "hw": _l("Input size", "px"),
    "in_channels": _l("Input channels"),
    "out_channels": _l("Output channels"),
    "in_features": _l("Input features"),
    "out_features": _l("Output features"),
    "hidden_size": _l("Hidden size"),
    "seq_len": _l("Sequence length"),
    "embed_dim": _l("Embedding dimension"),
    "num_heads": _l("Attention heads"),
    "stride": _l("Stride"),
    "latency_ms": _l("Latency", "ms"),
    "measured_ms": _l("Measured latency", "ms"),
    "predicted_ms": _l("Predicted latency", "ms"),
    "error_pct": _l("Error", "%"),
    "module_type": _l("Module type"),
    "model": _l("Model"),
    "calls": _l("Module calls"),
    "covered": _l("Calls covered"),
    "uncovered": _l("Modules not covered"),
    "acc10": _l("Acc@10%", "%"),
    "utilization_pct": _l("GPU utilization", "%"),
    "load_avg_1m": _l("Load average, 1 min"),
    "mem_available_mib": _l("Available memory", "MiB"),
    # survey
    "method": _l("Method"),
    "baseline": _l("Baseline"),
    "baseline_frontier": _l("Baseline frontier"),
    "blurpool": _l("BlurPool"),
    "stochastic_depth": _l("Stochastic depth"),
    "channels_last": _l("Channels-last"),
    "mixed_precision": _l("Mixed precision"),
    "progressive_resizing": _l("Progressive resizing"),
    "mixup": _l("MixUp"),
    "cutmix": _l("CutMix"),
    "selective_backprop": _l("Selective backprop"),
    "layer_freezing": _l("Layer freezing"),
    "sam": _l("SAM"),
    "ema": _l("EMA of weights"),
    "relabelled_baseline": _l("Relabelled baseline (A/A)"),
    "norm_free": _l("Norm-free"),
    "factorized": _l("Factorized"),
    "factorized_norm_free": _l("Factorized, norm-free"),
    "none": _l("None"),
    "flip_crop": _l("Flip + crop"),
    "heavy": _l("Heavy"),
    "flops": _l("FLOPs"),
    "variant": _l("Variant"),
    "params": _l("Parameters"),
    "operand_bytes": _l("Operand bytes", "B"),
    "step_time_iqr_s": _l("Step time IQR", "s"),
    "bound": _l("Bound by"),
    "flops_ratio": _l("FLOPs / baseline"),
    "time_ratio": _l("Step time / baseline"),
    "step_time_s": _l("Step time", "s"),
    "step_time_ms": _l("Time per step", "ms"),
    "compute_s": _l("Compute", "s"),
    "data_wait_s": _l("Data wait", "s"),
    "data_fraction": _l("Data share"),
    "workers": _l("Loader workers"),
    "intensity": _l("Arithmetic intensity", "FLOP/byte"),
    "flop_rate": _l("Achieved FLOP/s"),
    "gain_points": _l("Accuracy gain over the baseline frontier", "points"),
    "within_noise_pct": _l("Repeats called within noise", "%"),
    # BTTackler
    "tsba": _l("TSBA", "%"),
    "top10hr": _l("Top10HR", "%"),
    "recall": _l("Recall (share of bad trials stopped)"),
    "precision_stops": _l("Precision (share of stops that were bad)"),
    "clock": _l("Clock"),
    "epochs_clock": _l("Epoch clock (epochs run)"),
    "wall_clock_s": _l("Wall clock", "s"),
    "cpu_clock_s": _l("CPU clock", "s"),
    "cnn_digits": _l("CNN digits"),
    "cnn_synthetic": _l("CNN images"),
    "lstm_digits": _l("LSTM digits"),
    "transformer_co2": _l("Transformer CO2"),
    # BTTackler search-space parameters
    "hidden_width": _l("Hidden width"),
    "batch_norm": _l("Batch norm"),
    "conv1_channels": _l("Conv 1 channels"),
    "conv2_channels": _l("Conv 2 channels"),
    "conv3_channels": _l("Conv 3 channels"),
    "conv4_channels": _l("Conv 4 channels"),
    "value": _l("Objective value"),
    # panel controls
    "n_trials": _l("Trials"),
    "sampler": _l("Sampler"),
    "mode": _l("Mode"),
    "task": _l("Task"),
    "indicators": _l("Indicators"),
    "agv_min_grad": _l("AGV min |grad|"),
    "agv_max_grad": _l("AGV max |grad|"),
    "eag_max_ratio": _l("EAG max ratio"),
    "erg_min_ratio": _l("ERG min ratio"),
    "lar_max_zero_fraction": _l("LAR max zero share"),
    "plc_min_cov": _l("PLC min CoV"),
    "sc_rule": _l("SC rule"),
    "nmg_tolerance": _l("NMG tolerance"),
    "components": _l("Components"),
    "baselines": _l("Baselines"),
    "n_iter": _l("Predictor calls per run"),
    "n_seeds": _l("Seeds"),
    "batch": _l("Batch size"),
    "padding": _l("Padding", "px"),
    "input_size": _l("Input size"),
    "split": _l("Split"),
    "warmup": _l("Warm-up runs"),
    "repeats": _l("Timed repeats"),
    "methods": _l("Methods"),
    "budgets": _l("Budgets", "epochs"),
    "cnn": _l("CNN"),
    # trial and verdict tables
    "state": _l("State"),
    "stopped_by": _l("Stopped by"),
    "fired": _l("Indicators fired"),
    "epoch_fired": _l("Epoch fired"),
    "epochs_run": _l("Epochs run"),
    "rule": _l("Rule"),
    "verdict": _l("Verdict"),
    "tsba_lo": _l("TSBA, 95 % CI low", "%"),
    "tsba_hi": _l("TSBA, 95 % CI high", "%"),
    "top10hr_lo": _l("Top10HR, 95 % CI low", "%"),
    "top10hr_hi": _l("Top10HR, 95 % CI high", "%"),
    "epochs_saved_pct": _l("Epochs saved", "%"),
    "stop_rate_pct": _l("Trials stopped", "%"),
    "quantity": _l("Quantity"),
    "kit": _l("Kit"),
    "paper": _l("Paper"),
    # latency-aware recommendation (RecommendPanel, its table)
    "device": _l("Device"),
    "scale": _l("Scale"),
    "latency_budget_ms": _l("Latency budget", "ms"),
    "trainings": _l("Trainings (top k)"),
    "rank": _l("Rank"),
    "predicted_accuracy": _l("Predicted top-1"),
    "predicted_lo_ms": _l("Predicted latency, interval low", "ms"),
    "predicted_hi_ms": _l("Predicted latency, interval high", "ms"),
    "p_feasible": _l("P(latency ≤ budget)"),
    "within_budget": _l("Within budget"),
    "diagnosis": _l("Diagnosis"),
    "error": _l("Error"),
    # the recommendation vs feedback-based search comparison (experiments/recommend)
    "recommend": _l("Training-free recommendation"),
    "recommend_b": _l("Training-free, other seeds (A/A)"),
    "tpe": _l("TPE (feedback)"),
    "nsga2": _l("NSGA-II (feedback)"),
    "best_feasible_accuracy": _l("Best feasible accuracy"),
    "tight": _l("Tight"),
    "loose": _l("Loose"),
    "synthetic": _l("Synthetic"),
}

#: The registry (read-only): internal name -> :class:`Label`.
LABELS: Mapping[str, Label] = MappingProxyType(_REGISTRY)

_recorders: list[set[str]] = []
_SEP = re.compile(r"[_\s]+")


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ConfigError("name", name, "a non-empty string (an internal name)")
    return name


def fallback_label(name: str) -> str:
    """The readable stand-in for an unregistered name: underscores to spaces, capitalised.

    >>> fallback_label("n_layers")
    'N layers'
    """
    text = _SEP.sub(" ", _check_name(name)).strip()
    return text[:1].upper() + text[1:]


def is_registered(name: str) -> bool:
    """Whether ``name`` has a registered label."""
    return isinstance(name, str) and name in _REGISTRY


def label(name: str, *, unit: bool = True) -> str:
    """Display label of an internal name, with its unit in parentheses.

    Parameters
    ----------
    name : str
        Internal name (a column, parameter or metric: ``"lr"``, ``"latency_ms"``).
    unit : bool, default True
        Append `` (unit)`` when the name has one.

    Returns
    -------
    str
        The registered label, or :func:`fallback_label` of an unknown name (recorded as a
        miss inside :func:`record_label_misses`).

    Raises
    ------
    ConfigError
        ``name`` is not a non-empty string.
    """
    _check_name(name)
    found = _REGISTRY.get(name)
    if found is None:
        for rec in _recorders:
            rec.add(name)
        return fallback_label(name)
    return found.render(unit=unit)


def display(name: object, *, unit: bool = True) -> str:
    """How a value that may be an internal name is shown (legend entries, tick labels).

    A registered name gets its label; a string with an underscore goes through :func:`label`
    (the readable fallback, recorded as a miss); anything else (``"baseline (A/A)"``,
    ``"conv2d"``, a number) is already readable and shown as ``str(name)``.

    >>> display("channels_last"), display("baseline (A/A)")
    ('Channels-last', 'baseline (A/A)')
    """
    text = str(name)
    if text in _REGISTRY or ("_" in text and text.strip()):
        return label(text, unit=unit)
    return text


def unit(name: str) -> str | None:
    """The unit of a registered name (``"ms"``, ``"s"``, ``"%"``), None when it has none.

    Raises
    ------
    ConfigError
        ``name`` is not a non-empty string.
    """
    _check_name(name)
    found = _REGISTRY.get(name)
    return None if found is None else found.unit


@contextmanager
def record_label_misses() -> Iterator[set[str]]:
    """Collect the unregistered names :func:`label` is asked for inside the block.

    Yields
    ------
    set of str
        Filled while the block runs; the test suite asserts it stays empty for every figure.
    """
    misses: set[str] = set()
    _recorders.append(misses)
    try:
        yield misses
    finally:
        _recorders.remove(misses)


def humanize_columns(df: pd.DataFrame, *, unit: bool = True) -> pd.DataFrame:
    """A copy of ``df`` with its columns (and a named index) renamed to their display labels.

    Parameters
    ----------
    df : pandas.DataFrame
    unit : bool, default True
        Labels with units.

    Returns
    -------
    pandas.DataFrame
        Same data; string column names through :func:`label` (other names kept).

    Raises
    ------
    ConfigError
        ``df`` is not a DataFrame.
    """
    if not isinstance(df, pd.DataFrame):
        raise ConfigError("df", type(df).__name__, "a pandas.DataFrame")
    out = df.rename(columns={c: label(c, unit=unit) for c in df.columns
                             if isinstance(c, str) and c.strip()})
    if isinstance(out.index.name, str) and out.index.name.strip():
        out.index = out.index.rename(label(out.index.name, unit=unit))
    return out
