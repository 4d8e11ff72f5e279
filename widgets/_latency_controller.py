"""Predict a module's latency with LR / MLP / RF / MEDN, and measure it now: the controller.

:class:`LatencyController` validates a module type and its parameters
(:func:`effdl_kit.measure.make_spec`: a non-positive dimension, a kernel larger than the
input, an unknown type fail before any work), fits the four predictors of that module type
on the latency dataset (once per module type, cached), scores them on rows held out by the
chosen split (``split``, one of :data:`effdl_kit.models.LATENCY_SPLITS`: at random, by
sampling configuration or in time blocks), reads the device state now and predicts the
module's latency with each; a run asked to measure (:meth:`LatencyController.measure_now`,
"Measure now") also times the module on this machine for comparison.
:class:`~effdl_kit.widgets.LatencyPanel` (:mod:`._latency`) is its ipywidgets view.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import pandas as pd

from effdl_kit import models as latency_models

# the latency models through their module: a test can stand in for fitting and scoring
from effdl_kit._core import SEED_MAX
from effdl_kit._core.validate import Scale, check_choice, check_int
from effdl_kit.data import spec_feature_frame
from effdl_kit.errors import EffdlError
from effdl_kit.experiments.medn import load_medn_data
from effdl_kit.measure import (
    MODULE_PARAMS,
    make_spec,
    measure_spec,
    normalize_module_type,
    read_device_state,
)
from effdl_kit.reports import figure as paper_figure
from effdl_kit.reports import is_registered, label

from ._base import PanelController

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "LATENCY_DEFAULTS",
    "SIZE_RANGES",
    "SPLIT_LABELS",
    "LatencyController",
    "module_label",
]

#: the parameters the panel shows, with their defaults (every module type's union)
LATENCY_DEFAULTS: dict[str, Any] = {
    "module_type": "conv2d", "batch": 1, "channels": 16, "out_channels": 32, "hw": 32,
    "kernel_size": 3, "stride": 1, "padding": 1, "in_features": 256, "out_features": 256,
    "seq_len": 16, "input_size": 64, "hidden_size": 64, "embed_dim": 64, "num_heads": 4,
    "split": "random", "seed": 0, "warmup": 5, "repeats": 25,
}
#: what each held-out split tests (the split selector's labels)
SPLIT_LABELS: dict[str, str] = {
    "random": "random rows (the paper's split)",
    "grouped": "unseen configurations (grouped)",
    "time": "later measurements (time-blocked)",
}
#: the module sizes' (hard lower bound, slider maximum)
SIZE_RANGES: dict[str, tuple[int, int]] = {
    "batch": (1, 64), "channels": (1, 256), "out_channels": (1, 256), "hw": (1, 128),
    "kernel_size": (1, 11), "stride": (1, 4), "padding": (0, 5), "in_features": (1, 4096),
    "out_features": (1, 4096), "seq_len": (1, 256), "input_size": (1, 512),
    "hidden_size": (1, 512), "embed_dim": (1, 512), "num_heads": (1, 16),
}


def module_label(name: str) -> str:
    """A module type's display label where the registry has one, else its name."""
    return label(name) if is_registered(name) else name


