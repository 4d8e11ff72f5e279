"""The authors' choices for αβ-BO's faithful mode: their GP encoding and acquisition.

The EfficientDL authors' search (arXiv 2410.14743, their public demo code) feeds the Gaussian
process ONE column per component (the kit's default encoding is multi-hot: 282 columns on the
authors' data). ``encoding="authors"`` reproduces it:

=====================  ============================================================
component kind         the column
=====================  ============================================================
number                 ``log10(x) / log10(max)`` (max over the values the encoding is
                       fitted on); *chosen where the authors are silent*: a missing or
                       non-positive value is 0.0 (the formula's value at x = 1), and a
                       zero denominator (max = 1) becomes 1
multi-valued text      the multi-hot bit string over the component's keyword vocabulary
(keywords, "a,b")      (sorted, case-folded tokens; the FIRST token is the most significant
                       bit) read as one binary integer, then min-max scaled over the values
                       fitted on (a missing cell is the integer 0)
single-valued text     *chosen where the authors are silent*: the value's index (sorted
                       vocabulary for data; the grid's own order for a plain grid; -1 when
                       missing or unknown), min-max scaled over the values fitted on
=====================  ============================================================

A constant column (min = max) is 0.0. Values of the grid outside the fitted range keep the
same affine map (they may fall outside [0, 1]).

:class:`AuthorsEncoding` fits this encoding on a dataset through a fitted
:class:`~effdl_kit.data.ComponentEncoder` (its vocabularies and its numeric columns);
:func:`authors_block` encodes one component of a plain :class:`~effdl_kit.search.GridSpace`.
:func:`authors_alpha_beta` is the authors' acquisition (EI = 0 where σ = 0) and
:func:`near_observed` their test that a point repeats an observation (|Δ| ≤ 1e-7 in every
coordinate).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.stats import norm

from effdl_kit._core.errors import ConfigError

__all__ = [
    "REPEAT_TOL",
    "AuthorsEncoding",
    "authors_alpha_beta",
    "authors_block",
    "log_max",
    "near_observed",
]

F64 = npt.NDArray[np.float64]

#: a point within this distance (every coordinate) of an observed one repeats it
REPEAT_TOL = 1e-7


def _missing(v: Any) -> bool:
    if v is None or v is pd.NA:
        return True
    return isinstance(v, float | np.floating) and math.isnan(v)


def _tokens(v: Any) -> list[str]:
    """Comma-separated keywords of a cell, stripped and case-folded (as ComponentEncoder)."""
    if _missing(v):
        return []
    out: list[str] = []
    for part in str(v).split(","):
        tok = " ".join(part.split()).casefold()
        if tok and tok not in out:
            out.append(tok)
    return out


def _number(v: Any) -> float:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return math.nan
    return x if math.isfinite(x) else math.nan


def log_max(values: Sequence[Any], vmax: float) -> F64:
    """``log10(x) / log10(vmax)``; a missing or non-positive ``x`` -> 0.0; a zero
    denominator (``vmax`` = 1) -> 1."""
    denom = math.log10(vmax) if vmax > 0 else 0.0
    denom = denom if denom != 0.0 else 1.0
    out = np.zeros(len(values))
    for i, v in enumerate(values):
        x = _number(v)
        if x > 0:
            out[i] = math.log10(x) / denom
    return out


def _bits_integer(tokens: Sequence[str], position: dict[str, int], width: int) -> int:
    """The multi-hot bit string (first vocabulary token = most significant bit) as an int."""
    n = 0
    for t in tokens:
        j = position.get(t)
        if j is not None:
            n |= 1 << (width - 1 - j)
    return n


def _min_max(codes: Sequence[int], lo: int, hi: int) -> F64:
    """``(code - lo) / (hi - lo)`` with exact integer differences; 0.0 where hi = lo."""
    if hi == lo:
        return np.zeros(len(codes))
    span = float(hi - lo)
    return np.array([float(c - lo) / span for c in codes], dtype=np.float64)


def authors_block(values: Sequence[Any]) -> F64:
    """The authors' encoding of one plain grid component's values; shape (n_values, 1).

    Numbers -> ``log10(x)/log10(max)``; text with a comma in some value -> its keyword bit
    string as a min-max scaled integer; other values -> their index in ``values``, min-max
    scaled (see the module docstring).
    """
    vals = list(values)
    if all(isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool)
           for v in vals):
        nums = [_number(v) for v in vals]
        if any(math.isnan(x) for x in nums):
            raise ConfigError("values", vals, "finite numbers")
        return log_max(vals, max(nums)).reshape(-1, 1)
    if any("," in str(v) for v in vals if not _missing(v)):
        vocab = sorted({t for v in vals for t in _tokens(v)})
        pos = {t: j for j, t in enumerate(vocab)}
        codes = [_bits_integer(_tokens(v), pos, len(vocab)) for v in vals]
    else:
        codes = list(range(len(vals)))
    return _min_max(codes, min(codes), max(codes)).reshape(-1, 1)


@dataclass
class AuthorsEncoding:
    """The authors' one-column-per-component encoding, fitted on dataset rows.

    Build it with :meth:`from_encoder`. Attributes: ``columns`` (components, in the
    encoder's order), ``kinds`` (``"number"``, ``"keyword"`` or ``"category"`` per component),
    ``vmax`` (number -> max), ``vocab`` (text component -> its sorted vocabulary),
    ``bounds`` (text component -> (min, max) of its integer codes over the fitted rows).
    """

    columns: list[str]
    kinds: dict[str, str]
    vmax: dict[str, float]
    vocab: dict[str, list[str]]
    bounds: dict[str, tuple[int, int]]

    @classmethod
    def from_encoder(cls, encoder: Any, frame: pd.DataFrame) -> AuthorsEncoding:
        """Fit on ``frame`` with the vocabularies and column kinds of a fitted ComponentEncoder.

        Parameters
        ----------
        encoder : ComponentEncoder
            Fitted; gives the columns, their kinds and the keyword/category vocabularies.
        frame : pandas.DataFrame
            The rows the maxima and integer ranges are taken from (the dataset).
        """
        try:
            columns = [str(c) for c in encoder.columns_]
            vocabularies = dict(encoder.vocabularies_)
            categories = dict(encoder.categories_)
        except AttributeError:
            raise ConfigError("encoder", type(encoder).__name__,
                              "a fitted ComponentEncoder (columns_, vocabularies_, "
                              "categories_)") from None
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise ConfigError("frame", sorted(map(str, frame.columns)),
                              f"every encoded column {missing}")
        enc = cls(columns=columns, kinds={}, vmax={}, vocab={}, bounds={})
        for c in columns:
            if c in vocabularies:
                enc.kinds[c], enc.vocab[c] = "keyword", list(vocabularies[c])
            elif c in categories:
                enc.kinds[c], enc.vocab[c] = "category", list(categories[c])
            else:
                enc.kinds[c] = "number"
                nums = np.array([_number(v) for v in frame[c].tolist()])
                finite = nums[np.isfinite(nums)]
                enc.vmax[c] = float(finite.max()) if finite.size else 1.0
            if c in enc.vocab:
                codes = enc._codes(c, frame[c].tolist())
                enc.bounds[c] = (min(codes), max(codes))
        return enc

    def _codes(self, column: str, values: Sequence[Any]) -> list[int]:
        vocab = self.vocab[column]
        pos = {t: j for j, t in enumerate(vocab)}
        if self.kinds[column] == "keyword":
            return [_bits_integer(_tokens(v), pos, len(vocab)) for v in values]
        return [-1 if _missing(v) else pos.get(str(v), -1) for v in values]

    def encode_column(self, column: str, values: Sequence[Any]) -> F64:
        """One component's column for ``values``; shape (len(values),)."""
        if column not in self.kinds:
            raise ConfigError("column", column, self.columns)
        if self.kinds[column] == "number":
            return log_max(list(values), self.vmax[column])
        lo, hi = self.bounds[column]
        return _min_max(self._codes(column, list(values)), lo, hi)

    def transform(self, frame: pd.DataFrame) -> F64:
        """Encoded rows; shape (len(frame), len(columns)), columns in ``columns`` order."""
        out = np.zeros((len(frame), len(self.columns)))
        for j, c in enumerate(self.columns):
            out[:, j] = self.encode_column(c, frame[c].tolist())
        return out


def authors_alpha_beta(mu: F64, sigma: F64, best: float, alpha: float, beta: float) -> F64:
    """The authors' ``α·EI + PI + β·σ²`` in the targets' units (numpy/scipy).

    ``Z = (μ − f*)/σ``; ``EI = (μ − f*)Φ(Z) + σφ(Z)``, 0 where σ = 0 (the authors' rule; the kit's
    acquisition uses the limit ``max(μ − f*, 0)`` there); ``PI = Φ(Z)``, ``1[μ > f*]`` where
    σ = 0.
    """
    mu = np.asarray(mu, dtype=np.float64)
    sigma = np.asarray(sigma, dtype=np.float64)
    diff = mu - best
    pos = sigma > 0
    z = np.divide(diff, sigma, out=np.zeros_like(diff), where=pos)
    ei = np.where(pos, diff * norm.cdf(z) + sigma * norm.pdf(z), 0.0)
    pi = np.where(pos, norm.cdf(z), (diff > 0).astype(np.float64))
    return alpha * ei + pi + beta * sigma**2


def near_observed(x: F64, X: F64, tol: float = REPEAT_TOL) -> bool:
    """Whether ``x`` lies within ``tol`` of a row of ``X`` in every coordinate."""
    if X.shape[0] == 0:
        return False
    return bool((np.abs(X - x[None, :]) <= tol).all(axis=1).any())
