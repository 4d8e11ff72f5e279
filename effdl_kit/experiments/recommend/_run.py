"""The comparison run: the training-free recommendation against feedback-based searches.

Per task, :func:`~effdl_kit.recommend.prepare` runs ONCE (seed 0); its seconds are charged in
full to every recommend run of that task (``recommend`` and ``recommend_b``), as if each had
prepared alone. Then, per (task, latency budget, seed) -- a *cell* -- four methods search THE
SAME components over the same value lists, the other components fixed at the same values,
every training by :func:`~effdl_kit.recommend.train_and_measure` (BTTackler-guarded, latency
measured on the CPU after training) with the same training seed:

``recommend``
    :func:`~effdl_kit.recommend.recommend` on the prepared parts (search seed = seed), then
    its ``top_k`` ranked candidates trained in rank order.
``tpe``
    Optuna's ``TPESampler(seed=seed)`` with the constraint measured latency - budget
    (``trial.set_constraint``, Optuna 5's form of ``constraints_func``), every trial trained
    (``n_trials``; with ``match_compute`` on until the study has spent the recommend route's
    compute of the cell, prepare included, at most ``max_trials``).
``nsga2``
    Optuna's ``NSGAIISampler(seed=seed, population_size=...)`` on (maximise accuracy,
    minimise measured latency), every trial trained.
``recommend_b``
    ``recommend`` again with search and training seed ``seed + aa_seed_offset``: the A/A arm.

The four methods of a cell run in an order drawn per cell (seeded by its name; ``shuffle``).
A training cache keyed by (task, every component, training seed) avoids training an identical
configuration twice in wall time, but every method is charged the recorded ``train_s`` and
``measure_s`` of every training it asked for. Finished cells are appended to
``<out>/recommend_comparison.cells.jsonl`` (and trainings to ``...trainings.jsonl``), so an
interrupted run resumes losing nothing but the cell in progress.
"""

from __future__ import annotations

import json
import math
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from effdl_kit._core.errors import ConfigError
from effdl_kit._core.jsonable import json_float
from effdl_kit._core.types import ProgressFn
from effdl_kit._core.validate import check_scale

from ._settings import BUDGET_NAMES, METHODS, NAME, STEM, CompareBudget, check_seeds

__all__ = ["CELLS_FILE", "FORMAT", "TRAININGS_FILE", "Trainer", "cell_key", "run_comparison"]

FORMAT = "effdl-recommend-comparison/1"
CELLS_FILE = f"{STEM}.cells.jsonl"
TRAININGS_FILE = f"{STEM}.trainings.jsonl"
DEVICE = "cpu"
#: ``trainer(task, components, device=, seed=, scale=) -> TrainedCandidate``
Trainer = Callable[..., Any]
_SETTING_KEYS = ("scale", "top_k", "n_trials", "tpe_startup", "population_size", "n_iter",
                 "aa_seed_offset", "shuffle", "match_compute", "max_trials")


def cell_key(task: str, budget: str, seed: int) -> str:
    """The name of one cell: ``"digits/tight/3"``."""
    return f"{task}/{budget}/{seed}"


