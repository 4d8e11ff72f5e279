"""The survey's E1 (Pareto frontiers with verdicts) and its A/A study as one command, writing
the committed result files.

``python -m effdl_kit.experiments.survey._pareto_main --scale small --out docs/results``
runs the ``pareto`` part of :func:`~._run.run_survey` and writes

* ``survey_pareto.json``: the runs, the tuning, the frontier table and the controls, with the
  command, the date and the machine (:func:`effdl_kit._core.env.collect_env`);
* ``survey_pareto.md``: the tuned rates, the verdict table (every verdict with its
  simultaneous interval), the controls;
* ``survey_pareto.png``: time vs accuracy and each method's gain with its interval.

``--reanalyze`` trains nothing: it judges the runs stored in ``--out``'s
``survey_pareto.json`` again with the current verdict rule and rewrites the three files
(recording the command that did it beside the one that trained).

``--aa`` runs :func:`~._aa.run_aa_study` instead and writes ``survey_aa.{json,md,png}``: the
share of repeats each arm is called *within noise* (Wilson interval), per interval kind, and
each arm's paired time ratio.

Bad input (scale, seed, an ``--out`` that is not a folder) gives one line on stderr and exit
code 2, before any work.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from effdl_kit._core.env import collect_env
from effdl_kit._core.errors import EffdlError
from effdl_kit._core.io import atomic_write_text, check_out_dir
from effdl_kit._core.validate import SCALES, check_choice, check_int
from effdl_kit.reports import (
    display,
    figure,
    label,
    legend_beside,
    markdown_table,
    paper_style_context,
    save_figure,
    styled,
)

from ._aa import AAStudy, run_aa_study
from ._figures import redraw
from ._ops_main import results_parser
from ._run import judge_pareto, run_survey
from ._settings import FIGURE_PARETO

__all__ = ["main", "plot_aa", "render_aa", "render_pareto"]

STEM = "survey_pareto"
AA_STEM = "survey_aa"


def _head(doc: Mapping[str, Any], title: str) -> list[str]:
    again = doc.get("reanalyzed")
    return [f"# {title}", "",
            f"Written by `{doc['command']}` on {doc['date']} "
            f"({doc['env'].get('cpu_model', '?')}, {doc['env'].get('cores_logical', '?')} "
            f"logical cores, one intra-op thread; other jobs ran on the machine), wall time "
            f"{doc['wall_s'] / 60:.1f} min."
            + (f" Verdicts judged again from the stored runs by `{again['command']}` on "
               f"{again['date']}." if again else ""), ""]


def render_pareto(doc: Mapping[str, Any]) -> str:
    """E1's result file in Markdown: tuned rates, verdicts with intervals, controls."""
    p = doc["pareto"]
    runs = pd.DataFrame(p["runs"])
    tuning = p["tuning"]
    n_tune = len(tuning["runs"])
    grid = sorted({r["lr"] for r in tuning["runs"]})
    cols = ["method", "verdict", "best_budget", "best_gain", "ci_low", "ci_high",
            "time_ratio", "above"]
    names = {"best_budget": "best budget (epochs)", "best_gain": "gain", "ci_low": "CI low",
             "ci_high": "CI high", "time_ratio": "time / baseline", "above": "budgets above"}
    clocks = [("wall", "frontier", "wall-clock training time (the survey's clock)"),
              ("cpu", "frontier_cpu", "CPU time of the training thread (the kit's clock on "
               "a shared machine)")]
    acc = runs[runs["method"] == "baseline"].groupby("budget")["test_accuracy"]
    base_runs = runs[runs["method"] == "baseline"]
    base = pd.DataFrame({
        "budget (epochs)": list(tuning["chosen"]),
        "tuned lr": list(tuning["chosen"].values()),
        "baseline test accuracy (mean)": [float(acc.mean().get(int(b), np.nan))
                                          for b in tuning["chosen"]],
        "wall s (mean)": [float(base_runs[base_runs["budget"] == int(b)]["train_time_s"]
                                .mean()) for b in tuning["chosen"]],
        "CPU s (mean)": [float(base_runs[base_runs["budget"] == int(b)]
                               .get("train_cpu_s", pd.Series([np.nan])).mean())
                         for b in tuning["chosen"]]})
    lines = [
        *_head(doc, "Survey E1: speedup methods against the tuned baseline's frontier"),
        f"{runs['seed'].nunique()} seeds x {runs['budget'].nunique()} budgets per arm, "
        f"{len(runs)} timed runs in a random order after warm-up; the baseline's learning "
        f"rate tuned per budget on validation accuracy ({n_tune} tuning runs on seeds "
        f"{tuning['seeds']}, not evaluation seeds; grid {grid}). "
        "Gain: accuracy at equal time over the baseline's frontier, in accuracy (0.01 = 1 "
        "point), at the budget with the highest lower bound; interval: joint bootstrap of "
        "time and accuracy over seeds, standard error x Student's t, 95 % simultaneous over "
        "the budgets (Bonferroni).", "",
        "## Tuned baseline", "", *markdown_table(base, float_format="{:.4g}").splitlines(), ""]
    for clock, key, what in clocks:
        if key not in p:
            continue
        frontier = pd.DataFrame(p[key])
        c = p["controls"][clock] if clock in p["controls"] else p["controls"]
        lines += [f"## Verdicts in {what}", "",
                  *markdown_table(frontier[cols].rename(columns=names),
                                  float_format="{:.3f}").splitlines(), "",
                  f"Controls: A/A (the baseline timed again as a method) **{c['aa']}**; "
                  f"positive (the A/A arm with every time halved) **{c['positive']}**; both "
                  f"as required: {'yes' if c['passed'] else 'NO'}.", "",
                  *[f"- {m}: {t}" for m, t in zip(frontier["method"],
                                                  frontier["verdict_text"], strict=True)], ""]
    return "\n".join(lines)


