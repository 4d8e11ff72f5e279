"""The BTTackler trace dataset (issue 15, part 1): configurations trained to full length with the
diagnoser watching in report-only mode, one :class:`~effdl_kit.diagnosis.TrialTrace` per row.

Four trace tasks (:data:`TRACE_TASKS`) sample the experiment's own search spaces
(:data:`~effdl_kit.experiments.bttackler.SEARCH_SPACES`): the CNN on digits, the CNN on
generated 16x16 colour images, the LSTM on digits (rows as steps) and the Transformer
forecasting the CO2 series. Batch sizes are scaled to the datasets so that every epoch has at
least 30 optimiser steps (the paper's CIFAR-10 setup has 55..888; the experiment's 45..720 on
1,259 digits gave 2..28, so bad trials were mostly "too few steps", not pathologies).

Besides the *natural* rows (configurations as the search space samples them), each task gets
rows with an injected pathology (:data:`PATHOLOGIES`): ``lr_high`` (lr 20), ``lr_low``
(lr 1e-8), ``relu_bias`` (ReLU, no batch norm, every bias initialised to -3: dying units) and
``deep_sigmoid`` (sigmoid, no batch norm, two convs per stage and a 4-layer head: vanishing
gradients); the replay's positive control mixes them with the natural rows.

A row trains to the last epoch whatever happens (``train(stop_on_nonfinite=False)``: a plain
HPO run has no stop rule either) and stores per epoch the diagnoser's per-layer ``g`` and
``z``, train/val loss and metric, wall and CPU seconds, and the kit diagnoser's own verdict
(``live_fired``, under :data:`TRACE_DIAGNOSIS`; provenance: the replay recomputes verdicts from
the statistics). Rows are
appended to a resumable JSON-lines file (:class:`effdl_kit._core.jsonl.JsonlDataset`); row
``i`` depends only on ``(seed, i)``, so any executor (a process pool, a Dask cluster's
``client.get_executor()``) builds the same file.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
import optuna

from effdl_kit._core.errors import ConfigError, DatasetNotFoundError
from effdl_kit._core.jsonable import json_float, param_value
from effdl_kit._core.jsonl import JsonlContent, JsonlDataset
from effdl_kit._core.rng import SEED_MAX
from effdl_kit._core.study import quiet_optuna
from effdl_kit._core.types import Direction
from effdl_kit._core.validate import check_choice, check_int, check_scale
from effdl_kit.diagnosis import (
    AUTHORS_INDICATORS,
    DiagnosisConfig,
    DiagnosisHook,
    EpochRecord,
    TrialTrace,
)
from effdl_kit.training import TrainConfig, train
from effdl_kit.training.loop import Hook, TrainState

from ._settings import SPACES, SpaceName, Task
from ._spaces import SEARCH_SPACES

__all__ = [
    "PATHOLOGIES",
    "TRACE_DIAGNOSIS",
    "TRACE_FORMAT",
    "TRACE_TASKS",
    "Pathology",
    "TraceBudget",
    "TraceTask",
    "TraceTaskName",
    "build_trace_dataset",
    "kit_traces_path",
    "load_traces",
    "trace_config",
]

#: The ``format`` tag of a trace file's header.
TRACE_FORMAT = "effdl-bttackler-traces/1"
#: Names of the trace tasks.
TraceTaskName = Literal["cnn_digits", "cnn_synthetic", "lstm_digits", "transformer_co2"]
#: Injected pathologies (``"none"``: a natural row).
Pathology = Literal["none", "lr_high", "lr_low", "relu_bias", "deep_sigmoid"]
PATHOLOGIES: tuple[Pathology, ...] = get_args(Pathology)[1:]


@dataclass(frozen=True)
class TraceTask:
    """One trace task: a search space, a dataset, batch sizes and the pathologies it admits.

    Attributes
    ----------
    task : {"cnn", "lstm", "transformer"}
        The experiment's search space (:data:`SEARCH_SPACES`).
    dataset : str
        Dataset of the bench (``digits``, ``synthetic``, ``co2``).
    batches : tuple of int
        Batch sizes sampled (each gives >= 30 steps per epoch on the dataset).
    direction : {"maximize", "minimize"}
        Of the validation metric (accuracy, or MSE for the forecaster).
    pathologies : tuple of str
        The injected pathologies the model admits (``relu_bias`` and ``deep_sigmoid`` need
        the CNN's bias initialisation and depth settings).
    data_params : dict
        Bench ``data_params`` (the generated images' size; the forecaster's windows).
    """

    task: Task
    dataset: str
    batches: tuple[int, ...]
    direction: Direction
    pathologies: tuple[Pathology, ...]
    data_params: Mapping[str, Any] = dataclasses.field(default_factory=dict)


#: The trace tasks (train splits: 1,259 digits; 2,100 generated images; 1,563 CO2 windows).
TRACE_TASKS: dict[TraceTaskName, TraceTask] = {
    "cnn_digits": TraceTask("cnn", "digits", (8, 16, 32), "maximize", PATHOLOGIES),
    "cnn_synthetic": TraceTask("cnn", "synthetic", (16, 32, 64), "maximize", PATHOLOGIES,
                               {"n_samples": 3000, "image_size": 16, "difficulty": 0.5,
                                "data_seed": 0}),
    "lstm_digits": TraceTask("lstm", "digits", (8, 16, 32), "maximize", ("lr_high", "lr_low")),
    "transformer_co2": TraceTask("transformer", "co2", (8, 16, 32), "minimize",
                                 ("lr_high", "lr_low"), {"input_len": 24, "output_len": 12}),
}
_TASK_NAMES: tuple[str, ...] = tuple(TRACE_TASKS)
#: The report-only diagnoser's configuration (its verdicts are stored as ``live_fired``): the
#: kit's defaults with every indicator of the authors' (NMG included).
TRACE_DIAGNOSIS = DiagnosisConfig(indicators=AUTHORS_INDICATORS)


def check_trace_tasks(tasks: Any, field: str = "tasks") -> tuple[TraceTaskName, ...]:
    """``tasks`` as a tuple of trace-task names (:data:`TRACE_TASKS`).

    Raises
    ------
    ConfigError
        A string, an empty list or an unknown name.
    """
    if isinstance(tasks, str) or not isinstance(tasks, Sequence) or not tasks:
        raise ConfigError(field, tasks, f"a non-empty list of {_TASK_NAMES}")
    for t in tasks:
        check_choice(field, t, _TASK_NAMES)
    return tuple(tasks)


@dataclass(frozen=True)
class TraceBudget:
    """What a scale decides for the trace dataset.

    Attributes
    ----------
    tasks : tuple of str
        Trace tasks (:data:`TRACE_TASKS`), built in this order.
    n_natural, n_injected : int
        Rows per task sampled from the space as it is, and with an injected pathology.
    epochs : int
        Epochs of every row (>= 2; the paper's 20).
    space : {"tiny", "small", "paper"}
        Size ranges of the search spaces (:data:`SPACES`).
    device : {"cpu", "cuda", "auto"}
    """

    tasks: tuple[TraceTaskName, ...]
    n_natural: int
    n_injected: int
    epochs: int
    space: SpaceName
    device: str = "cpu"

    def __post_init__(self) -> None:
        object.__setattr__(self, "tasks", check_trace_tasks(self.tasks))
        check_int("n_natural", self.n_natural, min_value=0, max_value=100_000)
        check_int("n_injected", self.n_injected, min_value=0, max_value=100_000)
        if self.n_natural + self.n_injected < 1:
            raise ConfigError("n_natural + n_injected", 0, "at least 1 row per task")
        check_int("epochs", self.epochs, min_value=2, max_value=10_000)
        check_choice("space", self.space, tuple(SPACES))
        check_choice("device", self.device, ("cpu", "cuda", "auto"))

    @classmethod
    def for_scale(cls, scale: str) -> TraceBudget:
        """``smoke``: 2 natural + 2 injected rows per task, 4 epochs, tiny ranges (seconds).
        ``small``: 80 + 40 per task (480 rows, a third injected), 20 epochs, small ranges
        (about 40 minutes with 2 workers on a 2-core CPU). ``paper``: 250 + 125 per task,
        20 epochs, the paper's ranges, device ``auto``."""
        return cls(**_TRACE_SCALES[check_scale(scale)])

    @property
    def per_task(self) -> int:
        return self.n_natural + self.n_injected

    @property
    def n_rows(self) -> int:
        return self.per_task * len(self.tasks)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["tasks"] = list(self.tasks)
        return d


_TRACE_SCALES: dict[str, dict[str, Any]] = {
    "smoke": {"tasks": _TASK_NAMES, "n_natural": 2, "n_injected": 2, "epochs": 4,
              "space": "tiny"},
    "small": {"tasks": _TASK_NAMES, "n_natural": 80, "n_injected": 40, "epochs": 20,
              "space": "small"},
    "paper": {"tasks": _TASK_NAMES, "n_natural": 250, "n_injected": 125, "epochs": 20,
              "space": "paper", "device": "auto"},
}


def _job(budget: TraceBudget, seed: int, index: int) -> dict[str, Any]:
    """What row ``index`` trains: its task, pathology and sampler seed (from ``(seed, index)``
    only)."""
    name = budget.tasks[index // budget.per_task]
    k = index % budget.per_task
    tt = TRACE_TASKS[name]
    pathology: Pathology = ("none" if k < budget.n_natural
                            else tt.pathologies[(k - budget.n_natural) % len(tt.pathologies)])
    sampler_seed = int(np.random.SeedSequence([seed, index]).generate_state(1)[0]) % (
        SEED_MAX + 1)
    return {"index": index, "trace_task": name, "pathology": pathology,
            "sampler_seed": sampler_seed}


def _inject(cfg: TrainConfig, pathology: Pathology) -> TrainConfig:
    """``cfg`` with ``pathology`` injected."""
    if pathology == "none":
        return cfg
    if pathology in ("lr_high", "lr_low"):
        return dataclasses.replace(cfg, lr=20.0 if pathology == "lr_high" else 1e-8)
    mp = dict(cfg.model_params)
    if pathology == "relu_bias":
        mp.update(activation="relu", norm="none", bias_init=-3.0)
    else:  # deep_sigmoid
        mp.update(activation="sigmoid", norm="none", convs_per_stage=2, fc_layers=4)
    return dataclasses.replace(cfg, model_params=mp)


def trace_config(budget: TraceBudget, seed: int, index: int) -> tuple[TrainConfig, dict[str, Any]]:
    """Row ``index``'s ``TrainConfig`` and its parameters (sampled, then injected)."""
    job = _job(budget, seed, index)
    tt = TRACE_TASKS[job["trace_task"]]
    ranges = {**SPACES[budget.space], "image_batches": tt.batches, "series_batches": tt.batches}
    common = {"epochs": budget.epochs, "seed": job["sampler_seed"], "threads": 1,
              "device": budget.device, "n_train": None, "dataset": tt.dataset}
    with quiet_optuna():
        study = optuna.create_study(
            direction=tt.direction,
            sampler=optuna.samplers.RandomSampler(seed=job["sampler_seed"]))
        trial = study.ask()
        cfg = SEARCH_SPACES[tt.task](trial, ranges, common)
    if tt.data_params:
        cfg = dataclasses.replace(cfg, data_params={**cfg.data_params, **tt.data_params})
    params = {k: param_value(v) for k, v in trial.params.items()}
    cfg = _inject(cfg, job["pathology"])
    if job["pathology"] in ("lr_high", "lr_low"):
        params["lr"] = cfg.lr
    return cfg, {**job, "params": params}


class _EpochClock(Hook):
    """Wall and CPU seconds of each epoch (training + evaluation + the diagnosis)."""

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []
        self._t = (0.0, 0.0)

    def on_fit_start(self, state: TrainState) -> None:
        self._t = (time.perf_counter(), time.process_time())

    def epoch_end(self, state: TrainState) -> None:
        now = (time.perf_counter(), time.process_time())
        self.wall.append(now[0] - self._t[0])
        self.cpu.append(now[1] - self._t[1])
        self._t = now


def _run_row(budget_d: dict[str, Any], seed: int, index: int) -> dict[str, Any]:
    """Train row ``index`` to the end (in a worker process) and return its JSONL row."""
    budget = TraceBudget(**budget_d)
    t0 = time.perf_counter()
    row: dict[str, Any] = {"index": index}
    try:
        cfg, info = trace_config(budget, seed, index)
        row.update(info, config_id=f"{info['trace_task']}-{index}",
                   direction=TRACE_TASKS[info["trace_task"]].direction)
        clock = _EpochClock()
        diag = DiagnosisHook(TRACE_DIAGNOSIS, stop=False)
        res = train(cfg, hooks=[clock, diag], stop_on_nonfinite=False)
        recs = [EpochRecord(mean_abs=d.grad_mean_abs, zero_fraction=d.grad_zero_fraction,
                            has_grads=bool(np.isfinite(d.grad_mean_abs).any()),
                            train_loss=h.train_loss, val_loss=h.val_loss, metric=h.val_metric,
                            wall_s=w, cpu_s=c, train_metric=h.train_metric)
                for d, h, w, c in zip(diag.diagnoses, res.history, clock.wall, clock.cpu,
                                      strict=True)]
        row.update(status="ok", error=None, records=[r.to_dict() for r in recs],
                   live_fired=[list(d.fired) for d in diag.diagnoses],
                   layers=list(diag.diagnoser.layer_names) if diag.diagnoser else [],
                   test_metric=json_float(res.test_metric), n_params=res.n_params,
                   data_sizes=dict(res.data_sizes), torch_threads=res.env.torch_threads,
                   cpu=res.env.cpu_model, device=cfg.device)
    except Exception as exc:  # recorded, the build goes on
        row.update(status="failed", error=f"{type(exc).__name__}: {exc}")
    row["wall_time_s"] = round(time.perf_counter() - t0, 3)
    return row


def _dataset(path: str | Path) -> JsonlDataset:
    return JsonlDataset(path, fmt=TRACE_FORMAT, kind="BTTackler trace dataset",
                        statuses=("ok", "failed"))


def _init_worker() -> None:
    import torch

    torch.set_num_threads(1)


def build_trace_dataset(
    budget: TraceBudget | None = None,
    *,
    path: str | Path,
    scale: str = "small",
    seed: int = 0,
    executor: Executor | None = None,
    max_workers: int | None = None,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Train every row of ``budget`` not yet in ``path`` and append it (JSON lines).

    Parameters
    ----------
    budget : TraceBudget, optional
        Tasks, rows and epochs (default ``TraceBudget.for_scale(scale)``).
    path : path
        The dataset file; its provenance sidecar is written beside
        (``<stem>.provenance.json``). A restart with another budget or seed is refused.
    scale : {"smoke", "small", "paper"}
        Used when ``budget`` is None.
    seed : int
        Build seed; row ``i`` depends only on ``(seed, i)``.
    executor : concurrent.futures.Executor, optional
        Where rows train (default: a local process pool of ``max_workers``, else all cores).
    progress : bool
        A tqdm bar.

    Returns
    -------
    list of dict
        Every row in the file (this build's and earlier ones'), sorted by ``index``.
    """
    if budget is None:
        budget = TraceBudget.for_scale(scale)
    if not isinstance(budget, TraceBudget):
        raise ConfigError("budget", type(budget).__name__, "a TraceBudget or None")
    check_int("seed", seed, min_value=0, max_value=SEED_MAX)
    if max_workers is not None:
        check_int("max_workers", max_workers, min_value=1, max_value=1024)
    ds = _dataset(path)
    state = ds.resume({"budget": budget.to_dict(), "seed": seed})
    rows = state.rows
    done = {int(r["index"]) for r in rows}
    todo = [i for i in range(budget.n_rows) if i not in done]
    t0 = time.perf_counter()
    rows += ds.build_rows(_run_row, [(budget.to_dict(), seed, i) for i in todo],
                          executor=executor, max_workers=max_workers, initializer=_init_worker,
                          progress=("trace dataset", "trace", budget.n_rows) if progress
                          else None)
    _write_provenance(ds, state, rows, budget=budget, seconds=time.perf_counter() - t0)
    return sorted(rows, key=lambda r: int(r["index"]))


def _write_provenance(ds: JsonlDataset, state: JsonlContent, rows: Sequence[Mapping[str, Any]],
                      *, budget: TraceBudget, seconds: float) -> None:
    header = state.header or {}
    ok = [r for r in rows if r.get("status") == "ok"]
    counts: dict[str, int] = {}
    for r in ok:
        key = f"{r['trace_task']}/{r['pathology']}"
        counts[key] = counts.get(key, 0) + 1
    ds.write_provenance(
        {"builder": "effdl_kit.experiments.bttackler.build_trace_dataset",
         "seed": header.get("seed"), "budget": header.get("budget"),
         "created": header.get("created"), "rows": len(rows), "rows_ok": len(ok),
         "rows_failed": len(rows) - len(ok), "rows_per_task_pathology": counts,
         "live_diagnosis_config": TRACE_DIAGNOSIS.to_dict(),
         "epoch_wall_s_total": round(sum(sum(e.get("wall_s") or 0.0 for e in r["records"])
                                         for r in ok), 1)},
        {"n_rows": budget.n_rows, "seconds": round(seconds, 1),
         "torn_bytes_dropped": len(state.torn)})


def kit_traces_path() -> Path:
    """The kit's own trace dataset ``data/bttackler_traces_cpu.jsonl``.

    Raises
    ------
    DatasetNotFoundError
        The file is missing (it is part of a source checkout, not of an installed wheel).
    """
    path = Path(__file__).resolve().parents[3] / "data" / "bttackler_traces_cpu.jsonl"
    if not path.is_file():
        raise DatasetNotFoundError(
            "bttackler_traces_cpu", path,
            "run from a source checkout of effdl-kit (data/ is not installed), or build one "
            "with effdl_kit.experiments.bttackler.build_trace_dataset")
    return path


def load_traces(path: str | Path | None = None, *, task: str | None = None,
                injected: bool | None = None) -> list[TrialTrace]:
    """The complete (``status == "ok"``) traces of a trace file, sorted by row index.

    Parameters
    ----------
    path : path, optional
        A file written by :func:`build_trace_dataset` (default :func:`kit_traces_path`).
    task : str, optional
        Only this trace task (:data:`TRACE_TASKS`).
    injected : bool, optional
        True: only rows with an injected pathology; False: only natural rows; None: both.
        A trace's ``tags`` carry its ``trace_task`` and ``pathology``.

    Raises
    ------
    DataError
        Missing, foreign or corrupt file.
    ConfigError
        An unknown ``task``.
    """
    if task is not None:
        check_choice("task", task, _TASK_NAMES)
    if injected not in (None, True, False):
        raise ConfigError("injected", injected, (None, True, False))
    content = _dataset(kit_traces_path() if path is None else path).load(
        hint=" (build one with effdl_kit.experiments.bttackler.build_trace_dataset)")
    out = []
    for r in sorted(content.rows, key=lambda r: int(r["index"])):
        if r["status"] != "ok" or (task is not None and r["trace_task"] != task):
            continue
        if injected is not None and (r["pathology"] != "none") != injected:
            continue
        t = TrialTrace.from_dict(r)
        out.append(dataclasses.replace(t, tags={"trace_task": str(r["trace_task"]),
                                                "pathology": str(r["pathology"])}))
    return out
