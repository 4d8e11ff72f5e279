"""The pure-Python half of every panel: :class:`PanelController`.

It holds a panel's state (parameters, last result, last error, status), validates and runs
library calls, and tells listeners about every change. It imports neither ipywidgets nor
IPython, so tests and scripts drive it without a browser or a kernel. The ipywidgets view that
mirrors it is :class:`~effdl_kit.widgets._base.Panel`.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from effdl_kit._core.errors import ConfigError, EffdlError
from effdl_kit._core.validate import Scale, check_choice, check_scale

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "EXPORT_FORMATS",
    "STATUSES",
    "ChangeEvent",
    "PanelController",
    "Progress",
    "figure_to_png",
]

Status = Literal["idle", "running", "done", "error"]
STATUSES: tuple[str, ...] = ("idle", "running", "done", "error")
EventKind = Literal["params", "status", "progress", "result", "error"]
EXPORT_FORMATS: tuple[str, ...] = ("pdf", "svg", "png")


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
    kind : {"params", "status", "progress", "result", "error"}
        What changed.
    controller : PanelController
        The controller that changed.
    data : object
        ``params``: dict of the parameters that were set; ``status``: the new status string;
        ``progress``: a :class:`Progress`; ``result``: the new result (or None when cleared);
        ``error``: the error text (or None when cleared).
    """

    kind: EventKind
    controller: PanelController = field(repr=False)
    data: Any = None


Listener = Callable[[ChangeEvent], None]


