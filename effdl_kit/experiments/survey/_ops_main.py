"""The survey's E2 (per-dtype rooflines and the op sweep) as one command, writing the
committed result files.

``python -m effdl_kit.experiments.survey._ops_main --scale small --out docs/results``
runs the ``ops`` part of :func:`~._run.run_survey` ``--repeats`` times (seeds ``seed``,
``seed + 1``, ...) and writes

* ``survey_ops.json``: each run's roofline and sweep, with the command, the date and the
  machine (:func:`effdl_kit._core.env.collect_env`);
* ``survey_ops.md``: each dtype's roof over the runs (median, min-max), how many of the sweep's
  rows the one-roof classification (the best peak over the best bandwidth, used before
  per-dtype roofs) labels differently, and each op's regimes per run;
* ``survey_roofline.png``: the first run's roofline figure.

Bad input (scale, seed, repeats, an ``--out`` that is not a folder) gives one line on stderr
and exit code 2, before any work.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from effdl_kit._core.env import collect_env
from effdl_kit._core.errors import EffdlError
from effdl_kit._core.io import atomic_write_text, check_out_dir
from effdl_kit._core.validate import SCALES, check_choice, check_int
from effdl_kit.measure import Roofline, classify_regime
from effdl_kit.reports import markdown_table

from ._analysis import dtype_roofs, op_regime_table
from ._run import run_survey
from ._settings import FIGURE_ROOFLINE

__all__ = ["envelope_relabelled", "main", "render_markdown", "results_parser"]

STEM = "survey_ops"


def envelope_relabelled(sweep: pd.DataFrame, roofline: Roofline) -> pd.DataFrame:
    """The rows of ``sweep`` whose regime under the one envelope roof (the best peak over the
    best bandwidth, for every dtype) differs from their regime under their own dtype's roof,
    with both labels (``regime``, ``envelope_regime``)."""
    one = dataclasses.replace(
        roofline, peak_flops_by_dtype=dict.fromkeys(roofline.dtypes, roofline.peak_flops),
        bandwidth_by_dtype=dict.fromkeys(roofline.dtypes, roofline.bandwidth))
    env = [classify_regime(t, a, one, dtype=d) for t, a, d
           in zip(sweep["time_s"], sweep["intensity"], sweep["dtype"], strict=True)]
    out = sweep.assign(envelope_regime=env)
    return out[out["envelope_regime"] != out["regime"]][
        ["op", "size", "dtype", "intensity", "ridge", "regime", "envelope_regime"]]


def _roof_table(runs: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    per = pd.DataFrame([{"dtype": d, **v} for r in runs
                        for d, v in dtype_roofs(r["roofline"]).items()])
    rows = []
    for d, g in per.groupby("dtype", sort=False):
        row: dict[str, Any] = {"dtype": d}
        for col, name in (("peak_gflops", "peak GFLOP/s"), ("bandwidth_gbs", "bandwidth GB/s"),
                          ("ridge_flop_per_byte", "ridge FLOP/byte")):
            row[name] = f"{g[col].median():.3g} ({g[col].min():.3g}-{g[col].max():.3g})"
        rows.append(row)
    env = pd.Series([Roofline.from_dict(r["roofline"]).ridge for r in runs])
    rows.append({"dtype": "one roof (before)", "peak GFLOP/s": "", "bandwidth GB/s": "",
                 "ridge FLOP/byte": f"{env.median():.3g} ({env.min():.3g}-{env.max():.3g})"})
    return pd.DataFrame(rows)


def render_markdown(doc: Mapping[str, Any]) -> str:
    """The result file's summary in Markdown: roofs per dtype, the rows the one-roof
    classification labels differently, each op's regimes per run."""
    runs = doc["runs"]
    lines = [
        "# Survey E2: per-dtype rooflines and the op sweep", "",
        f"Written by `{doc['command']}` on {doc['date']} ({doc['env'].get('cpu_model', '?')}, "
        f"{doc['env'].get('cores_logical', '?')} logical cores, one intra-op thread; other "
        f"jobs ran on the machine). {len(runs)} runs (seeds {doc['seeds']}), wall time "
        f"{doc['wall_s'] / 60:.1f} min. Peaks and ops: the median of each timing's repeats; a "
        "dtype's peak is its fastest matmul size.", "",
        "## Roofs per dtype (median over runs, min-max)", "",
        *markdown_table(_roof_table(runs)).splitlines(), "",
        "## Rows the one-roof classification labels differently", "",
    ]
    for i, r in enumerate(runs):
        sweep = pd.DataFrame(r["sweep"])
        diff = envelope_relabelled(sweep, Roofline.from_dict(r["roofline"]))
        lines.append(f"- run {i} (seed {doc['seeds'][i]}): {len(diff)} of {len(sweep)} rows"
                     + (": " + "; ".join(f"{x.op} {x.size} {x.dtype} (intensity "
                                         f"{x.intensity:.3g}, ridge {x.ridge:.3g}): "
                                         f"{x.regime}, one roof {x.envelope_regime}"
                                         for x in diff.itertuples()) if len(diff) else ""))
    regimes = pd.concat([op_regime_table(pd.DataFrame(r["sweep"]))
                         .set_index(["op", "dtype"])["regimes (small -> large)"]
                         .rename(f"run {i}") for i, r in enumerate(runs)], axis=1)
    first = op_regime_table(pd.DataFrame(runs[0]["sweep"])).set_index(["op", "dtype"])
    table = pd.concat([first[["sizes", "intensity", "ridge"]], regimes], axis=1).reset_index()
    lines += ["", "## Regimes per op and dtype, smallest to largest size (per run)", "",
              "Sizes, the largest size's intensity and the dtype's ridge: run 0.", "",
              *markdown_table(table, float_format="{:.3g}").splitlines(), ""]
    return "\n".join(lines)


