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
from effdl_kit.measure._ops import (
    DTYPES,
    OP_SIZES,
    OPS,
    REGIMES,
    TIME_STAT,
    OpCost,
    Roofline,
    bench_op,
    classify_regime,
    log_sizes,
    measure_bandwidth,
    measure_overhead,
    measure_peak_flops,
    measure_roofline,
    op_cost,
    op_sweep,
    ops_device,
    place_on_roofline,
    summarize_samples,
    time_call,
    time_samples,
    torch_threads,
)
from effdl_kit.measure._timing import (
    LatencyResult,
    fixed_threads,
    is_out_of_memory,
    measure_latency,
    measure_spec,
)

__all__ = [
    "DTYPES",
    "MODULE_PARAMS",
    "MODULE_TYPES",
    "OPS",
    "OP_SIZES",
    "REGIMES",
    "TIME_STAT",
    "BackgroundLoad",
    "DeviceState",
    "LatencyResult",
    "LoadLevel",
    "ModuleCall",
    "ModuleSpec",
    "OpCost",
    "Roofline",
    "as_load_levels",
    "available_devices",
    "bench_op",
    "check_device",
    "classify_regime",
    "default_load_levels",
    "fixed_threads",
    "is_out_of_memory",
    "log_sizes",
    "make_spec",
    "measure_bandwidth",
    "measure_latency",
    "measure_overhead",
    "measure_peak_flops",
    "measure_roofline",
    "measure_spec",
    "module_specs_from_model",
    "normalize_module_type",
    "op_cost",
    "op_sweep",
    "ops_device",
    "place_on_roofline",
    "read_device_state",
    "summarize_samples",
    "time_call",
    "time_samples",
    "torch_threads",
]
