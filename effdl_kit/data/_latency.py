"""The MEDN module-latency dataset: sampled modules timed under controlled background load.

Each row is one module (Conv2d, Linear, MaxPool2d, AvgPool2d, BatchNorm2d, ReLU, LSTM or
multi-head attention) with

* **sampling parameters**: the module's own parameters and the batch size, drawn from
  :func:`sampling_ranges` (scaled to the device: larger on a GPU);
* **measurable parameters**: the device state read just before the timed calls (CPU:
  available memory, utilisation by other processes, total utilisation, load average; GPU:
  free memory and utilisation through NVML);
* **inferable parameters**: FLOPs, parameter count, input/output/weight bytes;
* the target: median latency of the timed calls (ms), with its IQR, mean, min and max;
* the background-load level it was measured under (:mod:`effdl_kit.measure`'s
  :class:`~effdl_kit.measure.LoadLevel`).

This module holds the sampling (:func:`sample_module_spec`), the reader
(:func:`load_latency_dataset`) and the feature tables (:func:`latency_features`,
:func:`latency_xy`, :func:`spec_feature_frame`); the builder and its protocol are in
:mod:`effdl_kit.data._latency_build` (:func:`~effdl_kit.data.build_latency_dataset`, command
line ``effdl build-latency``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from effdl_kit._core.errors import ConfigError, DataError
from effdl_kit._core.jsonl import JsonlDataset, JsonlLoadReport, check_rows
from effdl_kit._core.validate import check_float
from effdl_kit.data._latency_quality import with_protocol_defaults
from effdl_kit.measure import (
    MODULE_PARAMS,
    ModuleSpec,
    check_device,
    normalize_module_type,
)

__all__ = [
    "INFERABLE_COLUMNS",
    "LATENCY_FORMAT",
    "LATENCY_TARGET",
    "MEASURABLE_COLUMNS",
    "latency_data_path",
    "latency_features",
    "latency_xy",
    "load_latency_dataset",
    "sample_module_spec",
    "sampling_ranges",
    "spec_feature_frame",
]


LATENCY_FORMAT = "effdl-latency-dataset/1"
#: target column: median latency of the timed calls, milliseconds
LATENCY_TARGET = "latency_ms"
#: measurable parameters (device state before the timed calls) used as features: available
#: memory, utilisation by other processes, and the 1-minute load average (run-queue length,
#: which also counts processes waiting for a core)
MEASURABLE_COLUMNS: tuple[str, ...] = ("mem_available_mib", "utilization_pct", "load_avg_1m")
#: inferable parameters used as features
INFERABLE_COLUMNS: tuple[str, ...] = ("flops", "n_params", "input_bytes", "output_bytes",
                                      "weight_bytes")

# A range is ("log", lo, hi): log-uniform integer in [lo, hi]; or ("choice", v1, v2, ...).
# "padding" is drawn as ("choice", 0, "same"): 0 or kernel_size // 2.
Range = tuple[Any, ...]
_CPU_RANGES: dict[str, dict[str, Range]] = {
    "conv2d": {"batch": ("choice", 1, 2, 4, 8), "channels": ("log", 3, 128),
               "out_channels": ("log", 8, 128), "hw": ("log", 7, 64),
               "kernel_size": ("choice", 1, 3, 5, 7), "stride": ("choice", 1, 2),
               "padding": ("choice", 0, "same")},
    "linear": {"batch": ("choice", 1, 4, 16, 64), "in_features": ("log", 16, 4096),
               "out_features": ("log", 16, 4096)},
    "maxpool2d": {"batch": ("choice", 1, 2, 4, 8, 16), "channels": ("log", 3, 256),
                  "hw": ("log", 8, 112), "kernel_size": ("choice", 2, 3),
                  "stride": ("choice", 1, 2)},
    "avgpool2d": {"batch": ("choice", 1, 2, 4, 8, 16), "channels": ("log", 3, 256),
                  "hw": ("log", 8, 112), "kernel_size": ("choice", 2, 3),
                  "stride": ("choice", 1, 2)},
    "batchnorm2d": {"batch": ("choice", 1, 2, 4, 8, 16), "channels": ("log", 3, 256),
                    "hw": ("log", 7, 112)},
    "relu": {"batch": ("choice", 1, 2, 4, 8, 16), "channels": ("log", 3, 256),
             "hw": ("log", 7, 112)},
    "lstm": {"batch": ("choice", 1, 2, 4, 8), "seq_len": ("log", 4, 64),
             "input_size": ("log", 16, 256), "hidden_size": ("log", 16, 256)},
    "mha": {"batch": ("choice", 1, 2, 4, 8), "seq_len": ("log", 4, 128),
            "embed_dim": ("choice", 32, 64, 128, 256), "num_heads": ("choice", 1, 2, 4, 8)},
}
#: per-device defaults: FLOPs cap of a draw and memory budget of a module
_DEVICE_LIMITS: dict[str, dict[str, float]] = {
    "cpu": {"flops_limit": 1e8, "memory_limit_mib": 128.0, "size_factor": 1.0},
    "cuda": {"flops_limit": 2e10, "memory_limit_mib": 4096.0, "size_factor": 4.0},
}
_MAX_REDRAWS = 200


def sampling_ranges(device: str = "cpu") -> dict[str, dict[str, Range]]:
    """The documented parameter ranges per module type, scaled to ``device``.

    CPU (the table in the source, :data:`_CPU_RANGES`): batch 1-16 (Linear 1-64), spatial
    size 7-112, channels 3-256, Linear features 16-4096, LSTM sizes 16-256 over 4-64 steps,
    attention width 32-256 over 4-128 tokens. On a GPU the log ranges' upper ends and the
    batch choices are four times larger.
    """
    kind = "cuda" if check_device(device).startswith("cuda") else "cpu"
    f = _DEVICE_LIMITS[kind]["size_factor"]
    out: dict[str, dict[str, Range]] = {}
    for mt, params in _CPU_RANGES.items():
        out[mt] = {}
        for name, r in params.items():
            if f != 1.0 and r[0] == "log" and name not in ("kernel_size", "stride"):
                out[mt][name] = ("log", r[1], int(r[2] * f))
            elif f != 1.0 and name == "batch":
                out[mt][name] = ("choice", *(int(v * f) for v in r[1:]))
            else:
                out[mt][name] = r
    return out


def _draw(rng: np.random.Generator, r: Range) -> Any:
    if r[0] == "log":
        lo, hi = math.log(r[1]), math.log(r[2] + 1)
        return int(min(r[2], max(r[1], math.floor(math.exp(rng.uniform(lo, hi))))))
    if r[0] == "choice":
        return r[1 + int(rng.integers(len(r) - 1))]
    raise ConfigError("range", r, "('log', lo, hi) or ('choice', v1, ...)")


def sample_module_spec(
    module_type: str,
    rng: np.random.Generator,
    *,
    ranges: Mapping[str, Mapping[str, Range]] | None = None,
    flops_limit: float = math.inf,
) -> ModuleSpec:
    """Draw one valid :class:`~effdl_kit.measure.ModuleSpec` of ``module_type``.

    Invalid draws (a kernel larger than the input, heads not dividing the width) and draws
    above ``flops_limit`` are redrawn from the same generator.
    """
    mt = normalize_module_type(module_type)
    rs = (ranges or sampling_ranges("cpu"))[mt]
    for _ in range(_MAX_REDRAWS):
        params = {name: _draw(rng, rs[name]) for name in MODULE_PARAMS[mt]}
        if params.get("padding") == "same":
            params["padding"] = int(params["kernel_size"]) // 2
        try:
            spec = ModuleSpec(mt, params)
        except ConfigError:
            continue
        if spec.flops <= flops_limit:
            return spec
    raise ConfigError("flops_limit", flops_limit,
                      f"a limit that {mt} draws from the sampling ranges can meet")


# ----------------------------------------------------------------------------- read

#: a row's status: measured, over the memory budget (redrawn), or failed
_STATUSES = ("ok", "oom", "failed")


#: columns of a measured row that hold text, and numbers (besides the module parameters)
_TEXT_COLUMNS = ("module_type", "load_level", "device", "host", "timer", "error")
_NUMERIC_COLUMNS = (*MEASURABLE_COLUMNS, *INFERABLE_COLUMNS, "memory_bytes",
                    "total_utilization_pct", "state_window_s", "iqr_ms", "mean_ms", "min_ms",
                    "max_ms", "warmup", "repeats", "threads", "wall_s", "timestamp")


def _dataset(path: str | Path) -> JsonlDataset:
    # a module is redrawn after an out-of-memory attempt: (index, attempt) identifies a row
    return JsonlDataset(path, fmt=LATENCY_FORMAT, kind="latency dataset", statuses=_STATUSES,
                        key=("index", "attempt"))


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows (checked by :meth:`JsonlDataset.read`) as a frame sorted by (index, attempt)."""
    df = pd.DataFrame(rows)
    if len(df):
        df = df.sort_values(["index", "attempt"], kind="stable").reset_index(drop=True)
    return df


