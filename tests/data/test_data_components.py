"""The component-dataset builder: validation first, resumable, parallel, failures recorded."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from effdl_kit.data import (
    COMPONENT_GROUPS,
    ComponentSpace,
    build_component_dataset,
    default_component_space,
    load_component_dataset,
    sample_components,
)
from effdl_kit.errors import ConfigError, DataError

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
    side = json.loads((ROOT / "data" / "components_cpu.provenance.json").read_text())
    assert side["rows_ok"] == len(df) and side["seed"] == 0 and side["scale"] == "small"
    assert side["machine"]["cpu_model"] and side["machine"]["packages"]["torch"]
    assert any("build-components" in r["command"] for r in side["runs"])
    # components really vary: every sampled component takes more than one value
    varied = [c for c, v in side["space"].items() if len(v) > 1]
    assert len(varied) >= 16 and all(df[c].nunique() > 1 for c in varied)
