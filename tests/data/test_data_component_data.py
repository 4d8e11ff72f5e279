"""The component datasets ready for the predictor: paths, features, families, loading."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import effdl_kit.data
import effdl_kit.experiments.efficientdl
from effdl_kit.data import (
    COMPONENT_DATASETS,
    COMPONENT_GROUPS,
    KIT_GROUP_COLUMN,
    KIT_TARGET,
    ComponentData,
    efficientdl_data_path,
    kit_data_path,
    kit_family,
    kit_features,
    load_component_data,
)
from effdl_kit.errors import ConfigError, DataError, DatasetNotFoundError


def test_unknown_dataset_is_a_config_error() -> None:
    assert COMPONENT_DATASETS == ("authors", "kit")
    with pytest.raises(ConfigError, match="authors"):
        load_component_data("imagenet")  # type: ignore[arg-type]


def test_kit_features_and_family() -> None:
    space: dict[str, list[Any]] = {"a": [1, 2.5], "b": ["x", "y"], "c": [True, False], "d": [4],
                                   "e": ["cpu"], "f": [0.0, 0.1]}
    assert kit_features(space) == (["a", "f"], ["b", "c"])
    df = pd.DataFrame({"depth": [1, 3], "base_channels": [8, 4], "kernel_size": [3, 5]})
    family = kit_family(df)
    assert list(family) == ["cnn-d1-c8-k3", "cnn-d3-c4-k5"]
    assert family.name == KIT_GROUP_COLUMN and family.index.equals(df.index)
    with pytest.raises(DataError, match="kernel_size"):
        kit_family(df.drop(columns="kernel_size"))


def test_kit_data_is_the_shipped_dataset() -> None:
    assert kit_data_path().name == "components_cpu.jsonl"
    data = load_component_data("kit")
    assert data.name == "kit" and data.source == str(kit_data_path())
    assert data.n_rows >= 1500 and data.target == KIT_TARGET == "top1"
    assert data.groups_col == KIT_GROUP_COLUMN and data.n_groups > 5
    assert data.numeric and data.categorical and "top1" not in data.numeric
    assert {"lr", "optimizer", "dataset"} <= set(data.numeric) | set(data.categorical)
    assert "failed trainings dropped" in data.load_report
    # every feature has its EfficientDL group
    assert set(data.component_groups) == {c for cs in COMPONENT_GROUPS.values() for c in cs}
    X, y = data.xy()
    assert list(X.columns) == [*data.numeric, *data.categorical]
    assert len(y) == data.n_rows and y.dtype.kind == "f"


def test_xy_drops_target_groups_and_identifiers() -> None:
    frame = pd.DataFrame({"id": ["m1", "m2", "m3"], "lr": [0.1, 0.01, 0.001],
                          "opt": ["sgd", "adam", "sgd"], "acc": [0.5, 0.7, 0.6],
                          "fam": ["a", "b", "a"]})
    data = ComponentData(name="kit", frame=frame, target="acc", groups_col="fam",
                         id_columns=("id",), source="here", load_report="")
    X, y = data.xy()
    assert list(X.columns) == ["lr", "opt"]
    assert y.tolist() == [0.5, 0.7, 0.6]
    assert (data.n_rows, data.n_groups) == (3, 2)
    assert data.eval_kwargs() == {"target": "acc", "groups_col": "fam", "id_columns": ("id",)}


def test_missing_authors_data_names_the_variable(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EFFDL_RESEARCH_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(DatasetNotFoundError, match="EFFDL_RESEARCH_DATA"):
        efficientdl_data_path()
    with pytest.raises(DatasetNotFoundError):
        load_component_data("authors")
    folder = tmp_path / "here" / "efficientdl"
    folder.mkdir(parents=True)
    (folder / "dataset.json").write_text("[]")
    monkeypatch.setenv("EFFDL_RESEARCH_DATA", str(tmp_path / "here"))
    assert efficientdl_data_path() == folder / "dataset.json"


def test_the_experiment_re_exports_the_data_layer_names() -> None:
    for name in ("ComponentData", "load_component_data", "kit_features", "kit_family",
                 "efficientdl_data_path", "kit_data_path", "KIT_TARGET", "KIT_GROUP_COLUMN"):
        assert getattr(effdl_kit.experiments.efficientdl, name) is getattr(effdl_kit.data, name)
