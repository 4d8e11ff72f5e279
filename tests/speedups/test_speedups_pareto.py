"""E1 sweep, frontier and verdicts; E3 and E4 measurements (tiny budgets)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from effdl_kit.errors import ConfigError
from effdl_kit.speedups import (
    AA_LABEL,
    PARETO_COLUMNS,
    TUNING_COLUMNS,
    VERDICTS,
    check_budgets,
    flops_vs_runtime,
    frontier_table,
    loader_bottleneck,
    pareto_frontier,
    pareto_sweep,
    summarize_runs,
    tune_baseline_lr,
)
from effdl_kit.training import TrainConfig


def tiny() -> TrainConfig:
    return TrainConfig(dataset="synthetic", model="cnn", batch_size=32, threads=1,
                       data_params={"n_samples": 120, "n_classes": 4, "image_size": 8},
                       model_params={"channels": (4,), "skip": True, "width": 8},
                       optimizer="adamw", lr=3e-3, schedule="cosine")


@pytest.mark.parametrize(("budgets", "match"), [
    ([1, 3, 2], r"budgets\[2\]"), ([2, 2], "strictly increasing"), ([], "non-empty"),
    ([0, 1], r"budgets\[0\]"), ([1.5], r"budgets\[0\]"), (3, "sequence"),
])
def test_budgets_must_increase(budgets: object, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        check_budgets(budgets)  # type: ignore[arg-type]


def test_bad_sweep_input_fails_before_any_training() -> None:
    ran: list[object] = []
    with pytest.raises(ConfigError, match="budgets"):
        pareto_sweep(tiny(), {"ema": ["ema"]}, [2, 1], [0], on_run=ran.append)
    with pytest.raises(ConfigError, match="not together"):
        pareto_sweep(tiny(), {"mix": ["mixup", "cutmix"]}, [1], [0], on_run=ran.append)
    with pytest.raises(ConfigError, match="alpha"):
        pareto_sweep(tiny(), {"m": [("mixup", {"alpha": -1})]}, [1], [0], on_run=ran.append)
    with pytest.raises(ConfigError, match="seeds"):
        pareto_sweep(tiny(), {"ema": ["ema"]}, [1], [0, 0], on_run=ran.append)
    assert ran == []


def test_sweep_runs_baseline_and_methods_at_every_budget_and_seed() -> None:
    rows: list[dict[str, object]] = []
    prog: list[int] = []
    runs = pareto_sweep(tiny(), {"label_smoothing": ["label_smoothing"]}, [1, 2], [0, 1],
                        on_run=rows.append, progress=lambda d, t, m: prog.append(d))
    assert list(runs.columns) == list(PARETO_COLUMNS)
    assert len(runs) == 2 * 2 * 2 == len(rows) and prog == list(range(1, 9))
    assert set(runs["method"]) == {"baseline", "label_smoothing"}
    assert (runs["train_time_s"] > 0).all() and runs["error"].eq("").all()
    assert runs.groupby("budget")["epochs_run"].first().tolist() == [1, 2]
    table = frontier_table(runs)
    assert set(table["verdict"]) <= set(VERDICTS)
    assert table.set_index("method").loc["baseline", "verdict"] == "baseline"


def test_pareto_frontier_and_verdicts_on_known_points() -> None:
    assert pareto_frontier([1, 2, 3, 4], [0.5, 0.4, 0.7, 0.7]).tolist() == [0, 2]
    rows = []
    for seed in range(3):
        for b, t in zip([1, 2, 4], [1.0, 2.0, 4.0], strict=True):
            base = 0.5 + 0.1 * np.log2(t) + 0.001 * seed
            rows += [
                {"method": "baseline", "budget": b, "seed": seed, "train_time_s": t,
                 "test_accuracy": base},
                {"method": "fast", "budget": b, "seed": seed, "train_time_s": t / 2,
                 "test_accuracy": base},  # same accuracy in half the time
                {"method": "slow", "budget": b, "seed": seed, "train_time_s": t * 2,
                 "test_accuracy": base - 0.05},
                {"method": "same", "budget": b, "seed": seed, "train_time_s": t,
                 "test_accuracy": base + 0.0005 * (seed - 1)},
            ]
    runs = pd.DataFrame(rows)
    s = summarize_runs(runs)
    assert set(s["n"]) == {3}
    v = frontier_table(runs).set_index("method")["verdict"].to_dict()
    assert v == {"baseline": "baseline", "fast": "moves the frontier",
                 "slow": "behind the frontier", "same": "within noise"}
    ratio = frontier_table(runs).set_index("method")["time_ratio"]
    assert ratio["fast"] == pytest.approx(0.5) and ratio["slow"] == pytest.approx(2.0)
    with pytest.raises(ConfigError, match="baseline"):
        frontier_table(runs[runs["method"] != "baseline"])


def test_flops_vs_runtime_reports_every_variant() -> None:
    df = flops_vs_runtime({"channels": (8, 8)}, (3, 16, 16), 10, repeats=2, batch_size=8)
    assert df["variant"].tolist() == ["baseline", "factorized", "norm_free",
                                      "factorized_norm_free"]
    flops = df.set_index("variant")["flops"]
    assert flops["factorized"] < flops["baseline"] and flops["norm_free"] <= flops["baseline"]
    assert (df["step_time_s"] > 0).all() and (df["operand_bytes"] > 0).all()
    assert df["flops_ratio"].iloc[0] == 1.0


def test_loader_bottleneck_splits_wait_and_compute() -> None:
    df = loader_bottleneck(workers=(0,), augmentations=("none", "heavy"), n_batches=2,
                           batch_size=8, image_size=16, warmup=1)
    assert len(df) == 2 and set(df["bound"]) <= {"data", "compute"}
    assert (df["data_wait_s"] > 0).all() and (df["compute_s"] > 0).all()
    np.testing.assert_allclose(df["step_time_s"], df["data_wait_s"] + df["compute_s"])
    with pytest.raises(ConfigError, match="augmentations"):
        loader_bottleneck(augmentations=("sepia",))


def test_random_order_warmup_and_aa_arm() -> None:
    rows: list[dict[str, object]] = []
    runs = pareto_sweep(tiny(), {"label_smoothing": ["label_smoothing"]}, [1, 2], [0, 1],
                        aa_control=True, warmup=1, order_seed=3, on_run=rows.append)
    assert list(runs.columns) == list(PARETO_COLUMNS)
    # warm-up runs are not recorded; every timed run is, listed seed/recipe/budget
    assert len(runs) == len(rows) == 3 * 2 * 2
    assert runs["method"].unique().tolist() == ["baseline", "label_smoothing", AA_LABEL]
    assert sorted(runs["order"]) == list(range(12))
    assert [r["order"] for r in rows] == list(range(12))
    # the run order is shuffled, reproducibly
    order = [(r["method"], r["budget"], r["seed"]) for r in rows]
    assert order != sorted(order, key=lambda x: (x[2], x[0], x[1]))
    again = pareto_sweep(tiny(), {"label_smoothing": ["label_smoothing"]}, [1, 2], [0, 1],
                         aa_control=True, warmup=0, order_seed=3)
    assert again["order"].tolist() == runs["order"].tolist()
    # the A/A arm is the baseline's training: the same scores, its own timing
    base = runs[runs["method"] == "baseline"].reset_index(drop=True)
    aa = runs[runs["method"] == AA_LABEL].reset_index(drop=True)
    assert aa["test_accuracy"].tolist() == base["test_accuracy"].tolist()
    with pytest.raises(ConfigError, match="aa_control"):
        pareto_sweep(tiny(), {AA_LABEL: []}, [1], [0])


def test_tuning_picks_each_budgets_rate_by_validation_accuracy() -> None:
    chosen, table = tune_baseline_lr(tiny(), [1, 2], [1e-3, 3e-2], [7])
    assert list(table.columns) == list(TUNING_COLUMNS)
    assert len(table) == 2 * 2 and set(table["seed"]) == {7}
    for b in (1, 2):
        g = table[table["budget"] == b].set_index("lr")["val_accuracy"]
        assert chosen[b] == g.idxmax()
        assert table[(table["budget"] == b) & table["chosen"]]["lr"].tolist() == [chosen[b]]
    runs = pareto_sweep(tiny(), {"ema": ["ema"]}, [1, 2], [0], lr_per_budget=chosen,
                        warmup=0)
    for b in (1, 2):
        assert set(runs[runs["budget"] == b]["lr"]) == {chosen[b]}


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"lr_per_budget": {1: 1e-3}}, "missing"),
    ({"lr_per_budget": {1: 1e-3, 2: -1.0}}, r"lr_per_budget\[2\]"),
    ({"lr_per_budget": [1e-3]}, "lr_per_budget"),
    ({"warmup": -1}, "warmup"),
    ({"order_seed": -2}, "order_seed"),
])
def test_bad_sweep_options_fail_before_training(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        pareto_sweep(tiny(), {"ema": ["ema"]}, [1, 2], [0], **kwargs)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="lrs"):
        tune_baseline_lr(tiny(), [1], [], [0])
    with pytest.raises(ConfigError, match=r"lrs\[1\]"):
        tune_baseline_lr(tiny(), [1], [1e-3, 0.0], [0])
    with pytest.raises(ConfigError, match="tune_seeds"):
        tune_baseline_lr(tiny(), [1], [1e-3], [1, 1])


def test_a_diverging_rate_never_wins_its_budget() -> None:
    cfg = tiny().replace(optimizer="sgd", batch_size=8)
    chosen, table = tune_baseline_lr(cfg, [1], [1e-2, 100.0], [0])
    bad = table[table["lr"] == 100.0].iloc[0]
    assert np.isnan(bad["val_accuracy"]) and "non-finite" in bad["error"]
    assert chosen == {1: 1e-2}
