"""The evaluation loop of :meth:`AlphaBetaBO.optimize`: ask, evaluate, tell, record."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from effdl_kit._core.errors import ConfigError
from effdl_kit._core.validate import check_int
from effdl_kit.search._result import SearchResult

if TYPE_CHECKING:  # typing only: the optimiser calls this loop
    from effdl_kit.search._alpha_beta_bo import AlphaBetaBO

__all__ = ["run_loop"]


def run_loop(bo: AlphaBetaBO, fn: Callable[[dict[str, Any]], float], n_iter: int, *,
             n_initial: int = 0, callback: Callable[[int, dict[str, Any]], None] | None = None,
             progress: bool = False) -> SearchResult:
    """Run ``n_initial`` random points then ``n_iter`` iterations of ``bo`` maximising ``fn``.

    See :meth:`AlphaBetaBO.optimize`. A point the optimiser marks as skipped (faithful preset:
    it repeats an observation) is not evaluated: its row has status "skipped", value NaN.
    """
    n_iter = check_int("n_iter", n_iter, min_value=0)
    n_initial = check_int("n_initial", n_initial, min_value=0)
    if not callable(fn):
        raise ConfigError("fn", fn, "a callable fn(config) -> float")
    if bo.n_observations == 0 and n_initial == 0 and n_iter > 0:
        raise ConfigError("n_initial", 0,
                          ">= 1 when no observations were told before the search")
    initial_best = bo.best_value
    rows: list[dict[str, Any]] = []
    bar = tqdm(total=n_initial + n_iter, disable=not progress, desc="αβ-BO")
    try:
        for it in range(n_initial + n_iter):
            t0 = time.perf_counter()
            if it < n_initial:
                step = bo.random_step()
            else:
                bo.ask_index()
                assert bo.last_step is not None
                step = bo.last_step
            t1 = time.perf_counter()
            config = bo.space.config(step.flat)
            f_star = bo.f_star
            value, error, status = math.nan, "", "ok"
            if step.skipped:  # the authors' loop: a repeated point is not evaluated
                status = "skipped"
            else:
                try:
                    value = float(fn(dict(config)))
                    if not math.isfinite(value):
                        error = f"non-finite value {value}"
                except Exception as exc:  # a failed evaluation is recorded; search goes on
                    error = f"{type(exc).__name__}: {exc}"
            t2 = time.perf_counter()
            if error:
                value, status = math.nan, "failed"
                bo.mark_failed(step.flat)
            elif not step.skipped:
                bo.tell(step.flat, value)
            t3 = time.perf_counter()
            row = {"iteration": it, **config, "value": value, "incumbent": f_star,
                   "status": status, "error": error,
                   "acquisition": step.acquisition, "random": step.random,
                   "refit": step.refit, "initial": it < n_initial,
                   "ask_s": t1 - t0, "eval_s": t2 - t1, "tell_s": t3 - t2}
            rows.append(row)
            if callback is not None:
                callback(it, row)
            bar.update(1)
    finally:
        bar.close()
    history = pd.DataFrame(rows)
    ok = history[history["status"] == "ok"] if len(history) else history
    if len(ok):
        best = ok.iloc[int(np.argmax(ok["value"].to_numpy()))]
        best_config = {n: best[n] for n in bo.space.names}
        best_config = {k: (v.item() if isinstance(v, np.generic) else v)
                       for k, v in best_config.items()}
        best_value = float(best["value"])
    else:
        best_config, best_value = None, -math.inf
    return SearchResult(history=history, best_config=best_config, best_value=best_value,
                        initial_best=initial_best, length_scales=list(bo.length_scales),
                        settings=bo.settings())
