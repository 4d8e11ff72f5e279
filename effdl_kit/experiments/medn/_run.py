"""The run of the ``medn`` experiment: the latency rows, the whole-model check, ``results.json``.

:func:`run_medn` evaluates LR / MLP / RF / MEDN per module type, auto-selects, ablates the
measurable parameters, checks whole models, writes ``results.json`` and calls
:func:`~._figures.redraw`.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from effdl_kit._core.errors import ConfigError, DatasetNotFoundError
from effdl_kit._core.io import atomic_write_text
from effdl_kit._core.rng import SEED_MAX, torch_seeded
from effdl_kit._core.validate import check_choice, check_int, check_scale
from effdl_kit.data import build_latency_dataset, latency_data_path, load_latency_dataset
from effdl_kit.experiments._registry import ExperimentSummary, make_summary, output_files
from effdl_kit.measure import MODULE_PARAMS, LoadLevel, make_spec, measure_latency, measure_spec
from effdl_kit.models import (
    AutoSelection,
    LatencyEvaluation,
    LatencySplit,
    auto_select,
    evaluate_latency_models,
    fit_latency_models,
    latency_metrics,
    predict_model_latency,
)

from ._analysis import ablation_table, records, split_table
from ._figures import redraw
from ._settings import DEVICES, NAME, PAPER_GAIN, RESULTS_FILE, Budget, Device

__all__ = ["build_payload", "fit_selected", "load_medn_data", "noise_ceiling", "run_medn",
           "whole_model_latency", "whole_model_zoo"]


# ----------------------------------------------------------------------------- data


def _measure_fallback(path: Path, work_dir: Path | None) -> Path:
    """No shipped CPU dataset (an installed wheel): measure a small one into ``work_dir``."""
    path = (work_dir or Path(".")) / "latency_fallback.jsonl"
    build_latency_dataset(n=8 * 16, path=path, warmup=2, repeats=3, min_repeats=2,
                          row_budget_s=0.02, seed=0, progress=False,
                          load_levels=[LoadLevel("idle"),
                                       LoadLevel("light", workers=1, duty=0.5)])
    return path


def _gpu_missing(path: Path, work_dir: Path | None) -> Path:
    """No shipped GPU dataset: it cannot be measured here, say how to build it."""
    raise DatasetNotFoundError("latency_gpu", path, "build it on a GPU machine with "
                               f"effdl build-latency --n 5000 --device cuda --out {path}")


#: what to do when the shipped dataset of a device is missing: return the file to read
_WHEN_MISSING: dict[Device, Callable[[Path, Path | None], Path]] = {
    "cpu": _measure_fallback,
    "gpu": _gpu_missing,
}


def load_medn_data(scale: str, seed: int, work_dir: Path | None = None, *,
                   device: Device = "cpu",
                   budget: Budget | None = None) -> tuple[pd.DataFrame, str]:
    """The latency rows for ``scale``: the shipped dataset of ``device`` ("cpu" or "gpu";
    subsampled per module type at smoke scale), or, for the CPU, a small dataset measured
    into ``work_dir`` when it is missing.

    Parameters
    ----------
    budget : Budget, optional
        Its ``rows_per_type`` (default: ``Budget.for_scale(scale)``).

    Returns
    -------
    frame : DataFrame
        Ok rows.
    source : str
        The file read.
    """
    check_scale(scale)
    check_int("seed", seed, min_value=0, max_value=SEED_MAX)
    check_choice("device", device, DEVICES)
    budget = _check_budget(budget, scale)
    path = latency_data_path(device)
    if not path.is_file():
        path = _WHEN_MISSING[device](path, work_dir)
    df = load_latency_dataset(path)
    n = budget.rows_per_type
    if n is not None:
        parts = [g.sample(n=min(n, len(g)), random_state=seed)
                 for _, g in df.groupby("module_type", sort=False)]
        df = pd.concat(parts).sort_index()
    return df, str(path)


def _check_budget(budget: Budget | None, scale: str) -> Budget:
    if budget is None:
        return Budget.for_scale(scale)
    if not isinstance(budget, Budget):
        raise ConfigError("budget", budget, "a medn Budget (Budget.for_scale(scale), changed "
                          "with dataclasses.replace)")
    return budget


# ----------------------------------------------------------------------------- whole models


class TransformerBlock(nn.Module):
    """Self-attention and feed-forward with residuals and LayerNorm (``(batch, seq, e)``)."""

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
        out: torch.Tensor = self.norm2(x + self.ff2(self.act(self.ff1(x))))
        return out


def _cbr(c_in: int, c_out: int, k: int = 3, s: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, k, stride=s, padding=k // 2), nn.BatchNorm2d(c_out),
            nn.ReLU()]


def _cnn_small() -> tuple[nn.Module, tuple[int, ...]]:
    return (nn.Sequential(*_cbr(3, 16), nn.MaxPool2d(2), *_cbr(16, 32), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(32 * 8 * 8, 10)), (1, 3, 32, 32))


def _cnn_wide() -> tuple[nn.Module, tuple[int, ...]]:
    return (nn.Sequential(nn.Conv2d(3, 32, 5, padding=2), nn.ReLU(), nn.AvgPool2d(2),
                          nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
                          nn.Flatten(), nn.Linear(64 * 8 * 8, 128), nn.ReLU(),
                          nn.Linear(128, 10)), (2, 3, 32, 32))


def _cnn_deep() -> tuple[nn.Module, tuple[int, ...]]:
    return (nn.Sequential(*_cbr(3, 16, 3, 2), *_cbr(16, 16), *_cbr(16, 32), *_cbr(32, 32),
                          *_cbr(32, 32), nn.AvgPool2d(2), nn.Flatten(),
                          nn.Linear(32 * 8 * 8, 10)), (1, 3, 32, 32))


def _transformer_block() -> tuple[nn.Module, tuple[int, ...]]:
    return TransformerBlock(), (2, 32, 64)


#: whole model name -> builder of (module, input shape)
_WHOLE_MODEL_BUILDERS: dict[str, Callable[[], tuple[nn.Module, tuple[int, ...]]]] = {
    "cnn-small": _cnn_small,
    "cnn-wide": _cnn_wide,
    "cnn-deep": _cnn_deep,
    "transformer-block": _transformer_block,
}


def whole_model_zoo(names: tuple[str, ...] | None = None) -> dict[str, tuple[Any, tuple[int, ...]]]:
    """Small models for the whole-model check: name -> (module, input shape).

    ``cnn-small`` (2 conv-BN-ReLU-maxpool stages + classifier, 1x3x32x32), ``cnn-wide``
    (5x5 and 3x3 convolutions, average pooling, two linear layers, 2x3x32x32), ``cnn-deep``
    (a stride-2 stem and four 3x3 conv-BN-ReLU blocks, 1x3x32x32) and ``transformer-block``
    (self-attention + feed-forward with residuals and LayerNorm, 2x32x64; LayerNorm and the
    additions are not predicted module types, so they are not covered).

    Raises
    ------
    ConfigError
        An unknown name.
    """
    out: dict[str, tuple[Any, tuple[int, ...]]] = {}
    for name in names or tuple(_WHOLE_MODEL_BUILDERS):
        if name not in _WHOLE_MODEL_BUILDERS:
            raise ConfigError("whole_models", name, tuple(_WHOLE_MODEL_BUILDERS))
        with torch_seeded(0):
            model, shape = _WHOLE_MODEL_BUILDERS[name]()
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


def _cpu_device() -> tuple[str | None, str]:
    return "cpu", ""


def _gpu_device() -> tuple[str | None, str]:
    if torch.cuda.is_available():
        return "cuda", ""
    return None, ("skipped: the GPU dataset's whole-model check measures the models on a GPU, "
                  "and this machine has no CUDA device")


#: dataset device -> where its whole models are measured here (None and why not: skipped)
_WHOLE_MODEL_DEVICE: dict[Device, Callable[[], tuple[str | None, str]]] = {
    "cpu": _cpu_device,
    "gpu": _gpu_device,
}


def _protocol(row: pd.Series, key: str, default: int) -> int:
    """The row's recorded ``key`` (warmup, repeats, threads, calls_per_sample), ``default``
    when not recorded (rows built before batching have one call per sample)."""
    v = row.get(key)
    return int(v) if v is not None and pd.notna(v) else default


def noise_ceiling(df: pd.DataFrame, *, n_rows: int, seed: int, device: str = "cpu"
                  ) -> tuple[pd.DataFrame, dict[str, float]]:
    """Re-time ``n_rows`` stored idle-level rows (sampled with ``seed``) with each row's own
    protocol (warm-up and timed calls, threads, calls per sample) and score the
    re-measurement as if it were a prediction of the stored value: the noise ceiling of any
    predictor on this data.

    Only rows stored at the ``"idle"`` level are re-timed (no background load is created);
    the device state is read again before each re-measurement.

    Returns
    -------
    rows : DataFrame
        row, module_type, stored_ms, remeasured_ms, ratio, utilization_pct, load_avg_1m.
    metrics : dict
        :func:`~effdl_kit.models.latency_metrics` of (stored, re-measured) plus ``n`` and the
        median absolute relative difference ``median_rel_diff``; empty when no row.
    """
    check_int("n_rows", n_rows, min_value=0)
    idle = df[df["load_level"] == "idle"] if "load_level" in df.columns else df
    pick = idle.sample(n=min(n_rows, len(idle)), random_state=seed) if n_rows else idle[:0]
    out = []
    for idx, r in pick.iterrows():
        mt = str(r["module_type"])
        spec = make_spec(mt, **{k: int(r[k]) for k in MODULE_PARAMS[mt]})
        res = measure_spec(spec, device=device, warmup=_protocol(r, "warmup", 5),
                           repeats=_protocol(r, "repeats", 25),
                           threads=_protocol(r, "threads", 1), seed=seed,
                           calls_per_sample=_protocol(r, "calls_per_sample", 1))
        out.append({"row": int(idx) if isinstance(idx, int | np.integer) else str(idx),
                    "module_type": mt, "stored_ms": float(r["latency_ms"]),
                    "remeasured_ms": res.median_ms,
                    "ratio": res.median_ms / float(r["latency_ms"]),
                    "utilization_pct": res.state.utilization_pct,
                    "load_avg_1m": res.state.load_avg_1m})
    rows = pd.DataFrame(out)
    if not len(rows):
        return rows, {}
    stored, again = rows["stored_ms"].to_numpy(), rows["remeasured_ms"].to_numpy()
    metrics = {"n": float(len(rows)), **latency_metrics(stored, again),
               "median_rel_diff": float(np.median(np.abs(again - stored) / stored))}
    return rows, metrics


# ----------------------------------------------------------------------------- compute


def _selection_dict(sel: AutoSelection) -> dict[str, Any]:
    return {"choices": records(sel.choices), "overall": sel.overall,
            "baseline": sel.baseline, "gain": sel.gain, "settings": sel.settings}


def fit_selected(df: pd.DataFrame, chosen: Mapping[str, str], *, seed: int,
                 params: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The chosen model kind of each module type, fitted on all its rows."""
    return {mt: fit_latency_models(df, module_types=[mt], kinds=[kind], seed=seed,
                                   params=params)[mt][kind]
            for mt, kind in chosen.items()}


