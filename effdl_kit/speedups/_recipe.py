"""Composing methods into recipes, and checkpoints that resume a run exactly.

>>> from effdl_kit.speedups import Recipe
>>> recipe = Recipe(["label_smoothing", "ema"])
>>> config, hooks = recipe.prepare(config)          # doctest: +SKIP
>>> result = train(config, hooks=hooks)             # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from effdl_kit._core.errors import ConfigError, DataError
from effdl_kit.training import (
    DataBundle,
    EpochRecord,
    Hook,
    TrainConfig,
    TrainResult,
    TrainState,
    train,
)

from ._base import SpeedupMethod
from ._mixing import CutMix, LabelSmoothing, MixUp
from ._precision import ChannelsLast, MixedPrecision
from ._schedule import LayerFreezing, ProgressiveResizing, SelectiveBackprop
from ._surgery import BlurPool, StochasticDepth
from ._weights import EMA, SAM

__all__ = [
    "CONFLICTS",
    "METHODS",
    "METHOD_ORDER",
    "Checkpoint",
    "Recipe",
    "load_checkpoint",
    "make_method",
    "save_checkpoint",
    "train_with",
]

#: method name -> class; also the canonical order hooks run in (surgery first, then the
#: batch transforms: resize, mix, smooth, subsample; then step-level methods)
METHODS: dict[str, type[SpeedupMethod]] = {
    "blurpool": BlurPool,
    "stochastic_depth": StochasticDepth,
    "channels_last": ChannelsLast,
    "mixed_precision": MixedPrecision,
    "progressive_resizing": ProgressiveResizing,
    "mixup": MixUp,
    "cutmix": CutMix,
    "label_smoothing": LabelSmoothing,
    "selective_backprop": SelectiveBackprop,
    "layer_freezing": LayerFreezing,
    "sam": SAM,
    "ema": EMA,
}
METHOD_ORDER: tuple[str, ...] = tuple(METHODS)
#: pairs of methods that cannot run together, with the reason
CONFLICTS: dict[frozenset[str], str] = {
    frozenset({"mixup", "cutmix"}): "both replace every batch by a mix of two samples; "
                                    "use one of them",
}


def make_method(name: str, **settings: Any) -> SpeedupMethod:
    """A method by registry name with its settings (``make_method("mixup", alpha=0.2)``).

    Raises
    ------
    ConfigError
        Unknown name, or a setting the method does not take / does not allow.
    """
    if name not in METHODS:
        raise ConfigError("method", name, tuple(METHODS))
    cls = METHODS[name]
    try:
        return cls(**settings)
    except TypeError as exc:
        raise ConfigError(f"{name} settings", sorted(settings), f"the arguments of "
                          f"{cls.__name__}: {exc}") from None


def _as_method(m: SpeedupMethod | str | tuple[str, Mapping[str, Any]]) -> SpeedupMethod:
    if isinstance(m, SpeedupMethod):
        return m
    if isinstance(m, str):
        return make_method(m)
    if isinstance(m, tuple) and len(m) == 2 and isinstance(m[0], str) and isinstance(
            m[1], Mapping):
        return make_method(m[0], **dict(m[1]))
    raise ConfigError("methods", m, "method names, (name, settings) pairs or SpeedupMethod "
                      "objects")


class Recipe:
    """An ordered, checked combination of speedup methods.

    Parameters
    ----------
    methods : iterable
        Method names (``"mixup"``), ``(name, settings)`` pairs, or :class:`SpeedupMethod`
        objects. They run in the canonical :data:`METHOD_ORDER` whatever order is given.

    Raises
    ------
    ConfigError
        An unknown or duplicated method, or an incompatible pair (:data:`CONFLICTS`).
    """

    def __init__(self, methods: Iterable[SpeedupMethod | str | tuple[str, Mapping[str, Any]]]
                 = ()) -> None:
        if isinstance(methods, str | SpeedupMethod):
            methods = [methods]
        items = [_as_method(m) for m in methods]
        names = [m.name for m in items]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ConfigError("methods", dup, "each method at most once")
        for pair, why in CONFLICTS.items():
            if pair <= set(names):
                raise ConfigError("methods", sorted(pair), f"not together: {why}")
        self.methods: list[SpeedupMethod] = sorted(
            items, key=lambda m: METHOD_ORDER.index(m.name) if m.name in METHOD_ORDER
            else len(METHOD_ORDER))

    @property
    def names(self) -> list[str]:
        """Method names in run order."""
        return [m.name for m in self.methods]

    @property
    def label(self) -> str:
        """``"baseline"`` or the names joined by ``+``."""
        return "+".join(self.names) or "baseline"

    def settings(self) -> dict[str, dict[str, Any]]:
        """Each method's settings."""
        return {m.name: m.settings() for m in self.methods}

    def configure(self, config: TrainConfig) -> TrainConfig:
        """Check every method against ``config`` and apply their config changes.

        Raises
        ------
        ConfigError, DeviceNotAvailableError
            A method that cannot run with this config (before anything is trained).
        """
        if not isinstance(config, TrainConfig):
            raise ConfigError("config", type(config).__name__, "a TrainConfig")
        for m in self.methods:
            config = m.configure(config)
        for m in self.methods:
            m.check(config)
        return config

    def hooks(self) -> list[Hook]:
        """The method hooks in run order."""
        return list(self.methods)

    def prepare(self, config: TrainConfig) -> tuple[TrainConfig, list[Hook]]:
        """``(configure(config), hooks())``."""
        return self.configure(config), self.hooks()

    def __repr__(self) -> str:
        return f"Recipe({self.methods!r})"


