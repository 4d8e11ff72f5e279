"""Fuzzed bad input to the data loaders: a clear kit error or a correct frame, never a crash."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from effdl_kit.data import load_component_dataset, load_efficientdl
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
    df = load_component_dataset(path, only_ok=False)
    assert len(df) == 20
    with pytest.raises(EffdlError):
        load_component_dataset(tmp_path / "missing.jsonl")
