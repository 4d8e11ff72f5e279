"""The README's marked results tables equal the committed ``docs/results/`` files they name.

A README table between ``<!-- results: docs/results/FILE.md#N -->`` and ``<!-- /results -->``
is a copy of the N-th table of that file (see :mod:`effdl_kit.reports._readme`); ``make
results`` (``effdl figures --readme``) rewrites the copies from the files.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from effdl_kit.reports import check_readme, find_blocks, sync_readme

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def _blocks() -> list[str]:
    return [b.ref for b in find_blocks(README.read_text(encoding="utf-8"))]


def test_the_readme_has_marked_results_blocks() -> None:
    refs = _blocks()
    assert len(refs) >= 3
    assert all(r.startswith("docs/results/") for r in refs)


def test_every_marked_block_equals_its_file() -> None:
    problems = check_readme(README, ROOT)
    assert problems == [], "\n".join(map(str, problems)) + "\n(run `make results`)"


@pytest.fixture
def readme_copy(tmp_path: Path) -> Path:
    """The README and the result files its blocks name, copied under ``tmp_path``."""
    for ref in _blocks():
        rel = ref.split("#")[0]
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / rel, tmp_path / rel)
    shutil.copyfile(README, tmp_path / "README.md")
    return tmp_path / "README.md"


def _first_digit_in_blocks(lines: list[str]) -> tuple[int, int]:
    for b in find_blocks("\n".join(lines)):
        for k, line in enumerate(b.lines[2:], start=b.start + 3):
            for col, ch in enumerate(line):
                if ch.isdigit():
                    return k, col
    raise AssertionError("no digit in any marked block")


def test_a_changed_digit_is_reported_and_sync_restores_it(readme_copy: Path) -> None:
    root = readme_copy.parent
    original = readme_copy.read_text(encoding="utf-8")
    lines = original.split("\n")
    k, col = _first_digit_in_blocks(lines)
    old = lines[k]
    lines[k] = old[:col] + str((int(old[col]) + 1) % 10) + old[col + 1:]
    readme_copy.write_text("\n".join(lines), encoding="utf-8")
    problems = check_readme(readme_copy, root)
    assert [p.line for p in problems] == [k + 1]
    assert lines[k] in problems[0].message and old in problems[0].message
    assert sync_readme(readme_copy, root) is True
    assert readme_copy.read_text(encoding="utf-8") == original
    assert check_readme(readme_copy, root) == []


def test_a_number_no_file_backs_is_reported(readme_copy: Path) -> None:
    lines = readme_copy.read_text(encoding="utf-8").split("\n")
    block = find_blocks("\n".join(lines))[0]
    lines.insert(block.end, "| extra row | 0.123 |")
    readme_copy.write_text("\n".join(lines), encoding="utf-8")
    problems = check_readme(readme_copy, readme_copy.parent)
    assert [p.line for p in problems] == [block.end + 1]
    assert "0.123" in problems[0].message


def test_a_missing_result_file_is_reported(readme_copy: Path) -> None:
    ref = _blocks()[0]
    (readme_copy.parent / ref.split("#")[0]).unlink()
    problems = check_readme(readme_copy, readme_copy.parent)
    assert any(p.ref == ref and "missing" in p.message for p in problems)
