"""Analysis of the ``medn`` experiment: the results payload read back, and its tables."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from effdl_kit._core.jsonable import records
from effdl_kit.experiments._registry import read_results

from ._settings import MODEL_LABELS, NAME, PAPER_GAIN

__all__ = ["ablation_table", "bootstrap_hits", "load_results", "records", "scores_table",
           "selection_table", "split_table"]


def load_results(out_dir: str | Path) -> dict[str, Any]:
    """The payload of ``results.json`` in ``out_dir``.

    Raises
    ------
    DataError
        No or malformed ``results.json``.
    """
    return read_results(out_dir, NAME, required=("scores", "scores_no_measurable", "selection",
                                                 "whole_models", "predictions"))


def scores_table(payload: Mapping[str, Any], split: str = "test") -> pd.DataFrame:
    """Per module type and model: n, acc@5/10/15 (%), R², RMSPE (%), µs/sample, size (KiB)."""
    s = pd.DataFrame(payload["scores"])
    s = s[s["split"] == split]
    return pd.DataFrame({
        "module": s["module_type"], "model": [MODEL_LABELS.get(m, m) for m in s["model"]],
        "n": s["n"], "acc@5%": 100 * s["acc5"], "acc@10%": 100 * s["acc10"],
        "acc@15%": 100 * s["acc15"], "R²": s["r2"], "RMSPE %": 100 * s["rmspe"],
        "µs/sample": s["predict_us"], "size KiB": s["size_bytes"] / 1024,
    }).reset_index(drop=True)


def selection_table(payload: Mapping[str, Any]) -> pd.DataFrame:
    """The overall (sample-weighted) test acc@10 and R² of MEDN alone and of both
    auto-selections, with the gains in points next to the paper's."""
    rows = []
    sel = payload["selection"]
    base = sel["time"]["baseline"]
    rows.append({"predictor": "MEDN only", "acc@10% (%)": 100 * base["acc10"],
                 "R²": base["r2"], "Δacc (points)": 0.0, "ΔR² (points)": 0.0,
                 "models": "medn everywhere"})
    for prefer in ("time", "space"):
        s = sel[prefer]
        rows.append({"predictor": f"auto-selection ({prefer})",
                     "acc@10% (%)": 100 * s["overall"]["acc10"], "R²": s["overall"]["r2"],
                     "Δacc (points)": s["gain"]["acc_points"],
                     "ΔR² (points)": s["gain"]["r2_points"],
                     "models": ", ".join(f"{c['module_type']}:{c['model']}"
                                         for c in s["choices"])})
    g = payload.get("paper_gain", PAPER_GAIN)
    rows.append({"predictor": "paper (auto vs MEDN)", "acc@10% (%)": float("nan"),
                 "R²": float("nan"), "Δacc (points)": g["acc_points"],
                 "ΔR² (points)": g["r2_points"], "models": ""})
    return pd.DataFrame(rows)


def ablation_table(payload: Mapping[str, Any]) -> pd.DataFrame:
    """Per model and split (test, test under load): overall acc@10 and R² with and without
    the measurable parameters (sample-weighted over module types)."""
    rows = []
    w = pd.DataFrame(payload["scores"])
    wo = pd.DataFrame(payload["scores_no_measurable"])
    for split in ("test", "test_loaded"):
        for model in MODEL_LABELS:
            rec: dict[str, Any] = {"split": split, "model": model}
            for tag, frame in (("with", w), ("without", wo)):
                f = frame[(frame["split"] == split) & (frame["model"] == model)]
                if not len(f):
                    continue
                n = f["n"].to_numpy(dtype=float)
                rec["n"] = int(n.sum())
                rec[f"acc10 {tag}"] = float(np.sum(n * f["acc10"]) / n.sum())
                rec[f"r2 {tag}"] = float(np.sum(n * f["r2"]) / n.sum())
            if "acc10 with" in rec and "acc10 without" in rec:
                rec["Δacc10 (points)"] = 100 * (rec["acc10 with"] - rec["acc10 without"])
                rows.append(rec)
    return pd.DataFrame(rows)


