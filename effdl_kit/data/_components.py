"""The kit's own system-component dataset: real trainings over sampled component settings.

Each row is one model trained with the training bench. Its components (EfficientDL's four
groups: model, training, data, hardware) are sampled from a :class:`ComponentSpace`, and the row
records Top-1 test accuracy, validation accuracy, wall time, parameter count, FLOPs and the
machine it ran on.

The build is resumable and parallel:

* row ``i``'s settings depend only on ``(seed, i)``, so rows can finish in any order and a
  restarted build recomputes nothing it already has;
* rows are appended to a JSON-lines file by one writer as they finish (one write per line,
  fsynced: :class:`effdl_kit._core.jsonl.JsonlDataset`); a line torn by a kill is cut off on
  restart (the run's ``torn_bytes_dropped`` in the provenance sidecar says so), and only
  complete rows count;
* the header line records the build's arguments: restarting the same path with other
  arguments is refused before any training;
* work runs on a local process pool by default, or on any ``concurrent.futures.Executor`` (a
  Dask ``distributed`` client's ``get_executor()`` works unchanged);
* a training that raises is recorded as a failed row (``status="failed"``, ``error``) and the
  build goes on; so is one whose training loss became non-finite (``error`` starts with
  ``"non-finite loss"``; its measured values are kept), and
  :func:`revalidate_component_rows` marks such rows in files built before that check.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from effdl_kit._core.errors import ConfigError, DataError
from effdl_kit._core.filelock import BuildLock
from effdl_kit._core.io import atomic_write_text
from effdl_kit._core.jsonl import JsonlContent, JsonlDataset, utc_now
from effdl_kit._core.rng import SEED_MAX
from effdl_kit._core.validate import check_int, check_scale
from effdl_kit.training import TrainConfig, train

__all__ = [
    "COMPONENT_GROUPS",
    "ComponentSpace",
    "build_component_dataset",
    "component_config",
    "default_component_space",
    "load_component_dataset",
    "revalidate_component_rows",
    "sample_components",
]

#: EfficientDL's four component groups -> the kit's component names.
COMPONENT_GROUPS: dict[str, tuple[str, ...]] = {
    "model": ("activation", "norm", "init", "skip", "pooling", "kernel_size", "width", "depth",
              "base_channels", "dropout"),
    "training": ("optimizer", "lr", "schedule", "weight_decay", "batch_size", "epochs",
                 "augmentation", "label_smoothing"),
    "data": ("dataset", "n_train"),
    "hardware": ("device", "threads", "precision"),
}
_KNOWN = tuple(c for group in COMPONENT_GROUPS.values() for c in group)
_FORMAT = "effdl-component-dataset/1"


@dataclass(frozen=True)
class ComponentSpace:
    """Per-component value lists; a row draws each component uniformly from its list.

    Components left out keep the bench's defaults. Every value is checked by building a
    training config with it before any training starts.
    """

    values: Mapping[str, Sequence[Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.values, Mapping) or not self.values:
            raise ConfigError("space", self.values, "a non-empty mapping component -> values")
        clean: dict[str, tuple[Any, ...]] = {}
        for name, vals in self.values.items():
            if name not in _KNOWN:
                raise ConfigError("space", name, _KNOWN)
            if isinstance(vals, str) or not isinstance(vals, Sequence) or len(vals) == 0:
                raise ConfigError(f"space.{name}", vals, "a non-empty list of values")
            clean[name] = tuple(vals)
        object.__setattr__(self, "values", clean)
        for name, vals in clean.items():
            for v in vals:  # each value alone, the rest at defaults: a clear error now
                component_config({name: v}, scale="small", seed=0, field_prefix="space.")

    @property
    def n_components(self) -> int:
        return len(self.values)

    def groups(self) -> dict[str, list[str]]:
        """The space's components by EfficientDL group."""
        return {g: [c for c in cs if c in self.values] for g, cs in COMPONENT_GROUPS.items()}

    def to_dict(self) -> dict[str, list[Any]]:
        return {k: list(v) for k, v in self.values.items()}


