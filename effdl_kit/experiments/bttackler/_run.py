"""The runs of the ``bttackler`` experiment: workers on one Optuna study per run, resumable.

Each worker runs the kit's one trial step (:func:`~effdl_kit._core.storage.trial_loop` of
:func:`~effdl_kit._core.storage.run_trial`) on a :class:`~effdl_kit._core.storage.RunClock`
that starts once every worker is ready (:func:`~effdl_kit._core.storage.wait_for_workers`);
the objective labels how each trial ended (``outcome``: complete, bttackler, median,
curvefit, failed, over_budget, interrupted) before the trial step records it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import math
import multiprocessing as mp
import os
import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import torch

from effdl_kit._core.errors import ConfigError, TrainingError
from effdl_kit._core.io import atomic_write_text
from effdl_kit._core.jsonable import json_float, param_value, records
from effdl_kit._core.pool import shutdown_when_done, worker_init
from effdl_kit._core.rng import SEED_MAX
from effdl_kit._core.storage import (
    ATTR_FAIL_REASON,
    DeadlineExceeded,
    RunClock,
    fail_stale_trials,
    make_storage,
    release_stale_journal_lock,
    trial_loop,
    wait_for_workers,
)
from effdl_kit._core.study import quiet_optuna, sigterm_as_exit
from effdl_kit._core.types import ProgressFn
from effdl_kit._core.validate import check_executor, check_int, check_scale
from effdl_kit.diagnosis import ATTR_DIAGNOSIS, TrialHook
from effdl_kit.experiments._registry import ExperimentSummary, make_summary, output_files
from effdl_kit.training import DataBundle, Hook, TrainConfig, TrainState, load_data, train

from ._analysis import aggregate, compare_runs, headline, indicator_counts
from ._figures import redraw
from ._live import run_bttackler_live
from ._live_figures import redraw_live
from ._live_main import render_live_markdown
from ._replay_main import write_replay_results
from ._replay_study import run_replay_study
from ._settings import (
    JOURNAL_FILE,
    NAME,
    PAPER,
    RESULTS_FILE,
    STUDY_NAME,
    RunSpec,
    Variant,
    build_specs,
    make_pruner,
    make_sampler,
    resolve_settings,
)
from ._spaces import suggest_config

__all__ = ["run_bttackler", "run_dir_of", "run_study", "task_data"]

#: User attribute of each trial: how it ended, in the experiment's words.
ATTR_OUTCOME = "outcome"


@functools.lru_cache(maxsize=4)
def _load_bundle(task: str, dataset: str, seed: int, n_train: int | None,
                 input_len: int, output_len: int, data_dir: str | None) -> DataBundle:
    if task == "transformer":
        return load_data(dataset, seed=seed, n_train=n_train,
                         data_params={"input_len": input_len, "output_len": output_len})
    params: dict[str, Any] = {}
    if dataset == "synthetic":
        params = {"n_samples": 20000, "image_size": 32, "channels": 3, "difficulty": 0.5,
                  "data_seed": 0}
    data = load_data(dataset, seed=seed, n_train=n_train, data_params=params,
                     data_dir=data_dir)
    if task == "cnn" and data.input_shape[-1] < 16:  # digits: 8x8 -> 16x16 (pixel repeat)
        r = 16 // data.input_shape[-1]

        def up(x: np.ndarray) -> np.ndarray:
            return np.ascontiguousarray(x.repeat(r, axis=2).repeat(r, axis=3))

        data = dataclasses.replace(data, x_train=up(data.x_train), x_val=up(data.x_val),
                                   x_test=up(data.x_test))
    return data


def task_data(spec: RunSpec) -> DataBundle:
    """The run's data (cached per process): split seeded by ``spec.seed``."""
    sp = spec.space
    n_train = sp["series_n_train"] if spec.task == "transformer" else spec.n_train
    return _load_bundle(spec.task, spec.dataset, spec.seed, n_train, int(sp["input_len"]),
                        int(sp["output_len"]), spec.data_dir)


