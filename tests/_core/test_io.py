"""Atomic writes: the target is either the old or the new content, never half of one."""

from __future__ import annotations

from pathlib import Path

import pytest

from effdl_kit._core.io import atomic_path, atomic_write_text


def test_write_replaces_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "results.json"
    atomic_write_text(target, "old")
    atomic_write_text(target, "new")
    assert target.read_text() == "new"
    assert [p.name for p in target.parent.iterdir()] == ["results.json"]


def test_a_failing_writer_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "table.csv"
    target.write_text("complete,old\n")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half of the new")
        raise RuntimeError("killed mid-write")
    assert target.read_text() == "complete,old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["table.csv"]
