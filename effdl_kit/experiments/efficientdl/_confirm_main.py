"""The confirmation by real training as a one-line command: a results file and its report.

::

    python -m effdl_kit.experiments.efficientdl._confirm_main --scale small --out docs/results

runs :func:`~._confirm.confirm` for every seed x task (seed-major, so a partial run covers every
task) and, after each, rewrites ``<out>/efficientdl_confirm.json`` (the rows so far, their
summary, verdicts and drivers: :func:`~._confirm.confirmation_payload`) and
``<out>/efficientdl_confirm.md`` (:func:`render_markdown`), so a run stopped early keeps what
finished. Started again with the same scale, budget, seeds and tasks, it resumes: (task, seed)
pairs already in the file are not run again (``--fresh`` starts over). ``--redraw`` runs
nothing: it rewrites the report and draws ``<out>/efficientdl_confirm.png`` (predicted vs
realised Top-1 beside the realised Top-1 per arm with 95% intervals) from the JSON alone.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from effdl_kit._core.errors import EffdlError
from effdl_kit._core.io import atomic_write_text, check_out_dir
from effdl_kit._core.validate import check_int
from effdl_kit.data import load_component_data
from effdl_kit.experiments.efficientdl._confirm import confirm, confirmation_payload
from effdl_kit.experiments.efficientdl._confirm_analysis import MIN_PAIRS
from effdl_kit.experiments.efficientdl._confirm_figures import draw_confirmation
from effdl_kit.experiments.efficientdl._confirm_records import ConfirmRow
from effdl_kit.experiments.efficientdl._confirm_settings import (
    ARM_LABELS,
    TASKS,
    ConfirmBudget,
)
from effdl_kit.reports import paper_style_context, save_figure

__all__ = ["RESULT_STEM", "main", "redraw_files", "render_markdown", "run_to_files"]

#: File stem of the results under ``--out``.
RESULT_STEM = "efficientdl_confirm"
COMMAND = "python -m effdl_kit.experiments.efficientdl._confirm_main"


def _load() -> tuple[float, float, float]:
    try:
        return os.getloadavg()
    except OSError:  # not available on every platform
        return (float("nan"),) * 3


def _pts(x: Any) -> str:
    return "–" if x is None or pd.isna(x) else f"{100 * float(x):+.1f}"


def _acc(x: Any) -> str:
    return "–" if x is None or pd.isna(x) else f"{float(x):.3f}"


def render_markdown(record: dict[str, Any]) -> str:
    """The report of a results record (:func:`run_to_files`'s JSON) as Markdown.

    Returns
    -------
    str
        Command, machine and load, status, then per task: every arm's predicted and realised
        Top-1 with 95% intervals, every verdict with its interval (points), the driver.
    """
    rows = pd.DataFrame(record["rows"])
    summary = pd.DataFrame(record["summary"])
    verdicts = pd.DataFrame(record["verdicts"])
    drivers = pd.DataFrame(record["drivers"])
    m = record["machine"]
    n_pairs = len(rows)
    status = ("complete" if record["complete"]
              else f"PARTIAL: {n_pairs} of {len(record['tasks']) * len(record['seeds'])} "
                   "(task, seed) pairs finished")
    lines = [
        "# EfficientDL confirmation by real training: search failure vs predictor failure",
        "",
        f"Written by `{record['command']}` ({record['scale']} scale, seeds "
        f"{record['seeds'][0]}..{record['seeds'][-1]}, tasks {', '.join(record['tasks'])}); "
        f"{status}; {record['time_s'] / 60:.1f} min.",
        "",
        f"Machine: {m['cpus']} CPUs ({m['platform']}, Python {m['python']}), shared with other "
        f"jobs: load average {m['load_start'][0]:.1f} at the start, "
        f"{m['load_end'][0]:.1f} at the end (1-minute); wall times are noisy, accuracies are "
        "not affected (every training is seeded).",
        "",
        f"Figure: `{RESULT_STEM}.png` (`{COMMAND} --out <dir> --redraw` draws it from this "
        "file's JSON): predicted vs realised Top-1 of every trained arm, and the realised "
        "Top-1 per task and arm with 95% intervals (dotted: the predictor's mean value).",
        "",
        f"αβ-BO: kernel `{record['budget']['kernel']}`, incumbent "
        f"`{record['budget']['incumbent']}`, {record['budget']['bo_iter']} iterations; TPE: "
        f"{record['budget']['tpe_trials']} trials, each a training; every arm trained once "
        "with the seed's training seed. Intervals: 95% bootstrap over seeds (arms: percentile "
        "of the mean; differences: bootstrap-t of the paired per-seed difference). A verdict "
        f"needs {MIN_PAIRS} seeds.",
        "",
    ]
    if len(drivers):
        lines += ["## Summary", ""]
        for _, d in drivers.iterrows():
            v = verdicts[verdicts["task"] == d["task"]].set_index("key")
            head = v.loc["headline"] if "headline" in v.index else None
            lines.append(
                f"- **{d['task']}**: driver **{d['driver']}**"
                + ("" if head is None else
                   f"; αβ-BO's pick − TPE {_pts(head['diff'])} points [{_pts(head['lo'])}, "
                   f"{_pts(head['hi'])}] ({head['verdict']})") + ".")
        t = summary.groupby("arm")["time_s"].mean()
        if {"alpha_beta", "argmax", "tpe"} <= set(t.index):
            lines += [
                f"- Mean wall time per (task, seed): αβ-BO's recommendation + its training "
                f"{t['alpha_beta']:.1f} s; the predictor's exhaustive argmax (predictor fit + "
                f"one batched pass over the grid) + its training {t['argmax']:.1f} s; the TPE "
                f"study ({record['budget']['tpe_trials']} trainings) {t['tpe']:.1f} s.", ""]
        else:
            lines.append("")
    for task in pd.unique(summary["task"]) if len(summary) else []:
        part = rows[rows["task"] == task]
        lines += [f"## {task}", "", "| arm | n | predicted | realised [95% CI] | realised − "
                  "predicted [95% CI] | time (s) |", "|---|---|---|---|---|---|"]
        for _, s in summary[summary["task"] == task].iterrows():
            lines.append(
                f"| {ARM_LABELS.get(s['arm'], s['arm'])} | {s['n_ok']} | {_acc(s['predicted'])} "
                f"| {_acc(s['realised'])} [{_acc(s['realised_lo'])}, {_acc(s['realised_hi'])}] "
                f"| {_pts(s['error'])} [{_pts(s['error_lo'])}, {_pts(s['error_hi'])}] pts "
                f"| {float(s['time_s']):.1f} |")
        ranks = part["alpha_beta_rank"].astype(int).tolist()
        lines += [
            "",
            f"αβ-BO's pick, rank among the {int(part['n_candidates'].median())} grid "
            f"candidates by predicted accuracy (1 = the argmax), per seed: {ranks}; mean "
            f"search regret on the predictor {_pts(part['search_regret'].mean())} points. "
            f"Time TPE / EfficientDL (recommendation + 1 training): "
            f"{part['time_ratio'].mean():.2f}x (mean over seeds).",
            "", "| comparison | a − b | n | mean [95% CI] (points) | verdict |",
            "|---|---|---|---|---|"]
        for _, v in verdicts[verdicts["task"] == task].iterrows():
            ab = (f"{v['a']}: realised − predicted" if v["measure"] == "error"
                  else f"{v['a']} − {v['b']} ({v['measure']})")
            lines.append(f"| {v['key']} | {ab} | {v['n']} | {_pts(v['diff'])} "
                         f"[{_pts(v['lo'])}, {_pts(v['hi'])}] | {v['verdict']} |")
        for _, d in drivers[drivers["task"] == task].iterrows():
            lines += ["", f"**Driver: {d['driver']}.** {d['reason']}."]
        lines.append("")
    return "\n".join(lines) + "\n"


def redraw_files(out: Path) -> list[Path]:
    """Rewrite ``<out>/efficientdl_confirm.md`` and draw ``<out>/efficientdl_confirm.png``
    from ``<out>/efficientdl_confirm.json`` alone; returns the paths written."""
    record = json.loads((out / f"{RESULT_STEM}.json").read_text())
    atomic_write_text(out / f"{RESULT_STEM}.md", render_markdown(record))
    rows = pd.DataFrame(record["rows"])
    with paper_style_context():
        fig = draw_confirmation(rows, pd.DataFrame(record["summary"]))
        paths = save_figure(fig, out / RESULT_STEM, formats=("png",),
                            provenance={"command": record["command"]},
                            scale=record["scale"], dpi=150)
    return [out / f"{RESULT_STEM}.md", *paths]


def _write(out: Path, record: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / f"{RESULT_STEM}.json", json.dumps(record, indent=1) + "\n")
    atomic_write_text(out / f"{RESULT_STEM}.md", render_markdown(record))


def run_to_files(out: Path, *, scale: str, seeds: Sequence[int], tasks: Sequence[str],
                 command: str, fresh: bool = False,
                 log: Any = None) -> dict[str, Any]:
    """Run (or resume) the confirmation into ``out``; the record written after every pair.

    Returns
    -------
    dict
        The final record (what ``<out>/efficientdl_confirm.json`` holds).
    """
    budget = ConfirmBudget.for_scale(scale)
    path = out / f"{RESULT_STEM}.json"
    done: list[dict[str, Any]] = []
    previous_s = 0.0
    if path.exists() and not fresh:
        old = json.loads(path.read_text())
        if (old.get("scale"), old.get("budget"), old.get("seeds"), old.get("tasks")) == (
                scale, budget.to_dict(), list(seeds), list(tasks)):
            done = list(old["rows"])
            previous_s = float(old.get("time_s", 0.0))
    have = {(r["task"], int(r["seed"])) for r in done}
    machine = {"cpus": os.cpu_count(), "platform": platform.platform(),
               "python": platform.python_version(), "load_start": list(_load())}
    data = load_component_data("kit")
    t0 = time.perf_counter()
    order = {t: k for k, t in enumerate(tasks)}

    def record() -> dict[str, Any]:
        frame = pd.DataFrame(done, columns=list(ConfirmRow.__dataclass_fields__))
        frame["_order"] = frame["task"].map(order)
        frame = frame.sort_values(["_order", "seed"], kind="stable").drop(columns="_order")
        frame = frame.reset_index(drop=True)
        empty: dict[str, list[Any]] = {"rows": [], "summary": [], "verdicts": [], "drivers": []}
        return {
            "experiment": RESULT_STEM, "command": command, "scale": scale,
            "seeds": list(seeds), "tasks": list(tasks), "budget": budget.to_dict(),
            "machine": {**machine, "load_end": list(_load())},
            "complete": len(frame) == len(seeds) * len(tasks),
            "time_s": previous_s + time.perf_counter() - t0,
            **(confirmation_payload(frame) if len(frame) else empty),
        }

    todo = [(s, t) for s in seeds for t in tasks if (t, s) not in have]
    for i, (seed, task) in enumerate(todo, start=1):
        row = confirm(task, scale=scale, seed=seed, data=data)  # type: ignore[arg-type]
        done.append(json.loads(json.dumps(row.to_dict(), default=str)))
        if log is not None:
            print(f"[{i}/{len(todo)}] {task} seed {seed}: αβ {row.efficientdl_top1:.3f}, "
                  f"TPE {row.automl_top1:.3f}, rank {row.alpha_beta_rank}", file=log,
                  flush=True)
        _write(out, record())
    final = record()
    _write(out, final)
    return final


def main(argv: Sequence[str] | None = None) -> int:
    """The command line (see the module docstring); returns the exit status."""
    p = argparse.ArgumentParser(prog=COMMAND, description=__doc__.splitlines()[0])
    p.add_argument("--scale", choices=("smoke", "small", "paper"), default="small")
    p.add_argument("--out", type=Path, default=Path("docs/results"))
    p.add_argument("--seeds", type=int, default=None,
                   help="number of seeds (default: the scale's n_seeds)")
    p.add_argument("--seed0", type=int, default=0, help="first seed")
    p.add_argument("--tasks", nargs="+", choices=tuple(TASKS), default=list(TASKS))
    p.add_argument("--fresh", action="store_true", help="do not resume an existing file")
    p.add_argument("--redraw", action="store_true",
                   help="run nothing: report and figure from the JSON in --out")
    args = p.parse_args(argv)
    if args.redraw:
        for path in redraw_files(args.out):
            print("wrote", path)
        return 0
    n = ConfirmBudget.for_scale(args.scale).n_seeds if args.seeds is None else args.seeds
    try:  # bad input: one line and exit code 2, before any training
        check_int("--seeds", n, min_value=1)
        check_int("--seed0", args.seed0, min_value=0)
        check_out_dir(args.out, "--out")
    except (EffdlError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    given = sys.argv[1:] if argv is None else list(argv)
    command = " ".join([COMMAND, *map(shlex.quote, given)])
    final = run_to_files(args.out, scale=args.scale,
                         seeds=list(range(args.seed0, args.seed0 + n)), tasks=args.tasks,
                         command=command, fresh=args.fresh, log=sys.stderr)
    print(f"wrote {args.out / RESULT_STEM}.json and .md "
          f"({'complete' if final['complete'] else 'partial'})")
    return 0


if __name__ == "__main__":  # pragma: no cover - the command line
    raise SystemExit(main())
