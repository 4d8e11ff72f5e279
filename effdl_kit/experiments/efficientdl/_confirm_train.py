"""Training side of the EfficientDL confirmation: tasks, trainable defaults, one training.

The helpers :mod:`._confirm` builds its arms from: the task named by the user
(:func:`resolve_task`), the components a recommendation may change
(:func:`controllable_components`), the predictor's base row snapped onto the kit space
(:func:`default_base`), and one real training on a task (:func:`train_once`, a failure recorded
rather than raised).
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from effdl_kit import training
from effdl_kit._core.errors import ConfigError, DataError
from effdl_kit._core.rng import SEED_MAX
from effdl_kit._core.validate import check_choice, check_int
from effdl_kit.data import ComponentData, component_config, default_component_space
from effdl_kit.experiments.efficientdl._confirm_settings import (
    CIFAR_TASK,
    TASKS,
    ConfirmTask,
    TaskName,
)
from effdl_kit.experiments.efficientdl._setup import searchable_components
from effdl_kit.search import base_row

__all__ = [
    "Outcome",
    "check_seed",
    "check_seeds",
    "check_tasks",
    "controllable_components",
    "default_base",
    "kit_space",
    "native",
    "resolve_task",
    "snap",
    "train_once",
    "training_config",
    "warm_up",
]



def native(v: Any) -> Any:
    """numpy scalars -> Python scalars."""
    return v.item() if isinstance(v, np.generic) else v


def resolve_task(task: Any, cifar_dir: str | Path | None, *, need_dir: bool = True
                 ) -> ConfirmTask:
    """The task named ``task``; ``cifar10`` needs an existing ``cifar_dir`` to train."""
    allowed: tuple[TaskName, ...] = (*TASKS, "cifar10")
    if isinstance(task, ConfirmTask):
        return task
    check_choice("task", task, allowed)
    if task == CIFAR_TASK.name:
        if not need_dir:
            return CIFAR_TASK
        if cifar_dir is None:
            raise ConfigError("cifar_dir", None,
                              "a local folder holding CIFAR-10 (python-pickle) for task "
                              "'cifar10'")
        if not Path(cifar_dir).expanduser().is_dir():
            raise ConfigError("cifar_dir", str(cifar_dir), "an existing folder")
        return CIFAR_TASK
    return TASKS[task]


def check_seed(seed: Any, name: str = "seed") -> int:
    """``seed`` as an int in ``[0, SEED_MAX]``, else ConfigError naming ``name``."""
    return check_int(name, seed, min_value=0, max_value=SEED_MAX)


def kit_space() -> dict[str, list[Any]]:
    """The kit component space's value lists (:func:`~effdl_kit.data.default_component_space`)."""
    return {k: list(v) for k, v in default_component_space().values.items()}


def controllable_components(data: ComponentData) -> list[str]:
    """The predictor's components a recommendation may change.

    Parameters
    ----------
    data : ComponentData
        The kit's component data (``component_groups`` maps component -> group).

    Returns
    -------
    list of str
        Feature components of the model and training groups, plus ``precision``; never the
        data group (fixed by the task).
    """
    return searchable_components(data, "controllable")


def snap(value: Any, values: Sequence[Any]) -> Any:
    """The kit-space value nearest ``value`` (log10 scale for positive values spanning 10x)."""
    value = native(value)
    for v in values:
        if v == value and type(v) is type(value):
            return v
    nums = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    if (isinstance(value, int | float) and not isinstance(value, bool)
            and len(nums) == len(values)):
        arr = np.asarray(nums, dtype=np.float64)
        x = float(value)
        if (arr > 0).all() and x > 0 and arr.max() >= 10 * arr.min():
            arr, x = np.log10(arr), math.log10(x)
        return values[int(np.argmin(np.abs(arr - x)))]
    for v in values:
        if v == value or str(v) == str(value):
            return v
    raise DataError(f"default value {value!r} is not one of the kit space's values {values}")


def default_base(data: ComponentData, columns: Sequence[str], task: ConfirmTask,
                  space: Mapping[str, Sequence[Any]]) -> dict[str, Any]:
    """Predictor inputs: the kit data's median / mode on the kit space, the task's data."""
    raw = base_row(data.frame, list(columns))
    base: dict[str, Any] = {}
    for c in columns:
        v = raw[c]
        base[c] = snap(v, space[c]) if c in space else native(v)
    base.update(task.data_components())
    return base