def latency_data_path(device: str = "cpu") -> Path:
    """The shipped dataset of a device kind: ``<repo>/data/latency_{cpu,gpu}.jsonl``."""
    kind = "gpu" if str(device).startswith("cuda") or device == "gpu" else "cpu"
    return Path(__file__).resolve().parents[2] / "data" / f"latency_{kind}.jsonl"


def load_latency_dataset(path: str | Path | None = None, *, only_ok: bool = True
                         ) -> pd.DataFrame:
    """Read a dataset written by :func:`build_latency_dataset` (sorted by ``index``).

    Parameters
    ----------
    path : path, optional
        Default: the shipped CPU dataset ``data/latency_cpu.jsonl``.
    only_ok : bool
        Keep the measured rows only (drop ``oom`` and ``failed`` rows).

    Returns
    -------
    DataFrame
        One row per line (``calls_per_sample`` is 1 for rows built before fast modules were
        timed in batches); ``df.attrs["header"]`` is the header line and
        ``df.attrs["load_report"]`` a :class:`~effdl_kit._core.jsonl.JsonlLoadReport`.

    Warns
    -----
    DataWarning
        What a kill or an unlocked second build can leave is kept or left out, warned and
        recorded in the load report: a torn last line (a truncated file) is left out, a
        complete last row without its newline is kept, a row repeating an earlier row's
        ``(index, attempt)`` is left out (the first is kept).

    Raises
    ------
    DataError
        Missing, empty, foreign or corrupt file (naming the line: not UTF-8, not JSON, nested
        too deeply, an integer outside the 64-bit range, not an object); and what no build
        writes, naming the file, the line and the column: an ``attempt`` that is not a
        number, or in a measured (``"ok"``) row, a ``latency_ms`` that is not a finite number
        > 0 (``"fast"``, -3, ``NaN``, ``Infinity``), a module parameter or another numeric
        column holding text, a list or a dict, or a text column (``module_type``, ...)
        holding a list, a dict or a number.
    """
    ds = _dataset(latency_data_path() if path is None else path)
    content = ds.load(
        hint=" (build one with effdl_kit.data.build_latency_dataset or effdl build-latency)")
    source = str(ds.path)
    check_rows(content, source, numeric=("attempt",), statuses=_STATUSES)
    params = sorted({p for names in MODULE_PARAMS.values() for p in names})
    check_rows(content, source, text=_TEXT_COLUMNS, numeric=(*params, *_NUMERIC_COLUMNS),
               target=LATENCY_TARGET, target_ok=lambda v: v > 0,
               target_allowed="a finite number of milliseconds > 0")
    df = _frame(content.rows)
    if only_ok and len(df):
        df = df[df["status"] == "ok"].reset_index(drop=True)
    if len(df):  # rows built before batching were timed one call per sample
        df = with_protocol_defaults(df)
    df.attrs["header"] = content.header
    df.attrs["load_report"] = JsonlLoadReport.of(source, content)
    return df


