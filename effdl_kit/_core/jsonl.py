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
  build cuts it off before appending; a corrupt *complete* line is a
  :class:`~effdl_kit.errors.DataError` (a kill cannot produce one, so it is never skipped);
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
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from effdl_kit._core.env import collect_env
from effdl_kit._core.errors import ConfigError, DataError
from effdl_kit._core.io import atomic_write_text, writable_target

__all__ = ["PROVENANCE_SUFFIX", "JsonlContent", "JsonlDataset", "provenance_path", "utc_now"]

#: Suffix of a dataset's provenance sidecar (it replaces the dataset file's own suffix).
PROVENANCE_SUFFIX = ".provenance.json"

#: One appended row (a JSON object).
Row = dict[str, Any]


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


@dataclass(frozen=True)
class JsonlContent:
    """What a dataset file holds.

    Attributes
    ----------
    header : dict or None
        The header line (``None``: the file is missing or has no complete line).
    rows : list of dict
        The complete rows, in file order.
    torn : bytes
        The torn last line left out (what follows the last newline; ``b""`` when none).
    """

    header: dict[str, Any] | None
    rows: list[Row] = field(default_factory=list)
    torn: bytes = b""


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

    Raises
    ------
    ConfigError
        ``path`` is not a (non-blank) path.
    """

    def __init__(self, path: str | Path, *, fmt: str, kind: str, statuses: Sequence[str]
                 ) -> None:
        if not isinstance(path, str | Path) or not str(path).strip():
            raise ConfigError("path", path, "a file path")
        self.path = Path(path)
        self.fmt = fmt
        self.kind = kind
        self.statuses = tuple(statuses)

    @property
    def provenance(self) -> Path:
        """The provenance sidecar (:func:`provenance_path`)."""
        return provenance_path(self.path)

    def read(self) -> JsonlContent:
        """Header and complete rows; a torn last line is left out and returned as ``torn``.

        A missing file reads as no header and no rows.

        Raises
        ------
        ConfigError
            Something other than a regular file is at the path (a directory, FIFO, device).
        DataError
            A complete line that is not UTF-8 or not a JSON object, a first line without this
            dataset's ``format``, or a row without an integer ``index`` or an allowed
            ``status``.
        """
        writable_target(self.path)  # never read (or later append to) a FIFO or a device
        if not self.path.exists():
            return JsonlContent(None)
        data = self.path.read_bytes()
        end = data.rfind(b"\n") + 1  # every complete line ends with "\n"
        try:
            text = data[:end].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DataError(f"{str(self.path)!r} is not UTF-8 text: {exc}") from None
        header: dict[str, Any] | None = None
        rows: list[Row] = []
        for lineno, line in enumerate(text.split("\n")[:-1], start=1):
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{str(self.path)!r}: corrupt line {lineno}: {exc}") from None
            if not isinstance(obj, dict):
                raise DataError(f"{str(self.path)!r}: line {lineno} is not a JSON object")
            if header is None:
                if obj.get("format") != self.fmt:
                    raise DataError(f"{str(self.path)!r} is not a {self.kind} (first line "
                                    f"lacks format {self.fmt!r})")
                header = obj
                continue
            index = obj.get("index")
            if not isinstance(index, int) or isinstance(index, bool) or (
                    obj.get("status") not in self.statuses):
                raise DataError(f"{str(self.path)!r}: row {len(rows) + 1} (line {lineno}) of the "
                                f"{self.kind} lacks an integer 'index' or a 'status' in "
                                f"{self.statuses}")
            rows.append(obj)
        return JsonlContent(header, rows, data[end:])

    def load(self, *, hint: str = "") -> JsonlContent:
        """:meth:`read` an existing dataset.

        Parameters
        ----------
        hint : str
            Appended to the message of a missing file (how to build one).

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
        return content

    def resume(self, args: Mapping[str, Any]) -> JsonlContent:
        """Make the file ready for appending and return what it already holds.

        A missing (or header-less) file gets a header: the format tag, ``args`` and the
        ``created`` date. An existing one must carry the same ``args``; its torn last line,
        if any, is cut off (and reported in the returned ``torn``).

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
        ConfigError
            (field ``path``) The file holds a dataset built with other arguments.
        DataError
            What :meth:`read` raises.
        """
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
        return content

    @contextlib.contextmanager
    def appender(self) -> Iterator[Callable[[Mapping[str, Any]], None]]:
        """Yield ``append(row)``: one ``write`` of the row's whole JSON line, then fsync.

        Call :meth:`resume` first (it writes the header and cuts a torn line off).
        """
        with self.path.open("ab", buffering=0) as fh:

            def append(row: Mapping[str, Any]) -> None:
                view = memoryview((json.dumps(row) + "\n").encode("utf-8"))
                while view:  # a regular file takes the line in one write; loop if it did not
                    view = view[fh.write(view):]
                os.fsync(fh.fileno())

            yield append

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
            ``initializer``, shut down at the end.
        progress : (desc, unit, total), optional
            A ``tqdm.auto`` bar over ``total`` rows, ``total - len(calls)`` already done.

        Returns
        -------
        list of dict
            The new rows, in the order they finished.
        """
        rows: list[Row] = []
        if not calls:
            return rows
        own = executor is None
        pool = executor or ProcessPoolExecutor(max_workers=max_workers or os.cpu_count() or 1,
                                               initializer=initializer)
        bar = None
        if progress is not None:  # imported here: tqdm.auto may import ipywidgets
            from tqdm.auto import tqdm

            desc, unit, total = progress
            bar = tqdm(total=total, initial=total - len(calls), desc=desc, unit=unit)
        try:
            futures: list[Future[Row]] = [pool.submit(fn, *args) for args in calls]
            with self.appender() as append:
                for fut in as_completed(futures):
                    row = fut.result()
                    append(row)
                    rows.append(row)
                    if bar is not None:
                        bar.update(1)
        finally:
            if bar is not None:
                bar.close()
            if own:
                pool.shutdown(wait=True, cancel_futures=True)
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
        """
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
