"""Settings of the ``bttackler`` experiment: names, options, the budget per scale, one run's
spec, and the registries of samplers (HPO methods) and pruners (variants)."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast, get_args

import optuna

from effdl_kit._core.errors import ConfigError, DatasetNotFoundError
from effdl_kit._core.rng import SEED_MAX
from effdl_kit._core.study import quiet_optuna
from effdl_kit._core.types import Direction
from effdl_kit._core.validate import SCALES, check_choice, check_float, check_int, check_scale
from effdl_kit.diagnosis import BTTacklerPruner, CurveFitPruner

__all__ = [
    "BUDGETS",
    "CIFAR10_ENV",
    "ETR_VARIANTS",
    "IMAGE_DATASETS",
    "METHODS",
    "PAPER",
    "SPACES",
    "TASKS",
    "VARIANTS",
    "Budget",
    "ImageDataset",
    "Method",
    "RunSpec",
    "SpaceName",
    "Task",
    "Variant",
    "build_specs",
    "make_pruner",
    "make_sampler",
    "resolve_settings",
]

NAME = "bttackler"
RESULTS_FILE = "results.json"
JOURNAL_FILE = "journal.log"
STUDY_NAME = "bttackler"
FIGURE_TSBA = "bttackler_tsba"
FIGURE_TOP10HR = "bttackler_top10hr"
TABLE_COMPARISON = "bttackler_comparison"
TABLE_RUNS = "bttackler_runs"
TABLE_INDICATORS = "bttackler_indicators"
TABLE_HEADLINE = "bttackler_headline"
#: Environment variable holding the local CIFAR-10 folder (python-pickle version).
CIFAR10_ENV = "EFFDL_CIFAR10"

#: The three DNN tasks (Cifar10CNN, Cifar10LSTM, Ex96Trans at kit scale).
Task = Literal["cnn", "lstm", "transformer"]
TASKS: tuple[Task, ...] = get_args(Task)
#: HPO methods, each an Optuna sampler (the paper's SMAC is replaced by QMC).
Method = Literal["random", "tpe", "gp", "qmc"]
METHODS: tuple[Method, ...] = get_args(Method)
#: Variants per method; ``plain`` is the baseline of every comparison.
Variant = Literal["plain", "bttackler", "median", "curvefit"]
VARIANTS: tuple[Variant, ...] = get_args(Variant)
#: The variants that stop trials early (every one but ``plain``).
EARLY_STOP_VARIANTS: tuple[Variant, ...] = VARIANTS[1:]
#: The early termination rules the paper compares BTTackler with.
ETR_VARIANTS: tuple[Variant, ...] = ("median", "curvefit")
#: Datasets of the two image tasks.
ImageDataset = Literal["digits", "synthetic", "cifar10"]
IMAGE_DATASETS: tuple[ImageDataset, ...] = get_args(ImageDataset)
#: Sizes of the search spaces (see :data:`SPACES`).
SpaceName = Literal["tiny", "small", "paper"]
#: Where trials train (``auto``: CUDA when present).
Device = Literal["cpu", "cuda", "auto"]
#: The paper's headline numbers (percent).
PAPER: dict[str, float] = {"tsba": 40.33, "top10hr": 72.25, "top10hr_etr": 52.08}
#: Validation metric and direction of each task.
TASK_METRICS: dict[Task, tuple[str, Direction]] = {
    "cnn": ("accuracy", "maximize"), "lstm": ("accuracy", "maximize"),
    "transformer": ("mse", "minimize")}
VARIANT_LABELS: dict[str, str] = {"bttackler": "BTTackler", "median": "median stop",
                                  "curvefit": "curve fitting", "plain": "plain"}
METHOD_LABELS: dict[str, str] = {"random": "Random", "tpe": "TPE", "gp": "GP", "qmc": "QMC"}

#: Search-space sizes (ranges of the size hyper-parameters; the rest is the paper's).
SPACES: dict[SpaceName, dict[str, Any]] = {
    "tiny": {"channels": [2, 8], "width": [10, 64], "lstm_hidden": [4, 16], "lstm_layers": 1,
             "d_model": [8, 16], "tf_layers": 1, "ff": [8, 32], "input_len": 24,
             "output_len": 12, "series_n_train": 200},
    "small": {"channels": [4, 32], "width": [10, 256], "lstm_hidden": [8, 64],
              "lstm_layers": 2, "d_model": [16, 32], "tf_layers": 2, "ff": [16, 128],
              "input_len": 24, "output_len": 12, "series_n_train": 512},
    "paper": {"channels": [16, 128], "width": [10, 1000], "lstm_hidden": [32, 256],
              "lstm_layers": 3, "d_model": [32, 64, 128], "tf_layers": 3, "ff": [64, 512],
              "input_len": 96, "output_len": 96, "series_n_train": None},
}


def _names(field: str, value: Any, allowed: tuple[str, ...]) -> None:
    if isinstance(value, str) or not isinstance(value, tuple | list) or not value:
        raise ConfigError(field, value, f"a non-empty list of {allowed}")
    for v in value:
        check_choice(field, v, allowed)


@dataclass(frozen=True)
class Budget:
    """Everything a scale decides for the ``bttackler`` experiment.

    Get one with :meth:`for_scale`; change a field with :func:`dataclasses.replace` (the
    fields are checked again).

    Attributes
    ----------
    tasks, methods, variants : tuple of str
        Subsets of :data:`TASKS`, :data:`METHODS`, :data:`VARIANTS` (``variants`` includes
        ``"plain"``, the baseline of every comparison).
    repeats, workers : int
        Repeats of every run (1..1000), worker processes per run (1..256).
    budget_s : float
        Wall-time budget per run (run clock, seconds, > 0).
    max_trials : int or None
        Cap on the trials of a run.
    epochs : int
        Epochs of a full trial (2..10000).
    n_train : int or None
        Training-set size of the image tasks (None: the whole split).
    image_dataset : {"digits", "synthetic", "cifar10", "auto"}
        ``auto``: CIFAR-10 when a path is known, else synthetic.
    space : {"tiny", "small", "paper"}
        Size ranges of the search spaces (:data:`SPACES`).
    device : {"cpu", "cuda", "auto"}
    median_startup, curvefit_startup, gp_startup : int
        Startup trials of the MedianPruner, the CurveFitPruner and the GPSampler.
    """

    tasks: tuple[Task, ...]
    methods: tuple[Method, ...]
    variants: tuple[Variant, ...]
    repeats: int
    workers: int
    budget_s: float
    max_trials: int | None
    epochs: int
    n_train: int | None
    image_dataset: ImageDataset | Literal["auto"]
    space: SpaceName
    device: Device
    median_startup: int
    curvefit_startup: int
    gp_startup: int

    def __post_init__(self) -> None:
        def set_(field: str, value: Any) -> None:  # normalised values (tuples, floats)
            object.__setattr__(self, field, value)

        for field, allowed in (("tasks", TASKS), ("methods", METHODS),
                               ("variants", VARIANTS)):
            _names(field, getattr(self, field), allowed)
            set_(field, tuple(getattr(self, field)))
        if "plain" not in self.variants:
            raise ConfigError("variants", list(self.variants),
                              "a list including 'plain' (the baseline of every comparison)")
        set_("repeats", check_int("repeats", self.repeats, min_value=1, max_value=1000))
        set_("workers", check_int("workers", self.workers, min_value=1, max_value=256))
        set_("budget_s", check_float("budget_s", self.budget_s, min_value=0.0,
                                     min_inclusive=False))
        if self.max_trials is not None:
            set_("max_trials", check_int("max_trials", self.max_trials, min_value=1))
        set_("epochs", check_int("epochs", self.epochs, min_value=2, max_value=10_000))
        if self.n_train is not None:
            set_("n_train", check_int("n_train", self.n_train, min_value=1))
        check_choice("dataset", self.image_dataset, (*IMAGE_DATASETS, "auto"))
        check_choice("space", self.space, get_args(SpaceName))
        check_choice("device", self.device, get_args(Device))
        for field in ("median_startup", "curvefit_startup", "gp_startup"):
            check_int(field, getattr(self, field), min_value=1)

    @classmethod
    def for_scale(cls, scale: str) -> Budget:
        """The budget of ``scale``.

        ``smoke``: the CNN only, Random and TPE x 4 variants, 1 repeat, 1 worker
        (in-process), 3 trials of 4 epochs per run on 240 digits, tiny ranges (seconds).
        ``small``: the three tasks, Random and TPE x 4 variants, 1 repeat, 2 worker
        processes, 25 s per run, 8 epochs (about 10 minutes on a 2-core CPU). ``paper``:
        everything, 3 repeats, 8 workers, 6 h per run, 20 epochs, CIFAR-10 when a path is
        given (else synthetic 32x32 images), 96-in/96-out windows on CO2; device ``auto``.

        Raises
        ------
        ConfigError
            An unknown scale.
        """
        return cls(**_PER_SCALE[check_scale(scale)])

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (lists for tuples), as ``results.json`` records the budget."""
        return dict(json.loads(json.dumps(dataclasses.asdict(self))))


