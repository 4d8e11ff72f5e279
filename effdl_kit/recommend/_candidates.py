"""The candidates: EfficientDL's static predictor on the kit's component data, and the grid.

:func:`candidate_space` fits the static predictor (encoder + random forest,
:func:`~effdl_kit.models.make_predictor`) on every row of the kit's own component data
(``data/components_cpu.jsonl``), ranks the components a user controls (model and training
groups) by grouped permutation importance, and builds the searched grid: the components that
fix the module shapes (:data:`~._settings.LATENCY_COMPONENTS`, every value the data holds),
plus the ``top_k`` most important others (at most ``values_per_component`` values each). Every
other component takes the task's typical value (median / mode over the task's rows), and the
``dataset`` component is the task: the predictor scores "this configuration, trained on this
task".

:func:`build_candidate` turns a configuration into the network the training bench would train
(:func:`~effdl_kit.data.component_config` -> :class:`~effdl_kit.training.TrainConfig` ->
:func:`~effdl_kit.training.build_model`), untrained; :func:`architecture_key` names what the
inference latency depends on (initialisation and dropout do not change it).
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from effdl_kit._core.errors import DataError
from effdl_kit.data import COMPONENT_GROUPS, ComponentData, component_config
from effdl_kit.inspection import permutation_importance, top_components
from effdl_kit.models import make_predictor
from effdl_kit.recommend._settings import LATENCY_COMPONENTS, RecommendBudget
from effdl_kit.search import PredictorProblem, base_row, predictor_problem

__all__ = ["CandidateSpace", "architecture_key", "build_candidate", "candidate_space",
           "one_thread", "plain", "task_input"]

F64 = npt.NDArray[np.float64]
#: model components that do not change a trained network's inference latency
_NO_LATENCY = ("init", "dropout")
_MODEL = COMPONENT_GROUPS["model"]


def plain(v: Any) -> Any:
    """``v`` as a plain Python value (numpy scalars converted; integral floats of int-valued
    components stay floats)."""
    return v.item() if isinstance(v, np.generic) else v


@dataclass
class CandidateSpace:
    """The searched grid on the fitted static predictor.

    Attributes
    ----------
    problem : PredictorProblem
        Grid (``problem.space``), base row, fitted pipeline.
    task : str
    X0 : ndarray, shape (n_rows, n_features)
        GP inputs of the task's component-data rows (prior observations).
    y0 : ndarray, shape (n_rows,)
        Their measured Top-1 accuracy.
    ranked : list of str
        The importance-ranked components searched (besides the latency components).
    importance : dict
        Component -> mean permutation importance (every controllable component).
    """

    problem: PredictorProblem
    task: str
    X0: F64
    y0: F64
    ranked: list[str]
    importance: dict[str, float] = field(default_factory=dict)

    @property
    def components(self) -> list[str]:
        """Searched components, in grid order."""
        return list(self.problem.space.names)

    def configs(self, flat: Any) -> list[dict[str, Any]]:
        """Configurations (searched components only) of grid candidates by flat index."""
        space = self.problem.space
        codes = space.decode(np.asarray(flat, dtype=np.int64))
        return [{n: plain(space.values[b][int(row[b])]) for b, n in enumerate(space.names)}
                for row in codes]

    def fixed(self) -> dict[str, Any]:
        """The other components' values (the base row without the searched ones)."""
        return {k: plain(v) for k, v in self.problem.base.items()
                if k not in set(self.components)}


def _values(frame: pd.DataFrame, column: str, n: int | None) -> list[Any]:
    """The values of ``column`` in the data: numeric sorted (``n``: evenly spaced among
    them), others by frequency (``n``: the most frequent)."""
    s = frame[column].dropna()
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        vals = sorted({plain(v) for v in s.unique()})
        if n is not None and len(vals) > n:
            idx = np.unique(np.round(np.linspace(0, len(vals) - 1, n)).astype(int))
            vals = [vals[i] for i in idx]
        return vals
    counts = s.value_counts()
    return [plain(v) for v in counts.index[: n or len(counts)]]


