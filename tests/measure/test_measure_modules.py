"""ModuleSpec: every module type's shapes and inferable counts against PyTorch; bad input."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from effdl_kit.errors import ConfigError
from effdl_kit.measure import (
    MODULE_PARAMS,
    MODULE_TYPES,
    make_spec,
    module_specs_from_model,
    normalize_module_type,
)

EXAMPLES: dict[str, dict[str, int]] = {
    "conv2d": {"batch": 2, "channels": 3, "out_channels": 5, "hw": 9, "kernel_size": 3,
               "stride": 2, "padding": 1},
    "linear": {"batch": 3, "in_features": 7, "out_features": 4},
    "maxpool2d": {"batch": 2, "channels": 3, "hw": 9, "kernel_size": 3, "stride": 2},
    "avgpool2d": {"batch": 2, "channels": 3, "hw": 8, "kernel_size": 2, "stride": 2},
    "batchnorm2d": {"batch": 2, "channels": 4, "hw": 5},
    "relu": {"batch": 2, "channels": 4, "hw": 5},
    "lstm": {"batch": 2, "seq_len": 5, "input_size": 6, "hidden_size": 7},
    "mha": {"batch": 2, "seq_len": 5, "embed_dim": 8, "num_heads": 2},
}


def test_the_eight_module_types() -> None:
    assert set(MODULE_TYPES) == set(EXAMPLES) == set(MODULE_PARAMS)
    assert normalize_module_type("Conv2d") == "conv2d"
    assert normalize_module_type("MultiheadAttention") == "mha"


@pytest.mark.parametrize("mt", MODULE_TYPES)
def test_shapes_and_counts_match_pytorch(mt: str) -> None:
    spec = make_spec(mt, **EXAMPLES[mt])
    mod = spec.build()
    assert not mod.training
    with torch.no_grad():
        out = mod(torch.randn(*spec.input_shape))
    assert tuple(out.shape) == spec.output_shape
    n_params = sum(p.numel() for p in mod.parameters())
    assert spec.n_params == n_params
    buffers = sum(b.numel() for b in mod.buffers() if b.dtype.is_floating_point)
    assert spec.weight_bytes == 4 * (n_params + buffers)
    inf = spec.inferable()
    assert inf["input_bytes"] == 4 * math.prod(spec.input_shape)
    assert inf["output_bytes"] == 4 * math.prod(spec.output_shape)
    assert inf["flops"] > 0 and spec.memory_bytes >= inf["input_bytes"] + inf["output_bytes"]
    assert spec.to_dict() == {"module_type": mt, **EXAMPLES[mt]}


def test_flops_formulas() -> None:
    c = make_spec("conv2d", **EXAMPLES["conv2d"])  # out 2x5x5x5, 3*3*3 MACs each
    assert c.flops == 2 * (2 * 5 * 5 * 5) * 3 * 9
    assert make_spec("linear", **EXAMPLES["linear"]).flops == 2 * 3 * 7 * 4
    m = make_spec("mha", **EXAMPLES["mha"])
    assert m.flops == 2 * (8 * 5 * 64 + 4 * 25 * 8)


@pytest.mark.parametrize(("mt", "change", "field"), [
    ("conv2d", {"hw": 0}, "hw"),
    ("conv2d", {"channels": -3}, "channels"),
    ("conv2d", {"padding": -1}, "padding"),
    ("linear", {"in_features": 0}, "in_features"),
    ("linear", {"batch": 0}, "batch"),
    ("lstm", {"hidden_size": 0}, "hidden_size"),
    ("conv2d", {"kernel_size": 12, "padding": 1}, "kernel_size"),  # 12 > 9 + 2
    ("maxpool2d", {"kernel_size": 10}, "kernel_size"),  # larger than the input
    ("mha", {"num_heads": 3}, "num_heads"),  # 8 % 3
    ("linear", {"in_features": 2.0}, "in_features"),
    ("linear", {"in_features": True}, "in_features"),
    ("linear", {"in_features": "7"}, "in_features"),
])
def test_bad_parameters_name_the_field(mt: str, change: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as info:
        make_spec(mt, **{**EXAMPLES[mt], **change})
    assert info.value.field == field


def test_kernel_larger_than_input_message() -> None:
    with pytest.raises(ConfigError, match="larger than the padded input"):
        make_spec("conv2d", batch=1, channels=1, out_channels=1, hw=4, kernel_size=7,
                  stride=1, padding=0)


def test_unknown_and_missing() -> None:
    with pytest.raises(ConfigError) as info:
        make_spec("gru", batch=1)
    assert info.value.field == "module_type" and "conv2d" in str(info.value)
    with pytest.raises(ConfigError, match="linear.bias"):
        make_spec("linear", **EXAMPLES["linear"], bias=1)
    with pytest.raises(ConfigError, match="linear.out_features"):
        make_spec("linear", batch=1, in_features=3)
    assert make_spec("linear", batch=np.int64(2), in_features=3, out_features=4)["batch"] == 2


def test_module_specs_from_a_cnn_and_a_transformer_block() -> None:
    cnn = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                        nn.MaxPool2d(2), nn.Conv2d(8, 8, 3, groups=2), nn.Flatten(),
                        nn.Linear(8 * 2 * 2, 10)).train()
    calls = module_specs_from_model(cnn, (2, 3, 8, 8))
    assert cnn.training, "the training flag is restored"
    assert [c.torch_type for c in calls] == ["Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d",
                                             "Conv2d", "Flatten", "Linear"]
    types = [c.spec.module_type if c.spec else None for c in calls]
    assert types == ["conv2d", "batchnorm2d", "relu", "maxpool2d", None, None, "linear"]
    assert calls[0].spec is not None and calls[0].spec["hw"] == 8
    assert calls[3].spec is not None and calls[3].spec["stride"] == 2
    assert "grouped" in calls[4].reason
    lin = calls[-1].spec
    assert lin is not None and lin["in_features"] == 32 and lin["batch"] == 2

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.attn = nn.MultiheadAttention(16, 4, batch_first=True)
            self.norm = nn.LayerNorm(16)
            self.ff = nn.Linear(16, 32)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.ff(self.norm(x + self.attn(x, x, x)[0]))

    calls = module_specs_from_model(Block(), (3, 5, 16))
    assert [c.torch_type for c in calls] == ["MultiheadAttention", "LayerNorm", "Linear"]
    mha = calls[0].spec
    assert mha is not None and (mha["batch"], mha["seq_len"], mha["num_heads"]) == (3, 5, 4)
    ff = calls[2].spec
    assert ff is not None and ff["batch"] == 15  # leading dimensions flattened
    with pytest.raises(ConfigError, match="model"):
        module_specs_from_model("net", (1,))
