"""Searching a static performance predictor: EfficientDL's αβ-BO setting, no training.

:func:`predictor_problem` turns a fitted predictor pipeline (an encoder followed by a
regressor, e.g. :func:`~effdl_kit.models.make_static_predictor`) into a search problem over a
few components (the Top-k by importance), every other component staying at a base value:

* the grid's GP encoding is the predictor's own encoding: each searched component's block is
  the encoder's columns for that component, and the encoded base row's other columns are the
  fixed part, so the GP lives in the predictor's full feature space and the dataset's encoded
  rows can be told as initial observations (:meth:`PredictorProblem.encode_rows`), as the
  authors do;
* with ``encoding="authors"`` the GP's inputs are instead the authors' one column per
  component (:class:`~effdl_kit.search._authors.AuthorsEncoding`, fitted on the dataset rows
  ``data``), in the same order: searched components, then the rest;
* the objective is the predictor's output for the base row with the searched components set
  (the predictor keeps its own encoding whatever the GP's).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from effdl_kit._core.errors import ConfigError, DataError
from effdl_kit._core.validate import check_choice, check_int
from effdl_kit.search._authors import AuthorsEncoding
from effdl_kit.search._space import ENCODINGS, EncodingName, GridSpace

__all__ = ["PredictorProblem", "base_row", "grid_values", "predictor_problem"]

F64 = npt.NDArray[np.float64]


def base_row(frame: pd.DataFrame, columns: Sequence[str]) -> dict[str, Any]:
    """A typical configuration: the median of numeric columns, the most frequent other value."""
    row: dict[str, Any] = {}
    for c in columns:
        s = frame[c].dropna()
        if s.empty:
            row[c] = None
        elif pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            row[c] = float(s.median())
        else:
            row[c] = s.astype(str).value_counts().index[0] if s.dtype == object else \
                s.value_counts().index[0]
    return row


def grid_values(frame: pd.DataFrame, column: str, n: int) -> list[Any]:
    """Up to ``n`` candidate values of a component, taken from the data.

    Numeric columns: ``n`` quantiles (equally spaced in probability), rounded to 4 significant
    digits, unique. Other columns: the ``n`` most frequent values.
    """
    if column not in frame.columns:
        raise ConfigError("component", column, sorted(map(str, frame.columns)))
    n = check_int("n", n, min_value=1)
    s = frame[column].dropna()
    if s.empty:
        raise DataError(f"column {column!r} has no values to build a grid from")
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        q = np.quantile(s.to_numpy(dtype=np.float64), np.linspace(0, 1, n))
        vals = sorted({float(f"{v:.4g}") for v in q})
        return vals
    return list(s.value_counts().index[:n])


@dataclass
class PredictorProblem:
    """A grid search problem on a fitted predictor.

    Attributes
    ----------
    pipeline : sklearn.pipeline.Pipeline
        Encoder (step 0) and regressor (last step), fitted.
    space : GridSpace
        The searched components, with the predictor's encoding.
    base : dict
        Values of every input column for the components not searched.
    order : ndarray of int, shape (n_features,)
        Encoded columns in GP order: the searched components' blocks, then the rest.
    gp_encoding : AuthorsEncoding or None
        The authors' encoding of the GP's inputs (``encoding="authors"``); None: the
        predictor's encoder.
    """

    pipeline: Any
    space: GridSpace
    base: dict[str, Any]
    order: npt.NDArray[np.int64]
    gp_encoding: AuthorsEncoding | None = None

    def frame(self, configs: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
        """Input rows: the base row with each configuration applied."""
        return pd.DataFrame([{**self.base, **dict(c)} for c in configs],
                            columns=list(self.base))

    def predict(self, configs: Sequence[Mapping[str, Any]]) -> F64:
        """The predictor's output for configurations; shape (n,)."""
        return np.asarray(self.pipeline.predict(self.frame(configs)), dtype=np.float64)

    def objective(self, config: Mapping[str, Any]) -> float:
        """The predictor's output for one configuration (the search maximises it)."""
        return float(self.predict([config])[0])

    def predict_grid(self, *, chunk_size: int = 50_000) -> F64:
        """The predictor's output for every grid candidate, in flat-index order.

        Batched predictions (``chunk_size`` candidates per call), so an exhaustive pass over a
        grid of 10,000 candidates costs about one second with a 300-tree forest.

        Returns
        -------
        ndarray, shape (n_candidates,)
        """
        check_int("chunk_size", chunk_size, min_value=1)
        space = self.space
        out = np.empty(space.n_candidates, dtype=np.float64)
        for start, stop in space.chunks(chunk_size):
            codes = space.decode(np.arange(start, stop))
            frame = pd.DataFrame([self.base] * (stop - start), columns=list(self.base))
            for b, name in enumerate(space.names):
                vals = space.values[b]
                frame[name] = pd.Series([vals[int(c)] for c in codes[:, b]], dtype=object)
            out[start:stop] = np.asarray(self.pipeline.predict(frame), dtype=np.float64)
        return out

    def grid_optimum(self) -> tuple[float, dict[str, Any]]:
        """The exhaustive maximum of the predictor over the grid and its configuration (the
        first in flat-index order among ties): the reference of a search's simple regret.

        Raises
        ------
        DataError
            The predictor gives NaN/inf for some candidate.
        """
        values = self.predict_grid()
        if not np.isfinite(values).all():
            raise DataError(f"the predictor gives NaN/inf for {int((~np.isfinite(values)).sum())}"
                            " grid candidates: the grid maximum is undefined")
        k = int(np.argmax(values))
        return float(values[k]), self.space.config(k)

    def encode_rows(self, frame: pd.DataFrame) -> F64:
        """GP inputs of dataset rows (the encoder's output, columns in GP order)."""
        if self.gp_encoding is not None:
            return np.ascontiguousarray(self.gp_encoding.transform(frame)[:, self.order])
        enc = self.pipeline[0].transform(frame[list(self.base)])
        return np.ascontiguousarray(np.asarray(enc, dtype=np.float64)[:, self.order])


