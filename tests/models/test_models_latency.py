"""LR / MLP / RF / MEDN latency predictors: the shared contract, metrics, evaluation,
auto-selection and whole-model prediction."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from torch import nn

from effdl_kit.data import latency_features, load_latency_dataset
from effdl_kit.errors import ConfigError, DataError
from effdl_kit.models import (
    MEDN,
    MODEL_KINDS,
    auto_select,
    evaluate_latency_models,
    fit_latency_models,
    latency_metrics,
    make_latency_model,
    predict_model_latency,
)
from effdl_kit.testing import parametrize_with_checks

RNG = np.random.default_rng(1)
X = np.column_stack([RNG.integers(1, 64, 48), RNG.integers(8, 256, 48),
                     RNG.uniform(0, 100, 48), RNG.uniform(1e3, 2e4, 48)]).astype(float)
Y = 1e-3 * X[:, 0] * X[:, 1] * (1 + X[:, 2] / 100) + 0.01
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
SMALL = {"lr": {}, "mlp": {"max_iter": 60}, "rf": {"n_estimators": 10},
         "medn": {"epochs": 8}}


@parametrize_with_checks({k: (lambda k=k: make_latency_model(k, **SMALL[k]))
                          for k in MODEL_KINDS}, X, Y)
def test_all_four_predictors_pass_the_shared_checks(check: Any) -> None:
    check()


def test_factory() -> None:
    assert isinstance(make_latency_model("medn", epochs=3), MEDN)
    rf = make_latency_model("rf", n_estimators=7, random_state=3)
    assert rf.regressor.named_steps["rf"].n_estimators == 7
    with pytest.raises(ConfigError, match="'kind'"):
        make_latency_model("svm")
    with pytest.raises(ConfigError, match="params"):
        make_latency_model("rf", trees=3)
    with pytest.raises(ConfigError, match="params"):
        make_latency_model("medn", trees=3)


def test_metrics_by_hand() -> None:
    y = np.array([1.0, 2.0, 4.0, 10.0])
    p = np.array([1.04, 2.18, 4.5, 10.0])  # 4 %, 9 %, 12.5 %, 0 %
    m = latency_metrics(y, p)
    assert m["acc5"] == 0.5 and m["acc10"] == 0.75 and m["acc15"] == 1.0
    assert m["rmspe"] == pytest.approx(np.sqrt(np.mean([0.04**2, 0.09**2, 0.125**2, 0])))
    assert m["r2"] == pytest.approx(1 - np.sum((y - p) ** 2) / np.sum((y - y.mean()) ** 2))
    assert latency_metrics(y, y)["r2"] == 1.0
    assert np.isnan(latency_metrics(y, -y)["r2_log"])
    with pytest.raises(DataError):
        latency_metrics(y, p[:2])
    with pytest.raises(DataError, match="> 0"):
        latency_metrics(np.array([0.0, 1.0]), np.array([1.0, 1.0]))


def scores(rows: list[tuple[str, str, float, float, float, int]], split: str = "val"
           ) -> pd.DataFrame:
    return pd.DataFrame([{"module_type": mt, "model": m, "split": split, "n": 10,
                          "acc10": a, "r2": r, "predict_us": t, "size_bytes": s}
                         for mt, m, a, r, t, s in rows])


def test_auto_select_tolerances_and_preference() -> None:
    rows = [  # conv: rf best acc; lr within 1 point but R² too low; medn within both, fastest
        ("conv2d", "lr", 0.795, 0.90, 1.0, 100),
        ("conv2d", "rf", 0.80, 0.95, 50.0, 9000),
        ("conv2d", "medn", 0.792, 0.948, 5.0, 3000),
        ("conv2d", "mlp", 0.70, 0.96, 2.0, 500),
        # relu: medn alone best
        ("relu", "lr", 0.50, 0.5, 1.0, 100),
        ("relu", "rf", 0.60, 0.6, 50.0, 9000),
        ("relu", "medn", 0.90, 0.9, 5.0, 3000),
        ("relu", "mlp", 0.40, 0.4, 2.0, 500),
    ]
    val = scores(rows)
    test = scores([(mt, m, a - 0.1, r - 0.1, t, s) for mt, m, a, r, t, s in rows], "test")
    test.loc[test["module_type"] == "relu", "n"] = 30
    both = pd.concat([val, test])
    sel = auto_select(both, prefer="time")
    choice = dict(zip(sel.choices["module_type"], sel.choices["model"], strict=True))
    assert choice == {"conv2d": "medn", "relu": "medn"}
    cands = dict(zip(sel.choices["module_type"], sel.choices["candidates"], strict=True))
    assert cands["conv2d"] == "medn,rf"  # sorted by prediction time
    assert sel.gain["acc_points"] == pytest.approx(0.0)
    sel = auto_select(both, prefer="time", tol_r2=0.1)
    assert sel.choices["model"].iloc[0] == "lr"  # now within the R² tolerance, fastest
    # reported on test, weighted by test rows: (10 * conv + 30 * relu) / 40
    conv = 0.795 - 0.1
    relu = 0.9 - 0.1
    assert sel.overall["acc10"] == pytest.approx((10 * conv + 30 * relu) / 40)
    base_conv = 0.792 - 0.1
    assert sel.baseline["acc10"] == pytest.approx((10 * base_conv + 30 * relu) / 40)
    assert sel.gain["acc_points"] == pytest.approx(100 * 10 * (conv - base_conv) / 40)
    small = auto_select(both, prefer="space", tol_acc=0.02, tol_r2=0.1)
    assert small.choices["model"].iloc[0] == "lr"
    assert small.settings["prefer"] == "space"


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"prefer": "speed"}, "prefer"),
    ({"tol_acc": -0.1}, "tol_acc"),
    ({"acc": "acc20"}, "acc"),
    ({"baseline": "svm"}, "baseline"),
])
def test_auto_select_bad_input(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as info:
        auto_select(scores([("relu", "medn", 0.9, 0.9, 1.0, 1)]), **kwargs)
    assert info.value.field == field
    with pytest.raises(DataError, match="lack"):
        auto_select(pd.DataFrame({"module_type": ["relu"]}))


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    df = load_latency_dataset()
    parts = [g.sample(n=30, random_state=0) for _, g in df.groupby("module_type")]
    return pd.concat(parts)


def test_evaluate_and_select_on_the_shipped_data(data: pd.DataFrame) -> None:
    types = ["conv2d", "relu"]
    progress: list[tuple[int, int, str]] = []
    ev = evaluate_latency_models(data, module_types=types, params=SMALL,
                                 progress=lambda d, t, m: progress.append((d, t, m)))
    assert [p[0] for p in progress] == list(range(1, 9)) and progress[-1][1] == 8
    s = ev.scores
    assert set(s["split"]) <= {"val", "test", "test_loaded"}
    assert len(s[s["split"] == "test"]) == 8
    t = ev.table("test")
    assert (t["n"] == 6).all() and (t["size_bytes"] > 0).all() and (t["predict_us"] > 0).all()
    assert t[["acc5", "acc10", "acc15"]].apply(lambda r: r.is_monotonic_increasing,
                                               axis=1).all()
    assert set(ev.predictions["model"]) == set(MODEL_KINDS)
    assert len(ev.predictions) == 8 * 6
    sel = auto_select(s)
    assert list(sel.choices["module_type"]) == types
    assert set(sel.choices["model"]) <= set(MODEL_KINDS)
    # the ablation drops exactly the measurable columns
    ev2 = evaluate_latency_models(data, module_types=["relu"], kinds=["lr"], measurable=False)
    assert not ev2.scores["measurable"].any()
    with pytest.raises(ConfigError, match="kinds"):
        evaluate_latency_models(data, kinds=["svm"])
    with pytest.raises(DataError, match="too few"):
        evaluate_latency_models(data[data["module_type"] == "conv2d"].iloc[:3],
                                module_types=["conv2d"])


def test_whole_model_is_the_sum_of_its_modules(data: pd.DataFrame) -> None:
    class Const:
        def __init__(self, v: float, cols: list[str]) -> None:
            self.v, self.cols = v, cols

        def predict(self, X: pd.DataFrame) -> np.ndarray:
            assert list(X.columns) == self.cols
            return np.full(len(X), self.v)

    preds = {mt: Const(v, latency_features(mt)) for mt, v in
             (("conv2d", 1.0), ("relu", 0.25), ("linear", 2.0))}
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(4 * 4 * 4, 2))
    total, calls = predict_model_latency(model, (1, 3, 8, 8), preds, mem_available_mib=1e4,
                                         utilization_pct=10.0, load_avg_1m=1.0)
    assert total == pytest.approx(3.25)
    assert list(calls["torch_type"]) == ["Conv2d", "ReLU", "MaxPool2d", "Flatten", "Linear"]
    assert calls["predicted_ms"].isna().tolist() == [False, False, True, True, False]
    assert calls["reason"].iloc[2] == "no predictor for maxpool2d"
    real = fit_latency_models(data, module_types=["relu"], kinds=["rf"], params=SMALL)
    assert set(real) == {"relu"} and set(real["relu"]) == {"rf"}
    total, _ = predict_model_latency(nn.ReLU(), (1, 8, 4, 4), {"relu": real["relu"]["rf"]},
                                     mem_available_mib=1e4, utilization_pct=50.0,
                                     load_avg_1m=2.0)
    assert total > 0