def default_component_space() -> ComponentSpace:
    """23 components over the four groups, sized for a 2-core CPU (digits and synthetic).

    ``device`` and ``threads`` are recorded but fixed here (one CPU, one thread per worker);
    on a bigger machine pass a space with more values.
    """
    return ComponentSpace({
        "activation": ["relu", "leaky_relu", "elu", "gelu", "tanh", "sigmoid"],
        "norm": ["none", "batch", "layer", "group"],
        "init": ["default", "kaiming_normal", "xavier_uniform", "orthogonal", "normal"],
        "skip": [False, True],
        "pooling": ["max", "avg"],
        "kernel_size": [2, 3, 5],
        "width": [16, 32, 64, 128],
        "depth": [1, 2, 3],
        "base_channels": [4, 8, 16],
        "dropout": [0.0, 0.1, 0.3, 0.5],
        "optimizer": ["sgd", "adam", "adamw", "rmsprop", "adagrad", "adadelta"],
        "lr": [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3],
        "schedule": ["constant", "step", "cosine", "exponential"],
        "weight_decay": [0.0, 1e-5, 1e-4, 1e-3],
        "batch_size": [32, 64, 128, 256],
        "epochs": [1, 2, 3, 5],
        "augmentation": ["none", "flip", "crop", "noise"],
        "label_smoothing": [0.0, 0.1, 0.2],
        "dataset": ["digits", "synthetic"],
        "n_train": [150, 300, 600, 1200],
        "device": ["cpu"],
        # one intra-op thread per row: the builder runs one worker per core, and more threads
        # per worker oversubscribe the cores (measured: 10x slower rows on 2 cores)
        "threads": [1],
        "precision": ["fp32", "bf16"],
    })


# scale -> caps applied to every row (None: no cap)
_SCALE_CAPS: dict[str, dict[str, int | None]] = {
    "smoke": {"epochs": 1, "n_train": 128},
    "small": {"epochs": None, "n_train": None},
    "paper": {"epochs": None, "n_train": None},
}
_SCALE_EPOCH_FACTOR = {"smoke": 1, "small": 1, "paper": 5}


def component_config(
    components: Mapping[str, Any], *, scale: str, seed: int, field_prefix: str = ""
) -> Any:
    """The ``TrainConfig`` for one row's components at ``scale`` (validated)."""
    c = dict(components)
    caps = _SCALE_CAPS[scale]
    depth = int(c.pop("depth", 2))
    base = int(c.pop("base_channels", 8))
    model_params: dict[str, Any] = {"channels": tuple(base * 2**i for i in range(depth))}
    for k in ("activation", "norm", "init", "skip", "pooling", "kernel_size", "width",
              "dropout"):
        if k in c:
            model_params[k] = c.pop(k)
    epochs = int(c.pop("epochs", 2)) * _SCALE_EPOCH_FACTOR[scale]
    if caps["epochs"] is not None:
        epochs = min(epochs, caps["epochs"])
    n_train = c.pop("n_train", None)
    if caps["n_train"] is not None:
        n_train = min(int(n_train or caps["n_train"]), caps["n_train"])
    # one fixed synthetic task (its own generation seed): the row seed varies init and order
    data_params: dict[str, Any] = {}
    if c.get("dataset") == "synthetic":
        data_params = {"n_samples": 2000, "image_size": 16, "channels": 3, "difficulty": 0.5,
                       "data_seed": 0}
    try:
        return TrainConfig(model="cnn", epochs=epochs, n_train=n_train, seed=seed,
                           model_params=model_params, data_params=data_params, **c)
    except ConfigError as exc:
        name = exc.field.removeprefix("model_params.")
        raise ConfigError(f"{field_prefix}{name}", exc.value, exc.allowed) from None
    except TypeError as exc:
        raise ConfigError(f"{field_prefix}components", sorted(components), _KNOWN) from exc


def sample_components(space: ComponentSpace, seed: int, index: int) -> dict[str, Any]:
    """Row ``index``'s components: a draw that depends only on ``(seed, index)``."""
    rng = np.random.default_rng([seed, index])
    out: dict[str, Any] = {}
    for name, vals in space.values.items():
        v = vals[int(rng.integers(len(vals)))]
        out[name] = v.item() if isinstance(v, np.generic) else v
    return out


def _run_row(space_values: dict[str, list[Any]], scale: str, seed: int, index: int
             ) -> dict[str, Any]:
    """Train one row (runs in a worker process). Failures become failed rows."""
    space = ComponentSpace(space_values)
    comps = sample_components(space, seed, index)
    row: dict[str, Any] = {"index": index, **comps}
    t0 = time.perf_counter()
    try:
        cfg = component_config(comps, scale=scale, seed=(seed * 1_000_003 + index) % 2**32)
        row.update(epochs=cfg.epochs, n_train=cfg.n_train)  # effective values after caps
        res = train(cfg)
        last = res.history[-1]
        row.update(
            status="ok", error=None, top1=res.test_metric, val_top1=last.val_metric,
            train_loss=last.train_loss, epochs_run=res.epochs_run,
            train_time_s=sum(r.time_s for r in res.history), n_params=res.n_params,
            flops=res.flops, n_train_used=res.data_sizes.get("train"),
            torch_threads=res.env.torch_threads, cpu=res.env.cpu_model,
        )
        if res.nonfinite_loss is not None:  # diverged: measured, but not a result to learn from
            row.update(status="failed", error=res.nonfinite_loss)
    except Exception as exc:  # recorded, the build goes on
        row.update(status="failed", error=f"{type(exc).__name__}: {exc}", top1=float("nan"))
    row["wall_time_s"] = time.perf_counter() - t0
    return row


