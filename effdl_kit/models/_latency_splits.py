"""Train / validation / test splits of one module type's latency rows.

Three ways to hold rows out (:data:`LATENCY_SPLITS`), each a callable of the registry
:data:`SPLITTERS`:

- ``"random"``: a random permutation (``seed``), the paper's split;
- ``"grouped"``: by sampling configuration (the module's own parameters and batch size, the
  columns of ``latency_features(mt, measurable=False, inferable=False)``): whole
  configurations are drawn at random for the test and then the validation side until each
  side has its share of rows, so rows that share a configuration (the same module timed
  again, e.g. under another load level) never fall on both sides;
- ``"time"``: time-blocked: rows ordered by measurement time (the ``timestamp`` column, else
  the ``index`` column, else the frame's order; ties keep the frame's order), the earliest
  rows train, the next ones validate and the latest ones test, so a feature that only tracks
  time (``load_avg_1m`` drifting during a build) cannot act as a clock between neighbours.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import pandas as pd

from effdl_kit._core.errors import DataError
from effdl_kit._core.rng import SEED_MAX
from effdl_kit._core.validate import check_choice, check_float, check_int
from effdl_kit.data import latency_features

__all__ = [
    "LATENCY_SPLITS",
    "SPLITTERS",
    "LatencySplit",
    "SplitRows",
    "split_latency_rows",
    "split_rows_of",
]

#: how held-out rows are chosen
LatencySplit = Literal["random", "grouped", "time"]
LATENCY_SPLITS: tuple[LatencySplit, ...] = get_args(LatencySplit)

Indices = tuple[np.ndarray, np.ndarray, np.ndarray]


@dataclass(frozen=True)
class SplitRows:
    """What a splitter sees of ``n`` rows of one module type.

    Attributes
    ----------
    groups : ndarray of int, shape (n,)
        Sampling-configuration code of each row (equal codes: equal configurations).
    times : ndarray of float, shape (n,)
        Measurement time (or order) of each row.
    """

    groups: np.ndarray
    times: np.ndarray

    @property
    def n(self) -> int:
        """Number of rows."""
        return len(self.groups)


def split_rows_of(frame: pd.DataFrame, module_type: str) -> SplitRows:
    """The configuration codes and measurement times of ``frame`` (rows of ``module_type``).

    Raises
    ------
    DataError
        A sampling column of the module type is missing.
    """
    cols = latency_features(module_type, measurable=False, inferable=False)
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise DataError(f"latency frame lacks the columns {missing}")
    groups = frame.groupby(cols, dropna=False, sort=False).ngroup().to_numpy(dtype=np.int64)
    for col in ("timestamp", "index"):
        if col in frame.columns and frame[col].notna().all():
            times = frame[col].to_numpy(dtype=np.float64)
            break
    else:
        times = np.arange(len(frame), dtype=np.float64)
    return SplitRows(groups=groups, times=times)


def _sizes(n: int, val_size: float, test_size: float) -> tuple[int, int]:
    n_test = max(1, round(n * test_size))
    n_val = max(1, round(n * val_size))
    if n - n_test - n_val < 2:
        raise DataError(f"{n} rows are too few for a train/validation/test split")
    return n_val, n_test


def _random_split(rows: SplitRows, seed: int, val_size: float, test_size: float) -> Indices:
    n_val, n_test = _sizes(rows.n, val_size, test_size)
    perm = np.random.default_rng(seed).permutation(rows.n)
    return perm[n_test + n_val:], perm[n_test:n_test + n_val], perm[:n_test]


def _grouped_split(rows: SplitRows, seed: int, val_size: float, test_size: float) -> Indices:
    n_val, n_test = _sizes(rows.n, val_size, test_size)
    codes, counts = np.unique(rows.groups, return_counts=True)
    order = np.random.default_rng(seed).permutation(len(codes))
    side = np.zeros(len(codes), dtype=np.int8)  # 0 train, 1 val, 2 test
    filled = {1: 0, 2: 0}
    want = {1: n_val, 2: n_test}
    for g in order:
        for s in (2, 1):
            if filled[s] < want[s]:
                side[g] = s
                filled[s] += int(counts[g])
                break
    row_side = side[np.searchsorted(codes, rows.groups)]
    tr, va, te = (np.flatnonzero(row_side == s) for s in (0, 1, 2))
    if len(tr) < 2 or not len(va) or not len(te):
        raise DataError(f"{len(codes)} configurations ({rows.n} rows) are too few for a "
                        "grouped train/validation/test split")
    return tr, va, te


def _time_split(rows: SplitRows, seed: int, val_size: float, test_size: float) -> Indices:
    n_val, n_test = _sizes(rows.n, val_size, test_size)
    order = np.argsort(rows.times, kind="stable")
    n_train = rows.n - n_val - n_test
    return order[:n_train], order[n_train:n_train + n_val], order[n_train + n_val:]


#: split name -> splitter(rows, seed, val_size, test_size) -> (train, val, test) positions
SPLITTERS: dict[LatencySplit, Callable[[SplitRows, int, float, float], Indices]] = {
    "random": _random_split,
    "grouped": _grouped_split,
    "time": _time_split,
}


def split_latency_rows(
    frame: pd.DataFrame,
    module_type: str,
    *,
    split: LatencySplit = "random",
    seed: int = 0,
    val_size: float = 0.2,
    test_size: float = 0.2,
) -> Indices:
    """Train / validation / test positions (0-based, into ``frame``) of one module type's rows.

    Parameters
    ----------
    frame : DataFrame
        The rows of ``module_type`` (its sampling columns; ``timestamp`` or ``index`` for the
        time-blocked split).
    module_type : str
    split : {"random", "grouped", "time"}
        See the module docstring. The grouped split's sides hold about ``val_size`` and
        ``test_size`` of the rows (whole configurations); ``seed`` does not change the
        time-blocked split.
    seed : int
    val_size, test_size : float
        Shares of the rows, each in (0, 0.5].

    Returns
    -------
    train, val, test : ndarray of int

    Raises
    ------
    ConfigError
        An unknown split, a bad seed or size.
    DataError
        Too few rows (or configurations) for three non-empty sides.

    Examples
    --------
    >>> import pandas as pd
    >>> rows = pd.DataFrame({"batch": [1, 1, 2, 2, 4, 4, 8, 8, 16, 16],
    ...                      "channels": 3, "hw": 8, "timestamp": range(10)})
    >>> tr, va, te = split_latency_rows(rows, "relu", split="time")
    >>> te.tolist(), va.tolist()
    ([8, 9], [6, 7])
    >>> tr, va, te = split_latency_rows(rows, "relu", split="grouped", seed=1)
    >>> sorted(set(rows["batch"].iloc[tr]) & set(rows["batch"].iloc[te]))
    []
    """
    check_choice("split", split, LATENCY_SPLITS)
    check_int("seed", seed, min_value=0, max_value=SEED_MAX)
    check_float("val_size", val_size, min_value=0.0, max_value=0.5, min_inclusive=False)
    check_float("test_size", test_size, min_value=0.0, max_value=0.5, min_inclusive=False)
    return SPLITTERS[split](split_rows_of(frame, module_type), seed, val_size, test_size)
