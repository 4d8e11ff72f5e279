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

Protocol (:func:`build_latency_dataset`): row ``i``'s module type is
``module_types[i % len(module_types)]`` (balanced) and its load level and configuration
depend only on ``(seed, i)``; draws whose FLOPs exceed ``flops_limit`` are redrawn silently
(the device's compute scale); configurations whose estimated memory exceeds
``memory_limit_mib``, or that raise an out-of-memory error when run, are recorded as
``status="oom"`` rows and redrawn (attempt ``a + 1``); any other failure is recorded as
``status="failed"``. Rows run in a shuffled order, in chunks; within a chunk the rows of one
load level run together under one :class:`~effdl_kit.measure.BackgroundLoad`, so the load
processes start once per level per chunk. Each row gets ``warmup`` untimed and ``repeats``
timed calls, reduced for slow modules so one row takes about ``row_budget_s`` (never fewer
than ``min_repeats`` timed calls; the counts used are recorded). The intra-op thread count is
fixed for the whole build and recorded.

The file is JSON lines: a header with the build's arguments, then one row per line, appended,
flushed and fsynced as it is measured; a restart with the same arguments continues where the
last run stopped (a torn last line is dropped), other arguments are refused. A provenance
sidecar ``<stem>.provenance.json`` records the machine, the runs and the counts.

Rows run in-process by default, or on any ``concurrent.futures.Executor`` (a Dask
``distributed`` client's ``get_executor()`` works unchanged): each (chunk, load level) group
above is then one job, which starts its own background load on the worker that runs it and
returns its rows; the driver appends each job's rows as the job completes, so a killed driver
loses at most the jobs in flight. A job that raises is not retried: its rows are left out, the
other jobs go on, and the build ends with a :class:`~effdl_kit.errors.DataError`; rerunning
with the same arguments measures only the missing rows.

Measurement honesty on a cluster: rows timed at the same time on one machine are each other's
background load, which no load level records. Run one single-threaded worker per machine
(``dask worker ADDRESS --nworkers 1 --nthreads 1``). Every row records the ``host`` it was
measured on (rows written before this field existed load with NaN there), and the sidecar's
run entries record the executor used and the hosts that measured rows.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import socket
import sys
import time
import uuid
from collections.abc import Generator, Mapping, Sequence
from concurrent.futures import Executor, Future, as_completed
from contextlib import closing
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import pandas as pd

from effdl_kit._core.env import collect_env
from effdl_kit._core.errors import ConfigError, DataError
from effdl_kit._core.storage import dask_executor
from effdl_kit._core.validate import check_executor, check_float, check_int
from effdl_kit.data._components import _rewrite_complete
from effdl_kit.measure import (
    MODULE_PARAMS,
    MODULE_TYPES,
    BackgroundLoad,
    LoadLevel,
    ModuleSpec,
    as_load_levels,
    check_device,
    default_load_levels,
    fixed_threads,
    is_out_of_memory,
    measure_latency,
    normalize_module_type,
)

__all__ = [
    "INFERABLE_COLUMNS",
    "LATENCY_FORMAT",
    "LATENCY_TARGET",
    "MEASURABLE_COLUMNS",
    "build_latency_dataset",
    "latency_data_path",
    "latency_features",
    "latency_xy",
    "load_latency_dataset",
    "provenance_path",
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
_MAX_ATTEMPTS = 30
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


# ----------------------------------------------------------------------------- file I/O


def _read(path: Path) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """Header and complete rows; a torn last line (killed mid-write) is ignored."""
    if not path.exists():
        return None, []
    header: dict[str, Any] | None = None
    rows: list[dict[str, Any]] = []
    with path.open("r", encoding="utf-8") as fh:
        for line in fh:
            if not line.endswith("\n"):
                break
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{str(path)!r}: corrupt line {len(rows) + 2}: {exc}") from None
            if header is None:
                if obj.get("format") != LATENCY_FORMAT:
                    raise DataError(f"{str(path)!r} is not a latency dataset (first line lacks "
                                    f"format {LATENCY_FORMAT!r})")
                header = obj
            else:
                rows.append(obj)
    return header, rows


def provenance_path(path: str | Path) -> Path:
    """The sidecar of a dataset: ``data/latency_cpu.jsonl`` -> ``latency_cpu.provenance.json``."""
    p = Path(path)
    return p.with_name(p.stem + ".provenance.json")


def _write_provenance(
    path: Path,
    header: Mapping[str, Any],
    rows: list[dict[str, Any]],
    *,
    n: int,
    seconds: float,
    measured: int,
    executor: str | None = None,
    hosts: Sequence[str] = (),
) -> Path:
    side = provenance_path(path)
    old = json.loads(side.read_text()) if side.exists() else {}
    runs = list(old.get("runs", []))
    argv = list(sys.argv)
    if argv and argv[0].endswith(("_latency.py", "_latency")):
        argv = ["python", "-m", "effdl_kit.data._latency", *argv[1:]]
    runs.append({"command": " ".join(argv), "n_requested": n, "rows_measured": measured,
                 "executor": executor, "hosts": sorted(set(hosts)),
                 "seconds": round(seconds, 1),
                 "finished": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")})
    status = pd.Series([r.get("status") for r in rows], dtype=object)
    ok = [r for r in rows if r.get("status") == "ok"]
    info = {
        "dataset": path.name,
        "builder": "effdl_kit.data.build_latency_dataset",
        "format": LATENCY_FORMAT,
        "arguments": {k: v for k, v in header.items() if k not in ("format", "created")},
        "created": header.get("created"),
        "rows": len(rows),
        "rows_ok": int((status == "ok").sum()),
        "rows_oom": int((status == "oom").sum()),
        "rows_failed": int((status == "failed").sum()),
        "rows_by_module_type": _counts(ok, "module_type"),
        "rows_by_load_level": _counts(ok, "load_level"),
        "measurable_ranges": {c: [_round(min(r[c] for r in ok)), _round(max(r[c] for r in ok))]
                              for c in (*MEASURABLE_COLUMNS, "total_utilization_pct") if ok},
        "latency_ms_range": ([_round(min(r[LATENCY_TARGET] for r in ok)),
                              _round(max(r[LATENCY_TARGET] for r in ok))] if ok else None),
        "protocol": ("warm-up then timed calls in eval + inference mode; median stored; device "
                     "state read just before the timed calls; thread count fixed; shuffled "
                     "order; background load by level (busy workers + memory ballast); other "
                     "engineers' jobs were running on this machine too, which shows in the "
                     "utilisation columns"),
        "machine": collect_env().to_dict(),
        "runs": runs,
    }
    tmp = side.with_suffix(".tmp")
    tmp.write_text(json.dumps(info, indent=1, default=str) + "\n")
    tmp.replace(side)
    return side


def _round(v: float) -> float:
    return float(f"{float(v):.6g}")


def _counts(rows: list[dict[str, Any]], key: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in rows:
        out[str(r.get(key))] = out.get(str(r.get(key)), 0) + 1
    return dict(sorted(out.items()))


_STATUSES = ("ok", "oom", "failed")


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows as a frame sorted by (index, attempt); a row without an integer index or a known
    status is a :class:`DataError`."""
    for i, r in enumerate(rows):
        if not isinstance(r, dict) or not isinstance(r.get("index"), int) or isinstance(
                r.get("index"), bool) or r.get("status") not in _STATUSES:
            raise DataError(f"row {i + 1} of the latency dataset lacks an integer 'index' or "
                            f"a 'status' in {_STATUSES}")
    df = pd.DataFrame(rows)
    if len(df):
        df = df.sort_values(["index", "attempt"], kind="stable").reset_index(drop=True)
    return df


# ----------------------------------------------------------------------------- build


def _row_plan(seed: int, index: int, module_types: Sequence[str], n_levels: int
              ) -> tuple[str, int]:
    rng = np.random.default_rng([seed, index, 7])
    return module_types[index % len(module_types)], int(rng.integers(n_levels))


def _measure_row(spec: ModuleSpec, *, device: str, warmup: int, repeats: int,
                 min_repeats: int, row_budget_s: float, window_s: float, seed: int
                 ) -> dict[str, Any]:
    import torch

    from effdl_kit._core.rng import torch_seeded

    with torch_seeded(seed):
        module = spec.build().to(device)
    x = torch.randn(*spec.input_shape, generator=torch.Generator().manual_seed(seed)).to(device)
    with torch.inference_mode():  # one probe call sizes the repeats (it counts as warm-up)
        t0 = time.perf_counter()
        module(x)
        if device.startswith("cuda"):  # pragma: no cover - needs a GPU
            torch.cuda.synchronize(device)
        probe = max(time.perf_counter() - t0, 1e-7)
    del x
    n_rep = int(min(repeats, max(min_repeats, row_budget_s * 0.8 / probe)))
    n_warm = int(min(max(warmup - 1, 0), max(1, row_budget_s * 0.2 / probe)))
    res = measure_latency(module, spec.input_shape, device=device, warmup=n_warm,
                          repeats=n_rep, threads=None, state_window_s=window_s, seed=seed)
    st = res.state
    return {
        "mem_available_mib": st.mem_available_mib, "utilization_pct": st.utilization_pct,
        "total_utilization_pct": st.total_utilization_pct, "load_avg_1m": st.load_avg_1m,
        "state_window_s": st.window_s,
        LATENCY_TARGET: res.median_ms, "iqr_ms": res.iqr_ms, "mean_ms": res.mean_ms,
        "min_ms": res.min_ms, "max_ms": max(res.samples_ms), "warmup": n_warm + 1,
        "repeats": n_rep, "threads": res.threads, "timer": res.timer,
    }


def _plan_jobs(
    todo: Sequence[int], *, seed: int, module_types: Sequence[str], n_levels: int, block: int
) -> list[tuple[int, list[tuple[int, str]]]]:
    """The build's jobs in run order: ``(level index, [(row index, module type), ...])``.

    ``todo`` is cut into chunks of ``block * n_levels`` rows; within a chunk the rows of one
    load level form one job, and the levels run in an order drawn from ``(seed, chunk)``.
    """
    jobs: list[tuple[int, list[tuple[int, str]]]] = []
    chunk = block * n_levels
    for c0 in range(0, len(todo), chunk):
        part = todo[c0 : c0 + chunk]
        plans = {i: _row_plan(seed, i, module_types, n_levels) for i in part}
        order = np.random.default_rng([seed, 2, c0]).permutation(n_levels)
        for li in (int(v) for v in order):
            idx = [(i, plans[i][0]) for i in part if plans[i][1] == li]
            if idx:
                jobs.append((li, idx))
    return jobs


def _measure_job(
    level: LoadLevel, rows: Sequence[tuple[int, str, int]], *, threads: int, **row_kwargs: Any
) -> Generator[list[dict[str, Any]], None, None]:
    """Measure one job's rows under its own background load, on this machine.

    Yields, per ``(row index, module type, first attempt)`` of ``rows`` in order, that index's
    rows (out-of-memory attempts, then the ok or failed row) as soon as they are measured. The
    load stops when the generator is exhausted or closed.
    """
    with fixed_threads(threads), BackgroundLoad(level, device=row_kwargs["device"]):
        for i, module_type, start in rows:
            yield _row(i, module_type, level.name, start=start, **row_kwargs)


def _run_job(
    level: LoadLevel,
    rows: Sequence[tuple[int, str, int]],
    *,
    threads: int,
    run: str,
    **row_kwargs: Any,
) -> list[dict[str, Any]]:
    """Measure one job on an executor's worker: its rows under its own background load.

    Parameters
    ----------
    level : LoadLevel
        The job's load level, started on the machine this runs on.
    rows : sequence of (int, str, int)
        ``(row index, module type, first attempt)`` per row, in run order.
    threads : int
        Intra-op thread count for the job.
    run : str
        Unused here; unique per build call, so an executor that hands back an earlier result
        for the same call (Dask's default pure tasks, while the earlier future is still
        referenced, e.g. by a kept exception) measures a rerun's job anew.
    **row_kwargs
        The remaining keyword arguments of :func:`_row` (seed, device, ranges, limits,
        timing).

    Returns
    -------
    list of dict
        The rows (oom attempts included), in run order.
    """
    return [row for part in _measure_job(level, rows, threads=threads, **row_kwargs)
            for row in part]


def _append(fh: TextIO, row: Mapping[str, Any]) -> None:
    """Append one row as a JSON line, flushed and fsynced."""
    fh.write(json.dumps(row) + "\n")
    fh.flush()
    os.fsync(fh.fileno())


def build_latency_dataset(
    module_types: Sequence[str] = MODULE_TYPES,
    *,
    n: int,
    device: str = "cpu",
    load_levels: Sequence[LoadLevel | Mapping[str, Any]] | None = None,
    seed: int = 0,
    path: str | Path,
    warmup: int = 5,
    repeats: int = 25,
    min_repeats: int = 5,
    row_budget_s: float = 0.25,
    threads: int = 1,
    flops_limit: float | None = None,
    memory_limit_mib: float | None = None,
    block: int = 200,
    window_s: float = 0.05,
    progress: bool = True,
    executor: Executor | None = None,
) -> pd.DataFrame:
    """Measure ``n`` sampled modules and append them to ``path`` (JSON lines; resumable).

    Parameters
    ----------
    module_types : sequence of str
        Any of :data:`~effdl_kit.measure.MODULE_TYPES` (torch class names accepted); rows
        cycle through them.
    n : int
        Rows wanted in total (ok or failed; rows already in ``path`` count).
    device : str
        ``"cpu"`` or ``"cuda[:i]"``; a missing GPU raises before anything is measured.
    load_levels : sequence of LoadLevel or dict, optional
        Background-load levels (default: :func:`~effdl_kit.measure.default_load_levels`);
        each row draws one.
    seed : int
        Row ``i``'s type, level and configuration depend only on ``(seed, i)``.
    path : path
        The dataset file; the sidecar ``<stem>.provenance.json`` is written beside it.
    warmup, repeats : int
        Untimed and timed calls per row (reduced for slow modules, see ``row_budget_s``).
    min_repeats : int
        Fewest timed calls of a row.
    row_budget_s : float
        Target seconds of calls per row.
    threads : int
        ``torch.set_num_threads`` for the whole build (restored after).
    flops_limit : float, optional
        Draws above it are redrawn (default: 1e8 on CPU, 2e10 on a GPU).
    memory_limit_mib : float, optional
        Modules whose estimated memory exceeds it are recorded as ``oom`` and redrawn
        (default: 128 MiB on CPU, 4 GiB on a GPU).
    block : int
        Rows per load level per chunk (load processes start once per level per chunk).
    window_s : float
        Shortest CPU-utilisation window of the device-state reading.
    progress : bool
        tqdm progress bar.
    executor : concurrent.futures.Executor, optional
        Where rows are measured (default: in this process). Each (chunk, load level) group is
        one job that starts its own background load on the worker running it, under
        ``threads`` intra-op threads, and returns its rows; this process appends a job's rows
        (flushed, fsynced) as the job completes. A Dask ``distributed`` client's
        ``get_executor()`` works unchanged. A job that raises is not retried (Dask already
        reruns tasks of lost workers); see Raises.

    Returns
    -------
    DataFrame
        Every row in ``path`` (all statuses), sorted by ``index``; see
        :func:`load_latency_dataset`.

    Raises
    ------
    ConfigError
        Any bad argument (``executor`` that is not a ``concurrent.futures.Executor``), or
        ``path`` holding a dataset built with other arguments.
    DeviceNotAvailableError
        ``device`` is not present (checked on this machine, also with an ``executor``).
    DataError
        With an ``executor``: some jobs raised. Every other job's rows are in ``path``; the
        message says how many rows are missing, and rerunning with the same arguments
        measures only those.

    Notes
    -----
    Rows timed at the same time on one machine are each other's background load, which the
    load level does not record. On a cluster run one single-threaded worker per machine
    (``dask worker ADDRESS --nworkers 1 --nthreads 1``); ``threads`` then sets the intra-op
    threads of that one worker. Every row records the ``host`` it was measured on, and the
    sidecar's run entry records the executor's class name (None in-process) and the hosts
    that measured the run's rows; its ``machine`` entry describes the machine that ran this
    function.
    """
    if isinstance(module_types, str) or not isinstance(module_types, Sequence) or (
            not module_types):
        raise ConfigError("module_types", module_types, MODULE_TYPES)
    types = [normalize_module_type(m, "module_types") for m in module_types]
    if len(set(types)) != len(types):
        raise ConfigError("module_types", list(module_types), "distinct module types")
    check_int("n", n, min_value=1)
    dev = check_device(device)
    levels = default_load_levels(dev) if load_levels is None else as_load_levels(load_levels)
    for lv in levels:
        BackgroundLoad(lv, device=dev)  # checks gpu_stream against the device
    check_int("seed", seed, min_value=0, max_value=2**31 - 1)
    check_int("warmup", warmup, min_value=1)
    check_int("repeats", repeats, min_value=1)
    check_int("min_repeats", min_repeats, min_value=1, max_value=repeats)
    check_float("row_budget_s", row_budget_s, min_value=0.0, min_inclusive=False)
    check_int("threads", threads, min_value=1)
    check_int("block", block, min_value=1)
    check_float("window_s", window_s, min_value=0.0)
    check_executor(executor)
    kind = "cuda" if dev.startswith("cuda") else "cpu"
    flops_limit = float(_DEVICE_LIMITS[kind]["flops_limit"] if flops_limit is None
                        else check_float("flops_limit", flops_limit, min_value=0.0,
                                         min_inclusive=False))
    memory_limit_mib = float(_DEVICE_LIMITS[kind]["memory_limit_mib"] if memory_limit_mib
                             is None else check_float("memory_limit_mib", memory_limit_mib,
                                                      min_value=0.0, min_inclusive=False))
    if not isinstance(path, str | Path) or not str(path).strip():
        raise ConfigError("path", path, "a file path")
    path = Path(path)
    ranges = sampling_ranges(dev)
    args = {"format": LATENCY_FORMAT, "module_types": types, "device": dev,
            "load_levels": [lv.to_dict() for lv in levels], "seed": seed, "warmup": warmup,
            "repeats": repeats, "min_repeats": min_repeats, "row_budget_s": row_budget_s,
            "threads": threads, "flops_limit": flops_limit,
            "memory_limit_mib": memory_limit_mib, "ranges": ranges}
    header, rows = _read(path)
    if header is not None:
        if {k: header.get(k) for k in args} != json.loads(json.dumps(args)):
            raise ConfigError("path", str(path), "a new file, or one built with the same "
                              "arguments (it holds a latency dataset built with other ones)")
        _rewrite_complete(path, header, rows)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        header = {**args, "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")}
        _rewrite_complete(path, header, [])
    done = {int(r["index"]) for r in rows if r.get("status") in ("ok", "failed")}
    attempts: dict[int, int] = {}
    for r in rows:
        if r.get("status") == "oom":
            attempts[int(r["index"])] = max(attempts.get(int(r["index"]), 0),
                                            int(r["attempt"]) + 1)
    todo = [int(i) for i in np.random.default_rng([seed, 1]).permutation(n) if int(i) not in done]
    t0 = time.perf_counter()
    measured = 0
    hosts: set[str] = set()
    bar = None
    if progress and todo:
        from tqdm.auto import tqdm

        bar = tqdm(total=n, initial=n - len(todo), desc=f"latency dataset ({dev})", unit="row")
    jobs = _plan_jobs(todo, seed=seed, module_types=types, n_levels=len(levels), block=block)
    row_kw: dict[str, Any] = {
        "seed": seed,
        "device": dev,
        "ranges": ranges,
        "flops_limit": flops_limit,
        "memory_limit_mib": memory_limit_mib,
        "warmup": warmup,
        "repeats": repeats,
        "min_repeats": min_repeats,
        "row_budget_s": row_budget_s,
        "window_s": window_s,
    }
    # each job: its load level and its rows as (row index, module type, first attempt)
    plans = [(levels[li], [(i, module_type, attempts.get(i, 0)) for i, module_type in idx])
             for li, idx in jobs]
    futures: dict[Future[list[dict[str, Any]]], int] = {}
    lost: list[tuple[int, BaseException]] = []  # executor jobs lost: (their rows, the error)
    try:
        with path.open("a", encoding="utf-8") as fh:

            def record(measured_rows: list[dict[str, Any]], n_rows: int) -> None:
                """Append the rows of ``n_rows`` row indices (flushed, fsynced)."""
                nonlocal measured
                for row in measured_rows:
                    _append(fh, row)
                    rows.append(row)
                    hosts.add(str(row.get("host")))
                measured += n_rows
                if bar is not None:
                    bar.update(n_rows)

            if executor is None:
                for level, spec in plans:
                    with closing(_measure_job(level, spec, threads=threads, **row_kw)) as parts:
                        for part in parts:  # one row index: its oom attempts, then the row
                            record(part, 1)
            else:
                run = uuid.uuid4().hex
                for level, spec in plans:
                    try:
                        fut = executor.submit(
                            _run_job, level, spec, threads=threads, run=run, **row_kw
                        )
                        futures[fut] = len(spec)
                    except Exception as exc:  # a refused submission loses that job only
                        lost.append((len(spec), exc))
                for fut in as_completed(futures):
                    try:
                        job_rows = fut.result()
                    except Exception as exc:  # a lost worker: record nothing, go on
                        lost.append((futures[fut], exc))
                        continue
                    record(job_rows, futures[fut])
        if lost:
            missing = sum(k for k, _ in lost)
            first = lost[0][1]
            raise DataError(
                f"{missing} of {n} rows are missing from {str(path)!r}: {len(lost)} of "
                f"{len(jobs)} jobs raised on the executor (first: {type(first).__name__}: "
                f"{first}); the other jobs' rows are saved, and rerunning "
                "build_latency_dataset with the same arguments resumes: it measures only "
                "the missing rows"
            ) from first
    finally:
        for fut in futures:  # stopped early (an error, Ctrl-C): drop the jobs not run yet
            fut.cancel()
        if bar is not None:
            bar.close()
        _write_provenance(
            path,
            header,
            rows,
            n=n,
            seconds=time.perf_counter() - t0,
            measured=measured,
            executor=None if executor is None else type(executor).__name__,
            hosts=sorted(hosts),
        )
    return _frame(rows)


def _row(index: int, module_type: str, level: str, *, seed: int, start: int, device: str,
         ranges: Mapping[str, Mapping[str, Range]], flops_limit: float,
         memory_limit_mib: float, **timing: Any) -> list[dict[str, Any]]:
    """Measure row ``index``: oom attempts (recorded, redrawn) then an ok or failed row."""
    out: list[dict[str, Any]] = []
    host = socket.gethostname()  # where the row is measured (an executor's worker, or here)
    for attempt in range(start, start + _MAX_ATTEMPTS):
        rng = np.random.default_rng([seed, index, attempt])
        spec = sample_module_spec(module_type, rng, ranges=ranges, flops_limit=flops_limit)
        row: dict[str, Any] = {
            "index": index, "attempt": attempt, "module_type": module_type,
            "load_level": level, "device": device, **spec.params, **spec.inferable(),
            "memory_bytes": spec.memory_bytes, "host": host,
        }
        t0 = time.perf_counter()
        try:
            if spec.memory_bytes > memory_limit_mib * 2**20:
                raise MemoryError(f"estimated {spec.memory_bytes / 2**20:.0f} MiB > budget "
                                  f"{memory_limit_mib:.0f} MiB")
            row.update(_measure_row(spec, device=device,
                                    seed=(seed * 1_000_003 + index) % 2**31, **timing))
            row.update(status="ok", error=None)
        except Exception as exc:
            row.update(status="oom" if is_out_of_memory(exc) else "failed",
                       error=f"{type(exc).__name__}: {exc}")
        row["wall_s"] = time.perf_counter() - t0
        row["timestamp"] = time.time()
        out.append(row)
        if row["status"] != "oom":
            return out
    out[-1]["status"] = "failed"
    return out


# ----------------------------------------------------------------------------- read


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

    Raises
    ------
    DataError
        Missing, empty or foreign file.
    """
    path = latency_data_path() if path is None else Path(path)
    if not path.is_file():
        raise DataError(f"no latency dataset at {str(path)!r} (build one with "
                        "effdl_kit.data.build_latency_dataset or python -m "
                        "effdl_kit.data._latency)")
    header, rows = _read(path)
    if header is None:
        raise DataError(f"{str(path)!r} is empty")
    df = _frame(rows)
    if only_ok and len(df):
        df = df[df["status"] == "ok"].reset_index(drop=True)
    df.attrs["header"] = header
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


# ----------------------------------------------------------------------------- CLI


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m effdl_kit.data._latency --n 5000 --out data/latency_cpu.jsonl``."""
    ap = argparse.ArgumentParser(prog="python -m effdl_kit.data._latency",
                                 description="Build (or resume) a module-latency dataset.")
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--module-types", default=",".join(MODULE_TYPES))
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=25)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--block", type=int, default=200)
    ap.add_argument("--no-progress", action="store_true")
    ap.add_argument("--scheduler", default=None, metavar="ADDRESS",
                    help="measure on this Dask scheduler's workers (tcp://host:8786); run one "
                         "single-threaded worker per machine")
    a = ap.parse_args(argv)
    with dask_executor(a.scheduler) as executor:
        df = build_latency_dataset(
            [m for m in a.module_types.split(",") if m], n=a.n, device=a.device, seed=a.seed,
            path=a.out, warmup=a.warmup, repeats=a.repeats, threads=a.threads, block=a.block,
            progress=not a.no_progress, executor=executor)
    print(f"{a.out}: {int((df['status'] == 'ok').sum())} ok rows of {len(df)}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
