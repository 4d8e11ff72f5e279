"""The label registry: display labels with units, a readable fallback recorded as a miss."""

from __future__ import annotations

import pandas as pd
import pytest

from effdl_kit.errors import ConfigError
from effdl_kit.reports import (
    LABELS,
    fallback_label,
    humanize_columns,
    is_registered,
    label,
    record_label_misses,
    unit,
)


@pytest.mark.parametrize(("name", "shown"), [
    ("lr", "Learning rate"), ("n_trees", "Trees"), ("kernel_size", "Kernel size"),
    ("hw", "Input size (px)"), ("train_time_s", "Training time (s)"),
    ("latency_ms", "Latency (ms)"), ("true top1", "Measured top-1 (%)"),
])
def test_the_issue_names_have_labels_with_units(name: str, shown: str) -> None:
    assert label(name) == shown
    assert is_registered(name)


def test_unit_and_label_without_unit() -> None:
    assert unit("latency_ms") == "ms"
    assert unit("lr") is None
    assert unit("not_a_name") is None
    assert label("latency_ms", unit=False) == "Latency"


def test_every_registered_label_is_readable() -> None:
    for name, lab in LABELS.items():
        assert "_" not in lab.render(), name
        first = lab.text[:1]
        assert not (first.isascii() and first.islower()), name


def test_an_unknown_name_falls_back_readably_and_is_recorded() -> None:
    with record_label_misses() as misses:
        assert label("n_hidden_layers") == "N hidden layers"
        assert label("lr") == "Learning rate"
    assert misses == {"n_hidden_layers"}
    assert fallback_label("batch__size ") == "Batch size"
    with record_label_misses() as later:
        pass
    assert later == set()  # a closed recorder no longer collects


@pytest.mark.parametrize("bad", ["", "  ", None, 3])
def test_a_bad_name_is_an_error_naming_the_field(bad: object) -> None:
    with pytest.raises(ConfigError) as err:
        label(bad)  # type: ignore[arg-type]
    assert err.value.field == "name"


def test_humanize_columns_renames_columns_and_index() -> None:
    df = pd.DataFrame({"lr": [0.1], "latency_ms": [2.0], 3: ["x"]},
                      index=pd.Index(["a"], name="model"))
    out = humanize_columns(df)
    assert list(out.columns) == ["Learning rate", "Latency (ms)", 3]
    assert out.index.name == "Model"
    assert list(df.columns) == ["lr", "latency_ms", 3]  # the input is unchanged
    assert list(humanize_columns(df, unit=False).columns)[1] == "Latency"
    with pytest.raises(ConfigError):
        humanize_columns([1, 2])  # type: ignore[arg-type]
