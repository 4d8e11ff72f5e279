"""Export figures as PDF / SVG / PNG with their provenance embedded in the file metadata.

Every file says where it came from: the kit's version and git revision, the seed and scale
of the experiment, when it was written, plus whatever the caller adds (the run's config, the
notebook's name). The record is one JSON object:

* PDF: the ``Subject`` entry of the document information dictionary (``Keywords`` says
  ``effdl-kit provenance``);
* PNG: a ``tEXt`` chunk with keyword ``effdl-provenance``;
* SVG: the Dublin Core ``dc:description`` element of the ``<metadata>`` block.

:func:`read_provenance` reads it back from any of the three.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from effdl_kit._core.env import git_revision, kit_version
from effdl_kit._core.errors import ConfigError, DataError
from effdl_kit._core.io import atomic_path
from effdl_kit._core.validate import check_choice, check_int, check_scale

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "FIGURE_FORMATS",
    "PNG_PROVENANCE_KEY",
    "provenance_record",
    "read_pdf_info",
    "read_provenance",
    "save_figure",
]

#: File formats :func:`save_figure` writes and :func:`read_provenance` reads.
FIGURE_FORMATS = ("pdf", "svg", "png")
#: Keyword of the PNG text chunk holding the provenance JSON.
PNG_PROVENANCE_KEY = "effdl-provenance"
_PDF_KEYWORDS = "effdl-kit provenance"


def _jsonable(value: Any, field: str) -> Any:
    """Convert ``value`` to plain JSON types or raise ``ConfigError`` naming ``field``."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        v = float(value)
        return v if math.isfinite(v) else str(v)  # JSON has no NaN/Inf
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v, f"{field}.{k}") for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset | np.ndarray):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else list(value)
        return [_jsonable(v, f"{field}[{i}]") for i, v in enumerate(items)]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        to_dict = getattr(value, "to_dict", None)
        d = to_dict() if callable(to_dict) else dataclasses.asdict(value)
        return _jsonable(d, field)
    raise ConfigError(field, value, "JSON-serialisable values (str, numbers, bools, None, "
                                    "lists, dicts, paths, dataclasses)")


def provenance_record(
    provenance: Mapping[str, Any] | None = None,
    *,
    seed: int | None = None,
    scale: str | None = None,
) -> dict[str, Any]:
    """The provenance dict :func:`save_figure` embeds.

    Parameters
    ----------
    provenance : mapping, optional
        Caller's entries (JSON-serialisable); added after the standard keys and
        overriding them on a clash.
    seed : int, optional
        Seed of the experiment (>= 0).
    scale : {"smoke", "small", "paper"}, optional
        Scale of the experiment.

    Returns
    -------
    dict
        ``effdl_kit_version``, ``git_revision``, ``seed``, ``scale``, ``timestamp`` (UTC,
        ISO 8601) and the caller's entries.

    Raises
    ------
    ConfigError
        Bad ``seed`` / ``scale``, or a value that cannot be written as JSON.
    """
    if seed is not None:
        check_int("seed", seed, min_value=0)
    if scale is not None:
        check_scale(scale)
    if provenance is not None and not isinstance(provenance, Mapping):
        raise ConfigError("provenance", provenance, "a mapping of JSON-serialisable values")
    extra = _jsonable(dict(provenance or {}), "provenance")
    record: dict[str, Any] = {
        "effdl_kit_version": kit_version(),
        "git_revision": git_revision(),
        "seed": None if seed is None else int(seed),
        "scale": scale,
        "timestamp": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }
    record.update(extra)
    return record


def _check_formats(formats: Sequence[str] | str, field: str, allowed: tuple[str, ...]
                   ) -> tuple[str, ...]:
    if isinstance(formats, str):
        formats = (formats,)
    try:
        fmts = tuple(formats)
    except TypeError:
        raise ConfigError(field, formats, f"a non-empty subset of {allowed}") from None
    if not fmts:
        raise ConfigError(field, fmts, f"a non-empty subset of {allowed}")
    for f in fmts:
        check_choice(field, f, allowed)
    return tuple(dict.fromkeys(fmts))  # drop duplicates, keep order


