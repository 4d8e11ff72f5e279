"""The one training loop every paper reproduction uses.

Hooks attach at ``on_fit_start``, ``before_forward``, ``after_loss``, ``after_backward``,
``after_step``, ``epoch_end`` and ``on_fit_end``, so diagnosis (BTTackler) and speedup methods
(the survey) plug in without editing the loop. A hook may replace ``state.inputs`` /
``state.targets`` before the forward pass (MixUp, resizing), replace ``state.loss`` after it
(selective backprop), inspect gradients after the backward pass, and stop the run with
``state.stop(reason)``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from effdl_kit._core.env import EnvInfo, collect_env
from effdl_kit._core.errors import ConfigError, DeviceNotAvailableError, TrainingError
from effdl_kit._core.rng import torch_generator, torch_seeded
from effdl_kit.training.config import TrainConfig
from effdl_kit.training.data import DataBundle, load_data
from effdl_kit.training.models import build_model, count_parameters, estimate_flops

__all__ = [
    "HOOK_EVENTS",
    "CallbackHook",
    "EpochRecord",
    "Hook",
    "TrainResult",
    "TrainState",
    "make_optimizer",
    "make_scheduler",
    "resolve_device",
    "train",
]

HOOK_EVENTS = (
    "on_fit_start", "before_forward", "after_loss", "after_backward", "after_step",
    "epoch_end", "on_fit_end",
)


@dataclass(frozen=True)
class EpochRecord:
    """One epoch of a run. ``*_metric`` is accuracy (classification) or MSE (forecasting).

    ``time_s`` is the epoch's training wall time (evaluation excluded); ``cpu_time_s`` the CPU
    time of the training thread over the same span (``time.thread_time``): with one intra-op
    thread it is the work itself, unaffected by other jobs waiting for the same cores (with
    more threads it counts the calling thread only). NaN in records written before it.
    """

    epoch: int
    train_loss: float
    train_metric: float
    val_loss: float
    val_metric: float
    lr: float
    time_s: float
    eval_time_s: float
    cpu_time_s: float = math.nan


@dataclass
class TrainState:
    """What hooks see and may change. One instance lives for the whole run."""

    config: TrainConfig
    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler | None
    device: torch.device
    data: DataBundle
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    epoch: int = 0
    step: int = 0
    batch_index: int = 0
    inputs: torch.Tensor | None = None
    targets: torch.Tensor | None = None
    outputs: torch.Tensor | None = None
    loss: torch.Tensor | None = None
    history: list[EpochRecord] = field(default_factory=list)
    should_stop: bool = False
    stop_reason: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    #: the loop's data-order / augmentation generator (a checkpoint saves its state)
    generator: torch.Generator | None = None
    #: first epoch the loop runs; an ``on_fit_start`` hook resuming a checkpoint sets it
    start_epoch: int = 0

    def stop(self, reason: str) -> None:
        """Ask the loop to stop after the current batch (the epoch is still recorded)."""
        self.should_stop = True
        self.stop_reason = self.stop_reason or reason


class Hook:
    """Base class of loop hooks: override any event method; each receives the ``TrainState``."""

    def on_fit_start(self, state: TrainState) -> None:
        """Once, after model/optimizer are built and before the first epoch."""

    def before_forward(self, state: TrainState) -> None:
        """Each batch; may replace ``state.inputs`` / ``state.targets``."""

    def after_loss(self, state: TrainState) -> None:
        """Each batch, ``state.outputs`` and ``state.loss`` set; may replace ``state.loss``."""

    def after_backward(self, state: TrainState) -> None:
        """Each batch, gradients populated, before the optimizer step."""

    def after_step(self, state: TrainState) -> None:
        """Each batch, after the optimizer step."""

    def epoch_end(self, state: TrainState) -> None:
        """Each epoch; ``state.history[-1]`` is the finished epoch's record."""

    def on_fit_end(self, state: TrainState) -> None:
        """Once, after the last epoch (also after an early stop)."""


class CallbackHook(Hook):
    """A hook from plain functions: ``CallbackHook(epoch_end=lambda s: ...)``."""

    def __init__(self, **callbacks: Callable[[TrainState], None]) -> None:
        for name, fn in callbacks.items():
            if name not in HOOK_EVENTS:
                raise ConfigError(name, fn, HOOK_EVENTS)
            if not callable(fn):
                raise ConfigError(name, fn, "a callable taking the TrainState")
            setattr(self, name, fn)


