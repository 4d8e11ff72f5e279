"""Model surgery: BlurPool, stochastic depth, and conv factorisation (survey E3).

Surgery runs at ``on_fit_start`` through :func:`~effdl_kit.speedups.replace_modules`, which
keeps the optimizer consistent (removed parameters leave it with their state, new ones join
its first group). Replacement modules keep the replaced module's children under the same
names where they can, so state-dict keys stay stable.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from effdl_kit._core.errors import ConfigError
from effdl_kit._core.validate import check_float
from effdl_kit.training import TrainConfig, TrainState

from ._base import RandomMethod, SpeedupMethod, replace_modules

__all__ = [
    "BlurConv2d",
    "BlurMaxPool2d",
    "BlurPool",
    "DropPathStage",
    "StochasticDepth",
    "apply_blurpool",
    "apply_stochastic_depth",
    "factorize_convs",
    "is_residual_stage",
]


# --------------------------------------------------------------------- BlurPool


def _blur_filter(channels: int) -> torch.Tensor:
    k = torch.tensor([1.0, 2.0, 1.0])
    f = torch.outer(k, k)
    f = f / f.sum()
    return f.expand(channels, 1, 3, 3).contiguous()


def blur_2d(x: torch.Tensor, stride: int = 1) -> torch.Tensor:
    """Depthwise 3x3 binomial blur of ``(B, C, H, W)``, zero-padded by 1, given stride."""
    c = int(x.shape[1])
    f = _blur_filter(c).to(device=x.device, dtype=x.dtype)
    return F.conv2d(x, f, stride=stride, padding=1, groups=c)


class BlurMaxPool2d(nn.Module):
    """Anti-aliased max pooling (Zhang 2019): max pool with stride 1, then blur with stride 2.
    Same output size as ``nn.MaxPool2d(2)`` on even sides; no parameters."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return blur_2d(F.max_pool2d(x, kernel_size=2, stride=1), stride=2)


class BlurConv2d(nn.Module):
    """A strided conv preceded by a blur (the conv keeps its parameters, as ``.conv``)."""

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        self.conv = conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(blur_2d(x))


def apply_blurpool(model: nn.Module, *, optimizer: torch.optim.Optimizer | None = None,
                   replace_maxpools: bool = True, replace_convs: bool = True) -> int:
    """Replace 2x2 max pools with :class:`BlurMaxPool2d` and strided convs with
    :class:`BlurConv2d`; returns the number of replaced modules."""

    def policy(m: nn.Module) -> nn.Module | None:
        if replace_maxpools and isinstance(m, nn.MaxPool2d) and m.kernel_size in (2, (2, 2)):
            return BlurMaxPool2d()
        if (replace_convs and isinstance(m, nn.Conv2d) and m.stride not in (1, (1, 1))
                and m.in_channels >= 4):
            return BlurConv2d(m)
        return None

    return replace_modules(model, policy, optimizer=optimizer)


class BlurPool(SpeedupMethod):
    """BlurPool.

    Method card
    -----------
    What it changes
        Model surgery at ``on_fit_start``: 2x2 max pools become max-pool-stride-1 + blur with
        stride 2, strided convs get a blur in front (anti-aliasing); no new parameters.
    Suggested settings (survey fact sheet)
        Replace max pools and strided convs.
    Measured here
        See the ``survey`` experiment's Pareto table: a little more compute per step.
    Pitfalls
        Needs a model with max pools or strided convs (refused otherwise).
    """

    name: ClassVar[str] = "blurpool"
    needs_cnn: ClassVar[bool] = True

    def check(self, config: TrainConfig) -> None:
        super().check(config)
        if config.spec.pooling != "max":  # type: ignore[union-attr]
            raise ConfigError("model_params.pooling", config.spec.pooling,  # type: ignore[union-attr]
                              "'max' for blurpool (the bench's CNN has no strided convs)")

    def on_fit_start(self, state: TrainState) -> None:
        super().on_fit_start(state)
        apply_blurpool(state.model, optimizer=state.optimizer)


# --------------------------------------------------------------------- stochastic depth


def is_residual_stage(m: nn.Module) -> bool:
    """A bench CNN stage with a skip connection (``body``, ``shortcut``, ``pool``)."""
    return (hasattr(m, "body") and hasattr(m, "pool")
            and isinstance(getattr(m, "shortcut", None), nn.Module))


class DropPathStage(nn.Module):
    """A residual stage whose body is dropped per sample with probability ``drop_rate`` in
    training (kept samples scaled by ``1 / (1 - drop_rate)``); unchanged in eval mode."""

    def __init__(self, stage: nn.Module, drop_rate: float, rng: np.random.Generator) -> None:
        super().__init__()
        self.body: nn.Module = stage.get_submodule("body")
        self.shortcut: nn.Module = stage.get_submodule("shortcut")
        self.pool: nn.Module = stage.get_submodule("pool")
        self.drop_rate = float(drop_rate)
        self.rng = rng

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = self.shortcut(x)
        if self.training and self.drop_rate > 0:
            keep = self.rng.random(int(x.shape[0])) >= self.drop_rate
            mask = torch.as_tensor(keep, dtype=x.dtype, device=x.device)
            y = self.body(x) * (mask / (1.0 - self.drop_rate)).view(-1, 1, 1, 1)
        else:
            y = self.body(x)
        y = y + skip
        if y.shape[-1] >= 2 and y.shape[-2] >= 2:
            y = self.pool(y)
        return y


