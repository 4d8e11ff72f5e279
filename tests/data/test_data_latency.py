"""The latency dataset builder (tiny builds in tmp) and the shipped CPU and GPU datasets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psutil
import pytest

import effdl_kit.data._latency_build as latb
from effdl_kit._core.jsonl import DataWarning
from effdl_kit.data import (
    INFERABLE_COLUMNS,
    LATENCY_FORMAT,
    LATENCY_TARGET,
    MEASURABLE_COLUMNS,
    build_latency_dataset,
    latency_data_path,
    latency_features,
    latency_xy,
    load_latency_dataset,
    provenance_path,
    sample_module_spec,
    sampling_ranges,
    spec_feature_frame,
)
from effdl_kit.errors import ConfigError, DataError, DeviceNotAvailableError
from effdl_kit.measure import MODULE_PARAMS, MODULE_TYPES, LoadLevel, make_spec

LEVELS = [LoadLevel("idle"), LoadLevel("busy", workers=1, duty=0.5, ballast_mib=8)]
FAST: dict[str, Any] = {"warmup": 1, "repeats": 2, "min_repeats": 1, "row_budget_s": 0.005,
                        "window_s": 0.0, "progress": False, "load_levels": LEVELS, "block": 3}
TYPES = ["linear", "relu", "mha"]


def children() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True)}


def rows_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()[1:]]


def test_build_records_the_three_parameter_groups(tmp_path: Path) -> None:
    before = children()
    path = tmp_path / "lat.jsonl"
    df = build_latency_dataset(TYPES, n=12, seed=1, path=path, **FAST)
    assert children() == before, "no load process is left behind"
    assert len(df) == 12 and set(df["status"]) == {"ok"}
    assert sorted(df["index"]) == list(range(12))
    assert list(df["module_type"][:3]) == TYPES  # row i -> types[i % 3]
    for col in (*MEASURABLE_COLUMNS, *INFERABLE_COLUMNS, LATENCY_TARGET, "iqr_ms",
                "total_utilization_pct", "load_level", "threads", "repeats", "warmup"):
        assert df[col].notna().all(), col
    assert (df[LATENCY_TARGET] > 0).all() and (df["threads"] == 1).all()
    assert set(df["load_level"]) <= {"idle", "busy"}
    for _, r in df.iterrows():  # inferable parameters agree with the spec
        spec = make_spec(r["module_type"], **{k: int(r[k]) for k in
                                             MODULE_PARAMS[r["module_type"]]})
        assert r["flops"] == spec.flops and r["input_bytes"] == spec.input_bytes
    header = json.loads(path.read_text().splitlines()[0])
    assert header["format"] == LATENCY_FORMAT and header["module_types"] == TYPES
    prov = json.loads((tmp_path / "lat.provenance.json").read_text())
    assert prov["rows_ok"] == 12 and prov["machine"]["cores_logical"] >= 1
    assert prov["rows_by_module_type"] == {"linear": 4, "mha": 4, "relu": 4}
    assert prov["runs"][-1]["rows_measured"] == 12
    loaded = load_latency_dataset(path)
    assert len(loaded) == 12 and loaded.attrs["header"]["seed"] == 1


def test_resume_keeps_rows_and_measures_only_the_missing(tmp_path: Path) -> None:
    path = tmp_path / "lat.jsonl"
    build_latency_dataset(TYPES, n=5, seed=2, path=path, **FAST)
    first = {r["index"]: r for r in rows_of(path)}
    with path.open("a") as fh:  # a row torn by a kill mid-write
        fh.write('{"index": 99, "status": "o')
    build_latency_dataset(TYPES, n=9, seed=2, path=path, **FAST)
    rows = rows_of(path)
    assert sorted(r["index"] for r in rows) == list(range(9))
    again = {r["index"]: r for r in rows}
    for i, r in first.items():
        assert again[i] == r, "earlier rows are kept as they were"
    # row i's configuration depends only on (seed, i): a fresh build draws the same modules
    fresh = build_latency_dataset(TYPES, n=9, seed=2, path=tmp_path / "b.jsonl", **FAST)
    cols = ["module_type", "load_level", "batch", "flops"]
    pd.testing.assert_frame_equal(fresh[cols], load_latency_dataset(path)[cols])
    prov = json.loads((tmp_path / "lat.provenance.json").read_text())
    assert [r["rows_measured"] for r in prov["runs"]] == [5, 4]
    assert [r["torn_bytes_dropped"] for r in prov["runs"]] == [0, len('{"index": 99, "status": "o')]


def test_other_arguments_are_refused_on_restart(tmp_path: Path) -> None:
    path = tmp_path / "lat.jsonl"
    build_latency_dataset(["relu"], n=2, seed=0, path=path, **FAST)
    with pytest.raises(ConfigError, match="'path'"):
        build_latency_dataset(["relu"], n=3, seed=1, path=path, **FAST)
    with pytest.raises(ConfigError, match="'path'"):
        build_latency_dataset(["relu"], n=3, seed=0, path=path, **{**FAST, "repeats": 3})


def test_out_of_memory_rows_are_recorded_and_resampled(tmp_path: Path) -> None:
    path = tmp_path / "lat.jsonl"
    df = build_latency_dataset(["relu"], n=6, seed=0, path=path, memory_limit_mib=0.5,
                               **FAST)
    oom = df[df["status"] == "oom"]
    ok = df[df["status"] == "ok"]
    assert len(ok) == 6 and len(oom) >= 1
    assert oom["error"].str.contains("budget").all()
    assert (ok["memory_bytes"] <= 0.5 * 2**20).all()
    for i in oom["index"]:  # the resampled row comes with a later attempt
        assert ok[ok["index"] == i]["attempt"].iloc[0] > oom[oom["index"] == i]["attempt"].max()
    assert len(load_latency_dataset(path)) == 6
    assert len(load_latency_dataset(path, only_ok=False)) == len(df)
    # a real out-of-memory error during the run is recorded the same way
    calls = {"n": 0}
    real = latb._measure_row

    def oom_once(*args: Any, **kwargs: Any) -> dict[str, Any]:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("CUDA out of memory. Tried to allocate 1 GiB")
        return real(*args, **kwargs)

    mp = pytest.MonkeyPatch()
    mp.setattr(latb, "_measure_row", oom_once)
    try:
        df2 = build_latency_dataset(["relu"], n=1, seed=0, path=tmp_path / "c.jsonl", **FAST)
    finally:
        mp.undo()
    assert list(df2["status"]) == ["oom", "ok"] and list(df2["attempt"]) == [0, 1]


def test_other_failures_are_recorded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> dict[str, Any]:
        raise ValueError("bad kernel")

    monkeypatch.setattr(latb, "_measure_row", broken)
    df = build_latency_dataset(["relu"], n=2, seed=0, path=tmp_path / "f.jsonl", **FAST)
    assert list(df["status"]) == ["failed", "failed"]
    assert df["error"].str.contains("ValueError: bad kernel").all()
    assert len(load_latency_dataset(tmp_path / "f.jsonl")) == 0


@pytest.mark.parametrize(("kwargs", "error", "field"), [
    ({"module_types": ["conv3d"]}, ConfigError, "module_types"),
    ({"module_types": "relu"}, ConfigError, "module_types"),
    ({"module_types": ["relu", "ReLU"]}, ConfigError, "module_types"),
    ({"n": 0}, ConfigError, "n"),
    ({"device": "cuda"}, DeviceNotAvailableError, "device"),
    ({"load_levels": []}, ConfigError, "load_levels"),
    ({"load_levels": [LoadLevel("g", gpu_stream=True)]}, ConfigError, "load_level.gpu_stream"),
    ({"repeats": 0}, ConfigError, "repeats"),
    ({"threads": 0}, ConfigError, "threads"),
    ({"seed": -1}, ConfigError, "seed"),
    ({"flops_limit": 0}, ConfigError, "flops_limit"),
])
def test_bad_input_fails_before_anything_is_measured(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kwargs: dict[str, Any],
        error: type[Exception], field: str) -> None:
    if field == "device":
        import torch

        if torch.cuda.is_available():
            pytest.skip("this machine has a GPU")

    def no_work(*args: Any, **kw: Any) -> None:
        raise AssertionError("nothing may be measured")

    monkeypatch.setattr(latb, "measure_latency", no_work)
    monkeypatch.setattr(latb, "BackgroundLoad", latb.BackgroundLoad)
    args: dict[str, Any] = {"module_types": ["relu"], "n": 2, "path": tmp_path / "x.jsonl",
                            **FAST}
    args.update(kwargs)
    module_types = args.pop("module_types")
    with pytest.raises(error) as info:
        build_latency_dataset(module_types, **args)
    assert getattr(info.value, "field", None) == field
    assert not (tmp_path / "x.jsonl").exists()


def test_sampling_is_seeded_and_within_the_ranges() -> None:
    ranges = sampling_ranges("cpu")
    assert set(ranges) == set(MODULE_TYPES)
    for mt in MODULE_TYPES:
        a = sample_module_spec(mt, np.random.default_rng(5), flops_limit=1e7)
        b = sample_module_spec(mt, np.random.default_rng(5), flops_limit=1e7)
        assert a == b and a.flops <= 1e7
        for name, r in ranges[mt].items():
            v = a[name]
            if r[0] == "log":
                assert r[1] <= v <= r[2], (mt, name, v)
            elif name != "padding":
                assert v in r[1:], (mt, name, v)
    with pytest.raises(ConfigError, match="flops_limit"):
        sample_module_spec("linear", np.random.default_rng(0), flops_limit=1.0)


def test_features_and_xy() -> None:
    spec = make_spec("conv2d", batch=1, channels=3, out_channels=4, hw=8, kernel_size=3,
                     stride=1, padding=1)
    cols = latency_features("conv2d")
    assert cols[:7] == list(MODULE_PARAMS["conv2d"])
    assert set(MEASURABLE_COLUMNS) <= set(cols)
    assert not set(MEASURABLE_COLUMNS) & set(latency_features("conv2d", measurable=False))
    assert "weight_bytes" not in latency_features("relu")
    X = spec_feature_frame([spec], mem_available_mib=1000.0, utilization_pct=50.0,
                           load_avg_1m=1.0)
    assert list(X.columns) == cols and X["flops"].iloc[0] == spec.flops
    with pytest.raises(ConfigError, match="utilization_pct"):
        spec_feature_frame([spec], mem_available_mib=1.0, utilization_pct=150.0,
                           load_avg_1m=0.0)
    df = pd.DataFrame([{**X.iloc[0].to_dict(), "module_type": "conv2d", "status": "ok",
                        LATENCY_TARGET: 0.5}])
    Xa, y = latency_xy(df, "conv2d")
    assert list(Xa.columns) == cols and y.tolist() == [0.5]
    with pytest.raises(DataError, match="no 'relu' rows"):
        latency_xy(df.assign(module_type="relu").iloc[:0], "relu")
    with pytest.raises(DataError, match="lacks"):
        latency_xy(df.drop(columns=["flops"]), "conv2d")


def test_loader_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no latency dataset"):
        load_latency_dataset(tmp_path / "missing.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"format": "something-else"}\n')
    with pytest.raises(DataError, match="not a latency dataset"):
        load_latency_dataset(bad)
    bad.write_text(json.dumps({"format": LATENCY_FORMAT}) + '\n{"index": "a"}\n')
    with pytest.raises(DataError, match="integer 'index'"):
        load_latency_dataset(bad)


# ----------------------------------------------------------------------------- shipped data


@pytest.fixture(scope="module")
def shipped() -> pd.DataFrame:
    path = latency_data_path("cpu")
    if not path.is_file():
        pytest.fail(f"the shipped CPU dataset {path} is missing")
    return load_latency_dataset(path, only_ok=False)


def test_shipped_cpu_dataset(shipped: pd.DataFrame) -> None:
    ok = shipped[shipped["status"] == "ok"]
    assert len(ok) >= 5000
    counts = ok["module_type"].value_counts()
    assert set(counts.index) == set(MODULE_TYPES) and counts.min() >= 5000 // 8 - 1
    assert set(ok["load_level"]) == {"idle", "light", "medium", "heavy"}
    assert (ok[LATENCY_TARGET] > 0).all() and (ok["threads"] == 1).all()
    assert ok["device"].eq("cpu").all()
    # the measurable parameters really vary
    assert ok["utilization_pct"].std() > 1.0
    assert ok["mem_available_mib"].max() - ok["mem_available_mib"].min() > 256
    # more busy workers -> more CPU taken by other processes, on average
    by_level = ok.groupby("load_level")["utilization_pct"].mean()
    assert by_level["heavy"] > by_level["idle"]
    prov = json.loads(latency_data_path("cpu").with_name(
        "latency_cpu.provenance.json").read_text())
    assert prov["rows_ok"] == len(ok) and prov["machine"]["cpu_model"]
    assert prov["runs"] and "effdl_kit.data._latency" in prov["runs"][0]["command"]


def test_shipped_gpu_dataset() -> None:
    path = latency_data_path("cuda")
    assert path.name == "latency_gpu.jsonl" and latency_data_path("gpu") == path
    if not path.is_file():
        pytest.fail(f"the shipped GPU dataset {path} is missing")
    df = load_latency_dataset(path, only_ok=False)
    ok = df[df["status"] == "ok"]
    assert len(ok) >= 2000 and set(df["status"]) <= {"ok", "oom"}
    assert set(ok["module_type"]) == set(MODULE_TYPES)
    assert ok["module_type"].value_counts().min() >= 200
    assert set(ok["load_level"]) == {"idle", "light", "medium", "heavy"}
    assert ok["device"].eq("cuda:0").all() and (ok["timer"] == "cuda_event").all()
    assert (ok[LATENCY_TARGET] > 0).all()
    # the GPU state was read through NVML: free GPU memory and utilisation vary
    assert ok["mem_available_mib"].min() > 100_000 and ok["utilization_pct"].max() > 50
    # the concurrent GPU stream of the medium and heavy levels shows in the utilisation
    by_level = ok.groupby("load_level")["utilization_pct"].mean()
    assert by_level["heavy"] > by_level["idle"]
    prov = json.loads(provenance_path(path).read_text())
    assert prov["rows_ok"] == len(ok) and prov["machine"]["gpus"][0]["name"] == "NVIDIA H200"
    assert [r["rows_measured"] for r in prov["runs"]] and all(
        "--device cuda" in r["command"] for r in prov["runs"])


# ----------------------------------------------------------------------------- loader abuse


def _lat_file(tmp_path: Path, n: int = 4, **last: Any) -> tuple[Path, list[str]]:
    """A small file of real shipped lines (header + ``n`` ok rows), the last row changed."""
    src = latency_data_path("cpu").read_text(encoding="utf-8").splitlines()
    lines = [src[0], *[ln for ln in src[1:] if '"status": "ok"' in ln][:n]]
    if last:
        lines[-1] = json.dumps({**json.loads(lines[-1]), **last})
    path = tmp_path / "lat.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, lines


@pytest.mark.parametrize(("change", "match"), [
    ({LATENCY_TARGET: "fast"}, "line 5: target 'latency_ms' of a 'ok' row holds str 'fast'; "
     "allowed: a finite number of milliseconds > 0"),
    ({LATENCY_TARGET: -3}, "line 5: target 'latency_ms' .* holds int -3"),
    ({LATENCY_TARGET: 0.0}, "line 5: target 'latency_ms' .* holds float 0.0"),
    ({LATENCY_TARGET: float("inf")}, "line 5: target 'latency_ms' .* holds float inf"),
    ({LATENCY_TARGET: float("nan")}, "line 5: target 'latency_ms' .* holds float nan"),
    ({"module_type": ["mha"]}, "line 5: column 'module_type' holds list"),
    ({"load_level": {"name": "idle"}}, "line 5: column 'load_level' holds dict"),
    ({"batch": "fast"}, "line 5: column 'batch' holds str 'fast'; allowed: a number"),
    ({"flops": [1, 2, 3]}, "line 5: column 'flops' holds list"),
    ({"attempt": "0"}, "line 5: column 'attempt' holds str"),
])
def test_bad_values_are_errors_naming_file_line_and_column(tmp_path: Path,
                                                           change: dict[str, Any],
                                                           match: str) -> None:
    path, _ = _lat_file(tmp_path, **change)
    with pytest.raises(DataError, match=f"lat\\.jsonl': {match}"):
        load_latency_dataset(path)


def test_an_oom_row_may_lack_a_latency(tmp_path: Path) -> None:
    path, _ = _lat_file(tmp_path, status="oom", latency_ms=None)
    assert len(load_latency_dataset(path, only_ok=False)) == 4


def test_truncated_unterminated_and_duplicate_rows_are_reported(tmp_path: Path) -> None:
    path, lines = _lat_file(tmp_path, n=6)
    path.write_text("\n".join(lines) + "\n" + lines[3][: len(lines[3]) * 3 // 5])  # cut at 60 %
    with pytest.warns(DataWarning, match="line 8 is torn"):
        df = load_latency_dataset(path)
    report = df.attrs["load_report"]
    assert len(df) == 6 and report.torn_line == 8 and report.torn_bytes > 0
    assert "line 8 is torn" in report.summary()

    path.write_text("\n".join(lines), encoding="utf-8")  # no final newline: the row is kept
    with pytest.warns(DataWarning, match="line 7 lacks its final newline"):
        df = load_latency_dataset(path)
    assert len(df) == 6 and df.attrs["load_report"].unterminated_line == 7

    path.write_text("\n".join([*lines, lines[2], lines[2]]) + "\n", encoding="utf-8")
    with pytest.warns(DataWarning, match="2 duplicate rows left out: line 8 .repeats line 3."):
        df = load_latency_dataset(path)
    assert len(df) == 6 and df.attrs["load_report"].duplicates == [(8, 3), (9, 3)]
    assert df.attrs["header"]["format"] == LATENCY_FORMAT


@pytest.mark.parametrize(("text", "match"), [
    ("null\n", "line 1 is not a JSON object"),
    ("[1,2,3]\n", "line 1 is not a JSON object"),
    ("[" * 50_000 + "\n", "line 1: JSON nested too deeply"),
])
def test_pathological_headers_are_data_errors(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "lat.jsonl"
    path.write_text(text)
    with pytest.raises(DataError, match=f"lat\\.jsonl': {match}"):
        load_latency_dataset(path)


def test_a_non_utf8_row_and_a_huge_integer_name_their_line(tmp_path: Path) -> None:
    path, lines = _lat_file(tmp_path)
    path.write_bytes(("\n".join(lines[:3]) + "\n").encode() + b'{"index": 9, "x": "\xff"}\n')
    with pytest.raises(DataError, match="lat\\.jsonl': line 4 is not UTF-8"):
        load_latency_dataset(path)
    row = lines[2].replace('"latency_ms": ', '"latency_ms": 1' + "0" * 399 + ', "was": ')
    path.write_text("\n".join([lines[0], lines[1], row]) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match="lat\\.jsonl': line 3: an integer of 400 digits"):
        load_latency_dataset(path)