def predictor_problem(pipeline: Any, components: Mapping[str, Sequence[Any]],
                      base: Mapping[str, Any], *, encoding: EncodingName = "kit",
                      data: pd.DataFrame | None = None) -> PredictorProblem:
    """Build the search problem of ``components`` on a fitted predictor pipeline.

    Parameters
    ----------
    pipeline : sklearn.pipeline.Pipeline
        Fitted; step 0 an encoder with ``feature_groups_`` (component -> encoded columns), e.g.
        :class:`~effdl_kit.data.ComponentEncoder`.
    components : mapping of str to sequence
        Searched component -> the values the search may pick.
    base : mapping
        A value for every input column of the encoder (e.g. :func:`base_row`).
    encoding : {"kit", "authors"}, default "kit"
        The GP's inputs: the predictor's encoding (multi-hot), or the authors' one column per
        component, fitted on ``data``.
    data : pandas.DataFrame, optional
        The dataset rows (required for ``encoding="authors"``).

    Raises
    ------
    ConfigError
        An empty space, a component the predictor does not use, base values missing,
        ``encoding="authors"`` without ``data``.
    DataError
        The predictor gives NaN/inf for the base row or any single-component change of it.
    """
    try:
        encoder = pipeline[0]
        groups: dict[str, list[int]] = dict(encoder.feature_groups_)
        n_out = int(encoder.n_features_out_)
    except (AttributeError, TypeError, IndexError):
        raise ConfigError("pipeline", type(pipeline).__name__,
                          "a fitted Pipeline whose first step has feature_groups_ "
                          "(e.g. make_static_predictor)") from None
    check_choice("encoding", encoding, ENCODINGS)
    if encoding == "authors" and data is None:
        raise ConfigError("data", None, "the dataset rows the authors' encoding is fitted on")
    if not components:
        raise ConfigError("components", dict(components), "at least one component to search")
    unknown = [c for c in components if c not in groups]
    if unknown:
        raise ConfigError("components", unknown,
                          f"components the predictor uses: {sorted(groups)}")
    columns = list(getattr(encoder, "columns_", list(groups)))
    missing = [c for c in columns if c not in base]
    if missing:
        raise ConfigError("base", sorted(base), f"a value for every input column {missing}")
    base = {c: base[c] for c in columns}
    names = list(components)
    blocks = {}
    checks = []
    for name in names:
        vals = list(components[name])
        rows = pd.DataFrame([{**base, name: v} for v in vals], columns=columns)
        enc = np.asarray(encoder.transform(rows), dtype=np.float64)
        blocks[name] = enc[:, groups[name]]
        checks.append(rows)
    base_enc = np.asarray(encoder.transform(pd.DataFrame([base], columns=columns)),
                          dtype=np.float64)[0]
    searched = [i for n in names for i in groups[n]]
    rest = [i for i in range(n_out) if i not in set(searched)]
    order = np.asarray(searched + rest, dtype=np.int64)
    space = GridSpace({n: list(components[n]) for n in names}, blocks=blocks,
                      fixed=base_enc[rest])
    authors = None
    if encoding == "authors":
        assert data is not None
        authors = AuthorsEncoding.from_encoder(encoder, data)
        pos = {c: j for j, c in enumerate(authors.columns)}
        others = [j for j, c in enumerate(authors.columns) if c not in set(names)]
        order = np.asarray([pos[str(n)] for n in names] + others, dtype=np.int64)
        base_row_enc = authors.transform(pd.DataFrame([base], columns=columns))[0]
        space = GridSpace({n: list(components[n]) for n in names},
                          blocks={n: authors.encode_column(str(n), list(components[n]))[:, None]
                                  for n in names},
                          fixed=base_row_enc[others], encoding="authors")
    preds = np.asarray(pipeline.predict(pd.concat(checks, ignore_index=True)), dtype=float)
    if not np.isfinite(preds).all():
        raise DataError("the predictor returns NaN/inf for some candidate values: "
                        "the search cannot rank them")
    problem = PredictorProblem(pipeline=pipeline, space=space, base=base, order=order,
                               gp_encoding=authors)
    if not math.isfinite(problem.objective({})):
        raise DataError("the predictor returns NaN/inf for the base configuration")
    return problem
