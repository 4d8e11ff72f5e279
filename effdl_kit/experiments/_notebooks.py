"""Execute the reproduction notebooks, papermill style, and write a results summary.

Each notebook has one code cell tagged ``parameters`` (``SCALE``, ``SEED``, ``OUT_DIR``); a
cell tagged ``injected-parameters`` is inserted after it with the values of this run, the
notebook is executed with nbclient in its own directory, and the executed copy is written to
``<out>/notebooks/<name>.ipynb``. ``<out>/summary.md`` lists the executed notebooks with their
wall times, the total, the machine's load while they ran and the slowest cells, then every
experiment summary (``summary.json``) and every PDF figure found under ``<out>``;
``<out>/timings.json`` holds the same times (per notebook and per cell) for scripts.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from effdl_kit._core.env import collect_env
from effdl_kit._core.errors import ConfigError, DataError, EffdlError
from effdl_kit._core.io import atomic_write_text
from effdl_kit._core.validate import check_scale
from effdl_kit.experiments._registry import (
    ExperimentSummary,
    _check_out,
    _check_seed,
    find_summaries,
    flat_metrics,
    fmt_number,
)
from effdl_kit.reports import read_provenance

__all__ = [
    "INJECTED_TAG",
    "KERNEL_NAME",
    "PARAMETERS_TAG",
    "SLOW_CELL_S",
    "TIMINGS_FILE",
    "CellTiming",
    "NotebookError",
    "NotebookRun",
    "cell_timings",
    "inject_parameters",
    "kernel_command",
    "run_notebooks",
    "write_summary",
]

PARAMETERS_TAG = "parameters"
INJECTED_TAG = "injected-parameters"
KERNEL_NAME = "python3"
#: The per-notebook and per-cell wall times of a run, next to ``summary.md``.
TIMINGS_FILE = "timings.json"
#: Cells at least this long (seconds) are listed in ``summary.md`` as slow cells.
SLOW_CELL_S = 5.0


class NotebookError(EffdlError, RuntimeError):
    """A notebook failed while executing.

    Attributes
    ----------
    notebook : str
        The notebook's name (file stem).
    cell_index : int or None
        Index of the failing cell in the executed notebook (with the injected cell).
    ename, evalue : str
        The exception's class name and message inside the kernel.
    traceback : str
        nbclient's report (cell source and kernel traceback).
    executed_path : Path or None
        Where the partially executed notebook was written.
    """

    def __init__(self, notebook: str, cell_index: int | None, ename: str, evalue: str,
                 traceback: str = "", executed_path: Path | None = None) -> None:
        self.notebook = notebook
        self.cell_index = cell_index
        self.ename = ename
        self.evalue = evalue
        self.traceback = traceback
        self.executed_path = executed_path
        where = f"cell {cell_index}" if cell_index is not None else "execution"
        msg = f"notebook {notebook!r} failed in {where}: {ename}: {evalue}"
        if executed_path is not None:
            msg += f" (executed copy with the traceback: {executed_path})"
        super().__init__(msg)


@dataclass(frozen=True)
class CellTiming:
    """The wall time of one executed code cell.

    Attributes
    ----------
    index : int
        Index of the cell in the executed notebook (the injected cell included).
    seconds : float
        From the kernel's start of execution to its reply (nbclient's recorded timestamps).
    line : str
        The cell's last non-empty source line (at most 80 characters), to recognise it.
    """

    index: int
    seconds: float
    line: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (as ``timings.json`` records it)."""
        return {"index": self.index, "seconds": round(self.seconds, 3), "line": self.line}