_PER_SCALE: dict[str, dict[str, Any]] = {
    "smoke": {"tasks": ("cnn",), "methods": ("random", "tpe"), "variants": VARIANTS,
              "repeats": 1, "workers": 1, "budget_s": 15.0, "max_trials": 3, "epochs": 4,
              "n_train": 240, "image_dataset": "digits", "space": "tiny", "device": "cpu",
              "median_startup": 1, "curvefit_startup": 1, "gp_startup": 2},
    "small": {"tasks": TASKS, "methods": ("random", "tpe"), "variants": VARIANTS,
              "repeats": 1, "workers": 2, "budget_s": 25.0, "max_trials": None, "epochs": 8,
              "n_train": None, "image_dataset": "digits", "space": "small", "device": "cpu",
              "median_startup": 5, "curvefit_startup": 5, "gp_startup": 5},
    "paper": {"tasks": TASKS, "methods": METHODS, "variants": VARIANTS,
              "repeats": 3, "workers": 8, "budget_s": 6 * 3600.0, "max_trials": None,
              "epochs": 20, "n_train": None, "image_dataset": "auto", "space": "paper",
              "device": "auto", "median_startup": 5, "curvefit_startup": 5, "gp_startup": 10},
}

#: Each scale's :class:`Budget` as a JSON-able dict (what ``results.json`` records; kept for
#: callers that read budgets as dicts: the notebook and the panel).
BUDGETS: dict[str, dict[str, Any]] = {s: Budget.for_scale(s).to_dict() for s in SCALES}


