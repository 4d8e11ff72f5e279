"""What every speedup method shares: the hook base class, targets, progress, surgery.

A method is a plain function (``mixup_batch``, ``apply_blurpool``, ...) plus a thin
:class:`SpeedupMethod` hook that calls it at the bench's events (Composer's shape). A method
object knows how to check a :class:`~effdl_kit.training.TrainConfig` before training
(:meth:`SpeedupMethod.check`), how to change it (:meth:`SpeedupMethod.configure`, e.g. mixed
precision) and how to save and restore its own state for a checkpoint
(:meth:`SpeedupMethod.state_dict`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import nullcontext
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from effdl_kit._core.errors import ConfigError
from effdl_kit.training import CLASSIFICATION_DATASETS, Hook, TrainConfig, TrainState

__all__ = [
    "IMAGE_DATASETS",
    "SpeedupMethod",
    "as_soft_targets",
    "autocast_context",
    "per_sample_loss",
    "replace_modules",
    "sync_optimizer",
    "total_steps",
    "training_fraction",
]

#: datasets whose inputs are images ``(B, C, H, W)``
IMAGE_DATASETS: tuple[str, ...] = CLASSIFICATION_DATASETS


class SpeedupMethod(Hook):
    """Base class of the speedup hooks.

    Subclasses set :attr:`name`, override the bench events they need, and may override
    :meth:`check` (raise :class:`~effdl_kit.errors.ConfigError` for a config the method cannot
    work with), :meth:`configure` (return a changed config) and
    :meth:`state_dict` / :meth:`load_state_dict` (what a checkpoint must keep).
    """

    #: registry name (``"mixup"``, ``"ema"``, ...)
    name: ClassVar[str] = "method"
    #: the method needs a classification task
    needs_classification: ClassVar[bool] = False
    #: the method needs image inputs and the bench's CNN
    needs_cnn: ClassVar[bool] = False

    def settings(self) -> dict[str, Any]:
        """The method's settings (JSON types), for tables and provenance."""
        return {}

    def check(self, config: TrainConfig) -> None:
        """Raise :class:`ConfigError` when the method cannot run with ``config``."""
        if self.needs_classification and config.task != "classification":
            raise ConfigError("dataset", config.dataset,
                              f"a classification dataset for {self.name} "
                              f"({', '.join(CLASSIFICATION_DATASETS)})")
        if self.needs_cnn and config.model != "cnn":
            raise ConfigError("model", config.model, f"'cnn' for {self.name} (it changes "
                              "conv layers or image sizes)")

    def configure(self, config: TrainConfig) -> TrainConfig:
        """The config this method trains with (default: unchanged)."""
        return config

    def on_fit_start(self, state: TrainState) -> None:
        """Check the run's config before the first epoch (bad input fails before training)."""
        self.check(state.config)

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint keeps of this method (default: nothing)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` output."""

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.settings().items())
        return f"{type(self).__name__}({args})"


class RandomMethod(SpeedupMethod):
    """A method drawing random numbers from its own seeded generator (checkpointed)."""

    #: added to the run's seed, so methods draw independent streams
    seed_offset: ClassVar[int] = 1000

    def __init__(self) -> None:
        self.rng = np.random.default_rng(0)

    def on_fit_start(self, state: TrainState) -> None:
        super().on_fit_start(state)
        self.rng = np.random.default_rng(state.config.seed + self.seed_offset)

    def state_dict(self) -> dict[str, Any]:
        return {"rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state["rng"]


def training_fraction(state: TrainState) -> float:
    """Fraction of the run elapsed at the current batch, in [0, 1).

    ``(epoch + batch_index / batches_per_epoch) / epochs``: methods with a schedule over the
    run (progressive resizing, selective backprop, layer freezing) scale with the budget.
    """
    n = len(state.data.x_train)
    per_epoch = max(1, math.ceil(n / state.config.batch_size))
    return (state.epoch + state.batch_index / per_epoch) / state.config.epochs


def total_steps(state: TrainState) -> int:
    """Optimizer steps of the whole run."""
    n = len(state.data.x_train)
    return max(1, math.ceil(n / state.config.batch_size)) * state.config.epochs


def as_soft_targets(targets: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Class probabilities ``(B, n_classes)`` float32 from index ``(B,)`` or soft targets.

    Raises
    ------
    ConfigError
        Soft targets whose second dimension is not ``n_classes``.
    """
    if targets.dim() == 1:
        return F.one_hot(targets.long(), n_classes).float()
    if targets.dim() != 2 or targets.shape[1] != n_classes:
        raise ConfigError("targets", tuple(targets.shape),
                          f"class indices (B,) or probabilities (B, {n_classes})")
    return targets.float()


def per_sample_loss(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of each sample ``(B,)`` for index or soft targets."""
    out = outputs.float()
    if targets.dim() == 1:
        return F.cross_entropy(out, targets.long(), reduction="none")
    return -(targets.float() * F.log_softmax(out, dim=1)).sum(dim=1)


def autocast_context(state: TrainState) -> Any:
    """The autocast context the loop uses for ``state.config.precision`` on its device."""
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(state.config.precision)
    if dtype is None:
        return nullcontext()
    return torch.autocast(device_type=state.device.type, dtype=dtype)


def replace_modules(
    model: nn.Module,
    policy: Callable[[nn.Module], nn.Module | None],
    *,
    optimizer: torch.optim.Optimizer | None = None,
) -> int:
    """Model surgery: replace every submodule ``m`` for which ``policy(m)`` returns a module.

    Replacements are not visited again. When an ``optimizer`` is given it is kept consistent
    with the model: parameters no longer in the model are removed from its groups and state,
    parameters new to the model are added to its first group (with fresh state).

    Returns
    -------
    int
        Number of modules replaced.
    """
    count = 0
    stack: list[nn.Module] = [model]
    while stack:
        parent = stack.pop()
        for name, child in list(parent.named_children()):
            new = policy(child)
            if new is not None and new is not child:
                setattr(parent, name, new)
                count += 1
            else:
                stack.append(child)
    if optimizer is not None and count:
        sync_optimizer(model, optimizer)
    return count


def sync_optimizer(model: nn.Module, optimizer: torch.optim.Optimizer) -> tuple[int, int]:
    """Make ``optimizer`` hold exactly the model's parameters (after surgery).

    Returns
    -------
    removed, added : int
    """
    now = {id(p): p for p in model.parameters()}
    removed = 0
    known: set[int] = set()
    for group in optimizer.param_groups:
        keep = []
        for p in group["params"]:
            if id(p) in now:
                keep.append(p)
                known.add(id(p))
            else:
                optimizer.state.pop(p, None)
                removed += 1
        group["params"] = keep
    new = [p for pid, p in now.items() if pid not in known]
    if new:
        optimizer.param_groups[0]["params"].extend(new)
    return removed, len(new)