@dataclass
class TrainResult:
    """Outcome of :func:`train`: per-epoch history, test scores, cost, and where it ran."""

    config: TrainConfig
    history: list[EpochRecord]
    metric_name: str
    test_loss: float
    test_metric: float
    n_params: int
    flops: int
    wall_time_s: float
    stopped_early: bool
    stop_reason: str | None
    env: EnvInfo
    data_sizes: dict[str, int] = field(default_factory=dict)

    @property
    def epochs_run(self) -> int:
        return len(self.history)

    @property
    def higher_is_better(self) -> bool:
        return self.metric_name == "accuracy"

    @property
    def nonfinite_loss(self) -> str | None:
        """Why the run diverged (``"non-finite loss: training loss nan at epoch 1"``: its first
        epoch with a NaN or infinite training loss), or None when every loss is finite.

        Later metrics of such a run are those of a broken model (chance level), so studies and
        builders record it as failed with this reason rather than as a result.
        """
        bad = next((r for r in self.history if not math.isfinite(r.train_loss)), None)
        if bad is None:
            return None
        return f"non-finite loss: training loss {bad.train_loss} at epoch {bad.epoch}"

    def best_val_metric(self) -> float:
        vals = [r.val_metric for r in self.history if math.isfinite(r.val_metric)]
        if not vals:
            return float("nan")
        return max(vals) if self.higher_is_better else min(vals)

    def to_frame(self) -> pd.DataFrame:
        """One row per epoch with every :class:`EpochRecord` field."""
        cols = [f for f in EpochRecord.__dataclass_fields__]
        return pd.DataFrame([asdict(r) for r in self.history], columns=cols)

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": self.config.to_dict(),
            "history": [asdict(r) for r in self.history],
            "metric_name": self.metric_name,
            "test_loss": self.test_loss,
            "test_metric": self.test_metric,
            "n_params": self.n_params,
            "flops": self.flops,
            "wall_time_s": self.wall_time_s,
            "stopped_early": self.stopped_early,
            "stop_reason": self.stop_reason,
            "env": self.env.to_dict(),
            "data_sizes": dict(self.data_sizes),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainResult:
        d = dict(d)
        d["config"] = TrainConfig.from_dict(d["config"])
        d["history"] = [EpochRecord(**r) for r in d["history"]]
        d["env"] = EnvInfo.from_dict(d["env"])
        return cls(**d)


