"""What panel controllers report: :class:`Progress`, :class:`ChangeEvent`, :class:`RunRecord`,
:class:`RunStopped`, and small helpers shared by the controller and the views."""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ._controller import PanelController

__all__ = ["YSCALES", "ChangeEvent", "EventKind", "Listener", "Progress", "RunRecord",
           "RunStopped", "apply_yscale", "figure_to_png"]

#: y-axis scales a panel's toggle offers
YSCALES: tuple[str, ...] = ("linear", "log", "symlog")
EventKind = Literal["params", "status", "progress", "result", "error", "stopping", "runs"]


class RunStopped(BaseException):
    """Raised inside :meth:`PanelController.compute` (by :meth:`~PanelController.check_stop`)
    at an epoch or trial boundary once a stop was requested: a stop, not a failure.

    A ``BaseException`` (like ``KeyboardInterrupt``), so that library code which records a
    failing trial with ``except Exception`` lets it through instead of recording a failure.
    """


@dataclass(frozen=True)
class Progress:
    """One progress report of a running computation.

    Parameters
    ----------
    done : int
        Units of work finished (epochs, trials, ...).
    total : int
        Units of work in the whole run.
    message : str
        A short human-readable line ("epoch 3/5: loss 0.41").
    """

    done: int
    total: int
    message: str = ""

    @property
    def fraction(self) -> float:
        """``done / total`` in [0, 1] (0 when ``total`` is 0)."""
        return min(max(self.done / self.total, 0.0), 1.0) if self.total > 0 else 0.0


@dataclass(frozen=True)
class ChangeEvent:
    """What a controller tells its listeners.

    Parameters
    ----------
    kind : {"params", "status", "progress", "result", "error", "stopping", "runs"}
        What changed.
    controller : PanelController
        The controller that changed.
    data : object
        ``params``: dict of the parameters that were set; ``status``: the new status string;
        ``progress``: a :class:`Progress`; ``result``: the new result (or None when cleared);
        ``error``: the error text (or None when cleared); ``stopping``: why the stop was
        requested ("Stop button", "kernel interrupt"); ``runs``: the kept runs (a list of
        :class:`RunRecord`).

    Notes
    -----
    Events of a background run are emitted from its worker thread; a view that must update
    from its own thread (:class:`~effdl_kit.widgets.Panel` does) hands them over itself.
    """

    kind: EventKind
    controller: PanelController = field(repr=False)
    data: Any = None


Listener = Callable[[ChangeEvent], None]


@dataclass(frozen=True)
class RunRecord:
    """One finished run a controller keeps for overlays (:attr:`PanelController.runs`).

    Parameters
    ----------
    number : int
        1 for the controller's first run, then 2, 3, ...
    label : str
        Legend label: ``"run 3"`` plus the parameters that differ from the previous run.
    params : dict
        The parameters of the run.
    status : {"done", "stopped"}
        How it ended.
    result : object
        Its result (partial when stopped).
    """

    number: int
    label: str
    params: Mapping[str, Any]
    status: str
    result: Any = field(repr=False)


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    text = str(value)
    return text if len(text) <= 16 else text[:15] + "…"


def _jsonable(value: Any) -> Any:
    """Parameters as plain JSON types (tuples -> lists, unknown objects -> repr)."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return repr(value)


def _close(fig: Figure) -> None:
    """Release a figure made with pyplot; a bare ``Figure`` needs nothing."""
    import matplotlib.pyplot as plt

    if plt.fignum_exists(getattr(fig, "number", -1)):
        plt.close(fig)


def _same(a: Any, b: Any) -> bool:
    """Equal, with floats compared to a relative 1e-9 (sliders round-trip through JS)."""
    if isinstance(a, float | int) and isinstance(b, float | int) and not (
            isinstance(a, bool) or isinstance(b, bool)):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=0.0)
    return bool(a == b)


def figure_to_png(fig: Figure, dpi: int = 100) -> bytes:
    """Render ``fig`` to PNG bytes (used to show figures inside widgets)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


def apply_yscale(fig: Figure, scale: str) -> list[Any]:
    """Set ``scale`` on every axes of ``fig`` that holds curves (lines with >= 2 points).

    ``"log"`` on data with values <= 0 falls back to ``"symlog"`` (nothing is hidden).

    Returns
    -------
    list of Axes
        The axes changed.
    """
    import numpy as np

    changed = []
    if scale not in YSCALES:
        raise ValueError(f"scale must be one of {YSCALES}")
    for ax in fig.axes:
        lines = [ln for ln in ax.get_lines() if len(np.atleast_1d(ln.get_ydata())) >= 2]
        if not lines or getattr(ax, "_colorbar", None) is not None:
            continue
        ys = np.concatenate([np.asarray(ln.get_ydata(), dtype=float).ravel() for ln in lines])
        ys = ys[np.isfinite(ys)]
        use = scale
        if scale == "log" and ys.size and ys.min() <= 0:
            use = "symlog"
        if use == "symlog":
            pos = np.abs(ys[ys != 0])
            ax.set_yscale("symlog", linthresh=float(np.percentile(pos, 5)) if pos.size else 1.0)
        else:
            ax.set_yscale(use)
        changed.append(ax)
    return changed
