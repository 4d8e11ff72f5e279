"""Settings of the ``survey`` experiment: file names, the parts and methods, the budget per
scale, the E1 baseline config and the single-method recipes."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

from effdl_kit._core.errors import ConfigError
from effdl_kit._core.validate import check_choice, check_float, check_int, check_scale
from effdl_kit.measure import DTYPES, OPS
from effdl_kit.speedups import check_budgets
from effdl_kit.training import TrainConfig

__all__ = [
    "ALL_METHODS",
    "FIGURE_LOADER",
    "FIGURE_PARETO",
    "FIGURE_ROOFLINE",
    "FIGURE_VARIANTS",
    "MODEL_PARAMS",
    "NAME",
    "PARTS",
    "RESULTS_FILE",
    "Budget",
    "Method",
    "Part",
    "SurveyDevice",
    "survey_config",
    "survey_recipes",
]

NAME = "survey"
RESULTS_FILE = "results.json"
FIGURE_PARETO = "survey_pareto"
FIGURE_ROOFLINE = "survey_roofline"
FIGURE_VARIANTS = "survey_flops_runtime"
FIGURE_LOADER = "survey_loader"
TABLE_FRONTIER = "survey_frontier"
TABLE_OPS = "survey_ops"
TABLE_VARIANTS = "survey_flops_runtime"
TABLE_LOADER = "survey_loader"

#: the experiment's parts: E1 Pareto, E2 op microbenchmarks, E3 FLOPs vs runtime, E4 loader
Part = Literal["pareto", "ops", "variants", "loader"]
PARTS: tuple[Part, ...] = get_args(Part)

#: the survey's speedup methods (:data:`effdl_kit.speedups.METHODS`)
Method = Literal["channels_last", "mixed_precision", "label_smoothing", "mixup", "cutmix",
                 "progressive_resizing", "selective_backprop", "layer_freezing", "ema", "sam",
                 "stochastic_depth", "blurpool"]

#: where a scale runs: the CPU, or a GPU when there is one ("auto")
SurveyDevice = Literal["cpu", "auto"]

#: every method of the survey with the settings used here (EMA's half-life is 10 % of the
#: run's steps: the runs are a few hundred steps, not the 1,000-batch half-life of ImageNet)
ALL_METHODS: dict[Method, dict[str, Any]] = {
    "channels_last": {},
    "mixed_precision": {"precision": "bf16"},
    "label_smoothing": {"smoothing": 0.1},
    "mixup": {"alpha": 1.0},
    "cutmix": {"alpha": 1.0},
    "progressive_resizing": {"initial_scale": 0.5, "delay_fraction": 0.5,
                             "finetune_fraction": 0.2, "size_increment": 4},
    "selective_backprop": {"start": 0.5, "end": 0.9, "keep": 0.5, "interrupt": 2},
    "layer_freezing": {"freeze_start": 0.5, "freeze_level": 1.0},
    "ema": {"half_life": 0.1},
    "sam": {"rho": 0.05, "interval": 1},
    "stochastic_depth": {"drop_rate": 0.1, "distribution": "linear"},
    "blurpool": {},
}

#: the CNN of every part
MODEL_PARAMS: dict[str, Any] = {"channels": [16, 32], "skip": True, "norm": "batch",
                                "pooling": "max", "width": 64}

_LOADER_KEYS = ("workers", "augmentations", "n_batches", "batch_size", "image_size", "warmup")


@dataclass(frozen=True)
class Budget:
    """Everything a scale decides for the ``survey`` experiment.

    Get one with :meth:`for_scale`; change a field with :func:`dataclasses.replace` (the
    fields are checked again).

    Attributes
    ----------
    data : mapping
        ``data_params`` of the generated images (n_samples, image_size, difficulty).
    budgets : tuple of int
        E1 budgets in epochs, strictly increasing.
    n_seeds : int
        E1 seeds per (method, budget): ``seed, seed + 1, ...``.
    lr_grid : tuple of float
        E1: the baseline's learning rates tried at every budget (chosen by validation
        accuracy, :func:`~effdl_kit.speedups.tune_baseline_lr`).
    n_tune_seeds : int
        E1: tuning seeds (``seed + 1000, ...``: not evaluation seeds); the tuning budget is
        ``len(lr_grid) x len(budgets) x n_tune_seeds`` trainings.
    warmup : int
        E1: untimed runs of every recipe before the timed ones.
    methods : tuple of Method
        E1 methods, each compared with the baseline on its own.
    ops : mapping
        E2 op name -> sizes of the sweep.
    dtypes : tuple of str
        E2 dtypes.
    matmul_peak_sizes : tuple of int
        Matrix sizes of the peak FLOP/s measurement.
    bandwidth_bytes : int
        Bytes copied to measure the bandwidth.
    min_time : float
        Seconds each op timing runs at least.
    repeats : int
        Timings per op and size.
    variants_repeats : int
        E3 timed training steps per variant.
    variants_input : tuple of int
        E3 input shape (channels, height, width).
    loader : mapping
        E4 keyword arguments of :func:`~effdl_kit.speedups.loader_bottleneck` (workers,
        augmentations, n_batches, batch_size, image_size, warmup).
    device : {"cpu", "auto"}
        Where it runs ("auto": a GPU when there is one).
    """

    data: Mapping[str, Any]
    budgets: tuple[int, ...]
    n_seeds: int
    lr_grid: tuple[float, ...]
    n_tune_seeds: int
    warmup: int
    methods: tuple[Method, ...]
    ops: Mapping[str, tuple[int, ...]]
    dtypes: tuple[str, ...]
    matmul_peak_sizes: tuple[int, ...]
    bandwidth_bytes: int
    min_time: float
    repeats: int
    variants_repeats: int
    variants_input: tuple[int, ...]
    loader: Mapping[str, Any]
    device: SurveyDevice

    def __post_init__(self) -> None:
        if not isinstance(self.data, Mapping):
            raise ConfigError("data", self.data, "a mapping of data_params")
        check_budgets(self.budgets)
        check_int("n_seeds", self.n_seeds, min_value=1)
        check_int("n_tune_seeds", self.n_tune_seeds, min_value=1)
        check_int("warmup", self.warmup, min_value=0)
        if isinstance(self.lr_grid, str) or not isinstance(self.lr_grid, Sequence) \
                or not self.lr_grid:
            raise ConfigError("lr_grid", self.lr_grid, "a non-empty tuple of learning rates")
        for i, lr in enumerate(self.lr_grid):
            check_float(f"lr_grid[{i}]", lr, min_value=0.0, min_inclusive=False)
        _check_names("methods", self.methods, tuple(ALL_METHODS))
        if not isinstance(self.ops, Mapping):
            raise ConfigError("ops", self.ops, "a mapping op -> sizes")
        _check_names("ops", tuple(self.ops), OPS)
        _check_names("dtypes", self.dtypes, tuple(DTYPES))
        for field in ("bandwidth_bytes", "repeats", "variants_repeats"):
            check_int(field, getattr(self, field), min_value=1)
        check_float("min_time", self.min_time, min_value=0.0, min_inclusive=False)
        if len(self.variants_input) != 3:
            raise ConfigError("variants_input", self.variants_input,
                              "(channels, height, width)")
        if not isinstance(self.loader, Mapping) or not set(self.loader) <= set(_LOADER_KEYS):
            raise ConfigError("loader", self.loader, f"a mapping with keys out of {_LOADER_KEYS}")
        check_choice("device", self.device, get_args(SurveyDevice))

    @classmethod
    def for_scale(cls, scale: str) -> Budget:
        """The budget of ``scale``: ``smoke`` seconds (2 budgets, 2 seeds, 2 methods, tiny op
        grid); ``small`` about 20 minutes on a 2-core CPU (5 budgets, 5 seeds, 4 tuned rates,
        11 methods:
        mixed precision is left out there; E2 on this CPU measured a bf16 matmul peak of 743
        GFLOP/s against 92 GFLOP/s for fp32, median of 3 runs, ``docs/results/survey_ops.md``,
        but bf16 autocast training was not timed here); ``paper`` 5 budgets up to 32 epochs, 5
        seeds, 5 tuned rates, every method including mixed precision, device ``auto`` (meant
        for a GPU). Five seeds, not three: with three the t interval (2 degrees of freedom,
        Bonferroni over 5 budgets) is about 10 standard errors wide and misses effects of
        several accuracy points.

        Raises
        ------
        ConfigError
            An unknown scale.
        """
        return cls(**copy.deepcopy(_PER_SCALE[check_scale(scale)]))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict of every field."""
        return _plain(dataclasses.asdict(self))