class _Cache:
    """Trainings by (task, components, seed); appended to a JSONL file when ``path`` is set."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.rows: dict[str, dict[str, Any]] = {}
        if path is not None and path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    try:
                        row = json.loads(line)
                        self.rows[row["key"]] = row
                    except (ValueError, KeyError, TypeError):
                        continue  # a line cut by an interruption

    @staticmethod
    def key(task: str, comps: Mapping[str, Any], seed: int, scale: str) -> str:
        return json.dumps([task, scale, seed, sorted(comps.items())], default=str)

    def train(self, trainer: Trainer, task: str, comps: Mapping[str, Any], seed: int,
              scale: str) -> dict[str, Any]:
        k = self.key(task, comps, seed, scale)
        if k in self.rows:
            return {**self.rows[k], "cached": True}
        t0 = time.perf_counter()
        try:
            t = trainer(task, dict(comps), device=DEVICE, seed=seed, scale=scale)
            row = {"accuracy": json_float(t.accuracy),
                   "measured_ms": json_float(t.measured_ms),
                   "train_s": float(t.train_s), "measure_s": float(t.measure_s),
                   "error": t.error, "diagnosis": t.diagnosis}
        except Exception as exc:  # a failing training is recorded, the run goes on
            row = {"accuracy": None, "measured_ms": None,
                   "train_s": time.perf_counter() - t0, "measure_s": 0.0,
                   "error": f"{type(exc).__name__}: {exc}", "diagnosis": None}
        if row["error"] is None and row["accuracy"] is None:
            row["error"] = "no finite accuracy"
        row["key"] = k
        self.rows[k] = row
        if self.path is not None:
            with self.path.open("a", encoding="utf-8") as f:
                f.write(json.dumps(row) + "\n")
        return {**row, "cached": False}


class _Trace:
    """One method's record in a cell: every training with the cumulative compute, the
    cumulative count and the best feasible accuracy so far."""

    def __init__(self, method: str, budget_ms: float, overhead_s: float = 0.0) -> None:
        self.method = method
        self.budget_ms = budget_ms
        self.pending_s = float(overhead_s)
        self.search_s = 0.0
        self.compute_s = 0.0
        self.best: float | None = None
        self.trainings: list[dict[str, Any]] = []
        self.start_s = float(overhead_s)

    def charge(self, seconds: float) -> None:
        self.search_s += seconds
        self.pending_s += seconds

    def add(self, searched: Mapping[str, Any], row: Mapping[str, Any]) -> bool:
        ms, acc = row["measured_ms"], row["accuracy"]
        feasible = bool(row["error"] is None and acc is not None and ms is not None
                        and ms <= self.budget_ms)
        self.compute_s += self.pending_s + float(row["train_s"]) + float(row["measure_s"])
        self.pending_s = 0.0
        if feasible and (self.best is None or acc > self.best):
            self.best = float(acc)
        self.trainings.append({
            "components": dict(searched), "accuracy": acc, "measured_ms": ms,
            "train_s": row["train_s"], "measure_s": row["measure_s"], "error": row["error"],
            "diagnosis": row["diagnosis"], "cached": row["cached"], "feasible": feasible,
            "compute_s": self.compute_s, "n_trainings": len(self.trainings) + 1,
            "best_feasible": self.best})
        return feasible

    def to_dict(self, **extra: Any) -> dict[str, Any]:
        self.compute_s += self.pending_s
        self.pending_s = 0.0
        return {"method": self.method, "start_s": self.start_s, "search_s": self.search_s,
                "compute_s": self.compute_s, "n_trainings": len(self.trainings),
                "best_feasible": self.best, "trainings": self.trainings, **extra}


def _run_recommend(method: str, task: str, budget_ms: float, search_seed: int,
                   train_seed: int, parts: Any, prepare_s: float, b: CompareBudget,
                   cache: _Cache, trainer: Trainer) -> dict[str, Any]:
    from effdl_kit.recommend import recommend

    rec = recommend(task, DEVICE, budget_ms, n_iter=b.n_iter, seed=search_seed, scale=b.scale,
                    prepared=parts)
    search_s = float(rec.time_s["search"])
    tr = _Trace(method, budget_ms, overhead_s=prepare_s + search_s)
    tr.search_s = search_s
    table = rec.table(b.top_k)
    predicted = []
    for _, r in table.iterrows():
        searched = {c: _plain(r[c]) for c in rec.components}
        row = cache.train(trainer, task, {**rec.fixed, **searched}, train_seed, b.scale)
        tr.add(searched, row)
        predicted.append({"rank": int(r["rank"]), "accuracy": float(r["accuracy"]),
                          "latency_ms": float(r["latency_ms"]),
                          "p_feasible": float(r["p_feasible"])})
    return tr.to_dict(prepare_s=prepare_s, search_seed=search_seed, train_seed=train_seed,
                      predicted=predicted)


def _plain(v: Any) -> Any:
    return v.item() if hasattr(v, "item") else v


def _run_optuna(method: str, task: str, budget_ms: float, seed: int, space: Any,
                b: CompareBudget, cache: _Cache, trainer: Trainer,
                target_s: float = 0.0) -> dict[str, Any]:
    import optuna
    from optuna.distributions import CategoricalDistribution
    from optuna.trial import TrialState

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    fixed = space.fixed()
    dists = {n: CategoricalDistribution([_plain(v) for v in vals])
             for n, vals in zip(space.components, space.problem.space.values, strict=True)}
    tr = _Trace(method, budget_ms)
    t0 = time.perf_counter()
    study: Any
    if method == "tpe":
        # the constraint (measured latency - budget) is set on each trial before it is told:
        # Optuna 5's replacement of ``constraints_func`` (deprecated there), the same values
        sampler: Any = optuna.samplers.TPESampler(seed=seed, n_startup_trials=b.tpe_startup)
        study = optuna.create_study(direction="maximize", sampler=sampler)
    else:
        sampler = optuna.samplers.NSGAIISampler(seed=seed, population_size=b.population_size)
        study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)
    tr.charge(time.perf_counter() - t0)
    while len(tr.trainings) < b.n_trials or (
            b.match_compute and tr.compute_s < target_s and len(tr.trainings) < b.max_trials):
        t0 = time.perf_counter()
        trial = study.ask(dists)
        searched = dict(trial.params)
        tr.charge(time.perf_counter() - t0)
        row = cache.train(trainer, task, {**fixed, **searched}, seed, b.scale)
        tr.add(searched, row)
        t0 = time.perf_counter()
        ok = row["error"] is None and row["accuracy"] is not None \
            and row["measured_ms"] is not None
        trial.set_user_attr("measured_ms", row["measured_ms"] if ok else math.inf)
        if ok and method == "tpe":
            trial.set_constraint("latency", row["measured_ms"] - budget_ms)
        if not ok:
            study.tell(trial, state=TrialState.FAIL)
        elif method == "tpe":
            study.tell(trial, row["accuracy"])
        else:
            study.tell(trial, [row["accuracy"], row["measured_ms"]])
        tr.charge(time.perf_counter() - t0)
    extra: dict[str, Any] = {"sampler": type(sampler).__name__, "target_s": target_s}
    if method == "nsga2":
        extra["population_size"] = b.population_size
        extra["generations"] = len(tr.trainings) / b.population_size
    else:
        extra["n_startup_trials"] = b.tpe_startup
    return tr.to_dict(**extra)


def _read_cells(path: Path, b: CompareBudget) -> dict[str, dict[str, Any]]:
    done: dict[str, dict[str, Any]] = {}
    if not path.is_file():
        return done
    want = {k: b.to_dict()[k] for k in _SETTING_KEYS}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            cell = json.loads(line)
            key = cell["key"]
            got = {k: cell["settings"][k] for k in _SETTING_KEYS}
        except (ValueError, KeyError, TypeError):
            continue  # a line cut by an interruption: that cell runs again
        if got != want:
            raise ConfigError("out", str(path.parent), f"a folder whose finished cells were "
                              f"run with the same settings ({want}); found {got}")
        done[key] = cell
    return done


def run_comparison(scale: str = "small", *, seeds: Sequence[int] | None = None,
                   tasks: Sequence[str] | None = None, progress: ProgressFn | None = None,
                   out: str | Path | None = None, budget: CompareBudget | None = None,
                   prepared: Mapping[str, Any] | None = None,
                   trainer: Trainer | None = None, run_missing: bool = True) -> dict[str, Any]:
    """Run (or resume) the comparison and return its results (the JSON payload).

    Parameters
    ----------
    scale : {"smoke", "small", "paper"}
        :meth:`CompareBudget.for_scale`.
    seeds : sequence of int, optional
        Repeats (default: the scale's).
    tasks : sequence of str, optional
        A subset of the scale's tasks (default: all of them).
    progress : callable, optional
        ``progress(done, total, label)`` after each cell.
    out : str or Path, optional
        Folder of the resumable records (``CELLS_FILE``, ``TRAININGS_FILE``); finished cells
        found there are not run again.
    budget : CompareBudget, optional
        Overrides the scale's settings (``scale`` must match it).
    prepared : mapping, optional
        Task -> ``prepare()``'s parts for that task at this scale (seed 0), reused; its
        seconds are then not known and charged as 0 (recorded as ``prepare_reused``).
    trainer : callable, optional
        Stand-in for :func:`~effdl_kit.recommend.train_and_measure` (tests).
    run_missing : bool
        False: run nothing, return the finished cells found in ``out`` (the others listed
        in ``missing``).

    Returns
    -------
    dict
        ``experiment``, ``format``, ``scale``, ``settings``, ``cells`` (one dict per finished
        cell: task, budget name and ms, seed, ``methods`` -> trace), ``missing`` (cell keys
        not run), ``prepare_s`` per task, ``wall_s``.

    Raises
    ------
    ConfigError
        Bad scale, seeds, tasks, budget, out, progress or trainer, before any work.
    """
    from effdl_kit._core.env import collect_env
    from effdl_kit.recommend import prepare, train_and_measure

    check_scale(scale)
    b = CompareBudget.for_scale(scale) if budget is None else budget
    if not isinstance(b, CompareBudget) or b.scale != scale:
        raise ConfigError("budget", b, f"None or a CompareBudget of scale {scale!r}")
    import dataclasses

    if seeds is not None:
        b = dataclasses.replace(b, seeds=check_seeds(seeds, b.aa_seed_offset))
    if tasks is not None:
        if isinstance(tasks, str) or not isinstance(tasks, Sequence):
            raise ConfigError("tasks", tasks, f"a sequence of tasks of {list(b.tasks)}")
        for t in tasks:
            if t not in b.tasks:
                raise ConfigError("tasks", t, b.tasks)
        b = dataclasses.replace(b, tasks=tuple(tasks))
    for name, fn in (("progress", progress), ("trainer", trainer)):
        if fn is not None and not callable(fn):
            raise ConfigError(name, type(fn).__name__, "None or a callable")
    if prepared is not None and (not isinstance(prepared, Mapping)
                                 or not set(prepared) <= set(b.tasks)):
        raise ConfigError("prepared", type(prepared).__name__,
                          f"None or a mapping task -> prepare()'s parts, tasks of {b.tasks}")
    folder: Path | None = None
    if out is not None:
        if not isinstance(out, str | Path) or not str(out).strip() or (
                Path(out).exists() and not Path(out).is_dir()):
            raise ConfigError("out", out, "None or a folder path")
        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
    train_fn: Trainer = train_and_measure if trainer is None else trainer
    done = _read_cells(folder / CELLS_FILE, b) if folder is not None else {}
    cache = _Cache(folder / TRAININGS_FILE if folder is not None else None)
    keys = [(t, bn, s) for t in b.tasks for bn in BUDGET_NAMES for s in b.seeds]
    t_start = time.perf_counter()
    cells: list[dict[str, Any]] = []
    prepare_s: dict[str, float] = {}
    n_done = 0
    for task in b.tasks:
        todo = [k for k in keys if k[0] == task and cell_key(*k) not in done]
        if not run_missing:
            todo = []
        parts: Any = None
        reused = False
        if todo:
            if prepared is not None and task in prepared:
                parts, prepare_s[task], reused = prepared[task], 0.0, True
            else:
                t0 = time.perf_counter()
                parts = prepare(task, DEVICE, scale=b.scale, seed=0)
                prepare_s[task], reused = time.perf_counter() - t0, False
        for k in [k for k in keys if k[0] == task]:
            key = cell_key(*k)
            if key in done:
                cells.append(done[key])
                prepare_s.setdefault(task, float(done[key]["prepare_s"]))
            elif not run_missing:
                continue
            else:
                cells.append(_run_cell(k, b, parts, prepare_s[task], reused, cache, train_fn,
                                       folder))
            n_done += 1
            if progress is not None:
                progress(n_done, len(keys), f"cell {key}")
    return {"experiment": NAME, "format": FORMAT, "scale": b.scale, "seed": 0,
            "settings": b.to_dict(), "device": DEVICE, "cells": cells,
            "missing": [cell_key(*k) for k in keys
                        if cell_key(*k) not in {c["key"] for c in cells}],
            "prepare_s": prepare_s, "wall_s": time.perf_counter() - t_start,
            "env": collect_env().to_dict()}


def _run_cell(k: tuple[str, str, int], b: CompareBudget, parts: Any, prepare_s: float,
              reused: bool, cache: _Cache, trainer: Trainer,
              folder: Path | None) -> dict[str, Any]:
    task, bname, seed = k
    budget_ms = float(b.budgets_ms[task][bname])
    t0 = time.perf_counter()
    aa = seed + b.aa_seed_offset
    runs: dict[str, Callable[[], dict[str, Any]]] = {
        "recommend": lambda: _run_recommend("recommend", task, budget_ms, seed, seed, parts,
                                            prepare_s, b, cache, trainer),
        "tpe": lambda: _run_optuna("tpe", task, budget_ms, seed, parts[0], b, cache, trainer,
                                   target()),
        "nsga2": lambda: _run_optuna("nsga2", task, budget_ms, seed, parts[0], b, cache,
                                     trainer, target()),
        "recommend_b": lambda: _run_recommend("recommend_b", task, budget_ms, aa, aa, parts,
                                              prepare_s, b, cache, trainer),
    }
    # the methods run in an order drawn per cell (seeded by the cell's name), so that a drift
    # of the machine's load or an order effect on the measured latency favours no method
    order = list(METHODS)
    if b.shuffle:
        rng = np.random.default_rng(zlib.crc32(cell_key(*k).encode()))
        order = [order[i] for i in rng.permutation(len(order))]
    if b.match_compute:  # the feedback studies need the recommend route's compute first
        order = ["recommend", *[m for m in order if m != "recommend"]]
    done: dict[str, dict[str, Any]] = {}

    def target() -> float:
        return float(done["recommend"]["compute_s"]) if b.match_compute else 0.0

    for m in order:
        done[m] = runs[m]()
    methods = {m: done[m] for m in METHODS}
    cell = {"key": cell_key(*k), "task": task, "budget": bname, "budget_ms": budget_ms,
            "seed": seed, "prepare_s": prepare_s, "prepare_reused": reused,
            "components": list(parts[0].components),
            "values": [[_plain(v) for v in vals] for vals in parts[0].problem.space.values],
            "fixed": parts[0].fixed(), "settings": b.to_dict(), "order": order,
            "methods": methods,
            "wall_s": time.perf_counter() - t0}
    if folder is not None:
        with (folder / CELLS_FILE).open("a", encoding="utf-8") as f:
            f.write(json.dumps(cell, default=str) + "\n")
    return cell