#: Fields of a component row that must be finite when its status is ``"ok"``.
_FINITE_FIELDS = ("train_loss", "top1", "val_top1")


def _invalid_reason(row: Mapping[str, Any]) -> str | None:
    """Why an ``"ok"`` row is not a valid result (a non-finite loss or score), or None."""
    for name in _FINITE_FIELDS:
        v = row.get(name)
        if isinstance(v, int | float) and not isinstance(v, bool) and not math.isfinite(v):
            return (f"non-finite loss: last training loss {v}" if name == "train_loss"
                    else f"non-finite {name}: {v}")
    return None


def revalidate_component_rows(path: str | Path, *, command: str | None = None) -> list[int]:
    """Mark the ``"ok"`` rows of a component dataset whose loss or score is non-finite as
    failed, in place; returns their indices.

    Builds before the divergence check in the row builder recorded a training whose loss
    became NaN as ``status="ok"`` (its chance-level accuracy as ``top1``). Each such row gets
    ``status="failed"`` and ``error="non-finite loss: last training loss nan"`` (or
    ``"non-finite top1: nan"``); its measured values are kept and every other line is left
    byte for byte. The file is rewritten atomically while holding its build lock (a build
    running on it is refused, and none can start meanwhile); the provenance sidecar, when
    present, gets the new ``rows_ok`` / ``rows_failed`` and a run entry (``command``,
    ``revalidated``: the indices, ``finished``).

    Parameters
    ----------
    path : path
        A dataset written by :func:`build_component_dataset`.
    command : str, optional
        How this step was run, recorded in the sidecar (default: the call itself).

    Returns
    -------
    list of int
        Indices of the rows marked failed (empty: the file is unchanged).

    Raises
    ------
    DataError
        Missing, empty, foreign or corrupt file, or one whose last line is torn (resume the
        build first), or a sidecar that is not JSON.
    FileLockedError
        A build is writing the file (its :class:`~effdl_kit._core.filelock.BuildLock` is
        held); nothing is changed.
    """
    ds = _dataset(path)
    content = ds.load()
    if content.torn:
        raise DataError(f"{str(ds.path)!r} ends with a torn line; resume the build (it cuts "
                        "the line off) before revalidating")
    lock = BuildLock(ds.path)  # no build may append while the file is rewritten
    lock.acquire()
    try:
        return _mark_invalid_rows(ds, command or f"revalidate_component_rows({str(path)!r})")
    finally:
        lock.release()


def _mark_invalid_rows(ds: JsonlDataset, command: str) -> list[int]:
    """:func:`revalidate_component_rows` once the file is locked."""
    # splitlines: a complete last row without its newline is a row too (loaders keep it)
    lines = ds.path.read_text(encoding="utf-8").splitlines()
    marked: list[int] = []
    for i, line in enumerate(lines[1:], start=1):
        row = json.loads(line)
        reason = _invalid_reason(row) if row.get("status") == "ok" else None
        if reason is not None:
            row.update(status="failed", error=reason)
            lines[i] = json.dumps(row)
            marked.append(int(row["index"]))
    if not marked:
        return marked
    atomic_write_text(ds.path, "\n".join(lines) + "\n")
    side = ds.provenance
    if side.is_file():
        try:
            doc = json.loads(side.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DataError(f"{str(side)!r} is not a JSON provenance file: {exc}") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("runs", []), list):
            raise DataError(f"{str(side)!r} is not a provenance file (no list of runs)")
        rows = ds.load().rows
        ok = sum(1 for r in rows if r.get("status") == "ok")
        doc.update(rows=len(rows), rows_ok=ok, rows_failed=len(rows) - ok)
        doc["runs"] = [*doc.get("runs", []), {
            "command": command, "revalidated": marked, "finished": utc_now()}]
        atomic_write_text(side, json.dumps(doc, indent=1, default=str) + "\n")
    return marked


def _dataset(path: str | Path) -> JsonlDataset:
    return JsonlDataset(path, fmt=_FORMAT, kind="component dataset", statuses=("ok", "failed"))