def _split_record(ev: LatencyEvaluation, ev_nm: LatencyEvaluation) -> dict[str, Any]:
    """Scores with and without measurable parameters under one split, and the test
    predictions of both side by side (the same test rows: a split ignores the features)."""
    keys = ["module_type", "model", "row"]
    both = ev.predictions.merge(
        ev_nm.predictions[[*keys, "y_pred"]].rename(columns={"y_pred": "y_pred_no_measurable"}),
        on=keys, how="inner", validate="one_to_one")
    cols = ("module_type", "model", "row", "y_true", "y_pred", "y_pred_no_measurable")
    return {"scores": records(ev.scores), "scores_no_measurable": records(ev_nm.scores),
            "predictions": {k: [None if isinstance(v, float) and not math.isfinite(v) else v
                                for v in both[k].tolist()] for k in cols}}


def build_payload(df: pd.DataFrame, ev: LatencyEvaluation, ev_nm: LatencyEvaluation,
                  sel_time: AutoSelection, sel_space: AutoSelection, whole: pd.DataFrame, *,
                  scale: str, seed: int, source: str, budget: Budget | None = None,
                  splits: Mapping[LatencySplit, tuple[LatencyEvaluation, LatencyEvaluation]]
                  | None = None) -> dict[str, Any]:
    """The JSON-able ``results.json`` payload from the computed pieces (the plot and table
    functions read it): evaluations with and without measurable parameters, both
    auto-selections, the whole-model check.

    Parameters
    ----------
    budget : Budget, optional
        The budget the pieces were computed with (default: ``Budget.for_scale(scale)``).
    splits : mapping, optional
        Split name -> evaluations (with, without measurable parameters) under that split
        (the ``splits`` entry: scores and paired test predictions; none when not given).
    """
    budget = _check_budget(budget, scale)
    split_records = {str(k): _split_record(*v) for k, v in (splits or {}).items()}
    return {
        "experiment": NAME, "scale": scale, "seed": seed, "source": source,
        "budget": budget.to_dict(),
        "n_rows": len(df),
        "rows_by_module_type": {str(k): int(v) for k, v in
                                df["module_type"].value_counts().sort_index().items()},
        "rows_by_load_level": {str(k): int(v) for k, v in
                               df["load_level"].value_counts().sort_index().items()},
        "scores": records(ev.scores),
        "scores_no_measurable": records(ev_nm.scores),
        "predictions": {k: [None if isinstance(v, float) and not math.isfinite(v) else v
                            for v in ev.predictions[k].tolist()]
                        for k in ("module_type", "model", "load_level", "y_true", "y_pred")},
        "selection": {"time": _selection_dict(sel_time), "space": _selection_dict(sel_space)},
        "paper_gain": PAPER_GAIN,
        "whole_models": records(whole),
        "splits": split_records,
    }