class _DeadlineHook(Hook):
    """Aborts a trial still training when the run clock passes the budget."""

    def __init__(self, clock: RunClock) -> None:
        self.clock = clock

    def after_step(self, state: TrainState) -> None:
        self.clock.check()


class _ReportHook(Hook):
    """Reports each epoch's validation metric; asks the study's pruner (median, curvefit)."""

    def __init__(self, trial: optuna.Trial, ask_pruner: bool) -> None:
        self.trial = trial
        self.ask_pruner = ask_pruner

    def epoch_end(self, state: TrainState) -> None:
        v = state.history[-1].val_metric
        if math.isfinite(v):
            self.trial.report(float(v), state.epoch)
            if self.ask_pruner and self.trial.should_prune():
                raise optuna.TrialPruned(f"{type(self.trial.study.pruner).__name__} at "
                                         f"epoch {state.epoch}")


#: The hook through which each variant's trials report their curve (and get stopped).
VARIANT_HOOKS: dict[Variant, Callable[[optuna.Trial], Hook]] = {
    "plain": lambda trial: _ReportHook(trial, ask_pruner=False),
    "bttackler": TrialHook,
    "median": lambda trial: _ReportHook(trial, ask_pruner=True),
    "curvefit": lambda trial: _ReportHook(trial, ask_pruner=True),
}


def _objective(trial: optuna.Trial, spec: RunSpec, data: DataBundle, clock: RunClock) -> float:
    """Train one trial; label its ``outcome`` (the trial step records state and reason)."""
    try:
        cfg = suggest_config(trial, spec)
        hooks: list[Hook] = [_DeadlineHook(clock), VARIANT_HOOKS[spec.variant](trial)]
        res = train(cfg, hooks=hooks, data=data)
        if res.nonfinite_loss is not None:  # diverged: failed, not a chance-level result
            raise TrainingError(res.nonfinite_loss)
        value = float(res.history[-1].val_metric)
    except optuna.TrialPruned:
        trial.set_user_attr(ATTR_OUTCOME, spec.variant)
        raise
    except DeadlineExceeded:
        trial.set_user_attr(ATTR_OUTCOME, "over_budget")
        raise
    except Exception:  # labelled here; run_trial records the reason and fails the trial
        trial.set_user_attr(ATTR_OUTCOME, "failed")
        raise
    except BaseException:
        trial.set_user_attr(ATTR_OUTCOME, "interrupted")
        raise
    outcome = ("failed" if not math.isfinite(value) else
               "bttackler" if ATTR_DIAGNOSIS in trial.user_attrs else "complete")
    trial.set_user_attr(ATTR_OUTCOME, outcome)
    return value


def _storage(ref: str | Path) -> optuna.storages.BaseStorage:
    """The storage behind ``ref``: a journal-file path or an RDB URL (no heartbeat: trials
    left RUNNING by a dead worker are failed as ``"interrupted"`` by the driver)."""
    return make_storage(ref, heartbeat_interval=None)


def _storage_label(storage: str | Path | None) -> str:
    """How ``results.json`` names the storage (an RDB URL without its password)."""
    if storage is None:
        return f"journal file per run ({JOURNAL_FILE})"
    text = str(storage)
    if "://" not in text:
        return f"journal file {text}"
    from sqlalchemy.engine import make_url  # optional (the postgres extra): only for URLs

    return make_url(text).render_as_string(hide_password=True)


_WARM: set[tuple[str, str]] = set()


def _warm_up(spec: RunSpec, data: DataBundle) -> None:
    """One short training of the task's model per process, before the run clock starts
    (first-call costs of torch kernels would otherwise fall on the first run only)."""
    key = (spec.task, spec.device)
    if key in _WARM:
        return
    cfg = TrainConfig(dataset=spec.dataset, model=spec.task, epochs=1, threads=1,
                      device=spec.device,
                      data_params=({"input_len": int(spec.space["input_len"]),
                                    "output_len": int(spec.space["output_len"])}
                                   if spec.task == "transformer" else {}))
    train(cfg, data=data)
    _WARM.add(key)


