"""Replay of stop rules on recorded traces over random trial orderings (issue 15, part 2).

:func:`replay_stop_rules` runs the same traces (:class:`TrialTrace`) under each stop rule and
under the plain run (no rule) in many random orderings, one trial after another, with a
budget (epochs run, or recorded wall seconds), and measures each rule against the plain run
of the same ordering with the kit's :func:`tsba` and :func:`top10hr`. :func:`replay_tpe` does
the same with the order chosen by a seeded TPE sampler that sees the replayed results
(each sampled point runs the nearest trace not yet run).

>>> from effdl_kit.diagnosis import EpochRecord, NoStopRule, TrialTrace
>>> def trace(i, final):
...     recs = tuple(EpochRecord((0.1, 0.1), (0.0, 0.0), True, 1.0 / (e + 1), 1.0,
...                              final * (e + 1) / 4) for e in range(4))
...     return TrialTrace(f"c{i}", recs)
>>> res = replay_stop_rules([trace(i, 0.5 + i / 20) for i in range(8)], [NoStopRule()],
...                         budget=16, n_orderings=20, seed=0, n_boot=200)
>>> res.ci("none", "tsba"), res.ci("none", "top10hr")
((0.0, 0.0, 0.0), (50.0, 50.0, 50.0))
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import optuna
import pandas as pd
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution

from effdl_kit._core.errors import ConfigError
from effdl_kit._core.jsonable import as_float, json_float, records
from effdl_kit._core.stats import bootstrap_mean_ci
from effdl_kit._core.validate import check_choice, check_float, check_int
from effdl_kit.diagnosis._config import DiagnosisConfig
from effdl_kit.diagnosis._metrics import top10hr, tsba
from effdl_kit.diagnosis._replay_rules import (
    BTTacklerRule,
    CurveFitRule,
    MedianRule,
    ReplayHistory,
    StopRule,
    TrialTrace,
)

__all__ = ["QUANTITIES", "ReplayResult", "default_rules", "replay_stop_rules", "replay_tpe",
           "trace_space"]

Clock = Literal["epochs", "wall"]
#: The per-ordering quantities of :attr:`ReplayResult.per_ordering` that get a CI.
QUANTITIES: tuple[str, ...] = ("tsba", "top10hr", "reached", "trials_finished",
                               "baseline_finished", "epochs_saved", "stop_rate")
#: Label of the "any stop" row of the indicator table.
ANY = "any"


def default_rules(config: DiagnosisConfig | None = None) -> list[StopRule]:
    """BTTackler (``config``), Optuna's median rule and the curve-fit rule, default settings."""
    return [BTTacklerRule(config), MedianRule(), CurveFitRule()]