def latency_features(module_type: str, *, measurable: bool = True, inferable: bool = True
                     ) -> list[str]:
    """Feature columns of one module type: sampling (+ measurable) (+ inferable)."""
    mt = normalize_module_type(module_type)
    cols = list(MODULE_PARAMS[mt])
    if measurable:
        cols += list(MEASURABLE_COLUMNS)
    if inferable:
        cols += [c for c in INFERABLE_COLUMNS if not (c == "n_params" and mt in (
            "maxpool2d", "avgpool2d", "relu")) and not (c == "weight_bytes" and mt in (
                "maxpool2d", "avgpool2d", "relu"))]
    return cols


def spec_feature_frame(specs: Sequence[ModuleSpec], *, mem_available_mib: float,
                       utilization_pct: float, load_avg_1m: float, measurable: bool = True,
                       inferable: bool = True) -> pd.DataFrame:
    """Feature rows (:func:`latency_features` order) for specs of one module type, at a
    given device state (what a predictor needs to predict a module not measured yet).

    Raises
    ------
    ConfigError
        No spec, specs of several types, or a non-finite state.
    """
    if isinstance(specs, ModuleSpec) or not specs or not all(
            isinstance(s, ModuleSpec) for s in specs):
        raise ConfigError("specs", specs, "a non-empty sequence of ModuleSpec")
    types = {s.module_type for s in specs}
    if len(types) != 1:
        raise ConfigError("specs", sorted(types), "specs of one module type")
    state = {"mem_available_mib": check_float("mem_available_mib", mem_available_mib,
                                              min_value=0.0),
             "utilization_pct": check_float("utilization_pct", utilization_pct,
                                            min_value=0.0, max_value=100.0),
             "load_avg_1m": check_float("load_avg_1m", load_avg_1m, min_value=0.0)}
    cols = latency_features(types.pop(), measurable=measurable, inferable=inferable)
    rows = [{**s.params, **state, **s.inferable()} for s in specs]
    return pd.DataFrame(rows)[cols].astype(float)


def latency_xy(df: pd.DataFrame, module_type: str, *, measurable: bool = True,
               inferable: bool = True) -> tuple[pd.DataFrame, np.ndarray]:
    """Features and target (ms) of one module type's ok rows.

    Raises
    ------
    DataError
        Missing columns, or no row of that type.
    """
    mt = normalize_module_type(module_type)
    cols = latency_features(mt, measurable=measurable, inferable=inferable)
    need = [*cols, LATENCY_TARGET, "module_type"]
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise DataError(f"latency frame lacks the columns {missing}")
    sub = df[df["module_type"] == mt]
    if "status" in sub.columns:
        sub = sub[sub["status"] == "ok"]
    if not len(sub):
        raise DataError(f"no {mt!r} rows in the latency frame")
    X = sub[cols].astype(float).reset_index(drop=True)
    return X, sub[LATENCY_TARGET].to_numpy(dtype=float)
