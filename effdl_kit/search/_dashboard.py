"""Open a kit study in optuna-dashboard: the command, and a server that stops with its block.

Every storage the kit writes opens in ``optuna-dashboard`` unchanged: a journal file (the
embedded default, one per study or per run: ``runs/.../journal.log`` for BTTackler, the path
given to ``--storage`` for the EfficientDL search) or an RDB URL (PostgreSQL:
``postgresql+psycopg://user@host:5432/db``, the password in ``$PGPASSFILE`` rather than the
URL). :func:`dashboard_command` is the command line; :func:`dashboard_server` serves a storage
on loopback until its ``with`` block ends — the kernel stays free — either by running that
command in a child process (``mode="process"``) or, with ``mode="thread"``, optuna-dashboard's
WSGI app in a background thread of this process (faster to start once optuna-dashboard is
imported, and it can serve a storage object, such as an in-memory study of a panel).

>>> dashboard_command("postgresql+psycopg://me@db:5432/optuna", port=8081)[-5:]
['postgresql+psycopg://me@db:5432/optuna', '--host', '127.0.0.1', '--port', '8081']
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import optuna

from effdl_kit._core.errors import ConfigError
from effdl_kit._core.validate import check_choice, check_float, check_int

__all__ = ["DASHBOARD_MODES", "DashboardMode", "dashboard_command", "dashboard_server",
           "free_port"]

DashboardMode = Literal["process", "thread"]
#: where :func:`dashboard_server` runs the dashboard
DASHBOARD_MODES: tuple[str, ...] = ("process", "thread")

_RDB_PREFIXES = ("postgresql", "mysql", "sqlite", "oracle", "mssql")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` now (the OS picks it)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _storage_arg(storage: Any) -> str:
    """The storage as optuna-dashboard's positional argument, checked."""
    if not isinstance(storage, str | os.PathLike) or not str(storage):
        raise ConfigError("storage", storage, "a journal-file path or an RDB URL (an optuna "
                          "storage object cannot be passed to another process)")
    text = str(storage)
    if "://" in text:
        if not text.startswith(_RDB_PREFIXES):
            raise ConfigError("storage", text, f"an RDB URL starting with one of "
                                               f"{list(_RDB_PREFIXES)}, or a journal file")
        return text
    path = Path(text)
    if not path.is_file():
        raise ConfigError("storage", text, "an existing journal file (a study the kit wrote)")
    return str(path.resolve())


def _executable() -> str:
    """The ``optuna-dashboard`` script of this Python environment (else the one on PATH)."""
    here = Path(sys.executable).parent / "optuna-dashboard"
    if here.is_file():
        return str(here)
    found = shutil.which("optuna-dashboard")
    if found is None:
        raise ConfigError("optuna-dashboard", None, "an installed optuna-dashboard "
                          "(pip install optuna-dashboard)")
    return found


def dashboard_command(storage: Any, *, host: str = "127.0.0.1", port: int = 8080) -> list[str]:
    """The command that serves ``storage`` in optuna-dashboard.

    Parameters
    ----------
    storage : str or Path
        A journal file the kit wrote (made absolute) or an RDB URL.
    host : str
        Interface to listen on; the default keeps it on this machine (use an SSH tunnel to
        reach it from elsewhere).
    port : int
        TCP port (1-65535).

    Returns
    -------
    list of str
        ``[<optuna-dashboard>, storage, "--host", host, "--port", port]``.

    Raises
    ------
    ConfigError
        ``storage`` is not an existing file or an RDB URL, a bad port, or optuna-dashboard
        is not installed.
    """
    arg = _storage_arg(storage)
    port = check_int("port", port, min_value=1, max_value=65535)
    if not isinstance(host, str) or not host:
        raise ConfigError("host", host, "a host name or IP address")
    return [_executable(), arg, "--host", host, "--port", str(port)]


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/api/meta", timeout=2.0) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