def _stem(path_stem: str | Path, field: str, known: tuple[str, ...]) -> Path:
    if not isinstance(path_stem, str | Path) or not str(path_stem).strip():
        raise ConfigError(field, path_stem, "a non-empty path without extension")
    p = Path(path_stem)
    if p.suffix.lstrip(".").lower() in known:  # "fig.pdf" -> "fig"
        p = p.with_suffix("")
    return p


def save_figure(
    fig: Figure,
    path_stem: str | Path,
    formats: Sequence[str] = FIGURE_FORMATS,
    *,
    provenance: Mapping[str, Any] | None = None,
    seed: int | None = None,
    scale: str | None = None,
    dpi: float = 300,
) -> list[Path]:
    """Write ``fig`` in each format with its provenance embedded; create parent directories.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure to write.
    path_stem : str or Path
        Output path without extension (``results/tour/curves`` writes ``curves.pdf`` ...);
        a trailing ``.pdf`` / ``.svg`` / ``.png`` is dropped.
    formats : sequence of {"pdf", "svg", "png"}
        File formats, written in this order.
    provenance : mapping, optional
        Extra JSON-serialisable entries (config, notebook name, ...).
    seed : int, optional
        Seed of the experiment the figure shows.
    scale : {"smoke", "small", "paper"}, optional
        Scale of that experiment.
    dpi : float
        Resolution of the PNG (vector formats ignore it).

    Returns
    -------
    list of Path
        The written files, in ``formats`` order.

    Raises
    ------
    ConfigError
        A bad argument; raised before anything is written.
    """
    from matplotlib.figure import Figure

    if not isinstance(fig, Figure):
        raise ConfigError("fig", type(fig).__name__, "a matplotlib.figure.Figure")
    fmts = _check_formats(formats, "formats", FIGURE_FORMATS)
    stem = _stem(path_stem, "path_stem", FIGURE_FORMATS)
    if isinstance(dpi, bool) or not isinstance(dpi, int | float) or not (
        math.isfinite(dpi) and dpi > 0
    ):
        raise ConfigError("dpi", dpi, "a finite number > 0")
    record = provenance_record(provenance, seed=seed, scale=scale)
    blob = json.dumps(record, ensure_ascii=True, sort_keys=True)
    title = stem.name
    creator = f"effdl-kit {record['effdl_kit_version']}"
    stem.parent.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for fmt in fmts:
        path = stem.with_name(f"{stem.name}.{fmt}")
        if fmt == "pdf":
            meta: dict[str, Any] = {"Title": title, "Subject": blob,
                                    "Keywords": _PDF_KEYWORDS, "Creator": creator}
        elif fmt == "svg":
            meta = {"Title": title, "Description": blob, "Creator": creator}
        else:
            meta = {"Title": title, "Software": creator, PNG_PROVENANCE_KEY: blob}
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=fmt, metadata=meta, dpi=dpi, bbox_inches="tight")
        written.append(path)
    return written


# --- reading back ------------------------------------------------------------------------

_PDF_DELIMS = b"()<>[]{}/%"
_PDF_WS = b" \t\r\n\f\x00"
_ESCAPES = {ord("n"): 10, ord("r"): 13, ord("t"): 9, ord("b"): 8, ord("f"): 12}


