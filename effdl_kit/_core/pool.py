"""A local process pool that leaves no orphaned workers, however its owner ends.

:func:`process_pool` wraps :class:`concurrent.futures.ProcessPoolExecutor` for the kit's
dataset builders (:meth:`effdl_kit._core.jsonl.JsonlDataset.build_rows`):

* **the owner gets SIGTERM or SIGINT** (``kill``, Ctrl-C): while the pool is open, in the main
  thread, a handler kills the workers at once, then does what the signal's previous handler
  did: SIGINT raises ``KeyboardInterrupt``; a SIGTERM that had the default action raises
  ``SystemExit(143)`` (128 + 15), so ``finally`` blocks run and the exit status still says
  "terminated"; a previous Python handler is called. An ignored signal stays ignored. The
  previous handlers are restored when the pool closes.
* **the owner raises** (a row failed, an interrupt): the workers are killed and queued calls
  cancelled, instead of waiting for the running ones (their rows could no longer be saved).
* **the owner dies** (``kill -9``, out-of-memory killer): each worker dies with it. On Linux
  the worker asks the kernel for SIGKILL when its parent exits (``prctl(PR_SET_PDEATHSIG)``
  through ctypes); on every system a daemon thread in the worker checks twice a second that
  its parent is still the one it started under, and that the pool's owner is alive, and exits
  otherwise (this also covers a ``forkserver`` or ``spawn`` start method, where the worker's
  parent is not the owner).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from types import FrameType
from typing import Any

__all__ = ["kill_workers", "process_pool", "worker_init"]

#: Seconds between two checks of the worker's parent watchdog.
WATCHDOG_PERIOD_S = 0.5
_PR_SET_PDEATHSIG = 1


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - a pid reused by another user's process
        return True
    return True


def _watch_parent(owner: int, parent: int) -> None:
    while True:
        time.sleep(WATCHDOG_PERIOD_S)
        if os.getppid() != parent or not _alive(owner):
            os._exit(1)


def worker_init(owner: int, initializer: Callable[[], None] | None = None) -> None:
    """A pool worker's initializer: die with the parent, then run ``initializer``.

    A worker forked from the owner inherits the owner's SIGTERM/SIGINT handlers of
    :func:`process_pool` (which kill the pool's workers); they are set back to the handlers the
    owner had before, so a signal to a worker (Ctrl-C reaches the whole process group) acts
    on that worker alone.

    Parameters
    ----------
    owner : int
        The pid of the process that owns the pool.
    initializer : callable, optional
        The caller's own initializer, run afterwards.
    """
    for sig in (signal.SIGTERM, signal.SIGINT):  # a forked worker inherits the owner's handlers
        handler = signal.getsignal(sig)
        if isinstance(handler, functools.partial) and handler.func is _on_signal:
            prev = handler.args[1]
            signal.signal(sig, signal.SIG_DFL if prev is None else prev)
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    parent = os.getppid()
    if not _alive(owner):
        os._exit(1)  # the owner died before the death signal was asked for
    threading.Thread(target=_watch_parent, args=(owner, parent), name="effdl-parent-watchdog",
                     daemon=True).start()
    if initializer is not None:
        initializer()


def kill_workers(pool: ProcessPoolExecutor, join_s: float = 2.0) -> None:
    """SIGKILL every worker process of ``pool`` and reap them (waiting at most ``join_s``)."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    for proc in procs:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            proc.kill()
    deadline = time.monotonic() + join_s
    for proc in procs:
        with contextlib.suppress(OSError, ValueError, AttributeError, AssertionError):
            proc.join(max(0.0, deadline - time.monotonic()))


Handler = Callable[[int, FrameType | None], Any] | int | None


def _install(pool: ProcessPoolExecutor) -> dict[int, Handler]:
    """Install SIGTERM/SIGINT handlers killing ``pool``'s workers; return the previous ones."""
    if threading.current_thread() is not threading.main_thread():
        return {}  # signal handlers can only be set in the main thread
    previous: dict[int, Handler] = {}
    for sig in (signal.SIGTERM, signal.SIGINT):
        prev = signal.getsignal(sig)
        if prev == signal.SIG_IGN:
            continue
        previous[int(sig)] = prev
        signal.signal(sig, functools.partial(_on_signal, pool, prev))
    return previous


def _on_signal(pool: ProcessPoolExecutor, prev: Handler, signum: int,
               frame: FrameType | None) -> None:
    kill_workers(pool, join_s=0.5)
    if callable(prev):
        prev(signum, frame)
    else:  # the default action: end the process, but through SystemExit so cleanup runs
        raise SystemExit(128 + signum)


@contextlib.contextmanager
def process_pool(max_workers: int, initializer: Callable[[], None] | None = None
                 ) -> Iterator[ProcessPoolExecutor]:
    """A :class:`~concurrent.futures.ProcessPoolExecutor` that leaves no orphans (module doc).

    Parameters
    ----------
    max_workers : int
        Worker processes.
    initializer : callable, optional
        Run in each worker after :func:`worker_init`'s parent watch is set up (picklable).

    Yields
    ------
    ProcessPoolExecutor
        Shut down on exit: waiting for its calls after a normal exit; killing its workers
        and cancelling queued calls after an exception.
    """
    pool = ProcessPoolExecutor(max_workers=max_workers,
                               initializer=functools.partial(worker_init, os.getpid(),
                                                             initializer))
    previous = _install(pool)
    try:
        yield pool
    except BaseException:
        kill_workers(pool)
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    else:
        pool.shutdown(wait=True, cancel_futures=True)
    finally:
        for sig, prev in previous.items():
            with contextlib.suppress(ValueError, TypeError):
                signal.signal(sig, signal.SIG_DFL if prev is None else prev)


@contextlib.contextmanager
def shutdown_when_done(pool: Executor | None, own: bool) -> Iterator[None]:
    """Shut down a pool the caller created (``own``) when the block ends, waiting for it; on
    an error or an interrupt kill a process pool's workers first, so they stop now rather than
    after their current jobs. A pool the caller was given is left alone."""
    try:
        yield
    except BaseException:
        if own and isinstance(pool, ProcessPoolExecutor):
            kill_workers(pool)
            pool.shutdown(wait=False, cancel_futures=True)
        raise
    finally:
        if own and pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
