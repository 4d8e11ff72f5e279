"""The EfficientDL search study as one command, writing the committed result files.

``python -m effdl_kit.experiments.efficientdl._search_main --scale small --out docs/results``
runs :func:`~._run.run_search` on the authors' predictor and writes

* ``efficientdl_search.json``: the study's payload (curves, controls, ablation, verdicts) with
  the command, the date and the machine (:func:`effdl_kit._core.env.collect_env`);
* ``efficientdl_search.md``: the tables and verdicts in words (:func:`render_markdown`);
* ``efficientdl_search.png``: the study's figure, drawn from the payload.

Bad input (scale, seed, components, an ``--out`` that is not a folder) and a missing authors'
file give one line on stderr and exit code 2, before any work.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import shutil
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd

from effdl_kit._core.env import collect_env
from effdl_kit._core.errors import EffdlError
from effdl_kit._core.io import atomic_write_text, check_out_dir
from effdl_kit._core.validate import SCALES, check_choice, check_int
from effdl_kit.data import load_component_data
from effdl_kit.experiments.efficientdl._figures import redraw_search
from effdl_kit.experiments.efficientdl._regret import ablation_table, method_table
from effdl_kit.experiments.efficientdl._run import run_search
from effdl_kit.experiments.efficientdl._settings import FIGURE_SEARCH, SEARCH_COMPONENTS
from effdl_kit.reports import markdown_table

__all__ = ["main", "render_markdown"]

STEM = "efficientdl_search"


def _fmt(x: Any, digits: int = 4) -> str:
    return f"{float(x):.{digits}f}"


def _table(frame: pd.DataFrame) -> list[str]:
    return markdown_table(frame, float_format="{:.4f}").splitlines()


def render_markdown(doc: Mapping[str, Any]) -> str:
    """The result file's summary in Markdown: setup, regret table, verdicts, controls,
    ablation, and where α and β change the result."""
    s = doc["search"]
    setup, budget = s["setup"], s["budget"]
    curves = pd.DataFrame(s["curves"])
    n_calls = int(curves["iteration"].max())
    lines = [
        "# EfficientDL search study: αβ-BO on the authors' predictor, simple regret", "",
        f"Written by `{doc['command']}` on {doc['date']} ({doc['env'].get('cpu_model', '?')}, "
        f"{doc['env'].get('cores_logical', '?')} logical cores; other jobs ran on the machine, "
        f"so the seconds are indicative only). Wall time {doc['wall_s'] / 60:.1f} min.", "",
        "## Setup", "",
        f"- Predictor: random forest ({budget['n_trees']} trees) on the authors' data "
        f"({setup['n_rows']} rows).",
        f"- Searched components ({setup['searchable']}: ranked by grouped permutation "
        f"importance among those a user controls): {', '.join(setup['components'])}.",
        f"- Held at the target task's value ({setup['target'] or 'no target rows'}): "
        + (", ".join(f"{k} = {v}" for k, v in setup["fixed"].items()) or "none") + ".",
        f"- Grid: {setup['n_candidates']} candidates; the predictor's exhaustive maximum "
        f"{_fmt(setup['grid_max'])} at {setup['grid_best']}. Best label in the data "
        f"{_fmt(setup['dataset_best'])} (the authors' incumbent).",
        f"- Budget: {n_calls} predictor calls per run, {curves['seed'].nunique()} seeds per "
        f"method; grid BO methods get {budget['init_rows'] or 'all'} dataset rows as prior "
        "data, the Optuna-based ones (kit αβ-BO, TPE, GP) none.", "",
        f"## Simple regret after {n_calls} calls (mean, 95 % bootstrap interval over seeds)", "",
        *_table(method_table(curves)[["method", "seeds", "regret mean", "regret lo",
                                      "regret hi", "at grid max", "search s (mean)"]]), "",
        "## Verdicts of the kit's αβ-BO (bootstrap-t interval of the difference in mean "
        "regret; negative = lower regret)", "",
        *_table(pd.DataFrame(s["verdicts"])), "",
    ]
    neg, pos = s["controls"]["negative"], s["controls"]["positive"]
    pc = pos["comparison"]
    lines += [
        "## Controls", "",
        f"- Negative (A/A): random search on seeds +{neg['offset']} against random search: "
        f"difference {_fmt(neg['diff'])} [{_fmt(neg['lo'])}, {_fmt(neg['hi'])}] → "
        f"**{neg['verdict']}** (must be within noise).",
        f"- Positive (known optimum, {pos['seeds']} problems, {pos['calls']} calls): kit "
        f"αβ-BO reached the optimum in {100 * pos['reached']:.0f} % of seeds (median "
        f"{pos['median_calls']:.0f} calls), random search in "
        f"{100 * pos['reached_reference']:.0f} %; difference in regret {_fmt(pc['diff'])} "
        f"[{_fmt(pc['lo'])}, {_fmt(pc['hi'])}] → **{pc['verdict']}** (must be better).", "",
    ]
    abl = ablation_table(pd.DataFrame(s["ablation"]))
    moved = abl[abl["vs default"].isin(["better", "worse"])]
    where = ("; ".join(f"α = {r['alpha']:g}, β = {r['beta']:g}, Ω = {r['omega']:g}: "
                       f"{r['vs default']}" for r in moved.to_dict(orient="records"))
             if len(moved) else "no cell differs from the default beyond noise")
    lines += [
        f"## Ablation of the kit's αβ-BO ({budget['ablation_seeds']} seeds x "
        f"{budget['ablation_iter']} calls per cell; verdict against α = 0.54, β = 1.01, "
        "Ω = 0.1; same path = share of seeds whose run made exactly the default's picks)", "",
        *_table(abl[["part", "alpha", "beta", "omega", "seeds", "regret mean", "regret lo",
                     "regret hi", "vs default", "same path"]]), "",
        f"Where α, β, Ω change the result: {where}.", "",
    ]
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m effdl_kit.experiments.efficientdl._search_main",
                                description="EfficientDL search study -> result files")
    p.add_argument("--scale", default="small", help=f"one of {list(SCALES)}")
    p.add_argument("--seed", default="0", help="first seed (int >= 0)")
    p.add_argument("--components", default="controllable",
                   help=f"one of {list(SEARCH_COMPONENTS)}")
    p.add_argument("--out", default="docs/results", help="folder of the result files")
    p.add_argument("--workers", default="1",
                   help="processes running the (method, seed) jobs (int >= 1; 1: this one)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the study and write the result files; exit code (0 ok, 2 bad input)."""
    args = _parser().parse_args(argv)
    try:
        scale = check_choice("scale", args.scale, SCALES)
        seed = check_int("seed", int(args.seed) if args.seed.lstrip("-").isdigit()
                         else args.seed, min_value=0)
        components = check_choice("components", args.components, SEARCH_COMPONENTS)
        workers = check_int("workers", int(args.workers) if args.workers.isdigit()
                            else args.workers, min_value=1)
        out = check_out_dir(args.out, "--out")  # before the study, not after it
        data = load_component_data("authors")
    except (EffdlError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    argv_text = " ".join(sys.argv[1:] if argv is None else argv)
    command = f"python -m effdl_kit.experiments.efficientdl._search_main {argv_text}".strip()
    t0 = time.perf_counter()

    def progress(done: int, total: int, label: str) -> None:
        print(f"[{time.perf_counter() - t0:7.0f} s] {done}/{total} {label}", file=sys.stderr,
              flush=True)

    if workers == 1:
        search = run_search(data, scale=scale, seed=seed, progress=progress,
                            components=components)
    else:  # fresh interpreters: no forked numba / torch thread pools
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as ex:
            search = run_search(data, scale=scale, seed=seed, progress=progress,
                                components=components, executor=ex)
    doc = {"command": command, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "env": collect_env().to_dict(), "scale": scale, "seed": seed,
           "wall_s": time.perf_counter() - t0, "search": search}
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / f"{STEM}.json", json.dumps(doc, indent=None) + "\n")
    atomic_write_text(out / f"{STEM}.md", render_markdown(doc) + "\n")
    with tempfile.TemporaryDirectory() as tmp:
        redraw_search(search, Path(tmp), {"command": command}, seed=seed, scale=scale)
        shutil.copyfile(Path(tmp) / f"{FIGURE_SEARCH}.png", out / f"{STEM}.png")
    print(f"wrote {out / STEM}.json, .md, .png", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
