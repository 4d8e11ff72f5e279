"""Methods that change how numbers are laid out or computed: channels_last, mixed precision."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from effdl_kit._core.errors import ConfigError, DeviceNotAvailableError
from effdl_kit._core.validate import check_choice
from effdl_kit.training import TrainConfig, TrainState

from ._base import SpeedupMethod

__all__ = [
    "PRECISION_DTYPES",
    "ChannelsLast",
    "MixedPrecision",
    "apply_channels_last",
    "check_precision",
]

#: mixed-precision names -> torch dtypes
PRECISION_DTYPES: dict[str, torch.dtype] = {"bf16": torch.bfloat16, "fp16": torch.float16}


def apply_channels_last(model: nn.Module) -> nn.Module:
    """Convert the model's 4-D parameters and buffers to ``torch.channels_last`` in place.

    The parameter objects stay the same (``Module.to`` swaps their data), so an optimizer
    built before still holds them.
    """
    return model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]


class ChannelsLast(SpeedupMethod):
    """channels_last memory format.

    Method card
    -----------
    What it changes
        Conv weights and each batch of images are stored NHWC (``on_fit_start``,
        ``before_forward``); convolution kernels that prefer NHWC (cuDNN tensor cores, oneDNN)
        skip layout conversions.
    Suggested settings (survey fact sheet)
        Always on for conv nets on GPUs.
    Measured here
        On this 2-core CPU (one intra-op thread) the survey's CNN on 16x16 images trains in
        0.68x the baseline's time with bit-identical accuracy (E1, small scale, 5 seeds,
        ``docs/results/survey_pareto.md``; paired A/A study ``docs/results/survey_aa.md``);
        a 4-channel CNN on 8x8 images shows no time effect. With 5 seeds E1 still calls it
        *within noise* against the tuned frontier: the rule detects a 2x speedup, not 1.5x.
    Pitfalls
        Images only.
    """

    name: ClassVar[str] = "channels_last"
    needs_cnn: ClassVar[bool] = True

    def on_fit_start(self, state: TrainState) -> None:
        super().on_fit_start(state)
        apply_channels_last(state.model)

    def before_forward(self, state: TrainState) -> None:
        if state.inputs is not None and state.inputs.dim() == 4:
            state.inputs = state.inputs.contiguous(memory_format=torch.channels_last)


def check_precision(precision: str, device: str) -> str:
    """Validate a mixed-precision mode for a device.

    Raises
    ------
    ConfigError
        ``precision`` not in ``PRECISION_DTYPES``.
    DeviceNotAvailableError
        ``fp16`` (needs CUDA's gradient scaling) without a CUDA device.
    """
    check_choice("precision", precision, tuple(PRECISION_DTYPES))
    if precision == "fp16":
        if device == "cpu":
            raise DeviceNotAvailableError("precision", "fp16 on cpu (needs cuda)", ("bf16",))
        if not torch.cuda.is_available():
            raise DeviceNotAvailableError("device", "cuda", ("cpu",))
    if device == "cuda" and not torch.cuda.is_available():
        raise DeviceNotAvailableError("device", "cuda", ("cpu",))
    return precision


class MixedPrecision(SpeedupMethod):
    """Mixed precision (autocast).

    Method card
    -----------
    What it changes
        :meth:`configure` sets ``TrainConfig.precision``: the bench runs forward passes
        under ``torch.autocast`` (bf16 on CPU or GPU; fp16 with gradient scaling on CUDA).
    Suggested settings (survey fact sheet)
        ``bf16`` (``fp16`` on GPUs without bf16).
    Measured here
        See the ``survey`` experiment's Pareto table: on a CPU without bf16 matrix units
        autocast adds casts and is usually slower; the published gain is on GPUs.
    Pitfalls
        ``fp16`` without CUDA raises :class:`~effdl_kit.errors.DeviceNotAvailableError`; a
        hook used without :meth:`configure` (``TrainConfig.precision`` left at ``fp32``) is
        refused before training.
    """

    name: ClassVar[str] = "mixed_precision"

    def __init__(self, precision: str = "bf16") -> None:
        self.precision = check_choice("precision", precision, tuple(PRECISION_DTYPES))

    def settings(self) -> dict[str, Any]:
        return {"precision": self.precision}

    def check(self, config: TrainConfig) -> None:
        super().check(config)
        check_precision(self.precision, config.device)

    def configure(self, config: TrainConfig) -> TrainConfig:
        self.check(config)
        return config.replace(precision=self.precision)

    def on_fit_start(self, state: TrainState) -> None:
        super().on_fit_start(state)
        if state.config.precision != self.precision:
            raise ConfigError("precision", state.config.precision,
                              f"{self.precision!r} for the mixed_precision method (build the "
                              "config with Recipe.configure or set TrainConfig.precision)")