@dataclass(frozen=True)
class ReplayResult:
    """What :func:`replay_stop_rules` measured.

    Attributes
    ----------
    per_ordering : DataFrame
        One row per (rule, ordering): ``tsba`` (%), ``top10hr`` (%), ``reached`` (1 if the
        rule reached the plain run's best within the budget), ``trials_finished`` and
        ``baseline_finished`` (trials finished within the budget), ``epochs_saved`` (fraction
        of the full epochs of the rule's finished trials it did not run), ``stop_rate``
        (fraction of all trials the rule stopped, budget or not).
    summary : DataFrame
        One row per (rule, quantity): ``mean``, ``lo``, ``hi`` (95 % percentile bootstrap CI
        of the mean over orderings, the resampling unit) and ``n`` (orderings with a finite
        value).
    indicators : DataFrame
        One row per (rule, label): ``flagged`` (trial stops carrying the label, pooled over
        orderings), ``true_pos`` (of those, bad trials), ``precision``, ``recall``; the
        ``"any"`` row is the rule's stops of any kind.
    stop_epochs : DataFrame
        One row per (rule, epoch) with a stop: ``count`` of trials stopped after that epoch
        (0-based), pooled over orderings (feed it to ``RandomStopRule(stop_epochs=...)`` to
        match a rule's timing).
    bad_threshold : float
        Final metric at or beyond which a trial is bad (the bottom quartile).
    n_bad : int
        Bad trials among the traces.
    budget : float
    clock : {"epochs", "wall"}
    n_orderings, seed : int
    """

    per_ordering: pd.DataFrame
    summary: pd.DataFrame
    indicators: pd.DataFrame
    stop_epochs: pd.DataFrame
    bad_threshold: float
    n_bad: int
    budget: float
    clock: Clock
    n_orderings: int
    seed: int

    def ci(self, rule: str, quantity: str) -> tuple[float, float, float]:
        """``(mean, lo, hi)`` of ``quantity`` for ``rule``."""
        row = self.summary[(self.summary["rule"] == rule)
                           & (self.summary["quantity"] == quantity)]
        if row.empty:
            raise ConfigError("rule/quantity", (rule, quantity), "a pair in the summary")
        r = row.iloc[0]
        return float(r["mean"]), float(r["lo"]), float(r["hi"])

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (non-finite numbers as None)."""
        return {"per_ordering": records(self.per_ordering), "summary": records(self.summary),
                "indicators": records(self.indicators),
                "stop_epochs": records(self.stop_epochs),
                "bad_threshold": json_float(self.bad_threshold), "n_bad": self.n_bad,
                "budget": self.budget, "clock": self.clock, "n_orderings": self.n_orderings,
                "seed": self.seed}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ReplayResult:
        """Inverse of :meth:`to_dict`."""
        def frame(key: str) -> pd.DataFrame:
            return pd.DataFrame.from_records(d[key]).fillna(value=np.nan)

        clock: Clock = "wall" if d["clock"] == "wall" else "epochs"
        return cls(per_ordering=frame("per_ordering"), summary=frame("summary"),
                   indicators=frame("indicators"), stop_epochs=frame("stop_epochs"),
                   bad_threshold=as_float(d["bad_threshold"]),
                   n_bad=int(d["n_bad"]), budget=float(d["budget"]), clock=clock,
                   n_orderings=int(d["n_orderings"]), seed=int(d["seed"]))


def _bad_mask(traces: Sequence[TrialTrace]) -> tuple[np.ndarray, float]:
    """Bad = final metric in the bottom quartile of all traces' final metrics (direction
    aware: ``<= q25`` when maximising, ``>= q75`` when minimising); a non-finite final metric
    is bad."""
    final = np.asarray([t.final_metric for t in traces], dtype=np.float64)
    ok = np.isfinite(final)
    maximize = traces[0].direction == "maximize"
    if not ok.any():
        return np.ones(len(traces), dtype=bool), float("nan")
    thr = float(np.quantile(final[ok], 0.25 if maximize else 0.75))
    with np.errstate(invalid="ignore"):
        bad = ~ok | ((final <= thr) if maximize else (final >= thr))
    return bad, thr


def _check_traces(traces: Sequence[TrialTrace]) -> None:
    if len(traces) < 2 or not all(isinstance(t, TrialTrace) for t in traces):
        raise ConfigError("traces", f"{len(traces)} items", "at least 2 TrialTrace objects")
    ids = [t.config_id for t in traces]
    if len(set(ids)) != len(ids):
        raise ConfigError("traces", "duplicate config_id", "unique config ids")
    if len({t.direction for t in traces}) != 1:
        raise ConfigError("traces", "mixed directions", "one direction for all traces")


def _setup(traces: Sequence[TrialTrace], rules: Sequence[StopRule] | None, budget: float,
           seed: int, clock: str, n_boot: int
           ) -> tuple[list[TrialTrace], list[StopRule], float, int, Clock, int, np.ndarray,
                      float, list[np.ndarray]]:
    """What both replays check and prepare: the traces, the rules (each :meth:`prepare`-d),
    budget, seed, clock, resamples, the bad mask and threshold, and each trace's cumulative
    cost per epoch on the clock."""
    traces = list(traces)
    _check_traces(traces)
    rules = default_rules() if rules is None else list(rules)
    _check_rules(rules)
    budget = check_float("budget", budget, min_value=0.0, min_inclusive=False)
    seed = check_int("seed", seed, min_value=0)
    check_choice("clock", clock, ("epochs", "wall"))
    n_boot = check_int("n_boot", n_boot, min_value=100)
    clock_: Clock = "wall" if clock == "wall" else "epochs"
    bad, thr = _bad_mask(traces)
    cost = [np.cumsum([r.wall_s for r in t.records]) if clock_ == "wall"
            else np.arange(1, t.max_epochs + 1, dtype=np.float64) for t in traces]
    for r in rules:
        r.prepare(traces)
    return traces, rules, budget, seed, clock_, n_boot, bad, thr, cost


def _check_rules(rules: Sequence[StopRule]) -> None:
    if not all(isinstance(r, StopRule) for r in rules):
        raise ConfigError("rules", [type(r).__name__ for r in rules], "StopRule objects")
    names = [r.name for r in rules]
    if len(set(names)) != len(names):
        raise ConfigError("rules", names, "rules with distinct names")


@dataclass
class _Run:
    """One rule's pass over one ordering (all trials, budget applied afterwards)."""

    n_run: np.ndarray          # epochs run per position
    result: np.ndarray         # result per position
    reasons: list[tuple[str, ...]]


