"""Methods that follow a schedule over the run: progressive resizing, selective backprop,
layer freezing. Their schedules are fractions of the run, so they scale with the budget."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from effdl_kit._core.errors import ConfigError
from effdl_kit._core.validate import check_float, check_int
from effdl_kit.training import TrainState

from ._base import (
    RandomMethod,
    SpeedupMethod,
    autocast_context,
    per_sample_loss,
    training_fraction,
)

__all__ = [
    "LayerFreezing",
    "ProgressiveResizing",
    "SelectiveBackprop",
    "freeze_fraction",
    "freeze_layers",
    "progressive_scale",
    "resize_batch",
    "select_by_loss",
    "selective_backprop_active",
]


def _frac(name: str, v: float) -> float:
    return check_float(name, v, min_value=0.0, max_value=1.0)


# --------------------------------------------------------------------- progressive resizing


def progressive_scale(
    fraction: float, *, initial_scale: float = 0.5, delay_fraction: float = 0.5,
    finetune_fraction: float = 0.2,
) -> float:
    """Image scale at ``fraction`` of the run (Composer's schedule).

    ``initial_scale`` until ``delay_fraction``, then linear up to 1 at
    ``1 - finetune_fraction``, then 1.
    """
    ramp = 1.0 - finetune_fraction - delay_fraction
    if fraction < delay_fraction:
        return initial_scale
    if ramp <= 0 or fraction >= 1.0 - finetune_fraction:
        return 1.0
    t = (fraction - delay_fraction) / ramp
    return initial_scale + (1.0 - initial_scale) * min(max(t, 0.0), 1.0)


def resize_batch(inputs: torch.Tensor, scale: float, *, size_increment: int = 4) -> torch.Tensor:
    """Bilinear resize of images ``(B, C, H, W)`` by ``scale``; sides rounded to a multiple of
    ``size_increment`` (at least one increment). ``scale >= 1`` returns the input."""
    if inputs.dim() != 4:
        raise ConfigError("inputs", tuple(inputs.shape), "images (B, C, H, W) to resize")
    if scale >= 1.0:
        return inputs
    h, w = int(inputs.shape[-2]), int(inputs.shape[-1])

    def side(s: int) -> int:
        return min(s, max(size_increment, round(s * scale / size_increment) * size_increment))

    size = (side(h), side(w))
    if size == (h, w):
        return inputs
    return F.interpolate(inputs, size=size, mode="bilinear", align_corners=False,
                         antialias=False)


class ProgressiveResizing(SpeedupMethod):
    """Progressive resizing.

    Method card
    -----------
    What it changes
        Train on downscaled images first (``initial_scale`` until ``delay_fraction`` of the
        run), grow them linearly, finish at full size for the last ``finetune_fraction``
        (``before_forward``). The bench's CNN flattens its features into the head, so on
        ``on_fit_start`` a forward pre-hook on the first ``nn.Flatten`` pools smaller feature
        maps to the full-size map (no parameter changes; a no-op at full size).
    Suggested settings (survey fact sheet)
        ``initial_scale=0.5, delay_fraction=0.5, finetune_fraction=0.2, size_increment=4``.
    Measured here
        See the ``survey`` experiment's Pareto table: cheaper early epochs (fewer pixels).
    Pitfalls
        Resizing runs on the batch tensor on the training device (no CPU-side resizing
        bottleneck); images only.
    """

    name: ClassVar[str] = "progressive_resizing"
    needs_cnn: ClassVar[bool] = True

    def __init__(self, initial_scale: float = 0.5, delay_fraction: float = 0.5,
                 finetune_fraction: float = 0.2, size_increment: int = 4) -> None:
        self.initial_scale = check_float("initial_scale", initial_scale, min_value=0.0,
                                         max_value=1.0, min_inclusive=False)
        self.delay_fraction = _frac("delay_fraction", delay_fraction)
        self.finetune_fraction = _frac("finetune_fraction", finetune_fraction)
        if self.delay_fraction + self.finetune_fraction > 1.0:
            raise ConfigError("finetune_fraction", finetune_fraction,
                              f"at most 1 - delay_fraction = {1 - self.delay_fraction:g}")
        self.size_increment = check_int("size_increment", size_increment, min_value=1)
        self._handle: Any = None

    def settings(self) -> dict[str, Any]:
        return {"initial_scale": self.initial_scale, "delay_fraction": self.delay_fraction,
                "finetune_fraction": self.finetune_fraction,
                "size_increment": self.size_increment}

    def on_fit_start(self, state: TrainState) -> None:
        super().on_fit_start(state)
        model = state.model
        flatten = next((m for m in model.modules() if isinstance(m, nn.Flatten)), None)
        if flatten is None:
            return
        seen: list[tuple[int, int]] = []
        probe = flatten.register_forward_pre_hook(
            lambda _m, args: seen.append(tuple(args[0].shape[-2:])) if args[0].dim() == 4
            else None)
        was_training = model.training
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, *state.data.input_shape, device=state.device))
        model.train(was_training)
        probe.remove()
        if not seen:
            return
        ref = seen[0]

        def pool(_m: nn.Module, args: tuple[torch.Tensor, ...]) -> Any:
            x = args[0]
            if x.dim() == 4 and tuple(x.shape[-2:]) != ref:
                return (F.adaptive_avg_pool2d(x, ref),)
            return None

        self._handle = flatten.register_forward_pre_hook(pool)

    def before_forward(self, state: TrainState) -> None:
        assert state.inputs is not None
        scale = progressive_scale(training_fraction(state), initial_scale=self.initial_scale,
                                  delay_fraction=self.delay_fraction,
                                  finetune_fraction=self.finetune_fraction)
        state.inputs = resize_batch(state.inputs, scale, size_increment=self.size_increment)

    def on_fit_end(self, state: TrainState) -> None:
        if self._handle is not None:  # evaluation runs at full size anyway
            self._handle.remove()
            self._handle = None


# --------------------------------------------------------------------- selective backprop


def selective_backprop_active(
    fraction: float, batch_index: int, *, start: float = 0.5, end: float = 0.9,
    interrupt: int = 2,
) -> bool:
    """Whether the batch is subsampled: inside ``[start, end)`` of the run and not one of the
    every-``interrupt``-th batches kept whole (``interrupt=0``: none kept whole)."""
    if not start <= fraction < end:
        return False
    return not (interrupt > 0 and batch_index % interrupt == interrupt - 1)


def select_by_loss(losses: torch.Tensor, keep: float, rng: Any) -> torch.Tensor:
    """Indices of ``ceil(keep * B)`` samples drawn without replacement with probability
    proportional to the percentile of their loss (Jiang et al. 2019; Composer).

    Parameters
    ----------
    losses : Tensor, shape (B,)
    keep : float in (0, 1]
    rng : numpy.random.Generator
    """
    n = int(losses.shape[0])
    k = max(1, math.ceil(keep * n))
    if k >= n:
        return torch.arange(n, device=losses.device)
    order = torch.argsort(losses.detach().float().cpu())
    ranks = torch.empty(n, dtype=torch.float64)
    ranks[order] = torch.arange(1, n + 1, dtype=torch.float64)
    p = (ranks / ranks.sum()).numpy()
    idx = rng.choice(n, size=k, replace=False, p=p)
    return torch.as_tensor(sorted(idx.tolist()), device=losses.device)


class SelectiveBackprop(RandomMethod):
    """Selective backprop.

    Method card
    -----------
    What it changes
        Between ``start`` and ``end`` of the run (except every ``interrupt``-th batch), a
        no-grad forward pass scores the batch and only ``keep`` of it, drawn by loss
        percentile, goes through the real forward and backward pass (``before_forward``
        replaces inputs and targets).
    Suggested settings (survey fact sheet)
        ``start=0.5, end=0.9, keep=0.5, interrupt=2``.
    Measured here
        See the ``survey`` experiment's Pareto table: a subsampled step costs one no-grad
        forward pass on the batch plus forward and backward on half of it.
    Pitfalls
        The scoring pass runs in train mode (BatchNorm statistics see the whole batch, as in
        Composer); works with index and soft targets (per-sample soft cross-entropy).
    """

    name: ClassVar[str] = "selective_backprop"
    needs_classification: ClassVar[bool] = True
    seed_offset: ClassVar[int] = 1003

    def __init__(self, start: float = 0.5, end: float = 0.9, keep: float = 0.5,
                 interrupt: int = 2) -> None:
        super().__init__()
        self.start = _frac("start", start)
        self.end = _frac("end", end)
        if self.end <= self.start:
            raise ConfigError("end", end, f"a fraction > start={self.start:g}")
        self.keep = check_float("keep", keep, min_value=0.0, max_value=1.0, min_inclusive=False)
        self.interrupt = check_int("interrupt", interrupt, min_value=0)

    def settings(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "keep": self.keep,
                "interrupt": self.interrupt}

    def before_forward(self, state: TrainState) -> None:
        assert state.inputs is not None and state.targets is not None
        if not selective_backprop_active(training_fraction(state), state.batch_index,
                                         start=self.start, end=self.end,
                                         interrupt=self.interrupt):
            return
        with torch.no_grad(), autocast_context(state):
            losses = per_sample_loss(state.model(state.inputs), state.targets)
        idx = select_by_loss(losses, self.keep, self.rng)
        state.inputs = state.inputs[idx]
        state.targets = state.targets[idx]


# --------------------------------------------------------------------- layer freezing


def _layers(model: nn.Module) -> list[nn.Module]:
    """Parameter-holding leaf modules in forward-definition order."""
    return [m for m in model.modules()
            if not list(m.children()) and any(True for _ in m.parameters(recurse=False))]


def freeze_fraction(fraction: float, *, freeze_start: float = 0.5,
                    freeze_level: float = 1.0) -> float:
    """Fraction of layers frozen at ``fraction`` of the run (linear from ``freeze_start``)."""
    if fraction < freeze_start or freeze_start >= 1.0:
        return 0.0
    return freeze_level * (fraction - freeze_start) / (1.0 - freeze_start)


def freeze_layers(model: nn.Module, fraction: float) -> int:
    """Freeze the first ``floor(fraction * n_layers)`` parameter layers (the last one never).

    Frozen parameters get ``requires_grad=False`` and no gradient; they stay in the optimizer
    with their state untouched (optimizers skip parameters without gradients), so a checkpoint
    or a later unfreeze finds the optimizer consistent.

    Returns
    -------
    int
        Number of frozen layers.
    """
    layers = _layers(model)
    n = min(len(layers) - 1, math.floor(fraction * len(layers) + 1e-9))
    for i, layer in enumerate(layers):
        for p in layer.parameters(recurse=False):
            frozen = i < n
            p.requires_grad_(not frozen)
            if frozen:
                p.grad = None
    return max(n, 0)


class LayerFreezing(SpeedupMethod):
    """Layer freezing.

    Method card
    -----------
    What it changes
        From ``freeze_start`` of the run, the earliest layers stop training, linearly more up
        to ``freeze_level`` of them at the end (checked at every epoch's first batch); their
        backward pass is skipped.
    Suggested settings (survey fact sheet)
        ``freeze_start=0.5, freeze_level=1.0`` (the last layer always trains).
    Measured here
        See the ``survey`` experiment's Pareto table; the published verdict is that it does
        not improve the trade-off.
    Pitfalls
        Optimizer state stays consistent: frozen parameters stay in their groups untouched.
    """

    name: ClassVar[str] = "layer_freezing"

    def __init__(self, freeze_start: float = 0.5, freeze_level: float = 1.0) -> None:
        self.freeze_start = _frac("freeze_start", freeze_start)
        self.freeze_level = _frac("freeze_level", freeze_level)
        self.n_frozen = 0

    def settings(self) -> dict[str, Any]:
        return {"freeze_start": self.freeze_start, "freeze_level": self.freeze_level}

    def on_fit_start(self, state: TrainState) -> None:
        super().on_fit_start(state)
        self.n_frozen = 0

    def before_forward(self, state: TrainState) -> None:
        if state.batch_index != 0:  # re-evaluated at each epoch's first batch (and on resume)
            return
        self.n_frozen = freeze_layers(state.model, freeze_fraction(
            training_fraction(state), freeze_start=self.freeze_start,
            freeze_level=self.freeze_level))

    def on_fit_end(self, state: TrainState) -> None:
        for p in state.model.parameters():
            p.requires_grad_(True)