def resolve_device(device: str) -> torch.device:
    """``"auto"`` -> CUDA when present else CPU; ``"cuda"`` absent -> clear error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise DeviceNotAvailableError("device", "cuda", ("cpu",))
    return torch.device(device)


def make_optimizer(config: TrainConfig, params: Any) -> torch.optim.Optimizer:
    """The optimizer named by ``config.optimizer`` with its lr / weight decay / momentum."""
    lr, wd, mom = config.lr, config.weight_decay, config.momentum
    name = config.optimizer
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=mom, weight_decay=wd)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, momentum=mom, weight_decay=wd)
    if name == "adagrad":
        return torch.optim.Adagrad(params, lr=lr, weight_decay=wd)
    return torch.optim.Adadelta(params, lr=lr, weight_decay=wd)


def make_scheduler(
    config: TrainConfig, optimizer: torch.optim.Optimizer
) -> torch.optim.lr_scheduler.LRScheduler | None:
    """Per-epoch LR schedule (stepped once after every epoch)."""
    s = config.schedule
    if s == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, config.step_size, config.gamma)
    if s == "exponential":
        return torch.optim.lr_scheduler.ExponentialLR(optimizer, config.gamma)
    if s == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)
    return None


@contextmanager
def _threads(n: int | None) -> Iterator[None]:
    old = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _augment(x: torch.Tensor, kind: str, g: torch.Generator) -> torch.Tensor:
    if kind == "none":
        return x
    if kind == "noise":
        noise = torch.randn(x.shape, generator=g, device="cpu").to(x.device, x.dtype)
        return x + 0.05 * noise
    if kind in ("flip", "flip_crop"):
        flip = torch.rand(x.shape[0], generator=g, device="cpu").to(x.device) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    if kind in ("crop", "flip_crop"):
        pad = 2
        h, w = x.shape[-2:]
        xp = F.pad(x, (pad, pad, pad, pad))
        dy, dx = (int(v) for v in torch.randint(0, 2 * pad + 1, (2,), generator=g))
        x = xp[..., dy: dy + h, dx: dx + w]  # one offset per batch: cheap on CPU
    return x


def _metric_batch(outputs: torch.Tensor, targets: torch.Tensor, task: str) -> float:
    """Sum over the batch of accuracy hits (classification) or per-sample MSE (forecasting)."""
    if task == "classification":
        labels = targets.argmax(dim=1) if targets.dim() == 2 else targets
        return float((outputs.argmax(dim=1) == labels).sum())
    return float(((outputs.float() - targets.float()) ** 2).mean(dim=1).sum())


def _evaluate(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, task: str, autocast: Any,
    batch_size: int = 1024,
) -> tuple[float, float]:
    model.eval()
    tot_loss, tot_metric, n = 0.0, 0.0, len(x)
    with torch.inference_mode():
        for i in range(0, n, batch_size):
            xb, yb = x[i: i + batch_size], y[i: i + batch_size]
            with autocast():
                out = model(xb)
            out = out.float()
            if task == "classification":
                tot_loss += float(F.cross_entropy(out, yb, reduction="sum"))
            else:
                tot_loss += float(((out - yb) ** 2).mean(dim=1).sum())
            tot_metric += _metric_batch(out, yb, task)
    return tot_loss / n, tot_metric / n


def train(
    config: TrainConfig,
    *,
    hooks: Sequence[Hook] = (),
    data: DataBundle | None = None,
    progress: bool = False,
    stop_on_nonfinite: bool = True,
) -> TrainResult:
    """Train ``config.model`` on ``config.dataset`` and return the run's :class:`TrainResult`.

    Parameters
    ----------
    config : TrainConfig
        The validated run definition (seeded: same config, same machine -> same numbers).
    hooks : sequence of Hook
        Called at each event in order.
    data : DataBundle, optional
        Pre-loaded data (skips loading; must match ``config.dataset``'s task).
    progress : bool
        Show a ``tqdm.auto`` bar over epochs.
    stop_on_nonfinite : bool
        End the run after an epoch whose training loss is non-finite (default). False trains
        on to the last epoch, as a plain HPO run without any stop rule would (the BTTackler
        trace builder records such runs in full).

    Notes
    -----
    A non-finite training loss ends the run after that epoch with ``stop_reason`` set, unless
    ``stop_on_nonfinite`` is False (the history keeps the NaN, so diagnosis hooks see it).
    Torch's global RNG is forked, so the caller's random state is untouched.
    """
    if not isinstance(config, TrainConfig):
        raise ConfigError("config", type(config).__name__, "a TrainConfig")
    if stop_on_nonfinite not in (True, False):
        raise ConfigError("stop_on_nonfinite", stop_on_nonfinite, (True, False))
    for i, h in enumerate(hooks):
        if not isinstance(h, Hook):
            raise ConfigError(f"hooks[{i}]", h, "an effdl_kit.training.Hook instance")
    device = resolve_device(config.device)
    if config.precision == "fp16" and device.type != "cuda":
        raise ConfigError("precision", "fp16", "'fp32' or 'bf16' unless running on CUDA")
    t_start = time.perf_counter()
    with _threads(config.threads), torch_seeded(config.seed, cuda=device.type == "cuda"):
        env = collect_env()
        if data is None:
            data = load_data(
                config.dataset, seed=config.seed, n_train=config.n_train,
                val_fraction=config.val_fraction, test_fraction=config.test_fraction,
                data_params=config.data_params, data_dir=config.data_dir,
            )
        elif data.task != config.task:
            raise ConfigError("data", data.name, f"a {config.task} DataBundle")
        task = data.task
        model = build_model(config.model, dict(config.model_params), data.input_shape,
                            data.output_dim)
        flops = estimate_flops(model, data.input_shape)
        n_params = count_parameters(model)
        model = model.to(device)
        x_tr = torch.as_tensor(data.x_train, device=device)
        y_tr = torch.as_tensor(data.y_train, device=device)
        x_va = torch.as_tensor(data.x_val, device=device)
        y_va = torch.as_tensor(data.y_val, device=device)
        optimizer = make_optimizer(config, model.parameters())
        scheduler = make_scheduler(config, optimizer)
        amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(config.precision)

        def autocast() -> Any:
            if amp_dtype is None:
                return nullcontext()
            return torch.autocast(device_type=device.type, dtype=amp_dtype)

        scaler = torch.amp.GradScaler("cuda") if config.precision == "fp16" else None
        ls = config.label_smoothing

        def loss_fn(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
            out = out.float()
            if task == "classification":
                return F.cross_entropy(out, target, label_smoothing=ls)
            return F.mse_loss(out, target.float())

        g = torch_generator(config.seed + 1)
        state = TrainState(config=config, model=model, optimizer=optimizer,
                           scheduler=scheduler, device=device, data=data, loss_fn=loss_fn,
                           generator=g)
        _emit(hooks, "on_fit_start", state)
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=config.epochs, desc=f"{config.model} on {config.dataset}",
                       unit="epoch", leave=False)
        n, bs = len(x_tr), config.batch_size
        try:
            for epoch in range(state.start_epoch, config.epochs):
                state.epoch = epoch
                model.train()
                t0, c0 = time.perf_counter(), time.thread_time()
                perm = torch.randperm(n, generator=g).to(device)
                tot_loss, tot_metric, seen = 0.0, 0.0, 0
                for b, i in enumerate(range(0, n, bs)):
                    idx = perm[i: i + bs]
                    state.batch_index = b
                    state.inputs = _augment(x_tr[idx], config.augmentation, g)
                    state.targets = y_tr[idx]
                    state.outputs = state.loss = None
                    _emit(hooks, "before_forward", state)
                    with autocast():
                        state.outputs = model(state.inputs)
                    state.loss = loss_fn(state.outputs, state.targets)
                    _emit(hooks, "after_loss", state)
                    optimizer.zero_grad(set_to_none=True)
                    if scaler is not None:
                        scaler.scale(state.loss).backward()
                        scaler.unscale_(optimizer)
                    else:
                        state.loss.backward()
                    _emit(hooks, "after_backward", state)
                    if config.grad_clip is not None:
                        nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
                    if scaler is not None:
                        scaler.step(optimizer)
                        scaler.update()
                    else:
                        optimizer.step()
                    state.step += 1
                    _emit(hooks, "after_step", state)
                    k = len(state.targets)
                    tot_loss += float(state.loss.detach()) * k
                    tot_metric += _metric_batch(state.outputs.detach(), state.targets, task)
                    seen += k
                    if state.should_stop:
                        break
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                t_train = time.perf_counter() - t0
                c_train = time.thread_time() - c0
                lr = float(optimizer.param_groups[0]["lr"])
                t1 = time.perf_counter()
                val_loss, val_metric = _evaluate(model, x_va, y_va, task, autocast)
                t_eval = time.perf_counter() - t1
                if scheduler is not None:
                    scheduler.step()
                train_loss = tot_loss / max(seen, 1)
                state.history.append(EpochRecord(
                    epoch=epoch, train_loss=train_loss, train_metric=tot_metric / max(seen, 1),
                    val_loss=val_loss, val_metric=val_metric, lr=lr, time_s=t_train,
                    eval_time_s=t_eval, cpu_time_s=c_train,
                ))
                if stop_on_nonfinite and not math.isfinite(train_loss):
                    state.stop("non-finite training loss")
                _emit(hooks, "epoch_end", state)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{train_loss:.4g}", val=f"{val_metric:.4g}")
                if state.should_stop:
                    break
        except torch.cuda.OutOfMemoryError as exc:  # recorded by callers as a failed trial
            raise TrainingError(f"out of memory on {device}: {exc}") from exc
        finally:
            if bar is not None:
                bar.close()
        _emit(hooks, "on_fit_end", state)
        x_te = torch.as_tensor(data.x_test, device=device)
        y_te = torch.as_tensor(data.y_test, device=device)
        test_loss, test_metric = _evaluate(model, x_te, y_te, task, autocast)
    return TrainResult(
        config=config,
        history=state.history,
        metric_name="accuracy" if task == "classification" else "mse",
        test_loss=test_loss,
        test_metric=test_metric,
        n_params=n_params,
        flops=flops,
        wall_time_s=time.perf_counter() - t_start,
        stopped_early=state.should_stop,
        stop_reason=state.stop_reason,
        env=env,
        data_sizes=data.sizes(),
    )


def _emit(hooks: Sequence[Hook], event: str, state: TrainState) -> None:
    for h in hooks:
        getattr(h, event)(state)


def final_metrics(result: TrainResult) -> dict[str, float]:
    """Last-epoch and test scores as a flat dict (for tables)."""
    last = result.history[-1] if result.history else None
    return {
        "val_metric": last.val_metric if last else float("nan"),
        "test_metric": result.test_metric,
        "epochs": float(result.epochs_run),
        "wall_time_s": result.wall_time_s,
        "n_params": float(result.n_params),
        "flops": float(result.flops),
        "best_val_metric": result.best_val_metric(),
        "mean_epoch_s": float(np.mean([r.time_s for r in result.history])) if last else 0.0,
    }
