"""Kernel ▸ Interrupt stops the panels' background runs.

A panel's run goes on a worker thread, so the kernel is idle while it runs. ipykernel ignores
SIGINT while idle (it installs ``SIG_IGN`` at start and swaps in Python's default handler only
while it handles a message), so an interrupt would be lost. :func:`install_interrupt_handler`
puts :func:`_on_sigint` where the kernel restores its idle handler from
(``kernel.saved_sigint_handler``) and installs it now: while the kernel is idle, an interrupt
asks every running controller to stop at its next epoch or trial boundary (reason
``"kernel interrupt"``); with no panel running it does what the kernel's idle handler did.
While a cell executes, the kernel's own handler is active and the interrupt stops that cell as
usual.
"""

from __future__ import annotations

import signal
import threading
import weakref
from types import FrameType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._controller import PanelController

__all__ = ["install_interrupt_handler", "register_running", "stop_all"]

_RUNNING: weakref.WeakSet[PanelController] = weakref.WeakSet()
_PREVIOUS: list[Any] = []


def register_running(controller: PanelController) -> None:
    """Remember ``controller`` so an interrupt can stop it (weakly; finished runs ignored)."""
    _RUNNING.add(controller)


def stop_all(reason: str = "kernel interrupt") -> int:
    """Ask every running registered controller to stop; the number asked."""
    n = 0
    for c in list(_RUNNING):
        if c.stop(reason):
            n += 1
    return n


def _on_sigint(signum: int, frame: FrameType | None) -> None:
    if stop_all("kernel interrupt"):
        return
    previous = _PREVIOUS[0] if _PREVIOUS else signal.SIG_IGN
    if callable(previous) and previous is not _on_sigint:
        previous(signum, frame)
    # SIG_IGN / SIG_DFL idle handler of the kernel: nothing to do (never kill the kernel)


def install_interrupt_handler(kernel: Any = None) -> bool:
    """Route SIGINT to :func:`_on_sigint` while the kernel is idle.

    Parameters
    ----------
    kernel : object, optional
        The ipykernel ``Kernel`` (default: the running IPython kernel, if any). Without a
        kernel (a script, the tests) the handler is installed directly as the SIGINT handler
        only when ``kernel`` is the string ``"process"``.

    Returns
    -------
    bool
        True when the handler is in place; False outside the main thread or a kernel.
    """
    if threading.current_thread() is not threading.main_thread():
        return False
    if kernel == "process":
        prev = signal.signal(signal.SIGINT, _on_sigint)
        if prev is not _on_sigint:
            _PREVIOUS[:] = [prev]
        return True
    if kernel is None:
        try:
            from IPython import get_ipython
        except ImportError:  # pragma: no cover - IPython is a dependency
            return False
        shell = get_ipython()
        kernel = getattr(shell, "kernel", None)
        if kernel is None:
            return False
    saved = getattr(kernel, "saved_sigint_handler", None)
    if saved is not _on_sigint:
        _PREVIOUS[:] = [saved if saved is not None else signal.SIG_IGN]
        # ipykernel restores this after every message it handles: our handler when idle
        kernel.saved_sigint_handler = _on_sigint
    return True
