"""The replay study on the recorded traces (issue 15, part 2): BTTackler against the early
termination rules and the controls, per trace task, with bootstrap CIs over orderings.

For every trace task (:data:`~effdl_kit.experiments.bttackler.TRACE_TASKS`) of a trace file
(:func:`~effdl_kit.experiments.bttackler.load_traces`, default the kit's
``data/bttackler_traces_cpu.jsonl``), :func:`run_replay_study` replays, with the epoch budget
``budget_fraction`` x the epochs all of the task's natural traces need (the plain run finishes
about that share of them):

* ``random`` — the natural traces in ``n_orderings`` random orderings under the kit's BTTackler
  (``DiagnosisConfig.preset("kit")``), the authors' (``preset("faithful")``), Optuna's median
  rule, the curve-fit rule, no rule (negative control: TSBA exactly 0) and a rule stopping at
  random with BTTackler's stop rate and stop epochs (negative control: its TSBA must not be
  above 0 beyond its CI);
* ``injected`` — the natural traces plus the injected-pathology ones (positive control: the
  pathologies are at least 30 % of the traces; BTTackler's TSBA must be above 0 with its CI);
* ``wall`` — the natural traces again with the recorded wall seconds as the clock
  (``ablation_orderings`` orderings);
* ``tpe`` — TPE-ordered replays (:func:`~effdl_kit.diagnosis.replay_tpe`: the sampler sees the
  replayed results), ``tpe_runs`` seeds;
* ``ablation`` — the authors' BTTackler with one indicator left out at a time (``drop_NMG``,
  ...) beside the whole set (``all``), and the kit's default with one choice switched at a
  time (:func:`ablation_rules`), natural traces, ``ablation_orderings`` orderings: which
  indicator earns its stops, and the evidence behind each kit default.

Bad trial (precision and recall of each indicator): final metric in the bottom quartile of the
task's natural traces (the top quartile of the MSE for the forecaster). :func:`sc_evidence`
measures the two slow-convergence rules over all natural traces: how often each fires on
healthy traces (false positives) and on bad ones (recall).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from effdl_kit._core.errors import ConfigError, DataError
from effdl_kit._core.jsonable import records
from effdl_kit._core.stats import bootstrap_mean_ci
from effdl_kit._core.study import quiet_optuna
from effdl_kit._core.types import ProgressFn
from effdl_kit._core.validate import check_choice, check_float, check_int, check_scale
from effdl_kit.diagnosis import (
    EDGE_CASES,
    LOSS_CURVES,
    SC_RULES,
    BTTacklerRule,
    CurveFitRule,
    DiagnosisConfig,
    MedianRule,
    NoStopRule,
    RandomStopRule,
    ReplayResult,
    StopRule,
    TrialTrace,
    evaluate,
    replay_stop_rules,
    replay_tpe,
)

from ._traces import TRACE_TASKS, check_trace_tasks, load_traces

__all__ = [
    "REPLAY_SETTINGS",
    "ReplayBudget",
    "ReplayStudy",
    "ablation_rules",
    "load_replay_study",
    "run_replay_study",
    "sc_evidence",
    "study_rules",
    "tsba_verdict",
]

#: The replays of every task (see the module docstring).
REPLAY_SETTINGS: tuple[str, ...] = ("random", "injected", "wall", "tpe", "ablation")
#: Label of the matched random-stop control.
RANDOM_CONTROL = "random_stop"
_TASK_NAMES: tuple[str, ...] = tuple(TRACE_TASKS)


@dataclass(frozen=True)
class ReplayBudget:
    """What a scale decides for the replay study.

    Attributes
    ----------
    tasks : tuple of str
        Trace tasks replayed (those present in the trace file).
    n_orderings : int
        Random orderings of each random-order replay (>= 2; the issue's >= 1,000 at small).
    tpe_runs : int
        Seeds of the TPE-ordered replay.
    budget_fraction : float
        The epoch (or wall) budget as a fraction of what all of a task's traces need, (0, 1].
    n_boot : int
        Bootstrap resamples of every CI.
    ablation_orderings : int
        Orderings of the side replays: the wall-clock one and the ablation.
    max_natural, max_injected : int or None
        Use only the first so many natural / injected traces of each task (None: all).
    """

    tasks: tuple[str, ...]
    n_orderings: int
    tpe_runs: int
    budget_fraction: float
    n_boot: int
    ablation_orderings: int = 200
    max_natural: int | None = None
    max_injected: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "tasks", check_trace_tasks(self.tasks))
        check_int("n_orderings", self.n_orderings, min_value=2, max_value=1_000_000)
        check_int("tpe_runs", self.tpe_runs, min_value=2, max_value=10_000)
        check_float("budget_fraction", self.budget_fraction, min_value=0.0, max_value=1.0,
                    min_inclusive=False)
        check_int("n_boot", self.n_boot, min_value=100)
        check_int("ablation_orderings", self.ablation_orderings, min_value=2,
                  max_value=1_000_000)
        for field in ("max_natural", "max_injected"):
            if getattr(self, field) is not None:
                check_int(field, getattr(self, field), min_value=2 if field == "max_natural"
                          else 0)

    @classmethod
    def for_scale(cls, scale: str) -> ReplayBudget:
        """``smoke``: 20 orderings, 2 TPE runs, the first 24 natural and 8 injected traces of
        each task (half a minute); ``small``: every trace, 1,000 orderings, 20 TPE
        runs, 200 ablation orderings (minutes); ``paper``: 5,000, 100 and 1,000. All: half of
        the epochs of all traces."""
        return cls(**_REPLAY_SCALES[check_scale(scale)])

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["tasks"] = list(self.tasks)
        return d


_REPLAY_SCALES: dict[str, dict[str, Any]] = {
    "smoke": {"tasks": _TASK_NAMES, "n_orderings": 20, "tpe_runs": 2, "budget_fraction": 0.5,
              "n_boot": 200, "ablation_orderings": 10, "max_natural": 24, "max_injected": 8},
    "small": {"tasks": _TASK_NAMES, "n_orderings": 1000, "tpe_runs": 20,
              "budget_fraction": 0.5, "n_boot": 2000, "ablation_orderings": 200},
    "paper": {"tasks": _TASK_NAMES, "n_orderings": 5000, "tpe_runs": 100,
              "budget_fraction": 0.5, "n_boot": 4000, "ablation_orderings": 1000},
}


def study_rules() -> list[StopRule]:
    """The rules every replay compares: the kit's and the authors' BTTackler, the median and
    curve-fit rules, and no rule (the plain run replayed as a rule: the exact-zero control)."""
    return [BTTacklerRule(DiagnosisConfig.preset("kit"), name="bttackler"),
            BTTacklerRule(DiagnosisConfig.preset("faithful"), name="bttackler_faithful"),
            MedianRule(), CurveFitRule(), NoStopRule()]


def ablation_rules() -> list[StopRule]:
    """The authors' BTTackler (``all``) and the same with each of its indicators left out
    (``drop_<CODE>``); then the kit's default (``kit``) with one of its choices switched to
    the other option each (``kit_<field>=<value>``, ``kit+<CODE>`` for an indicator the authors
    enable and the kit does not): the evidence behind every kit default."""
    base = DiagnosisConfig.preset("faithful")
    rules: list[StopRule] = [BTTacklerRule(base, name="all")]
    for code in base.indicators:
        rest = tuple(c for c in base.indicators if c != code)
        rules.append(BTTacklerRule(dataclasses.replace(base, indicators=rest),
                                   name=f"drop_{code}"))
    kit = DiagnosisConfig.preset("kit")
    rules.append(BTTacklerRule(kit, name="kit"))
    for code in base.indicators:
        if code not in kit.indicators:
            rules.append(BTTacklerRule(
                dataclasses.replace(kit, indicators=(*kit.indicators, code)),
                name=f"kit+{code}"))
    for field, options in (("sc_rule", SC_RULES), ("loss_curves", LOSS_CURVES),
                           ("edge_cases", EDGE_CASES)):
        for value in options:
            if value != getattr(kit, field):
                rules.append(BTTacklerRule(kit.replace(**{field: value}),
                                           name=f"kit_{field}={value}"))
    return rules


def tsba_verdict(lo: float, hi: float) -> str:
    """``"saves time"`` (CI above 0), ``"costs time"`` (CI below 0) or ``"within noise"``."""
    if lo > 0:
        return "saves time"
    if hi < 0:
        return "costs time"
    return "within noise"


def _matched_random(res: ReplayResult, rule: str) -> RandomStopRule:
    """A rule stopping at random with ``rule``'s stop rate and stop epochs."""
    rate = res.ci(rule, "stop_rate")[0]
    se = res.stop_epochs[res.stop_epochs["rule"] == rule]
    epochs = [int(e) for e, c in zip(se["epoch"], se["count"], strict=True)
              for _ in range(int(c))]
    r = RandomStopRule(min(max(rate, 0.0), 1.0), stop_epochs=epochs or None)
    r.name = RANDOM_CONTROL
    return r


def _tagged(res: ReplayResult, task: str, setting: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    s = res.summary.copy()
    s.insert(0, "setting", setting)
    s.insert(0, "task", task)
    ind = res.indicators.copy()
    ind.insert(0, "setting", setting)
    ind.insert(0, "task", task)
    return s, ind


def _cost(traces: Sequence[TrialTrace], clock: str) -> float:
    if clock == "wall":
        return float(sum(sum(r.wall_s for r in t.records) for t in traces))
    return float(sum(t.max_epochs for t in traces))


def _replay_task(path: str | None, task: str, budget_d: Mapping[str, Any], seed: int
                 ) -> dict[str, Any]:
    """Every replay of one task (in a worker process); JSON-able frames."""
    budget = ReplayBudget(**budget_d)
    natural = load_traces(path, task=task, injected=False)[:budget.max_natural]
    injected = load_traces(path, task=task, injected=True)[:budget.max_injected]
    if len(natural) < 2:
        raise ConfigError("traces", f"{len(natural)} natural traces of {task!r}",
                          "at least 2 per replayed task")
    frac, n_o, n_b = budget.budget_fraction, budget.n_orderings, budget.n_boot
    b_ep = frac * _cost(natural, "epochs")
    main = replay_stop_rules(natural, study_rules(), budget=b_ep, n_orderings=n_o, seed=seed,
                             n_boot=n_b)
    control = replay_stop_rules(natural, [_matched_random(main, "bttackler")], budget=b_ep,
                                n_orderings=n_o, seed=seed, n_boot=n_b)  # same orderings
    frames = [_tagged(main, task, "random"), _tagged(control, task, "random")]
    mixed = natural + injected
    if injected:
        pos = replay_stop_rules(mixed, study_rules(), budget=frac * _cost(mixed, "epochs"),
                                n_orderings=n_o, seed=seed, n_boot=n_b)
        frames.append(_tagged(pos, task, "injected"))
    b_wall = frac * _cost(natural, "wall")
    wall = replay_stop_rules(natural, study_rules(), budget=b_wall,
                             n_orderings=budget.ablation_orderings, seed=seed, clock="wall",
                             n_boot=n_b)
    frames.append(_tagged(wall, task, "wall"))
    with quiet_optuna():
        tpe = replay_tpe(natural, study_rules(), budget=b_ep, n_runs=budget.tpe_runs,
                         seed=seed, n_boot=n_b)
    frames.append(_tagged(tpe, task, "tpe"))
    abl = replay_stop_rules(natural, ablation_rules(), budget=b_ep,
                            n_orderings=budget.ablation_orderings, seed=seed, n_boot=n_b)
    frames.append(_tagged(abl, task, "ablation"))
    info = {"task": task, "direction": natural[0].direction, "n_natural": len(natural),
            "n_injected": len(injected),
            "injected_share": len(injected) / len(mixed), "epochs": natural[0].max_epochs,
            "budget_epochs": b_ep, "budget_wall_s": b_wall,
            "bad_threshold": main.bad_threshold, "n_bad": main.n_bad}
    return {"summary": records(pd.concat([f[0] for f in frames], ignore_index=True)),
            "indicators": records(pd.concat([f[1] for f in frames], ignore_index=True)),
            "info": info}


def _sc_fires(trace: TrialTrace, config: DiagnosisConfig) -> tuple[bool, int, int]:
    """Whether SC fires at some epoch but the last; second-half epochs fired and evaluated."""
    fired = [bool(evaluate(trace.epoch_input(e), config).fired)
             for e in range(trace.max_epochs - 1)]
    half2 = fired[trace.max_epochs // 2:]
    return any(fired), sum(half2), len(half2)


def sc_evidence(traces_by_task: Mapping[str, Sequence[TrialTrace]], *, n_boot: int = 2000,
                seed: int = 0) -> pd.DataFrame:
    """How often each slow-convergence rule fires (at any epoch but the last, no protection,
    SC alone) on healthy and on bad natural traces, pooled over the tasks.

    Bad and healthy are per task (bottom quartile of the final metric, as in the replay).
    Rows: ``sc_rule`` x ``loss_curves`` x ``group`` (``healthy`` / ``bad``) with ``n``,
    ``fired`` (traces on which SC fires), ``rate`` and its 95 % bootstrap CI (``lo``, ``hi``;
    traces resampled): the healthy rate is the false-positive rate, the bad rate the recall;
    ``epoch_rate``: share of the second-half epochs (but the last) on which SC fires.
    """
    groups: dict[str, list[TrialTrace]] = {"healthy": [], "bad": []}
    for traces in traces_by_task.values():
        final = np.asarray([t.final_metric for t in traces], dtype=np.float64)
        ok = np.isfinite(final)
        if not ok.any():
            groups["bad"].extend(traces)
            continue
        maximize = traces[0].direction == "maximize"
        thr = np.quantile(final[ok], 0.25 if maximize else 0.75)
        for t, v, fin in zip(traces, final, ok, strict=True):
            bad = not fin or (v <= thr if maximize else v >= thr)
            groups["bad" if bad else "healthy"].append(t)
    rows = []
    for rule in SC_RULES:
        for curves in ("train", "train_val"):
            cfg = DiagnosisConfig(indicators=("SC",), sc_rule=rule, loss_curves=curves)
            for group, ts in groups.items():
                res = [_sc_fires(t, cfg) for t in ts]
                fired = np.asarray([r[0] for r in res], dtype=np.float64)
                mean, lo, hi = (bootstrap_mean_ci(fired, n_boot=n_boot, seed=seed)
                                if len(fired) else (np.nan, np.nan, np.nan))
                n_ep = sum(r[2] for r in res)
                rows.append({"sc_rule": rule, "loss_curves": curves, "group": group,
                             "n": len(ts), "fired": int(fired.sum()), "rate": mean, "lo": lo,
                             "hi": hi, "epoch_rate": sum(r[1] for r in res) / n_ep
                             if n_ep else np.nan})
    return pd.DataFrame(rows)


_COLUMNS: dict[str, tuple[str, ...]] = {
    "summary": ("task", "setting", "rule", "quantity", "mean", "lo", "hi", "n"),
    "indicators": ("task", "setting", "rule", "indicator", "flagged", "true_pos", "precision",
                   "recall"),
    "tasks": ("task", "direction", "n_natural", "n_injected", "injected_share", "epochs",
              "budget_epochs", "budget_wall_s", "bad_threshold", "n_bad"),
    "sc": ("sc_rule", "loss_curves", "group", "n", "fired", "rate", "lo", "hi", "epoch_rate"),
}


@dataclass(frozen=True)
class ReplayStudy:
    """What :func:`run_replay_study` measured (``to_dict`` / ``from_dict`` for the JSON file).

    Attributes
    ----------
    summary : DataFrame
        ``task, setting, rule, quantity, mean, lo, hi, n`` (quantities of
        :data:`~effdl_kit.diagnosis.QUANTITIES`; CIs over orderings or TPE runs).
    indicators : DataFrame
        ``task, setting, rule, indicator, flagged, true_pos, precision, recall``.
    tasks : DataFrame
        Per task: direction, traces (natural, injected, injected share), epochs, the budgets,
        the bad threshold and the number of bad natural traces.
    sc : DataFrame
        :func:`sc_evidence`.
    budget : dict
        The :class:`ReplayBudget`.
    seed : int
    traces : str
        The trace file replayed.
    """

    summary: pd.DataFrame
    indicators: pd.DataFrame
    tasks: pd.DataFrame
    sc: pd.DataFrame
    budget: dict[str, Any]
    seed: int
    traces: str

    def ci(self, task: str, setting: str, rule: str, quantity: str
           ) -> tuple[float, float, float]:
        """``(mean, lo, hi)`` of one quantity."""
        s = self.summary
        row = s[(s["task"] == task) & (s["setting"] == setting) & (s["rule"] == rule)
                & (s["quantity"] == quantity)]
        if row.empty:
            raise ConfigError("task/setting/rule/quantity", (task, setting, rule, quantity),
                              "a row of the summary")
        r = row.iloc[0]
        return float(r["mean"]), float(r["lo"]), float(r["hi"])

    def verdicts(self, setting: str = "random") -> pd.DataFrame:
        """TSBA and Top10HR with their CIs and the TSBA verdict, one row per (task, rule)."""
        check_choice("setting", setting, REPLAY_SETTINGS)
        s = self.summary[self.summary["setting"] == setting]
        out = []
        for (task, rule), g in s.groupby(["task", "rule"], sort=False):
            q = {str(r["quantity"]): r for r in g.to_dict("records")}
            row: dict[str, Any] = {"task": task, "rule": rule}
            for name in ("tsba", "top10hr", "epochs_saved", "stop_rate", "trials_finished",
                         "baseline_finished"):
                row[name], row[f"{name}_lo"], row[f"{name}_hi"] = (
                    float(q[name]["mean"]), float(q[name]["lo"]), float(q[name]["hi"]))
            row["verdict"] = tsba_verdict(row["tsba_lo"], row["tsba_hi"])
            out.append(row)
        cols = ["task", "rule"] + [f"{n}{sfx}" for n in (
            "tsba", "top10hr", "epochs_saved", "stop_rate", "trials_finished",
            "baseline_finished") for sfx in ("", "_lo", "_hi")] + ["verdict"]
        return pd.DataFrame(out, columns=cols)

    def to_dict(self) -> dict[str, Any]:
        return {"summary": records(self.summary), "indicators": records(self.indicators),
                "tasks": records(self.tasks), "sc": records(self.sc), "budget": self.budget,
                "seed": self.seed, "traces": self.traces}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ReplayStudy:
        def frame(key: str) -> pd.DataFrame:
            rows = d[key]
            if not rows:  # an empty table keeps its columns
                return pd.DataFrame(columns=list(_COLUMNS[key]))
            return pd.DataFrame.from_records(rows).fillna(value=np.nan)

        return cls(summary=frame("summary"), indicators=frame("indicators"),
                   tasks=frame("tasks"), sc=frame("sc"), budget=dict(d["budget"]),
                   seed=int(d["seed"]), traces=str(d["traces"]))


def run_replay_study(
    path: str | Path | None = None,
    *,
    scale: str = "small",
    budget: ReplayBudget | None = None,
    seed: int = 0,
    executor: Executor | None = None,
    progress: ProgressFn | None = None,
) -> ReplayStudy:
    """Run every replay of every task of a trace file (see the module docstring).

    Parameters
    ----------
    path : path, optional
        A trace file (default: the kit's ``data/bttackler_traces_cpu.jsonl``).
    scale : {"smoke", "small", "paper"}
        Used when ``budget`` is None.
    budget : ReplayBudget, optional
        Orderings, TPE runs, budget fraction (tasks missing from the file are skipped).
    seed : int
        Orderings, rules' draws, TPE seeds and bootstrap.
    executor : concurrent.futures.Executor, optional
        Runs the tasks in parallel (default: one after another in this process).
    progress : callable, optional
        ``progress(done, total, task)`` after each task.
    """
    budget = ReplayBudget.for_scale(scale) if budget is None else budget
    if not isinstance(budget, ReplayBudget):
        raise ConfigError("budget", type(budget).__name__, "a ReplayBudget or None")
    seed = check_int("seed", seed, min_value=0)
    every = load_traces(path)
    present = {t.tags.get("trace_task") for t in every}
    tasks = [t for t in budget.tasks if t in present]
    if not tasks:
        raise ConfigError("traces", f"tasks {sorted(str(p) for p in present)}",
                          f"traces of at least one of {list(budget.tasks)}")
    p = None if path is None else str(path)
    call: Callable[..., Any] = (executor.submit if executor is not None
                                else lambda f, *a: _Done(f(*a)))
    futures = [call(_replay_task, p, t, budget.to_dict(), seed) for t in tasks]
    parts = []
    for k, fut in enumerate(futures):
        parts.append(fut.result())
        if progress is not None:
            progress(k + 1, len(tasks), tasks[k])
    natural = {t: [tr for tr in every if tr.tags.get("trace_task") == t
                   and tr.tags.get("pathology") == "none"][:budget.max_natural] for t in tasks}
    return ReplayStudy(
        summary=pd.DataFrame([r for part in parts for r in part["summary"]]),
        indicators=pd.DataFrame([r for part in parts for r in part["indicators"]]),
        tasks=pd.DataFrame([part["info"] for part in parts]),
        sc=sc_evidence(natural, n_boot=budget.n_boot, seed=seed),
        budget={**budget.to_dict(), "tasks": tasks}, seed=seed,
        traces="data/bttackler_traces_cpu.jsonl" if path is None else str(path))


def load_replay_study(path: str | Path) -> ReplayStudy:
    """The study of a ``bttackler_replay.json`` file written by the replay command.

    Raises
    ------
    DataError
        Missing, unreadable or foreign file.
    """
    p = Path(path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
        return ReplayStudy.from_dict(doc["study"])
    except FileNotFoundError:
        raise DataError(f"no replay results at {str(p)!r} (write them with python -m "
                        "effdl_kit.experiments.bttackler._replay_main)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError,
            ValueError) as exc:
        raise DataError(f"{str(p)!r} is not a BTTackler replay result file: {exc}") from None


class _Done:
    """A finished 'future' (the in-process path of :func:`run_replay_study`)."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def result(self) -> Any:
        return self.value