def _worker_main(spec: RunSpec, storage_ref: str, study_name: str, worker: int, segment: int,
                 offset_s: float, init: bool = False) -> tuple[int, float]:
    """One worker: run trials until the run clock reaches the budget (or ``max_trials``).

    ``init``: set this process up as a worker first (one torch thread; for executors that
    have no initializer, such as a Dask cluster's). Returns the number of trials it ran and
    its run clock when it stopped.
    """
    if init:
        _init_worker()
    with quiet_optuna():
        study = optuna.load_study(
            study_name=study_name, storage=_storage(storage_ref),
            sampler=make_sampler(spec.method, seed=spec.seed, worker=worker, segment=segment,
                                 gp_startup=spec.gp_startup),
            pruner=make_pruner(spec.variant, epochs=spec.epochs,
                               median_startup=spec.median_startup,
                               curvefit_startup=spec.curvefit_startup))
        data = task_data(spec)
        _warm_up(spec, data)
        clock = RunClock(spec.budget_s, offset_s)
        if spec.workers > 1:
            wait_for_workers(study, str(segment), worker, spec.workers)
        clock.start()

        def stop() -> bool:
            return clock.expired() or (spec.max_trials is not None and len(
                study.get_trials(deepcopy=False)) >= spec.max_trials)

        done = trial_loop(study, functools.partial(_objective, spec=spec, data=data,
                                                   clock=clock),
                          stop=stop, user_attrs={"worker": worker, "segment": segment},
                          clock=clock)
        return len(done), clock()


def _init_worker() -> None:
    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)


def _trial_record(t: optuna.trial.FrozenTrial) -> dict[str, Any]:
    """A trial as ``results.json`` stores it (its ``fail_reason`` in the field ``error``)."""
    ua = t.user_attrs
    diag = ua.get(ATTR_DIAGNOSIS)
    params = {k: param_value(v) for k, v in t.params.items()}
    return {
        "number": t.number, "state": t.state.name, "value": json_float(t.value),
        "t_start": json_float(ua.get("t_start")), "t_end": json_float(ua.get("t_end")),
        "worker": ua.get("worker"), "segment": ua.get("segment"),
        "outcome": ua.get(ATTR_OUTCOME), "epochs": len(t.intermediate_values),
        "indicators": list(diag.get("indicators", [])) if isinstance(diag, dict) else [],
        "error": ua.get(ATTR_FAIL_REASON), "params": params,
    }


def _fail_interrupted(storage: optuna.storages.BaseStorage, study_name: str) -> int:
    """Fail the trials a stopped or dead worker left RUNNING (outcome ``"interrupted"``; not
    queued again: the time they cost is part of the run). Call only when no worker runs."""
    return fail_stale_trials(storage, study_name, requeue=False,
                             user_attrs={ATTR_OUTCOME: "interrupted"})


