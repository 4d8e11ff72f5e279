"""Fuzzed bad input to the data loaders: a clear kit error or a correct frame, never a crash."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from effdl_kit._core.jsonl import DataWarning
from effdl_kit.data import (
    LATENCY_TARGET,
    latency_data_path,
    load_component_dataset,
    load_efficientdl,
    load_latency_dataset,
)
from effdl_kit.errors import EffdlError

FUZZ = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                         st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20))
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12)
KEYS = ["Top-1 accuracy", "Dataset", "Architecture", "Model", "learning rate", "epochs",
        "Optimization algorithm", "Normalization layer", "batch size", "Size of training set"]
record = st.dictionaries(st.sampled_from(KEYS), json_values, max_size=len(KEYS))


def _check_frame(df: pd.DataFrame) -> None:
    assert isinstance(df, pd.DataFrame) and len(df) > 0
    acc = df["Top-1 accuracy"]
    assert acc.notna().all() and ((acc >= 0) & (acc <= 1)).all()


@FUZZ
@given(payload=st.one_of(json_values, st.lists(record, max_size=6)))
def test_efficientdl_loader_on_arbitrary_json(tmp_path: Path, payload: Any) -> None:
    path = tmp_path / "dataset.json"
    path.write_text(json.dumps(payload), encoding="utf-8")
    try:
        df = load_efficientdl(path)
    except EffdlError:
        return
    _check_frame(df)


@FUZZ
@given(raw=st.binary(max_size=200))
def test_efficientdl_loader_on_corrupt_bytes(tmp_path: Path, raw: bytes) -> None:
    path = tmp_path / "dataset.json"
    path.write_bytes(raw)
    try:
        df = load_efficientdl(path)
    except EffdlError:
        return
    _check_frame(df)


@FUZZ
@given(lines=st.lists(st.one_of(st.text(max_size=40),
                                json_values.map(json.dumps)), max_size=6))
def test_component_dataset_loader_on_corrupt_lines(tmp_path: Path, lines: list[str]) -> None:
    path = tmp_path / "components.jsonl"
    path.write_text("\n".join(lines), encoding="utf-8")
    try:
        df = load_component_dataset(path)
    except EffdlError:
        return
    assert isinstance(df, pd.DataFrame)
    assert isinstance(df.attrs.get("header"), dict)


@FUZZ
@given(raw=st.binary(max_size=200))
def test_component_dataset_loader_on_corrupt_bytes(tmp_path: Path, raw: bytes) -> None:
    path = tmp_path / "components.jsonl"
    path.write_bytes(raw)
    try:
        load_component_dataset(path)
    except EffdlError:
        return


def test_a_torn_real_dataset_keeps_its_complete_rows(tmp_path: Path) -> None:
    src = Path(__file__).resolve().parents[2] / "data" / "components_cpu.jsonl"
    lines = src.read_text(encoding="utf-8").splitlines()[:21]
    path = tmp_path / "c.jsonl"
    path.write_text("\n".join(lines) + "\n" + lines[5][: len(lines[5]) // 2], encoding="utf-8")
    with pytest.warns(DataWarning, match="line 22 is torn"):
        df = load_component_dataset(path, only_ok=False)
    assert len(df) == 20 and df.attrs["load_report"].torn_line == 22
    with pytest.raises(EffdlError):
        load_component_dataset(tmp_path / "missing.jsonl")


SMALL = settings(max_examples=25, deadline=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture])
LATENCY_LINES = latency_data_path("cpu").read_text(encoding="utf-8").splitlines()[:4]
latency_row = st.fixed_dictionaries(
    {"index": st.integers(0, 3), "attempt": st.integers(0, 1),
     "status": st.sampled_from(["ok", "oom", "failed"])},
    optional={LATENCY_TARGET: json_values, "module_type": json_values, "batch": json_values,
              "load_level": json_values, "flops": json_values})


@SMALL
@given(rows=st.lists(latency_row, max_size=5), newline=st.booleans(),
       cut=st.integers(0, 400))
def test_latency_loader_on_fuzzed_rows(tmp_path: Path, rows: list[dict[str, Any]],
                                       newline: bool, cut: int) -> None:
    path = tmp_path / "lat.jsonl"
    body = "\n".join([*LATENCY_LINES, *(json.dumps(r) for r in rows)])
    if not newline and rows:  # the last line cut anywhere, or only its newline gone
        body = body[: len(body) - min(cut, len(json.dumps(rows[-1])))]
    else:
        body += "\n"
    path.write_text(body, encoding="utf-8")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            df = load_latency_dataset(path, only_ok=False)
    except EffdlError:
        return
    report = df.attrs["load_report"]
    assert len(df) == report.n_rows >= 3  # the three real rows are never lost
    assert bool(caught) == bool(report.messages())
    assert all(issubclass(w.category, DataWarning) for w in caught)
    keys = list(zip(df["index"], df["attempt"], strict=True))
    assert len(keys) == len(set(keys)), "no duplicate (index, attempt) survives"
    ok = df[df["status"] == "ok"]
    for v in ok[LATENCY_TARGET]:
        assert isinstance(v, int | float) and math.isfinite(v) and v > 0
    assert all(isinstance(v, str) for v in ok["module_type"])


@SMALL
@given(raw=st.binary(max_size=200), keep=st.integers(0, 4))
def test_latency_loader_on_corrupt_bytes(tmp_path: Path, raw: bytes, keep: int) -> None:
    path = tmp_path / "lat.jsonl"
    path.write_bytes("".join(ln + "\n" for ln in LATENCY_LINES[:keep]).encode() + raw)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataWarning)
            df = load_latency_dataset(path, only_ok=False)
    except EffdlError:
        return
    assert isinstance(df, pd.DataFrame) and df.attrs["header"]["format"]


@SMALL
@given(depth=st.integers(1, 5000), digits=st.integers(1, 600), where=st.sampled_from(
    ["target", "feature", "model"]))
def test_efficientdl_loader_on_deep_nesting_and_long_integers(tmp_path: Path, depth: int,
                                                              digits: int, where: str) -> None:
    col = {"target": "Top-1 accuracy", "feature": "epochs", "model": "Model"}[where]
    nested = "[" * depth + "1" + "]" * depth
    number = "9" * digits
    path = tmp_path / "dataset.json"
    path.write_text(f'[{{"{col}": {nested}}}, {{"{col}": {number}}}]', encoding="utf-8")
    try:
        load_efficientdl(path)
    except EffdlError:
        return
    raise AssertionError("a file without the required columns loaded")
