"""Module specifications: one DL module type plus its sampling parameters.

A :class:`ModuleSpec` is validated when made (:func:`make_spec`), so bad input (a non-positive
dimension, a kernel larger than the padded input, an unknown module type) fails before any
module is built or timed. It knows its input and output shapes and its *inferable parameters*
(FLOPs, parameter count, input/output/weight bytes, all float32) and builds the PyTorch module.

Module types and their sampling parameters (all integers; ``batch`` everywhere):

============  ==============================================================================
conv2d        ``channels`` (C_in), ``out_channels``, ``hw`` (H = W), ``kernel_size``,
              ``stride``, ``padding``; input ``(batch, channels, hw, hw)``
linear        ``in_features``, ``out_features``; input ``(batch, in_features)``
maxpool2d     ``channels``, ``hw``, ``kernel_size``, ``stride``
avgpool2d     ``channels``, ``hw``, ``kernel_size``, ``stride``
batchnorm2d   ``channels``, ``hw`` (eval mode: running statistics)
relu          ``channels``, ``hw``
lstm          ``seq_len``, ``input_size``, ``hidden_size`` (one layer, batch first)
mha           ``seq_len``, ``embed_dim``, ``num_heads`` (self-attention, batch first)
============  ==============================================================================

FLOPs count a multiply-add as two; pooling counts one operation per window element, ReLU one
per element, BatchNorm two per element (scale and shift), LSTM ``8 h (in + h) + 10 h`` per
step, multi-head attention ``8 T E² + 4 T² E`` per sequence (projections, scores, weighted sum).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from effdl_kit._core.errors import ConfigError

__all__ = [
    "MODULE_PARAMS",
    "MODULE_TYPES",
    "ModuleCall",
    "ModuleSpec",
    "make_spec",
    "module_specs_from_model",
    "normalize_module_type",
]

#: module type -> its sampling parameters, in order
MODULE_PARAMS: dict[str, tuple[str, ...]] = {
    "conv2d": ("batch", "channels", "out_channels", "hw", "kernel_size", "stride", "padding"),
    "linear": ("batch", "in_features", "out_features"),
    "maxpool2d": ("batch", "channels", "hw", "kernel_size", "stride"),
    "avgpool2d": ("batch", "channels", "hw", "kernel_size", "stride"),
    "batchnorm2d": ("batch", "channels", "hw"),
    "relu": ("batch", "channels", "hw"),
    "lstm": ("batch", "seq_len", "input_size", "hidden_size"),
    "mha": ("batch", "seq_len", "embed_dim", "num_heads"),
}
MODULE_TYPES: tuple[str, ...] = tuple(MODULE_PARAMS)
_ALIASES = {
    "multiheadattention": "mha",
    "multihead_attention": "mha",
    "conv": "conv2d",
    "batchnorm": "batchnorm2d",
}
_BYTES = 4  # float32


def normalize_module_type(module_type: Any, field: str = "module_type") -> str:
    """Canonical module type (``"Conv2d"`` -> ``"conv2d"``, ``"MultiheadAttention"`` -> ``"mha"``).

    Raises
    ------
    ConfigError
        Not one of :data:`MODULE_TYPES` (the error lists them).
    """
    if isinstance(module_type, str):
        key = module_type.strip().lower()
        key = _ALIASES.get(key, key)
        if key in MODULE_PARAMS:
            return key
    raise ConfigError(field, module_type, MODULE_TYPES)


@dataclass(frozen=True)
class ModuleSpec:
    """A validated module type with its sampling parameters (see :func:`make_spec`)."""

    module_type: str
    params: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        mt = normalize_module_type(self.module_type)
        object.__setattr__(self, "module_type", mt)
        object.__setattr__(self, "params", _check_params(mt, self.params))

    def __getitem__(self, key: str) -> int:
        return int(self.params[key])

    # ------------------------------------------------------------------ shapes
    @property
    def input_shape(self) -> tuple[int, ...]:
        p, t = self.params, self.module_type
        if t in ("conv2d", "maxpool2d", "avgpool2d", "batchnorm2d", "relu"):
            return (p["batch"], p["channels"], p["hw"], p["hw"])
        if t == "linear":
            return (p["batch"], p["in_features"])
        if t == "lstm":
            return (p["batch"], p["seq_len"], p["input_size"])
        return (p["batch"], p["seq_len"], p["embed_dim"])

    @property
    def output_shape(self) -> tuple[int, ...]:
        p, t = self.params, self.module_type
        if t == "conv2d":
            ho = (p["hw"] + 2 * p["padding"] - p["kernel_size"]) // p["stride"] + 1
            return (p["batch"], p["out_channels"], ho, ho)
        if t in ("maxpool2d", "avgpool2d"):
            ho = (p["hw"] - p["kernel_size"]) // p["stride"] + 1
            return (p["batch"], p["channels"], ho, ho)
        if t == "linear":
            return (p["batch"], p["out_features"])
        if t == "lstm":
            return (p["batch"], p["seq_len"], p["hidden_size"])
        return self.input_shape  # batchnorm2d, relu, mha

    # ------------------------------------------------------------------ inferable
    @property
    def n_params(self) -> int:
        """Learnable parameters of the module."""
        p, t = self.params, self.module_type
        if t == "conv2d":
            return p["out_channels"] * p["channels"] * p["kernel_size"] ** 2 + p["out_channels"]
        if t == "linear":
            return p["in_features"] * p["out_features"] + p["out_features"]
        if t == "batchnorm2d":
            return 2 * p["channels"]
        if t == "lstm":
            h = p["hidden_size"]
            return 4 * h * (p["input_size"] + h) + 8 * h
        if t == "mha":
            e = p["embed_dim"]
            return 4 * e * e + 4 * e
        return 0

    @property
    def flops(self) -> int:
        """Floating-point operations of one forward call (see the module docstring)."""
        p, t = self.params, self.module_type
        out = math.prod(self.output_shape)
        if t == "conv2d":
            return 2 * out * p["channels"] * p["kernel_size"] ** 2
        if t == "linear":
            return 2 * p["batch"] * p["in_features"] * p["out_features"]
        if t in ("maxpool2d", "avgpool2d"):
            return out * p["kernel_size"] ** 2
        if t == "batchnorm2d":
            return 2 * out
        if t == "relu":
            return out
        if t == "lstm":
            h = p["hidden_size"]
            return p["batch"] * p["seq_len"] * (8 * h * (p["input_size"] + h) + 10 * h)
        tl, e = p["seq_len"], p["embed_dim"]
        return p["batch"] * (8 * tl * e * e + 4 * tl * tl * e)

    @property
    def weight_bytes(self) -> int:
        """Parameters plus buffers (BatchNorm running statistics), float32."""
        extra = 2 * self.params["channels"] if self.module_type == "batchnorm2d" else 0
        return _BYTES * (self.n_params + extra)

    @property
    def input_bytes(self) -> int:
        return _BYTES * math.prod(self.input_shape)

    @property
    def output_bytes(self) -> int:
        return _BYTES * math.prod(self.output_shape)

    @property
    def memory_bytes(self) -> int:
        """Rough peak memory of a forward call: input + output + weights (+ LSTM/MHA work)."""
        work = 0
        p = self.params
        if self.module_type == "lstm":
            work = _BYTES * p["batch"] * p["seq_len"] * 4 * p["hidden_size"]
        elif self.module_type == "mha":
            work = _BYTES * p["batch"] * (p["num_heads"] * p["seq_len"] ** 2
                                          + 3 * p["seq_len"] * p["embed_dim"])
        return self.input_bytes + self.output_bytes + self.weight_bytes + work

    def inferable(self) -> dict[str, int]:
        """The inferable parameters: ``flops, n_params, input_bytes, output_bytes,
        weight_bytes``."""
        return {"flops": self.flops, "n_params": self.n_params,
                "input_bytes": self.input_bytes, "output_bytes": self.output_bytes,
                "weight_bytes": self.weight_bytes}

    # ------------------------------------------------------------------ module
    def build(self) -> Any:
        """The PyTorch module (default initialisation; float32, CPU, eval mode)."""
        from torch import nn

        from effdl_kit.measure._nn import LSTMOutput, SelfAttention

        p, t = self.params, self.module_type
        mod: nn.Module
        if t == "conv2d":
            mod = nn.Conv2d(p["channels"], p["out_channels"], p["kernel_size"],
                            stride=p["stride"], padding=p["padding"])
        elif t == "linear":
            mod = nn.Linear(p["in_features"], p["out_features"])
        elif t == "maxpool2d":
            mod = nn.MaxPool2d(p["kernel_size"], stride=p["stride"])
        elif t == "avgpool2d":
            mod = nn.AvgPool2d(p["kernel_size"], stride=p["stride"])
        elif t == "batchnorm2d":
            mod = nn.BatchNorm2d(p["channels"])
        elif t == "relu":
            mod = nn.ReLU()
        elif t == "lstm":
            mod = LSTMOutput(p["input_size"], p["hidden_size"])
        else:
            mod = SelfAttention(p["embed_dim"], p["num_heads"])
        return mod.eval()

    def to_dict(self) -> dict[str, Any]:
        return {"module_type": self.module_type, **{k: int(v) for k, v in self.params.items()}}


def make_spec(module_type: str, **params: int) -> ModuleSpec:
    """A validated :class:`ModuleSpec`.

    Raises
    ------
    ConfigError
        Unknown module type; a missing, unknown, non-integer or non-positive parameter
        (``padding`` may be 0); a kernel larger than the (padded) input; ``padding`` above
        half the kernel for pooling; ``embed_dim`` not divisible by ``num_heads``.
    """
    return ModuleSpec(module_type, params)


def _check_params(mt: str, params: Mapping[str, Any]) -> dict[str, int]:
    if not isinstance(params, Mapping):
        raise ConfigError("params", params, f"a mapping of {MODULE_PARAMS[mt]}")
    names = MODULE_PARAMS[mt]
    for k in params:
        if k not in names:
            raise ConfigError(f"{mt}.{k}" if isinstance(k, str) else "params", k, names)
    out: dict[str, int] = {}
    for k in names:
        if k not in params:
            raise ConfigError(f"{mt}.{k}", None, "an integer >= 0" if k == "padding"
                              else "an integer >= 1")
        v = params[k]
        lo = 0 if k == "padding" else 1
        try:
            if isinstance(v, bool):
                raise TypeError
            iv = operator.index(v)  # ints and numpy integers; floats and strings refused
        except TypeError:
            raise ConfigError(k, v, f"an integer >= {lo}") from None
        if iv < lo:
            raise ConfigError(k, v, f"an integer >= {lo}")
        out[k] = iv
    if mt == "conv2d":
        if out["kernel_size"] > out["hw"] + 2 * out["padding"]:
            raise ConfigError("kernel_size", out["kernel_size"],
                              f"<= hw + 2 * padding = {out['hw'] + 2 * out['padding']} "
                              "(a kernel larger than the padded input)")
    elif mt in ("maxpool2d", "avgpool2d") and out["kernel_size"] > out["hw"]:
        raise ConfigError("kernel_size", out["kernel_size"],
                          f"<= hw = {out['hw']} (a kernel larger than the input)")
    if mt == "mha" and out["embed_dim"] % out["num_heads"]:
        raise ConfigError("num_heads", out["num_heads"],
                          f"a divisor of embed_dim = {out['embed_dim']}")
    return out


@dataclass(frozen=True)
class ModuleCall:
    """One leaf module called during a forward pass (see :func:`module_specs_from_model`).

    ``spec`` is None for a module the framework does not predict (``reason`` says why).
    """

    name: str
    torch_type: str
    spec: ModuleSpec | None
    reason: str = ""


def _square(v: Any) -> int | None:
    if isinstance(v, int):
        return v
    if isinstance(v, Sequence) and len(v) == 2 and v[0] == v[1]:
        return int(v[0])
    return None


def _spec_of(mod: Any, args: tuple[Any, ...]) -> tuple[ModuleSpec | None, str]:
    from torch import nn

    if not args or not hasattr(args[0], "shape"):
        return None, "no tensor input"
    shape = tuple(int(s) for s in args[0].shape)
    if isinstance(mod, nn.Conv2d | nn.MaxPool2d | nn.AvgPool2d | nn.BatchNorm2d | nn.ReLU):
        if len(shape) != 4 or shape[2] != shape[3]:
            return None, f"input {shape} is not (B, C, H, H)"
        b, c, h = shape[0], shape[1], shape[2]
        if isinstance(mod, nn.Conv2d):
            k, s, p = _square(mod.kernel_size), _square(mod.stride), _square(mod.padding)
            if (None in (k, s, p) or mod.groups != 1 or _square(mod.dilation) != 1
                    or mod.padding_mode != "zeros"):
                return None, "non-square, grouped, dilated or non-zero-padded convolution"
            return make_spec("conv2d", batch=b, channels=c, out_channels=mod.out_channels,
                             hw=h, kernel_size=k, stride=s, padding=p), ""  # type: ignore[arg-type]
        if isinstance(mod, nn.MaxPool2d | nn.AvgPool2d):
            k, s = _square(mod.kernel_size), _square(mod.stride)
            if k is None or s is None or _square(mod.padding) != 0 or getattr(
                    mod, "ceil_mode", False):
                return None, "pooling with padding, ceil mode or non-square windows"
            t = "maxpool2d" if isinstance(mod, nn.MaxPool2d) else "avgpool2d"
            return make_spec(t, batch=b, channels=c, hw=h, kernel_size=k, stride=s), ""
        t = "batchnorm2d" if isinstance(mod, nn.BatchNorm2d) else "relu"
        return make_spec(t, batch=b, channels=c, hw=h), ""
    if isinstance(mod, nn.Linear):
        return make_spec("linear", batch=math.prod(shape[:-1]), in_features=mod.in_features,
                         out_features=mod.out_features), ""
    if isinstance(mod, nn.LSTM):
        if mod.num_layers != 1 or mod.bidirectional or not mod.batch_first or len(shape) != 3:
            return None, "only one-layer, one-direction, batch-first LSTMs"
        return make_spec("lstm", batch=shape[0], seq_len=shape[1], input_size=mod.input_size,
                         hidden_size=mod.hidden_size), ""
    if isinstance(mod, nn.MultiheadAttention):
        if not mod.batch_first or len(shape) != 3:
            return None, "only batch-first multi-head attention"
        return make_spec("mha", batch=shape[0], seq_len=shape[1], embed_dim=mod.embed_dim,
                         num_heads=mod.num_heads), ""
    return None, f"{type(mod).__name__} is not a predicted module type"


def module_specs_from_model(model: Any, input_shape: Sequence[int]) -> list[ModuleCall]:
    """The leaf modules a model calls on an input of ``input_shape``, in call order.

    One forward pass (eval, inference mode, random input) with hooks on every leaf module
    (``nn.MultiheadAttention`` counts as a leaf). Each call becomes a :class:`ModuleCall`
    whose ``spec`` is None for modules the framework does not predict (LayerNorm, GELU, ...).
    """
    import torch
    from torch import nn

    if not isinstance(model, nn.Module):
        raise ConfigError("model", type(model).__name__, "a torch.nn.Module")
    shape = _check_shape(input_shape)
    calls: list[ModuleCall] = []
    inside_mha: set[int] = set()
    for m in model.modules():
        if isinstance(m, nn.MultiheadAttention):
            inside_mha.update(id(c) for c in m.modules() if c is not m)
    handles = []
    for name, m in model.named_modules():
        is_leaf = not any(True for _ in m.children()) or isinstance(m, nn.MultiheadAttention)
        if not is_leaf or id(m) in inside_mha:
            continue

        def hook(mod: Any, args: tuple[Any, ...], _out: Any, name: str = name) -> None:
            spec, reason = _spec_of(mod, args)
            calls.append(ModuleCall(name, type(mod).__name__, spec, reason))

        handles.append(m.register_forward_hook(hook))
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            model(torch.randn(*shape, generator=torch.Generator().manual_seed(0)))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return calls


def _check_shape(input_shape: Any, field: str = "input_shape") -> tuple[int, ...]:
    if isinstance(input_shape, str | bytes) or not isinstance(input_shape, Sequence) or (
            len(input_shape) == 0):
        raise ConfigError(field, input_shape, "a non-empty sequence of integers >= 1")
    out = []
    for v in input_shape:
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ConfigError(field, tuple(input_shape), "a non-empty sequence of integers >= 1")
        out.append(int(v))
    return tuple(out)