@dataclass(frozen=True)
class NotebookRun:
    """One executed notebook, as listed in ``summary.md``.

    ``cells`` holds the code cells' wall times (:func:`cell_timings`), empty when the
    executed notebook recorded none.
    """

    name: str
    path: Path
    seconds: float
    ok: bool
    error: str | None = None
    cells: tuple[CellTiming, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (as ``timings.json`` records it)."""
        return {"name": self.name, "path": str(self.path), "seconds": round(self.seconds, 3),
                "ok": self.ok, "error": self.error,
                "cells": [c.to_dict() for c in self.cells]}


def _stamp(value: Any) -> _dt.datetime | None:
    if isinstance(value, _dt.datetime):
        return value
    if not isinstance(value, str):
        return None
    try:
        return _dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def cell_timings(nb: Any) -> tuple[CellTiming, ...]:
    """The wall time of every executed code cell of ``nb``, in cell order.

    nbclient records, in each executed cell's ``metadata.execution``, when the kernel began
    executing it (``iopub.execute_input``) and when it replied (``shell.execute_reply``);
    a cell without both timestamps (not executed) is left out.

    Parameters
    ----------
    nb : nbformat.NotebookNode
        An executed notebook (version 4).

    Returns
    -------
    tuple of CellTiming
    """
    out: list[CellTiming] = []
    for i, cell in enumerate(nb.cells):
        if cell.get("cell_type") != "code":
            continue
        execution = cell.get("metadata", {}).get("execution", {}) or {}
        start = _stamp(execution.get("iopub.execute_input"))
        end = _stamp(execution.get("shell.execute_reply"))
        if start is None or end is None:
            continue
        lines = [ln.strip() for ln in str(cell.get("source", "")).splitlines() if ln.strip()]
        out.append(CellTiming(i, max((end - start).total_seconds(), 0.0),
                              lines[-1][:80] if lines else ""))
    return tuple(out)


def _load() -> tuple[float, float, float] | None:
    try:
        return os.getloadavg()
    except OSError:  # not available on this platform
        return None


def _tags(cell: Any) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []) or [])


def inject_parameters(nb: Any, params: dict[str, Any], *, name: str = "notebook") -> int:
    """Insert an ``injected-parameters`` cell after the ``parameters`` cell of ``nb``.

    A previously injected cell is removed first, so injecting twice leaves one.

    Parameters
    ----------
    nb : nbformat.NotebookNode
        The notebook (version 4), changed in place.
    params : dict
        Variable name -> value; each value is written as its Python ``repr``.
    name : str
        The notebook's name, for the error message.

    Returns
    -------
    int
        Index of the injected cell.

    Raises
    ------
    ConfigError
        The notebook has no code cell tagged ``parameters`` (naming the notebook).
    """
    import nbformat

    nb.cells = [c for c in nb.cells if INJECTED_TAG not in _tags(c)]
    idx = next((i for i, c in enumerate(nb.cells)
                if c.get("cell_type") == "code" and PARAMETERS_TAG in _tags(c)), None)
    if idx is None:
        raise ConfigError("notebook", name,
                          "a notebook with a code cell tagged 'parameters' (this one has none)")
    lines = ["# Parameters injected by effdl-kit"]
    lines += [f"{k} = {v!r}" for k, v in params.items()]
    cell = nbformat.v4.new_code_cell("\n".join(lines))
    cell.metadata["tags"] = [INJECTED_TAG]
    nb.cells.insert(idx + 1, cell)
    return idx + 1


def kernel_command(kernel_name: str = KERNEL_NAME) -> list[str]:
    """The command line jupyter_client will launch for ``kernel_name``.

    jupyter_client replaces a bare ``python`` / ``python3`` / ``python3.X`` in the spec with
    the running interpreter, so the stock ``python3`` spec runs this environment's Python.

    Raises
    ------
    ConfigError
        No such kernel, or its spec launches another Python than ``sys.executable``.
    """
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec(kernel_name)
    except NoSuchKernel:
        raise ConfigError("kernel_name", kernel_name,
                          "an installed Jupyter kernel (pip install ipykernel)") from None
    argv = list(spec.argv)
    exe = argv[0] if argv else ""
    v = sys.version_info
    if exe in {"python", f"python{v[0]}", f"python{v[0]}.{v[1]}"}:
        argv[0] = sys.executable
    elif os.path.abspath(exe) != os.path.abspath(sys.executable):
        raise ConfigError("kernel_name", kernel_name,
                          f"a kernel running {sys.executable} (its spec in "
                          f"{spec.resource_dir} launches {exe})")
    return argv


def _failing_cell(nb: Any) -> int | None:
    for i, c in enumerate(nb.cells):
        if any(o.get("output_type") == "error" for o in c.get("outputs", [])):
            return i
    return None


def _rel(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


def _fmt_load(load: Sequence[float] | None) -> str:
    return "n/a" if load is None else " / ".join(f"{x:.2f}" for x in load)


def write_summary(out: str | Path, runs: Sequence[NotebookRun], *, scale: str, seed: int,
                  load_before: Sequence[float] | None = None,
                  load_after: Sequence[float] | None = None) -> Path:
    """Write ``<out>/summary.md``: executed notebooks, ``summary.json`` files and PDFs below.

    Also writes ``<out>/timings.json`` (:data:`TIMINGS_FILE`): scale, seed, the machine's
    logical cores, the load averages, the total and every notebook's and cell's wall time.

    Parameters
    ----------
    out : str or Path
        The results root.
    runs : sequence of NotebookRun
        The executed notebooks, in order.
    scale : str
        The scale they ran at.
    seed : int
        The seed they ran with.
    load_before, load_after : sequence of 3 floats, optional
        The 1-, 5- and 15-minute load averages before the first and after the last notebook
        (``os.getloadavg()``); other jobs on the machine raise them and slow the notebooks.

    Returns
    -------
    Path
        The written ``summary.md``.
    """
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    now = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    total = sum(r.seconds for r in runs)
    cores = os.cpu_count()
    lines = [
        "# effdl-kit results", "",
        f"Scale `{scale}`, seed `{seed}`, written {now}.", "",
        "```", collect_env().summary(), "```", "",
        "## Notebooks", "",
    ]
    if runs:
        lines += [f"{len(runs)} notebook(s) in {total:.1f} s ({total / 60:.1f} min) on "
                  f"{cores} logical cores; load average (1 / 5 / 15 min) "
                  f"{_fmt_load(load_before)} before, {_fmt_load(load_after)} after.", ""]
        lines += ["| notebook | status | time (s) | executed copy |", "|---|---|---:|---|"]
        for r in runs:
            status = "ok" if r.ok else f"FAILED: {(r.error or '').splitlines()[0][:120]}"
            rel = _rel(r.path, root)
            lines.append(f"| {r.name} | {status} | {r.seconds:.1f} | [{rel}]({rel}) |")
        slow = sorted(((r.name, c) for r in runs for c in r.cells
                       if c.seconds >= SLOW_CELL_S), key=lambda rc: -rc[1].seconds)
        lines += ["", f"Cells of {SLOW_CELL_S:g} s or more (all cells: `{TIMINGS_FILE}`):", ""]
        if slow:
            lines += ["| notebook | cell | time (s) | last line |", "|---|---:|---:|---|"]
            lines += [f"| {name} | {c.index} | {c.seconds:.1f} | `{c.line.replace('|', '/')}` |"
                      for name, c in slow]
        else:
            lines.append("none.")
    else:
        lines.append("No notebook executed.")
    atomic_write_text(root / TIMINGS_FILE, json.dumps({
        "scale": scale, "seed": seed, "written": now, "cores_logical": cores,
        "load_before": None if load_before is None else list(load_before),
        "load_after": None if load_after is None else list(load_after),
        "total_s": round(total, 3), "notebooks": [r.to_dict() for r in runs],
    }, indent=1) + "\n")
    lines += ["", "## Experiments", ""]
    summaries = find_summaries(root)
    if not summaries:
        lines.append("No `summary.json` found.")
    for path in summaries:
        rel_dir = _rel(path.parent, root)
        try:
            s = ExperimentSummary.from_json(path)
        except (DataError, OSError) as exc:
            lines += [f"### {rel_dir}", "", f"Unreadable `summary.json`: {exc}", ""]
            continue
        lines += [f"### {s.name} (`{rel_dir}/`)", "",
                  f"Scale `{s.scale}`, seed `{s.seed}`, {s.wall_time_s:.1f} s.", ""]
        for key, val in flat_metrics(s.metrics).items():
            lines.append(f"- {key}: {fmt_number(val)}")
        for kind, files in (("figures", s.figures), ("tables", s.tables)):
            if files:
                links = ", ".join(f"[{f}]({rel_dir}/{f})" for f in files)
                lines.append(f"- {kind}: {links}")
        lines.append("")
    lines += ["## Figures", ""]
    pdfs = sorted(p for p in root.rglob("*.pdf") if (root / "notebooks") not in p.parents)
    if not pdfs:
        lines.append("No PDF figure found.")
    for pdf in pdfs:
        rel = _rel(pdf, root)
        try:
            prov = read_provenance(pdf)
            note = f" (seed {prov.get('seed')}, scale {prov.get('scale')})"
        except (DataError, OSError):
            note = ""
        lines.append(f"- [{rel}]({rel}){note}")
    path = root / "summary.md"
    path.write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")
    return path


def run_notebooks(
    notebooks_dir: str | Path,
    *,
    scale: str,
    seed: int = 0,
    out: str | Path,
    timeout: float | None = None,
    progress: bool = True,
    stream: TextIO | None = None,
) -> list[Path]:
    """Execute every ``*.ipynb`` in ``notebooks_dir`` (sorted) with injected parameters.

    Parameters
    ----------
    notebooks_dir : str or Path
        Directory of the notebooks; also the kernel's working directory.
    scale : {"smoke", "small", "paper"}
        Injected as ``SCALE``.
    seed : int
        Injected as ``SEED``.
    out : str or Path
        Results root, injected (absolute) as ``OUT_DIR``; executed notebooks go to
        ``out/notebooks/``, the summary to ``out/summary.md``, the per-notebook and per-cell
        wall times to ``out/timings.json``.
    timeout : float, optional
        Seconds allowed per cell (None: no limit).
    progress : bool
        Print one line per notebook (name, status, elapsed time), then the total.
    stream : text file, optional
        Where progress goes (default ``sys.stdout``).

    Returns
    -------
    list of Path
        The executed notebooks, in execution order.

    Raises
    ------
    ConfigError
        Bad scale/seed/out/timeout, no notebooks, or a notebook without a ``parameters``
        cell (all checked before the first notebook runs).
    NotebookError
        A cell failed; names the notebook, the cell and the error. The executed copy and
        ``summary.md`` are still written.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError

    check_scale(scale)
    seed = _check_seed(seed)
    root = _check_out(out)
    nb_dir = Path(notebooks_dir) if isinstance(notebooks_dir, str | Path) else None
    if nb_dir is None or not nb_dir.is_dir():
        raise ConfigError("notebooks_dir", str(notebooks_dir), "an existing directory")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(
            timeout, int | float) or not timeout > 0):
        raise ConfigError("timeout", timeout, "None or a number of seconds > 0")
    paths = sorted(nb_dir.glob("*.ipynb"))
    if not paths:
        raise ConfigError("notebooks_dir", str(nb_dir), "a directory holding *.ipynb files")
    kernel_command(KERNEL_NAME)
    params = {"SCALE": scale, "SEED": seed, "OUT_DIR": str(root.resolve())}
    notebooks = []
    for p in paths:  # read and inject everything first: a bad notebook fails before any work
        nb = nbformat.read(p, as_version=4)
        inject_parameters(nb, params, name=p.name)
        notebooks.append((p, nb))
    exec_dir = root / "notebooks"
    exec_dir.mkdir(parents=True, exist_ok=True)
    out_stream = stream if stream is not None else sys.stdout
    load_before = _load()
    runs: list[NotebookRun] = []
    written: list[Path] = []
    n = len(notebooks)
    for k, (p, nb) in enumerate(notebooks, 1):
        dest = exec_dir / p.name
        client = NotebookClient(
            nb, timeout=timeout, kernel_name=KERNEL_NAME,
            resources={"metadata": {"path": str(nb_dir.resolve())}},
        )
        t0 = time.perf_counter()
        error: NotebookError | None = None
        try:
            client.execute()
        except CellExecutionError as exc:
            error = NotebookError(p.stem, _failing_cell(nb), exc.ename, exc.evalue,
                                  str(exc), dest)
        except CellTimeoutError as exc:
            error = NotebookError(p.stem, None, "CellTimeoutError", str(exc).splitlines()[0],
                                  str(exc), dest)
        elapsed = time.perf_counter() - t0
        nbformat.write(nb, dest)
        runs.append(NotebookRun(p.stem, dest, elapsed, error is None,
                                None if error is None else f"{error.ename}: {error.evalue}",
                                cell_timings(nb)))
        if progress:
            status = "ok" if error is None else f"FAILED ({error.ename})"
            print(f"[{k}/{n}] {p.name}: {status} in {elapsed:.1f} s -> {dest}",
                  file=out_stream, flush=True)
        if error is not None:
            write_summary(root, runs, scale=scale, seed=seed, load_before=load_before,
                          load_after=_load())
            raise error
        written.append(dest)
    summary = write_summary(root, runs, scale=scale, seed=seed, load_before=load_before,
                            load_after=_load())
    if progress:
        total = sum(r.seconds for r in runs)
        print(f"all {n} notebook(s) in {total / 60:.1f} min; per-cell times in "
              f"{root / TIMINGS_FILE}", file=out_stream, flush=True)
        print(f"summary: {summary}", file=out_stream, flush=True)
    return written
