"""The EfficientDL authors' system-component dataset: loading, cleaning and a report of the fixes.

The authors (arXiv 2410.14743) publish a JSON list of 1,658 objects, one per trained model, with
31 keys: two identifiers (``Architecture``, ``Model``), 28 system components in four groups and
the target ``Top-1 accuracy``. The file is not shipped with the kit (it has no licence); pass
its path to :func:`load_efficientdl`.

Cleaning rules (each fix is recorded in the :class:`LoadReport`, never applied silently)
-------------------------------------------------------------------------------------------
Keyword cells (:data:`EFFICIENTDL_KEYWORD_COLUMNS`)
    Split on commas and on the word ``and`` (the authors write "Mixup and CutMix" as often as
    "Mixup,CutMix"); collapse whitespace (cells hold line breaks); strip surrounding
    punctuation; case-fold; map through :data:`EFFICIENTDL_SYNONYMS`; drop the token ``none``;
    de-duplicate and sort. The cell becomes the canonical tokens joined by ``","``; a missing
    cell stays missing (``NaN``) and a cell holding only ``None`` becomes ``""`` (explicitly no
    component). Both encode to "no token" in :class:`~effdl_kit.data.ComponentEncoder`.
Single-valued categorical cells (:data:`EFFICIENTDL_CATEGORICAL_COLUMNS`)
    Whitespace collapsed, case-folded, mapped through the same synonym table (``"AdmaW"`` and
    ``"synchronized AdamW"`` become ``"adamw"``); a cell holding only ``None`` becomes ``""``.
Target ``Top-1 accuracy``
    A fraction in [0, 1]. A value in (1, 100] is divided by the smallest power of ten (10 or
    100) that brings it into [0, 1]: percentages (79.6 -> 0.796) and the authors' one
    shifted-decimal cell (9.796 -> 0.9796, the meaning the project's fact sheet gives it;
    note that the row is gMLP-S on ImageNet, published at 79.6 %, so the cell may instead be
    a typo of 0.796 -- no rule can tell, the fix is reported either way).
    Missing, non-numeric, non-finite, negative or > 100 targets: the row is dropped.
``learning rate``
    Numbers are kept when finite and > 0. Strings are parsed by :func:`parse_learning_rate`:
    a range ``a-b`` / ``a to b`` / ``a~b`` gives the larger value (the peak rate papers
    report); otherwise the first number in the text ("learning rate 4e-3" -> 0.004,
    "0.1 (cosine)" -> 0.1); text without a number ("triangular learning rate schedule")
    becomes ``NaN``. Both outcomes are reported.
Other numeric columns
    Coerced to float; cells that are not finite numbers (text, lists, ``Infinity``) become
    ``NaN`` and are reported (:attr:`LoadReport.numeric_coerced`, counted in
    :meth:`LoadReport.summary`).
Text cells (keyword, categorical and identifier columns)
    A list or a dict where text is expected is a :class:`~effdl_kit.errors.DataError` naming
    the column and the record (the authors' cells are strings, numbers or missing; turning a
    list into its ``repr`` would invent tokens).
Duplicate records
    Records equal in every key are reported (:attr:`LoadReport.duplicate_records`; the
    authors' file holds 7) and kept, as the paper's 1,658 records include them;
    ``load_efficientdl(path, drop_duplicates=True)`` drops them instead (each recorded as a
    dropped row).
The file
    Read as strict JSON (:func:`effdl_kit._core.strict_json.loads`): not UTF-8, not JSON
    (a truncated file), nested too deeply or an integer outside the 64-bit range is a
    ``DataError`` naming the file and the line.
``Architecture`` (the group label for grouped cross-validation)
    Missing labels are filled with :data:`UNKNOWN_GROUP`, so those rows form one group.
``Model`` is kept for reference; both identifiers are excluded from the features
(:func:`efficientdl_xy`, :data:`EFFICIENTDL_FEATURES`).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from effdl_kit._core.errors import DataError, DatasetNotFoundError
from effdl_kit._core.strict_json import decode_utf8, loads
from effdl_kit.data._efficientdl_parse import (
    _NONE_TOKENS,
    _SPLIT_RE,
    _WS_RE,
    EFFICIENTDL_SYNONYMS,
    _clean_text,
    _fix_accuracy,
    _is_missing,
    _to_float,
    normalize_keywords,
    parse_learning_rate,
)

__all__ = [
    "EFFICIENTDL_CATEGORICAL_COLUMNS",
    "EFFICIENTDL_COMPONENTS",
    "EFFICIENTDL_FEATURES",
    "EFFICIENTDL_GROUP",
    "EFFICIENTDL_ID_COLUMNS",
    "EFFICIENTDL_KEYWORD_COLUMNS",
    "EFFICIENTDL_NUMERIC_COLUMNS",
    "EFFICIENTDL_SYNONYMS",
    "EFFICIENTDL_TARGET",
    "UNKNOWN_GROUP",
    "DroppedRow",
    "LoadReport",
    "efficientdl_xy",
    "load_efficientdl",
    "normalize_efficientdl",
    "normalize_keywords",
    "parse_learning_rate",
]

#: Target column: Top-1 accuracy as a fraction in [0, 1].
EFFICIENTDL_TARGET = "Top-1 accuracy"
#: Group label for grouped cross-validation (one group per architecture family).
EFFICIENTDL_GROUP = "Architecture"
#: Identifier columns: kept in the frame for reference, never used as features.
EFFICIENTDL_ID_COLUMNS: tuple[str, ...] = ("Architecture", "Model")
#: Label for rows whose ``Architecture`` cell is missing.
UNKNOWN_GROUP = "(unknown)"

#: The paper's four component groups -> the authors' column names (their spellings).
EFFICIENTDL_COMPONENTS: dict[str, tuple[str, ...]] = {
    "model": (
        "Normalization layer",
        "Initialization",
        "Convolution",
        "Skip Connection",
        "Activation Function",
        "Pooling Operation",
        "Feedforward Network",
        "Attention Mechanism",
        "Output Function",
        "Size of parameter",
    ),
    "training": (
        "Regularization",
        "Data Augmentation",
        "Learning Rate Schedule",
        "Optimization algorithm",
        "batch size",
        "learning rate",
        "epochs",
        "Framwork",
    ),
    "data": (
        "Dataset",
        "Size of training set",
        "Size of testing set",
        "Cosine similarity",
        "JensenShannon",
        "L2 distance",
        "Output Length",
        "Input Length",
    ),
    "hardware": ("Type of GPU", "Number of GPU"),
}

#: Multi-valued text components (comma-separated keywords, encoded multi-hot).
EFFICIENTDL_KEYWORD_COLUMNS: tuple[str, ...] = (
    "Normalization layer",
    "Initialization",
    "Convolution",
    "Skip Connection",
    "Activation Function",
    "Pooling Operation",
    "Regularization",
    "Data Augmentation",
    "Feedforward Network",
    "Attention Mechanism",
    "Learning Rate Schedule",
    "Output Function",
)
#: Single-valued text components (encoded one-hot).
EFFICIENTDL_CATEGORICAL_COLUMNS: tuple[str, ...] = (
    "Optimization algorithm",
    "Dataset",
    "Framwork",
    "Type of GPU",
)
#: Numeric components (encoded log-scaled).
EFFICIENTDL_NUMERIC_COLUMNS: tuple[str, ...] = (
    "Size of training set",
    "Size of testing set",
    "Cosine similarity",
    "JensenShannon",
    "L2 distance",
    "Output Length",
    "Input Length",
    "Size of parameter",
    "batch size",
    "learning rate",
    "epochs",
    "Number of GPU",
)
#: All 28 feature columns, in the file's order.
EFFICIENTDL_FEATURES: tuple[str, ...] = (
    "Normalization layer",
    "Initialization",
    "Convolution",
    "Skip Connection",
    "Activation Function",
    "Pooling Operation",
    "Regularization",
    "Data Augmentation",
    "Feedforward Network",
    "Attention Mechanism",
    "Learning Rate Schedule",
    "Optimization algorithm",
    "Output Function",
    "Dataset",
    "Size of training set",
    "Size of testing set",
    "Cosine similarity",
    "JensenShannon",
    "L2 distance",
    "Output Length",
    "Input Length",
    "Framwork",
    "Size of parameter",
    "batch size",
    "learning rate",
    "epochs",
    "Type of GPU",
    "Number of GPU",
)

@dataclass(frozen=True)
class DroppedRow:
    """One record :func:`load_efficientdl` could not use.

    Attributes
    ----------
    index : int
        Position of the record in the JSON list.
    model : str or None
        Its ``Model`` identifier, for reference.
    reason : str
        Why it was dropped.
    """

    index: int
    model: str | None
    reason: str


@dataclass
class LoadReport:
    """What :func:`load_efficientdl` fixed and dropped; attached as ``df.attrs["load_report"]``.

    Row indices are positions in the JSON list, which are also the index of the returned frame.

    Attributes
    ----------
    source : str
        The file read (or ``"<frame>"`` for :func:`normalize_efficientdl`).
    n_records, n_rows : int
        Records read and rows kept.
    dropped : list of DroppedRow
        Rows removed, with the reason.
    accuracy_rescaled : list of (int, float, float)
        ``(index, old, new)`` for targets read as percentages.
    learning_rates_parsed : list of (int, str, float)
        ``(index, text, value)`` for learning-rate strings turned into numbers.
    learning_rates_unparsed : list of (int, str)
        ``(index, text)`` for learning-rate cells set to ``NaN``.
    numeric_coerced : dict of str to list of int
        Other numeric columns: indices of cells that were not finite numbers (now ``NaN``).
    duplicate_records : list of (int, int)
        ``(index, first_index)`` of records equal in every key to an earlier one.
    groups_filled : list of int
        Indices whose missing ``Architecture`` became :data:`UNKNOWN_GROUP`.
    synonyms_applied : dict of str to dict of str to str
        Per column, the ``variant -> canonical`` replacements that occurred.
    case_folded : dict of str to int
        Per text column, how many cells changed by case-folding/whitespace alone.
    n_repeated_pairs : int
        (Model, Dataset) pairs occurring more than once among kept rows (kept, not dropped;
        they make random splits optimistic).
    missing : dict of str to int
        Missing cells per feature column after cleaning.
    """

    source: str
    n_records: int = 0
    n_rows: int = 0
    dropped: list[DroppedRow] = field(default_factory=list)
    accuracy_rescaled: list[tuple[int, float, float]] = field(default_factory=list)
    learning_rates_parsed: list[tuple[int, str, float]] = field(default_factory=list)
    learning_rates_unparsed: list[tuple[int, str]] = field(default_factory=list)
    numeric_coerced: dict[str, list[int]] = field(default_factory=dict)
    groups_filled: list[int] = field(default_factory=list)
    synonyms_applied: dict[str, dict[str, str]] = field(default_factory=dict)
    case_folded: dict[str, int] = field(default_factory=dict)
    n_repeated_pairs: int = 0
    missing: dict[str, int] = field(default_factory=dict)
    duplicate_records: list[tuple[int, int]] = field(default_factory=list)

    def dropped_frame(self) -> pd.DataFrame:
        """Return the dropped rows as a frame with columns ``index, model, reason``."""
        return pd.DataFrame([asdict(d) for d in self.dropped], columns=["index", "model", "reason"])

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-able dict of every field."""
        return asdict(self)

    def summary(self) -> str:
        """Return a few human-readable lines."""
        lines = [
            f"{self.source}: {self.n_records} records -> {self.n_rows} rows kept, "
            f"{len(self.dropped)} dropped",
        ]
        reasons = Counter(d.reason for d in self.dropped)
        lines += [f"  dropped ({n}): {r}" for r, n in sorted(reasons.items())]
        lines.append(f"  accuracies rescaled from percent: {len(self.accuracy_rescaled)}")
        lines.append(
            f"  learning-rate strings parsed: {len(self.learning_rates_parsed)}, "
            f"unparseable -> NaN: {len(self.learning_rates_unparsed)}"
        )
        n_syn = sum(len(v) for v in self.synonyms_applied.values())
        lines.append(f"  synonym replacements (distinct variants): {n_syn}")
        n_nan = sum(len(v) for v in self.numeric_coerced.values())
        per_col = ", ".join(f"{c}: {len(v)}" for c, v in sorted(self.numeric_coerced.items()))
        lines.append(f"  numeric cells not finite numbers -> NaN: {n_nan}"
                     + (f" ({per_col})" if per_col else ""))
        lines.append(f"  missing Architecture -> {UNKNOWN_GROUP!r}: {len(self.groups_filled)}")
        lines.append(f"  repeated (Model, Dataset) pairs: {self.n_repeated_pairs}")
        lines.append(f"  duplicate records (equal in every key): {len(self.duplicate_records)}")
        return "\n".join(lines)


