"""Shared fixtures of the efficientdl experiment tests."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from effdl_kit.data import ComponentData
from effdl_kit.experiments.efficientdl import (
    _analysis,
    _confirm,
    _figures,
    _methods,
    _run,
    _search,
    _setup,
    _study,
)
from effdl_kit.models import _factory


@pytest.fixture(scope="session")
def data() -> ComponentData:
    """A synthetic component dataset (240 rows, 6 components, a known accuracy surface)."""
    rng = np.random.default_rng(1)
    n = 240
    df = pd.DataFrame({
        "lr": 10 ** rng.uniform(-4, -1, n),
        "width": rng.choice([16, 32, 64, 128], n).astype(float),
        "opt": rng.choice(["sgd", "adam", "rmsprop"], n),
        "act": rng.choice(["relu", "tanh", "gelu", "elu"], n),
        "dropout": rng.choice([0.0, 0.1, 0.3, 0.5], n),
        "epochs": rng.choice([1.0, 2.0, 5.0, 10.0], n),
    })
    df["top1"] = (0.9 - 0.05 * (np.log10(df["lr"]) + 2.5) ** 2
                  + 0.02 * np.log2(df["width"] / 16) + np.where(df["opt"] == "adam", 0.05, 0.0)
                  - 0.1 * df["dropout"] + 0.01 * np.log(df["epochs"])
                  + rng.normal(0, 0.01, n))
    df["family"] = rng.choice(["a", "b", "c"], n)
    return ComponentData(name="kit", frame=df, target="top1", groups_col="family",
                         id_columns=(), source="synthetic", load_report="",
                         numeric=["lr", "width", "dropout", "epochs"],
                         categorical=["opt", "act"], keyword=[],
                         component_groups={"lr": "training", "width": "model",
                                           "opt": "training", "act": "model",
                                           "dropout": "training", "epochs": "training"})


#: the modules where the experiment's work (fitting, permuting, searching) is called from
WORK_MODULES = (_analysis, _setup, _methods, _search, _study, _confirm, _figures, _run,
                _factory)


@pytest.fixture
def forbid_work(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """``forbid_work(*names)``: each name, wherever the experiment calls it, raises."""
    def forbid(*names: str) -> None:
        def no_work(*args: object, **kwargs: object) -> None:
            raise AssertionError("no work may start here")

        for name in names:
            users = [m for m in WORK_MODULES if hasattr(m, name)]
            assert users, f"{name} is called nowhere: the test would check nothing"
            for module in users:
                monkeypatch.setattr(module, name, no_work)

    return forbid