def _pdf_literal(data: bytes, i: int) -> tuple[bytes, int]:
    """Parse a PDF literal string starting at ``data[i] == b"("``; return (bytes, next i)."""
    i += 1
    depth = 1
    out = bytearray()
    n = len(data)
    while i < n:
        c = data[i]
        if c == 0x5C:  # backslash escape
            i += 1
            if i >= n:
                break
            e = data[i]
            if e in _ESCAPES:
                out.append(_ESCAPES[e])
                i += 1
            elif e in b"()\\":
                out.append(e)
                i += 1
            elif 0x30 <= e <= 0x37:  # up to three octal digits
                j = i
                while j < n and j < i + 3 and 0x30 <= data[j] <= 0x37:
                    j += 1
                out.append(int(data[i:j], 8) & 0xFF)
                i = j
            elif e == 0x0D:  # backslash + end of line: continuation
                i += 2 if data[i + 1: i + 2] == b"\n" else 1
            elif e == 0x0A:
                i += 1
            else:  # unknown escape: the backslash is ignored
                out.append(e)
                i += 1
        elif c == 0x28:  # "("
            depth += 1
            out.append(c)
            i += 1
        elif c == 0x29:  # ")"
            depth -= 1
            if depth == 0:
                return bytes(out), i + 1
            out.append(c)
            i += 1
        elif c == 0x0D:  # an unescaped end of line reads as "\n"
            out.append(0x0A)
            i += 2 if data[i + 1: i + 2] == b"\n" else 1
        else:
            out.append(c)
            i += 1
    raise DataError("unterminated string in the PDF information dictionary")


def _pdf_text(raw: bytes) -> str:
    """Decode a PDF text string (UTF-16BE with BOM, UTF-8 with BOM, else PDFDocEncoding)."""
    if raw.startswith(b"\xfe\xff"):
        return raw[2:].decode("utf-16-be")
    if raw.startswith(b"\xef\xbb\xbf"):
        return raw[3:].decode("utf-8")
    return raw.decode("latin-1")


def _skip_ws(data: bytes, i: int) -> int:
    while i < len(data) and data[i] in _PDF_WS:
        i += 1
    return i


def _pdf_token(data: bytes, i: int) -> tuple[bytes, int]:
    j = i
    while j < len(data) and data[j] not in _PDF_WS and data[j] not in _PDF_DELIMS:
        j += 1
    return data[i:j], j


def _pdf_skip_balanced(data: bytes, i: int, open_: bytes, close: bytes) -> int:
    depth = 0
    while i < len(data):
        if data[i: i + 1] == b"(":
            _, i = _pdf_literal(data, i)
            continue
        if data.startswith(open_, i):
            depth += 1
            i += len(open_)
        elif data.startswith(close, i):
            depth -= 1
            i += len(close)
            if depth == 0:
                return i
        else:
            i += 1
    raise DataError("unbalanced brackets in the PDF information dictionary")


def _pdf_dict(data: bytes, i: int) -> dict[str, str]:
    """Parse a flat PDF dictionary at ``data[i:]`` (``<< /Key value ... >>``)."""
    i = _skip_ws(data, i)
    if not data.startswith(b"<<", i):
        raise DataError("the PDF information dictionary is not a dictionary")
    i += 2
    out: dict[str, str] = {}
    while True:
        i = _skip_ws(data, i)
        if i >= len(data):
            raise DataError("unterminated PDF information dictionary")
        if data.startswith(b">>", i):
            return out
        if data[i: i + 1] != b"/":
            raise DataError(f"unexpected byte {data[i: i + 1]!r} in the PDF information dict")
        key, i = _pdf_token(data, i + 1)
        i = _skip_ws(data, i)
        if data[i: i + 1] == b"(":
            raw, i = _pdf_literal(data, i)
            out[key.decode("latin-1")] = _pdf_text(raw)
        elif data.startswith(b"<<", i):
            i = _pdf_skip_balanced(data, i, b"<<", b">>")
        elif data[i: i + 1] == b"<":
            j = data.index(b">", i)
            hexstr = re.sub(rb"\s", b"", data[i + 1: j])
            if len(hexstr) % 2:
                hexstr += b"0"
            out[key.decode("latin-1")] = _pdf_text(bytes.fromhex(hexstr.decode("ascii")))
            i = j + 1
        elif data[i: i + 1] == b"[":
            i = _pdf_skip_balanced(data, i, b"[", b"]")
        elif data[i: i + 1] == b"/":
            tok, i = _pdf_token(data, i + 1)
            out[key.decode("latin-1")] = "/" + tok.decode("latin-1")
        else:  # number, boolean, null or an indirect reference "n g R"
            m = re.compile(rb"\d+\s+\d+\s+R\b").match(data, i)
            if m:
                out[key.decode("latin-1")] = m.group(0).decode("ascii")
                i = m.end()
            else:
                tok, i = _pdf_token(data, i)
                if not tok:
                    raise DataError("malformed PDF information dictionary")
                out[key.decode("latin-1")] = tok.decode("latin-1")