def _shrink(comps: dict[str, list[Any]], cap: int, keep: tuple[str, ...]) -> None:
    """Drop values of the longest shrinkable list (middle value first) until the grid fits."""
    while math.prod(len(v) for v in comps.values()) > cap:
        free = [c for c in comps if c not in keep and len(comps[c]) > 2]
        if not free:
            return
        c = max(free, key=lambda k: len(comps[k]))
        del comps[c][len(comps[c]) // 2]


def candidate_space(data: ComponentData, task: str, budget: RecommendBudget, *,
                    seed: int) -> CandidateSpace:
    """Fit the static predictor and build the grid of candidate configurations for ``task``.

    Raises
    ------
    DataError
        The data has no row of ``task`` or lacks a latency component.
    """
    X, y = data.xy()
    if "dataset" not in X.columns or not (X["dataset"].astype(str) == task).any():
        raise DataError(f"the component data {data.source!r} has no row of task {task!r}")
    missing = [c for c in LATENCY_COMPONENTS if c not in X.columns]
    if missing:
        raise DataError(f"the component data lacks the latency components {missing}")
    pipe = make_predictor(data, n_trees=budget.n_trees, seed=seed).fit(X, y)
    enc = pipe[0]
    groups = data.component_groups
    controllable = [c for c in enc.columns_ if groups.get(c) in ("model", "training")
                    and c not in LATENCY_COMPONENTS]
    imp = permutation_importance(pipe[-1], enc.transform(X), y, n_repeats=budget.n_repeats,
                                 random_state=seed, groups=enc.feature_groups_)
    table = top_components(imp, k=len(imp.feature_names))
    table = table[table["name"].isin(controllable)]
    ranked = [str(n) for n in table["name"].iloc[: budget.top_k]]
    rows = X[X["dataset"].astype(str) == task]
    comps: dict[str, list[Any]] = {c: _values(X, c, None) for c in LATENCY_COMPONENTS}
    comps.update({c: _values(rows, c, budget.values_per_component) for c in ranked})
    _shrink(comps, budget.max_grid, LATENCY_COMPONENTS)
    base = base_row(rows, list(enc.columns_))
    for c, v in base.items():  # numeric components hold data values, not medians in between
        if c in X.columns and isinstance(v, float) and c != "lr":
            vals = np.asarray(_values(rows, c, None), dtype=float)
            if len(vals):
                base[c] = plain(vals[int(np.argmin(np.abs(vals - v)))])
    base["dataset"] = task
    problem = predictor_problem(pipe, comps, base)
    pick = np.arange(len(rows))
    if len(rows) > budget.init_rows:
        pick = np.sort(np.random.default_rng(seed).choice(len(rows), budget.init_rows,
                                                          replace=False))
    y_task = np.asarray(y, dtype=np.float64)[np.flatnonzero(
        (X["dataset"].astype(str) == task).to_numpy())]
    importance = {str(n): float(v) for n, v in zip(table["name"], table["mean"], strict=True)}
    return CandidateSpace(problem=problem, task=task,
                          X0=problem.encode_rows(rows.iloc[pick]), y0=y_task[pick],
                          ranked=ranked, importance=importance)


def _model_components(config: Mapping[str, Any], fixed: Mapping[str, Any]) -> dict[str, Any]:
    """The model-group components of a candidate (searched values over the fixed ones)."""
    merged = {**fixed, **config}
    out = {k: plain(merged[k]) for k in _MODEL if k in merged}
    for k in ("depth", "base_channels", "width", "kernel_size"):
        if k in out:
            out[k] = int(out[k])
    return out


def architecture_key(config: Mapping[str, Any], fixed: Mapping[str, Any]) -> str:
    """What the inference latency of a candidate depends on, as a canonical string."""
    comps = _model_components(config, fixed)
    return json.dumps({k: v for k, v in sorted(comps.items()) if k not in _NO_LATENCY},
                      sort_keys=True)


_INPUTS: dict[str, tuple[tuple[int, ...], int]] = {}


def task_input(task: str) -> tuple[tuple[int, ...], int]:
    """``(input_shape, n_outputs)`` of one sample of ``task`` as the bench loads it (cached)."""
    if task not in _INPUTS:
        from effdl_kit.training import load_data

        cfg = component_config({"dataset": task}, scale="small", seed=0)
        bundle = load_data(task, seed=0, data_params=cfg.data_params)
        _INPUTS[task] = (bundle.input_shape, bundle.output_dim)
    return _INPUTS[task]


def build_candidate(config: Mapping[str, Any], fixed: Mapping[str, Any], task: str,
                    *, seed: int = 0) -> tuple[Any, tuple[int, ...]]:
    """The untrained network of a candidate and its input shape (batch 1).

    Built by the training bench from the candidate's :class:`~effdl_kit.training.TrainConfig`
    (the model group of the configuration; the training components do not change it).
    """
    from effdl_kit._core.rng import torch_seeded
    from effdl_kit.training import build_model

    shape, n_out = task_input(task)
    cfg = component_config({**_model_components(config, fixed), "dataset": task},
                           scale="small", seed=seed)
    with one_thread(), torch_seeded(seed):
        model = build_model(cfg.model, dict(cfg.model_params), shape, n_out)
    return model.eval(), (1, *shape)


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """One intra-op torch thread inside (restored after): the tiny forward passes of model
    building and module tracing only lose time to thread hand-offs, badly on a busy machine."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