class PanelController:
    """State and actions of one panel, free of any GUI code.

    Subclasses set :attr:`defaults` (parameter name -> default value) and implement
    :meth:`prepare` (validate the parameters through library functions and return what
    :meth:`compute` needs), :meth:`compute` (call the library) and :meth:`figure` (draw the
    result with :mod:`effdl_kit.reports`).

    Parameters
    ----------
    scale : {"smoke", "small", "paper"}
        Budget of the panel's work; recorded in exported figures' provenance.
    **params
        Initial parameter values; unknown names raise :class:`~effdl_kit.errors.ConfigError`.
        Values are validated by the library when :meth:`run` is called.

    Attributes
    ----------
    params : dict
        Current parameter values.
    status : {"idle", "running", "done", "error"}
        Where the controller stands.
    result : object or None
        The last successful run's result.
    error : str or None
        ``"<ExceptionType>: <message>"`` of the last failure, None when the last action worked.
    exception : BaseException or None
        The exception object behind :attr:`error`.
    """

    #: parameter name -> default value (subclasses override)
    defaults: ClassVar[Mapping[str, Any]] = {}
    #: name used in exported figures' provenance
    name: ClassVar[str] = "panel"

    def __init__(self, *, scale: Scale = "small", **params: Any) -> None:
        self.scale: Scale = check_scale(scale)
        self._listeners: list[Listener] = []
        self.params: dict[str, Any] = dict(self.scale_defaults(self.scale))
        self._check_names(params)
        self.params.update(params)
        self.status: Status = "idle"
        self.result: Any = None
        self.error: str | None = None
        self.exception: BaseException | None = None
        self.last_progress: Progress | None = None

    # ------------------------------------------------------------------ parameters
    def scale_defaults(self, scale: Scale) -> Mapping[str, Any]:
        """Default parameters at ``scale`` (the class :attr:`defaults` unless overridden)."""
        return self.defaults

    def _check_names(self, params: Mapping[str, Any]) -> None:
        for key in params:
            check_choice("parameter", key, tuple(self.defaults))

    def set(self, **params: Any) -> None:
        """Change parameters (validated when :meth:`run` is called) and notify listeners.

        Raises
        ------
        ConfigError
            A name that is not one of this controller's parameters.
        """
        self._check_names(params)
        changed = {k: v for k, v in params.items() if k not in self.params or self.params[k] != v}
        if not changed:
            return
        self.params.update(changed)
        self._emit("params", dict(changed))

    # ------------------------------------------------------------------ listeners
    def on_change(self, callback: Listener) -> Callable[[], None]:
        """Call ``callback(event)`` on every state change and progress report.

        Parameters
        ----------
        callback : callable
            Receives a :class:`ChangeEvent`. An exception it raises propagates to the caller
            of the action that triggered it (inside :meth:`run` it becomes the run's error).

        Returns
        -------
        callable
            Call it to remove the listener.
        """
        if not callable(callback):
            raise ConfigError("callback", callback, "a callable taking a ChangeEvent")
        self._listeners.append(callback)

        def remove() -> None:
            if callback in self._listeners:
                self._listeners.remove(callback)

        return remove

    def _emit(self, kind: EventKind, data: Any = None) -> None:
        event = ChangeEvent(kind, self, data)
        for cb in list(self._listeners):
            cb(event)

    def _set_status(self, status: Status) -> None:
        if status != self.status:
            self.status = status
            self._emit("status", status)

    def report_progress(self, done: int, total: int, message: str = "") -> None:
        """Record a progress report and notify listeners (called by subclasses' hooks)."""
        self.last_progress = Progress(int(done), int(total), message)
        self._emit("progress", self.last_progress)

    # ------------------------------------------------------------------ actions
    def prepare(self) -> Any:
        """Validate :attr:`params` through the library; return what :meth:`compute` needs."""
        raise NotImplementedError(f"{type(self).__name__} must implement prepare()")

    def compute(self, prepared: Any) -> Any:
        """Do the work (call the library) and return the result object."""
        raise NotImplementedError(f"{type(self).__name__} must implement compute()")

    def figure(self) -> Figure:
        """Draw the current result (or the live partial result) as a new matplotlib Figure."""
        raise NotImplementedError(f"{type(self).__name__} must implement figure()")

    def provenance(self) -> dict[str, Any]:
        """What exported figures record besides seed and scale (panel name, parameters)."""
        return {"panel": self.name, "params": _jsonable(self.params)}

    def record_error(self, exc: BaseException, *, set_status: bool = True) -> None:
        """Store ``exc`` as :attr:`error` / :attr:`exception`, notify, optionally set "error"."""
        self.exception = exc
        self.error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if set_status:
            self._set_status("error")
        self._emit("error", self.error)

    def clear_error(self) -> None:
        """Forget the last error (and notify) if there is one."""
        if self.error is not None or self.exception is not None:
            self.error = None
            self.exception = None
            self._emit("error", None)

    def run(self, *, raise_errors: bool = False) -> Any:
        """Validate the parameters, run the computation and store its result.

        Parameters
        ----------
        raise_errors : bool
            Re-raise an exception after recording it (default: record it only). A
            ``KeyboardInterrupt`` is always re-raised after being recorded.

        Returns
        -------
        object or None
            The new result, or None when the run failed (see :attr:`error`).
        """
        if self.status == "running":
            raise EffdlError(f"{type(self).__name__} is already running")
        self.clear_error()
        if self.result is not None:
            self.result = None
            self._emit("result", None)
        self.last_progress = None
        try:
            prepared = self.prepare()  # bad input fails here, before any work starts
            self._set_status("running")
            result = self.compute(prepared)
        except BaseException as exc:
            self.record_error(exc)
            # an interrupt (Ctrl-C, "interrupt kernel") is recorded, then always goes on up
            if raise_errors or not isinstance(exc, Exception):
                raise
            return None
        self.result = result
        self._set_status("done")
        self._emit("result", result)
        return result

    def export(
        self,
        path_stem: str | Path,
        formats: Sequence[str] = EXPORT_FORMATS,
        *,
        raise_errors: bool = True,
    ) -> list[Path]:
        """Write the current figure with :func:`effdl_kit.reports.save_figure`.

        Parameters
        ----------
        path_stem : str or Path
            Output path without extension; one file per format is written next to it.
        formats : sequence of {"pdf", "svg", "png"}
            File formats to write.
        raise_errors : bool
            Raise on failure (default); when False, record it in :attr:`error` (the status,
            which describes the last run, is left as it is) and return an empty list.

        Returns
        -------
        list of Path
            The written files.
        """
        if self.status != "running":
            self.clear_error()
        try:
            if isinstance(formats, str):
                formats = (formats,)
            if not formats:
                raise ConfigError("formats", tuple(formats), "a non-empty subset of "
                                  + ", ".join(EXPORT_FORMATS))
            for fmt in formats:
                check_choice("formats", fmt, EXPORT_FORMATS)
            if not str(path_stem).strip():
                raise ConfigError("path_stem", path_stem, "a non-empty path")
            if self.result is None:
                raise EffdlError("nothing to export: run the panel first")
            from effdl_kit.reports import save_figure

            fig = self.figure()
            paths = save_figure(
                fig, Path(path_stem), formats=tuple(formats), provenance=self.provenance(),
                seed=self.params.get("seed"), scale=self.scale,
            )
            _close(fig)
        except Exception as exc:
            if raise_errors:
                raise
            self.record_error(exc, set_status=False)
            return []
        return [Path(p) for p in paths]


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
