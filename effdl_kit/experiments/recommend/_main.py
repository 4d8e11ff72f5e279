"""The comparison as one command, writing the committed result files.

``python -m effdl_kit.experiments.recommend._main --scale small --out docs/results`` runs (or
resumes) :func:`~._run.run_comparison` with its resumable records in ``--out``
(``recommend_comparison.cells.jsonl``, ``recommend_comparison.trainings.jsonl``) and writes

* ``recommend_comparison.json``: the cells (every training of every method), the analysis
  tables, the command, the date and the machine;
* ``recommend_comparison.md``: results, paired differences with CIs and verdicts, the
  controls, the repeats, and in plain words where the training-free route wins and loses;
* ``recommend_comparison.png``: best feasible accuracy vs compute.

``--redraw`` computes nothing: it rewrites the ``.md`` and ``.png`` from the ``.json`` alone.
``--finished-only`` runs no new cell: it writes the three files from the finished cells in
``--out`` (an interrupted run's; the rest listed as missing).
``effdl reproduce recommend --scale small --out DIR`` runs the same through the experiment
registry into ``DIR/recommend/``. Bad input gives one line on stderr and exit code 2, before
any work.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from effdl_kit._core.env import collect_env
from effdl_kit._core.errors import DataError, EffdlError
from effdl_kit._core.io import atomic_write_text, check_out_dir
from effdl_kit._core.validate import SCALES, check_choice, check_int
from effdl_kit.reports import markdown_table, save_figure

from ._analysis import (
    DELTA,
    LOSE,
    NOISE,
    WIN,
    comparison_controls,
    comparison_table,
    comparison_verdicts,
    latency_noise,
    load_comparison,
)
from ._figures import plot_comparison
from ._run import run_comparison
from ._settings import NAME, STEM, CompareBudget

__all__ = ["main", "redraw", "render_comparison", "run_recommend_experiment",
           "write_comparison"]


def _clean(v: Any) -> Any:
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, dict):
        return {str(k): _clean(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_clean(x) for x in v]
    return v


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return [_clean(r) for r in df.to_dict(orient="records")]


_TABLE_COLS = {"task": "task", "budget": "budget", "budget_ms": "budget (ms)",
               "method": "method", "n_seeds": "seeds",
               "best_feasible_accuracy": "best feasible acc. (mean)", "sd": "sd",
               "no_feasible": "seeds w/o feasible", "compute_s": "compute s (mean)",
               "n_trainings": "trainings (mean)", "share_feasible": "share feasible",
               "n_failed": "failed"}
_VERDICT_COLS = {"task": "task", "budget": "budget", "comparison": "difference", "at": "at",
                 "n_seeds": "n", "diff": "mean", "ci_low": "CI low", "ci_high": "CI high",
                 "ci_width": "CI width", "verdict": "verdict",
                 "compute_ratio": "compute feedback / recommend"}
_NOISE_COLS = {"task": "task", "architectures": "architectures trained",
               "timed_twice_or_more": "timed twice or more", "median_cv": "median CV",
               "median_max_over_min": "median max / min",
               "recommend_measured_over_predicted": "recommend: measured / predicted (median)"}
_CONTROL_COLS = {"task": "task", "budget": "budget", "control": "control", "n_seeds": "n",
                 "diff": "mean", "ci_low": "CI low", "ci_high": "CI high",
                 "verdict": "verdict", "expected": "expected", "passed": "passed"}


def _plain_words(verdicts: pd.DataFrame, table: pd.DataFrame) -> list[str]:
    def where(r: Any) -> str:
        place = "all cells pooled" if r["task"] == "all" else f"{r['task']}, {r['budget']}"
        other = str(r["comparison"]).split(" - ")[1]
        when = "end of budget" if r["at"] == "end" else "matched compute"
        return (f"{place} vs {other} ({when}): {r['diff']:+.3f} "
                f"[{r['ci_low']:+.3f}, {r['ci_high']:+.3f}]")

    lines = []
    for verdict, word in ((WIN, "wins"), (LOSE, "loses")):
        rows = verdicts[verdicts["verdict"] == verdict]
        lines.append(f"- The training-free route **{word}** in {len(rows)} of {len(verdicts)} "
                     "comparisons" + (": " + "; ".join(where(r) for _, r in rows.iterrows())
                                      if len(rows) else "") + ".")
    n_noise = int((verdicts["verdict"] == NOISE).sum())
    lines.append(f"- Within noise (the 95 % CI holds 0): {n_noise} of {len(verdicts)}.")
    rec = table[table["method"] == "recommend"]
    fb = table[table["method"].isin(["tpe", "nsga2"])]
    if len(rec) and len(fb):
        lines.append(
            f"- Compute per cell (mean): recommend {rec['compute_s'].mean():.1f} s for "
            f"{rec['n_trainings'].mean():.0f} trainings (prepare and search included), "
            f"feedback studies {fb['compute_s'].mean():.1f} s for "
            f"{fb['n_trainings'].mean():.0f} trainings; share of trainings within the "
            f"budget: recommend {rec['share_feasible'].mean():.2f}, feedback "
            f"{fb['share_feasible'].mean():.2f}; cells without any feasible training: "
            f"recommend {int(rec['no_feasible'].sum())}, tpe "
            f"{int(fb[fb['method'] == 'tpe']['no_feasible'].sum())}, nsga2 "
            f"{int(fb[fb['method'] == 'nsga2']['no_feasible'].sum())}.")
    return lines


def render_comparison(doc: Mapping[str, Any]) -> str:
    """The result document in Markdown (tables recomputed from the cells)."""
    s = doc["settings"]
    cells = doc["cells"]
    table = comparison_table(doc)
    verdicts = comparison_verdicts(doc)
    controls = comparison_controls(doc)
    c0 = cells[0] if cells else {"components": [], "values": [], "fixed": {}}
    space = "; ".join(f"{c} {v}" for c, v in zip(c0["components"], c0["values"], strict=True))
    seeds = sorted({c["seed"] for c in cells})
    per = verdicts[verdicts["task"] != "all"]
    widths = per["ci_width"].dropna()
    prep = ", ".join(f"{t} {v:.1f} s" for t, v in doc.get("prepare_s", {}).items())
    passed = bool(controls["passed"].all()) if len(controls) else False
    env = doc.get("env", {})
    missing = doc.get("missing", [])
    lines = [
        "# Training-free recommendation vs feedback-based search (issue 19, item 3)", "",
        f"Written by `{doc['command']}` on {doc['date']} ({env.get('cpu_model', '?')}, "
        f"{env.get('cores_logical', '?')} logical cores, shared with other jobs); scale "
        f"`{doc['scale']}`, run wall time {doc['wall_s'] / 60:.1f} min"
        + (f" (this invocation; earlier cells came from the resumable records: "
           f"{doc['resumed_cells']} cells)" if doc.get("resumed_cells") else "") + ".", "",
        "## Setup", "",
        f"- Tasks {s['tasks']}, device `{doc['device']}`; latency budgets (ms, batch 1, "
        f"measured after training): {s['budgets_ms']} (tight: about the 25th percentile of "
        "the grid's measured latency, loose: about the 80th; see `_settings.py`).",
        f"- Searched components and values (the same for every method): {space}. Fixed: "
        f"{c0['fixed']}.",
        f"- recommend: `recommend(...)` on `prepare(task, 'cpu', seed=0)`'s parts (prepare "
        f"ran once per task: {prep}; charged in full to every recommend run of that task), "
        f"then its top {s['top_k']} trained in rank order. recommend_b: the same with search "
        f"and training seed + {s['aa_seed_offset']} (A/A arm).",
        f"- tpe: Optuna TPESampler(seed, n_startup_trials={s['tpe_startup']}, "
        f"constraint = measured latency - budget), {s['n_trials']} trainings. nsga2: "
        f"NSGAIISampler(seed, population_size={s['population_size']}: "
        f"{s['n_trials'] / s['population_size']:g} generations) on (max accuracy, min "
        f"measured latency), {s['n_trials']} trainings.",
        "- The four methods of a cell run in an order drawn per cell (seeded by the cell's "
        "name), so a drift of the machine's load favours no method.",
        "- Every training: `train_and_measure` (BTTackler-guarded) with the cell's seed; a "
        "cache reuses identical trainings in wall time, each method charged the recorded "
        "train + measure seconds of every training it asked for. Compute = search + train + "
        "measure seconds (+ prepare for recommend). A method without a feasible training "
        "(failed, or measured latency over the budget) scores 0.",
        f"- Repeats: seeds {seeds} ({len(seeds)} per task x budget); CIs: percentile "
        f"bootstrap ({s['n_boot']} resamples) of the mean paired difference over seeds.",
        "", "Missing cells: " + (", ".join(missing) if missing else "none") + ".", "",
        "## Results per method", "",
        *markdown_table(table.rename(columns=_TABLE_COLS), float_format="{:.3f}")
        .splitlines(), "",
        "## Paired differences (recommend minus feedback) and verdicts", "",
        *markdown_table(verdicts.rename(columns=_VERDICT_COLS), float_format="{:.3f}")
        .splitlines(), "",
        "## Controls", "",
        f"Negative: recommend_b - recommend (A/A) must be *within noise*; positive: "
        f"recommend_b with every recorded accuracy + {DELTA:g} minus recommend must be "
        f"called a win. All as required: **{'yes' if passed else 'NO'}**.", "",
        *markdown_table(controls.rename(columns=_CONTROL_COLS), float_format="{:.3f}")
        .splitlines(), "",
        "## Latency measurement", "",
        "Feasibility is judged on one measurement per training (median of the protocol's "
        "timed calls, on a machine shared with other jobs). Its repeatability, from the "
        "architectures the run trained and timed more than once, and how the calibrated "
        "prediction the recommendation searched with compares with the measurements:", "",
        *markdown_table(latency_noise(doc).rename(columns=_NOISE_COLS), float_format="{:.3f}")
        .splitlines(), "",
        "## Repeats", "",
        (f"{len(seeds)} seeds per task x budget. The 95 % CI of a per-(task, budget) "
         f"difference is {widths.min():.3f} to {widths.max():.3f} wide (median "
         f"{widths.median():.3f}): differences smaller than about half that width cannot be "
         f"told from noise here. "
         + ("The controls behave as required, so the repeats suffice for effects of the "
            f"injected size ({DELTA:g}) where the positive control is detected."
            if passed else "A control failed (table above): the repeats do NOT suffice to "
            "separate an effect of the injected size from noise in every row; read those "
            "rows' verdicts as inconclusive.")) if len(widths) else "No finished cell.", "",
        "## In plain words", "", *_plain_words(verdicts, table), "",
        "![best feasible accuracy vs compute](recommend_comparison.png)", ""]
    return "\n".join(lines)


def _figure(doc: Mapping[str, Any], out: Path) -> list[Path]:
    fig = plot_comparison(doc)
    return save_figure(fig, out / STEM, formats=("png",),
                       provenance={"experiment": NAME, "source": f"{STEM}.json"},
                       seed=int(doc.get("seed", 0)), scale=str(doc["scale"]))


def write_comparison(results: Mapping[str, Any], out: str | Path, command: str,
                     resumed_cells: int = 0) -> list[Path]:
    """Write ``<out>/recommend_comparison.{json,md,png}`` from ``results``; the paths."""
    folder = Path(out)
    doc = dict(results)
    doc.update({"command": command,
                "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                "resumed_cells": resumed_cells,
                "analysis": {"table": _records(comparison_table(doc)),
                             "verdicts": _records(comparison_verdicts(doc)),
                             "controls": _records(comparison_controls(doc))}})
    path = folder / f"{STEM}.json"
    atomic_write_text(path, json.dumps(_clean(doc), indent=1, default=str) + "\n")
    md = folder / f"{STEM}.md"
    atomic_write_text(md, render_comparison(doc))
    return [path, md, *_figure(doc, folder)]


def redraw(out_dir: str | Path) -> list[Path]:
    """Rewrite the ``.md`` and ``.png`` from ``<out_dir>/recommend_comparison.json`` alone."""
    folder = Path(out_dir)
    doc = load_comparison(folder / f"{STEM}.json")
    md = folder / f"{STEM}.md"
    atomic_write_text(md, render_comparison(doc))
    return [*_figure(doc, folder), md]


def run_recommend_experiment(scale: str, seed: int, out: Path) -> Any:
    """Training-free recommendation vs feedback-based search (TPE, NSGA-II) under a latency
    budget; ``seed`` shifts the scale's seeds."""
    from effdl_kit.experiments._registry import make_summary, output_files

    b = CompareBudget.for_scale(scale)
    seeds = tuple(seed + s for s in b.seeds)
    done_before = _count_cells(Path(out))
    results = run_comparison(scale, seeds=seeds, out=out)
    paths = write_comparison(results, out, f"effdl reproduce {NAME} --scale {scale} --seed "
                             f"{seed}", resumed_cells=done_before)
    verdicts = comparison_verdicts(results)
    pooled = verdicts[verdicts["task"] == "all"]
    return make_summary(NAME, scale, seed, metrics={
        "cells": len(results["cells"]), "missing": len(results["missing"]),
        "controls_passed": bool(comparison_controls(results)["passed"].all()),
        "verdicts": {f"{r['comparison']} ({r['at']})": r["verdict"]
                     for _, r in pooled.iterrows()}}, **output_files(paths))


