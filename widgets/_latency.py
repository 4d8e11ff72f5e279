"""Predict a module's latency with LR / MLP / RF / MEDN, and measure it now.

:class:`LatencyController` validates a module type and its parameters
(:func:`effdl_kit.measure.make_spec`: a non-positive dimension, a kernel larger than the
input, an unknown type fail before any work), fits the four predictors of that module type
on the latency dataset (once per module type, cached), scores them on rows held out by the
chosen split (``split``, one of :data:`effdl_kit.models.LATENCY_SPLITS`: at random, by
sampling configuration or in time blocks), reads the device state now and predicts the
module's latency with each; :meth:`LatencyController.measure_now` times the
module on this machine for comparison. :class:`LatencyPanel` is its ipywidgets view: module
type and parameter sliders (only the current type's parameters are shown), the held-out
split, Run, "Measure
now", a comparison table, the figure, errors, Export.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import pandas as pd

from effdl_kit import models as latency_models

# the latency models through their module: a test can stand in for fitting and scoring
from effdl_kit._core import SEED_MAX
from effdl_kit._core.validate import Scale, check_choice, check_int
from effdl_kit.data import spec_feature_frame
from effdl_kit.errors import ConfigError, EffdlError
from effdl_kit.experiments.medn import load_medn_data
from effdl_kit.measure import (
    MODULE_PARAMS,
    MODULE_TYPES,
    make_spec,
    measure_spec,
    normalize_module_type,
    read_device_state,
)

from ._base import Panel, PanelController, resolve_controller

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["LATENCY_DEFAULTS", "SPLIT_LABELS", "LatencyController", "LatencyPanel"]

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
# slider ranges (min, max) of the integer parameters
_RANGES: dict[str, tuple[int, int]] = {
    "batch": (1, 64), "channels": (1, 256), "out_channels": (1, 256), "hw": (1, 128),
    "kernel_size": (1, 11), "stride": (1, 4), "padding": (0, 5), "in_features": (1, 4096),
    "out_features": (1, 4096), "seq_len": (1, 256), "input_size": (1, 512),
    "hidden_size": (1, 512), "embed_dim": (1, 512), "num_heads": (1, 16),
}


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

    def __init__(self, *, scale: Scale = "small", **params: Any) -> None:
        self._cache: dict[tuple[str, str, int, str], dict[str, Any]] = {}
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
        yet)."""
        spec = self.spec()
        split = check_choice("split", self.params["split"], latency_models.LATENCY_SPLITS)
        seed = check_int("seed", self.params["seed"], min_value=0, max_value=SEED_MAX)
        check_int("warmup", self.params["warmup"], min_value=0)
        check_int("repeats", self.params["repeats"], min_value=1)
        return {"spec": spec, "seed": seed, "split": split}

    def models(self, module_type: str, seed: int,
               split: latency_models.LatencySplit = "random") -> dict[str, Any]:
        """Fitted predictors (on every row) and their test scores on ``split``'s held-out
        rows for ``module_type`` (cached)."""
        key = (module_type, self.scale, seed, split)
        if key not in self._cache:
            self.report_progress(0, 3, "loading the latency dataset")
            df, _ = load_medn_data(self.scale, seed)
            params = latency_models.LATENCY_BUDGETS[self.scale]
            self.report_progress(1, 3, f"scoring LR / MLP / RF / MEDN on {module_type} "
                                 f"({split} split)")
            ev = latency_models.evaluate_latency_models(df, module_types=[module_type],
                                                        split=split, seed=seed, params=params)
            self.report_progress(2, 3, f"fitting the predictors on every {module_type} row")
            fitted = latency_models.fit_latency_models(
                df, module_types=[module_type], kinds=latency_models.MODEL_KINDS, seed=seed,
                params=params)[module_type]
            self._cache[key] = {"models": fitted, "scores": ev.table("test").reset_index()}
        return self._cache[key]

    def compute(self, prepared: dict[str, Any]) -> dict[str, Any]:
        """Predict the module's latency with each model at the device state read now."""
        spec = prepared["spec"]
        entry = self.models(spec.module_type, prepared["seed"], prepared["split"])
        state = read_device_state("cpu")
        X = spec_feature_frame([spec], mem_available_mib=state.mem_available_mib,
                               utilization_pct=state.utilization_pct,
                               load_avg_1m=state.load_avg_1m)
        preds = {k: float(m.predict(X)[0]) for k, m in entry["models"].items()}
        self.report_progress(3, 3, "predicted")
        return {"spec": spec, "state": state, "predictions": preds,
                "split": prepared["split"], "scores": entry["scores"], "measured": None}

    def measure_now(self, *, raise_errors: bool = False) -> Any:
        """Time the current module on this machine (1 thread) and add it to the result.

        Runs :meth:`run` first when there is no prediction for the current parameters.
        Returns the :class:`~effdl_kit.measure.LatencyResult`, or None on failure (see
        :attr:`error`).
        """
        try:
            spec = self.spec()
            if self.result is None or self.result["spec"] != spec:
                self.run(raise_errors=True)
            res = measure_spec(spec, warmup=check_int("warmup", self.params["warmup"],
                                                      min_value=0),
                               repeats=check_int("repeats", self.params["repeats"],
                                                 min_value=1),
                               threads=1, seed=int(self.params["seed"]))
        except Exception as exc:
            self.record_error(exc)
            if raise_errors:
                raise
            return None
        self.result = {**self.result, "measured": res}
        self._emit("result", self.result)
        return res

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
        from matplotlib.figure import Figure

        res = self.result
        if res is None:
            raise EffdlError("no prediction yet: run the panel first")
        table = self.comparison()
        fig = Figure(figsize=(9.0, 3.4), layout="constrained")
        ax_pred, ax_acc = fig.subplots(1, 2)
        labels = [str(m).upper() for m in table["model"]]
        ax_pred.bar(labels, table["predicted ms"], color=[f"C{i}" for i in range(len(table))])
        if res["measured"] is not None:
            ax_pred.axhline(res["measured"].median_ms, color="k", ls="--", lw=1,
                            label=f"measured {res['measured'].median_ms:.3g} ms")
            ax_pred.legend(fontsize="small")
        st = res["state"]
        ax_pred.set_ylabel("latency (ms)")
        ax_pred.set_title(f"{res['spec'].module_type} at {st.utilization_pct:.0f} % other "
                          f"CPU load", fontsize="medium")
        ax_acc.bar(labels, table["acc@10% (%)"], color=[f"C{i}" for i in range(len(table))])
        ax_acc.set_ylim(0, 100)
        ax_acc.set_ylabel("acc@10% on test (%)")
        ax_acc.set_title(f"{res['spec'].module_type}: held-out accuracy ({res['split']} split)",
                         fontsize="medium")
        return fig

    def summary(self) -> str:
        """One line about the last result, or the status."""
        res = self.result
        if res is None:
            return self.status
        preds = ", ".join(f"{k.upper()} {v:.3g}" for k, v in res["predictions"].items())
        line = f"{res['spec'].module_type}: predicted ms {preds}"
        if res["measured"] is not None:
            line += f"; measured {res['measured'].median_ms:.3g} ms"
        return line