def _check_columns(columns: Sequence[Any]) -> None:
    present = set(columns)
    if EFFICIENTDL_TARGET not in present:
        raise DataError(
            f"required target column {EFFICIENTDL_TARGET!r} is missing from the EfficientDL data"
        )
    missing = [c for c in (*EFFICIENTDL_ID_COLUMNS, *EFFICIENTDL_FEATURES) if c not in present]
    if missing:
        raise DataError(f"required columns missing from the EfficientDL data: {missing!r}")


def _check_text(df: pd.DataFrame, source: str) -> None:
    """A list or dict in a text column is an error naming the column and the record."""
    for col in (*EFFICIENTDL_ID_COLUMNS, *EFFICIENTDL_KEYWORD_COLUMNS,
                *EFFICIENTDL_CATEGORICAL_COLUMNS):
        for i, raw in enumerate(df[col].tolist()):
            if isinstance(raw, list | dict | tuple | set):
                text = repr(raw)
                raise DataError(f"{source!r}: record {i}: column {col!r} holds a "
                                f"{type(raw).__name__} ({text[:40]}); allowed: text or null")


def _duplicates(records: Sequence[dict[Any, Any]]) -> list[tuple[int, int]]:
    first: dict[str, int] = {}
    out = []
    for i, rec in enumerate(records):
        key = repr(sorted((str(k), repr(v)) for k, v in rec.items()))
        if key in first:
            out.append((i, first[key]))
        else:
            first[key] = i
    return out


