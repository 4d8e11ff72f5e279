"""Sampler quality: simple regret of αβ-BO, Random, TPE and GP on test functions (issue 14).

``python -m benchmarks sampler_quality`` runs every function of
:data:`benchmarks._sampler_functions.FUNCTIONS` (10: six classical ones, three mixed
int / categorical / log-scaled variants, one shaped like a training response; all minimised)
with the kit's ``AlphaBetaSampler`` (defaults), Optuna's ``RandomSampler``, ``TPESampler`` and
``GPSampler`` (defaults) and three controls, seeds 0-9, one 80-trial study per (function,
sampler, seed) read at budgets 20 / 40 / 80, on 2 worker processes. It writes

* ``docs/results/sampler_quality_runs.jsonl``: one line per run (best-so-far regret after every
  trial, sampler ms per trial); an interrupted run resumes from it;
* ``docs/results/sampler_quality.json`` / ``.md``: the table (mean regret, 95% bootstrap CI,
  median; ms per trial), the comparisons, the targets' verdicts and the controls;
* ``docs/results/sampler_quality.png``: regret curves with 95% bands.

Options (``python -m benchmarks.bench_sampler_quality --help``): ``--quick`` (or
``EFFDL_BENCH_QUICK=1``) runs 3 functions x 3 seeds x 20 trials into a temporary folder, a
functional check and not a measurement; ``--samplers`` adds e.g. ``alpha_beta_refit1``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks._sampler_functions import FUNCTIONS
from benchmarks._sampler_render import draw_curves, markdown
from benchmarks._sampler_report import summarise
from benchmarks._sampler_runs import SAMPLERS, code_version, run_all

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "docs" / "results"
DEFAULT_SAMPLERS = tuple(s for s, v in SAMPLERS.items() if v.role in ("sampler", "control"))
QUICK_FUNCTIONS = ("branin", "hartmann6_cat", "training_response")


@dataclass(frozen=True)
class Config:
    """One benchmark run: what runs, where the files go."""

    functions: tuple[str, ...] = tuple(FUNCTIONS)
    samplers: tuple[str, ...] = DEFAULT_SAMPLERS
    seeds: tuple[int, ...] = tuple(range(10))
    budgets: tuple[int, ...] = (20, 40, 80)
    workers: int = 2
    out: Path = DEFAULT_OUT
    command: str = "python -m benchmarks sampler_quality"
    extra: dict[str, Any] = field(default_factory=dict)


def run_benchmark(cfg: Config) -> dict[str, Any]:
    """Run what is missing, then write the JSON, Markdown and figure into ``cfg.out``.

    Returns
    -------
    dict
        The summary (see :func:`benchmarks._sampler_report.summarise`) plus ``meta``.
    """
    t0 = time.perf_counter()
    runs_path = cfg.out / "sampler_quality_runs.jsonl"
    runs = run_all(cfg.functions, cfg.samplers, cfg.seeds, max(cfg.budgets), runs_path,
                   workers=cfg.workers, log=lambda m: print(m, flush=True))
    wall_min = sum(float(r["wall_s"]) for r in runs) / 60 / max(cfg.workers, 1)
    meta = {"command": cfg.command, "report_code": code_version(),
            "runs_code": sorted({str(r.get("code", "not recorded")) for r in runs}),
            "workers": cfg.workers,
            "wall_min": wall_min, "this_call_s": time.perf_counter() - t0,
            "n_runs": len(runs), **cfg.extra}
    summary = summarise(runs, cfg.budgets)
    summary["meta"] = meta
    cfg.out.mkdir(parents=True, exist_ok=True)
    (cfg.out / "sampler_quality.json").write_text(json.dumps(summary, indent=1) + "\n")
    (cfg.out / "sampler_quality.md").write_text(markdown(summary, meta))
    draw_curves(runs, cfg.out / "sampler_quality.png")
    return summary


def _parse(argv: list[str]) -> Config:
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_sampler_quality",
                                description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--quick", action="store_true",
                   help="3 functions x 3 seeds x 20 trials into a temporary folder")
    p.add_argument("--functions", nargs="+", choices=list(FUNCTIONS))
    p.add_argument("--samplers", nargs="+", choices=list(SAMPLERS))
    p.add_argument("--seeds", type=int, help="seeds 0..N-1 (default 10)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--out", type=Path, help=f"default {DEFAULT_OUT} (quick: a temporary folder)")
    a = p.parse_args(argv)
    quick = a.quick or os.environ.get("EFFDL_BENCH_QUICK") == "1"
    cfg = Config(workers=a.workers)
    if quick:
        cfg = Config(functions=QUICK_FUNCTIONS, seeds=(0, 1, 2), budgets=(10, 20),
                     workers=a.workers, out=Path(tempfile.mkdtemp(prefix="sampler_quality_")),
                     command="python -m benchmarks.bench_sampler_quality --quick",
                     extra={"note": "quick run: a functional check of the harness, not a "
                                    "measurement (3 seeds cannot support the verdicts)"})
    cmd = ["python -m benchmarks.bench_sampler_quality", *argv] if argv else [cfg.command]
    return Config(functions=tuple(a.functions or cfg.functions),
                  samplers=tuple(a.samplers or cfg.samplers),
                  seeds=tuple(range(a.seeds)) if a.seeds else cfg.seeds,
                  budgets=cfg.budgets, workers=a.workers, out=a.out or cfg.out,
                  command=" ".join(cmd), extra=cfg.extra)


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark (``argv``: the options above; ``None`` when called by
    ``python -m benchmarks``, which passes none) and print the verdicts."""
    cfg = _parse([] if argv is None else argv)
    run_benchmark(cfg)
    print((cfg.out / "sampler_quality.md").read_text().split("## Budget")[0])
    print(f"written: {cfg.out}/sampler_quality.{{json,md,png}} and sampler_quality_runs.jsonl")


if __name__ == "__main__":
    main(sys.argv[1:])
