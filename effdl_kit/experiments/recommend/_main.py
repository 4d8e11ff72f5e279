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
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from effdl_kit._core.env import collect_env
from effdl_kit._core.errors import DataError, EffdlError
from effdl_kit._core.io import atomic_write_text, check_out_dir
from effdl_kit._core.jsonable import json_ready, records
from effdl_kit._core.validate import SCALES, check_choice, check_int
from effdl_kit.reports import markdown_table, save_figure

from ._analysis import (
    DELTA,
    LOSE,
    NOISE,
    WIN,
    break_even,
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
_BREAK_COLS = {"task": "task", "budget": "budget", "feedback": "feedback study",
               "cells": "cells", "reached": "reached recommend's accuracy",
               "never": "never did", "median_trainings_to_reach": "trainings needed (median)",
               "break_even_s": "break-even s / training",
               "break_even_amortised_s": "break-even s / training, prepare amortised",
               "median_training_s": "s / training here (median)"}
_CONTROL_COLS = {"task": "task", "budget": "budget", "control": "control", "n_seeds": "n",
                 "diff": "mean", "ci_low": "CI low", "ci_high": "CI high",
                 "verdict": "verdict", "expected": "expected", "passed": "passed"}


_AT_WORDS = {"end": "at the end", "matched": "at the recommend route's compute",
             "amortised": "at the recommend route's compute without its one-off prepare",
             "other_compute": "at the feedback study's compute"}


def _plain_words(verdicts: pd.DataFrame, table: pd.DataFrame,
                 prepare_s: Mapping[str, float], match_compute: bool = False) -> list[str]:
    word = {WIN: "**wins**", LOSE: "**loses**", NOISE: "within noise"}
    lines = []
    for (task, budget), g in verdicts.groupby(["task", "budget"], sort=False):
        place = "All cells pooled" if task == "all" else f"{task}, {budget} budget"
        parts = []
        for other, h in g.groupby("comparison", sort=False):
            reads = ", ".join(f"{_AT_WORDS[r['at']]} {word[r['verdict']]} ({r['diff']:+.3f} "
                              f"[{r['ci_low']:+.3f}, {r['ci_high']:+.3f}])"
                              for _, r in h.iterrows())
            parts.append(f"vs {str(other).split(' - ')[1]}: {reads}; the study spent "
                         f"{h['compute_ratio'].iloc[0]:.2f}x the recommend route's compute")
        lines.append(f"- {place}: " + "; ".join(parts) + ".")
    end = verdicts[verdicts["at"] == "end"]["diff"].to_numpy()
    matched = verdicts[verdicts["at"] == "matched"]["diff"].to_numpy()
    if len(end) and np.allclose(end, matched):
        lines.append("- 'At the recommend route's compute' equals 'at the end' in every row: "
                     + ("each feedback study ran until it had spent the recommend route's "
                        "compute (by design)." if match_compute else
                        "every feedback study had finished with less compute than the "
                        "recommend route spent."))
    counts = verdicts["verdict"].value_counts()
    lines.append(f"- Overall: training-free wins in {int(counts.get(WIN, 0))}, loses in "
                 f"{int(counts.get(LOSE, 0))}, within noise in {int(counts.get(NOISE, 0))} of "
                 f"{len(verdicts)} comparisons.")
    rec = table[table["method"] == "recommend"]
    fb = table[table["method"].isin(["tpe", "nsga2"])]
    if len(rec) and len(fb):
        prep = sum(prepare_s.values()) / max(len(prepare_s), 1)
        lines.append(
            f"- Compute per cell (mean): recommend {rec['compute_s'].mean():.1f} s for "
            f"{rec['n_trainings'].mean():.0f} trainings, of which prepare {prep:.1f} s "
            f"(one-off per task: a further budget costs the recommend route only "
            f"{rec['compute_s'].mean() - prep:.1f} s); feedback studies "
            f"{fb['compute_s'].mean():.1f} s for {fb['n_trainings'].mean():.0f} trainings. "
            f"Share of trainings within the budget: recommend "
            f"{rec['share_feasible'].mean():.2f}, feedback {fb['share_feasible'].mean():.2f}; "
            f"cells without any feasible training: recommend {int(rec['no_feasible'].sum())}"
            f", tpe {int(fb[fb['method'] == 'tpe']['no_feasible'].sum())}, nsga2 "
            f"{int(fb[fb['method'] == 'nsga2']['no_feasible'].sum())}.")
    return lines


def _repeats_text(n_seeds: int, per: pd.DataFrame, controls: pd.DataFrame) -> str:
    """What the repeats can tell, from the CI widths and the controls."""
    if not len(per):
        return "No finished cell."
    half = per.groupby(["task", "budget"], sort=False)["ci_width"].median() / 2
    pos = controls[controls["control"].str.startswith("positive")
                   & (controls["task"] != "all")].set_index(["task", "budget"])
    neg_ok = bool(controls[controls["control"].str.startswith("negative")]["passed"].all())
    text = [f"{n_seeds} seeds per task x budget. Median half-width of the 95 % CIs (about the "
            "smallest difference these repeats can tell from noise): "
            + "; ".join(f"{t}, {b} {h:.3f}" for t, b, h in zip(
                half.index.get_level_values(0), half.index.get_level_values(1), half,
                strict=True)) + ". "
            + ("The A/A control is within noise everywhere." if neg_ok else
               "The A/A control is NOT within noise everywhere (table above).")]
    missed = [f"{t}, {b}" for t, b, ok in zip(pos.index.get_level_values(0),
                                              pos.index.get_level_values(1), pos["passed"],
                                              strict=True) if not ok]
    if missed:
        text.append(f"The injected +{DELTA:g} is NOT detected in {'; '.join(missed)}: there "
                    f"the repeats do not suffice for effects of that size (a method without a "
                    f"feasible training scores 0, so one infeasible seed moves a mean by a "
                    f"large step); a verdict there is only trustworthy for differences well "
                    f"beyond the CI half-width, and 'within noise' there does not mean 'equal'.")
    else:
        text.append(f"The injected +{DELTA:g} is detected in every task x budget: the repeats "
                    "suffice for effects of that size.")
    return " ".join(text)


def render_comparison(doc: Mapping[str, Any]) -> str:
    """The result document in Markdown (tables recomputed from the cells)."""
    s = doc["settings"]
    cells = doc["cells"]
    table = comparison_table(doc)
    verdicts = comparison_verdicts(doc)
    controls = comparison_controls(doc)
    first = {c["task"]: c for c in reversed(cells)}  # each task's first cell
    space = [f"- {t}: searched (the same for every method) "
             + "; ".join(f"{n} {v}" for n, v in zip(c["components"], c["values"], strict=True))
             + f". Fixed: {c['fixed']}." for t, c in first.items()]
    seeds = sorted({c["seed"] for c in cells})
    trials = (f"at least {s['n_trials']} trainings, then on until it has spent the same "
              f"cell's recommend-route compute (prepare included), at most {s['max_trials']}"
              if s.get("match_compute") else f"{s['n_trials']} trainings")
    per = verdicts[verdicts["task"] != "all"]
    prep = ", ".join(f"{t} {v:.1f} s" for t, v in doc.get("prepare_s", {}).items())
    passed = bool(controls["passed"].all()) if len(controls) else False
    env = doc.get("env", {})
    missing = doc.get("missing", [])
    lines = [
        "# Training-free recommendation vs feedback-based search (issue 19, item 3)", "",
        f"Written by `{doc['command']}` on {doc['date']} ({env.get('cpu_model', '?')}, "
        f"{env.get('cores_logical', '?')} logical cores, shared with other jobs); scale "
        f"`{doc['scale']}`, run wall time {doc['wall_s'] / 60:.1f} min"
        + (f" (this invocation; {doc['resumed_cells']} cells came from the resumable records "
           f"of an earlier invocation)" if doc.get("resumed_cells") else "")
        + f"; the cells' own wall time summed: "
        f"{sum(float(c.get('wall_s', 0.0)) for c in cells) / 60:.1f} min (prepare not "
        "included).", "",
        "## Setup", "",
        f"- Tasks {s['tasks']}, device `{doc['device']}`; latency budgets (ms, batch 1, "
        f"measured after training): {s['budgets_ms']} (tight: about the 25th percentile of "
        "the grid's measured latency, loose: about the 80th; see `_settings.py`).",
        *space,
        f"- recommend: `recommend(...)` on `prepare(task, 'cpu', seed=0)`'s parts (prepare "
        f"ran once per task: {prep}; charged in full to every recommend run of that task), "
        f"then its top {s['top_k']} trained in rank order. recommend_b: the same with search "
        f"and training seed + {s['aa_seed_offset']} (A/A arm).",
        f"- tpe: Optuna TPESampler(seed, n_startup_trials={s['tpe_startup']}, "
        f"constraint = measured latency - budget), {trials}. nsga2: "
        f"NSGAIISampler(seed, population_size={s['population_size']}) on (max accuracy, min "
        f"measured latency), {trials}.",
        ("- The recommend route runs first in each cell (the feedback studies need its "
         "compute); the other three run in an order drawn per cell (seeded by the cell's "
         "name), so a drift of the machine's load favours none of them."
         if s.get("match_compute") else
         "- The four methods of a cell run in an order drawn per cell (seeded by the cell's "
         "name), so a drift of the machine's load favours no method."),
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
        "## Where the training-free route starts to pay", "",
        "How many trainings each feedback study needed to reach the recommend route's best "
        "feasible accuracy of the same cell, and the training cost above which the feedback "
        "study spends more than the recommend route for that accuracy: the route's overhead "
        "(prepare + search seconds) over the extra trainings the study needed (median over the "
        "cells where it reached it with more trainings than the route); with the prepare "
        "amortised (a further budget or seed on a prepared task), its search alone:", "",
        *markdown_table(break_even(doc).rename(columns=_BREAK_COLS), float_format="{:.3g}")
        .splitlines(), "",
        "## Repeats", "",
        _repeats_text(len(seeds), per, controls), "",
        "## In plain words", "", *_plain_words(verdicts, table, doc.get("prepare_s", {}),
                                              bool(s.get("match_compute"))), "",
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
                # a result written again from its cells keeps the date they were written
                "date": results.get("date") or time.strftime("%Y-%m-%d %H:%M UTC",
                                                             time.gmtime()),
                "resumed_cells": resumed_cells,
                "analysis": {"table": records(comparison_table(doc)),
                             "verdicts": records(comparison_verdicts(doc)),
                             "controls": records(comparison_controls(doc))}})
    path = folder / f"{STEM}.json"
    atomic_write_text(path, json.dumps(json_ready(doc), separators=(",", ":"), default=str) + "\n")
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
