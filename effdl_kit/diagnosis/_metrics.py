"""The BTTackler paper's measurements of early termination inside HPO: TSBA and Top10HR.

Both compare a run with early termination (the *method*) to the plain run of the same HPO
method (the *baseline*) from the trials that count, as ``(t_end, result)`` points
(:func:`finished_points`: trials finished within the run's budget; a trial's *result* is its
value, the last reported metric of a stopped trial):

* :func:`tsba` ``= (1 - T_i / T_j) x 100 %``: ``T_j`` the time at which the baseline first
  reached its best result, ``T_i`` the time at which the method first reached a result at
  least as good (ties count as reached). A method that never reaches it within its budget gets
  ``T_i = horizon`` (``reached = False``): an upper bound of the true, unobserved TSBA.
* :func:`top10hr`: the share of the 10 best results of the pooled trials of both runs that
  come from the method, in %; trials tied with the 10th best share the remaining slots
  equally (so the two runs' shares always add up to 100 %).

>>> base = [(1.0, 0.5), (2.0, 0.7)]
>>> tsba([(1.0, 0.7)], base, direction="maximize", horizon_s=10).tsba
50.0
>>> top10hr([0.9, 0.8], [0.7], direction="maximize")
66.66666666666667
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from effdl_kit._core.jsonable import as_float, json_float
from effdl_kit._core.types import DIRECTIONS, Direction
from effdl_kit._core.validate import check_choice, check_float, check_int

__all__ = ["TOP_K", "TSBAResult", "finished_points", "top10hr", "tsba"]

#: Top-k of Top10HR.
TOP_K = 10
#: Trial states whose value is a result (a trial stopped early is PRUNED or COMPLETE).
_FINISHED_STATES: tuple[str, ...] = ("COMPLETE", "PRUNED")






def _check_direction(direction: Any) -> Direction:
    check_choice("direction", direction, DIRECTIONS)
    return "maximize" if direction == "maximize" else "minimize"


def _at_least_as_good(v: float, target: float, direction: Direction) -> bool:
    return v >= target if direction == "maximize" else v <= target


def finished_points(trials: Sequence[Mapping[str, Any]], budget_s: float
                    ) -> list[tuple[float, float]]:
    """``(t_end, result)`` of the trials that count: finished within the budget.

    Parameters
    ----------
    trials : sequence of mapping
        Trial records (``state``, ``value``, ``t_end``), as the ``bttackler`` experiment
        stores them in ``results.json``.
    budget_s : float
        The run's budget (seconds of run clock).

    Returns
    -------
    list of (float, float)
        COMPLETE and PRUNED trials with a finite value and ``t_end <= budget_s``, in record
        order.
    """
    out: list[tuple[float, float]] = []
    for r in trials:
        if r.get("state") not in _FINISHED_STATES:
            continue
        v, t = as_float(r.get("value")), as_float(r.get("t_end"))
        if math.isfinite(v) and math.isfinite(t) and t <= budget_s:
            out.append((t, v))
    return out


@dataclass(frozen=True)
class TSBAResult:
    """Time Saved for the Baseline's best Accuracy of one (method, baseline) pair.

    Attributes
    ----------
    tsba : float
        ``(1 - t_method / t_baseline) x 100`` in %; NaN when the baseline has no result.
    t_method : float
        Run-clock seconds the method needed to reach ``target`` (the horizon when it never
        did).
    t_baseline : float
        Run-clock seconds the baseline needed to reach its own best result.
    target : float
        The baseline's best result.
    reached : bool
        Whether the method reached ``target`` within the horizon.
    """

    tsba: float
    t_method: float
    t_baseline: float
    target: float
    reached: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict (non-finite numbers as None)."""
        return {"tsba": json_float(self.tsba), "t_method": json_float(self.t_method),
                "t_baseline": json_float(self.t_baseline), "target": json_float(self.target),
                "reached": self.reached}