def _check_names(field: str, names: Sequence[str], allowed: Sequence[str]) -> None:
    if isinstance(names, str) or not isinstance(names, Sequence):
        raise ConfigError(field, names, f"a tuple of names out of {tuple(allowed)}")
    for name in names:
        check_choice(field, name, allowed)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


_POW2 = (2**8, 2**12, 2**16, 2**20, 2**23)
_OPS_SMALL: dict[str, tuple[int, ...]] = {
    "matmul": (16, 64, 256, 1024), "conv2d": (4, 8, 16, 32), "add": _POW2, "relu": _POW2,
    "gelu": _POW2, "batchnorm": _POW2[1:], "layernorm": _POW2[1:], "softmax": _POW2[1:],
}
_OPS_SMOKE: dict[str, tuple[int, ...]] = {
    "matmul": (8, 64), "conv2d": (4,), "add": (2**8, 2**14), "relu": (2**10,),
    "gelu": (2**10,), "batchnorm": (2**12,), "layernorm": (2**12,), "softmax": (2**12,),
}
#: the fields of each scale's budget (deep-copied by :meth:`Budget.for_scale`)
_PER_SCALE: dict[str, dict[str, Any]] = {
    "smoke": {
        "data": {"n_samples": 300, "image_size": 16, "difficulty": 0.9},
        "budgets": (1, 2), "n_seeds": 2, "lr_grid": (3e-3, 1e-2), "n_tune_seeds": 1,
        "warmup": 1, "methods": ("label_smoothing", "ema"),
        "ops": _OPS_SMOKE, "dtypes": ("float32",), "matmul_peak_sizes": (64, 128),
        "bandwidth_bytes": 2**22, "min_time": 0.002, "repeats": 2,
        "variants_repeats": 2, "variants_input": (3, 16, 16),
        "loader": {"workers": (0,), "augmentations": ("none", "flip_crop"), "n_batches": 2,
                   "batch_size": 16, "image_size": 16, "warmup": 1},
        "device": "cpu",
    },
    "small": {
        "data": {"n_samples": 3000, "image_size": 16, "difficulty": 0.9},
        "budgets": (1, 2, 3, 4, 6), "n_seeds": 5, "lr_grid": (1e-3, 3e-3, 1e-2, 3e-2),
        "n_tune_seeds": 2, "warmup": 1,
        "methods": tuple(m for m in ALL_METHODS if m != "mixed_precision"),
        "ops": _OPS_SMALL, "dtypes": ("float32", "bfloat16"),
        "matmul_peak_sizes": (128, 256, 512, 1024), "bandwidth_bytes": 2**27,
        "min_time": 0.02, "repeats": 5, "variants_repeats": 20, "variants_input": (3, 32, 32),
        "loader": {"workers": (0, 1, 2), "augmentations": ("none", "flip_crop", "heavy"),
                   "n_batches": 10, "batch_size": 64, "image_size": 32, "warmup": 2},
        "device": "cpu",
    },
    "paper": {
        "data": {"n_samples": 20000, "image_size": 32, "difficulty": 0.9},
        "budgets": (2, 4, 8, 16, 32), "n_seeds": 5, "lr_grid": (3e-4, 1e-3, 3e-3, 1e-2, 3e-2),
        "n_tune_seeds": 2, "warmup": 2, "methods": tuple(ALL_METHODS),
        "ops": {**_OPS_SMALL, "matmul": (16, 64, 256, 1024, 4096),
                "conv2d": (4, 8, 16, 32, 64)},
        "dtypes": ("float32", "bfloat16"), "matmul_peak_sizes": (1024, 2048, 4096, 8192),
        "bandwidth_bytes": 2**30, "min_time": 0.05, "repeats": 7, "variants_repeats": 50,
        "variants_input": (3, 32, 32),
        "loader": {"workers": (0, 1, 2, 4, 8), "augmentations": ("none", "flip_crop", "heavy"),
                   "n_batches": 50, "batch_size": 128, "image_size": 32, "warmup": 5},
        "device": "auto",
    },
}