def read_pdf_info(path: str | Path) -> dict[str, str]:
    """The document information dictionary of a PDF (as written uncompressed by matplotlib).

    Parameters
    ----------
    path : str or Path
        A PDF file.

    Returns
    -------
    dict of str to str
        Entries such as ``Title``, ``Subject``, ``Keywords``, ``Creator``, ``Producer``;
        string values decoded, other values as their PDF source text.
    """
    data = Path(path).read_bytes()
    refs = list(re.finditer(rb"/Info\s+(\d+)\s+(\d+)\s+R", data))
    if not refs:
        raise DataError(f"{str(path)!r} has no document information dictionary")
    num, gen = refs[-1].group(1), refs[-1].group(2)  # last trailer wins (incremental saves)
    objs = list(re.finditer(rb"(?<![0-9])" + num + rb"\s+" + gen + rb"\s+obj\b", data))
    if not objs:
        raise DataError(f"{str(path)!r}: information dictionary object {num.decode()} missing")
    return _pdf_dict(data, objs[-1].end())


def _read_svg_description(path: Path) -> str | None:
    import xml.etree.ElementTree as ET

    dc = "{http://purl.org/dc/elements/1.1/}description"
    for el in ET.parse(path).getroot().iter(dc):
        if el.text:
            return el.text
    return None


def read_provenance(path: str | Path) -> dict[str, Any]:
    """Read the provenance record :func:`save_figure` embedded in a PDF, SVG or PNG file.

    Parameters
    ----------
    path : str or Path
        A ``.pdf``, ``.svg`` or ``.png`` file.

    Returns
    -------
    dict
        The record (``effdl_kit_version``, ``git_revision``, ``seed``, ``scale``,
        ``timestamp`` and the caller's entries).

    Raises
    ------
    ConfigError
        The extension is not one of ``FIGURE_FORMATS``.
    FileNotFoundError
        No such file.
    DataError
        The file carries no effdl-kit provenance.
    """
    p = Path(path)
    fmt = p.suffix.lstrip(".").lower()
    check_choice("format", fmt, FIGURE_FORMATS)
    if not p.is_file():
        raise FileNotFoundError(f"no such file: {str(p)!r}")
    blob: str | None
    if fmt == "pdf":
        info = read_pdf_info(p)
        blob = info.get("Subject") if info.get("Keywords") == _PDF_KEYWORDS else None
    elif fmt == "png":
        from PIL import Image

        with Image.open(p) as im:
            text = dict(getattr(im, "text", {}) or {})
        blob = text.get(PNG_PROVENANCE_KEY)
    else:
        blob = _read_svg_description(p)
    if not blob:
        raise DataError(f"{str(p)!r} carries no effdl-kit provenance")
    try:
        record = json.loads(blob)
    except json.JSONDecodeError as exc:
        raise DataError(f"{str(p)!r}: provenance is not valid JSON ({exc})") from None
    if not isinstance(record, dict) or "effdl_kit_version" not in record:
        raise DataError(f"{str(p)!r} carries no effdl-kit provenance")
    return record