def run_study(spec: RunSpec, run_dir: str | Path, *, executor: Executor | None = None,
              storage: str | Path | None = None, study_name: str = STUDY_NAME
              ) -> dict[str, Any]:
    """Run (or resume) one run and return its record.

    Parameters
    ----------
    spec : RunSpec
        What to run.
    run_dir : str or Path
        The run's directory; without ``storage``, its ``journal.log`` is the Optuna study
        (created or re-opened).
    executor : concurrent.futures.Executor, optional
        Where the ``spec.workers`` workers run: a local process pool, or a Dask cluster
        (``client.get_executor()``; it needs ``spec.workers`` free slots, and every worker
        reads its data itself, CIFAR-10 from ``spec.data_dir`` on its own machine). Without
        it, one worker runs in this process.
    storage : str or Path, optional
        A journal-file path or an RDB URL (``postgresql+psycopg://user@host/db``) shared by
        the workers, holding the study ``study_name``; default ``run_dir/journal.log``.
    study_name : str
        The study's name in the storage.

    Returns
    -------
    dict
        ``spec`` fields, ``direction``, ``metric``, ``segments``, ``elapsed_s``,
        ``worker_errors`` (workers that raised, with their error) and ``trials`` (one record
        per trial: number, state, value, t_start, t_end, worker, segment, outcome, epochs,
        indicators, error, params).

    Raises
    ------
    ConfigError
        The study holds a run made with a different task / method / variant / seed / space
        (use another directory or study name).
    TrainingError
        Every worker of the run raised or was lost (each one's error in the message, the
        first chained); they are also kept in the study's ``worker_errors``.
    """
    run_dir = Path(run_dir)
    if storage is None:
        run_dir.mkdir(parents=True, exist_ok=True)
        ref = str(run_dir / JOURNAL_FILE)
        release_stale_journal_lock(ref)  # a killed run may have left it; none runs now
    else:
        ref = str(storage)
    with quiet_optuna():
        st = _storage(ref)
        study = optuna.create_study(study_name=study_name, storage=st,
                                    direction=spec.direction, load_if_exists=True)
        ident = spec.identity()
        stored = study.user_attrs.get("spec")
        if stored is None:
            study.set_user_attr("spec", ident)
        elif stored != ident:
            field, where = (("out", str(run_dir)) if storage is None
                            else ("study_prefix", study_name))
            raise ConfigError(field, where, "a study of a run with the same task, method, "
                              f"variant, seed and search space (this one holds {stored}); "
                              f"use a fresh {'output directory' if storage is None else field}")
        _fail_interrupted(st, study_name)  # left by an interruption
        trials = study.get_trials(deepcopy=False)
        offset = max([float(study.user_attrs.get("elapsed_s", 0.0))]
                     + [float(t.user_attrs.get("t_end", 0.0)) for t in trials])
        segment = int(study.user_attrs.get("segments", 0))
        full = spec.max_trials is not None and len(trials) >= spec.max_trials
        if offset < spec.budget_s and not full:
            # the segment is claimed before it starts: a segment cut by a kill still counts,
            # so the resumed one draws fresh sampler streams instead of replaying it
            study.set_user_attr("segments", segment + 1)
            if executor is None:
                ends = [_worker_main(spec, ref, study_name, 0, segment, offset)[1]]
            else:
                futures = [executor.submit(_worker_main, spec, ref, study_name, w, segment,
                                           offset, True) for w in range(spec.workers)]
                ends, errors = [], []
                for w, f in enumerate(futures):
                    try:
                        ends.append(f.result()[1])
                    except Exception as exc:  # a lost worker: the others' trials count
                        errors.append((w, exc))
                _fail_interrupted(st, study_name)  # trials of workers that died
                if errors:
                    study.set_user_attr("worker_errors", [
                        *study.user_attrs.get("worker_errors", []),
                        *(f"segment {segment}, worker {w}: {type(e).__name__}: {e}"[:500]
                          for w, e in errors)])
                if not ends:
                    raise TrainingError(
                        f"every worker of run {study_name!r} failed: " + "; ".join(
                            f"worker {w}: {type(e).__name__}: {e}"[:300] for w, e in errors)
                    ) from errors[0][1]
            study.set_user_attr("elapsed_s", max(ends))
        records = [_trial_record(t) for t in study.get_trials(deepcopy=False)]
        attrs = study.user_attrs
    return {**spec.to_dict(), "direction": spec.direction, "metric": spec.metric,
            "segments": int(attrs.get("segments", 0)),
            "elapsed_s": json_float(attrs.get("elapsed_s")),
            "worker_errors": list(attrs.get("worker_errors", [])), "trials": records}


def run_dir_of(out: Path, spec: RunSpec) -> Path:
    """``out/runs/<task>/<method>/<variant>/rep<r>``."""
    return out / "runs" / spec.task / spec.method / spec.variant / f"rep{spec.repeat}"


def _study_name(spec: RunSpec, storage: str | Path | None, prefix: str) -> str:
    if storage is None:
        return STUDY_NAME
    return f"{prefix}/{spec.task}/{spec.method}/{spec.variant}/rep{spec.repeat}"


