"""README tables copied from committed result files, checked and synced.

A README block between two marker lines is a copy of a committed Markdown result file::

    <!-- results: docs/results/medn_splits.md#1 -->
    | split | model | ... |
    |:--|:--|...|
    ...
    <!-- /results -->

Convention:

- The opening marker names a path relative to ``root`` (the repository root), a file ending in
  ``.md`` inside ``root``, optionally followed by ``#N``.
- ``FILE.md#N`` means the N-th pipe table of the file (1-based; a pipe table is a maximal run
  of consecutive lines that start with ``|``); the block holds exactly those lines.
- ``FILE.md`` without ``#N`` means the whole file, with its trailing newlines dropped.
- The lines strictly between the two markers must equal the named lines character for
  character: a number in a block that its file does not hold is a difference.

:func:`check_readme` lists the differences (a missing or unreadable file, a table number the
file lacks, a block that differs: its first differing line); :func:`sync_readme` rewrites the
blocks from their files (an atomic replace of the README; never over a link or a path that is
not a regular file). ``effdl figures --readme`` and ``make results`` run the sync.

Examples
--------
>>> text = "intro\\n<!-- results: t.md#1 -->\\n| a |\\n<!-- /results -->\\n"
>>> [(b.ref, b.lines) for b in find_blocks(text)]
[('t.md#1', ('| a |',))]
>>> pipe_tables("# t\\n| a |\\n|---|\\n\\ntext\\n| b |\\n")
[('| a |', '|---|'), ('| b |',)]
"""

from __future__ import annotations

import os
import re
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "CLOSE_MARKER",
    "Problem",
    "ReadmeSyncError",
    "ResultsBlock",
    "check_readme",
    "find_blocks",
    "pipe_tables",
    "sync_readme",
]

#: The line that closes a results block.
CLOSE_MARKER = "<!-- /results -->"
_OPEN = re.compile(r"^<!-- results: (?P<ref>\S+) -->$")
_REF = re.compile(r"^(?P<path>[^#]+\.md)(?:#(?P<table>[1-9][0-9]*))?$")


@dataclass(frozen=True)
class Problem:
    """One way a README differs from its result files.

    Attributes
    ----------
    line : int
        1-based README line the problem is at (the opening marker, or the first differing
        line of the block).
    ref : str
        The reference named by the block's marker (empty for a stray closing marker).
    message : str
        What is wrong, in words.
    """

    line: int
    ref: str
    message: str

    def __str__(self) -> str:
        """``README line N (ref): message``."""
        return f"README line {self.line} ({self.ref}): {self.message}"


@dataclass(frozen=True)
class ResultsBlock:
    """A marked block of a README.

    Attributes
    ----------
    ref : str
        The reference of the opening marker (``docs/results/x.md`` or ``docs/results/x.md#N``).
    start : int
        0-based index of the opening marker line.
    end : int
        0-based index of the closing marker line.
    lines : tuple of str
        The lines strictly between the markers.
    """

    ref: str
    start: int
    end: int
    lines: tuple[str, ...]


class ReadmeSyncError(ValueError):
    """A README whose blocks cannot be synced (bad markers, missing files); nothing written.

    Parameters
    ----------
    problems : list of Problem
        What prevents the sync.
    """

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


def _split(text: str) -> list[str]:
    return text.split("\n")


def pipe_tables(text: str) -> list[tuple[str, ...]]:
    """The pipe tables of a Markdown text, in order.

    Parameters
    ----------
    text : str
        Markdown.

    Returns
    -------
    list of tuple of str
        Each maximal run of consecutive lines starting with ``|``.
    """
    tables: list[tuple[str, ...]] = []
    run: list[str] = []
    for line in [*_split(text), ""]:
        if line.startswith("|"):
            run.append(line)
        elif run:
            tables.append(tuple(run))
            run = []
    return tables


def _scan(lines: list[str]) -> tuple[list[ResultsBlock], list[Problem]]:
    blocks: list[ResultsBlock] = []
    problems: list[Problem] = []
    open_at: int | None = None
    ref = ""
    for i, line in enumerate(lines):
        m = _OPEN.match(line)
        if m:
            if open_at is not None:
                problems.append(Problem(open_at + 1, ref, "block not closed before the next"))
            open_at, ref = i, m.group("ref")
        elif line == CLOSE_MARKER:
            if open_at is None:
                problems.append(Problem(i + 1, "", "closing marker without an opening one"))
            else:
                blocks.append(ResultsBlock(ref, open_at, i, tuple(lines[open_at + 1:i])))
                open_at = None
    if open_at is not None:
        problems.append(Problem(open_at + 1, ref, "block not closed"))
    return blocks, problems


