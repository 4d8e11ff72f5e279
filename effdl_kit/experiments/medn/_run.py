"""The ``medn`` experiment: module latency predictors, auto-selection, ablation, whole models.

MEDN latency framework (arXiv 2312.06440) on the kit's CPU dataset ``data/latency_cpu.jsonl``
(:func:`~effdl_kit.data.build_latency_dataset`: eight module types measured on this machine
under four background-load levels), or with ``device="gpu"`` on ``data/latency_gpu.jsonl``
(the same eight types measured on an NVIDIA H200 under four load levels, two of them with a
concurrent GPU stream):

1. per module type, LR / MLP / RF / MEDN are fitted on 60 % of the rows and scored on a
   validation (20 %) and a test (20 %) split (acc@5/10/15 %, R², RMSPE, prediction time,
   serialised size; :func:`~effdl_kit.models.evaluate_latency_models`);
2. auto-selection (:func:`~effdl_kit.models.auto_select`) picks one model per module type
   on the *validation* scores (tolerances 1 point of acc@10 and 0.005 R²; fastest, and
   smallest) and reports its sample-weighted test metrics against MEDN alone (the paper:
   +2.5 % accuracy, +0.39 % R²);
3. ablation: the same predictors without the measurable parameters (device state), on all
   test rows and on the test rows measured under background load;
4. beyond the paper: whole-model latency of small CNNs and a Transformer block predicted as
   the sum of per-module predictions (the auto-selected model of each type, fitted on all
   rows, at the device state read now) against the measured latency — on the GPU dataset
   only where this machine has a CUDA device to measure them on (else skipped, and said so).

When the shipped dataset is missing (an installed wheel), a small one is measured into the
experiment's directory first. Compute once, draw twice: :func:`run_medn` writes
``results.json``; :func:`redraw` draws the figures and writes the tables from it alone.

Budgets per scale (:data:`BUDGETS`): ``smoke`` 30 rows per module type and tiny models
(seconds); ``small`` every row, :data:`~effdl_kit.models.LATENCY_BUDGETS` ``small`` (a few
minutes on a 2-core CPU); ``paper`` every row, the paper-scale model budgets.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from effdl_kit._core.errors import DatasetNotFoundError
from effdl_kit._core.io import atomic_write_text
from effdl_kit._core.validate import check_choice, check_int, check_scale
from effdl_kit.experiments._registry import (
    ExperimentSummary,
    make_summary,
    output_files,
    read_results,
    register,
)
from effdl_kit.reports import export_table, figure, paper_style_context, save_figure

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = [
    "BUDGETS",
    "DEVICES",
    "RESULTS_FILE",
    "ablation_table",
    "build_payload",
    "fit_selected",
    "load_medn_data",
    "load_results",
    "plot_ablation",
    "plot_accuracy",
    "plot_pred_vs_true",
    "plot_whole_models",
    "redraw",
    "run_medn",
    "scores_table",
    "selection_table",
    "whole_model_latency",
    "whole_model_zoo",
]

NAME = "medn"
RESULTS_FILE = "results.json"
FIGURE_ACCURACY = "medn_accuracy"
FIGURE_SCATTER = "medn_pred_vs_true"
FIGURE_ABLATION = "medn_ablation"
TABLE_SCORES = "medn_scores"
TABLE_SELECTION = "medn_selection"
TABLE_ABLATION = "medn_ablation"
TABLE_WHOLE = "medn_whole_models"
PAPER_GAIN = {"acc_points": 2.5, "r2_points": 0.39}
MODEL_LABELS = {"lr": "LR", "mlp": "MLP", "rf": "RF", "medn": "MEDN"}
#: which shipped dataset: measured on this kind of device
DEVICES: tuple[str, ...] = ("cpu", "gpu")

#: per scale: rows per module type (None: all), whole models, their timing
BUDGETS: dict[str, dict[str, Any]] = {
    "smoke": {"rows_per_type": 30, "whole_models": ("cnn-small", "transformer-block"),
              "warmup": 2, "repeats": 5},
    "small": {"rows_per_type": None,
              "whole_models": ("cnn-small", "cnn-wide", "cnn-deep", "transformer-block"),
              "warmup": 5, "repeats": 25},
    "paper": {"rows_per_type": None,
              "whole_models": ("cnn-small", "cnn-wide", "cnn-deep", "transformer-block"),
              "warmup": 10, "repeats": 50},
}


# ----------------------------------------------------------------------------- data


def load_medn_data(scale: str, seed: int, work_dir: Path | None = None, *,
                   device: str = "cpu") -> tuple[pd.DataFrame, str]:
    """The latency rows for ``scale``: the shipped dataset of ``device`` ("cpu" or "gpu";
    subsampled per module type at smoke scale), or, for the CPU, a small dataset measured
    into ``work_dir`` when it is missing.

    Returns
    -------
    frame : DataFrame
        Ok rows.
    source : str
        The file read.
    """
    from effdl_kit.data import build_latency_dataset, latency_data_path, load_latency_dataset
    from effdl_kit.measure import LoadLevel

    check_scale(scale)
    check_int("seed", seed, min_value=0, max_value=2**32 - 1)
    check_choice("device", device, DEVICES)
    path = latency_data_path(device)
    if path.is_file():
        df = load_latency_dataset(path)
    elif device == "gpu":
        raise DatasetNotFoundError("latency_gpu", path, "build it on a GPU machine with "
                                   "python -m effdl_kit.data._latency --device cuda --out "
                                   f"{path}")
    else:
        path = (work_dir or Path(".")) / "latency_fallback.jsonl"
        build_latency_dataset(n=8 * 16, path=path, warmup=2, repeats=3, min_repeats=2,
                              row_budget_s=0.02, seed=0, progress=False,
                              load_levels=[LoadLevel("idle"),
                                           LoadLevel("light", workers=1, duty=0.5)])
        df = load_latency_dataset(path)
    n = BUDGETS[scale]["rows_per_type"]
    if n is not None:
        parts = [g.sample(n=min(n, len(g)), random_state=seed)
                 for _, g in df.groupby("module_type", sort=False)]
        df = pd.concat(parts).sort_index()
    return df, str(path)


# ----------------------------------------------------------------------------- whole models


def whole_model_zoo(names: tuple[str, ...] | None = None) -> dict[str, tuple[Any, tuple[int, ...]]]:
    """Small models for the whole-model check: name -> (module, input shape).

    ``cnn-small`` (2 conv-BN-ReLU-maxpool stages + classifier, 1x3x32x32), ``cnn-wide``
    (5x5 and 3x3 convolutions, average pooling, two linear layers, 2x3x32x32), ``cnn-deep``
    (a stride-2 stem and four 3x3 conv-BN-ReLU blocks, 1x3x32x32) and ``transformer-block``
    (self-attention + feed-forward with residuals and LayerNorm, 2x32x64; LayerNorm and the
    additions are not predicted module types, so they are not covered).
    """
    import torch
    from torch import nn

    class TransformerBlock(nn.Module):
        def __init__(self, e: int = 64, heads: int = 4, ff: int = 256) -> None:
            super().__init__()
            self.attn = nn.MultiheadAttention(e, heads, batch_first=True)
            self.norm1 = nn.LayerNorm(e)
            self.ff1 = nn.Linear(e, ff)
            self.act = nn.ReLU()
            self.ff2 = nn.Linear(ff, e)
            self.norm2 = nn.LayerNorm(e)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.norm1(x + self.attn(x, x, x, need_weights=False)[0])
            return self.norm2(x + self.ff2(self.act(self.ff1(x))))

    def cbr(c_in: int, c_out: int, k: int = 3, s: int = 1) -> list[nn.Module]:
        return [nn.Conv2d(c_in, c_out, k, stride=s, padding=k // 2), nn.BatchNorm2d(c_out),
                nn.ReLU()]

    builders: dict[str, Any] = {
        "cnn-small": lambda: (nn.Sequential(*cbr(3, 16), nn.MaxPool2d(2), *cbr(16, 32),
                                            nn.MaxPool2d(2), nn.Flatten(),
                                            nn.Linear(32 * 8 * 8, 10)), (1, 3, 32, 32)),
        "cnn-wide": lambda: (nn.Sequential(nn.Conv2d(3, 32, 5, padding=2), nn.ReLU(),
                                           nn.AvgPool2d(2), nn.Conv2d(32, 64, 3, padding=1),
                                           nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(),
                                           nn.Linear(64 * 8 * 8, 128), nn.ReLU(),
                                           nn.Linear(128, 10)), (2, 3, 32, 32)),
        "cnn-deep": lambda: (nn.Sequential(*cbr(3, 16, 3, 2), *cbr(16, 16), *cbr(16, 32),
                                           *cbr(32, 32), *cbr(32, 32), nn.AvgPool2d(2),
                                           nn.Flatten(), nn.Linear(32 * 8 * 8, 10)),
                             (1, 3, 32, 32)),
        "transformer-block": lambda: (TransformerBlock(), (2, 32, 64)),
    }
    from effdl_kit._core.rng import torch_seeded

    out: dict[str, tuple[Any, tuple[int, ...]]] = {}
    for name in names or tuple(builders):
        if name not in builders:
            from effdl_kit._core.errors import ConfigError

            raise ConfigError("whole_models", name, tuple(builders))
        with torch_seeded(0):
            model, shape = builders[name]()
        out[name] = (model.eval(), shape)
    return out


def whole_model_latency(
    predictors: Mapping[str, Any],
    zoo: Mapping[str, tuple[Any, tuple[int, ...]]],
    *,
    warmup: int,
    repeats: int,
    threads: int = 1,
    device: str = "cpu",
) -> pd.DataFrame:
    """Predicted (sum over covered calls) vs measured latency of each model of ``zoo``, the
    models measured on ``device``.

    The device state is read right before each model is measured and the prediction is made
    for that state. Columns: model, predicted_ms, measured_ms, error_pct, calls, covered,
    uncovered (the torch types not predicted), utilization_pct, mem_available_mib,
    load_avg_1m.
    """
    from effdl_kit.measure import measure_latency
    from effdl_kit.models import predict_model_latency

    rows = []
    for name, (model, shape) in zoo.items():
        res = measure_latency(model, shape, warmup=warmup, repeats=repeats, threads=threads,
                              device=device)
        st = res.state
        total, calls = predict_model_latency(
            model, shape, predictors, mem_available_mib=st.mem_available_mib,
            utilization_pct=st.utilization_pct, load_avg_1m=st.load_avg_1m)
        covered = calls["predicted_ms"].notna()
        rows.append({
            "model": name, "predicted_ms": total, "measured_ms": res.median_ms,
            "error_pct": 100.0 * (total - res.median_ms) / res.median_ms,
            "calls": len(calls), "covered": int(covered.sum()),
            "uncovered": ",".join(sorted(set(calls.loc[~covered, "torch_type"]))),
            "utilization_pct": st.utilization_pct, "mem_available_mib": st.mem_available_mib,
            "load_avg_1m": st.load_avg_1m,
        })
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- compute


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for row in frame.to_dict(orient="records"):
        rec: dict[str, Any] = {}
        for k, v in row.items():
            if isinstance(v, np.generic):
                v = v.item()
            if isinstance(v, float) and not math.isfinite(v):
                v = None
            rec[str(k)] = v
        out.append(rec)
    return out


def _selection_dict(sel: Any) -> dict[str, Any]:
    return {"choices": _records(sel.choices), "overall": sel.overall,
            "baseline": sel.baseline, "gain": sel.gain, "settings": sel.settings}


def fit_selected(df: pd.DataFrame, chosen: Mapping[str, str], *, seed: int,
                 params: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The chosen model kind of each module type, fitted on all its rows."""
    from effdl_kit.models import fit_latency_models

    return {mt: fit_latency_models(df, module_types=[mt], kinds=[kind], seed=seed,
                                   params=params)[mt][kind]
            for mt, kind in chosen.items()}