def _time_to_reach(points: Sequence[tuple[float, float]], target: float,
                   direction: Direction) -> float | None:
    times = [t for t, v in points if _at_least_as_good(v, target, direction)]
    return min(times) if times else None


def tsba(
    method: Sequence[tuple[float, float]],
    baseline: Sequence[tuple[float, float]],
    *,
    direction: str,
    horizon_s: float,
) -> TSBAResult:
    """TSBA of ``method`` against ``baseline`` (both as ``(t_end, result)`` points).

    Parameters
    ----------
    method, baseline : sequence of (float, float)
        The trials that count (see :func:`finished_points`: finished within the budget) as
        ``(run-clock time at completion, result)``; points with a non-finite entry are
        ignored.
    direction : {"maximize", "minimize"}
        Whether a higher result is better.
    horizon_s : float
        End of the method's observation window (> 0): its budget. The censoring time
        ``T_i`` of a method that never reaches the target (then ``TSBA <= 0``, since the
        baseline reached it within the same budget).

    Returns
    -------
    TSBAResult
        ``T_j``: first time the baseline's best-so-far equals its best result; ``T_i``: first
        time the method has a result at least as good (``>=`` when maximising, ties
        included); ``TSBA = (1 - T_i / T_j) x 100``.

    Raises
    ------
    ConfigError
        An unknown direction, or ``horizon_s`` not > 0.
    """
    direction_ = _check_direction(direction)
    horizon_s = check_float("horizon_s", horizon_s, min_value=0.0, min_inclusive=False)

    def ok(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
        return [(float(t), float(v)) for t, v in points
                if math.isfinite(t) and math.isfinite(v)]

    base, meth = ok(baseline), ok(method)
    nan = float("nan")
    if not base:
        return TSBAResult(nan, nan, nan, nan, False)
    values = [v for _, v in base]
    target = max(values) if direction_ == "maximize" else min(values)
    t_j = _time_to_reach(base, target, direction_)
    assert t_j is not None  # the target is one of the baseline's own results
    t_i = _time_to_reach(meth, target, direction_)
    reached = t_i is not None
    t_i_val = t_i if t_i is not None else horizon_s
    value = (1.0 - t_i_val / t_j) * 100.0 if t_j > 0 else nan
    return TSBAResult(value, t_i_val, t_j, target, reached)


def top10hr(method: Sequence[float], baseline: Sequence[float], *, direction: str,
            k: int = TOP_K) -> float:
    """Top-k hit ratio of ``method`` against ``baseline``, in %.

    Parameters
    ----------
    method, baseline : sequence of float
        Results of the two runs' finished trials (non-finite values ignored).
    direction : {"maximize", "minimize"}
    k : int
        Size of the top set (10 in the paper); with fewer pooled trials, all of them.

    Returns
    -------
    float
        ``100 x (method's trials among the k best of the pooled trials) / k``. Trials tied
        with the k-th best share the remaining slots equally, so the two runs' ratios add up
        to 100. NaN when neither run has a result.

    Raises
    ------
    ConfigError
        An unknown direction, or ``k < 1``.
    """
    direction_ = _check_direction(direction)
    k = check_int("k", k, min_value=1)
    sign = 1.0 if direction_ == "maximize" else -1.0
    pooled = ([(sign * float(v), 1) for v in method if math.isfinite(float(v))]
              + [(sign * float(v), 0) for v in baseline if math.isfinite(float(v))])
    if not pooled:
        return float("nan")
    k_eff = min(k, len(pooled))
    scores = sorted((s for s, _ in pooled), reverse=True)
    cut = scores[k_eff - 1]
    better = [(s, m) for s, m in pooled if s > cut]
    tied = [(s, m) for s, m in pooled if s == cut]
    share = (k_eff - len(better)) / len(tied)
    hits = sum(m for _, m in better) + share * sum(m for _, m in tied)
    return 100.0 * hits / k_eff
