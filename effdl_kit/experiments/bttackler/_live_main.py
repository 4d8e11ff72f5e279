"""The live BTTackler experiment as one command, writing the committed result files.

``python -m effdl_kit.experiments.bttackler._live_main --scale small --out docs/results`` runs
:func:`~._live.run_bttackler_live` (resumable: repeats already in the JSON file are not rerun)
and writes

* ``bttackler_live.json``: budget, every trial record per arm and repeat, the summary with
  CIs, the machine and versions, and (``--traces``) the replay of the same question on the
  trace dataset, for comparison;
* ``bttackler_live.md``: the tables in words (:func:`render_live_markdown`) with the command;
* ``bttackler_live.png``: best-so-far curves on the epoch clock and TSBA per repeat.

Bad input gives one line on stderr and exit code 2, before any training.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from effdl_kit._core.errors import DatasetNotFoundError, EffdlError
from effdl_kit._core.io import atomic_write_text, check_out_dir
from effdl_kit._core.jsonable import as_float
from effdl_kit._core.validate import SCALES, check_choice, check_int
from effdl_kit.reports import markdown_table

from ._live import LIVE_FILE, LIVE_METHODS, LIVE_PRESETS, LiveBudget, run_bttackler_live
from ._live_analysis import replay_reference
from ._live_figures import redraw_live
from ._settings import PAPER
from ._traces import TRACE_TASKS, TraceTaskName, kit_traces_path, load_traces

__all__ = ["main", "render_live_markdown"]

STEM = "bttackler_live"
#: The trace task whose natural rows the replay reference uses (the same CNN space).
REPLAY_TASK: TraceTaskName = "cnn_synthetic"


def _ci(q: Mapping[str, Any], digits: int = 2) -> str:
    lo, hi = as_float(q.get("lo")), as_float(q.get("hi"))
    if math.isnan(lo) or math.isnan(hi):
        return ""
    return f"[{lo:.{digits}f}, {hi:.{digits}f}]"


def _num(x: Any, digits: int = 2) -> str:
    v = as_float(x)
    return "" if math.isnan(v) else f"{v:.{digits}f}"


def _quantity_table(summary: Mapping[str, Any]) -> list[str]:
    rows = [{"quantity": q["label"], "mean": _num(q["mean"], 3), "95 % CI": _ci(q, 3),
             "n repeats": q["n"], "verdict": q["verdict"] or ""}
            for q in summary["quantities"]]
    return markdown_table(pd.DataFrame(rows)).splitlines()


def _repeat_table(doc: Mapping[str, Any]) -> list[str]:
    rows = []
    for rep, row in zip(doc["repeats"], doc["summary"]["per_repeat"], strict=True):
        bt = rep["arms"]["bttackler"]["trials"]
        fired: dict[str, int] = {}
        for t in bt:
            for code in t.get("indicators", []):
                fired[code] = fired.get(code, 0) + 1
        rows.append({"repeat": rep["repeat"], "first": rep["first"],
                     "trials plain": int(row["trials_plain"]),
                     "trials BTTackler": int(row["trials_bttackler"]),
                     "stopped": sum(bool(t.get("stopped")) for t in bt),
                     "indicators": ", ".join(f"{k} {v}" for k, v in sorted(fired.items())),
                     "TSBA epochs %": _num(row["tsba_epochs"], 1),
                     "TSBA wall %": _num(row["tsba_wall"], 1),
                     "Top10HR %": _num(row["top10hr"], 1),
                     "best plain": _num(row["best_plain"], 4),
                     "best BTTackler": _num(row["best_bttackler"], 4),
                     "wall s": _num(rep["wall_s"], 0)})
    return markdown_table(pd.DataFrame(rows)).splitlines()


def _where(value: float, q: Mapping[str, Any]) -> str:
    lo, hi = as_float(q.get("lo")), as_float(q.get("hi"))
    if math.isnan(lo) or math.isnan(hi):
        return "(no interval) beside"
    return "inside" if lo <= value <= hi else "above" if value > hi else "below"


def _overlap(a: Mapping[str, Any], b: Mapping[str, Any]) -> str:
    alo, ahi, blo, bhi = (as_float(a.get("lo")), as_float(a.get("hi")),
                          as_float(b.get("lo")), as_float(b.get("hi")))
    if any(math.isnan(v) for v in (alo, ahi, blo, bhi)):
        return "n/a"
    return "yes" if alo <= bhi and blo <= ahi else "no"


def _replay_lines(doc: Mapping[str, Any]) -> list[str]:
    rep = doc.get("replay")
    if not rep:
        return ["No replay reference in this file (run with `--traces PATH`).", ""]
    qs = {q["quantity"]: q for q in doc["summary"]["quantities"]}
    pairs = [("TSBA, epoch clock (%)", "tsba_epochs", "tsba"),
             ("Top10HR (%)", "top10hr", "top10hr"),
             ("BTTackler trials stopped (%)", "stop_share", "stop_rate"),
             ("epochs saved (%)", "epochs_saved", "epochs_saved"),
             ("stops that were bad (%)", "stop_precision", "precision")]
    rows = []
    for label, live_key, rep_key in pairs:
        lq, rq = qs[live_key], rep["quantities"][rep_key]
        rows.append({"quantity": label, "live mean": _num(lq["mean"], 1),
                     "live 95 % CI": _ci(lq, 1), "replay mean": _num(rq["mean"], 1),
                     "replay 95 % CI": _ci(rq, 1), "intervals overlap": _overlap(lq, rq)})
    return [
        f"## Agreement with the replay ({rep['n_traces']} natural `{REPLAY_TASK}` traces of "
        f"{rep['trace_epochs']} epochs, {rep['n_orderings']} random orderings, budget "
        f"{rep['budget_epochs']:g} epochs = the same number of full trials)", "",
        "The replay's interval is over orderings of one fixed set of traces (it measures the "
        "ordering noise only); the live interval is over repeats (new configurations, data "
        "split and machine noise). The replay counts only trials finished within the budget, "
        "the live arms also count the trial that crosses it. The traces train on "
        f"{rep.get('trace_samples', '?')} generated samples (70 % of them for training), the "
        "live runs on the split above; \"bad\" is the "
        "bottom quartile of all traces' final accuracies in the replay, of the plain arm's "
        "results of the same repeat in the live runs.", "",
        *markdown_table(pd.DataFrame(rows)).splitlines(), ""]


def render_live_markdown(doc: Mapping[str, Any]) -> str:
    """The results document in Markdown: setup, summary with CIs, verdicts, per-repeat table,
    the comparison with the replay."""
    b, data, s = doc["budget"], doc["data"], doc["summary"]
    qs = {q["quantity"]: q for q in s["quantities"]}
    steps = ", ".join(f"batch {k}: {v}" for k, v in data["steps_per_epoch"].items())
    env = doc.get("env", {})
    t = qs["tsba_epochs"]
    width = as_float(t["hi"]) - as_float(t["lo"])
    comps = s.get("comparisons", {})
    comp_lines = [f"- {name}: BTTackler − plain {_num(c['diff'], 3)} "
                  f"[{_num(c['lo'], 3)}, {_num(c['hi'], 3)}] → **{c['verdict']}**"
                  for name, c in comps.items() if c]
    lines = [
        "# BTTackler, live: paired plain and BTTackler HPO runs on an epoch budget", "",
        f"Written by `{doc.get('command') or 'run_bttackler_live'}` on {doc.get('date', '?')} "
        f"({env.get('cpu_model', '?')}, {env.get('cores_logical', '?')} logical cores; other "
        f"jobs ran on the machine, so wall and CPU seconds are indicative). Wall time "
        f"{as_float(doc.get('wall_s')) / 60:.1f} min.", "",
        "## Setup", "",
        f"- Task: the experiment's CNN search space (`SEARCH_SPACES['cnn']`, `{b['space']}` "
        f"ranges, batch sizes {b['batches']}) on {b['n_samples']} generated "
        f"{b['image_size']}x{b['image_size']} images (difficulty {b['difficulty']}): "
        f"{data['n_train']} train / {data['n_val']} validation / {data['n_test']} test; "
        f"steps per epoch {steps}.",
        f"- {b['epochs']} epochs per full trial (StepLR x0.7 per epoch); budget per arm "
        f"{b['epoch_budget']} epochs ({b['epoch_budget'] // b['epochs']} full trials); the "
        "trial that crosses the budget runs to its end (or stop) and counts.",
        f"- HPO method `{b['method']}` (seeded; with Random both arms draw the same "
        "configurations in the same order and trial n trains with the same seed, so the "
        f"stopping is the only difference); BTTackler preset `{b['preset']}`, report mode "
        "(a stopped trial's result is its current validation accuracy).",
        f"- {s['n_repeats']} paired repeats; the two arms of a repeat ran at the same time in "
        "two processes (one torch thread each), the arm submitted first alternating.", "",
        f"## Summary over {s['n_repeats']} repeats (mean, 95 % percentile bootstrap interval "
        "over repeats; verdict against TSBA 0 / Top10HR 50 / difference 0)", "",
        *_quantity_table(s), "",
        "Arms compared with the kit's `compare` (bootstrap-t, arms resampled independently; "
        "positive = BTTackler higher):", "", *comp_lines, "",
        f"How far this can see: with {s['n_repeats']} repeats the interval of the mean TSBA "
        f"on the epoch clock is {width:.1f} percentage points wide, so an effect smaller than "
        f"about {width / 2:.0f} points cannot be told from noise here; the paper's "
        f"{PAPER['tsba']:g} % TSBA lies {_where(PAPER['tsba'], t)} it, its "
        f"{PAPER['top10hr']:g} % Top10HR {_where(PAPER['top10hr'], qs['top10hr'])} ours. A "
        "percentile bootstrap over so few repeats under-covers (the true 95 % interval is "
        "wider).", "",
        "## Per repeat", "", *_repeat_table(doc), "",
        *_replay_lines(doc),
    ]
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m effdl_kit.experiments.bttackler._live_main",
                                description="live BTTackler experiment -> result files")
    p.add_argument("--scale", default="small", help=f"one of {list(SCALES)}")
    p.add_argument("--seed", default="0", help="base seed (int >= 0)")
    p.add_argument("--out", default="docs/results", help="folder of the result files")
    p.add_argument("--repeats", default=None, help="override the scale's repeats")
    p.add_argument("--epoch-budget", default=None, help="override the epochs per arm")
    p.add_argument("--method", default=None, help=f"one of {list(LIVE_METHODS)}")
    p.add_argument("--preset", default=None, help=f"one of {list(LIVE_PRESETS)}")
    p.add_argument("--traces", default=None,
                   help="trace dataset for the replay reference (default: the kit's, when "
                        "present; 'none': skip)")
    return p


def _int(field: str, text: str) -> int:
    return check_int(field, int(text) if text.isdigit() else text, min_value=1)


def main(argv: Sequence[str] | None = None) -> int:
    """Run (or resume) the experiment and write the result files; exit code (0 ok, 2 bad
    input)."""
    args = _parser().parse_args(argv)
    try:
        scale = check_choice("scale", args.scale, SCALES)
        seed = check_int("seed", int(args.seed) if args.seed.isdigit() else args.seed,
                         min_value=0)
        changes: dict[str, Any] = {}
        if args.repeats is not None:
            changes["repeats"] = _int("--repeats", args.repeats)
        if args.epoch_budget is not None:
            changes["epoch_budget"] = _int("--epoch-budget", args.epoch_budget)
        if args.method is not None:
            changes["method"] = check_choice("method", args.method, LIVE_METHODS)
        if args.preset is not None:
            changes["preset"] = check_choice("preset", args.preset, LIVE_PRESETS)
        budget = dataclasses.replace(LiveBudget.for_scale(scale), **changes)
        out = check_out_dir(args.out, "--out")
        traces = None
        if args.traces is None:  # the kit's trace dataset when this checkout has it
            try:
                traces = load_traces(kit_traces_path(), task=REPLAY_TASK, injected=False)
            except DatasetNotFoundError:
                print("note: no trace dataset, no replay reference", file=sys.stderr)
        elif args.traces != "none":
            traces = load_traces(args.traces, task=REPLAY_TASK, injected=False)
    except (EffdlError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    argv_text = " ".join(sys.argv[1:] if argv is None else argv)
    command = f"python -m effdl_kit.experiments.bttackler._live_main {argv_text}".strip()
    t0 = time.perf_counter()

    def progress(done: int, total: int, label: str) -> None:
        print(f"[{time.perf_counter() - t0:7.0f} s] {done}/{total} {label}", file=sys.stderr,
              flush=True)

    doc = run_bttackler_live(scale, seed, out, budget=budget, command=command,
                             progress=progress)
    doc["date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    doc["wall_s"] = sum(float(r["wall_s"]) for r in doc["repeats"])
    if traces is not None:
        doc["replay"] = {**replay_reference(traces, trials=budget.epoch_budget // budget.epochs,
                                            config=budget.diagnosis(), seed=seed),
                         "trace_task": REPLAY_TASK,
                         "trace_samples": TRACE_TASKS[REPLAY_TASK].data_params["n_samples"]}
    atomic_write_text(out / LIVE_FILE, json.dumps(doc, indent=None) + "\n")
    atomic_write_text(out / f"{STEM}.md", render_live_markdown(doc) + "\n")
    redraw_live(doc, out / STEM)
    print(f"wrote {out / STEM}.json, .md, .png", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