def _run_rule(rule: StopRule, order: np.ndarray, traces: Sequence[TrialTrace]) -> _Run:
    history = ReplayHistory()
    n_run = np.empty(len(order), dtype=np.int64)
    result = np.empty(len(order), dtype=np.float64)
    reasons: list[tuple[str, ...]] = []
    for pos, i in enumerate(order):
        t = traces[int(i)]
        stop, why = rule.first_stop(t, history)
        n = t.max_epochs if stop is None else stop + 1
        history.add(t, n)
        n_run[pos], result[pos] = n, t.records[n - 1].metric
        reasons.append(why)
    return _Run(n_run, result, reasons)


def _points(run_time: np.ndarray, result: np.ndarray, budget: float
            ) -> tuple[list[tuple[float, float]], np.ndarray]:
    t_end = np.cumsum(run_time)
    done = t_end <= budget * (1 + 1e-12)
    pts = [(float(t), float(v)) for t, v in zip(t_end[done], result[done], strict=True)
           if math.isfinite(v)]
    return pts, done


def replay_stop_rules(
    traces: Sequence[TrialTrace],
    rules: Sequence[StopRule] | None = None,
    *,
    budget: float,
    n_orderings: int = 1000,
    seed: int = 0,
    clock: str = "epochs",
    n_boot: int = 4000,
) -> ReplayResult:
    """Replay stop rules on the same traces over random trial orderings, under a budget.

    For each ordering (a random permutation of the traces, ``np.random.default_rng(seed)``)
    the trials run one after another, under each rule and under the plain run (no rule, every
    trial to its end). A rule is asked after every epoch but the last (a diagnosis at the last
    epoch saves nothing and is not a stop); its history is what the trials before it in the
    ordering recorded under the same rule (BTTackler's protection, the median and curve-fit
    rules' peers: that is why orderings matter). A stopped trial costs the epochs it ran
    (``clock="epochs"``) or their recorded wall seconds (``"wall"``), and its result is its
    metric at the stopping epoch; a full trial's result is its last metric. A trial counts
    when it finishes within ``budget`` (cumulative cost). Per ordering: TSBA of the rule
    against the plain run (:func:`tsba`, horizon = budget), Top10HR (:func:`top10hr`), trials
    finished, epochs saved, stop rate; then the mean and its 95 % percentile bootstrap CI over
    orderings (:func:`bootstrap_mean_ci`; orderings are the resampling unit).

    Precision and recall of each indicator (each stop label) are measured against the final
    metric: **bad = final metric in the bottom quartile of all traces' final metrics**
    (``<=`` the 25th percentile when maximising, ``>=`` the 75th when minimising; a
    non-finite final metric is bad). They pool every trial of every ordering (a trial's stop
    does not depend on the budget): precision = bad among the stops with that label, recall =
    share of bad trials stopped with that label.

    Parameters
    ----------
    traces : sequence of TrialTrace
        At least 2, unique ``config_id``, one direction.
    rules : sequence of StopRule, optional
        Distinct names; default :func:`default_rules`.
    budget : float
        Budget of each run (> 0), in epochs or seconds (see ``clock``).
    n_orderings : int
        Random orderings (>= 2; the issue asks for >= 1,000).
    seed : int
        Seed of the orderings, the rules' generators and the bootstrap.
    clock : {"epochs", "wall"}
        What the budget counts.
    n_boot : int
        Bootstrap resamples.

    Returns
    -------
    ReplayResult
    """
    n_orderings = check_int("n_orderings", n_orderings, min_value=2)
    traces, rules, budget, seed, clock_, n_boot, bad, thr, cost = _setup(
        traces, rules, budget, seed, clock, n_boot)
    direction = traces[0].direction
    full_epochs = np.asarray([t.max_epochs for t in traces], dtype=np.int64)
    final = np.asarray([t.final_metric for t in traces], dtype=np.float64)
    rng = np.random.default_rng(seed)
    rows: list[dict[str, Any]] = []
    flagged: dict[tuple[str, str], list[int]] = {}
    stop_counts: dict[tuple[str, int], int] = {}
    for k in range(n_orderings):
        order = rng.permutation(len(traces))
        base_time = np.asarray([cost[i][-1] for i in order])
        base_pts, base_done = _points(base_time, final[order], budget)
        base_vals = [v for _, v in base_pts]
        for j, rule in enumerate(rules):
            rule.start_ordering(np.random.default_rng([seed, k, j]))
            run = _run_rule(rule, order, traces)
            time = np.asarray([cost[i][n - 1] for i, n in zip(order, run.n_run, strict=True)])
            pts, done = _points(time, run.result, budget)
            res = tsba(pts, base_pts, direction=direction, horizon_s=budget)
            full_done = full_epochs[order][done].sum()
            stopped = run.n_run < full_epochs[order]
            rows.append({
                "rule": rule.name, "ordering": k, "tsba": res.tsba,
                "top10hr": top10hr([v for _, v in pts], base_vals, direction=direction),
                "reached": float(res.reached), "trials_finished": float(done.sum()),
                "baseline_finished": float(base_done.sum()),
                "epochs_saved": (1.0 - run.n_run[done].sum() / full_done if full_done
                                 else float("nan")),
                "stop_rate": float(stopped.mean()),
            })
            for n in run.n_run[stopped]:
                key = (rule.name, int(n) - 1)
                stop_counts[key] = stop_counts.get(key, 0) + 1
            for pos, why in enumerate(run.reasons):
                is_bad = int(bad[order[pos]])
                for label in (*dict.fromkeys(why), ANY) if why else ():
                    c = flagged.setdefault((rule.name, label), [0, 0])
                    c[0] += 1
                    c[1] += is_bad
    return _assemble(rows, flagged, stop_counts, [r.name for r in rules],
                     {r.name: int(bad.sum()) * n_orderings for r in rules},
                     bad_threshold=thr, n_bad=int(bad.sum()), budget=budget, clock=clock_,
                     n_orderings=n_orderings, seed=seed, n_boot=n_boot)


