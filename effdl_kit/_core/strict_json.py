"""Strict JSON decoding for the loaders: every failure is a ``DataError`` naming file and line.

:func:`json.loads` lets three kinds of hostile input escape as something other than a clear
error: bytes that are not UTF-8 (a ``UnicodeDecodeError`` that counts bytes, not lines),
brackets nested deeper than the interpreter's recursion limit (a ``RecursionError``), and
integers of hundreds of digits (parsed, then an ``OverflowError`` far away when a frame turns
them into floats). :func:`decode_utf8` and :func:`loads` turn each into a
:class:`~effdl_kit.errors.DataError` naming the file and the line.

Integers are limited to the signed 64-bit range (:data:`INT_LIMIT`): no column of a kit
dataset holds a larger one, and a frame could not store it as a number. ``NaN`` and
``Infinity`` literals are decoded as floats (the builders write ``NaN`` for a failed row's
metrics); the loaders check their targets for them.
"""

from __future__ import annotations

import json
from typing import Any

from effdl_kit._core.errors import DataError

__all__ = ["INT_LIMIT", "decode_utf8", "loads"]

#: Integers must lie in ``[-INT_LIMIT, INT_LIMIT)`` (the signed 64-bit range).
INT_LIMIT = 2**63


class _HugeInt(Exception):
    """Raised from the decoder's ``parse_int`` hook (caught in :func:`loads`)."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


def _parse_int(text: str) -> int:
    # 20 characters hold every 64-bit integer; longer text is refused before ``int()`` runs
    if len(text) > 20:
        raise _HugeInt(text)
    value = int(text)
    if not -INT_LIMIT <= value < INT_LIMIT:
        raise _HugeInt(text)
    return value


def _line_at(text: str, pos: int) -> int:
    return text.count("\n", 0, max(pos, 0)) + 1


def _deepest_line(text: str) -> int:
    """The line where the bracket nesting (outside strings) is deepest, first occurrence."""
    depth = best = 0
    line = best_line = 1
    in_str = escaped = False
    for ch in text:
        if ch == "\n":
            line += 1
        if in_str:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
            if depth > best:
                best, best_line = depth, line
        elif ch in "]}":
            depth -= 1
    return best_line


def decode_utf8(data: bytes, *, source: str, first_line: int = 1) -> str:
    """``data`` decoded as UTF-8.

    Parameters
    ----------
    data : bytes
        The bytes (a whole file, or one line of it).
    source : str
        The file, for the message.
    first_line : int
        The line number of the first line in ``data``.

    Raises
    ------
    DataError
        Not UTF-8: the message names ``source`` and the line of the first bad byte.
    """
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = first_line + data.count(b"\n", 0, exc.start)
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1)
        raise DataError(f"{source!r}: line {line} is not UTF-8 text ({exc.reason} at byte "
                        f"{col} of the line)") from None


def loads(text: str, *, source: str, line: int | None = None) -> Any:
    """Decode one JSON document strictly.

    Parameters
    ----------
    text : str
        The document (a whole file, or one line of a JSON-lines file).
    source : str
        The file, for messages.
    line : int, optional
        The line number of ``text`` in its file (one line of a JSON-lines file); default:
        ``text`` is the whole file and lines are counted in it.

    Returns
    -------
    object
        The decoded value.

    Raises
    ------
    DataError
        Naming ``source`` and the line: not JSON, nested deeper than the interpreter's
        recursion limit, or an integer outside the signed 64-bit range.
    """
    try:
        return json.loads(text, parse_int=_parse_int)
    except json.JSONDecodeError as exc:
        at = exc.lineno if line is None else line
        raise DataError(f"{source!r}: corrupt line {at}: {exc.msg} (column {exc.colno})"
                        ) from None
    except RecursionError:
        at = _deepest_line(text) if line is None else line
        raise DataError(f"{source!r}: line {at}: JSON nested too deeply to decode") from None
    except _HugeInt as exc:
        at = _line_at(text, text.find(exc.text)) if line is None else line
        digits = len(exc.text.lstrip("-"))
        raise DataError(f"{source!r}: line {at}: an integer of {digits} digits (allowed: "
                        f"integers in the signed 64-bit range)") from None
