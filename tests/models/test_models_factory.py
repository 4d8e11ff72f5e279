"""The predictor factory: the encoder a component dataset needs, then the random forest."""

from __future__ import annotations

import numpy as np
import pandas as pd

from effdl_kit.data import ComponentData, ComponentEncoder
from effdl_kit.models import make_predictor


def _frame(n: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({
        "id": [f"m{i}" for i in range(n)],
        "lr": 10 ** rng.uniform(-4, -1, n),
        "opt": rng.choice(["sgd", "adam"], n),
        "tricks": rng.choice(["mixup", "cutmix,mixup", ""], n),
        "acc": rng.uniform(0.2, 0.9, n),
        "fam": rng.choice(["a", "b", "c"], n),
    })


def test_declared_features_are_the_encoders_columns() -> None:
    data = ComponentData(name="kit", frame=_frame(), target="acc", groups_col="fam",
                         id_columns=(), source="t", load_report="", numeric=["lr"],
                         categorical=["opt"], keyword=["tricks"])
    pipe = make_predictor(data, n_trees=7, seed=3)
    assert [name for name, _ in pipe.steps] == ["encoder", "forest"]
    enc, forest = pipe.named_steps["encoder"], pipe.named_steps["forest"]
    assert isinstance(enc, ComponentEncoder)
    assert (enc.numeric_columns, enc.categorical_columns, enc.keyword_columns) == (
        ["lr"], ["opt"], ["tricks"])
    assert forest.n_estimators == 7 and forest.random_state == 3
    X, y = data.xy()
    pipe.fit(X, y)
    assert set(pipe[0].feature_groups_) == {"lr", "opt", "tricks"}
    assert pipe.predict(X).shape == (len(y),)


def test_undeclared_features_are_inferred_without_ids_and_groups() -> None:
    data = ComponentData(name="authors", frame=_frame(), target="acc", groups_col="fam",
                         id_columns=("id",), source="t", load_report="")
    pipe = make_predictor(data, n_trees=5, seed=0)
    assert pipe.named_steps["encoder"].exclude_columns == ["id", "fam"]
    frame = data.frame.drop(columns="acc")
    pipe.fit(frame, data.frame["acc"].to_numpy())
    assert not {"id", "fam"} & set(pipe[0].feature_groups_)
    # the same seed gives the same forest
    again = make_predictor(data, n_trees=5, seed=0).fit(frame, data.frame["acc"].to_numpy())
    np.testing.assert_array_equal(pipe.predict(frame), again.predict(frame))
