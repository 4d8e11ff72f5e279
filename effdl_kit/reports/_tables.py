"""Export a results table as LaTeX (booktabs), Markdown and CSV in one call."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from effdl_kit._core.errors import ConfigError
from effdl_kit._core.io import atomic_path, atomic_write_text
from effdl_kit.reports._figures import _check_formats, _stem
from effdl_kit.reports._labels import humanize_columns

__all__ = ["TABLE_FORMATS", "export_table", "markdown_table"]

#: File formats :func:`export_table` writes.
TABLE_FORMATS = ("tex", "md", "csv")


def _formatter(float_format: str | Callable[[float], str]) -> Callable[[float], str]:
    if callable(float_format):
        fn = float_format
    elif isinstance(float_format, str):
        fmt = float_format

        def fn(x: float) -> str:
            return fmt.format(x)
    else:
        raise ConfigError("float_format", float_format,
                          "a format string such as '{:.3f}' or a callable float -> str")
    try:
        probe = fn(1.5)
    except (ValueError, IndexError, KeyError, TypeError):
        raise ConfigError("float_format", float_format,
                          "a format string with one positional field, e.g. '{:.3f}'") from None
    if not isinstance(probe, str):
        raise ConfigError("float_format", float_format, "a callable returning str")
    return fn


def _show_index(df: pd.DataFrame, index: bool | None) -> bool:
    if index is not None:
        return bool(index)
    default = isinstance(df.index, pd.RangeIndex) and df.index.name is None
    return not default


def _formatted(df: pd.DataFrame, fn: Callable[[float], str]) -> pd.DataFrame:
    """Float cells (also in object columns) through ``fn``, missing ones empty, others ``str``."""

    def cell(v: object) -> str:
        if v is None or (isinstance(v, float | np.floating) and np.isnan(v)):
            return ""
        if isinstance(v, float | np.floating):
            return fn(float(v))
        return str(v)

    out = df.copy()
    for col in out.columns:
        out[col] = [cell(v) for v in df[col].tolist()]
    if out.index.dtype.kind == "f":
        out.index = pd.Index([fn(float(v)) for v in out.index], name=out.index.name)
    return out.astype(object)


def markdown_table(df: pd.DataFrame, *, float_format: str | Callable[[float], str] = "{:.3f}",
                   index: bool | None = None) -> str:
    """``df`` as a Markdown pipe table (the ``md`` file of :func:`export_table`).

    Numeric columns right-aligned, floats through ``float_format``, missing cells empty;
    ``index`` as in :func:`export_table`.

    Raises
    ------
    ConfigError
        A bad ``float_format``.
    """
    fn = _formatter(float_format)
    show_index = _show_index(df, index)
    align = ["right" if pd.api.types.is_numeric_dtype(df[c])
             and not pd.api.types.is_bool_dtype(df[c]) else "left" for c in df.columns]
    if show_index:
        align.insert(0, "left")
    return str(_formatted(df, fn).to_markdown(index=show_index, disable_numparse=True,
                                              colalign=align))


def export_table(
    df: pd.DataFrame,
    path_stem: str | Path,
    formats: Sequence[str] = TABLE_FORMATS,
    *,
    caption: str | None = None,
    label: str | None = None,
    float_format: str | Callable[[float], str] = "{:.3f}",
    index: bool | None = None,
    humanize: bool = False,
) -> list[Path]:
    """Write ``df`` as a LaTeX, Markdown and/or CSV table; create parent directories.

    Parameters
    ----------
    df : pandas.DataFrame
        The table, one row per entry.
    path_stem : str or Path
        Output path without extension (a trailing ``.tex``/``.md``/``.csv`` is dropped).
    formats : sequence of {"tex", "md", "csv"}
        ``tex``: a booktabs ``tabular`` (inside a ``table`` environment with ``caption``
        and ``label`` when a caption is given), cells escaped for LaTeX; ``md``: a pipe
        table (``Table: caption`` line under it when given); ``csv``: full precision,
        for machines (``float_format`` is not applied).
    caption : str, optional
        Table caption (LaTeX and Markdown). It goes into the ``.tex`` file as LaTeX source,
        unescaped, so it may hold math (``$\\alpha$``); escape ``%``, ``&``, ``_`` yourself.
    label : str, optional
        LaTeX ``\\label`` (used with a caption).
    float_format : str or callable
        How floats are shown in LaTeX and Markdown: a ``str.format`` pattern with one field
        (``"{:.3f}"``) or a function ``float -> str``.
    index : bool, optional
        Write the index; default: only when it is not a plain ``RangeIndex``.
    humanize : bool, default False
        Headers of the LaTeX and Markdown tables through the label registry
        (:func:`~effdl_kit.reports.humanize_columns`: ``latency_ms`` -> ``Latency (ms)``);
        the CSV keeps the internal names (it is for machines).

    Returns
    -------
    list of Path
        The written files, in ``formats`` order.

    Raises
    ------
    ConfigError
        A bad argument; raised before anything is written.
    """
    if not isinstance(df, pd.DataFrame):
        raise ConfigError("df", type(df).__name__, "a pandas.DataFrame")
    fmts = _check_formats(formats, "formats", TABLE_FORMATS)
    stem = _stem(path_stem, "path_stem", TABLE_FORMATS)
    fn = _formatter(float_format)
    if caption is not None and not isinstance(caption, str):
        raise ConfigError("caption", caption, "a string or None")
    if label is not None and not isinstance(label, str):
        raise ConfigError("label", label, "a string or None")
    show_index = _show_index(df, index)
    shown = humanize_columns(df) if humanize else df
    stem.parent.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for fmt in fmts:
        path = stem.with_name(f"{stem.name}.{fmt}")
        if fmt == "csv":
            with atomic_path(path) as tmp:
                df.to_csv(tmp, index=show_index, float_format=None)
        elif fmt == "md":
            text = markdown_table(shown, float_format=fn, index=show_index)
            if caption:
                text += f"\n\nTable: {caption}"
            atomic_write_text(path, text + "\n")
        else:
            # the index as a first column: one header row instead of pandas' two
            tex_df = shown.reset_index() if show_index else shown
            text = tex_df.to_latex(
                index=False, escape=True, float_format=fn,
                caption=caption, label=label if caption else None,
                position="t" if caption else None, na_rep="",
            )
            atomic_write_text(path, text)
        written.append(path)
    return written
