"""What ``effdl`` checks before work starts, and the one line it prints when a command fails.

* :func:`describe_error` turns any exception a command raised into one line (what failed,
  naming the command-line flag and path it concerns) and an exit status: 2 for the kit's own
  errors (:class:`~effdl_kit.errors.EffdlError`), operating-system errors (permission, not a
  directory, missing file, disk full, too many open files), an unreachable or refusing
  database, a missing module (a storage URL's driver), ``MemoryError`` and a worker process
  that died; 1 for anything else (a bug: the line says so and points to ``--debug``).
* :func:`check_storage` connects to ``--storage`` (an RDB URL: driver installed, server
  reachable, credentials accepted) or probes it (a journal file: a regular file, in a folder
  this user can write) before any training starts.
* :func:`check_scheduler` refuses a ``tls://`` scheduler when Dask has no client certificate
  configured.
* :func:`check_rows_fit` refuses a row count (``--n``) whose bookkeeping alone would not fit
  in the memory available now (:func:`available_memory`: the machine's, or less under an
  address-space limit or a container's memory limit).

Passwords written in a URL (``postgresql://user:secret@host/db``) never reach the printed
line: :func:`redact` replaces them with ``***``.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterable, Mapping
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from urllib.parse import unquote, urlsplit

from effdl_kit._core.errors import ConfigError, EffdlError

__all__ = ["available_memory", "check_rows_fit", "check_scheduler", "check_storage",
           "describe_error", "redact", "url_password"]

#: Exit status of a refused command (bad arguments, kit, system or storage errors).
EXIT_REFUSED = 2
#: Exit status of an unexpected exception (a bug in the kit or a library).
EXIT_UNEXPECTED = 1
#: Seconds a database server may take to answer :func:`check_storage`.
CONNECT_TIMEOUT_S = 10


def url_password(text: str) -> str | None:
    """The password part of ``user:password@host`` in URL ``text``, as written (None if none)."""
    if "://" not in text:
        return None
    try:
        netloc = urlsplit(text).netloc
    except ValueError:
        return None
    userinfo, at, _ = netloc.rpartition("@")
    if not at or ":" not in userinfo:
        return None
    return userinfo.partition(":")[2] or None


def redact(text: str, urls: Iterable[str | None]) -> str:
    """``text`` with the password of each URL of ``urls`` replaced by ``***``."""
    for url in urls:
        secret = url_password(url) if url else None
        if secret:
            for form in {secret, unquote(secret)}:
                text = text.replace(f":{form}@", ":***@")
    return text


def _one_line(text: str) -> str:
    return " | ".join(line.strip() for line in text.splitlines() if line.strip())


def _path_flag(filename: object, paths: Mapping[str, str | None]) -> str:
    """``"--out 'res': "`` when ``filename`` is the path of a flag, inside it or beside it
    (a temporary or lock file next to the target); ``""`` otherwise."""
    if not isinstance(filename, str | bytes | os.PathLike):
        return ""
    name = Path(os.fsdecode(filename)).absolute()
    for flag, value in paths.items():
        if not value or "://" in value:
            continue
        p = Path(value).absolute()
        if name == p or p in name.parents or (name.parent == p.parent and p.name in name.name):
            return f"{flag} {value!r}: "
    return ""


def _os_error(exc: OSError, paths: Mapping[str, str | None]) -> str:
    where = _path_flag(exc.filename, paths)
    if exc.strerror:
        what = exc.strerror
        if exc.filename is not None:
            what += f": {os.fsdecode(exc.filename)!r}"
        if exc.filename2 is not None:
            what += f" -> {os.fsdecode(exc.filename2)!r}"
    else:
        what = str(exc) or "(no message)"
    return f"{where}{type(exc).__name__}: {what}"


def _missing_module(exc: ImportError) -> str:
    """The name of the module an ImportError (or its cause) could not find."""
    seen: ImportError | BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ImportError) and seen.name:
            return seen.name
        seen = seen.__cause__ or seen.__context__
    return "?"


def _database_error(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    first = _one_line(str(orig if orig is not None else exc)).split(" | (Background")[0]
    return f"the database failed ({type(exc).__name__}): {first}"


def _flag_of_field(message: str, field: object, flags: Mapping[str, str]) -> str:
    """``invalid value for 'path' (--out): ...`` when ``field`` is the parameter of a flag."""
    if not isinstance(field, str) or field not in flags:
        return message
    head = f"invalid value for {field!r}"
    if not message.startswith(head):
        return message
    return f"{head} ({flags[field]}){message[len(head):]}"


def describe_error(exc: BaseException, *, flags: Mapping[str, str],
                   paths: Mapping[str, str | None], storage: str | None = None
                   ) -> tuple[str, int]:
    """The one line (no ``prog: error:`` prefix) and exit status for ``exc``.

    Parameters
    ----------
    exc : BaseException
        What the command raised (not ``KeyboardInterrupt`` / ``SystemExit``).
    flags : mapping of str to str
        Library parameter name -> the command's flag (``{"path": "--out"}``), so an error
        about ``path`` names ``--out``.
    paths : mapping of str to str or None
        The command's path-valued flags and their values (``{"--out": "res"}``), so an
        operating-system error on a file names the flag it came from.
    storage : str, optional
        The ``--storage`` value, named by database errors.

    Returns
    -------
    (str, int)
        One line without newlines; 2 (refused) or 1 (unexpected).
    """
    on_storage = f"--storage {storage!r}: " if storage else ""
    if isinstance(exc, EffdlError):
        line = _flag_of_field(_one_line(str(exc)), getattr(exc, "field", None), flags)
        return line, EXIT_REFUSED
    if isinstance(exc, MemoryError):
        return ("out of memory (MemoryError): this machine could not hold what the command "
                "asked for; ask for less (a smaller --n, fewer --workers) or free memory",
                EXIT_REFUSED)
    if isinstance(exc, BrokenProcessPool):
        return (f"a worker process died abruptly (killed, or out of memory): "
                f"{_one_line(str(exc))}", EXIT_REFUSED)
    if isinstance(exc, OSError):
        return _os_error(exc, paths), EXIT_REFUSED
    if type(exc).__module__.split(".")[0] == "sqlalchemy":
        return on_storage + _database_error(exc), EXIT_REFUSED
    if isinstance(exc, ImportError):
        return (f"{on_storage}a Python module is missing: {_missing_module(exc)!r} "
                f"({_one_line(str(exc))}); install it (a storage URL needs its database "
                f"driver, e.g. pip install \"effdl-kit[postgres]\")", EXIT_REFUSED)
    return (f"unexpected {type(exc).__name__}: {_one_line(str(exc))} (a bug: rerun with "
            f"--debug for the traceback)", EXIT_UNEXPECTED)


def check_storage(value: str, *, timeout_s: int = CONNECT_TIMEOUT_S) -> None:
    """Refuse a ``--storage`` the studies could not use, before any work starts.

    An RDB URL: its driver must import and the server must accept a connection within
    ``timeout_s`` seconds (PostgreSQL, MySQL) with the URL's credentials; nothing is created
    in the database. A journal-file path: absent or a regular file this user can append to,
    in an existing folder where the lock file can be created; nothing is left behind.

    Raises
    ------
    ConfigError
        Field ``--storage``, the value with its password replaced by ``***``, and why.
    """
    shown = redact(value, [value])
    if "://" in value:
        _check_database(value, shown, timeout_s)
    else:
        _check_journal(Path(value), shown)


def _check_database(url: str, shown: str, timeout_s: int) -> None:
    from sqlalchemy import create_engine  # imported here: only URLs need it (optuna's dep)
    from sqlalchemy import exc as sa_exc
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    try:
        parsed = make_url(url)
        backend = parsed.get_backend_name()
        connect_args = ({"connect_timeout": timeout_s} if backend in ("postgresql", "mysql")
                        else {})
        engine = create_engine(parsed, poolclass=NullPool, connect_args=connect_args)
    except ImportError as e:
        raise ConfigError("--storage", shown, f"a URL whose database driver is installed: "
                          f"{_missing_module(e)!r} is missing ({_one_line(str(e))})"
                          ) from None
    except sa_exc.SQLAlchemyError as e:
        raise ConfigError("--storage", shown, f"an RDB URL SQLAlchemy can use "
                          f"(postgresql+psycopg://user@host:5432/db, sqlite:///file.db): "
                          f"{redact(_one_line(str(e)), [url])}") from None
    try:
        with engine.connect():
            pass
    except sa_exc.SQLAlchemyError as e:
        raise ConfigError("--storage", shown, "a database that accepts a connection; "
                          + redact(_database_error(e), [url])) from None
    finally:
        engine.dispose()


def _check_journal(path: Path, shown: str) -> None:
    folder = path.parent
    if not folder.is_dir():
        raise ConfigError("--storage", shown, "a journal-file path in an existing folder")
    with contextlib.suppress(FileNotFoundError):
        mode = os.stat(path).st_mode
        if not stat.S_ISREG(mode):
            kind = "a directory" if stat.S_ISDIR(mode) else "not a regular file"
            raise ConfigError("--storage", shown, f"a journal file or a new path (it is {kind})")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_NONBLOCK)
        except OSError as e:
            raise ConfigError("--storage", shown, f"a journal file this user can append to "
                              f"({type(e).__name__}: {e.strerror})") from None
        os.close(fd)
    try:  # the journal and its lock file are created in this folder
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".probe", dir=folder)
    except OSError as e:
        raise ConfigError("--storage", shown, f"a journal-file path in a folder this user can "
                          f"write ({type(e).__name__}: {e.strerror}: {str(folder)!r})"
                          ) from None
    os.close(fd)
    os.remove(probe)


def check_scheduler(address: str | None) -> None:
    """Refuse a ``tls://`` scheduler address when Dask has no client certificate to offer.

    A TLS scheduler refuses clients without a certificate its CA signed; without
    ``distributed.comm.tls.ca-file`` and ``.client.cert`` in Dask's configuration the client
    would fail with a TypeError deep in ``distributed``. Other addresses are left to the
    connection itself.

    Raises
    ------
    ConfigError
        Field ``--scheduler``: a ``tls://`` address and no TLS client settings.
    """
    if address is None or not address.startswith("tls://"):
        return
    try:
        from distributed import Security
    except ImportError:  # dask_executor says how to install it
        return
    security = Security()  # Dask's configuration (distributed.comm.tls.*)
    ca, cert = (getattr(security, k, None) for k in ("tls_ca_file", "tls_client_cert"))
    if not ca or not cert:
        raise ConfigError("--scheduler", address, "a tls:// address once Dask's TLS client "
                          "settings are in place (distributed.comm.tls.ca-file, "
                          ".client.cert and .client.key, e.g. in "
                          "~/.config/dask/distributed.yaml); none are set")


#: Where cgroup v2 states a container's memory limit and use (absent: no such limit).
CGROUP_DIR = Path("/sys/fs/cgroup")


def _cgroup_room(folder: Path) -> int | None:
    """Bytes left under the cgroup v2 limit in ``folder`` (None: no limit, or unreadable)."""
    try:
        limit = (folder / "memory.max").read_text().strip()
        used = int((folder / "memory.current").read_text().strip())
    except (OSError, ValueError):
        return None
    if not limit.isdigit():  # "max": no limit
        return None
    return max(0, int(limit) - used)


def available_memory(*, cgroup: Path = CGROUP_DIR) -> int:
    """Bytes this process can still allocate: the machine's available memory, or less when an
    address-space limit (``ulimit -v``, ``RLIMIT_AS``) or a container's cgroup v2 memory limit
    leaves less room."""
    import psutil

    room = [int(psutil.virtual_memory().available)]
    room += [r for r in (_rlimit_room(), _cgroup_room(cgroup)) if r is not None]
    return min(room)


def _rlimit_room() -> int | None:
    """Bytes left under this process's address-space limit (None: unlimited)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on Unix
        return None
    import psutil

    soft = resource.getrlimit(resource.RLIMIT_AS)[0]
    if soft == resource.RLIM_INFINITY:
        return None
    return max(0, soft - int(psutil.Process().memory_info().vms))


def check_rows_fit(flag: str, n: object, bytes_per_row: int, *,
                   available: int | None = None) -> None:
    """Refuse ``n`` rows when ``n * bytes_per_row`` exceeds half the memory available now
    (:func:`available_memory`: the machine's, an address-space limit's or a cgroup's).

    Parameters
    ----------
    flag : str
        The flag named in the error (``"--n"``).
    n : object
        The requested row count; anything but an int >= 1 is left to the builder's own check.
    bytes_per_row : int
        Memory the builder holds per requested row before the first row starts (its call
        list and futures), measured.
    available : int, optional
        Bytes available (default: :func:`available_memory`).

    Raises
    ------
    ConfigError
        ``n`` is above the largest count that fits.
    """
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        return
    if available is None:
        available = available_memory()
    limit = max(1, available // 2 // bytes_per_row)
    if n > limit:
        raise ConfigError(flag, n, f"at most {limit:,} rows on this machine now: the builder "
                          f"holds about {bytes_per_row:,} bytes per requested row in memory "
                          f"before the first row starts, and {available / 2**30:.1f} GiB are "
                          f"available (half may be used)")

