"""Analysis of the live BTTackler experiment: each repeat's two arms compared, then the repeats.

Per repeat (:func:`compare_live_arms`, the plain arm of the same repeat is the baseline):

* TSBA (:func:`~effdl_kit.diagnosis.tsba`, %) on three clocks: the epoch clock (epochs run by
  the arm's trials so far), wall seconds and CPU seconds since the arm's clock started. Every
  trial of an arm counts, the one that crossed the budget included; a BTTackler arm that never
  reaches the plain arm's best gets ``T_i`` = its own final clock (``reached = False``).
* Top10HR (:func:`~effdl_kit.diagnosis.top10hr`, %): the BTTackler arm's share of the 10 best
  results of both arms.
* Trials per arm, the share of BTTackler trials stopped, the share of its epochs saved
  (``saved / (run + saved)``, ``saved`` = full epochs minus epochs run, over stopped trials),
  the best result per arm.
* With paired configurations (the Random sampler: trial ``n`` has the same params in both
  arms), the stops are checked against what the stopped configuration reached when it trained
  to the end in the plain arm: ``stop_precision`` = share of stopped configurations whose
  plain result is in the plain arm's bottom quartile (the replay's "bad"), and
  ``best_stopped`` = 1 when the plain arm's best configuration was stopped.

Across repeats (:func:`summarize_live`): mean and 95 % percentile bootstrap interval
(:func:`~effdl_kit._core.stats.bootstrap_mean_ci`, repeats resampled) of each quantity, and a
verdict against its null value (TSBA 0, Top10HR 50, differences 0): ``better`` when the whole
interval lies on the good side, ``worse`` when on the bad side, else ``within noise``. The
arms' best results and trial counts are also compared with
:func:`~effdl_kit._core.stats.compare` (bootstrap-t, arms resampled independently). With few
repeats the percentile interval is too narrow (it under-covers); the interval's width is
reported as it is.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from effdl_kit._core.jsonable import as_float, json_float
from effdl_kit._core.stats import bootstrap_mean_ci, compare
from effdl_kit.diagnosis import (
    BTTacklerRule,
    DiagnosisConfig,
    TrialTrace,
    replay_stop_rules,
    top10hr,
    tsba,
)

__all__ = [
    "LIVE_CLOCKS",
    "LIVE_QUANTITIES",
    "arm_points",
    "best_so_far",
    "compare_live_arms",
    "replay_reference",
    "summarize_live",
]

#: Clock name -> the trial record's key holding that clock at the trial's end.
LIVE_CLOCKS: dict[str, str] = {"epochs": "epoch_clock", "wall": "wall_clock", "cpu": "cpu_clock"}
#: Quantity -> (label, null value, direction of "better": +1 higher, -1 lower, 0 no verdict).
LIVE_QUANTITIES: dict[str, tuple[str, float, int]] = {
    "tsba_epochs": ("TSBA, epoch clock (%)", 0.0, 1),
    "tsba_wall": ("TSBA, wall clock (%)", 0.0, 1),
    "tsba_cpu": ("TSBA, CPU clock (%)", 0.0, 1),
    "reached": ("BTTackler reached the plain best (share)", math.nan, 0),
    "top10hr": ("Top10HR of BTTackler (%)", 50.0, 1),
    "trials_plain": ("trials, plain arm", math.nan, 0),
    "trials_bttackler": ("trials, BTTackler arm", math.nan, 0),
    "trials_diff": ("trials, BTTackler − plain", 0.0, 1),
    "stop_share": ("BTTackler trials stopped (%)", math.nan, 0),
    "epochs_saved": ("epochs saved by the stops (%)", math.nan, 0),
    "best_plain": ("best val accuracy, plain", math.nan, 0),
    "best_bttackler": ("best val accuracy, BTTackler", math.nan, 0),
    "best_diff": ("best val accuracy, BTTackler − plain", 0.0, 1),
    "stop_precision": ("stopped configs in the plain bottom quartile (%)", math.nan, 0),
    "best_stopped": ("plain arm's best config stopped (share)", math.nan, 0),
}


def arm_points(trials: Sequence[Mapping[str, Any]], clock: str = "epochs"
               ) -> list[tuple[float, float]]:
    """``(clock at the trial's end, result)`` of an arm's trials with a finite result.

    Parameters
    ----------
    trials : sequence of mapping
        Trial records of one arm (:func:`~._live.run_arm`).
    clock : {"epochs", "wall", "cpu"}
    """
    key = LIVE_CLOCKS[clock]
    out = []
    for t in trials:
        v, c = as_float(t.get("value")), as_float(t.get(key))
        if math.isfinite(v) and math.isfinite(c):
            out.append((c, v))
    return out


def best_so_far(trials: Sequence[Mapping[str, Any]], grid: npt.ArrayLike,
                clock: str = "epochs") -> np.ndarray:
    """The arm's best result so far at each clock value of ``grid`` (NaN before the first).

    Parameters
    ----------
    trials : sequence of mapping
        Trial records of one arm.
    grid : array_like, shape (n,)
        Clock values, ascending.
    clock : {"epochs", "wall", "cpu"}

    Returns
    -------
    ndarray, shape (len(grid),)
    """
    pts = sorted(arm_points(trials, clock))
    g = np.asarray(grid, dtype=np.float64)
    out = np.full(len(g), np.nan)
    best = -np.inf
    j = 0
    for i, x in enumerate(g):
        while j < len(pts) and pts[j][0] <= x:
            best = max(best, pts[j][1])
            j += 1
        if np.isfinite(best):
            out[i] = best
    return out


def _values(trials: Sequence[Mapping[str, Any]]) -> list[float]:
    return [v for _, v in arm_points(trials)]


def _paired_stops(plain: Sequence[Mapping[str, Any]], bt: Sequence[Mapping[str, Any]]
                  ) -> tuple[float, float]:
    """``(stop_precision %, best_stopped)`` over stopped BTTackler trials whose number and
    params match a finished plain trial (NaN when none match)."""
    by_number = {int(t["number"]): t for t in plain}
    plain_vals = _values(plain)
    if not plain_vals:
        return math.nan, math.nan
    q25 = float(np.quantile(plain_vals, 0.25))
    best = max(plain_vals)
    bad, n, best_hit = 0, 0, 0.0
    for t in bt:
        p = by_number.get(int(t["number"]))
        if not t.get("stopped") or p is None or p.get("params") != t.get("params"):
            continue
        v = as_float(p.get("value"))
        n += 1
        bad += int(not math.isfinite(v) or v <= q25)
        best_hit = max(best_hit, float(math.isfinite(v) and v >= best))
    paired_any = any(int(t["number"]) in by_number
                     and by_number[int(t["number"])].get("params") == t.get("params")
                     for t in bt)
    return (100.0 * bad / n if n else math.nan), (best_hit if paired_any else math.nan)


def compare_live_arms(plain: Mapping[str, Any], bttackler: Mapping[str, Any], *, epochs: int
                 ) -> dict[str, Any]:
    """The quantities of one repeat (see the module docstring).

    Parameters
    ----------
    plain, bttackler : mapping
        Arm records (:func:`~._live.run_arm`); ``plain`` is the baseline.
    epochs : int
        Epochs of a full trial.

    Returns
    -------
    dict
        One value per :data:`LIVE_QUANTITIES` key (NaN where undefined), plus
        ``tsba_<clock>_detail`` (the :class:`~effdl_kit.diagnosis.TSBAResult` as a dict).
    """
    pt, bt = list(plain["trials"]), list(bttackler["trials"])
    row: dict[str, Any] = {}
    for clock, key in LIVE_CLOCKS.items():
        horizon = max([as_float(bttackler.get(key)), *(c for c, _ in arm_points(bt, clock)),
                       1e-12])
        res = tsba(arm_points(bt, clock), arm_points(pt, clock), direction="maximize",
                   horizon_s=horizon)
        row[f"tsba_{clock}"] = res.tsba
        row[f"tsba_{clock}_detail"] = res.to_dict()
        if clock == "epochs":
            row["reached"] = float(res.reached)
    pv, bv = _values(pt), _values(bt)
    row["top10hr"] = top10hr(bv, pv, direction="maximize")
    row["trials_plain"], row["trials_bttackler"] = float(len(pt)), float(len(bt))
    row["trials_diff"] = float(len(bt) - len(pt))
    stopped = [t for t in bt if t.get("stopped")]
    row["stop_share"] = 100.0 * len(stopped) / len(bt) if bt else math.nan
    saved = sum(max(epochs - int(t["epochs"]), 0) for t in stopped)
    run = sum(int(t["epochs"]) for t in bt)
    row["epochs_saved"] = 100.0 * saved / (run + saved) if run + saved else math.nan
    row["best_plain"] = max(pv) if pv else math.nan
    row["best_bttackler"] = max(bv) if bv else math.nan
    row["best_diff"] = row["best_bttackler"] - row["best_plain"]
    row["stop_precision"], row["best_stopped"] = _paired_stops(pt, bt)
    return row


def _verdict(lo: float, hi: float, null: float, sign: int) -> str | None:
    if sign == 0 or not (math.isfinite(lo) and math.isfinite(hi)):
        return None
    if (lo > null) if sign > 0 else (hi < null):
        return "better"
    if (hi < null) if sign > 0 else (lo > null):
        return "worse"
    return "within noise"


def summarize_live(repeats: Sequence[Mapping[str, Any]], *, epochs: int, seed: int = 0
              ) -> dict[str, Any]:
    """Compare the arms of every repeat and summarise over repeats.

    Parameters
    ----------
    repeats : sequence of mapping
        Repeat records (``repeat`` and ``arms: {"plain": ..., "bttackler": ...}``).
    epochs : int
        Epochs of a full trial.
    seed : int
        Seed of the bootstrap.

    Returns
    -------
    dict
        ``n_repeats``; ``per_repeat``: one :func:`compare_live_arms` row per repeat (with
        ``repeat``); ``quantities``: one row per :data:`LIVE_QUANTITIES` key with ``label``,
        ``mean``, ``lo``, ``hi`` (95 % percentile bootstrap interval over repeats), ``n``
        (repeats with a finite value), ``null`` and ``verdict`` (None where no verdict
        applies); ``comparisons``: the arms' best results and trial counts compared with
        :func:`~effdl_kit._core.stats.compare` (BTTackler as ``a``, values negated so that
        "better" means higher; None with fewer than 2 repeats). Non-finite numbers are None.
    """
    rows = []
    for rep in repeats:
        row = compare_live_arms(rep["arms"]["plain"], rep["arms"]["bttackler"], epochs=epochs)
        rows.append({"repeat": int(rep["repeat"]), **row})
    quantities = []
    for q, (label, null, sign) in LIVE_QUANTITIES.items():
        vals = np.asarray([r[q] for r in rows], dtype=np.float64)
        vals = vals[np.isfinite(vals)]
        mean, lo, hi = (bootstrap_mean_ci(vals, seed=seed) if len(vals)
                        else (math.nan, math.nan, math.nan))
        quantities.append({"quantity": q, "label": label, "mean": json_float(mean),
                           "lo": json_float(lo), "hi": json_float(hi), "n": len(vals),
                           "null": json_float(null), "verdict": _verdict(lo, hi, null, sign)})
    comparisons: dict[str, Any] = {}
    for name, a_key, b_key in (("best", "best_bttackler", "best_plain"),
                               ("trials", "trials_bttackler", "trials_plain")):
        a = [-r[a_key] for r in rows if math.isfinite(r[a_key])]
        b = [-r[b_key] for r in rows if math.isfinite(r[b_key])]
        if len(a) >= 2 and len(b) >= 2:
            c = compare(a, b, seed=seed)
            comparisons[name] = {"diff": -c.diff, "lo": -c.hi, "hi": -c.lo,
                                 "verdict": c.verdict}
        else:
            comparisons[name] = None
    clean = [{k: (json_float(v) if isinstance(v, float) else v) for k, v in r.items()}
             for r in rows]
    return {"n_repeats": len(rows), "per_repeat": clean, "quantities": quantities,
            "comparisons": comparisons}


def replay_reference(traces: Sequence[TrialTrace], *, trials: int,
                     config: DiagnosisConfig | None = None, n_orderings: int = 1000,
                     seed: int = 0) -> dict[str, Any]:
    """What the replay (:func:`~effdl_kit.diagnosis.replay_stop_rules`) says for the same
    question, for the live result to be set beside it.

    Parameters
    ----------
    traces : sequence of TrialTrace
        Recorded trials of the same task (natural rows: no injected pathology).
    trials : int
        The budget in full trials (the live arm's ``epoch_budget / epochs``); the replay's
        budget is ``trials x`` the traces' epochs, on the epoch clock.
    config : DiagnosisConfig, optional
        The BTTackler rule's configuration (the live arm's).
    n_orderings, seed : int
        Of the replay.

    Returns
    -------
    dict
        ``n_traces``, ``trace_epochs``, ``budget_epochs``, ``n_orderings``, ``bad_threshold``
        and ``quantities``: ``{quantity: {"mean", "lo", "hi"}}`` for tsba, top10hr,
        trials_finished, baseline_finished, epochs_saved (%), stop_rate (%), and
        ``precision`` (% of stops that were bad: bottom quartile of the final metric).
    """
    traces = list(traces)
    if len(traces) < 2:
        raise ValueError(f"replay_reference needs at least 2 traces, got {len(traces)}")
    n_ep = max(t.max_epochs for t in traces)
    budget = float(trials * n_ep)
    res = replay_stop_rules(traces, [BTTacklerRule(config)], budget=budget,
                            n_orderings=n_orderings, seed=seed)
    out: dict[str, Any] = {}
    scale = {"epochs_saved": 100.0, "stop_rate": 100.0}
    for q in ("tsba", "top10hr", "trials_finished", "baseline_finished", "epochs_saved",
              "stop_rate"):
        m, lo, hi = res.ci("bttackler", q)
        f = scale.get(q, 1.0)
        out[q] = {"mean": json_float(m * f), "lo": json_float(lo * f), "hi": json_float(hi * f)}
    ind = res.indicators
    any_row = ind[(ind["rule"] == "bttackler") & (ind["indicator"] == "any")]
    prec = float(any_row["precision"].iloc[0]) * 100.0 if len(any_row) else math.nan
    out["precision"] = {"mean": json_float(prec), "lo": None, "hi": None}
    return {"n_traces": len(traces), "trace_epochs": n_ep, "budget_epochs": budget,
            "n_orderings": n_orderings, "bad_threshold": json_float(res.bad_threshold),
            "quantities": out}