def normalize_efficientdl(frame: pd.DataFrame, *, source: str = "<frame>",
                          drop_duplicates: bool = False) -> pd.DataFrame:
    """Clean a raw frame of the authors' records (see the module docstring for the rules).

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per JSON record, the authors' 31 columns (extra columns are kept untouched).
    source : str
        Name recorded in the report.
    drop_duplicates : bool
        Drop records equal in every column to an earlier one (recorded as dropped rows);
        default: keep them (recorded in ``duplicate_records``).

    Returns
    -------
    pandas.DataFrame
        Cleaned rows, index = record position, columns ``Architecture, Model``, the 28
        features, the target, then any extra columns. ``df.attrs["load_report"]`` holds the
        :class:`LoadReport`.

    Raises
    ------
    DataError
        Empty frame, a required column missing (the target is named first), or a list or
        dict in a text column (naming it).
    """
    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"expected a pandas DataFrame of records, got {type(frame).__name__}")
    if len(frame) == 0:
        raise DataError("the EfficientDL data is empty (0 records)")
    _check_columns(list(frame.columns))
    report = LoadReport(source=source, n_records=len(frame))
    df = frame.copy().reset_index(drop=True)
    df.index.name = "record"
    _check_text(df, source)
    models = df["Model"].map(lambda m: None if _is_missing(m) else str(m))
    report.duplicate_records = _duplicates(df.to_dict("records"))

    # target
    keep = np.ones(len(df), dtype=bool)
    if drop_duplicates:
        for i, j in report.duplicate_records:
            keep[i] = False
            report.dropped.append(DroppedRow(i, models.iloc[i], f"duplicate of record {j}"))
    target = np.empty(len(df), dtype=np.float64)
    for i, raw in enumerate(df[EFFICIENTDL_TARGET].tolist()):
        v, reason = _fix_accuracy(raw)
        target[i] = v
        if not keep[i]:
            continue
        if reason is not None:
            keep[i] = False
            report.dropped.append(DroppedRow(i, models.iloc[i], reason))
        elif v != raw:
            report.accuracy_rescaled.append((i, float(raw), v))
    df[EFFICIENTDL_TARGET] = target

    # learning rate
    lr = np.empty(len(df), dtype=np.float64)
    for i, raw in enumerate(df["learning rate"].tolist()):
        v = parse_learning_rate(raw)
        lr[i] = v
        if isinstance(raw, str):
            if math.isnan(v):
                report.learning_rates_unparsed.append((i, raw))
            else:
                report.learning_rates_parsed.append((i, raw, v))
        elif math.isnan(v) and not _is_missing(raw):
            report.learning_rates_unparsed.append((i, repr(raw)))
    df["learning rate"] = lr

    # other numerics
    for col in EFFICIENTDL_NUMERIC_COLUMNS:
        if col == "learning rate":
            continue
        raw_col = df[col]
        num = pd.Series([_to_float(v) for v in raw_col.tolist()], index=df.index,
                        dtype=np.float64)
        bad = num.isna() & ~raw_col.map(_is_missing)
        if bad.any():
            report.numeric_coerced[col] = [int(i) for i in np.flatnonzero(bad.to_numpy())]
        df[col] = num

    # keyword and categorical text
    for col in (*EFFICIENTDL_KEYWORD_COLUMNS, *EFFICIENTDL_CATEGORICAL_COLUMNS):
        multi = col in EFFICIENTDL_KEYWORD_COLUMNS
        applied: dict[str, str] = {}
        folded = 0
        out: list[Any] = []
        for raw in df[col].tolist():
            if _is_missing(raw):
                out.append(np.nan)
                continue
            if multi:
                toks = normalize_keywords(raw)
                assert toks is not None
                for part in _SPLIT_RE.split(str(raw)):
                    t = _clean_text(part)
                    if t in EFFICIENTDL_SYNONYMS:
                        applied[t] = EFFICIENTDL_SYNONYMS[t]
                cell = ",".join(toks)
            else:
                t = _clean_text(str(raw))
                if t in EFFICIENTDL_SYNONYMS:
                    applied[t] = EFFICIENTDL_SYNONYMS[t]
                cell = "" if t in _NONE_TOKENS else EFFICIENTDL_SYNONYMS.get(t, t)
            if cell != raw and str(raw).strip().casefold() == cell:
                folded += 1
            out.append(cell)
        df[col] = pd.Series(out, index=df.index, dtype=object)
        if applied:
            report.synonyms_applied[col] = dict(sorted(applied.items()))
        if folded:
            report.case_folded[col] = folded

    # identifiers
    arch = df[EFFICIENTDL_GROUP]
    missing_group = arch.map(_is_missing).to_numpy()
    report.groups_filled = [int(i) for i in np.flatnonzero(missing_group & keep)]
    df[EFFICIENTDL_GROUP] = [
        UNKNOWN_GROUP if m else _WS_RE.sub(" ", str(a)).strip()
        for a, m in zip(arch.tolist(), missing_group, strict=True)
    ]
    df["Model"] = models.map(lambda m: m if m is None else _WS_RE.sub(" ", m).strip())

    df = df.loc[keep]
    ordered = [*EFFICIENTDL_ID_COLUMNS, *EFFICIENTDL_FEATURES, EFFICIENTDL_TARGET]
    df = df[ordered + [c for c in df.columns if c not in ordered]]
    report.n_rows = len(df)
    pair_counts = df.groupby(["Model", "Dataset"], dropna=False).size()
    report.n_repeated_pairs = int((pair_counts > 1).sum())
    report.missing = {c: int(df[c].isna().sum()) for c in EFFICIENTDL_FEATURES}
    if report.n_rows == 0:
        raise DataError(
            f"no usable rows in the EfficientDL data: all {report.n_records} records dropped "
            f"({Counter(d.reason for d in report.dropped).most_common(3)})"
        )
    df.attrs["load_report"] = report
    return df