def build_payload(df: pd.DataFrame, ev: Any, ev_nm: Any, sel_time: Any, sel_space: Any,
                  whole: pd.DataFrame, *, scale: str, seed: int, source: str,
                  params: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON-able ``results.json`` payload from the computed pieces (the plot and table
    functions read it): evaluations with and without measurable parameters, both
    auto-selections, the whole-model check."""
    budget = BUDGETS[scale]
    return {
        "experiment": NAME, "scale": scale, "seed": seed, "source": source,
        "budget": {**budget, "whole_models": list(budget["whole_models"]),
                   "model_params": dict(params)},
        "n_rows": len(df),
        "rows_by_module_type": {str(k): int(v) for k, v in
                                df["module_type"].value_counts().sort_index().items()},
        "rows_by_load_level": {str(k): int(v) for k, v in
                               df["load_level"].value_counts().sort_index().items()},
        "scores": _records(ev.scores),
        "scores_no_measurable": _records(ev_nm.scores),
        "predictions": {k: [None if isinstance(v, float) and not math.isfinite(v) else v
                            for v in ev.predictions[k].tolist()]
                        for k in ("module_type", "model", "load_level", "y_true", "y_pred")},
        "selection": {"time": _selection_dict(sel_time), "space": _selection_dict(sel_space)},
        "paper_gain": PAPER_GAIN,
        "whole_models": _records(whole),
    }


def _whole_model_device(device: str) -> tuple[str | None, str]:
    """Where the whole models are measured for ``device``'s dataset, or None and why not."""
    if device == "cpu":
        return "cpu", ""
    import torch

    if torch.cuda.is_available():
        return "cuda", ""
    return None, ("skipped: the GPU dataset's whole-model check measures the models on a GPU, "
                  "and this machine has no CUDA device")


def run_medn(scale: str, seed: int, out: Path, *, device: str = "cpu") -> ExperimentSummary:
    """LR / MLP / RF / MEDN per module type, auto-selection, ablation, whole-model latency.

    ``device``: "cpu" (``data/latency_cpu.jsonl``) or "gpu" (``data/latency_gpu.jsonl``; the
    whole-model check then needs a CUDA device here).
    """
    from effdl_kit.models import LATENCY_BUDGETS, auto_select, evaluate_latency_models

    check_scale(scale)
    check_int("seed", seed, min_value=0, max_value=2**32 - 1)
    check_choice("device", device, DEVICES)
    budget = BUDGETS[scale]
    params = LATENCY_BUDGETS[scale]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    df, source = load_medn_data(scale, seed, out, device=device)
    ev = evaluate_latency_models(df, seed=seed, params=params)
    ev_nm = evaluate_latency_models(df, seed=seed, params=params, measurable=False)
    sel_time = auto_select(ev.scores, prefer="time")
    sel_space = auto_select(ev.scores, prefer="space")
    chosen = {str(r["module_type"]): str(r["model"]) for r in _records(sel_time.choices)}
    where, why_not = _whole_model_device(device)
    if where is None:
        whole = pd.DataFrame()
    else:
        fitted = fit_selected(df, chosen, seed=seed, params=params)
        whole = whole_model_latency(fitted, whole_model_zoo(budget["whole_models"]),
                                    warmup=budget["warmup"], repeats=budget["repeats"],
                                    device=where)
    payload = build_payload(df, ev, ev_nm, sel_time, sel_space, whole, scale=scale, seed=seed,
                            source=source, params=params)
    payload["device"] = device
    payload["whole_models_note"] = why_not
    payload["time_s"] = time.perf_counter() - t0
    atomic_write_text(out / RESULTS_FILE, json.dumps(payload, indent=1) + "\n")
    paths = redraw(out)
    abl = ablation_table(payload)
    metrics: dict[str, Any] = {
        "n_rows": len(df),
        "medn_only": {k: sel_time.baseline[k] for k in ("acc10", "r2")},
        "auto_time": {k: sel_time.overall[k] for k in ("acc10", "r2")},
        "auto_space": {k: sel_space.overall[k] for k in ("acc10", "r2")},
        "gain_time": {k: sel_time.gain[k] for k in ("acc_points", "r2_points")},
        "gain_space": {k: sel_space.gain[k] for k in ("acc_points", "r2_points")},
        "choices_time": chosen,
        "ablation_acc10": {str(r["model"]): {"with": r["acc10 with"],
                                             "without": r["acc10 without"]}
                           for r in _records(abl[abl["split"] == "test"])},
        "whole_model_error_pct": {str(r["model"]): r["error_pct"] for r in _records(whole)},
    }
    return make_summary(
        NAME, scale, seed, metrics=metrics,
        **output_files(paths),
        wall_time_s=time.perf_counter() - t0,
    )


# ----------------------------------------------------------------------------- tables


def load_results(out_dir: str | Path) -> dict[str, Any]:
    """The payload of ``results.json`` in ``out_dir``.

    Raises
    ------
    DataError
        No or malformed ``results.json``.
    """
    return read_results(out_dir, NAME, required=("scores", "scores_no_measurable", "selection",
                                                 "whole_models", "predictions"))


def scores_table(payload: Mapping[str, Any], split: str = "test") -> pd.DataFrame:
    """Per module type and model: n, acc@5/10/15 (%), R², RMSPE (%), µs/sample, size (KiB)."""
    s = pd.DataFrame(payload["scores"])
    s = s[s["split"] == split]
    return pd.DataFrame({
        "module": s["module_type"], "model": [MODEL_LABELS.get(m, m) for m in s["model"]],
        "n": s["n"], "acc@5%": 100 * s["acc5"], "acc@10%": 100 * s["acc10"],
        "acc@15%": 100 * s["acc15"], "R²": s["r2"], "RMSPE %": 100 * s["rmspe"],
        "µs/sample": s["predict_us"], "size KiB": s["size_bytes"] / 1024,
    }).reset_index(drop=True)


def selection_table(payload: Mapping[str, Any]) -> pd.DataFrame:
    """The overall (sample-weighted) test acc@10 and R² of MEDN alone and of both
    auto-selections, with the gains in points next to the paper's."""
    rows = []
    sel = payload["selection"]
    base = sel["time"]["baseline"]
    rows.append({"predictor": "MEDN only", "acc@10% (%)": 100 * base["acc10"],
                 "R²": base["r2"], "Δacc (points)": 0.0, "ΔR² (points)": 0.0,
                 "models": "medn everywhere"})
    for prefer in ("time", "space"):
        s = sel[prefer]
        rows.append({"predictor": f"auto-selection ({prefer})",
                     "acc@10% (%)": 100 * s["overall"]["acc10"], "R²": s["overall"]["r2"],
                     "Δacc (points)": s["gain"]["acc_points"],
                     "ΔR² (points)": s["gain"]["r2_points"],
                     "models": ", ".join(f"{c['module_type']}:{c['model']}"
                                         for c in s["choices"])})
    g = payload.get("paper_gain", PAPER_GAIN)
    rows.append({"predictor": "paper (auto vs MEDN)", "acc@10% (%)": float("nan"),
                 "R²": float("nan"), "Δacc (points)": g["acc_points"],
                 "ΔR² (points)": g["r2_points"], "models": ""})
    return pd.DataFrame(rows)


def ablation_table(payload: Mapping[str, Any]) -> pd.DataFrame:
    """Per model and split (test, test under load): overall acc@10 and R² with and without
    the measurable parameters (sample-weighted over module types)."""
    rows = []
    w = pd.DataFrame(payload["scores"])
    wo = pd.DataFrame(payload["scores_no_measurable"])
    for split in ("test", "test_loaded"):
        for model in MODEL_LABELS:
            rec: dict[str, Any] = {"split": split, "model": model}
            for tag, frame in (("with", w), ("without", wo)):
                f = frame[(frame["split"] == split) & (frame["model"] == model)]
                if not len(f):
                    continue
                n = f["n"].to_numpy(dtype=float)
                rec["n"] = int(n.sum())
                rec[f"acc10 {tag}"] = float(np.sum(n * f["acc10"]) / n.sum())
                rec[f"r2 {tag}"] = float(np.sum(n * f["r2"]) / n.sum())
            if "acc10 with" in rec and "acc10 without" in rec:
                rec["Δacc10 (points)"] = 100 * (rec["acc10 with"] - rec["acc10 without"])
                rows.append(rec)
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- figures


def plot_accuracy(payload: Mapping[str, Any], *, ax: Axes, acc: str = "acc10") -> Axes:
    """Grouped bars: test acc@10 per module type and model; the auto-selected model starred."""
    s = pd.DataFrame(payload["scores"])
    s = s[s["split"] == "test"]
    types = list(dict.fromkeys(s["module_type"]))
    models = [m for m in MODEL_LABELS if m in set(s["model"])]
    width = 0.8 / max(len(models), 1)
    x = np.arange(len(types))
    chosen = {c["module_type"]: c["model"] for c in payload["selection"]["time"]["choices"]}
    for j, m in enumerate(models):
        vals = [float(s[(s["module_type"] == t) & (s["model"] == m)][acc].iloc[0]) * 100
                for t in types]
        ax.bar(x + (j - (len(models) - 1) / 2) * width, vals, width, label=MODEL_LABELS[m],
               color=f"C{j}")
        for i, t in enumerate(types):
            if chosen.get(t) == m:
                ax.text(x[i] + (j - (len(models) - 1) / 2) * width, vals[i] + 1, "*",
                        ha="center", va="bottom", fontsize="small")
    ax.set_xticks(x, types, rotation=30, ha="right")
    ax.set_ylabel(f"{acc.replace('acc', 'acc@')}% on test (%)")
    ax.set_ylim(0, 105)
    ax.legend(ncols=len(models), fontsize="small", loc="upper left")
    ax.set_title("per-module accuracy (* = auto-selected, time)", fontsize="medium")
    return ax


def plot_pred_vs_true(payload: Mapping[str, Any], model: str, *, ax: Axes) -> Axes:
    """Log-log scatter of test predictions of one model kind, coloured by module type."""
    p = pd.DataFrame(payload["predictions"])
    p = p[p["model"] == model]
    for i, (mt, g) in enumerate(p.groupby("module_type", sort=False)):
        ax.scatter(g["y_true"], g["y_pred"], s=4, alpha=0.5, linewidths=0, color=f"C{i % 10}",
                   label=mt, rasterized=True)
    if len(p):
        lo = float(min(p["y_true"].min(), p["y_pred"].min()))
        hi = float(max(p["y_true"].max(), p["y_pred"].max()))
        xs = np.array([lo, hi])
        ax.plot(xs, xs, ls="--", lw=0.8, color="0.3")
        ax.fill_between(xs, xs * 0.9, xs * 1.1, color="0.5", alpha=0.15, lw=0)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("measured latency (ms)")
    ax.set_ylabel("predicted (ms)")
    ax.set_title(f"{MODEL_LABELS.get(model, model)} (band: ±10 %)", fontsize="medium")
    return ax


def plot_ablation(payload: Mapping[str, Any], *, ax: Axes) -> Axes:
    """Bars: overall test acc@10 with vs without measurable parameters, all rows and under
    background load."""
    t = ablation_table(payload)
    labels = [f"{MODEL_LABELS[m]}\n{'loaded' if s == 'test_loaded' else 'all'}"
              for s, m in zip(t["split"], t["model"], strict=True)]
    x = np.arange(len(t))
    ax.bar(x - 0.2, 100 * t["acc10 with"], 0.4, label="with measurable", color="C0")
    ax.bar(x + 0.2, 100 * t["acc10 without"], 0.4, label="without", color="0.6")
    ax.set_xticks(x, labels, fontsize="small")
    ax.set_ylabel("acc@10% (%)")
    ax.legend(fontsize="small")
    ax.set_title("ablation: device-state inputs", fontsize="medium")
    return ax


def plot_whole_models(payload: Mapping[str, Any], *, ax: Axes) -> Axes:
    """Bars: measured vs predicted (sum of modules) latency per whole model."""
    w = pd.DataFrame(payload["whole_models"])
    ax.set_title("whole models", fontsize="medium")
    if w.empty:
        ax.text(0.5, 0.5, payload.get("whole_models_note") or "no whole-model check",
                ha="center", va="center", wrap=True, fontsize="small", transform=ax.transAxes)
        ax.set_axis_off()
        return ax
    x = np.arange(len(w))
    ax.bar(x - 0.2, w["measured_ms"], 0.4, label="measured", color="C2")
    ax.bar(x + 0.2, w["predicted_ms"], 0.4, label="sum of predicted modules", color="C1")
    for xi, pred, err in zip(x, w["predicted_ms"], w["error_pct"], strict=True):
        ax.text(float(xi) + 0.2, float(pred), f"{float(err):+.0f}%", ha="center", va="bottom",
                fontsize="x-small")
    ax.set_xticks(x, list(w["model"]), rotation=20, ha="right", fontsize="small")
    ax.set_ylabel("latency (ms)")
    ax.legend(fontsize="small")
    return ax


def redraw(out_dir: str | Path) -> list[Path]:
    """Draw the figures and write the tables from ``results.json`` only (no fitting).

    Returns
    -------
    list of Path
        Figures (accuracy bars, predicted vs measured, ablation + whole models; PDF/SVG/PNG
        each), then tables (scores, selection, ablation, whole models; TeX/Markdown/CSV).
    """
    out = Path(out_dir)
    payload = load_results(out)
    scale, seed = str(payload["scale"]), int(payload["seed"])
    prov = {"experiment": NAME, "source": RESULTS_FILE, "dataset": payload.get("source"),
            "n_rows": payload.get("n_rows"), "budget": payload.get("budget")}
    paths: list[Path] = []
    with paper_style_context():
        fig, axes = figure("double", aspect=0.45, nrows=1, ncols=1, pyplot=False,
                           squeeze=False)
        plot_accuracy(payload, ax=axes[0, 0])
        paths += save_figure(fig, out / FIGURE_ACCURACY, provenance=prov, seed=seed,
                             scale=scale)
        auto = _most_common([c["model"] for c in
                             payload["selection"]["time"]["choices"]])
        kinds = ["medn"] + ([auto] if auto != "medn" else [])
        fig, axes = figure("double", aspect=0.45, nrows=1, ncols=len(kinds), pyplot=False,
                           squeeze=False)
        for j, k in enumerate(kinds):
            plot_pred_vs_true(payload, k, ax=axes[0, j])
        axes[0, 0].legend(fontsize="x-small", markerscale=3, ncols=2)
        paths += save_figure(fig, out / FIGURE_SCATTER, provenance=prov, seed=seed,
                             scale=scale)
        fig, axes = figure("double", aspect=0.4, nrows=1, ncols=2, pyplot=False,
                           squeeze=False)
        plot_ablation(payload, ax=axes[0, 0])
        plot_whole_models(payload, ax=axes[0, 1])
        paths += save_figure(fig, out / FIGURE_ABLATION, provenance=prov, seed=seed,
                             scale=scale)
    paths += export_table(scores_table(payload), out / TABLE_SCORES,
                          caption=f"Per-module latency predictors on the test split ({scale} "
                                  f"scale, seed {seed}).", label="tab:medn-scores",
                          float_format="{:.3f}")
    paths += export_table(selection_table(payload), out / TABLE_SELECTION,
                          caption="Auto-selection against MEDN alone (test, sample-weighted "
                                  "over module types); the paper reports +2.5 and +0.39.",
                          label="tab:medn-selection", float_format="{:.3f}")
    paths += export_table(ablation_table(payload), out / TABLE_ABLATION,
                          caption="With and without measurable parameters (test; test rows "
                                  "measured under background load).",
                          label="tab:medn-ablation", float_format="{:.3f}")
    paths += export_table(pd.DataFrame(payload["whole_models"]), out / TABLE_WHOLE,
                          caption="Whole-model latency: sum of per-module predictions vs "
                                  "measured.", label="tab:medn-whole", float_format="{:.3f}")
    figs = [p for p in paths if p.suffix in (".pdf", ".svg", ".png")]
    return figs + [p for p in paths if p not in figs]


def _most_common(items: list[str]) -> str:
    """The most frequent item (first seen on ties)."""
    counts: dict[str, int] = {}
    for it in items:
        counts[it] = counts.get(it, 0) + 1
    return max(counts, key=lambda k: counts[k]) if counts else "medn"


register(NAME, redraw=redraw)(run_medn)
