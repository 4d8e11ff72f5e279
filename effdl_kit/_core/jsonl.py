"""Resumable JSON-lines datasets: a header line, then one row per line, appended as rows finish.

The kit's dataset builders (:func:`effdl_kit.data.build_component_dataset`,
:func:`effdl_kit.data.build_latency_dataset`) share one file layout and one set of rules,
implemented once here by :class:`JsonlDataset`:

* the first line is a header: the dataset's ``format`` tag, the build's arguments and the
  ``created`` date; a restart with other arguments is refused before any work;
* each row is a JSON object with an integer ``index`` and a ``status`` from the dataset's
  allowed statuses, appended with one ``write`` of the whole line, then fsynced, so a killed
  build leaves every finished row on disk and at most one torn (newline-less) last line;
* a reader leaves a torn last line out and reports it (:attr:`JsonlContent.torn`); a resumed
  build cuts it off before appending. A last line that is a whole JSON object but lacks its
  newline is kept (:attr:`JsonlContent.unterminated`; a resumed build adds the newline). The
  loaders (:meth:`JsonlDataset.load`) warn about both with a :class:`DataWarning` naming the
  file and line, and record them in the :class:`JsonlLoadReport`;
* a corrupt *complete* line is a :class:`~effdl_kit.errors.DataError` naming the file and the
  line (a kill cannot produce one, so it is never skipped): not UTF-8, not JSON, nested too
  deeply, an integer outside the 64-bit range (:mod:`effdl_kit._core.strict_json`), not an
  object, or a row without an integer ``index`` and an allowed ``status``;
* a row repeating the key (``index``, or the dataset's ``key`` columns) of an earlier row is
  dropped and recorded (:attr:`JsonlContent.duplicates`; the first one is kept): two builds
  of one file before it was locked could write both;
* a build holds an exclusive lock on the file (:class:`~effdl_kit._core.filelock.BuildLock`,
  ``<file>.lock``) from :meth:`JsonlDataset.resume` until :meth:`JsonlDataset.write_provenance`
  (or :meth:`JsonlDataset.release`, an exception in :meth:`JsonlDataset.build_rows`, the
  object's collection, the process's end): a second build of the same file gets a
  :class:`~effdl_kit._core.filelock.FileLockedError` naming the holder, before any work;
* :meth:`JsonlDataset.build_rows`' own process pool leaves no orphaned workers on SIGTERM,
  SIGINT, an exception or the builder's death (:func:`effdl_kit._core.pool.process_pool`);
* the provenance sidecar of ``<dir>/<stem>.<ext>`` is ``<dir>/<stem>.provenance.json``
  (:func:`provenance_path`), written atomically with :func:`~effdl_kit._core.io.atomic_write_text`;
  it records the machine and, in ``runs``, every build call (command, date, the builder's
  counts).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import sys
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Executor, Future, as_completed
from pathlib import Path
from typing import Any

from effdl_kit._core.env import collect_env
from effdl_kit._core.errors import ConfigError, DataError
from effdl_kit._core.filelock import BuildLock
from effdl_kit._core.io import atomic_write_text, writable_target
from effdl_kit._core.jsonl_content import (
    DataWarning,
    JsonlContent,
    JsonlLoadReport,
    Row,
    check_rows,
)
from effdl_kit._core.pool import process_pool
from effdl_kit._core.strict_json import decode_utf8, loads

__all__ = ["PROVENANCE_SUFFIX", "DataWarning", "JsonlContent", "JsonlDataset",
           "JsonlLoadReport", "check_rows", "provenance_path", "utc_now"]

#: Suffix of a dataset's provenance sidecar (it replaces the dataset file's own suffix).
PROVENANCE_SUFFIX = ".provenance.json"

def provenance_path(path: str | Path) -> Path:
    """The provenance sidecar of a dataset file: its suffix replaced by ``.provenance.json``.

    Parameters
    ----------
    path : path
        The dataset file.

    Returns
    -------
    Path
        The sidecar beside it.

    Examples
    --------
    >>> provenance_path("data/latency_cpu.jsonl").as_posix()
    'data/latency_cpu.provenance.json'
    """
    p = Path(path)
    return p.with_name(p.stem + PROVENANCE_SUFFIX)


def utc_now() -> str:
    """The current UTC time as ISO 8601 to the second (the ``created`` / ``finished`` dates)."""
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


class JsonlDataset:
    """One resumable JSON-lines dataset file (see the module docstring for the rules).

    Parameters
    ----------
    path : path
        The dataset file.
    fmt : str
        The ``format`` tag its header carries (e.g. ``"effdl-latency-dataset/1"``).
    kind : str
        What the file holds, for messages (e.g. ``"latency dataset"``).
    statuses : sequence of str
        The allowed values of a row's ``status``.
    key : sequence of str
        The columns that identify a row; a later row repeating an earlier row's key is a
        duplicate, left out and recorded.

    Raises
    ------
    ConfigError
        ``path`` is not a (non-blank) path.
    """

    def __init__(self, path: str | Path, *, fmt: str, kind: str, statuses: Sequence[str],
                 key: Sequence[str] = ("index",)) -> None:
        if not isinstance(path, str | Path) or not str(path).strip():
            raise ConfigError("path", path, "a file path")
        self.path = Path(path)
        self.fmt = fmt
        self.kind = kind
        self.statuses = tuple(statuses)
        self.key = tuple(key)
        self._lock: BuildLock | None = None

    def release(self) -> None:
        """Release the build lock taken by :meth:`resume` (a no-op when not held)."""
        if self._lock is not None:
            self._lock.release()

    @property
    def provenance(self) -> Path:
        """The provenance sidecar (:func:`provenance_path`)."""
        return provenance_path(self.path)

    def read(self) -> JsonlContent:
        """Header and complete rows; a torn last line is left out and returned as ``torn``.

        A missing file reads as no header and no rows. A last line without its newline that
        is a whole JSON object is kept (``unterminated``); one that is not is torn. A row
        repeating an earlier row's key is left out (``duplicates``).

        Raises
        ------
        ConfigError
            Something other than a regular file is at the path (a directory, FIFO, device).
        DataError
            Naming the file and the line: a complete line that is not UTF-8, not JSON
            (:func:`effdl_kit._core.strict_json.loads`) or not a JSON object, a first line
            without this dataset's ``format``, or a row without an integer ``index`` or an
            allowed ``status``.
        """
        writable_target(self.path)  # never read (or later append to) a FIFO or a device
        if not self.path.exists():
            return JsonlContent(None)
        data = self.path.read_bytes()
        src = str(self.path)
        parts = data.split(b"\n")
        tail = parts.pop()  # what follows the last newline: b"" when the file ends with one
        objs: list[tuple[int, Any]] = [
            (n, loads(decode_utf8(raw, source=src, first_line=n), source=src, line=n))
            for n, raw in enumerate(parts, start=1)]
        torn, unterminated = tail, None
        if tail:
            with contextlib.suppress(DataError):
                obj = loads(decode_utf8(tail, source=src), source=src, line=len(parts) + 1)
                if isinstance(obj, dict):  # a whole object: only its newline is missing
                    objs.append((len(parts) + 1, obj))
                    torn, unterminated = b"", len(parts) + 1
        header: dict[str, Any] | None = None
        rows: list[Row] = []
        lines: list[int] = []
        first: dict[tuple[Any, ...], int] = {}
        duplicates: list[tuple[int, int]] = []
        for lineno, obj in objs:
            if not isinstance(obj, dict):
                raise DataError(f"{src!r}: line {lineno} is not a JSON object")
            if header is None:
                if obj.get("format") != self.fmt:
                    raise DataError(f"{src!r} is not a {self.kind} (first line "
                                    f"lacks format {self.fmt!r})")
                header = obj
                continue
            index = obj.get("index")
            if not isinstance(index, int) or isinstance(index, bool) or (
                    obj.get("status") not in self.statuses):
                raise DataError(f"{src!r}: row {len(rows) + 1} (line {lineno}) of the "
                                f"{self.kind} lacks an integer 'index' or a 'status' in "
                                f"{self.statuses}")
            key = tuple(_hashable(obj.get(k)) for k in self.key)
            if key in first:
                duplicates.append((lineno, first[key]))
                continue
            first[key] = lineno
            rows.append(obj)
            lines.append(lineno)
        return JsonlContent(header, rows, torn, lines, unterminated, duplicates, len(objs))

    def load(self, *, hint: str = "") -> JsonlContent:
        """:meth:`read` an existing dataset.

        Parameters
        ----------
        hint : str
            Appended to the message of a missing file (how to build one).

        Warns
        -----
        DataWarning
            A torn last line left out, a newline-less last row kept, duplicate rows left out
            (each message names the file and the line; :class:`JsonlLoadReport` records
            them).

        Raises
        ------
        DataError
            No file, or a file without a complete header line, or what :meth:`read` raises.
        """
        if not self.path.is_file():
            raise DataError(f"no {self.kind} at {str(self.path)!r}{hint}")
        content = self.read()
        if content.header is None:
            raise DataError(f"{str(self.path)!r} is empty")
        for message in JsonlLoadReport.of(str(self.path), content).messages():
            warnings.warn(message, DataWarning, stacklevel=3)
        return content

    def resume(self, args: Mapping[str, Any]) -> JsonlContent:
        """Make the file ready for appending and return what it already holds.

        A missing (or header-less) file gets a header: the format tag, ``args`` and the
        ``created`` date. An existing one must carry the same ``args``; its torn last line,
        if any, is cut off (and reported in the returned ``torn``); a complete last row
        without its newline gets one.

        Takes the build lock first (held until :meth:`write_provenance` or :meth:`release`;
        released here if this raises).

        Parameters
        ----------
        args : mapping
            The build's arguments (JSON values) that a resumed build must repeat.

        Returns
        -------
        JsonlContent
            Header (never ``None``) and the complete rows already in the file.

        Raises
        ------
        FileLockedError
            (a ``ConfigError``, field ``path``) Another build holds the file's lock; the
            message names its pid and host.
        ConfigError
            (field ``path``) The file holds a dataset built with other arguments.
        DataError
            What :meth:`read` raises.
        """
        if self._lock is None:
            self._lock = BuildLock(writable_target(self.path))
        self._lock.acquire()
        try:
            return self._resume(args)
        except BaseException:
            self.release()
            raise

    def _resume(self, args: Mapping[str, Any]) -> JsonlContent:
        content = self.read()
        want = {"format": self.fmt, **json.loads(json.dumps(dict(args)))}
        if content.header is None:
            header = {**want, "created": utc_now()}
            atomic_write_text(self.path, json.dumps(header) + "\n")
            return JsonlContent(header, [], content.torn)
        other = ", ".join(sorted(k for k in want if content.header.get(k) != want[k]))
        if other:
            raise ConfigError("path", str(self.path), "a new file, or one built with the same "
                              f"arguments (it holds a {self.kind} built with other {other})")
        if content.torn:
            with self.path.open("r+b") as fh:
                fh.truncate(self.path.stat().st_size - len(content.torn))
                os.fsync(fh.fileno())
        elif content.unterminated is not None:
            with self.path.open("ab") as fh:
                fh.write(b"\n")
                os.fsync(fh.fileno())
        return content

    @contextlib.contextmanager
    def appender(self) -> Iterator[Callable[[Mapping[str, Any]], None]]:
        """Yield ``append(row)``: one ``write`` of the row's whole JSON line, then fsync.

        Call :meth:`resume` first (it writes the header and cuts a torn line off). An
        exception (or a signal) inside releases the build lock: the build is over.
        """
        with self.path.open("ab", buffering=0) as fh:

            def append(row: Mapping[str, Any]) -> None:
                view = memoryview((json.dumps(row) + "\n").encode("utf-8"))
                while view:  # a regular file takes the line in one write; loop if it did not
                    view = view[fh.write(view):]
                os.fsync(fh.fileno())

            try:
                yield append
            except BaseException:
                self.release()
                raise

    def build_rows(self, fn: Callable[..., Row], calls: Sequence[tuple[Any, ...]], *,
                   executor: Executor | None = None, max_workers: int | None = None,
                   initializer: Callable[[], None] | None = None,
                   progress: tuple[str, str, int] | None = None) -> list[Row]:
        """Run ``fn(*args)`` for every ``args`` of ``calls`` and append each returned row as it
        finishes (:meth:`appender`; call :meth:`resume` first).

        Parameters
        ----------
        fn : callable
            Returns one row; picklable for a process pool (a module-level function).
        calls : sequence of tuple
            The arguments of each call.
        executor : concurrent.futures.Executor, optional
            Where the calls run (a Dask cluster's ``client.get_executor()``, a thread pool).
            Default: a local process pool of ``max_workers`` (else all cores) with
            ``initializer``, shut down at the end; its workers are killed on SIGTERM, SIGINT
            or an exception here, and die with this process
            (:func:`effdl_kit._core.pool.process_pool`).
        progress : (desc, unit, total), optional
            A ``tqdm.auto`` bar over ``total`` rows, ``total - len(calls)`` already done.

        Returns
        -------
        list of dict
            The new rows, in the order they finished.

        Notes
        -----
        An exception (or a signal) here releases the build lock; the rows appended so far
        stay in the file for a resumed build.
        """
        rows: list[Row] = []
        if not calls:
            return rows
        bar = None
        if progress is not None:  # imported here: tqdm.auto may import ipywidgets
            from tqdm.auto import tqdm

            desc, unit, total = progress
            bar = tqdm(total=total, initial=total - len(calls), desc=desc, unit=unit)
        try:
            with contextlib.ExitStack() as stack:
                pool = executor if executor is not None else stack.enter_context(
                    process_pool(max_workers or os.cpu_count() or 1, initializer))
                futures: list[Future[Row]] = [pool.submit(fn, *args) for args in calls]
                with self.appender() as append:
                    for fut in as_completed(futures):
                        row = fut.result()
                        append(row)
                        rows.append(row)
                        if bar is not None:
                            bar.update(1)
        except BaseException:
            self.release()
            raise
        finally:
            if bar is not None:
                bar.close()
        return rows

    def write_provenance(self, info: Mapping[str, Any], run: Mapping[str, Any]) -> Path:
        """Write the sidecar: ``dataset`` (file name), ``format``, ``info``, ``machine`` and
        ``runs`` (the earlier runs', then this one: ``command``, ``run``'s entries,
        ``finished``); atomically.

        Parameters
        ----------
        info : mapping
            The builder's entries (its name, arguments, counts).
        run : mapping
            This build call's entries (rows asked and measured, seconds, ...).

        Returns
        -------
        Path
            The sidecar.

        Raises
        ------
        DataError
            An existing sidecar is not JSON.

        Notes
        -----
        Releases the build lock (the build is over), whether the write succeeds or not.
        """
        try:
            return self._write_provenance(info, run)
        finally:
            self.release()

    def _write_provenance(self, info: Mapping[str, Any], run: Mapping[str, Any]) -> Path:
        side = self.provenance
        old: dict[str, Any] = {}
        if side.exists():
            try:
                old = json.loads(side.read_text(encoding="utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise DataError(f"{str(side)!r} is not a JSON provenance file: {exc}") from None
            if not isinstance(old, dict) or not isinstance(old.get("runs", []), list):
                raise DataError(f"{str(side)!r} is not a provenance file (no list of runs)")
        runs = [*old.get("runs", []),
                {"command": " ".join(sys.argv), **run, "finished": utc_now()}]
        doc = {"dataset": self.path.name, "format": self.fmt, **info,
               "machine": collect_env().to_dict(), "runs": runs}
        return atomic_write_text(side, json.dumps(doc, indent=1, default=str) + "\n")


def _hashable(v: Any) -> Any:
    """A hashable stand-in for a key value (lists and dicts as their JSON text)."""
    try:
        hash(v)
    except TypeError:
        return json.dumps(v, sort_keys=True, default=str)
    return v
