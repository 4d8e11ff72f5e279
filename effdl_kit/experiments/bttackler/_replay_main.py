"""The BTTackler replay study as one command, writing the committed result files.

``python -m effdl_kit.experiments.bttackler._replay_main --scale small --out docs/results``
runs :func:`~._replay_study.run_replay_study` on the kit's trace dataset
(``data/bttackler_traces_cpu.jsonl``, or ``--traces FILE``) and writes

* ``bttackler_replay.json``: the study (summary with CIs, indicators, SC evidence, budgets)
  with the command, the date and the machine;
* ``bttackler_replay.md``: the tables and verdicts in words (:func:`render_markdown`);
* ``bttackler_replay.png``: the study's figure (:func:`replay_figure`).

Bad input gives one line on stderr and exit code 2, before any work.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd

from effdl_kit._core.env import collect_env
from effdl_kit._core.errors import ConfigError, EffdlError
from effdl_kit._core.io import atomic_write_text, check_out_dir
from effdl_kit._core.validate import SCALES
from effdl_kit.reports import markdown_table, save_figure

from ._replay_figures import RULE_LABELS, replay_figure
from ._replay_study import RANDOM_CONTROL, ReplayStudy, run_replay_study
from ._settings import PAPER

__all__ = ["STEM", "main", "render_markdown", "write_replay_results"]

STEM = "bttackler_replay"


def _ci(m: float, lo: float, hi: float, digits: int = 1) -> str:
    return f"{m:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def _verdict_rows(study: ReplayStudy, setting: str, rules: Sequence[str]) -> pd.DataFrame:
    v = study.verdicts(setting)
    v = v[v["rule"].isin(rules)]
    return pd.DataFrame({
        "task": v["task"], "rule": [RULE_LABELS.get(r, r) for r in v["rule"]],
        "TSBA % [95 % CI]": [_ci(a, b, c) for a, b, c in zip(v["tsba"], v["tsba_lo"],
                                                              v["tsba_hi"], strict=True)],
        "Top10HR % [CI]": [_ci(a, b, c) for a, b, c in zip(v["top10hr"], v["top10hr_lo"],
                                                            v["top10hr_hi"], strict=True)],
        "epochs saved %": [f"{100 * x:.1f}" for x in v["epochs_saved"]],
        "stopped %": [f"{100 * x:.1f}" for x in v["stop_rate"]],
        "trials (plain)": [f"{a:.1f} ({b:.1f})" for a, b in zip(v["trials_finished"],
                                                                v["baseline_finished"],
                                                                strict=True)],
        "verdict": v["verdict"]})


def _indicator_rows(study: ReplayStudy, rule: str) -> pd.DataFrame:
    ind = study.indicators
    ind = ind[(ind["setting"] == "random") & (ind["rule"] == rule)]
    return pd.DataFrame({"task": ind["task"], "indicator": ind["indicator"],
                         "stops (pooled)": ind["flagged"].astype(int),
                         "precision": ind["precision"], "recall": ind["recall"]})


def render_markdown(doc: Mapping[str, Any]) -> str:
    """The result file in Markdown: setup, verdicts per setting, controls, indicators, SC."""
    study = ReplayStudy.from_dict(doc["study"])
    b = study.budget
    tasks = study.tasks
    compared = ["bttackler", "bttackler_faithful", "median", "curvefit"]
    lines = [
        "# BTTackler replay: stop rules on recorded traces, over random trial orderings", "",
        f"Written by `{doc['command']}` on {doc['date']} ({doc['env'].get('cpu_model', '?')}); "
        f"{doc['wall_s'] / 60:.1f} min. Traces: `{study.traces}`.", "",
        "## Setup", "",
        f"- {b['n_orderings']} random orderings per replay (the resampling unit of every CI: "
        f"95 % percentile bootstrap, {b['n_boot']} resamples), {b['tpe_runs']} TPE-ordered "
        f"runs; the budget of a run is {b['budget_fraction']:.0%} of the epochs (or recorded "
        "wall seconds) all of a task's traces need.",
        "- A stopped trial reports its validation metric at the stopping epoch (as BTTackler's "
        "tuner sees it); TSBA = (1 - T_rule / T_plain) x 100 with T = epochs (or seconds) to "
        "reach the plain run's best result of the same ordering; a rule that never reaches it "
        "is censored at the budget (TSBA <= 0).",
        "- Bad trial (precision / recall): final metric in the bottom quartile of the task's "
        "natural traces (top quartile of the MSE for the forecaster).", "",
        markdown_table(tasks, float_format="{:.3g}", index=False), "",
        f"Paper (3 DNNs x 4 HPO methods, GPUs, 6 h): TSBA {PAPER['tsba']} %, Top10HR "
        f"{PAPER['top10hr']} % (early termination rules {PAPER['top10hr_etr']} %).", "",
    ]
    titles = {"random": "Natural traces, random orderings, epoch clock",
              "wall": "Natural traces, random orderings, wall clock (recorded seconds)",
              "tpe": "Natural traces, TPE-ordered (the sampler sees the replayed results)",
              "injected": "Positive control: natural + injected-pathology traces"}
    for setting in ("random", "wall", "tpe", "injected"):
        lines += [f"## {titles[setting]}", "",
                  markdown_table(_verdict_rows(study, setting, compared), index=False), ""]
    lines += ["## Controls (TSBA, %)", "",
              "No rule must give exactly 0; a rule stopping at random with BTTackler's stop "
              "rate and stop epochs must not be above 0 beyond its CI; BTTackler on the traces "
              "with injected pathologies must be above 0 with its CI.", ""]
    rows = []
    for task in tasks["task"]:
        row = {"task": task}
        for label, setting, rule in (("no rule", "random", "none"),
                                     ("random stop", "random", RANDOM_CONTROL),
                                     ("BTTackler, injected", "injected", "bttackler")):
            try:
                row[label] = _ci(*study.ci(task, setting, rule, "tsba"))
            except EffdlError:
                row[label] = "n/a"
        rows.append(row)
    lines += [markdown_table(pd.DataFrame(rows), index=False), ""]
    abl = study.verdicts("ablation")
    if len(abl):
        lines += ["## Which indicator earns its stops: the authors' BTTackler with one indicator "
                  f"left out ({b.get('ablation_orderings', '?')} orderings, natural traces)", "",
                  markdown_table(pd.DataFrame({
                      "task": abl["task"], "rule": abl["rule"],
                      "TSBA % [95 % CI]": [_ci(a, c, d) for a, c, d in zip(
                          abl["tsba"], abl["tsba_lo"], abl["tsba_hi"], strict=True)],
                      "Top10HR % [CI]": [_ci(a, c, d) for a, c, d in zip(
                          abl["top10hr"], abl["top10hr_lo"], abl["top10hr_hi"], strict=True)],
                      "stopped %": [f"{100 * x:.1f}" for x in abl["stop_rate"]]}),
                      index=False), ""]
    for rule in ("bttackler", "bttackler_faithful"):
        lines += [f"## Indicators of {RULE_LABELS[rule]} (natural traces, pooled over "
                  "orderings)", "", markdown_table(_indicator_rows(study, rule),
                                                   float_format="{:.3f}", index=False), ""]
    lines += ["## Slow convergence: the paper's rule and the kit's (SC alone, any epoch but "
              "the last, no protection, natural traces of every task)", "",
              markdown_table(study.sc, float_format="{:.3f}", index=False), ""]
    return "\n".join(lines)


def write_replay_results(study: ReplayStudy, out: str | Path, *, command: str,
                         wall_s: float) -> list[Path]:
    """Write ``bttackler_replay.{json,md,png}`` into the folder ``out``."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError("out", str(out), "a folder (created if missing)")
    out.mkdir(parents=True, exist_ok=True)
    doc = {"command": command, "date": time.strftime("%Y-%m-%d"), "wall_s": round(wall_s, 1),
           "env": collect_env().to_dict(), "study": study.to_dict()}
    paths = [atomic_write_text(out / f"{STEM}.json", json.dumps(doc, indent=1, default=str)),
             atomic_write_text(out / f"{STEM}.md", render_markdown(doc) + "\n")]
    fig = replay_figure(study)
    paths += save_figure(fig, out / STEM, formats=("png",))
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry (see the module docstring)."""
    p = argparse.ArgumentParser(prog="python -m effdl_kit.experiments.bttackler._replay_main")
    p.add_argument("--scale", choices=SCALES, default="small")
    p.add_argument("--out", default="docs/results")
    p.add_argument("--traces", default=None, help="trace file (default: the kit's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=1, help="tasks replayed in parallel")
    args = p.parse_args(argv)
    cmd = "python -m effdl_kit.experiments.bttackler._replay_main " + " ".join(
        sys.argv[1:] if argv is None else argv)
    try:
        if args.workers < 1:
            raise ConfigError("workers", args.workers, "an integer >= 1")
        out = check_out_dir(args.out, "--out")  # before the replay, not after it
        t0 = time.perf_counter()
        if args.workers > 1:
            with ProcessPoolExecutor(max_workers=args.workers) as pool:
                study = run_replay_study(args.traces, scale=args.scale, seed=args.seed,
                                         executor=pool)
        else:
            study = run_replay_study(args.traces, scale=args.scale, seed=args.seed)
        paths = write_replay_results(study, out, command=cmd,
                                     wall_s=time.perf_counter() - t0)
    except (EffdlError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for path in paths:
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
