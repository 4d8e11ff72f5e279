"""Each speedup method's plain function, and its hook through the bench's loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from effdl_kit.errors import ConfigError
from effdl_kit.speedups import (
    EMA,
    SAM,
    BlurMaxPool2d,
    CutMix,
    DropPathStage,
    LabelSmoothing,
    MixUp,
    ProgressiveResizing,
    SelectiveBackprop,
    apply_blurpool,
    apply_channels_last,
    apply_stochastic_depth,
    cutmix_batch,
    ema_update,
    factorize_convs,
    freeze_fraction,
    freeze_layers,
    make_method,
    mixup_batch,
    per_sample_loss,
    progressive_scale,
    resize_batch,
    sam_perturbation,
    select_by_loss,
    selective_backprop_active,
    smooth_labels,
    train_with,
)
from effdl_kit.training import CallbackHook, TrainConfig, TrainState, build_model, train

N_CLASSES = 5


def tiny(**kw: object) -> TrainConfig:
    base = {"dataset": "synthetic", "model": "cnn", "epochs": 2, "batch_size": 32,
            "data_params": {"n_samples": 160, "n_classes": N_CLASSES, "image_size": 16},
            "model_params": {"channels": (8, 8), "skip": True, "width": 16},
            "optimizer": "adamw", "lr": 3e-3, "schedule": "cosine", "threads": 1}
    base.update(kw)
    return TrainConfig(**base)  # type: ignore[arg-type]


def batch(seed: int = 0, b: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, 3, 16, 16, generator=g), torch.randint(0, N_CLASSES, (b,),
                                                                   generator=g)


# ------------------------------------------------------------------ targets


@pytest.mark.parametrize("soft", [False, True])
def test_smooth_labels_index_and_soft_targets(soft: bool) -> None:
    _, y = batch()
    t = torch.nn.functional.one_hot(y, N_CLASSES).float() if soft else y
    s = smooth_labels(t, N_CLASSES, 0.1)
    assert s.shape == (8, N_CLASSES)
    torch.testing.assert_close(s.sum(1), torch.ones(8))
    assert torch.allclose(s.max(1).values, torch.full((8,), 0.9 + 0.1 / N_CLASSES))
    assert torch.equal(s.argmax(1), y)


@pytest.mark.parametrize("fn", [mixup_batch, cutmix_batch])
@pytest.mark.parametrize("soft", [False, True])
def test_mixing_keeps_probabilities_and_shapes(fn: object, soft: bool) -> None:
    x, y = batch()
    t = smooth_labels(y, N_CLASSES, 0.2) if soft else y
    rng = np.random.default_rng(0)
    xm, tm, lam = fn(x, t, N_CLASSES, alpha=1.0, rng=rng)  # type: ignore[operator]
    assert xm.shape == x.shape and tm.shape == (8, N_CLASSES)
    torch.testing.assert_close(tm.sum(1), torch.ones(8))
    assert 0.0 <= lam <= 1.0
    # same rng state -> same result (randomness is explicit)
    xm2, tm2, _ = fn(x, t, N_CLASSES, alpha=1.0, rng=np.random.default_rng(0))  # type: ignore[operator]
    assert torch.equal(xm, xm2) and torch.equal(tm, tm2)


def test_cutmix_lambda_is_the_unchanged_area() -> None:
    x, y = batch(b=4)
    xm, _tm, lam = cutmix_batch(x, y, N_CLASSES, alpha=1.0, rng=np.random.default_rng(3))
    unchanged = (xm == x).all(dim=1).float().mean().item()
    assert unchanged == pytest.approx(lam, abs=0.02)


@pytest.mark.parametrize("alpha", [0.0, -1.0])
def test_mixup_alpha_must_be_positive(alpha: float) -> None:
    with pytest.raises(ConfigError, match="alpha"):
        MixUp(alpha=alpha)
    with pytest.raises(ConfigError, match="alpha"):
        CutMix(alpha=alpha)
    with pytest.raises(ConfigError, match="alpha"):
        mixup_batch(*batch(), N_CLASSES, alpha=alpha, rng=np.random.default_rng(0))


def test_per_sample_loss_matches_cross_entropy_for_both_target_kinds() -> None:
    out = torch.randn(6, N_CLASSES)
    y = torch.arange(6) % N_CLASSES
    a = per_sample_loss(out, y)
    b = per_sample_loss(out, torch.nn.functional.one_hot(y, N_CLASSES).float())
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(a.mean(), torch.nn.functional.cross_entropy(out, y))


# ------------------------------------------------------------------ schedules


def test_progressive_scale_schedule_and_resize() -> None:
    kw = {"initial_scale": 0.5, "delay_fraction": 0.5, "finetune_fraction": 0.2}
    assert progressive_scale(0.0, **kw) == 0.5
    assert progressive_scale(0.49, **kw) == 0.5
    assert progressive_scale(0.65, **kw) == pytest.approx(0.75)
    assert progressive_scale(0.85, **kw) == 1.0
    x, _ = batch()
    assert resize_batch(x, 0.5).shape[-2:] == (8, 8)
    assert resize_batch(x, 0.7).shape[-2:] == (12, 12)  # rounded to a multiple of 4
    assert resize_batch(x, 1.0) is x
    with pytest.raises(ConfigError, match="finetune_fraction"):
        ProgressiveResizing(delay_fraction=0.9, finetune_fraction=0.2)


def test_selective_backprop_window_and_selection() -> None:
    assert not selective_backprop_active(0.3, 0)
    assert selective_backprop_active(0.6, 0) and not selective_backprop_active(0.6, 1)
    assert not selective_backprop_active(0.95, 0)
    losses = torch.tensor([0.1, 5.0, 0.2, 4.0, 0.3, 3.0, 0.05, 2.0])
    counts = np.zeros(8)
    rng = np.random.default_rng(0)
    for _ in range(300):
        idx = select_by_loss(losses, 0.5, rng)
        assert len(idx) == 4 and len(set(idx.tolist())) == 4
        counts[idx.numpy()] += 1
    assert counts[[1, 3, 5, 7]].sum() > 2 * counts[[0, 2, 4, 6]].sum()  # high loss preferred
    with pytest.raises(ConfigError, match="end"):
        SelectiveBackprop(start=0.6, end=0.5)


def test_freeze_layers_keeps_the_last_layer_and_the_optimizer_state() -> None:
    model = build_model("cnn", {"channels": (4, 4), "width": 8}, (3, 16, 16), N_CLASSES)
    assert freeze_fraction(0.25) == 0.0 and freeze_fraction(0.75) == pytest.approx(0.5)
    n = freeze_layers(model, 1.0)
    params = list(model.parameters())
    assert n >= 1 and params[-1].requires_grad and not params[0].requires_grad
    assert freeze_layers(model, 0.0) == 0 and all(p.requires_grad for p in model.parameters())


# ------------------------------------------------------------------ surgery


def test_blurpool_keeps_shapes_and_parameters() -> None:
    model = build_model("cnn", {"channels": (4, 8), "width": 8}, (3, 16, 16), N_CLASSES)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    ids = [id(p) for p in model.parameters()]
    x, _ = batch()
    before = model(x).shape
    assert apply_blurpool(model, optimizer=opt) == 2
    assert any(isinstance(m, BlurMaxPool2d) for m in model.modules())
    assert model(x).shape == before
    assert [id(p) for p in model.parameters()] == ids
    assert [id(p) for p in opt.param_groups[0]["params"]] == ids


def test_stochastic_depth_keeps_state_dict_keys_and_drops_in_training_only() -> None:
    model = build_model("cnn", {"channels": (4, 4), "skip": True, "width": 8}, (3, 16, 16),
                        N_CLASSES)
    keys = list(model.state_dict())
    assert apply_stochastic_depth(model, 0.5, np.random.default_rng(0)) == 2
    assert list(model.state_dict()) == keys
    stages = [m for m in model.modules() if isinstance(m, DropPathStage)]
    assert [s.drop_rate for s in stages] == [0.25, 0.5]  # linear in depth
    x, _ = batch()
    model.eval()
    assert torch.equal(model(x), model(x))
    with pytest.raises(ConfigError, match="skip"):
        train_with(["stochastic_depth"], tiny(model_params={"channels": (8,), "skip": False}))


def test_factorized_surgery_updates_the_optimizer() -> None:
    model = build_model("cnn", {"channels": (4, 8), "width": 8}, (3, 16, 16), N_CLASSES)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = batch()
    torch.nn.functional.cross_entropy(model(x), y).backward()
    opt.step()  # optimizer state exists for the old convs
    assert factorize_convs(model, 0.5, optimizer=opt) == 2
    in_model = {id(p) for p in model.parameters()}
    in_opt = {id(p) for g in opt.param_groups for p in g["params"]}
    assert in_model == in_opt
    assert all(id(p) in in_model for p in opt.state)
    opt.zero_grad()
    torch.nn.functional.cross_entropy(model(x), y).backward()
    opt.step()  # trains after surgery


def test_channels_last_keeps_parameter_objects() -> None:
    model = build_model("cnn", {"channels": (4,), "width": 8}, (3, 16, 16), N_CLASSES)
    ids = [id(p) for p in model.parameters()]
    apply_channels_last(model)
    assert [id(p) for p in model.parameters()] == ids
    conv = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)


# ------------------------------------------------------------------ weights


def test_ema_update_and_sam_perturbation() -> None:
    model = nn.Linear(3, 2)
    shadow = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        model.weight.add_(1.0)
    ema_update(shadow, model, 0.75)
    torch.testing.assert_close(shadow["weight"], model.weight.detach() - 0.75)
    model.weight.grad = torch.full_like(model.weight, 3.0)
    model.bias.grad = torch.full_like(model.bias, 4.0)
    e = sam_perturbation([model.weight, model.bias], rho=0.05)
    norm = torch.sqrt(sum((t**2).sum() for t in e))
    assert float(norm) == pytest.approx(0.05, rel=1e-5)


# ------------------------------------------------------------------ hooks through the loop


@pytest.mark.parametrize("name", ["channels_last", "label_smoothing", "mixup", "cutmix",
                                  "progressive_resizing", "selective_backprop",
                                  "layer_freezing", "ema", "sam", "stochastic_depth",
                                  "blurpool", "mixed_precision"])
def test_every_method_trains_through_the_loop(name: str) -> None:
    res = train_with([make_method(name)], tiny())
    assert res.epochs_run == 2 and np.isfinite(res.test_metric)
    assert np.isfinite(res.history[-1].train_loss)


def test_hooks_change_what_the_loop_sees() -> None:
    seen: list[tuple[tuple[int, ...], int]] = []

    def grab(state: TrainState) -> None:
        assert state.inputs is not None and state.targets is not None
        seen.append((tuple(state.inputs.shape), state.targets.dim()))

    cfg = tiny(epochs=4)
    train_with([ProgressiveResizing(), LabelSmoothing(), SelectiveBackprop(interrupt=0)], cfg,
               hooks=[CallbackHook(after_loss=grab)])
    sizes = {s[0][-1] for s in seen}
    assert sizes == {8, 12, 16}  # 0.5 -> ramp -> full size
    assert {s[1] for s in seen} == {2}  # soft targets
    assert min(s[0][0] for s in seen) <= 16  # selective backprop halved some batches


def test_ema_weights_replace_the_model_at_the_end() -> None:
    final: dict[str, torch.Tensor] = {}
    ema = EMA(half_life=0.2)

    def grab(state: TrainState) -> None:
        final.update({k: v.clone() for k, v in state.model.state_dict().items()})

    train_with([ema], tiny(), hooks=[CallbackHook(on_fit_end=grab)])
    # the EMA hook runs first at on_fit_end, so the model now holds the shadow
    for k, v in ema.shadow.items():
        torch.testing.assert_close(final[k], v)


def test_sam_changes_the_update_and_refuses_fp16() -> None:
    a = train_with([], tiny(epochs=1))
    b = train_with([SAM(rho=0.05)], tiny(epochs=1))
    assert a.history[0].train_loss == b.history[0].train_loss or a.test_loss != b.test_loss
    with pytest.raises(ConfigError, match="fp16"):
        SAM().check(tiny(precision="fp16", device="cuda"))


def test_a_hook_used_directly_checks_the_config_before_training() -> None:
    with pytest.raises(ConfigError, match="classification"):
        train(TrainConfig(dataset="co2", model="mlp", epochs=1), hooks=[LabelSmoothing()])
    with pytest.raises(ConfigError, match="precision"):
        train(tiny(), hooks=[make_method("mixed_precision")])  # config not configured
