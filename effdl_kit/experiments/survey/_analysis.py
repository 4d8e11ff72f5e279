"""Analysis of the ``survey`` experiment: the results payload read back, its headline numbers
and the op-regime table."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from effdl_kit.experiments._registry import read_results
from effdl_kit.measure import Roofline

from ._settings import NAME

__all__ = ["dtype_roofs", "load_results", "op_regime_table", "records", "summary_metrics"]


def records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of ``df`` as JSON-able dicts (through pandas' JSON writer)."""
    out: list[dict[str, Any]] = json.loads(df.to_json(orient="records"))
    return out


def _check(payload: dict[str, Any]) -> None:
    if "pareto" in payload:
        pd.DataFrame(payload["pareto"]["runs"])[["method", "budget", "train_time_s",
                                                 "test_accuracy"]]


def load_results(out_dir: str | Path) -> dict[str, Any]:
    """The payload of ``results.json`` in ``out_dir``.

    Raises
    ------
    DataError
        No or malformed ``results.json``.
    """
    return read_results(out_dir, NAME, check=_check)


def summary_metrics(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The headline numbers of the parts that ran: each method's frontier verdict, the
    roofline's peaks (the envelope, and each dtype's own roof), each variant's FLOPs and time
    ratios, each loader setting's bound."""
    m: dict[str, Any] = {}
    if "pareto" in payload:
        for key in ("frontier", "frontier_cpu"):
            if key in payload["pareto"]:
                m[key] = {r["method"]: {"verdict": r["verdict"],
                                        "best_gain": r["best_gain"],
                                        "time_ratio": r["time_ratio"]}
                          for r in payload["pareto"][key]}
    if "ops" in payload:
        roof = payload["ops"]["roofline"]
        m["roofline"] = {"peak_gflops": roof["peak_flops"] / 1e9,
                         "bandwidth_gbs": roof["bandwidth"] / 1e9,
                         "overhead_us": roof["overhead_s"] * 1e6,
                         "ridge_flop_per_byte": roof["peak_flops"] / roof["bandwidth"],
                         "by_dtype": dtype_roofs(roof)}
    if "variants" in payload:
        m["variants"] = {r["variant"]: {"flops_ratio": r["flops_ratio"],
                                        "time_ratio": r["time_ratio"]}
                         for r in payload["variants"]["rows"]}
    if "loader" in payload:
        m["loader"] = {f"{r['augmentation']}/w{r['workers']}": r["bound"]
                       for r in payload["loader"]["rows"]}
    return m


def dtype_roofs(roofline: Roofline | Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """dtype -> its own roof: ``peak_gflops``, ``bandwidth_gbs``, ``ridge_flop_per_byte``.

    Raises
    ------
    DataError
        A dtype's peak or bandwidth is missing (names the field).
    """
    roof = roofline if isinstance(roofline, Roofline) else Roofline.from_dict(dict(roofline))
    return {d: {"peak_gflops": roof.peak_for(d) / 1e9,
                "bandwidth_gbs": roof.bandwidth_for(d) / 1e9,
                "ridge_flop_per_byte": roof.ridge_for(d)} for d in roof.dtypes}


def op_regime_table(sweep: pd.DataFrame) -> pd.DataFrame:
    """Per (op, dtype): size range, the largest size's arithmetic intensity and, when the
    sweep was placed on a per-dtype roofline, the ridge of the op's dtype beside it; best
    achieved GFLOP/s and GB/s, best fraction of the roof, and the regimes seen from the
    smallest to the largest size (each against its own dtype's roof)."""
    rows = []
    for (op, dt), g in sweep.groupby(["op", "dtype"], sort=False):
        g = g.sort_values("size")
        regimes = list(dict.fromkeys(g["regime"])) if "regime" in g else []
        ridge = {"ridge": float(g["ridge"].iloc[-1])} if "ridge" in g else {}
        rows.append({"op": op, "dtype": dt, "sizes": f"{int(g['size'].min())}-"
                     f"{int(g['size'].max())}", "intensity": float(g["intensity"].iloc[-1]),
                     **ridge,
                     "best GFLOP/s": float(g["flop_rate"].max()) / 1e9,
                     "best GB/s": float(g["byte_rate"].max()) / 1e9,
                     "best fraction of roof": float(g.get("fraction_of_roof",
                                                          pd.Series([math.nan])).max()),
                     "regimes (small -> large)": " -> ".join(regimes)})
    return pd.DataFrame(rows)
