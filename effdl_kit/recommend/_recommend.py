"""``recommend``: the components to train for the best predicted accuracy under a latency budget.

The four papers' parts joined, nothing trained:

1. EfficientDL's static predictor scores configurations of the components
   (:mod:`._candidates`: a random forest on the kit's own component data, the Top-k
   components by permutation importance plus the shape components, the rest at the task's
   typical values);
2. each candidate's network is built by the training bench (untrained) and its inference
   latency predicted as the sum of per-module predictions of the MEDN-paper models
   auto-selected per module type for the device, with an interval calibrated on whole models
   measured on the device (:mod:`._latency`, :mod:`._calibration`);
3. αβ-BO (:class:`~effdl_kit.search.AlphaBetaBO`) searches the grid with the acquisition
   weighted by P(latency <= budget) (``mode="constrained"``; ``"unconstrained"`` is plain
   αβ-BO, latency reported but not used).

Input errors are raised before any work (:func:`check_request`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from effdl_kit._core.errors import ConfigError
from effdl_kit._core.types import ProgressFn
from effdl_kit._core.validate import check_choice, check_int, check_scale
from effdl_kit.recommend._candidates import (
    CandidateSpace,
    architecture_key,
    build_candidate,
    candidate_space,
)
from effdl_kit.recommend._latency import LatencyPredictor, fit_latency_predictor
from effdl_kit.recommend._result import Recommendation
from effdl_kit.recommend._settings import DEVICE_KINDS, MODES, TASKS, Mode, RecommendBudget
from effdl_kit.search import AlphaBetaBO

__all__ = ["check_request", "latency_devices", "prepare", "recommend", "search_candidates"]

_DEVICE_ALIASES = {"cuda": "gpu"}


def latency_devices() -> tuple[str, ...]:
    """Device kinds that have a latency dataset in this checkout."""
    from effdl_kit.data import latency_data_path

    return tuple(k for k in DEVICE_KINDS if latency_data_path(k).is_file())


def check_request(task: Any, device: Any, latency_budget_ms: Any, *, n_iter: Any = None,
                  n_candidates: Any = None, seed: Any = 0, scale: Any = "small",
                  mode: Any = "constrained", progress: Any = None,
                  should_stop: Any = None, confidence: Any = 0.5) -> tuple[str, str, float]:
    """Validate a request; returns ``(task, device kind, budget)``.

    Raises
    ------
    ConfigError
        Naming the field and the allowed values: a budget that is not a number > 0
        (``inf`` is allowed: no constraint), an unknown task, an unknown device, a device
        without a latency dataset, a bad ``n_iter``, ``n_candidates``, ``seed``, ``scale``,
        ``mode``, a ``confidence`` outside (0, 1), or callbacks that are not callable.
    """
    check_choice("task", task, TASKS)
    if not isinstance(device, str):
        raise ConfigError("device", device, DEVICE_KINDS)
    kind = _DEVICE_ALIASES.get(device.strip().lower(), device.strip().lower())
    check_choice("device", kind, DEVICE_KINDS)
    have = latency_devices()
    if kind not in have:
        raise ConfigError("device", device, f"a device with a latency dataset: {list(have)} "
                          f"(no data/latency_{kind}.jsonl; build one with effdl build-latency)")
    if isinstance(latency_budget_ms, bool):
        raise ConfigError("latency_budget_ms", latency_budget_ms, "a number of ms > 0 or inf")
    try:
        budget = float(latency_budget_ms)
    except (TypeError, ValueError):
        raise ConfigError("latency_budget_ms", latency_budget_ms,
                          "a number of ms > 0 or inf") from None
    if not budget > 0:  # NaN too
        raise ConfigError("latency_budget_ms", latency_budget_ms, "a number of ms > 0 or inf")
    if n_iter is not None:
        check_int("n_iter", n_iter, min_value=1)
    if n_candidates is not None:
        check_int("n_candidates", n_candidates, min_value=2)
    check_int("seed", seed, min_value=0, max_value=2**31 - 1)
    check_scale(scale)
    check_choice("mode", mode, MODES)
    if (isinstance(confidence, bool) or not isinstance(confidence, int | float)
            or not 0 < confidence < 1):
        raise ConfigError("confidence", confidence, "a probability in (0, 1)")
    for name, fn in (("progress", progress), ("should_stop", should_stop)):
        if fn is not None and not callable(fn):
            raise ConfigError(name, type(fn).__name__, "None or a callable")
    return str(task), kind, budget


def prepare(task: str, device: str, *, scale: str, seed: int, budget: RecommendBudget | None
            = None, progress: ProgressFn | None = None) -> tuple[CandidateSpace,
                                                                  LatencyPredictor]:
    """The fitted parts a search needs: the candidate grid and the calibrated latency model.

    Shared by several searches (the controls in the tests compare modes on the same parts).
    """
    from effdl_kit.data import load_component_data
    from effdl_kit.recommend._calibration import (
        calibrate_predictor,
        load_whole_models,
        whole_models_path,
    )

    t0 = time.perf_counter()
    b = RecommendBudget.for_scale(scale) if budget is None else budget
    if progress is not None:
        progress(0, 3, "static predictor and grid")
    space = candidate_space(load_component_data("kit"), task, b, seed=seed)
    if progress is not None:
        progress(1, 3, f"per-module latency models ({device})")
    lat = fit_latency_predictor(device, b, seed=seed)
    if progress is not None:
        progress(2, 3, "latency calibration on whole models")
    path = whole_models_path(device)
    rows = load_whole_models(path) if path.is_file() else None
    lat.calibration = calibrate_predictor(
        lat, rows, note=f"{len(rows)} whole models measured on {device} ({path.name})"
        if rows is not None else "")
    lat.fit_s = time.perf_counter() - t0
    return space, lat


def _grid_latency(space: CandidateSpace, lat: LatencyPredictor) -> tuple[pd.DataFrame, int]:
    """Calibrated latency of every grid candidate (flat order) and the architectures seen."""
    n = space.problem.space.n_candidates
    fixed = space.fixed()
    keys = [architecture_key(c, fixed) for c in space.configs(np.arange(n))]
    uniq = list(dict.fromkeys(keys))

    def build(key: str) -> tuple[Any, tuple[int, ...]]:
        return build_candidate(json.loads(key), {}, space.task)

    per_arch = lat.predict(uniq, build).set_index(pd.Index(uniq))
    return per_arch.loc[keys].reset_index(drop=True), len(uniq)


def search_candidates(space: CandidateSpace, lat: LatencyPredictor, budget_ms: float, *,
                      n_iter: int, seed: int, mode: Mode = "constrained",
                      progress: ProgressFn | None = None,
                      should_stop: Callable[[], bool] | None = None
                      ) -> tuple[pd.DataFrame, dict[str, Any], bool]:
    """αβ-BO on the static predictor over the grid, the acquisition weighted by the
    feasibility probability in ``"constrained"`` mode.

    Returns
    -------
    candidates : DataFrame
        Evaluated candidates (components + metric columns), in evaluation order.
    info : dict
        Grid size, architectures predicted, iterations run.
    stopped : bool
    """
    grid = space.problem.space
    lat_grid, n_arch = _grid_latency(space, lat)
    p = lat.p_within(lat_grid, budget_ms)
    bo = AlphaBetaBO(grid, seed=seed, max_candidates=max(grid.n_candidates, 1),
                     feasibility=p if mode == "constrained" else None)
    if len(space.y0):
        bo.tell_features(space.X0, space.y0)
    flats: list[int] = []
    values: list[float] = []
    stopped = False
    for i in range(n_iter):
        if should_stop is not None and should_stop():
            stopped = True
            break
        flat = bo.ask_index()
        value = space.problem.objective(space.configs([flat])[0])
        bo.tell(flat, value)
        flats.append(flat)
        values.append(value)
        if progress is not None:
            progress(i + 1, n_iter, f"search {i + 1}/{n_iter}: predicted top-1 {value:.3f}, "
                     f"P(feasible) {p[flat]:.2f}")
    order: list[int] = []  # each candidate once, at its first evaluation
    seen: set[int] = set()
    for i, f in enumerate(flats):
        if f not in seen:
            seen.add(f)
            order.append(i)
    rows = pd.DataFrame(space.configs([flats[i] for i in order]))
    rows["iteration"] = [i + 1 for i in order]
    rows["accuracy"] = [values[i] for i in order]
    sub = lat_grid.iloc[[flats[i] for i in order]].reset_index(drop=True)
    for c in ("latency_ms", "latency_lo_ms", "latency_hi_ms", "latency_sum_ms"):
        rows[c] = sub[c].to_numpy()
    rows["p_feasible"] = p[[flats[i] for i in order]] if order else []
    info = {"n_grid": int(grid.n_candidates), "n_architectures": n_arch,
            "n_iter": len(flats), "grid_share_feasible": float(np.mean(p >= 0.5)),
            "prior_rows": len(space.y0)}
    return rows, info, stopped


def recommend(task: str, device: str, latency_budget_ms: float, *, n_iter: int | None = None,
              n_candidates: int | None = None, seed: int = 0, scale: str = "small",
              mode: Mode = "constrained", progress: ProgressFn | None = None,
              should_stop: Callable[[], bool] | None = None,
              prepared: tuple[CandidateSpace, LatencyPredictor] | None = None,
              confidence: float = 0.5) -> Recommendation:
    """Recommend components for ``task`` under an inference-latency budget on ``device``.

    Parameters
    ----------
    task : {"digits", "synthetic"}
    device : {"cpu", "gpu"}
        A device kind with a latency dataset (``"cuda"`` means ``"gpu"``).
    latency_budget_ms : float
        Inference latency budget per sample (batch 1), ms; > 0, ``inf`` for none.
    n_iter : int, optional
        Static-predictor calls of the search (default: the scale's).
    n_candidates : int, optional
        Cap of the grid size (default: the scale's ``max_grid``).
    seed : int
    scale : {"smoke", "small", "paper"}
    mode : {"constrained", "unconstrained"}
    progress : callable, optional
        ``progress(done, total, label)``: preparation stages, then each search iteration.
    should_stop : callable, optional
        Checked before each search iteration; True ends the search with what it has
        (``stopped=True`` in the result).
    prepared : (CandidateSpace, LatencyPredictor), optional
        :func:`prepare`'s fitted parts for the same task, device, scale and seed, reused
        (a new budget or mode then costs only the search); ``time_s["prepare"]`` is 0,
        ``time_s["prepare_reused"]`` the seconds they took to fit and
        ``search["prepared_reused"]`` True.
    confidence : float
        In ``"constrained"`` mode the ranking puts first the candidates with
        P(latency <= budget) >= ``confidence`` (0.5 by default; 0.9 trades predicted accuracy
        for a 90 % chance of meeting the budget). The search itself is the same.

    Returns
    -------
    Recommendation

    Raises
    ------
    ConfigError
        Bad input (:func:`check_request`), before any work.
    """
    import dataclasses

    from effdl_kit._core.env import collect_env

    task, kind, budget_ms = check_request(task, device, latency_budget_ms, n_iter=n_iter,
                                          n_candidates=n_candidates, seed=seed, scale=scale,
                                          mode=mode, progress=progress,
                                          should_stop=should_stop, confidence=confidence)
    budget = RecommendBudget.for_scale(scale)
    if n_candidates is not None:
        budget = dataclasses.replace(budget, max_grid=n_candidates)
    if prepared is not None:
        if (not isinstance(prepared, tuple) or len(prepared) != 2
                or not isinstance(prepared[0], CandidateSpace)
                or not isinstance(prepared[1], LatencyPredictor)):
            raise ConfigError("prepared", type(prepared).__name__,
                              "None or prepare()'s (CandidateSpace, LatencyPredictor)")
        if prepared[0].task != task:
            raise ConfigError("prepared", f"parts for task {prepared[0].task!r}",
                              f"parts prepared for task {task!r}")
        if prepared[1].device != kind:
            raise ConfigError("prepared", f"latency models of {prepared[1].device!r}",
                              f"latency models prepared for device {kind!r}")
    times: dict[str, float] = {}
    t0 = time.perf_counter()
    if prepared is None:
        space, lat = prepare(task, kind, scale=scale, seed=seed, budget=budget,
                             progress=progress)
    else:
        space, lat = prepared
    times["prepare"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    rows, info, stopped = search_candidates(
        space, lat, budget_ms, n_iter=budget.n_iter if n_iter is None else n_iter, seed=seed,
        mode=mode, progress=progress, should_stop=should_stop)
    times["search"] = time.perf_counter() - t1
    times["total"] = time.perf_counter() - t0
    if prepared is not None:
        times["prepare_reused"] = float(lat.fit_s)
    info.update({"ranked_components": space.ranked, "importance": space.importance,
                 "budget": budget.to_dict(), "reference_state": lat.state,
                 "prepared_reused": prepared is not None})
    return Recommendation(
        task=task, device=kind, latency_budget_ms=budget_ms, seed=seed, scale=scale,
        mode=mode, components=space.components,
        fixed=space.fixed(), candidates=rows, calibration=lat.calibration.to_dict(),
        latency_models=lat.kinds, search=info, stopped=stopped, time_s=times,
        env=collect_env().to_dict(), confidence=float(confidence), latency_model=lat)