def build_component_dataset(
    space: ComponentSpace | None = None,
    *,
    n: int,
    scale: str = "small",
    seed: int = 0,
    path: str | Path,
    executor: Executor | None = None,
    max_workers: int | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Train ``n`` sampled configurations and append them to ``path`` (JSON lines).

    Parameters
    ----------
    space : ComponentSpace, optional
        Component value lists (default: :func:`default_component_space`).
    n : int
        Rows wanted in total (rows already in ``path`` count).
    scale : {"smoke", "small", "paper"}
        ``smoke`` caps every row at 1 epoch on 128 images; ``paper`` runs 5x the epochs.
    seed : int
        Build seed; row ``i`` depends only on ``(seed, i)``.
    path : path
        The dataset file; a provenance sidecar ``<stem>.provenance.json`` is written beside
        (:func:`effdl_kit._core.jsonl.provenance_path`).
    executor : concurrent.futures.Executor, optional
        Where rows train (default: a local process pool of ``max_workers``, or all cores).
    progress : bool
        tqdm progress bar.

    Returns
    -------
    DataFrame
        Every complete row (this run's and earlier runs'), sorted by ``index``.
    """
    space = default_component_space() if space is None else space
    if not isinstance(space, ComponentSpace):
        raise ConfigError("space", type(space).__name__, "a ComponentSpace")
    check_int("n", n, min_value=1)
    check_scale(scale)
    check_int("seed", seed, min_value=0, max_value=SEED_MAX)
    if max_workers is not None:
        check_int("max_workers", max_workers, min_value=1)
    ds = _dataset(path)
    state = ds.resume({"space": space.to_dict(), "scale": scale, "seed": seed})
    rows = state.rows
    done = {int(r["index"]) for r in rows}
    todo = [i for i in range(n) if i not in done]
    t0 = time.perf_counter()
    rows += ds.build_rows(_run_row, [(space.to_dict(), scale, seed, i) for i in todo],
                          executor=executor, max_workers=max_workers,
                          progress=("component dataset", "row", n) if progress else None)
    _write_provenance(ds, state, rows, n=n, seconds=time.perf_counter() - t0)
    return _frame(rows)


def _write_provenance(ds: JsonlDataset, state: JsonlContent, rows: list[dict[str, Any]], *,
                      n: int, seconds: float) -> None:
    header = state.header or {}
    ok = sum(1 for r in rows if r.get("status") == "ok")
    ds.write_provenance(
        {"builder": "effdl_kit.data.build_component_dataset", "seed": header["seed"],
         "scale": header["scale"], "space": header["space"], "created": header.get("created"),
         "rows": len(rows), "rows_ok": ok, "rows_failed": len(rows) - ok,
         "datasets": sorted({str(r.get("dataset")) for r in rows})},
        {"n_requested": n, "seconds": round(seconds, 1), "torn_bytes_dropped": len(state.torn)},
    )


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    if len(df):
        df = df.sort_values("index", kind="stable").reset_index(drop=True)
    return df


def load_component_dataset(path: str | Path, *, only_ok: bool = True) -> pd.DataFrame:
    """Read a dataset written by :func:`build_component_dataset` (sorted by ``index``).

    What a kill or an unlocked second build can leave is kept or left out, warned
    (:class:`~effdl_kit._core.jsonl.DataWarning`) and recorded in
    ``df.attrs["load_report"]`` (a :class:`~effdl_kit._core.jsonl.JsonlLoadReport`): a torn
    last line is left out, a complete last row without its newline is kept, a row repeating
    an earlier row's ``index`` is left out. What no build writes is an error naming the file,
    the line and the column, checked on the ``"ok"`` rows: a component whose values in the
    header's ``space`` are all text (all numbers) holding anything else (a list, a dict,
    ``"fast"``), or a ``top1`` that is not a finite number in [0, 1] (``NaN``, ``Infinity``,
    text, -3).

    Raises
    ------
    DataError
        Missing, empty, foreign or corrupt file (naming the line), or a value above.
    """
    from effdl_kit._core.jsonl import JsonlLoadReport, check_rows  # (kept local to this loader)

    ds = _dataset(path)
    content = ds.load()
    space = (content.header or {}).get("space")
    lists = {c: vs for c, vs in (space.items() if isinstance(space, dict) else ())
             if isinstance(vs, list) and vs}
    text = [c for c, vs in lists.items() if all(isinstance(v, str) for v in vs)]
    numeric = [c for c, vs in lists.items()
               if all(isinstance(v, int | float) and not isinstance(v, bool) for v in vs)]
    check_rows(content, str(ds.path), text=[*text, "error", "cpu"],
               numeric=[*numeric, "val_top1", "train_loss", "epochs_run", "train_time_s",
                        "n_params", "flops"],
               target="top1", target_ok=lambda v: 0.0 <= v <= 1.0,
               target_allowed="a finite number in [0, 1]")
    df = _frame(content.rows)
    if only_ok and len(df):
        df = df[df["status"] == "ok"].reset_index(drop=True)
    df.attrs["header"] = content.header
    df.attrs["load_report"] = JsonlLoadReport.of(str(ds.path), content)
    return df
