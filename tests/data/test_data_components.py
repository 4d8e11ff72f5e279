"""The component-dataset builder: validation first, resumable, parallel, failures recorded."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from effdl_kit._core.filelock import BuildLock, FileLockedError
from effdl_kit.data import (
    COMPONENT_GROUPS,
    ComponentSpace,
    build_component_dataset,
    default_component_space,
    load_component_dataset,
    sample_components,
)
from effdl_kit.data._components import revalidate_component_rows
from effdl_kit.errors import ConfigError, DataError, DataWarning

ROOT = Path(__file__).resolve().parents[2]
TINY = ComponentSpace({
    "optimizer": ["sgd", "adam"], "lr": [1e-3, 1e-2], "activation": ["relu", "tanh"],
    "dataset": ["digits"], "epochs": [1], "n_train": [64], "depth": [1], "precision": ["fp32"],
})


def test_default_space_covers_the_four_groups() -> None:
    space = default_component_space()
    assert space.n_components >= 16
    groups = space.groups()
    assert set(groups) == {"model", "training", "data", "hardware"}
    assert all(groups[g] for g in groups)
    assert len(space.values["dataset"]) >= 2
    assert set(space.values) <= {c for cs in COMPONENT_GROUPS.values() for c in cs}


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"optimizer": ["sgd", "nope"]}, "space.optimizer"),
        ({"lr": [1e-3, -1.0]}, "space.lr"),
        ({"batch_size": [0]}, "space.batch_size"),
        ({"activation": ["swish"]}, "space.activation"),
        ({"colour": ["red"]}, "space"),
        ({"lr": []}, "space.lr"),
        ({"lr": "0.1"}, "space.lr"),
    ],
)
def test_bad_space_is_refused_before_training(values: dict, field: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        ComponentSpace(values)
    assert info.value.field == field
    assert not list(tmp_path.iterdir())


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="'n'"):
        build_component_dataset(TINY, n=0, scale="smoke", path=tmp_path / "d.jsonl")
    with pytest.raises(ConfigError, match="'scale'"):
        build_component_dataset(TINY, n=2, scale="huge", path=tmp_path / "d.jsonl")
    with pytest.raises(ConfigError, match="'space'"):
        build_component_dataset({"lr": [0.1]}, n=2, scale="smoke",  # type: ignore[arg-type]
                                path=tmp_path / "d.jsonl")
    assert not (tmp_path / "d.jsonl").exists()


def test_rows_depend_only_on_seed_and_index() -> None:
    assert sample_components(TINY, 3, 7) == sample_components(TINY, 3, 7)
    draws = {json.dumps(sample_components(TINY, 3, i), sort_keys=True) for i in range(20)}
    assert len(draws) > 1


def test_build_resume_and_executor(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    with ThreadPoolExecutor(1) as ex:  # any Executor works
        first = build_component_dataset(TINY, n=3, scale="smoke", seed=1, path=path,
                                        executor=ex, progress=False)
    assert first["index"].tolist() == [0, 1, 2]
    assert (first["status"] == "ok").all() and first["top1"].between(0, 1).all()
    lines_before = path.read_text().splitlines()
    with ThreadPoolExecutor(1) as ex:
        more = build_component_dataset(TINY, n=5, scale="smoke", seed=1, path=path,
                                       executor=ex, progress=False)
    assert more["index"].tolist() == [0, 1, 2, 3, 4]
    lines_after = path.read_text().splitlines()
    assert lines_after[: len(lines_before)] == lines_before  # nothing redone or rewritten
    side = json.loads((tmp_path / "d.provenance.json").read_text())
    assert side["rows"] == 5 and side["seed"] == 1 and side["scale"] == "smoke"
    assert side["machine"]["cores_logical"] >= 1 and len(side["runs"]) == 2
    with pytest.raises(ConfigError, match="'path'"):
        build_component_dataset(TINY, n=5, scale="smoke", seed=2, path=path, progress=False)


def test_torn_last_line_is_dropped_and_redone(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    with ThreadPoolExecutor(1) as ex:
        build_component_dataset(TINY, n=2, scale="smoke", path=path, executor=ex,
                                progress=False)
    with path.open("a") as fh:
        fh.write('{"index": 2, "status": "ok", "top1": 0.')  # killed mid-write
    assert load_component_dataset(path)["index"].tolist() == [0, 1]
    with ThreadPoolExecutor(1) as ex:
        df = build_component_dataset(TINY, n=3, scale="smoke", path=path, executor=ex,
                                     progress=False)
    assert df["index"].tolist() == [0, 1, 2]
    assert all(line.endswith("}") for line in path.read_text().splitlines())
    runs = json.loads((tmp_path / "d.provenance.json").read_text())["runs"]
    torn = len('{"index": 2, "status": "ok", "top1": 0.')
    assert [r["torn_bytes_dropped"] for r in runs] == [0, torn], "the cut is reported"


def test_failed_rows_are_recorded_and_the_build_goes_on(tmp_path: Path) -> None:
    # CIFAR without a local copy passes validation but cannot train: a failed row
    space = ComponentSpace({"dataset": ["digits", "cifar10"], "epochs": [1], "n_train": [64],
                            "depth": [1]})
    with ThreadPoolExecutor(1) as ex:
        df = build_component_dataset(space, n=8, scale="smoke", path=tmp_path / "d.jsonl",
                                     executor=ex, progress=False)
    assert len(df) == 8
    failed = df[df["status"] == "failed"]
    assert len(failed) and (failed["dataset"] == "cifar10").all()
    assert failed["error"].str.contains("DatasetNotFoundError").all()
    assert (df.loc[df["dataset"] == "digits", "status"] == "ok").all()
    assert len(load_component_dataset(tmp_path / "d.jsonl")) == len(df) - len(failed)


def test_a_diverged_training_is_a_failed_row_with_its_reason(tmp_path: Path) -> None:
    # SGD at lr 100 in batches of 8: the CNN's training loss is NaN in its first epoch
    space = ComponentSpace({"optimizer": ["sgd"], "lr": [100.0], "batch_size": [8],
                            "dataset": ["digits"], "threads": [1]})
    path = tmp_path / "d.jsonl"
    with ThreadPoolExecutor(1) as ex:
        df = build_component_dataset(space, n=1, scale="smoke", path=path, executor=ex,
                                     progress=False)
    row = load_component_dataset(path, only_ok=False).iloc[0]
    assert row["status"] == "failed" and row["error"].startswith("non-finite loss")
    assert "epoch 0" in row["error"] and row["epochs_run"] == 1  # measured values kept
    assert len(load_component_dataset(path)) == 0 and len(df) == 1
    side = json.loads((tmp_path / "d.provenance.json").read_text())
    assert (side["rows_ok"], side["rows_failed"]) == (0, 1)


def _nan_rows(tmp_path: Path) -> Path:
    """The shipped header and rows 0..5, row 2 an "ok" row with a NaN loss (as shipped)."""
    lines = (ROOT / "data" / "components_cpu.jsonl").read_text(encoding="utf-8").splitlines()
    rows = [{**json.loads(line), "index": i} for i, line in enumerate(lines[1:7])]
    rows[2].update(status="ok", error=None, train_loss=float("nan"), top1=0.1)
    rows[4].update(status="failed", error="RuntimeError: boom", top1=float("nan"))
    path = tmp_path / "c.jsonl"
    path.write_text("\n".join([lines[0], *map(json.dumps, rows)]) + "\n", encoding="utf-8")
    (tmp_path / "c.provenance.json").write_text(json.dumps(
        {"rows": 6, "rows_ok": 5, "rows_failed": 1, "runs": [{"command": "build"}]}))
    return path


def test_revalidate_marks_nonfinite_ok_rows_failed(tmp_path: Path) -> None:
    path = _nan_rows(tmp_path)
    before = path.read_text(encoding="utf-8").splitlines()
    assert len(load_component_dataset(path)) == 5
    assert revalidate_component_rows(path) == [2]
    after = path.read_text(encoding="utf-8").splitlines()
    changed = [i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b]
    assert changed == [3]  # only the NaN row's line (header is line 0)
    row = json.loads(after[3])
    assert row["status"] == "failed" and row["error"] == "non-finite loss: last training loss nan"
    assert row["top1"] == 0.1  # measured values kept
    assert json.loads(after[5])["error"] == "RuntimeError: boom"  # a failed row left alone
    assert load_component_dataset(path)["index"].tolist() == [0, 1, 3, 5]
    side = json.loads((tmp_path / "c.provenance.json").read_text())
    assert (side["rows"], side["rows_ok"], side["rows_failed"]) == (6, 4, 2)
    assert side["runs"][-1]["revalidated"] == [2] and len(side["runs"]) == 2
    assert revalidate_component_rows(path) == []  # idempotent: nothing left to mark
    assert path.read_text(encoding="utf-8").splitlines() == after


def test_revalidate_keeps_a_last_row_without_its_newline(tmp_path: Path) -> None:
    path = _nan_rows(tmp_path)
    path.write_text(path.read_text(encoding="utf-8").rstrip("\n"), encoding="utf-8")
    n_lines = len(path.read_text(encoding="utf-8").splitlines())
    with pytest.warns(DataWarning):
        assert revalidate_component_rows(path) == [2]
    assert len(path.read_text(encoding="utf-8").splitlines()) == n_lines
    assert path.read_text(encoding="utf-8").endswith("\n")


def test_revalidate_refuses_a_torn_file(tmp_path: Path) -> None:
    path = _nan_rows(tmp_path)
    with path.open("a") as fh:
        fh.write('{"index": 9, "status": "ok", "top1": 0.')
    with pytest.raises(DataError, match="torn"):
        revalidate_component_rows(path)
    with pytest.raises(DataError, match="no component dataset"):
        revalidate_component_rows(tmp_path / "missing.jsonl")


def test_revalidate_waits_for_no_build(tmp_path: Path) -> None:
    path = _nan_rows(tmp_path)
    before = path.read_bytes()
    build = BuildLock(path)  # a build is writing the file
    build.acquire()
    try:
        with pytest.raises(FileLockedError):
            revalidate_component_rows(path)
        assert path.read_bytes() == before
    finally:
        build.release()
    assert revalidate_component_rows(path) == [2]


def test_sigkill_mid_build_loses_and_repeats_nothing(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    script = tmp_path / "build.py"
    script.write_text(textwrap.dedent(f"""
        from concurrent.futures import ThreadPoolExecutor
        from effdl_kit.data import ComponentSpace, build_component_dataset
        space = ComponentSpace({TINY.to_dict()!r})
        with ThreadPoolExecutor(1) as ex:
            build_component_dataset(space, n=12, scale="smoke", seed=5, path={str(path)!r},
                                    executor=ex, progress=False)
    """))
    proc = subprocess.Popen([sys.executable, str(script)], start_new_session=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            if path.exists() and len(path.read_text().splitlines()) >= 4:  # header + 3 rows
                break
            time.sleep(0.05)
        else:
            pytest.fail("the build never wrote rows")
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    before = load_component_dataset(path)
    assert 3 <= len(before) < 12
    with ThreadPoolExecutor(1) as ex:
        after = build_component_dataset(TINY, n=12, scale="smoke", seed=5, path=path,
                                        executor=ex, progress=False)
    assert after["index"].tolist() == list(range(12))
    kept = after.set_index("index").loc[before["index"], "top1"]
    assert kept.tolist() == before["top1"].tolist()  # recorded rows kept as they were


def test_load_refuses_other_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no component dataset"):
        load_component_dataset(tmp_path / "none.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"format": "something else"}\n')
    with pytest.raises(DataError, match="not a component dataset"):
        load_component_dataset(bad)


def test_shipped_dataset_meets_the_spec() -> None:
    path = ROOT / "data" / "components_cpu.jsonl"
    df = load_component_dataset(path)
    assert len(df) >= 1500
    assert df["dataset"].nunique() >= 2
    assert df["top1"].between(0, 1).all()
    for col in ("train_loss", "val_top1"):  # no diverged training among the ok rows
        assert df[col].notna().all() and df[col].map(math.isfinite).all()
    everything = load_component_dataset(path, only_ok=False)
    failed = everything[everything["status"] == "failed"]
    assert failed["index"].tolist() == [154, 445]  # the two NaN trainings, marked
    assert failed["error"].str.startswith("non-finite loss").all()
    assert revalidate_component_rows.__name__ in (ROOT / "data" / "README.md").read_text()
    side = json.loads((ROOT / "data" / "components_cpu.provenance.json").read_text())
    assert side["rows_ok"] == len(df) and side["seed"] == 0 and side["scale"] == "small"
    assert side["machine"]["cpu_model"] and side["machine"]["packages"]["torch"]
    assert any("build-components" in r["command"] for r in side["runs"])
    # components really vary: every sampled component takes more than one value
    varied = [c for c, v in side["space"].items() if len(v) > 1]
    assert len(varied) >= 16 and all(df[c].nunique() > 1 for c in varied)