def survey_config(scale: str, seed: int = 0, *, budget: Budget | None = None) -> TrainConfig:
    """The E1 baseline config at ``scale`` (``epochs`` is replaced per budget).

    Parameters
    ----------
    budget : Budget, optional
        Its ``data``, ``budgets`` and ``device`` (default: ``Budget.for_scale(scale)``).
    """
    b = check_budget(budget, check_scale(scale))
    return TrainConfig(
        dataset="synthetic", data_params=dict(b.data), model="cnn",
        model_params=dict(MODEL_PARAMS), optimizer="adamw", lr=3e-3, weight_decay=5e-4,
        schedule="cosine", batch_size=64, epochs=b.budgets[-1], seed=seed, device=b.device,
        threads=1,
    )


def survey_recipes(methods: Sequence[str]) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """One single-method recipe per name, with :data:`ALL_METHODS`' settings.

    Raises
    ------
    ConfigError
        An unknown method name.
    """
    out: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for m in methods:
        if m not in ALL_METHODS:
            raise ConfigError("methods", m, tuple(ALL_METHODS))
        out[m] = [(m, dict(ALL_METHODS[m]))]
    return out


def check_budget(budget: Budget | None, scale: str) -> Budget:
    """``budget``, or the budget of ``scale`` when it is None.

    Raises
    ------
    ConfigError
        ``budget`` is not a :class:`Budget`.
    """
    if budget is None:
        return Budget.for_scale(scale)
    if not isinstance(budget, Budget):
        raise ConfigError("budget", budget, "a survey Budget (Budget.for_scale(scale), "
                          "changed with dataclasses.replace)")
    return budget
