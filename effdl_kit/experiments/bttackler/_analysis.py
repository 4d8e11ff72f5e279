"""Analysis of the ``bttackler`` runs: comparisons against the plain runs, means over
repeats, indicator counts, the headline numbers, and the tables drawn from them.

Everything here reads run records (as :func:`~effdl_kit.experiments.bttackler.run_study`
returns them and ``results.json`` stores them) and returns JSON-able records or DataFrames;
:class:`Comparison` and :class:`Headline` are the typed views of the stored comparisons and
headline numbers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from effdl_kit._core.jsonable import as_float, json_float
from effdl_kit.diagnosis import INDICATORS, finished_points, top10hr, tsba
from effdl_kit.experiments._registry import read_results

from ._settings import EARLY_STOP_VARIANTS, ETR_VARIANTS, NAME, PAPER, TASKS, VARIANTS

__all__ = ["Comparison", "Headline", "aggregate", "compare_runs", "headline",
           "indicator_counts", "load_results"]

#: The two comparisons drawn per (task, method, variant).
Metric = Literal["tsba", "top10hr"]






def load_results(out_dir: str | Path) -> dict[str, Any]:
    """The payload of ``results.json`` in ``out_dir``.

    Raises
    ------
    DataError
        No or malformed ``results.json``.
    """
    return read_results(out_dir, NAME, required=("runs", "comparisons", "aggregate",
                                                 "indicators", "headline", "budget"))


def _run_key(run: Mapping[str, Any]) -> tuple[str, str, str, int]:
    return (str(run["task"]), str(run["method"]), str(run["variant"]), int(run["repeat"]))


@dataclass(frozen=True)
class Comparison:
    """TSBA and Top10HR of one run (task, method, variant, repeat) against its plain run.

    Attributes
    ----------
    task, method, variant : str
    repeat : int
    tsba, t_method, t_baseline, target : float or None
        See :class:`~effdl_kit.diagnosis.TSBAResult` (None for non-finite).
    reached : bool
        Whether the variant reached the plain run's best result within its budget.
    top10hr : float or None
    n_method, n_baseline : int
        Finished trials of the two runs.
    """

    task: str
    method: str
    variant: str
    repeat: int
    tsba: float | None
    t_method: float | None
    t_baseline: float | None
    target: float | None
    reached: bool
    top10hr: float | None
    n_method: int
    n_baseline: int

    def to_json(self) -> dict[str, Any]:
        """The record ``results.json`` stores (field order kept)."""
        return {f: getattr(self, f) for f in self.__dataclass_fields__}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Comparison:
        """The comparison of a stored record."""
        return cls(**{f: d[f] for f in cls.__dataclass_fields__})


def compare_runs(runs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """TSBA and Top10HR of every non-plain run against the plain run of its group.

    Parameters
    ----------
    runs : sequence of mapping
        Run records (as :func:`~effdl_kit.experiments.bttackler.run_study` returns them).

    Returns
    -------
    list of dict
        One :meth:`Comparison.to_json` record per (task, method, variant, repeat) with a
        plain counterpart.
    """
    by_key = {_run_key(r): r for r in runs}
    out: list[dict[str, Any]] = []
    for (task, method, variant, rep), run in by_key.items():
        base = by_key.get((task, method, "plain", rep))
        if variant == "plain" or base is None:
            continue
        budget = float(run["budget_s"])
        pm = finished_points(run["trials"], budget)
        pb = finished_points(base["trials"], float(base["budget_s"]))
        res = tsba(pm, pb, direction=str(run["direction"]), horizon_s=budget)
        hr = top10hr([v for _, v in pm], [v for _, v in pb], direction=str(run["direction"]))
        out.append(Comparison(task=task, method=method, variant=variant, repeat=rep,
                              **res.to_dict(), top10hr=json_float(hr), n_method=len(pm),
                              n_baseline=len(pb)).to_json())
    return out


def _mean_std(values: Sequence[float | None]) -> tuple[float | None, float | None]:
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=float)
    if not len(v):
        return None, None
    return float(v.mean()), (float(v.std(ddof=1)) if len(v) > 1 else None)


def _best(values: Sequence[float], direction: str) -> float:
    return max(values) if direction == "maximize" else min(values)


def aggregate(runs: Sequence[Mapping[str, Any]],
              comparisons: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per (task, method, variant): means over repeats.

    Returns
    -------
    list of dict
        ``task, method, variant, metric, repeats``, ``trials_mean`` (finished within the
        budget), ``failed_mean`` (trials that raised, had a non-finite metric or were
        interrupted), ``cut_mean`` (trials still training when the budget ran out),
        ``stopped_share`` (of finished trials: stopped by the variant's rule), ``best_mean``
        (best result), and for non-plain variants ``tsba_mean/std`` (censored comparisons
        included), ``tsba_reached_mean`` (only the comparisons that reached the baseline's
        best), ``reached`` ("k/n" repeats), ``top10hr_mean/std``.
    """
    groups: dict[tuple[str, str, str], list[Mapping[str, Any]]] = {}
    for r in runs:
        groups.setdefault(_run_key(r)[:3], []).append(r)
    by_group: dict[tuple[str, str, str], list[Comparison]] = {}
    for c in map(Comparison.from_json, comparisons):
        by_group.setdefault((c.task, c.method, c.variant), []).append(c)
    out: list[dict[str, Any]] = []
    for group, rs in groups.items():
        n_fin, n_fail, n_cut, n_stop, best = [], [], [], [], []
        for r in rs:
            budget = float(r["budget_s"])
            pts = finished_points(r["trials"], budget)
            n_fin.append(float(len(pts)))
            n_fail.append(float(sum(t["state"] == "FAIL" and t["outcome"] != "over_budget"
                                    for t in r["trials"])))
            n_cut.append(float(sum(t["outcome"] == "over_budget" for t in r["trials"])))
            n_stop.append(float(sum(t["outcome"] in EARLY_STOP_VARIANTS
                                    and as_float(t["t_end"]) <= budget
                                    for t in r["trials"])))
            if pts:
                best.append(_best([v for _, v in pts], str(r["direction"])))
        task, method, variant = group
        row: dict[str, Any] = {
            "task": task, "method": method, "variant": variant, "metric": rs[0]["metric"],
            "repeats": len(rs), "trials_mean": _mean_std(n_fin)[0],
            "failed_mean": _mean_std(n_fail)[0], "cut_mean": _mean_std(n_cut)[0],
            "stopped_share": (sum(n_stop) / sum(n_fin)) if sum(n_fin) else None,
            "best_mean": _mean_std(best)[0],
        }
        cs = by_group.get(group, [])
        if cs:
            row["tsba_mean"], row["tsba_std"] = _mean_std([c.tsba for c in cs])
            row["tsba_reached_mean"] = _mean_std([c.tsba for c in cs if c.reached])[0]
            row["reached"] = f"{sum(bool(c.reached) for c in cs)}/{len(cs)}"
            row["top10hr_mean"], row["top10hr_std"] = _mean_std([c.top10hr for c in cs])
        out.append(row)
    return out


