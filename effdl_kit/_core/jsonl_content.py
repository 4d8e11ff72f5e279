"""What a JSON-lines dataset file holds, what its loader reports, and row value checks.

:class:`JsonlContent` is what :meth:`effdl_kit._core.jsonl.JsonlDataset.read` returns;
:class:`JsonlLoadReport` is the loaders' record of what they kept or left out (a torn last
line, a newline-less last row, duplicate rows), each also warned as a :class:`DataWarning`;
:func:`check_rows` checks the value types of a dataset's measured rows (text columns, numeric
columns, a finite target in its range), each failure a ``DataError`` naming file, line and
column.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from effdl_kit._core.errors import DataError

__all__ = ["DataWarning", "JsonlContent", "JsonlLoadReport", "Row", "check_rows"]

#: One row (a JSON object).
Row = dict[str, Any]


class DataWarning(UserWarning):
    """A loader kept or left out something of a data file (a torn or newline-less last line,
    duplicate rows); the message names the file and the line."""


@dataclass(frozen=True)
class JsonlContent:
    """What a dataset file holds.

    Attributes
    ----------
    header : dict or None
        The header line (``None``: the file is missing or has no complete line).
    rows : list of dict
        The complete rows, in file order (duplicates left out).
    torn : bytes
        The torn last line left out (what follows the last newline; ``b""`` when none).
    lines : list of int
        The line number of each row of ``rows`` (1 is the header).
    unterminated : int or None
        The line number of a last line kept although it lacks its final newline.
    duplicates : list of (int, int)
        ``(line, first_line)`` of each row left out because the row on ``first_line`` has
        its key.
    n_lines : int
        Complete lines read (the header and a kept newline-less last row included).
    """

    header: dict[str, Any] | None
    rows: list[Row] = field(default_factory=list)
    torn: bytes = b""
    lines: list[int] = field(default_factory=list)
    unterminated: int | None = None
    duplicates: list[tuple[int, int]] = field(default_factory=list)
    n_lines: int = 0

    @property
    def torn_line(self) -> int | None:
        """The line number of the torn last line (``None`` when there is none)."""
        return self.n_lines + 1 if self.torn else None


@dataclass(frozen=True)
class JsonlLoadReport:
    """What a JSON-lines loader read, kept and left out; attached as ``df.attrs["load_report"]``.

    Attributes
    ----------
    source : str
        The file read.
    n_rows : int
        Complete rows read (duplicates left out; before any filter on ``status``).
    torn_bytes, torn_line : int, int or None
        Size and line number of a torn last line left out (0 and ``None``: none).
    unterminated_line : int or None
        A last row kept although it lacks its final newline.
    duplicates : list of (int, int)
        ``(line, first_line)`` of the rows left out as repeats of an earlier row's key.
    """

    source: str
    n_rows: int
    torn_bytes: int = 0
    torn_line: int | None = None
    unterminated_line: int | None = None
    duplicates: list[tuple[int, int]] = field(default_factory=list)

    @classmethod
    def of(cls, source: str, content: JsonlContent) -> JsonlLoadReport:
        """The report of ``content`` read from ``source``."""
        return cls(source, len(content.rows), len(content.torn), content.torn_line,
                   content.unterminated, list(content.duplicates))

    def messages(self) -> list[str]:
        """One sentence per thing kept or left out (empty when the file was clean)."""
        out = []
        if self.torn_bytes:
            out.append(f"{self.source!r}: line {self.torn_line} is torn (a truncated file or a "
                       f"killed build): its {self.torn_bytes} bytes are left out")
        if self.unterminated_line is not None:
            out.append(f"{self.source!r}: line {self.unterminated_line} lacks its final "
                       "newline; the row is complete and kept")
        if self.duplicates:
            shown = ", ".join(f"line {a} (repeats line {b})" for a, b in self.duplicates[:5])
            more = f" and {len(self.duplicates) - 5} more" if len(self.duplicates) > 5 else ""
            out.append(f"{self.source!r}: {len(self.duplicates)} duplicate rows left out: "
                       f"{shown}{more}")
        return out

    def summary(self) -> str:
        """A few human-readable lines."""
        return "\n".join([f"{self.source}: {self.n_rows} rows", *(
            f"  {m}" for m in self.messages())])


def check_rows(content: JsonlContent, source: str, *, text: Sequence[str] = (),
               numeric: Sequence[str] = (), target: str | None = None,
               target_ok: Callable[[float], bool] = math.isfinite, target_allowed: str = "",
               statuses: Sequence[str] = ("ok",)) -> None:
    """Check the value types of the rows whose ``status`` is in ``statuses``.

    Parameters
    ----------
    content : JsonlContent
        What :meth:`JsonlDataset.read` returned.
    source : str
        The file, for messages.
    text : sequence of str
        Columns that hold text (or ``null``) where present.
    numeric : sequence of str
        Columns that hold numbers (or ``null``) where present; ``true``/``false`` are not
        numbers.
    target : str, optional
        A column every checked row must hold, a finite number that ``target_ok`` accepts.
    target_ok : callable
        Accepts the finite target value.
    target_allowed : str
        The allowed target values, in words (for the message).
    statuses : sequence of str
        The rows checked.

    Raises
    ------
    DataError
        Naming ``source``, the line, the column and the allowed values.
    """
    for row, line in zip(content.rows, content.lines, strict=True):
        if row.get("status") not in statuses:
            continue
        for col in text:
            v = row.get(col)
            if v is not None and not isinstance(v, str):
                raise DataError(f"{source!r}: line {line}: column {col!r} holds "
                                f"{_show(v)}; allowed: text")
        for col in numeric:
            v = row.get(col)
            if v is not None and not _is_number(v):
                raise DataError(f"{source!r}: line {line}: column {col!r} holds "
                                f"{_show(v)}; allowed: a number")
        if target is not None:
            v = row.get(target)
            if not (isinstance(v, int | float) and _is_number(v) and math.isfinite(v)
                    and target_ok(float(v))):
                raise DataError(f"{source!r}: line {line}: target {target!r} of a "
                                f"{row.get('status')!r} row holds {_show(v)}; allowed: "
                                f"{target_allowed or 'a finite number'}")


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _show(v: Any) -> str:
    text = repr(v)
    return f"{type(v).__name__} {text if len(text) <= 40 else text[:37] + '...'}"
