"""Atomic file writes: a reader (or a run resumed after a kill) never sees half a file.

Every result file the kit writes — results JSON, summaries, tables, figures — goes through
:func:`atomic_path`: the content is written to a temporary file in the same folder and moved
over the target with :func:`os.replace`, which is atomic on POSIX and Windows file systems.

What is written over (:func:`writable_target`): only a regular file or a new path. A
directory, device, FIFO or socket at the path is refused with a ``ConfigError`` before anything
is written (a rename would replace it: ``--out /dev/null`` run as root would replace the
system's). A symbolic link is followed: its target is written and the link stays (an atomic
rename over the link itself would replace the link and leave its target stale).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from effdl_kit._core.errors import ConfigError

__all__ = ["atomic_path", "atomic_write_text", "check_out_dir", "writable_target"]


def _new_file_mode() -> int:
    """``0o666`` less the process umask (read once: ``os.umask`` sets it while reading)."""
    global _NEW_MODE
    if _NEW_MODE is None:
        umask = os.umask(0o022)
        os.umask(umask)
        _NEW_MODE = 0o666 & ~umask
    return _NEW_MODE


_NEW_MODE: int | None = None


def writable_target(path: str | Path, field: str = "path") -> Path:
    """The file a write to ``path`` replaces: ``path`` itself, or a symlink's final target.

    Raises
    ------
    ConfigError
        (naming ``field``) Something other than a regular file is there.
    """
    p = Path(path)
    if p.is_symlink():
        p = Path(os.path.realpath(p))
    if p.exists() and not p.is_file():
        kind = ("a directory" if p.is_dir() else "a FIFO" if p.is_fifo() else
                "a socket" if p.is_socket() else "a device" if p.is_char_device()
                or p.is_block_device() else "not a regular file")
        raise ConfigError(field, str(path), f"a regular file or a new path (it is {kind})")
    return p


def check_out_dir(path: str | Path, field: str = "out") -> Path:
    """Create the output folder ``path`` (with its parents) and check that this user can write
    in it: called before any work, so a long run never ends in a failed write.

    Raises
    ------
    ConfigError
        (naming ``field``) ``path`` is not a folder, or this user cannot write in it.
    OSError
        The folder cannot be created (e.g. a parent is not writable).
    """
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise ConfigError(field, str(path), "a folder (it is a file)")
    p.mkdir(parents=True, exist_ok=True)
    if not os.access(p, os.W_OK | os.X_OK):
        raise ConfigError(field, str(path), "a folder this user can write in")
    return p


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success move it over ``path``.

    On an exception the temporary file is removed and ``path`` is left as it was. ``path``
    must be a regular file or new (:func:`writable_target`; a symlink's target is written).

    Raises
    ------
    ConfigError
        ``path`` is not a regular file, or its folder cannot be created or written.
    """
    target = writable_target(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp",
                                   dir=target.parent)
    except OSError as exc:  # a file where a folder should be, no permission, read-only
        raise ConfigError("path", str(path), f"a path whose folder can be written ({exc})"
                          ) from None
    os.close(fd)
    tmp_path = Path(tmp)
    # mkstemp makes the file 0600: give it the mode the target has (or a new file would get)
    os.chmod(tmp_path, target.stat().st_mode & 0o7777 if target.exists() else _new_file_mode())
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically; return the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding=encoding)
    return Path(path)
