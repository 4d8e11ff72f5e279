"""Timing: module inference latency and op microbenchmarks on CPU/GPU; device state; load.

>>> from effdl_kit.measure import make_spec, measure_spec
>>> spec = make_spec("conv2d", batch=1, channels=3, out_channels=8, hw=32, kernel_size=3,
...                  stride=1, padding=1)
>>> res = measure_spec(spec, warmup=3, repeats=10, threads=1)  # doctest: +SKIP
>>> res.median_ms, res.state.utilization_pct  # doctest: +SKIP
"""

from effdl_kit.measure._device import (
    DeviceState,
    available_devices,
    check_device,
    read_device_state,
)
from effdl_kit.measure._load import (
    BackgroundLoad,
    LoadLevel,
    as_load_levels,
    default_load_levels,
)
from effdl_kit.measure._modules import (
    MODULE_PARAMS,
    MODULE_TYPES,
    ModuleCall,
    ModuleSpec,
    make_spec,
    module_specs_from_model,
    normalize_module_type,
)
from effdl_kit.measure._timing import (
    LatencyResult,
    fixed_threads,
    is_out_of_memory,
    measure_latency,
    measure_spec,
)

__all__ = [
    "MODULE_PARAMS",
    "MODULE_TYPES",
    "BackgroundLoad",
    "DeviceState",
    "LatencyResult",
    "LoadLevel",
    "ModuleCall",
    "ModuleSpec",
    "as_load_levels",
    "available_devices",
    "check_device",
    "default_load_levels",
    "fixed_threads",
    "is_out_of_memory",
    "make_spec",
    "measure_latency",
    "measure_spec",
    "module_specs_from_model",
    "normalize_module_type",
    "read_device_state",
]
