"""The sampler benchmark's Markdown report and figure (regret curves with 95% bands)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._sampler_functions import FUNCTIONS
from benchmarks._sampler_report import MAIN
from benchmarks._sampler_runs import SAMPLERS
from effdl_kit._core.stats import mean_curve_band

__all__ = ["draw_curves", "markdown"]

_COLORS = {"alpha_beta": "tab:red", "random": "tab:gray", "tpe": "tab:blue", "gp": "tab:green"}
_SHORT = {"alpha_beta": "αβ-BO", "random": "Random", "tpe": "TPE", "gp": "GP"}


def _fmt(x: float) -> str:
    return f"{x:.3g}" if abs(x) >= 1e-3 or x == 0 else f"{x:.1e}"


def _cell_text(c: dict[str, Any]) -> str:
    return f"{_fmt(c['mean'])} [{_fmt(c['lo'])}, {_fmt(c['hi'])}] ({_fmt(c['median'])})"


def regret_table(summary: dict[str, Any], budget: int, *, timing: bool = True) -> str:
    """Markdown table: per function, each main sampler's mean regret [95% CI] (median) and the
    verdicts of αβ-BO vs random and vs TPE; ms per trial when ``timing``."""
    cells = {(c["function"], c["sampler"]): c for c in summary["cells"] if c["budget"] == budget}
    comps = {(c["function"], c["b"]): c["verdict"] for c in summary["comparisons"]
             if c["budget"] == budget and c["a"] == "alpha_beta"}
    present = [s for s in MAIN if s in summary["samplers"]]
    head = ["function", *[_SHORT[s] for s in present], "αβ vs random", "αβ vs TPE"]
    ms = summary["timing"]["ms_per_trial"]
    if timing:
        head += [f"ms/trial {_SHORT[s]}" for s in present]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for f in summary["functions"]:
        row = [f"`{f}`"]
        row += [_cell_text(cells[(f, s)]) if (f, s) in cells else "–" for s in present]
        row += [comps.get((f, "random"), "–"), comps.get((f, "tpe"), "–")]
        if timing:
            row += [f"{ms[s][f]:.0f}" if f in ms.get(s, {}) else "–" for s in present]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def _verdict_lines(summary: dict[str, Any]) -> list[str]:
    v = summary["verdicts"]
    out = []
    for budget, t in sorted(v["target1_beats_random"].items(), key=lambda kv: int(kv[0])):
        out.append(f"- Target 1, budget {budget}: αβ-BO beats random on {t['better_on']} of "
                   f"{t['of']} functions — **{'met' if t['met'] else 'NOT met'}**"
                   + (f" (not better on: {', '.join(t['not_better'])})" if t["not_better"]
                      else ""))
    for budget, t in sorted(v["target2_as_good_as_tpe"].items(), key=lambda kv: int(kv[0])):
        out.append(f"- Target 2, budget {budget}: αβ-BO at least as good as TPE on "
                   f"{t['not_worse_on']} of {t['of']} (better on {t['better_on']}) — "
                   f"**{'met' if t['met'] else 'NOT met'}**"
                   + (f" (worse on: {', '.join(t['worse'])})" if t["worse"] else ""))
    t3 = v["target3_time"]
    if t3 is not None:
        out.append(f"- Target 3: αβ-BO / GPSampler ms per trial = {t3['ratio']:.2f} "
                   f"[{t3['lo']:.2f}, {t3['hi']:.2f}] (target ≤ 0.20; per seed "
                   f"{t3['seed_min']:.2f}–{t3['seed_max']:.2f}) — "
                   f"**{'met' if t3['met'] else 'NOT met'}**")
    else:
        out.append("- Target 3: not measured (αβ-BO and GPSampler not both run)")
    pc = v["positive_control"]
    out.append("- Positive control (random + minimiser w.p. 0.05 vs random): called better on "
               + ", ".join(f"{d['better_on']}/{d['of']} at {b}"
                           for b, d in sorted(pc["by_budget"].items(), key=lambda kv: int(kv[0])))
               + f" — **{'passed' if pc['passed'] else 'FAILED'}** (required: every function "
               f"at budgets {pc['judged_at']})")
    pw = v["power_2x_trials"]
    if pw:
        out.append("- Power (random with 2x trials vs random): called better on "
                   + ", ".join(f"{d['better_on']}/{d['of']} at {b}"
                               for b, d in sorted(pw.items(), key=lambda kv: int(kv[0]))))
    nc = v["negative_control"]
    out.append(f"- Negative control (random vs random, other seeds): called different in "
               f"{nc['different']} of {nc['cells']} cells (a 5% false-alarm rate allows ≤ "
               f"{nc['allowed']}) — **{'passed' if nc['passed'] else 'FAILED'}**")
    return out


def markdown(summary: dict[str, Any], meta: dict[str, Any]) -> str:
    """The full report: setup, verdicts, one table per budget, the controls' comparisons."""
    b_max = max(summary["budgets"])
    lines = [
        "# Sampler quality: simple regret on test functions",
        "",
        f"Command: `{meta['command']}`; the runs took {meta['wall_min']:.1f} min per worker "
        f"({meta['workers']} worker processes; ≈ the wall time) on this project's 2-core "
        f"machine; runs on code `{'`, `'.join(meta['runs_code'])}`, report by "
        f"`{meta['report_code']}`.",
        "",
        *([f"**{meta['note']}**", ""] if meta.get("note") else []),
        "Every function is minimised; simple regret = |best value found − known minimum|. "
        f"Seeds {summary['seeds'][0]}–{summary['seeds'][-1]} (the same seed for every "
        "sampler); one study of "
        f"{b_max} trials per (function, sampler, seed), read at budgets "
        f"{', '.join(map(str, summary['budgets']))}. Cells: mean regret [95% bootstrap CI] "
        "(median). Verdicts: \"better\"/\"worse\" when the 95% bootstrap CI of the difference "
        "of mean regrets excludes 0, else \"within noise\". ms/trial: sampler time in "
        "`ask` + `tell` (objective excluded), mean over the trials after the 10 start-up "
        "trials, every sampler single-threaded (BLAS, torch, numba), defaults otherwise "
        "(10 start-up trials each).",
        "",
        "## Verdicts",
        "",
        *_verdict_lines(summary),
        "",
        "\"At least as good\" (target 2) means \"not called worse\": with wide intervals that "
        "is weak evidence, so the count of functions where αβ-BO is *better* is given too. "
        "`levy4_loglr` is `levy4` with its first coordinate given as a log-scaled learning "
        "rate: a sampler that handles `log=True` correctly behaves identically on both.",
        "",
        f"Seeds: {summary['seeds_note']}",
        "",
    ]
    for budget in sorted(summary["budgets"], reverse=True):
        lines += [f"## Budget {budget}", "", regret_table(summary, budget,
                                                          timing=budget == b_max), ""]
    lines += ["## Controls and context (difference of mean regret, a − b, 95% CI)", "",
              "| function | budget | a | b | role | a − b [CI] | verdict |",
              "|---|---|---|---|---|---|---|"]
    for c in summary["comparisons"]:
        if c["why"] in ("target 1", "target 2"):
            continue
        lines.append(f"| `{c['function']}` | {c['budget']} | {c['a']} | {c['b']} | {c['why']} "
                     f"| {_fmt(c['diff'])} [{_fmt(c['lo'])}, {_fmt(c['hi'])}] | "
                     f"{c['verdict']} |")
    lines += ["", "## Functions", "", "| function | minimum | source |", "|---|---|---|"]
    for f, d in summary["functions"].items():
        lines.append(f"| `{f}` | {d['minimum']:.10g} | {d['source']} |")
    lines += ["", "Samplers: " + "; ".join(f"`{k}` = {v}" for k, v in
                                          summary["samplers"].items()) + ".", ""]
    return "\n".join(lines)


