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


def test_only_a_regular_file_or_a_new_path_is_written_over(tmp_path: Path) -> None:
    """A directory or a FIFO at the path is refused before anything is written (a rename would
    replace it); a symlink's target is written and the link stays a link."""
    import os

    from effdl_kit._core.errors import ConfigError
    from effdl_kit._core.io import writable_target

    folder = tmp_path / "dir"
    folder.mkdir()
    with pytest.raises(ConfigError, match="path.*a directory"):
        atomic_write_text(folder, "x")
    assert folder.is_dir()
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match="a FIFO"):
        atomic_write_text(fifo, "x")
    assert fifo.is_fifo() and sorted(p.name for p in tmp_path.iterdir()) == ["dir", "fifo"]
    target = tmp_path / "real.json"
    target.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    assert writable_target(link) == target.resolve()
    atomic_write_text(link, "new")
    assert link.is_symlink() and target.read_text() == "new"
    # a link to a directory is refused like the directory
    (tmp_path / "dirlink").symlink_to(folder)
    with pytest.raises(ConfigError, match="a directory"):
        atomic_write_text(tmp_path / "dirlink", "x")
    # a file where the folder should be: a clear error, not an OSError
    with pytest.raises(ConfigError, match="folder can be written"):
        atomic_write_text(target / "sub.json", "x")


def test_a_dataset_at_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    import os

    from effdl_kit._core.errors import ConfigError
    from effdl_kit._core.jsonl import JsonlDataset

    fifo = tmp_path / "rows.jsonl"
    os.mkfifo(fifo)
    ds = JsonlDataset(fifo, fmt="x/1", kind="test dataset", statuses=("ok",))
    with pytest.raises(ConfigError, match="a FIFO"):
        ds.resume({"a": 1})
    assert fifo.is_fifo()


def test_the_file_mode_is_kept_or_the_usual_default(tmp_path: Path) -> None:
    import os
    import stat

    kept = tmp_path / "kept.md"
    kept.write_text("old")
    kept.chmod(0o640)
    atomic_write_text(kept, "new")
    assert stat.S_IMODE(kept.stat().st_mode) == 0o640
    atomic_write_text(tmp_path / "new.md", "x")
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE((tmp_path / "new.md").stat().st_mode) == 0o666 & ~umask