def run_bttackler(
    scale: str,
    seed: int,
    out: Path,
    *,
    tasks: Sequence[str] | None = None,
    methods: Sequence[str] | None = None,
    variants: Sequence[str] | None = None,
    repeats: int | None = None,
    workers: int | None = None,
    budget_s: float | None = None,
    max_trials: int | None = None,
    epochs: int | None = None,
    dataset: str | None = None,
    cifar10: str | Path | None = None,
    progress: ProgressFn | None = None,
    executor: Executor | None = None,
    storage: str | Path | None = None,
    study_prefix: str = STUDY_NAME,
    replay: bool = True,
    live: bool = True,
) -> ExperimentSummary:
    """BTTackler vs plain HPO and early-termination rules: TSBA, Top10HR, trials, indicators;
    then the replay of stop rules on the kit's recorded traces and the paired live experiment.

    Parameters
    ----------
    scale : {"smoke", "small", "paper"}
        Picks the :class:`~effdl_kit.experiments.bttackler.Budget` of the scale; the keyword
        arguments override parts of it.
    seed : int
        Base seed (repeat ``r`` uses ``seed + 100003 r``).
    out : Path
        The experiment's directory: ``runs/`` (one journal per run, resumable),
        ``results.json``, figures and tables.
    tasks, methods, variants : sequence of str, optional
        Subsets of ``TASKS``, ``METHODS``, ``VARIANTS`` (must include "plain").
    repeats, workers : int, optional
        >= 1 each.
    budget_s : float, optional
        Wall-time budget per run in seconds (> 0).
    max_trials : int, optional
        Cap on trials per run.
    epochs : int, optional
        Epochs of a full trial (>= 2).
    dataset : {"digits", "synthetic", "cifar10"}, optional
        Dataset of the image tasks.
    cifar10 : str or Path, optional
        CIFAR-10 folder (default ``$EFFDL_CIFAR10``).
    progress : callable, optional
        ``progress(done, total, message)`` after each run.
    executor : concurrent.futures.Executor, optional
        Where each run's ``workers`` workers run, e.g. a Dask cluster
        (``distributed.Client("tcp://scheduler:8786").get_executor()``; it needs ``workers``
        free slots). Default: ``workers`` local processes (one worker: this process).
    storage : str or Path, optional
        One Optuna storage for every run's study: an RDB URL
        (``postgresql+psycopg://user@host:5432/db``) or a journal-file path that all workers
        reach. Default: a journal file per run under ``out/runs/``.
    study_prefix : str
        With ``storage``: run ``(task, method, variant, r)`` is the study
        ``<study_prefix>/<task>/<method>/<variant>/rep<r>`` (another experiment in the same
        database needs another prefix).
    replay : bool
        Also run the replay study at the scale's :class:`ReplayBudget` on the kit's trace
        dataset (in this process) and write ``bttackler_replay.{json,md,png}`` into ``out``.
    live : bool
        Also run the paired live experiment at the scale's :class:`LiveBudget` (two local
        processes per repeat) and write ``bttackler_live.*`` into ``out``.

    Returns
    -------
    ExperimentSummary
        Headline numbers next to the paper's, per-(task, method, variant) TSBA and Top10HR,
        the figures and tables written.

    Raises
    ------
    ConfigError, DatasetNotFoundError
        Bad input (see :func:`~effdl_kit.experiments.bttackler.resolve_settings`), before any
        training.
    """
    check_scale(scale)
    seed = check_int("seed", seed, min_value=0, max_value=SEED_MAX)
    if not isinstance(out, str | Path):
        raise ConfigError("out", out, "a directory path")
    settings = resolve_settings(scale, tasks=tasks, methods=methods, variants=variants,
                                repeats=repeats, workers=workers, budget_s=budget_s,
                                max_trials=max_trials, epochs=epochs, dataset=dataset,
                                cifar10=cifar10)
    if progress is not None and not callable(progress):
        raise ConfigError("progress", progress, "a callable progress(done, total, message)")
    check_executor(executor)
    for name, flag in (("replay", replay), ("live", live)):
        if flag not in (True, False):
            raise ConfigError(name, flag, (True, False))
    if not isinstance(study_prefix, str) or not study_prefix.strip():
        raise ConfigError("study_prefix", study_prefix, "a non-empty string")
    if storage is not None:
        if not isinstance(storage, str | Path) or not str(storage).strip():
            raise ConfigError("storage", storage, "a journal-file path or an RDB URL")
        with quiet_optuna():
            _storage(storage)  # a bad URL, driver or folder fails here, before training
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    specs = build_specs(settings, seed)
    t0 = time.perf_counter()
    runs: list[dict[str, Any]] = []
    pool: Executor | None = executor
    n_workers = int(settings["workers"])
    own = executor is None and n_workers > 1
    if own:
        # every worker call sets its process up itself (``_worker_main(..., init=True)``);
        # the workers end with this process, however it ends (no orphans)
        pool = ProcessPoolExecutor(max_workers=n_workers, mp_context=mp.get_context("spawn"),
                                   initializer=worker_init, initargs=(os.getpid(),))
    engine = {"executor": (type(executor).__name__ if executor is not None else
                           f"{n_workers} local processes" if own else "this process"),
              "storage": _storage_label(storage),
              "study_prefix": study_prefix if storage is not None else None}
    # SIGTERM becomes SystemExit while the own pool runs, so the workers are killed below
    with sigterm_as_exit() if own else contextlib.nullcontext(), shutdown_when_done(pool, own):
        for i, spec in enumerate(specs):
            t_run = time.perf_counter()
            runs.append(run_study(spec, run_dir_of(out, spec), executor=pool, storage=storage,
                                  study_name=_study_name(spec, storage, study_prefix)))
            runs[-1]["wall_s"] = time.perf_counter() - t_run
            if progress is not None:
                progress(i + 1, len(specs), f"{spec.task}/{spec.method}/{spec.variant}/"
                         f"rep{spec.repeat}: {len(runs[-1]['trials'])} trials")
    comparisons = compare_runs(runs)
    aggregated = aggregate(runs, comparisons)
    head = headline(comparisons, runs)
    datasets = {task: ("co2" if task == "transformer" else settings["image_dataset"])
                for task in settings["tasks"]}
    payload: dict[str, Any] = {
        "experiment": NAME, "scale": scale, "seed": seed, "budget": settings,
        "paper": PAPER, "datasets": datasets, "engine": engine, "runs": runs,
        "comparisons": comparisons,
        "aggregate": aggregated, "indicators": indicator_counts(runs), "headline": head,
        "wall_time_s": time.perf_counter() - t0,
    }
    atomic_write_text(out / RESULTS_FILE, json.dumps(payload, indent=1) + "\n")
    paths = redraw(out)
    extra: dict[str, Any] = {}
    if replay:
        t_rep = time.perf_counter()
        study = run_replay_study(scale=scale, seed=seed)
        paths += write_replay_results(study, out, command=f"effdl reproduce bttackler --scale "
                                      f"{scale} --seed {seed}", wall_s=time.perf_counter() - t_rep)
        v = study.verdicts("random")
        extra["replay"] = records(v[v["rule"].isin(["bttackler", "bttackler_faithful"])][
            ["task", "rule", "tsba", "tsba_lo", "tsba_hi", "top10hr", "verdict"]])
    if live:
        doc = run_bttackler_live(scale, seed, out,
                                 command=f"effdl reproduce bttackler --scale {scale} "
                                         f"--seed {seed}")
        atomic_write_text(out / "bttackler_live.md", render_live_markdown(doc) + "\n")
        paths += [out / "bttackler_live.md", *redraw_live(doc, out / "bttackler_live")]
        extra["live"] = doc["summary"]["comparisons"]
    by_variant: dict[str, Any] = {}
    for row in aggregated:
        cell = by_variant.setdefault(row["task"], {}).setdefault(row["method"], {})
        cell[row["variant"]] = {k: row.get(k) for k in ("tsba_mean", "top10hr_mean",
                                                         "trials_mean", "best_mean")}
    return make_summary(
        NAME, scale, seed,
        metrics={"headline": head, "paper": PAPER, "by_variant": by_variant, **extra},
        **output_files(paths),
        wall_time_s=time.perf_counter() - t0,
    )