def _assemble(rows: list[dict[str, Any]], flagged: Mapping[tuple[str, str], list[int]],
              stop_counts: Mapping[tuple[str, int], int], names: Sequence[str],
              n_bad_seen: Mapping[str, int], *, bad_threshold: float, n_bad: int,
              budget: float, clock: Clock, n_orderings: int, seed: int, n_boot: int
              ) -> ReplayResult:
    """The result tables from the per-ordering rows and the pooled counts."""
    per = pd.DataFrame(rows, columns=["rule", "ordering", *QUANTITIES])
    summary = []
    for name in names:
        sub = per[per["rule"] == name]
        for q in QUANTITIES:
            x = sub[q].to_numpy(dtype=np.float64)
            x = x[np.isfinite(x)]
            m, lo, hi = (bootstrap_mean_ci(x, n_boot=n_boot, seed=seed) if x.size
                         else (math.nan, math.nan, math.nan))
            summary.append({"rule": name, "quantity": q, "mean": m, "lo": lo, "hi": hi,
                            "n": int(x.size)})
    ind = [{"rule": r, "indicator": lab, "flagged": c[0], "true_pos": c[1],
            "precision": c[1] / c[0],
            "recall": c[1] / n_bad_seen[r] if n_bad_seen[r] else math.nan}
           for (r, lab), c in flagged.items()]
    indicators = pd.DataFrame(ind, columns=["rule", "indicator", "flagged", "true_pos",
                                            "precision", "recall"])
    stop_epochs = pd.DataFrame(
        [{"rule": r, "epoch": e, "count": c} for (r, e), c in sorted(stop_counts.items())],
        columns=["rule", "epoch", "count"])
    return ReplayResult(per_ordering=per,
                        summary=pd.DataFrame(summary, columns=["rule", "quantity", "mean", "lo",
                                                               "hi", "n"]),
                        indicators=indicators, stop_epochs=stop_epochs,
                        bad_threshold=bad_threshold, n_bad=n_bad, budget=budget, clock=clock,
                        n_orderings=n_orderings, seed=seed)


def _cat_key(v: Any) -> Any:
    """A categorical choice for ``v``: scalars as they are, anything else (a list of widths)
    as its JSON text."""
    return v if v is None or isinstance(v, str | bool | int | float) else json.dumps(
        v, sort_keys=True)