def results_parser(module: str, doc: str | None) -> argparse.ArgumentParser:
    """The options every survey result command shares: ``--scale``, ``--seed``, ``--out``."""
    p = argparse.ArgumentParser(prog=f"python -m effdl_kit.experiments.survey.{module}",
                                description=doc.splitlines()[0] if doc else None)
    p.add_argument("--scale", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="docs/results")
    return p


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = results_parser("_ops_main", __doc__)
    p.add_argument("--repeats", type=int, default=3)
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run E2 ``--repeats`` times and write the result files; 2 on bad input."""
    a = _parse(argv)
    out = Path(a.out)
    try:
        scale = check_choice("scale", a.scale, SCALES)
        seed = check_int("seed", a.seed, min_value=0)
        repeats = check_int("repeats", a.repeats, min_value=1, max_value=20)
        check_out_dir(out)
    except (EffdlError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    command = "python -m effdl_kit.experiments.survey._ops_main " + " ".join(
        sys.argv[1:] if argv is None else argv)
    t0 = time.perf_counter()
    seeds = [seed + i for i in range(repeats)]
    runs: list[dict[str, Any]] = []
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for s in seeds:
            run_dir = Path(tmp) / f"seed{s}"
            run_survey(scale, s, run_dir, parts=("ops",))
            runs.append(json.loads((run_dir / "results.json").read_text())["ops"])
            print(f"run seed {s} done ({time.perf_counter() - t0:.0f} s)", flush=True)
        shutil.copy(Path(tmp) / f"seed{seeds[0]}" / f"{FIGURE_ROOFLINE}.png",
                    out / f"{FIGURE_ROOFLINE}.png")
    doc = {"command": command, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "env": collect_env().to_dict(), "scale": scale, "seeds": seeds,
           "wall_s": time.perf_counter() - t0, "runs": runs}
    atomic_write_text(out / f"{STEM}.json", json.dumps(doc, indent=1) + "\n")
    atomic_write_text(out / f"{STEM}.md", render_markdown(doc))
    print(f"wrote {out / STEM}.json, .md, {FIGURE_ROOFLINE}.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
