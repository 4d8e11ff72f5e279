"""Recipes (order, conflicts, bad input before training) and exact checkpoint resume."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from effdl_kit.errors import ConfigError, DataError, DeviceNotAvailableError
from effdl_kit.speedups import (
    METHOD_ORDER,
    METHODS,
    Checkpoint,
    MixedPrecision,
    Recipe,
    check_precision,
    make_method,
    train_with,
)
from effdl_kit.training import CallbackHook, TrainConfig, TrainState


def tiny(**kw: object) -> TrainConfig:
    base = {"dataset": "synthetic", "model": "cnn", "epochs": 4, "batch_size": 32,
            "data_params": {"n_samples": 160, "n_classes": 5, "image_size": 16},
            "model_params": {"channels": (8, 8), "skip": True, "width": 16, "dropout": 0.1},
            "optimizer": "adamw", "lr": 3e-3, "schedule": "cosine", "threads": 1}
    base.update(kw)
    return TrainConfig(**base)  # type: ignore[arg-type]


def test_recipe_runs_methods_in_canonical_order() -> None:
    r = Recipe(["ema", "label_smoothing", ("mixup", {"alpha": 0.2}), "blurpool"])
    assert r.names == ["blurpool", "mixup", "label_smoothing", "ema"]
    assert r.settings()["mixup"] == {"alpha": 0.2}
    assert r.label == "blurpool+mixup+label_smoothing+ema"
    assert Recipe([]).label == "baseline"
    assert set(METHOD_ORDER) == set(METHODS)


@pytest.mark.parametrize(("methods", "match"), [
    (["mixup", "cutmix"], "not together"),
    (["ema", "ema"], "at most once"),
    (["warp_speed"], "method"),
    ([("mixup", {"alpha": 0.0})], "alpha"),
    ([("mixup", {"beta": 1.0})], "mixup settings"),
    ([42], "methods"),
])
def test_bad_recipes_are_refused(methods: list[object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        Recipe(methods)  # type: ignore[arg-type]


def test_incompatible_configs_fail_before_training() -> None:
    calls: list[int] = []
    hook = CallbackHook(before_forward=lambda s: calls.append(1))
    with pytest.raises(ConfigError, match="skip"):
        train_with(["stochastic_depth"], tiny(model_params={"channels": (8,)}), hooks=[hook])
    with pytest.raises(ConfigError, match="label_smoothing"):
        train_with(["label_smoothing"], tiny(label_smoothing=0.1), hooks=[hook])
    with pytest.raises(ConfigError, match="pooling"):
        train_with(["blurpool"], tiny(model_params={"channels": (8,), "pooling": "avg"}),
                   hooks=[hook])
    with pytest.raises(ConfigError, match="cnn"):
        train_with(["progressive_resizing"], tiny(model="mlp", model_params={}), hooks=[hook])
    with pytest.raises(ConfigError, match="classification"):
        train_with(["mixup"], TrainConfig(dataset="co2", model="mlp", epochs=1), hooks=[hook])
    assert calls == []


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU error path")
def test_gpu_paths_raise_device_not_available_without_cuda() -> None:
    with pytest.raises(DeviceNotAvailableError, match="cuda"):
        check_precision("fp16", "cuda")
    with pytest.raises(DeviceNotAvailableError, match="fp16"):
        Recipe([MixedPrecision("fp16")]).configure(tiny())
    with pytest.raises(DeviceNotAvailableError):
        Recipe(["mixed_precision"]).configure(tiny(device="cuda"))


def test_mixed_precision_configures_bf16() -> None:
    cfg = Recipe(["mixed_precision"]).configure(tiny())
    assert cfg.precision == "bf16"


def _weights() -> tuple[CallbackHook, dict[str, torch.Tensor]]:
    out: dict[str, torch.Tensor] = {}

    def grab(state: TrainState) -> None:
        out.update({k: v.detach().clone() for k, v in state.model.state_dict().items()})

    return CallbackHook(on_fit_end=grab), out


RESUME_RECIPES = [
    [],
    ["mixup", "label_smoothing", "ema"],
    ["progressive_resizing", "selective_backprop", "layer_freezing"],
    ["blurpool", "stochastic_depth", "sam", "channels_last"],
]


@pytest.mark.parametrize("methods", RESUME_RECIPES, ids=lambda m: "+".join(m) or "baseline")
def test_a_checkpoint_taken_mid_run_resumes_to_the_same_result(methods: list[str],
                                                               tmp_path: Path) -> None:
    cfg = tiny()
    grab_full, full = _weights()
    ref = train_with(methods, cfg, hooks=[grab_full])
    # interrupted run: checkpoint every epoch, stop after epoch 2
    ck = tmp_path / "ck.pt"
    stop = CallbackHook(epoch_end=lambda s: s.stop("interrupted") if s.epoch == 1 else None)
    part = train_with([make_method(m) for m in methods], cfg, hooks=[stop],
                      checkpoint=Checkpoint(ck, every=1))
    assert part.epochs_run == 2 and part.stop_reason == "interrupted"
    # resumed run: fresh method objects, fresh process state
    grab_res, resumed = _weights()
    cp = Checkpoint(ck, every=1, resume=True)
    res = train_with([make_method(m) for m in methods], cfg, hooks=[grab_res], checkpoint=cp)
    assert cp.resumed_at == 2
    assert res.epochs_run == 4
    assert [h.train_loss for h in res.history] == [h.train_loss for h in ref.history]
    assert res.test_metric == ref.test_metric and res.test_loss == ref.test_loss
    for k, v in full.items():
        torch.testing.assert_close(resumed[k], v, rtol=0, atol=0)


def test_a_checkpoint_of_another_recipe_or_config_is_refused(tmp_path: Path) -> None:
    ck = tmp_path / "ck.pt"
    train_with(["ema"], tiny(epochs=1), checkpoint=Checkpoint(ck))
    with pytest.raises(DataError, match="methods"):
        train_with(["mixup"], tiny(epochs=1), checkpoint=Checkpoint(ck, resume=True))
    with pytest.raises(DataError, match="TrainConfig"):
        train_with(["ema"], tiny(epochs=2), checkpoint=Checkpoint(ck, resume=True))
    with pytest.raises(ConfigError, match="every"):
        Checkpoint(ck, every=-1)


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        import os

        return (os.system, (f"touch {self.marker}",))


def test_a_crafted_checkpoint_runs_no_code(tmp_path: Path) -> None:
    """Checkpoints load with ``weights_only=True``: a file carrying a callable is refused with
    a DataError and nothing runs; a real checkpoint still resumes (tested above)."""
    ck = tmp_path / "ck.pt"
    marker = tmp_path / "pwned"
    torch.save({"config": {}, "exploit": _Exploit(marker)}, ck)
    with pytest.raises(DataError, match="cannot read checkpoint"):
        train_with(["ema"], tiny(epochs=1), checkpoint=Checkpoint(ck, resume=True))
    assert not marker.exists()
    torch.save([1, 2, 3], ck)
    with pytest.raises(DataError, match="not a kit checkpoint"):
        train_with(["ema"], tiny(epochs=1), checkpoint=Checkpoint(ck, resume=True))
