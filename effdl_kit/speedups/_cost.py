"""E3 (FLOPs vs runtime of model variants) and E4 (data-loader bottleneck).

E3: the survey's point that FLOPs do not predict wall time: a factorised conv net has fewer
FLOPs and parameters but more kernels and operand traffic; a normalisation-free one drops
memory-bound BatchNorm passes. :func:`flops_vs_runtime` reports FLOPs, parameters, operand
bytes and the measured time of a training step for each variant of the bench's CNN.

E4: :func:`loader_bottleneck` times training steps fed by a ``torch.utils.data.DataLoader``
whose per-sample augmentation has a chosen cost, for several worker counts, and splits each
step into waiting for data and computing.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from effdl_kit._core.errors import ConfigError
from effdl_kit._core.validate import check_choice, check_int
from effdl_kit.measure._ops import torch_threads
from effdl_kit.training import build_model, count_parameters, estimate_flops

from ._surgery import factorize_convs

__all__ = [
    "AUGMENTATION_COSTS",
    "VARIANTS",
    "build_variant",
    "flops_vs_runtime",
    "loader_bottleneck",
    "operand_bytes",
    "step_time",
]

#: E3 variants of the bench's CNN: model_params changes and whether convs are factorised
VARIANTS: dict[str, dict[str, Any]] = {
    "baseline": {"params": {}, "factorize": False},
    "factorized": {"params": {}, "factorize": True},
    "norm_free": {"params": {"norm": "none"}, "factorize": False},
    "factorized_norm_free": {"params": {"norm": "none"}, "factorize": True},
}


def build_variant(variant: str, model_params: Mapping[str, Any], input_shape: Sequence[int],
                  n_classes: int, *, rank_fraction: float = 0.5, seed: int = 0) -> nn.Module:
    """The bench CNN of ``model_params`` turned into an E3 variant (see :data:`VARIANTS`)."""
    check_choice("variant", variant, tuple(VARIANTS))
    v = VARIANTS[variant]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_model("cnn", {**dict(model_params), **v["params"]}, input_shape,
                            n_classes)
        if v["factorize"]:
            factorize_convs(model, rank_fraction)
    return model


def operand_bytes(model: nn.Module, input_shape: Sequence[int], batch_size: int = 1) -> int:
    """Bytes the forward pass moves: every leaf module's inputs, outputs and own parameters
    (float32), summed. A proxy for memory traffic, next to FLOPs for compute."""
    total = 0

    def hook(mod: nn.Module, args: tuple[Any, ...], out: Any) -> None:
        nonlocal total
        for t in (*args, out):
            if isinstance(t, torch.Tensor):
                total += t.numel() * t.element_size()
        total += sum(p.numel() * p.element_size() for p in mod.parameters(recurse=False))

    leaves = [m for m in model.modules() if not list(m.children())]
    handles = [m.register_forward_hook(hook) for m in leaves]
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(batch_size, *input_shape))
    finally:
        for h in handles:
            h.remove()
        model.train(was)
    return int(total)


def step_time(model: nn.Module, input_shape: Sequence[int], n_classes: int, *,
              batch_size: int = 64, repeats: int = 20, warmup: int = 3, seed: int = 0,
              device: str | torch.device = "cpu", threads: int | None = 1) -> dict[str, float]:
    """Median and IQR of one training step (forward, backward, SGD step) in seconds, with
    ``threads`` intra-op threads (one by default: stable timings on a shared machine)."""
    repeats = check_int("repeats", repeats, min_value=1)
    dev = torch.device(device)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch_size, *input_shape, generator=g).to(dev)
    y = torch.randint(0, n_classes, (batch_size,), generator=g).to(dev)
    model = model.to(dev).train()
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    times = []
    with torch_threads(threads):
        for i in range(warmup + repeats):
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            t0 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(x), y).backward()
            opt.step()
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            if i >= warmup:
                times.append(time.perf_counter() - t0)
    q1, med, q3 = np.percentile(times, [25, 50, 75])
    return {"median_s": float(med), "iqr_s": float(q3 - q1)}


def flops_vs_runtime(
    model_params: Mapping[str, Any],
    input_shape: Sequence[int] = (3, 32, 32),
    n_classes: int = 10,
    *,
    variants: Sequence[str] = tuple(VARIANTS),
    batch_size: int = 64,
    repeats: int = 20,
    rank_fraction: float = 0.5,
    seed: int = 0,
    device: str = "cpu",
    threads: int | None = 1,
) -> pd.DataFrame:
    """E3: per variant, FLOPs/sample, parameters, operand bytes/sample and step time.

    Returns
    -------
    pandas.DataFrame
        ``variant, flops, params, operand_bytes, step_time_s, step_time_iqr_s`` and the ratios
        of FLOPs and step time to the baseline's (``flops_ratio``, ``time_ratio``).
    """
    if not variants:
        raise ConfigError("variants", variants, tuple(VARIANTS))
    rows = []
    for v in variants:
        model = build_variant(v, model_params, input_shape, n_classes,
                              rank_fraction=rank_fraction, seed=seed)
        t = step_time(model, input_shape, n_classes, batch_size=batch_size, repeats=repeats,
                      seed=seed, device=device, threads=threads)
        rows.append({"variant": v, "flops": estimate_flops(model, input_shape),
                     "params": count_parameters(model),
                     "operand_bytes": operand_bytes(model.cpu(), input_shape),
                     "step_time_s": t["median_s"], "step_time_iqr_s": t["iqr_s"]})
    df = pd.DataFrame(rows)
    ref = df.iloc[0]
    df["flops_ratio"] = df["flops"] / ref["flops"]
    df["time_ratio"] = df["step_time_s"] / ref["step_time_s"]
    return df


# --------------------------------------------------------------------- E4


def _flip_crop(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    if rng.random() < 0.5:
        x = x[..., ::-1]
    pad = 2
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    dy, dx = rng.integers(0, 2 * pad + 1, size=2)
    return xp[:, dy: dy + x.shape[1], dx: dx + x.shape[2]]


def _heavy(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    from scipy import ndimage

    x = _flip_crop(x, rng)
    x = ndimage.rotate(x, float(rng.uniform(-15, 15)), axes=(1, 2), reshape=False, order=1)
    return ndimage.gaussian_filter(x, sigma=(0, 1.0, 1.0))


#: per-sample augmentations of E4, cheapest first
AUGMENTATION_COSTS: dict[str, Callable[[np.ndarray, np.random.Generator], np.ndarray] | None] = {
    "none": None,
    "flip_crop": _flip_crop,
    "heavy": _heavy,
}


class _AugmentedImages(torch.utils.data.Dataset[tuple[torch.Tensor, int]]):
    def __init__(self, x: np.ndarray, y: np.ndarray, augmentation: str, seed: int) -> None:
        self.x, self.y = x, y
        self.fn = AUGMENTATION_COSTS[augmentation]
        self.seed = seed

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        img = self.x[i]
        if self.fn is not None:
            img = self.fn(img, np.random.default_rng((self.seed, i)))
        return torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32)), int(self.y[i])


def loader_bottleneck(
    *,
    workers: Sequence[int] = (0, 1, 2),
    augmentations: Sequence[str] = tuple(AUGMENTATION_COSTS),
    n_batches: int = 20,
    batch_size: int = 64,
    image_size: int = 32,
    model_params: Mapping[str, Any] | None = None,
    warmup: int = 2,
    seed: int = 0,
    threads: int | None = 1,
) -> pd.DataFrame:
    """E4: mean step time split into data wait and compute, per (workers, augmentation).

    Returns
    -------
    pandas.DataFrame
        ``workers, augmentation, step_time_s, data_wait_s, compute_s, data_fraction, bound``
        (``bound`` is ``"data"`` when waiting for data takes longer than computing).
    """
    for i, w in enumerate(workers):
        check_int(f"workers[{i}]", w, min_value=0, max_value=64)
    for a in augmentations:
        check_choice("augmentations", a, tuple(AUGMENTATION_COSTS))
    n_batches = check_int("n_batches", n_batches, min_value=1)
    rng = np.random.default_rng(seed)
    n = (n_batches + warmup) * batch_size
    x = rng.standard_normal((n, 3, image_size, image_size)).astype(np.float32)
    y = rng.integers(0, 10, size=n)
    params = dict(model_params or {"channels": (16, 32)})
    rows = []
    for a in augmentations:
        for w in workers:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                model = build_model("cnn", params, (3, image_size, image_size), 10)
            opt = torch.optim.SGD(model.parameters(), lr=1e-3)
            loader = torch.utils.data.DataLoader(
                _AugmentedImages(x, y, a, seed), batch_size=batch_size, shuffle=False,
                num_workers=w)
            waits, computes = [], []
            with torch_threads(threads):
                it = iter(loader)
                for b in range(n_batches + warmup):
                    t0 = time.perf_counter()
                    xb, yb = next(it)
                    t1 = time.perf_counter()
                    opt.zero_grad(set_to_none=True)
                    F.cross_entropy(model(xb), yb).backward()
                    opt.step()
                    t2 = time.perf_counter()
                    if b >= warmup:
                        waits.append(t1 - t0)
                        computes.append(t2 - t1)
                del it
            wait, comp = float(np.mean(waits)), float(np.mean(computes))
            rows.append({"workers": w, "augmentation": a, "step_time_s": wait + comp,
                         "data_wait_s": wait, "compute_s": comp,
                         "data_fraction": wait / (wait + comp) if wait + comp > 0 else math.nan,
                         "bound": "data" if wait > comp else "compute"})
    return pd.DataFrame(rows)
