"""The ``survey`` experiment: compute-efficient DL survey (Bartoldson et al., JMLR 2023).

E1 Pareto
    The bench's residual CNN on generated 16x16 images (``synthetic``, difficulty 0.9), AdamW
    with a cosine schedule annealed over each budget; the baseline and every speedup method
    at the same budgets (epochs) and seeds; summed epoch training time vs test accuracy; the
    baseline's frontier; a table of where each method sits (:func:`~effdl_kit.speedups.
    frontier_table`).
E2 op microbenchmarks
    matmul, conv2d, add, ReLU, GELU, BatchNorm, LayerNorm, softmax over log-spaced sizes in
    float32 and bfloat16; the device's measured peak FLOP/s, bandwidth and per-call overhead;
    the roofline with every op placed by arithmetic intensity; each op's regime.
E3 FLOPs vs runtime
    Factorised and normalisation-free variants of the CNN against the baseline: FLOPs,
    parameters, operand bytes and measured training-step time.
E4 data-loader bottleneck
    Workers x per-sample augmentation cost -> step time split into data wait and compute.

Compute once, draw twice: :func:`run_survey` writes ``results.json``; :func:`redraw` draws the
figures and writes the tables from that file alone.

Budgets per scale (:data:`SCALES`): ``smoke`` seconds (2 budgets, 1 seed, 2 methods, tiny
op grid); ``small`` about 10 minutes on a 2-core CPU (5 budgets, 3 seeds, 11 methods:
mixed precision is left out there, because this CPU has no bf16 matrix units and bf16 training
costs several times fp32, see E2); ``paper`` 5 budgets up to 32 epochs, 5 seeds, every method
including mixed precision, device ``auto`` (meant for a GPU).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from effdl_kit._core.errors import ConfigError
from effdl_kit._core.validate import check_scale
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

    from effdl_kit.measure._ops import Roofline
    from effdl_kit.training import TrainConfig

__all__ = [
    "FIGURE_LOADER",
    "FIGURE_PARETO",
    "FIGURE_ROOFLINE",
    "FIGURE_VARIANTS",
    "PARTS",
    "RESULTS_FILE",
    "SCALES",
    "load_results",
    "op_regime_table",
    "plot_flops_runtime",
    "plot_loader",
    "plot_pareto",
    "plot_roofline",
    "redraw",
    "run_survey",
    "survey_config",
    "survey_recipes",
]

NAME = "survey"
RESULTS_FILE = "results.json"
FIGURE_PARETO = "survey_pareto"
FIGURE_ROOFLINE = "survey_roofline"
FIGURE_VARIANTS = "survey_flops_runtime"
FIGURE_LOADER = "survey_loader"
TABLE_FRONTIER = "survey_frontier"
TABLE_OPS = "survey_ops"
TABLE_VARIANTS = "survey_flops_runtime"
TABLE_LOADER = "survey_loader"
PARTS: tuple[str, ...] = ("pareto", "ops", "variants", "loader")

#: every method of the survey with the settings used here (EMA's half-life is 10 % of the
#: run's steps: the runs are a few hundred steps, not the 1,000-batch half-life of ImageNet)
ALL_METHODS: dict[str, dict[str, Any]] = {
    "channels_last": {},
    "mixed_precision": {"precision": "bf16"},
    "label_smoothing": {"smoothing": 0.1},
    "mixup": {"alpha": 1.0},
    "cutmix": {"alpha": 1.0},
    "progressive_resizing": {"initial_scale": 0.5, "delay_fraction": 0.5,
                             "finetune_fraction": 0.2, "size_increment": 4},
    "selective_backprop": {"start": 0.5, "end": 0.9, "keep": 0.5, "interrupt": 2},
    "layer_freezing": {"freeze_start": 0.5, "freeze_level": 1.0},
    "ema": {"half_life": 0.1},
    "sam": {"rho": 0.05, "interval": 1},
    "stochastic_depth": {"drop_rate": 0.1, "distribution": "linear"},
    "blurpool": {},
}

_OPS_SMALL = {
    "matmul": [16, 64, 256, 1024], "conv2d": [4, 8, 16, 32],
    "add": [2**8, 2**12, 2**16, 2**20, 2**23], "relu": [2**8, 2**12, 2**16, 2**20, 2**23],
    "gelu": [2**8, 2**12, 2**16, 2**20, 2**23],
    "batchnorm": [2**12, 2**16, 2**20, 2**23],
    "layernorm": [2**12, 2**16, 2**20, 2**23], "softmax": [2**12, 2**16, 2**20, 2**23],
}
_OPS_SMOKE = {"matmul": [8, 64], "conv2d": [4], "add": [2**8, 2**14], "relu": [2**10],
              "gelu": [2**10], "batchnorm": [2**12], "layernorm": [2**12],
              "softmax": [2**12]}

#: everything a scale decides
SCALES: dict[str, dict[str, Any]] = {
    "smoke": {
        "data": {"n_samples": 300, "image_size": 16, "difficulty": 0.9},
        "budgets": [1, 2], "n_seeds": 1, "methods": ["label_smoothing", "ema"],
        "ops": _OPS_SMOKE, "dtypes": ["float32"], "matmul_peak_sizes": [64, 128],
        "bandwidth_bytes": 2**22, "min_time": 0.002, "repeats": 2,
        "variants_repeats": 2, "variants_input": [3, 16, 16],
        "loader": {"workers": [0], "augmentations": ["none", "flip_crop"], "n_batches": 2,
                   "batch_size": 16, "image_size": 16, "warmup": 1},
        "device": "cpu",
    },
    "small": {
        "data": {"n_samples": 3000, "image_size": 16, "difficulty": 0.9},
        "budgets": [1, 2, 3, 4, 6], "n_seeds": 3,
        "methods": [m for m in ALL_METHODS if m != "mixed_precision"],
        "ops": _OPS_SMALL, "dtypes": ["float32", "bfloat16"],
        "matmul_peak_sizes": [128, 256, 512, 1024], "bandwidth_bytes": 2**27,
        "min_time": 0.02, "repeats": 5, "variants_repeats": 20, "variants_input": [3, 32, 32],
        "loader": {"workers": [0, 1, 2], "augmentations": ["none", "flip_crop", "heavy"],
                   "n_batches": 10, "batch_size": 64, "image_size": 32, "warmup": 2},
        "device": "cpu",
    },
    "paper": {
        "data": {"n_samples": 20000, "image_size": 32, "difficulty": 0.9},
        "budgets": [2, 4, 8, 16, 32], "n_seeds": 5, "methods": list(ALL_METHODS),
        "ops": {**_OPS_SMALL, "matmul": [16, 64, 256, 1024, 4096],
                "conv2d": [4, 8, 16, 32, 64]},
        "dtypes": ["float32", "bfloat16"], "matmul_peak_sizes": [1024, 2048, 4096, 8192],
        "bandwidth_bytes": 2**30, "min_time": 0.05, "repeats": 7, "variants_repeats": 50,
        "variants_input": [3, 32, 32],
        "loader": {"workers": [0, 1, 2, 4, 8], "augmentations": ["none", "flip_crop", "heavy"],
                   "n_batches": 50, "batch_size": 128, "image_size": 32, "warmup": 5},
        "device": "auto",
    },
}

#: the CNN of every part
MODEL_PARAMS: dict[str, Any] = {"channels": [16, 32], "skip": True, "norm": "batch",
                                "pooling": "max", "width": 64}

ProgressFn = Callable[[int, int, str], None]


def survey_config(scale: str, seed: int = 0) -> TrainConfig:
    """The E1 baseline config at ``scale`` (``epochs`` is replaced per budget)."""
    from effdl_kit.training import TrainConfig

    s = SCALES[check_scale(scale)]
    return TrainConfig(
        dataset="synthetic", data_params=dict(s["data"]), model="cnn",
        model_params=dict(MODEL_PARAMS), optimizer="adamw", lr=3e-3, weight_decay=5e-4,
        schedule="cosine", batch_size=64, epochs=s["budgets"][-1], seed=seed,
        device="cpu" if s["device"] == "cpu" else "auto", threads=1,
    )


def survey_recipes(methods: Sequence[str]) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """One single-method recipe per name, with :data:`ALL_METHODS`' settings.

    Raises
    ------
    ConfigError
        An unknown method name.
    """
    out: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for m in methods:
        if m not in ALL_METHODS:
            raise ConfigError("methods", m, tuple(ALL_METHODS))
        out[m] = [(m, dict(ALL_METHODS[m]))]
    return out


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = json.loads(df.to_json(orient="records"))
    return out


def run_survey(scale: str, seed: int, out: Path, *, parts: Sequence[str] = PARTS,
               methods: Sequence[str] | None = None,
               progress: ProgressFn | None = None) -> ExperimentSummary:
    """Run E1-E4 at ``scale``, save ``results.json``, draw figures and tables.

    Parameters
    ----------
    parts : sequence of {"pareto", "ops", "variants", "loader"}
        Which parts to run (all by default).
    methods : sequence of str, optional
        E1 methods (default: the scale's list).
    progress : callable, optional
        ``progress(done, total, message)`` per E1 run.
    """
    from effdl_kit.measure._ops import measure_roofline, op_sweep
    from effdl_kit.speedups import (
        flops_vs_runtime,
        frontier_table,
        loader_bottleneck,
        pareto_sweep,
    )

    check_scale(scale)
    for p in parts:
        if p not in PARTS:
            raise ConfigError("parts", p, PARTS)
    s = SCALES[scale]
    t0 = time.perf_counter()
    base = survey_config(scale, seed)
    recipes = survey_recipes(methods if methods is not None else s["methods"])
    seeds = [seed + i for i in range(s["n_seeds"])]
    payload: dict[str, Any] = {"experiment": NAME, "scale": scale, "seed": seed,
                               "setup": {"config": base.to_dict(), "budgets": s["budgets"],
                                         "seeds": seeds, "methods": recipes},
                               "timings_s": {}}
    if "pareto" in parts:
        t = time.perf_counter()
        runs = pareto_sweep(base, recipes, s["budgets"], seeds, progress=progress)
        payload["pareto"] = {"runs": _records(runs),
                             "frontier": _records(frontier_table(runs))}
        payload["timings_s"]["pareto"] = time.perf_counter() - t
    dev = "cpu" if s["device"] == "cpu" else "auto"
    if "ops" in parts:
        t = time.perf_counter()
        roof = measure_roofline(device=dev, dtypes=s["dtypes"],
                                matmul_sizes=s["matmul_peak_sizes"],
                                bandwidth_bytes=s["bandwidth_bytes"],
                                min_time=max(s["min_time"], 0.002))
        sweep = op_sweep(s["ops"], dtypes=s["dtypes"], device=dev, roofline=roof,
                         min_time=s["min_time"], repeats=s["repeats"])
        payload["ops"] = {"roofline": roof.to_dict(), "sweep": _records(sweep)}
        payload["timings_s"]["ops"] = time.perf_counter() - t
    shape = tuple(s["variants_input"])
    if "variants" in parts:
        t = time.perf_counter()
        var_dev = "cuda" if dev == "auto" and _cuda() else "cpu"
        var = flops_vs_runtime(MODEL_PARAMS, shape, 10, repeats=s["variants_repeats"],
                               seed=seed, device=var_dev)
        payload["variants"] = {"input_shape": list(shape), "rows": _records(var)}
        payload["timings_s"]["variants"] = time.perf_counter() - t
    if "loader" in parts:
        t = time.perf_counter()
        lo = loader_bottleneck(**s["loader"], seed=seed)
        payload["loader"] = {"settings": s["loader"], "rows": _records(lo)}
        payload["timings_s"]["loader"] = time.perf_counter() - t
    out.mkdir(parents=True, exist_ok=True)
    (out / RESULTS_FILE).write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
    paths = redraw(out)
    return make_summary(
        NAME, scale, seed, metrics=_metrics(payload),
        **output_files(paths),
        wall_time_s=time.perf_counter() - t0,
    )


def _cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def _metrics(payload: Mapping[str, Any]) -> dict[str, Any]:
    m: dict[str, Any] = {}
    if "pareto" in payload:
        m["frontier"] = {r["method"]: {"verdict": r["verdict"],
                                       "best_gain": r["best_gain"],
                                       "time_ratio": r["time_ratio"]}
                         for r in payload["pareto"]["frontier"]}
    if "ops" in payload:
        roof = payload["ops"]["roofline"]
        m["roofline"] = {"peak_gflops": roof["peak_flops"] / 1e9,
                         "bandwidth_gbs": roof["bandwidth"] / 1e9,
                         "overhead_us": roof["overhead_s"] * 1e6,
                         "ridge_flop_per_byte": roof["peak_flops"] / roof["bandwidth"]}
    if "variants" in payload:
        m["variants"] = {r["variant"]: {"flops_ratio": r["flops_ratio"],
                                        "time_ratio": r["time_ratio"]}
                         for r in payload["variants"]["rows"]}
    if "loader" in payload:
        m["loader"] = {f"{r['augmentation']}/w{r['workers']}": r["bound"]
                       for r in payload["loader"]["rows"]}
    return m


# ----------------------------------------------------------------------------- draw


def load_results(out_dir: str | Path) -> dict[str, Any]:
    """The payload of ``results.json`` in ``out_dir``.

    Raises
    ------
    DataError
        No or malformed ``results.json``.
    """
    def check(payload: dict[str, Any]) -> None:
        if "pareto" in payload:
            pd.DataFrame(payload["pareto"]["runs"])[["method", "budget", "train_time_s",
                                                     "test_accuracy"]]

    return read_results(out_dir, NAME, check=check)


def plot_pareto(runs: pd.DataFrame, *, ax: Axes, methods: Sequence[str] | None = None,
                show_seeds: bool = True) -> Axes:
    """Training time vs test accuracy: each method's mean per budget (a line through its
    budgets, ±1 std error bars), single seeds as faint dots, the baseline's Pareto frontier
    as a thick black step line."""
    from effdl_kit.speedups import pareto_frontier, summarize_runs

    s = summarize_runs(runs)
    names = list(dict.fromkeys(runs["method"])) if methods is None else list(methods)
    for i, name in enumerate(names):
        g = s[s["method"] == name].sort_values("budget")
        if g.empty:
            continue
        base = name == "baseline"
        color = "black" if base else f"C{i % 10}"
        if show_seeds:
            r = runs[runs["method"] == name]
            ax.scatter(r["train_time_s"], r["test_accuracy"], s=6, color=color, alpha=0.25,
                       linewidths=0)
        ax.errorbar(g["time_mean"], g["acc_mean"], xerr=g["time_std"], yerr=g["acc_std"],
                    marker="o" if base else ".", ms=4, lw=1.6 if base else 0.9, color=color,
                    label=name, capsize=1.5, elinewidth=0.5, zorder=3 if base else 2)
        if base:
            idx = pareto_frontier(g["time_mean"].to_numpy(), g["acc_mean"].to_numpy())
            ft = g["time_mean"].to_numpy()[idx]
            fa = g["acc_mean"].to_numpy()[idx]
            ax.step(ft, fa, where="post", color="black", lw=2.2, alpha=0.35, zorder=1,
                    label="baseline frontier")
    ax.set_xscale("log")
    ax.set_xlabel("training time (s, summed epochs)")
    ax.set_ylabel("test accuracy")
    ax.legend(fontsize="x-small", ncol=2, loc="lower right")
    return ax


def plot_roofline(sweep: pd.DataFrame, roofline: Roofline | Mapping[str, Any], *, ax: Axes,
                  dtype: str | None = "float32") -> Axes:
    """Achieved FLOP/s against arithmetic intensity on log axes, under the measured roofs
    (compute roof, bandwidth slope); ops coloured by op, marker by regime."""
    from effdl_kit.measure._ops import OPS, Roofline

    roof = roofline if isinstance(roofline, Roofline) else Roofline.from_dict(dict(roofline))
    d = sweep if dtype is None else sweep[sweep["dtype"] == dtype]
    lo = float(min(d["intensity"].min(), roof.ridge) / 4)
    hi = float(max(d["intensity"].max(), roof.ridge) * 4)
    xs = np.geomspace(lo, hi, 200)
    ax.plot(xs, roof.attainable(xs), color="black", lw=1.5,
            label=f"roof: {roof.peak_flops / 1e9:.0f} GFLOP/s, {roof.bandwidth / 1e9:.1f} GB/s")
    ax.axvline(roof.ridge, color="0.5", ls=":", lw=0.8)
    markers = {"overhead": "x", "memory": "o", "compute": "s"}
    for i, op in enumerate(OPS):
        r = d[d["op"] == op]
        if r.empty:
            continue
        for regime, mk in markers.items():
            rr = r[r["regime"] == regime] if "regime" in r else r
            if rr.empty:
                continue
            ax.scatter(rr["intensity"], rr["flop_rate"], marker=mk, s=16, color=f"C{i % 10}",
                       label=op if regime == next(iter(
                           x for x in markers if "regime" not in r or (r["regime"] == x).any()))
                       else None)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity (FLOP/byte)")
    ax.set_ylabel("achieved FLOP/s")
    ax.set_title(f"{dtype or 'all dtypes'}; x overhead, o memory, □ compute-bound",
                 fontsize="small")
    ax.legend(fontsize="x-small", ncol=2, loc="lower right")
    return ax


def plot_flops_runtime(rows: pd.DataFrame, *, ax: Axes) -> Axes:
    """E3: FLOPs ratio and step-time ratio against the baseline, one pair of bars per
    variant."""
    x = np.arange(len(rows))
    ax.bar(x - 0.2, rows["flops_ratio"], width=0.4, label="FLOPs / baseline", color="C0")
    ax.bar(x + 0.2, rows["time_ratio"], width=0.4, label="step time / baseline", color="C3")
    ax.axhline(1.0, color="0.3", lw=0.8)
    ax.set_xticks(x, [str(v).replace("_", "\n") for v in rows["variant"]])
    ax.set_ylabel("ratio to baseline")
    ax.legend(fontsize="x-small")
    return ax


def plot_loader(rows: pd.DataFrame, *, ax: Axes) -> Axes:
    """E4: stacked bars of data wait and compute per (augmentation, workers)."""
    labels = [f"{a}\nw={w}" for a, w in zip(rows["augmentation"], rows["workers"], strict=True)]
    x = np.arange(len(rows))
    ax.bar(x, rows["compute_s"] * 1e3, label="compute", color="C0")
    ax.bar(x, rows["data_wait_s"] * 1e3, bottom=rows["compute_s"] * 1e3, label="data wait",
           color="C1")
    ax.set_xticks(x, labels, fontsize="x-small")
    ax.set_ylabel("ms per step")
    ax.legend(fontsize="x-small")
    return ax


def op_regime_table(sweep: pd.DataFrame) -> pd.DataFrame:
    """Per (op, dtype): size range, best achieved GFLOP/s and GB/s, best fraction of the
    roof, and the regimes seen from the smallest to the largest size."""
    rows = []
    for (op, dt), g in sweep.groupby(["op", "dtype"], sort=False):
        g = g.sort_values("size")
        regimes = list(dict.fromkeys(g["regime"])) if "regime" in g else []
        rows.append({"op": op, "dtype": dt, "sizes": f"{int(g['size'].min())}-"
                     f"{int(g['size'].max())}", "intensity": float(g["intensity"].iloc[-1]),
                     "best GFLOP/s": float(g["flop_rate"].max()) / 1e9,
                     "best GB/s": float(g["byte_rate"].max()) / 1e9,
                     "best fraction of roof": float(g.get("fraction_of_roof",
                                                          pd.Series([math.nan])).max()),
                     "regimes (small -> large)": " -> ".join(regimes)})
    return pd.DataFrame(rows)


def redraw(out_dir: str | Path) -> list[Path]:
    """Draw the figures and write the tables from ``results.json`` only (no training).

    Returns
    -------
    list of Path
        Figures (Pareto, roofline, FLOPs vs runtime, loader; those whose part ran), then
        tables.
    """
    out = Path(out_dir)
    payload = load_results(out)
    scale, seed = payload["scale"], payload["seed"]
    prov = {"experiment": NAME, "source": RESULTS_FILE, "setup": payload.get("setup")}
    figs: list[Path] = []
    tables: list[Path] = []
    with paper_style_context():
        if "pareto" in payload:
            runs = pd.DataFrame(payload["pareto"]["runs"])
            fig, ax = figure("double", aspect=0.6, pyplot=False)
            plot_pareto(runs, ax=ax)
            n_seeds = runs["seed"].nunique()
            ax.set_title(f"time vs accuracy, {runs['budget'].nunique()} budgets, "
                         f"{n_seeds} seed{'s' if n_seeds > 1 else ''}", fontsize="medium")
            figs += save_figure(fig, out / FIGURE_PARETO, provenance=prov, seed=seed,
                                scale=scale)
            tables += export_table(
                pd.DataFrame(payload["pareto"]["frontier"]), out / TABLE_FRONTIER,
                caption=f"Speedup methods against the baseline's time-accuracy frontier "
                        f"({scale} scale): gains in accuracy at equal training time.",
                label="tab:survey-frontier", float_format="{:.3f}")
        if "ops" in payload:
            sweep = pd.DataFrame(payload["ops"]["sweep"])
            dtypes = list(dict.fromkeys(sweep["dtype"]))
            fig, axes = figure("double", aspect=0.45, nrows=1, ncols=len(dtypes),
                               pyplot=False, squeeze=False)
            for j, dt in enumerate(dtypes):
                plot_roofline(sweep, payload["ops"]["roofline"], ax=axes[0, j], dtype=dt)
            figs += save_figure(fig, out / FIGURE_ROOFLINE, provenance=prov, seed=seed,
                                scale=scale)
            tables += export_table(op_regime_table(sweep), out / TABLE_OPS,
                                   caption=f"Op microbenchmarks ({scale} scale).",
                                   label="tab:survey-ops", float_format="{:.3g}")
        if "variants" in payload:
            rows = pd.DataFrame(payload["variants"]["rows"])
            fig, ax = figure("single", aspect=0.8, pyplot=False)
            plot_flops_runtime(rows, ax=ax)
            figs += save_figure(fig, out / FIGURE_VARIANTS, provenance=prov, seed=seed,
                                scale=scale)
            tables += export_table(rows, out / TABLE_VARIANTS,
                                   caption=f"FLOPs vs runtime of CNN variants ({scale}).",
                                   label="tab:survey-variants", float_format="{:.3g}")
        if "loader" in payload:
            rows = pd.DataFrame(payload["loader"]["rows"])
            fig, ax = figure("double", aspect=0.4, pyplot=False)
            plot_loader(rows, ax=ax)
            figs += save_figure(fig, out / FIGURE_LOADER, provenance=prov, seed=seed,
                                scale=scale)
            tables += export_table(rows, out / TABLE_LOADER,
                                   caption=f"Data-loader bottleneck ({scale} scale).",
                                   label="tab:survey-loader", float_format="{:.4g}")
    return figs + tables


register(NAME, redraw=redraw)(run_survey)
