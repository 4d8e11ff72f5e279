"""Target- and batch-mixing methods: label smoothing, MixUp, CutMix.

All three accept index targets ``(B,)`` and soft targets ``(B, n_classes)`` and return soft
targets, which the bench's cross-entropy takes as class probabilities, so they compose
(MixUp then label smoothing smooths the mixed targets).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch

from effdl_kit._core.errors import ConfigError
from effdl_kit._core.validate import check_float
from effdl_kit.training import TrainConfig, TrainState

from ._base import RandomMethod, SpeedupMethod, as_soft_targets

__all__ = [
    "CutMix",
    "LabelSmoothing",
    "MixUp",
    "cutmix_batch",
    "mixup_batch",
    "smooth_labels",
]


def smooth_labels(targets: torch.Tensor, n_classes: int, smoothing: float = 0.1) -> torch.Tensor:
    """``(1 - smoothing) * p + smoothing / n_classes`` for index or soft targets ``p``.

    Returns
    -------
    Tensor, shape (B, n_classes), float32
    """
    smoothing = check_float("smoothing", smoothing, min_value=0.0, max_value=1.0,
                            max_inclusive=False)
    p = as_soft_targets(targets, n_classes)
    return p * (1.0 - smoothing) + smoothing / n_classes


def _check_alpha(alpha: float) -> float:
    return check_float("alpha", alpha, min_value=0.0, min_inclusive=False, max_value=1e3)


def mixup_batch(
    inputs: torch.Tensor, targets: torch.Tensor, n_classes: int, *, alpha: float = 1.0,
    rng: np.random.Generator,
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """MixUp (Zhang et al. 2018): a convex combination of the batch and a permutation of it.

    ``lam ~ Beta(alpha, alpha)``; inputs ``lam * x + (1 - lam) * x[perm]``, targets likewise.

    Returns
    -------
    inputs : Tensor, same shape as ``inputs``
    targets : Tensor, shape (B, n_classes)
    lam : float
    """
    alpha = _check_alpha(alpha)
    lam = float(rng.beta(alpha, alpha))
    perm = torch.as_tensor(rng.permutation(len(inputs)), device=inputs.device)
    p = as_soft_targets(targets, n_classes)
    x = inputs * lam + inputs[perm] * (1.0 - lam)
    return x, p * lam + p[perm] * (1.0 - lam), lam


def cutmix_batch(
    inputs: torch.Tensor, targets: torch.Tensor, n_classes: int, *, alpha: float = 1.0,
    rng: np.random.Generator,
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """CutMix (Yun et al. 2019): paste a random box of a permuted batch into each image.

    The box covers a fraction ``1 - lam`` of the image, ``lam ~ Beta(alpha, alpha)``; it is
    clipped at the border and ``lam`` recomputed from the clipped area, which weighs the
    targets.

    Returns
    -------
    inputs : Tensor, shape (B, C, H, W)
    targets : Tensor, shape (B, n_classes)
    lam : float
        The fraction of each image left unchanged.
    """
    alpha = _check_alpha(alpha)
    if inputs.dim() != 4:
        raise ConfigError("inputs", tuple(inputs.shape), "images (B, C, H, W) for CutMix")
    h, w = int(inputs.shape[-2]), int(inputs.shape[-1])
    lam = float(rng.beta(alpha, alpha))
    cut = float(np.sqrt(1.0 - lam))
    ch, cw = round(h * cut), round(w * cut)
    cy, cx = int(rng.integers(0, h)), int(rng.integers(0, w))
    y0, y1 = max(cy - ch // 2, 0), min(cy + ch - ch // 2, h)
    x0, x1 = max(cx - cw // 2, 0), min(cx + cw - cw // 2, w)
    perm = torch.as_tensor(rng.permutation(len(inputs)), device=inputs.device)
    x = inputs.clone()
    x[:, :, y0:y1, x0:x1] = inputs[perm][:, :, y0:y1, x0:x1]
    lam = 1.0 - (y1 - y0) * (x1 - x0) / float(h * w)
    p = as_soft_targets(targets, n_classes)
    return x, p * lam + p[perm] * (1.0 - lam), lam


class LabelSmoothing(SpeedupMethod):
    """Label smoothing.

    Method card
    -----------
    What it changes
        Targets become ``(1 - smoothing) * one_hot + smoothing / n_classes`` before the loss
        (``before_forward``); soft targets from MixUp/CutMix are smoothed too.
    Suggested settings (survey fact sheet)
        ``smoothing=0.1``.
    Measured here
        See the ``survey`` experiment's Pareto table (``survey_frontier``): no cost per step;
        the published verdict is that it improves the trade-off.
    Pitfalls
        Do not combine with ``TrainConfig.label_smoothing > 0`` (smoothing twice): refused.
    """

    name: ClassVar[str] = "label_smoothing"
    needs_classification: ClassVar[bool] = True

    def __init__(self, smoothing: float = 0.1) -> None:
        self.smoothing = check_float("smoothing", smoothing, min_value=0.0, max_value=1.0,
                                     min_inclusive=False, max_inclusive=False)

    def settings(self) -> dict[str, Any]:
        return {"smoothing": self.smoothing}

    def check(self, config: TrainConfig) -> None:
        super().check(config)
        if config.label_smoothing > 0:
            raise ConfigError("label_smoothing", config.label_smoothing,
                              "0.0 when the label_smoothing method is used (it would smooth "
                              "twice)")

    def before_forward(self, state: TrainState) -> None:
        assert state.targets is not None
        state.targets = smooth_labels(state.targets, state.data.output_dim, self.smoothing)


class MixUp(RandomMethod):
    """MixUp.

    Method card
    -----------
    What it changes
        Each batch becomes ``lam * x + (1 - lam) * x[perm]`` with targets mixed the same way,
        ``lam ~ Beta(alpha, alpha)`` (``before_forward``; targets become soft).
    Suggested settings (survey fact sheet)
        ``alpha=1.0`` (CIFAR).
    Measured here
        See the ``survey`` experiment's Pareto table: negligible cost per step; it regularises,
        so it pays off at long budgets and costs accuracy at the shortest ones.
    Pitfalls
        Training accuracy is measured against the mixed targets' argmax; ``alpha <= 0`` is
        refused; MixUp and CutMix together are refused by :class:`Recipe`.
    """

    name: ClassVar[str] = "mixup"
    needs_classification: ClassVar[bool] = True
    seed_offset: ClassVar[int] = 1001

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__()
        self.alpha = _check_alpha(alpha)

    def settings(self) -> dict[str, Any]:
        return {"alpha": self.alpha}

    def before_forward(self, state: TrainState) -> None:
        assert state.inputs is not None and state.targets is not None
        state.inputs, state.targets, _ = mixup_batch(
            state.inputs, state.targets, state.data.output_dim, alpha=self.alpha, rng=self.rng)


class CutMix(RandomMethod):
    """CutMix.

    Method card
    -----------
    What it changes
        A random box of a permuted batch is pasted into each image; targets are mixed by the
        box's area (``before_forward``; targets become soft).
    Suggested settings (survey fact sheet)
        ``alpha=1.0``.
    Measured here
        See the ``survey`` experiment's Pareto table.
    Pitfalls
        Images only (``(B, C, H, W)``); ``alpha <= 0`` refused; not together with MixUp.
    """

    name: ClassVar[str] = "cutmix"
    needs_classification: ClassVar[bool] = True
    needs_cnn: ClassVar[bool] = True
    seed_offset: ClassVar[int] = 1002

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__()
        self.alpha = _check_alpha(alpha)

    def settings(self) -> dict[str, Any]:
        return {"alpha": self.alpha}

    def before_forward(self, state: TrainState) -> None:
        assert state.inputs is not None and state.targets is not None
        state.inputs, state.targets, _ = cutmix_batch(
            state.inputs, state.targets, state.data.output_dim, alpha=self.alpha, rng=self.rng)
