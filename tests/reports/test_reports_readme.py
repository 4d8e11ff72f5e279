"""README results blocks: found, checked against their files, synced atomically."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from effdl_kit.reports import (
    ReadmeSyncError,
    check_readme,
    find_blocks,
    pipe_tables,
    sync_readme,
)

RESULT = """# A result

Written by `cmd --out docs/results`.

| a | b |
|---|---|
| x | 1.25 |

Table: first.

| c |
|---|
| 7 |
"""


def _repo(tmp_path: Path, readme: str) -> Path:
    (tmp_path / "docs" / "results").mkdir(parents=True)
    (tmp_path / "docs" / "results" / "r.md").write_text(RESULT, encoding="utf-8")
    (tmp_path / "README.md").write_text(readme, encoding="utf-8")
    return tmp_path / "README.md"


def _block(ref: str, body: str) -> str:
    return f"<!-- results: {ref} -->\n{body}<!-- /results -->\n"


GOOD = ("# Title\n\nprose 3.5\n\n"
        + _block("docs/results/r.md#1", "| a | b |\n|---|---|\n| x | 1.25 |\n")
        + "\nmore\n"
        + _block("docs/results/r.md#2", "| c |\n|---|\n| 7 |\n"))


def test_pipe_tables_are_maximal_runs() -> None:
    assert pipe_tables(RESULT) == [("| a | b |", "|---|---|", "| x | 1.25 |"),
                                   ("| c |", "|---|", "| 7 |")]
    assert pipe_tables("no table\n") == []


def test_find_blocks_positions() -> None:
    blocks = find_blocks(GOOD)
    assert [b.ref for b in blocks] == ["docs/results/r.md#1", "docs/results/r.md#2"]
    assert blocks[0].lines == ("| a | b |", "|---|---|", "| x | 1.25 |")
    lines = GOOD.split("\n")
    assert lines[blocks[0].start].startswith("<!-- results:")
    assert lines[blocks[0].end] == "<!-- /results -->"


def test_equal_blocks_have_no_problems(tmp_path: Path) -> None:
    readme = _repo(tmp_path, GOOD)
    assert check_readme(readme, tmp_path) == []
    assert sync_readme(readme, tmp_path) is False


def test_one_changed_digit_is_reported_with_its_line(tmp_path: Path) -> None:
    readme = _repo(tmp_path, GOOD.replace("| x | 1.25 |", "| x | 1.26 |"))
    problems = check_readme(readme, tmp_path)
    assert len(problems) == 1
    line = readme.read_text(encoding="utf-8").split("\n").index("| x | 1.26 |") + 1
    assert problems[0].line == line
    assert problems[0].ref == "docs/results/r.md#1"
    assert "1.26" in problems[0].message and "1.25" in problems[0].message


def test_a_number_no_file_backs_is_reported(tmp_path: Path) -> None:
    readme = _repo(tmp_path, GOOD.replace("| 7 |\n", "| 7 |\n| 9.9 |\n"))
    problems = check_readme(readme, tmp_path)
    assert len(problems) == 1
    assert "extra line: | 9.9 |" in problems[0].message
    readme = _repo(tmp_path / "b", GOOD.replace("| 7 |\n", ""))
    assert "lacks the file's line: | 7 |" in check_readme(readme, tmp_path / "b")[0].message


def test_whole_file_reference(tmp_path: Path) -> None:
    readme = _repo(tmp_path, _block("docs/results/r.md", "old\n"))
    assert len(check_readme(readme, tmp_path)) == 1
    assert sync_readme(readme, tmp_path) is True
    assert find_blocks(readme.read_text(encoding="utf-8"))[0].lines == tuple(
        RESULT.rstrip("\n").split("\n"))
    assert check_readme(readme, tmp_path) == []


@pytest.mark.parametrize(("ref", "words"), [
    ("docs/results/gone.md#1", "missing"),
    ("docs/results/r.md#3", "has 2 pipe tables, not 3"),
    ("docs/results/r.csv", "not FILE.md"),
    ("../outside.md", "outside"),
])
def test_unresolvable_references(tmp_path: Path, ref: str, words: str) -> None:
    (tmp_path / "outside.md").write_text("| 1 |\n", encoding="utf-8")
    readme = _repo(tmp_path / "repo", GOOD + _block(ref, "| 1 |\n"))
    before = readme.read_text(encoding="utf-8")
    problems = check_readme(readme, tmp_path / "repo")
    assert len(problems) == 1 and words in problems[0].message
    assert problems[0].line == before.split("\n").index(f"<!-- results: {ref} -->") + 1
    with pytest.raises(ReadmeSyncError, match=words.split()[0]):
        sync_readme(readme, tmp_path / "repo")
    assert readme.read_text(encoding="utf-8") == before


def test_unbalanced_markers(tmp_path: Path) -> None:
    text = "<!-- /results -->\n<!-- results: docs/results/r.md#2 -->\n| c |\n"
    readme = _repo(tmp_path, text)
    messages = [p.message for p in check_readme(readme, tmp_path)]
    assert messages == ["closing marker without an opening one", "block not closed"]
    with pytest.raises(ReadmeSyncError):
        sync_readme(readme, tmp_path)


def test_sync_restores_equality_and_keeps_the_rest(tmp_path: Path) -> None:
    bad = GOOD.replace("| x | 1.25 |", "| x | 1.26 |").replace("| 7 |\n", "")
    readme = _repo(tmp_path, bad)
    readme.chmod(0o640)
    assert len(check_readme(readme, tmp_path)) == 2
    assert sync_readme(readme, tmp_path) is True
    assert readme.read_text(encoding="utf-8") == GOOD
    assert check_readme(readme, tmp_path) == []
    assert readme.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md", "docs"]


def test_sync_never_writes_over_a_link_or_a_directory(tmp_path: Path) -> None:
    readme = _repo(tmp_path, GOOD.replace("1.25", "1.26"))
    link = tmp_path / "LINK.md"
    os.symlink(readme, link)
    with pytest.raises(ValueError, match="not a regular file"):
        sync_readme(link, tmp_path)
    assert link.is_symlink()
    assert "1.26" in readme.read_text(encoding="utf-8")
    with pytest.raises(ValueError, match="not a regular file"):
        sync_readme(tmp_path / "docs", tmp_path)
