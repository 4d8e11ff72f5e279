"""Methods acting on the weights and the optimizer step: EMA and SAM."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from effdl_kit._core.errors import ConfigError
from effdl_kit._core.validate import check_float, check_int
from effdl_kit.training import TrainConfig, TrainState

from ._base import SpeedupMethod, autocast_context, total_steps

__all__ = ["EMA", "SAM", "ema_smoothing", "ema_update", "sam_perturbation"]


def ema_smoothing(half_life_steps: float) -> float:
    """Per-step decay whose weight halves after ``half_life_steps`` steps: ``2**(-1/h)``."""
    h = check_float("half_life", half_life_steps, min_value=0.0, min_inclusive=False)
    return float(2.0 ** (-1.0 / h))


@torch.no_grad()
def ema_update(shadow: dict[str, torch.Tensor], model: nn.Module, smoothing: float) -> None:
    """``shadow <- smoothing * shadow + (1 - smoothing) * model`` for float parameters and
    buffers (integer buffers such as BatchNorm's counter are copied)."""
    for name, t in model.state_dict().items():
        s = shadow[name]
        if t.is_floating_point():
            s.mul_(smoothing).add_(t.detach().to(s.dtype), alpha=1.0 - smoothing)
        else:
            s.copy_(t)


class EMA(SpeedupMethod):
    """Exponential moving average of the weights.

    Method card
    -----------
    What it changes
        After every optimizer step a shadow copy of the weights (and BatchNorm buffers)
        moves towards the model with a half-life of ``half_life`` steps; at ``on_fit_end``
        the shadow replaces the weights, so the test score is the average's.
    Suggested settings (survey fact sheet)
        Half-life about 1,000 batches on ImageNet-scale runs. Runs here are a few hundred
        steps, so ``half_life`` may also be a fraction of the run's steps (``0.05`` = 5 %).
    Measured here
        See the ``survey`` experiment's Pareto table: one fused multiply-add over the weights
        per step.
    Pitfalls
        Per-epoch validation scores are the raw model's; the shadow is checkpointed.
    """

    name: ClassVar[str] = "ema"

    def __init__(self, half_life: float = 1000.0, update_interval: int = 1) -> None:
        self.half_life = check_float("half_life", half_life, min_value=0.0,
                                     min_inclusive=False)
        self.update_interval = check_int("update_interval", update_interval, min_value=1)
        self.shadow: dict[str, torch.Tensor] = {}
        self.smoothing = 0.0

    def settings(self) -> dict[str, Any]:
        return {"half_life": self.half_life, "update_interval": self.update_interval}

    def half_life_steps(self, state: TrainState) -> float:
        """The half-life in steps (a value < 1 is a fraction of the run's steps)."""
        if self.half_life < 1.0:
            return max(1.0, self.half_life * total_steps(state))
        return self.half_life

    def on_fit_start(self, state: TrainState) -> None:
        super().on_fit_start(state)
        self.smoothing = ema_smoothing(self.half_life_steps(state) / self.update_interval)
        self.shadow = {k: v.detach().clone() for k, v in state.model.state_dict().items()}

    def after_step(self, state: TrainState) -> None:
        if state.step % self.update_interval == 0:
            ema_update(self.shadow, state.model, self.smoothing)

    def on_fit_end(self, state: TrainState) -> None:
        state.model.load_state_dict(self.shadow)

    def state_dict(self) -> dict[str, Any]:
        return {"shadow": {k: v.clone() for k, v in self.shadow.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.shadow = {k: v.clone() for k, v in state["shadow"].items()}


@torch.no_grad()
def sam_perturbation(params: list[nn.Parameter], rho: float, eps: float = 1e-12
                     ) -> list[torch.Tensor]:
    """SAM's ascent step ``e = rho * g / ||g||`` per parameter (``g`` the current gradients)."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return [torch.zeros_like(p) for p in params]
    norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
    scale = rho / (norm + eps)
    return [p.grad * scale if p.grad is not None else torch.zeros_like(p) for p in params]


class SAM(SpeedupMethod):
    """Sharpness-aware minimisation.

    Method card
    -----------
    What it changes
        At ``after_backward`` every ``interval`` steps: move the weights to ``w + e``
        (``e = rho * g / ||g||``), recompute loss and gradients there on the same batch, move
        back; the optimizer then steps with the perturbed-point gradients. Twice the forward
        and backward cost on those steps.
    Suggested settings (survey fact sheet)
        ``rho=0.05``, ``interval=1`` (the survey's trade-off gains use ``interval > 1``).
    Measured here
        See the ``survey`` experiment's Pareto table.
    Pitfalls
        Not with ``fp16`` (gradient scaling): refused. The reported loss is the first pass'.
    """

    name: ClassVar[str] = "sam"

    def __init__(self, rho: float = 0.05, interval: int = 1, epsilon: float = 1e-12) -> None:
        self.rho = check_float("rho", rho, min_value=0.0, min_inclusive=False)
        self.interval = check_int("interval", interval, min_value=1)
        self.epsilon = check_float("epsilon", epsilon, min_value=0.0, min_inclusive=False)

    def settings(self) -> dict[str, Any]:
        return {"rho": self.rho, "interval": self.interval}

    def check(self, config: TrainConfig) -> None:
        super().check(config)
        if config.precision == "fp16":
            raise ConfigError("precision", "fp16", "'fp32' or 'bf16' with sam (its second "
                              "backward pass is not gradient-scaled)")

    def after_backward(self, state: TrainState) -> None:
        if state.step % self.interval != 0:
            return
        assert state.inputs is not None and state.targets is not None
        params = [p for p in state.model.parameters() if p.requires_grad]
        e = sam_perturbation(params, self.rho, self.epsilon)
        with torch.no_grad():
            for p, d in zip(params, e, strict=True):
                p.add_(d)
        state.optimizer.zero_grad(set_to_none=True)
        with torch.enable_grad(), autocast_context(state):
            out = state.model(state.inputs)
        state.loss_fn(out, state.targets).backward()
        with torch.no_grad():
            for p, d in zip(params, e, strict=True):
                p.sub_(d)
