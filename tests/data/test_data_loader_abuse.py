"""Abused component datasets and locked builds: a clear error naming file, line and column, or a
recorded, warned result; a builder of a file another build holds stops before any work."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from effdl_kit._core.filelock import BuildLock, FileLockedError
from effdl_kit._core.jsonl import DataWarning
from effdl_kit.data import build_component_dataset, build_latency_dataset, load_component_dataset
from effdl_kit.errors import DataError
from effdl_kit.experiments.bttackler import build_trace_dataset

SHIPPED = Path(__file__).resolve().parents[2] / "data" / "components_cpu.jsonl"


def _components(tmp_path: Path, n: int = 4, **last: Any) -> tuple[Path, list[str]]:
    lines = SHIPPED.read_text(encoding="utf-8").splitlines()[: n + 1]
    if last:
        lines[-1] = json.dumps({**json.loads(lines[-1]), **last})
    path = tmp_path / "c.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, lines


@pytest.mark.parametrize(("change", "match"), [
    ({"top1": "fast"}, "target 'top1' of a 'ok' row holds str 'fast'; allowed: a finite "
     "number in \\[0, 1\\]"),
    ({"top1": -3}, "target 'top1' .* holds int -3"),
    ({"top1": 1.5}, "target 'top1' .* holds float 1.5"),
    ({"top1": float("inf")}, "target 'top1' .* holds float inf"),
    ({"top1": float("nan")}, "target 'top1' .* holds float nan"),
    ({"activation": ["relu", "gelu"]}, "column 'activation' holds list"),
    ({"optimizer": {"name": "sgd"}}, "column 'optimizer' holds dict"),
    ({"lr": "fast"}, "column 'lr' holds str 'fast'; allowed: a number"),
    ({"width": [16]}, "column 'width' holds list"),
    ({"train_loss": "low"}, "column 'train_loss' holds str"),
])
def test_bad_component_values_name_file_line_and_column(tmp_path: Path, change: dict[str, Any],
                                                        match: str) -> None:
    path, _ = _components(tmp_path, **change)
    with pytest.raises(DataError, match=f"c\\.jsonl': line 5: {match}"):
        load_component_dataset(path)


def test_a_failed_row_may_hold_nan_and_a_clean_file_has_an_empty_report(tmp_path: Path) -> None:
    path, _ = _components(tmp_path, status="failed", top1=float("nan"), error="boom")
    df = load_component_dataset(path, only_ok=False)
    assert len(df) == 4 and df.attrs["load_report"].messages() == []
    assert len(load_component_dataset(path)) == 3


def test_truncation_missing_newline_and_duplicates_are_warned_and_reported(
        tmp_path: Path) -> None:
    path, lines = _components(tmp_path, n=10)
    path.write_text("\n".join(lines) + "\n" + lines[4][: len(lines[4]) * 3 // 5])
    with pytest.warns(DataWarning, match="c\\.jsonl': line 12 is torn"):
        df = load_component_dataset(path)
    assert len(df) == 10 and df.attrs["load_report"].torn_line == 12
    path.write_text("\n".join(lines))
    with pytest.warns(DataWarning, match="line 11 lacks its final newline; the row is complete"):
        df = load_component_dataset(path)
    assert sorted(df["index"]) == sorted(json.loads(ln)["index"] for ln in lines[1:]), (
        "the newline-less last row is kept")
    path.write_text("\n".join([*lines, lines[3]]) + "\n")
    with pytest.warns(DataWarning, match="1 duplicate rows left out: line 12 .repeats line 4."):
        df = load_component_dataset(path)
    assert len(df) == 10 and "duplicate rows left out" in df.attrs["load_report"].summary()


@pytest.mark.parametrize("builder", ["components", "latency", "traces"])
def test_every_builder_refuses_a_file_another_build_holds(tmp_path: Path, builder: str) -> None:
    path = tmp_path / "d.jsonl"
    lock = BuildLock(path)
    lock.acquire()
    try:
        with pytest.raises(FileLockedError, match=f"pid {os.getpid()} on host"):
            if builder == "components":
                build_component_dataset(n=1, scale="smoke", path=path, progress=False)
            elif builder == "latency":
                build_latency_dataset(["relu"], n=1, path=path, progress=False)
            else:
                build_trace_dataset(path=path, scale="smoke", progress=False)
        assert not path.exists(), "nothing was written before the lock was checked"
    finally:
        lock.release()
