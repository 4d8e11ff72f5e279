"""Training speedup methods (compute-efficient DL survey): functions plus bench hooks.

Each method is a plain function (``mixup_batch``, ``apply_blurpool``, ``ema_update``, ...) and
a thin :class:`SpeedupMethod` hook for the bench's events, with a method card in its
docstring (Composer's shape). Methods compose into a :class:`Recipe` (canonical order,
incompatible pairs refused, config changes applied before training); they take index and soft
targets; surgery keeps the optimizer consistent; :class:`Checkpoint` resumes a run exactly.

>>> from effdl_kit.speedups import Recipe, train_with
>>> from effdl_kit.training import TrainConfig
>>> res = train_with(["label_smoothing", "ema"], TrainConfig(epochs=2))  # doctest: +SKIP

The survey's experiments: :func:`tune_baseline_lr` and :func:`pareto_sweep` (E1, time vs
accuracy against the tuned baseline rescaled to every budget, in a random order after warm-up)
with :func:`frontier_table` (verdicts with simultaneous bootstrap intervals, A/A and positive
controls through :func:`inject_control`), :func:`flops_vs_runtime` (E3),
:func:`loader_bottleneck` (E4).
"""

from effdl_kit.speedups._base import (
    IMAGE_DATASETS,
    SpeedupMethod,
    as_soft_targets,
    autocast_context,
    per_sample_loss,
    replace_modules,
    sync_optimizer,
    total_steps,
    training_fraction,
)
from effdl_kit.speedups._cost import (
    AUGMENTATION_COSTS,
    VARIANTS,
    build_variant,
    flops_vs_runtime,
    loader_bottleneck,
    operand_bytes,
    step_time,
)
from effdl_kit.speedups._frontier import (
    AA_LABEL,
    CLOCK_COLUMNS,
    CLOCKS,
    INTERVALS,
    POSITIVE_LABEL,
    VERDICTS,
    Clock,
    Interval,
    frontier_points,
    frontier_table,
    inject_control,
    pareto_frontier,
    summarize_runs,
)
from effdl_kit.speedups._mixing import (
    CutMix,
    LabelSmoothing,
    MixUp,
    cutmix_batch,
    mixup_batch,
    smooth_labels,
)
from effdl_kit.speedups._pareto import (
    PARETO_COLUMNS,
    TUNING_COLUMNS,
    check_budgets,
    pareto_sweep,
    tune_baseline_lr,
)
from effdl_kit.speedups._precision import (
    PRECISION_DTYPES,
    ChannelsLast,
    MixedPrecision,
    apply_channels_last,
    check_precision,
)
from effdl_kit.speedups._recipe import (
    CONFLICTS,
    METHOD_ORDER,
    METHODS,
    Checkpoint,
    Recipe,
    load_checkpoint,
    make_method,
    save_checkpoint,
    train_with,
)
from effdl_kit.speedups._schedule import (
    LayerFreezing,
    ProgressiveResizing,
    SelectiveBackprop,
    freeze_fraction,
    freeze_layers,
    progressive_scale,
    resize_batch,
    select_by_loss,
    selective_backprop_active,
)
from effdl_kit.speedups._surgery import (
    BlurConv2d,
    BlurMaxPool2d,
    BlurPool,
    DropPathStage,
    FactorizedConv2d,
    StochasticDepth,
    apply_blurpool,
    apply_stochastic_depth,
    factorize_convs,
    is_residual_stage,
)
from effdl_kit.speedups._weights import EMA, SAM, ema_smoothing, ema_update, sam_perturbation

__all__ = [
    "AA_LABEL",
    "AUGMENTATION_COSTS",
    "CLOCKS",
    "CLOCK_COLUMNS",
    "CONFLICTS",
    "EMA",
    "IMAGE_DATASETS",
    "INTERVALS",
    "METHODS",
    "METHOD_ORDER",
    "PARETO_COLUMNS",
    "POSITIVE_LABEL",
    "PRECISION_DTYPES",
    "SAM",
    "TUNING_COLUMNS",
    "VARIANTS",
    "VERDICTS",
    "BlurConv2d",
    "BlurMaxPool2d",
    "BlurPool",
    "ChannelsLast",
    "Checkpoint",
    "Clock",
    "CutMix",
    "DropPathStage",
    "FactorizedConv2d",
    "Interval",
    "LabelSmoothing",
    "LayerFreezing",
    "MixUp",
    "MixedPrecision",
    "ProgressiveResizing",
    "Recipe",
    "SelectiveBackprop",
    "SpeedupMethod",
    "StochasticDepth",
    "apply_blurpool",
    "apply_channels_last",
    "apply_stochastic_depth",
    "as_soft_targets",
    "autocast_context",
    "build_variant",
    "check_budgets",
    "check_precision",
    "cutmix_batch",
    "ema_smoothing",
    "ema_update",
    "factorize_convs",
    "flops_vs_runtime",
    "freeze_fraction",
    "freeze_layers",
    "frontier_points",
    "frontier_table",
    "inject_control",
    "is_residual_stage",
    "load_checkpoint",
    "loader_bottleneck",
    "make_method",
    "mixup_batch",
    "operand_bytes",
    "pareto_frontier",
    "pareto_sweep",
    "per_sample_loss",
    "progressive_scale",
    "replace_modules",
    "resize_batch",
    "sam_perturbation",
    "save_checkpoint",
    "select_by_loss",
    "selective_backprop_active",
    "smooth_labels",
    "step_time",
    "summarize_runs",
    "sync_optimizer",
    "total_steps",
    "train_with",
    "training_fraction",
    "tune_baseline_lr",
]