@dataclass(frozen=True)
class RunSpec:
    """Everything one run (task, method, variant, repeat) needs; picklable for workers.

    Attributes
    ----------
    task, method, variant : str
        From :data:`TASKS`, :data:`METHODS`, :data:`VARIANTS`.
    repeat : int
        Repeat index (0-based).
    seed : int
        The run's seed (data split, sampler seeds, trial ``seed + number``).
    budget_s : float
        Wall-time budget of the run (run clock, seconds).
    workers : int
        Worker processes sharing the study.
    max_trials : int or None
        Optional cap on the trials of the run (smoke scale).
    epochs : int
        Epochs of a full trial.
    dataset : str
        Dataset of the task.
    n_train : int or None
        Training-set size (None: the whole split).
    space : mapping
        Size ranges (one entry of :data:`SPACES`).
    data_dir : str or None
        CIFAR-10 folder when ``dataset == "cifar10"``.
    device : str
        ``cpu``, ``cuda`` or ``auto``.
    median_startup, curvefit_startup, gp_startup : int
        Startup trials of the MedianPruner, :class:`~effdl_kit.diagnosis.CurveFitPruner` and
        GPSampler.
    """

    task: Task
    method: Method
    variant: Variant
    repeat: int
    seed: int
    budget_s: float
    workers: int
    max_trials: int | None
    epochs: int
    dataset: str
    n_train: int | None
    space: Mapping[str, Any]
    data_dir: str | None = None
    device: str = "cpu"
    median_startup: int = 5
    curvefit_startup: int = 5
    gp_startup: int = 10

    @property
    def direction(self) -> Direction:
        """``"minimize"`` for the forecaster's MSE, ``"maximize"`` for accuracy."""
        return TASK_METRICS[self.task][1]

    @property
    def metric(self) -> str:
        """Name of the validation metric."""
        return TASK_METRICS[self.task][0]

    def identity(self) -> dict[str, Any]:
        """The fields that define the study (must match when a run is resumed)."""
        d = dataclasses.asdict(self)
        for key in ("budget_s", "workers", "max_trials"):  # may grow between sessions
            d.pop(key)
        return dict(json.loads(json.dumps(d)))

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict of every field."""
        return dict(json.loads(json.dumps(dataclasses.asdict(self))))




#: ``factory(stream_seed, run_seed, gp_startup) -> sampler``.
SamplerFactory = Callable[[int, int, int], optuna.samplers.BaseSampler]
#: ``factory(epochs, median_startup, curvefit_startup) -> pruner``.
PrunerFactory = Callable[[int, int, int], optuna.pruners.BasePruner]

#: The sampler of each HPO method. QMC takes the run's seed, not the worker's stream: its
#: sample index is kept in the study and every worker must walk the same scrambled sequence.
SAMPLERS: dict[Method, SamplerFactory] = {
    "random": lambda s, seed, gp: optuna.samplers.RandomSampler(seed=s),
    "tpe": lambda s, seed, gp: optuna.samplers.TPESampler(seed=s, constant_liar=True),
    "gp": lambda s, seed, gp: optuna.samplers.GPSampler(
        seed=s, n_startup_trials=gp, warn_independent_sampling=False),
    "qmc": lambda s, seed, gp: optuna.samplers.QMCSampler(
        qmc_type="sobol", scramble=True, seed=seed % (SEED_MAX + 1),
        warn_independent_sampling=False, warn_asynchronous_seeding=False),
}
#: The study's pruner of each variant (``bttackler``: the diagnosis in mode ``"report"``, as
#: in the paper: a diagnosed trial ends as COMPLETE with its current metric).
PRUNERS: dict[Variant, PrunerFactory] = {
    "plain": lambda epochs, median, curvefit: optuna.pruners.NopPruner(),
    "bttackler": lambda epochs, median, curvefit: BTTacklerPruner(mode="report"),
    "median": lambda epochs, median, curvefit: optuna.pruners.MedianPruner(
        n_startup_trials=median, n_warmup_steps=0),
    "curvefit": lambda epochs, median, curvefit: CurveFitPruner(
        epochs, n_startup_trials=curvefit),
}


def make_sampler(method: str, *, seed: int, worker: int = 0, segment: int = 0,
                 gp_startup: int = 10) -> optuna.samplers.BaseSampler:
    """The Optuna sampler of ``method`` for one worker of one run segment.

    Random, TPE and GP get ``seed + 7919 worker + 104729 segment`` (workers and resumed
    segments draw different streams); QMC shares ``seed`` across workers, since its sample
    index is kept in the study and every worker must walk the same scrambled sequence.
    """
    factory = SAMPLERS[cast(Method, check_choice("method", method, METHODS))]
    stream = (int(seed) + 7919 * int(worker) + 104729 * int(segment)) % (SEED_MAX + 1)
    with quiet_optuna():
        return factory(stream, int(seed), gp_startup)


def make_pruner(variant: str, *, epochs: int, median_startup: int = 5,
                curvefit_startup: int = 5) -> optuna.pruners.BasePruner:
    """The study's pruner for ``variant`` (plain: ``NopPruner``)."""
    factory = PRUNERS[cast(Variant, check_choice("variant", variant, VARIANTS))]
    return factory(epochs, median_startup, curvefit_startup)


