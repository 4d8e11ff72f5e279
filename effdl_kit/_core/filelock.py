"""An exclusive lock on a file being built, so two builders never write the same file.

:class:`BuildLock` takes a non-blocking :func:`fcntl.flock` on a sidecar ``<file>.lock`` and
writes the holder (pid, host, start date) into it. A second builder of the same file gets a
:class:`FileLockedError` at once, naming the file and the holder; it does not wait (a build
runs for minutes to hours: waiting would only hide that two were started).

The lock belongs to the open file, so the operating system releases it when the holder's
process ends, however it ends (``kill -9`` included): a lock file left behind by a killed
build is stale, and the next build takes it over. :meth:`BuildLock.release` removes the file
while still holding the lock; :meth:`BuildLock.acquire` checks that the file it locked is
still the one at the path (a holder releasing between our ``open`` and ``flock`` unlinks it)
and retries on a fresh one otherwise. Child processes forked while the lock is held share it
until they exit (a process pool's workers: they die with their parent, see
:mod:`effdl_kit._core.pool`). On Linux NFS mounts ``flock`` is emulated with POSIX record locks,
so builders on different machines exclude each other too.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import json
import os
import socket
import weakref
from pathlib import Path
from typing import Any

from effdl_kit._core.errors import ConfigError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no flock, builds are not locked
    fcntl = None  # type: ignore[assignment]

__all__ = ["LOCK_SUFFIX", "BuildLock", "FileLockedError"]

#: Suffix of the lock file: ``<file>.lock`` beside the file built.
LOCK_SUFFIX = ".lock"


class FileLockedError(ConfigError):
    """Another builder holds the lock of the file (field ``path``).

    Attributes
    ----------
    holder : dict
        What the holder wrote into the lock file (``pid``, ``host``, ``started``; empty when
        it had not written it yet).
    """

    def __init__(self, path: str, holder: dict[str, Any]) -> None:
        self.holder = holder
        who = (f"pid {holder.get('pid')} on host {holder.get('host')!r} (since "
               f"{holder.get('started')})" if holder else "another process")
        super().__init__("path", path, f"a file no other build is writing ({who} is building "
                         "it; wait for that build to end or pass another path)")


def _holder(fd: int) -> dict[str, Any]:
    try:
        info = json.loads(os.pread(fd, 4096, 0).decode("utf-8"))
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def _release(fd: int, path: str) -> None:
    """Remove the lock file (if it is still ours), unlock and close ``fd``."""
    try:
        st = os.stat(path)
        mine = os.fstat(fd)
        if (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino):
            os.unlink(path)
    except OSError:
        pass
    with contextlib.suppress(OSError):
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
    with contextlib.suppress(OSError):
        os.close(fd)


class BuildLock:
    """The exclusive lock of one file being built (see the module docstring).

    Parameters
    ----------
    target : path
        The file built; the lock file is ``<target>.lock``.
    """

    def __init__(self, target: str | Path) -> None:
        self.target = Path(target)
        self.path = Path(str(target) + LOCK_SUFFIX)
        self._finalizer: weakref.finalize | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._finalizer is not None and self._finalizer.alive

    def acquire(self) -> None:
        """Take the lock (a no-op when this object holds it already).

        Raises
        ------
        FileLockedError
            Another process (or another :class:`BuildLock` of this process) holds it.
        ConfigError
            (field ``path``) The lock file cannot be created (no permission, read-only).
        """
        if self.held or fcntl is None:
            return
        for _ in range(100):
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            except OSError as exc:
                raise ConfigError("path", str(self.target), "a path whose folder can be "
                                  f"written (the lock file: {exc})") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                holder = _holder(fd)
                os.close(fd)
                if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise FileLockedError(str(self.target), holder) from None
                raise ConfigError("path", str(self.target), "a file system that supports "
                                  f"file locks ({exc})") from None
            try:
                st = os.stat(self.path)
                mine = os.fstat(fd)
                current = (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)
            except FileNotFoundError:
                current = False
            if current:
                break
            os.close(fd)  # the holder released (and unlinked) it meanwhile: lock the new one
        else:  # pragma: no cover - 100 holders in a row released under our hands
            raise FileLockedError(str(self.target), {})
        info = {"pid": os.getpid(), "host": socket.gethostname(),
                "started": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode("utf-8"), 0)
        self._finalizer = weakref.finalize(self, _release, fd, str(self.path))

    def release(self) -> None:
        """Remove the lock file and release the lock (a no-op when not held)."""
        if self._finalizer is not None:
            self._finalizer()
            self._finalizer = None
