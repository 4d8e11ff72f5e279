"""The pure-Python half of every panel: :class:`PanelController`.

It holds a panel's state (parameters, last result, last error, status), validates and runs
library calls, and tells listeners about every change. It imports neither ipywidgets nor
IPython, so tests and scripts drive it without a browser or a kernel. The ipywidgets view that
mirrors it is :class:`~effdl_kit.widgets._base.Panel`.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from effdl_kit._core.errors import ConfigError, EffdlError
from effdl_kit._core.validate import Scale, check_choice, check_scale

from ._events import (
    ChangeEvent,
    EventKind,
    Listener,
    Progress,
    RunRecord,
    RunStopped,
    _close,
    _jsonable,
    _same,
    _short,
    apply_yscale,
    figure_to_png,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "EXPORT_FORMATS",
    "STATUSES",
    "TRANSITIONS",
    "ChangeEvent",
    "PanelController",
    "Progress",
    "RunRecord",
    "RunStopped",
    "figure_to_png",
]

Status = Literal["idle", "running", "done", "stopped", "error"]
STATUSES: tuple[str, ...] = ("idle", "running", "done", "stopped", "error")
#: The panel state machine: status -> the statuses it may move to. A run goes idle -> running
#: -> done | stopped | error; bad input found before any work goes straight to error; a new run
#: may start from any finished state.
TRANSITIONS: Mapping[str, frozenset[str]] = {
    "idle": frozenset({"running", "error"}),
    "running": frozenset({"done", "stopped", "error"}),
    "done": frozenset({"running", "error"}),
    "stopped": frozenset({"running", "error"}),
    "error": frozenset({"running", "error"}),
}
EXPORT_FORMATS: tuple[str, ...] = ("pdf", "svg", "png")


class PanelController:
    """State and actions of one panel, free of any GUI code.

    Subclasses set :attr:`defaults` (parameter name -> default value) and implement
    :meth:`prepare` (validate the parameters through library functions and return what
    :meth:`compute` needs), :meth:`compute` (call the library; ask :meth:`should_stop` or call
    :meth:`check_stop` at every epoch or trial boundary), :meth:`figure` (draw the result with
    :mod:`effdl_kit.reports`) and, when a stopped run leaves something worth showing,
    :meth:`partial_result`.

    One state machine (:data:`TRANSITIONS`) drives everything a view shows: ``idle`` ->
    ``running`` -> ``done`` | ``stopped`` | ``error``. :meth:`start` runs the work on a worker
    thread (the kernel stays responsive; :meth:`stop`, the Stop button or Kernel ▸ Interrupt
    end it at the next boundary); :meth:`run` does the same work in the caller's thread.

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
    status : {"idle", "running", "done", "stopped", "error"}
        Where the controller stands.
    result : object or None
        The last run's result: complete when ``done``, partial when ``stopped`` (None when
        the run stopped before anything was finished), None after an error.
    error : str or None
        ``"<ExceptionType>: <message>"`` of the last failure, None when the last action worked.
    exception : BaseException or None
        The exception object behind :attr:`error`.
    error_field : str or None
        The parameter (or ``"export"``) the error is about, so a view can show it next to
        that field; None for an error about the run as a whole.
    stop_reason : str or None
        Why the last run was stopped ("Stop button", "kernel interrupt", ...).
    runs : list of RunRecord
        The last :attr:`max_runs` finished runs, oldest first (for overlays).
    """

    #: parameter name -> default value (subclasses override)
    defaults: ClassVar[Mapping[str, Any]] = {}
    #: name used in exported figures' provenance
    name: ClassVar[str] = "panel"
    #: what one unit of progress is, for status lines ("epoch", "trial", "step")
    unit: ClassVar[str] = "step"
    #: the figure can overlay the kept runs (:attr:`runs`)
    supports_overlay: ClassVar[bool] = False
    #: runs kept for overlays
    max_runs: ClassVar[int] = 5
    #: :meth:`figure` draws on :attr:`yscale` itself (limits computed on that scale); else
    #: the curves' axes are switched after drawing, on screen and in exports alike
    draws_yscale: ClassVar[bool] = False

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
        self.error_field: str | None = None
        self.last_progress: Progress | None = None
        self.stop_reason: str | None = None
        self._stop_event = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.RLock()
        self._runs: deque[RunRecord] = deque(maxlen=self.max_runs)
        self._n_runs = 0
        self._run_params: dict[str, Any] = {}
        if not hasattr(self, "yscale"):  # a subclass may have set it before calling us
            #: y scale of the curves ("linear", "log", "symlog"; a panel's toggle sets it)
            self.yscale: str = "linear"

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
            Receives a :class:`ChangeEvent` (from the worker thread during a background
            run). An exception it raises propagates to the caller of the action that
            triggered it (inside a run it becomes the run's error).

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
        if status == self.status and status != "error":
            return
        if status not in TRANSITIONS[self.status]:
            raise EffdlError(f"{type(self).__name__}: no transition {self.status} -> {status}")
        self.status = status
        self._emit("status", status)

    def report_progress(self, done: int, total: int, message: str = "") -> None:
        """Record a progress report and notify listeners (called by subclasses' hooks)."""
        self.last_progress = Progress(int(done), int(total), message)
        self._emit("progress", self.last_progress)

    # ------------------------------------------------------------------ stopping
    def should_stop(self) -> bool:
        """True once a stop was requested for the current run (pass it to library
        functions that take ``should_stop=``; ask it at every epoch or trial boundary)."""
        return self._stop_event.is_set()

    def check_stop(self) -> None:
        """Raise :class:`RunStopped` when a stop was requested (call at a boundary)."""
        if self._stop_event.is_set():
            raise RunStopped(f"{type(self).__name__} stopped ({self.stop_reason})")

    def stop(self, reason: str = "Stop button") -> bool:
        """Ask the running computation to stop at its next epoch or trial boundary.

        Parameters
        ----------
        reason : str
            Recorded in :attr:`stop_reason` and shown ("Stop button", "kernel interrupt").

        Returns
        -------
        bool
            True when a run was going (it will end as ``stopped``); False when idle.
        """
        with self._lock:
            if self.status != "running" or self._stop_event.is_set():
                return self.status == "running"
            self.stop_reason = str(reason)
            self._stop_event.set()
        self._emit("stopping", self.stop_reason)
        return True

    def partial_result(self) -> Any:
        """What a stopped run leaves to show and export (subclasses override; None: nothing).

        Called in the worker thread after :class:`RunStopped` (or an interrupt) ended
        :meth:`compute`; read what the progress hooks recorded so far.
        """
        return None

    @property
    def running(self) -> bool:
        """True while a run is going (in any thread)."""
        return self.status == "running"

    def join(self, timeout: float | None = None) -> bool:
        """Wait for a background run (:meth:`start`) to end.

        Returns
        -------
        bool
            True when no run is going any more.
        """
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        return not (thread is not None and thread.is_alive())

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
        """What exported figures record besides seed and scale (panel name, parameters,
        and whether the run was complete or stopped)."""
        out: dict[str, Any] = {"panel": self.name, "params": _jsonable(self.params),
                               "run_status": self.status, "yscale": self.yscale}
        if self.status == "stopped":
            out["stopped"] = {"reason": self.stop_reason, "progress": self.progress_text()}
        return out

    def progress_text(self) -> str:
        """``"3/10 epochs"`` from the last progress report ("" before any)."""
        p = self.last_progress
        if p is None:
            return ""
        unit = self.unit if p.total == 1 else f"{self.unit}s"
        return f"{p.done}/{p.total} {unit}"

    def status_text(self) -> str:
        """One line that says where the controller stands (what a view shows)."""
        if self.status == "running":
            if self._stop_event.is_set():
                return f"stopping ({self.stop_reason}) at the next {self.unit} boundary"
            p = self.last_progress
            return f"running: {p.message}" if p is not None and p.message else "running"
        if self.status == "stopped":
            where = self.progress_text()
            if self.result is None:
                return f"stopped ({self.stop_reason}) before anything finished: nothing to show"
            return f"stopped ({self.stop_reason})" + (f" after {where}" if where else "") \
                + "; partial result shown"
        if self.status == "error":
            return "error: see the message" + (f" at {self.error_field!r}" if self.error_field
                                               else "")
        return self.status

    def error_field_of(self, exc: BaseException) -> str | None:
        """The parameter an exception is about (a :class:`ConfigError`'s field when it names
        one of :attr:`params`, its first dotted part, else None). Subclasses may map
        library field names to parameters."""
        name = getattr(exc, "field", None)
        if not isinstance(name, str):
            return None
        for cand in (name, name.split(".")[0], name.split("[")[0]):
            if cand in self.params:
                return cand
        return None

    def record_error(self, exc: BaseException, *, set_status: bool = True,
                     field: str | None = None) -> None:
        """Store ``exc`` as :attr:`error` / :attr:`exception`, notify, optionally set "error".

        Parameters
        ----------
        exc : BaseException
            The failure.
        set_status : bool
            Move to the ``error`` state (a failed run or bad input). False for a failure that
            does not change what the last run was (a failed export).
        field : str, optional
            The field to show the message next to; default :meth:`error_field_of`.
        """
        self.exception = exc
        self.error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        self.error_field = field if field is not None else self.error_field_of(exc)
        if set_status:
            if self.result is not None:  # a failed run shows no older result as its own
                self.result = None
                self._emit("result", None)
            self._set_status("error")
        self._emit("error", self.error)

    def clear_error(self) -> None:
        """Forget the last error (and notify) if there is one."""
        if self.error is not None or self.exception is not None:
            self.error = None
            self.exception = None
            self.error_field = None
            self._emit("error", None)

    def _begin(self) -> Any:
        """Reset for a new run and validate; the prepared input, or raises (recorded)."""
        with self._lock:
            if self.status == "running":
                raise EffdlError(f"{type(self).__name__} is already running")
            self._stop_event.clear()
            self.stop_reason = None
        self.clear_error()
        if self.result is not None:
            self.result = None
            self._emit("result", None)
        self.last_progress = None
        prepared = self.prepare()  # bad input fails here, before any work starts
        self._run_params = dict(self.params)
        self._set_status("running")
        return prepared

    def _work(self, prepared: Any) -> None:
        """Run :meth:`compute` and settle the state (done, stopped or error); never raises
        except for an interrupt of a synchronous run, which it records first."""
        try:
            result = self.compute(prepared)
        except RunStopped:
            self._finish("stopped", self.partial_result())
            return
        except KeyboardInterrupt:
            # Ctrl-C / Kernel > Interrupt while a synchronous run holds the main thread
            self.stop_reason = self.stop_reason or "keyboard interrupt"
            self._stop_event.set()
            self._finish("stopped", self.partial_result())
            raise
        except BaseException as exc:
            self.record_error(exc)
            if not isinstance(exc, Exception):
                raise
            return
        self._finish("stopped" if self._stop_event.is_set() else "done", result)

    def _finish(self, status: Status, result: Any) -> None:
        self.result = result
        if result is not None:
            self._n_runs += 1
            self._runs.append(RunRecord(self._n_runs, self._run_label(), dict(self._run_params),
                                        status, result))
        self._set_status(status)
        if result is not None:
            self._emit("result", result)
            self._emit("runs", self.runs)

    def _run_label(self) -> str:
        label = f"run {self._n_runs}"
        if self._runs:
            prev = self._runs[-1].params
            from effdl_kit.reports import label as display_label

            diff = [f"{display_label(k, unit=False)} {_short(v)}"
                    for k, v in self._run_params.items() if not _same(v, prev.get(k))]
            if diff:
                label += " (" + ", ".join(diff[:3]) + ("…" if len(diff) > 3 else "") + ")"
        return label

    @property
    def runs(self) -> list[RunRecord]:
        """The kept finished runs (done or stopped with a result), oldest first."""
        return list(self._runs)

    def clear_runs(self) -> None:
        """Forget the kept runs except the current one (what "Clear runs" does)."""
        keep = [r for r in self._runs if r.result is self.result] if self.result is not None \
            else []
        self._runs.clear()
        self._runs.extend(keep[-1:])
        self._emit("runs", self.runs)

    def start(self) -> bool:
        """Validate, then run :meth:`compute` on a worker thread and return at once.

        Bad input is recorded (status ``error``, the message next to its field) before any
        work starts. While the run goes, :meth:`stop` ends it at the next boundary.

        Returns
        -------
        bool
            True when the run started; False when validation failed (see :attr:`error`).

        Raises
        ------
        EffdlError
            A run is already going.
        """
        try:
            prepared = self._begin()
        except EffdlError as exc:
            if self.status == "running":
                raise
            self.record_error(exc)
            return False
        except Exception as exc:
            self.record_error(exc)
            return False
        from ._interrupt import register_running

        register_running(self)
        self._thread = threading.Thread(target=self._work_quietly, args=(prepared,),
                                        name=f"effdl-{self.name}", daemon=True)
        self._thread.start()
        return True

    def _work_quietly(self, prepared: Any) -> None:
        try:
            self._work(prepared)
        except BaseException as exc:  # the worker's last word: record it
            if self.status == "running":
                self.record_error(exc)

    def run(self, *, raise_errors: bool = False) -> Any:
        """Validate the parameters, run the computation in this thread and store its result.

        Parameters
        ----------
        raise_errors : bool
            Re-raise an exception after recording it (default: record it only). A
            ``KeyboardInterrupt`` is recorded as a stop (the partial result kept) and always
            re-raised.

        Returns
        -------
        object or None
            The new result (partial when stopped), or None when the run failed.
        """
        try:
            prepared = self._begin()
        except BaseException as exc:
            if isinstance(exc, EffdlError) and self.status == "running":
                raise
            self.record_error(exc)
            if raise_errors or not isinstance(exc, Exception):
                raise
            return None
        self._work(prepared)
        if self.status == "error" and raise_errors and self.exception is not None:
            raise self.exception
        return self.result

    def export(
        self,
        path_stem: str | Path,
        formats: Sequence[str] = EXPORT_FORMATS,
        *,
        raise_errors: bool = True,
    ) -> list[Path]:
        """Write the current figure with :func:`effdl_kit.reports.save_figure`.

        A stopped run's partial result exports like a finished one; its provenance says it
        was stopped (``run_status``, ``stopped``).

        Parameters
        ----------
        path_stem : str or Path
            Output path without extension; one file per format is written next to it.
        formats : sequence of {"pdf", "svg", "png"}
            File formats to write.
        raise_errors : bool
            Raise on failure (default); when False, record it in :attr:`error` next to the
            ``"export"`` field (the status, which describes the last run, is left as it is)
            and return an empty list.

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
                why = {"error": "the last run failed", "running": "the run has not finished",
                       "stopped": "the run stopped before anything finished"}
                raise EffdlError("nothing to export: "
                                 + why.get(self.status, "run the panel first"))
            from effdl_kit.reports import save_figure

            fig = self.figure()
            if self.yscale != "linear" and not self.draws_yscale:
                apply_yscale(fig, self.yscale)
            paths = save_figure(
                fig, Path(path_stem), formats=tuple(formats), provenance=self.provenance(),
                seed=self.params.get("seed"), scale=self.scale,
            )
            _close(fig)
        except Exception as exc:
            if raise_errors:
                raise
            self.record_error(exc, set_status=False, field="export")
            return []
        return [Path(p) for p in paths]