class LatencyPanel(Panel):
    """Pick a module type and its parameters; compare the four predictors and a measurement.

    Parameters
    ----------
    controller : LatencyController, optional
        Made from ``scale`` and ``params`` when not given.
    scale : {"smoke", "small", "paper"}
    export_stem : str
        Initial export path (without extension).
    **params
        Initial parameters for a new controller.

    Attributes
    ----------
    measure_button : ipywidgets.Button
        "Measure now": times the module on this machine.
    table : ipywidgets.HTML
        The comparison table of the last result.
    """

    controller: LatencyController

    def __init__(
        self,
        controller: LatencyController | None = None,
        *,
        scale: Scale = "small",
        export_stem: str = "figures/latency",
        **params: Any,
    ) -> None:
        import ipywidgets as W

        controller = resolve_controller(LatencyController, controller, scale, params)
        style = {"description_width": "90px"}
        controls: dict[str, Any] = {
            "module_type": W.Dropdown(options=MODULE_TYPES, description="module",
                                      style=style),
        }
        for name, (lo, hi) in _RANGES.items():
            controls[name] = W.IntSlider(min=lo, max=max(hi, int(controller.params[name])),
                                         value=lo, description=name, style=style)
        controls["split"] = W.Dropdown(
            options=[(SPLIT_LABELS[s], s) for s in latency_models.LATENCY_SPLITS],
            description="test rows", style=style,
            tooltip="How the rows that score the models are held out: at random, by sampling "
                    "configuration (configurations never seen in training) or the latest "
                    "measurements (time-blocked)")
        controls["seed"] = W.BoundedIntText(min=0, max=SEED_MAX, value=0, description="seed",
                                            style=style)
        controls["warmup"] = W.BoundedIntText(min=0, max=1000, value=0, description="warm-up",
                                              style=style)
        controls["repeats"] = W.BoundedIntText(min=1, max=10000, value=1,
                                               description="repeats", style=style)
        super().__init__(controller, controls, title="Module latency: LR / MLP / RF / MEDN "
                         "(MEDN framework)", export_stem=export_stem)
        self.measure_button = W.Button(description="Measure now", icon="clock-o",
                                       tooltip="Time this module on this machine")
        self.measure_button.on_click(lambda _b: self.measure())
        self.table = W.HTML("")
        self.summary = W.HTML("")
        children = list(self.widget.children)
        row = children.index(self.error_box) - 1  # the Run / progress / status row
        children[row] = W.HBox([self.run_button, self.measure_button, self.progress,
                                self.status_label])
        children.insert(children.index(self.figure_area), self.table)
        self.widget.children = (*children, self.summary)
        controls["module_type"].observe(lambda _c: self._show_relevant(), names="value")
        self._show_relevant()
        controller.on_change(self._on_result)

    def relevant_controls(self) -> list[str]:
        """The controls of the module type currently selected (the others are hidden)."""
        try:
            mt = normalize_module_type(self.controls["module_type"].value)
        except ConfigError:
            return list(self.controls)
        return ["module_type", *MODULE_PARAMS[mt], "split", "seed", "warmup", "repeats"]

    def _show_relevant(self) -> None:
        keep = set(self.relevant_controls())
        for name, w in self.controls.items():
            w.layout.display = None if name in keep else "none"

    def measure(self) -> Any:
        """What "Measure now" does: read the controls, measure, show the comparison."""
        self.read_controls()
        return self.controller.measure_now()

    def _on_result(self, event: Any) -> None:
        c = self.controller
        if event.kind == "result":
            if c.result is None:
                self.table.value = ""
            else:
                self.table.value = c.comparison().to_html(
                    index=False, float_format=lambda v: f"{v:.3g}", classes="effdl-latency",
                    border=0, na_rep="–")
        if event.kind in ("result", "status"):
            self.summary.value = html.escape(c.summary())