def draw_curves(runs: Sequence[dict[str, Any]], path: Path, *, floor: float = 1e-6) -> None:
    """Mean best-so-far regret (log scale, floored at ``floor``) with 95% bootstrap bands, one
    panel per function, the four main samplers; saved to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    present = {r["function"] for r in runs}
    functions = [f for f in FUNCTIONS if f in present]
    ncols = min(5, len(functions))
    nrows = -(-len(functions) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 2.7 * nrows), squeeze=False)
    for ax, f in zip(axes.flat, functions, strict=False):
        for s in MAIN:
            rs = sorted((r for r in runs if r["function"] == f and r["sampler"] == s),
                        key=lambda r: int(r["seed"]))
            if not rs:
                continue
            curves = np.maximum(np.array([r["regret"] for r in rs], dtype=np.float64), floor)
            mean, lo, hi = mean_curve_band(curves)
            t = np.arange(1, curves.shape[1] + 1)
            ax.plot(t, mean, color=_COLORS[s], label=SAMPLERS[s].label, lw=1.4)
            ax.fill_between(t, lo, hi, color=_COLORS[s], alpha=0.18, lw=0)
        ax.set_yscale("log")
        ax.set_title(f, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.set_xlabel("trial", fontsize=7)
    for ax in list(axes.flat)[len(functions):]:
        ax.axis("off")
    axes[0, 0].set_ylabel("mean simple regret", fontsize=8)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8,
               frameon=False)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
