"""Analysis of the search study: simple regret with bootstrap intervals, verdicts, controls.

Simple regret = the predictor's exhaustive maximum over the grid − the best value a method
found (0: it found the grid's best). Every interval is 95 %; every verdict uses one rule
(:func:`effdl_kit._core.stats.compare`): method A **better** than B when the bootstrap-t
interval of ``mean(regret_A) − mean(regret_B)`` over seeds lies below 0, **worse** when above,
**within noise** otherwise.

Controls, run by the study and required by the tests:

* **negative (A/A)**: random search against random search on other seeds
  (:func:`aa_control`) must come out "within noise";
* **positive**: on the known-optimum problem (:mod:`._control`), the kit's αβ-BO against
  random search must come out "better", and reach the optimum within the budget in most
  seeds (:func:`positive_control_table`).

Repeats: 20 seeds at ``small`` and ``paper``. With regrets spread like the authors'
predictor's (std ≈ 0.005 between seeds), 20 seeds per method resolve a difference in mean
regret of about 0.003 (the half-width of the interval); the study reports the interval, so a
reader sees what was resolved.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from effdl_kit._core.errors import DataError
from effdl_kit._core.stats import Comparison, bootstrap_mean_ci, compare, mean_curve_band
from effdl_kit.experiments.efficientdl._settings import METHOD_LABELS

__all__ = [
    "ZERO_REGRET",
    "aa_control",
    "ablation_table",
    "ablation_tables",
    "final_regrets",
    "method_table",
    "positive_control_table",
    "regret_bands",
    "regret_verdicts",
]

#: A regret at or below this counts as "found the grid maximum" (float round-off).
ZERO_REGRET = 1e-12
_LABELS: dict[str, str] = {str(m): label for m, label in METHOD_LABELS.items()}


def _check(curves: pd.DataFrame) -> None:
    need = {"method", "seed", "iteration", "regret", "best_so_far", "search_s"}
    missing = sorted(need - set(curves.columns))
    if missing:
        raise DataError(f"not a search-curve frame: columns {missing} missing (results "
                        "written before regrets were recorded: re-run the search)")


def final_regrets(curves: pd.DataFrame, *, at: int | None = None) -> pd.DataFrame:
    """One row per (method, seed): the regret and best value after ``at`` calls (default:
    the last)."""
    _check(curves)
    part = curves if at is None else curves[curves["iteration"] <= at]
    return (part.sort_values("iteration").groupby(["method", "seed"], sort=False).tail(1)
            .reset_index(drop=True))


def method_table(curves: pd.DataFrame, *, at: int | None = None) -> pd.DataFrame:
    """Per method after ``at`` calls (default: the last): mean regret and its 95 % interval,
    share of seeds at the grid maximum, mean best value, search seconds, rank (1 = lowest mean
    regret).

    Returns
    -------
    pandas.DataFrame
        Columns ``method, seeds, regret mean, regret lo, regret hi, at grid max, best mean,
        search s (mean), rank``, sorted by rank; ``method`` is the display label.
    """
    last = final_regrets(curves, at=at)
    rows = []
    for m, g in last.groupby("method", sort=False):
        r = g["regret"].to_numpy(dtype=float)
        mean, lo, hi = bootstrap_mean_ci(r)
        rows.append({"method": _LABELS.get(str(m), str(m)), "seeds": len(g),
                     "regret mean": mean, "regret lo": lo, "regret hi": hi,
                     "at grid max": float(np.mean(r <= ZERO_REGRET)),
                     "best mean": float(g["best_so_far"].mean()),
                     "search s (mean)": float(g["search_s"].mean())})
    table = pd.DataFrame(rows)
    table["rank"] = table["regret mean"].rank(method="min").astype(int)
    return table.sort_values(["rank", "method"]).reset_index(drop=True)


def _regrets(last: pd.DataFrame, method: str) -> np.ndarray:
    return last.loc[last["method"] == method, "regret"].to_numpy(dtype=float)


def regret_verdicts(curves: pd.DataFrame, method: str, references: Sequence[str], *,
                    checkpoints: Sequence[int] | None = None) -> pd.DataFrame:
    """``method`` against each reference at each checkpoint: difference in mean regret, its
    interval and the verdict.

    Parameters
    ----------
    curves : pandas.DataFrame
        From :func:`~._search.compare_methods`.
    method : str
        The method judged (a key of :data:`METHOD_LABELS`).
    references : sequence of str
        Methods it is compared with (those present in ``curves``).
    checkpoints : sequence of int, optional
        Predictor calls at which to compare; default: a quarter, half and all of the budget.

    Returns
    -------
    pandas.DataFrame
        Columns ``method, reference, calls, diff, lo, hi, verdict`` (``diff`` = mean regret of
        ``method`` − of ``reference``; "better" means lower regret).
    """
    _check(curves)
    n = int(curves["iteration"].max())
    calls = sorted({max(1, n // 4), max(1, n // 2), n}) if checkpoints is None \
        else sorted(set(checkpoints))
    present = set(curves["method"])
    rows = []
    for c in calls:
        last = final_regrets(curves, at=c)
        for ref in references:
            if ref == method or ref not in present or method not in present:
                continue
            cmp = compare(_regrets(last, method), _regrets(last, ref))
            rows.append({"method": method, "reference": ref, "calls": c, **cmp.to_json()})
    return pd.DataFrame(rows, columns=["method", "reference", "calls", "diff", "lo", "hi",
                                       "verdict"])


def aa_control(curves_a: pd.DataFrame, curves_b: pd.DataFrame, method: str = "random"
               ) -> Comparison:
    """The negative control: ``method`` on one set of seeds against the same method on
    another, at the last call. It must come out "within noise"."""
    return compare(_regrets(final_regrets(curves_a), method),
                   _regrets(final_regrets(curves_b), method))


def positive_control_table(curves: pd.DataFrame, method: str = "alpha_beta_kit",
                           reference: str = "random") -> dict[str, object]:
    """The positive control's summary: ``method`` against ``reference`` on the known-optimum
    problem (one problem per seed), and the share of seeds reaching the optimum.

    Returns
    -------
    dict
        ``comparison`` (the verdict dict, "better" expected), ``reached`` and
        ``reached_reference`` (share of seeds at regret 0 after the last call),
        ``median_calls`` (median calls to reach it, over the seeds that did), ``calls``.
    """
    last = final_regrets(curves)
    cmp = compare(_regrets(last, method), _regrets(last, reference))
    mine = curves[curves["method"] == method]
    hits = mine[mine["regret"] <= ZERO_REGRET].groupby("seed")["iteration"].min()
    return {"method": method, "reference": reference, "comparison": cmp.to_json(),
            "reached": float(np.mean(_regrets(last, method) <= ZERO_REGRET)),
            "reached_reference": float(np.mean(_regrets(last, reference) <= ZERO_REGRET)),
            "median_calls": float(hits.median()) if len(hits) else float("nan"),
            "calls": int(curves["iteration"].max()), "seeds": int(mine["seed"].nunique())}


def regret_bands(curves: pd.DataFrame, method: str) -> pd.DataFrame:
    """Mean regret of ``method`` per call with its pointwise 95 % bootstrap band.

    Returns
    -------
    pandas.DataFrame
        Columns ``iteration, mean, lo, hi``.
    """
    _check(curves)
    g = curves[curves["method"] == method].pivot(index="seed", columns="iteration",
                                                 values="regret")
    mean, lo, hi = mean_curve_band(g.to_numpy(dtype=float))
    return pd.DataFrame({"iteration": g.columns.to_numpy(), "mean": mean, "lo": lo, "hi": hi})


def ablation_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Per ablation cell: mean final regret and its interval, the verdict against the default
    cell (α = 0.54, β = 1.01, Ω = 0.1) and the share of seeds whose run took the default's path.

    Returns
    -------
    pandas.DataFrame
        Columns ``part, alpha, beta, omega, seeds, regret mean, regret lo, regret hi,
        vs default, diff lo, diff hi, same path``.
    """
    default = frame[(frame["alpha"] == 0.54) & (frame["beta"] == 1.01)
                    & (frame["omega"] == 0.1)].drop_duplicates("seed")
    ref = default["regret"].to_numpy(dtype=float)
    rows = []
    for (part, a, b, o), g in frame.groupby(["part", "alpha", "beta", "omega"], sort=False):
        r = g["regret"].to_numpy(dtype=float)
        mean, lo, hi = bootstrap_mean_ci(r)
        is_default = (a, b, o) == (0.54, 1.01, 0.1)
        if is_default or len(r) < 2 or len(ref) < 2:
            verdict, dlo, dhi = ("default" if is_default else "too few seeds"), 0.0, 0.0
        else:
            cmp = compare(r, ref)
            verdict, dlo, dhi = cmp.verdict, cmp.lo, cmp.hi
        rows.append({"part": part, "alpha": a, "beta": b, "omega": o, "seeds": len(r),
                     "regret mean": mean, "regret lo": lo, "regret hi": hi,
                     "vs default": verdict, "diff lo": dlo, "diff hi": dhi,
                     "same path": float(g["same_path"].mean())})
    return pd.DataFrame(rows)


def ablation_tables(frame: pd.DataFrame, table: pd.DataFrame | None = None
                    ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(α x β pivot of the mean final regret at Ω = 0.1, the Ω rows of
    :func:`ablation_table`); ``table``: that table of ``frame`` when already computed."""
    ab = frame[frame["part"] == "alpha_beta"].pivot_table(index="alpha", columns="beta",
                                                          values="regret", aggfunc="mean")
    if table is None:
        table = ablation_table(frame)
    om = table[table["part"] == "omega"].drop(columns=["part", "alpha", "beta"])
    return ab, om.reset_index(drop=True)