def mean_std_of(row: Mapping[str, Any], metric: Metric) -> tuple[float | None, float | None]:
    """``(mean, std)`` of ``metric`` in an :func:`aggregate` row (None where absent)."""
    mean, std = _MEAN_STD_KEYS[metric]
    return row.get(mean), row.get(std)


_MEAN_STD_KEYS: dict[Metric, tuple[str, str]] = {"tsba": ("tsba_mean", "tsba_std"),
                                                 "top10hr": ("top10hr_mean", "top10hr_std")}


def indicator_counts(runs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """How often each indicator fired, per task, over the ``bttackler`` runs.

    Returns
    -------
    list of dict
        ``task, indicator, fired`` (trials finished within the budget whose diagnosis names
        the indicator), ``trials`` (finished trials of those runs), ``share`` (%).
    """
    out: list[dict[str, Any]] = []
    tasks = sorted({str(r["task"]) for r in runs if r["variant"] == "bttackler"},
                   key=lambda t: TASKS.index(t) if t in TASKS else len(TASKS))
    for task in tasks:
        counts = dict.fromkeys(INDICATORS, 0)
        n = 0
        for r in runs:
            if r["task"] != task or r["variant"] != "bttackler":
                continue
            budget = float(r["budget_s"])
            for t in r["trials"]:
                if t["state"] not in ("COMPLETE", "PRUNED") or not (
                        as_float(t["t_end"]) <= budget):
                    continue
                n += 1
                for code in t["indicators"]:
                    counts[code] = counts.get(code, 0) + 1
        for code, c in counts.items():
            out.append({"task": task, "indicator": code, "fired": c, "trials": n,
                        "share": 100.0 * c / n if n else None})
    return out


@dataclass(frozen=True)
class VariantNumbers:
    """The headline numbers of one early-stopping variant over every comparison.

    Attributes
    ----------
    tsba : float or None
        Mean TSBA (%), censored comparisons included.
    tsba_reached : float or None
        Mean TSBA (%) of the comparisons that reached the baseline's best.
    top10hr : float or None
        Mean Top10HR (%).
    reached : float or None
        Fraction of the comparisons that reached the baseline's best.
    """

    tsba: float | None
    tsba_reached: float | None
    top10hr: float | None
    reached: float | None


@dataclass(frozen=True)
class Headline:
    """The numbers the paper reports, over every (task, method, repeat) comparison.

    Attributes
    ----------
    n_comparisons : int
    variants : mapping of str to VariantNumbers
        Per early-stopping variant.
    top10hr_etr, tsba_etr : float or None
        Means over the early termination rules (median and curvefit pooled).
    trials : mapping of str to int
        Finished trials summed over the runs of each variant.
    indicator_rank : tuple of str
        Indicator codes by fire count (those that fired).
    """

    n_comparisons: int
    variants: Mapping[str, VariantNumbers]
    top10hr_etr: float | None
    tsba_etr: float | None
    trials: Mapping[str, int]
    indicator_rank: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        """The flat dict ``results.json`` stores (``tsba_<variant>``, ``trials_<variant>``,
        ...; keys and order as the results files always had)."""
        out: dict[str, Any] = {"n_comparisons": self.n_comparisons}
        for variant, nums in self.variants.items():
            out.update({f"{q}_{variant}": v for q, v in _numbers(nums)})
        out["top10hr_etr"], out["tsba_etr"] = self.top10hr_etr, self.tsba_etr
        out.update({f"trials_{v}": n for v, n in self.trials.items()})
        out["indicator_rank"] = list(self.indicator_rank)
        return out

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Headline:
        """The headline of a stored dict (a number missing from an older file: None)."""
        variants: dict[str, VariantNumbers] = {
            v: VariantNumbers(*(d.get(f"{q}_{v}") for q in _QUANTITIES))
            for v in EARLY_STOP_VARIANTS}
        return cls(n_comparisons=int(d.get("n_comparisons", 0)), variants=variants,
                   top10hr_etr=d.get("top10hr_etr"), tsba_etr=d.get("tsba_etr"),
                   trials={v: d[f"trials_{v}"] for v in VARIANTS if f"trials_{v}" in d},
                   indicator_rank=tuple(d.get("indicator_rank", ())))


_QUANTITIES = ("tsba", "tsba_reached", "top10hr", "reached")


def _numbers(nums: VariantNumbers) -> list[tuple[str, float | None]]:
    return [(q, getattr(nums, q)) for q in _QUANTITIES]


def headline(comparisons: Sequence[Mapping[str, Any]],
             runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The numbers the paper reports (:class:`Headline`, as the dict ``results.json``
    stores: ``tsba_<variant>``, ``tsba_reached_<variant>``, ``top10hr_<variant>``,
    ``reached_<variant>``, ``top10hr_etr``, ``tsba_etr``, ``trials_<variant>``,
    ``indicator_rank``, ``n_comparisons``)."""
    cs = [Comparison.from_json(c) for c in comparisons]
    variants: dict[str, VariantNumbers] = {}
    for variant in EARLY_STOP_VARIANTS:
        mine = [c for c in cs if c.variant == variant]
        variants[variant] = VariantNumbers(
            tsba=_mean_std([c.tsba for c in mine])[0],
            tsba_reached=_mean_std([c.tsba for c in mine if c.reached])[0],
            top10hr=_mean_std([c.top10hr for c in mine])[0],
            reached=(sum(bool(c.reached) for c in mine) / len(mine) if mine else None))
    etr = [c for c in cs if c.variant in ETR_VARIANTS]
    trials: dict[str, int] = {
        variant: sum(len(finished_points(r["trials"], float(r["budget_s"])))
                     for r in runs if r["variant"] == variant) for variant in VARIANTS}
    total: dict[str, int] = {}
    for row in indicator_counts(runs):
        total[row["indicator"]] = total.get(row["indicator"], 0) + int(row["fired"])
    rank = tuple(c for c, n in sorted(total.items(), key=lambda kv: -kv[1]) if n)
    return Headline(n_comparisons=len(cs), variants=variants,
                    top10hr_etr=_mean_std([c.top10hr for c in etr])[0],
                    tsba_etr=_mean_std([c.tsba for c in etr])[0], trials=trials,
                    indicator_rank=rank).to_json()


# ----------------------------------------------------------------------------- tables


def comparison_table(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """TSBA and Top10HR per (task, method, variant) of the :func:`aggregate` rows."""
    recs = [{"task": r["task"], "method": r["method"], "variant": r["variant"],
             "TSBA %": as_float(r.get("tsba_mean")), "TSBA std": as_float(r.get("tsba_std")),
             "reached": r.get("reached"),
             "TSBA % (reached)": as_float(r.get("tsba_reached_mean")),
             "Top10HR %": as_float(r.get("top10hr_mean")),
             "Top10HR std": as_float(r.get("top10hr_std"))}
            for r in rows if r["variant"] != "plain"]
    return pd.DataFrame(recs)


def runs_table(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Trials finished, failed, cut, stopped early and best result per :func:`aggregate` row."""
    return pd.DataFrame([{
        "task": r["task"], "method": r["method"], "variant": r["variant"],
        "repeats": r["repeats"], "trials finished": as_float(r["trials_mean"]),
        "failed": as_float(r["failed_mean"]), "cut at budget": as_float(r["cut_mean"]),
        "stopped early %": 100.0 * as_float(r["stopped_share"]),
        f"best {r['metric']}": as_float(r["best_mean"])} for r in rows])


def headline_table(head: Mapping[str, Any]) -> pd.DataFrame:
    """The kit's headline numbers next to the paper's (quantity, kit, paper)."""
    h = Headline.from_json(head)
    bt, med, cf = h.variants["bttackler"], h.variants["median"], h.variants["curvefit"]
    rows = [
        ("TSBA, BTTackler (%)", bt.tsba, PAPER["tsba"]),
        ("TSBA, BTTackler, reached only (%)", bt.tsba_reached, None),
        ("share reaching the baseline's best, BTTackler", bt.reached, None),
        ("Top10HR, BTTackler (%)", bt.top10hr, PAPER["top10hr"]),
        ("Top10HR, early termination rules (%)", h.top10hr_etr, PAPER["top10hr_etr"]),
        ("TSBA, median stop (%)", med.tsba, None),
        ("TSBA, median stop, reached only (%)", med.tsba_reached, None),
        ("TSBA, curve fitting (%)", cf.tsba, None),
        ("TSBA, curve fitting, reached only (%)", cf.tsba_reached, None),
        ("Top10HR, median stop (%)", med.top10hr, None),
        ("Top10HR, curve fitting (%)", cf.top10hr, None),
        ("trials finished, plain", h.trials.get("plain"), None),
        ("trials finished, BTTackler", h.trials.get("bttackler"), None),
    ]
    return pd.DataFrame([{"quantity": q, "kit": as_float(k), "paper": as_float(p)}
                         for q, k, p in rows])

