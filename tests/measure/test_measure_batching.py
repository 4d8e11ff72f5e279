"""Batched timing of fast modules (calls per sample, the probe) and the outside-load window."""

from __future__ import annotations

import math
import time
from typing import Any

import pytest
import torch
from torch import nn

import effdl_kit.measure._device as device_mod
from effdl_kit.errors import ConfigError
from effdl_kit.measure import make_spec, measure_latency, measure_spec
from effdl_kit.measure._device import CpuCounters, load_window, read_cpu_counters
from effdl_kit.measure._timing import (
    MAX_CALLS_PER_SAMPLE,
    SAMPLE_MIN_S,
    choose_calls_per_sample,
    probe_call_s,
)


class Counting(nn.Module):
    """Counts its calls; optionally sleeps ``pause`` seconds per call."""

    def __init__(self, pause: float = 0.0) -> None:
        super().__init__()
        self.pause = pause
        self.n = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.n += 1
        if self.pause:
            time.sleep(self.pause)
        return x


def test_calls_per_sample_makes_a_sample_last_the_minimum() -> None:
    assert pytest.approx(1e-4) == SAMPLE_MIN_S
    assert choose_calls_per_sample(1e-5) == 10
    assert choose_calls_per_sample(3e-5) == 4  # ceil(100 / 30)
    assert choose_calls_per_sample(SAMPLE_MIN_S) == 1
    assert choose_calls_per_sample(0.02) == 1
    assert choose_calls_per_sample(1e-9) == MAX_CALLS_PER_SAMPLE
    assert choose_calls_per_sample(1e-9, max_calls=7) == 7
    assert choose_calls_per_sample(1e-6, sample_min_s=0.0) == 1
    for per_call in (2e-6, 7e-6, 3.3e-5, 9.9e-5):
        k = choose_calls_per_sample(per_call)
        assert k * per_call >= SAMPLE_MIN_S * (1 - 1e-12) > (k - 1) * per_call


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"per_call_s": 0.0}, "per_call_s"),
    ({"per_call_s": math.nan}, "per_call_s"),
    ({"per_call_s": 1e-5, "sample_min_s": -1.0}, "sample_min_s"),
    ({"per_call_s": 1e-5, "max_calls": 0}, "max_calls"),
])
def test_calls_per_sample_bad_input(kwargs: dict[str, Any], field: str) -> None:
    per_call = kwargs.pop("per_call_s")
    with pytest.raises(ConfigError) as info:
        choose_calls_per_sample(per_call, **kwargs)
    assert info.value.field == field


def test_probe_of_a_fast_callable_makes_several_warm_calls() -> None:
    m = Counting()
    per_call, calls = probe_call_s(m, torch.zeros(1), probe_s=2e-3)
    assert calls == m.n >= 6  # the cold call + at least five warm ones
    assert 0 < per_call < 1e-3


def test_probe_of_a_slow_callable_stops_after_one_warm_call() -> None:
    m = Counting(pause=0.003)
    per_call, calls = probe_call_s(m, torch.zeros(1), probe_s=1e-3)
    assert calls == m.n == 2
    assert per_call >= 0.003
    m = Counting()
    _, calls = probe_call_s(m, torch.zeros(1), probe_s=10.0, max_calls=3)
    assert calls == m.n == 4, "max_calls bounds the warm calls"


def test_measure_latency_times_samples_of_several_calls() -> None:
    m = Counting()
    res = measure_latency(m, (1, 4), warmup=2, repeats=3, calls_per_sample=4,
                          state_window_s=0.0)
    assert m.n == (2 + 3) * 4, "warm-up and timed samples are calls_per_sample calls each"
    assert res.calls_per_sample == 4 and res.repeats == 3 and len(res.samples_ms) == 3
    assert res.to_dict()["calls_per_sample"] == 4
    # each sample is the mean of its calls: a 2 ms call stays about 2 ms, not 5 x 2 ms
    slow = measure_latency(Counting(pause=0.002), (1, 4), warmup=0, repeats=2,
                           calls_per_sample=5, state_window_s=0.0)
    assert 2.0 <= slow.min_ms < 10.0
    assert measure_latency(Counting(), (1, 4), warmup=0, repeats=1).calls_per_sample == 1
    spec = make_spec("relu", batch=1, channels=2, hw=4)
    assert measure_spec(spec, warmup=1, repeats=2, calls_per_sample=3).calls_per_sample == 3


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_measure_latency_refuses_bad_calls_per_sample(bad: Any) -> None:
    m = Counting()
    with pytest.raises(ConfigError) as info:
        measure_latency(m, (1, 4), warmup=1, repeats=1, calls_per_sample=bad)
    assert info.value.field == "calls_per_sample" and m.n == 0
    with pytest.raises(ConfigError, match="calls_per_sample"):
        measure_spec(make_spec("relu", batch=1, channels=2, hw=4), calls_per_sample=bad)


def test_load_window_shares_of_all_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(device_mod, "_load_avg", lambda: 3.0)
    monkeypatch.setattr(device_mod, "_n_cores", lambda: 4)
    a = CpuCounters(t=10.0, busy=100.0, total=400.0, own=20.0, steal=1.0)
    b = CpuCounters(t=10.5, busy=101.5, total=402.0, own=20.4, steal=1.2)
    w = load_window(a, b)
    assert w.window_s == pytest.approx(0.5)
    assert w.cpu_pct == pytest.approx(75.0)  # 1.5 of 2 CPU-seconds busy
    assert w.outside_pct == pytest.approx(55.0)  # without this process's 0.4
    assert w.steal_pct == pytest.approx(10.0)
    assert w.n_cores == 4 and w.load_per_core == pytest.approx(0.75)
    assert w.to_dict()["load_per_core"] == pytest.approx(0.75)
    # counters that did not move (a window under the clock tick) read 0 %, never NaN
    still = load_window(a, a)
    assert (still.cpu_pct, still.outside_pct, still.steal_pct) == (0.0, 0.0, 0.0)
    with pytest.raises(ConfigError, match="counters"):
        load_window(a, "now")  # type: ignore[arg-type]


def test_real_counters_give_shares_within_bounds() -> None:
    a = read_cpu_counters()
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < 0.05:  # this process busy for 50 ms
        pass
    w = load_window(a, read_cpu_counters())
    assert w.window_s >= 0.05
    for v in (w.cpu_pct, w.outside_pct, w.steal_pct):
        assert 0.0 <= v <= 100.0
    assert w.outside_pct <= w.cpu_pct and w.n_cores >= 1
