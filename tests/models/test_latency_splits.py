"""Grouped and time-blocked splits of latency rows, and a clock feature as their control."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from effdl_kit._core.errors import ConfigError, DataError
from effdl_kit.data import load_latency_dataset
from effdl_kit.models import (
    LATENCY_SPLITS,
    SPLITTERS,
    evaluate_latency_models,
    split_latency_rows,
)

#: drift level of each tenth of the rows (a machine that gets slower and faster over time)
LEVELS = (1.0, 1.5, 0.7, 1.3, 0.8, 1.2, 0.9, 1.4, 0.6, 1.6)
CONFIG = ["batch", "channels", "hw"]


def _repeated_configs(n: int = 120, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"batch": rng.choice([1, 2, 4], n), "channels": rng.choice([8, 16], n),
                         "hw": rng.choice([8, 16, 32], n),
                         "timestamp": 1e9 + rng.permutation(n).astype(float)})


def _clock_frame(n: int = 600, seed: int = 0) -> pd.DataFrame:
    """relu rows whose latency is config x a time-dependent level; ``load_avg_1m`` is a pure
    clock (it follows time only), the other measurable columns are constant."""
    rng = np.random.default_rng(seed)
    batch = rng.choice([1, 2, 4], n)
    ch = rng.choice([8, 16], n)
    hw = rng.choice([8, 16], n)
    t = np.arange(n, dtype=float)
    level = np.asarray(LEVELS)[(t * len(LEVELS) / n).astype(int)]
    return pd.DataFrame({
        "module_type": "relu", "batch": batch, "channels": ch, "hw": hw,
        "mem_available_mib": 1000.0, "utilization_pct": 50.0, "load_avg_1m": 1.0 + t / n,
        "latency_ms": 1e-3 * batch * ch * hw * hw / 64 * level, "timestamp": 1e9 + t,
        "status": "ok", "load_level": "idle"})


def _configs(frame: pd.DataFrame, idx: np.ndarray) -> set[tuple[float, ...]]:
    return set(map(tuple, frame.iloc[idx][CONFIG].to_numpy(dtype=float).tolist()))


def test_the_registry_holds_one_splitter_per_split() -> None:
    assert tuple(SPLITTERS) == LATENCY_SPLITS == ("random", "grouped", "time")


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_grouped_split_never_puts_a_configuration_on_two_sides(seed: int) -> None:
    frame = _repeated_configs(seed=seed)
    tr, va, te = split_latency_rows(frame, "relu", split="grouped", seed=seed)
    assert sorted(np.concatenate([tr, va, te]).tolist()) == list(range(len(frame)))
    sides = [_configs(frame, s) for s in (tr, va, te)]
    assert not sides[0] & sides[1] and not sides[0] & sides[2] and not sides[1] & sides[2]
    assert len(te) >= 0.2 * len(frame) and len(va) >= 0.2 * len(frame)


def test_grouped_split_of_the_shipped_mha_rows_keeps_repeats_together() -> None:
    df = load_latency_dataset()
    mha = df[df["module_type"] == "mha"].reset_index(drop=True)
    cols = ["batch", "seq_len", "embed_dim", "num_heads"]
    assert mha.duplicated(cols, keep=False).any()  # the data has repeated configurations
    tr, _, te = split_latency_rows(mha, "mha", split="grouped", seed=0)
    both = set(map(tuple, mha.iloc[tr][cols].to_numpy().tolist())) & set(
        map(tuple, mha.iloc[te][cols].to_numpy().tolist()))
    assert both == set()
    # the random split does put some configurations on both sides (what the grouped one fixes)
    tr, _, te = split_latency_rows(mha, "mha", split="random", seed=0)
    assert set(map(tuple, mha.iloc[tr][cols].to_numpy().tolist())) & set(
        map(tuple, mha.iloc[te][cols].to_numpy().tolist()))


@pytest.mark.parametrize("column", ["timestamp", "index"])
def test_time_split_tests_on_rows_later_than_every_training_row(column: str) -> None:
    frame = _repeated_configs(seed=5).rename(columns={"timestamp": column})
    tr, va, te = split_latency_rows(frame, "relu", split="time", seed=3)
    t = frame[column].to_numpy()
    assert t[te].min() > t[va].max() > t[va].min() > t[tr].max()
    assert (len(tr), len(va), len(te)) == (72, 24, 24)
    # the seed does not move a time-blocked split
    assert [s.tolist() for s in split_latency_rows(frame, "relu", split="time", seed=0)] == [
        s.tolist() for s in (tr, va, te)]


def test_time_split_without_a_time_column_uses_the_frame_order() -> None:
    frame = _repeated_configs(n=10).drop(columns="timestamp")
    tr, va, te = split_latency_rows(frame, "relu", split="time")
    assert (tr.tolist(), va.tolist(), te.tolist()) == (list(range(6)), [6, 7], [8, 9])


def test_random_split_is_the_seeded_permutation() -> None:
    frame = _repeated_configs(n=50)
    tr, va, te = split_latency_rows(frame, "relu", seed=7)
    perm = np.random.default_rng(7).permutation(50)
    assert (te.tolist(), va.tolist(), tr.tolist()) == (
        perm[:10].tolist(), perm[10:20].tolist(), perm[20:].tolist())


def test_bad_split_and_too_few_configurations_are_refused() -> None:
    frame = _repeated_configs(n=40)
    with pytest.raises(ConfigError):
        split_latency_rows(frame, "relu", split="blocked")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        evaluate_latency_models(_clock_frame(n=60), kinds=["lr"], split="shuffle")  # type: ignore[arg-type]
    two = frame.assign(batch=1, channels=8, hw=[8, 16] * 20)
    with pytest.raises(DataError, match="configurations"):
        split_latency_rows(two, "relu", split="grouped")
    with pytest.raises(DataError, match="lacks"):
        split_latency_rows(frame.drop(columns="hw"), "relu", split="grouped")


def _clock_gain(split: str, seed: int) -> float:
    acc = {}
    for measurable in (True, False):
        ev = evaluate_latency_models(_clock_frame(), kinds=["rf"], measurable=measurable,
                                     inferable=False, split=split,  # type: ignore[arg-type]
                                     seed=seed, params={"rf": {"n_estimators": 30}})
        acc[measurable] = float(ev.table("test")["acc10"].iloc[0])
        assert set(ev.scores["split_kind"]) == {split}
        assert ev.settings["split"] == split
    return acc[True] - acc[False]


@pytest.mark.parametrize("seed", [0, 1])
def test_a_pure_clock_helps_under_the_random_split_only(seed: int) -> None:
    # positive control: between neighbours in time the clock tells the drift level apart
    assert _clock_gain("random", seed) >= 0.3
    # negative control: on later rows the clock is out of its training range and tells nothing
    assert abs(_clock_gain("time", seed)) <= 0.05