def _count_cells(folder: Path) -> int:
    from ._run import CELLS_FILE

    p = folder / CELLS_FILE
    return sum(1 for ln in p.read_text(encoding="utf-8").splitlines() if ln.strip()) \
        if p.is_file() else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run (or resume) the comparison and write the result files; 2 on bad input."""
    p = argparse.ArgumentParser(prog="python -m effdl_kit.experiments.recommend._main",
                                description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--scale", default="small")
    p.add_argument("--seed", type=int, default=0, help="first seed (shifts the scale's)")
    p.add_argument("--out", default="docs/results", help="folder of the result files")
    p.add_argument("--redraw", action="store_true", help="compute nothing: .md and .png "
                   "from the .json")
    p.add_argument("--finished-only", action="store_true", help="run no new cell: write the "
                   "files from the cells finished in --out (the others listed as missing)")
    a = p.parse_args(argv)
    out = Path(a.out)
    try:
        scale = check_choice("scale", a.scale, SCALES)
        seed = check_int("seed", a.seed, min_value=0, max_value=2**30)
        check_out_dir(out)
        if a.redraw:
            for path in redraw(out):
                print(path)
            return 0
    except (EffdlError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    command = "python -m effdl_kit.experiments.recommend._main " + " ".join(
        sys.argv[1:] if argv is None else argv)
    b = CompareBudget.for_scale(scale)
    done_before = _count_cells(out)
    results = run_comparison(scale, seeds=tuple(seed + s for s in b.seeds), out=out,
                             run_missing=not a.finished_only, progress=lambda d, t, label: print(
                                 f"{time.strftime('%H:%M:%S')} {d}/{t} {label}", flush=True))
    for path in write_comparison(results, out, command, resumed_cells=done_before):
        print(path)
    print(f"environment: {collect_env().summary().splitlines()[0]}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