def _space_params(trace: TrialTrace, space: Mapping[str, BaseDistribution]) -> dict[str, Any]:
    return {k: trace.params[k] if isinstance(d, FloatDistribution) else _cat_key(trace.params[k])
            for k, d in space.items()}


def trace_space(traces: Sequence[TrialTrace]) -> dict[str, BaseDistribution]:
    """The search space the traces were drawn from, read off their ``params``: a numeric
    parameter spans ``[min, max]`` (log scale when positive and spanning >= 100x), any other
    is categorical over the values seen (non-scalar values by their JSON text); constant
    parameters are left out.

    Raises
    ------
    ConfigError
        Traces with different parameter names, or no varying parameter.
    """
    keys = set(traces[0].params)
    if any(set(t.params) != keys for t in traces):
        raise ConfigError("traces", "different params keys", "the same parameters in every trace")
    space: dict[str, BaseDistribution] = {}
    for k in sorted(keys):
        vals = [t.params[k] for t in traces]
        if all(isinstance(v, int | float) and not isinstance(v, bool) for v in vals):
            lo, hi = float(min(vals)), float(max(vals))
            if lo < hi:
                space[k] = FloatDistribution(lo, hi, log=lo > 0 and hi / lo >= 100)
        else:
            choices = tuple(dict.fromkeys(_cat_key(v) for v in vals))
            if len(choices) > 1:
                space[k] = CategoricalDistribution(choices)
    if not space:
        raise ConfigError("traces", "no varying params", "traces whose params vary")
    return space


class _Nearest:
    """Maps a sampled point to the nearest unused trace (normalised, log where the space is
    log; categorical mismatch counts 1)."""

    def __init__(self, traces: Sequence[TrialTrace], space: Mapping[str, BaseDistribution]
                 ) -> None:
        self.space = space
        self.num = [k for k, d in space.items() if isinstance(d, FloatDistribution)]
        self.cat = [k for k in space if k not in self.num]
        self.x = np.asarray([[self._num(k, t.params[k]) for k in self.num] for t in traces],
                            dtype=np.float64).reshape(len(traces), len(self.num))
        self.c = [[_cat_key(t.params[k]) for k in self.cat] for t in traces]

    def _num(self, k: str, v: Any) -> float:
        d = self.space[k]
        assert isinstance(d, FloatDistribution)
        f = (lambda u: math.log(u)) if d.log else float
        return (f(float(v)) - f(d.low)) / (f(d.high) - f(d.low))

    def pick(self, params: Mapping[str, Any], unused: np.ndarray) -> int:
        p = np.asarray([self._num(k, params[k]) for k in self.num], dtype=np.float64)
        dist = ((self.x - p) ** 2).sum(axis=1)
        dist += np.asarray([sum(a != params[k] for a, k in zip(row, self.cat, strict=True))
                            for row in self.c], dtype=np.float64)
        dist[~unused] = np.inf
        return int(np.argmin(dist))


def _tpe_run(rule: StopRule | None, traces: Sequence[TrialTrace], near: _Nearest,
             cost: Sequence[np.ndarray], budget: float, sampler_seed: int,
             n_startup_trials: int) -> tuple[list[int], _Run, np.ndarray]:
    """One TPE-driven run: positions' trace indices, epochs run, results, and end times."""
    direction = traces[0].direction
    study = optuna.create_study(direction=direction, sampler=optuna.samplers.TPESampler(
        seed=sampler_seed, n_startup_trials=n_startup_trials))
    unused = np.ones(len(traces), dtype=bool)
    history = ReplayHistory()
    idx: list[int] = []
    n_run: list[int] = []
    result: list[float] = []
    reasons: list[tuple[str, ...]] = []
    t_end: list[float] = []
    clock = 0.0
    while unused.any():
        trial = study.ask(dict(near.space))
        i = near.pick(trial.params, unused)
        study.tell(trial, state=optuna.trial.TrialState.FAIL)  # the trace's params count
        unused[i] = False
        t = traces[i]
        stop, why = rule.first_stop(t, history) if rule is not None else (None, ())
        n = t.max_epochs if stop is None else stop + 1
        history.add(t, n)
        clock += float(cost[i][n - 1])
        if clock > budget * (1 + 1e-12):
            break
        v = t.records[n - 1].metric
        study.add_trial(optuna.trial.create_trial(
            params=_space_params(t, near.space), distributions=dict(near.space),
            value=v if math.isfinite(v) else None,
            state=(optuna.trial.TrialState.COMPLETE if math.isfinite(v)
                   else optuna.trial.TrialState.FAIL)))
        idx.append(i)
        n_run.append(n)
        result.append(v)
        reasons.append(why)
        t_end.append(clock)
    return (idx, _Run(np.asarray(n_run, dtype=np.int64), np.asarray(result, dtype=np.float64),
                      reasons), np.asarray(t_end, dtype=np.float64))