def render_aa(doc: Mapping[str, Any]) -> str:
    """The A/A study's result file in Markdown."""
    st = AAStudy.from_json(json.dumps(doc["study"]))
    b = st.setup["budget"]
    summ = st.summary()
    return "\n".join([
        *_head(doc, "Survey E1: A/A study of the frontier verdict"),
        f"{b['repeats']} independent repeats, each a sweep of {b['n_seeds']} seeds x "
        f"budgets {b['budgets']} (own seeds, own random order, warm-up), data {b['data']}, "
        f"model {b['model']}, lr {b['lr']}. Arms: the baseline timed again (A/A), "
        f"{', '.join(b['methods'])}, and two positive controls injected into the A/A arm "
        "(every time halved; accuracy +10 points at equal time). Interval `t` is the kit's "
        "(bootstrap standard error x Student's t, simultaneous over budgets); `percentile` "
        "is shown for contrast. Clock `wall`: the survey's wall-clock training time; `cpu`: "
        "the training thread's CPU time.", "",
        "## Share of repeats per verdict (Wilson 95 % interval of 'within noise')", "",
        *markdown_table(summ, float_format="{:.3f}").splitlines(), "",
        "## Paired time ratio to the baseline (median per repeat; over repeats)", "",
        *markdown_table(st.ratio_summary(), float_format="{:.3f}").splitlines(), ""])


