"""Building the MEDN module-latency dataset (:func:`build_latency_dataset`).

Protocol (:func:`build_latency_dataset`): row ``i``'s module type is
``module_types[i % len(module_types)]`` (balanced) and its load level and configuration
depend only on ``(seed, i)``; draws whose FLOPs exceed ``flops_limit`` are redrawn silently
(the device's compute scale); configurations whose estimated memory exceeds
``memory_limit_mib``, or that raise an out-of-memory error when run, are recorded as
``status="oom"`` rows and redrawn (attempt ``a + 1``); any other failure is recorded as
``status="failed"``. Rows run in a shuffled order, in chunks; within a chunk the rows of one
load level run together under one :class:`~effdl_kit.measure.BackgroundLoad`, so the load
processes start once per level per chunk. Each row gets ``warmup`` untimed and ``repeats``
timed samples, reduced for slow modules so one row takes about ``row_budget_s`` (never fewer
than ``min_repeats`` timed samples; the counts used are recorded). The intra-op thread count
is fixed for the whole build and recorded.

Fast modules are timed in batches: a probe (:func:`effdl_kit.measure._timing.probe_call_s`:
one cold call, then at least five warm calls over about 1 ms, their median) estimates a warm
call, and a module whose call is under ``sample_min_s`` (100 µs) gets
``calls_per_sample = ceil(sample_min_s / call)`` back-to-back calls per sample (at most
``max_calls_per_sample``), so a sample lasts at least ``sample_min_s``; slower modules
keep 1. The row's latency columns are per call (a sample's duration over its calls) and
``calls_per_sample`` is recorded; ``warmup`` counts warm-up samples, the probe counting as
one. ``sample_min_s=0`` times every call on its own.

Outside load: every measured row records the machine's CPU use over its window, from before
its module is built to after its timed calls and at least ``load_window_s`` long (the row
waits out the rest): ``window_util_pct`` (all processes), ``outside_util_pct`` (all but the
process doing the timing), ``steal_pct``, ``load_per_core`` (1-minute load average over the
logical cores, ``n_cores``), ``load_window_s``; and ``outside_load``, True for a row of an
idle level whose machine was not idle: other processes above 25 % of all cores
(:data:`~effdl_kit.data._latency_quality.OUTSIDE_UTIL_PCT_MAX`) or a load average besides the
row's own threads above 0.5 per core
(:data:`~effdl_kit.data._latency_quality.OUTSIDE_LOAD_PER_CORE_MAX`); see
:mod:`effdl_kit.data._latency_quality` for the rule, its caveats, and
:func:`~effdl_kit.data._latency_quality.outside_load_mask` to re-apply it.

The file is JSON lines (:class:`effdl_kit._core.jsonl.JsonlDataset`): a header with the
build's arguments, then one row per line, appended with one write and fsynced as it is
measured; a restart with the same arguments continues where the last run stopped (a torn last
line is cut off, and the run's ``torn_bytes_dropped`` says so), other arguments are refused. A
provenance sidecar ``<stem>.provenance.json`` records the machine, the runs and the counts.

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

The command line is ``effdl build-latency`` (:mod:`effdl_kit.cli`).
"""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Generator, Mapping, Sequence
from concurrent.futures import Executor, Future, as_completed
from contextlib import closing
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from effdl_kit._core.errors import ConfigError, DataError
from effdl_kit._core.jsonl import JsonlContent, JsonlDataset
from effdl_kit._core.rng import SEED_MAX, torch_seeded
from effdl_kit._core.validate import check_executor, check_float, check_int
from effdl_kit.data._latency import (
    _DEVICE_LIMITS,
    LATENCY_TARGET,
    MEASURABLE_COLUMNS,
    Range,
    _dataset,
    _frame,
    sample_module_spec,
    sampling_ranges,
)
from effdl_kit.data._latency_quality import (
    OUTSIDE_LOAD_PER_CORE_MAX,
    OUTSIDE_UTIL_PCT_MAX,
    outside_load_flags,
)
from effdl_kit.measure import (
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
from effdl_kit.measure._device import load_window, read_cpu_counters
from effdl_kit.measure._timing import (
    MAX_CALLS_PER_SAMPLE,
    SAMPLE_MIN_S,
    choose_calls_per_sample,
    probe_call_s,
)

__all__ = ["build_latency_dataset"]

#: most attempts of one row index (out-of-memory draws are recorded and redrawn)
_MAX_ATTEMPTS = 30


def _row_plan(seed: int, index: int, module_types: Sequence[str], n_levels: int
              ) -> tuple[str, int]:
    rng = np.random.default_rng([seed, index, 7])
    return module_types[index % len(module_types)], int(rng.integers(n_levels))


def _measure_row(spec: ModuleSpec, *, device: str, warmup: int, repeats: int,
                 min_repeats: int, row_budget_s: float, window_s: float, seed: int,
                 idle: bool = False, sample_min_s: float = SAMPLE_MIN_S,
                 max_calls_per_sample: int = MAX_CALLS_PER_SAMPLE,
                 load_window_s: float = 0.0) -> dict[str, Any]:
    """Time one module (probe, batch size, warm-up, samples) and read its load window."""
    start = read_cpu_counters()
    with torch_seeded(seed):
        module = spec.build().to(device)
    x = torch.randn(*spec.input_shape, generator=torch.Generator().manual_seed(seed)).to(device)
    with torch.inference_mode():  # the probe sizes the batch and the repeats (one warm-up)
        call_s, _ = probe_call_s(module, x, device=device)
    del x
    k = choose_calls_per_sample(call_s, sample_min_s=sample_min_s,
                                max_calls=max_calls_per_sample)
    sample_s = k * call_s
    n_rep = int(min(repeats, max(min_repeats, row_budget_s * 0.8 / sample_s)))
    n_warm = int(min(max(warmup - 1, 0), max(1, row_budget_s * 0.2 / sample_s)))
    res = measure_latency(module, spec.input_shape, device=device, warmup=n_warm,
                          repeats=n_rep, threads=None, state_window_s=window_s, seed=seed,
                          calls_per_sample=k)
    rest = load_window_s - (time.monotonic() - start.t)
    if rest > 0:
        time.sleep(rest)
    win = load_window(start, read_cpu_counters())
    st = res.state
    return {
        "mem_available_mib": st.mem_available_mib, "utilization_pct": st.utilization_pct,
        "total_utilization_pct": st.total_utilization_pct, "load_avg_1m": st.load_avg_1m,
        "state_window_s": st.window_s,
        LATENCY_TARGET: res.median_ms, "iqr_ms": res.iqr_ms, "mean_ms": res.mean_ms,
        "min_ms": res.min_ms, "max_ms": max(res.samples_ms), "warmup": n_warm + 1,
        "repeats": n_rep, "calls_per_sample": k, "threads": res.threads, "timer": res.timer,
        "window_util_pct": win.cpu_pct, "outside_util_pct": win.outside_pct,
        "steal_pct": win.steal_pct, "load_per_core": win.load_per_core,
        "n_cores": win.n_cores, "load_window_s": win.window_s,
        "outside_load": bool(outside_load_flags(idle, win.outside_pct, win.load_avg_1m,
                                                res.threads, win.n_cores)),
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
            yield _row(i, module_type, level.name, start=start, idle=level.is_idle,
                       **row_kwargs)


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
    sample_min_s: float = SAMPLE_MIN_S,
    max_calls_per_sample: int = MAX_CALLS_PER_SAMPLE,
    load_window_s: float = 0.05,
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
        Untimed and timed samples per row (reduced for slow modules, see ``row_budget_s``).
    min_repeats : int
        Fewest timed samples of a row.
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
    sample_min_s : float
        Shortest sample, seconds (>= 0): a module whose warm call is shorter is timed in
        batches of back-to-back calls per sample (recorded as ``calls_per_sample``); 0 times
        every call on its own.
    max_calls_per_sample : int
        Most calls in one sample.
    load_window_s : float
        Shortest outside-load window of a row, seconds (>= 0; the CPU counters tick every
        10 ms, so shorter windows read coarsely).

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
    check_int("seed", seed, min_value=0, max_value=SEED_MAX)
    check_int("warmup", warmup, min_value=1)
    check_int("repeats", repeats, min_value=1)
    check_int("min_repeats", min_repeats, min_value=1, max_value=repeats)
    check_float("row_budget_s", row_budget_s, min_value=0.0, min_inclusive=False)
    check_int("threads", threads, min_value=1)
    check_int("block", block, min_value=1)
    check_float("window_s", window_s, min_value=0.0)
    check_float("sample_min_s", sample_min_s, min_value=0.0)
    check_int("max_calls_per_sample", max_calls_per_sample, min_value=1)
    check_float("load_window_s", load_window_s, min_value=0.0)
    check_executor(executor)
    kind = "cuda" if dev.startswith("cuda") else "cpu"
    flops_limit = float(_DEVICE_LIMITS[kind]["flops_limit"] if flops_limit is None
                        else check_float("flops_limit", flops_limit, min_value=0.0,
                                         min_inclusive=False))
    memory_limit_mib = float(_DEVICE_LIMITS[kind]["memory_limit_mib"] if memory_limit_mib
                             is None else check_float("memory_limit_mib", memory_limit_mib,
                                                      min_value=0.0, min_inclusive=False))
    ds = _dataset(path)
    ranges = sampling_ranges(dev)
    args = {"module_types": types, "device": dev,
            "load_levels": [lv.to_dict() for lv in levels], "seed": seed, "warmup": warmup,
            "repeats": repeats, "min_repeats": min_repeats, "row_budget_s": row_budget_s,
            "threads": threads, "flops_limit": flops_limit,
            "memory_limit_mib": memory_limit_mib, "ranges": ranges,
            "sample_min_s": sample_min_s, "max_calls_per_sample": max_calls_per_sample}
    state = ds.resume(args)
    rows = state.rows
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
    if progress and todo:  # imported here: tqdm.auto may import ipywidgets
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
        "sample_min_s": sample_min_s,
        "max_calls_per_sample": max_calls_per_sample,
        "load_window_s": load_window_s,
    }
    # each job: its load level and its rows as (row index, module type, first attempt)
    plans = [(levels[li], [(i, module_type, attempts.get(i, 0)) for i, module_type in idx])
             for li, idx in jobs]
    futures: dict[Future[list[dict[str, Any]]], int] = {}
    lost: list[tuple[int, BaseException]] = []  # executor jobs lost: (their rows, the error)
    try:
        with ds.appender() as append:

            def record(measured_rows: list[dict[str, Any]], n_rows: int) -> None:
                """Append the rows of ``n_rows`` row indices (one write each, fsynced)."""
                nonlocal measured
                for row in measured_rows:
                    append(row)
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
                f"{missing} of {n} rows are missing from {str(ds.path)!r}: {len(lost)} of "
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
            ds,
            state,
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
         memory_limit_mib: float, idle: bool = False, **timing: Any) -> list[dict[str, Any]]:
    """Measure row ``index``: oom attempts (recorded, redrawn) then an ok or failed row.

    Any exception of a measurement is recorded in the row (``status`` "oom" or "failed",
    ``error`` its type and message) and does not stop the build; KeyboardInterrupt and other
    non-``Exception`` errors propagate.
    """
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
            row.update(_measure_row(spec, device=device, idle=idle,
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


def _write_provenance(
    ds: JsonlDataset,
    state: JsonlContent,
    rows: list[dict[str, Any]],
    *,
    n: int,
    seconds: float,
    measured: int,
    executor: str | None = None,
    hosts: Sequence[str] = (),
) -> Path:
    header = state.header or {}
    status = pd.Series([r.get("status") for r in rows], dtype=object)
    ok = [r for r in rows if r.get("status") == "ok"]
    info = {
        "builder": "effdl_kit.data.build_latency_dataset",
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
        "rows_batched": sum(1 for r in ok if int(r.get("calls_per_sample") or 1) > 1),
        "rows_outside_load": sum(1 for r in ok if r.get("outside_load") is True),
        "outside_load_rule": {"outside_util_pct_max": OUTSIDE_UTIL_PCT_MAX,
                              "load_per_core_max": OUTSIDE_LOAD_PER_CORE_MAX,
                              "applies_to": "rows of idle load levels"},
        "protocol": ("warm-up then timed samples in eval + inference mode; a sample is "
                     "calls_per_sample back-to-back calls (several for modules whose call is "
                     "under sample_min_s), latencies per call; median stored; device state "
                     "read just before the timed calls; thread count fixed; shuffled order; "
                     "background load by level (busy workers + memory ballast); outside load "
                     "over each row's window recorded, idle rows above the rule flagged "
                     "outside_load"),
    }
    run = {"n_requested": n, "rows_measured": measured, "executor": executor,
           "hosts": sorted(set(hosts)), "seconds": round(seconds, 1),
           "torn_bytes_dropped": len(state.torn)}
    return ds.write_provenance(info, run)


def _round(v: float) -> float:
    return float(f"{float(v):.6g}")


def _counts(rows: list[dict[str, Any]], key: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in rows:
        out[str(r.get(key))] = out.get(str(r.get(key)), 0) + 1
    return dict(sorted(out.items()))