def most_common(items: list[str]) -> str:
    """The most frequent item (first seen on ties; ``"medn"`` when there is none)."""
    counts: dict[str, int] = {}
    for it in items:
        counts[it] = counts.get(it, 0) + 1
    return max(counts, key=lambda k: counts[k]) if counts else "medn"


def bootstrap_hits(hits: np.ndarray, strata: np.ndarray, *, n_boot: int, seed: int
                   ) -> np.ndarray:
    """Bootstrap means of each column of ``hits`` (rows resampled with replacement within each
    stratum, the same rows for every column, so differences of columns are paired).

    Parameters
    ----------
    hits : ndarray, shape (n, k)
    strata : ndarray, shape (n,)
        The stratum of each row (the module type: its share of rows stays fixed).

    Returns
    -------
    ndarray, shape (n_boot, k)
    """
    rng = np.random.default_rng(seed)
    sums = np.zeros((n_boot, hits.shape[1]))
    for key in dict.fromkeys(strata.tolist()):
        rows = hits[strata == key]
        idx = rng.integers(0, len(rows), size=(n_boot, len(rows)))
        sums += rows[idx].sum(axis=1)
    return sums / len(hits)


def split_table(payload: Mapping[str, Any], *, level: float = 0.95) -> pd.DataFrame:
    """Per split (random, grouped, time-blocked) and model: pooled test acc@10 (%) with and
    without the measurable parameters and their difference (points), each with a bootstrap CI
    over the test rows (stratified by module type, paired; ``budget.n_boot`` resamples, the
    run's seed), and the sample-weighted R² with and without; beside them the noise ceiling
    (acc@10 % of re-timed stored rows against their stored values) when the run has one.
    Empty without ``splits``."""
    splits = payload.get("splits") or {}
    n_boot = int((payload.get("budget") or {}).get("n_boot", 1000))
    seed, q = int(payload.get("seed", 0)), [(1 - level) / 2, (1 + level) / 2]
    noise = ((payload.get("noise") or {}).get("metrics") or {}).get("acc10")
    rows = []
    for kind, rec in splits.items():
        p = pd.DataFrame(rec["predictions"])
        w, wo = pd.DataFrame(rec["scores"]), pd.DataFrame(rec["scores_no_measurable"])
        for model in MODEL_LABELS:
            g = p[p["model"] == model]
            if not len(g):
                continue
            y = g["y_true"].to_numpy(dtype=float)
            hits = np.column_stack([
                np.abs(g[c].to_numpy(dtype=float) - y) / y <= 0.10 + 1e-12
                for c in ("y_pred", "y_pred_no_measurable")]).astype(float)
            boot = bootstrap_hits(hits, g["module_type"].to_numpy(), n_boot=n_boot, seed=seed)
            boot = np.column_stack([boot, boot[:, 0] - boot[:, 1]])
            est = [*hits.mean(axis=0), hits[:, 0].mean() - hits[:, 1].mean()]
            lo, hi = np.quantile(boot, q, axis=0)
            r2 = {}
            for tag, f in (("with", w), ("without", wo)):
                t = f[(f["split"] == "test") & (f["model"] == model)]
                r2[tag] = float(np.sum(t["n"] * t["r2"]) / t["n"].sum())
            rows.append({
                "split": kind, "model": MODEL_LABELS[model], "n": len(g),
                "acc@10% with": 100 * est[0], "with lo": 100 * lo[0], "with hi": 100 * hi[0],
                "acc@10% without": 100 * est[1], "without lo": 100 * lo[1],
                "without hi": 100 * hi[1], "Δ (points)": 100 * est[2], "Δ lo": 100 * lo[2],
                "Δ hi": 100 * hi[2], "R² with": r2["with"], "R² without": r2["without"],
                **({"noise ceiling acc@10%": 100 * float(noise)} if noise is not None else {})})
    return pd.DataFrame(rows)