def training_config(components: Mapping[str, Any], task: ConfirmTask, *, scale: str,
                     seed: int, cifar_dir: str | Path | None) -> Any:
    """The ``TrainConfig`` of one training on ``task`` (validated)."""
    comps = {**dict(components), "dataset": task.dataset, "n_train": task.n_train}
    cfg = component_config(comps, scale=scale, seed=seed)
    changes: dict[str, Any] = {}
    if task.dataset == "synthetic" or task.data_params:
        changes["data_params"] = dict(task.data_params)
    if task.dataset.startswith("cifar"):
        changes["data_dir"] = str(Path(str(cifar_dir)).expanduser())
    return cfg.replace(**changes) if changes else cfg


@dataclass
class Outcome:
    """One training: test and validation accuracy (NaN when failed), wall time, error."""

    test: float
    val: float
    time_s: float
    error: str | None


def train_once(components: Mapping[str, Any], task: ConfirmTask, *, scale: str, seed: int,
               cifar_dir: str | Path | None) -> Outcome:
    """One real training; an exception or a non-finite loss/metric is a failed outcome."""
    t0 = time.perf_counter()
    try:
        cfg = training_config(components, task, scale=scale, seed=seed, cifar_dir=cifar_dir)
        res = training.train(cfg)
    except Exception as exc:  # recorded as a failed training; the run goes on
        return Outcome(math.nan, math.nan, time.perf_counter() - t0,
                       f"{type(exc).__name__}: {exc}")
    elapsed = time.perf_counter() - t0
    val = float(res.history[-1].val_metric) if res.history else math.nan
    test = float(res.test_metric)
    if res.stop_reason == "non-finite training loss":
        return Outcome(math.nan, math.nan, elapsed, "non-finite training loss")
    if not (math.isfinite(test) and math.isfinite(val)):
        return Outcome(math.nan, math.nan, elapsed, "non-finite test/validation accuracy")
    return Outcome(test, val, elapsed, None)


@functools.cache
def warm_up() -> None:
    """One untimed tiny training per process, so neither arm pays torch's first-call costs
    (lazy imports, kernel set-up: about 2 s on the first training of a process)."""
    for precision in ("fp32", "bf16"):
        try:
            training.train(training.TrainConfig(
                dataset="digits", model="cnn", epochs=1, n_train=64, threads=1,
                precision=precision, model_params={"channels": (4,)}))
        except Exception:  # only a warm-up: a real failure shows in the timed trainings
            return


def check_seeds(seeds: Any, n_seeds: int) -> list[int]:
    """``None``: ``0..n_seeds-1``; ``n``: ``0..n-1``; else a list of distinct seeds."""
    if seeds is None:
        return list(range(n_seeds))
    if isinstance(seeds, int | np.integer) and not isinstance(seeds, bool):
        return list(range(check_int("seeds", seeds, min_value=1)))
    if isinstance(seeds, str) or not isinstance(seeds, Sequence) or len(seeds) < 1:
        raise ConfigError("seeds", seeds, "an int >= 1 (seeds 0..n-1) or a non-empty list of "
                                          "seeds")
    out = [check_seed(s, "seeds") for s in seeds]
    if len(set(out)) != len(out):
        raise ConfigError("seeds", list(seeds), "distinct seeds")
    return out


def check_tasks(tasks: Sequence[TaskName] | None, cifar_dir: str | Path | None
                ) -> list[ConfirmTask]:
    """The tasks to run (default: every task, plus CIFAR-10 with ``cifar_dir``), distinct."""
    if tasks is None:
        cifar: list[TaskName] = ["cifar10"] if cifar_dir is not None else []
        tasks = [*TASKS, *cifar]
    if isinstance(tasks, str) or not isinstance(tasks, Sequence) or not tasks:
        raise ConfigError("tasks", tasks, f"a non-empty list of {[*TASKS, CIFAR_TASK.name]}")
    specs = [resolve_task(t, cifar_dir) for t in tasks]
    if len({s.name for s in specs}) != len(specs):
        raise ConfigError("tasks", list(tasks), "distinct tasks")
    return specs
