"""measure_latency / measure_spec: the protocol, what is recorded, and bad input."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

from effdl_kit.errors import ConfigError, DeviceNotAvailableError
from effdl_kit.measure import (
    DeviceState,
    LatencyResult,
    available_devices,
    check_device,
    is_out_of_memory,
    make_spec,
    measure_latency,
    measure_spec,
    read_device_state,
)


class Probe(nn.Module):
    """Records how it was called (mode, grad, threads)."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(8, 4)
        self.calls: list[tuple[bool, bool, int]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append((self.training, torch.is_grad_enabled(), torch.get_num_threads()))
        return self.lin(x)


def test_warmup_repeats_eval_inference_and_threads() -> None:
    m = Probe().train()
    threads_before = torch.get_num_threads()
    res = measure_latency(m, (2, 8), warmup=3, repeats=7, threads=1, state_window_s=0.0)
    assert isinstance(res, LatencyResult)
    assert len(m.calls) == 10  # 3 warm-up + 7 timed
    assert all(not training and not grad and th == 1 for training, grad, th in m.calls)
    assert m.training, "the module's training flag is restored"
    assert torch.get_num_threads() == threads_before, "the thread count is restored"
    assert res.threads == 1 and res.warmup == 3 and res.repeats == 7
    assert len(res.samples_ms) == 7 and all(s > 0 for s in res.samples_ms)
    s = sorted(res.samples_ms)
    assert res.min_ms == s[0] and res.median_ms == s[3]
    assert 0 <= res.iqr_ms <= s[-1] - s[0]
    assert res.device == "cpu" and res.timer == "perf_counter" and res.input_shape == (2, 8)
    d = res.to_dict()
    assert d["state"]["device"] == "cpu" and len(d["samples_ms"]) == 7
    assert "samples_ms" not in res.to_dict(samples=False)


def test_device_state_is_read_before_the_timed_calls() -> None:
    st = read_device_state("cpu", window_s=0.01)
    assert isinstance(st, DeviceState)
    assert st.mem_available_mib > 0
    assert 0.0 <= st.utilization_pct <= st.total_utilization_pct + 1e-9 <= 100.0 + 1e-9
    assert st.window_s >= 0.01 - 1e-3
    res = measure_spec(make_spec("relu", batch=1, channels=2, hw=4), warmup=1, repeats=2)
    assert res.state.timestamp <= __import__("time").time()


def test_measure_spec_builds_the_module_with_its_seed() -> None:
    spec = make_spec("conv2d", batch=1, channels=3, out_channels=4, hw=8, kernel_size=3,
                     stride=1, padding=1)
    rng_before = torch.random.get_rng_state()
    res = measure_spec(spec, warmup=1, repeats=3, threads=1, seed=3)
    assert torch.equal(torch.random.get_rng_state(), rng_before), "global RNG untouched"
    assert res.input_shape == spec.input_shape and res.repeats == 3


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"warmup": -1}, "warmup"),
    ({"repeats": 0}, "repeats"),
    ({"threads": 0}, "threads"),
    ({"repeats": 2.5}, "repeats"),
    ({"state_window_s": -1.0}, "state_window_s"),
    ({"device": "tpu"}, "device"),
    ({"device": 3}, "device"),
])
def test_bad_arguments_fail_before_any_call(kwargs: dict[str, Any], field: str) -> None:
    m = Probe()
    with pytest.raises(ConfigError) as info:
        measure_latency(m, (1, 8), **{"warmup": 1, "repeats": 1, **kwargs})
    assert info.value.field == field
    assert m.calls == []


@pytest.mark.parametrize("shape", [(), (0, 8), (1, -8), (1.5, 8), "1,8", [1, True]])
def test_bad_shapes(shape: Any) -> None:
    m = Probe()
    with pytest.raises(ConfigError, match="input_shape"):
        measure_latency(m, shape)
    assert m.calls == []


def test_not_a_module() -> None:
    with pytest.raises(ConfigError, match="'module'"):
        measure_latency(lambda x: x, (1, 2))  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="'spec'"):
        measure_spec("conv2d")  # type: ignore[arg-type]


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
@pytest.mark.parametrize("device", ["cuda", "cuda:0", "cuda:3", "CUDA"])
def test_gpu_paths_raise_device_not_present_before_work(device: str) -> None:
    m = Probe()
    with pytest.raises(DeviceNotAvailableError) as info:
        measure_latency(m, (1, 8), device=device, warmup=1, repeats=1)
    assert info.value.field == "device" and info.value.available == ("cpu",)
    assert "not available" in str(info.value)
    assert m.calls == []
    spec = make_spec("relu", batch=1, channels=1, hw=2)
    with pytest.raises(DeviceNotAvailableError):
        measure_spec(spec, device=device)
    with pytest.raises(DeviceNotAvailableError):
        read_device_state(device)  # NVML is never reached
    assert available_devices() == ("cpu",)


def test_check_device_normalises() -> None:
    assert check_device("cpu") == check_device(" CPU ") == "cpu"
    with pytest.raises(ConfigError):
        check_device("cuda:x")


def test_out_of_memory_is_recognised() -> None:
    assert is_out_of_memory(MemoryError())
    assert is_out_of_memory(RuntimeError("CUDA out of memory. Tried to allocate 2 GiB"))
    assert is_out_of_memory(torch.OutOfMemoryError("x"))
    assert not is_out_of_memory(RuntimeError("shape mismatch"))
    assert not is_out_of_memory(ValueError("out of memory"))