def run_medn(scale: str, seed: int, out: Path, *, device: Device = "cpu",
             budget: Budget | None = None) -> ExperimentSummary:
    """LR / MLP / RF / MEDN per module type, auto-selection, ablation, whole-model latency.

    ``device``: "cpu" (``data/latency_cpu.jsonl``) or "gpu" (``data/latency_gpu.jsonl``; the
    whole-model check then needs a CUDA device here). ``budget``: the scale's
    :class:`Budget` unless given (change one with :func:`dataclasses.replace`).
    """
    check_scale(scale)
    check_int("seed", seed, min_value=0, max_value=SEED_MAX)
    check_choice("device", device, DEVICES)
    budget = _check_budget(budget, scale)
    params = budget.model_params
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    df, source = load_medn_data(scale, seed, out, device=device, budget=budget)
    ev = evaluate_latency_models(df, seed=seed, params=params)
    ev_nm = evaluate_latency_models(df, seed=seed, params=params, measurable=False)
    splits: dict[LatencySplit, tuple[LatencyEvaluation, LatencyEvaluation]] = {}
    for kind in budget.splits:  # the random split's evaluations are the headline ones
        splits[kind] = (ev, ev_nm) if kind == "random" else (
            evaluate_latency_models(df, seed=seed, params=params, split=kind),
            evaluate_latency_models(df, seed=seed, params=params, split=kind,
                                    measurable=False))
    sel_time = auto_select(ev.scores, prefer="time")
    sel_space = auto_select(ev.scores, prefer="space")
    chosen = {str(r["module_type"]): str(r["model"]) for r in records(sel_time.choices)}
    where, why_not = _WHOLE_MODEL_DEVICE[device]()
    noise_rows, noise = (noise_ceiling(df, n_rows=budget.noise_rows, seed=seed, device=where)
                         if where is not None else (pd.DataFrame(), {}))
    if where is None:
        whole = pd.DataFrame()
    else:
        fitted = fit_selected(df, chosen, seed=seed, params=params)
        whole = whole_model_latency(fitted, whole_model_zoo(budget.whole_models),
                                    warmup=budget.warmup, repeats=budget.repeats,
                                    device=where)
    payload = build_payload(df, ev, ev_nm, sel_time, sel_space, whole, scale=scale, seed=seed,
                            source=source, budget=budget, splits=splits)
    payload["device"] = device
    payload["whole_models_note"] = why_not
    payload["noise"] = {
        "metrics": noise, "rows": records(noise_rows),
        "note": ("stored idle rows re-timed now, same protocol" if noise else
                 f"skipped: re-timing {device} rows needs that device here" if where is None
                 else "no row re-timed")}
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
                           for r in records(abl[abl["split"] == "test"])},
        "whole_model_error_pct": {str(r["model"]): r["error_pct"] for r in records(whole)},
        "noise_ceiling_acc10": noise.get("acc10"),
        "splits_acc10": {f"{r['split']}/{r['model']}": {
            "with": r["acc@10% with"], "without": r["acc@10% without"],
            "delta_points": r["Δ (points)"], "delta_ci": [r["Δ lo"], r["Δ hi"]]}
            for r in records(split_table(payload))},
    }
    return make_summary(
        NAME, scale, seed, metrics=metrics,
        **output_files(paths),
        wall_time_s=time.perf_counter() - t0,
    )