def load_efficientdl(path: str | Path, *, drop_duplicates: bool = False) -> pd.DataFrame:
    """Read and clean the EfficientDL authors' ``dataset.json``.

    Parameters
    ----------
    path : str or Path
        The JSON file: a list of objects with the authors' 31 keys.
    drop_duplicates : bool
        Drop records equal in every key to an earlier one (see
        :func:`normalize_efficientdl`).

    Returns
    -------
    pandas.DataFrame
        Cleaned rows (see :func:`normalize_efficientdl`); ``df.attrs["load_report"]`` is the
        :class:`LoadReport` naming every fix and every dropped row with its reason.

    Raises
    ------
    DatasetNotFoundError
        The file does not exist.
    DataError
        Not UTF-8, not JSON (a truncated file), nested too deeply or an integer outside the
        64-bit range (each naming the file and the line), not a list of objects, empty, a
        required column missing, a list or dict in a text column, or no usable row.
    """
    p = Path(path)
    if not p.is_file():
        raise DatasetNotFoundError(
            "efficientdl", p, "pass the path of the authors' dataset.json (it is not shipped)"
        )
    source = str(p)
    try:
        records = loads(decode_utf8(p.read_bytes(), source=source), source=source)
    except DataError as exc:
        raise DataError(f"{exc} (not valid JSON text)") from None
    if not isinstance(records, list):
        raise DataError(
            f"{str(p)!r} must hold a JSON list of objects, got {type(records).__name__}"
        )
    if not records:
        raise DataError(f"{str(p)!r} is empty (0 records)")
    bad = [i for i, r in enumerate(records) if not isinstance(r, dict)]
    if bad:
        raise DataError(f"{str(p)!r}: records {bad[:5]!r} are not JSON objects")
    return normalize_efficientdl(pd.DataFrame.from_records(records), source=source,
                                 drop_duplicates=drop_duplicates)


