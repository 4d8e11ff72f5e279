"""Per-layer gradient statistics: values against a per-layer reference, layer discovery,
NaN/Inf detection, automatic collection."""

import numpy as np
import pytest
import torch
from torch import nn

from effdl_kit.diagnosis import Diagnoser, DiagnosisConfig, GradStats, find_weight_layers


class _Mixed(nn.Module):
    """Conv, LSTM, attention and linear layers, plus parameters that are not monitored."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.norm = nn.BatchNorm2d(4)
        self.lstm = nn.LSTM(32, 8, num_layers=2, batch_first=True, bidirectional=True)
        self.attn = nn.MultiheadAttention(16, 2, batch_first=True)
        self.head = nn.Linear(16, 3)
        self.emb = nn.Parameter(torch.zeros(1))  # a free parameter: not a weight layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.norm(self.conv(x)))  # (B, 4, 8, 8)
        seq = h.permute(0, 2, 1, 3).reshape(x.shape[0], 8, 32)
        out, _ = self.lstm(seq)  # (B, 8, 16)
        out, _ = self.attn(out, out, out)
        return self.head(out.mean(1)) + self.emb


def _backward(model: nn.Module, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(5, 1, 8, 8, generator=g)
    y = torch.randint(0, 3, (5,), generator=g)
    model.zero_grad(set_to_none=True)
    nn.functional.cross_entropy(model(x), y).backward()


def test_layers_found_in_forward_order_with_groups() -> None:
    torch.manual_seed(0)
    layers = find_weight_layers(_Mixed())
    names = [lay.name for lay in layers]
    assert names == ["conv", "lstm.l0", "lstm.l0_reverse", "lstm.l1", "lstm.l1_reverse",
                     "attn.in_proj", "attn.out_proj", "head"]
    assert [len(lay.params) for lay in layers] == [1, 2, 2, 2, 2, 1, 1, 1]
    # weights only: biases, norms and free parameters are not monitored
    assert layers[0].numel == 4 * 1 * 3 * 3


def test_statistics_match_a_per_layer_reference() -> None:
    torch.manual_seed(0)
    model = _Mixed()
    layers = find_weight_layers(model)
    stats = GradStats(layers)
    ref_abs, ref_zero = np.zeros(len(layers)), np.zeros(len(layers))
    for batch in range(3):
        _backward(model, seed=batch)
        with torch.no_grad():
            model.head.weight.grad[0] = 0.0  # some exact zeros
        stats.add()
        for i, lay in enumerate(layers):
            flat = torch.cat([p.grad.flatten() for p in lay.params])
            ref_abs[i] += float(flat.abs().mean()) / 3
            ref_zero[i] += float((flat == 0).double().mean()) / 3
    ep = stats.epoch()
    assert ep.n_batches == 3
    np.testing.assert_allclose(ep.mean_abs, ref_abs, rtol=1e-5)
    np.testing.assert_allclose(ep.zero_fraction, ref_zero, atol=1e-6)
    assert ep.zero_fraction[-1] >= 3 / 16 - 1e-6  # a third of head's rows were zeroed
    # reset for the next epoch; an epoch without batches is NaN with n_batches == 0
    empty = stats.epoch()
    assert empty.n_batches == 0 and np.isnan(empty.mean_abs).all()


def test_missing_gradient_counts_as_zero_and_half_precision_does_not_overflow() -> None:
    a, b = nn.Linear(4, 4), nn.Linear(4, 4)
    stats = GradStats(find_weight_layers(nn.Sequential(a, b)))
    a(torch.ones(2, 4)).sum().backward()  # b is not used: its grad stays None
    stats.add()
    ep = stats.epoch()
    assert ep.mean_abs[1] == 0.0 and ep.zero_fraction[1] == 1.0 and ep.mean_abs[0] > 0
    big = nn.Linear(1000, 1000, bias=False).half()
    big.weight.grad = torch.full_like(big.weight, 100.0)  # L1 = 1e8, inf in float16
    hs = GradStats(find_weight_layers(big))
    hs.add()
    assert hs.epoch().mean_abs[0] == pytest.approx(100.0, rel=1e-4)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_gradients_are_detected(bad: float) -> None:
    """The authors' NaN flag started False and was combined with &=: it never fired."""
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    d = Diagnoser(model, max_epochs=10)
    model(torch.randn(3, 4)).sum().backward()
    with torch.no_grad():
        model[0].weight.grad[0, 0] = bad
    d.after_backward()
    legacy = Diagnoser(model, max_epochs=10, config=DiagnosisConfig.preset("legacy"))
    legacy.after_backward()
    diag = d.end_epoch(1.0)
    # the authors' NaN rule: when it fires nothing else runs (the legacy preset: EAG too)
    assert diag.fired == ("AGV",) and set(diag.values) == {"AGV.nonfinite_layers",
                                                         "AGV.train_loss"}
    assert legacy.end_epoch(1.0).fired == ("AGV", "EAG")
    assert diag.values["AGV.nonfinite_layers"] == 1.0
    assert "NaN/Inf gradients" in diag.reason
    assert not np.isfinite(diag.grad_mean_abs[0]) and np.isfinite(diag.grad_mean_abs[1])


def test_attach_collects_the_same_statistics_as_explicit_calls() -> None:
    torch.manual_seed(0)
    model = _Mixed()
    manual = Diagnoser(model, max_epochs=4)
    auto = Diagnoser(model, max_epochs=4).attach()
    for batch in range(4):
        _backward(model, seed=batch)
        manual.after_backward()
    a, m = auto.end_epoch(1.0), manual.end_epoch(1.0)
    np.testing.assert_allclose(a.grad_mean_abs, m.grad_mean_abs, rtol=1e-6)
    np.testing.assert_allclose(a.grad_zero_fraction, m.grad_zero_fraction, atol=1e-7)
    auto.detach()
    _backward(model)
    assert auto._stats.n_batches == 0  # detached: nothing collected any more