def find_blocks(text: str) -> list[ResultsBlock]:
    """The well-formed results blocks of a README text.

    Parameters
    ----------
    text : str
        The README.

    Returns
    -------
    list of ResultsBlock
        In order; unbalanced markers are left out (:func:`check_readme` reports them).
    """
    return _scan(_split(text))[0]


def _expected(ref: str, root: Path) -> tuple[str, ...]:
    """The lines ``ref`` names under ``root``; ``ValueError`` says why there are none."""
    m = _REF.match(ref)
    if m is None:
        raise ValueError("reference is not FILE.md or FILE.md#N")
    rel = Path(m.group("path"))
    if rel.is_absolute():
        raise ValueError("reference must be relative to the repository root")
    base = root.resolve()
    path = (base / rel).resolve()
    if not path.is_relative_to(base):
        raise ValueError(f"{rel} lies outside {base}")
    if not path.is_file():
        raise ValueError(f"result file {rel} is missing")
    text = path.read_text(encoding="utf-8")
    if m.group("table") is None:
        return tuple(_split(text.rstrip("\n")))
    n = int(m.group("table"))
    tables = pipe_tables(text)
    if n > len(tables):
        raise ValueError(f"{rel} has {len(tables)} pipe tables, not {n}")
    return tables[n - 1]


def _difference(block: ResultsBlock, want: tuple[str, ...]) -> Problem | None:
    have = block.lines
    for k, (h, w) in enumerate(zip(have, want, strict=False)):
        if h != w:
            return Problem(block.start + 2 + k, block.ref,
                           f"differs from the file:\n  README: {h}\n  file:   {w}")
    if len(have) == len(want):
        return None
    k = min(len(have), len(want))
    extra = (f"README has an extra line: {have[k]}" if len(have) > len(want)
             else f"README lacks the file's line: {want[k]}")
    return Problem(block.start + 2 + k, block.ref, extra)


def _problems(lines: list[str], root: Path) -> tuple[list[ResultsBlock], list[Problem],
                                                    dict[int, tuple[str, ...]]]:
    blocks, problems = _scan(lines)
    wanted: dict[int, tuple[str, ...]] = {}
    for b in blocks:
        try:
            wanted[b.start] = _expected(b.ref, root)
        except (ValueError, OSError) as e:
            problems.append(Problem(b.start + 1, b.ref, str(e)))
    return blocks, problems, wanted


def check_readme(readme_path: str | Path, root: str | Path) -> list[Problem]:
    """Every difference between a README's results blocks and the files they name.

    Parameters
    ----------
    readme_path : str or Path
        The README.
    root : str or Path
        The directory the markers' paths are relative to (the repository root).

    Returns
    -------
    list of Problem
        Sorted by README line; empty when every block equals its file.
    """
    lines = _split(Path(readme_path).read_text(encoding="utf-8"))
    blocks, problems, wanted = _problems(lines, Path(root))
    for b in blocks:
        if b.start in wanted:
            diff = _difference(b, wanted[b.start])
            if diff is not None:
                problems.append(diff)
    return sorted(problems, key=lambda p: p.line)


def _atomic_write(path: Path, text: str) -> None:
    mode = stat.S_IMODE(path.stat().st_mode)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def sync_readme(readme_path: str | Path, root: str | Path) -> bool:
    """Rewrite a README's results blocks from the files they name.

    Parameters
    ----------
    readme_path : str or Path
        The README; must be a regular file (not a link).
    root : str or Path
        The directory the markers' paths are relative to (the repository root).

    Returns
    -------
    bool
        Whether the README changed (it is written only then, atomically).

    Raises
    ------
    ReadmeSyncError
        When a marker is unbalanced or a named file or table is missing; nothing is written.
    ValueError
        When ``readme_path`` is a link or not a regular file.
    """
    path = Path(readme_path)
    if path.is_symlink() or not path.is_file():
        raise ValueError(f"{path} is not a regular file; not writing over it")
    text = path.read_text(encoding="utf-8")
    lines = _split(text)
    blocks, problems, wanted = _problems(lines, Path(root))
    if problems:
        raise ReadmeSyncError(sorted(problems, key=lambda p: p.line))
    out: list[str] = []
    at = 0
    for b in blocks:
        out += lines[at:b.start + 1]
        out += wanted[b.start]
        at = b.end
    out += lines[at:]
    new = "\n".join(out)
    if new == text:
        return False
    _atomic_write(path, new)
    return True