def replay_tpe(
    traces: Sequence[TrialTrace],
    rules: Sequence[StopRule] | None = None,
    *,
    budget: float,
    n_runs: int = 20,
    seed: int = 0,
    clock: str = "epochs",
    n_startup_trials: int = 10,
    n_boot: int = 4000,
) -> ReplayResult:
    """TPE-ordered replay: the sampler chooses the next trial and sees the replayed results.

    Each run is an Optuna study with a seeded ``TPESampler`` over :func:`trace_space`; each
    sampled point is mapped to the nearest trace not yet run, whose own params and replayed
    result (its metric at the stopping epoch, reported as an ordinary result, as BTTackler
    does) are added to the study; the run ends when the next trial would not finish within
    the budget (or no trace is left). The plain run (no rule) uses the same sampler seed, so
    the ``NoStopRule`` control is the plain run exactly. Measurements as in
    :func:`replay_stop_rules` (``ordering`` = run); precision and recall pool the trials the
    rule ran (recall: among the bad trials it ran); ``stop_rate`` counts those trials.
    """
    n_runs = check_int("n_runs", n_runs, min_value=2)
    n_startup_trials = check_int("n_startup_trials", n_startup_trials, min_value=1)
    traces, rules, budget, seed, clock_, n_boot, bad, thr, cost = _setup(
        traces, rules, budget, seed, clock, n_boot)
    direction = traces[0].direction
    near = _Nearest(traces, trace_space(traces))
    rows: list[dict[str, Any]] = []
    flagged: dict[tuple[str, str], list[int]] = {}
    stop_counts: dict[tuple[str, int], int] = {}
    n_bad_seen = {r.name: 0 for r in rules}
    for k in range(n_runs):
        sampler_seed = int(np.random.default_rng([seed, k]).integers(0, 2**31 - 1))
        b_idx, b_run, b_end = _tpe_run(None, traces, near, cost, budget, sampler_seed,
                                       n_startup_trials)
        base_pts = [(float(t), float(v)) for t, v in zip(b_end, b_run.result, strict=True)
                    if math.isfinite(v)]
        for j, rule in enumerate(rules):
            rule.start_ordering(np.random.default_rng([seed, k, j]))
            idx, run, end = _tpe_run(rule, traces, near, cost, budget, sampler_seed,
                                     n_startup_trials)
            pts = [(float(t), float(v)) for t, v in zip(end, run.result, strict=True)
                   if math.isfinite(v)]
            res = tsba(pts, base_pts, direction=direction, horizon_s=budget)
            full = np.asarray([traces[i].max_epochs for i in idx], dtype=np.int64)
            stopped = run.n_run < full
            rows.append({
                "rule": rule.name, "ordering": k, "tsba": res.tsba,
                "top10hr": top10hr([v for _, v in pts], [v for _, v in base_pts],
                                   direction=direction),
                "reached": float(res.reached), "trials_finished": float(len(idx)),
                "baseline_finished": float(len(b_idx)),
                "epochs_saved": (1.0 - run.n_run.sum() / full.sum() if full.size
                                 else float("nan")),
                "stop_rate": float(stopped.mean()) if full.size else float("nan"),
            })
            for n in run.n_run[stopped]:
                key = (rule.name, int(n) - 1)
                stop_counts[key] = stop_counts.get(key, 0) + 1
            n_bad_seen[rule.name] += int(bad[idx].sum()) if idx else 0
            for i, why in zip(idx, run.reasons, strict=True):
                for label in (*dict.fromkeys(why), ANY) if why else ():
                    c = flagged.setdefault((rule.name, label), [0, 0])
                    c[0] += 1
                    c[1] += int(bad[i])
    return _assemble(rows, flagged, stop_counts, [r.name for r in rules], n_bad_seen,
                     bad_threshold=thr, n_bad=int(bad.sum()), budget=budget, clock=clock_,
                     n_orderings=n_runs, seed=seed, n_boot=n_boot)