def apply_stochastic_depth(model: nn.Module, drop_rate: float, rng: np.random.Generator, *,
                           distribution: str = "linear",
                           optimizer: torch.optim.Optimizer | None = None) -> int:
    """Wrap each residual stage in :class:`DropPathStage`; the ``i``-th of ``n`` stages drops
    with ``drop_rate * (i + 1) / n`` (``"linear"``) or ``drop_rate`` (``"uniform"``).

    Returns
    -------
    int
        Number of wrapped stages.
    """
    stages = [m for m in model.modules() if is_residual_stage(m)]
    rates = {id(m): (drop_rate * (i + 1) / len(stages) if distribution == "linear"
                     else drop_rate) for i, m in enumerate(stages)}

    def policy(m: nn.Module) -> nn.Module | None:
        if id(m) in rates and not isinstance(m, DropPathStage):
            return DropPathStage(m, rates[id(m)], rng)
        return None

    return replace_modules(model, policy, optimizer=optimizer)


class StochasticDepth(RandomMethod):
    """Stochastic depth (drop path).

    Method card
    -----------
    What it changes
        Model surgery at ``on_fit_start``: each residual stage's body is dropped per sample
        with a rate growing linearly with depth up to ``drop_rate``; same parameters and
        state-dict keys.
    Suggested settings (survey fact sheet)
        ``drop_rate=0.1``, ``distribution="linear"``.
    Measured here
        See the ``survey`` experiment's Pareto table. Per-sample dropping regularises but
        saves no compute (the body still runs on the whole batch).
    Pitfalls
        Needs residual stages: ``model_params.skip=True`` (refused otherwise).
    """

    name: ClassVar[str] = "stochastic_depth"
    needs_cnn: ClassVar[bool] = True
    seed_offset: ClassVar[int] = 1004

    def __init__(self, drop_rate: float = 0.1, distribution: str = "linear") -> None:
        super().__init__()
        self.drop_rate = check_float("drop_rate", drop_rate, min_value=0.0, max_value=1.0,
                                     max_inclusive=False)
        if distribution not in ("linear", "uniform"):
            raise ConfigError("distribution", distribution, ("linear", "uniform"))
        self.distribution = distribution

    def settings(self) -> dict[str, Any]:
        return {"drop_rate": self.drop_rate, "distribution": self.distribution}

    def check(self, config: TrainConfig) -> None:
        super().check(config)
        if not config.spec.skip:  # type: ignore[union-attr]
            raise ConfigError("model_params.skip", False,
                              "True for stochastic_depth (it drops residual branches)")

    def on_fit_start(self, state: TrainState) -> None:
        super().on_fit_start(state)
        apply_stochastic_depth(state.model, self.drop_rate, self.rng,
                               distribution=self.distribution, optimizer=state.optimizer)


# --------------------------------------------------------------------- factorisation (E3)


class FactorizedConv2d(nn.Module):
    """A ``k x k`` conv as ``k x 1`` (to ``rank`` channels) then ``1 x k`` (spatial
    factorisation): fewer FLOPs and parameters, two kernels instead of one."""

    def __init__(self, conv: nn.Conv2d, rank: int) -> None:
        super().__init__()
        kh, kw = conv.kernel_size
        ph, pw = conv.padding if isinstance(conv.padding, tuple) else (0, 0)
        self.first = nn.Conv2d(conv.in_channels, rank, (kh, 1), stride=(conv.stride[0], 1),
                               padding=(ph, 0), bias=False)
        self.second = nn.Conv2d(rank, conv.out_channels, (1, kw), stride=(1, conv.stride[1]),
                                padding=(0, pw), bias=conv.bias is not None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.second(self.first(x))


def factorize_convs(model: nn.Module, rank_fraction: float = 0.5, *,
                    optimizer: torch.optim.Optimizer | None = None) -> int:
    """Replace every ``k x k`` conv (``k > 1``, integer padding, groups 1) with a
    :class:`FactorizedConv2d` of rank ``ceil(rank_fraction * min(c_in, c_out))``.

    New parameters are freshly initialised (PyTorch's default); with ``optimizer`` given it
    drops the old ones and gains the new ones.

    Returns
    -------
    int
        Number of replaced convs.
    """
    rank_fraction = check_float("rank_fraction", rank_fraction, min_value=0.0, max_value=1.0,
                                min_inclusive=False)

    def policy(m: nn.Module) -> nn.Module | None:
        if (isinstance(m, nn.Conv2d) and m.groups == 1 and isinstance(m.padding, tuple)
                and m.kernel_size[0] > 1 and m.kernel_size[1] > 1):
            rank = max(1, int(np.ceil(rank_fraction * min(m.in_channels, m.out_channels))))
            return FactorizedConv2d(m, rank).to(m.weight.device)
        return None

    return replace_modules(model, policy, optimizer=optimizer)
