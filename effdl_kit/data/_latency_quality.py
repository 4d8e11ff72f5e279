"""Which latency rows ran on a machine that was not idle, and defaults for older datasets.

The builder (:func:`~effdl_kit.data.build_latency_dataset`) records, for every measured row,
the machine's CPU use over the row's window (from before its module is built to after its
timed calls, at least ``load_window_s`` long): ``window_util_pct`` (all processes),
``outside_util_pct`` (all but the process doing the timing), ``steal_pct`` (time the
hypervisor gave to other virtual machines), ``load_per_core`` (1-minute load average at the
end of the window over the machine's logical cores, ``n_cores``) and ``load_window_s``.

**The outside-load rule.** A row of an idle load level (no busy workers, no ballast, no GPU
stream) is flagged ``outside_load=True`` when, over its window,

* ``outside_util_pct > OUTSIDE_UTIL_PCT_MAX`` (25 %): other processes kept more than a quarter
  of all cores busy (steal time counts: it is another machine's load); or
* ``(load_avg_1m - threads) / n_cores > OUTSIDE_LOAD_PER_CORE_MAX`` (0.5): more than half a
  runnable process per core besides the row's own ``threads`` timing threads.

Rows of loaded levels are never flagged (their level's own workers are the load they
record). The 1-minute load average lags: an idle row measured within about a minute after a
loaded job can be flagged by the second criterion; the utilisation one reads the window
itself. Both inputs are recorded, so :func:`outside_load_mask` can re-apply the rule with
other thresholds. On a GPU the rule reads the host CPU (which dispatches every kernel); the
NVML utilisation in ``utilization_pct`` includes the kit's own kernels and is not used.

Rows written before these columns existed have no window: :func:`outside_load_mask` judges
them on the state read just before their timed calls (``utilization_pct``: other processes,
``load_avg_1m``), with the core count given by the caller; on older GPU rows
``utilization_pct`` is NVML's, so only their load average is judged. They were also timed
one call per sample: :func:`with_protocol_defaults` fills ``calls_per_sample = 1`` there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from effdl_kit._core.errors import ConfigError, DataError
from effdl_kit._core.validate import check_float, check_int

__all__ = [
    "OUTSIDE_LOAD_PER_CORE_MAX",
    "OUTSIDE_UTIL_PCT_MAX",
    "outside_load_flags",
    "outside_load_mask",
    "with_protocol_defaults",
]

#: an idle row is flagged when other processes used more than this share of all cores (%)
OUTSIDE_UTIL_PCT_MAX = 25.0
#: ... or when the load average besides the row's own threads exceeds this per core
OUTSIDE_LOAD_PER_CORE_MAX = 0.5


def outside_load_flags(
    idle: Any,
    outside_util_pct: Any,
    load_avg_1m: Any,
    threads: Any,
    n_cores: Any,
    *,
    util_pct_max: float = OUTSIDE_UTIL_PCT_MAX,
    load_per_core_max: float = OUTSIDE_LOAD_PER_CORE_MAX,
) -> np.ndarray:
    """The outside-load rule (module docstring), elementwise.

    Parameters
    ----------
    idle : bool or array of bool, shape (n,)
        Whether the row's load level is idle; other rows are never flagged.
    outside_util_pct, load_avg_1m, threads, n_cores : float or array, shape (n,)
        The row's readings; a NaN reading does not flag (the other criterion still can).
    util_pct_max, load_per_core_max : float
        The thresholds.

    Returns
    -------
    ndarray of bool, shape (n,) (0-d for scalar inputs)
    """
    util = np.asarray(outside_util_pct, dtype=float)
    load = np.asarray(load_avg_1m, dtype=float)
    own = np.asarray(threads, dtype=float)
    cores = np.asarray(n_cores, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        busy = util > util_pct_max
        queued = np.maximum(load - own, 0.0) / cores > load_per_core_max
    return np.asarray(idle, dtype=bool) & (busy | queued)


def _idle_levels(df: pd.DataFrame) -> set[str]:
    """Names of the idle load levels: from the dataset header when it has one, else "idle"."""
    levels = (df.attrs.get("header") or {}).get("load_levels")
    if not isinstance(levels, Sequence) or not levels:
        return {"idle"}
    return {str(lv["name"]) for lv in levels if isinstance(lv, Mapping) and not (
        lv.get("workers") or lv.get("ballast_mib") or lv.get("gpu_stream"))}


def outside_load_mask(
    df: pd.DataFrame,
    *,
    util_pct_max: float = OUTSIDE_UTIL_PCT_MAX,
    load_per_core_max: float = OUTSIDE_LOAD_PER_CORE_MAX,
    n_cores: int | None = None,
) -> pd.Series:
    """Rows of ``df`` (a latency frame) that ran under outside load, by the module's rule.

    Rows with a load window are judged on it; older rows on ``utilization_pct`` (CPU rows
    only: a GPU row's is NVML's) and ``load_avg_1m`` read before their timed calls. Idle
    levels are read from the frame's header (``df.attrs["header"]``, as
    :func:`~effdl_kit.data.load_latency_dataset` sets it), else the level named
    ``"idle"``. ``df[~outside_load_mask(df)]`` drops them.

    Parameters
    ----------
    df : DataFrame
        Latency rows with ``load_level``.
    util_pct_max, load_per_core_max : float
        The thresholds (default: the builder's).
    n_cores : int, optional
        Logical cores of the machine that measured rows that do not record ``n_cores``.

    Returns
    -------
    Series of bool, index of ``df``

    Raises
    ------
    ConfigError
        A bad threshold, or rows without ``n_cores`` and no ``n_cores`` given.
    DataError
        No ``load_level`` column.
    """
    check_float("util_pct_max", util_pct_max, min_value=0.0, max_value=100.0)
    check_float("load_per_core_max", load_per_core_max, min_value=0.0)
    if n_cores is not None:
        check_int("n_cores", n_cores, min_value=1)
    if "load_level" not in df.columns:
        raise DataError("latency frame lacks the column 'load_level'")

    def col(name: str) -> pd.Series:
        return _column(df, name)

    before = col("utilization_pct")
    if "device" in df.columns:  # a GPU row's utilization_pct is NVML's, not the host CPU's
        before = before.mask(df["device"].astype(str).str.startswith("cuda"))
    util = col("outside_util_pct").fillna(before)
    cores = col("n_cores")
    if cores.isna().any():
        if n_cores is None:
            raise ConfigError("n_cores", None, "the logical core count of the machine that "
                              f"measured the {int(cores.isna().sum())} rows that do not "
                              "record it")
        cores = cores.fillna(float(n_cores))
    idle = df["load_level"].astype(str).isin(_idle_levels(df)).to_numpy()
    flags = outside_load_flags(idle, util.to_numpy(), col("load_avg_1m").to_numpy(),
                               col("threads").fillna(1.0).to_numpy(), cores.to_numpy(),
                               util_pct_max=util_pct_max, load_per_core_max=load_per_core_max)
    return pd.Series(flags, index=df.index, name="outside_load")


def with_protocol_defaults(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` with ``calls_per_sample`` filled (1: rows timed before batching,
    one call per sample); header and other attributes are kept."""
    out = df.copy()
    out["calls_per_sample"] = _column(out, "calls_per_sample").fillna(1.0).astype(int)
    return out


def _column(df: pd.DataFrame, name: str) -> pd.Series:
    """``df[name]`` as floats, or NaN everywhere when the column is missing."""
    if name in df.columns:
        return pd.to_numeric(df[name], errors="coerce").astype(float)
    return pd.Series(np.nan, index=df.index, dtype=float)
