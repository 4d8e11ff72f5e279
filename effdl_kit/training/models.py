"""Models of the training bench, built from validated specs.

All models take ``(batch, *input_shape)`` tensors: images ``(B, C, H, W)``; sequences
``(B, T, F)``. Sequence models read an image as a sequence of its rows (``T = H``,
``F = C * W``), the Cifar10LSTM convention.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn

from effdl_kit._core.errors import ConfigError
from effdl_kit.training.config import CNNSpec, LSTMSpec, MLPSpec, TransformerSpec, model_spec

__all__ = [
    "CNN",
    "MLP",
    "LSTMNet",
    "TransformerNet",
    "build_model",
    "count_parameters",
    "estimate_flops",
    "make_activation",
]


def make_activation(name: str) -> nn.Module:
    """An activation module by name (see ``config.ACTIVATIONS``)."""
    table: dict[str, type[nn.Module]] = {
        "relu": nn.ReLU, "leaky_relu": nn.LeakyReLU, "elu": nn.ELU, "gelu": nn.GELU,
        "silu": nn.SiLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid,
    }
    if name not in table:
        raise ConfigError("activation", name, tuple(table))
    return table[name]()


def _norm2d(kind: str, c: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(c)
    if kind == "layer":
        return nn.GroupNorm(1, c)
    if kind == "group":
        groups = max(g for g in (1, 2, 4, 8, 16, 32) if c % g == 0 and g <= c)
        return nn.GroupNorm(groups, c)
    if kind == "instance":
        return nn.InstanceNorm2d(c, affine=True)
    return nn.Identity()


_Nonlin = Literal["relu", "leaky_relu", "linear", "tanh", "sigmoid"]


def _init_weights(model: nn.Module, init: str, bias_init: float, activation: str) -> None:
    nonlinearity: _Nonlin = "relu" if activation == "relu" else (
        "leaky_relu" if activation == "leaky_relu" else "linear"
    )
    gain_of: _Nonlin = "tanh" if activation == "tanh" else (
        "sigmoid" if activation == "sigmoid" else "relu"
    )
    gain = nn.init.calculate_gain(gain_of)
    for m in model.modules():
        if not isinstance(m, nn.Conv2d | nn.Linear):
            continue
        w = m.weight
        if init == "kaiming_normal":
            nn.init.kaiming_normal_(w, nonlinearity=nonlinearity)
        elif init == "kaiming_uniform":
            nn.init.kaiming_uniform_(w, nonlinearity=nonlinearity)
        elif init == "xavier_normal":
            nn.init.xavier_normal_(w, gain=gain)
        elif init == "xavier_uniform":
            nn.init.xavier_uniform_(w, gain=gain)
        elif init == "orthogonal":
            nn.init.orthogonal_(w, gain=gain)
        elif init == "normal":
            nn.init.normal_(w, std=0.02)
        if m.bias is not None and (init != "default" or bias_init != 0.0):
            nn.init.constant_(m.bias, bias_init)


class _Stage(nn.Module):
    def __init__(self, c_in: int, c_out: int, spec: CNNSpec) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = c_in
        for _ in range(spec.convs_per_stage):
            k = spec.kernel_size
            if k % 2 == 0:  # "same" output size for even kernels: pad (k-1) split unevenly
                layers.append(nn.ZeroPad2d(((k - 1) // 2, k // 2, (k - 1) // 2, k // 2)))
            layers += [
                nn.Conv2d(c, c_out, k, padding=k // 2 if k % 2 else 0, bias=spec.norm != "batch"),
                _norm2d(spec.norm, c_out),
                make_activation(spec.activation),
            ]
            c = c_out
        self.body = nn.Sequential(*layers)
        self.shortcut: nn.Module | None = None
        if spec.skip:
            self.shortcut = nn.Identity() if c_in == c_out else nn.Conv2d(c_in, c_out, 1)
        self.pool: nn.Module = {"max": nn.MaxPool2d(2), "avg": nn.AvgPool2d(2)}.get(
            spec.pooling, nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        if self.shortcut is not None:
            y = y + self.shortcut(x)
        if y.shape[-1] >= 2 and y.shape[-2] >= 2:
            y = self.pool(y)
        return y


class CNN(nn.Module):
    """Conv stages then a fully connected head (see :class:`CNNSpec`)."""

    def __init__(self, input_shape: Sequence[int], n_outputs: int, spec: CNNSpec) -> None:
        super().__init__()
        if len(input_shape) != 3:
            raise ConfigError("model", "cnn", f"an image dataset (input (C, H, W), got "
                              f"{tuple(input_shape)})")
        c_in = int(input_shape[0])
        stages = []
        for c in spec.channels:
            stages.append(_Stage(c_in, c, spec))
            c_in = c
        self.features = nn.Sequential(*stages)
        with torch.no_grad():  # eval mode: batch norm on a 1x1 map of one sample is fine
            self.features.eval()
            n_flat = int(self.features(torch.zeros(1, *input_shape)).numel())
            self.features.train()
        head: list[nn.Module] = [nn.Flatten()]
        width_in = n_flat
        for _ in range(spec.fc_layers):
            head += [nn.Dropout(spec.dropout), nn.Linear(width_in, spec.width),
                     make_activation(spec.activation)]
            width_in = spec.width
        head += [nn.Dropout(spec.dropout), nn.Linear(width_in, n_outputs)]
        self.head = nn.Sequential(*head)
        _init_weights(self, spec.init, spec.bias_init, spec.activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class MLP(nn.Module):
    """Fully connected network on the flattened input (see :class:`MLPSpec`)."""

    def __init__(self, input_shape: Sequence[int], n_outputs: int, spec: MLPSpec) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        d = math.prod(int(s) for s in input_shape)
        for h in spec.hidden:
            layers.append(nn.Linear(d, h))
            if spec.norm == "batch":
                layers.append(nn.BatchNorm1d(h))
            elif spec.norm == "layer":
                layers.append(nn.LayerNorm(h))
            layers += [make_activation(spec.activation), nn.Dropout(spec.dropout)]
            d = h
        layers.append(nn.Linear(d, n_outputs))
        self.net = nn.Sequential(*layers)
        _init_weights(self, spec.init, spec.bias_init, spec.activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def _as_sequence(x: torch.Tensor) -> torch.Tensor:
    if x.dim() == 4:  # (B, C, H, W) -> (B, H, C*W)
        b, c, h, w = x.shape
        return x.permute(0, 2, 1, 3).reshape(b, h, c * w)
    return x


def _seq_shape(input_shape: Sequence[int]) -> tuple[int, int]:
    if len(input_shape) == 3:
        c, h, w = (int(s) for s in input_shape)
        return h, c * w
    if len(input_shape) == 2:
        return int(input_shape[0]), int(input_shape[1])
    raise ConfigError("model", "sequence model", "an input of shape (T, F) or (C, H, W)")


class LSTMNet(nn.Module):
    """LSTM classifier/regressor: the last time step's hidden state feeds a linear head."""

    def __init__(self, input_shape: Sequence[int], n_outputs: int, spec: LSTMSpec) -> None:
        super().__init__()
        _, f = _seq_shape(input_shape)
        self.lstm = nn.LSTM(f, spec.hidden_size, num_layers=spec.num_layers, batch_first=True,
                            dropout=spec.dropout if spec.num_layers > 1 else 0.0,
                            bidirectional=spec.bidirectional)
        self.drop = nn.Dropout(spec.dropout)
        self.head = nn.Linear(spec.hidden_size * (2 if spec.bidirectional else 1), n_outputs)
        if spec.init != "default":
            for name, p in self.lstm.named_parameters():
                if name.startswith("weight"):
                    if spec.init.startswith("xavier"):
                        nn.init.xavier_uniform_(p)
                    elif spec.init == "orthogonal":
                        nn.init.orthogonal_(p)
                    elif spec.init.startswith("kaiming"):
                        nn.init.kaiming_uniform_(p)
                    else:
                        nn.init.normal_(p, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(_as_sequence(x))
        return self.head(self.drop(out[:, -1]))


class TransformerNet(nn.Module):
    """Pre-norm Transformer encoder over the sequence, mean-pooled, linear head."""

    def __init__(self, input_shape: Sequence[int], n_outputs: int, spec: TransformerSpec) -> None:
        super().__init__()
        t, f = _seq_shape(input_shape)
        self.embed = nn.Linear(f, spec.d_model)
        self.pos = nn.Parameter(torch.zeros(1, t, spec.d_model))
        nn.init.normal_(self.pos, std=0.02)
        layer = nn.TransformerEncoderLayer(
            spec.d_model, spec.n_heads, spec.dim_feedforward, spec.dropout,
            activation=spec.activation, batch_first=True, norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, spec.n_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(spec.d_model)
        self.head = nn.Linear(spec.d_model, n_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.embed(_as_sequence(x)) + self.pos
        h = self.norm(self.encoder(h))
        return self.head(h.mean(dim=1))


def build_model(
    model: str, model_params: dict[str, object], input_shape: Sequence[int], n_outputs: int
) -> nn.Module:
    """Build ``model`` (``"cnn"``, ``"mlp"``, ``"lstm"``, ``"transformer"``) for a task."""
    spec = model_spec(model, model_params)
    if isinstance(spec, CNNSpec):
        return CNN(input_shape, n_outputs, spec)
    if isinstance(spec, MLPSpec):
        return MLP(input_shape, n_outputs, spec)
    if isinstance(spec, LSTMSpec):
        return LSTMNet(input_shape, n_outputs, spec)
    return TransformerNet(input_shape, n_outputs, spec)


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def _lstm_flops(m: nn.LSTM, seq_len: int) -> int:
    """Multiply-adds x 2 of the LSTM's gate matmuls for one sequence (FlopCounterMode skips
    the fused CPU LSTM kernel)."""
    total = 0
    dirs = 2 if m.bidirectional else 1
    for layer in range(m.num_layers):
        f_in = m.input_size if layer == 0 else m.hidden_size * dirs
        total += dirs * seq_len * 2 * 4 * m.hidden_size * (f_in + m.hidden_size)
    return total


def estimate_flops(model: nn.Module, input_shape: Sequence[int]) -> int:
    """Forward FLOPs for one sample, counted by ``torch.utils.flop_counter.FlopCounterMode``
    (matmuls, convolutions, attention), plus LSTM gate matmuls counted analytically.

    Runs a copy of the model on two zero samples (batch normalisation in train mode needs more
    than one value per channel) and halves the count; the model itself is not touched.
    """
    from torch.utils.flop_counter import FlopCounterMode

    probe = copy.deepcopy(model).cpu().train()  # train mode: no fused inference fast paths
    lstm_seq: list[int] = []

    def _hook(mod: nn.Module, args: tuple[torch.Tensor, ...], out: object) -> None:
        lstm_seq.append(int(args[0].shape[1]) if mod.batch_first else int(args[0].shape[0]))

    lstms = [m for m in probe.modules() if isinstance(m, nn.LSTM)]
    handles = [m.register_forward_hook(_hook) for m in lstms]
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        probe(torch.zeros(2, *input_shape))
    for h in handles:
        h.remove()
    extra = sum(_lstm_flops(m, t) for m, t in zip(lstms, lstm_seq, strict=True))
    return int(counter.get_total_flops()) // 2 + extra