class LatencyController(PanelController):
    """Controller of :class:`LatencyPanel`.

    Parameters
    ----------
    scale : {"smoke", "small", "paper"}
        Rows and model budgets (:meth:`effdl_kit.experiments.medn.Budget.for_scale`: rows
        per module type, and :data:`effdl_kit.models.LATENCY_BUDGETS`).
    **params
        Any of :data:`LATENCY_DEFAULTS`: ``module_type`` and the module parameters (only those
        of the chosen type are used), ``split`` (how the test rows that score the models are
        held out, one of :data:`effdl_kit.models.LATENCY_SPLITS`: ``"random"`` rows,
        ``"grouped"`` by sampling configuration so a test configuration is never seen in
        training, ``"time"`` the latest-measured rows), ``seed``, and ``warmup`` / ``repeats`` of
        :meth:`measure_now`.

    Attributes
    ----------
    result : dict or None
        ``spec`` (:class:`~effdl_kit.measure.ModuleSpec`), ``state``
        (:class:`~effdl_kit.measure.DeviceState` read before predicting), ``predictions``
        (model -> ms), ``split``, ``scores`` (DataFrame: the test scores of the four models
        for this module type on that split's test rows), ``measured`` (a
        :class:`~effdl_kit.measure.LatencyResult` or None).
    """

    defaults: ClassVar[Mapping[str, Any]] = LATENCY_DEFAULTS
    name: ClassVar[str] = "latency"
    unit: ClassVar[str] = "step"

    def __init__(self, *, scale: Scale = "small", **params: Any) -> None:
        self._cache: dict[tuple[str, str, int, str], dict[str, Any]] = {}
        self._measure_next = False
        self._predicted: dict[str, Any] | None = None
        super().__init__(scale=scale, **params)

    def spec(self) -> Any:
        """The current parameters as a validated :class:`~effdl_kit.measure.ModuleSpec`.

        Raises
        ------
        ConfigError
            Unknown module type, bad or missing parameter, kernel larger than the input.
        """
        mt = normalize_module_type(self.params["module_type"])
        return make_spec(mt, **{k: self.params[k] for k in MODULE_PARAMS[mt]})

    def prepare(self) -> dict[str, Any]:
        """Validate the module, the split, the seed and the timing counts (nothing is fitted
        yet); a requested measurement (:meth:`request_measurement`) is taken up here."""
        measure, self._measure_next = self._measure_next, False
        spec = self.spec()
        split = check_choice("split", self.params["split"], latency_models.LATENCY_SPLITS)
        seed = check_int("seed", self.params["seed"], min_value=0, max_value=SEED_MAX)
        warmup = check_int("warmup", self.params["warmup"], min_value=0)
        repeats = check_int("repeats", self.params["repeats"], min_value=1)
        return {"spec": spec, "seed": seed, "split": split, "measure": measure,
                "warmup": warmup, "repeats": repeats}

    def request_measurement(self) -> None:
        """Make the next run (:meth:`start` or :meth:`run`) also time the module now."""
        self._measure_next = True

    def _steps(self, measure: bool) -> int:
        return len(latency_models.MODEL_KINDS) + 3 + int(measure)

    def _step(self, done: int, total: int, message: str) -> None:
        self.report_progress(done, total, message)
        self.check_stop()  # every step is a stop boundary

    def models(self, module_type: str, seed: int,
               split: latency_models.LatencySplit = "random", *,
               total: int | None = None) -> dict[str, Any]:
        """Fitted predictors (on every row) and their test scores on ``split``'s held-out
        rows for ``module_type`` (cached); a stop is honoured after every fit."""
        key = (module_type, self.scale, seed, split)
        n_kinds = len(latency_models.MODEL_KINDS)
        total = total if total is not None else self._steps(False)
        if key not in self._cache:
            self._step(0, total, "loading the latency dataset")
            df, _ = load_medn_data(self.scale, seed)
            self._step(1, total, f"scoring LR / MLP / RF / MEDN on {module_type} "
                       f"({split} split)")
            ev = latency_models.evaluate_latency_models(
                df, module_types=[module_type], split=split, seed=seed, params=self._budget(),
                progress=lambda d, _t, msg: self._step(1 + min(d, n_kinds), total, msg))
            self._step(1 + n_kinds, total,
                       f"fitting the predictors on every {module_type} row")
            fitted = latency_models.fit_latency_models(
                df, module_types=[module_type], kinds=latency_models.MODEL_KINDS, seed=seed,
                params=self._budget())[module_type]
            self._cache[key] = {"models": fitted, "scores": ev.table("test").reset_index()}
        return self._cache[key]

    def _budget(self) -> Any:
        return latency_models.LATENCY_BUDGETS[self.scale]

    def compute(self, prepared: dict[str, Any]) -> dict[str, Any]:
        """Predict the module's latency with each model at the device state read now; time
        the module too when a measurement was requested. Stops are honoured between steps
        (loading, each model's scoring, fitting, predicting, measuring)."""
        self._predicted = None
        spec = prepared["spec"]
        total = self._steps(prepared["measure"])
        entry = self.models(spec.module_type, prepared["seed"], prepared["split"],
                            total=total)
        self._step(len(latency_models.MODEL_KINDS) + 2, total,
                   f"predicting {spec.module_type} with each model")
        state = read_device_state("cpu")
        X = spec_feature_frame([spec], mem_available_mib=state.mem_available_mib,
                               utilization_pct=state.utilization_pct,
                               load_avg_1m=state.load_avg_1m)
        preds = {k: float(m.predict(X)[0]) for k, m in entry["models"].items()}
        result = {"spec": spec, "state": state, "predictions": preds,
                  "split": prepared["split"], "scores": entry["scores"], "measured": None}
        self._predicted = result
        n_pred = len(latency_models.MODEL_KINDS) + 3
        if prepared["measure"]:
            self._step(n_pred, total, f"timing {spec.module_type} on this machine")
            result = {**result, "measured": measure_spec(
                spec, warmup=prepared["warmup"], repeats=prepared["repeats"], threads=1,
                seed=prepared["seed"])}
        self.report_progress(total, total, "measured" if prepared["measure"] else "predicted")
        return result

    def partial_result(self) -> dict[str, Any] | None:
        """The prediction when the run stopped while measuring; None when it stopped while
        the models were being scored or fitted (nothing to show yet)."""
        return self._predicted

    def measure_now(self, *, raise_errors: bool = False) -> Any:
        """Predict (cached models) and time the current module on this machine (1 thread),
        in this thread.

        Returns
        -------
        LatencyResult or None
            The measurement, or None on failure or stop (see :attr:`error`).
        """
        self.request_measurement()
        res = self.run(raise_errors=raise_errors)
        return None if res is None else res["measured"]

    def comparison(self) -> pd.DataFrame:
        """One row per model: predicted ms, error vs the measurement (if any), and its test
        acc@10 (%), R², µs per prediction and size (KiB) on this module type.

        Raises
        ------
        EffdlError
            Nothing has been run yet.
        """
        res = self.result
        if res is None:
            raise EffdlError("no prediction yet: run the panel first")
        scores = res["scores"].set_index("model")
        measured = res["measured"].median_ms if res["measured"] is not None else None
        rows = []
        for k, ms in res["predictions"].items():
            s = scores.loc[k]
            rows.append({"model": k, "predicted ms": ms,
                         "error %": (100 * (ms - measured) / measured
                                     if measured else float("nan")),
                         "acc@10% (%)": 100 * float(s["acc10"]), "R²": float(s["r2"]),
                         "µs/pred": float(s["predict_us"]),
                         "size KiB": float(s["size_bytes"]) / 1024})
        return pd.DataFrame(rows)

    def figure(self) -> Figure:
        """Predicted latency per model (measured as a line) next to their test acc@10."""
        res = self.result
        if res is None:
            raise EffdlError("no prediction yet: run the panel first")
        table = self.comparison()
        fig, (ax_pred, ax_acc) = paper_figure("double", aspect=0.8, ncols=2, pyplot=False)
        labels = [str(m).upper() for m in table["model"]]
        colors = [f"C{i}" for i in range(len(table))]
        ax_pred.bar(labels, table["predicted ms"], color=colors)
        mt = module_label(res["spec"].module_type)
        if res["measured"] is not None:
            ms = res["measured"].median_ms
            top = max(float(table["predicted ms"].max()), ms)
            ax_pred.axhline(ms, color="k", ls="--", lw=1)
            ax_pred.set_ylim(0, top * 1.25)  # room for the line's note above the bars
            ax_pred.annotate(f"measured {ms:.3g} ms", (0.02, ms), xycoords=("axes fraction",
                             "data"), xytext=(0, 3), textcoords="offset points",
                             fontsize="x-small")
        st = res["state"]
        ax_pred.set_ylabel(label("predicted_ms"))
        ax_pred.set_title(f"{mt} at {st.utilization_pct:.0f} % other CPU load",
                          fontsize="small")
        ax_acc.bar(labels, table["acc@10% (%)"], color=colors)
        ax_acc.set_ylim(0, 100)
        ax_acc.set_ylabel(f"{label('acc10')} on test rows")
        ax_acc.set_title(f"{mt}: held-out accuracy ({res['split']} split)", fontsize="small")
        return fig

    def summary(self) -> str:
        """One line about the last result that follows the state ("" after an error)."""
        if self.status == "running":
            return self.status_text()
        res = self.result
        if res is None:
            return "" if self.status == "error" else self.status_text()
        preds = ", ".join(f"{k.upper()} {v:.3g}" for k, v in res["predictions"].items())
        line = f"{res['spec'].module_type}: predicted ms {preds}"
        if res["measured"] is not None:
            line += f"; measured {res['measured'].median_ms:.3g} ms"
        if self.status == "stopped" and res["measured"] is None:
            line = f"stopped before the measurement: {line}"
        return line