def train_with(
    recipe: Recipe | Iterable[SpeedupMethod | str],
    config: TrainConfig,
    *,
    data: DataBundle | None = None,
    hooks: Sequence[Hook] = (),
    checkpoint: Checkpoint | None = None,
    progress: bool = False,
) -> TrainResult:
    """Train ``config`` with a recipe; extra ``hooks`` run after the methods, the
    ``checkpoint`` hook last (so it restores state after the methods' surgery)."""
    recipe = recipe if isinstance(recipe, Recipe) else Recipe(recipe)
    config, method_hooks = recipe.prepare(config)
    all_hooks: list[Hook] = [*method_hooks, *hooks]
    if checkpoint is not None:
        checkpoint.methods = list(recipe.methods)
        all_hooks.append(checkpoint)
    return train(config, hooks=all_hooks, data=data, progress=progress)


# --------------------------------------------------------------------- checkpoints


def save_checkpoint(state: TrainState, path: str | Path,
                    methods: Sequence[SpeedupMethod] = ()) -> Path:
    """Write everything a run needs to continue exactly after the current epoch.

    Model, optimizer and scheduler states, the loop's data generator, torch's global RNG
    (dropout), the history, and each method's :meth:`~SpeedupMethod.state_dict`.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "epoch": state.epoch,
        "step": state.step,
        "config": state.config.to_dict(),
        "history": [dataclasses.asdict(r) for r in state.history],
        "model": state.model.state_dict(),
        "optimizer": state.optimizer.state_dict(),
        "scheduler": state.scheduler.state_dict() if state.scheduler is not None else None,
        "generator": state.generator.get_state() if state.generator is not None else None,
        "torch_rng": torch.get_rng_state(),
        "methods": {m.name: m.state_dict() for m in methods},
    }
    torch.save(payload, p)
    return p


def load_checkpoint(state: TrainState, path: str | Path,
                    methods: Sequence[SpeedupMethod] = ()) -> int:
    """Restore :func:`save_checkpoint` into a run at ``on_fit_start``; returns the epoch the
    loop continues at (also set as ``state.start_epoch``).

    Raises
    ------
    DataError
        Missing/corrupt file, a checkpoint of another config, or of another set of methods.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"no checkpoint at {str(p)!r}")
    try:  # tensors and plain containers only: a crafted file cannot run code
        payload = torch.load(p, weights_only=True)
    except Exception as exc:  # any torch failure (UnpicklingError, ...) re-raised as DataError
        raise DataError(f"cannot read checkpoint {str(p)!r}: {exc}") from None
    if not isinstance(payload, dict):
        raise DataError(f"checkpoint {str(p)!r} is not a kit checkpoint (not a dict)")
    if payload.get("config") != state.config.to_dict():
        raise DataError(f"checkpoint {str(p)!r} was written by another TrainConfig")
    names = sorted(m.name for m in methods)
    if sorted(payload.get("methods", {})) != names:
        raise DataError(f"checkpoint {str(p)!r} holds methods "
                        f"{sorted(payload.get('methods', {}))}, this run has {names}")
    state.model.load_state_dict(payload["model"])
    state.optimizer.load_state_dict(payload["optimizer"])
    if state.scheduler is not None and payload["scheduler"] is not None:
        state.scheduler.load_state_dict(payload["scheduler"])
    if state.generator is not None and payload["generator"] is not None:
        state.generator.set_state(payload["generator"])
    torch.set_rng_state(payload["torch_rng"])
    for m in methods:
        m.load_state_dict(payload["methods"][m.name])
    try:
        state.history[:] = [EpochRecord(**r) for r in payload["history"]]
    except (TypeError, KeyError) as exc:
        raise DataError(f"checkpoint {str(p)!r}: malformed history: {exc}") from None
    state.step = int(payload["step"])
    state.start_epoch = int(payload["epoch"]) + 1
    return state.start_epoch


class Checkpoint(Hook):
    """Save a checkpoint at the end of chosen epochs; optionally resume from it first.

    Parameters
    ----------
    path : str or Path
        The checkpoint file (overwritten at every save).
    every : int
        Save after every ``every``-th epoch (``0``: never).
    resume : bool
        At ``on_fit_start``, restore ``path`` when it exists and continue after its epoch.
    methods : sequence of SpeedupMethod
        Whose state to save and restore (:func:`train_with` fills it from the recipe). Put
        this hook after the methods' hooks, so surgery happens before weights are loaded.
    """

    def __init__(self, path: str | Path, *, every: int = 1, resume: bool = False,
                 methods: Sequence[SpeedupMethod] = ()) -> None:
        if not isinstance(every, int) or every < 0:
            raise ConfigError("every", every, "an int >= 0")
        self.path = Path(path)
        self.every = every
        self.resume = bool(resume)
        self.methods = list(methods)
        self.resumed_at: int | None = None

    def on_fit_start(self, state: TrainState) -> None:
        if self.resume and self.path.is_file():
            self.resumed_at = load_checkpoint(state, self.path, self.methods)

    def epoch_end(self, state: TrainState) -> None:
        if self.every and (state.epoch + 1) % self.every == 0:
            save_checkpoint(state, self.path, self.methods)
