"""Per-layer gradient statistics, accumulated on the model's device without host syncs.

A *layer* is one Conv/Linear weight, one LSTM/GRU/RNN layer (its input-hidden and
hidden-hidden weights together, per direction) or one attention input projection. Per batch
the accumulator adds, for every layer at once, the L1 norm and the count of non-zero entries
of the weight gradients: two fused ``torch._foreach_norm`` calls, one ``stack`` and one
``add_`` (``index_add_`` for grouped layers). Nothing leaves the device until
:meth:`GradStats.epoch`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from effdl_kit._core.errors import ConfigError

__all__ = ["EpochGradStats", "GradStats", "WeightLayer", "find_weight_layers"]

_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d,
         nn.ConvTranspose3d)
_RNN = (nn.LSTM, nn.GRU, nn.RNN)


@dataclass(frozen=True)
class WeightLayer:
    """One monitored layer: a name and the weight parameters whose gradients it pools."""

    name: str
    params: tuple[torch.Tensor, ...]

    @property
    def numel(self) -> int:
        return sum(p.numel() for p in self.params)


def find_weight_layers(model: nn.Module) -> list[WeightLayer]:
    """The model's Conv/Linear/RNN/attention weights, in module registration order.

    Registration order is taken as forward order (true for ``nn.Sequential`` and for every
    model of the bench). Parameters with ``requires_grad=False`` are skipped; a parameter
    shared by several modules is counted once.

    Raises
    ------
    ConfigError
        If ``model`` is not an ``nn.Module`` or has no such trainable weight.
    """
    if not isinstance(model, nn.Module):
        raise ConfigError("model", type(model).__name__, "a torch.nn.Module")
    layers: list[WeightLayer] = []
    seen: set[int] = set()

    def add(name: str, params: Sequence[torch.Tensor | None]) -> None:
        ps = tuple(p for p in params
                   if p is not None and p.requires_grad and id(p) not in seen)
        if ps:
            seen.update(id(p) for p in ps)
            layers.append(WeightLayer(name, ps))

    for mod_name, m in model.named_modules():
        label = mod_name or type(m).__name__
        if isinstance(m, (nn.Linear, *_CONV)):
            add(label, [m.weight])
        elif isinstance(m, _RNN):
            for k in range(m.num_layers):
                for sfx in ("", "_reverse") if m.bidirectional else ("",):
                    add(f"{label}.l{k}{sfx}", [getattr(m, f"weight_ih_l{k}{sfx}", None),
                                               getattr(m, f"weight_hh_l{k}{sfx}", None)])
        elif isinstance(m, nn.MultiheadAttention):
            add(f"{label}.in_proj", [m.in_proj_weight, m.q_proj_weight, m.k_proj_weight,
                                     m.v_proj_weight])
            # out_proj is an nn.Linear and is found on its own
    if not layers:
        raise ConfigError("model", type(model).__name__,
                          "a model with at least one trainable Conv/Linear/LSTM/attention weight")
    return layers


@dataclass(frozen=True)
class EpochGradStats:
    """Statistics of one epoch, shape ``(n_layers,)`` each (forward order).

    Attributes
    ----------
    mean_abs : ndarray of float64, shape (n_layers,)
        Mean absolute weight gradient, averaged over the epoch's batches (``g``).
    zero_fraction : ndarray of float64, shape (n_layers,)
        Fraction of exactly-zero gradient entries, averaged over the batches (``z``).
    n_batches : int
        Batches accumulated (0: no gradient seen this epoch; both arrays are NaN).
    """

    mean_abs: np.ndarray
    zero_fraction: np.ndarray
    n_batches: int


class GradStats:
    """On-device accumulator of per-layer gradient statistics.

    Parameters
    ----------
    layers : sequence of WeightLayer
        From :func:`find_weight_layers`.
    """

    def __init__(self, layers: Sequence[WeightLayer]) -> None:
        self.layers = tuple(layers)
        self.params: list[torch.Tensor] = [p for lay in self.layers for p in lay.params]
        group = [i for i, lay in enumerate(self.layers) for _ in lay.params]
        self._grouped = len(self.params) != len(self.layers)
        self._numel = np.array([lay.numel for lay in self.layers], dtype=np.float64)
        n = len(self.layers)
        # rows of the (2 * n_layers,) accumulator: L1 sums, then non-zero counts
        self._group_cpu = torch.tensor(group + [i + n for i in group], dtype=torch.long)
        self._group: torch.Tensor | None = None
        self._acc: torch.Tensor | None = None  # running sums, float32
        self._device: torch.device | None = None
        self.n_batches = 0


    def add(self, grads: Sequence[torch.Tensor | None] | None = None) -> None:
        """Accumulate one batch.

        Parameters
        ----------
        grads : sequence of Tensor or None, optional
            One gradient per monitored parameter (``self.params`` order); default: the
            parameters' ``.grad``. A missing gradient (``None``) counts as all zeros.
        """
        gs = [p.grad for p in self.params] if grads is None else list(grads)
        first = next((g for g in gs if g is not None), None)
        if first is None:
            return
        device = first.device
        if self._device != device:
            self._device = device
            self._group = self._group_cpu.to(device)
            self._acc = torch.zeros(2 * len(self.layers), dtype=torch.float32, device=device)
        ts: list[torch.Tensor] = gs  # type: ignore[assignment]
        if any(g is None or g.device != device for g in gs):  # rare: a slower path
            ts = [torch.zeros(1, device=device) if g is None else g.to(device) for g in gs]
        if all(t.dtype == torch.float32 for t in ts):
            both = torch.stack([*torch._foreach_norm(ts, 1), *torch._foreach_norm(ts, 0)])
        else:  # half precision: an fp16 L1 norm overflows to Inf, an fp32 sum drifts
            wide = torch.float64 if device.type != "mps" else torch.float32
            both = torch.stack([*torch._foreach_norm(ts, 1, dtype=wide),
                                *torch._foreach_norm(ts, 0, dtype=wide)]).float()
        assert self._acc is not None and self._group is not None
        if self._grouped:
            self._acc.index_add_(0, self._group, both)
        else:
            self._acc.add_(both)
        self.n_batches += 1

    def epoch(self) -> EpochGradStats:
        """The epoch's statistics (one device-to-host copy), then reset for the next epoch."""
        n = self.n_batches
        if n == 0 or self._acc is None:
            nan = np.full(len(self.layers), np.nan)
            return EpochGradStats(nan, nan.copy(), 0)
        both = self._acc.cpu().double().numpy().reshape(2, -1)
        self._acc.zero_()
        self.n_batches = 0
        denom = self._numel * n
        mean_abs = both[0] / denom
        zero_fraction = 1.0 - both[1] / denom
        return EpochGradStats(mean_abs, np.clip(zero_fraction, 0.0, 1.0), n)