def efficientdl_xy(
    df: pd.DataFrame,
    *,
    target: str = EFFICIENTDL_TARGET,
    groups_col: str | None = EFFICIENTDL_GROUP,
    id_columns: Sequence[str] = EFFICIENTDL_ID_COLUMNS,
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray | None]:
    """Split a frame into features ``X``, target ``y`` and group labels.

    Parameters
    ----------
    df : pandas.DataFrame
        E.g. the output of :func:`load_efficientdl`, or any frame with a target column.
    target : str
        Target column.
    groups_col : str or None
        Group-label column (returned as ``groups``; ``None`` if absent or not asked for).
    id_columns : sequence of str
        Identifier columns removed from ``X`` when present.

    Returns
    -------
    X : pandas.DataFrame, shape (n_rows, n_features)
        Every column except the target, the group column and the identifiers.
    y : ndarray of float64, shape (n_rows,)
    groups : ndarray of object, shape (n_rows,), or None

    Raises
    ------
    DataError
        Empty frame, target column missing, or target not numeric / holding NaN.
    """
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"expected a pandas DataFrame, got {type(df).__name__}")
    if len(df) == 0:
        raise DataError("the frame is empty (0 rows)")
    if target not in df.columns:
        raise DataError(f"required target column {target!r} is missing from the frame")
    y = pd.to_numeric(df[target], errors="coerce").to_numpy(dtype=np.float64)
    n_bad = int((~np.isfinite(y)).sum())
    if n_bad:
        raise DataError(
            f"target column {target!r} has {n_bad} missing or non-numeric values; "
            "drop those rows first (load_efficientdl does and reports it)"
        )
    drop = [target, *(c for c in id_columns if c in df.columns)]
    groups = None
    if groups_col is not None and groups_col in df.columns:
        groups = df[groups_col].to_numpy(dtype=object)
        drop.append(groups_col)
    X = df.drop(columns=list(dict.fromkeys(drop)))
    return X, y, groups