def _cifar_dir(path: str | Path) -> str:
    root = Path(path).expanduser()
    files = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for cand in (root, root / "cifar-10-batches-py"):
        if all((cand / f).is_file() for f in files):
            return str(cand)
    raise DatasetNotFoundError("cifar10", root, "expected the python-pickle CIFAR-10 files "
                               f"({', '.join(files)}) there or in cifar-10-batches-py/")


def _choices(field: str, value: Any, allowed: tuple[str, ...]) -> tuple[str, ...]:
    _names(field, value, allowed)
    return tuple(a for a in allowed if a in set(value))


def resolve_settings(
    scale: str,
    *,
    tasks: Sequence[str] | None = None,
    methods: Sequence[str] | None = None,
    variants: Sequence[str] | None = None,
    repeats: int | None = None,
    workers: int | None = None,
    budget_s: float | None = None,
    max_trials: int | None = None,
    epochs: int | None = None,
    dataset: str | None = None,
    cifar10: str | Path | None = None,
) -> dict[str, Any]:
    """The scale's :class:`Budget` with overrides applied and validated, as the dict
    ``results.json`` records (``image_dataset`` resolved, plus ``data_dir`` and
    ``space_ranges``).

    Raises
    ------
    ConfigError
        Unknown scale, task, method or variant; variants without ``"plain"``; repeats or
        workers < 1; budget not > 0; max_trials < 1; epochs < 2; unknown image dataset.
    DatasetNotFoundError
        CIFAR-10 asked for (``dataset="cifar10"``) and not found at ``cifar10`` /
        ``$EFFDL_CIFAR10``.
    """
    budget = Budget.for_scale(scale)
    changes: dict[str, Any] = {}
    for field, value, allowed in (("tasks", tasks, TASKS), ("methods", methods, METHODS),
                                  ("variants", variants, VARIANTS)):
        if value is not None:
            changes[field] = _choices(field, value, allowed)
    for field, number in (("repeats", repeats), ("workers", workers), ("budget_s", budget_s),
                          ("max_trials", max_trials), ("epochs", epochs)):
        if number is not None:
            changes[field] = number
    if dataset is not None:
        changes["image_dataset"] = check_choice("dataset", dataset, IMAGE_DATASETS)
    if "variants" in changes and "plain" not in changes["variants"]:
        raise ConfigError("variants", list(variants or ()),
                          "a list including 'plain' (the baseline of every comparison)")
    s = dataclasses.replace(budget, **changes).to_dict()
    path = cifar10 if cifar10 is not None else os.environ.get(CIFAR10_ENV) or None
    if s["image_dataset"] == "auto":
        s["image_dataset"] = "cifar10" if path is not None else "synthetic"
    s["data_dir"] = None
    if s["image_dataset"] == "cifar10" and any(t in s["tasks"] for t in ("cnn", "lstm")):
        if path is None:
            raise DatasetNotFoundError("cifar10", None, f"pass cifar10=PATH or set ${CIFAR10_ENV}"
                                       " to the python-pickle CIFAR-10 folder")
        s["data_dir"] = _cifar_dir(path)
    s["space_ranges"] = SPACES[s["space"]]
    return s


def build_specs(settings: Mapping[str, Any], seed: int) -> list[RunSpec]:
    """Every run of the experiment, in execution order (repeat-major, so that an early
    stop still leaves complete (task, method) groups)."""
    specs: list[RunSpec] = []
    for rep in range(int(settings["repeats"])):
        run_seed = (int(seed) + 100_003 * rep) % (SEED_MAX + 1)
        for task in settings["tasks"]:
            dataset = "co2" if task == "transformer" else str(settings["image_dataset"])
            for method in settings["methods"]:
                for variant in settings["variants"]:
                    specs.append(RunSpec(
                        task=task, method=method, variant=variant, repeat=rep, seed=run_seed,
                        budget_s=float(settings["budget_s"]), workers=int(settings["workers"]),
                        max_trials=settings["max_trials"], epochs=int(settings["epochs"]),
                        dataset=dataset, n_train=settings["n_train"],
                        space=dict(settings["space_ranges"]),
                        data_dir=settings["data_dir"] if dataset == "cifar10" else None,
                        device=str(settings["device"]),
                        median_startup=int(settings["median_startup"]),
                        curvefit_startup=int(settings["curvefit_startup"]),
                        gp_startup=int(settings["gp_startup"])))
    return specs
