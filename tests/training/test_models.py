import pytest
import torch
from torch import nn

from effdl_kit.errors import ConfigError
from effdl_kit.training import build_model, count_parameters, estimate_flops


@pytest.mark.parametrize(
    ("model", "params", "shape", "n_out"),
    [
        ("cnn", {}, (1, 8, 8), 10),
        ("cnn", {"channels": (8, 8, 16), "kernel_size": 2, "skip": True, "norm": "group",
                 "pooling": "avg", "activation": "tanh", "init": "xavier_normal",
                 "fc_layers": 2, "dropout": 0.3}, (3, 16, 16), 4),
        ("cnn", {"norm": "instance", "pooling": "none", "init": "orthogonal"}, (3, 8, 8), 3),
        ("mlp", {"hidden": (32,), "norm": "batch"}, (1, 8, 8), 10),
        ("lstm", {"hidden_size": 16, "num_layers": 2, "bidirectional": True}, (1, 8, 8), 10),
        ("lstm", {}, (24, 1), 6),
        ("transformer", {"d_model": 16, "n_heads": 2}, (24, 1), 6),
        ("transformer", {}, (1, 8, 8), 10),
    ],
)
def test_models_map_inputs_to_outputs_and_learn(model, params, shape, n_out) -> None:  # type: ignore[no-untyped-def]
    torch.manual_seed(0)
    net = build_model(model, params, shape, n_out)
    x = torch.randn(5, *shape)
    out = net(x)
    assert out.shape == (5, n_out)
    out.sum().backward()
    grads = [p.grad for p in net.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert count_parameters(net) == sum(p.numel() for p in net.parameters())


def test_bias_init_and_even_kernel_keep_shape() -> None:
    net = build_model("cnn", {"bias_init": -3.0, "norm": "none", "kernel_size": 2},
                      (1, 8, 8), 10)
    biases = [m.bias for m in net.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    assert all(torch.all(b == -3.0) for b in biases if b is not None)
    assert net.features(torch.zeros(1, 1, 8, 8)).shape == (1, 32, 2, 2)  # type: ignore[operator]


def test_flops_match_analytic_counts() -> None:
    mlp = build_model("mlp", {"hidden": (32,)}, (1, 8, 8), 10)
    assert estimate_flops(mlp, (1, 8, 8)) == 2 * (64 * 32 + 32 * 10)
    cnn = build_model("cnn", {"channels": (4,), "fc_layers": 0, "norm": "none"}, (1, 8, 8), 10)
    conv = 2 * 4 * 8 * 8 * 1 * 3 * 3   # C_out * H * W * C_in * k * k multiply-adds x 2
    head = 2 * (4 * 4 * 4) * 10
    assert estimate_flops(cnn, (1, 8, 8)) == conv + head
    lstm = build_model("lstm", {"hidden_size": 16}, (12, 1), 3)
    gates = 12 * 2 * 4 * 16 * (1 + 16)
    assert estimate_flops(lstm, (12, 1)) == gates + 2 * 16 * 3
    # batch normalisation in train mode needs more than one sample per channel
    bn = build_model("mlp", {"hidden": (32,), "norm": "batch"}, (1, 8, 8), 10)
    assert estimate_flops(bn, (1, 8, 8)) == 2 * (64 * 32 + 32 * 10)


def test_cnn_needs_images() -> None:
    with pytest.raises(ConfigError, match="'model'"):
        build_model("cnn", {}, (24, 1), 3)