class _QuietHandler(WSGIRequestHandler):
    """No access-log line per request on stderr (it would land in the notebook)."""

    def log_message(self, format: str, *args: Any) -> None:
        return


@contextmanager
def _thread_server(storage: Any, host: str, port: int) -> Iterator[str]:
    """optuna-dashboard's WSGI app on a wsgiref server in a daemon thread."""
    import optuna_dashboard  # heavy: imported when a dashboard is asked for

    if not isinstance(storage, optuna.storages.BaseStorage):
        storage = _storage_arg(storage)
    try:
        app = optuna_dashboard.wsgi(storage)
    except ValueError as exc:  # a storage it cannot guess or open
        raise ConfigError("storage", str(storage), f"a storage optuna-dashboard can open: "
                          f"{exc}") from None
    server: WSGIServer = make_server(host, port, app, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                              name="optuna-dashboard", daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5.0)


@contextmanager
def _process_server(storage: Any, host: str, port: int, timeout_s: float) -> Iterator[str]:
    """The ``optuna-dashboard`` command in a child process, polled until it answers."""
    cmd = dashboard_command(storage, host=host, port=port)
    url = f"http://{host}:{port}"
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen([*cmd, "--quiet"], stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + timeout_s
            while not _answers(url):
                if proc.poll() is not None:
                    log.seek(0)
                    tail = log.read().decode(errors="replace").strip()[-500:]
                    raise ConfigError("storage", cmd[1], f"a storage optuna-dashboard can "
                                      f"open; it exited with code {proc.returncode}: {tail}")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"optuna-dashboard did not answer at {url} within "
                                       f"{timeout_s:g} s")
                time.sleep(0.1)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(5.0)
            except subprocess.TimeoutExpired:
                proc.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(5.0)


@contextmanager
def dashboard_server(storage: Any, *, host: str = "127.0.0.1", port: int | None = None,
                     mode: DashboardMode = "process", timeout_s: float = 60.0
                     ) -> Iterator[str]:
    """Serve ``storage`` in optuna-dashboard for the ``with`` block; yields its base URL.

    The block starts once the dashboard answers (``GET /api/meta``) and the server is
    stopped when the block ends, whatever ends it.

    Parameters
    ----------
    storage : str, Path or optuna.storages.BaseStorage
        A journal file or an RDB URL (see :func:`dashboard_command`); an RDB password is best
        kept in ``$PGPASSFILE`` (a child process inherits the environment). A storage object
        (e.g. an ``optuna.storages.InMemoryStorage`` a study was created with) only with
        ``mode="thread"``.
    host : str
    port : int, optional
        Default: a free port.
    mode : {"process", "thread"}
        ``"process"``: the ``optuna-dashboard`` command in a child process (terminated, then
        killed after 5 s, at the end). ``"thread"``: its WSGI app (``optuna_dashboard.wsgi``)
        on a ``wsgiref`` server in a daemon thread of this process (shut down at the end).
    timeout_s : float
        ``"process"``: seconds to wait for the server to answer (its start imports Optuna
        and optuna-dashboard: several seconds on a busy machine).

    Yields
    ------
    str
        ``http://host:port``; the dashboard's page is ``/dashboard``, its JSON API
        ``/api/studies`` and ``/api/studies/<study_id>``.

    Raises
    ------
    ConfigError
        Bad arguments (see :func:`dashboard_command`), or a storage the dashboard cannot
        open (``"process"``: it exited before it answered; its last output is in the
        message).
    TimeoutError
        ``"process"``: it did not answer within ``timeout_s`` seconds (it is stopped first).
    """
    check_choice("mode", mode, DASHBOARD_MODES)
    timeout_s = check_float("timeout_s", timeout_s, min_value=0.1)
    if port is None:
        port = free_port(host if host != "localhost" else "127.0.0.1")
    port = check_int("port", port, min_value=1, max_value=65535)
    if mode == "thread":
        with _thread_server(storage, host, port) as url:
            yield url
    else:
        with _process_server(storage, host, port, timeout_s) as url:
            yield url