@styled
def plot_aa(study: AAStudy, *, ax: Any) -> Any:
    """Share of repeats called *within noise* per arm, clock and interval, Wilson 95 % bars,
    and the 95 % line an A/A arm must reach."""
    s = study.summary()
    arms = list(dict.fromkeys(s["method"]))
    kinds = [(c, iv) for c in dict.fromkeys(s["clock"]) for iv in ("t", "percentile")]
    width = 0.8 / len(kinds)
    colors = {("wall", "t"): "C0", ("wall", "percentile"): "C9", ("cpu", "t"): "C2",
              ("cpu", "percentile"): "C8"}
    for j, (clock, iv) in enumerate(kinds):
        g = s[(s["interval"] == iv) & (s["clock"] == clock)].set_index("method").reindex(arms)
        x = np.arange(len(arms)) + (j - (len(kinds) - 1) / 2) * width
        share = g["within noise"].to_numpy(dtype=float)
        err = np.vstack([share - g["within noise low"].to_numpy(dtype=float),
                         g["within noise high"].to_numpy(dtype=float) - share])
        ax.bar(x, 100 * share, width, yerr=100 * err, capsize=2,
               label=f"{clock} time, {iv} interval", color=colors.get((clock, iv), "C7"))
    ax.axhline(95, color="C3", lw=0.8, ls="--", label="95 %")
    ax.set_xticks(np.arange(len(arms)), [display(a) for a in arms], fontsize="x-small")
    ax.set_ylabel(label("within_noise_pct"))
    ax.set_ylim(0, 105)
    legend_beside(ax)
    return ax


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = results_parser("_pareto_main", __doc__)
    p.add_argument("--aa", action="store_true", help="run the A/A study instead of E1")
    p.add_argument("--reanalyze", action="store_true",
                   help="train nothing: judge the runs stored in --out again")
    return p.parse_args(argv)


def _redraw_pareto(doc: Mapping[str, Any], out: Path) -> None:
    """``survey_pareto.png`` from the document's section alone."""
    with tempfile.TemporaryDirectory() as tmp:
        payload = {"experiment": "survey", "scale": doc["scale"], "seed": doc["seed"],
                   "pareto": doc["pareto"]}
        (Path(tmp) / "results.json").write_text(json.dumps(payload))
        redraw(Path(tmp))
        shutil.copy(Path(tmp) / f"{FIGURE_PARETO}.png", out / f"{STEM}.png")


def _reanalyze(out: Path, command: str) -> int:
    path = out / f"{STEM}.json"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        runs = pd.DataFrame(doc["pareto"]["runs"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        print(f"error: no E1 result to reanalyze in {str(out)!r}: {e}", file=sys.stderr)
        return 2
    doc["pareto"].update(judge_pareto(runs, seed=int(doc["seed"])))
    doc["reanalyzed"] = {"command": command,
                         "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    atomic_write_text(path, json.dumps(doc, indent=1) + "\n")
    atomic_write_text(out / f"{STEM}.md", render_pareto(doc))
    _redraw_pareto(doc, out)
    print(f"rewrote {out / STEM}.json, .md, .png")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run E1 (or the A/A study) and write the result files; 2 on bad input."""
    a = _parse(argv)
    out = Path(a.out)
    try:
        scale = check_choice("scale", a.scale, SCALES)
        seed = check_int("seed", a.seed, min_value=0, max_value=2**31)
        check_out_dir(out)
    except (EffdlError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    command = "python -m effdl_kit.experiments.survey._pareto_main " + " ".join(
        sys.argv[1:] if argv is None else argv)
    if a.reanalyze:
        return _reanalyze(out, command)
    t0 = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)

    def log(done: int, total: int, msg: str) -> None:
        print(f"[{done}/{total}] {msg}", flush=True)

    doc: dict[str, Any] = {"command": command, "scale": scale, "seed": seed}
    if a.aa:
        study = run_aa_study(scale, seed, progress=log)
        doc["study"] = json.loads(study.to_json())
        stem = AA_STEM
        with paper_style_context():
            fig, ax = figure("double", aspect=0.45, pyplot=False)
            plot_aa(study, ax=ax)
            save_figure(fig, out / stem, formats=("png",), provenance={"command": command},
                        seed=seed, scale=scale)
    else:
        stem = STEM
        with tempfile.TemporaryDirectory() as tmp:
            run_survey(scale, seed, Path(tmp), parts=("pareto",), progress=log)
            doc["pareto"] = json.loads((Path(tmp) / "results.json").read_text())["pareto"]
            shutil.copy(Path(tmp) / f"{FIGURE_PARETO}.png", out / f"{STEM}.png")
    doc.update(date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
               env=collect_env().to_dict(), wall_s=time.perf_counter() - t0)
    atomic_write_text(out / f"{stem}.json", json.dumps(doc, indent=1) + "\n")
    atomic_write_text(out / f"{stem}.md", render_aa(doc) if a.aa else render_pareto(doc))
    print(f"wrote {out / stem}.json, .md, .png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
